"""Stateless neural-network ops with PyTorch's names and arguments."""
import math
import warnings

import numpy as np

from fastgrad import _ops as O
from fastgrad._state import backend, grad_mode
from fastgrad._tensor import Tensor

from fastgrad._ops import (gelu, leaky_relu, linear, log_softmax, relu, sigmoid,  # noqa: F401
                           silu, softmax, softplus, tanh)

_make = Tensor._make
_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction, who):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{who}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _reduce(loss, reduction):
    if reduction == "mean":
        return O.mean(loss)
    if reduction == "sum":
        return O.sum(loss)
    return loss


# ---- cross-entropy --------------------------------------------------------------------------
def _xent_bwd(node, g):
    target, ignore_index, ls = node.ctx
    if grad_mode.enabled:
        (x,) = node.saved
        rows, c = x.data.shape
        keep = target != ignore_index
        q = np.full((rows, c), ls / c, dtype=x.data.dtype)
        q[np.arange(rows)[keep], target[keep]] += 1 - ls
        q[~keep] = 0
        p = O.mul(O.softmax(x, 1), _make(keep[:, None].astype(x.data.dtype)))
        return (O.mul(O.sub(p, _make(q)), O.unsqueeze(g, 1)),)
    return (_make(backend.k.xent_bwd(g.data, node.out, target, ignore_index, ls)),)


def _xent_rows(x, target, ignore_index, label_smoothing):
    """Per-row loss of logits x (rows, C), fused softmax + NLL in one kernel."""
    loss, lsm = backend.k.xent(x.data, target, ignore_index, label_smoothing)
    if x.requires_grad and grad_mode.enabled:
        return O._record(loss, "cross_entropy", _xent_bwd, (x,), (x,), lsm,
                         (target, ignore_index, label_smoothing))
    return _make(loss)


def _targets(target, who):
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{who}: target must hold class indices (int64), got dtype {t.dtype}; "
                        "probability targets are not supported")
    return np.asarray(t, dtype=np.int64, order="C")


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",  # noqa: A002
                  label_smoothing=0.0):
    """Softmax cross-entropy between logits `input` (N, C), (C,) or (N, C, d1, ...) and
    class-index `target` (N,), () or (N, d1, ...).  'mean' averages over the targets
    that are not ignore_index."""
    who = "cross_entropy"
    _check_reduction(reduction, who)
    if weight is not None:
        raise NotImplementedError(f"{who}: class weights are not supported yet")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{who}: label_smoothing must be in [0, 1], got {label_smoothing}")
    x = O._float_in(input, who)
    t = _targets(target, who)
    nd = x.data.ndim
    if nd == 0:
        raise ValueError(f"{who}: input must have a class dimension, got a 0-d tensor")
    if nd == 1:
        if t.ndim != 0:
            raise ValueError(f"{who}: for input of shape {tuple(x.data.shape)} the target must be "
                             f"0-d, got shape {tuple(t.shape)}")
        x2, t2, tshape = O.unsqueeze(x, 0), t.reshape(1), ()
    else:
        expect = (x.data.shape[0],) + x.data.shape[2:]
        if t.shape != expect:
            raise ValueError(f"{who}: input shape {tuple(x.data.shape)} expects target shape "
                             f"{expect}, got {tuple(t.shape)}")
        c = x.data.shape[1]
        x2 = x if nd == 2 else O.reshape(O.permute(x, (0,) + tuple(range(2, nd)) + (1,)), (-1, c))
        t2, tshape = t.reshape(-1), t.shape
    rows = _xent_rows(x2, t2, int(ignore_index), float(label_smoothing))
    if reduction == "none":
        return O.reshape(rows, tshape)
    if reduction == "sum":
        return O.sum(rows)
    count = int(np.count_nonzero(t2 != ignore_index))
    return O.div(O.sum(rows), float(count) if count else math.nan)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):  # noqa: A002
    """Negative log-likelihood of log-probabilities `input` (N, C) at class `target` (N,)."""
    who = "nll_loss"
    _check_reduction(reduction, who)
    if weight is not None:
        raise NotImplementedError(f"{who}: class weights are not supported yet")
    x = O._float_in(input, who)
    t = _targets(target, who)
    if x.data.ndim == 1:
        x, t = O.unsqueeze(x, 0), t.reshape(1)
    if x.data.ndim != 2 or t.shape != (x.data.shape[0],):
        raise ValueError(f"{who}: expected input (N, C) and target (N,), got {tuple(x.data.shape)} "
                         f"and {tuple(t.shape)}")
    c = x.data.shape[1]
    keep = t != ignore_index
    bad = keep & ((t < 0) | (t >= c))
    if bad.any():
        r = int(np.argmax(bad))
        raise IndexError(f"{who}: target {t[r]} at position {r} is out of bounds for {c} classes")
    safe = np.where(keep, t, 0)[:, None]
    picked = O.squeeze(O._take_along(x, safe, 1), 1)
    loss = O.mul(O.neg(picked), _make(keep.astype(x.data.dtype)))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return O.sum(loss)
    count = int(np.count_nonzero(keep))
    return O.div(O.sum(loss), float(count) if count else math.nan)


def mse_loss(input, target, reduction="mean"):  # noqa: A002
    _check_reduction(reduction, "mse_loss")
    x, y = O._pair(input, target, "mse_loss")
    if isinstance(x, Tensor) and isinstance(y, Tensor) and x.data.shape != y.data.shape:
        # as PyTorch: broadcast, but warn, since it is usually a bug ((N,) vs (N, 1))
        warnings.warn(f"mse_loss: target shape {tuple(y.data.shape)} differs from input shape "
                      f"{tuple(x.data.shape)}; they will be broadcast", UserWarning, stacklevel=2)
    d = O.sub(x, y)
    return _reduce(O.mul(d, d), reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",  # noqa: A002
                                     pos_weight=None):
    """Sigmoid + binary cross-entropy in one numerically stable expression:
    loss = (1 - t) * x + (1 + (pw - 1) * t) * softplus(-x)."""
    who = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, who)
    x, t = O._pair(input, target, who)
    if not isinstance(x, Tensor) or not isinstance(t, Tensor) or x.data.shape != t.data.shape:
        raise ValueError(f"{who}: target shape {tuple(np.shape(target))} must match input shape "
                         f"{tuple(np.shape(input.data if isinstance(input, Tensor) else input))}")
    sp = O.softplus(O.neg(x), 1.0, math.inf)          # log(1 + exp(-x)), exact for every x
    if pos_weight is None:
        loss = O.add(O.mul(O.sub(1.0, t), x), sp)
    else:
        coef = O.add(O.mul(O.sub(pos_weight, 1.0), t), 1.0)
        loss = O.add(O.mul(O.sub(1.0, t), x), O.mul(coef, sp))
    if weight is not None:
        loss = O.mul(loss, weight)
    return _reduce(loss, reduction)


def relu_(x):
    return O.clamp_(x, 0.0)
