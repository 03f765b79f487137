"""Indexing: ``x[idx]`` and ``x[idx] = v`` for every NumPy/PyTorch index form, gather,
scatter, index_select, take_along_dim, masked_fill and one_hot.
"""
from __future__ import annotations


import numpy as np

from fastgrad.errors import ArgumentError, DtypeError, ShapeError
from fastgrad._hooks import hooks as _hooks
from fastgrad._state import backend, grad_mode
from fastgrad._tensor import Tensor, bool_
from fastgrad import reference as _reference
from fastgrad.autograd.engine import Slab, declare, jvp_rule, zeros as _zeros
from fastgrad.autograd.engine import _into as _engine_into
from fastgrad.ops._record import (_make, _max, _needs, _norm_dim, _record, _scalar, _to_tensor,
                                  _zeros_of, exports, public, to)

from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from typing import Any, Optional
    from fastgrad._typing import Dims


def _kern(arr):
    """The index kernels: the C ones move 1-, 4- and 8-byte elements; 2-byte dtypes (int16,
    float16, bfloat16) go through the NumPy reference backend."""
    return _reference if arr.dtype.itemsize == 2 else backend.k



# ---- indexing -------------------------------------------------------------------------------
# x[idx] for every NumPy/PyTorch index form.  Basic indices (ints, slices with any step,
# None, Ellipsis) give a view whose backward writes g into zeros.  Advanced indices (int
# and bool tensors/lists/arrays) run the C index kernels: a lone int array next to full
# slices is index_select along its dim, a lone bool mask is a masked select, and any
# other mix is turned into flat element numbers (NumPy applies the index to an arange)
# and gathered.  Every advanced backward is a scatter-add, so repeated indices accumulate.
def _index_tensors(v, found=None):
    """The Tensors in an index argument (nested in tuples and lists).  The ops that keep an
    index for backward save these, so backward checks their versions like any saved
    tensor: an index modified in place between forward and backward is an error, never a
    silently wrong gradient.  Indices given as lists or NumPy arrays carry no version."""
    if found is None:
        found = []
    if isinstance(v, Tensor):
        found.append(v)
    elif isinstance(v, (list, tuple)):
        for i in v:
            _index_tensors(i, found)
    return tuple(found)


def _unwrap_index(v):
    if isinstance(v, Tensor):
        return v._data
    if isinstance(v, (list, tuple)):
        return [_unwrap_index(i) for i in v]
    return v


def _index_copy(v, who, what="index"):
    """A NumPy copy of an index given as a list, tuple, array or number."""
    try:
        return np.array(_unwrap_index(v))
    except (ValueError, TypeError) as e:
        raise ArgumentError(f"{who}: {what} must be a rectangular array or nested list of ints "
                         f"({e})") from None


def _idx_array(v, who):
    # a Tensor index is used as is (backward version-checks it); a list or an array is
    # copied, so changing it after the op cannot change the op's gradient
    a = v._data if isinstance(v, Tensor) else _index_copy(v, who)
    if a.dtype == np.bool_ or a.dtype == np.int64:
        return a
    if a.dtype.kind in "iu" or a.size == 0:
        return a.astype(np.int64)
    raise IndexError(f"{who}: tensors used as indices must be int64 or bool, got {a.dtype}")


def _list_as_tuple(idx):
    """PyTorch reads a list index of fewer than 32 entries holding a tensor, a sequence,
    a slice, None or Ellipsis as a tuple of indices (x[[a, 1]] is x[a, 1])."""
    if len(idx) >= 32:
        return False
    return any(i is None or i is Ellipsis or isinstance(i, (Tensor, list, tuple, slice, np.ndarray))
               for i in idx)


def _index_arg(idx, who="index"):
    if type(idx) is list and _list_as_tuple(idx):
        idx = tuple(idx)
    if isinstance(idx, tuple):
        return tuple(_index_part(i, who) for i in idx)
    return _index_part(idx, who)


def _index_part(idx, who):
    """One entry of an index tuple (or a whole index that is not a tuple)."""
    if isinstance(idx, (Tensor, list, np.ndarray, tuple)):   # a tuple here: a sequence of indices
        return _idx_array(idx, who)
    if isinstance(idx, (bool, np.bool_)):
        return np.asarray(idx)
    if idx is None or idx is Ellipsis or isinstance(idx, (int, np.integer, slice)):
        return idx
    if isinstance(idx, range):      # a sequence of ints, as in PyTorch: x[range(n), y]
        return _idx_array(list(idx), who)
    raise IndexError(f"{who}: unsupported index of type {type(idx).__name__} (expected ints, "
                     "slices, None, Ellipsis, int64/bool tensors or lists)")


def _is_basic(idx):
    parts = idx if isinstance(idx, tuple) else (idx,)
    for p in parts:
        if not (p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice))) or isinstance(p, bool):
            return False
    return True


_ndarray = np.ndarray


def _is_int(p):
    return (isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_))) or \
        (isinstance(p, np.ndarray) and p.ndim == 0 and p.dtype.kind in "iu")


