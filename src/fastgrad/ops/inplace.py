"""In-place ops (``add_``, ``mul_``, ``clamp_``, ``masked_fill_``, ``copy_``, ...) and
the machinery that rebases a tensor's history when one of them is recorded.
"""
from __future__ import annotations


import numpy as np

from fastgrad.errors import ShapeError
from fastgrad._hooks import hooks
from fastgrad._state import grad_mode
from fastgrad._tensor import Tensor, as_tensor
from fastgrad.autograd import engine as _engine
from fastgrad.autograd.engine import _FREED, Node, declare, jvp_rule
from fastgrad.ops._record import (_fw, _make, _needs, _record, _scalar, _to_tensor, _zeros_of,
                                  exports, public, to)

from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from fastgrad._typing import TensorOrNumber



# ---- in-place ops -----------------------------------------------------------------------------
# PyTorch semantics.  Without autograd recording the op computes its result and writes
# it into x's memory.  With recording (x is a non-leaf graph tensor, or an argument
# requires grad) the result is computed out of place on an alias of x that carries x's
# history, written into x's memory, and x's grad_fn becomes the op's node: x's history
# is rebased, and gradients flow to the old history and the arguments.  An alias that
# the new node saved for backward is given a copy of the old values first.  Every
# in-place op bumps x's version counter (shared by views), so backward through any
# node that saved x (or a view of it) before the change raises.
#
# Views: an in-place op on a view made by basic indexing (x[0], x[:, 1:3], ...) of a
# non-leaf tensor writes through the base, rebasing the base's history, so `x[i] += v`
# works with gradients.  Other views of graph tensors (reshape, permute, diagonal, views
# of views, ...) are refused while recording, with a RuntimeError saying so; another
# view of the same base taken before the change keeps its old history.
def _bump(x, name):
    v = x._version
    v[0] += 1
    if len(v) > 1:
        v[1] = name
    else:
        v.append(name)


def _writable(x, name):
    if (type(x) is not Tensor and not isinstance(x, Tensor)):
        raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
    if not x._data.flags.writeable:
        raise RuntimeError(f"{name}: the tensor's memory is read-only (an expanded view, a "
                           "diagonal, or a read-only NumPy array); clone() it first")


def _fit(y, x, name):
    """y cast and broadcast to x's dtype and shape (differentiably) or a clear error."""
    if y._data.dtype != x._data.dtype:
        if not np.can_cast(y._data.dtype, x._data.dtype, "same_kind"):
            raise TypeError(f"{name}: result dtype {y._data.dtype} cannot be stored in a "
                            f"{x._data.dtype} tensor")
        y = to(y, x._data.dtype)
    if y._data.shape != x._data.shape:
        try:
            ok = np.broadcast_shapes(y._data.shape, x._data.shape) == x._data.shape
        except ValueError:
            ok = False
        if not ok:
            raise ShapeError(f"{name}: result shape {tuple(y._data.shape)} cannot be written into "
                             f"a tensor of shape {tuple(x._data.shape)}")
        y = expand(y, x._data.shape)
    return y


def _saves(node, alias, stop):
    """Whether a node created by the in-place op's forward (those above `stop`) saved
    `alias` for backward."""
    stack, seen = [node], set()
    while stack:
        n = stack.pop()
        if n in seen or n in stop:
            continue
        seen.add(n)
        if n.saved and n.saved is not _FREED:
            for s in n.saved:
                if s is alias:
                    return True
        for e in n.edges:
            if type(e) is Node:
                stack.append(e)
    return False


