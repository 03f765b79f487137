"""Losses with PyTorch's names, arguments and reductions: cross_entropy and nll_loss
(fused softmax-cross-entropy kernels), mse, l1, huber, smooth_l1, binary cross-entropy
(with and without logits) and kl_div.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from fastgrad.errors import ArgumentError, DtypeError, ShapeError
from fastgrad._hooks import hooks
from fastgrad._state import backend, grad_mode
from fastgrad._state import trace as _trace
from fastgrad._tensor import Tensor
from fastgrad.autograd.engine import declare, jvp_rule
from fastgrad.ops.elementwise import _elementwise_jvp
from fastgrad.ops._record import (_float_in, _make, _ones_of, _pair, _record, exports, public, to, lowp_via_float32)

from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from typing import Optional



_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction, who):
    if reduction not in _REDUCTIONS:
        raise ArgumentError(f"{who}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _reduce(loss, reduction):
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    return loss


# ---- cross-entropy --------------------------------------------------------------------------
def _xent_grad_composite(x, g_rows, target, ignore_index, ls):
    """d loss / d x written with fastgrad ops (used under create_graph)."""
    rows, c = x._data.shape
    keep = target != ignore_index
    q = np.full((rows, c), ls / c, dtype=x._data.dtype)
    q[np.arange(rows)[keep], target[keep]] += 1 - ls
    q[~keep] = 0
    p = mul(softmax(x, 1), _make(keep[:, None].astype(x._data.dtype)))
    return mul(sub(p, _make(q)), unsqueeze(g_rows, 1))


def _xent_bwd(node, g):
    target, ignore_index, ls = node.ctx
    if grad_mode.enabled:
        return (_xent_grad_composite(node.saved[0], g, target, ignore_index, ls),)
    return (_make(backend.k.xent_bwd(g._data, node.out, target, ignore_index, ls)),)


def _xent_reduced_bwd(node, g):
    target, ignore_index, ls, scale = node.ctx
    rows = target.shape[0]
    if grad_mode.enabled:
        g_rows = mul(expand(reshape(g, (1,)), rows), scale)
        return (_xent_grad_composite(node.saved[0], g_rows, target, ignore_index, ls),)
    g_rows = np.full(rows, float(g._data) * scale, dtype=node.out.dtype)
    return (_make(backend.k.xent_bwd(g_rows, node.out, target, ignore_index, ls)),)


@jvp_rule(_xent_bwd, _xent_reduced_bwd)
def _xent_jvp(node, xs, ts, out):
    # each row's loss depends on its own row of logits: contract the backward of ones
    # (softmax minus the smoothed target) with the tangent over the class dim
    (gx,) = node.fn(node, _ones_of(out))
    p = mul(gx, ts[0])
    return sum(p, tuple(range(out._data.ndim, p._data.ndim))) if p._data.ndim > out._data.ndim else p


def _xent_rows(x, target, ignore_index, label_smoothing, scale=None, reduction="none", tv=None):
    """Loss of logits x (rows, C), fused softmax + NLL in one kernel: per row, or (with
    `scale`, for `reduction` 'mean' or 'sum') the scalar scale * sum over rows, recorded
    as one graph node (a mean or sum reduction costs no extra nodes).  `tv`: the target
    Tensor (or None), saved beside x so that backward version-checks it."""
    if scale is not None and hooks.xent_reduce is not None:
        r = hooks.xent_reduce(x, target, ignore_index, label_smoothing, scale, reduction)
        if r is not None:
            return r
    loss, lsm = backend.k.xent(x._data, target, ignore_index, label_smoothing)
    if scale is not None:
        loss = np.asarray(loss.sum() * loss.dtype.type(scale) if scale != 1.0 else loss.sum(),
                          dtype=loss.dtype)
        if x.requires_grad and grad_mode.enabled:
            return _record(loss, "cross_entropy", _xent_reduced_bwd, (x,), (x, tv), lsm,
                             (target, ignore_index, label_smoothing, scale))
        return _make(loss)
    if x.requires_grad and grad_mode.enabled:
        return _record(loss, "cross_entropy", _xent_bwd, (x,), (x, tv), lsm,
                         (target, ignore_index, label_smoothing))
    return _make(loss)


def _targets(target, who):
    t = target._data if isinstance(target, Tensor) else _index_copy(target, who, "target")
    if t.dtype.kind not in "iu":
        raise DtypeError(f"{who}: target must hold class indices (int64), got dtype {t.dtype}; "
                        "probability targets must be a floating tensor of the input's shape")
    return np.asarray(t, dtype=np.int64, order="C")


def _check_ignore_index(v, who):
    if not isinstance(v, (int, np.integer)) or isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{who}: ignore_index must be an int, got {type(v).__name__}")
    if not -2 ** 63 <= int(v) < 2 ** 63:
        raise ArgumentError(f"{who}: ignore_index {v} is outside the int64 range")
    return int(v)


@public
@lowp_via_float32
def cross_entropy(input: Tensor, target: Tensor, weight: Optional[Tensor] = None, ignore_index: int = -100,
                  reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy between logits `input` (N, C), (C,) or (N, C, d1, ...) and
    class-index `target` (N,), () or (N, d1, ...) ('mean' averages over the targets that
    are not ignore_index), or class-probability `target` of the input's shape (floating;
    'mean' averages over the N * d1 * ... rows)."""
    who = "cross_entropy"
    _check_reduction(reduction, who)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ArgumentError(f"{who}: label_smoothing must be in [0, 1], got {label_smoothing}")
    ignore_index = _check_ignore_index(ignore_index, who)
    x = _float_in(input, who)
    if _float_target(target, x):
        return _soft_xent(x, target, weight, ignore_index, reduction, float(label_smoothing))
    t = _targets(target, who)
    tv = target if isinstance(target, Tensor) else None
    if weight is not None:
        return _weighted_xent(x, t, weight, ignore_index, reduction, label_smoothing, tv)
    nd = x._data.ndim
    if nd == 0:
        raise ArgumentError(f"{who}: input must have a class dimension, got a 0-d tensor")
    if nd == 1:
        if t.ndim != 0:
            raise ShapeError(f"{who}: for input of shape {tuple(x._data.shape)} the target must be "
                             f"0-d, got shape {tuple(t.shape)}")
        x2, t2, tshape = unsqueeze(x, 0), t.reshape(1), ()
    else:
        expect = (x._data.shape[0],) + x._data.shape[2:]
        if t.shape != expect:
            raise ShapeError(f"{who}: input shape {tuple(x._data.shape)} expects target shape "
                             f"{expect}, got {tuple(t.shape)}")
        c = x._data.shape[1]
        x2 = x if nd == 2 else reshape(permute(x, (0,) + tuple(range(2, nd)) + (1,)), (-1, c))
        t2, tshape = t.reshape(-1), t.shape
    if reduction == "none":
        return reshape(_xent_rows(x2, t2, int(ignore_index), float(label_smoothing), tv=tv),
                       tshape)
    if reduction == "sum":
        return _xent_rows(x2, t2, int(ignore_index), float(label_smoothing), 1.0, "sum", tv)
    count = int(np.count_nonzero(t2 != ignore_index))
    return _xent_rows(x2, t2, int(ignore_index), float(label_smoothing),
                      1.0 / count if count else math.nan, "mean", tv)


