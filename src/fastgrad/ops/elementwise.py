"""Elementwise ops: unary math and activations, binary arithmetic, comparisons, logic
and ``where`` (integer division and the bitwise ops are in ``bitwise``).  Each output
element depends on the same element of each (broadcast) input; the engine sums a
broadcast input's gradient back to its shape.

A C-backed op is one declaration: ``unary(name, deriv)`` or ``binary(name, vjp)``
builds the op function, its backward (the fused C backward kernel, or the derivative
written with fastgrad ops under ``create_graph``), its forward-mode rule, its place in
``__all__`` and its Tensor method from the kernel's name and the derivative.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Literal, overload

import numpy as np

from fastgrad.errors import ArgumentError, DtypeError, ShapeError
from fastgrad import _dtype
from fastgrad._dtype import DtypeNotSupported
from fastgrad._state import backend, grad_mode
from fastgrad._tensor import Tensor, _default, bool_, float32
from fastgrad.autograd.engine import declare, jvp_rule
from fastgrad._C._kernels import B, CMP, U, UNARY_USES_Y
from fastgrad import _opdoc
from fastgrad.ops._record import (_cast_to, _float_in, _make, _ones_of, _pair, _record, _scalar, _zeros_of,
                                  _to_tensor, exports, public, result_dtype, to)

if TYPE_CHECKING:
    from fastgrad._typing import TensorOrNumber


# ---- forward mode: helpers for the JVP rules that sit beside each backward --------------
# A rule is rule(node, inputs, tangents, out) -> the output's tangent or None (zero); see
# fastgrad.autograd.engine.JVP.
def _tplus(a, b):
    return b if a is None else a if b is None else add(a, b)


def _elementwise_jvp(node, xs, ts, out):
    """For ops whose output element k depends only on element k of each (broadcast)
    input: the backward of ones gives every partial derivative elementwise, and the
    tangent is their tangent-weighted sum."""
    gs = node.fn(node, _ones_of(out))
    tan = None
    for gi, ti in zip(gs, ts):
        if gi is not None and ti is not None:
            tan = _tplus(tan, mul(gi, ti))
    return tan


# ---- the declarations ---------------------------------------------------------------------
_NO_ARGS = (0.0, 0.0)
_ADD, _MUL = B["add"], B["mul"]       # the fast paths of add and mul

if TYPE_CHECKING:
    from fastgrad._typing import TensorOrNumber


@overload
def unary(name: str, deriv: Any, *, params: Literal[False] = ..., method: Any = ..., aliases: Any = ...,
          dunder: Any = ..., export: bool = ..., doc: str | None = ...) -> Callable[[Tensor], Tensor]: ...
@overload
def unary(name: str, deriv: Any, *, params: Literal[True], method: Any = ..., aliases: Any = ...,
          dunder: Any = ..., export: bool = ..., doc: str | None = ...) -> Callable[[Tensor, float, float], Tensor]: ...
def unary(name, deriv, *, params=False, method=True, aliases=(), dunder=(), export=True, doc=None):
    """Declare the unary op on C kernel ``U[name]``.

    ``deriv(x, y, a, b)`` is f'(x) written with fastgrad ops (x the input, y the output,
    a and b the op's two scalar parameters): the backward under ``create_graph`` is
    ``g * deriv`` and the forward-mode rule ``t * deriv``; without ``create_graph`` the
    backward is the fused kernel, which reads the output or the input as the C op table's
    row says (``UNARY_USES_Y``); ``deriv`` gets that one, the other is None.
    ``params``: the op takes the scalars, op(x, a, b) -- the private form that a public
    wrapper with PyTorch's arguments calls; else op(x).  ``export=False``: not public
    either (a private form).  ``method``, ``aliases``, ``dunder``: see ``public``."""
    opid = U[name]
    uses_y = opid in UNARY_USES_Y

    def bwd(node, g):
        a, b = node.ctx
        if grad_mode.enabled:
            x = node.saved[0] if node.saved else None
            y = node.output() if uses_y else None
            return (mul(g, deriv(x, y, a, b)),)
        x = node.saved[0]._data if node.saved else None
        return (_make(backend.k.unary_bwd(opid, g._data, x, node.out, a, b)),)

    def jvp(node, xs, ts, out):
        a, b = node.ctx
        return mul(ts[0], deriv(xs[0], out, a, b))

    declare(bwd, jvp=jvp, elementwise=True)

    if params:
        def op(x, a, b):
            if (type(x) is not Tensor and not isinstance(x, Tensor)) or x._data.dtype not in _KF:
                return _unary_other(lambda t: op(t, a, b), name, x)
            out = backend.k.unary(opid, x._data, a, b)
            if x.requires_grad and grad_mode.enabled:
                if uses_y:
                    return _record(out, name, bwd, (x,), (), out, (a, b))
                return _record(out, name, bwd, (x,), (x,), None, (a, b))
            return _make(out)
    else:
        def op(input: Tensor) -> Tensor:
            x = input
            if (type(x) is not Tensor and not isinstance(x, Tensor)) or x._data.dtype not in _KF:
                return _unary_other(op, name, x)
            out = backend.k.unary(opid, x._data, 0.0, 0.0)
            if x.requires_grad and grad_mode.enabled:
                if uses_y:
                    return _record(out, name, bwd, (x,), (), out, _NO_ARGS)
                return _record(out, name, bwd, (x,), (x,), None, _NO_ARGS)
            return _make(out)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc if params else _opdoc.unary_doc(name, doc, aliases)
    bwd.__qualname__ = name + "_backward"
    if export and not params:
        public(op, aliases=aliases, method=method, dunder=dunder)
    return op


_KF = _dtype.KERNEL_FLOATS          # the dtypes the C kernels compute in
_LOWP = _dtype.FLOAT_STORAGE - frozenset(_KF)      # float16, bfloat16: computed in float32


def _bool_refused(what):
    def f(x):
        raise DtypeNotSupported(f"{what}: not supported on a bool tensor (as in PyTorch)")
    return f


# unary ops that keep an integer dtype (PyTorch's rule); the others compute integer and
# bool inputs in the default float dtype.  name -> (on integers, on bool)
_INT_UNARY = {
    "neg": (np.negative, _bool_refused("neg: negation, the `-` operator; use `~` or logical_not() to "
                                       "invert a mask")),
    "abs": (np.abs, _bool_refused("abs")),
    "sign": (np.sign, np.copy),
    "square": (np.square, lambda x: np.square(x.astype(np.int64))),
    "relu": (lambda x: np.maximum(x, x.dtype.type(0)), _bool_refused("relu")),
}


def _unary_other(op, name, x):
    """A unary op on an input the kernels do not take: a Python number, an integer or bool
    tensor, float16/bfloat16 (computed in float32, rounded back), or a Tensor subclass."""
    if not isinstance(x, Tensor):
        x = _to_tensor(x, name)
    dt = x._data.dtype
    if dt in _KF:
        return op(x)
    if dt in _LOWP:
        return to(op(to(x, float32)), dt)
    fns = _INT_UNARY.get(name)
    if fns is not None:
        return _make(np.asarray(fns[1 if dt == bool_ else 0](x._data)))
    return op(_float_in(x, name))


_BOOL_REFUSED = {       # binary ops PyTorch refuses on bool tensors
    "sub": "subtraction, the `-` operator, with bool tensors is not supported; use `^` or "
           "logical_xor() instead",
    "fmod": "not implemented for bool tensors (as in PyTorch)",
    "remainder": "not implemented for bool tensors (as in PyTorch)",
}


def _is_bool(x):
    return x._data.dtype == bool_ if isinstance(x, Tensor) else isinstance(x, (bool, np.bool_))


def _bin_shapes(a, b, out):
    sa, sb, so = a._data.shape, b._data.shape, out.shape
    return None if (sa == so and sb == so) else (sa, sb)


class IntegerDivisionByZero(ZeroDivisionError, RuntimeError):
    """Integer fmod/remainder by zero: a ZeroDivisionError, and a RuntimeError like every
    other error a fastgrad kernel reports (PyTorch raises RuntimeError here)."""


def binary(name, vjp=None, *, ref, bwd=None, jvp=None, saves=True, uses_out=False, ctx=None,
           ints="numpy", bools=None, zero_division=False, method=True, aliases=(), dunder=(),
           reflected=None, export=True, doc=None) -> Callable[[TensorOrNumber, TensorOrNumber], Tensor]:
    """Declare the binary op on C kernel ``B[name]``, op(input, other), broadcasting.

    ``vjp = (da, db)``: each input's gradient, ``d(a, b, out, g)`` written with fastgrad
    ops (``out`` is the output when ``uses_out``, else None), run only for an input that
    needs it; the forward-mode rule is derived from them (the op is elementwise).  An op
    may give its own ``bwd(node, g)`` (and ``jvp``) instead, with ``saves`` (whether
    backward reads the inputs) and ``ctx`` (stored on the node).

    Inputs are brought to one dtype by PyTorch's promotion.  Integer inputs: ``ints``
    "numpy" computes ``ref`` (the NumPy function) on them, "float" casts them to the
    default float dtype first; ``bools`` does the same for bool inputs (default: as
    ``ints``); ``zero_division`` raises ``IntegerDivisionByZero`` for an integer zero
    divisor.  ``method``, ``aliases``, ``dunder``, ``reflected``, ``export``: see
    ``public``."""
    opid = B[name]
    any_bool_refused = name == "sub"          # PyTorch refuses a bool operand of sub, whatever the other
    ints_float = ints == "float"
    bools_float = (bools or ints) == "float"
    ints_quiet = name in ("add", "sub", "mul", "maximum", "minimum")  # NumPy never warns on these
    if bwd is None:
        da, db = vjp

        def bwd(node, g):
            a, b = node.saved
            out = node.output() if uses_out else None
            return (da(a, b, out, g) if da is not None and node.edges[0] is not None else None,
                    db(a, b, out, g) if db is not None and node.edges[1] is not None else None)
        bwd.__qualname__ = name + "_backward"
    declare(bwd, jvp=jvp or _elementwise_jvp, elementwise=True)

    def op(input: TensorOrNumber, other: TensorOrNumber) -> Tensor:
        a, b = input, other
        if ((type(a) is not Tensor and not isinstance(a, Tensor))
                or (type(b) is not Tensor and not isinstance(b, Tensor)) or a._data.dtype is not b._data.dtype):
            if any_bool_refused and (_is_bool(a) or _is_bool(b)):
                raise DtypeNotSupported(f"{name}: {_BOOL_REFUSED[name]}")
            if ints_float:          # cast the operands themselves: a scalar must not wrap first
                dt = result_dtype(a, b)
                if dt not in _dtype.FLOAT_STORAGE:
                    a, b = _cast_to(a, _default[0]), _cast_to(b, _default[0])
            a, b = _pair(a, b, name)
        if a._data.dtype not in _KF:
            if a._data.dtype in _LOWP:
                return to(op(to(a, float32), to(b, float32)), a._data.dtype)
            kind = a._data.dtype.kind
            if kind == "b" and name in _BOOL_REFUSED:
                raise DtypeNotSupported(f"{name}: {_BOOL_REFUSED[name]}")
            if bools_float if kind == "b" else ints_float:
                a, b = to(a, _default[0]), to(b, _default[0])
            else:
                if zero_division and kind in "iu" and np.any(b._data == 0):
                    raise IntegerDivisionByZero(f"{name}: integer division by zero")
                try:
                    if ints_quiet:
                        return _make(np.asarray(ref(a._data, b._data)))
                    with np.errstate(all="ignore"):       # integer overflow wraps, as in PyTorch
                        return _make(np.asarray(ref(a._data, b._data)))
                except ValueError:
                    raise ShapeError(f"{name}: shapes {tuple(a._data.shape)} and "
                                     f"{tuple(b._data.shape)} cannot be broadcast") from None
                except TypeError:
                    raise DtypeNotSupported(f"{name}: not supported for {_dtype.of_numpy(a._data.dtype)} "
                                            "tensors (as in PyTorch)") from None
        out = backend.k.binary(opid, a._data, b._data)
        if (a.requires_grad or b.requires_grad) and grad_mode.enabled:
            return _record(out, name, bwd, (a, b), (a, b) if saves else (),
                           out if uses_out else None, ctx, _bin_shapes(a, b, out))
        return _make(out)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = _opdoc.binary_doc(name, doc, aliases) if export else doc
    if export:
        public(op, aliases=aliases, method=method, dunder=dunder, reflected=reflected)
    return op


# ---- unary ops ---------------------------------------------------------------------------
_LN2, _LN10 = math.log(2.0), math.log(10.0)


def _mask(cond, like):
    return _make(cond._data.astype(like._data.dtype))


def _zero_deriv(x, y, a, b):
    return _scalar(0.0, x._data.dtype)


def _erf_deriv(x, y, a, b):
    return mul(exp(mul(square(x), -1.0)), 2.0 / math.sqrt(math.pi))


def _gelu_deriv(x, y, a, b):
    cdf = mul(add(erf(mul(x, 0.7071067811865476)), 1.0), 0.5)
    pdf = mul(exp(mul(square(x), -0.5)), 1.0 / math.sqrt(2 * math.pi))
    return add(cdf, mul(x, pdf))


def _gelu_tanh_deriv(x, y, a, b):
    k, c = 0.7978845608028654, 0.044715
    t = tanh(mul(add(x, mul(pow(x, 3.0), c)), k))
    left = mul(add(t, 1.0), 0.5)
    right = mul(mul(mul(x, 0.5), sub(1.0, square(t))), mul(add(mul(square(x), 3 * c), 1.0), k))
    return add(left, right)


def _silu_deriv(x, y, a, b):
    s = sigmoid(x)
    return mul(s, add(mul(x, sub(1.0, s)), 1.0))


def _softplus_deriv(x, y, a, b):
    return where(gt(mul(x, a), b), _scalar(1.0, x._data.dtype), sigmoid(mul(x, a)))


def _mish_deriv(x, y, a, b):
    t = tanh(softplus(x))
    return add(t, mul(mul(x, sub(1.0, square(t))), sigmoid(x)))


def _hardswish_deriv(x, y, a, b):
    dt = x._data.dtype
    mid = add(div(x, 3.0), 0.5)
    return where(lt(x, -3.0), _scalar(0.0, dt), where(gt(x, 3.0), _scalar(1.0, dt), mid))


def _logit_deriv(x, y, a, b):
    d = reciprocal(mul(x, sub(1.0, x)))
    if b:
        return mul(d, _mask(logical_and(ge(x, a), le(x, 1.0 - a)), x))
    return d


neg = unary("neg", lambda x, y, a, b: _scalar(-1.0, x._data.dtype), dunder=("__neg__",))
abs = unary("abs", lambda x, y, a, b: sign(x), dunder=("__abs__",))
exp = unary("exp", lambda x, y, a, b: y)
log = unary("log", lambda x, y, a, b: reciprocal(x))
log1p = unary("log1p", lambda x, y, a, b: reciprocal(add(x, 1.0)))
sqrt = unary("sqrt", lambda x, y, a, b: div(0.5, y))
rsqrt = unary("rsqrt", lambda x, y, a, b: mul(pow(y, 3.0), -0.5))
sin = unary("sin", lambda x, y, a, b: cos(x))
cos = unary("cos", lambda x, y, a, b: neg(sin(x)))
tanh = unary("tanh", lambda x, y, a, b: sub(1.0, square(y)))
sigmoid = unary("sigmoid", lambda x, y, a, b: mul(y, sub(1.0, y)))
relu = unary("relu", lambda x, y, a, b: _mask(gt(x, 0.0), x))
silu = unary("silu", _silu_deriv)
sign = unary("sign", lambda x, y, a, b: _zeros_of(x), aliases=("sgn",))
square = unary("square", lambda x, y, a, b: mul(x, 2.0))
reciprocal = unary("reciprocal", lambda x, y, a, b: neg(square(reciprocal(x))))
erf = unary("erf", _erf_deriv)
exp2 = unary("exp2", lambda x, y, a, b: mul(exp2(x), _LN2))
log2 = unary("log2", lambda x, y, a, b: reciprocal(mul(x, _LN2)))
log10 = unary("log10", lambda x, y, a, b: reciprocal(mul(x, _LN10)))
expm1 = unary("expm1", lambda x, y, a, b: exp(x))
tan = unary("tan", lambda x, y, a, b: add(square(tan(x)), 1.0))
asin = unary("asin", lambda x, y, a, b: rsqrt(sub(1.0, square(x))), aliases=("arcsin",))
acos = unary("acos", lambda x, y, a, b: neg(rsqrt(sub(1.0, square(x)))), aliases=("arccos",))
atan = unary("atan", lambda x, y, a, b: reciprocal(add(square(x), 1.0)), aliases=("arctan",))
sinh = unary("sinh", lambda x, y, a, b: cosh(x))
cosh = unary("cosh", lambda x, y, a, b: sinh(x))
mish = unary("mish", _mish_deriv, method=False,
             doc="x * tanh(softplus(x)); mish(-inf) is the limit -0 (PyTorch gives nan).")
hardswish = unary("hardswish", _hardswish_deriv, method=False)
hardsigmoid = unary("hardsigmoid", method=False,
                    deriv=lambda x, y, a, b: div(_mask(logical_and(gt(x, -3.0), lt(x, 3.0)), x), 6.0))

# the kernels behind public ops with PyTorch's arguments (below)
_floor = unary("floor", _zero_deriv, export=False)
_ceil = unary("ceil", _zero_deriv, export=False)
_trunc = unary("trunc", _zero_deriv, export=False)
_round = unary("round", _zero_deriv, export=False)
_leaky_relu = unary("leaky_relu", lambda x, y, a, b: where(gt(x, 0.0), _scalar(1.0, x._data.dtype),
                                                           _scalar(a, x._data.dtype)), params=True)
_gelu = unary("gelu", _gelu_deriv, export=False)
_gelu_tanh = unary("gelu_tanh", _gelu_tanh_deriv, export=False)
_softplus = unary("softplus", _softplus_deriv, params=True)
_clamp = unary("clamp", lambda x, y, a, b: _mask(logical_and(ge(x, a), le(x, b)), x), params=True)
_pow_scalar = unary("pow_scalar", lambda x, y, a, b: mul(pow(x, a - 1.0), a) if a != 0 else mul(x, 0.0),
                    params=True)
_hardtanh = unary("hardtanh", lambda x, y, a, b: _mask(logical_and(gt(x, a), lt(x, b)), x), params=True)
_elu = unary("elu", lambda x, y, a, b: where(gt(x, 0.0), _scalar(b, x._data.dtype), mul(exp(x), a * b)),
             params=True)
_logit = unary("logit", _logit_deriv, params=True)


@public(method=True)
def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope * x, elementwise (the output has the shape and dtype
    of ``x``)."""
    return _leaky_relu(x, float(negative_slope), 0.0)


