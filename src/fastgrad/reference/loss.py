"""Losses: softmax cross-entropy over rows (forward and backward)."""
import numpy as np

from fastgrad._C._kernels import TargetIndexError
from fastgrad.reference.reduce import softmax


def _check_targets(target, c, ignore_index):
    t = np.asarray(target, dtype=np.int64)
    bad = (t != ignore_index) & ((t < 0) | (t >= c))
    if bad.any():
        r = int(np.argmax(bad))
        raise TargetIndexError(f"cross_entropy: target {t[r]} at position {r} is out of bounds "
                               f"for {c} classes (valid: 0..{c - 1} or ignore_index={ignore_index})")
    return t


def xent(x, target, ignore_index, label_smoothing):
    rows, c = x.shape
    t = _check_targets(target, c, ignore_index)
    lsm = softmax(x, 1, True)
    keep = t != ignore_index
    tt = np.where(keep, t, 0)
    nll = -lsm[np.arange(rows), tt] if rows else np.zeros(0, x.dtype)
    loss = (1 - label_smoothing) * nll - label_smoothing / c * lsm.sum(1)
    return np.where(keep, loss, 0).astype(x.dtype), lsm


def xent_bwd(g, lsm, target, ignore_index, label_smoothing):
    rows, c = lsm.shape
    t = _check_targets(target, c, ignore_index)
    keep = t != ignore_index
    q = np.full((rows, c), label_smoothing / c, dtype=lsm.dtype)
    q[np.arange(rows)[keep], t[keep]] += 1 - label_smoothing
    gx = np.asarray(g, dtype=lsm.dtype)[:, None] * (np.exp(lsm) - q)
    return np.where(keep[:, None], gx, 0).astype(lsm.dtype)


def nll_prep(t, c, ignore_index, dtype, op="nll_loss"):
    """nll_loss's target bookkeeping: (safe int64, keep as dtype, keep as bool, 0-d count
    as dtype, NaN when nothing is kept)."""
    t = np.asarray(t, dtype=np.int64)
    keep = t != ignore_index
    bad = keep & ((t < 0) | (t >= c))
    if bad.any():
        r = int(np.argmax(bad))
        raise TargetIndexError(f"{op}: target {t[r]} at position {r} is out of bounds for {c} classes")
    n = int(np.count_nonzero(keep))
    return (np.where(keep, t, 0), keep.astype(dtype), keep,
            np.asarray(n if n else np.nan, dtype=dtype))
