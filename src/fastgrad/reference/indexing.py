"""Indexing and scatter: index_select/index_add, gather/scatter_add, masked select and
expand.  Same names, signatures and errors as the index wrappers in
fastgrad/_C/_index.pxi."""
import numpy as np


def _check_index(idx, n, wrap, op, dim):
    idx = np.asarray(idx, dtype=np.int64)
    bad = (idx < (-n if wrap else 0)) | (idx >= n)
    if bad.any():
        raise IndexError(f"{op}: index {idx[bad].flat[0]} is out of bounds for dimension {dim} "
                         f"with size {n}")
    return np.where(idx < 0, idx + n, idx)


def index_select(x, dim, idx, wrap=False, op="index_select"):
    n = x.shape[dim] if x.ndim else 1
    idx = _check_index(np.reshape(idx, -1), n, wrap, op, dim)
    return np.take(x, idx, axis=dim) if x.ndim else x.reshape(1)[idx]


def index_add(out, dim, idx, src, wrap=False, op="index_add"):
    n = out.shape[dim] if out.ndim else 1
    idx = _check_index(np.reshape(idx, -1), n, wrap, op, dim)
    view = out if out.ndim else out.reshape(1)
    src = np.asarray(src, dtype=out.dtype).reshape(view.shape[:dim] + (len(idx),) + view.shape[dim + 1:])
    np.add.at(view, (slice(None),) * dim + (idx,), src)
    return out


def gather(x, dim, idx, op="gather"):
    idx = np.asarray(idx, dtype=np.int64)
    x = x[tuple(slice(None) if d == dim else slice(0, idx.shape[d]) for d in range(x.ndim))]
    n = x.shape[dim] if x.ndim else 1
    _check_index(idx, n, False, op, dim)
    if x.ndim == 0:
        return x.reshape(1)[idx.reshape(-1)].reshape(idx.shape)
    return np.take_along_axis(x, idx, dim)


def scatter_add(out, dim, idx, src, accumulate=True, op="scatter_add"):
    idx = np.asarray(idx, dtype=np.int64)
    n = out.shape[dim] if out.ndim else 1
    _check_index(idx, n, False, op, dim)
    view = out if out.ndim else out.reshape(1)
    ix = list(np.indices(idx.shape, sparse=True)) if idx.ndim else [np.zeros(1, np.int64)]
    ix[dim] = idx if idx.ndim else idx.reshape(1)
    src = np.asarray(src, dtype=out.dtype).reshape(idx.shape if idx.ndim else (1,))
    if accumulate:
        np.add.at(view, tuple(ix), src)
    else:
        view[tuple(ix)] = src
    return out


def masked_select(x, mask, op="masked_select"):
    return x[mask]


def masked_expand(src, mask, op="masked_expand"):
    out = np.zeros(mask.shape, dtype=src.dtype)
    out[mask] = np.reshape(src, -1)
    return out
