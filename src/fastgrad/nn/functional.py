"""Stateless neural-network ops with PyTorch's names and arguments."""
import math
import warnings

import numpy as np

from fastgrad import _ops as O
from fastgrad._hooks import hooks
from fastgrad._state import backend, grad_mode
from fastgrad._tensor import Tensor
from fastgrad.autograd.engine import jvp_rule

from fastgrad._ops import (gelu, leaky_relu, linear, log_softmax, one_hot, pad, relu,  # noqa: F401
                           sigmoid, silu, softmax, softplus, tanh)
from fastgrad._ops_math import (elu, hardsigmoid, hardswish, hardtanh, mish, relu6,  # noqa: F401
                                selu)
from fastgrad._ops_conv import (adaptive_avg_pool1d, adaptive_avg_pool2d,  # noqa: F401
                                avg_pool1d, avg_pool2d, batch_norm, conv1d, conv2d,
                                conv_transpose1d, conv_transpose2d, dropout1d, dropout2d,
                                group_norm, interpolate, layer_norm, max_pool1d, max_pool2d,
                                upsample)

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
def _xent_grad_composite(x, g_rows, target, ignore_index, ls):
    """d loss / d x written with fastgrad ops (used under create_graph)."""
    rows, c = x.data.shape
    keep = target != ignore_index
    q = np.full((rows, c), ls / c, dtype=x.data.dtype)
    q[np.arange(rows)[keep], target[keep]] += 1 - ls
    q[~keep] = 0
    p = O.mul(O.softmax(x, 1), _make(keep[:, None].astype(x.data.dtype)))
    return O.mul(O.sub(p, _make(q)), O.unsqueeze(g_rows, 1))


def _xent_bwd(node, g):
    target, ignore_index, ls = node.ctx
    if grad_mode.enabled:
        return (_xent_grad_composite(node.saved[0], g, target, ignore_index, ls),)
    return (_make(backend.k.xent_bwd(g.data, node.out, target, ignore_index, ls)),)


def _xent_reduced_bwd(node, g):
    target, ignore_index, ls, scale = node.ctx
    rows = target.shape[0]
    if grad_mode.enabled:
        g_rows = O.mul(O.expand(O.reshape(g, (1,)), rows), scale)
        return (_xent_grad_composite(node.saved[0], g_rows, target, ignore_index, ls),)
    g_rows = np.full(rows, float(g.data) * scale, dtype=node.out.dtype)
    return (_make(backend.k.xent_bwd(g_rows, node.out, target, ignore_index, ls)),)


@jvp_rule(_xent_bwd, _xent_reduced_bwd)
def _xent_jvp(node, xs, ts, out):
    # each row's loss depends on its own row of logits: contract the backward of ones
    # (softmax minus the smoothed target) with the tangent over the class dim
    (gx,) = node.fn(node, O._ones_of(out))
    p = O.mul(gx, ts[0])
    return O.sum(p, tuple(range(out.data.ndim, p.data.ndim))) if p.data.ndim > out.data.ndim else p


