"""Shape and movement ops: views (reshape, permute, expand, narrow, ...), copies
(contiguous, clone), joins and splits (cat, stack, split, chunk), and flip, roll, repeat,
pad, tril/triu, diagonal, movedim, meshgrid.  ``sum_to`` (the adjoint of broadcasting)
lives here too.
"""
from __future__ import annotations

import builtins

import numpy as np

from fastgrad.errors import ArgumentError, IndexOutOfRangeError, ShapeError, UnsupportedModeError
from fastgrad._hooks import hooks as _hooks
from fastgrad._state import backend, grad_mode
from fastgrad._tensor import Tensor, canonical_dtype, result_dtype
from fastgrad._dtype import KERNEL_FLOATS as _KERNEL_FLOATS
from fastgrad import _dtype
from fastgrad.autograd.engine import Slab, declare, jvp_rule
from fastgrad.autograd.engine import _into as _engine_into
from fastgrad.ops._record import (_cast_to, _make, _max, _needs, _norm_dim, _norm_dims, _record,
                                  _to_tensor, _zeros_of, exports, public)

from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from typing import Optional
    from collections.abc import Sequence
    from fastgrad._typing import Dims



# ---- shape and view ops ---------------------------------------------------------------------
def _view(t, x):
    """t shares memory with x: share x's version counter, so an in-place change through
    either is seen by the saved-tensor checks of both.  A NumPy view's base is the array
    owning the memory (or x's array), which answers without np.may_share_memory's bounds
    check in the common case."""
    b = t._data.base
    if (b is not None and (b is x._data or b is x._data.base)) or np.may_share_memory(t._data, x._data):
        t._version = x._version
        t._base = x if x._base is None else x._base
    return t

def _reshape_bwd(node, g):
    return (reshape(g, node.ctx),)


declare(_reshape_bwd, linear=lambda node, t, out: reshape(t, out._data.shape),
        input_shape=lambda node, i, out_shape: tuple(node.ctx),
        batched=lambda node, G: (G.reshape((G.shape[0],) + tuple(node.ctx)),))


def _shape_arg(shape, who):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"{who}: shape entries must be ints, got {shape!r}")
    return tuple(int(s) for s in shape)


@public(method=True)
def reshape(x: Tensor, *shape) -> Tensor:
    """The elements in a new shape (ints as separate arguments or one sequence; one may be -1,
    inferred). A view of the same memory when the layout allows, else a copy."""
    shape = _shape_arg(shape, "reshape")
    try:
        out = x._data.reshape(shape)
    except ValueError:
        raise ShapeError(f"reshape: shape {shape} is invalid for input of shape "
                         f"{tuple(x._data.shape)} ({x._data.size} elements)") from None
    if _hooks.numpy_copy is not None and not np.may_share_memory(out, x._data):
        _hooks.numpy_copy(x._data, out, "reshape")     # NumPy copied: a strided copy
    if x.requires_grad and grad_mode.enabled:
        return _view(_record(out, "reshape", _reshape_bwd, (x,), (), None, x._data.shape), x)
    return _view(_make(out), x)


# NumPy >= 2.1 reshapes without copying or raises (np.reshape(..., copy=False)); older
# versions only offer assignment to .shape, which NumPy 2.5 deprecates
_RESHAPE_NO_COPY = np.lib.NumpyVersion(np.__version__) >= "2.1.0"


@public(method=True)
def view(x: Tensor, *shape) -> Tensor:
    """Like reshape, but never copies: raises if the memory layout does not allow it.
    ``view(dtype)`` reinterprets the bytes as another dtype (PyTorch's bit view)."""
    if len(shape) == 1 and isinstance(shape[0], (_dtype.dtype, type, np.dtype, str)):
        return _view_dtype(x, shape[0])
    shape = _shape_arg(shape, "view")
    try:
        if _RESHAPE_NO_COPY:
            out = np.reshape(x._data, shape, copy=False)     # raises where a copy would be needed
        else:
            out = x._data.view()
            out.shape = shape
    except (AttributeError, ValueError):
        raise RuntimeError(f"view: shape {shape} is not compatible with input shape "
                           f"{tuple(x._data.shape)} and its strides; use reshape() instead") from None
    if x.requires_grad and grad_mode.enabled:
        return _view(_record(out, "view", _reshape_bwd, (x,), (), None, x._data.shape), x)
    return _view(_make(out), x)


def _view_dtype(x, dtype):
    """x's bytes read as dtype: the same shape when the item sizes agree, else the last
    dim scaled by their ratio (it must be contiguous and divisible).  Not differentiable
    unless dtype is x's own."""
    dt = canonical_dtype(dtype)
    a = x._data
    if dt == a.dtype:
        return view(x, a.shape)
    old, new = a.dtype.itemsize, np.dtype(dt).itemsize
    if old != new:
        if a.ndim == 0:
            raise ArgumentError(f"view: a 0-d tensor of {a.dtype} cannot be viewed as {dt} "
                                f"(item sizes {old} and {new} differ)")
        if a.strides[-1] != old or (a.shape[-1] * old) % new:
            raise ArgumentError(f"view: the last dimension (size {a.shape[-1]}, stride "
                                f"{a.strides[-1] // old}) of a {a.dtype} tensor must be contiguous "
                                f"and its bytes divisible by {new} to view it as {dt}")
    out = a.view(dt)
    return _view(_make(out), x)


