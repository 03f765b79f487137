"""Registry entries of the elementwise ops: unary math and activations, binary
arithmetic, ``where``, dtype conversion."""
import math

import numpy as np

import fastgrad as fg
from fastgrad.reference.elementwise import _erf
from fastgrad.testing.opinfo import (
    BIN_SHAPES, ErrorInput, OpInfo, OpTable, Sample, _u, binary_errors, binary_samples, unary_errors,
    unary_samples)

OPS = OpTable()
register, _simple, _unary = OPS.register, OPS.simple, OPS.unary


# ---- elementwise unary ----------------------------------------------------------------------
_unary("neg", fg.neg, np.negative)
_unary("abs", fg.abs, np.abs, away=0.05)
_unary("exp", fg.exp, np.exp, -10, 10)
_unary("log", fg.log, np.log, 0.05, 5)
_unary("log1p", fg.log1p, np.log1p, -0.9, 5)
_unary("sqrt", fg.sqrt, np.sqrt, 0.05, 5)
_unary("rsqrt", fg.rsqrt, lambda x: 1 / np.sqrt(x), 0.05, 5)
_unary("sin", fg.sin, np.sin, -6, 6)
_unary("cos", fg.cos, np.cos, -6, 6)
_unary("tanh", fg.tanh, np.tanh, -5, 5)
_unary("sigmoid", fg.sigmoid, lambda x: 1 / (1 + np.exp(-x)), -8, 8)
_unary("relu", fg.relu, lambda x: np.maximum(x, 0), away=0.05)
_unary("leaky_relu", lambda x, negative_slope=0.01: fg.leaky_relu(x, negative_slope),
       lambda x, negative_slope=0.01: np.where(x > 0, x, negative_slope * x), away=0.05,
       negative_slope=0.2)
_unary("gelu", fg.gelu, lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))), -5, 5)
_unary("gelu_tanh", lambda x: fg.gelu(x, approximate="tanh"),
       lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
       -5, 5)
_unary("silu", fg.silu, lambda x: x / (1 + np.exp(-x)), -6, 6)
_unary("softplus", fg.softplus,
       lambda x, beta=1.0, threshold=20.0: np.where(beta * x > threshold, x,
                                                    np.log1p(np.exp(beta * x)) / beta),
       -6, 6, beta=2.0, threshold=5.0)
_unary("clamp", fg.clamp, lambda x, min, max: np.clip(x, min, max),  # noqa: A006 - fg.clamp's keywords
       away=0.0, min=-1.0, max=0.5)
_unary("pow_scalar", fg.pow, lambda x, exponent: np.power(x, exponent), 0.2, 3,
       public="pow", exponent=2.5)
_unary("sign", fg.sign, np.sign, away=0.05, gradgrad=True)
_unary("square", fg.square, np.square)
_unary("reciprocal", fg.reciprocal, lambda x: 1 / x, 0.2, 3)
_unary("erf", fg.erf, _erf, -3, 3)
_unary("exp2", fg.exp2, np.exp2, -10, 10)
_unary("log2", fg.log2, np.log2, 0.05, 5)
_unary("log10", fg.log10, np.log10, 0.05, 5)
_unary("expm1", fg.expm1, np.expm1, -5, 5)
_unary("tan", fg.tan, np.tan, -1.4, 1.4)
_unary("asin", fg.asin, np.arcsin, -0.95, 0.95)
_unary("acos", fg.acos, np.arccos, -0.95, 0.95)
_unary("atan", fg.atan, np.arctan, -5, 5)
_unary("sinh", fg.sinh, np.sinh, -5, 5)
_unary("cosh", fg.cosh, np.cosh, -5, 5)
_unary("floor", fg.floor, np.floor, -4, 4)
_unary("ceil", fg.ceil, np.ceil, -4, 4)
_unary("trunc", fg.trunc, np.trunc, -4, 4)
_unary("round", fg.round, np.rint, -4, 4)
_unary("hardtanh", fg.hardtanh, lambda x, min_val=-1.0, max_val=1.0: np.minimum(np.maximum(x, min_val), max_val),
       -3, 3, min_val=-1.0, max_val=0.5)
_unary("relu6", fg.relu6, lambda x: np.minimum(np.maximum(x, 0), 6), -3, 9)
_unary("elu", fg.elu, lambda x, alpha=1.0: np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1)),
       -4, 3, away=0.05, alpha=0.7)
