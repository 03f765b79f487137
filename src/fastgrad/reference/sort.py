"""Sorting: stable sort (NaN largest) and topk."""
import numpy as np


def _stable_argsort(x, dim, descending):
    """Stable order; NaN largest; descending keeps ties in input order."""
    if not descending:
        return np.argsort(x, axis=dim, kind="stable")
    n = x.shape[dim]
    r = np.argsort(np.flip(x, dim), axis=dim, kind="stable")
    return (n - 1 - np.flip(r, dim)).astype(np.int64)


def sort(x, dim, descending=False):
    idx = _stable_argsort(x, dim, descending).astype(np.int64)
    return np.take_along_axis(x, idx, dim), idx


def topk(x, k, dim, largest=True):
    n = x.shape[dim]
    if k < 0 or k > n:
        raise IndexError(f"topk: k={k} is out of range for dimension {dim} of size {n} (shape {x.shape})")
    v, i = sort(x, dim, largest)
    sl = (slice(None),) * dim + (slice(0, k),)
    return np.ascontiguousarray(v[sl]), np.ascontiguousarray(i[sl])