def _inplace_apply(x, name, fn, args=(), kwargs=None):
    # a tracer's handler (fastgrad._hooks) returns a callable that records the copy of
    # the op's result into x, called after each such copy below
    after = None if hooks.inplace is None else hooks.inplace(x, name)
    _writable(x, name)
    kwargs = kwargs or {}
    track = grad_mode.enabled and (x.requires_grad or any(
        (type(a) is Tensor or isinstance(a, Tensor)) and a.requires_grad for a in (*args, *kwargs.values())))
    if not track:
        with _engine_nograd():
            r = fn(x, *args, **kwargs)
        r = r if isinstance(r, Tensor) else as_tensor(r)
        try:
            np.copyto(x._data, np.broadcast_to(r._data, x._data.shape), casting="same_kind")
        except ValueError:
            raise ShapeError(f"{name}: result shape {tuple(r._data.shape)} cannot be written into a "
                             f"tensor of shape {tuple(x._data.shape)}") from None
        except TypeError:
            raise TypeError(f"{name}: result dtype {r._data.dtype} cannot be stored in a "
                            f"{x._data.dtype} tensor") from None
        if after is not None:
            after(r)
        _bump(x, name)
        return x
    if x.requires_grad and x.grad_fn is None:
        raise RuntimeError(f"{name}: a leaf tensor that requires grad is being used in an in-place "
                           "operation; wrap it in `with fastgrad.no_grad():` (e.g. for a manual "
                           "parameter update) or operate on a clone")
    base = x._base
    if base is not None and (x._vidx is None or x._vidx[0] is not base or base._base is not None
                             or (base.requires_grad and base.grad_fn is None)):
        raise RuntimeError(f"{name}: in-place operation on a view of another tensor while autograd "
                           "is recording is supported only for a view made by basic indexing "
                           "(ints, slices, None, ...) of a non-leaf tensor that is not itself a "
                           "view; clone() the view, apply the op to the base tensor, or use the "
                           "out-of-place op")
    alias = _make(x._data)
    alias.grad_fn, alias.requires_grad = x.grad_fn, x.requires_grad
    tx = _engine.tangent_of(x) if _fw.level else None
    if tx is not None:
        _engine.set_tangent(alias, tx)
    args = tuple(alias if a is x else a for a in args)
    kwargs = {k: (alias if a is x else a) for k, a in kwargs.items()}
    y = _fit(fn(alias, *args, **kwargs), x, name)
    node = y.grad_fn
    if node is not None and y is not alias:
        stop = {a.grad_fn for a in (alias, *args, *kwargs.values())
                if (type(a) is Tensor or isinstance(a, Tensor)) and a.grad_fn is not None}
        if _saves(node, alias, stop):
            alias._data = x._data.copy()          # the node keeps the values it was given
    if base is not None:
        # a view base[idx]: write the result through the base (rebasing its history),
        # then make the view the base's new values at idx
        idx = x._vidx[1]
        _inplace_apply(base, name, _index_put, (idx, y))
        nv = getitem(base, idx)
        x.grad_fn, x.requires_grad = nv.grad_fn, nv.requires_grad
        if _fw.level:
            _engine.set_tangent(x, _engine.tangent_of(nv))
        return x
    if y is not alias:
        np.copyto(x._data, y._data)
        if after is not None:
            after(y)
    _bump(x, name)
    x.grad_fn = node
    x.requires_grad = y.requires_grad
    if _fw.level:
        _engine.set_tangent(x, _engine.tangent_of(y))
    if node is not None and node.outver is not None:
        node.outver = x._version
        node.outv = x._version[0]
    return x


class _engine_nograd:
    def __enter__(self):
        self.prev = grad_mode.enabled
        grad_mode.enabled = False

    def __exit__(self, *exc):
        grad_mode.enabled = self.prev


def _overwrite_bwd(node, g):
    # zeros (not None) for the overwritten tensor, as PyTorch: its history still runs,
    # so a saved value modified earlier is still reported
    gx = _make(np.zeros(g._data.shape, g._data.dtype)) if node.edges[0] is not None else None
    return (gx, g if len(node.edges) > 1 else None)


@jvp_rule(_overwrite_bwd)
def _overwrite_jvp(node, xs, ts, out):
    return None if ts[1] is None else expand(ts[1], out._data.shape)


def _overwrite(x, value, who):
    """The result of overwriting x with value (broadcast): no gradient to x's history,
    the gradient to value summed over broadcasting."""
    v = value if (type(value) is Tensor or isinstance(value, Tensor)) else _scalar(value, x._data.dtype) if isinstance(
        value, (int, float, bool)) else as_tensor(value)
    if v._data.dtype != x._data.dtype:
        v = to(v, x._data.dtype)
    if not _needs(x, v):
        return v
    try:
        out = np.array(np.broadcast_to(v._data, x._data.shape))
    except ValueError:
        raise ShapeError(f"{who}: a value of shape {tuple(v._data.shape)} cannot be written into "
                         f"a tensor of shape {tuple(x._data.shape)}") from None
    return _record(out, who, _overwrite_bwd, (x, v), ctx=None, shapes=(x._data.shape, v._data.shape))


@public(method=True, dunder=("__iadd__",))
def add_(x: Tensor, other: TensorOrNumber, alpha: float = 1) -> Tensor:
    """x += alpha * other. Modifies ``x`` in place (its version counter is bumped, so a saved
    use of the old value is caught by backward) and returns it."""
    return _inplace_apply(x, "add_", add, (other,), {"alpha": alpha} if alpha != 1 else None)


@public(method=True, dunder=("__isub__",))
def sub_(x: Tensor, other: TensorOrNumber, alpha: float = 1) -> Tensor:
    """x -= alpha * other. Modifies ``x`` in place (its version counter is bumped, so a saved
    use of the old value is caught by backward) and returns it."""
    return _inplace_apply(x, "sub_", sub, (other,), {"alpha": alpha} if alpha != 1 else None)


