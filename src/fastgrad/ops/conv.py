"""Convolution: conv1d/2d/3d and conv_transpose1d/2d/3d.

The forward calls one kernel of the active backend (``backend.k``: C in ``csrc/conv.c``
or the NumPy reference), and a named module-level backward function either calls fused
C backward kernels (grad mode off, the usual case) or, under ``create_graph=True``,
writes the gradient with fastgrad ops so higher derivatives work.

Convolution is three ops that are each other's derivatives:
  conv      y  = F(x, w)            dx = BI(g, w)        dw = BW(x, g)
  BI        gx = BI(g, w)  (the transposed convolution)   dg = F(v, w)   dw = BW(v, g)
  BW        gw = BW(x, g)                                  dx = BI(g, v)  dg = F(x, v)
so conv_transpose is BI with a bias, and every derivative of every order stays within
the family.  1-D ops are the 2-D ones on a height-1 view.
"""
from __future__ import annotations

import collections
import math

import numpy as np

from fastgrad.errors import ArgumentError, ArgumentTypeError, ShapeError
from fastgrad._state import backend, grad_mode
from fastgrad._tensor import Tensor
from fastgrad.autograd.engine import jvp_rule
from fastgrad.ops._record import (_float_in, _make, _needs, _record, _shape, exports, public, lowp_via_float32)

from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from typing import Optional



Geo = collections.namedtuple("Geo", "stride pad dil groups xshape wshape oshape")


def _ntuple(v, n, name, who, minimum=0):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (int(v),) * n
    elif isinstance(v, (tuple, list)) and len(v) == n and all(
            isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in v):
        v = tuple(int(e) for e in v)
    elif isinstance(v, (tuple, list)) and all(
            isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in v):
        raise ArgumentTypeError(f"{who}: {name} must be an int or a tuple of {n} ints, got {v!r}")
    else:
        raise TypeError(f"{who}: {name} must be an int or a tuple of {n} ints, got {v!r}")
    if any(e < minimum for e in v):
        raise ArgumentError(f"{who}: {name} must be >= {minimum}, got {v}")
    return v


# ---- the convolution family -------------------------------------------------------------
def _conv_k(x, w, b, geo):
    s = geo
    return backend.k.conv2d(x, w, b, s.stride, s.pad, s.dil, s.groups, s.oshape[2], s.oshape[3])


def _conv_bwd_k(g, x, w, geo, want_gx, want_gw, want_gb):
    s = geo
    return backend.k.conv2d_bwd(g, x, w, s.xshape, s.wshape, s.stride, s.pad, s.dil, s.groups,
                                want_gx, want_gw, want_gb)


def _conv2d_bwd(node, g):
    x, w = node.saved
    geo = node.ctx
    e = node.edges
    wx, ww, wb = e[0] is not None, e[1] is not None, len(e) > 2 and e[2] is not None
    if not grad_mode.enabled:
        gx, gw, gb = _conv_bwd_k(g._data, x._data if ww else None, w._data if wx else None, geo, wx, ww, wb)
        return (_fresh(gx) if wx else None, _fresh(gw) if ww else None, _fresh(gb) if wb else None)
    gx = _conv_input_grad(g, w, geo) if wx else None
    gw = _conv_weight_grad(x, g, geo) if ww else None
    gb = sum(g, (0, 2, 3)) if wb else None
    return (gx, gw, gb)


def _conv_jvp(fwd, node, xs, ts, out):
    """Tangent of y = fwd(x, w) + bias: bilinear in (x, w), plus the bias broadcast over
    the batch and positions."""
    x, w = xs[0], xs[1]
    geo = node.ctx
    t = None if ts[0] is None else fwd(ts[0], w, None, geo)
    if ts[1] is not None:
        t = _tplus(t, fwd(x, ts[1], None, geo))
    if len(ts) > 2 and ts[2] is not None:
        t = _tplus(t, reshape(ts[2], (1, -1) + (1,) * (out._data.ndim - 2)))
    return t


