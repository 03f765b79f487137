"""Shape, linear-algebra and reduction functions of PyTorch that fastgrad composes from its
own differentiable ops: ``swapaxes``, ``ravel``, the ``*stack`` and ``atleast_*`` families,
``fliplr``/``flipud``/``rot90``, ``diff``, ``trace``, ``tensordot``, ``inner``, ``kron``,
``cross``, ``broadcast_tensors``, ``tensor_split`` and ``hsplit``/``vsplit``/``dsplit``,
``take``, ``nansum``/``nanmean``, ``count_nonzero``, ``aminmax``, ``diagflat``,
``cartesian_prod``; and the integer-valued ``isin``, ``bucketize``, ``tril_indices``,
``triu_indices``, ``broadcast_shapes``.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from fastgrad._tensor import Tensor
from fastgrad.ops._record import _EXPORTS, METHODS, _make, _to_tensor, exports, public


def _t(x, who):
    if type(x) is not Tensor and not isinstance(x, Tensor):
        raise TypeError(f"{who}: expected a Tensor, got {type(x).__name__}")
    return x


def _dim(d, n, who):
    m = max(n, 1)
    if not -m <= d < m:
        raise IndexError(f"{who}: dimension {d} is out of range for a tensor of {n} dimensions")
    return d + m if d < 0 else d


# ---- axes ------------------------------------------------------------------------------------
@public(aliases=("swapdims",), method=True)
def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:
    """``transpose(input, axis0, axis1)`` (NumPy's name; a view)."""
    x = _t(input, "swapaxes")
    n = x._data.ndim
    return transpose(x, _dim(axis0, n, "swapaxes"), _dim(axis1, n, "swapaxes"))


@public(method=True)
def ravel(input: Tensor) -> Tensor:
    """The tensor flattened to 1-d (a view when it is contiguous)."""
    return reshape(_t(input, "ravel"), -1)


# ---- atleast / stacks ------------------------------------------------------------------------
def _atleast(n, who, tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(_atleast(n, who, (t,)) for t in tensors[0])
    if len(tensors) != 1:
        return tuple(_atleast(n, who, (t,)) for t in tensors)
    x = _t(tensors[0], who)
    d = x._data.ndim
    if d >= n:
        return x
    if n == 1 or d == 0:
        return reshape(x, (1,) * n)
    if n == 2:                         # 1-d (k,) -> (1, k)
        return unsqueeze(x, 0)
    return unsqueeze(unsqueeze(x, 0), -1) if d == 1 else unsqueeze(x, -1)


@public
def atleast_1d(*tensors):
    """Each tensor with at least 1 dimension (0-d becomes shape (1,)); a tuple for several."""
    return _atleast(1, "atleast_1d", tensors)


@public
def atleast_2d(*tensors):
    """Each tensor with at least 2 dimensions: 0-d -> (1, 1), (k,) -> (1, k)."""
    return _atleast(2, "atleast_2d", tensors)


@public
def atleast_3d(*tensors):
    """Each tensor with at least 3 dimensions: 0-d -> (1, 1, 1), (k,) -> (1, k, 1),
    (m, k) -> (m, k, 1)."""
    return _atleast(3, "atleast_3d", tensors)


def _seq(tensors, who):
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{who}: expected a sequence of Tensors, got {type(tensors).__name__}")
    if not tensors:
        raise RuntimeError(f"{who}: expects a non-empty sequence of tensors")
    return [_t(t, who) for t in tensors]


@public
def hstack(tensors) -> Tensor:
    """Concatenation along dimension 1 (dimension 0 for 1-d tensors)."""
    ts = [_atleast(1, "hstack", (t,)) for t in _seq(tensors, "hstack")]
    return cat(ts, 0 if ts[0]._data.ndim == 1 else 1)


@public(aliases=("row_stack",))
def vstack(tensors) -> Tensor:
    """Concatenation along dimension 0 of the tensors made at least 2-d."""
    return cat([_atleast(2, "vstack", (t,)) for t in _seq(tensors, "vstack")], 0)


@public
def dstack(tensors) -> Tensor:
    """Concatenation along dimension 2 of the tensors made at least 3-d."""
    return cat([_atleast(3, "dstack", (t,)) for t in _seq(tensors, "dstack")], 2)


@public
def column_stack(tensors) -> Tensor:
    """Concatenation along dimension 1 of the tensors, 0-d and 1-d ones made columns."""
    ts = []
    for t in _seq(tensors, "column_stack"):
        ts.append(reshape(t, (t._data.size, 1)) if t._data.ndim <= 1 else t)
    return cat(ts, 1)


# ---- flips -----------------------------------------------------------------------------------
@public(method=True)
def fliplr(input: Tensor) -> Tensor:
    """The tensor flipped along dimension 1 (left/right); at least 2-d."""
    if _t(input, "fliplr")._data.ndim < 2:
        raise RuntimeError("fliplr: input must be >= 2-d")
    return flip(input, (1,))


@public(method=True)
def flipud(input: Tensor) -> Tensor:
    """The tensor flipped along dimension 0 (up/down); at least 1-d."""
    if _t(input, "flipud")._data.ndim < 1:
        raise RuntimeError("flipud: input must be >= 1-d")
    return flip(input, (0,))


@public(method=True)
def rot90(input: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    """The tensor rotated by 90 degrees ``k`` times in the plane of ``dims`` (from the first
    towards the second dimension)."""
    x = _t(input, "rot90")
    n = x._data.ndim
    if len(dims) != 2:
        raise RuntimeError(f"rot90: expected 2 dims, got {len(dims)}")
    if n < 2:
        raise RuntimeError(f"rot90: expected a tensor of at least 2 dimensions, got {n}")
    d0, d1 = _dim(dims[0], n, "rot90"), _dim(dims[1], n, "rot90")
    if d0 == d1:
        raise RuntimeError(f"rot90: dims must be different, got {tuple(dims)}")
    k %= 4
    if k == 1:
        return transpose(flip(x, (d1,)), d0, d1)
    if k == 2:
        return flip(x, (d0, d1))
    if k == 3:
        return flip(transpose(x, d0, d1), (d1,))
    return clone(x)


# ---- differences and linear algebra ----------------------------------------------------------
@public(method=True)
def diff(input: Tensor, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """The ``n``-th forward difference along ``dim`` (``out[i] = x[i + 1] - x[i]``), after
    concatenating ``prepend`` and ``append``.  Bool tensors give ``!=`` (logical xor)."""
    x = _t(input, "diff")
    if x._data.ndim == 0:
        raise RuntimeError("diff: expects input to be at least one-dimensional")
    d = _dim(dim, x._data.ndim, "diff")
    if n < 0:
        raise RuntimeError(f"diff: order must be non-negative but got {n}")
    if n == 0:
        return x
    parts = [p for p in (prepend, x, append) if p is not None]
    if len(parts) > 1:
        x = cat([_to_tensor(p, "diff") if not isinstance(p, Tensor) else p for p in parts], d)
    for _ in range(n):
        m = x._data.shape[d]
        if m == 0:
            break
        a, b = narrow(x, d, 1, m - 1), narrow(x, d, 0, m - 1)
        x = ne(a, b) if x._data.dtype == np.bool_ else sub(a, b)
    return x


@public(method=True)
def trace(input: Tensor) -> Tensor:
    """The sum of the main diagonal of a 2-d tensor."""
    x = _t(input, "trace")
    if x._data.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {x._data.ndim}")
    return sum(diagonal(x))


@public
def tensordot(a: Tensor, b: Tensor, dims=2, out=None) -> Tensor:
    """The contraction of ``a``'s last ``dims`` dimensions with ``b``'s first ``dims`` (an
    int), or of the dimension lists ``dims = (dims_a, dims_b)``."""
    a, b = _t(a, "tensordot"), _t(b, "tensordot")
    na, nb = a._data.ndim, b._data.ndim
    if isinstance(dims, (int, np.integer)):
        if dims < 0:
            raise RuntimeError(f"tensordot: expects dims >= 0, but got dims={dims}")
        if dims > min(na, nb):
            raise RuntimeError(f"tensordot: dims={dims} exceeds the dimensions of the inputs "
                               f"({na} and {nb})")
        da, db = list(range(na - dims, na)), list(range(dims))
    else:
        da, db = dims
        da = [da] if isinstance(da, int) else list(da)
        db = [db] if isinstance(db, int) else list(db)
        if len(da) != len(db):
            raise RuntimeError("tensordot: both dimension lists should have the same length")
        da = [_dim(d, na, "tensordot") for d in da]
        db = [_dim(d, nb, "tensordot") for d in db]
    for i, j in zip(da, db):
        if a._data.shape[i] != b._data.shape[j]:
            raise RuntimeError(f"tensordot: contracted dimensions need to match, but first has "
                               f"size {a._data.shape[i]} in dim {i} and second has size "
                               f"{b._data.shape[j]} in dim {j}")
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    la = list(letters[:na])
    lb = list(letters[na:na + nb])
    for i, j in zip(da, db):
        lb[j] = la[i]
    lo = [la[i] for i in range(na) if i not in da] + [lb[j] for j in range(nb) if j not in db]
    return einsum(f"{''.join(la)},{''.join(lb)}->{''.join(lo)}", a, b)


@public(method=True)
def inner(input: Tensor, other: Tensor) -> Tensor:
    """The inner product over the last dimension (a product with a 0-d tensor scales)."""
    a, b = _t(input, "inner"), _t(other, "inner")
    if a._data.ndim == 0 or b._data.ndim == 0:
        return mul(a, b)
    if a._data.shape[-1] != b._data.shape[-1]:
        raise RuntimeError(f"inner: last dimension of the inputs must match, got "
                           f"{tuple(a._data.shape)} and {tuple(b._data.shape)}")
    return tensordot(a, b, ([-1], [-1]))


@public(method=True)
def kron(input: Tensor, other: Tensor) -> Tensor:
    """The Kronecker product: block (i, j, ...) is ``input[i, j, ...] * other``."""
    a, b = _t(input, "kron"), _t(other, "kron")
    n = max(a._data.ndim, b._data.ndim)
    a = reshape(a, (1,) * (n - a._data.ndim) + a._data.shape)
    b = reshape(b, (1,) * (n - b._data.ndim) + b._data.shape)
    ai = reshape(a, tuple(s for d in a._data.shape for s in (d, 1)))
    bi = reshape(b, tuple(s for d in b._data.shape for s in (1, d)))
    return reshape(mul(ai, bi), tuple(p * q for p, q in zip(a._data.shape, b._data.shape)))


@public(method=True)
def cross(input: Tensor, other: Tensor, dim=None) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (default: the first dimension of size 3
    after broadcasting, as in torch.cross)."""
    a, b = _t(input, "cross"), _t(other, "cross")
    if a._data.ndim != b._data.ndim:
        raise RuntimeError(f"cross: inputs must have the same number of dimensions, got "
                           f"{tuple(a._data.shape)} and {tuple(b._data.shape)}")
    if a._data.ndim == 0:
        raise RuntimeError("cross: inputs must have a dimension of size 3, got 0-d tensors")
    try:
        shape = np.broadcast_shapes(a._data.shape, b._data.shape)
    except ValueError:
        raise RuntimeError(f"cross: shapes {tuple(a._data.shape)} and {tuple(b._data.shape)} "
                           "cannot be broadcast") from None
    if dim is None:
        cands = [i for i, s in enumerate(shape) if s == 3]
        if not cands:
            raise RuntimeError(f"cross: no dimension of size 3 in input of shape {tuple(shape)}")
        d = cands[0]
    else:
        d = _dim(dim, len(shape), "cross")
        if shape[d] != 3:
            raise RuntimeError(f"cross: inputs dimension {dim} must have length 3, got {shape[d]}")
    a, b = broadcast_to(a, shape), broadcast_to(b, shape)
    a0, a1, a2 = (narrow(a, d, i, 1) for i in range(3))
    b0, b1, b2 = (narrow(b, d, i, 1) for i in range(3))
    return cat([sub(mul(a1, b2), mul(a2, b1)), sub(mul(a2, b0), mul(a0, b2)),
                sub(mul(a0, b1), mul(a1, b0))], d)


# ---- broadcasting and splitting --------------------------------------------------------------
@public
def broadcast_tensors(*tensors):
    """The tensors expanded to their common broadcast shape (views)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    ts = [_t(t, "broadcast_tensors") for t in tensors]
    try:
        shape = np.broadcast_shapes(*(t._data.shape for t in ts))
    except ValueError:
        raise RuntimeError("broadcast_tensors: shapes " + ", ".join(str(tuple(t._data.shape))
                           for t in ts) + " cannot be broadcast") from None
    return tuple(broadcast_to(t, shape) for t in ts)


def broadcast_shapes(*shapes) -> tuple:
    """The shape the given shapes broadcast to (ints count as 1-d shapes)."""
    norm = [(s,) if isinstance(s, (int, np.integer)) else tuple(s) for s in shapes]
    try:
        return tuple(int(v) for v in np.broadcast_shapes(*norm))
    except ValueError:
        raise RuntimeError(f"broadcast_shapes: shapes {norm} cannot be broadcast") from None


@public(method=True)
def tensor_split(input: Tensor, indices_or_sections, dim: int = 0):
    """Views of ``input`` split along ``dim``: into ``n`` nearly equal parts (the first
    ``size % n`` one longer) for an int, or at the given indices for a list."""
    x = _t(input, "tensor_split")
    if x._data.ndim == 0:
        raise RuntimeError("tensor_split: expected at least a 1-dimensional tensor")
    d = _dim(dim, x._data.ndim, "tensor_split")
    size = x._data.shape[d]
    ios = indices_or_sections
    if isinstance(ios, Tensor):
        ios = ios.tolist() if ios._data.ndim else int(ios.item())
    if isinstance(ios, (int, np.integer)):
        n = int(ios)
        if n <= 0:
            raise RuntimeError(f"tensor_split: number of sections must be larger than 0, got {n}")
        q, r = divmod(size, n)
        bounds = np.cumsum([0] + [q + 1] * r + [q] * (n - r))
    else:
        bounds = np.array([0] + [min(max(int(i), 0), size) for i in ios] + [size])
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        lo = min(int(lo), size)
        out.append(narrow(x, d, lo, max(int(hi) - lo, 0)))
    return tuple(out)


def _nsplit(x, ios, d, who, need):
    x = _t(x, who)
    if x._data.ndim < need:
        raise RuntimeError(f"{who}: requires a tensor with at least {need} dimension"
                           f"{'s' if need > 1 else ''}, but got a tensor with {x._data.ndim}")
    if isinstance(ios, (int, np.integer)) and (ios <= 0 or x._data.shape[d] % ios):
        raise RuntimeError(f"{who}: cannot split dimension {d} of size {x._data.shape[d]} "
                           f"into {ios} equal parts")
    return tensor_split(x, ios, d)


@public(method=True)
def hsplit(input: Tensor, indices_or_sections):
    """tensor_split along dimension 1 (0 for 1-d tensors); an int must divide the size."""
    return _nsplit(input, indices_or_sections, 1 if _t(input, "hsplit")._data.ndim > 1 else 0,
                   "hsplit", 1)


@public(method=True)
def vsplit(input: Tensor, indices_or_sections):
    """tensor_split along dimension 0 of an at least 2-d tensor."""
    return _nsplit(input, indices_or_sections, 0, "vsplit", 2)


@public(method=True)
def dsplit(input: Tensor, indices_or_sections):
    """tensor_split along dimension 2 of an at least 3-d tensor."""
    return _nsplit(input, indices_or_sections, 2, "dsplit", 3)


# ---- gathering -------------------------------------------------------------------------------
@public(method=True)
def take(input: Tensor, index: Tensor) -> Tensor:
    """The elements of ``input`` viewed as 1-d at ``index`` (any shape; negative indices
    count from the end); the result has ``index``'s shape."""
    x = _t(input, "take")
    idx = _to_tensor(index, "take")
    if idx._data.dtype.kind not in "iu":
        raise IndexError(f"take: index must be an integer tensor, got {idx.dtype}")
    n = x._data.size
    i = idx._data.astype(np.int64)
    if i.size and (i.min() < -n or i.max() >= n):
        raise IndexError(f"take: index out of range for a tensor of {n} elements")
    i = np.where(i < 0, i + n, i)
    flat = index_select(reshape(x, -1), 0, _make(np.array(i.reshape(-1), order="C")))
    return reshape(flat, i.shape)


@public(method=True)
def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """A bool tensor of ``elements``' shape: True where the element occurs in
    ``test_elements`` (either may be a number)."""
    e = elements._data if isinstance(elements, Tensor) else np.asarray(elements)
    t = test_elements._data if isinstance(test_elements, Tensor) else np.asarray(test_elements)
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError("isin: expected at least one Tensor argument")
    return _make(np.isin(e, t, invert=invert))


@public
def bucketize(input, boundaries: Tensor, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """For each element the index of its bucket in the sorted 1-d ``boundaries``:
    ``right=False`` gives the first i with ``x <= boundaries[i]``, ``right=True`` the first
    i with ``x < boundaries[i]``."""
    b = _t(boundaries, "bucketize")
    if b._data.ndim != 1:
        raise RuntimeError(f"bucketize: boundaries tensor must be 1 dimension, but got dim("
                           f"{b._data.ndim})")
    x = input._data if isinstance(input, Tensor) else np.asarray(input)
    out = np.searchsorted(b._data, x, side="right" if right else "left")
    return _make(np.asarray(out, dtype=np.int32 if out_int32 else np.int64))


# ---- reductions ------------------------------------------------------------------------------
@public(method=True)
def nansum(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The sum treating NaN as zero (gradient 0 at the NaN elements)."""
    x = _t(input, "nansum")
    if x.dtype.is_floating_point:
        x = where(_make(np.array(np.isnan(x._data))), 0.0, x)
    return sum(x, dim, keepdim, dtype=dtype)


@public(method=True)
def nanmean(input: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """The mean of the non-NaN elements (NaN where all are NaN)."""
    x = _t(input, "nanmean")
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"nanmean: expected a floating point input, got {x.dtype}")
    keep = _make(np.array(~np.isnan(x._data)))
    return div(nansum(x, dim, keepdim, dtype=dtype), sum(keep, dim, keepdim, dtype=x.dtype))


@public(method=True)
def count_nonzero(input: Tensor, dim=None) -> Tensor:
    """The number of nonzero elements (along ``dim``: an int or a tuple), as int64."""
    x = _t(input, "count_nonzero")
    if dim is None:
        return _make(np.array(np.count_nonzero(x._data), dtype=np.int64))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    dims = tuple(_dim(d, x._data.ndim, "count_nonzero") for d in dims)
    return _make(np.asarray(np.count_nonzero(x._data, axis=dims), dtype=np.int64))


_aminmax = namedtuple("aminmax", ["min", "max"])  # type: ignore[name-match]


@public(method=True)
def aminmax(input: Tensor, *, dim=None, keepdim: bool = False):
    """``(amin, amax)`` of the tensor (along ``dim``), a named tuple with fields min, max."""
    x = _t(input, "aminmax")
    if dim is None and keepdim:
        return _aminmax(reshape(amin(x), (1,) * x._data.ndim), reshape(amax(x), (1,) * x._data.ndim))
    return _aminmax(amin(x, dim, keepdim), amax(x, dim, keepdim))


# ---- construction ----------------------------------------------------------------------------
@public(method=True)
def diagflat(input: Tensor, offset: int = 0) -> Tensor:
    """A 2-d tensor with the flattened input on diagonal ``offset``."""
    return diag(reshape(_t(input, "diagflat"), -1), offset)


def _tri_indices(row, col, offset, lower, who):
    if row < 0 or col < 0:
        raise RuntimeError(f"{who}: row and col must be non-negative, got {row}, {col}")
    r, c = np.tril_indices(row, offset, col) if lower else np.triu_indices(row, offset, col)
    return _make(np.stack([r, c]).astype(np.int64))


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None) -> Tensor:
    """The (2, N) int64 indices of the lower triangle (diagonal ``offset``) of a row x col
    matrix, row-major."""
    out = _tri_indices(row, col, offset, True, "tril_indices")
    return out if dtype is None else out.to(dtype)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=None, device=None, layout=None) -> Tensor:
    """The (2, N) int64 indices of the upper triangle (diagonal ``offset``) of a row x col
    matrix, row-major."""
    out = _tri_indices(row, col, offset, False, "triu_indices")
    return out if dtype is None else out.to(dtype)


@public
def cartesian_prod(*tensors) -> Tensor:
    """The Cartesian product of 1-d tensors: shape (N, k) for k tensors (1-d for one)."""
    ts = [_t(t, "cartesian_prod") for t in tensors]
    for t in ts:
        if t._data.ndim != 1:
            raise RuntimeError(f"cartesian_prod: expect a 1D vector, but got shape "
                               f"{tuple(t._data.shape)}")
    if len(ts) == 1:
        return ts[0]
    grids = meshgrid(*ts, indexing="ij")
    return stack([reshape(g, -1) for g in grids], 1)


# other names of existing ops, and functions that are not ops, exported as they are
_EXPORTS.setdefault(__name__, []).extend(["broadcast_shapes", "tril_indices", "triu_indices", "moveaxis"])
__all__ = exports(__name__)


# ops of other kinds, bound once this module's own names exist (the kinds call each other)
from fastgrad.ops.elementwise import div, mul, ne, sub, where  # noqa: E402
from fastgrad.ops.indexing import index_select  # noqa: E402
from fastgrad.ops.linalg import einsum  # noqa: E402
from fastgrad.ops.reduce import amax, amin, sum  # noqa: E402
from fastgrad.ops.shape import (broadcast_to, cat, clone, diag, diagonal, flip, meshgrid,  # noqa: E402
                                movedim, narrow, reshape, stack, transpose, unsqueeze)
moveaxis = movedim
METHODS.setdefault("swapdims", swapaxes)