@public(method=True, dunder=("__imul__",))
def mul_(x: Tensor, other: TensorOrNumber) -> Tensor:
    """x *= other. Modifies ``x`` in place (its version counter is bumped, so a saved use of
    the old value is caught by backward) and returns it."""
    return _inplace_apply(x, "mul_", mul, (other,))


@public(method=True, dunder=("__itruediv__",))
def div_(x: Tensor, other: TensorOrNumber, rounding_mode=None) -> Tensor:
    """x /= other (``rounding_mode`` as in ``div``). Modifies ``x`` in place (its version
    counter is bumped, so a saved use of the old value is caught by backward) and returns
    it."""
    return _inplace_apply(x, "div_", div, (other,),
                          {"rounding_mode": rounding_mode} if rounding_mode is not None else None)


@public(method=("clamp_", "clip_"))
def clamp_(x: Tensor, min=None, max=None) -> Tensor:
    """Clamp x to [min, max] (either may be None). Modifies ``x`` in place (its version counter
    is bumped, so a saved use of the old value is caught by backward) and returns it."""
    return _inplace_apply(x, "clamp_", clamp, (min, max))



@public(method=True)
def relu_(x: Tensor) -> Tensor:
    """x = max(x, 0). Modifies ``x`` in place (its version counter is bumped, so a saved use of
    the old value is caught by backward) and returns it."""
    return _inplace_apply(x, "relu_", relu)


@public(method=True)
def masked_fill_(x: Tensor, mask: Tensor, value) -> Tensor:
    """Set the elements of x where ``mask`` (broadcast to x's shape) is True to ``value``.
    Modifies ``x`` in place (its version counter is bumped, so a saved use of the old value
    is caught by backward) and returns it."""
    return _inplace_apply(x, "masked_fill_", masked_fill, (mask, value))


@public(method=True)
def copy_(x: Tensor, src) -> Tensor:
    """Copy src (broadcast, cast to x's dtype) into x; gradients flow to src."""
    return _inplace_apply(x, "copy_", _overwrite, (_to_tensor(src, "copy_"), "copy_"))


@public(method=True)
def fill_(x: Tensor, value) -> Tensor:
    """Set every element of x to ``value``. Modifies ``x`` in place (its version counter is
    bumped, so a saved use of the old value is caught by backward) and returns it."""
    if (type(value) is Tensor or isinstance(value, Tensor)) and value._data.ndim:
        raise ShapeError(f"fill_: only a 0-d value tensor is accepted, got shape {tuple(value._data.shape)}")
    return _inplace_apply(x, "fill_", _overwrite, (value, "fill_"))


@public(method=True)
def zero_(x: Tensor) -> Tensor:
    """Set every element of x to 0. Modifies ``x`` in place (its version counter is bumped, so
    a saved use of the old value is caught by backward) and returns it."""
    return _inplace_apply(x, "zero_", _overwrite, (0, "zero_"))


@public(method=True, dunder=("__iand__",))
def bitwise_and_(x: Tensor, other: TensorOrNumber) -> Tensor:
    """x &= other (integer and bool tensors). Modifies ``x`` in place (its version counter is
    bumped, so a saved use of the old value is caught by backward) and returns it."""
    return _inplace_apply(x, "bitwise_and_", bitwise_and, (other,))


@public(method=True, dunder=("__ior__",))
def bitwise_or_(x: Tensor, other: TensorOrNumber) -> Tensor:
    """x |= other (integer and bool tensors). Modifies ``x`` in place (its version counter is
    bumped, so a saved use of the old value is caught by backward) and returns it."""
    return _inplace_apply(x, "bitwise_or_", bitwise_or, (other,))


@public(method=True, dunder=("__ixor__",))
def bitwise_xor_(x: Tensor, other: TensorOrNumber) -> Tensor:
    """x ^= other (integer and bool tensors). Modifies ``x`` in place (its version counter is
    bumped, so a saved use of the old value is caught by backward) and returns it."""
    return _inplace_apply(x, "bitwise_xor_", bitwise_xor, (other,))


@public(method=True, dunder=("__ilshift__",))
def bitwise_left_shift_(x: Tensor, other: TensorOrNumber) -> Tensor:
    """x <<= other (integer tensors). Modifies ``x`` in place (its version counter is bumped,
    so a saved use of the old value is caught by backward) and returns it."""
    return _inplace_apply(x, "bitwise_left_shift_", bitwise_left_shift, (other,))


@public(method=True, dunder=("__irshift__",))
def bitwise_right_shift_(x: Tensor, other: TensorOrNumber) -> Tensor:
    """x >>= other (integer tensors). Modifies ``x`` in place (its version counter is bumped,
    so a saved use of the old value is caught by backward) and returns it."""
    return _inplace_apply(x, "bitwise_right_shift_", bitwise_right_shift, (other,))


