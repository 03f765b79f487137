"""What every op shares: graph recording, input coercion and dtype casts.

Pattern of an op:
  1. coerce inputs (Python scalars, dtype promotion by differentiable casts);
  2. call one kernel of the active backend (``backend.k``: C or NumPy reference);
  3. if grad mode is on and an input requires grad, leave a ``Node`` (``_record``) whose
     backward function maps the output gradient to input gradients.

Backward functions check ``grad_mode.enabled``: the engine turns it on only for
``create_graph=True``.  Off, they call fused backward kernels on raw arrays (fast path);
on, they use a composite formula of fastgrad ops, so second and higher derivatives work
for every op.  Beside each backward function sits its forward-mode rule: declared with
``engine.declare(bwd, jvp=..., linear=..., elementwise=...)``, which also records the
op's traits (what viz and the vectorised Jacobians read), or, for a rule alone, with the
``jvp_rule(bwd)`` decorator.

Every public op is declared once, where it is defined, with ``public`` (or through a
declaration helper such as ``elementwise.unary`` that calls it): the declaration puts
its names in its module's ``__all__`` (``exports``) and in ``METHODS``, the Tensor
methods that ``fastgrad._methods`` binds.
"""
from __future__ import annotations

import builtins
import functools
from math import copysign as _copysign
import sys

import numpy as np

from fastgrad.errors import ShapeError
from fastgrad import _device
from fastgrad import _dtype
from fastgrad._state import grad_mode
from fastgrad._tensor import Tensor, _default, as_tensor, canonical_dtype, result_dtype
from fastgrad.autograd import anomaly as _anomaly
from fastgrad.autograd import engine as _engine
from fastgrad.autograd.engine import Node, declare

from typing import TYPE_CHECKING
from typing import Any, Callable, TypeVar, overload
if TYPE_CHECKING:
    from typing import Optional
    from fastgrad._typing import DType
_F = TypeVar("_F", bound=Callable[..., Any])

_make = Tensor._make
_anomaly_mode = _anomaly._mode
_max = builtins.max      # the ops define their own max/min/sum/abs


# ---- declarations ----------------------------------------------------------------------
_EXPORTS = {}     # module name -> the public names declared in it
METHODS = {}      # Tensor attribute -> function, from the declarations


def _reflected(fn):
    def r(self, other):
        return fn(other, self)
    r.__name__ = "r" + fn.__name__
    return r


@overload
def public(fn: _F, *, aliases: Any = ..., method: Any = ..., dunder: Any = ..., reflected: Any = ...,
           export: bool = ...) -> _F: ...
@overload
def public(fn: None = ..., *, aliases: Any = ..., method: Any = ..., dunder: Any = ..., reflected: Any = ...,
           export: bool = ...) -> Callable[[_F], _F]: ...
def public(fn=None, *, aliases=(), method=False, dunder=(), reflected=None, export=True):
    """Declare ``fn`` a public op of the module that defines it: exported (``__all__``)
    under its own name and each of ``aliases``, which are bound in that
    module too.  ``method``: True binds the same names as Tensor methods, a string or a
    tuple binds those method names instead.  ``dunder``: Python operators bound to
    ``fn`` (``"__add__"``); ``reflected``: the operator bound to ``fn(other, self)``
    (``"__radd__"``).  ``export=False``: a Tensor method only.  Returns ``fn``, so it
    works as a decorator too."""
    def declare(f):
        names = (f.__name__,) + tuple(aliases)
        mod = f.__module__
        if export:
            _EXPORTS.setdefault(mod, []).extend(names)
        g = sys.modules[mod].__dict__
        for a in names[1:]:
            g.setdefault(a, f)
        if method:
            ms = names if method is True else (method,) if isinstance(method, str) else method
            for m in ms:
                METHODS[m] = f
        for d in dunder:
            METHODS[d] = f
        if reflected:
            METHODS[reflected] = _reflected(f)
        return f
    return declare if fn is None else declare(fn)


_LOWP = _dtype.FLOAT_STORAGE - frozenset(_dtype.KERNEL_FLOATS)     # float16, bfloat16


def _lowp_back(out, dt):
    if isinstance(out, Tensor):
        return to(out, dt) if out._data.dtype == np.float32 else out
    if isinstance(out, tuple) and not hasattr(out, "_fields"):
        return tuple(_lowp_back(o, dt) for o in out)
    return out


