"""sort, argsort and topk: values at the sorted indices, gradients scattered back."""
from __future__ import annotations

import collections

import numpy as np

from fastgrad import reference as _reference
from fastgrad.errors import IndexOutOfRangeError
from fastgrad._dtype import KERNEL_FLOATS as _KERNEL_FLOATS
from fastgrad._state import backend
from fastgrad.autograd.engine import jvp_rule
from fastgrad.ops._record import (_make, _needs, _norm_dim, _record, _to_tensor, exports, public)

from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from typing import Any, Optional
    from fastgrad._tensor import Tensor
    from fastgrad._typing import Dims



# ---- sort / topk / argsort ----------------------------------------------------------------
SortResult = collections.namedtuple("sort", ["values", "indices"])
TopkResult = collections.namedtuple("topk", ["values", "indices"])


def _sorted(name, x, dim, flag, k):
    """(values array, int64 indices) of sort (k=None) or topk along dim."""
    x = _to_tensor(x, name)
    arr = x._data
    nd = arr.ndim
    d = _norm_dim(dim, nd, name)
    a1 = arr.reshape(1) if nd == 0 else arr
    kern = backend.k if arr.dtype in _KERNEL_FLOATS else _reference
    if k is None:
        v, i = kern.sort(a1, d, flag)
    else:
        v, i = kern.topk(a1, k, d, flag)
    if nd == 0:
        v, i = v.reshape(()), i.reshape(())
    return x, d, v, i


def _values(x, v, i, d, name):
    if _needs(x) and x._data.dtype.kind == "f":
        i1 = i.reshape(1) if x._data.ndim == 0 else i
        return _record(v, name, _values_bwd, (x,), (), None, (i1, d, x._data.shape))
    return _make(v)


def _values_bwd(node, g):
    idx, d, shape = node.ctx
    if len(shape) == 0:
        return (reshape(_put_along(reshape(g, (1,)), idx, d, (1,)), ()),)
    return (_put_along(g, idx, d, shape),)


@jvp_rule(_values_bwd)
def _values_jvp(node, xs, ts, out):
    idx, d, shape = node.ctx
    t = reshape(ts[0], (1,)) if len(shape) == 0 else ts[0]
    return reshape(_take_along(t, idx, d), out._data.shape)


@public(method=True)
def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False, axis: Optional[Dims] = None) -> Any:
    """(values, indices) sorted along dim.  The sort is always stable (``stable`` is
    accepted for PyTorch compatibility); NaN sorts as the largest value."""
    if axis is not None:
        dim = axis
    x, d, v, i = _sorted("sort", x, dim, bool(descending), None)
    return SortResult(_values(x, v, i, d, "sort"), _make(i))


@public(method=True)
def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False,
            axis: Optional[Dims] = None) -> Tensor:
    """Indices that sort x along dim (stable; NaN largest)."""
    if axis is not None:
        dim = axis
    return _make(_sorted("argsort", x, dim, bool(descending), None)[3])


@public(method=True)
def topk(x: Tensor, k, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
    """The k largest (largest=True) or smallest elements along dim, as (values, indices).
    Results are always in sorted order (PyTorch leaves the order unspecified when
    sorted=False); ties keep their input order."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"topk: k must be an int, got {type(k).__name__}")
    xt = _to_tensor(x, "topk")
    nd = xt._data.ndim
    d = _norm_dim(dim, nd, "topk")
    n = xt._data.shape[d] if nd else 1
    if not 0 <= k <= n or (nd == 0 and k == 0):        # a 0-d tensor has no empty top-k shape
        raise IndexOutOfRangeError(f"topk: k={k} is out of range for dimension {d} of size {n} "
                         f"(input shape {tuple(xt._data.shape)})")
    x, d, v, i = _sorted("topk", xt, dim, bool(largest), int(k))
    return TopkResult(_values(x, v, i, d, "topk"), _make(i))


__all__ = exports(__name__)


# ops of other kinds, bound once this module's own names exist (the kinds call each other)
from fastgrad.ops.reduce import _put_along, _take_along
from fastgrad.ops.shape import reshape
