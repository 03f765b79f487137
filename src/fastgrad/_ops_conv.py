"""Convolution, pooling, normalization and resampling ops (issue 6).

Same pattern as ``fastgrad._ops``: the forward calls one kernel of the active backend
(``backend.k``: C in ``csrc/conv.c`` or the NumPy reference), and a named module-level
backward function either calls fused C backward kernels (grad mode off, the usual case)
or, under ``create_graph=True``, writes the gradient with fastgrad ops so higher
derivatives work.

Convolution is three ops that are each other's derivatives:
  conv      y  = F(x, w)            dx = BI(g, w)        dw = BW(x, g)
  BI        gx = BI(g, w)  (the transposed convolution)   dg = F(v, w)   dw = BW(v, g)
  BW        gw = BW(x, g)                                  dx = BI(g, v)  dg = F(x, v)
so conv_transpose is BI with a bias, and every derivative of every order stays within
the family.  1-D ops are the 2-D ones on a height-1 view.  Pooling pairs a linear op
with its adjoint in the same way; max pooling's adjoint is a scatter by the saved
argmax indices (its derivative a gather).  Registry entries: ``fastgrad._registry_conv``.
"""
import collections
import math

import numpy as np

from fastgrad import _ops as O
from fastgrad._C._kernels import POOL
from fastgrad._ops import _float_in, _fresh, _make, _needs, _record
from fastgrad._hooks import hooks
from fastgrad._state import backend, grad_mode
from fastgrad._tensor import Tensor
from fastgrad.autograd.engine import jvp_rule

# stride, top/left padding, dilation, groups, input shape, weight shape, output shape
Geo = collections.namedtuple("Geo", "stride pad dil groups xshape wshape oshape")


def _shape(t):
    return tuple(t.data.shape)


def _ntuple(v, n, name, who, minimum=0):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (int(v),) * n
    elif isinstance(v, (tuple, list)) and len(v) == n and all(
            isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in v):
        v = tuple(int(e) for e in v)
    else:
        raise TypeError(f"{who}: {name} must be an int or a tuple of {n} ints, got {v!r}")
    if any(e < minimum for e in v):
        raise ValueError(f"{who}: {name} must be >= {minimum}, got {v}")
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
        gx, gw, gb = _conv_bwd_k(g.data, x.data if ww else None, w.data if wx else None, geo, wx, ww, wb)
        return (_fresh(gx) if wx else None, _fresh(gw) if ww else None, _fresh(gb) if wb else None)
    gx = _conv_input_grad(g, w, geo) if wx else None
    gw = _conv_weight_grad(x, g, geo) if ww else None
    gb = O.sum(g, (0, 2, 3)) if wb else None
    return (gx, gw, gb)


def _conv_jvp(fwd, node, xs, ts, out):
    """Tangent of y = fwd(x, w) + bias: bilinear in (x, w), plus the bias broadcast over
    the batch and positions."""
    x, w = xs[0], xs[1]
    geo = node.ctx
    t = None if ts[0] is None else fwd(ts[0], w, None, geo)
    if ts[1] is not None:
        t = O._tplus(t, fwd(x, ts[1], None, geo))
    if len(ts) > 2 and ts[2] is not None:
        t = O._tplus(t, O.reshape(ts[2], (1, -1) + (1,) * (out.data.ndim - 2)))
    return t


@jvp_rule(_conv2d_bwd)
def _conv2d_jvp(node, xs, ts, out):
    return _conv_jvp(_conv_fwd, node, xs, ts, out)


def _conv_fwd(x, w, b, geo, name="conv2d"):
    out = _conv_k(x.data, w.data, None if b is None else b.data, geo)
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
        gx, gw, gb = _conv_bwd_k(_h1(g.data), _h1(x.data) if ww else None,
                                 _h1(w.data) if wx else None, geo, wx, ww, wb)
        return (_fresh(gx.reshape(x.data.shape)) if wx else None,
                _fresh(gw.reshape(w.data.shape)) if ww else None, _fresh(gb) if wb else None)
    g4 = O.unsqueeze(g, 2)          # differentiable: the 2-D family on height-1 views
    gx = O.squeeze(_conv_input_grad(g4, O.unsqueeze(w, 2), geo), 2) if wx else None
    gw = O.squeeze(_conv_weight_grad(O.unsqueeze(x, 2), g4, geo), 2) if ww else None
    gb = O.sum(g, (0, 2)) if wb else None
    return (gx, gw, gb)


@jvp_rule(_conv1d_bwd)
def _conv1d_jvp(node, xs, ts, out):
    return _conv_jvp(_conv1d_fwd, node, xs, ts, out)


def _conv1d_fwd(x, w, b, geo):
    out = _conv_k(_h1(x.data), _h1(w.data), None if b is None else b.data, geo)
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
        dg = _fresh(_conv_k(v.data, w.data, None, geo)) if wg else None
        dw = _fresh(_conv_bwd_k(g.data, v.data, None, geo, False, True, False)[1]) if ww else None
        return (dg, dw)
    return (_conv_fwd(v, w, None, geo) if wg else None,
            _conv_weight_grad(v, g, geo) if ww else None)


@jvp_rule(_conv_input_grad_bwd)
def _conv_input_grad_jvp(node, xs, ts, out):
    (g, w), geo = xs, node.ctx
    return O._tplus(None if ts[0] is None else _conv_input_grad(ts[0], w, geo, node.name),
                    None if ts[1] is None else _conv_input_grad(g, ts[1], geo, node.name))