def _xent_rows(x, target, ignore_index, label_smoothing, scale=None, reduction="none"):
    """Loss of logits x (rows, C), fused softmax + NLL in one kernel: per row, or (with
    `scale`, for `reduction` 'mean' or 'sum') the scalar scale * sum over rows, recorded
    as one graph node (a mean or sum reduction costs no extra nodes)."""
    if scale is not None and hooks.xent_reduce is not None:
        r = hooks.xent_reduce(x, target, ignore_index, label_smoothing, scale, reduction)
        if r is not None:
            return r
    loss, lsm = backend.k.xent(x.data, target, ignore_index, label_smoothing)
    if scale is not None:
        loss = np.asarray(loss.sum() * loss.dtype.type(scale) if scale != 1.0 else loss.sum(),
                          dtype=loss.dtype)
        if x.requires_grad and grad_mode.enabled:
            return O._record(loss, "cross_entropy", _xent_reduced_bwd, (x,), (x,), lsm,
                             (target, ignore_index, label_smoothing, scale))
        return _make(loss)
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
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{who}: label_smoothing must be in [0, 1], got {label_smoothing}")
    x = O._float_in(input, who)
    t = _targets(target, who)
    if weight is not None:
        return _weighted_xent(x, t, weight, ignore_index, reduction, label_smoothing)
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
    if reduction == "none":
        return O.reshape(_xent_rows(x2, t2, int(ignore_index), float(label_smoothing)), tshape)
    if reduction == "sum":
        return _xent_rows(x2, t2, int(ignore_index), float(label_smoothing), 1.0, "sum")
    count = int(np.count_nonzero(t2 != ignore_index))
    return _xent_rows(x2, t2, int(ignore_index), float(label_smoothing),
                      1.0 / count if count else math.nan, "mean")


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean", _who="nll_loss"):  # noqa: A002
    """Negative log-likelihood of log-probabilities `input` (N, C), (C,) or
    (N, C, d1, ...) at class `target` (N,), () or (N, d1, ...)."""
    who = _who
    _check_reduction(reduction, who)
    x = O._float_in(input, who)
    t = _targets(target, who)
    if x.data.ndim > 2:
        expect = (x.data.shape[0],) + x.data.shape[2:]
        if t.shape != expect:
            raise ValueError(f"{who}: input shape {tuple(x.data.shape)} expects target shape "
                             f"{expect}, got {tuple(t.shape)}")
        nd, c = x.data.ndim, x.data.shape[1]
        x2 = O.reshape(O.permute(x, (0,) + tuple(range(2, nd)) + (1,)), (-1, c))
        out = nll_loss(x2, t.reshape(-1), weight, ignore_index, reduction, who)
        return O.reshape(out, t.shape) if reduction == "none" else out
    if x.data.ndim == 1:
        if t.ndim != 0:
            raise ValueError(f"{who}: for input of shape {tuple(x.data.shape)} the target must be "
                             f"0-d, got shape {tuple(t.shape)}")
        out = nll_loss(O.unsqueeze(x, 0), t.reshape(1), weight, ignore_index, reduction, who)
        return O.squeeze(out, 0) if reduction == "none" else out
    if x.data.ndim != 2 or t.shape != (x.data.shape[0],):
        raise ValueError(f"{who}: expected input (N, C) and target (N,), got {tuple(x.data.shape)} "
                         f"and {tuple(t.shape)}")
    c = x.data.shape[1]
    keep = t != ignore_index
    bad = keep & ((t < 0) | (t >= c))
    if bad.any():
        r = int(np.argmax(bad))
        raise IndexError(f"{who}: target {t[r]} at position {r} is out of bounds for {c} classes")
    safe = np.where(keep, t, 0)
    picked = O.squeeze(O._take_along(x, safe[:, None], 1), 1)
    if not keep.all():          # ignored rows contribute 0, even where the input is inf or nan
        picked = O.where(_make(keep), picked, 0.0)
    w = _class_weights(weight, c, x.data.dtype, who)
    if w is None:
        wt = _make(keep.astype(x.data.dtype))
    else:
        wt = O.mul(O.getitem(w, safe), _make(keep.astype(x.data.dtype)))
    loss = O.neg(O.mul(picked, wt))
    if reduction == "none":
        return loss
    if reduction == "sum":
        return O.sum(loss)
    if w is None:
        count = int(np.count_nonzero(keep))
        return O.div(O.sum(loss), float(count) if count else math.nan)
    return O.div(O.sum(loss), O.sum(wt))


def _class_weights(weight, c, dtype, who):
    if weight is None:
        return None
    w = weight if isinstance(weight, Tensor) else Tensor(np.asarray(weight, dtype=dtype))
    if w.data.shape != (c,):
        raise ValueError(f"{who}: weight must have shape ({c},) (one entry per class), got "
                         f"{tuple(w.data.shape)}")
    if w.data.dtype != dtype:
        w = O.to(w, dtype)
    return w


def _weighted_xent(x, t, weight, ignore_index, reduction, ls):
    """Cross-entropy with class weights: log_softmax, then weighted NLL; with label
    smoothing the smoothing term is -sum_c w_c log p_c / C, normalised like the NLL term."""
    who = "cross_entropy"
    nd = x.data.ndim
    if nd == 0:
        raise ValueError(f"{who}: input must have a class dimension, got a 0-d tensor")
    tshape = t.shape
    if nd == 1:
        if t.ndim != 0:
            raise ValueError(f"{who}: for input of shape {tuple(x.data.shape)} the target must be "
                             f"0-d, got shape {tuple(t.shape)}")
        x, t = O.unsqueeze(x, 0), t.reshape(1)
    elif nd == 2 and t.shape != (x.data.shape[0],):
        raise ValueError(f"{who}: input shape {tuple(x.data.shape)} expects target shape "
                         f"({x.data.shape[0]},), got {tuple(t.shape)}")
    elif nd > 2:
        c = x.data.shape[1]
        if t.shape != (x.data.shape[0],) + x.data.shape[2:]:
            raise ValueError(f"{who}: input shape {tuple(x.data.shape)} expects target shape "
                             f"{(x.data.shape[0],) + x.data.shape[2:]}, got {tuple(t.shape)}")
        x = O.reshape(O.permute(x, (0,) + tuple(range(2, nd)) + (1,)), (-1, c))
        t = t.reshape(-1)
    c = x.data.shape[1]
    w = _class_weights(weight, c, x.data.dtype, who)
    logp = O.log_softmax(x, 1)
    nll = nll_loss(logp, t, w, ignore_index, "none", who)
    keep = _make((t != ignore_index).astype(x.data.dtype))
    if ls > 0:
        smooth = O.mul(O.neg(O.sum(O.mul(logp, w), 1)), keep)
        rows = O.add(O.mul(nll, 1.0 - ls), O.mul(smooth, ls / c))
    else:
        rows = nll
    if reduction == "none":
        return O.squeeze(rows, 0) if nd == 1 else O.reshape(rows, tshape)
    if reduction == "sum":
        return O.sum(rows)
    safe = np.where(t != ignore_index, t, 0)
    return O.div(O.sum(rows), O.sum(O.mul(O.getitem(w, safe), keep)))


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