def _split_ints(idx):
    """PyTorch's order for an index mixing ints with index arrays: the ints select first
    (a basic view), then the arrays index what is left, so only the arrays take part in
    the advanced-index placement rule (arrays separated by a slice put their dims first;
    NumPy would count the ints as arrays too).  Returns (basic, rest), or None for an
    index without both."""
    if type(idx) is not tuple:
        return None
    if _ndarray not in map(type, idx):     # the common case, no array at all, returns fast
        return None
    arrays = ints = False
    for p in idx:
        if isinstance(p, np.ndarray):
            if p.ndim == 0 and p.dtype.kind in "iu":
                ints = True
            else:
                arrays = True
        elif isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_)):
            ints = True
    if not (arrays and ints):
        return None
    parts = idx
    basic, rest = [], []
    for p in parts:
        if _is_int(p):
            basic.append(int(p))
        elif isinstance(p, np.ndarray):
            basic.extend([slice(None)] * (p.ndim if p.dtype == np.bool_ else 1))
            rest.append(p)
        elif p is None:
            basic.append(None)
            rest.append(slice(None))
        else:                           # a slice or Ellipsis: a slice keeps its dim
            basic.append(p)
            rest.append(slice(None) if isinstance(p, slice) else p)
    return tuple(basic), tuple(rest)


def _np_setitem(arr, idx, value):
    """arr[idx] = value with PyTorch's placement of the indexed dims (see _split_ints)."""
    split = _split_ints(idx)
    if split is None:
        arr[idx] = value
    else:
        arr[split[0]][split[1]] = value


def _getitem_bwd(node, g):
    idx, shape = node.ctx
    if _engine_into.slab:
        s = _slab_of(idx, shape)
        if s is not None:
            return (Slab(g, s[0], s[1], s[2], shape, s[3]),)
    return (_index_backward(g, idx, shape),)


def _slab_of(idx, shape):
    """(dim, lo, hi, squeezed) when the basic index idx selects the slab [lo, hi) of one
    dimension of an array of `shape` (every other dimension whole; an int index gives a
    slab of one, squeezed), else None."""
    parts = idx if type(idx) is tuple else (idx,)
    if len(parts) > len(shape):
        return None
    dim = lo = hi = None
    squeezed = False
    for d, p in enumerate(parts):
        n = shape[d]
        if type(p) is slice:
            a, b, st = p.indices(n)
            if st != 1:
                return None
            if a == 0 and b >= n:
                continue
            b = max(a, b)
        elif type(p) is int:
            a = p + n if p < 0 else p
            b = a + 1
            squeezed = True
        else:                           # None, Ellipsis, arrays: not one slab
            return None
        if dim is not None:
            return None
        dim, lo, hi = d, a, b
    if dim is None:
        return (0, 0, shape[0], False) if shape else None
    return dim, lo, hi, squeezed


declare(_getitem_bwd, linear=lambda node, t, out: getitem(t, node.ctx[0]))


@public(dunder=("__getitem__",))
def getitem(x: Tensor, idx) -> Tensor:
    """x[idx]: basic indices give a view (sharing memory and version counter); advanced
    ones a copy.  Negative indices (and negative slice steps) count from the end."""
    if (type(x) is not Tensor and not isinstance(x, Tensor)):
        raise TypeError(f"index: expected a Tensor, got {type(x).__name__}")
    if type(idx) is int:
        keep = ()                        # one int: always a basic index
    else:
        keep = _index_tensors(idx)
        idx = _index_arg(idx, "index")
    if type(idx) is not int and not _is_basic(idx):
        split = _split_ints(idx)
        if split is not None:            # PyTorch applies int indices first, as a view
            return _advanced_index(getitem(x, split[0]), split[1], keep)
        return _advanced_index(x, idx, keep)
    try:
        out = x._data[idx]
        if not isinstance(out, np.ndarray):       # all ints: keep a 0-d view, not a copy
            out = x._data[(idx if isinstance(idx, tuple) else (idx,)) + (Ellipsis,)]
    except IndexError as e:
        raise IndexError(f"index: {e} (tensor shape {tuple(x._data.shape)})") from None
    if x.requires_grad and grad_mode.enabled:
        t = _view(_record(out, "index", _getitem_bwd, (x,), (), None, (idx, x._data.shape)), x)
    else:
        t = _view(_make(out), x)
    if t._base is x:                     # lets an in-place op on t rebase x (see below)
        t._vidx = (x, idx)
    return t


def _index_backward_bwd(node, g):
    idx, shape = node.ctx
    return (getitem(g, idx),)


declare(_index_backward_bwd,
        linear=lambda node, t, out: _index_backward(t, node.ctx[0], out._data.shape))


def _index_backward(g, idx, shape):
    """Zeros of `shape` with g written at the basic index idx."""
    out = _zeros(shape, g._data.dtype)
    out[idx] = g._data
    if _hooks.numpy_assemble is not None:
        _hooks.numpy_assemble(out, [(idx, g._data)], 0.0, "index_backward")
    if _needs(g):
        return _record(out, "index_backward", _index_backward_bwd, (g,), (), None, (idx, g._data.shape))
    return _make(out)