@public(method=True)
def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """The Gaussian error linear unit x * Phi(x), Phi the standard normal CDF, elementwise.
    ``approximate='tanh'`` uses 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3)))."""
    if approximate == "none":
        return _gelu(x)
    if approximate == "tanh":
        return _gelu_tanh(x)
    raise ArgumentError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


@public(method=True)
def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, elementwise; where beta * x > ``threshold`` the result is
    x itself (no overflow)."""
    if beta == 0:
        raise ArgumentError("softplus: beta must be non-zero")
    return _softplus(x, float(beta), float(threshold))


@public(method=True, aliases=("clip",))
def clamp(x: Tensor, min=None, max=None) -> Tensor:
    """Clamp into [min, max]; either bound may be None or a tensor."""
    if min is None and max is None:
        raise ArgumentError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor) or (
            isinstance(x, Tensor) and x._data.dtype.kind in "iub" and not isinstance(min, float)
            and not isinstance(max, float)):          # integer bounds keep an integer dtype
        out = x
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    lo = -math.inf if min is None else float(min)
    hi = math.inf if max is None else float(max)
    if lo > hi:       # PyTorch's min(max(x, lo), hi): hi everywhere (nan stays), zero gradient
        return add(mul(_clamp(x, hi, hi), 0.0), hi)
    return _clamp(x, lo, hi)


@public(method=True, dunder=("__pow__",), reflected="__rpow__")
def pow(x: Tensor, exponent: TensorOrNumber) -> Tensor:
    """x ** exponent for tensor/scalar combinations."""
    if ((type(x) is Tensor or isinstance(x, Tensor)) and isinstance(exponent, (int, float))
            and not isinstance(exponent, bool)):
        if x._data.dtype in _dtype.FLOAT_STORAGE:
            return _pow_scalar(x, float(exponent), 0.0)
        if isinstance(exponent, int) and exponent < 0:
            raise IntegerPowerError(f"pow: integers to negative integer powers are not allowed "
                                    f"({_dtype.of_numpy(x._data.dtype)} tensor ** {exponent})")
        return _make(np.power(x._data, exponent)) if isinstance(exponent, int) \
            else _pow_scalar(_float_in(x, "pow"), float(exponent), 0.0)
    return _pow(x, exponent)


def _int_passthrough(x):
    """Integer tensors are returned as a copy, unchanged (PyTorch's rule; it refuses bool)."""
    if (type(x) is Tensor or isinstance(x, Tensor)) and x._data.dtype == bool_:
        raise DtypeNotSupported("floor, ceil, trunc and round are not implemented for bool tensors "
                                "(as in PyTorch)")
    return (type(x) is Tensor or isinstance(x, Tensor)) and x._data.dtype.kind in "iu"


@public(method=True)
def floor(x: Tensor) -> Tensor:
    """Largest integer <= x (zero gradient); integer tensors come back unchanged."""
    return _make(x._data.copy()) if _int_passthrough(x) else _floor(x)


@public(method=True)
def ceil(x: Tensor) -> Tensor:
    """The smallest integer not below each element (the dtype is kept; integer tensors are
    returned unchanged). The gradient is 0."""
    return _make(x._data.copy()) if _int_passthrough(x) else _ceil(x)


@public(method=True, aliases=("fix",))
def trunc(x: Tensor) -> Tensor:
    """Each element rounded toward zero (also available as ``fix``). The gradient is 0."""
    return _make(x._data.copy()) if _int_passthrough(x) else _trunc(x)


@public(method=True)
def round(x: Tensor, decimals: int = 0) -> Tensor:
    """Round half to even (like PyTorch and NumPy); with ``decimals``, rounds
    x * 10**decimals and scales back (as PyTorch does).  Zero gradient."""
    if _int_passthrough(x):       # integers: unchanged, or rounded to tens, hundreds, ... (like NumPy)
        return _make(x._data.copy() if decimals >= 0 else np.round(x._data, max(int(decimals), -30)))
    if decimals == 0:
        return _round(x)
    try:
        s = 10.0 ** decimals
    except OverflowError:
        raise ArgumentError(f"round: decimals={decimals} is out of range for floating point") from None
    return div(_round(mul(_float_in(x, "round"), s)), s)


@public
def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """Clamp into [min_val, max_val]; the gradient is 1 strictly inside (PyTorch's rule;
    clamp's gradient includes the end points)."""
    if min_val > max_val:
        raise ArgumentError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    return _hardtanh(x, float(min_val), float(max_val))


@public
def relu6(x: Tensor) -> Tensor:
    """min(max(x, 0), 6), elementwise."""
    return _hardtanh(_float_in(x, "relu6"), 0.0, 6.0)


@public
def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x where x > 0, else alpha * (exp(x) - 1), elementwise."""
    return _elu(x, float(alpha), 1.0)


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


@public
def selu(x: Tensor) -> Tensor:
    """scale * elu(x, alpha) with PyTorch's constants alpha = 1.6733 and scale = 1.0507
    (self-normalising networks), elementwise."""
    return _elu(_float_in(x, "selu"), _SELU_ALPHA, _SELU_SCALE)


@public(method=True)
def logit(x: Tensor, eps=None) -> Tensor:
    """log(x / (1 - x)); with eps, x is first clamped into [eps, 1 - eps] (gradient 0
    outside).  Without eps the gradient outside [0, 1] is nan, as in PyTorch."""
    if eps is None:
        return _logit(x, 0.0, 0.0)
    if not 0.0 <= eps <= 0.5:
        raise ArgumentError(f"logit: eps must be in [0, 0.5], got {eps}")
    return _logit(x, float(eps), 1.0)


# ---- binary ops --------------------------------------------------------------------------
def _add_bwd(node, g):
    return (g, g)


def _add_jvp(node, xs, ts, out):
    return _tplus(ts[0], ts[1])


def _sub_bwd(node, g):
    return (g, neg(g) if node.edges[1] is not None else None)


def _sub_jvp(node, xs, ts, out):
    return _tplus(ts[0], None if ts[1] is None else neg(ts[1]))


def _mul_bwd(node, g):
    a, b = node.saved
    return (mul(g, b) if node.edges[0] is not None else None,
            mul(g, a) if node.edges[1] is not None else None)


def _mul_jvp(node, xs, ts, out):
    a, b = xs
    return _tplus(None if ts[0] is None else mul(ts[0], b), None if ts[1] is None else mul(a, ts[1]))


def _div_bwd(node, g):
    a, b = node.saved
    ga = div(g, b) if node.edges[0] is not None else None
    gb = neg(div(mul(g, a), square(b))) if node.edges[1] is not None else None
    return (ga, gb)


def _atan2_bwd(node, g):
    y, x = node.saved
    den = add(square(x), square(y))
    ga = div(mul(g, x), den) if node.edges[0] is not None else None
    gb = neg(div(mul(g, y), den)) if node.edges[1] is not None else None
    return (ga, gb)


def _div_jvp(node, xs, ts, out):
    # d(a/b) = (da - (a/b) db) / b
    num = _tplus(ts[0], None if ts[1] is None else neg(mul(ts[1], out)))
    return div(num, xs[1])


def _maxmin_bwd(node, g):
    a, b = node.saved
    is_max = node.ctx
    sel = gt(a, b) if is_max else lt(a, b)
    tie = eq(a, b)
    zero = _scalar(0.0, g._data.dtype)
    half = mul(g, 0.5)
    ga = where(sel, g, where(tie, half, zero)) if node.edges[0] is not None else None
    gb = where(sel, zero, where(tie, half, g)) if node.edges[1] is not None else None
    return (ga, gb)


def _pow_db(a, b, out, g):
    # d/db a^b = a^b log a; define it as 0 where a == 0 and b >= 0 (as PyTorch does)
    safe = where(logical_and(eq(a, 0.0), ge(b, 0.0)), _scalar(1.0, a._data.dtype), a)
    return mul(g, mul(out, log(safe)))


def _pow_da(a, b, out, g):
    # d/da a^b = b a^(b-1), defined as 0 where b == 0 (so 0 at a == 0 too, as PyTorch does)
    d = mul(b, pow(a, sub(b, 1.0)))
    return mul(g, where(eq(b, 0.0), _scalar(0.0, d._data.dtype), d))
class IntegerPowerError(ValueError, RuntimeError):
    """An integer tensor to a negative Python int power (PyTorch raises RuntimeError)."""


def _int_pow(a, b):
    """a ** b on integer arrays, PyTorch's rule for b < 0: 1 ** b is 1, (-1) ** b is +-1, and
    any other base gives 0 (the truncated quotient)."""
    a, b = np.broadcast_arrays(a, b)
    neg = b < 0
    with np.errstate(all="ignore"):
        out = np.power(a, np.where(neg, 0, b).astype(b.dtype))
    if np.any(neg):
        one = np.ones((), out.dtype)
        odd = (-b.astype(np.int64)) % 2 == 1
        out = np.where(neg, np.where(a == 1, one, np.where(a == -1, np.where(odd, -one, one), 0 * one)), out)
    return out.astype(np.result_type(a, b), copy=False)


def _fmod_db(rounding):
    return lambda a, b, out, g: neg(mul(g, rounding(div(a, b))))


# the general forms (any dtypes, Python scalars) behind the public functions with fast
# paths or extra arguments below
_add = binary("add", bwd=_add_bwd, jvp=_add_jvp, saves=False, ref=np.add, export=False)
_sub = binary("sub", bwd=_sub_bwd, jvp=_sub_jvp, saves=False, ref=np.subtract, export=False)
_mul = binary("mul", bwd=_mul_bwd, jvp=_mul_jvp, ref=np.multiply, export=False)
_div = binary("div", bwd=_div_bwd, jvp=_div_jvp, ref=np.true_divide, ints="float", export=False)
_pow = binary("pow", (_pow_da, _pow_db), uses_out=True, ref=_int_pow, bools="float", export=False)
maximum = binary("maximum", bwd=_maxmin_bwd, ctx=True, ref=np.maximum)
minimum = binary("minimum", bwd=_maxmin_bwd, ctx=False, ref=np.minimum)
atan2 = binary("atan2", bwd=_atan2_bwd, ref=np.arctan2, ints="float", aliases=("arctan2",),
               doc="Angle of (other, input) in radians, atan2(y=input, x=other), with C99's "
                   "signed-zero and infinity cases.")
hypot = binary("hypot", (lambda a, b, out, g: mul(g, div(a, out)), lambda a, b, out, g: mul(g, div(b, out))),
               uses_out=True, ref=np.hypot, ints="float",
               doc="sqrt(input**2 + other**2) without overflow or underflow in the squares.")
fmod = binary("fmod", (lambda a, b, out, g: g, _fmod_db(trunc)), ref=np.fmod, zero_division=True,
              doc="C-style remainder: the result has the sign of the dividend (input).")
remainder = binary("remainder", (lambda a, b, out, g: g, _fmod_db(floor)), ref=np.remainder,
                   zero_division=True, dunder=("__mod__",), reflected="__rmod__",
                   doc="Python-style remainder: the result has the sign of the divisor (other).")


@public(method=True, dunder=("__add__",), reflected="__radd__")
def add(a: TensorOrNumber, b: TensorOrNumber, alpha: float = 1) -> Tensor:
    """a + alpha * b, elementwise (the ``+`` operator). ``a``, ``b``: Tensors or Python
    numbers, broadcast together; the output has the broadcast shape. The dtype follows
    PyTorch's type promotion (``fastgrad.result_type``)."""
    if alpha != 1:
        b = mul(b, alpha)
    if ((type(a) is Tensor or isinstance(a, Tensor)) and (type(b) is Tensor or isinstance(b, Tensor))
            and a._data.dtype is b._data.dtype and a._data.dtype in _KF):
        out = backend.k.binary(_ADD, a._data, b._data)
        if (a.requires_grad or b.requires_grad) and grad_mode.enabled:
            return _record(out, "add", _add_bwd, (a, b), (), None, None, _bin_shapes(a, b, out))
        return _make(out)
    return _add(a, b)


@public(method=True, aliases=("subtract",), dunder=("__sub__",), reflected="__rsub__")
def sub(a: TensorOrNumber, b: TensorOrNumber, alpha: float = 1) -> Tensor:
    """a - alpha * b, elementwise (the ``-`` operator). ``a``, ``b``: Tensors or Python
    numbers, broadcast together; the output has the broadcast shape. Bool tensors are
    refused, as in PyTorch."""
    if alpha != 1:
        b = mul(b, alpha)
    return _sub(a, b)


@public(method=True, aliases=("multiply",), dunder=("__mul__",), reflected="__rmul__")
def mul(a: TensorOrNumber, b: TensorOrNumber) -> Tensor:
    """a * b, elementwise (the ``*`` operator). ``a``, ``b``: Tensors or Python numbers,
    broadcast together; the output has the broadcast shape."""
    if ((type(a) is Tensor or isinstance(a, Tensor)) and (type(b) is Tensor or isinstance(b, Tensor))
            and a._data.dtype is b._data.dtype and a._data.dtype in _KF):
        out = backend.k.binary(_MUL, a._data, b._data)
        if (a.requires_grad or b.requires_grad) and grad_mode.enabled:
            return _record(out, "mul", _mul_bwd, (a, b), (a, b), None, None, _bin_shapes(a, b, out))
        return _make(out)
    return _mul(a, b)


@public(method=True, aliases=("true_divide", "divide"), dunder=("__truediv__",),
        reflected="__rtruediv__")
def div(a: TensorOrNumber, b: TensorOrNumber, rounding_mode=None) -> Tensor:
    """a / b.  ``rounding_mode``: None true-divides (integers give the default float dtype);
    "trunc" rounds the quotient toward zero, "floor" toward -inf, keeping an integer
    dtype (the gradient of a rounded quotient is zero, as in PyTorch).  An integer
    division by zero raises IntegerDivisionByZero."""
    if rounding_mode is None:
        return _div(a, b)
    if rounding_mode == "trunc" or rounding_mode == "floor":
        return _rounded_div(a, b, rounding_mode, "div")
    raise RoundingModeError(f"div: expected rounding_mode to be one of None, 'trunc', or 'floor', but "
                            f"found {rounding_mode!r}")


# ---- comparisons and logic (no gradient) -------------------------------------------------
def _compare(name, a, b):
    if ((type(a) is not Tensor and not isinstance(a, Tensor))
            or (type(b) is not Tensor and not isinstance(b, Tensor)) or a._data.dtype is not b._data.dtype):
        a, b = _pair(a, b, name)
    if a._data.dtype in _KF:
        return _make(backend.k.compare(CMP[name], a._data, b._data))
    fn = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
          "gt": np.greater, "ge": np.greater_equal}[name]
    try:
        return _make(np.asarray(fn(a._data, b._data)))
    except ValueError:
        raise ShapeError(f"{name}: shapes {tuple(a._data.shape)} and {tuple(b._data.shape)} cannot be "
                         "broadcast") from None