@jvp_rule(_conv2d_bwd)
def _conv2d_jvp(node, xs, ts, out):
    return _conv_jvp(_conv_fwd, node, xs, ts, out)


def _conv_fwd(x, w, b, geo, name="conv2d"):
    out = _conv_k(x._data, w._data, None if b is None else b._data, geo)
    inputs = (x, w) if b is None else (x, w, b)
    if _needs(*inputs):
        return _record(out, name, _conv2d_bwd, inputs, (x, w), None, geo)
    return _make(out)


# 1-D convolution: the 2-D kernels on height-1 views of the arrays, one graph node (not
# unsqueeze + conv2d + squeeze: three fewer nodes each way for a small 1-D layer)
def _h1(a):
    """(N, C, L) array -> (N, C, 1, L) view"""
    return a.reshape(a.shape[:2] + (1,) + a.shape[2:])


def _conv1d_bwd(node, g):
    x, w = node.saved
    geo = node.ctx
    e = node.edges
    wx, ww, wb = e[0] is not None, e[1] is not None, len(e) > 2 and e[2] is not None
    if not grad_mode.enabled:
        gx, gw, gb = _conv_bwd_k(_h1(g._data), _h1(x._data) if ww else None,
                                 _h1(w._data) if wx else None, geo, wx, ww, wb)
        return (_fresh(gx.reshape(x._data.shape)) if wx else None,
                _fresh(gw.reshape(w._data.shape)) if ww else None, _fresh(gb) if wb else None)
    g4 = unsqueeze(g, 2)          # differentiable: the 2-D family on height-1 views
    gx = squeeze(_conv_input_grad(g4, unsqueeze(w, 2), geo), 2) if wx else None
    gw = squeeze(_conv_weight_grad(unsqueeze(x, 2), g4, geo), 2) if ww else None
    gb = sum(g, (0, 2)) if wb else None
    return (gx, gw, gb)


@jvp_rule(_conv1d_bwd)
def _conv1d_jvp(node, xs, ts, out):
    return _conv_jvp(_conv1d_fwd, node, xs, ts, out)


def _conv1d_fwd(x, w, b, geo):
    out = _conv_k(_h1(x._data), _h1(w._data), None if b is None else b._data, geo)
    out = out.reshape(out.shape[:2] + out.shape[3:])
    inputs = (x, w) if b is None else (x, w, b)
    if _needs(*inputs):
        return _record(out, "conv1d", _conv1d_bwd, inputs, (x, w), None, geo)
    return _make(out)


def _conv_input_grad_bwd(node, v):
    g, w = node.saved
    geo = node.ctx
    wg, ww = node.edges[0] is not None, node.edges[1] is not None
    if not grad_mode.enabled:
        dg = _fresh(_conv_k(v._data, w._data, None, geo)) if wg else None
        dw = _fresh(_conv_bwd_k(g._data, v._data, None, geo, False, True, False)[1]) if ww else None
        return (dg, dw)
    return (_conv_fwd(v, w, None, geo) if wg else None,
            _conv_weight_grad(v, g, geo) if ww else None)


@jvp_rule(_conv_input_grad_bwd)
def _conv_input_grad_jvp(node, xs, ts, out):
    (g, w), geo = xs, node.ctx
    return _tplus(None if ts[0] is None else _conv_input_grad(ts[0], w, geo, node.name),
                    None if ts[1] is None else _conv_input_grad(g, ts[1], geo, node.name))


def _conv_input_grad(g, w, geo, name="conv_transpose2d"):
    """BI(g, w): the gradient of conv with respect to its input (the transposed conv)."""
    out = _conv_bwd_k(g._data, None, w._data, geo, True, False, False)[0]
    if _needs(g, w):
        return _record(out, name, _conv_input_grad_bwd, (g, w), (g, w), None, geo)
    return _make(out)