_unary("selu", fg.selu,
       lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * (np.exp(np.minimum(x, 0)) - 1)),
       -4, 3, away=0.05)
_unary("mish", fg.mish, lambda x: x * np.tanh(np.logaddexp(0, x)), -6, 6)
_unary("hardswish", fg.hardswish, lambda x: x * np.minimum(np.maximum(x + 3, 0), 6) / 6, -5, 5)
_unary("hardsigmoid", fg.hardsigmoid, lambda x: np.minimum(np.maximum(x + 3, 0), 6) / 6, -5, 5)
_unary("logit", fg.logit, lambda x: np.log(x) - np.log1p(-x), 0.03, 0.97)
register(OpInfo("logit_eps", lambda x, eps: fg.logit(x, eps),
                lambda x, eps: np.log(np.clip(x, eps, 1 - eps)) - np.log1p(-np.clip(x, eps, 1 - eps)),
                unary_samples(0.01, 0.99, eps=0.1),
                lambda: [ErrorInput([np.full(3, 0.5)], {"eps": 0.7}, ValueError, r"logit: eps must be in \[0, 0.5\]")]))
register(OpInfo("round_decimals", lambda x, decimals: fg.round(x, decimals=decimals),
                # integers round to 0 beyond 10**19; NumPy's own np.round overflows there
                lambda x, decimals: np.round(x, max(decimals, -30) if x.dtype.kind in "iu" else decimals),
                unary_samples(-4, 4, decimals=2),
                rtol32=1e-6, atol32=1e-6))


# ---- elementwise binary ---------------------------------------------------------------------
def _np_remainder(a, b):
    r = np.fmod(a, b)
    return np.where((r != 0) & ((r < 0) != (b < 0)), r + b, r)


register(OpInfo("add", fg.add, np.add, binary_samples(), binary_errors("add")))
register(OpInfo("sub", fg.sub, np.subtract, binary_samples(), binary_errors("sub")))
register(OpInfo("mul", fg.mul, np.multiply, binary_samples(), binary_errors("mul")))
register(OpInfo("div", fg.div, np.true_divide, binary_samples(blo=0.3, bhi=3.0),
                binary_errors("div")))
register(OpInfo("pow", fg.pow, np.power, binary_samples(lo=0.3, hi=3.0), binary_errors("pow"),
                rtol32=5e-5))
register(OpInfo("maximum", fg.maximum, np.maximum, binary_samples(), binary_errors("maximum")))
register(OpInfo("minimum", fg.minimum, np.minimum, binary_samples(), binary_errors("minimum")))
register(OpInfo("atan2", fg.atan2, np.arctan2, binary_samples(away=0.1), binary_errors("atan2")))
register(OpInfo("hypot", fg.hypot, np.hypot, binary_samples(away=0.1), binary_errors("hypot")))
register(OpInfo("fmod", fg.fmod, np.fmod, binary_samples(lo=-5, hi=5, blo=0.4, bhi=2.0), binary_errors("fmod")))
register(OpInfo("remainder", fg.remainder, _np_remainder, binary_samples(lo=-5, hi=5, blo=0.4, bhi=2.0),
                binary_errors("remainder")))
register(OpInfo("remainder_negative_divisor", fg.remainder, _np_remainder,
                binary_samples(lo=-5, hi=5, blo=-2.0, bhi=-0.4), binary_errors("remainder")))


def _where_samples(rng):
    return [Sample([rng.random((3, 4)) > 0.5, _u(rng, (3, 4), -2, 2), _u(rng, (3, 4), -2, 2)]),
            Sample([rng.random((3, 1)) > 0.5, _u(rng, (4,), -2, 2), _u(rng, (2, 1, 1), -2, 2)],
                   desc="broadcast"),
            Sample([rng.random((5,)) > 0.5, _u(rng, (5,), -2, 2), 0.0], desc="scalar other"),
            Sample([rng.random((300, 200)) > 0.5, _u(rng, (300, 200), -2, 2),
                    _u(rng, (200,), -2, 2)], desc="large", grad=False)]


