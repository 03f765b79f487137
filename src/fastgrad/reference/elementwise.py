"""Elementwise kernels: the unary table (forward and derivative), binary and comparison
tables, ``where``.

``UNARY[op](x, alpha, beta)`` is the forward of unary op ``op`` (an id of
``fastgrad._C._kernels.U``) and ``UNARY_DERIV[op](x, y, alpha, beta)`` its derivative, so
that the backward is ``g * UNARY_DERIV[op](...)``.  Activations with a closed form
(``sigmoid``, ``gelu``, ...) are functions of their own: other kinds call them too.
"""
import functools
import math

import numpy as np

from fastgrad._C._kernels import B, CMP, U

_SQRT1_2 = 0.70710678118654752440
_SQRT_2_OVER_PI = 0.79788456080286535588
_LN2, _LN10 = math.log(2.0), math.log(10.0)


@functools.lru_cache(maxsize=None)
def _special():
    """(erf, erfc): SciPy's ufuncs when SciPy is around, else a vectorised math.erf.
    Looked up on first use: importing scipy.special takes longer than importing the rest
    of fastgrad, and only the reference backend's erf/gelu need it."""
    try:
        from scipy.special import erf, erfc
    except ImportError:  # pragma: no cover - depends on the environment
        erf = np.vectorize(math.erf, otypes=[np.float64])
        erfc = np.vectorize(math.erfc, otypes=[np.float64])
    return erf, erfc


def _erf(x):
    return _special()[0](x)


def _erfc(x):
    return _special()[1](x)


def sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def softplus(x, beta=1.0, threshold=20.0):
    bx = x * x.dtype.type(beta)
    sp = (np.maximum(bx, 0) + np.log1p(np.exp(-np.abs(bx)))) / x.dtype.type(beta)
    return np.where(bx > threshold, x, sp).astype(x.dtype)


def _neg_inf_limit(x, y):
    """x * (something -> 0) at x = -inf is the limit -0, not inf * 0 = nan."""
    return np.where(np.isneginf(x), x.dtype.type(-0.0), y).astype(x.dtype)


def gelu(x):
    xd = x.astype(np.float64)
    return _neg_inf_limit(x, 0.5 * xd * _erfc(-xd * _SQRT1_2))


def gelu_tanh(x):
    k, c = x.dtype.type(_SQRT_2_OVER_PI), x.dtype.type(0.044715)
    return _neg_inf_limit(x, 0.5 * x * (1 + np.tanh(k * (x + c * x * x * x))))


def silu(x):
    return _neg_inf_limit(x, x * sigmoid(x))


def _clamp(x, lo, hi):
    lo, hi = x.dtype.type(lo), x.dtype.type(hi)
    return np.where(x < lo, lo, np.where(x > hi, hi, x)).astype(x.dtype)


def _sign(x):
    return np.where(x > 0, 1, np.where(x < 0, -1, 0)).astype(x.dtype)   # NaN and -0.0 give +0


def _hardtanh(x, lo, hi):
    return np.clip(x, x.dtype.type(lo), x.dtype.type(hi))


def _elu(x, alpha, scale):
    a, s = x.dtype.type(alpha), x.dtype.type(scale)
    return np.where(x > 0, s * x, s * a * np.expm1(np.minimum(x, 0)))


def _mish(x):
    xd = x.astype(np.float64)
    return _neg_inf_limit(x, xd * np.tanh(np.logaddexp(0.0, xd)))


def _hardswish(x):
    return x * np.clip(x + 3, 0, 6) / 6


def _logit_in(x, eps, clamp):
    if clamp:
        return np.where(x < eps, x.dtype.type(eps), np.where(x > 1 - eps, x.dtype.type(1 - eps), x))
    return x


def _logit(x, eps, clamp):
    z = _logit_in(x, eps, clamp).astype(np.float64)
    return np.log(z / (1 - z))


def _mish_grad(x):
    sp = np.logaddexp(0.0, x)
    t = np.tanh(sp)
    return t + x * (1 - t * t) * sigmoid(x)


def _logit_grad(x, eps, clamp):
    if clamp:
        return np.where((x < eps) | (x > 1 - eps), 0, 1 / (x * (1 - x)))
    return np.where((x < 0) | (x > 1), np.nan, 1 / (x * (1 - x)))


