"""Normalisation: batch_norm, layer_norm and group_norm, on fused C kernels with
composite formulas for ``create_graph=True``.
"""
from __future__ import annotations


import numpy as np

from fastgrad.errors import ArgumentError, ShapeError
from fastgrad._hooks import hooks
from fastgrad._state import backend, grad_mode
from fastgrad.autograd.engine import jvp_rule
from fastgrad.ops._record import (_float_in, _make, _needs, _record, _shape, exports, public, lowp_via_float32)

from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from typing import Optional
    from fastgrad._tensor import Tensor



# ---- normalization -------------------------------------------------------------------------
def _norm_grad_composite(x, gh, dims, eps):
    """d/dx of xhat = (x - mean) / sqrt(var + eps) (stats over dims) applied to gh,
    written with fastgrad ops; returns (gx, xhat)."""
    mu = mean(x, dims, keepdim=True)
    xc = sub(x, mu)
    rs = rsqrt(add(mean(mul(xc, xc), dims, keepdim=True), eps))
    xhat = mul(xc, rs)
    m1 = mean(gh, dims, keepdim=True)
    m2 = mean(mul(gh, xhat), dims, keepdim=True)
    return mul(rs, sub(sub(gh, m1), mul(xhat, m2))), xhat

def _norm_tangent(x, tx, dims, eps):
    """(d xhat, xhat) for xhat = (x - mean) / sqrt(var + eps) over dims, along tx.  The
    map tx -> d xhat is self-adjoint, so it is the backward formula applied to tx."""
    if tx is not None:
        return _norm_grad_composite(x, tx, dims, eps)
    mu = mean(x, dims, keepdim=True)
    xc = sub(x, mu)
    return None, mul(xc, rsqrt(add(mean(mul(xc, xc), dims, keepdim=True), eps)))


def _affine_tangent(node, dxh, xhat, ts, w_shape):
    """d(xhat * w + b) given d xhat; ts are the tangents of (x[, w][, b])."""
    has_w, has_b = node.ctx[-2], node.ctx[-1]
    w = node.saved[1]
    t = None
    if dxh is not None:
        t = mul(dxh, reshape(w, w_shape)) if has_w else dxh
    tw = ts[1] if has_w else None
    tb = ts[1 + has_w] if has_b else None
    if tw is not None:
        t = _tplus(t, mul(xhat, reshape(tw, w_shape)))
    if tb is not None:
        t = _tplus(t, reshape(tb, w_shape))
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
        gx, gw, gb = backend.k.bn_bwd(x._data, g._data, mean, invstd, None if w is None else w._data,
                                      training, wx, ww, wb)
        return _affine_outputs(node, (_fresh(gx) if wx else None, _fresh(gw) if ww else None,
                                      _fresh(gb) if wb else None))
    nd = x._data.ndim
    c = x._data.shape[1]
    dims = (0,) + tuple(range(2, nd))
    bshape = (1, c) + (1,) * (nd - 2)
    gh = mul(g, reshape(w, bshape)) if w is not None else g
    if training:
        gx, xhat = _norm_grad_composite(x, gh, dims, eps)
    else:
        inv = _make(invstd.reshape(bshape))
        gx = mul(gh, inv)
        xhat = mul(sub(x, _make(mean.reshape(bshape))), inv)
    gw = sum(mul(g, xhat), dims) if ww else None
    gb = sum(g, dims) if wb else None
    return _affine_outputs(node, (gx if wx else None, gw, gb))


@jvp_rule(_batch_norm_bwd)
def _batch_norm_jvp(node, xs, ts, out):
    x = xs[0]
    mean, invstd, training, eps, has_w, has_b = node.ctx
    nd = x._data.ndim
    bshape = (1, x._data.shape[1]) + (1,) * (nd - 2)
    if training:
        dxh, xhat = _norm_tangent(x, ts[0], (0,) + tuple(range(2, nd)), eps)
    else:                                  # the running statistics are constants
        inv = _make(invstd.reshape(bshape))
        dxh = None if ts[0] is None else mul(ts[0], inv)
        xhat = mul(sub(x, _make(mean.reshape(bshape))), inv)
    return _affine_tangent(node, dxh, xhat, ts, bshape)