@public(method=True)
def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Dimensions ``start_dim`` to ``end_dim`` merged into one (a 0-d tensor becomes 1-d)."""
    nd = x._data.ndim
    if nd == 0:
        return reshape(x, 1)
    s, e = _norm_dim(start_dim, nd, "flatten"), _norm_dim(end_dim, nd, "flatten")
    if s > e:
        raise ArgumentError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    sh = x._data.shape
    n = 1
    for d in range(s, e + 1):
        n *= sh[d]
    return reshape(x, sh[:s] + (n,) + sh[e + 1:])


@public(method=True)
def squeeze(x: Tensor, dim: Optional[Dims] = None, axis: Optional[Dims] = None) -> Tensor:
    """The dimensions of size 1 removed: all of them, or only ``dim`` (an int or a sequence)
    where its size is 1. A view."""
    if axis is not None:
        dim = axis
    sh = x._data.shape
    if dim is None:
        new = tuple(s for s in sh if s != 1)
    else:
        dims = _norm_dims(dim, x._data.ndim, "squeeze")
        new = tuple(s for i, s in enumerate(sh) if not (i in dims and s == 1))
    return x if new == sh else reshape(x, new)


@public(method=True)
def unsqueeze(x: Tensor, dim: Optional[Dims] = None, axis: Optional[Dims] = None) -> Tensor:
    """A dimension of size 1 inserted at position ``dim`` (negative counts from the end of the
    result). A view."""
    if axis is not None:
        dim = axis
    elif dim is None:
        raise TypeError("unsqueeze: missing the argument 'dim'")
    nd = x._data.ndim
    if not -nd - 1 <= dim <= nd:
        raise IndexError(f"unsqueeze: dimension {dim} is out of range for a tensor with {nd} "
                         f"dimensions (expected {-nd - 1}..{nd})")
    d = dim % (nd + 1)
    sh = x._data.shape
    return reshape(x, sh[:d] + (1,) + sh[d:])


def _permute_bwd(node, g):
    p = node.ctx
    inv = [0] * len(p)
    for i, d in enumerate(p):
        inv[d] = i
    return (permute(g, tuple(inv)),)


def _inverse(perm):
    return tuple(int(i) for i in np.argsort(perm))


declare(_permute_bwd, linear=lambda node, t, out: permute(t, node.ctx),
        input_shape=lambda node, i, out_shape: tuple(out_shape[j] for j in _inverse(node.ctx)),
        batched=lambda node, G: (G.transpose((0,) + tuple(i + 1 for i in _inverse(node.ctx))),))


@public(method=True)
def permute(x: Tensor, *dims) -> Tensor:
    """The dimensions reordered: output dimension i is input dimension dims[i]. A view."""
    if len(dims) == 1 and type(dims[0]) in (tuple, list):
        dims = dims[0]
    nd = x._data.ndim
    if len(dims) == nd:                  # plain ints in range, each once: no further checks
        fast = []
        for d in dims:
            if type(d) is not int or not -nd <= d < nd:
                break
            fast.append(d + nd if d < 0 else d)
        else:
            if len(set(fast)) == nd:
                return _permuted(x, tuple(fast))
    dims = _shape_arg(tuple(dims), "permute")
    if len(dims) != nd:
        raise ArgumentError(f"permute: got {len(dims)} dims {dims} for a tensor with {nd} dimensions")
    norm = tuple(_norm_dim(d, nd, "permute") for d in dims)
    if sorted(norm) != list(range(nd)):
        raise ArgumentError(f"permute: dims {dims} are not a permutation of 0..{nd - 1}")
    return _permuted(x, norm)


def _permuted(x, norm):
    """x with its dimensions reordered by norm, a permutation of range(x.ndim): a view."""
    out = x._data.transpose(norm)
    if x.requires_grad and grad_mode.enabled:
        return _view(_record(out, "permute", _permute_bwd, (x,), (), None, norm), x)
    return _view(_make(out), x)


@public(method=True)
def transpose(x: Tensor, dim0, dim1) -> Tensor:
    """Dimensions ``dim0`` and ``dim1`` swapped. A view."""
    nd = x._data.ndim
    if nd == 0:
        return x
    d0, d1 = _norm_dim(dim0, nd, "transpose"), _norm_dim(dim1, nd, "transpose")
    if nd == 2:
        return _permuted(x, (1, 0) if d0 != d1 else (0, 1))
    p = list(range(nd))
    p[d0], p[d1] = p[d1], p[d0]
    return _permuted(x, tuple(p))


@public(method=True)
def t(x: Tensor) -> Tensor:
    """The transpose of a tensor with at most 2 dimensions (0-d and 1-d tensors are returned as
    they are)."""
    if x._data.ndim > 2:
        raise ArgumentError(f"t: expects a tensor with <= 2 dimensions, got {x._data.ndim}")
    return _permuted(x, (1, 0)) if x._data.ndim == 2 else x


def _expand_bwd(node, g):
    return (sum_to(g, node.ctx),)


def _batched_sum_to(G, shape):
    """Sum a batch of gradients G (rows,) + broadcast shape back to (rows,) + shape."""
    gs = G.shape[1:]
    if gs == tuple(shape):
        return G
    lead = len(gs) - len(shape)
    dims = tuple(range(1, lead + 1)) + tuple(
        1 + lead + i for i, n in enumerate(shape) if n == 1 and gs[lead + i] != 1)
    r = G.sum(axis=dims, keepdims=True) if dims else G
    return r.reshape((G.shape[0],) + tuple(shape))


declare(_expand_bwd, linear=lambda node, t, out: expand(t, out._data.shape),
        input_shape=lambda node, i, out_shape: tuple(node.ctx),
        batched=lambda node, G: (_batched_sum_to(G, node.ctx),))


@public(method=True)
def expand(x: Tensor, *sizes) -> Tensor:
    """A view with dimensions of size 1 repeated to ``sizes`` (no copy); -1 keeps a size; new
    leading dimensions may be added."""
    sizes = _shape_arg(sizes, "expand")
    sh = x._data.shape
    if len(sizes) < len(sh):
        raise ShapeError(f"expand: the number of sizes {sizes} must be at least the number of "
                         f"dimensions of shape {tuple(sh)}")
    lead = len(sizes) - len(sh)
    target = tuple(sh[i - lead] if (s == -1 and i >= lead) else s for i, s in enumerate(sizes))
    if target == sh:
        return x
    try:
        out = np.broadcast_to(x._data, target)
    except ValueError:
        raise ShapeError(f"expand: cannot expand shape {tuple(sh)} to {sizes}") from None
    if x.requires_grad and grad_mode.enabled:
        return _view(_record(out, "expand", _expand_bwd, (x,), (), None, sh), x)
    return _view(_make(out), x)


@public(method=True)
def broadcast_to(input: Tensor, size) -> Tensor:
    """``input`` expanded to ``size`` by broadcasting (a view, as ``expand``)."""
    return expand(input, tuple(size))


@public
def sum_to(g: Tensor, shape) -> Tensor:
    """Sum g over the broadcast dimensions so it has `shape` (the inverse of expand)."""
    gs = g._data.shape
    if gs == shape:
        return g
    lead = len(gs) - len(shape)
    if lead < 0:        # shape has extra leading 1s (a setitem value may carry them)
        return reshape(sum_to(g, tuple(shape[-lead:])), shape)
    dims = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape) if s == 1 and gs[i + lead] != 1)
    r = sum(g, dims, keepdim=True) if dims else g
    return reshape(r, shape)


def _contig_bwd(node, g):
    return (g,)


declare(_contig_bwd, linear=lambda node, t, out: t,
        input_shape=lambda node, i, out_shape: tuple(out_shape), batched=lambda node, G: (G,))


@public(method=True)
def contiguous(x: Tensor) -> Tensor:
    """This tensor if its elements are in row-major order, else a row-major copy."""
    if x._data.flags.c_contiguous:
        return x
    out = backend.k.contiguous(x._data)
    if _needs(x):
        return _record(out, "contiguous", _contig_bwd, (x,))
    return _make(out)


@public(method=True)
def clone(x: Tensor) -> Tensor:
    """A copy of the tensor with its own memory; gradients flow back to the original."""
    out = backend.k.copy(x._data) if x._data.dtype in _KERNEL_FLOATS else x._data.copy()
    if _needs(x):
        return _record(out, "clone", _contig_bwd, (x,))
    return _make(out)


def _cat_bwd(node, g):
    dim, sizes = node.ctx
    res, start = [], 0
    for i, s in enumerate(sizes):
        res.append(narrow(g, dim, start, s) if node.edges[i] is not None else None)
        start += s
    return tuple(res)


@jvp_rule(_cat_bwd)
def _cat_jvp(node, xs, ts, out):
    return cat([_zeros_of(x) if t is None else t for x, t in zip(xs, ts)], node.ctx[0])


def _cat_pieces(ts, d):
    """(index, array) of each input's region in cat's output along dim d."""
    res, start = [], 0
    for t in ts:
        n = t._data.shape[d]
        res.append(((slice(None),) * d + (slice(start, start + n),), t._data))
        start += n
    return res


@public(aliases=("concat", "concatenate"))
def cat(tensors: Sequence[Tensor], dim: int = 0, axis: Optional[Dims] = None) -> Tensor:
    """Concatenate along an existing dim."""
    if axis is not None:
        dim = axis
    ts = [_to_tensor(t, "cat") for t in tensors]
    if not ts:
        raise ArgumentError("cat: expected a non-empty sequence of tensors")
    dt = result_dtype(*ts)
    ts = [_cast_to(t, dt) for t in ts]
    nd = ts[0]._data.ndim
    if nd == 0:
        raise ArgumentError("cat: zero-dimensional tensors cannot be concatenated")
    d = _norm_dim(dim, nd, "cat")
    rest = ts[0]._data.shape[:d] + ts[0]._data.shape[d + 1:]
    for i, t in enumerate(ts):
        if t._data.ndim != nd or t._data.shape[:d] + t._data.shape[d + 1:] != rest:
            raise ShapeError(f"cat: tensor {i} has shape {tuple(t._data.shape)}, which does not match "
                             f"{tuple(ts[0]._data.shape)} except in dimension {d}")
    out = np.concatenate([t._data for t in ts], axis=d)
    if _hooks.numpy_assemble is not None:
        _hooks.numpy_assemble(out, _cat_pieces(ts, d), None, "cat")
    if _needs(*ts):
        return _record(out, "cat", _cat_bwd, ts, (), None, (d, tuple(t._data.shape[d] for t in ts)))
    return _make(out)



@public
def stack(tensors: Sequence[Tensor], dim: int = 0, axis: Optional[Dims] = None) -> Tensor:
    """The tensors (all of one shape) joined along a new dimension ``dim``; the output has one
    more dimension."""
    if axis is not None:
        dim = axis
    ts = [_to_tensor(t, "stack") for t in tensors]
    if not ts:
        raise ArgumentError("stack: expected a non-empty sequence of tensors")
    for i, t in enumerate(ts):
        if t._data.shape != ts[0]._data.shape:
            raise ShapeError(f"stack: tensor {i} has shape {tuple(t._data.shape)}, expected "
                             f"{tuple(ts[0]._data.shape)} (all inputs must have the same shape)")
    nd = ts[0]._data.ndim + 1
    if not -nd <= dim < nd:
        raise IndexError(f"stack: dimension {dim} is out of range (expected {-nd}..{nd - 1})")
    if not _needs(*ts) and _hooks.numpy_assemble is None:
        dt = result_dtype(*ts)           # nothing to record: one copy, no per-input views
        return _make(np.stack([_cast_to(t, dt)._data for t in ts], axis=dim % nd))
    return cat([unsqueeze(t, dim % nd) for t in ts], dim % nd)


def _narrow_bwd(node, g):
    dim, start, full = node.ctx
    if _engine_into.slab:
        return (Slab(g, dim, start, start + g._data.shape[dim], full),)
    return (_unnarrow(g, dim, start, full),)


@jvp_rule(_narrow_bwd)
def _narrow_jvp(node, xs, ts, out):
    dim, start, full = node.ctx
    return narrow(ts[0], dim, start, out._data.shape[dim])


@public(method=True)
def narrow(x: Tensor, dim: Dims, start, length) -> Tensor:
    """The slice ``start:start + length`` of dimension ``dim``. A view."""
    if x._data.ndim == 0:
        raise ArgumentError("narrow: cannot be applied to a 0-d tensor")
    d = _norm_dim(dim, x._data.ndim, "narrow")
    n = x._data.shape[d]
    if start < 0:
        start += n
    if start < 0 or length < 0 or start + length > n:
        raise IndexOutOfRangeError(f"narrow: start {start} and length {length} are out of range for "
                         f"dimension {d} of size {n}")
    idx = (slice(None),) * d + (slice(start, start + length),)
    out = x._data[idx]
    if _needs(x):
        return _view(_record(out, "narrow", _narrow_bwd, (x,), (), None, (d, start, x._data.shape)), x)
    return _view(_make(out), x)


def _unnarrow_bwd(node, g):
    dim, start, length = node.ctx
    return (narrow(g, dim, start, length),)


@jvp_rule(_unnarrow_bwd)
def _unnarrow_jvp(node, xs, ts, out):
    dim, start, length = node.ctx
    return _unnarrow(ts[0], dim, start, out._data.shape)


def _unnarrow(g, dim, start, full):
    out = Slab(g, dim, start, start + g._data.shape[dim], full).dense("narrow_backward")
    if _needs(g):
        length = g._data.shape[dim]
        return _record(out._data, "unnarrow", _unnarrow_bwd, (g,), (), None, (dim, start, length))
    return out


# ---- movement ops ----------------------------------------------------------------------------
@public(method=True)
def split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple[Tensor, ...]:
    """Views of consecutive pieces along dim: pieces of one size (the last may be
    smaller) or the given list of sizes."""
    x = tensor
    if x._data.ndim == 0:
        raise ArgumentError("split: expects at least a 1-dimensional tensor, got a 0-d tensor")
    d = _norm_dim(dim, x._data.ndim, "split")
    n = x._data.shape[d]
    s = split_size_or_sections
    if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
        if s <= 0 and not (s == 0 and n == 0):
            raise ShapeError(f"split: split_size must be positive, got {s}")
        sizes = [s] * (n // s) + ([n % s] if n % s else []) if s else [0]
    else:
        sizes = [int(v) for v in s]
        if builtins.sum(sizes) != n or any(v < 0 for v in sizes):
            raise ShapeError(f"split: sections {tuple(sizes)} do not sum to the size {n} of "
                             f"dimension {d}")
    out, start = [], 0
    for v in sizes:
        out.append(narrow(x, d, start, v))
        start += v
    return tuple(out)


@public(method=True)
def chunk(input: Tensor, chunks, dim: int = 0) -> tuple[Tensor, ...]:
    """The tensor split into ``chunks`` pieces along ``dim`` (the last may be smaller, and
    there may be fewer), as a tuple of views."""
    if not isinstance(chunks, (int, np.integer)) or chunks < 1:
        raise ArgumentError(f"chunk: chunks must be a positive int, got {chunks!r}")
    if input._data.ndim == 0:
        raise ArgumentError("chunk: expects at least a 1-dimensional tensor, got a 0-d tensor")
    d = _norm_dim(dim, input._data.ndim, "chunk")
    n = input._data.shape[d]
    if n == 0:
        return tuple(narrow(input, d, 0, 0) for _ in range(chunks))
    return split(input, -(-n // chunks), d)


@public(method=True)
def unbind(input: Tensor, dim: int = 0, axis: Optional[Dims] = None) -> tuple[Tensor, ...]:
    """The slices along ``dim``, with that dimension removed, as a tuple of views."""
    if axis is not None:
        dim = axis
    if input._data.ndim == 0:
        raise IndexError("unbind: dimension specified as 0 but the tensor has no dimensions")
    d = _norm_dim(dim, input._data.ndim, "unbind")
    pre = (slice(None),) * d
    return tuple(getitem(input, pre + (i,)) for i in range(input._data.shape[d]))


def _flip_bwd(node, g):
    return (flip(g, node.ctx),)


declare(_flip_bwd, linear=lambda node, t, out: flip(t, node.ctx))


@public(method=True)
def flip(input: Tensor, dims: Dims) -> Tensor:
    """A copy with the order of elements reversed along dims."""
    x = input
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    ds = _norm_dims(dims, x._data.ndim, "flip")
    sl = tuple(slice(None, None, -1) if k in ds else slice(None) for k in range(x._data.ndim))
    out = backend.k.contiguous(x._data[sl]) if x._data.ndim else x._data.copy()
    if out is x._data or np.may_share_memory(out, x._data):
        out = out.copy()
    if _needs(x):
        return _record(out, "flip", _flip_bwd, (x,), ctx=ds)
    return _make(out)


def _roll_bwd(node, g):
    shifts, dims = node.ctx
    return (roll(g, tuple(-s for s in shifts), dims),)


@jvp_rule(_roll_bwd)
def _roll_jvp(node, xs, ts, out):
    shifts, dims = node.ctx
    return roll(ts[0], shifts, dims)


@public(method=True)
def roll(input: Tensor, shifts, dims: Optional[Dims] = None) -> Tensor:
    """Elements shifted cyclically by shifts along dims (None: over the flattened tensor)."""
    x = input
    sh = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(int(s) for s in shifts)
    if dims is None:
        if len(sh) != 1:
            raise ArgumentError(f"roll: with dims=None shifts must be one int, got {shifts!r}")
        return reshape(roll(reshape(x, -1), sh, 0), x._data.shape)
    ds = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(ds) != len(sh):
        raise ArgumentError(f"roll: shifts {sh} and dims {ds} must have the same length")
    ds = tuple(_norm_dim(d, x._data.ndim, "roll") for d in ds)
    out = np.roll(x._data, sh, ds) if x._data.ndim else x._data.copy()
    if _needs(x):
        return _record(out, "roll", _roll_bwd, (x,), ctx=(sh, ds))
    return _make(out)


def _repeat_bwd(node, g):
    shape, reps, xshape = node.ctx
    inter = []
    for r, s in zip(reps, shape):
        inter += [r, s]
    gi = reshape(g, tuple(inter))
    gs = sum(gi, tuple(range(0, len(inter), 2)))
    return (reshape(gs, xshape),)


@jvp_rule(_repeat_bwd)
def _repeat_jvp(node, xs, ts, out):
    shape, reps, xshape = node.ctx
    return repeat(reshape(ts[0], shape), reps)


@public(method=True)
def repeat(input: Tensor, *sizes) -> Tensor:
    """Tensor.repeat: the tensor tiled sizes[k] times along dim k (sizes may have more
    entries than the tensor has dims: leading dims are added)."""
    x = input
    reps = _shape_arg(sizes, "repeat")
    nd = x._data.ndim
    if len(reps) < nd:
        raise ShapeError(f"repeat: the number of repeats {reps} must be at least the number of "
                         f"dimensions of the tensor ({nd})")
    if any(r < 0 for r in reps):
        raise ArgumentError(f"repeat: repeats must be non-negative, got {reps}")
    shape = (1,) * (len(reps) - nd) + x._data.shape
    out = np.tile(x._data.reshape(shape), reps)
    if _needs(x):
        return _record(out, "repeat", _repeat_bwd, (x,), ctx=(shape, reps, x._data.shape))
    return _make(out)


@public(method=True)
def tile(input: Tensor, dims: Dims) -> Tensor:
    """torch.tile: like repeat, with missing leading repeats taken as 1."""
    reps = _shape_arg((dims,) if isinstance(dims, (int, np.integer)) else (tuple(dims),), "tile")
    nd = input._data.ndim
    if len(reps) < nd:
        reps = (1,) * (nd - len(reps)) + reps
    return repeat(input, reps)


def _padc_bwd(node, g):
    return (getitem(g, node.ctx),)


# the padding is constant: the tangent is padded with zeros
declare(_padc_bwd, linear=lambda node, t, out: _index_backward(t, node.ctx, out._data.shape))


@public
def pad(input: Tensor, pad, mode: str = "constant", value=None) -> Tensor:
    """Pad with PyTorch's pad tuple order: (left, right) of the last dim first, then of
    the dim before it, ...  Modes: "constant" (value, default 0; negative pads crop),
    "reflect" (mirror without repeating the edge; pads < dim size), "replicate" (repeat
    the edge), "circular" (wrap around; pads <= dim size); a negative pad crops, except
    in "circular" mode.  Unlike PyTorch, the
    non-constant modes pad any number of dims of any tensor."""
    x = input if (type(input) is Tensor or isinstance(input, Tensor)) else _to_tensor(input, "pad")
    p = [int(v) for v in pad]
    nd = x._data.ndim
    if len(p) % 2 or len(p) // 2 > nd:
        raise ArgumentError(f"pad: the pad tuple {tuple(p)} must have an even length of at most "
                         f"2 * {nd} (the tensor's dims)")
    pairs = [(nd - 1 - i, p[2 * i], p[2 * i + 1]) for i in range(len(p) // 2)]
    if mode == "constant":
        crop = [slice(None)] * nd
        for d, lo, hi in pairs:
            n = x._data.shape[d]
            if -lo - hi > n or (lo < 0 and -lo > n) or (hi < 0 and -hi > n):
                raise ShapeError(f"pad: negative padding {(lo, hi)} removes more than the size "
                                 f"{n} of dimension {d}")
            crop[d] = slice(_max(-lo, 0), n - _max(-hi, 0))
        if any(lo < 0 or hi < 0 for _, lo, hi in pairs):
            x = getitem(x, tuple(crop))
        widths = [(0, 0)] * nd
        for d, lo, hi in pairs:
            widths[d] = (_max(lo, 0), _max(hi, 0))
        v = 0 if value is None else value
        out = np.pad(x._data, widths, mode="constant", constant_values=v)
        inner = tuple(slice(lo, lo + x._data.shape[k]) for k, (lo, _) in enumerate(widths))
        if _hooks.numpy_assemble is not None:
            _hooks.numpy_assemble(out, [(inner, x._data)], v, "pad")
        if _needs(x):
            return _record(out, "pad", _padc_bwd, (x,), ctx=inner)
        return _make(out)
    if mode not in ("reflect", "replicate", "circular"):
        raise UnsupportedModeError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', "
                         f"got {mode!r}")
    if value is not None and value != 0:
        raise ArgumentError(f"pad: value is only used by mode='constant' (got mode={mode!r})")
    out = x
    for d, lo, hi in pairs:
        n = x._data.shape[d]
        if (lo < 0 or hi < 0) and mode == "circular":
            raise ArgumentError(f"pad: negative padding {(lo, hi)} is not supported by mode='circular'")
        if lo == 0 and hi == 0:
            continue
        if n + lo + hi < 0:
            raise ShapeError(f"pad: padding {(lo, hi)} of dimension {d} (size {n}) leaves a "
                             f"negative size {n + lo + hi}")
        if mode == "reflect":
            if lo >= n or hi >= n:
                raise ShapeError(f"pad: reflect padding {(lo, hi)} must be smaller than the size "
                                 f"{n} of dimension {d}")
            # a negative pad crops: the output reads the reflected positions -lo .. n+hi-1
            j = np.arange(-lo, n + hi)
            idx = np.where(j < 0, -j, np.where(j > n - 1, 2 * (n - 1) - j, j))
        elif mode == "circular":
            if lo > n or hi > n:
                raise ShapeError(f"pad: circular padding {(lo, hi)} wraps around more than once "
                                 f"(at most the size {n} of dimension {d})")
            idx = np.arange(-lo, n + hi) % n
        else:
            if n == 0:
                raise ShapeError(f"pad: replicate padding of dimension {d} of size 0")
            idx = np.clip(np.arange(-lo, n + hi), 0, n - 1)
        out = _index_select(out, d, idx.astype(np.int64), False, "pad")
    return out if out is not x else clone(x)


def _tri_bwd(node, g):
    upper, k = node.ctx
    return (_tri(g, k, upper),)


declare(_tri_bwd, linear=lambda node, t, out: _tri(t, node.ctx[1], node.ctx[0]))


def _tri(x, diagonal, upper):
    who = "triu" if upper else "tril"
    if x._data.ndim < 2:
        raise ArgumentError(f"{who}: input must have at least 2 dimensions, got {x._data.ndim}")
    # clamped to the matrix (same result): NumPy cannot take offsets beyond a C long
    k = _max(-x._data.shape[-2], builtins.min(int(diagonal), x._data.shape[-1]))
    out = np.triu(x._data, k) if upper else np.tril(x._data, k)
    if _needs(x):
        return _record(out, who, _tri_bwd, (x,), ctx=(upper, k))
    return _make(out)


@public(method=True)
def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dimensions: elements above diagonal ``diagonal`` set
    to 0 (0 is the main diagonal, positive is above it)."""
    return _tri(input, diagonal, False)