def _conv_input_grad(g, w, geo, name="conv_transpose2d"):
    """BI(g, w): the gradient of conv with respect to its input (the transposed conv)."""
    out = _conv_bwd_k(g.data, None, w.data, geo, True, False, False)[0]
    if _needs(g, w):
        return _record(out, name, _conv_input_grad_bwd, (g, w), (g, w), None, geo)
    return _make(out)


def _conv_weight_grad_bwd(node, v):
    x, g = node.saved
    geo = node.ctx
    wx, wg = node.edges[0] is not None, node.edges[1] is not None
    if not grad_mode.enabled:
        dx = _fresh(_conv_bwd_k(g.data, None, v.data, geo, True, False, False)[0]) if wx else None
        dg = _fresh(_conv_k(x.data, v.data, None, geo)) if wg else None
        return (dx, dg)
    return (_conv_input_grad(g, v, geo) if wx else None, _conv_fwd(x, v, None, geo) if wg else None)


@jvp_rule(_conv_weight_grad_bwd)
def _conv_weight_grad_jvp(node, xs, ts, out):
    (x, g), geo = xs, node.ctx
    return O._tplus(None if ts[0] is None else _conv_weight_grad(ts[0], g, geo),
                    None if ts[1] is None else _conv_weight_grad(x, ts[1], geo))


def _conv_weight_grad(x, g, geo):
    """BW(x, g): the gradient of conv with respect to its weight."""
    out = _conv_bwd_k(g.data, x.data, None, geo, False, True, False)[1]
    if _needs(x, g):
        return _record(out, "conv2d_weight_grad", _conv_weight_grad_bwd, (x, g), (x, g), None, geo)
    return _make(out)


def _conv_args(x, weight, bias, who, nsp):
    """Common checks: float tensors of one dtype, weight of nsp + 2 dims, bias (C_out,)."""
    x = _float_in(x, who)
    if not isinstance(weight, Tensor):
        raise TypeError(f"{who}: weight must be a Tensor, got {type(weight).__name__}")
    if weight.data.ndim != nsp + 2:
        raise ValueError(f"{who}: weight must be {nsp + 2}-d, got shape {_shape(weight)}")
    if x.data.ndim not in (nsp + 1, nsp + 2):
        raise ValueError(f"{who}: expected {nsp + 1}-d (unbatched) or {nsp + 2}-d (batched) input, "
                         f"got shape {_shape(x)}")
    dt = x.data.dtype
    if weight.data.dtype != dt or (bias is not None and bias.data.dtype != dt):
        raise TypeError(f"{who}: input, weight and bias must share one float dtype, got {dt}, "
                        f"{weight.data.dtype}, {None if bias is None else bias.data.dtype}")
    return x


def _out_size(n, k, s, ptot, d):
    return (n + ptot - d * (k - 1) - 1) // s + 1


def _conv_common(input, weight, bias, stride, dilation, groups, nsp, who):  # noqa: A002
    """The checks and normalised arguments conv and conv_transpose share: (x batched,
    whether it was unbatched, groups, stride tuple, dilation tuple)."""
    x = _conv_args(input, weight, bias, who, nsp)
    unbatched = x.data.ndim == nsp + 1
    if unbatched:
        x = O.unsqueeze(x, 0)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{who}: groups must be a positive int, got {groups!r}")
    return (x, unbatched, int(groups), _ntuple(stride, nsp, "stride", who, 1),
            _ntuple(dilation, nsp, "dilation", who, 1))