@public
@lowp_via_float32
def batch_norm(input: Tensor, running_mean: Tensor, running_var: Tensor, weight: Optional[Tensor] = None,
               bias: Optional[Tensor] = None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over (N, C, ...) input, per channel C, by fused C kernels.  In
    training the batch statistics normalise (biased variance) and the running statistics
    are updated in place with the unbiased variance: r = (1 - momentum) r + momentum * b."""
    who = "batch_norm"
    x = _float_in(input, who)
    nd = x._data.ndim
    if nd < 2:
        raise ShapeError(f"{who}: expected input of at least 2 dimensions (N, C, ...), got shape "
                         f"{tuple(x._data.shape)}")
    c = x._data.shape[1]
    dt = x._data.dtype
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t._data.shape) != (c,):
            raise ShapeError(f"{who}: {name} must have shape ({c},) for input shape "
                             f"{tuple(x._data.shape)}, got {tuple(t._data.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t._data.dtype != dt:
            raise TypeError(f"{who}: {name} has dtype {t._data.dtype}, expected {dt} like the input")
    for name, t in (("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and t._data.dtype.kind != "f":
            raise TypeError(f"{who}: {name} must be a float tensor, got dtype {t._data.dtype}")
    if hooks.batch_norm is not None:
        hooks.batch_norm(running_mean, running_var, training, momentum, eps)
    k = backend.k
    if training:
        n = x._data.size // c if c else 0
        if n <= 1:
            raise ShapeError(f"{who}: expected more than 1 value per channel when training, got "
                             f"input shape {tuple(x._data.shape)}")
        mean, var = k.bn_stats(x._data)
        m = float(momentum)
        if running_mean is not None:
            rm = running_mean._data
            rm *= (1 - m)
            rm += (m * mean).astype(rm.dtype)
            running_mean._version[0] += 1
        if running_var is not None:
            rv = running_var._data
            rv *= (1 - m)
            rv += (m * var * (n / (n - 1))).astype(rv.dtype)
            running_var._version[0] += 1
    else:
        if running_mean is None or running_var is None:
            raise ArgumentError(f"{who}: running_mean and running_var are required when not training")
        mean = running_mean._data.astype(dt, copy=True)
        var = running_var._data.astype(dt, copy=False)
    invstd = (1.0 / np.sqrt(var.astype(np.float64) + eps)).astype(dt)
    out = k.bn_apply(x._data, mean, invstd, None if weight is None else weight._data,
                     None if bias is None else bias._data)
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
        gx, gw, gb = backend.k.rownorm_bwd(x._data, g._data, mean, rstd, None if w is None else w._data,
                                           d, groups, s, wx, ww, wb)
        if ww and gw.shape != ashape:
            gw = gw.reshape(ashape)
        if wb and gb.shape != ashape:
            gb = gb.reshape(ashape)
        return _affine_outputs(node, (_fresh(gx) if wx else None, _fresh(gw) if ww else None,
                                      _fresh(gb) if wb else None))
    xs = _shape(x)
    if knorm > 0:                       # layer norm over the trailing knorm dims
        nd_norm = knorm
        dims = tuple(range(len(xs) - nd_norm, len(xs)))
        gh = mul(g, w) if w is not None else g
        gx, xhat = _norm_grad_composite(x, gh, dims, eps)
        lead = tuple(range(len(xs) - nd_norm))
        gw = sum(mul(g, xhat), lead) if ww else None
        gb = sum(g, lead) if wb else None
        return _affine_outputs(node, (gx if wx else None, gw, gb))
    # group norm: x (N, C, ...), rows (N, G)
    n, c = xs[0], xs[1]
    bshape = (1, c) + (1,) * (len(xs) - 2)
    gh = mul(g, reshape(w, bshape)) if w is not None else g
    x3 = reshape(x, (n, groups, -1))
    gx3, xhat3 = _norm_grad_composite(x3, reshape(gh, (n, groups, -1)), (2,), eps)
    xhat = reshape(xhat3, xs)
    red = (0,) + tuple(range(2, len(xs)))
    gw = sum(mul(g, xhat), red) if ww else None
    gb = sum(g, red) if wb else None
    return _affine_outputs(node, (reshape(gx3, xs) if wx else None, gw, gb))


@jvp_rule(_rownorm_bwd)
def _rownorm_jvp(node, xs, ts, out):
    x = xs[0]
    mean, rstd, d, groups, s, eps, knorm, ashape, has_w, has_b = node.ctx
    sh = _shape(x)
    if knorm > 0:                          # layer norm over the trailing knorm dims
        dxh, xhat = _norm_tangent(x, ts[0], tuple(range(len(sh) - knorm, len(sh))), eps)
        return _affine_tangent(node, dxh, xhat, ts, sh[len(sh) - knorm:])
    n = sh[0]                              # group norm: rows (N, G)
    t3 = None if ts[0] is None else reshape(ts[0], (n, groups, -1))
    dxh, xhat = _norm_tangent(reshape(x, (n, groups, -1)), t3, (2,), eps)
    dxh = None if dxh is None else reshape(dxh, sh)
    return _affine_tangent(node, dxh, reshape(xhat, sh), ts, (1, sh[1]) + (1,) * (len(sh) - 2))


def _rownorm(x, weight, bias, d, groups, s, eps, who, knorm=0):
    out, mean, rstd = backend.k.rownorm(x._data, d, groups, s, None if weight is None else weight._data,
                                        None if bias is None else bias._data, float(eps))
    inputs = [x]
    if weight is not None:
        inputs.append(weight)
    if bias is not None:
        inputs.append(bias)
    if _needs(*inputs):
        return _record(out, who, _rownorm_bwd, tuple(inputs), (x, weight), None,
                       (mean, rstd, d, groups, s, float(eps), knorm,
                        _shape(weight if weight is not None else bias)
                        if weight is not None or bias is not None else None,
                        weight is not None, bias is not None))
    return _make(out)


def _affine_check(who, name, p, ns, xd):
    if p._data.shape != ns:
        raise ShapeError(f"{who}: {name} shape {tuple(p._data.shape)} must equal normalized_shape {ns}")
    if p._data.dtype != xd.dtype:
        raise TypeError(f"{who}: {name} has dtype {p._data.dtype}, expected {xd.dtype} like the input")


@public
@lowp_via_float32
def layer_norm(input: Tensor, normalized_shape, weight: Optional[Tensor] = None, bias: Optional[Tensor] = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing `normalized_shape` dims: (x - mean) / sqrt(var + eps),
    biased variance, then * weight + bias (one fused C kernel each way)."""
    who = "layer_norm"
    x = _float_in(input, who)
    xd = x._data
    ns: tuple[int, ...]
    if type(normalized_shape) is tuple and len(normalized_shape) == 1 and type(normalized_shape[0]) is int:
        ns = normalized_shape           # the common case (nn.LayerNorm's own tuple)
    else:
        ns = ((int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer))
              else tuple(int(n) for n in normalized_shape))
    k = len(ns)
    if weight is not None:
        _affine_check(who, "weight", weight, ns, xd)
    if bias is not None:
        _affine_check(who, "bias", bias, ns, xd)
    if k == 0 or xd.shape[xd.ndim - k:] != ns or xd.ndim < k:
        raise ShapeError(f"{who}: normalized_shape {ns} does not match the trailing dimensions "
                         f"of input shape {tuple(xd.shape)}")
    d = 1
    for n in ns:
        d *= n
    if d == 0 or xd.size == 0:
        # nothing to normalise: the composite form handles empty tensors
        dims = tuple(range(-k, 0))
        mu = mean(x, dims, keepdim=True)
        y = mul(sub(x, mu), rsqrt(add(mean(mul(sub(x, mu), sub(x, mu)), dims, keepdim=True), eps)))
        if weight is not None:
            y = mul(y, weight)
        if bias is not None:
            y = add(y, bias)
        return y
    return _rownorm(x, weight, bias, d, 1, 1, eps, who, k)