@public(method=True)
def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dimensions: elements below diagonal ``diagonal`` set
    to 0 (0 is the main diagonal, positive is above it)."""
    return _tri(input, diagonal, True)


def _diag_bwd(node, g):
    offset, d1, d2, shape = node.ctx
    return (_diag_embed(g, offset, d1, d2, shape),)


@jvp_rule(_diag_bwd)
def _diag_jvp(node, xs, ts, out):
    offset, d1, d2, shape = node.ctx
    return diagonal(ts[0], offset, d1, d2)


@public(method=True)
def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """A (read-only) view of the diagonal of the dim1 x dim2 planes, as the last dim."""
    x = input
    nd = x._data.ndim
    if nd < 2:
        raise ArgumentError(f"diagonal: input must have at least 2 dimensions, got {nd}")
    d1, d2 = _norm_dim(dim1, nd, "diagonal"), _norm_dim(dim2, nd, "diagonal")
    if d1 == d2:
        raise ArgumentError(f"diagonal: dim1 and dim2 must differ, both are {d1}")
    # an offset beyond the plane gives an empty diagonal: clamp it first, because NumPy
    # overflows (and reads out of bounds) for offsets near the C int limits
    offset = _max(-x._data.shape[d1], builtins.min(int(offset), x._data.shape[d2]))
    out = np.diagonal(x._data, offset, d1, d2)
    if _needs(x):
        return _view(_record(out, "diagonal", _diag_bwd, (x,), ctx=(offset, d1, d2, x._data.shape)), x)
    return _view(_make(out), x)


def _dembed_bwd(node, g):
    offset, d1, d2 = node.ctx
    return (diagonal(g, offset, d1, d2),)


@jvp_rule(_dembed_bwd)
def _dembed_jvp(node, xs, ts, out):
    offset, d1, d2 = node.ctx
    return _diag_embed(ts[0], offset, d1, d2, out._data.shape)


def _diag_embed(g, offset, d1, d2, shape):
    out = np.zeros(shape, dtype=g._data.dtype)
    L = g._data.shape[-1]
    if L:
        plane = np.moveaxis(out, (d1, d2), (-2, -1))
        r = np.arange(L) + _max(-offset, 0)
        c = np.arange(L) + _max(offset, 0)
        plane[..., r, c] = g._data
    if _needs(g):
        return _record(out, "diagonal_backward", _dembed_bwd, (g,), ctx=(offset, d1, d2))
    return _make(out)


@public(method=("movedim", "moveaxis"))
def movedim(input: Tensor, source, destination) -> Tensor:
    """Dimension(s) ``source`` moved to position(s) ``destination``, the others keeping their
    order. A view."""
    x = input
    nd = x._data.ndim
    src = (source,) if isinstance(source, (int, np.integer)) else tuple(source)
    dst = (destination,) if isinstance(destination, (int, np.integer)) else tuple(destination)
    if len(src) != len(dst):
        raise ArgumentError(f"movedim: source {src} and destination {dst} must have the same length")
    src = tuple(_norm_dim(d, nd, "movedim") for d in src)
    dst = tuple(_norm_dim(d, nd, "movedim") for d in dst)
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ArgumentError(f"movedim: repeated dim in source {src} or destination {dst}")
    order = [d for d in range(nd) if d not in src]
    for s, t in sorted(zip(dst, src)):
        order.insert(s, t)
    return permute(x, tuple(order)) if nd else x



@public
def meshgrid(*tensors, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids (expanded views) from 1-d tensors.  indexing="ij": output k
    varies along dim k; "xy": the first two dims are swapped (Cartesian)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ArgumentError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = [_to_tensor(t, "meshgrid") for t in tensors]
    if not ts:
        raise ArgumentError("meshgrid: expected at least one tensor")
    for i, t in enumerate(ts):
        if t._data.ndim > 1:
            raise ShapeError(f"meshgrid: expected 0-d or 1-d tensors, tensor {i} has shape "
                             f"{tuple(t._data.shape)}")
    k = len(ts)
    sizes = [t._data.size for t in ts]
    pos = list(range(k))
    if indexing == "xy" and k >= 2:
        pos[0], pos[1] = 1, 0
    shape = [0] * k
    for i in range(k):
        shape[pos[i]] = sizes[i]
    out = []
    for i, t in enumerate(ts):
        s = [1] * k
        s[pos[i]] = sizes[i]
        out.append(expand(reshape(t, tuple(s)), tuple(shape)))
    return tuple(out)


# ---- shapes of other tensors, unflatten, unfold, diag, repeat_interleave ----------------------
def _other_shape(other, who):
    if not isinstance(other, Tensor):
        raise TypeError(f"{who}: other must be a Tensor, got {type(other).__name__}")
    return tuple(other._data.shape)


@public(method=True, export=False)
def view_as(input, other):
    """``input`` viewed with the shape of ``other`` (``input.view(other.shape)``)."""
    return view(input, _other_shape(other, "view_as"))


@public(method=True, export=False)
def reshape_as(input, other):
    """``input`` reshaped to the shape of ``other``."""
    return reshape(input, _other_shape(other, "reshape_as"))


@public(method=True, export=False)
def expand_as(input, other):
    """``input`` expanded to the shape of ``other`` (a view)."""
    return expand(input, _other_shape(other, "expand_as"))


@public(method=True)
def unflatten(input: Tensor, dim: Dims, sizes) -> Tensor:
    """Dim ``dim`` split into ``sizes`` (one entry may be -1)."""
    x = input
    nd = x._data.ndim
    d = _norm_dim(dim, nd, "unflatten")
    sizes = _shape_arg(tuple(sizes), "unflatten")
    if not sizes:
        raise ShapeError("unflatten: sizes must be non-empty")
    sh = x._data.shape
    n = sh[d] if nd else 1
    known = 1
    for s in sizes:
        if s != -1:
            known *= s
    if sizes.count(-1) > 1 or (sizes.count(-1) == 0 and known != n) or \
            (sizes.count(-1) == 1 and (known == 0 or n % known)):
        raise ShapeError(f"unflatten: sizes {sizes} do not multiply to the size {n} of dimension {d} "
                         f"of the input of shape {tuple(sh)}")
    return reshape(x, sh[:d] + sizes + sh[d + 1:])


@public(method=True, export=False)
def unfold(input, dimension, size, step):
    """The windows of length ``size`` along ``dimension`` taken every ``step``: that dim
    becomes the window count and a last dim of length ``size`` is added.  A copy (PyTorch
    gives a view); the gradient sums over overlapping windows."""
    x = input
    nd = x._data.ndim
    d = _norm_dim(dimension, nd, "unfold")
    n = x._data.shape[d] if nd else 1
    if size < 0 or size > n:
        raise ShapeError(f"unfold: size {size} is out of range for dimension {d} of size {n}")
    if step <= 0:
        raise ArgumentError(f"unfold: step must be positive, got {step}")
    if nd == 0:
        return reshape(x, (1,) * size)
    count = (n - size) // step + 1
    idx = (np.arange(count, dtype=np.int64)[:, None] * step + np.arange(size, dtype=np.int64)).reshape(-1)
    sh = x._data.shape
    out = reshape(_index_select(x, d, idx, False, "index_select"), sh[:d] + (count, size) + sh[d + 1:])
    return movedim(out, d + 1, -1)


@public(method=True)
def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Tensors whose (dim1, dim2) planes hold input's last dim on the diagonal ``offset``
    (zeros elsewhere); the other dims come from input's leading dims."""
    x = input
    nd = x._data.ndim + 1
    if nd < 2:
        raise ArgumentError("diag_embed: input must have at least 1 dimension")
    d1, d2 = _norm_dim(dim1, nd, "diag_embed"), _norm_dim(dim2, nd, "diag_embed")
    if d1 == d2:
        raise ArgumentError(f"diag_embed: dim1 and dim2 must differ, both are {d1}")
    n = x._data.shape[-1] + builtins.abs(int(offset))
    shape = list(x._data.shape[:-1])
    for d in sorted((d1, d2)):
        shape.insert(d, n)
    from fastgrad._factory import _size
    return _diag_embed(x, int(offset), d1, d2, _size(shape, "diag_embed"))


