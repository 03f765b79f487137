"""Elementwise ops: unary math and activations, binary arithmetic, comparisons, logic
and ``where``.  Each output element depends on the same element of each (broadcast)
input; the engine sums a broadcast input's gradient back to its shape.
"""
import math

import numpy as np

from fastgrad._state import backend, grad_mode
from fastgrad._tensor import Tensor, _default, bool_
from fastgrad.autograd.engine import jvp_rule
from fastgrad._C._kernels import B, CMP, U
from fastgrad.ops._record import (_float_in, _make, _ones_of, _pair, _record, _scalar, _to_tensor,
                                  to)

__all__ = [
    "abs", "acos", "add", "allclose", "arccos", "arcsin", "arctan", "arctan2", "asin", "atan",
    "atan2", "ceil", "clamp", "clip", "cos", "cosh", "div", "divide", "elu", "eq", "equal",
    "erf", "exp", "exp2", "expm1", "fix", "floor", "fmod", "ge", "gelu", "gt", "hardsigmoid",
    "hardswish", "hardtanh", "isfinite", "isinf", "isnan", "le", "leaky_relu", "log", "log10",
    "log1p", "log2", "logical_and", "logical_not", "logical_or", "logit", "lt", "maximum",
    "minimum", "mish", "mul", "multiply", "ne", "neg", "pow", "reciprocal", "relu", "relu6",
    "remainder", "round", "rsqrt", "selu", "sigmoid", "sign", "silu", "sin", "sinh",
    "softplus", "sqrt", "square", "sub", "subtract", "tan", "tanh", "true_divide", "trunc",
    "where",
]


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


# ---- elementwise unary ------------------------------------------------------------------
def _unary(name, uses_y, deriv, ref, domain=(-3.0, 3.0), params=None, reg_kwargs=None):
    """Build a unary op from its kernel id.  deriv(x, y, ctx) is f' written with fastgrad
    ops (used for create_graph); uses_y says whether the fused backward kernel reads the
    output (True) or the input (False)."""
    opid = U[name]

    def bwd(node, g):
        a, b = node.ctx
        if grad_mode.enabled:
            x = node.saved[0] if node.saved else None
            y = node.output() if uses_y else None
            return (mul(g, deriv(x, y, a, b)),)
        x = node.saved[0].data if node.saved else None
        return (_make(backend.k.unary_bwd(opid, g.data, x, node.out, a, b)),)

    @jvp_rule(bwd)
    def jvp(node, xs, ts, out):
        a, b = node.ctx
        return mul(ts[0], deriv(xs[0], out, a, b))

    def op(x, a=0.0, b=0.0):
        if type(x) is not Tensor or x.data.dtype.kind != "f":
            x = _float_in(x, name)
        out = backend.k.unary(opid, x.data, a, b)
        if x.requires_grad and grad_mode.enabled:
            if uses_y:
                return _record(out, name, bwd, (x,), (), out, (a, b))
            return _record(out, name, bwd, (x,), (x,), None, (a, b))
        return _make(out)

    op.__name__ = name
    return op


def _mask(cond, like):
    return _make(cond.data.astype(like.data.dtype))


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
    return where(gt(mul(x, a), b), _scalar(1.0, x.data.dtype), sigmoid(mul(x, a)))


_neg = _unary("neg", False, lambda x, y, a, b: _scalar(-1.0, x.data.dtype), lambda x: -x)
_abs_op = _unary("abs", False, lambda x, y, a, b: sign(x), np.abs)
exp = _unary("exp", True, lambda x, y, a, b: y, np.exp, (-10, 10))
log = _unary("log", False, lambda x, y, a, b: reciprocal(x), np.log, (0.1, 5))
log1p = _unary("log1p", False, lambda x, y, a, b: reciprocal(add(x, 1.0)), np.log1p, (-0.9, 5))
sqrt = _unary("sqrt", True, lambda x, y, a, b: div(0.5, y), np.sqrt, (0.1, 5))
rsqrt = _unary("rsqrt", True, lambda x, y, a, b: mul(pow(y, 3.0), -0.5), lambda x: 1 / np.sqrt(x), (0.1, 5))
sin = _unary("sin", False, lambda x, y, a, b: cos(x), np.sin, (-6, 6))
cos = _unary("cos", False, lambda x, y, a, b: neg(sin(x)), np.cos, (-6, 6))
tanh = _unary("tanh", True, lambda x, y, a, b: sub(1.0, square(y)), np.tanh)
_sigmoid = _unary("sigmoid", True, lambda x, y, a, b: mul(y, sub(1.0, y)), None)
_relu = _unary("relu", False, lambda x, y, a, b: _mask(gt(x, 0.0), x), None)
_leaky_relu = _unary("leaky_relu", False,
                     lambda x, y, a, b: where(gt(x, 0.0), _scalar(1.0, x.data.dtype), _scalar(a, x.data.dtype)), None)