register(OpInfo("where", fg.where, lambda c, a, b: np.where(c, a, b), _where_samples,
                lambda: [ErrorInput([np.zeros(3), np.zeros(3), np.zeros(3)], {}, TypeError,
                                    "where: condition must be a bool tensor")]))


# ---- conversion -----------------------------------------------------------------------------
_simple("to_float64", lambda x: fg.to(x, np.float64), lambda x: x,
        lambda rng: [Sample([_u(rng, (3, 2), -2, 2)])], keeps_dtype=False, covers=("to",))


# ---- comparisons, logic and predicates (bool results, no gradient) ---------------------------
def _ties(rng, shape):
    """Values on a coarse grid, so that comparisons meet equal pairs."""
    return np.round(_u(rng, shape, -2, 2) * 2) / 2


def _compare_samples(rng):
    out = [Sample([_ties(rng, sa), _ties(rng, sb)], desc=f"{sa} {sb}") for sa, sb in BIN_SHAPES]
    out += [Sample([_ties(rng, (4, 3)).T, _ties(rng, (3, 4))[:, ::-1]], desc="views"),
            Sample([_ties(rng, (3, 4)), 0.5], desc="tensor-scalar"),
            Sample([np.array([np.nan, 1.0, np.inf, -np.inf, -0.0]), np.array([np.nan, np.nan, np.inf, 1.0, 0.0])],
                   desc="nan, inf, -0"),
            Sample([_ties(rng, (200, 300)), _ties(rng, (300,))], desc="large broadcast")]
    return out


for _n, _r in [("eq", np.equal), ("ne", np.not_equal), ("lt", np.less), ("le", np.less_equal),
               ("gt", np.greater), ("ge", np.greater_equal)]:
    register(OpInfo(_n, getattr(fg, _n), _r, _compare_samples, binary_errors(_n), grad=False, keeps_dtype=False))


def _logic_samples(rng):
    return [Sample([rng.random((3, 4)) > 0.5, rng.random((3, 4)) > 0.5], desc="bool"),
            Sample([rng.random((3, 1)) > 0.5, rng.random((4,)) > 0.5], desc="broadcast"),
            Sample([_ties(rng, (3, 4)), _ties(rng, (3, 4))], desc="float: nonzero is true"),
            Sample([np.array([np.nan, 0.0, -0.0, 1.0]), np.array([0.0, np.nan, 1.0, 1.0])], desc="nan and -0")]


def _logic_errors(name):
    return lambda: [ErrorInput([np.zeros((2, 3)), np.zeros(4)], {}, ValueError,
                               rf"{name}: shapes .* cannot be broadcast")]


for _n, _r in [("logical_and", np.logical_and), ("logical_or", np.logical_or)]:
    register(OpInfo(_n, getattr(fg, _n), _r, _logic_samples, _logic_errors(_n), grad=False, keeps_dtype=False))
register(OpInfo("logical_not", fg.logical_not, np.logical_not,
                lambda rng: [Sample([s.args[0]], desc=s.desc) for s in _logic_samples(rng)],
                lambda: [ErrorInput(["not a tensor"], {}, TypeError, "logical_not")], grad=False, keeps_dtype=False))


def _special_values(rng):
    x = _u(rng, (3, 4), -2, 2)
    x[0, 1], x[1, 2], x[2, 0], x[2, 3] = np.nan, np.inf, -np.inf, -0.0
    return x


for _n, _r in [("isnan", np.isnan), ("isinf", np.isinf), ("isfinite", np.isfinite)]:
    register(OpInfo(_n, getattr(fg, _n), _r,
                    lambda rng: [Sample([_special_values(rng)], desc="nan, inf, -0"),
                                 Sample([_special_values(rng).T], desc="view"),
                                 Sample([np.array(np.nan)], desc="0-d"), Sample([np.zeros((0, 3))], desc="zero-size")],
                    unary_errors(_n, {}), grad=False, keeps_dtype=False))


def _close_samples(rng):
    a = _u(rng, (3, 4), -2, 2)
    return [Sample([a, a + 1e-9], desc="close"), Sample([a, a + 1e-3], desc="not close"),
            Sample([a, a + 1e-3], {"atol": 1e-2}, "atol"), Sample([a, a[0] * (1 + 1e-6)], {"rtol": 1e-3}, "broadcast"),
            Sample([np.array([np.nan, 1.0]), np.array([np.nan, 1.0])], desc="nan"),
            Sample([np.array([np.nan, 1.0]), np.array([np.nan, 1.0])], {"equal_nan": True}, "equal_nan")]


