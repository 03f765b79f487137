"""Tensor methods and small ops PyTorch code uses everywhere: the ``new_*`` factories,
``type_as``, ``stride`` and the other introspection methods, ``clamp_min``/``clamp_max``,
the index ops ``index_add``/``index_copy``/``index_fill``/``masked_scatter``, and the
in-place forms (``exp_``, ``sigmoid_``, ``pow_``, ...) of the ops that have a method.

Everything here is composed of existing differentiable ops, so gradients follow from
theirs; the in-place forms go through the in-place machinery of ``ops.inplace``.
"""
from __future__ import annotations

import numpy as np

from fastgrad import _dtype
from fastgrad._tensor import Tensor
from fastgrad.ops._record import _to_tensor, exports, public, to
from fastgrad.ops.inplace import _inplace_apply


def _tensor_arg(x, who):
    if type(x) is not Tensor and not isinstance(x, Tensor):
        raise TypeError(f"{who}: expected a Tensor, got {type(x).__name__}")
    return x


# ---- introspection (methods and functions that are not ops) --------------------------------
def is_tensor(obj) -> bool:
    """True when ``obj`` is a fastgrad Tensor (or a subclass)."""
    return isinstance(obj, Tensor)


def is_floating_point(input: Tensor) -> bool:
    """True when the tensor's dtype is a floating-point type."""
    return _tensor_arg(input, "is_floating_point")._data.dtype.kind == "f" or \
        input.dtype in (_dtype.bfloat16, _dtype.float16)


def numel(input: Tensor) -> int:
    """The number of elements of the tensor."""
    return int(_tensor_arg(input, "numel")._data.size)


def _is_signed(self) -> bool:
    """True when the tensor's dtype is signed (the floating types and int8..int64)."""
    return self.dtype not in (_dtype.bool, _dtype.uint8)