def _conv_nd(input, weight, bias, stride, padding, dilation, groups, nsp, who):  # noqa: A002
    x, unbatched, groups, st, dl = _conv_common(input, weight, bias, stride, dilation, groups,
                                                nsp, who)
    ws = _shape(weight)
    xs = _shape(x)
    cout, cg, ks = ws[0], ws[1], ws[2:]
    if cout % groups:
        raise ValueError(f"{who}: out_channels {cout} (weight shape {ws}) is not divisible by groups {groups}")
    if xs[1] != cg * groups:
        raise ValueError(f"{who}: expected input with {cg * groups} channels (weight shape {ws}, "
                         f"groups {groups}), got {xs[1]} channels (input shape {_shape(input)})")
    if bias is not None and _shape(bias) != (cout,):
        raise ValueError(f"{who}: bias shape {_shape(bias)} does not match weight shape {ws}: "
                         f"expected ({cout},)")
    if isinstance(padding, str):
        if padding == "valid":
            ptot = (0,) * nsp
            top = ptot
        elif padding == "same":
            if any(s != 1 for s in st):
                raise ValueError(f"{who}: padding='same' is not supported for strided convolutions "
                                 f"(stride {st})")
            ptot = tuple(d * (k - 1) for d, k in zip(dl, ks))
            top = tuple(p // 2 for p in ptot)
        else:
            raise ValueError(f"{who}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}")
    else:
        top = _ntuple(padding, nsp, "padding", who, 0)
        ptot = tuple(2 * p for p in top)
    sp = xs[2:]
    osz = tuple(_out_size(n, k, s, p, d) for n, k, s, p, d in zip(sp, ks, st, ptot, dl))
    # a stride beyond the padded input gives one output position either way; clamping it
    # keeps the kernels' index arithmetic far from overflow
    st = tuple(min(s, n + p + 1) for s, n, p in zip(st, sp, ptot))
    if any(o < 1 for o in osz):
        raise ValueError(f"{who}: input spatial size {sp} (padding {top}) is smaller than the "
                         f"kernel size {tuple(d * (k - 1) + 1 for d, k in zip(dl, ks))} (dilated)")
    if nsp == 1:
        geo = Geo((1, st[0]), (0, top[0]), (1, dl[0]), groups, (xs[0], xs[1], 1, xs[2]),
                  (cout, cg, 1, ks[0]), (xs[0], cout, 1, osz[0]))
        y = _conv1d_fwd(x, weight, bias, geo)
    else:
        geo = Geo(st, top, dl, groups, xs, ws, (xs[0], cout) + osz)
        y = _conv_fwd(x, weight, bias, geo, who)
    return O.squeeze(y, 0) if unbatched else y


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """1-D convolution (cross-correlation) of input (N, C_in, L) or (C_in, L) with weight
    (C_out, C_in / groups, K); padding an int, a 1-tuple, 'same' or 'valid'."""
    return _conv_nd(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002
    """2-D convolution (cross-correlation) of input (N, C_in, H, W) or (C_in, H, W) with
    weight (C_out, C_in / groups, KH, KW).  'same' padding with an even kernel puts the
    extra row/column at the bottom/right, as PyTorch does."""
    return _conv_nd(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def _conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups, dilation,  # noqa: A002
                       nsp, who):
    x, unbatched, groups, st, dl = _conv_common(input, weight, bias, stride, dilation, groups,
                                                nsp, who)
    pd = _ntuple(padding, nsp, "padding", who, 0)
    op = _ntuple(output_padding, nsp, "output_padding", who, 0)
    for o, s, d in zip(op, st, dl):
        if o >= s and o >= d:
            raise ValueError(f"{who}: output_padding {op} must be smaller than the stride {st} or "
                             f"the dilation {dl}")
    ws = _shape(weight)
    xs = _shape(x)
    cin, cog, ks = ws[0], ws[1], ws[2:]
    if cin % groups:
        raise ValueError(f"{who}: in_channels {cin} (weight shape {ws}) is not divisible by groups {groups}")
    if xs[1] != cin:
        raise ValueError(f"{who}: expected input with {cin} channels (weight shape {ws}), got "
                         f"{xs[1]} channels (input shape {_shape(input)})")
    cout = cog * groups
    if bias is not None and _shape(bias) != (cout,):
        raise ValueError(f"{who}: bias shape {_shape(bias)} does not match weight shape {ws}: "
                         f"expected ({cout},)")
    sp = xs[2:]
    osz = tuple((n - 1) * s - 2 * p + d * (k - 1) + o + 1
                for n, s, p, d, k, o in zip(sp, st, pd, dl, ks, op))
    if any(o < 1 for o in osz):
        raise ValueError(f"{who}: the output size {osz} for input {xs} is not positive")
    nel = xs[0] * cout * math.prod(osz)
    if max(nel, math.prod(osz)) * x.data.dtype.itemsize > 2 ** 62:
        raise ValueError(f"{who}: the output of shape {(xs[0], cout) + osz} ({nel} elements) is "
                         "larger than any array that can be allocated")
    if nsp == 1:
        geo = Geo((1, st[0]), (0, pd[0]), (1, dl[0]), groups, (xs[0], cout, 1, osz[0]),
                  (cin, cog, 1, ks[0]), (xs[0], cin, 1, xs[2]))
        y = O.squeeze(_conv_input_grad(O.unsqueeze(x, 2), O.unsqueeze(weight, 2), geo, who), 2)
    else:
        geo = Geo(st, pd, dl, groups, (xs[0], cout) + osz, ws, xs)
        y = _conv_input_grad(x, weight, geo, who)
    if bias is not None:
        y = O.add(y, O.reshape(bias, (1, cout) + (1,) * nsp))
    return O.squeeze(y, 0) if unbatched else y


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,  # noqa: A002
                     dilation=1):
    """Transposed 1-D convolution (the gradient of conv1d with respect to its input);
    weight (C_in, C_out / groups, K)."""
    return _conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups,
                              dilation, 1, "conv_transpose1d")


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,  # noqa: A002
                     dilation=1):
    """Transposed 2-D convolution; weight (C_in, C_out / groups, KH, KW)."""
    return _conv_transpose_nd(input, weight, bias, stride, padding, output_padding, groups,
                              dilation, 2, "conv_transpose2d")


# ---- pooling ------------------------------------------------------------------------------
# params: (op, xshape, oh, ow, kernel, stride, padding, dilation, count_include_pad)
def _pool_k(x, p):
    return backend.k.pool2d(p[0], x, p[2], p[3], p[4], p[5], p[6], p[7], p[8])


def _pool_adj_k(g, idx, p):
    return backend.k.pool2d_bwd(p[0], g, idx, p[1], p[4], p[5], p[6], p[7], p[8])


def _lin_pool_bwd(node, g):
    p = node.ctx
    if not grad_mode.enabled:
        return (_fresh(_pool_adj_k(g.data, None, p)),)
    return (_lin_pool_adj(g, p),)


@jvp_rule(_lin_pool_bwd)
def _lin_pool_jvp(node, xs, ts, out):
    return _lin_pool(ts[0], node.ctx, node.name)