def _advanced_index(x, idx, keep=()):
    parts = idx if isinstance(idx, tuple) else (idx,)
    sh = x._data.shape
    arrays = [k for k, p in enumerate(parts) if isinstance(p, np.ndarray)]
    if len(parts) == 1 and parts[0].dtype == np.bool_ and parts[0].ndim >= 1:
        m = parts[0]
        if m.shape != sh[:m.ndim]:
            raise IndexError(f"index: the shape of the mask {tuple(m.shape)} does not match the "
                             f"shape of the indexed tensor {tuple(sh)} in its first {m.ndim} dimensions")
        if m.ndim == x._data.ndim:
            return _masked_select(x, m, keep)
        rows = np.flatnonzero(m)
        return _index_select(reshape(x, (-1,) + sh[m.ndim:]), 0, rows, False, "index", keep)
    if len(arrays) == 1 and parts[arrays[0]].dtype != np.bool_:
        k = arrays[0]
        others = [p for p in parts if not isinstance(p, np.ndarray)]
        ell = [i for i, p in enumerate(parts) if p is Ellipsis]
        if len(ell) <= 1 and all(p is Ellipsis or (isinstance(p, slice) and p == slice(None)) for p in others):
            d = k if (not ell or k < ell[0]) else x._data.ndim - (len(parts) - k)
            if 0 <= d < x._data.ndim and len(parts) - len(ell) <= x._data.ndim:
                a = parts[k]
                out = _index_select(x, d, a.reshape(-1), True, "index", keep)
                return reshape(out, sh[:d] + a.shape + sh[d + 1:])
    lin = np.arange(x._data.size, dtype=np.int64).reshape(sh)
    try:
        lin = np.asarray(lin[idx])
    except IndexError as e:
        raise IndexError(f"index: {e} (tensor shape {tuple(sh)})") from None
    return reshape(_index_select(reshape(x, -1), 0, lin.reshape(-1), False, "index", keep),
                   lin.shape)


def _isel_bwd(node, g):
    d, idx, n, wrap = node.ctx
    return (_index_add_zeros(g, d, idx, n, wrap, node.saved),)


@jvp_rule(_isel_bwd)
def _isel_jvp(node, xs, ts, out):
    d, idx, n, wrap = node.ctx
    return _index_select(ts[0], d, idx, wrap, "index_select")


def _index_select(x, d, idx, wrap, who, keep=()):
    """Slices of x along d at idx; `keep`: the index Tensors backward version-checks."""
    out = _kern(x._data).index_select(x._data, d, idx, wrap, who)
    if _needs(x):
        return _record(out, "index_select" if who == "index_select" else "index", _isel_bwd, (x,),
                       keep, ctx=(d, idx, x._data.shape[d], wrap))
    return _make(out)


def _iadd_bwd(node, g):
    d, idx, wrap = node.ctx
    return (_index_select(g, d, idx, wrap, "index_select", node.saved),)


@jvp_rule(_iadd_bwd)
def _iadd_jvp(node, xs, ts, out):
    d, idx, wrap = node.ctx
    return _index_add_zeros(ts[0], d, idx, out._data.shape[d], wrap)


def _index_add_zeros(g, d, idx, n, wrap, keep=()):
    """Zeros with g's shape except n along d, g's slices added at idx (repeats add)."""
    shape = list(g._data.shape)
    shape[d] = n
    out = np.zeros(shape, dtype=g._data.dtype)
    _kern(out).index_add(out, d, idx, g._data, wrap, "index_backward")
    if _needs(g):
        return _record(out, "index_add", _iadd_bwd, (g,), keep, ctx=(d, idx, wrap))
    return _make(out)


def _msel_bwd(node, g):
    return (_masked_expand(g, node.ctx, node.saved),)


declare(_msel_bwd, linear=lambda node, t, out: _masked_select(t, node.ctx))


def _masked_select(x, m, keep=()):
    out = _kern(x._data).masked_select(x._data, m, "index")
    if _needs(x):
        return _record(out, "masked_select", _msel_bwd, (x,), keep, ctx=m)
    return _make(out)


def _mexp_bwd(node, g):
    return (_masked_select(g, node.ctx, node.saved),)


declare(_mexp_bwd, linear=lambda node, t, out: _masked_expand(t, node.ctx))


def _masked_expand(g, m, keep=()):
    out = _kern(g._data).masked_expand(g._data, m, "index_backward")
    if _needs(g):
        return _record(out, "masked_expand", _mexp_bwd, (g,), keep, ctx=m)
    return _make(out)


