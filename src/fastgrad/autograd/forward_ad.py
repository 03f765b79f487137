"""Forward-mode automatic differentiation with dual tensors.

Inside ``with dual_level():``, ``make_dual(x, t)`` pairs a tensor with a tangent (a
direction in input space).  Every op applied to dual tensors carries the tangent
forward with the op's JVP rule (declared beside its backward rule), so one forward pass
computes a Jacobian-vector product J t alongside the value.  ``unpack_dual(y)`` gives the
value and its tangent.  Leaving the level drops every tangent made inside it.

    with fastgrad.autograd.forward_ad.dual_level():
        x = make_dual(primal, direction)
        y = f(x)
        value, jvp = unpack_dual(y)

Tangents are fastgrad tensors built with fastgrad ops, so they can be differentiated in
reverse mode (forward-over-reverse) when a primal or tangent given to ``make_dual``
requires grad; otherwise the rules run without recording.  Worth knowing: tangents flow
only while grad mode is on (the ops record the values the rules read), a dual tensor
reports ``requires_grad=True`` (``unpack_dual`` returns its primal detached), and levels
do not nest.
"""
import collections

from fastgrad.autograd import engine as _engine

__all__ = ["dual_level", "enter_dual_level", "exit_dual_level", "make_dual", "unpack_dual",
           "UnpackedDualTensor"]

UnpackedDualTensor = collections.namedtuple("UnpackedDualTensor", ["primal", "tangent"])


def enter_dual_level():
    fw = _engine.fw
    if fw.level:
        raise RuntimeError("forward_ad: a dual level is already open; nested levels are not "
                           "supported")
    fw.tangents = {}
    fw.grad = False
    fw.level = 1
    return 0


def exit_dual_level(level=None):
    fw = _engine.fw
    if not fw.level:
        raise RuntimeError("forward_ad: exit_dual_level called with no open dual level")
    fw.level = 0
    fw.tangents = None
    fw.grad = False


class dual_level:
    """Context manager: a scope in which dual tensors exist."""

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *exc):
        exit_dual_level()
        return False


def make_dual(tensor, tangent, level=None):
    """A tensor with `tensor`'s values (sharing memory and any reverse-mode history) that
    carries `tangent` (same shape, a float dtype) through the ops applied to it."""
    from fastgrad.ops import _record, shape as _shape
    from fastgrad._tensor import Tensor
    fw = _engine.fw
    if not fw.level:
        raise RuntimeError("make_dual: no dual level is open; use `with "
                           "fastgrad.autograd.forward_ad.dual_level():`")
    if not isinstance(tensor, Tensor) or not isinstance(tangent, Tensor):
        raise TypeError(f"make_dual: expected two Tensors, got {type(tensor).__name__} and "
                        f"{type(tangent).__name__}")
    if tensor._data.dtype.kind != "f":
        raise TypeError(f"make_dual: the primal must be a float tensor, got {tensor._data.dtype}")
    if tangent._data.shape != tensor._data.shape:
        raise ValueError(f"make_dual: tangent shape {tuple(tangent._data.shape)} does not match "
                         f"primal shape {tuple(tensor._data.shape)}")
    if tangent._data.dtype != tensor._data.dtype:
        tangent = _record.to(tangent, tensor._data.dtype)
    if tensor.requires_grad or tangent.requires_grad:
        fw.grad = True          # reverse mode through the tangents may be wanted
    if tensor.requires_grad:
        d = _shape.reshape(tensor, tensor._data.shape)       # an alias with the same history
    else:
        d = Tensor._make(tensor._data)
        d._version = tensor._version
        d.requires_grad = True                             # so ops record what rules need
    _engine.set_tangent(d, tangent)
    return d


def unpack_dual(tensor, level=None):
    """(primal, tangent) of a tensor; tangent is None when it carries none.  In a level
    where no primal or tangent requires grad, the primal comes back detached (the graph
    recorded for the JVP rules is an internal detail)."""
    fw = _engine.fw
    t = _engine.tangent_of(tensor) if fw.level else None
    p = tensor if (fw.grad or not fw.level) else tensor.detach()
    return UnpackedDualTensor(p, t)
