"""More of torch.nn.functional's activations, composed of existing fastgrad ops (their
gradients come from those ops): prelu, glu, hardshrink, softshrink, tanhshrink,
threshold, rrelu, and the in-place forms elu_, leaky_relu_, hardtanh_, selu_, celu_,
threshold_, rrelu_.  ``fastgrad.nn.functional`` re-exports them."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fastgrad.errors import ArgumentError, ShapeError
from fastgrad.ops import elementwise as _E, shape as _S
from fastgrad.ops._record import _float_in, _make, _shape
from fastgrad.ops.inplace import _inplace_apply

if TYPE_CHECKING:
    from fastgrad._tensor import Tensor

__all__ = ["prelu", "glu", "hardshrink", "softshrink", "tanhshrink", "threshold", "rrelu",
           "elu_", "leaky_relu_", "hardtanh_", "selu_", "celu_", "threshold_", "rrelu_"]


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, else weight * x.  ``weight`` has 1 element (one slope for every
    channel) or one per channel, the input's dim 1 (an input of fewer than 2 dims has one channel)."""
    x = _float_in(input, "prelu")
    w = _float_in(weight, "prelu")
    nd = x._data.ndim
    n = w._data.size
    if n == 1:
        w = _S.reshape(w, ())
    else:
        c = x._data.shape[1] if nd >= 2 else 1
        if w._data.ndim != 1 or c != n:
            raise ShapeError(f"prelu: weight of shape {_shape(w)} does not match the input of "
                             f"shape {_shape(x)}, which has {c} channels (expected 1 or {c} "
                             f"slopes)")
        w = _S.reshape(w, (n,) + (1,) * (nd - 2))
    return _E.where(_E.gt(x, 0.0), x, _E.mul(x, w))


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a * sigmoid(b), where a and b are the first and second halves of the input along
    ``dim`` (whose size must be even); the output has half the input's size there."""
    x = _float_in(input, "glu")
    nd = x._data.ndim
    if nd == 0:
        raise ShapeError("glu: does not support 0-d (scalar) input")
    if not -nd <= dim < nd:
        raise IndexError(f"glu: dimension {dim} is out of range for a {nd}-d input")
    d = dim % nd
    size = x._data.shape[d]
    if size % 2:
        raise ShapeError(f"glu: halving dimension must be even, but dimension {d} is size {size}")
    h = size // 2
    return _E.mul(_S.narrow(x, d, 0, h), _E.sigmoid(_S.narrow(x, d, h, h)))


def _lambd(lambd, who):
    lambd = float(lambd)
    if who == "softshrink" and not lambd >= 0:
        raise ArgumentError(f"softshrink: lambda must be greater or equal to 0, got {lambd}")
    return lambd


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0."""
    x = _float_in(input, "hardshrink")
    lambd = _lambd(lambd, "hardshrink")
    return _E.where(_E.le(_E.abs(x), lambd), 0.0, x)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd where x > lambd, x + lambd where x < -lambd, else 0 (lambd >= 0)."""
    x = _float_in(input, "softshrink")
    lambd = _lambd(lambd, "softshrink")
    return _E.where(_E.lt(x, -lambd), _E.add(x, lambd),
                    _E.where(_E.le(_E.abs(x), lambd), 0.0, _E.sub(x, lambd)))


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x)."""
    x = _float_in(input, "tanhshrink")
    return _E.sub(x, _E.tanh(x))


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else value (``inplace``: writes the result into the input)."""
    if inplace:
        return threshold_(input, threshold, value)
    x = _float_in(input, "threshold")
    return _E.where(_E.le(x, float(threshold)), float(value), x)


def _rrelu_bounds(lower, upper):
    lower, upper = float(lower), float(upper)
    if not lower <= upper:
        raise ArgumentError(f"rrelu: lower bound {lower} must be less than or equal to the "
                            f"upper bound {upper}")
    return lower, upper


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False,
          inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU: x where x >= 0, else a * x.  Training: a is drawn per element
    from U(lower, upper) with fastgrad's global generator; otherwise a = (lower + upper) / 2."""
    if inplace:
        return rrelu_(input, lower, upper, training)
    x = _float_in(input, "rrelu")
    lower, upper = _rrelu_bounds(lower, upper)
    if not training:
        return _E.leaky_relu(x, (lower + upper) / 2)
    from fastgrad._factory import default_generator
    dt = x._data.dtype
    a = default_generator.rng.uniform(lower, upper, size=x._data.shape).astype(dt)
    a = np.where(x._data >= 0, dt.type(1), a)
    return _E.mul(x, _make(a))


# ---- in-place forms ------------------------------------------------------------------------------
def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """elu written into ``input``; returns ``input``."""
    return _inplace_apply(input, "elu_", _E.elu, (alpha,))


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """leaky_relu written into ``input``; returns ``input``."""
    return _inplace_apply(input, "leaky_relu_", _E.leaky_relu, (negative_slope,))


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """hardtanh written into ``input``; returns ``input``."""
    return _inplace_apply(input, "hardtanh_", _E.hardtanh, (min_val, max_val))


def selu_(input: Tensor) -> Tensor:
    """selu written into ``input``; returns ``input``."""
    return _inplace_apply(input, "selu_", _E.selu)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """celu written into ``input``; returns ``input``."""
    from fastgrad.nn.functional import celu
    return _inplace_apply(input, "celu_", celu, (alpha,))


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """threshold written into ``input``; returns ``input``."""
    return _inplace_apply(input, "threshold_", _threshold, (threshold, value))


def _threshold(x, th, value):
    return threshold(x, th, value)


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
           training: bool = False) -> Tensor:
    """rrelu written into ``input``; returns ``input``."""
    return _inplace_apply(input, "rrelu_", _rrelu, (lower, upper, training))


def _rrelu(x, lower, upper, training):
    return rrelu(x, lower, upper, training)