# ---- gather / scatter / index_select ---------------------------------------------------------
def _index_tensor(index, who):
    if (type(index) is Tensor or isinstance(index, Tensor)):
        a = index._data
    elif isinstance(index, (list, tuple, np.ndarray, int, np.integer)):
        a = _index_copy(index, who)     # a copy: see _idx_array
    else:
        raise TypeError(f"{who}: index must be an int64 tensor, got {type(index).__name__}")
    if a.dtype != np.int64:
        if a.dtype.kind in "iu" and a.dtype != np.uint64:
            return a.astype(np.int64)
        if a.size == 0 and a.dtype.kind == "f" and (type(index) is not Tensor and not isinstance(index, Tensor)):
            return a.astype(np.int64)
        raise TypeError(f"{who}: index must be an int64 tensor, got {a.dtype}")
    return a


@public(method=True)
def index_select(input: Tensor, dim: Dims, index: Tensor) -> Tensor:
    """Slices of input along dim picked by a 1-d int64 index (repeats allowed; they
    accumulate in backward).  Negative indices are an error, as in PyTorch."""
    x = input if (type(input) is Tensor or isinstance(input, Tensor)) else _to_tensor(input, "index_select")
    idx = _index_tensor(index, "index_select")
    if idx.ndim > 1:
        raise ShapeError(f"index_select: index must be 1-d or 0-d, got shape {tuple(idx.shape)}")
    if x._data.ndim == 0:
        _norm_dim(dim, 0, "index_select")
        out = _index_select(reshape(x, 1), 0, idx.reshape(-1), False, "index_select",
                            _index_tensors(index))
        return reshape(out, idx.shape)
    d = _norm_dim(dim, x._data.ndim, "index_select")
    return _index_select(x, d, idx.reshape(-1), False, "index_select", _index_tensors(index))


def _gather_bwd(node, g):
    d, idx, shape = node.ctx
    return (_scatter_add_zeros(g, d, idx, shape, node.saved),)


@jvp_rule(_gather_bwd)
def _gather_jvp(node, xs, ts, out):
    d, idx, shape = node.ctx
    return _gather(ts[0], d, idx)


def _gather(x, d, idx, who="gather", keep=()):
    """x's values at idx along d; `keep`: the index Tensors backward version-checks."""
    out = _kern(x._data).gather(x._data, d, idx, who)
    if _needs(x):
        return _record(out, "gather", _gather_bwd, (x,), keep, ctx=(d, idx, x._data.shape))
    return _make(out)


def _block(shape, idx, d):
    """Slices of an array of `shape` covering idx's extent in every dim but d (None if
    idx already spans it)."""
    if all(shape[k] == idx.shape[k] for k in range(len(shape)) if k != d):
        return None
    return tuple(slice(None) if k == d else slice(0, idx.shape[k]) for k in range(len(shape)))


def _scatter_into(out, d, idx, src, accumulate, who):
    """out (dense, modified) += / = src at idx along d; idx may cover a leading block."""
    blk = _block(out.shape, idx, d)
    if blk is None:
        _kern(out).scatter_add(out, d, idx, src, accumulate, who)
    else:
        sub = np.ascontiguousarray(out[blk])
        _kern(sub).scatter_add(sub, d, idx, src, accumulate, who)
        out[blk] = sub


def _sadd0_bwd(node, g):
    d, idx = node.ctx
    return (_gather(g, d, idx, "gather", node.saved),)


@jvp_rule(_sadd0_bwd)
def _sadd0_jvp(node, xs, ts, out):
    d, idx = node.ctx
    return _scatter_add_zeros(ts[0], d, idx, out._data.shape)


def _scatter_add_zeros(g, d, idx, shape, keep=()):
    out = np.zeros(shape, dtype=g._data.dtype)
    _scatter_into(out, d, idx, g._data, True, "gather_backward")
    if _needs(g):
        return _record(out, "scatter_add", _sadd0_bwd, (g,), keep, ctx=(d, idx))
    return _make(out)


def _scatter_check(x, dim, idx, src, who):
    nd = x._data.ndim
    d = _norm_dim(dim, nd, who)
    if idx.ndim != nd:
        raise ShapeError(f"{who}: index has {idx.ndim} dimensions but input has {nd}; they must "
                         "have the same number of dimensions")
    if src is not None and src._data.ndim != nd:
        raise ShapeError(f"{who}: src has {src._data.ndim} dimensions but input has {nd}")
    for k in range(nd):
        if k != d and idx.shape[k] > x._data.shape[k]:
            raise ShapeError(f"{who}: index shape {tuple(idx.shape)} is larger than input shape "
                             f"{tuple(x._data.shape)} in dimension {k}")
        if src is not None and idx.shape[k] > src._data.shape[k]:
            raise ShapeError(f"{who}: index shape {tuple(idx.shape)} is larger than src shape "
                             f"{tuple(src._data.shape)} in dimension {k}")
    if src is not None and src._data.ndim != nd:
        raise ShapeError(f"{who}: src has {src._data.ndim} dimensions but input has {nd}")
    return d