@public(method=True, dunder=("__eq__",))
def eq(a: TensorOrNumber, b: TensorOrNumber) -> Tensor:
    """a == b elementwise, a bool tensor (the ``==`` operator). ``a``, ``b``: Tensors or Python
    numbers, broadcast together; the output has the broadcast shape."""
    return _compare("eq", a, b)


@public(method=True, dunder=("__ne__",))
def ne(a: TensorOrNumber, b: TensorOrNumber) -> Tensor:
    """a != b elementwise, a bool tensor (the ``!=`` operator). ``a``, ``b``: Tensors or Python
    numbers, broadcast together; the output has the broadcast shape."""
    return _compare("ne", a, b)


@public(method=True, dunder=("__lt__",))
def lt(a: TensorOrNumber, b: TensorOrNumber) -> Tensor:
    """a < b elementwise, a bool tensor (the ``<`` operator). ``a``, ``b``: Tensors or Python
    numbers, broadcast together; the output has the broadcast shape."""
    return _compare("lt", a, b)


@public(method=True, dunder=("__le__",))
def le(a: TensorOrNumber, b: TensorOrNumber) -> Tensor:
    """a <= b elementwise, a bool tensor (the ``<=`` operator). ``a``, ``b``: Tensors or Python
    numbers, broadcast together; the output has the broadcast shape."""
    return _compare("le", a, b)