def _stride(self, dim=None):
    """The strides in elements: a tuple, or the stride of dimension ``dim`` (an int)."""
    st = tuple(s // self._data.itemsize for s in self._data.strides)
    if dim is None:
        return st
    n = len(st)
    if not -max(n, 1) <= dim < max(n, 1):
        raise IndexError(f"stride: dimension {dim} is out of range for a tensor of "
                         f"{n} dimensions")
    return st[dim] if n else 1


def _ndimension(self) -> int:
    """The number of dimensions (Tensor.dim())."""
    return self._data.ndim


def _nelement(self) -> int:
    """The number of elements (Tensor.numel())."""
    return int(self._data.size)


def _size_args(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(size)


def _new_tensor(self, data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A new tensor holding a copy of ``data``, with this tensor's dtype unless ``dtype``
    is given."""
    from fastgrad._tensor import tensor
    if isinstance(data, Tensor):
        data = data.detach().numpy()
    return tensor(np.array(data), dtype=dtype or self.dtype, requires_grad=requires_grad)


def _new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value``, with this tensor's dtype unless
    ``dtype`` is given."""
    from fastgrad._factory import full
    return full(tuple(size), fill_value, dtype=dtype or self.dtype, requires_grad=requires_grad)


def _new_empty(self, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """An uninitialised tensor of shape ``size`` with this tensor's dtype unless ``dtype``
    is given (fastgrad fills it with zeros)."""
    from fastgrad._factory import zeros
    return zeros(*_size_args(size), dtype=dtype or self.dtype, requires_grad=requires_grad)


def _type_as(self, other: Tensor) -> Tensor:
    """This tensor cast to ``other``'s dtype (itself when the dtypes are equal)."""
    _tensor_arg(other, "type_as")
    return self if self.dtype == other.dtype else to(self, other.dtype)


def _where_method(self, condition, y) -> Tensor:
    """``fastgrad.where(condition, self, y)``."""
    return where(condition, self, y)


for _name, _fn in (("is_signed", _is_signed), ("stride", _stride), ("ndimension", _ndimension),
                   ("nelement", _nelement), ("new_tensor", _new_tensor), ("new_full", _new_full),
                   ("new_empty", _new_empty), ("type_as", _type_as), ("where", _where_method)):
    _fn.__name__ = _fn.__qualname__ = _name
    public(_fn, method=True, export=False)


# ---- clamp_min / clamp_max -----------------------------------------------------------------
@public(method=True)
def clamp_min(input: Tensor, min) -> Tensor:
    """``clamp(input, min=min)``: each element raised to at least ``min`` (a number or a
    broadcastable tensor)."""
    return clamp(input, min=min)


@public(method=True)
def clamp_max(input: Tensor, max) -> Tensor:
    """``clamp(input, max=max)``: each element lowered to at most ``max``."""
    return clamp(input, max=max)


# ---- index ops -----------------------------------------------------------------------------
def _index_along(input, dim, index, source_shape, who):
    """``index`` (1-d int64 of the positions along ``dim``) expanded to ``source_shape``,
    for scatter; checks the arguments the way PyTorch does."""
    index = _to_tensor(index, who)
    n = input._data.ndim
    d = dim + max(n, 1) if dim < 0 else dim
    if not 0 <= d < max(n, 1):
        raise IndexOutOfRangeError(f"{who}: dimension {dim} is out of range for a tensor of {n} dimensions")
    if index._data.ndim > 1:
        raise IndexOutOfRangeError(f"{who}: index must be 0-d or 1-d, got shape {tuple(index._data.shape)}")
    if index._data.dtype.kind not in "iu":
        raise IndexOutOfRangeError(f"{who}: index must be an integer tensor, got {index.dtype}")
    idx = index._data.reshape(-1).astype(np.int64)
    size = input._data.shape[d] if n else 1
    low = 0 if who in ("index_add", "index_copy") else -size     # as in PyTorch
    if idx.size and (idx.min() < low or idx.max() >= size):
        raise IndexOutOfRangeError(f"{who}: index out of range for dimension {dim} of size {size}")
    idx = np.where(idx < 0, idx + size, idx)
    if n == 0 or source_shape is None:
        return idx, d
    if len(source_shape) != n or source_shape[d] != idx.size:
        raise ShapeError(f"{who}: source of shape {tuple(source_shape)} does not match input "
                         f"of shape {tuple(input._data.shape)} with {idx.size} indices "
                         f"along dimension {dim}")
    for i in range(n):
        if i != d and source_shape[i] != input._data.shape[i]:
            raise ShapeError(f"{who}: source of shape {tuple(source_shape)} does not match input "
                             f"of shape {tuple(input._data.shape)} outside dimension {dim}")
    view = [1] * n
    view[d] = idx.size
    return np.broadcast_to(idx.reshape(view), source_shape).copy(), d


@public(method=True)
def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    """``input`` with ``alpha * source[..., i, ...]`` added at position ``index[i]`` along
    ``dim`` (repeated indices accumulate).  ``source`` has ``input``'s shape except
    ``len(index)`` along ``dim``."""
    input = _tensor_arg(input, "index_add")
    source = _to_tensor(source, "index_add")
    if input._data.ndim == 0:
        _index_along(input, dim, index, (), "index_add")
        return add(input, reshape(source, ()), alpha=alpha) if alpha != 1 else add(input, reshape(source, ()))
    idx, d = _index_along(input, dim, index, source._data.shape, "index_add")
    if alpha != 1:
        source = mul(source, alpha)
    return scatter_add(input, d, _to_tensor(idx, "index_add"), source)


@public(method=True)
def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """``input`` with ``source[..., i, ...]`` copied to position ``index[i]`` along
    ``dim``."""
    input = _tensor_arg(input, "index_copy")
    source = _to_tensor(source, "index_copy")
    if input._data.ndim == 0:
        _index_along(input, dim, index, (), "index_copy")
        return to(reshape(source, ()), input.dtype) + 0 * input
    idx, d = _index_along(input, dim, index, source._data.shape, "index_copy")
    return scatter(input, d, _to_tensor(idx, "index_copy"), source)


@public(method=True)
def index_fill(input: Tensor, dim: int, index: Tensor, value) -> Tensor:
    """``input`` with every element at position ``index[i]`` along ``dim`` set to
    ``value`` (a number or a 0-d tensor)."""
    input = _tensor_arg(input, "index_fill")
    n = input._data.ndim
    idx, d = _index_along(input, dim, index, None, "index_fill")
    size = input._data.shape[d] if n else 1
    m = np.zeros(size, dtype=bool)
    m[idx] = True
    if n:
        view = [1] * n
        view[d] = size
        m = m.reshape(view)
    else:
        m = m.reshape(())
    if isinstance(value, Tensor) and value._data.ndim != 0:
        raise RuntimeError(f"index_fill: value must be a number or a 0-d tensor, got shape "
                           f"{tuple(value._data.shape)}")
    return masked_fill(input, _to_tensor(m, "index_fill"), value)


@public(method=True)
def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """``input`` with the positions where ``mask`` (broadcast to ``input``) is True filled,
    in row-major order, by consecutive elements of ``source``."""
    input = _tensor_arg(input, "masked_scatter")
    mask = _to_tensor(mask, "masked_scatter")
    source = _to_tensor(source, "masked_scatter")
    if mask._data.dtype != np.bool_:
        raise RuntimeError(f"masked_scatter: mask must be a bool tensor, got {mask.dtype}")
    try:
        shape = np.broadcast_shapes(input._data.shape, mask._data.shape)
    except ValueError:
        raise RuntimeError(f"masked_scatter: mask of shape {tuple(mask._data.shape)} cannot be "
                           f"broadcast to input of shape {tuple(input._data.shape)}") from None
    m = np.broadcast_to(mask._data, shape)
    k = int(m.sum())
    if k > source._data.size:
        raise RuntimeError(f"masked_scatter: mask has {k} True elements but source has only "
                           f"{source._data.size}")
    pos = np.clip(np.cumsum(m.reshape(-1)) - 1, 0, None).astype(np.int64)
    flat = reshape(to(source, input.dtype) if source.dtype != input.dtype else source, -1)
    if flat._data.size == 0:
        return where(_to_tensor(np.array(m, order="C"), "masked_scatter"), input, input)
    picked = reshape(index_select(flat, 0, _to_tensor(pos, "masked_scatter")), shape)
    return where(_to_tensor(np.array(m, order="C"), "masked_scatter"), picked, input)


# ---- in-place forms ------------------------------------------------------------------------
def _inplace(name, op):
    def f(self, *args, **kwargs):
        return _inplace_apply(self, name, op, args, kwargs or None)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"In-place ``{op.__name__}``: writes the result into this tensor and returns it."
    return f


# in-place forms of the ops above and of other kinds (bound as Tensor methods only)
def _declare_inplace():
    g = globals()
    for name in _INPLACE:
        public(g[name], method=True, export=False)


__all__ = exports(__name__)


# ops of other kinds, bound once this module's own names exist (the kinds call each other)
from fastgrad.errors import IndexOutOfRangeError, ShapeError  # noqa: E402
from fastgrad.ops.elementwise import (abs, acos, acosh, add, asin, asinh, atan, atan2,  # noqa: E402
                                      atanh, ceil, clamp, copysign, cos, cosh, div, eq, erf, exp,
                                      exp2, expm1, floor, fmod, ge, gt, hypot, le, lerp,
                                      log, log1p, log2, log10, logical_and, logical_not,
                                      logical_or, logit, lt, mul, ne, neg, pow, reciprocal,
                                      round, rsqrt, sigmoid, sign, sin, sinh, sqrt, square,
                                      sub, tan, tanh, trunc, where)
from fastgrad.ops.elementwise import fix, sgn  # type: ignore[attr-defined]  # noqa: E402
from fastgrad.ops.indexing import index_select, masked_fill, scatter, scatter_add  # noqa: E402
from fastgrad.ops.shape import reshape  # noqa: E402
exp_ = _inplace("exp_", exp)
log_ = _inplace("log_", log)
sqrt_ = _inplace("sqrt_", sqrt)
sigmoid_ = _inplace("sigmoid_", sigmoid)
tanh_ = _inplace("tanh_", tanh)
neg_ = _inplace("neg_", neg)
abs_ = _inplace("abs_", abs)
floor_ = _inplace("floor_", floor)
ceil_ = _inplace("ceil_", ceil)
trunc_ = _inplace("trunc_", trunc)
round_ = _inplace("round_", round)
sign_ = _inplace("sign_", sign)
sgn_ = _inplace("sgn_", sgn)
sin_ = _inplace("sin_", sin)
cos_ = _inplace("cos_", cos)
tan_ = _inplace("tan_", tan)
sinh_ = _inplace("sinh_", sinh)
cosh_ = _inplace("cosh_", cosh)
asin_ = _inplace("asin_", asin)
acos_ = _inplace("acos_", acos)
atan_ = _inplace("atan_", atan)
asinh_ = _inplace("asinh_", asinh)
acosh_ = _inplace("acosh_", acosh)
atanh_ = _inplace("atanh_", atanh)
reciprocal_ = _inplace("reciprocal_", reciprocal)
rsqrt_ = _inplace("rsqrt_", rsqrt)
log1p_ = _inplace("log1p_", log1p)
expm1_ = _inplace("expm1_", expm1)
log2_ = _inplace("log2_", log2)
log10_ = _inplace("log10_", log10)
exp2_ = _inplace("exp2_", exp2)
erf_ = _inplace("erf_", erf)
square_ = _inplace("square_", square)
fix_ = _inplace("fix_", fix)
pow_ = _inplace("pow_", pow)
fmod_ = _inplace("fmod_", fmod)
atan2_ = _inplace("atan2_", atan2)
hypot_ = _inplace("hypot_", hypot)
copysign_ = _inplace("copysign_", copysign)
lerp_ = _inplace("lerp_", lerp)
clamp_min_ = _inplace("clamp_min_", clamp_min)
clamp_max_ = _inplace("clamp_max_", clamp_max)
logit_ = _inplace("logit_", logit)
arctan2_ = _inplace("arctan2_", atan2)
absolute_ = _inplace("absolute_", abs)
negative_ = _inplace("negative_", neg)
arccos_ = _inplace("arccos_", acos)
arcsin_ = _inplace("arcsin_", asin)
arctan_ = _inplace("arctan_", atan)
arcsinh_ = _inplace("arcsinh_", asinh)
arccosh_ = _inplace("arccosh_", acosh)
arctanh_ = _inplace("arctanh_", atanh)
multiply_ = _inplace("multiply_", mul)
subtract_ = _inplace("subtract_", sub)
divide_ = _inplace("divide_", div)
true_divide_ = _inplace("true_divide_", div)
index_add_ = _inplace("index_add_", index_add)
index_copy_ = _inplace("index_copy_", index_copy)
index_fill_ = _inplace("index_fill_", index_fill)
masked_scatter_ = _inplace("masked_scatter_", masked_scatter)
scatter_ = _inplace("scatter_", scatter)
scatter_add_ = _inplace("scatter_add_", scatter_add)
logical_and_ = _inplace("logical_and_", logical_and)
logical_or_ = _inplace("logical_or_", logical_or)
logical_not_ = _inplace("logical_not_", logical_not)
eq_ = _inplace("eq_", eq)
ne_ = _inplace("ne_", ne)
lt_ = _inplace("lt_", lt)
le_ = _inplace("le_", le)
gt_ = _inplace("gt_", gt)
ge_ = _inplace("ge_", ge)
_INPLACE = [n for n, v in list(globals().items()) if n.endswith("_") and not n.startswith("_")
            and getattr(v, "__module__", None) == __name__]
_declare_inplace()
