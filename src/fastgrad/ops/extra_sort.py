"""``median``, ``unique`` and ``unique_consecutive`` as in PyTorch.  ``median`` picks its
elements with NumPy and gathers them differentiably (the gradient goes to the chosen
element); ``unique`` and ``unique_consecutive`` are not differentiable."""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from fastgrad._tensor import Tensor
from fastgrad.ops._record import _make, exports, public
from fastgrad.ops.extra_shape import _dim, _t

_median = namedtuple("median", ["values", "indices"])  # type: ignore[name-match]




def _median_index(a, d):
    """Index along d of the lower median (the first NaN where there is one)."""
    n = a.shape[d]
    order = np.argsort(a, axis=d, kind="stable")
    idx = np.take(order, [(n - 1) // 2], axis=d)
    if a.dtype.kind == "f":
        nan = np.isnan(a)
        has = nan.any(axis=d, keepdims=True)
        idx = np.where(has, np.argmax(nan, axis=d, keepdims=True), idx)
    return idx.astype(np.int64)


@public(method=True)
def median(input: Tensor, dim=None, keepdim: bool = False):
    """The lower median (of the two middle values, the smaller), NaN if there is a NaN.
    Without ``dim``: a 0-d tensor of all elements.  With ``dim``: a named tuple
    ``(values, indices)`` along ``dim``."""
    x = _t(input, "median")
    a = x._data
    if dim is None:
        if a.size == 0:
            return _make(np.array(np.nan, dtype=a.dtype)) if a.dtype.kind == "f" else \
                _raise_empty("median")
        i = _median_index(a.reshape(-1), 0)
        return reshape(take(x, _make(i)), ())
    n = a.ndim
    d = _dim(dim, n, "median")
    if n == 0:
        return _median(x, _make(np.array(0, dtype=np.int64)))
    if a.shape[d] == 0:
        raise IndexError(f"median: expected a non-empty dimension {dim}, got shape {tuple(a.shape)}")
    idx = _median_index(a, d)
    vals = gather(x, d, _make(np.array(idx, order="C")))
    if not keepdim:
        vals = squeeze(vals, d)
        idx = np.squeeze(idx, d)
    return _median(vals, _make(np.array(idx, order="C")))


def _raise_empty(who):
    raise RuntimeError(f"{who}: cannot compute the median of an empty integer tensor")


def _unique_result(vals, inv, counts, return_inverse, return_counts):
    out = [_make(np.array(vals, order="C"))]
    if return_inverse:
        out.append(_make(np.array(inv.astype(np.int64), order="C")))
    if return_counts:
        out.append(_make(np.array(counts.astype(np.int64), order="C")))
    return out[0] if len(out) == 1 else tuple(out)


@public(method=True)
def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim=None):
    """The distinct elements in ascending order (of the flattened tensor, or the distinct
    slices along ``dim``); optionally the index of each input element in the result
    (``return_inverse``, shaped like the input, or like dimension ``dim``) and each
    distinct element's count."""
    x = _t(input, "unique")
    a = x._data
    if dim is None:
        vals, inv, counts = np.unique(a.reshape(-1), return_inverse=True, return_counts=True)
        inv = inv.reshape(a.shape)
    else:
        d = _dim(dim, a.ndim, "unique")
        vals, inv, counts = np.unique(a, return_inverse=True, return_counts=True, axis=d)
        inv = inv.reshape(-1)
    return _unique_result(vals, inv, counts, return_inverse, return_counts)


@public(method=True)
def unique_consecutive(input: Tensor, return_inverse: bool = False, return_counts: bool = False,
                       dim=None):
    """Each run of equal consecutive elements (or slices along ``dim``) reduced to one;
    optionally the run index of each input element and each run's length."""
    x = _t(input, "unique_consecutive")
    a = x._data
    if dim is None:
        flat = a.reshape(-1)
        start = np.ones(flat.shape, dtype=bool)
        start[1:] = flat[1:] != flat[:-1]
        vals = flat[start]
        inv = (np.cumsum(start) - 1).reshape(a.shape)
    else:
        d = _dim(dim, a.ndim, "unique_consecutive")
        m = np.moveaxis(a, d, 0)
        start = np.ones(m.shape[0], dtype=bool)
        if m.shape[0] > 1:
            start[1:] = (m[1:] != m[:-1]).reshape(m.shape[0] - 1, -1).any(axis=1)
        vals = np.moveaxis(m[start], 0, d)
        inv = np.cumsum(start) - 1
    pos = np.flatnonzero(start)
    counts = np.diff(np.append(pos, start.size))
    return _unique_result(vals, inv, counts, return_inverse, return_counts)


__all__ = exports(__name__)


# ops of other kinds, bound once this module's own names exist (the kinds call each other)
from fastgrad.ops.extra_shape import take  # noqa: E402
from fastgrad.ops.indexing import gather  # noqa: E402
from fastgrad.ops.shape import reshape, squeeze  # noqa: E402