# forward: f(x, alpha, beta)
UNARY = {
    U["neg"]: lambda x, a, b: -x,
    U["abs"]: lambda x, a, b: np.abs(x),
    U["exp"]: lambda x, a, b: np.exp(x),
    U["log"]: lambda x, a, b: np.log(x),
    U["log1p"]: lambda x, a, b: np.log1p(x),
    U["sqrt"]: lambda x, a, b: np.sqrt(x),
    U["rsqrt"]: lambda x, a, b: 1 / np.sqrt(x),
    U["sin"]: lambda x, a, b: np.sin(x),
    U["cos"]: lambda x, a, b: np.cos(x),
    U["tanh"]: lambda x, a, b: np.tanh(x),
    U["sigmoid"]: lambda x, a, b: sigmoid(x),
    U["relu"]: lambda x, a, b: np.where(x < 0, x.dtype.type(0), x),
    U["leaky_relu"]: lambda x, a, b: np.where(x < 0, x * x.dtype.type(a), x),
    U["gelu"]: lambda x, a, b: gelu(x),
    U["gelu_tanh"]: lambda x, a, b: gelu_tanh(x),
    U["silu"]: lambda x, a, b: silu(x),
    U["softplus"]: lambda x, a, b: softplus(x, a, b),
    U["clamp"]: lambda x, a, b: _clamp(x, a, b),
    U["pow_scalar"]: lambda x, a, b: (np.reciprocal(np.sqrt(x)) if a == -0.5   # PyTorch's edges
                                      else np.reciprocal(x * x) if a == -2.0
                                      else np.power(x, x.dtype.type(a))),
    U["sign"]: lambda x, a, b: _sign(x),
    U["square"]: lambda x, a, b: x * x,
    U["reciprocal"]: lambda x, a, b: 1 / x,
    U["erf"]: lambda x, a, b: _erf(x.astype(np.float64)).astype(x.dtype),
    U["exp2"]: lambda x, a, b: np.exp2(x),
    U["log2"]: lambda x, a, b: np.log2(x),
    U["log10"]: lambda x, a, b: np.log10(x),
    U["expm1"]: lambda x, a, b: np.expm1(x),
    U["tan"]: lambda x, a, b: np.tan(x),
    U["asin"]: lambda x, a, b: np.arcsin(x),
    U["acos"]: lambda x, a, b: np.arccos(x),
    U["atan"]: lambda x, a, b: np.arctan(x),
    U["sinh"]: lambda x, a, b: np.sinh(x),
    U["cosh"]: lambda x, a, b: np.cosh(x),
    U["floor"]: lambda x, a, b: np.floor(x),
    U["ceil"]: lambda x, a, b: np.ceil(x),
    U["round"]: lambda x, a, b: np.rint(x),
    U["trunc"]: lambda x, a, b: np.trunc(x),
    U["hardtanh"]: lambda x, a, b: _hardtanh(x, a, b),
    U["elu"]: lambda x, a, b: _elu(x, a, b),
    U["mish"]: lambda x, a, b: _mish(x),
    U["hardswish"]: lambda x, a, b: _hardswish(x),
    U["hardsigmoid"]: lambda x, a, b: np.clip(x + 3, 0, 6) / 6,
    U["logit"]: lambda x, a, b: _logit(x, a, b != 0),
}


def _gelu_grad(x):
    xd = x.astype(np.float64)
    return (0.5 * _erfc(-xd * _SQRT1_2) + xd * np.exp(-0.5 * xd * xd) / math.sqrt(2 * math.pi)).astype(x.dtype)


def _gelu_tanh_grad(x):
    k, c = x.dtype.type(_SQRT_2_OVER_PI), x.dtype.type(0.044715)
    t = np.tanh(k * (x + c * x ** 3))
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * c * x * x)


def _pow_grad(x, a):
    if a == 0:
        return np.zeros_like(x)
    return x.dtype.type(a) * np.power(x, x.dtype.type(a - 1))