def _float_target(target, x):
    """A floating target of the input's shape holds class probabilities (any other
    target holds class indices), as in PyTorch."""
    t = target._data if isinstance(target, Tensor) else target
    return isinstance(t, np.ndarray) and t.dtype.kind == "f" and t.shape == x._data.shape


def _soft_xent(x, target, weight, ignore_index, reduction, ls):
    """Cross-entropy with class-probability targets of the input's shape:
    -sum_c w_c t_c log_softmax(x)_c, with t smoothed to t (1 - ls) + ls / C; 'mean'
    divides by the number of rows (input elements / C), as PyTorch does."""
    who = "cross_entropy"
    if ignore_index >= 0:
        raise ArgumentError(f"{who}: ignore_index is not supported for probability (floating "
                         f"point) targets, got ignore_index={ignore_index}")
    t = _float_in(target, who)
    nd = x._data.ndim
    if nd == 0:
        raise ArgumentError(f"{who}: input must have a class dimension, got a 0-d tensor")
    if t._data.dtype != x._data.dtype:
        t = to(t, x._data.dtype)
    cdim = 0 if nd == 1 else 1
    c = x._data.shape[cdim]
    if ls > 0:
        t = add(mul(t, 1.0 - ls), ls / c)
    prod = mul(log_softmax(x, cdim), t)
    w = _class_weights(weight, c, x._data.dtype, who)
    if w is not None:
        prod = mul(prod, reshape(w, (c,) + (1,) * (nd - cdim - 1)))
    rows = neg(sum(prod, cdim))
    if reduction == "none":
        return rows
    total = sum(rows)
    if reduction == "sum":
        return total
    n = x._data.size // c if c else 0
    return div(total, float(n) if n else math.nan)