@public(method=True)
def gather(input: Tensor, dim: Dims, index: Tensor) -> Tensor:
    """``out[i][j][k] = input[i][index[i][j][k]][k]`` (dim=1); out has index's shape."""
    x = input if (type(input) is Tensor or isinstance(input, Tensor)) else _to_tensor(input, "gather")
    idx = _index_tensor(index, "gather")
    if x._data.ndim == 0:
        if idx.ndim != 0:
            raise ShapeError(f"gather: index has {idx.ndim} dimensions but input has 0")
        _norm_dim(dim, 0, "gather")
        return reshape(_gather(reshape(x, 1), 0, idx.reshape(1), "gather", _index_tensors(index)),
                       ())
    d = _scatter_check(x, dim, idx, None, "gather")
    return _gather(x, d, idx, "gather", _index_tensors(index))


def _scatter_bwd(node, g):
    d, idx, acc = node.ctx
    keep = node.saved
    gx = None
    if node.edges[0] is not None:
        gx = g if acc else _scatter_value(g, d, idx, None, 0.0, False, keep)
    gs = (_gather(g, d, idx, "gather", keep) if len(node.edges) > 1 and node.edges[1] is not None
          else None)
    return (gx, gs)


@jvp_rule(_scatter_bwd)
def _scatter_jvp(node, xs, ts, out):
    d, idx, acc = node.ctx
    tx = _zeros_of(xs[0]) if ts[0] is None else ts[0]
    if len(xs) == 1:            # a scalar value was written: zero tangent there
        return _scatter_value(tx, d, idx, None, 0.0, False)
    return _scatter_value(tx, d, idx, _zeros_of(xs[1]) if ts[1] is None else ts[1], None, acc)


def _scatter_value(x, d, idx, src, value, acc, keep=()):
    who = "scatter_add" if acc else "scatter"
    xd = x._data
    out = (backend.k.copy(xd) if xd.dtype in (np.float32, np.float64)
           else np.array(xd, order="C"))
    if src is not None:
        if src._data.shape != idx.shape:
            src = getitem(src, tuple(slice(0, s) for s in idx.shape))
        _scatter_into(out, d, idx, src._data, acc, who)
        inputs = (x, src)
    else:
        _scatter_into(out, d, idx, np.full(idx.shape, value, dtype=out.dtype), acc, who)
        inputs = (x,)
    if _needs(*inputs):
        return _record(out, who, _scatter_bwd, inputs, keep, ctx=(d, idx, acc))
    return _make(out)


def _scatter_src(x, src, who):
    if (type(src) is not Tensor and not isinstance(src, Tensor)):
        raise TypeError(f"{who}: src must be a Tensor, got {type(src).__name__}")
    if src._data.dtype != x._data.dtype:
        raise DtypeError(f"{who}: src dtype {src._data.dtype} does not match input dtype {x._data.dtype}")
    return src


@public(method=True)
def scatter_add(input: Tensor, dim: Dims, index: Tensor, src) -> Tensor:
    """A copy of input with ``src[i][j][k]`` added at ``input[i][index[i][j][k]][k]`` (dim=1);
    repeated indices accumulate."""
    x = input if (type(input) is Tensor or isinstance(input, Tensor)) else _to_tensor(input, "scatter_add")
    idx = _index_tensor(index, "scatter_add")
    src = _scatter_src(x, src, "scatter_add")
    if x._data.ndim == 0:
        raise ArgumentError("scatter_add: input must have at least one dimension")
    d = _scatter_check(x, dim, idx, src, "scatter_add")
    return _scatter_value(x, d, idx, src, None, True, _index_tensors(index))


@public(method=True)
def scatter(input: Tensor, dim: Dims, index: Tensor, src: Optional[Tensor] = None, value=None, reduce=None) -> Tensor:
    """A copy of input with src (a tensor, or the scalar `value`) written at index along
    dim.  With repeated indices the last write (in memory order) wins, and src's gradient
    is gathered at every position (PyTorch leaves both undefined).  reduce="add" or
    "multiply" combines instead of writing (no gradient, as in PyTorch)."""
    if src is not None and not isinstance(src, Tensor):
        src, value = None, src
    if src is None and value is None:
        raise ArgumentError("scatter: give src (a tensor) or value (a number)")
    if reduce is not None:
        return _scatter_reduce_legacy(input, dim, index, src, value, reduce)
    x = input if (type(input) is Tensor or isinstance(input, Tensor)) else _to_tensor(input, "scatter")
    idx = _index_tensor(index, "scatter")
    if x._data.ndim == 0:
        raise ArgumentError("scatter: input must have at least one dimension")
    if src is not None:
        src = _scatter_src(x, src, "scatter")
    d = _scatter_check(x, dim, idx, src, "scatter")
    return _scatter_value(x, d, idx, src, value, False, _index_tensors(index))


# ---- scatter_reduce and scatter(reduce=) -----------------------------------------------------
# Computed by NumPy's unbuffered ufunc.at on the flat positions each index entry writes
# to; the gradients follow PyTorch's formulas, written with fastgrad ops (scatter_reduce
# itself, gather, scatter_add), so they are differentiable again.
_SR_UFUNC = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum}


def _sr_identity(reduce, dtype):
    if reduce in ("sum", "mean"):
        return 0
    if reduce == "prod":
        return 1
    big = np.inf if dtype.kind == "f" else np.iinfo(dtype).max if dtype.kind in "iu" else True
    return -big if reduce == "amax" else big