_diagonal = diagonal     # diag's argument of that name hides it


@public(method=True)
def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """1-d input: the square matrix with input on diagonal ``diagonal``; 2-d input: a copy
    of that diagonal, as a 1-d tensor."""
    x = input
    if x._data.ndim == 1:
        return diag_embed(x, diagonal, 0, 1)
    if x._data.ndim == 2:
        return clone(_diagonal(x, diagonal))
    raise ArgumentError(f"diag: expected a 1-d or 2-d tensor, got {x._data.ndim} dimensions")


@public(method=True)
def repeat_interleave(input: Tensor, repeats=None, dim: Optional[Dims] = None, *, output_size=None) -> Tensor:
    """Each element (each slice along ``dim``) repeated ``repeats`` times in place;
    ``repeats``: an int, or a tensor with one count per slice (0-d: for all).
    dim=None works on the flattened input.  ``repeat_interleave(counts)``: each index
    0..len-1 repeated counts[i] times."""
    x = _to_tensor(input, "repeat_interleave")
    if repeats is None:
        r = x._data
        if r.ndim > 1 or r.dtype.kind not in "iu":
            raise ShapeError(f"repeat_interleave: repeats must be a 0-d or 1-d integer tensor, got "
                             f"shape {tuple(r.shape)} dtype {r.dtype}")
        if r.size and r.min() < 0:
            raise ArgumentError("repeat_interleave: repeats must be non-negative")
        return _make(np.repeat(np.arange(r.size, dtype=np.int64), r.reshape(-1)))
    if dim is None:
        x, d = reshape(x, -1), 0
    else:
        if x._data.ndim == 0:
            x = reshape(x, 1)
        d = _norm_dim(dim, x._data.ndim, "repeat_interleave")
    n = x._data.shape[d]
    r = np.asarray(repeats._data if isinstance(repeats, Tensor) else repeats)
    if r.ndim > 1 or r.dtype.kind not in "iu":
        raise ShapeError(f"repeat_interleave: repeats must be an int or a 0-d or 1-d integer tensor, got "
                         f"{r.dtype} of shape {tuple(r.shape)}")
    if r.ndim == 1 and r.size != n and r.size != 1:
        raise ShapeError(f"repeat_interleave: repeats has {r.size} entries but dimension {d} has size {n}")
    if r.size and r.min() < 0:
        raise ArgumentError("repeat_interleave: repeats must be non-negative")
    idx = np.repeat(np.arange(n, dtype=np.int64), r.reshape(-1) if r.ndim else int(r))
    if output_size is not None and output_size != idx.size:
        raise ShapeError(f"repeat_interleave: output_size {output_size} does not match the "
                         f"result size {idx.size}")
    return _index_select(x, d, idx, False, "index_select")


__all__ = exports(__name__)


# ops of other kinds, bound once this module's own names exist (the kinds call each other)
from fastgrad.ops.indexing import _index_backward, _index_select, getitem
from fastgrad.ops.reduce import sum