@public(method=True, dunder=("__gt__",))
def gt(a: TensorOrNumber, b: TensorOrNumber) -> Tensor:
    """a > b elementwise, a bool tensor (the ``>`` operator). ``a``, ``b``: Tensors or Python
    numbers, broadcast together; the output has the broadcast shape."""
    return _compare("gt", a, b)


@public(method=True, dunder=("__ge__",))
def ge(a: TensorOrNumber, b: TensorOrNumber) -> Tensor:
    """a >= b elementwise, a bool tensor (the ``>=`` operator). ``a``, ``b``: Tensors or Python
    numbers, broadcast together; the output has the broadcast shape."""
    return _compare("ge", a, b)


def _logic(fn, name, a, b=None):
    arrs = [(_to_tensor(x, name))._data for x in ((a,) if b is None else (a, b))]
    try:
        return _make(np.asarray(fn(*arrs)))
    except ValueError:
        raise ShapeError(f"{name}: shapes {[tuple(x.shape) for x in arrs]} cannot be broadcast") from None


@public(method=True)
def logical_and(a: TensorOrNumber, b: TensorOrNumber) -> Tensor:
    """a and b elementwise (nonzero is true), a bool tensor. ``a``, ``b``: Tensors or Python
    numbers, broadcast together; the output has the broadcast shape."""
    return _logic(np.logical_and, "logical_and", a, b)


