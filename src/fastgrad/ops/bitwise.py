"""Integer division and bitwise ops, with PyTorch's integer semantics: ``floor_divide``
(``//``) and the rounded quotients of ``div(rounding_mode=...)``, and the bitwise
``& | ^ ~ << >>`` (bitwise on integer tensors, logical on bool, refused on floats).
They compute with NumPy; the rounded quotients have a zero gradient, as in PyTorch."""
from __future__ import annotations

import numpy as np

from fastgrad.errors import ShapeError
from fastgrad import _dtype
from fastgrad._dtype import DtypeNotSupported
from fastgrad._state import grad_mode
from fastgrad._tensor import Tensor, bool_, float32
from fastgrad.autograd.engine import declare
from fastgrad.ops._record import _make, _pair, _record, _to_tensor, exports, public, to

from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from fastgrad._typing import TensorOrNumber

class RoundingModeError(ValueError, RuntimeError):
    """An unknown ``rounding_mode`` (PyTorch raises RuntimeError)."""


def _rounded_bwd(node, g):
    # PyTorch's rule: the rounded quotient has zero gradient (not a missing one)
    z = _make(np.zeros(g._data.shape, g._data.dtype))
    return (z if node.edges[0] is not None else None, z if node.edges[1] is not None else None)


def _floor_divide_bwd(node, g):
    raise RuntimeError("floor_divide: the derivative of floor_divide (`//`) is not implemented, as "
                       "in PyTorch; div(a, b, rounding_mode='floor') has a zero gradient")


declare(_rounded_bwd, jvp=lambda node, xs, ts, out: None, elementwise=True)
declare(_floor_divide_bwd, jvp=lambda node, xs, ts, out: None, elementwise=True)


def _int_div(a, b, mode):
    """Integer quotient rounded toward zero ("trunc") or -inf ("floor"); int_min / -1
    wraps to int_min, as C and PyTorch do."""
    q = np.floor_divide(a, b)
    if mode == "trunc":
        q = q + ((np.remainder(a, b) != 0) & ((a < 0) != (b < 0))).astype(q.dtype)
    return q


def _rounded_div(a, b, mode, name, bwd=_rounded_bwd):
    a, b = _pair(a, b, name)
    dt = a._data.dtype
    if dt in _LOWP:
        return to(_rounded_div(to(a, float32), to(b, float32), mode, name, bwd), dt)
    try:
        np.broadcast_shapes(a._data.shape, b._data.shape)
    except ValueError:
        raise ShapeError(f"{name}: shapes {tuple(a._data.shape)} and {tuple(b._data.shape)} cannot be "
                         "broadcast") from None
    with np.errstate(all="ignore"):
        if dt.kind in "iub":
            if dt == bool_:
                raise DtypeNotSupported(f"{name}: rounded division of bool tensors is not supported "
                                        "(as in PyTorch)")
            if np.any(b._data == 0):
                raise IntegerDivisionByZero(f"{name}: integer division by zero")
            return _make(np.asarray(_int_div(a._data, b._data, mode)))
        if mode == "trunc":
            out = np.trunc(np.true_divide(a._data, b._data))
        else:
            out = np.floor_divide(a._data, b._data)
    out = np.asarray(out)
    if (a.requires_grad or b.requires_grad) and grad_mode.enabled:
        return _record(out, name, bwd, (a, b), (), None, None, _bin_shapes(a, b, out))
    return _make(out)


@public(method=True, dunder=("__floordiv__",), reflected="__rfloordiv__")
def floor_divide(input: Tensor, other: TensorOrNumber) -> Tensor:
    """input // other, rounded toward -inf (Python's rule; PyTorch's ``floor_divide``).
    Integers stay integers; an integer division by zero raises IntegerDivisionByZero.
    Not differentiable: backward through it raises, as in PyTorch."""
    return _rounded_div(input, other, "floor", "floor_divide", _floor_divide_bwd)