def lowp_via_float32(fn: _F) -> _F:
    """Wrap an op whose kernels take float32 and float64 only: when its input (the first
    argument) is float16 or bfloat16, every Tensor argument of that dtype is cast to
    float32, the op runs in float32 and its float32 results are rounded back to the input's
    dtype (differentiably, so gradients arrive in the inputs' dtype)."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        if args and type(args[0]) is Tensor and args[0]._data.dtype.itemsize != 2:
            return fn(*args, **kwargs)              # the common case: not a 2-byte dtype
        x = args[0] if args else kwargs.get("input")
        if not isinstance(x, Tensor) or x._data.dtype not in _LOWP:
            return fn(*args, **kwargs)
        dt = x._data.dtype
        copies = []

        def up(a):
            if not isinstance(a, Tensor) or a._data.dtype != dt:
                return a
            c = to(a, np.float32)
            copies.append((a, c, c._version[0]))
            return c
        out = fn(*[up(a) for a in args], **{k: up(v) for k, v in kwargs.items()})
        for a, c, v in copies:          # tensors the op updates in place (running statistics)
            if c._version[0] != v:
                a._data[...] = c._data.astype(dt)
                a._version[0] += 1
        return _lowp_back(out, dt)
    return wrapped  # type: ignore[return-value]


def exports(module_name):
    """The ``__all__`` of an op module: the names its declarations made public."""
    return sorted(set(_EXPORTS.get(module_name, ())))


def _shape(t):
    return tuple(t._data.shape)


# ---- graph recording ------------------------------------------------------------------
def _edge(t):
    if t.grad_fn is not None:
        return t.grad_fn
    return t if t.requires_grad else None


def _record(out, name, fn, inputs, saved=(), out_saved=None, ctx=None, shapes=None):
    """Wrap ndarray `out` in a Tensor whose grad_fn is a new Node."""
    if len(inputs) == 1:
        t0 = inputs[0]
        e0 = t0.grad_fn
        edges = (e0 if e0 is not None else (t0 if t0.requires_grad else None),)
    else:
        edges = tuple([_edge(t) for t in inputs])
    node = Node(fn, name, edges, shapes, saved, out_saved, ctx)
    if _anomaly_mode[0]:                  # anomaly mode: remember the forward call's stack
        _anomaly._remember(node)
    if saved:
        v = 0
        for s in saved:
            if s is not None:
                v += s._version[0]
        node.ver = v
    t = _make(out)
    if out_saved is not None:
        node.outver = t._version          # an in-place change of the output is caught too
    t.requires_grad = True
    t.grad_fn = node
    if _fw.level:
        _engine.propagate_tangent(t, node, inputs)
    return t


_fw = _engine.fw


def _needs(*ts):
    if not grad_mode.enabled:
        return False
    for t in ts:
        if t.requires_grad:
            return True
    return False


def _zeros_of(x):
    return _make(np.zeros(x._data.shape, x._data.dtype))


def _ones_of(x):
    return _make(np.ones(x._data.shape, x._data.dtype))


# ---- input coercion -------------------------------------------------------------------
_scalar_cache = {}


def _scalar(v, dtype):
    """A 0-d tensor for a Python scalar (cached: scalars repeat in training loops; -0.0
    has its own entry, since it equals 0.0 as a key)."""
    key = (v, dtype, type(v))
    if v == 0 and type(v) is float and _copysign(1.0, v) < 0:
        key = (v, dtype, "-0")
    t = _scalar_cache.get(key)
    if t is None:
        if len(_scalar_cache) > 512:
            _scalar_cache.clear()
        try:
            arr = np.array(v, dtype=dtype)
        except OverflowError:
            if np.dtype(dtype).kind not in "iu":
                raise
            # an int out of an integer dtype's range wraps around, as PyTorch casts it
            arr = np.array(int(v) % (1 << 8 * np.dtype(dtype).itemsize), np.uint64).astype(dtype)
        arr.flags.writeable = False
        t = _make(arr)
        _scalar_cache[key] = t
    return t


def _to_tensor(x, who):
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (int, float, bool, np.number, np.bool_, list, tuple, np.ndarray)):
        return as_tensor(x)
    raise TypeError(f"{who}: expected a Tensor or a number, got {type(x).__name__}")


def _float_in(x, who):
    """x as a floating tensor (ints and bools become the default float dtype)."""
    if (type(x) is not Tensor and not isinstance(x, Tensor)):
        x = _to_tensor(x, who)
    if x._data.dtype not in _dtype.FLOAT_STORAGE:
        return _make(x._data.astype(_default[0]))
    return x


def _pair(a, b, who):
    """Bring a and b (Tensors or Python scalars) to one dtype, by PyTorch's promotion."""
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)     # Parameter is a Tensor too
    if ta and tb and a._data.dtype is b._data.dtype:
        return a, b
    if ta and not tb and isinstance(b, (int, float)) and not isinstance(b, bool) and a._data.dtype.kind == "f":
        return a, _scalar(b, a._data.dtype)
    if tb and not ta and isinstance(a, (int, float)) and not isinstance(a, bool) and b._data.dtype.kind == "f":
        return _scalar(a, b._data.dtype), b
    if not ta:
        if not isinstance(a, (int, float, bool, np.number, np.bool_)):
            a = _to_tensor(a, who)
    if not tb:
        if not isinstance(b, (int, float, bool, np.number, np.bool_)):
            b = _to_tensor(b, who)
    dt = result_dtype(a, b)
    a = _cast_to(a, dt)
    b = _cast_to(b, dt)
    return a, b