def _lin_pool(x, p, name):
    """Average pooling (plain or adaptive): linear in x."""
    out = _pool_k(x.data, p)[0]
    if _needs(x):
        return _record(out, name, _lin_pool_bwd, (x,), (), None, p)
    return _make(out)


def _lin_pool_adj_bwd(node, v):
    p = node.ctx
    if not grad_mode.enabled:
        return (_fresh(_pool_k(v.data, p)[0]),)
    return (_lin_pool(v, p, "avg_pool2d"),)


@jvp_rule(_lin_pool_adj_bwd)
def _lin_pool_adj_jvp(node, xs, ts, out):
    return _lin_pool_adj(ts[0], node.ctx)


def _lin_pool_adj(g, p):
    out = _pool_adj_k(g.data, None, p)
    if _needs(g):
        return _record(out, "avg_pool2d_backward", _lin_pool_adj_bwd, (g,), (), None, p)
    return _make(out)


def _max_pool_bwd(node, g):
    idx, p = node.ctx
    if not grad_mode.enabled:
        return (_fresh(_pool_adj_k(g.data, idx, p)),)
    return (_max_unpool(g, idx, p),)


@jvp_rule(_max_pool_bwd)
def _max_pool_jvp(node, xs, ts, out):
    idx, p = node.ctx
    return _take_at(ts[0], idx, p)       # the tangent at each window's maximum


def _take_at(v, idx, p):
    """The values of v (the pooled input's shape) at the window maxima idx."""
    xs = p[1]
    planes = int(np.prod(xs[:-2], dtype=np.int64))
    flat = O.reshape(v, (planes, xs[-2] * xs[-1]))
    return O.reshape(O.gather(flat, 1, idx.reshape(planes, -1)), idx.shape)


def _max_unpool_bwd(node, v):
    idx, p = node.ctx
    return (_take_at(v, idx, p),)


@jvp_rule(_max_unpool_bwd)
def _max_unpool_jvp(node, xs, ts, out):
    idx, p = node.ctx
    return _max_unpool(ts[0], idx, p)


def _max_unpool(g, idx, p):
    """The adjoint of max pooling: g scattered (added) to the argmax positions."""
    out = _pool_adj_k(g.data, idx, p)
    if _needs(g):
        return _record(out, "max_pool2d_backward", _max_unpool_bwd, (g,), (), None, (idx, p))
    return _make(out)


def _pool_out(n, k, s, p, d, ceil):
    num = n + 2 * p - d * (k - 1) - 1
    o = (num + (s - 1 if ceil else 0)) // s + 1
    if ceil and (o - 1) * s >= n + p:
        o -= 1
    return o