@public(method=True)
def bitwise_not_(x: Tensor) -> Tensor:
    """x = ~x (integer and bool tensors). Modifies ``x`` in place (its version counter is
    bumped, so a saved use of the old value is caught by backward) and returns it."""
    return _inplace_apply(x, "bitwise_not_", bitwise_not)


@public(method=True, dunder=("__ifloordiv__",))
def floor_divide_(x: Tensor, other: TensorOrNumber) -> Tensor:
    """x //= other (rounding toward minus infinity). Modifies ``x`` in place (its version
    counter is bumped, so a saved use of the old value is caught by backward) and returns
    it."""
    return _inplace_apply(x, "floor_divide_", floor_divide, (other,))


@public(method=True, dunder=("__imod__",))
def remainder_(x: Tensor, other: TensorOrNumber) -> Tensor:
    """x %= other (Python's sign rule: the result has the sign of ``other``). Modifies ``x`` in
    place (its version counter is bumped, so a saved use of the old value is caught by
    backward) and returns it."""
    return _inplace_apply(x, "remainder_", remainder, (other,))


# ---- setitem ----------------------------------------------------------------------------------
def _izero_bwd(node, g):
    return (_index_zero(g, node.ctx),)


declare(_izero_bwd, linear=lambda node, t, out: _index_zero(t, node.ctx))


def _index_zero(g, idx):
    """g with zeros written at idx (the gradient of what an assignment overwrote)."""
    out = g._data.copy()
    out[idx] = 0
    if _needs(g):
        return _record(out, "index_zero", _izero_bwd, (g,), ctx=idx)
    return _make(out)


def _iput_bwd(node, g):
    idx = node.ctx
    return (_index_zero(g, idx) if node.edges[0] is not None else None,
            getitem(g, idx) if node.edges[1] is not None else None)


@jvp_rule(_iput_bwd)
def _iput_jvp(node, xs, ts, out):
    tx, tv = ts
    if tv is None:
        return _index_zero(tx, node.ctx)
    return _index_put(_zeros_of(out) if tx is None else tx, node.ctx, tv)


def _index_put(x, idx, value, keep=()):
    v = value if (type(value) is Tensor or isinstance(value, Tensor)) else as_tensor(value)
    if v._data.dtype != x._data.dtype:
        v = to(v, x._data.dtype)
    out = x._data.copy()
    try:
        _np_setitem(out, idx, v._data)
    except IndexError as e:
        raise IndexError(f"setitem: {e} (tensor shape {tuple(x._data.shape)})") from None
    except ValueError as e:
        raise ShapeError(f"setitem: cannot assign a value of shape {tuple(v._data.shape)} to "
                         f"the indexed part of a tensor of shape {tuple(x._data.shape)}: {e}") from None
    if _needs(x, v):
        return _record(out, "setitem", _iput_bwd, (x, v), keep, ctx=idx,
                       shapes=(x._data.shape, v._data.shape))
    return _make(out)


@public(dunder=("__setitem__",), export=False)
def setitem(x, idx, value):
    """x[idx] = value, in place (Tensor.__setitem__).  With autograd recording (x is part
    of a graph or value requires grad) x's history is rebased like any in-place op: the
    overwritten part gets zero gradient and value gets the gradient of the positions it
    was written to (summed over broadcasting)."""
    keep = _index_tensors(idx)          # index tensors: backward version-checks them
    idx = _index_arg(idx, "setitem")
    if grad_mode.enabled and (x.requires_grad or (isinstance(value, Tensor) and value.requires_grad)):
        _inplace_apply(x, "setitem", _index_put, (idx, value, keep))
        return
    _writable(x, "setitem")
    try:
        _np_setitem(x._data, idx, value._data if (type(value) is Tensor or isinstance(value, Tensor)) else value)
    except IndexError as e:
        raise IndexError(f"setitem: {e} (tensor shape {tuple(x._data.shape)})") from None
    except (ValueError, TypeError) as e:
        raise (ShapeError if isinstance(e, ValueError) else type(e))(f"setitem: {e}") from None
    _bump(x, "setitem")


__all__ = exports(__name__)


# ops of other kinds, bound once this module's own names exist (the kinds call each other)
from fastgrad.ops.elementwise import add, clamp, div, mul, relu, remainder, sub
from fastgrad.ops.bitwise import (bitwise_and, bitwise_left_shift, bitwise_not, bitwise_or,
                                  bitwise_right_shift, bitwise_xor, floor_divide)
from fastgrad.ops.indexing import _index_arg, _index_tensors, _np_setitem, getitem, masked_fill
from fastgrad.ops.shape import expand
