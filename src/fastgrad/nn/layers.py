"""Layers: Linear, Bilinear, Embedding, Dropout, LayerNorm, BatchNorm1d, Flatten,
Identity and one module per activation.  Default initialisation is PyTorch's, so a
fastgrad layer and a PyTorch layer of the same shape start from the same distribution."""
from __future__ import annotations

import math

import numpy as np

from fastgrad import _factory
from fastgrad._hooks import hooks
from fastgrad.ops import _record as _rec, elementwise as _ew, linalg as _la, reduce as _red
from fastgrad.ops import shape as _sh
from fastgrad._tensor import FLOAT_DTYPES, canonical_dtype, get_default_dtype
from fastgrad.nn import functional as F
from fastgrad.nn import init
from fastgrad.nn.module import Module
from fastgrad.nn.parameter import Parameter

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Optional
    from fastgrad._tensor import Tensor
    from fastgrad._typing import DType, Dims
if TYPE_CHECKING:
    from fastgrad._tensor import Tensor


def _dtype(dtype):
    if dtype is None:
        return get_default_dtype()
    dt = canonical_dtype(dtype)
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"layer parameters must be float32 or float64, got {dt}")
    return dt


def _param(shape, dtype):
    return Parameter(np.empty(shape, dtype=_dtype(dtype)))


def _positive_int(v, name, who):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
        raise ValueError(f"{who}: {name} must be a non-negative int, got {v!r}")
    return int(v)


class Identity(Module):
    """Returns its input unchanged (its arguments are accepted and ignored)."""
    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return x