@public
@lowp_via_float32
def group_norm(input: Tensor, num_groups, weight: Optional[Tensor] = None, bias: Optional[Tensor] = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise x (N, C, ...) over each group of C / num_groups channels (and all
    spatial positions), then a per-channel affine weight/bias."""
    who = "group_norm"
    x = _float_in(input, who)
    xs = _shape(x)
    if x._data.ndim < 2:
        raise ShapeError(f"{who}: expected input of at least 2 dimensions (N, C, ...), got shape {xs}")
    c = xs[1]
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)) or num_groups < 1 \
            or c % num_groups:
        raise ShapeError(f"{who}: num_groups {num_groups!r} must be a positive divisor of the "
                         f"{c} channels (input shape {xs})")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p._data.shape) != (c,):
            raise ShapeError(f"{who}: {name} must have shape ({c},) for input shape {xs}, got "
                             f"{tuple(p._data.shape)}")
        if p is not None and p._data.dtype != x._data.dtype:
            raise TypeError(f"{who}: {name} has dtype {p._data.dtype}, expected {x._data.dtype} like the input")
    s = int(np.prod(xs[2:], dtype=np.int64))
    if x._data.size == 0 or s == 0:
        raise ShapeError(f"{who}: input shape {xs} is empty")
    g = int(num_groups)
    return _rownorm(x, weight, bias, (c // g) * s, g, s, eps, who)


@public
def rms_norm(input: Tensor, normalized_shape, weight: Optional[Tensor] = None, eps=None) -> Tensor:
    """x / sqrt(mean(x * x over the trailing `normalized_shape` dims) + eps) * weight;
    eps=None takes the machine epsilon of the input's dtype, as PyTorch does."""
    who = "rms_norm"
    x = _float_in(input, who)
    ns = ((int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer))
          else tuple(int(n) for n in normalized_shape))
    k = len(ns)
    if weight is not None:
        if tuple(weight._data.shape) != ns:
            raise ShapeError(f"{who}: weight shape {tuple(weight._data.shape)} must equal "
                             f"normalized_shape {ns}")
        if weight._data.dtype != x._data.dtype:
            raise TypeError(f"{who}: weight has dtype {weight._data.dtype}, expected "
                            f"{x._data.dtype} like the input")
    if x._data.ndim < k or tuple(x._data.shape[x._data.ndim - k:]) != ns:
        raise ShapeError(f"{who}: normalized_shape {ns} does not match the trailing dimensions "
                         f"of input shape {tuple(x._data.shape)}")
    eps = float(np.finfo(x._data.dtype).eps) if eps is None else float(eps)
    if k == 0:
        y = mul(x, rsqrt(add(mul(x, x), eps)))
    else:
        dims = tuple(range(-k, 0))
        y = mul(x, rsqrt(add(mean(mul(x, x), dims, keepdim=True), eps)))
    if weight is not None:
        y = mul(y, weight)
    return y


__all__ = exports(__name__)


# ops of other kinds, bound once this module's own names exist (the kinds call each other)
from fastgrad.ops.elementwise import _tplus, add, mul, rsqrt, sub
from fastgrad.ops.linalg import _fresh
from fastgrad.ops.reduce import mean, sum
from fastgrad.ops.shape import reshape