@public(method=True)
def logical_or(a: TensorOrNumber, b: TensorOrNumber) -> Tensor:
    """a or b elementwise (nonzero is true), a bool tensor. ``a``, ``b``: Tensors or Python
    numbers, broadcast together; the output has the broadcast shape."""
    return _logic(np.logical_or, "logical_or", a, b)


@public(method=True)
def logical_not(a: TensorOrNumber) -> Tensor:
    """not a elementwise (zero is true), a bool tensor with the shape of ``a``."""
    return _logic(np.logical_not, "logical_not", a)


@public(method=True)
def isnan(x: Tensor) -> Tensor:
    """A bool tensor: True where the element is nan."""
    return _make(np.isnan(_to_tensor(x, "isnan")._data))


@public(method=True)
def isinf(x: Tensor) -> Tensor:
    """A bool tensor: True where the element is +inf or -inf."""
    return _make(np.isinf(_to_tensor(x, "isinf")._data))


@public(method=True)
def isfinite(x: Tensor) -> Tensor:
    """A bool tensor: True where the element is neither inf nor nan."""
    return _make(np.isfinite(_to_tensor(x, "isfinite")._data))


@public(method=True)
def allclose(a: TensorOrNumber, b: TensorOrNumber, rtol: float = 1e-5, atol: float = 1e-8,
             equal_nan: bool = False) -> bool:
    """True when every |a - b| <= atol + rtol * |b| (after broadcasting); ``equal_nan`` counts
    nan == nan. A Python bool."""
    a, b = _to_tensor(a, "allclose")._data, _to_tensor(b, "allclose")._data
    try:
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))
    except ValueError:
        raise ShapeError(f"allclose: shapes {a.shape} and {b.shape} cannot be broadcast") from None