# ---- more losses -------------------------------------------------------------------------------
def _pair_same_shape(input, target, who, warn=True):
    x, y = O._pair(input, target, who)
    if warn and isinstance(x, Tensor) and isinstance(y, Tensor) and x.data.shape != y.data.shape:
        warnings.warn(f"{who}: target shape {tuple(y.data.shape)} differs from input shape "
                      f"{tuple(x.data.shape)}; they will be broadcast", UserWarning, stacklevel=3)
    return x, y


def l1_loss(input, target, reduction="mean"):  # noqa: A002
    _check_reduction(reduction, "l1_loss")
    x, y = _pair_same_shape(input, target, "l1_loss")
    return _reduce(O.abs(O.sub(x, y)), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):  # noqa: A002
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta), d = input - target."""
    who = "huber_loss"
    _check_reduction(reduction, who)
    if not delta > 0:
        raise ValueError(f"{who}: delta must be positive, got {delta}")
    x, y = _pair_same_shape(input, target, who)
    d = O.sub(x, y)
    a = O.abs(d)
    small = O.lt(a, delta)
    loss = O.where(small, O.mul(O.mul(d, d), 0.5), O.mul(O.sub(a, 0.5 * delta), delta))
    return _reduce(loss, reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):  # noqa: A002
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta = 0 gives L1)."""
    who = "smooth_l1_loss"
    _check_reduction(reduction, who)
    if beta < 0:
        raise ValueError(f"{who}: beta must be non-negative, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction)
    x, y = _pair_same_shape(input, target, who)
    d = O.sub(x, y)
    a = O.abs(d)
    loss = O.where(O.lt(a, beta), O.mul(O.mul(d, d), 0.5 / beta), O.sub(a, 0.5 * beta))
    return _reduce(loss, reduction)


def binary_cross_entropy(input, target, weight=None, reduction="mean"):  # noqa: A002
    """-(t log p + (1 - t) log(1 - p)) for probabilities p; each log is clamped at -100
    as PyTorch does, so p = 0 or 1 gives a finite loss."""
    who = "binary_cross_entropy"
    _check_reduction(reduction, who)
    x, t = O._pair(input, target, who)
    if not isinstance(x, Tensor) or not isinstance(t, Tensor) or x.data.shape != t.data.shape:
        raise ValueError(f"{who}: target shape {tuple(np.shape(getattr(target, 'data', target)))} "
                         f"must match input shape {tuple(np.shape(getattr(input, 'data', input)))}")
    if x.data.size and (np.any(x.data < 0) or np.any(x.data > 1) or np.any(np.isnan(x.data))):
        raise ValueError(f"{who}: all elements of input should be between 0 and 1")
    loss = _bce(x, t)
    if weight is not None:
        loss = O.mul(loss, weight)
    return _reduce(loss, reduction)


def _clamped_logs(p):
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(p), -100.0), np.maximum(np.log1p(-p), -100.0)


def _bce_bwd(node, g):
    p, t = node.saved
    eps = 1e-12
    # d/dp = (p - t) / max(p (1 - p), eps): finite at p = 0 and p = 1, where the
    # clamped logs have zero slope and a log-based formula would give 0 * inf
    gp = O.mul(g, O.div(O.sub(p, t), O.clamp(O.mul(p, O.sub(1.0, p)), eps)))
    gt = None
    if node.edges[1] is not None:
        lp, lq = _clamped_logs(p.data)
        gt = O.mul(g, _make(np.asarray(lq - lp, dtype=p.data.dtype)))
    return (gp, gt)


jvp_rule(_bce_bwd)(O._elementwise_jvp)


def _bce(p, t):
    """Elementwise -(t log p + (1 - t) log(1 - p)), logs clamped at -100."""
    lp, lq = _clamped_logs(p.data)
    out = np.asarray(-(t.data * lp + (1 - t.data) * lq), dtype=p.data.dtype)   # 0-d stays an array
    if (p.requires_grad or t.requires_grad) and grad_mode.enabled:
        return O._record(out, "binary_cross_entropy", _bce_bwd, (p, t), (p, t))
    return _make(out)