_gelu = _unary("gelu", False, _gelu_deriv, None)
_gelu_tanh = _unary("gelu_tanh", False, _gelu_tanh_deriv, None)
_silu = _unary("silu", False, _silu_deriv, None)
_softplus = _unary("softplus", False, _softplus_deriv, None)
_clamp = _unary("clamp", False, lambda x, y, a, b: _mask(logical_and(ge(x, a), le(x, b)), x), None)
_pow_scalar = _unary("pow_scalar", False,
                     lambda x, y, a, b: mul(pow(x, a - 1.0), a) if a != 0 else mul(x, 0.0), None)
sign = _unary("sign", False, lambda x, y, a, b: mul(x, 0.0), np.sign)
square = _unary("square", False, lambda x, y, a, b: mul(x, 2.0), np.square)
reciprocal = _unary("reciprocal", False, lambda x, y, a, b: neg(square(reciprocal(x))),
                    np.reciprocal, (0.2, 3))
erf = _unary("erf", False, _erf_deriv, None)


def neg(x):
    return _neg(x)


def abs(x):  # noqa: A001 - torch.abs
    return _abs_op(x)


def sigmoid(x):
    return _sigmoid(x)


def relu(x):
    return _relu(x)


def leaky_relu(x, negative_slope=0.01):
    return _leaky_relu(x, float(negative_slope))


def gelu(x, approximate="none"):
    if approximate == "none":
        return _gelu(x)
    if approximate == "tanh":
        return _gelu_tanh(x)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(x):
    return _silu(x)


def softplus(x, beta=1.0, threshold=20.0):
    if beta == 0:
        raise ValueError("softplus: beta must be non-zero")
    return _softplus(x, float(beta), float(threshold))