def _pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, nsp, who):  # noqa: A002
    x = _float_in(input, who)
    if x.data.ndim not in (nsp + 1, nsp + 2):
        raise ValueError(f"{who}: expected {nsp + 1}-d (unbatched) or {nsp + 2}-d (batched) input, "
                         f"got shape {_shape(x)}")
    k = _ntuple(kernel_size, nsp, "kernel_size", who, 1)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else \
        _ntuple(stride, nsp, "stride", who, 1)
    p = _ntuple(padding, nsp, "padding", who, 0)
    d = _ntuple(dilation, nsp, "dilation", who, 1)
    for kk, pp in zip(k, p):
        if pp > kk // 2:
            raise ValueError(f"{who}: padding should be at most half of the kernel size, got padding "
                             f"{p} for kernel size {k}")
    sp = _shape(x)[-nsp:]
    if 0 in sp:
        raise ValueError(f"{who}: input spatial size {sp} is empty (input shape {_shape(x)})")
    o = tuple(_pool_out(n, kk, ss, pp, dd, ceil_mode) for n, kk, ss, pp, dd in zip(sp, k, s, p, d))
    if any(v < 1 for v in o):
        raise ValueError(f"{who}: input spatial size {sp} is too small for kernel size {k} "
                         f"(padding {p}, dilation {d}): output size {o}")
    # a stride beyond the padded input gives one window either way; clamping it keeps the
    # kernel's index arithmetic far from overflow
    s = tuple(min(ss, n + 2 * pp + 1) for ss, n, pp in zip(s, sp, p))
    if nsp == 1:
        x = O.unsqueeze(x, -2)
        k, s, p, d, o = (1,) + k, (1,) + s, (0,) + p, (1,) + d, (1,) + o
    return x, k, s, p, d, o


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nsp, who):  # noqa: A002
    x, k, s, p, d, o = _pool_nd(input, kernel_size, stride, padding, dilation, ceil_mode, nsp, who)
    params = (POOL["max"], _shape(x), o[0], o[1], k, s, p, d, True)
    out, idx = _pool_k(x.data, params)
    y = _record(out, who, _max_pool_bwd, (x,), (), None, (idx, params)) if _needs(x) else _make(out)
    if nsp == 1:
        y = O.squeeze(y, -2)
        idx = idx.reshape(idx.shape[:-2] + idx.shape[-1:])
    if return_indices:
        return y, _make(idx)
    return y


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    """Max over windows of the last dim of (N, C, L) or (C, L); indices are positions in L."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1,
                     "max_pool1d")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,  # noqa: A002
               return_indices=False):
    """Max over windows of (N, C, H, W) or (C, H, W); the gradient goes to the first
    maximum of each window.  Indices (return_indices) are flat positions h * W + w."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2,
                     "max_pool2d")


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,  # noqa: A002
              nsp, who):
    if divisor_override is not None:
        raise NotImplementedError(f"{who}: divisor_override is not supported")
    x, k, s, p, d, o = _pool_nd(input, kernel_size, stride, padding, 1, ceil_mode, nsp, who)
    params = (POOL["avg"], _shape(x), o[0], o[1], k, s, p, d, bool(count_include_pad))
    y = _lin_pool(x, params, who)
    return O.squeeze(y, -2) if nsp == 1 else y


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):  # noqa: A002
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1,
                     "avg_pool1d")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,  # noqa: A002
               divisor_override=None):
    """Mean over windows; count_include_pad counts the zero padding in the divisor."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 2, "avg_pool2d")


def _adaptive(input, output_size, nsp, who):  # noqa: A002
    x = _float_in(input, who)
    if x.data.ndim not in (nsp + 1, nsp + 2):
        raise ValueError(f"{who}: expected {nsp + 1}-d (unbatched) or {nsp + 2}-d (batched) input, "
                         f"got shape {_shape(x)}")
    sp = _shape(x)[-nsp:]
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != nsp:
            raise ValueError(f"{who}: output_size must have {nsp} entries, got {output_size!r}")
        o = tuple(n if v is None else v for v, n in zip(output_size, sp))
    else:
        o = (output_size,) * nsp
    o = _ntuple(o, nsp, "output_size", who, 1)
    if any(n < 1 for n in sp):
        raise ValueError(f"{who}: input shape {_shape(x)} has an empty spatial dimension")
    if nsp == 1:
        x = O.unsqueeze(x, -2)
        o = (1,) + o
    params = (POOL["adaptive_avg"], _shape(x), o[0], o[1], (1, 1), (1, 1), (0, 0), (1, 1), True)
    y = _lin_pool(x, params, who)
    return O.squeeze(y, -2) if nsp == 1 else y


def adaptive_avg_pool1d(input, output_size):  # noqa: A002
    return _adaptive(input, output_size, 1, "adaptive_avg_pool1d")


def adaptive_avg_pool2d(input, output_size):  # noqa: A002
    """Output cell i averages input rows floor(i H / OH) .. ceil((i + 1) H / OH) (and
    likewise columns); an output_size entry None keeps that input size."""
    return _adaptive(input, output_size, 2, "adaptive_avg_pool2d")


# ---- normalization -------------------------------------------------------------------------
def _norm_grad_composite(x, gh, dims, eps):
    """d/dx of xhat = (x - mean) / sqrt(var + eps) (stats over dims) applied to gh,
    written with fastgrad ops; returns (gx, xhat)."""
    mu = O.mean(x, dims, keepdim=True)
    xc = O.sub(x, mu)
    rs = O.rsqrt(O.add(O.mean(O.mul(xc, xc), dims, keepdim=True), eps))
    xhat = O.mul(xc, rs)
    m1 = O.mean(gh, dims, keepdim=True)
    m2 = O.mean(O.mul(gh, xhat), dims, keepdim=True)
    return O.mul(rs, O.sub(O.sub(gh, m1), O.mul(xhat, m2))), xhat

def _norm_tangent(x, tx, dims, eps):
    """(d xhat, xhat) for xhat = (x - mean) / sqrt(var + eps) over dims, along tx.  The
    map tx -> d xhat is self-adjoint, so it is the backward formula applied to tx."""
    if tx is not None:
        return _norm_grad_composite(x, tx, dims, eps)
    mu = O.mean(x, dims, keepdim=True)
    xc = O.sub(x, mu)
    return None, O.mul(xc, O.rsqrt(O.add(O.mean(O.mul(xc, xc), dims, keepdim=True), eps)))


def _affine_tangent(node, dxh, xhat, ts, w_shape):
    """d(xhat * w + b) given d xhat; ts are the tangents of (x[, w][, b])."""
    has_w, has_b = node.ctx[-2], node.ctx[-1]
    w = node.saved[1]
    t = None
    if dxh is not None:
        t = O.mul(dxh, O.reshape(w, w_shape)) if has_w else dxh
    tw = ts[1] if has_w else None
    tb = ts[1 + has_w] if has_b else None
    if tw is not None:
        t = O._tplus(t, O.mul(xhat, O.reshape(tw, w_shape)))
    if tb is not None:
        t = O._tplus(t, O.reshape(tb, w_shape))
    return t


def _affine_outputs(node, vals):
    """Map (gx, gw, gb) onto the node's inputs (x[, weight][, bias])."""
    has_w, has_b = node.ctx[-2], node.ctx[-1]
    out = [vals[0]]
    if has_w:
        out.append(vals[1])
    if has_b:
        out.append(vals[2])
    return tuple(out)


def _wanted(node):
    has_w, has_b = node.ctx[-2], node.ctx[-1]
    e = node.edges
    wx = e[0] is not None
    ww = has_w and e[1] is not None
    wb = has_b and e[1 + has_w] is not None
    return wx, ww, wb