def _conv_weight_grad_bwd(node, v):
    x, g = node.saved
    geo = node.ctx
    wx, wg = node.edges[0] is not None, node.edges[1] is not None
    if not grad_mode.enabled:
        dx = _fresh(_conv_bwd_k(g._data, None, v._data, geo, True, False, False)[0]) if wx else None
        dg = _fresh(_conv_k(x._data, v._data, None, geo)) if wg else None
        return (dx, dg)
    return (_conv_input_grad(g, v, geo) if wx else None, _conv_fwd(x, v, None, geo) if wg else None)


@jvp_rule(_conv_weight_grad_bwd)
def _conv_weight_grad_jvp(node, xs, ts, out):
    (x, g), geo = xs, node.ctx
    return _tplus(None if ts[0] is None else _conv_weight_grad(ts[0], g, geo),
                    None if ts[1] is None else _conv_weight_grad(x, ts[1], geo))


def _conv_weight_grad(x, g, geo):
    """BW(x, g): the gradient of conv with respect to its weight."""
    out = _conv_bwd_k(g._data, x._data, None, geo, False, True, False)[1]
    if _needs(x, g):
        return _record(out, "conv2d_weight_grad", _conv_weight_grad_bwd, (x, g), (x, g), None, geo)
    return _make(out)


def _conv_args(x, weight, bias, who, nsp):
    """Common checks: float tensors of one dtype, weight of nsp + 2 dims, bias (C_out,)."""
    x = _float_in(x, who)
    if not isinstance(weight, Tensor):
        raise TypeError(f"{who}: weight must be a Tensor, got {type(weight).__name__}")
    if weight._data.ndim != nsp + 2:
        raise ShapeError(f"{who}: weight must be {nsp + 2}-d, got shape {_shape(weight)}")
    if x._data.ndim not in (nsp + 1, nsp + 2):
        raise ShapeError(f"{who}: expected {nsp + 1}-d (unbatched) or {nsp + 2}-d (batched) input, "
                         f"got shape {_shape(x)}")
    dt = x._data.dtype
    if weight._data.dtype != dt or (bias is not None and bias._data.dtype != dt):
        raise TypeError(f"{who}: input, weight and bias must share one float dtype, got {dt}, "
                        f"{weight._data.dtype}, {None if bias is None else bias._data.dtype}")
    return x


def _out_size(n, k, s, ptot, d):
    return (n + ptot - d * (k - 1) - 1) // s + 1


def _conv_common(input, weight, bias, stride, dilation, groups, nsp, who):
    """The checks and normalised arguments conv and conv_transpose share: (x batched,
    whether it was unbatched, groups, stride tuple, dilation tuple)."""
    x = _conv_args(input, weight, bias, who, nsp)
    unbatched = x._data.ndim == nsp + 1
    if unbatched:
        x = unsqueeze(x, 0)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ArgumentError(f"{who}: groups must be a positive int, got {groups!r}")
    return (x, unbatched, int(groups), _ntuple(stride, nsp, "stride", who, 1),
            _ntuple(dilation, nsp, "dilation", who, 1))


def _channel_checks(input, x, weight, bias, groups, who):
    """Weight, input and bias shapes of a grouped convolution agree; returns (weight
    shape, input shape, out channels, in channels per group, kernel sizes)."""
    ws = _shape(weight)
    xs = _shape(x)
    cout, cg, ks = ws[0], ws[1], ws[2:]
    if cout % groups:
        raise ShapeError(f"{who}: out_channels {cout} (weight shape {ws}) is not divisible by groups {groups}")
    if xs[1] != cg * groups:
        raise ShapeError(f"{who}: expected input with {cg * groups} channels (weight shape {ws}, "
                         f"groups {groups}), got {xs[1]} channels (input shape {_shape(input)})")
    if bias is not None and _shape(bias) != (cout,):
        raise ShapeError(f"{who}: bias shape {_shape(bias)} does not match weight shape {ws}: "
                         f"expected ({cout},)")
    return ws, xs, cout, cg, ks