@public
def equal(a: TensorOrNumber, b: TensorOrNumber) -> bool:
    """True when ``a`` and ``b`` have the same shape and the same elements. A Python bool."""
    a, b = _to_tensor(a, "equal"), _to_tensor(b, "equal")
    return a._data.shape == b._data.shape and bool(np.array_equal(a._data, b._data))


# ---- ops computed by NumPy, with derivatives written with fastgrad ops ----------------------
# (no C kernel: the forward runs NumPy's function on any backend)
def _np_unary(name, npfn, deriv, aliases=(), doc=None) -> Callable[[Tensor], Tensor]:
    """Declare the unary op ``npfn`` (a NumPy ufunc) with derivative ``deriv(x)``."""
    def bwd(node, g):
        return (mul(g, deriv(node.saved[0])),)

    def jvp(node, xs, ts, out):
        return mul(ts[0], deriv(xs[0]))

    declare(bwd, jvp=jvp, elementwise=True)

    def op(input: Tensor) -> Tensor:
        x = input
        if not isinstance(x, Tensor) or x._data.dtype.kind != "f":
            x = _float_in(x, name)
        with np.errstate(all="ignore"):       # nan/inf outside the domain, like the C kernels
            out = np.asarray(npfn(x._data))
        if x.requires_grad and grad_mode.enabled:
            return _record(out, name, bwd, (x,), (x,))
        return _make(out)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = _opdoc.unary_doc(name, doc, aliases, lowp=False)
    bwd.__qualname__ = name + "_backward"
    return public(op, aliases=aliases, method=True)