def _sr_forward(xa, d, idx, sa, reduce, include_self, who):
    """(out, received, counts): the reduced array, where some index entry wrote, and how
    many values each position reduced (include_self counts the input's own)."""
    coords = np.indices(idx.shape, dtype=np.int64)
    coords[d] = idx
    if idx.size and (idx.min() < 0 or idx.max() >= xa.shape[d]):
        bad = idx.min() if idx.min() < 0 else idx.max()
        raise IndexError(f"{who}: index {bad} is out of bounds for dimension {d} with size {xa.shape[d]}")
    flat = np.ravel_multi_index(tuple(coords), xa.shape).reshape(-1)
    vals = sa[tuple(slice(0, k) for k in idx.shape)].reshape(-1)
    out = np.array(xa, order="C", copy=True).reshape(-1)
    received = np.zeros(out.size, bool)
    received[flat] = True
    if not include_self:
        out[received] = _sr_identity(reduce, xa.dtype)
    _SR_UFUNC[reduce].at(out, flat, vals)
    counts = np.bincount(flat, minlength=out.size) + (1 if include_self else 0)
    if reduce == "mean":
        c = np.maximum(counts, 1).astype(out.dtype)
        out = out / c if out.dtype.kind == "f" else np.floor_divide(out, c)
    return out.reshape(xa.shape), received.reshape(xa.shape), counts.reshape(xa.shape)


def _scatter_reduce_bwd(node, g):
    x, src = node.saved[:2]
    d, idx, reduce, include_self, received, counts = node.ctx
    zero = _scalar(0.0, g._data.dtype)
    rec = _make(received)
    keep_self = None if include_self else logical_not(rec)
    if reduce in ("sum", "mean"):
        if reduce == "mean":
            g = div(g, _make(np.maximum(counts, 1).astype(g._data.dtype)))
        gx = g if include_self else where(rec, zero, g)
        return gx, _gather(g, d, idx)
    out = node.output()
    if reduce in ("amax", "amin"):
        self_is = to(eq(x, out) if include_self else keep_self, g._data.dtype)
        src_is = to(eq(src, _gather(out, d, idx)), g._data.dtype)
        gd = div(g, scatter_add(self_is, d, idx, src_is))
        return mul(self_is, gd), mul(src_is, _gather(gd, d, idx))
    one = _scalar(1.0, g._data.dtype)
    masked_self = where(eq(x, 0.0), one, x)
    gx = div(mul(g, scatter_reduce(masked_self, d, idx, src, "prod", include_self=include_self)), masked_self)
    if not include_self:
        gx = where(rec, zero, g)
    src_zero = eq(src, 0.0)
    nz = _gather(scatter_add(_zeros_of(x), d, idx, to(src_zero, g._data.dtype)), d, idx)
    single = logical_and(src_zero, eq(nz, 1.0))
    alone = scatter_reduce(x, d, idx, where(single, one, src), "prod", include_self=include_self)
    gs = where(single, _gather(mul(g, alone), d, idx),
               div(_gather(mul(g, out), d, idx), where(src_zero, one, src)))
    return gx, gs


@jvp_rule(_scatter_reduce_bwd)
def _scatter_reduce_jvp(node, xs, ts, out):
    # each output element depends on its own input element and the src elements written
    # to it: the backward of ones gives those partials
    x, src = xs
    d, idx = node.ctx[0], node.ctx[1]
    cx, cs = _scatter_reduce_bwd(node, _make(np.ones(out._data.shape, out._data.dtype)))
    tan = _zeros_of(out) if ts[0] is None else mul(cx, ts[0])
    if ts[1] is not None:
        tan = scatter_add(tan, d, idx, mul(cs, ts[1]))
    return tan


_SR_REDUCES = ("sum", "prod", "mean", "amax", "amin")


@public(method=True)
def scatter_reduce(input: Tensor, dim: Dims, index: Tensor, src, reduce, *, include_self: bool = True) -> Tensor:
    """A copy of input where every src[i][j][k] is reduced into position
    input[i][index[i][j][k]][k] (dim=1) with ``reduce`` ("sum", "prod", "mean", "amax",
    "amin"); include_self=False leaves input's own values out of the positions written
    to.  Gradients as in PyTorch (amax/amin share the gradient among equal values)."""
    who = "scatter_reduce"
    if reduce not in _SR_REDUCES:
        raise ArgumentError(f"{who}: reduce must be one of {_SR_REDUCES}, got {reduce!r}")
    x = input if isinstance(input, Tensor) else _to_tensor(input, who)
    idx = _index_tensor(index, who)
    src = _scatter_src(x, src, who)
    if x._data.ndim == 0:
        if idx.ndim or src._data.ndim:
            raise ShapeError(f"{who}: input is 0-d, so index and src must be 0-d too (got shapes "
                             f"{tuple(idx.shape)} and {tuple(src._data.shape)})")
        x1 = reshape(x, 1)
        out = scatter_reduce(x1, 0, idx.reshape(1), reshape(src, 1), reduce, include_self=include_self)
        return reshape(out, ())
    d = _scatter_check(x, dim, idx, src, who)
    out, received, counts = _sr_forward(x._data, d, idx, src._data, reduce, include_self, who)
    if x._data.dtype.kind == "f" and _needs(x, src):
        if src._data.shape != idx.shape:
            src = getitem(src, tuple(slice(0, k) for k in idx.shape))
        return _record(out, who, _scatter_reduce_bwd, (x, src), (x, src) + _index_tensors(index),
                       out if reduce in ("amax", "amin", "prod") else None,
                       (d, idx, reduce, include_self, received, counts))
    return _make(out)