def kl_div(input, target, reduction="mean", log_target=False):  # noqa: A002
    """Pointwise KL divergence target * (log target - input), input being
    log-probabilities; 0 where target == 0.  reduction 'batchmean' divides the sum by
    the batch size (the mathematically correct KL); 'mean' averages over elements."""
    who = "kl_div"
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise ValueError(f"{who}: reduction must be 'mean', 'sum', 'none' or 'batchmean', got {reduction!r}")
    x, t = _pair_same_shape(input, target, who)
    if log_target:
        loss = O.mul(O.exp(t), O.sub(t, x))
    else:
        pos = O.gt(t, 0.0)
        safe_t = O.where(pos, t, 1.0)
        loss = O.where(pos, O.mul(t, O.sub(O.log(safe_t), x)), O.mul(x, 0.0))
    if reduction == "batchmean":
        n = x.data.shape[0] if x.data.ndim else 1
        return O.div(O.sum(loss), float(n))
    return _reduce(loss, reduction)


# ---- layers' functional forms ------------------------------------------------------------------
def dropout(input, p=0.5, training=True, inplace=False):  # noqa: A002
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (inverted
    dropout), using fastgrad's global generator; identity when not training or p == 0."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability must be in [0, 1], got {p}")
    x = O._float_in(input, "dropout")
    if not training or p == 0.0:
        return x
    if hooks.dropout is not None:
        hooks.dropout(x, p)
    from fastgrad._factory import default_generator
    dt = x.data.dtype
    if p == 1.0:
        mask = np.zeros(x.data.shape, dtype=dt)
    else:
        keep = default_generator.rng.random(x.data.shape, dtype=np.float32 if dt == np.float32
                                            else np.float64) >= p
        mask = keep.astype(dt)
        mask *= dt.type(1.0 / (1.0 - p))
    if inplace:
        return O.mul_(x, _make(mask))
    return O.mul(x, _make(mask))


def embedding(input, weight, padding_idx=None):  # noqa: A002
    """Rows of `weight` (num_embeddings, dim) at the int64 indices `input` (any shape);
    repeated indices accumulate in the gradient, and row `padding_idx` gets none."""
    who = "embedding"
    idx = input.data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{who}: indices must be integers (int64), got dtype {idx.dtype}")
    if weight.data.ndim != 2:
        raise ValueError(f"{who}: weight must be 2-D (num_embeddings, embedding_dim), got shape "
                         f"{tuple(weight.data.shape)}")
    n = weight.data.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx[(idx < 0) | (idx >= n)].flat[0]
        raise IndexError(f"{who}: index {bad} is out of range for {n} embeddings")
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError(f"{who}: padding_idx {padding_idx} must be within [-{n}, {n})")
        padding_idx = padding_idx % n
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    # a row gather whose backward is a scatter-add (repeated indices accumulate)
    out = O.reshape(O._index_select(weight, 0, idx.reshape(-1), False, who),
                    idx.shape + (weight.data.shape[1],))
    if padding_idx is not None and out.requires_grad:
        # the padding row's value is used but gets no gradient: take it from a detached copy
        is_pad = _make(np.broadcast_to((idx == padding_idx)[..., None], out.data.shape))
        out = O.where(is_pad, out.detach(), out)
    return out


def bilinear(input1, input2, weight, bias=None):
    """y_k = x1^T W_k x2 + b_k for x1 (..., in1), x2 (..., in2), weight (out, in1, in2)."""
    who = "bilinear"
    x1 = O._float_in(input1, who)
    x2 = O._float_in(input2, who)
    if weight.data.ndim != 3:
        raise ValueError(f"{who}: weight must be 3-D (out, in1, in2), got shape {tuple(weight.data.shape)}")
    out_f, in1, in2 = weight.data.shape
    if x1.data.shape[-1:] != (in1,) or x2.data.shape[-1:] != (in2,) or x1.data.shape[:-1] != x2.data.shape[:-1]:
        raise ValueError(f"{who}: input shapes {tuple(x1.data.shape)} and {tuple(x2.data.shape)} do "
                         f"not match weight shape {tuple(weight.data.shape)}")
    if bias is not None and tuple(bias.data.shape) != (out_f,):
        raise ValueError(f"{who}: bias shape {tuple(bias.data.shape)} does not match weight shape "
                         f"{tuple(weight.data.shape)}: expected ({out_f},)")
    lead = x1.data.shape[:-1]
    a = O.reshape(x1, (-1, in1))
    b = O.reshape(x2, (-1, in2))
    wmat = O.reshape(O.permute(weight, (1, 0, 2)), (in1, out_f * in2))
    t = O.reshape(O.matmul(a, wmat), (-1, out_f, in2))
    y = O.sum(O.mul(t, O.unsqueeze(b, 1)), -1)
    if bias is not None:
        y = O.add(y, bias)
    return O.reshape(y, lead + (out_f,))