def _batch_norm_bwd(node, g):
    x, w = node.saved
    mean, invstd, training, eps, has_w, has_b = node.ctx
    wx, ww, wb = _wanted(node)
    if not grad_mode.enabled:
        gx, gw, gb = backend.k.bn_bwd(x.data, g.data, mean, invstd, None if w is None else w.data,
                                      training, wx, ww, wb)
        return _affine_outputs(node, (_fresh(gx) if wx else None, _fresh(gw) if ww else None,
                                      _fresh(gb) if wb else None))
    nd = x.data.ndim
    c = x.data.shape[1]
    dims = (0,) + tuple(range(2, nd))
    bshape = (1, c) + (1,) * (nd - 2)
    gh = O.mul(g, O.reshape(w, bshape)) if w is not None else g
    if training:
        gx, xhat = _norm_grad_composite(x, gh, dims, eps)
    else:
        inv = _make(invstd.reshape(bshape))
        gx = O.mul(gh, inv)
        xhat = O.mul(O.sub(x, _make(mean.reshape(bshape))), inv)
    gw = O.sum(O.mul(g, xhat), dims) if ww else None
    gb = O.sum(g, dims) if wb else None
    return _affine_outputs(node, (gx if wx else None, gw, gb))


@jvp_rule(_batch_norm_bwd)
def _batch_norm_jvp(node, xs, ts, out):
    x = xs[0]
    mean, invstd, training, eps, has_w, has_b = node.ctx
    nd = x.data.ndim
    bshape = (1, x.data.shape[1]) + (1,) * (nd - 2)
    if training:
        dxh, xhat = _norm_tangent(x, ts[0], (0,) + tuple(range(2, nd)), eps)
    else:                                  # the running statistics are constants
        inv = _make(invstd.reshape(bshape))
        dxh = None if ts[0] is None else O.mul(ts[0], inv)
        xhat = O.mul(O.sub(x, _make(mean.reshape(bshape))), inv)
    return _affine_tangent(node, dxh, xhat, ts, bshape)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,  # noqa: A002
               momentum=0.1, eps=1e-5):
    """Batch normalisation over (N, C, ...) input, per channel C, by fused C kernels.  In
    training the batch statistics normalise (biased variance) and the running statistics
    are updated in place with the unbiased variance: r = (1 - momentum) r + momentum * b."""
    who = "batch_norm"
    x = _float_in(input, who)
    nd = x.data.ndim
    if nd < 2:
        raise ValueError(f"{who}: expected input of at least 2 dimensions (N, C, ...), got shape "
                         f"{tuple(x.data.shape)}")
    c = x.data.shape[1]
    dt = x.data.dtype
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.data.shape) != (c,):
            raise ValueError(f"{who}: {name} must have shape ({c},) for input shape "
                             f"{tuple(x.data.shape)}, got {tuple(t.data.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.data.dtype != dt:
            raise TypeError(f"{who}: {name} has dtype {t.data.dtype}, expected {dt} like the input")
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and t.data.dtype.kind != "f":
            raise TypeError(f"{who}: {name} must be a float tensor, got dtype {t.data.dtype}")
    if hooks.batch_norm is not None:
        hooks.batch_norm(running_mean, running_var, training, momentum, eps)
    k = backend.k
    if training:
        n = x.data.size // c if c else 0
        if n <= 1:
            raise ValueError(f"{who}: expected more than 1 value per channel when training, got "
                             f"input shape {tuple(x.data.shape)}")
        mean, var = k.bn_stats(x.data)
        m = float(momentum)
        if running_mean is not None:
            rm = running_mean.data
            rm *= (1 - m)
            rm += (m * mean).astype(rm.dtype)
            running_mean._version[0] += 1
        if running_var is not None:
            rv = running_var.data
            rv *= (1 - m)
            rv += (m * var * (n / (n - 1))).astype(rv.dtype)
            running_var._version[0] += 1
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"{who}: running_mean and running_var are required when not training")
        mean = running_mean.data.astype(dt, copy=True)
        var = running_var.data.astype(dt, copy=False)
    invstd = (1.0 / np.sqrt(var.astype(np.float64) + eps)).astype(dt)
    out = k.bn_apply(x.data, mean, invstd, None if weight is None else weight.data,
                     None if bias is None else bias.data)
    inputs = [x]
    if weight is not None:
        inputs.append(weight)
    if bias is not None:
        inputs.append(bias)
    if _needs(*inputs):
        return _record(out, who, _batch_norm_bwd, tuple(inputs), (x, weight), None,
                       (mean, invstd, bool(training), float(eps), weight is not None, bias is not None))
    return _make(out)


def _rownorm_bwd(node, g):
    x, w = node.saved
    mean, rstd, d, groups, s, eps, knorm, ashape, has_w, has_b = node.ctx
    wx, ww, wb = _wanted(node)
    if not grad_mode.enabled:
        gx, gw, gb = backend.k.rownorm_bwd(x.data, g.data, mean, rstd, None if w is None else w.data,
                                           d, groups, s, wx, ww, wb)
        return _affine_outputs(node, (_fresh(gx) if wx else None,
                                      _fresh(gw.reshape(ashape)) if ww else None,
                                      _fresh(gb.reshape(ashape)) if wb else None))
    xs = _shape(x)
    if knorm > 0:                       # layer norm over the trailing knorm dims
        nd_norm = knorm
        dims = tuple(range(len(xs) - nd_norm, len(xs)))
        gh = O.mul(g, w) if w is not None else g
        gx, xhat = _norm_grad_composite(x, gh, dims, eps)
        lead = tuple(range(len(xs) - nd_norm))
        gw = O.sum(O.mul(g, xhat), lead) if ww else None
        gb = O.sum(g, lead) if wb else None
        return _affine_outputs(node, (gx if wx else None, gw, gb))
    # group norm: x (N, C, ...), rows (N, G)
    n, c = xs[0], xs[1]
    bshape = (1, c) + (1,) * (len(xs) - 2)
    gh = O.mul(g, O.reshape(w, bshape)) if w is not None else g
    x3 = O.reshape(x, (n, groups, -1))
    gx3, xhat3 = _norm_grad_composite(x3, O.reshape(gh, (n, groups, -1)), (2,), eps)
    xhat = O.reshape(xhat3, xs)
    red = (0,) + tuple(range(2, len(xs)))
    gw = O.sum(O.mul(g, xhat), red) if ww else None
    gb = O.sum(g, red) if wb else None
    return _affine_outputs(node, (O.reshape(gx3, xs) if wx else None, gw, gb))