def _scatter_nograd_bwd(node, g):
    raise RuntimeError(f"scatter: the derivative of scatter with reduce={node.ctx!r} is not "
                       "implemented (as in PyTorch); use scatter_reduce")


@jvp_rule(_scatter_nograd_bwd)
def _scatter_nograd_jvp(node, xs, ts, out):
    raise RuntimeError(f"scatter: the derivative of scatter with reduce={node.ctx!r} is not "
                       "implemented (as in PyTorch); use scatter_reduce")


def _scatter_reduce_legacy(x, dim, index, src, value, reduce):
    red = {"add": "sum", "multiply": "prod"}.get(reduce)
    if red is None:
        raise ShapeError(f"scatter: reduce must be 'add' or 'multiply', got {reduce!r}")
    x = x if isinstance(x, Tensor) else _to_tensor(x, "scatter")
    idx = _index_tensor(index, "scatter")
    if x._data.ndim == 0:
        raise ArgumentError("scatter: input must have at least one dimension")
    if src is None:
        src = _make(np.full(idx.shape, value, dtype=x._data.dtype))
    src = _scatter_src(x, src, "scatter")
    d = _scatter_check(x, dim, idx, src, "scatter")
    out, _, _ = _sr_forward(x._data, d, idx, src._data, red, True, "scatter")
    if _needs(x, src):
        return _record(out, "scatter", _scatter_nograd_bwd, (x, src), ctx=reduce)
    return _make(out)


# ---- fill_diagonal_ ---------------------------------------------------------------------------
@public(method=True, export=False)
def fill_diagonal_(input, fill_value, wrap=False):
    """Write fill_value on the main diagonal (all dims of equal size beyond 2-d), in place;
    wrap=True restarts the diagonal every n + 1 rows of a tall matrix.  The overwritten
    elements get a zero gradient."""
    x = input
    if not isinstance(x, Tensor):
        raise TypeError(f"fill_diagonal_: expected a Tensor, got {type(x).__name__}")
    sh = x._data.shape
    if len(sh) < 2 or (len(sh) > 2 and len(set(sh)) != 1):
        raise ShapeError(f"fill_diagonal_: input must be 2-d, or have all dims of equal size, got shape {sh}")
    mask = np.zeros(sh, bool)
    np.fill_diagonal(mask, True, wrap=wrap)
    v = _scalar(np.asarray(fill_value).astype(x._data.dtype).item(), x._data.dtype)
    return copy_(x, where(_make(mask), v, x))


# ---- nonzero, argwhere, masked_select --------------------------------------------------------
@public(method=True)
def nonzero(input: Tensor, *, as_tuple: bool = False) -> Any:
    """The indices of the non-zero elements: an int64 tensor of shape (n, ndim), or with
    as_tuple=True one 1-d tensor per dim (a 0-d input counts as 1-d)."""
    a = _to_tensor(input, "nonzero")._data
    if as_tuple:
        return tuple(_make(np.asarray(i, np.int64)) for i in np.nonzero(a.reshape(-1) if a.ndim == 0 else a))
    return _make(np.argwhere(a).astype(np.int64))


@public(method=True)
def argwhere(input: Tensor) -> Tensor:
    """nonzero(input): the (n, ndim) indices of the non-zero elements."""
    return nonzero(input)