def _np_binary(name, npfn, da, db, doc=None) -> Callable[[TensorOrNumber, TensorOrNumber], Tensor]:
    """Declare the broadcasting binary op ``npfn`` (a NumPy ufunc) on floats (integer and
    bool inputs become the default float dtype) with partial derivatives ``da(a, b)``,
    ``db(a, b)``."""
    def bwd(node, g):
        a, b = node.saved
        return (mul(g, da(a, b)) if node.edges[0] is not None else None,
                mul(g, db(a, b)) if node.edges[1] is not None else None)

    declare(bwd, jvp=_elementwise_jvp, elementwise=True)

    def op(input: TensorOrNumber, other: TensorOrNumber) -> Tensor:
        a, b = _pair(input, other, name)
        if a._data.dtype.kind != "f":
            a, b = to(a, _default[0]), to(b, _default[0])
        try:
            with np.errstate(all="ignore"):
                out = np.asarray(npfn(a._data, b._data))
        except ValueError:
            raise ShapeError(f"{name}: shapes {tuple(a._data.shape)} and {tuple(b._data.shape)} "
                             "cannot be broadcast") from None
        if (a.requires_grad or b.requires_grad) and grad_mode.enabled:
            return _record(out, name, bwd, (a, b), (a, b), None, None, _bin_shapes(a, b, out))
        return _make(out)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = _opdoc.binary_doc(name, doc)
    bwd.__qualname__ = name + "_backward"
    return public(op, method=True)