@jvp_rule(_rownorm_bwd)
def _rownorm_jvp(node, xs, ts, out):
    x = xs[0]
    mean, rstd, d, groups, s, eps, knorm, ashape, has_w, has_b = node.ctx
    sh = _shape(x)
    if knorm > 0:                          # layer norm over the trailing knorm dims
        dxh, xhat = _norm_tangent(x, ts[0], tuple(range(len(sh) - knorm, len(sh))), eps)
        return _affine_tangent(node, dxh, xhat, ts, sh[len(sh) - knorm:])
    n = sh[0]                              # group norm: rows (N, G)
    t3 = None if ts[0] is None else O.reshape(ts[0], (n, groups, -1))
    dxh, xhat = _norm_tangent(O.reshape(x, (n, groups, -1)), t3, (2,), eps)
    dxh = None if dxh is None else O.reshape(dxh, sh)
    return _affine_tangent(node, dxh, O.reshape(xhat, sh), ts, (1, sh[1]) + (1,) * (len(sh) - 2))


def _rownorm(x, weight, bias, d, groups, s, eps, who, knorm=0):
    out, mean, rstd = backend.k.rownorm(x.data, d, groups, s, None if weight is None else weight.data,
                                        None if bias is None else bias.data, float(eps))
    inputs = [x]
    if weight is not None:
        inputs.append(weight)
    if bias is not None:
        inputs.append(bias)
    if _needs(*inputs):
        return _record(out, who, _rownorm_bwd, tuple(inputs), (x, weight), None,
                       (mean, rstd, d, groups, s, float(eps), knorm,
                        _shape(weight if weight is not None else bias) if weight is not None or bias is not None else None,
                        weight is not None, bias is not None))
    return _make(out)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """Normalise over the trailing `normalized_shape` dims: (x - mean) / sqrt(var + eps),
    biased variance, then * weight + bias (one fused C kernel each way)."""
    who = "layer_norm"
    x = _float_in(input, who)
    ns = ((int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer))
          else tuple(int(n) for n in normalized_shape))
    k = len(ns)
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.data.shape) != ns:
            raise ValueError(f"{who}: {name} shape {tuple(p.data.shape)} must equal normalized_shape {ns}")
        if p is not None and p.data.dtype != x.data.dtype:
            raise TypeError(f"{who}: {name} has dtype {p.data.dtype}, expected {x.data.dtype} like the input")
    if k == 0 or tuple(x.data.shape[x.data.ndim - k:]) != ns or x.data.ndim < k:
        raise ValueError(f"{who}: normalized_shape {ns} does not match the trailing dimensions "
                         f"of input shape {tuple(x.data.shape)}")
    d = int(np.prod(ns, dtype=np.int64))
    if d == 0 or x.data.size == 0:
        # nothing to normalise: the composite form handles empty tensors
        dims = tuple(range(-k, 0))
        mu = O.mean(x, dims, keepdim=True)
        y = O.mul(O.sub(x, mu), O.rsqrt(O.add(O.mean(O.mul(O.sub(x, mu), O.sub(x, mu)), dims, keepdim=True), eps)))
        if weight is not None:
            y = O.mul(y, weight)
        if bias is not None:
            y = O.add(y, bias)
        return y
    return _rownorm(x, weight, bias, d, 1, 1, eps, who, k)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):  # noqa: A002
    """Normalise x (N, C, ...) over each group of C / num_groups channels (and all
    spatial positions), then a per-channel affine weight/bias."""
    who = "group_norm"
    x = _float_in(input, who)
    xs = _shape(x)
    if x.data.ndim < 2:
        raise ValueError(f"{who}: expected input of at least 2 dimensions (N, C, ...), got shape {xs}")
    c = xs[1]
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)) or num_groups < 1 \
            or c % num_groups:
        raise ValueError(f"{who}: num_groups {num_groups!r} must be a positive divisor of the "
                         f"{c} channels (input shape {xs})")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.data.shape) != (c,):
            raise ValueError(f"{who}: {name} must have shape ({c},) for input shape {xs}, got "
                             f"{tuple(p.data.shape)}")
        if p is not None and p.data.dtype != x.data.dtype:
            raise TypeError(f"{who}: {name} has dtype {p.data.dtype}, expected {x.data.dtype} like the input")
    s = int(np.prod(xs[2:], dtype=np.int64))
    if x.data.size == 0 or s == 0:
        raise ValueError(f"{who}: input shape {xs} is empty")
    g = int(num_groups)
    return _rownorm(x, weight, bias, (c // g) * s, g, s, eps, who)


# ---- channel dropout and resampling --------------------------------------------------------
def _channel_dropout(input, p, training, nsp, who):  # noqa: A002
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{who}: probability must be in [0, 1], got {p}")
    x = _float_in(input, who)
    if x.data.ndim not in (nsp + 1, nsp + 2):
        raise ValueError(f"{who}: expected {nsp + 1}-d (unbatched) or {nsp + 2}-d (batched) input, "
                         f"got shape {_shape(x)}")
    if not training or p == 0.0:
        return x
    from fastgrad._factory import default_generator
    dt = x.data.dtype
    lead = x.data.shape[:x.data.ndim - nsp]
    if p == 1.0:
        mask = np.zeros(lead, dtype=dt)
    else:
        mask = (default_generator.rng.random(lead) >= p).astype(dt) * dt.type(1.0 / (1.0 - p))
    return O.mul(x, _make(mask.reshape(lead + (1,) * nsp)))


def dropout1d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Zero whole channels of (N, C, L) with probability p, scale the rest by 1 / (1 - p)."""
    return _channel_dropout(input, p, training, 1, "dropout1d")


def dropout2d(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Zero whole channels (feature maps) of (N, C, H, W) with probability p, scale the
    rest by 1 / (1 - p)."""
    return _channel_dropout(input, p, training, 2, "dropout2d")


def _src_index(o, n, scale, align_corners, nearest):
    """Source coordinates of the o output positions along an axis of n inputs."""
    i = np.arange(o, dtype=np.float64)
    if nearest:
        f = (n / o) if scale is None else 1.0 / scale
        return np.minimum(np.floor(i * f).astype(np.int64), n - 1)
    if align_corners:
        return i * ((n - 1) / (o - 1)) if o > 1 else np.zeros(o)
    f = (n / o) if scale is None else 1.0 / scale
    return np.maximum((i + 0.5) * f - 0.5, 0.0)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None):  # noqa: A002
    """Resize the spatial dims of (N, C, L) / (N, C, H, W) input: mode 'nearest' (PyTorch's
    legacy nearest: source index floor(i * in / out)), 'linear' (3-d) or 'bilinear' (4-d),
    with align_corners as PyTorch.  Built from index_select and elementwise ops, so it is
    differentiable to any order."""
    who = "interpolate"
    x = _float_in(input, who)
    nd = x.data.ndim
    if nd not in (3, 4):
        raise ValueError(f"{who}: expected 3-d (N, C, L) or 4-d (N, C, H, W) input, got shape {_shape(x)}")
    nsp = nd - 2
    if mode not in ("nearest", "linear", "bilinear"):
        raise ValueError(f"{who}: mode must be 'nearest', 'linear' or 'bilinear', got {mode!r}")
    if (mode == "linear" and nsp != 1) or (mode == "bilinear" and nsp != 2):
        raise ValueError(f"{who}: mode {mode!r} expects {'3' if mode == 'linear' else '4'}-d input, "
                         f"got shape {_shape(x)}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError(f"{who}: align_corners only applies to the linear modes")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{who}: give exactly one of size and scale_factor")
    sp = _shape(x)[2:]
    if size is not None:
        out = _ntuple(size, nsp, "size", who, 1)
        scales = (None,) * nsp
    else:
        sf = (float(scale_factor),) * nsp if not isinstance(scale_factor, (tuple, list)) \
            else tuple(float(v) for v in scale_factor)
        if len(sf) != nsp or any(v <= 0 for v in sf):
            raise ValueError(f"{who}: scale_factor must be positive with {nsp} entries, got {scale_factor!r}")
        out = tuple(int(math.floor(n * f)) for n, f in zip(sp, sf))
        if any(o < 1 for o in out):
            raise ValueError(f"{who}: output size {out} is empty")
        scales = sf
    oshape = _shape(x)[:2] + tuple(out)
    nel = math.prod(oshape)
    if max(nel, math.prod(out)) * x.data.dtype.itemsize > 2 ** 62:
        raise ValueError(f"{who}: the output of shape {oshape} ({nel} elements) is larger than any "
                         "array that can be allocated")
    try:
        return _resample(x, sp, out, scales, mode, align_corners, nd, nsp, who)
    except MemoryError:
        raise MemoryError(f"{who}: the output of shape {oshape} ({nel} elements, "
                          f"{nel * x.data.dtype.itemsize} bytes) cannot be allocated") from None


def _resample(x, sp, out, scales, mode, align_corners, nd, nsp, who):
    y = x
    for a in range(nsp):
        axis = 2 + a
        n, o = sp[a], out[a]
        if mode == "nearest":
            idx = _src_index(o, n, scales[a], False, True)
            y = O._index_select(y, axis, idx, False, who)
            continue
        src = _src_index(o, n, scales[a], bool(align_corners), False)
        i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
        i1 = np.minimum(i0 + 1, n - 1)
        lam = (src - i0).astype(x.data.dtype)
        shp = [1] * nd
        shp[axis] = o
        lam_t = _make(lam.reshape(shp))
        a0 = O._index_select(y, axis, i0, False, who)
        a1 = O._index_select(y, axis, i1, False, who)
        y = O.add(a0, O.mul(O.sub(a1, a0), lam_t))
    return y


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):  # noqa: A002
    return interpolate(input, size, scale_factor, mode, align_corners)