@public(method=True)
def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The elements of input where the bool mask is True (both broadcast), as a 1-d
    tensor in row-major order; the gradient goes back to those positions."""
    x = _to_tensor(input, "masked_select")
    if not isinstance(mask, Tensor) or mask._data.dtype != bool_:
        raise TypeError(f"masked_select: mask must be a bool tensor, got "
                        f"{mask._data.dtype if isinstance(mask, Tensor) else type(mask).__name__}")
    try:
        shape = np.broadcast_shapes(x._data.shape, mask._data.shape)
    except ValueError:
        raise ShapeError(f"masked_select: mask shape {tuple(mask._data.shape)} and input shape "
                         f"{tuple(x._data.shape)} cannot be broadcast") from None
    m = np.ascontiguousarray(np.broadcast_to(mask._data, shape))
    if x._data.shape != shape:
        x = expand(x, shape)
    if x._data.dtype.kind != "f":
        return _make(np.ascontiguousarray(x._data).reshape(-1)[m.reshape(-1)])
    if not shape:
        return getitem(reshape(x, 1), m.reshape(1))
    return _masked_select(contiguous(x), m, _index_tensors(mask))


@public(method=True)
def take_along_dim(input: Tensor, indices: Tensor, dim: Optional[Dims] = None) -> Tensor:
    """Values of input at indices along dim; input and indices broadcast in the other
    dims.  dim=None: indices into the flattened input."""
    x = input if (type(input) is Tensor or isinstance(input, Tensor)) else _to_tensor(input, "take_along_dim")
    idx = _index_tensor(indices, "take_along_dim")
    keep = _index_tensors(indices)
    if dim is None:
        return _gather(reshape(x, -1), 0, idx.reshape(-1), "take_along_dim", keep)
    nd = x._data.ndim
    d = _norm_dim(dim, nd, "take_along_dim")
    if idx.ndim != nd:
        raise ArgumentError(f"take_along_dim: input and indices must have the same number of "
                         f"dimensions, got {nd} and {idx.ndim}")
    xs, ish = list(x._data.shape), list(idx.shape)
    for k in range(nd):
        if k == d:
            continue
        if xs[k] != ish[k] and xs[k] != 1 and ish[k] != 1:
            raise ShapeError(f"take_along_dim: input shape {tuple(x._data.shape)} and indices shape "
                             f"{tuple(idx.shape)} cannot be broadcast in dimension {k}")
        xs[k] = ish[k] = _max(xs[k], ish[k])
    if tuple(xs) != x._data.shape:
        x = expand(x, tuple(xs))
    if tuple(ish) != idx.shape:
        idx = np.broadcast_to(idx, tuple(ish))
    return _gather(x, d, idx, "take_along_dim", keep)


@public(method=True)
def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:
    """input with value written where the bool mask (broadcast) is True."""
    x = input if (type(input) is Tensor or isinstance(input, Tensor)) else _to_tensor(input, "masked_fill")
    if not isinstance(mask, Tensor) or mask._data.dtype != bool_:
        raise DtypeError(f"masked_fill: mask must be a bool tensor, got "
                        f"{mask._data.dtype if isinstance(mask, Tensor) else type(mask).__name__}")
    if (type(value) is Tensor or isinstance(value, Tensor)):
        if value._data.ndim:
            raise ShapeError(f"masked_fill: only a 0-d value tensor is accepted, got shape "
                             f"{tuple(value._data.shape)}")
        v = value if value._data.dtype == x._data.dtype else to(value, x._data.dtype)
    else:
        v = _scalar(np.asarray(value).astype(x._data.dtype).item(), x._data.dtype)
    try:
        np.broadcast_shapes(mask._data.shape, x._data.shape)
    except ValueError:
        raise ShapeError(f"masked_fill: mask shape {tuple(mask._data.shape)} cannot be broadcast "
                         f"to input shape {tuple(x._data.shape)}") from None
    if x._data.dtype.kind != "f":
        return _make(np.where(mask._data, v._data, x._data))
    return where(mask, v, x)


@public
def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding: shape tensor.shape + (num_classes,)."""
    if not isinstance(tensor, Tensor) or tensor._data.dtype != np.int64:
        raise DtypeError("one_hot: expected an int64 tensor, got "
                        f"{tensor._data.dtype if isinstance(tensor, Tensor) else type(tensor).__name__}")
    a = tensor._data
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < -1:
        raise ArgumentError(f"one_hot: num_classes must be -1 (infer) or a non-negative int, got {num_classes!r}")
    if num_classes == -1:
        if a.size == 0:
            raise ArgumentError("one_hot: cannot infer the number of classes from an empty tensor; "
                             "pass num_classes")
        num_classes = int(a.max()) + 1
    if a.size:
        lo, hi = int(a.min()), int(a.max())
        if lo < 0:
            raise ArgumentError(f"one_hot: class values must be non-negative, got {lo}")
        if hi >= num_classes:
            raise ArgumentError(f"one_hot: class value {hi} is out of range for num_classes={num_classes}")
    if _max(a.size, 1) * num_classes * 8 > 2 ** 62:     # an empty result too (its shape)
        raise ShapeError(f"one_hot: the result of shape {tuple(a.shape) + (num_classes,)} "
                         f"({a.size * num_classes} elements) is larger than any array that can be allocated")
    try:
        out = np.zeros(a.size * num_classes, dtype=np.int64)
    except MemoryError:
        raise MemoryError(f"one_hot: cannot allocate the result of shape {tuple(a.shape) + (num_classes,)} "
                          f"({a.size * num_classes * 8} bytes): out of memory") from None
    out[np.arange(a.size) * num_classes + a.reshape(-1)] = 1
    return _make(out.reshape(a.shape + (num_classes,)))


__all__ = exports(__name__)


# ops of other kinds, bound once this module's own names exist (the kinds call each other)
from fastgrad.ops.elementwise import div, eq, logical_and, logical_not, mul, where
from fastgrad.ops.inplace import copy_
from fastgrad.ops.shape import _view, contiguous, expand, reshape
