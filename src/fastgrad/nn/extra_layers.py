"""More of torch.nn's activation layers: PReLU, GLU, Hardshrink, Softshrink, Tanhshrink,
Threshold, RReLU and Softmax2d; the padding layers (Constant, Zero, Reflection, Replication
and Circular, 1d to 3d, all F.pad); PixelShuffle, PixelUnshuffle, ChannelShuffle, Unfold,
Fold, UpsamplingNearest2d and UpsamplingBilinear2d; BatchNorm3d, InstanceNorm1d/2d/3d,
LocalResponseNorm, AdaptiveMaxPool1d/2d/3d, AdaptiveAvgPool3d and LPPool1d/2d/3d.  Each is the module form of a function
of ``fastgrad.nn.functional`` with PyTorch's constructor arguments and parameters."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from fastgrad.errors import ArgumentError, ShapeError
from fastgrad.nn import functional as F, functional_extra as FX
from fastgrad.nn import functional_norm as FN
from fastgrad.nn.conv import Upsample
from fastgrad.nn.layers import _BatchNorm
from fastgrad.nn.layers import _dtype
from fastgrad.nn.module import Module
from fastgrad.nn.parameter import Parameter
from fastgrad.ops import reduce as _red, shape as _sh
from fastgrad.ops._record import _float_in, _shape

if TYPE_CHECKING:
    from fastgrad._tensor import Tensor

__all__ = ["PReLU", "GLU", "Hardshrink", "Softshrink", "Tanhshrink", "Threshold", "RReLU",
           "Softmax2d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ZeroPad1d", "ZeroPad2d",
           "ZeroPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
           "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d",
           "ChannelShuffle", "Unfold", "Fold",
           "UpsamplingNearest2d", "UpsamplingBilinear2d", "BatchNorm3d", "InstanceNorm1d",
           "InstanceNorm2d", "InstanceNorm3d", "LocalResponseNorm", "AdaptiveMaxPool1d",
           "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "AdaptiveAvgPool3d", "LPPool1d", "LPPool2d",
           "LPPool3d"]


class PReLU(Module):
    """x where x > 0, else weight * x, with a learnable ``weight`` of shape
    (num_parameters,) initialised to ``init`` (one slope shared by all channels, or one
    per channel, the input's dim 1)."""
    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None,
                 dtype=None) -> None:
        super().__init__()
        if isinstance(num_parameters, bool) or not isinstance(num_parameters, (int, np.integer)) \
                or num_parameters < 1:
            raise ArgumentError(f"PReLU: num_parameters must be a positive int, got "
                                f"{num_parameters!r}")
        self.num_parameters = int(num_parameters)
        self.init = init
        self.weight = Parameter(np.full((self.num_parameters,), init, dtype=_dtype(dtype)))

    def reset_parameters(self) -> None:
        """Sets every slope back to ``init``."""
        self.weight._data[...] = self.init

    def forward(self, x: Tensor) -> Tensor:
        return FX.prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class GLU(Module):
    """a * sigmoid(b), a and b the halves of the input along ``dim``."""
    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return FX.glu(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Hardshrink(Module):
    """x where |x| > lambd, else 0."""
    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, x: Tensor) -> Tensor:
        return FX.hardshrink(x, self.lambd)

    def extra_repr(self):
        return f"{self.lambd}"


class Softshrink(Module):
    """x - lambd where x > lambd, x + lambd where x < -lambd, else 0."""
    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, x: Tensor) -> Tensor:
        return FX.softshrink(x, self.lambd)

    def extra_repr(self):
        return str(self.lambd)


class Tanhshrink(Module):
    """x - tanh(x)."""
    def forward(self, x: Tensor) -> Tensor:
        return FX.tanhshrink(x)


class Threshold(Module):
    """x where x > threshold, else value."""
    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return FX.threshold(x, self.threshold, self.value, self.inplace)

    def extra_repr(self):
        inplace = ", inplace=True" if self.inplace else ""
        return f"threshold={self.threshold}, value={self.value}{inplace}"


class RReLU(Module):
    """Randomized leaky ReLU: in training, negative inputs are scaled by slopes drawn from
    U(lower, upper); in eval mode by their mean (lower + upper) / 2."""
    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
                 inplace: bool = False) -> None:
        super().__init__()
        self.lower = lower
        self.upper = upper
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        return FX.rrelu(x, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self):
        inplace = ", inplace=True" if self.inplace else ""
        return f"lower={self.lower}, upper={self.upper}{inplace}"