def _sign_of(b, like):
    """+1 or -1 by the sign bit of b (so -0.0 gives -1), in like's dtype."""
    return _make(np.where(np.signbit(b._data), -1.0, 1.0).astype(like._data.dtype))


asinh = _np_unary("asinh", np.arcsinh, lambda x: rsqrt(add(square(x), 1.0)), aliases=("arcsinh",))
acosh = _np_unary("acosh", np.arccosh, lambda x: rsqrt(sub(square(x), 1.0)), aliases=("arccosh",))
atanh = _np_unary("atanh", np.arctanh, lambda x: reciprocal(sub(1.0, square(x))), aliases=("arctanh",))
logaddexp = _np_binary("logaddexp", np.logaddexp, lambda a, b: sigmoid(sub(a, b)),
                       lambda a, b: sigmoid(sub(b, a)), doc="log(exp(input) + exp(other)), without overflow.")
logaddexp2 = _np_binary("logaddexp2", np.logaddexp2, lambda a, b: sigmoid(mul(sub(a, b), _LN2)),
                        lambda a, b: sigmoid(mul(sub(b, a), _LN2)),
                        doc="log2(2**input + 2**other), without overflow.")
copysign = _np_binary("copysign", np.copysign, lambda a, b: mul(sign(a), _sign_of(b, a)),
                      lambda a, b: _make(np.zeros(np.broadcast_shapes(a._data.shape, b._data.shape),
                                                  a._data.dtype)),
                      doc="The magnitude of input with the sign (bit) of other; the gradient "
                          "of input is 0 at input == 0, other gets a zero gradient.")


@public(method=True)
def lerp(input: Tensor, end: Tensor, weight: TensorOrNumber) -> Tensor:
    """input + weight * (end - input), computed as PyTorch does (from end for weights of
    magnitude >= 0.5, so weight 1 gives end exactly).  weight: a number or a tensor
    (broadcast)."""
    x, e = _pair(input, end, "lerp")
    if x._data.dtype.kind != "f":
        raise TypeError(f"lerp: input and end must be floating point, got {x._data.dtype}")
    shapes = [x._data.shape, e._data.shape] + ([weight._data.shape] if isinstance(weight, Tensor) else [])
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ShapeError(f"lerp: shapes {' and '.join(str(tuple(s)) for s in shapes)} cannot be "
                         "broadcast") from None
    d = sub(e, x)
    if isinstance(weight, Tensor):
        w = weight if weight._data.dtype == x._data.dtype else to(weight, x._data.dtype)
        small = lt(abs(w), 0.5)
        return where(small, add(x, mul(w, d)), sub(e, mul(d, sub(1.0, w))))
    w = float(weight)
    if math.fabs(w) < 0.5:
        return add(x, mul(d, w))
    return sub(e, mul(d, 1.0 - w))


@public(method=True)
def isclose(input: Tensor, other: TensorOrNumber, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """|input - other| <= atol + rtol * |other| elementwise (infinities equal themselves);
    a bool tensor."""
    a, b = _to_tensor(input, "isclose")._data, _to_tensor(other, "isclose")._data
    try:
        return _make(np.asarray(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan)))
    except ValueError:
        raise ShapeError(f"isclose: shapes {a.shape} and {b.shape} cannot be broadcast") from None


# ---- where ------------------------------------------------------------------------------
def _where_bwd(node, g):
    (c,) = node.saved
    zero = _scalar(0.0, g._data.dtype)
    return (None,
            where(c, g, zero) if node.edges[1] is not None else None,
            where(c, zero, g) if node.edges[2] is not None else None)


@jvp_rule(_where_bwd)
def _where_jvp(node, xs, ts, out):
    z = _scalar(0.0, out._data.dtype)
    return where(xs[0], z if ts[1] is None else ts[1], z if ts[2] is None else ts[2])


@public
def where(condition: Tensor, input: TensorOrNumber, other: TensorOrNumber) -> Tensor:
    """condition ? input : other, broadcasting all three."""
    c = _to_tensor(condition, "where")
    if c._data.dtype != bool_:
        raise DtypeError(f"where: condition must be a bool tensor, got {c._data.dtype}")
    a, b = _pair(input, other, "where")
    if not isinstance(a, Tensor):
        a = _scalar(a, b._data.dtype)
    if a._data.dtype not in _KF:
        if a._data.dtype in _LOWP and (a.requires_grad or b.requires_grad):
            return to(where(c, to(a, float32), to(b, float32)), a._data.dtype)
        return _make(np.where(c._data, a._data, b._data))
    out = backend.k.where(c._data, a._data, b._data)
    if (a.requires_grad or b.requires_grad) and grad_mode.enabled:
        shapes = (c._data.shape, a._data.shape, b._data.shape)
        shapes = None if all(s == out.shape for s in shapes) else shapes
        return _record(out, "where", _where_bwd, (c, a, b), (c,), None, None, shapes)
    return _make(out)


__all__ = exports(__name__)

# div's rounding modes live with the integer ops (bound once this module's names exist)
from fastgrad.ops.bitwise import RoundingModeError, _rounded_div