def _conv_nd(input, weight, bias, stride, padding, dilation, groups, nsp, who):
    x, unbatched, groups, st, dl = _conv_common(input, weight, bias, stride, dilation, groups,
                                                nsp, who)
    ws, xs, cout, cg, ks = _channel_checks(input, x, weight, bias, groups, who)
    if isinstance(padding, str):
        if padding == "valid":
            ptot = (0,) * nsp
            top = ptot
        elif padding == "same":
            if any(s != 1 for s in st):
                raise ArgumentError(f"{who}: padding='same' is not supported for strided convolutions "
                                 f"(stride {st})")
            ptot = tuple(d * (k - 1) for d, k in zip(dl, ks))
            top = tuple(p // 2 for p in ptot)
        else:
            raise ArgumentError(f"{who}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
    else:
        top = _ntuple(padding, nsp, "padding", who, 0)
        ptot = tuple(2 * p for p in top)
    sp = xs[2:]
    osz = tuple(_out_size(n, k, s, p, d) for n, k, s, p, d in zip(sp, ks, st, ptot, dl))
    # a stride beyond the padded input gives one output position either way; clamping it
    # keeps the kernels' index arithmetic far from overflow
    st = tuple(min(s, n + p + 1) for s, n, p in zip(st, sp, ptot))
    if any(o < 1 for o in osz):
        raise ShapeError(f"{who}: input spatial size {sp} (padding {top}) is smaller than the "
                         f"kernel size {tuple(d * (k - 1) + 1 for d, k in zip(dl, ks))} (dilated)")
    if nsp == 1:
        geo = Geo((1, st[0]), (0, top[0]), (1, dl[0]), groups, (xs[0], xs[1], 1, xs[2]),
                  (cout, cg, 1, ks[0]), (xs[0], cout, 1, osz[0]))
        y = _conv1d_fwd(x, weight, bias, geo)
    else:
        geo = Geo(st, top, dl, groups, xs, ws, (xs[0], cout) + osz)
        y = _conv_fwd(x, weight, bias, geo, who)
    return squeeze(y, 0) if unbatched else y


@public
@lowp_via_float32
def conv1d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation) of input (N, C_in, L) or (C_in, L) with weight
    (C_out, C_in / groups, K); padding an int, a 1-tuple, 'same' or 'valid'."""
    return _conv_nd(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


@public
@lowp_via_float32
def conv2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation) of input (N, C_in, H, W) or (C_in, H, W) with
    weight (C_out, C_in / groups, KH, KW).  'same' padding with an even kernel puts the
    extra row/column at the bottom/right, as PyTorch does."""
    return _conv_nd(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


@public
@lowp_via_float32
def conv3d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """3-D convolution (cross-correlation) of input (N, C_in, D, H, W) or (C_in, D, H, W)
    with weight (C_out, C_in / groups, KD, KH, KW): the sum over the KD depth taps of 2-D
    convolutions (conv2d kernels) of the depth slices each tap reads."""
    who = "conv3d"
    x, unbatched, groups, st, dl = _conv_common(input, weight, bias, stride, dilation, groups,
                                                3, who)
    ws, xs, cout, cg, ks = _channel_checks(input, x, weight, bias, groups, who)
    if isinstance(padding, str):
        if padding == "valid":
            ptot = (0, 0, 0)
        elif padding == "same":
            if any(s != 1 for s in st):
                raise ArgumentError(f"{who}: padding='same' is not supported for strided convolutions "
                                 f"(stride {st})")
            ptot = tuple(d * (k - 1) for d, k in zip(dl, ks))
        else:
            raise ArgumentError(f"{who}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
        top = tuple(p // 2 for p in ptot)
    else:
        top = _ntuple(padding, 3, "padding", who, 0)
        ptot = tuple(2 * p for p in top)
    sp = xs[2:]
    osz = tuple(_out_size(n, k, s, p, d) for n, k, s, p, d in zip(sp, ks, st, ptot, dl))
    if any(o < 1 for o in osz):
        raise ShapeError(f"{who}: input spatial size {sp} (padding {top}) is smaller than the "
                         f"kernel size {tuple(d * (k - 1) + 1 for d, k in zip(dl, ks))} (dilated)")
    if any(2 * t != p for t, p in zip(top[1:], ptot[1:])):
        # an even kernel with 'same': the extra row / column goes to the bottom / right
        x = pad(x, (top[2], ptot[2] - top[2], top[1], ptot[1] - top[1], top[0], ptot[0] - top[0]))
        hw_pad = (0, 0)
    else:
        if ptot[0]:
            x = pad(x, (0, 0, 0, 0, top[0], ptot[0] - top[0]))
        hw_pad = top[1:]
    n, do = xs[0], osz[0]
    y = None
    for i in range(ks[0]):
        first = i * dl[0]
        if st[0] == 1:
            sl = narrow(x, 2, first, do)
        else:
            sl = _index_select(x, 2, np.arange(first, first + st[0] * (do - 1) + 1, st[0]),
                               False, who)
        sl = reshape(permute(sl, (0, 2, 1, 3, 4)), (n * do, xs[1]) + _shape(sl)[3:])
        yi = conv2d(sl, squeeze(narrow(weight, 2, i, 1), 2), None, st[1:], hw_pad, dl[1:], groups)
        y = yi if y is None else add(y, yi)
    y = permute(reshape(y, (n, do, cout) + osz[1:]), (0, 2, 1, 3, 4))
    if bias is not None:
        y = add(y, reshape(bias, (1, cout, 1, 1, 1)))
    return squeeze(y, 0) if unbatched else y


def _conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups, dilation,
                       nsp, who):
    x, unbatched, groups, st, dl = _conv_common(input, weight, bias, stride, dilation, groups,
                                                nsp, who)
    pd = _ntuple(padding, nsp, "padding", who, 0)
    op = _ntuple(output_padding, nsp, "output_padding", who, 0)
    for o, s, d in zip(op, st, dl):
        if o >= s and o >= d:
            raise ArgumentError(f"{who}: output_padding {op} must be smaller than the stride {st} or "
                             f"the dilation {dl}")
    ws = _shape(weight)
    xs = _shape(x)
    cin, cog, ks = ws[0], ws[1], ws[2:]
    if cin % groups:
        raise ShapeError(f"{who}: in_channels {cin} (weight shape {ws}) is not divisible by groups {groups}")
    if xs[1] != cin:
        raise ShapeError(f"{who}: expected input with {cin} channels (weight shape {ws}), got "
                         f"{xs[1]} channels (input shape {_shape(input)})")
    cout = cog * groups
    if bias is not None and _shape(bias) != (cout,):
        raise ShapeError(f"{who}: bias shape {_shape(bias)} does not match weight shape {ws}: "
                         f"expected ({cout},)")
    sp = xs[2:]
    osz = tuple((n - 1) * s - 2 * p + d * (k - 1) + o + 1
                for n, s, p, d, k, o in zip(sp, st, pd, dl, ks, op))
    if any(o < 1 for o in osz):
        raise ShapeError(f"{who}: the output size {osz} for input {xs} is not positive")
    nel = xs[0] * cout * math.prod(osz)
    if max(nel, math.prod(osz)) * x._data.dtype.itemsize > 2 ** 62:
        raise ShapeError(f"{who}: the output of shape {(xs[0], cout) + osz} ({nel} elements) is "
                         "larger than any array that can be allocated")
    if nsp == 1:
        geo = Geo((1, st[0]), (0, pd[0]), (1, dl[0]), groups, (xs[0], cout, 1, osz[0]),
                  (cin, cog, 1, ks[0]), (xs[0], cin, 1, xs[2]))
        y = squeeze(_conv_input_grad(unsqueeze(x, 2), unsqueeze(weight, 2), geo, who), 2)
    else:
        geo = Geo(st, pd, dl, groups, (xs[0], cout) + osz, ws, xs)
        y = _conv_input_grad(x, weight, geo, who)
    if bias is not None:
        y = add(y, reshape(bias, (1, cout) + (1,) * nsp))
    return squeeze(y, 0) if unbatched else y


@public
@lowp_via_float32
def conv_transpose1d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1,
                     dilation=1) -> Tensor:
    """Transposed 1-D convolution (the gradient of conv1d with respect to its input);
    weight (C_in, C_out / groups, K)."""
    return _conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups,
                              dilation, 1, "conv_transpose1d")


@public
@lowp_via_float32
def conv_transpose2d(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None, stride=1, padding=0,
                     output_padding=0, groups: int = 1,
                     dilation=1) -> Tensor:
    """Transposed 2-D convolution; weight (C_in, C_out / groups, KH, KW)."""
    return _conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups,
                              dilation, 2, "conv_transpose2d")


