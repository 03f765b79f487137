"""Reductions, scans and the softmax family."""
import numpy as np

from fastgrad._C._kernels import R, SCAN


def _lse(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    shift = np.where(np.isfinite(m), m, 0)
    with np.errstate(all="ignore"):
        s = np.sum(np.exp((x - shift).astype(np.float64)), axis=axis, keepdims=True)
        return np.squeeze(shift + np.log(s), axis=axis).astype(x.dtype)


def reduce(op, x, dims):
    with np.errstate(all="ignore"):
        if op == R["sum"]:
            return np.asarray(np.sum(x, axis=dims, dtype=np.float64), dtype=x.dtype)
        if op == R["mean"]:
            return np.asarray(np.mean(x, axis=dims, dtype=np.float64), dtype=x.dtype)
        if op == R["max"]:
            return np.asarray(np.max(x, axis=dims))
        if op == R["min"]:
            return np.asarray(np.min(x, axis=dims))
        if op == R["logsumexp"]:
            return np.asarray(_lse(x, dims), dtype=x.dtype)
    raise ValueError(f"reduce: unknown op {op}")


def argreduce(op, x, dim):
    if x.shape[dim] == 0:
        raise ValueError(f"{'max' if op == R['max'] else 'min'}: cannot reduce over a zero-size dimension {dim}")
    idx = np.argmax(x, axis=dim) if op == R["max"] else np.argmin(x, axis=dim)
    vals = np.take_along_axis(x, np.expand_dims(idx, dim), dim).squeeze(dim)
    return np.asarray(vals), np.asarray(idx, dtype=np.int64)


def softmax(x, dim, log):
    with np.errstate(all="ignore"):
        m = np.max(x, axis=dim, keepdims=True) if x.size else x
        z = x - m
        if log:
            return (z - np.log(np.sum(np.exp(z.astype(np.float64)), axis=dim, keepdims=True))).astype(x.dtype)
        e = np.exp(z)
        return (e / np.sum(e.astype(np.float64), axis=dim, keepdims=True)).astype(x.dtype)


def softmax_bwd(g, y, dim, log):
    if log:
        return (g - np.exp(y) * np.sum(g, axis=dim, keepdims=True)).astype(g.dtype)
    return (y * (g - np.sum(g * y, axis=dim, keepdims=True))).astype(g.dtype)


def scan(op, x, dim, reverse=False):
    """cumsum/cumprod along dim (accumulated in float64, like the C kernel)."""
    fn = np.cumsum if op == SCAN["cumsum"] else np.cumprod
    xd = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if reverse:
            return np.flip(fn(np.flip(xd, dim), axis=dim), dim).astype(x.dtype)
        return fn(xd, axis=dim).astype(x.dtype)


def prod(x, dim):
    with np.errstate(all="ignore"):
        return np.asarray(np.prod(x.astype(np.float64), axis=dim), dtype=x.dtype)