@public
@lowp_via_float32
def nll_loss(input: Tensor, target: Tensor, weight: Optional[Tensor] = None, ignore_index: int = -100,
             reduction: str = "mean", _who="nll_loss",
             _tv=None) -> Tensor:
    """Negative log-likelihood of log-probabilities `input` (N, C), (C,) or
    (N, C, d1, ...) at class `target` (N,), () or (N, d1, ...)."""
    who = _who
    _check_reduction(reduction, who)
    ignore_index = _check_ignore_index(ignore_index, who)
    x = _float_in(input, who)
    t = _targets(target, who)
    tv = target if isinstance(target, Tensor) else _tv   # backward version-checks it
    if x._data.ndim > 2:
        expect = (x._data.shape[0],) + x._data.shape[2:]
        if t.shape != expect:
            raise ShapeError(f"{who}: input shape {tuple(x._data.shape)} expects target shape "
                             f"{expect}, got {tuple(t.shape)}")
        nd, c = x._data.ndim, x._data.shape[1]
        x2 = reshape(permute(x, (0,) + tuple(range(2, nd)) + (1,)), (-1, c))
        out = nll_loss(x2, t.reshape(-1), weight, ignore_index, reduction, who, tv)
        return reshape(out, t.shape) if reduction == "none" else out
    if x._data.ndim == 1:
        if t.ndim != 0:
            raise ShapeError(f"{who}: for input of shape {tuple(x._data.shape)} the target must be "
                             f"0-d, got shape {tuple(t.shape)}")
        out = nll_loss(unsqueeze(x, 0), t.reshape(1), weight, ignore_index, reduction, who, tv)
        return squeeze(out, 0) if reduction == "none" else out
    if x._data.ndim != 2 or t.shape != (x._data.shape[0],):
        raise ShapeError(f"{who}: expected input (N, C) and target (N,), got {tuple(x._data.shape)} "
                         f"and {tuple(t.shape)}")
    c = x._data.shape[1]
    # one kernel (recorded by compile): the kept rows' targets, 0/1 weights, the count
    safe, keepf, keep, count = backend.k.nll_prep(t, c, ignore_index, x._data.dtype, who)
    picked = squeeze(_gather(x, 1, safe[:, None], who, (tv,) if tv is not None else ()), 1)
    # ignored rows contribute 0, even where the input is inf or nan (always while
    # tracing: a compiled step must follow later batches that ignore rows)
    if _trace.active is not None or count != len(t):
        picked = where(_make(keep), picked, 0.0)
    w = _class_weights(weight, c, x._data.dtype, who)
    if w is None:
        wt = _make(keepf)
    else:
        wt = mul(_gather(w, 0, safe, who), _make(keepf))
    loss = neg(mul(picked, wt))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return sum(loss)
    if w is None:
        return div(sum(loss), _make(count))
    return div(sum(loss), sum(wt))


def _class_weights(weight, c, dtype, who):
    if weight is None:
        return None
    w = weight if isinstance(weight, Tensor) else Tensor(np.asarray(weight, dtype=dtype))
    if w._data.shape != (c,):
        raise ShapeError(f"{who}: weight must have shape ({c},) (one entry per class), got "
                         f"{tuple(w._data.shape)}")
    if w._data.dtype != dtype:
        w = to(w, dtype)
    return w