# derivative f'(.) from (x, y, alpha, beta); gx = g * f'
UNARY_DERIV = {
    U["neg"]: lambda x, y, a, b: -np.ones_like(x),
    U["abs"]: lambda x, y, a, b: _sign(x) * (x == x),
    U["exp"]: lambda x, y, a, b: y,
    U["log"]: lambda x, y, a, b: 1 / x,
    U["log1p"]: lambda x, y, a, b: 1 / (1 + x),
    U["sqrt"]: lambda x, y, a, b: 1 / (2 * y),
    U["rsqrt"]: lambda x, y, a, b: -0.5 * y * y * y,
    U["sin"]: lambda x, y, a, b: np.cos(x),
    U["cos"]: lambda x, y, a, b: -np.sin(x),
    U["tanh"]: lambda x, y, a, b: 1 - y * y,
    U["sigmoid"]: lambda x, y, a, b: y * (1 - y),
    U["relu"]: lambda x, y, a, b: (x > 0).astype(x.dtype),
    U["leaky_relu"]: lambda x, y, a, b: np.where(x > 0, 1, a).astype(x.dtype),
    U["gelu"]: lambda x, y, a, b: _gelu_grad(x),
    U["gelu_tanh"]: lambda x, y, a, b: _gelu_tanh_grad(x),
    U["silu"]: lambda x, y, a, b: sigmoid(x) * (1 + x * (1 - sigmoid(x))),
    U["softplus"]: lambda x, y, a, b: np.where(x * a > b, 1,
                                               sigmoid((x * x.dtype.type(a)).astype(x.dtype))).astype(x.dtype),
    U["clamp"]: lambda x, y, a, b: ((x >= a) & (x <= b)).astype(x.dtype),
    U["pow_scalar"]: lambda x, y, a, b: _pow_grad(x, a),
    U["sign"]: lambda x, y, a, b: np.zeros_like(x),
    U["square"]: lambda x, y, a, b: 2 * x,
    U["reciprocal"]: lambda x, y, a, b: -1 / (x * x),
    U["erf"]: lambda x, y, a, b: (2 / math.sqrt(math.pi)) * np.exp(-x * x),
    U["exp2"]: lambda x, y, a, b: _LN2 * np.exp2(x),
    U["log2"]: lambda x, y, a, b: 1 / (x * _LN2),
    U["log10"]: lambda x, y, a, b: 1 / (x * _LN10),
    U["expm1"]: lambda x, y, a, b: np.exp(x),
    U["tan"]: lambda x, y, a, b: 1 + np.tan(x) ** 2,
    U["asin"]: lambda x, y, a, b: 1 / np.sqrt(1 - x * x),
    U["acos"]: lambda x, y, a, b: -1 / np.sqrt(1 - x * x),
    U["atan"]: lambda x, y, a, b: 1 / (1 + x * x),
    U["sinh"]: lambda x, y, a, b: np.cosh(x),
    U["cosh"]: lambda x, y, a, b: np.sinh(x),
    U["floor"]: lambda x, y, a, b: np.zeros_like(x),
    U["ceil"]: lambda x, y, a, b: np.zeros_like(x),
    U["round"]: lambda x, y, a, b: np.zeros_like(x),
    U["trunc"]: lambda x, y, a, b: np.zeros_like(x),
    U["hardtanh"]: lambda x, y, a, b: ((x > a) & (x < b)).astype(x.dtype),
    U["elu"]: lambda x, y, a, b: np.where(x > 0, b, b * a * np.exp(np.minimum(x, 0))),
    U["mish"]: lambda x, y, a, b: _mish_grad(x),
    U["hardswish"]: lambda x, y, a, b: np.where(x < -3, 0, np.where(x <= 3, x / 3 + 0.5, 1)),
    U["hardsigmoid"]: lambda x, y, a, b: np.where((x > -3) & (x < 3), 1 / 6, 0),
    U["logit"]: lambda x, y, a, b: _logit_grad(x, a, b != 0),
}


def unary(op, x, alpha=0.0, beta=0.0):
    with np.errstate(all="ignore"):
        return np.asarray(UNARY[op](x, alpha, beta), dtype=x.dtype)


def unary_bwd(op, g, x, y, alpha=0.0, beta=0.0):
    with np.errstate(all="ignore"):
        d = UNARY_DERIV[op](x, y, alpha, beta)
        return np.asarray(g * d, dtype=g.dtype)


def _maximum(a, b):
    return np.where((a > b) | (a != a), a, b)


def _minimum(a, b):
    return np.where((a < b) | (a != a), a, b)


def _remainder(a, b):
    r = np.fmod(a, b)
    return np.where((r != 0) & ((r < 0) != (b < 0)), r + b, r)


BINARY = {B["add"]: np.add, B["sub"]: np.subtract, B["mul"]: np.multiply,
          B["div"]: np.true_divide, B["pow"]: np.power, B["maximum"]: _maximum,
          B["minimum"]: _minimum, B["atan2"]: np.arctan2, B["fmod"]: np.fmod,
          B["remainder"]: _remainder, B["hypot"]: np.hypot}
COMPARE = {CMP["eq"]: np.equal, CMP["ne"]: np.not_equal, CMP["lt"]: np.less,
           CMP["le"]: np.less_equal, CMP["gt"]: np.greater, CMP["ge"]: np.greater_equal}


def binary(op, a, b):
    if a.dtype != b.dtype:
        raise TypeError(f"dtypes differ ({a.dtype} and {b.dtype})")
    with np.errstate(all="ignore"):
        return np.asarray(BINARY[op](a, b), dtype=a.dtype)


def compare(op, a, b):
    return np.asarray(COMPARE[op](a, b), dtype=bool)


def where(c, a, b):
    return np.where(c, a, b).astype(a.dtype)
