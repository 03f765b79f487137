"""More of torch.nn.functional's activations, composed of existing fastgrad ops (their
gradients come from those ops): prelu, glu, hardshrink, softshrink, tanhshrink,
threshold, rrelu, and the in-place forms elu_, leaky_relu_, hardtanh_, selu_, celu_,
threshold_, rrelu_; the reshaping functions pixel_shuffle, pixel_unshuffle,
channel_shuffle, unfold and fold (im2col and col2im); the deprecated
upsample_nearest and upsample_bilinear.  ``fastgrad.nn.functional`` re-exports them."""
from __future__ import annotations

import numpy as np

from fastgrad.errors import ArgumentError, ShapeError
from fastgrad._tensor import Tensor
from fastgrad.ops import elementwise as _E, indexing as _X, shape as _S
from fastgrad.ops._record import _float_in, _make, _shape
from fastgrad.ops.inplace import _inplace_apply

__all__ = ["prelu", "glu", "hardshrink", "softshrink", "tanhshrink", "threshold", "rrelu",
           "elu_", "leaky_relu_", "hardtanh_", "selu_", "celu_", "threshold_", "rrelu_",
           "channel_shuffle", "unfold", "fold",
           "upsample_nearest", "upsample_bilinear"]


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


# ---- reshaping: channel shuffle, im2col ------------------------------------------------
def _factor(v, name, who):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ArgumentError(f"{who}: {name} must be a positive int, got {v!r}")
    return int(v)


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """(N, C, *) with C = g * k: channel i * k + j moves to j * g + i (the channels of the
    g groups interleaved)."""
    x = _float_in(input, "channel_shuffle") if not isinstance(input, Tensor) else input
    g = _factor(groups, "groups", "channel_shuffle")
    shp = x._data.shape
    if len(shp) < 3:
        raise ShapeError(f"channel_shuffle: expects an input of at least 3 dims, got shape {shp}")
    n, c, *rest = shp
    if c % g:
        raise ShapeError(f"channel_shuffle: the channel count {c} of the input of shape {shp} "
                         f"is not divisible by groups {g}")
    y = _S.reshape(x, (n, g, c // g, *rest))
    return _S.reshape(_S.transpose(y, 1, 2), shp)


def _pair2(v, name, who, lo):
    t = (v, v) if isinstance(v, (int, np.integer)) else tuple(v)
    if len(t) != 2 or any(isinstance(e, bool) or not isinstance(e, (int, np.integer)) or e < lo
                          for e in t):
        raise ArgumentError(f"{who}: {name} must be an int or a pair of ints >= {lo}, got {v!r}")
    return tuple(int(e) for e in t)


def _im2col_index(who, hw, kernel_size, dilation, padding, stride):
    """The flat positions in the padded (H + 2 ph, W + 2 pw) image that unfold reads:
    an int64 array (kh * kw, L), and the padded size and the block counts."""
    kh, kw = _pair2(kernel_size, "kernel_size", who, 1)
    dh, dw = _pair2(dilation, "dilation", who, 1)
    ph, pw = _pair2(padding, "padding", who, 0)
    sh, sw = _pair2(stride, "stride", who, 1)
    hp, wp = hw[0] + 2 * ph, hw[1] + 2 * pw
    nh, nw = (hp - dh * (kh - 1) - 1) // sh + 1, (wp - dw * (kw - 1) - 1) // sw + 1
    if nh < 1 or nw < 1:
        raise ShapeError(f"{who}: the padded spatial size {(hp, wp)} is smaller than the dilated "
                         f"kernel {(dh * (kh - 1) + 1, dw * (kw - 1) + 1)}: no block fits")
    ki = (np.arange(kh)[:, None] * dh * wp + np.arange(kw)[None, :] * dw).reshape(-1, 1)
    li = (np.arange(nh)[:, None] * sh * wp + np.arange(nw)[None, :] * sw).reshape(1, -1)
    return (ki + li).astype(np.int64), (hp, wp), (ph, pw), kh * kw


def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """im2col: (N, C, H, W) -> (N, C * kh * kw, L), each column one sliding block (L blocks,
    row-major); (C, H, W) -> (C * kh * kw, L)."""
    x = _float_in(input, "unfold")
    shp = x._data.shape
    if len(shp) not in (3, 4):
        raise ShapeError(f"unfold: expected a 3-d (unbatched) or 4-d (batched) input, got shape "
                         f"{shp}")
    idx, (hp, wp), (ph, pw), k = _im2col_index("unfold", shp[-2:], kernel_size, dilation,
                                                padding, stride)
    if ph or pw:
        x = _pad_const(x, (pw, pw, ph, ph))
    lead = x._data.shape[:-2]
    flat = _S.reshape(x, (*lead, hp * wp))
    cols = _X.index_select(flat, -1, _make(idx.reshape(-1)))
    return _S.reshape(cols, (*lead[:-1], lead[-1] * k, idx.shape[1]))


def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """col2im, the adjoint of unfold: (N, C * kh * kw, L) -> (N, C, H, W) with
    (H, W) = output_size, summing the entries that land on the same pixel;
    (C * kh * kw, L) -> (C, H, W)."""
    x = _float_in(input, "fold")
    shp = x._data.shape
    if len(shp) not in (2, 3):
        raise ShapeError(f"fold: expected a 2-d (unbatched) or 3-d (batched) input, got shape "
                         f"{shp}")
    hw = _pair2(output_size, "output_size", "fold", 1)
    idx, (hp, wp), (ph, pw), k = _im2col_index("fold", hw, kernel_size, dilation, padding, stride)
    if shp[-2] % k:
        raise ShapeError(f"fold: expected size of input's dimension {len(shp) - 2} to be divisible "
                         f"by the product of kernel_size ({k}), but got input of shape {shp}")
    if shp[-1] != idx.shape[1]:
        raise ShapeError(f"fold: the input of shape {shp} has {shp[-1]} blocks, but output_size "
                         f"{hw} and the kernel, dilation, padding and stride give {idx.shape[1]}")
    lead = (*shp[:-2], shp[-2] // k)
    src = _S.reshape(x, (*lead, k * shp[-1]))
    index = _make(np.ascontiguousarray(np.broadcast_to(idx.reshape(-1), src._data.shape)))
    zeros = _make(np.zeros((*lead, hp * wp), dtype=x._data.dtype))
    out = _S.reshape(_X.scatter_add(zeros, -1, index, src), (*lead, hp, wp))
    if ph:
        out = _S.narrow(out, -2, ph, hw[0])
    if pw:
        out = _S.narrow(out, -1, pw, hw[1])
    return out


def _pad_const(x, p):
    from fastgrad.nn.functional import pad
    return pad(x, p)


# ---- resizing: the deprecated upsample functions ---------------------------------------------------
def _interpolate(input, size, scale_factor, mode, align_corners=None):
    from fastgrad.nn.functional import interpolate
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """interpolate(mode='nearest')."""
    return _interpolate(input, size, scale_factor, "nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """interpolate(mode='bilinear', align_corners=True) of a 4-d input."""
    return _interpolate(input, size, scale_factor, "bilinear", True)