class Softmax2d(Module):
    """softmax over the channels of (N, C, H, W) or (C, H, W) input (dim -3)."""
    def forward(self, x: Tensor) -> Tensor:
        x = _float_in(x, "Softmax2d")
        if x._data.ndim not in (3, 4):
            raise ShapeError(f"Softmax2d: expected a 3-d or 4-d input, got shape {_shape(x)}")
        return _red.softmax(x, -3)


# ---- padding ---------------------------------------------------------------------------------------
def _padding(padding, n, who):
    """An int (every side) or a 2n-tuple, as a tuple of F.pad's order."""
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        return (int(padding),) * (2 * n)
    t = tuple(padding)
    if len(t) != 2 * n or any(isinstance(v, bool) or not isinstance(v, (int, np.integer))
                              for v in t):
        raise ArgumentError(f"{who}: padding must be an int or a tuple of {2 * n} ints, got "
                            f"{padding!r}")
    return tuple(int(v) for v in t)


class _PadNd(Module):
    _N = 1
    _MODE = "constant"

    def __init__(self, padding) -> None:
        super().__init__()
        self.padding = _padding(padding, self._N, type(self).__name__)

    def _check(self, x):
        nd = x.ndim if hasattr(x, "ndim") else np.ndim(x)
        if nd not in (self._N + 1, self._N + 2):
            raise ShapeError(f"{type(self).__name__}: expected a {self._N + 1}-d (unbatched) or "
                             f"{self._N + 2}-d (batched) input, got shape {_shape(x)}")

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return F.pad(x, self.padding, self._MODE)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return F.pad(x, self.padding, "constant", self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pads the last dim of (C, W) or (N, C, W) with ``value``; padding: int or (left, right)."""
    _N = 1


class ConstantPad2d(_ConstantPadNd):
    """Pads the last 2 dims with ``value``; padding: int or (left, right, top, bottom)."""
    _N = 2


class ConstantPad3d(_ConstantPadNd):
    """Pads the last 3 dims with ``value``; padding: int or a 6-tuple (last dim first)."""
    _N = 3


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd):
    """Pads the last dim with zeros; padding: int or (left, right)."""
    _N = 1


class ZeroPad2d(_ZeroPadNd):
    """Pads the last 2 dims with zeros; padding: int or (left, right, top, bottom)."""
    _N = 2


class ZeroPad3d(_ZeroPadNd):
    """Pads the last 3 dims with zeros; padding: int or a 6-tuple (last dim first)."""
    _N = 3


class ReflectionPad1d(_PadNd):
    """Pads the last dim with the reflection of the input (the edge not repeated)."""
    _N, _MODE = 1, "reflect"


class ReflectionPad2d(_PadNd):
    """Pads the last 2 dims with the reflection of the input (the edge not repeated)."""
    _N, _MODE = 2, "reflect"


class ReflectionPad3d(_PadNd):
    """Pads the last 3 dims with the reflection of the input (the edge not repeated)."""
    _N, _MODE = 3, "reflect"


class ReplicationPad1d(_PadNd):
    """Pads the last dim by repeating the edge values."""
    _N, _MODE = 1, "replicate"


class ReplicationPad2d(_PadNd):
    """Pads the last 2 dims by repeating the edge values."""
    _N, _MODE = 2, "replicate"


class ReplicationPad3d(_PadNd):
    """Pads the last 3 dims by repeating the edge values."""
    _N, _MODE = 3, "replicate"


class CircularPad1d(_PadNd):
    """Pads the last dim by wrapping around (periodic)."""
    _N, _MODE = 1, "circular"


class CircularPad2d(_PadNd):
    """Pads the last 2 dims by wrapping around (periodic)."""
    _N, _MODE = 2, "circular"


class CircularPad3d(_PadNd):
    """Pads the last 3 dims by wrapping around (periodic)."""
    _N, _MODE = 3, "circular"


# ---- reshaping and resizing ------------------------------------------------------------------------
class ChannelShuffle(Module):
    """Interleaves the channels of ``groups`` groups: (N, C, *) -> (N, C, *)."""
    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: Tensor) -> Tensor:
        return FX.channel_shuffle(x, self.groups)

    def extra_repr(self):
        return f"groups={self.groups}"


class Unfold(Module):
    """im2col: (N, C, H, W) -> (N, C * kh * kw, L), one column per sliding block."""
    def __init__(self, kernel_size, dilation=1, padding=0, stride=1) -> None:
        super().__init__()
        self.kernel_size, self.dilation = kernel_size, dilation
        self.padding, self.stride = padding, stride

    def forward(self, x: Tensor) -> Tensor:
        return FX.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Fold(Module):
    """col2im: (N, C * kh * kw, L) -> (N, C, H, W), summing overlapping blocks."""
    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1) -> None:
        super().__init__()
        self.output_size, self.kernel_size, self.dilation = output_size, kernel_size, dilation
        self.padding, self.stride = padding, stride

    def forward(self, x: Tensor) -> Tensor:
        return FX.fold(x, self.output_size, self.kernel_size, self.dilation, self.padding,
                       self.stride)

    def extra_repr(self):
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")


class UpsamplingNearest2d(Upsample):
    """Upsample(mode='nearest') of (N, C, H, W) input."""
    def __init__(self, size=None, scale_factor=None) -> None:
        super().__init__(size, scale_factor, mode="nearest")

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, self.size, self.scale_factor, self.mode)


class UpsamplingBilinear2d(Upsample):
    """Upsample(mode='bilinear', align_corners=True) of (N, C, H, W) input."""
    def __init__(self, size=None, scale_factor=None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)

    def forward(self, x: Tensor) -> Tensor:
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners)


# ---- normalisation ---------------------------------------------------------------------------------
class BatchNorm3d(_BatchNorm):
    """Batch normalisation over (N, C, D, H, W) input, per channel C."""
    _NDIMS = (5,)  # type: ignore[assignment]
    _SHAPES = "5-D input (N, C, D, H, W)"


class _InstanceNorm(_BatchNorm):
    """Instance normalisation: each (sample, channel) normalised over its spatial dims
    (F.instance_norm); running statistics only with track_running_stats."""
    _N = 1
    running_mean: Optional[Tensor]
    running_var: Optional[Tensor]

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device=None,
                 dtype=None, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device=device,
                         dtype=dtype)
        self._has_bias = bool(affine and bias)
        if affine and not bias:
            del self.bias
            self.register_parameter("bias", None)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self._has_bias}, "
                f"track_running_stats={self.track_running_stats}")

    def forward(self, x: Tensor) -> Tensor:
        who = type(self).__name__
        x = _float_in(x, who)
        nd = x._data.ndim
        if nd not in (self._N + 1, self._N + 2):
            raise ShapeError(f"{who}: expected a {self._N + 1}-d (unbatched) or {self._N + 2}-d "
                             f"(batched) input, got shape {_shape(x)}")
        unbatched = nd == self._N + 1
        if unbatched:
            x = _sh.unsqueeze(x, 0)
        c = x._data.shape[1]
        if c != self.num_features and self.affine:
            raise ShapeError(f"{who}: expected input's size at dim={1 - unbatched} to match "
                             f"num_features ({self.num_features}), but got: {c}.")
        y = FN.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                             self.training or not self.track_running_stats,
                             0.0 if self.momentum is None else self.momentum, self.eps)
        return _sh.squeeze(y, 0) if unbatched else y


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or (C, L) input over L."""
    _N = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or (C, H, W) input over H and W."""
    _N = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation of (N, C, D, H, W) or (C, D, H, W) input over D, H and W."""
    _N = 3


class LocalResponseNorm(Module):
    """x / (k + alpha / size * sum of x^2 over ``size`` neighbouring channels)^beta."""
    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x: Tensor) -> Tensor:
        return FN.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