def _int_pair(a, b, name):
    a, b = _pair(a, b, name)
    if a._data.dtype.kind not in "iub":
        raise DtypeNotSupported(f"{name}: not implemented for {_dtype.of_numpy(a._data.dtype)} tensors; "
                                "bitwise ops take integer and bool tensors (as in PyTorch)")
    return a, b


def _bitwise(fn, name, a, b, bools=True):
    a, b = _int_pair(a, b, name)
    if not bools and a._data.dtype == bool_:
        raise DtypeNotSupported(f"{name}: not implemented for bool tensors (as in PyTorch)")
    try:
        return _make(np.asarray(fn(a._data, b._data)))
    except ValueError:
        raise ShapeError(f"{name}: shapes {tuple(a._data.shape)} and {tuple(b._data.shape)} cannot be "
                         "broadcast") from None


@public(method=True, dunder=("__and__",), reflected="__rand__")
def bitwise_and(input: Tensor, other: TensorOrNumber) -> Tensor:
    """Bitwise AND of integer tensors; logical AND of bool tensors."""
    return _bitwise(np.bitwise_and, "bitwise_and", input, other)


@public(method=True, dunder=("__or__",), reflected="__ror__")
def bitwise_or(input: Tensor, other: TensorOrNumber) -> Tensor:
    """Bitwise OR of integer tensors; logical OR of bool tensors."""
    return _bitwise(np.bitwise_or, "bitwise_or", input, other)


@public(method=True, dunder=("__xor__",), reflected="__rxor__")
def bitwise_xor(input: Tensor, other: TensorOrNumber) -> Tensor:
    """Bitwise XOR of integer tensors; logical XOR of bool tensors."""
    return _bitwise(np.bitwise_xor, "bitwise_xor", input, other)


@public(method=True)
def bitwise_not(input: Tensor) -> Tensor:
    """Bitwise NOT of an integer tensor (``~x``); logical NOT of a bool tensor."""
    x = _to_tensor(input, "bitwise_not")
    if x._data.dtype.kind not in "iub":
        raise DtypeNotSupported(f"bitwise_not: ~ is only implemented on integer and bool tensors, "
                                f"got {_dtype.of_numpy(x._data.dtype)} (as in PyTorch)")
    return _make(np.asarray(np.invert(x._data)))


def _shift(a, b, left):
    """a << b or a >> b in a's integer dtype (PyTorch's rules): a shift by a negative amount
    or by the width or more gives 0, or -1 for a negative signed a shifted right."""
    bits = 8 * a.dtype.itemsize
    ok = (b >= 0) & (b < bits)
    bs = np.where(ok, b, 0).astype(a.dtype)
    if left:
        return np.where(ok, np.left_shift(a, bs), a.dtype.type(0)).astype(a.dtype)
    fill = np.right_shift(a, a.dtype.type(bits - 1)) if a.dtype.kind == "i" else a.dtype.type(0)
    return np.where(ok, np.right_shift(a, bs), fill).astype(a.dtype)


@public(method=True, dunder=("__lshift__",), reflected="__rlshift__")
def bitwise_left_shift(input: Tensor, other: TensorOrNumber) -> Tensor:
    """input << other on integer tensors (bits shifted out are lost; the dtype wraps)."""
    return _bitwise(lambda x, y: _shift(x, y, True), "bitwise_left_shift", input, other, bools=False)


@public(method=True, dunder=("__rshift__",), reflected="__rrshift__")
def bitwise_right_shift(input: Tensor, other: TensorOrNumber) -> Tensor:
    """input >> other on integer tensors (arithmetic: the sign bit is kept)."""
    return _bitwise(lambda x, y: _shift(x, y, False), "bitwise_right_shift", input, other, bools=False)


@public(dunder=("__invert__",), export=False)
def _invert(input):
    if isinstance(input, Tensor) and input._data.dtype.kind not in "iub":
        raise DtypeNotSupported(f"~ (operator.invert) is only implemented on integer and bool tensors, "
                                f"got {_dtype.of_numpy(input._data.dtype)}")
    return bitwise_not(input)


__all__ = exports(__name__)

from fastgrad.ops.elementwise import _LOWP, IntegerDivisionByZero, _bin_shapes
