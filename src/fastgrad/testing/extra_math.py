"""Registry entries of the ops of ``fastgrad.ops.extra_math``.  The references are NumPy
(and the ``math`` module) in float64, written independently of the ops' own code paths
(digamma by its asymptotic series after a long recurrence, erfinv by bisection)."""

import math

import numpy as np

import fastgrad as fg
from fastgrad.testing.opinfo import (ErrorInput, OpInfo, OpTable, Sample, _u, binary_errors,
                                     binary_samples, unary_errors, unary_samples)

OPS = OpTable()
register, _simple = OPS.register, OPS.simple


def _unary(name, ref, lo, hi, gradgrad=True, grad=True, **kw):
    register(OpInfo(name, getattr(fg, name), ref, unary_samples(lo, hi), unary_errors(name, {}),
                    extreme=False, gradgrad=gradgrad, grad=grad, **kw))


def _ref_digamma(x):
    x = np.asarray(x, dtype=np.float64)
    n = 30
    z = x + n
    s = np.log(z) - 0.5 / z - 1 / (12 * z ** 2) + 1 / (120 * z ** 4) - 1 / (252 * z ** 6)
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in range(n):
            s = s - 1.0 / (x + k)
    pole = (x <= 0) & (x == np.floor(x))
    return np.where(x == 0, np.copysign(np.inf, -x), np.where(pole, np.nan, s))


def _ref_erfinv(x):
    lo, hi = np.full(x.shape, -7.0), np.full(x.shape, 7.0)
    erf = np.vectorize(math.erf, otypes=[np.float64])
    for _ in range(80):
        mid = (lo + hi) / 2
        big = erf(mid) > x
        hi, lo = np.where(big, mid, hi), np.where(big, lo, mid)
    out = (lo + hi) / 2
    return np.where(np.abs(x) == 1, np.sign(x) * np.inf, np.where(np.abs(x) > 1, np.nan, out))


def _np_sinc(x):
    return np.sinc(x)


_unary("erfc", np.vectorize(math.erfc, otypes=[np.float64]), -4, 4)
_unary("erfinv", _ref_erfinv, -0.95, 0.95)
_unary("lgamma", np.vectorize(math.lgamma, otypes=[np.float64]), 0.2, 6)
_unary("digamma", _ref_digamma, 0.2, 6, gradgrad=False)
_unary("i0", np.i0, -4, 4, gradgrad=False)
_unary("sinc", _np_sinc, -3, 3)
_unary("deg2rad", np.deg2rad, -400, 400)
_unary("rad2deg", np.rad2deg, -7, 7)
_unary("frac", lambda x: x - np.trunc(x), -5, 5, gradgrad=False)
for _n, _r in (("signbit", np.signbit), ("isposinf", np.isposinf), ("isneginf", np.isneginf),
               ("isreal", lambda x: np.ones(x.shape, bool))):
    register(OpInfo(_n, getattr(fg, _n), _r, unary_samples(-2, 2), unary_errors(_n, {}),
                    grad=False, keeps_dtype=False, extreme=False))
_simple("positive", fg.positive, lambda x: x, unary_samples(-2, 2), unary_errors("positive", {}))


def _nan_samples(rng):
    x = _u(rng, (3, 4), -2, 2)
    y = x.copy()
    y[0, 1], y[1, 2], y[2, 0] = np.nan, np.inf, -np.inf
    return [Sample([x], desc="finite"), Sample([x], {"nan": 1.5}, "finite, nan given"),
            Sample([y], {"nan": 0.25, "posinf": 9.0, "neginf": -9.0}, "nan and infs"),
            Sample([y], {"posinf": 9.0, "neginf": -9.0}, "default nan")]


_simple("nan_to_num", fg.nan_to_num,
        lambda x, nan=0.0, posinf=None, neginf=None: np.nan_to_num(x, nan=nan, posinf=posinf,
                                                                     neginf=neginf),
        _nan_samples, unary_errors("nan_to_num", {}))


def _xlogy_samples(rng):
    x = _u(rng, (3, 4), -2, 2, away=0.05)
    z = x.copy()
    z[0, :2] = 0.0
    return [Sample([x, _u(rng, (3, 4), 0.2, 3)]), Sample([x, _u(rng, (4,), 0.2, 3)], desc="broadcast"),
            Sample([x, 2.5], desc="scalar other"),
            Sample([z, _u(rng, (3, 4), 0.0, 3)], desc="zeros of x (gradient 0 there, as in torch)",
                   grad=False)]


def _np_xlogy(x, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, 0.0, x * np.log(y))


_simple("xlogy", fg.xlogy, _np_xlogy, _xlogy_samples,
        lambda: [ErrorInput([np.zeros((2, 3)), np.ones((4,))], {}, ValueError, "xlogy")])
register(OpInfo("fmax", fg.fmax, np.fmax, binary_samples(), binary_errors("fmax"), extreme=False))
register(OpInfo("fmin", fg.fmin, np.fmin, binary_samples(), binary_errors("fmin"), extreme=False))
_simple("float_power", fg.float_power, lambda x, e: np.power(x, e),
        lambda rng: [Sample([_u(rng, (3, 4), 0.2, 2), _u(rng, (4,), -2, 2)]),
                     Sample([_u(rng, (3, 4), 0.2, 2), 2.5], desc="scalar exponent")],
        keeps_dtype=False)


def _ternary(rng):
    return [Sample([_u(rng, (3, 4), -2, 2), _u(rng, (4,), -2, 2), _u(rng, (3, 1), 0.5, 2)]),
            Sample([_u(rng, (3, 4), -2, 2), _u(rng, (3, 4), -2, 2), _u(rng, (3, 4), 0.5, 2)],
                   {"value": -0.5}, "value")]


_simple("addcmul", fg.addcmul, lambda a, b, c, value=1: a + value * b * c, _ternary,
        lambda: [ErrorInput([np.zeros((2, 3)), np.ones((4,)), np.ones(3)], {}, ValueError, "")])
_simple("addcdiv", fg.addcdiv, lambda a, b, c, value=1: a + value * b / c, _ternary,
        lambda: [ErrorInput([np.zeros((2, 3)), np.ones((4,)), np.ones(3)], {}, ValueError, "")])
register(OpInfo("heaviside", fg.heaviside,
                lambda x, v: np.heaviside(x, v),
                lambda rng: [Sample([np.array([-1.0, 0.0, 2.0, 0.0]), np.array([0.5, 0.25, 3.0, 7.0])]),
                             Sample([np.array([[-1.0, 0.0], [3.0, 0.0]]), np.array([0.5, 0.75])],
                                    desc="broadcast")],
                lambda: [ErrorInput([np.zeros((2, 3)), np.ones((4,))], {}, ValueError, "heaviside")],
                grad=False, extreme=False))
register(OpInfo("logical_xor", fg.logical_xor, np.logical_xor,
                lambda rng: [Sample([_u(rng, (3, 4), -1, 1).round(), _u(rng, (4,), -1, 1).round()])],
                lambda: [ErrorInput(["x", np.zeros(2)], {}, TypeError, "")],
                grad=False, keeps_dtype=False, extreme=False))
