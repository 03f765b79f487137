"""``fastgrad.special``: the functions of ``torch.special`` that fastgrad has, under the
same names (``expit``, ``gammaln``, ``psi``, ``ndtr``, ``log_ndtr``, ``erfcx``, ``entr``,
...).  Most are fastgrad's own ops under another name; ``erfcx``, ``ndtr``, ``log_ndtr``
and ``entr`` are defined here.
"""
from __future__ import annotations

import math

import numpy as np

from fastgrad._tensor import Tensor
from fastgrad.ops._record import _to_tensor
from fastgrad.ops.elementwise import (erf, isnan, exp2, expm1, gt, log, log1p, logit, mul, sigmoid,  # noqa: F401
                                      eq, neg, round, square, sub, where)  # noqa: A004
from fastgrad.ops.extra_math import (_float_in, _npfunc, digamma, erfc, erfinv, i0, sinc,  # noqa: F401
                                     xlogy)
from fastgrad.ops.reduce import logsumexp  # noqa: F401
from fastgrad.ops.reduce import softmax as _softmax, log_softmax as _log_softmax

__all__ = ["expit", "erf", "erfc", "erfinv", "erfcx", "ndtr", "log_ndtr", "logit", "expm1",
           "exp2", "gammaln", "digamma", "psi", "sinc", "round", "log1p", "entr", "xlogy", "i0",
           "softmax", "log_softmax", "logsumexp"]

_SQRT1_2 = math.sqrt(0.5)
_ERFC_V = np.vectorize(math.erfc, otypes=[np.float64])


def _np_erfcx(x):
    """exp(x^2) * erfc(x) in float64: the product directly below 25, the asymptotic series
    above (where erfc underflows)."""
    x = np.asarray(x, dtype=np.float64)
    small = x < 25.0
    xs = np.where(small, x, 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        direct = np.exp(xs * xs) * _ERFC_V(xs)
        direct = np.where(np.isneginf(x) | (x < -26.7), np.inf, direct)
    xl = np.where(small, 30.0, x)
    iz2 = 1.0 / (2.0 * xl * xl)
    series = (1.0 - iz2 * (1.0 - 3.0 * iz2 * (1.0 - 5.0 * iz2 * (1.0 - 7.0 * iz2)))) / (xl * math.sqrt(math.pi))
    series = np.where(np.isposinf(x), 0.0, series)
    return np.where(np.isnan(x), np.nan, np.where(small, direct, series))


def _erfcx_deriv(x):
    return sub(mul(mul(x, 2.0), erfcx(x)), 2.0 / math.sqrt(math.pi))


erfcx = _npfunc("erfcx", _np_erfcx, _erfcx_deriv)
erfcx.__doc__ = "The scaled complementary error function exp(x^2) * erfc(x)."
from fastgrad.ops.extra_math import lgamma as gammaln  # noqa: E402
psi = digamma
expit = sigmoid


def ndtr(input: Tensor) -> Tensor:
    """The standard normal cumulative distribution function, 0.5 * erfc(-x / sqrt(2))."""
    return mul(erfc(mul(_float_in(input, "ndtr"), -_SQRT1_2)), 0.5)


def log_ndtr(input: Tensor) -> Tensor:
    """log(ndtr(x)), accurate in both tails: log1p(-ndtr(-x)) for x > 0 and
    log(erfcx(-x / sqrt(2)) / 2) - x^2 / 2 for x <= 0."""
    x = _float_in(input, "log_ndtr")
    pos = gt(x, 0.0)
    xp = where(pos, x, 0.0)
    xn = where(pos, 0.0, x)
    right = log1p(mul(erfc(mul(xp, _SQRT1_2)), -0.5))
    left = sub(log(mul(erfcx(mul(xn, -_SQRT1_2)), 0.5)), mul(square(xn), 0.5))
    return where(pos, right, left)


def entr(input: Tensor) -> Tensor:
    """The elementwise entropy term: -x * log(x) for x > 0, 0 at 0, -inf for x < 0."""
    x = _float_in(input, "entr")
    pos = gt(x, 0.0)
    safe = where(pos, x, 1.0)
    rest = where(eq(x, 0.0), 0.0, where(isnan(x), x, -math.inf))
    return where(pos, neg(mul(safe, log(safe))), rest)


def softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Softmax along ``dim`` (``torch.special.softmax``: ``dim`` is required)."""
    return _softmax(_to_tensor(input, "softmax"), dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Log-softmax along ``dim`` (``torch.special.log_softmax``: ``dim`` is required)."""
    return _log_softmax(_to_tensor(input, "log_softmax"), dim, dtype=dtype)