@public
@lowp_via_float32
def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed 3-D convolution of input (N, C_in, D, H, W) or (C_in, D, H, W) with
    weight (C_in, C_out / groups, KD, KH, KW): for each depth tap, conv_transpose2d of
    every input depth slice, placed at depth z * stride + tap * dilation - padding and
    summed."""
    who = "conv_transpose3d"
    x, unbatched, groups, st, dl = _conv_common(input, weight, bias, stride, dilation, groups, 3, who)
    pd = _ntuple(padding, 3, "padding", who, 0)
    op = _ntuple(output_padding, 3, "output_padding", who, 0)
    for o, s_, d in zip(op, st, dl):
        if o >= s_ and o >= d:
            raise ArgumentError(f"{who}: output_padding {op} must be smaller than the stride {st} or "
                                f"the dilation {dl}")
    ws, xs = _shape(weight), _shape(x)
    cin, cog, ks = ws[0], ws[1], ws[2:]
    if cin % groups:
        raise ShapeError(f"{who}: in_channels {cin} (weight shape {ws}) is not divisible by groups {groups}")
    if xs[1] != cin:
        raise ShapeError(f"{who}: expected input with {cin} channels (weight shape {ws}), got "
                         f"{xs[1]} channels (input shape {_shape(input)})")
    cout = cog * groups
    if bias is not None and _shape(bias) != (cout,):
        raise ShapeError(f"{who}: bias shape {_shape(bias)} does not match weight shape {ws}: "
                         f"expected ({cout},)")
    osz = tuple((n - 1) * s_ - 2 * p + d * (k - 1) + o + 1
                for n, s_, p, d, k, o in zip(xs[2:], st, pd, dl, ks, op))
    if any(o < 1 for o in osz):
        raise ShapeError(f"{who}: the output size {osz} for input {xs} is not positive")
    n, din = xs[0], xs[2]
    full = osz[0] + 2 * pd[0]            # the depth before the padding is cropped
    stuffed = (din - 1) * st[0] + 1      # the input depths, stride - 1 zeros between
    sl = reshape(permute(x, (0, 2, 1, 3, 4)), (n * din, cin) + xs[3:])
    y = None
    for i in range(ks[0]):
        yi = conv_transpose2d(sl, squeeze(narrow(weight, 2, i, 1), 2), None, st[1:], pd[1:], op[1:],
                              groups, dl[1:])
        hw = _shape(yi)[2:]
        yi = permute(reshape(yi, (n, din, cout) + hw), (0, 2, 1, 3, 4))
        if st[0] > 1:
            yi = pad(unsqueeze(yi, 3), (0, 0, 0, 0, 0, st[0] - 1))
            yi = narrow(reshape(yi, (n, cout, din * st[0]) + hw), 2, 0, stuffed)
        yi = pad(yi, (0, 0, 0, 0, i * dl[0], full - i * dl[0] - stuffed))
        y = yi if y is None else add(y, yi)
    y = narrow(y, 2, pd[0], osz[0])
    if bias is not None:
        y = add(y, reshape(bias, (1, cout, 1, 1, 1)))
    return squeeze(y, 0) if unbatched else y


__all__ = exports(__name__)


# ops of other kinds, bound once this module's own names exist (the kinds call each other)
from fastgrad.ops.elementwise import _tplus, add
from fastgrad.ops.linalg import _fresh
from fastgrad.ops.reduce import sum
from fastgrad.ops.indexing import _index_select
from fastgrad.ops.shape import narrow, pad, permute, reshape, squeeze, unsqueeze