def _weighted_xent(x, t, weight, ignore_index, reduction, ls, tv=None):
    """Cross-entropy with class weights: log_softmax, then weighted NLL; with label
    smoothing the smoothing term is -sum_c w_c log p_c / C, normalised like the NLL term."""
    who = "cross_entropy"
    nd = x._data.ndim
    if nd == 0:
        raise ArgumentError(f"{who}: input must have a class dimension, got a 0-d tensor")
    tshape = t.shape
    if nd == 1:
        if t.ndim != 0:
            raise ShapeError(f"{who}: for input of shape {tuple(x._data.shape)} the target must be "
                             f"0-d, got shape {tuple(t.shape)}")
        x, t = unsqueeze(x, 0), t.reshape(1)
    elif nd == 2 and t.shape != (x._data.shape[0],):
        raise ShapeError(f"{who}: input shape {tuple(x._data.shape)} expects target shape "
                         f"({x._data.shape[0]},), got {tuple(t.shape)}")
    elif nd > 2:
        c = x._data.shape[1]
        if t.shape != (x._data.shape[0],) + x._data.shape[2:]:
            raise ShapeError(f"{who}: input shape {tuple(x._data.shape)} expects target shape "
                             f"{(x._data.shape[0],) + x._data.shape[2:]}, got {tuple(t.shape)}")
        x = reshape(permute(x, (0,) + tuple(range(2, nd)) + (1,)), (-1, c))
        t = t.reshape(-1)
    c = x._data.shape[1]
    w = _class_weights(weight, c, x._data.dtype, who)
    logp = log_softmax(x, 1)
    nll = nll_loss(logp, t, w, ignore_index, "none", who, tv)
    keep = _make((t != ignore_index).astype(x._data.dtype))
    if ls > 0:
        smooth = mul(neg(sum(mul(logp, w), 1)), keep)
        rows = add(mul(nll, 1.0 - ls), mul(smooth, ls / c))
    else:
        rows = nll
    if reduction == "none":
        return squeeze(rows, 0) if nd == 1 else reshape(rows, tshape)
    if reduction == "sum":
        return sum(rows)
    safe = np.where(t != ignore_index, t, 0)
    return div(sum(rows), sum(mul(getitem(w, safe), keep)))


@public
@lowp_via_float32
def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """The squared error (input - target)**2; the shapes broadcast. ``reduction``: "mean"
    (default), "sum" or "none" (the per-element losses, shaped like ``input``)."""
    _check_reduction(reduction, "mse_loss")
    x, y = _pair(input, target, "mse_loss")
    if isinstance(x, Tensor) and isinstance(y, Tensor) and x._data.shape != y._data.shape:
        # as PyTorch: broadcast, but warn, since it is usually a bug ((N,) vs (N, 1))
        warnings.warn(f"mse_loss: target shape {tuple(y._data.shape)} differs from input shape "
                      f"{tuple(x._data.shape)}; they will be broadcast", UserWarning, stacklevel=2)
    d = sub(x, y)
    return _reduce(mul(d, d), reduction)


@public
@lowp_via_float32
def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                                     reduction: str = "mean",
                                     pos_weight: Optional[Tensor] = None) -> Tensor:
    """Sigmoid + binary cross-entropy in one numerically stable expression:
    loss = (1 - t) * x + (1 + (pw - 1) * t) * softplus(-x)."""
    who = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, who)
    x, t = _pair(input, target, who)
    if not isinstance(x, Tensor) or not isinstance(t, Tensor) or x._data.shape != t._data.shape:
        raise ShapeError(f"{who}: target shape {tuple(np.shape(target))} must match input shape "
                         f"{tuple(np.shape(input._data if isinstance(input, Tensor) else input))}")
    sp = softplus(neg(x), 1.0, math.inf)          # log(1 + exp(-x)), exact for every x
    if pos_weight is None:
        loss = add(mul(sub(1.0, t), x), sp)
    else:
        coef = add(mul(sub(pos_weight, 1.0), t), 1.0)
        loss = add(mul(sub(1.0, t), x), mul(coef, sp))
    if weight is not None:
        loss = mul(loss, weight)
    return _reduce(loss, reduction)


# ---- more losses -------------------------------------------------------------------------------
def _pair_same_shape(input, target, who, warn=True):
    x, y = _pair(input, target, who)
    if warn and isinstance(x, Tensor) and isinstance(y, Tensor) and x._data.shape != y._data.shape:
        warnings.warn(f"{who}: target shape {tuple(y._data.shape)} differs from input shape "
                      f"{tuple(x._data.shape)}; they will be broadcast", UserWarning, stacklevel=3)
    return x, y


@public
@lowp_via_float32
def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """The absolute error |input - target|; the shapes broadcast. ``reduction``: "mean"
    (default), "sum" or "none" (the per-element losses, shaped like ``input``)."""
    _check_reduction(reduction, "l1_loss")
    x, y = _pair_same_shape(input, target, "l1_loss")
    return _reduce(abs(sub(x, y)), reduction)