def _equal_samples(rng):
    a = _ties(rng, (3, 4))
    return [Sample([a, a.copy()], desc="equal"), Sample([a, a + 0.5], desc="different values"),
            Sample([a, a[0]], desc="different shapes"), Sample([a.T, a.T.copy()], desc="view")]


# allclose and equal answer with one Python bool: the entries wrap it in a 0-d tensor
register(OpInfo("allclose", lambda a, b, **kw: fg.tensor(fg.allclose(a, b, **kw)),
                lambda a, b, **kw: np.array(np.allclose(a, b, **kw)), _close_samples,
                lambda: [ErrorInput(["x", np.zeros(2)], {}, TypeError, "allclose")],
                grad=False, keeps_dtype=False, extreme=False))
register(OpInfo("equal", lambda a, b: fg.tensor(fg.equal(a, b)),
                lambda a, b: np.array(a.shape == b.shape and np.array_equal(a, b)), _equal_samples,
                lambda: [ErrorInput(["x", np.zeros(2)], {}, TypeError, "equal")],
                grad=False, keeps_dtype=False, extreme=False))


# ---- ops computed by NumPy (inverse hyperbolics, logaddexp, copysign), lerp, isclose ---------
register(OpInfo("asinh", fg.asinh, np.arcsinh, unary_samples(-5, 5), unary_errors("asinh", {})))
register(OpInfo("acosh", fg.acosh, np.arccosh, unary_samples(1.1, 5), unary_errors("acosh", {})))
register(OpInfo("atanh", fg.atanh, np.arctanh, unary_samples(-0.9, 0.9), unary_errors("atanh", {})))
register(OpInfo("logaddexp", fg.logaddexp, np.logaddexp, binary_samples(-20, 20), binary_errors("logaddexp")))
register(OpInfo("logaddexp2", fg.logaddexp2, np.logaddexp2, binary_samples(-20, 20),
                binary_errors("logaddexp2")))
register(OpInfo("copysign", fg.copysign, np.copysign, binary_samples(away=0.1), binary_errors("copysign")))


def _lerp_ref(a, b, w):
    # PyTorch's definition: from the start below |w| = 0.5, from the end above (so w = 1
    # gives end exactly, and an infinite end with w = 1 gives nan, as inf * 0 does)
    d = b - a
    return np.where(np.abs(w) < 0.5, a + w * d, b - d * (1 - w))


def _lerp_samples(rng):
    out = [Sample([_u(rng, sa, -2, 2), _u(rng, sb, -2, 2), _u(rng, sb, -0.5, 1.5)], desc=f"{sa} {sb}")
           for sa, sb in BIN_SHAPES]
    out += [Sample([_u(rng, (3, 4), -2, 2), _u(rng, (3, 4), -2, 2), w], desc=f"scalar weight {w}")
            for w in (0.25, 0.5, 1.0, -0.7)]
    return out


register(OpInfo("lerp", fg.lerp, _lerp_ref, _lerp_samples,
                lambda: [ErrorInput([np.zeros((2, 3)), np.zeros(4), 0.5], {}, ValueError,
                                    r"lerp: shapes \(2, 3\) and \(4,\) cannot be broadcast")]))
register(OpInfo("isclose", fg.isclose, np.isclose, _close_samples,
                lambda: [ErrorInput([np.zeros((2, 3)), np.zeros(4)], {}, ValueError,
                                    r"isclose: shapes \(2, 3\) and \(4,\) cannot be broadcast")],
                grad=False, keeps_dtype=False, extreme=False))
# ---- integer division and bitwise ops ---------------------------------------------------------
def _ints(rng, shape, lo=-50, hi=50, dtype=np.int64):
    return rng.integers(lo, hi, size=shape).astype(dtype)