class Linear(Module):
    """y = x @ weight.T + bias; weight (out_features, in_features).  Initialised as
    PyTorch does: weight and bias ~ U(-1/sqrt(in_features), 1/sqrt(in_features))."""

    def __init__(self, in_features, out_features, bias: bool = True, device=None,
                 dtype: Optional[DType] = None) -> None:
        _cpu_device(device, type(self).__name__)
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features", "Linear")
        self.out_features = _positive_int(out_features, "out_features", "Linear")
        self.weight = _param((self.out_features, self.in_features), dtype)
        if bias:
            self.bias = _param((self.out_features,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Re-initialise weight and bias as PyTorch does (Kaiming-uniform weight, bias ~
        U(-1/sqrt(in_features), 1/sqrt(in_features)))."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        return _la.linear(x, self.weight, self.bias)

    def _fused(self, x, activation):
        return _la.linear(x, self.weight, self.bias, activation)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Bilinear(Module):
    """y = x1^T W x2 + b; weight (out, in1, in2), initialised U(-1/sqrt(in1), 1/sqrt(in1))."""

    def __init__(self, in1_features, in2_features, out_features, bias: bool = True, device=None,
                 dtype: Optional[DType] = None) -> None:
        _cpu_device(device, "Bilinear")
        super().__init__()
        self.in1_features = _positive_int(in1_features, "in1_features", "Bilinear")
        self.in2_features = _positive_int(in2_features, "in2_features", "Bilinear")
        self.out_features = _positive_int(out_features, "out_features", "Bilinear")
        self.weight = _param((self.out_features, self.in1_features, self.in2_features), dtype)
        if bias:
            self.bias = _param((self.out_features,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Re-initialise weight and bias ~ U(-1/sqrt(in1_features), 1/sqrt(in1_features)), as
        PyTorch does."""
        bound = 1 / math.sqrt(self.in1_features) if self.in1_features else 0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.bilinear(x1, x2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class Embedding(Module):
    """A lookup table of num_embeddings vectors of size embedding_dim, ~ N(0, 1);
    row padding_idx starts at zero and gets no gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq: bool = False, sparse: bool = False, _weight=None, _freeze: bool = False,
                 device=None, dtype: Optional[DType] = None) -> None:
        _cpu_device(device, "Embedding")
        for name, v in (("max_norm", max_norm is not None), ("scale_grad_by_freq", scale_grad_by_freq),
                        ("sparse", sparse)):
            if v:
                raise NotImplementedError(f"Embedding: {name} is not supported by fastgrad (use the default)")
        super().__init__()
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        self.num_embeddings = _positive_int(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = _positive_int(embedding_dim, "embedding_dim", "Embedding")
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within num_embeddings "
                                 f"({self.num_embeddings})")
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = _param((self.num_embeddings, self.embedding_dim), dtype)
            self.reset_parameters()
        else:
            w = _weight._data if hasattr(_weight, "_data") else np.asarray(_weight)
            if tuple(w.shape) != (self.num_embeddings, self.embedding_dim):
                raise ValueError(f"Embedding: _weight shape {tuple(w.shape)} does not match "
                                 f"({self.num_embeddings}, {self.embedding_dim})")
            self.weight = Parameter(np.array(w, dtype=_dtype(dtype or w.dtype)), requires_grad=not _freeze)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        """An Embedding whose weight is ``embeddings`` (num_embeddings, embedding_dim);
        ``freeze`` (default True) makes it not require grad."""
        w = embeddings._data if hasattr(embeddings, "_data") else np.asarray(embeddings)
        if w.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape {tuple(w.shape)}")
        m = cls(w.shape[0], w.shape[1], padding_idx=padding_idx, _weight=w)
        m.weight.requires_grad_(not freeze)
        return m

    def reset_parameters(self):
        """Re-initialise the weight ~ N(0, 1), with the ``padding_idx`` row zero."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight._data[self.padding_idx] = 0

    def forward(self, x: Tensor) -> Tensor:
        return F.embedding(x, self.weight, self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")


class Dropout(Module):
    """Zeroes elements with probability p in training mode (scaling the rest by
    1 / (1 - p)); identity in eval mode.  Seeded by fastgrad.manual_seed."""

    def __init__(self, p=0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability must be in [0, 1], got {p}")
        self.p = float(p)
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, self.inplace)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class LayerNorm(Module):
    """Layer normalisation over the trailing ``normalized_shape`` dimensions: (x - mean) /
    sqrt(var + eps), then times ``weight`` plus ``bias`` (learnable, of shape
    ``normalized_shape``, when ``elementwise_affine``; ``bias=False`` drops the bias)."""
    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype: Optional[DType] = None) -> None:
        _cpu_device(device, "LayerNorm")
        super().__init__()
        ns = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        self.normalized_shape = tuple(_positive_int(n, "normalized_shape", "LayerNorm") for n in ns)
        self.eps = float(eps)
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = _param(self.normalized_shape, dtype)
            self.bias = _param(self.normalized_shape, dtype) if bias else None
            if not bias:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Set the weight to ones and the bias to zeros."""
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class _BatchNorm(Module):
    """Batch normalisation per channel C.  Training mode normalises with the batch
    statistics and updates running_mean / running_var (momentum; momentum=None is a
    cumulative average); eval mode uses the running statistics.  Fused C kernels
    (F.batch_norm)."""
    _NDIMS = ()
    _SHAPES = ""

    def __init__(self, num_features, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype: Optional[DType] = None, *,
                 bias: bool = True) -> None:
        _cpu_device(device, type(self).__name__)
        super().__init__()
        self.num_features = _positive_int(num_features, "num_features", type(self).__name__)
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dt = _dtype(dtype)
        if affine:
            self.weight = _param((self.num_features,), dtype)
            if bias:
                self.bias = _param((self.num_features,), dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", _factory.zeros(self.num_features, dtype=dt))
            self.register_buffer("running_var", _factory.ones(self.num_features, dtype=dt))
            self.register_buffer("num_batches_tracked", _factory.zeros((), dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self):
        """Set the running mean to 0, the running variance to 1 and the batch count to 0."""
        if self.track_running_stats:
            self.running_mean._data[...] = 0
            self.running_var._data[...] = 1
            self.num_batches_tracked._data[...] = 0

    def reset_parameters(self):
        """Reset the running statistics, and set the weight to ones and the bias to zeros."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        who = type(self).__name__
        x = _rec._float_in(x, who)
        nd = x._data.ndim
        if nd not in self._NDIMS:
            raise ValueError(f"{who}: expected {self._SHAPES}, got {nd}-D input")
        if x._data.shape[1] != self.num_features:
            raise ValueError(f"{who}({self.num_features}): expected input with {self.num_features} "
                             f"channels, got {x._data.shape[1]} channels (input shape {tuple(x._data.shape)})")
        if self.training and x._data.size // max(x._data.shape[1], 1) <= 1:
            raise ValueError(f"{who}: expected more than 1 value per channel when training, "
                             f"got input shape {tuple(x._data.shape)}")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            if hooks.batch_count is not None:
                hooks.batch_count(self)
            self.num_batches_tracked._data[...] += 1
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked._data)
        use_batch = self.training or not self.track_running_stats
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            use_batch, momentum, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) input."""
    _NDIMS = (2, 3)
    _SHAPES = "2-D or 3-D input (N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W) input, per channel C."""
    _NDIMS = (4,)
    _SHAPES = "4-D input (N, C, H, W)"


class GroupNorm(Module):
    """Normalise (N, C, ...) over groups of C / num_groups channels, then a per-channel
    affine weight (ones) and bias (zeros).  Fused C kernels (F.group_norm)."""

    def __init__(self, num_groups, num_channels, eps: float = 1e-5, affine: bool = True, device=None,
                 dtype: Optional[DType] = None, *, bias: bool = True) -> None:
        _cpu_device(device, "GroupNorm")
        super().__init__()
        self.num_groups = _positive_int(num_groups, "num_groups", "GroupNorm")
        self.num_channels = _positive_int(num_channels, "num_channels", "GroupNorm")
        if self.num_groups == 0 or self.num_channels % self.num_groups:
            raise ValueError(f"GroupNorm: num_channels {num_channels} must be divisible by num_groups {num_groups}")
        self.eps = float(eps)
        self.affine = affine
        if affine:
            self.weight = _param((self.num_channels,), dtype)
            if bias:
                self.bias = _param((self.num_channels,), dtype)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Set the weight to ones and the bias to zeros."""
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = _rec._float_in(x, "GroupNorm")
        if x._data.ndim < 2 or x._data.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm({self.num_groups}, {self.num_channels}): expected input (N, "
                             f"{self.num_channels}, ...), got shape {tuple(x._data.shape)}")
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class Dropout1d(Dropout):
    """Zero whole channels of (N, C, L) input with probability p (scale the rest)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout1d(x, self.p, self.training)


class Dropout2d(Dropout):
    """Zero whole feature maps of (N, C, H, W) input with probability p (scale the rest)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout2d(x, self.p, self.training)


class Flatten(Module):
    """Flattens dimensions ``start_dim`` to ``end_dim`` into one (by default every dimension
    but the batch dimension)."""
    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return _sh.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits dimension ``dim`` into the shape ``unflattened_size``."""
    def __init__(self, dim: Dims, unflattened_size) -> None:
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x: Tensor) -> Tensor:
        shape = list(x.shape)
        d = self.dim % len(shape)
        return _sh.reshape(x, tuple(shape[:d]) + self.unflattened_size + tuple(shape[d + 1:]))

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


# ---- activations ----------------------------------------------------------------------------
class ReLU(Module):
    """max(x, 0). Applied elementwise; the output has the input's shape. ``inplace=True``
    overwrites the input."""
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.relu_(x) if self.inplace else _ew.relu(x)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class Sigmoid(Module):
    """1 / (1 + exp(-x)). Applied elementwise; the output has the input's shape."""
    def forward(self, x: Tensor) -> Tensor:
        return _ew.sigmoid(x)


class Tanh(Module):
    """tanh(x). Applied elementwise; the output has the input's shape."""
    def forward(self, x: Tensor) -> Tensor:
        return _ew.tanh(x)


class LeakyReLU(Module):
    """x where x > 0, else negative_slope * x. Applied elementwise; the output has the input's
    shape."""
    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return _ew.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class GELU(Module):
    """x * Phi(x), Phi the standard normal CDF (``approximate='tanh'``: the tanh
    approximation). Applied elementwise; the output has the input's shape."""
    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return _ew.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x). Applied elementwise; the output has the input's shape."""
    def forward(self, x: Tensor) -> Tensor:
        return _ew.silu(x)


class Softplus(Module):
    """log(1 + exp(beta * x)) / beta, linear above ``threshold``. Applied elementwise; the
    output has the input's shape."""
    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x: Tensor) -> Tensor:
        return _ew.softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class _AlongDim(Module):
    """An op applied along one dim (softmax, log_softmax); subclasses set _op."""

    def __init__(self, dim: Optional[Dims] = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return type(self)._op(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    """softmax over dimension ``dim``: each slice is exp(x) / sum(exp(x)) and sums to 1."""
    _op = staticmethod(_red.softmax)


class LogSoftmax(_AlongDim):
    """log(softmax(x)) over dimension ``dim``, computed stably."""
    _op = staticmethod(_red.log_softmax)


class ELU(Module):
    """x where x > 0, else alpha * (exp(x) - 1). Applied elementwise; the output has the
    input's shape."""
    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class SELU(Module):
    """scale * elu(x, alpha) with PyTorch's constants alpha = 1.6733, scale = 1.0507. Applied
    elementwise; the output has the input's shape."""
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return F.selu(x)


class Mish(Module):
    """x * tanh(softplus(x)). Applied elementwise; the output has the input's shape."""
    def forward(self, x: Tensor) -> Tensor:
        return F.mish(x)


class Hardswish(Module):
    """x * relu6(x + 3) / 6. Applied elementwise; the output has the input's shape."""
    def forward(self, x: Tensor) -> Tensor:
        return F.hardswish(x)


class Hardsigmoid(Module):
    """relu6(x + 3) / 6. Applied elementwise; the output has the input's shape."""
    def forward(self, x: Tensor) -> Tensor:
        return F.hardsigmoid(x)


class Hardtanh(Module):
    """x clamped to [min_val, max_val]. Applied elementwise; the output has the input's shape."""
    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        super().__init__()
        if not max_val > min_val:
            raise ValueError(f"Hardtanh: max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val, self.max_val = min_val, max_val

    def forward(self, x: Tensor) -> Tensor:
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self):
        return f"min_val={self.min_val}, max_val={self.max_val}"


class ReLU6(Module):
    """min(max(x, 0), 6). Applied elementwise; the output has the input's shape."""
    def forward(self, x: Tensor) -> Tensor:
        return F.relu6(x)


# Linear followed by one of these runs as one fused linear-with-epilogue in Sequential
_FUSABLE_ACT = {ReLU: "relu", Tanh: "tanh", Sigmoid: "sigmoid"}


class LogSigmoid(Module):
    """log(sigmoid(x)), computed stably. Applied elementwise; the output has the input's shape."""
    def forward(self, x: Tensor) -> Tensor:
        return F.logsigmoid(x)


class Softsign(Module):
    """x / (1 + |x|). Applied elementwise; the output has the input's shape."""
    def forward(self, x: Tensor) -> Tensor:
        return F.softsign(x)


class CELU(Module):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)). Applied elementwise; the output has
    the input's shape."""
    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return F.celu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class Softmin(Module):
    """softmax(-x) over dimension ``dim``."""
    def __init__(self, dim: Optional[Dims] = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmin(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


def _cpu_device(device, who):
    """device= of a layer: None or the CPU (fastgrad computes on the CPU only)."""
    if device is not None and str(device).split(":")[0] != "cpu":
        raise RuntimeError(f"{who}: device {str(device)!r} is not available; fastgrad runs on "
                           "the CPU only (device=None or 'cpu')")


class RMSNorm(Module):
    """Root-mean-square normalisation over the trailing normalized_shape dims with an
    optional elementwise weight (initialised to ones); eps=None takes the input dtype's
    machine epsilon."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine: bool = True, device=None,
                 dtype: Optional[DType] = None) -> None:
        super().__init__()
        _cpu_device(device, "RMSNorm")
        ns = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        self.normalized_shape = tuple(_positive_int(n, "normalized_shape", "RMSNorm") for n in ns)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = _param(self.normalized_shape, dtype)
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Set the weight to ones."""
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class CosineSimilarity(Module):
    """x1 . x2 / max(||x1|| * ||x2||, eps) along dimension ``dim`` (the inputs broadcast
    together); the output loses that dimension."""
    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """The p-norm of x1 - x2 + eps along the last dimension (``keepdim`` keeps it with size 1)."""
    def __init__(self, p=2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class PixelShuffle(Module):
    """(*, C * r**2, H, W) -> (*, C, H * r, W * r), r = upscale_factor (F.pixel_shuffle)."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H * r, W * r) -> (*, C * r**2, H, W), r = downscale_factor (F.pixel_unshuffle)."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"