@public
@lowp_via_float32
def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), d = input - target."""
    who = "huber_loss"
    _check_reduction(reduction, who)
    if not delta > 0:
        raise ArgumentError(f"{who}: delta must be positive, got {delta}")
    x, y = _pair_same_shape(input, target, who)
    d = sub(x, y)
    a = abs(d)
    small = lt(a, delta)
    loss = where(small, mul(mul(d, d), 0.5), mul(sub(a, 0.5 * delta), delta))
    return _reduce(loss, reduction)


@public
@lowp_via_float32
def smooth_l1_loss(input: Tensor, target: Tensor, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta = 0 gives L1)."""
    who = "smooth_l1_loss"
    _check_reduction(reduction, who)
    if beta < 0:
        raise ArgumentError(f"{who}: beta must be non-negative, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction)
    x, y = _pair_same_shape(input, target, who)
    d = sub(x, y)
    a = abs(d)
    loss = where(lt(a, beta), mul(mul(d, d), 0.5 / beta), sub(a, 0.5 * beta))
    return _reduce(loss, reduction)


@public
@lowp_via_float32
def binary_cross_entropy(input: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                         reduction: str = "mean") -> Tensor:
    """-(t log p + (1 - t) log(1 - p)) for probabilities p; each log is clamped at -100
    as PyTorch does, so p = 0 or 1 gives a finite loss."""
    who = "binary_cross_entropy"
    _check_reduction(reduction, who)
    x, t = _pair(input, target, who)
    if not isinstance(x, Tensor) or not isinstance(t, Tensor) or x._data.shape != t._data.shape:
        raise ShapeError(f"{who}: target shape {tuple(np.shape(getattr(target, '_data', target)))} "
                         f"must match input shape {tuple(np.shape(getattr(input, '_data', input)))}")
    if x._data.size and (np.any(x._data < 0) or np.any(x._data > 1) or np.any(np.isnan(x._data))):
        raise ArgumentError(f"{who}: all elements of input should be between 0 and 1")
    loss = _bce(x, t)
    if weight is not None:
        loss = mul(loss, weight)
    return _reduce(loss, reduction)


def _clamped_logs(p):
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(p), -100.0), np.maximum(np.log1p(-p), -100.0)


def _bce_bwd(node, g):
    p, t = node.saved
    eps = 1e-12
    # d/dp = (p - t) / max(p (1 - p), eps): finite at p = 0 and p = 1, where the
    # clamped logs have zero slope and a log-based formula would give 0 * inf
    gp = mul(g, div(sub(p, t), clamp(mul(p, sub(1.0, p)), eps)))
    gt = None
    if node.edges[1] is not None:
        # d/dt = clamped log(1 - p) - clamped log p, built from ops so that it has a
        # derivative with respect to p (double backward) where p is not clamped
        gt = mul(g, sub(clamp(log1p(neg(p)), -100.0), clamp(log(p), -100.0)))
    return (gp, gt)


declare(_bce_bwd, jvp=_elementwise_jvp, elementwise=True)


def _bce(p, t):
    """Elementwise -(t log p + (1 - t) log(1 - p)), logs clamped at -100."""
    lp, lq = _clamped_logs(p._data)
    out = np.asarray(-(t._data * lp + (1 - t._data) * lq), dtype=p._data.dtype)   # 0-d stays an array
    if (p.requires_grad or t.requires_grad) and grad_mode.enabled:
        return _record(out, "binary_cross_entropy", _bce_bwd, (p, t), (p, t))
    return _make(out)


@public
@lowp_via_float32
def kl_div(input: Tensor, target: Tensor, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Pointwise KL divergence target * (log target - input), input being
    log-probabilities; 0 where target == 0.  reduction 'batchmean' divides the sum by
    the batch size (the mathematically correct KL); 'mean' averages over elements."""
    who = "kl_div"
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise ArgumentError(f"{who}: reduction must be 'mean', 'sum', 'none' or 'batchmean', got {reduction!r}")
    x, t = _pair_same_shape(input, target, who)
    if log_target:
        loss = mul(exp(t), sub(t, x))
    else:
        pos = gt(t, 0.0)
        safe_t = where(pos, t, 1.0)
        loss = where(pos, mul(t, sub(log(safe_t), x)), mul(x, 0.0))
    if reduction == "batchmean":
        n = x._data.shape[0] if x._data.ndim else 1
        return div(sum(loss), float(n))
    return _reduce(loss, reduction)


__all__ = exports(__name__)


# ops of other kinds, bound once this module's own names exist (the kinds call each other)
from fastgrad.ops.elementwise import (abs, add, clamp, div, exp, gt, log, log1p, lt,
    mul, neg, softplus, sub, where)
from fastgrad.ops.indexing import _gather, _index_copy, getitem
from fastgrad.ops.reduce import log_softmax, mean, softmax, sum
from fastgrad.ops.shape import expand, permute, reshape, squeeze, unsqueeze