# ---- pooling ---------------------------------------------------------------------------------------
class _AdaptiveMaxPoolNd(Module):
    _fn: Any = None

    def __init__(self, output_size, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, x: Tensor):
        return self._fn(x, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max over adaptive windows of (N, C, L) to L_out = output_size."""
    _fn = staticmethod(FN.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max over adaptive windows of (N, C, H, W) to output_size."""
    _fn = staticmethod(FN.adaptive_max_pool2d)


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Max over adaptive windows of (N, C, D, H, W) to output_size."""
    _fn = staticmethod(FN.adaptive_max_pool3d)


class AdaptiveAvgPool3d(Module):
    """Mean over adaptive windows of (N, C, D, H, W) to output_size."""
    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return FN.adaptive_avg_pool3d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class _LPPoolNd(Module):
    _fn: Any = None

    def __init__(self, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        return self._fn(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """Power-average pooling of (N, C, L)."""
    _fn = staticmethod(FN.lp_pool1d)


class LPPool2d(_LPPoolNd):
    """Power-average pooling of (N, C, H, W)."""
    _fn = staticmethod(FN.lp_pool2d)


class LPPool3d(_LPPoolNd):
    """Power-average pooling of (N, C, D, H, W)."""
    _fn = staticmethod(FN.lp_pool3d)