def clamp(x, min=None, max=None):  # noqa: A002 - torch's argument names
    """Clamp into [min, max]; either bound may be None or a tensor."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = x
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    lo = -math.inf if min is None else float(min)
    hi = math.inf if max is None else float(max)
    return _clamp(x, lo, hi)


clip = clamp


def pow(x, exponent):  # noqa: A001 - torch.pow
    """x ** exponent for tensor/scalar combinations."""
    if type(x) is Tensor and isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
        if x.data.dtype.kind == "f":
            return _pow_scalar(x, float(exponent))
        return _make(np.power(x.data, exponent)) if isinstance(exponent, int) and exponent >= 0 \
            else _pow_scalar(_float_in(x, "pow"), float(exponent))
    return _binary_op("pow", x, exponent)


# ---- elementwise binary -----------------------------------------------------------------
def _bin_shapes(a, b, out):
    sa, sb, so = a.data.shape, b.data.shape, out.shape
    return None if (sa == so and sb == so) else (sa, sb)


def _add_bwd(node, g):
    return (g, g)


@jvp_rule(_add_bwd)
def _add_jvp(node, xs, ts, out):
    return _tplus(ts[0], ts[1])


def _sub_bwd(node, g):
    return (g, neg(g) if node.edges[1] is not None else None)


@jvp_rule(_sub_bwd)
def _sub_jvp(node, xs, ts, out):
    return _tplus(ts[0], None if ts[1] is None else neg(ts[1]))


def _mul_bwd(node, g):
    a, b = node.saved
    return (mul(g, b) if node.edges[0] is not None else None,
            mul(g, a) if node.edges[1] is not None else None)


@jvp_rule(_mul_bwd)
def _mul_jvp(node, xs, ts, out):
    a, b = xs
    return _tplus(None if ts[0] is None else mul(ts[0], b), None if ts[1] is None else mul(a, ts[1]))


def _div_bwd(node, g):
    a, b = node.saved
    ga = div(g, b) if node.edges[0] is not None else None
    gb = neg(div(mul(g, a), square(b))) if node.edges[1] is not None else None
    return (ga, gb)


@jvp_rule(_div_bwd)
def _div_jvp(node, xs, ts, out):
    # d(a/b) = (da - (a/b) db) / b
    num = _tplus(ts[0], None if ts[1] is None else neg(mul(ts[1], out)))
    return div(num, xs[1])


def _pow_bwd(node, g):
    a, b = node.saved
    ga = gb = None
    if node.edges[0] is not None:
        ga = mul(g, mul(b, pow(a, sub(b, 1.0))))
    if node.edges[1] is not None:
        out = node.output()
        # d/db a^b = a^b log a; define it as 0 where a == 0 and b >= 0 (as PyTorch does)
        safe = where(logical_and(eq(a, 0.0), ge(b, 0.0)), _scalar(1.0, a.data.dtype), a)
        gb = mul(g, mul(out, log(safe)))
    return (ga, gb)


def _maxmin_bwd(node, g):
    a, b = node.saved
    is_max = node.ctx
    sel = gt(a, b) if is_max else lt(a, b)
    tie = eq(a, b)
    zero = _scalar(0.0, g.data.dtype)
    half = mul(g, 0.5)
    ga = where(sel, g, where(tie, half, zero)) if node.edges[0] is not None else None
    gb = where(sel, zero, where(tie, half, g)) if node.edges[1] is not None else None
    return (ga, gb)


jvp_rule(_pow_bwd, _maxmin_bwd)(_elementwise_jvp)


_BIN = {"add": (_add_bwd, False, np.add), "sub": (_sub_bwd, False, np.subtract),
        "mul": (_mul_bwd, True, np.multiply), "div": (_div_bwd, True, np.true_divide),
        "pow": (_pow_bwd, True, np.power), "maximum": (_maxmin_bwd, True, np.maximum),
        "minimum": (_maxmin_bwd, True, np.minimum)}


def _binary_op(name, a, b):
    if type(a) is not Tensor or type(b) is not Tensor or a.data.dtype is not b.data.dtype:
        a, b = _pair(a, b, name)
    if a.data.dtype.kind != "f":
        if name in ("div", "pow") and not (name == "pow" and a.data.dtype.kind in "iu"):
            a, b = to(a, _default[0]), to(b, _default[0])
        else:
            fn = _BIN[name][2]
            try:
                return _make(np.asarray(fn(a.data, b.data)))
            except ValueError:
                raise ValueError(f"{name}: shapes {tuple(a.data.shape)} and {tuple(b.data.shape)} "
                                 "cannot be broadcast") from None
    out = backend.k.binary(B[name], a.data, b.data)
    if (a.requires_grad or b.requires_grad) and grad_mode.enabled:
        bwd, save, _ = _BIN[name]
        return _record(out, name, bwd, (a, b), (a, b) if save else (),
                       out if name == "pow" else None,
                       name == "maximum" if name in ("maximum", "minimum") else None,
                       _bin_shapes(a, b, out))
    return _make(out)


def add(a, b, alpha=1):
    if alpha != 1:
        b = mul(b, alpha)
    if type(a) is Tensor and type(b) is Tensor and a.data.dtype is b.data.dtype and a.data.dtype.kind == "f":
        out = backend.k.binary(0, a.data, b.data)          # B["add"] == 0
        if (a.requires_grad or b.requires_grad) and grad_mode.enabled:
            return _record(out, "add", _add_bwd, (a, b), (), None, None, _bin_shapes(a, b, out))
        return _make(out)
    return _binary_op("add", a, b)


def sub(a, b, alpha=1):
    if alpha != 1:
        b = mul(b, alpha)
    return _binary_op("sub", a, b)


def mul(a, b):
    if type(a) is Tensor and type(b) is Tensor and a.data.dtype is b.data.dtype and a.data.dtype.kind == "f":
        out = backend.k.binary(2, a.data, b.data)          # B["mul"] == 2
        if (a.requires_grad or b.requires_grad) and grad_mode.enabled:
            return _record(out, "mul", _mul_bwd, (a, b), (a, b), None, None, _bin_shapes(a, b, out))
        return _make(out)
    return _binary_op("mul", a, b)


def div(a, b, rounding_mode=None):
    if rounding_mode is not None:
        raise ValueError(f"div: rounding_mode={rounding_mode!r} is not supported; use floor division "
                         "on integer tensors or torch-style true division")
    return _binary_op("div", a, b)


def maximum(a, b):
    return _binary_op("maximum", a, b)


def minimum(a, b):
    return _binary_op("minimum", a, b)


true_divide = divide = div
multiply = mul
subtract = sub


# ---- comparisons and logic (no gradient) -------------------------------------------------
def _compare(name, a, b):
    if type(a) is not Tensor or type(b) is not Tensor or a.data.dtype is not b.data.dtype:
        a, b = _pair(a, b, name)
    if a.data.dtype.kind == "f":
        return _make(backend.k.compare(CMP[name], a.data, b.data))
    fn = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal,
          "gt": np.greater, "ge": np.greater_equal}[name]
    try:
        return _make(np.asarray(fn(a.data, b.data)))
    except ValueError:
        raise ValueError(f"{name}: shapes {tuple(a.data.shape)} and {tuple(b.data.shape)} cannot be "
                         "broadcast") from None


def eq(a, b):
    return _compare("eq", a, b)


def ne(a, b):
    return _compare("ne", a, b)


def lt(a, b):
    return _compare("lt", a, b)


def le(a, b):
    return _compare("le", a, b)


def gt(a, b):
    return _compare("gt", a, b)


def ge(a, b):
    return _compare("ge", a, b)


def _logic(fn, name, a, b=None):
    arrs = [(_to_tensor(x, name)).data for x in ((a,) if b is None else (a, b))]
    try:
        return _make(np.asarray(fn(*arrs)))
    except ValueError:
        raise ValueError(f"{name}: shapes {[tuple(x.shape) for x in arrs]} cannot be broadcast") from None


def logical_and(a, b):
    return _logic(np.logical_and, "logical_and", a, b)


def logical_or(a, b):
    return _logic(np.logical_or, "logical_or", a, b)


def logical_not(a):
    return _logic(np.logical_not, "logical_not", a)


def isnan(x):
    return _make(np.isnan(_to_tensor(x, "isnan").data))


def isinf(x):
    return _make(np.isinf(_to_tensor(x, "isinf").data))


def isfinite(x):
    return _make(np.isfinite(_to_tensor(x, "isfinite").data))


def allclose(a, b, rtol=1e-5, atol=1e-8, equal_nan=False):
    return bool(np.allclose(_to_tensor(a, "allclose").data, _to_tensor(b, "allclose").data,
                            rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(a, b):
    a, b = _to_tensor(a, "equal"), _to_tensor(b, "equal")
    return a.data.shape == b.data.shape and bool(np.array_equal(a.data, b.data))


# ---- where ------------------------------------------------------------------------------
def _where_bwd(node, g):
    (c,) = node.saved
    zero = _scalar(0.0, g.data.dtype)
    return (None,
            where(c, g, zero) if node.edges[1] is not None else None,
            where(c, zero, g) if node.edges[2] is not None else None)


@jvp_rule(_where_bwd)
def _where_jvp(node, xs, ts, out):
    z = _scalar(0.0, out.data.dtype)
    return where(xs[0], z if ts[1] is None else ts[1], z if ts[2] is None else ts[2])


def where(condition, input, other):  # noqa: A002
    """condition ? input : other, broadcasting all three."""
    c = _to_tensor(condition, "where")
    if c.data.dtype != bool_:
        raise TypeError(f"where: condition must be a bool tensor, got {c.data.dtype}")
    a, b = _pair(input, other, "where")
    if not isinstance(a, Tensor):
        a = _scalar(a, b.data.dtype)
    if a.data.dtype.kind != "f":
        return _make(np.where(c.data, a.data, b.data))
    out = backend.k.where(c.data, a.data, b.data)
    if (a.requires_grad or b.requires_grad) and grad_mode.enabled:
        shapes = (c.data.shape, a.data.shape, b.data.shape)
        shapes = None if all(s == out.shape for s in shapes) else shapes
        return _record(out, "where", _where_bwd, (c, a, b), (c,), None, None, shapes)
    return _make(out)


_LN2, _LN10 = math.log(2.0), math.log(10.0)


def _zero_deriv(x, y, a, b):
    return _scalar(0.0, x.data.dtype)


def _mish_deriv(x, y, a, b):
    t = tanh(softplus(x))
    return add(t, mul(mul(x, sub(1.0, square(t))), sigmoid(x)))


def _hardswish_deriv(x, y, a, b):
    dt = x.data.dtype
    mid = add(div(x, 3.0), 0.5)
    return where(lt(x, -3.0), _scalar(0.0, dt), where(gt(x, 3.0), _scalar(1.0, dt), mid))


def _logit_deriv(x, y, a, b):
    d = reciprocal(mul(x, sub(1.0, x)))
    if b:
        return mul(d, _mask(logical_and(ge(x, a), le(x, 1.0 - a)), x))
    return d


# ---- elementwise unary --------------------------------------------------------------------
exp2 = _unary("exp2", False, lambda x, y, a, b: mul(exp2(x), _LN2), np.exp2)
log2 = _unary("log2", False, lambda x, y, a, b: reciprocal(mul(x, _LN2)), np.log2)
log10 = _unary("log10", False, lambda x, y, a, b: reciprocal(mul(x, _LN10)), np.log10)
expm1 = _unary("expm1", False, lambda x, y, a, b: exp(x), np.expm1)
tan = _unary("tan", False, lambda x, y, a, b: add(square(tan(x)), 1.0), np.tan)
asin = _unary("asin", False, lambda x, y, a, b: rsqrt(sub(1.0, square(x))), np.arcsin)
acos = _unary("acos", False, lambda x, y, a, b: neg(rsqrt(sub(1.0, square(x)))), np.arccos)
atan = _unary("atan", False, lambda x, y, a, b: reciprocal(add(square(x), 1.0)), np.arctan)
sinh = _unary("sinh", False, lambda x, y, a, b: cosh(x), np.sinh)
cosh = _unary("cosh", False, lambda x, y, a, b: sinh(x), np.cosh)
_floor = _unary("floor", False, _zero_deriv, np.floor)
_ceil = _unary("ceil", False, _zero_deriv, np.ceil)
_trunc = _unary("trunc", False, _zero_deriv, np.trunc)
_round = _unary("round", False, _zero_deriv, np.rint)


def _int_passthrough(x):
    """Integer and bool tensors are returned as a copy, unchanged (PyTorch's rule)."""
    return type(x) is Tensor and x.data.dtype.kind in "iub"


def floor(x):
    """Largest integer <= x (zero gradient); integer tensors come back unchanged."""
    return _make(x.data.copy()) if _int_passthrough(x) else _floor(x)


def ceil(x):
    return _make(x.data.copy()) if _int_passthrough(x) else _ceil(x)


def trunc(x):
    return _make(x.data.copy()) if _int_passthrough(x) else _trunc(x)
_hardtanh = _unary("hardtanh", False,
                   lambda x, y, a, b: _mask(logical_and(gt(x, a), lt(x, b)), x), None)
_elu = _unary("elu", False,
              lambda x, y, a, b: where(gt(x, 0.0), _scalar(b, x.data.dtype), mul(exp(x), a * b)), None)
_mish = _unary("mish", False, _mish_deriv, None)
_hardswish = _unary("hardswish", False, _hardswish_deriv, None)
_hardsigmoid = _unary("hardsigmoid", False,
                      lambda x, y, a, b: div(_mask(logical_and(gt(x, -3.0), lt(x, 3.0)), x), 6.0), None)
_logit = _unary("logit", False, _logit_deriv, None)

fix = trunc
arcsin, arccos, arctan = asin, acos, atan


def round(x, decimals=0):  # noqa: A001 - torch.round
    """Round half to even (like PyTorch and NumPy); with ``decimals``, rounds
    x * 10**decimals and scales back (as PyTorch does).  Zero gradient."""
    if _int_passthrough(x):       # integers: unchanged, or rounded to tens, hundreds, ... (like NumPy)
        return _make(x.data.copy() if decimals >= 0 else np.round(x.data, max(int(decimals), -30)))
    if decimals == 0:
        return _round(x)
    try:
        s = 10.0 ** decimals
    except OverflowError:
        raise ValueError(f"round: decimals={decimals} is out of range for floating point") from None
    return div(_round(mul(_float_in(x, "round"), s)), s)


def hardtanh(x, min_val=-1.0, max_val=1.0):
    """Clamp into [min_val, max_val]; the gradient is 1 strictly inside (PyTorch's rule;
    clamp's gradient includes the end points)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    return _hardtanh(x, float(min_val), float(max_val))


def relu6(x):
    return _hardtanh(_float_in(x, "relu6"), 0.0, 6.0)


def elu(x, alpha=1.0):
    return _elu(x, float(alpha), 1.0)


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def selu(x):
    return _elu(_float_in(x, "selu"), _SELU_ALPHA, _SELU_SCALE)


def mish(x):
    """x * tanh(softplus(x)); mish(-inf) is the limit -0 (PyTorch gives nan)."""
    return _mish(x)


def hardswish(x):
    return _hardswish(x)


def hardsigmoid(x):
    return _hardsigmoid(x)


def logit(x, eps=None):
    """log(x / (1 - x)); with eps, x is first clamped into [eps, 1 - eps] (gradient 0
    outside).  Without eps the gradient outside [0, 1] is nan, as in PyTorch."""
    if eps is None:
        return _logit(x, 0.0, 0.0)
    if not 0.0 <= eps <= 0.5:
        raise ValueError(f"logit: eps must be in [0, 0.5], got {eps}")
    return _logit(x, float(eps), 1.0)


# ---- elementwise binary -------------------------------------------------------------------
def _atan2_bwd(node, g):
    y, x = node.saved
    den = add(square(x), square(y))
    ga = div(mul(g, x), den) if node.edges[0] is not None else None
    gb = neg(div(mul(g, y), den)) if node.edges[1] is not None else None
    return (ga, gb)


def _fmod_bwd(node, g):
    a, b = node.saved
    q = trunc(div(a, b)) if node.ctx == "fmod" else floor(div(a, b))
    return (g if node.edges[0] is not None else None,
            neg(mul(g, q)) if node.edges[1] is not None else None)


jvp_rule(_atan2_bwd, _fmod_bwd)(_elementwise_jvp)


class IntegerDivisionByZero(ZeroDivisionError, RuntimeError):
    """Integer fmod/remainder by zero: a ZeroDivisionError, and a RuntimeError like every
    other error a fastgrad kernel reports (PyTorch raises RuntimeError here)."""


_BIN_MATH = {"atan2": (_atan2_bwd, np.arctan2), "fmod": (_fmod_bwd, np.fmod),
             "remainder": (_fmod_bwd, np.remainder)}


def _binary_math(name, a, b):
    if type(a) is not Tensor or type(b) is not Tensor or a.data.dtype is not b.data.dtype:
        a, b = _pair(a, b, name)
    if a.data.dtype.kind != "f":
        if name == "atan2":
            a, b = to(a, _default[0]), to(b, _default[0])
        else:
            if a.data.dtype.kind in "iu" and np.any(b.data == 0):
                raise IntegerDivisionByZero(f"{name}: integer division by zero")
            try:
                return _make(np.asarray(_BIN_MATH[name][1](a.data, b.data)))
            except ValueError:
                raise ValueError(f"{name}: shapes {tuple(a.data.shape)} and {tuple(b.data.shape)} "
                                 "cannot be broadcast") from None
    out = backend.k.binary(B[name], a.data, b.data)
    if (a.requires_grad or b.requires_grad) and grad_mode.enabled:
        return _record(out, name, _BIN_MATH[name][0], (a, b), (a, b), None, name,
                       _bin_shapes(a, b, out))
    return _make(out)


def atan2(input, other):  # noqa: A002 - torch's argument names
    """Angle of (other, input) in radians, atan2(y=input, x=other), with C99's signed-zero
    and infinity cases."""
    return _binary_math("atan2", input, other)


arctan2 = atan2


def fmod(input, other):  # noqa: A002
    """C-style remainder: the result has the sign of the dividend (input)."""
    return _binary_math("fmod", input, other)


def remainder(input, other):  # noqa: A002
    """Python-style remainder: the result has the sign of the divisor (other)."""
    return _binary_math("remainder", input, other)