def _bitwise_samples(shift=False):
    # integer samples run as int64 tensors (tests/conftest.py); the narrow integer dtypes
    # are compared with PyTorch in tests/test_integer_ops.py
    def samples(rng):
        lo, hi = (0, 70) if shift else (-(1 << 40), 1 << 40)
        out = [Sample([_ints(rng, (3, 4), -(1 << 40), 1 << 40), _ints(rng, (3, 4), lo, hi)], desc="int64"),
               Sample([_ints(rng, (3, 1), -120, 120), _ints(rng, (4,), lo, hi)], desc="broadcast"),
               Sample([_ints(rng, (3, 4), -120, 120).T, _ints(rng, (4, 3), lo, hi)], desc="view"),
               Sample([_ints(rng, (0, 3)), _ints(rng, (3,), lo, hi)], desc="zero-size")]
        if shift:
            out.append(Sample([_ints(rng, (2, 5), -1000, 1000), np.array([-1, 0, 63, 64, 100])],
                              desc="shift amounts out of range"))
        else:
            out.append(Sample([rng.random((3, 4)) > 0.5, rng.random((3, 4)) > 0.5], desc="bool"))
        return out
    return samples


def _int_errors(name):
    return lambda: [ErrorInput([np.zeros((2, 3), np.int64), np.zeros(4, np.int64)], {}, ValueError,
                               rf"{name}: shapes .* cannot be broadcast"),
                    ErrorInput([np.zeros(3), np.zeros(3)], {}, NotImplementedError, rf"{name}: not implemented")]


def _np_shift(left):
    def ref(a, b):
        a, b = np.broadcast_arrays(*(np.asarray(v) for v in (a, b)))
        dt = np.promote_types(a.dtype, b.dtype)
        a, b = a.astype(dt), b.astype(dt)
        bits = 8 * dt.itemsize
        out = np.empty(a.shape, dt)
        for i in np.ndindex(a.shape):                 # one element at a time, as the C rule reads
            x, s = int(a[i]), int(b[i])
            if left:
                v = (x << s) % (1 << bits) if 0 <= s < bits else 0
            else:
                v = x >> (s if 0 <= s < bits else bits - 1)
            out[i] = np.array(v % (1 << bits), np.uint64).astype(dt)
        return out
    return ref


for _n, _r in [("bitwise_and", np.bitwise_and), ("bitwise_or", np.bitwise_or), ("bitwise_xor", np.bitwise_xor)]:
    register(OpInfo(_n, getattr(fg, _n), _r, _bitwise_samples(), _int_errors(_n), grad=False, keeps_dtype=False))
register(OpInfo("bitwise_left_shift", fg.bitwise_left_shift, _np_shift(True), _bitwise_samples(True),
                _int_errors("bitwise_left_shift"), grad=False, keeps_dtype=False))
register(OpInfo("bitwise_right_shift", fg.bitwise_right_shift, _np_shift(False), _bitwise_samples(True),
                _int_errors("bitwise_right_shift"), grad=False, keeps_dtype=False))
register(OpInfo("bitwise_not", fg.bitwise_not, np.invert,
                lambda rng: [Sample([s.args[0]], desc=s.desc) for s in _bitwise_samples()(rng)],
                lambda: [ErrorInput([np.zeros(3)], {}, NotImplementedError, "bitwise_not: ~ is only")],
                grad=False, keeps_dtype=False))


def _np_floor_divide(a, b):
    with np.errstate(all="ignore"):
        return np.floor_divide(a, b)


def _floor_div_samples(rng):
    return [Sample([_ints(rng, (3, 4)), _ints(rng, (3, 4), 1, 9) * np.where(rng.random((3, 4)) > 0.5, 1, -1)],
                   desc="int64, both signs"),
            Sample([_ints(rng, (3, 1), -100, 100), np.array([3, -3, 7, -128])], desc="broadcast"),
            Sample([_u(rng, (3, 4), -5, 5), _u(rng, (3, 4), 0.4, 2.0)], desc="float", grad=False),
            Sample([_u(rng, (3, 4), -5, 5), _u(rng, (4,), -2.0, -0.4)], desc="float, negative divisor",
                   grad=False)]


register(OpInfo("floor_divide", fg.floor_divide, _np_floor_divide, _floor_div_samples,
                lambda: [ErrorInput([np.zeros((2, 3)), np.ones(4)], {}, ValueError,
                                    r"floor_divide: shapes .* cannot be broadcast"),
                         ErrorInput([np.ones(3, np.int64), np.zeros(3, np.int64)], {}, ZeroDivisionError,
                                    "floor_divide: integer division by zero")],
                grad=False, keeps_dtype=False))