def _cast_to(x, dt):
    if isinstance(x, Tensor):
        return x if x._data.dtype == dt else to(x, dt)
    return _scalar(x.item() if isinstance(x, (np.number, np.bool_)) else x, dt)


def _norm_dim(d, nd, who):
    if not isinstance(d, (int, np.integer)) or isinstance(d, bool):
        raise TypeError(f"{who}: dim must be an int, got {type(d).__name__}")
    n = _max(nd, 1)
    if d < -n or d >= n:
        raise IndexError(f"{who}: dimension {d} is out of range for a tensor with {nd} dimensions "
                         f"(expected {-n}..{n - 1})")
    return d % n


def _norm_dims(dim, nd, who):
    if dim is None:
        return tuple(range(nd))
    if isinstance(dim, (list, tuple)):
        ds = tuple(sorted(_norm_dim(d, nd, who) for d in dim))
        if len(set(ds)) != len(ds):
            raise ShapeError(f"{who}: dim {tuple(dim)} names a dimension twice")
        return ds if nd else ()
    d = _norm_dim(dim, nd, who)          # checked for a 0-d tensor too (dims 0 and -1)
    return (d,) if nd else ()


# ---- casts ------------------------------------------------------------------------------
def _to_bwd(node, g):
    return (to(g, node.ctx),)


declare(_to_bwd, linear=lambda node, t, out: to(t, out._data.dtype))


@public(method=True)
def to(x: Tensor, *args, dtype: Optional[DType] = None, copy: bool = False, **kwargs) -> Tensor:
    """Cast to a dtype: to(dtype), to(other_tensor) (its dtype and device), to(device),
    to(device, dtype) or to(dtype=..., device=...).  The device must be the CPU (a
    ``fastgrad.device``, "cpu" or "cpu:0"); any other raises a RuntimeError naming it.
    Differentiable between float dtypes; casts to integer or bool dtypes carry no
    gradient.  Returns x itself when nothing changes (unless copy=True)."""
    unknown = set(kwargs) - {"non_blocking", "device", "memory_format"}
    if unknown:
        raise TypeError(f"to: unexpected keyword arguments {sorted(unknown)}")
    dev = kwargs.get("device")
    for a in args:
        if isinstance(a, Tensor):
            dtype = a._data.dtype if dtype is None else dtype
        elif isinstance(a, _device.device) or (isinstance(a, str) and (
                a.partition(":")[0] in _device.TYPES or not _is_dtype_name(a))) or (
                isinstance(a, int) and not isinstance(a, bool)):
            dev = a                 # an int is a CUDA device index, as in PyTorch
        elif dtype is None and a is not None and not isinstance(a, (bool, int)):
            dtype = a
        else:
            raise TypeError(f"to: unexpected argument {a!r}")
    if dev is not None:
        _device.check(dev, "to")
    if dtype is None:
        return clone(x) if copy else x
    dt = canonical_dtype(dtype, "to")
    if x._data.dtype == dt:
        return clone(x) if copy else x
    with np.errstate(invalid="ignore", over="ignore"):      # nan/inf to int: as C casts
        out = x._data.astype(dt)
    if dt in _dtype.FLOAT_STORAGE and _needs(x):
        return _record(out, "to", _to_bwd, (x,), ctx=x._data.dtype)
    return _make(out)


def _is_dtype_name(s):
    try:
        np.dtype(s)
        return True
    except TypeError:
        return False


@public(method="type", export=False)
def type_(x, dtype=None, non_blocking=False):
    """Tensor.type(): the type name ("fastgrad.FloatTensor", ...) without an argument, else
    a cast to dtype (a dtype, one of those names or a tensor type such as
    fastgrad.LongTensor)."""
    if dtype is None:
        return "fastgrad." + _dtype.FROM_NUMPY[x._data.dtype]._tensor_type
    return to(x, _dtype.tensor_type_dtype(dtype, "type"))


__all__ = exports(__name__)


# ops of other kinds, bound once this module's own names exist (the kinds call each other)
from fastgrad.ops.shape import clone
