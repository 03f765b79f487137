"""Elementwise math functions of PyTorch that fastgrad composes from its own ops
(``addcmul``, ``xlogy``, ``sinc``, ``nan_to_num``, ``fmax``, ...) or computes in NumPy with
a gradient of their own (``erfc``, ``erfinv``, ``lgamma``, ``digamma``, ``i0``), and the
comparison and sign aliases (``greater``, ``not_equal``, ``absolute``, ``negative``, ...).

The NumPy functions run in float64 and round to the input's dtype; integer and bool
inputs give the default float dtype, as in PyTorch.
"""
from __future__ import annotations

import math

import numpy as np

from fastgrad._tensor import Tensor, get_default_dtype
from fastgrad.autograd.engine import declare
from fastgrad.ops._record import (_make, _needs, _record, _scalar, _to_tensor, exports, lowp_via_float32,
                                  public, to)
from fastgrad.ops.inplace import _inplace_apply
from fastgrad.ops._record import METHODS, _EXPORTS

_PI = math.pi


def _float_in(x, who):
    """``x`` as a Tensor of a floating dtype (integers and bools promote to the default)."""
    x = _to_tensor(x, who)
    if not x.dtype.is_floating_point:
        x = to(x, get_default_dtype())
    return x


def _is_float(t):
    return t.dtype.is_floating_point


def _inplace_of(fn):
    """The in-place form ``fn_`` of ``fn`` (a Tensor method)."""
    name = fn.__name__ + "_"

    def f(self, *args, **kwargs):
        return _inplace_apply(self, name, fn, args, kwargs or None)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"In-place ``{fn.__name__}``: writes the result into this tensor and returns it."
    return f


# ---- composites ------------------------------------------------------------------------------
@public
def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
    """``input + value * tensor1 * tensor2``, all three broadcast together."""
    p = mul(tensor1, tensor2)
    return add(input, p if value == 1 else mul(p, value))


@public
def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value=1) -> Tensor:
    """``input + value * tensor1 / tensor2``, all three broadcast together."""
    t1, t2 = _to_tensor(tensor1, "addcdiv"), _to_tensor(tensor2, "addcdiv")
    if not _is_float(t1) and not _is_float(t2):
        raise RuntimeError("addcdiv: integer division with addcdiv is not supported; use "
                           "true_divide(tensor1, tensor2) instead")
    q = div(t1, t2)
    return add(input, q if value == 1 else mul(q, value))


@public
def deg2rad(input: Tensor) -> Tensor:
    """Angles in degrees converted to radians."""
    return mul(_float_in(input, "deg2rad"), _PI / 180.0)


@public
def rad2deg(input: Tensor) -> Tensor:
    """Angles in radians converted to degrees."""
    return mul(_float_in(input, "rad2deg"), 180.0 / _PI)


@public
def frac(input: Tensor) -> Tensor:
    """The fractional part ``input - trunc(input)`` (sign of the input); gradient 1."""
    x = _to_tensor(input, "frac")
    if not _is_float(x):
        raise RuntimeError(f"frac: not implemented for integer tensors ({x.dtype})")
    return sub(x, trunc(x))


@public
def signbit(input: Tensor) -> Tensor:
    """A bool tensor: True where the sign bit is set (negative numbers, -0.0, -nan)."""
    return _make(np.signbit(_to_tensor(input, "signbit")._data))


@public
def isposinf(input: Tensor) -> Tensor:
    """A bool tensor: True where the element is +inf."""
    return _make(np.isposinf(_to_tensor(input, "isposinf")._data))


@public
def isneginf(input: Tensor) -> Tensor:
    """A bool tensor: True where the element is -inf."""
    return _make(np.isneginf(_to_tensor(input, "isneginf")._data))


@public
def isreal(input: Tensor) -> Tensor:
    """A bool tensor: True everywhere (fastgrad has no complex dtypes)."""
    return _make(np.ones(_to_tensor(input, "isreal")._data.shape, dtype=bool))


@public
def nan_to_num(input: Tensor, nan: float = 0.0, posinf=None, neginf=None) -> Tensor:
    """NaN replaced by ``nan``, +inf by ``posinf`` and -inf by ``neginf`` (default: the
    dtype's largest and lowest finite values).  Integer tensors are returned unchanged
    (a copy).  The gradient is 1 at finite elements and 0 at the replaced ones."""
    x = _to_tensor(input, "nan_to_num")
    if not _is_float(x):
        return clone(x)
    from fastgrad._dtype import finfo
    fi = finfo(x.dtype)
    hi = float(fi.max) if posinf is None else posinf
    lo = float(fi.min) if neginf is None else neginf
    d = x._data
    if not (np.isnan(d).any() or np.isinf(d).any()):
        return clone(x)
    out = where(isnan(x), nan, x)
    out = where(isposinf(x), hi, out)
    return where(isneginf(x), lo, out)


@public
def sinc(input: Tensor) -> Tensor:
    """The normalized sinc ``sin(pi x) / (pi x)``, 1 at 0."""
    x = _float_in(input, "sinc")
    z = eq(x, 0)
    px = mul(where(z, 1.0, x), _PI)
    return where(z, 1.0, div(sin(px), px))


@public
def xlogy(input, other) -> Tensor:
    """``input * log(other)``, 0 where ``input`` is 0 (unless ``other`` is NaN)."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise TypeError("xlogy: expected at least one Tensor argument")
    t = input if isinstance(input, Tensor) else other
    dt = t._data.dtype if t.dtype.is_floating_point else get_default_dtype()._np
    x = input if isinstance(input, Tensor) else _scalar(_number(input, "xlogy"), dt)
    y = other if isinstance(other, Tensor) else _scalar(_number(other, "xlogy"), dt)
    _broadcast_check(x, y, "xlogy")
    if not _is_float(x) and not _is_float(y):
        x, y = to(x, get_default_dtype()), to(y, get_default_dtype())
    elif not _is_float(x):
        x = to(x, y.dtype)
    elif not _is_float(y):
        y = to(y, x.dtype)
    # where x is 0 and log(y) is -inf, nan (y <= 0) or inf the result is 0: log(1) stands in
    m = logical_and(eq(x, 0), logical_or(le(y, 0), isposinf(y)))
    return mul(x, log(where(m, 1.0, y)))


@public
def heaviside(input: Tensor, values: Tensor) -> Tensor:
    """The Heaviside step: 0 where ``input < 0`` (and where it is NaN), ``values`` where it
    is 0, 1 where it is positive.  Not differentiable."""
    x, v = _to_tensor(input, "heaviside"), _to_tensor(values, "heaviside")
    if x.dtype != v.dtype:
        raise RuntimeError(f"heaviside: input ({x.dtype}) and values ({v.dtype}) must have "
                           "the same dtype")
    try:
        out = np.where(x._data == 0, v._data, (x._data > 0).astype(x._data.dtype))
    except ValueError:
        raise ShapeError(f"heaviside: shapes {tuple(x._data.shape)} and {tuple(v._data.shape)} "
                         "cannot be broadcast") from None
    return _make(np.array(out.astype(x._data.dtype), order="C"))


@public
def logical_xor(input: Tensor, other: Tensor) -> Tensor:
    """input xor other elementwise (nonzero is true), a bool tensor."""
    return ne(logical_not(logical_not(input)), logical_not(logical_not(other)))


def _number(v, who):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{who}: expected a Tensor or a number, got {type(v).__name__}")
    return v


def _broadcast_check(a, b, who):
    try:
        np.broadcast_shapes(a._data.shape, b._data.shape)
    except ValueError:
        raise ShapeError(f"{who}: shapes {tuple(a._data.shape)} and {tuple(b._data.shape)} "
                         "cannot be broadcast") from None


def _fpair(input, other, who):
    a, b = _to_tensor(input, who), _to_tensor(other, who)
    _broadcast_check(a, b, who)
    return a, b


def _nan_ignoring(input, other, who, keeps_a, plain):
    """a where keeps_a(a, b) or b is NaN, else b; integer pairs take plain(a, b)."""
    a, b = _fpair(input, other, who)
    if not _is_float(a) and not _is_float(b):
        return plain(a, b)
    return where(logical_or(keeps_a(a, b), isnan(b)), a, b)


@public
def fmax(input: Tensor, other: Tensor) -> Tensor:
    """The elementwise maximum, ignoring NaN: where one side is NaN the other is taken."""
    return _nan_ignoring(input, other, "fmax", ge, maximum)


@public
def fmin(input: Tensor, other: Tensor) -> Tensor:
    """The elementwise minimum, ignoring NaN: where one side is NaN the other is taken."""
    return _nan_ignoring(input, other, "fmin", le, minimum)


@public
def float_power(input, exponent) -> Tensor:
    """``input ** exponent`` computed in float64 (the result is float64)."""
    from fastgrad._dtype import float64
    x = to(_to_tensor(input, "float_power"), float64)
    e = to(exponent, float64) if isinstance(exponent, Tensor) else float(exponent)
    return pow(x, e)


# ---- NumPy special functions with their gradients --------------------------------------------
_erfc_v = np.vectorize(math.erfc, otypes=[np.float64])
_erf_v = np.vectorize(math.erf, otypes=[np.float64])


def _libm_lgamma():
    """The C library's lgamma (accurate near the zeros at 1 and 2, where math.lgamma loses
    relative precision), or math.lgamma where no C library is found."""
    try:
        import ctypes
        import ctypes.util
        m = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        f = m.lgamma
        f.restype, f.argtypes = ctypes.c_double, [ctypes.c_double]
        if abs(f(0.9999) - 5.7729791561193866e-05) > 1e-19:
            return math.lgamma
        return f
    except (OSError, AttributeError):
        return math.lgamma


_c_lgamma = _libm_lgamma()


def _lgamma1(v):
    if math.isnan(v):
        return v
    if math.isinf(v) or (v <= 0 and v == math.floor(v)):
        return math.inf
    return _c_lgamma(v)


_lgamma_v = np.vectorize(_lgamma1, otypes=[np.float64])


def _np_erfinv(x):
    """erfinv in float64: Giles' single-precision approximation refined by Newton steps on
    erf (|x| <= 0.5) or erfc (|x| > 0.5, where 1 - |x| is exact)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    a = np.abs(x)
    ok = a < 1
    xa = np.where(ok, a, 0.0)
    w = -np.log((1.0 - xa) * (1.0 + xa))
    w1 = w - 2.5
    p1 = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
              -0.00417768164, 0.246640727, 1.50140941):
        p1 = c + p1 * w1
    w2 = np.sqrt(np.maximum(w, 5.0)) - 3.0
    p2 = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
              0.00943887047, 1.00167406, 2.83297682):
        p2 = c + p2 * w2
    y = np.where(w < 5.0, p1, p2) * xa
    small = xa <= 0.5
    with np.errstate(divide="ignore"):
        lt = np.log(np.where(small, 1.0, 1.0 - xa))
    for _ in range(4):
        d = 2.0 / math.sqrt(math.pi) * np.exp(-y * y)
        ec = _erfc_v(y)
        step_s = (_erf_v(y) - xa) / np.where(d > 0, d, 1.0)
        # the tail: Newton on log(erfc(y)) = log(1 - x), whose slope is -d / erfc(y)
        step_t = (np.log(np.where(ec > 0, ec, 1.0)) - lt) * np.where(d > 0, -ec / np.where(d > 0, d, 1.0), 0.0)
        y = y - np.where(small, step_s, step_t)
    out[ok] = (np.sign(x) * y)[ok]
    out[a == 1] = np.sign(x[a == 1]) * np.inf
    out[x == 0] = x[x == 0]
    return out


def _np_digamma(x):
    x = np.asarray(x, dtype=np.float64)
    out = np.empty(x.shape)
    neg = x < 0.5
    z = np.where(neg, 1.0 - x, x)
    acc = np.zeros(x.shape)
    while True:
        m = z < 10.0
        if not m.any():
            break
        acc = acc - np.where(m, 1.0 / np.where(m, z, 1.0), 0.0)
        z = np.where(m, z + 1.0, z)
    iz2 = 1.0 / (z * z)
    ser = iz2 * (1 / 12 - iz2 * (1 / 120 - iz2 * (1 / 252 - iz2 * (1 / 240 - iz2 * (1 / 132)))))
    psi = np.log(z) - 0.5 / z - ser + acc
    with np.errstate(divide="ignore", invalid="ignore"):
        refl = psi - _PI / np.tan(_PI * x)
    out = np.where(neg, refl, psi)
    out = np.where((x <= 0) & (x == np.floor(x)), np.nan, out)
    out = np.where(x == 0, np.copysign(np.inf, -x), out)
    out[np.isposinf(x)] = np.inf
    out[np.isneginf(x)] = np.nan
    return out


def _np_trigamma(x):
    x = np.asarray(x, dtype=np.float64)
    neg = x < 0.5
    z = np.where(neg, 1.0 - x, x)
    acc = np.zeros(x.shape)
    while True:
        m = z < 10.0
        if not m.any():
            break
        acc = acc + np.where(m, 1.0 / np.where(m, z * z, 1.0), 0.0)
        z = np.where(m, z + 1.0, z)
    iz = 1.0 / z
    iz2 = iz * iz
    ser = iz + 0.5 * iz2 + iz * iz2 * (1 / 6 - iz2 * (1 / 30 - iz2 * (1 / 42 - iz2 / 30)))
    t = ser + acc
    with np.errstate(divide="ignore", invalid="ignore"):
        refl = (_PI / np.sin(_PI * x)) ** 2 - t
    return np.where(neg, refl, t)


def _np_i1(x):
    x = np.asarray(x, dtype=np.float64)
    h = x / 2.0
    q = h * h
    term = h.copy()
    s = term.copy()
    k = 0
    while True:
        k += 1
        term = term * q / (k * (k + 1))
        s = s + term
        if k > 2000 or not np.any(np.abs(term) > 1e-17 * np.abs(s)):
            break
    return s


def _npfunc(name, fwd, deriv):
    """A differentiable elementwise op computed by ``fwd`` (NumPy, float64); ``deriv`` is
    the fastgrad op giving its derivative (None: not differentiable)."""
    def bwd(node, g):
        if deriv is None:
            raise RuntimeError(f"the derivative of {name} is not implemented")
        return (mul(g, deriv(node.saved[0])),)

    def jvp(node, xs, ts, out):
        return mul(ts[0], deriv(xs[0]))

    declare(bwd, jvp=jvp, elementwise=True)

    @lowp_via_float32
    def op(input: Tensor) -> Tensor:
        x = _float_in(input, name)
        d = x._data
        with np.errstate(all="ignore"):
            out = np.array(np.asarray(fwd(d.astype(np.float64))).astype(d.dtype).reshape(d.shape),
                       order="C")
        if _needs(x):
            return _record(out, name, bwd, (x,), (x,))
        return _make(out)
    op.__name__ = op.__qualname__ = name
    return op


def _trigamma_deriv(x):
    raise RuntimeError("the derivative of trigamma (polygamma(2)) is not implemented")


_trigamma = _npfunc("trigamma", _np_trigamma, None)
digamma = _npfunc("digamma", _np_digamma, _trigamma)
digamma.__doc__ = "The digamma function, the derivative of lgamma (-inf at 0, NaN at negative integers)."
lgamma = _npfunc("lgamma", _lgamma_v, digamma)
lgamma.__doc__ = "The natural log of the absolute value of the gamma function (inf at poles)."
_i1 = _npfunc("i1", _np_i1, None)
i0 = _npfunc("i0", np.i0, _i1)
i0.__doc__ = "The modified Bessel function of the first kind of order 0."


def _erfc_deriv(x):
    return mul(exp(neg(square(x))), -2.0 / math.sqrt(_PI))


def _erfinv_deriv(x):
    return mul(exp(square(erfinv(x))), math.sqrt(_PI) / 2.0)


erfc = _npfunc("erfc", _erfc_v, _erfc_deriv)
erfc.__doc__ = "The complementary error function 1 - erf(x), accurate in the tails."
erfinv = _npfunc("erfinv", _np_erfinv, _erfinv_deriv)
erfinv.__doc__ = "The inverse error function on (-1, 1) (+-inf at +-1, NaN outside)."
for _f in (digamma, lgamma, i0, erfc, erfinv):
    public(_f)


# ---- aliases -----------------------------------------------------------------------------
@public
def positive(input: Tensor) -> Tensor:
    """The input itself (unary plus); bool tensors are refused, as in PyTorch."""
    x = _to_tensor(input, "positive")
    if x._data.dtype == np.bool_:
        raise TypeError("positive: the + operator on a bool tensor is not supported")
    return x


# other names of existing ops, and functions that are not ops, exported as they are
_EXPORTS.setdefault(__name__, []).extend(["absolute", "negative", "greater", "greater_equal", "less",
                                          "less_equal", "not_equal"])
__all__ = exports(__name__)


# ops of other kinds, bound once this module's own names exist (the kinds call each other)
from fastgrad.errors import ShapeError  # noqa: E402
from fastgrad.ops.elementwise import (abs, add, div, eq, exp, ge, gt, isnan, le, log,  # noqa: E402
                                      logical_and, logical_not, logical_or, lt, maximum, minimum,
                                      mul, ne, neg, pow, sin, square, sub, trunc, where)
from fastgrad.ops.shape import clone  # noqa: E402

absolute, negative = abs, neg
greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne
addcmul_ = _inplace_of(addcmul)
addcdiv_ = _inplace_of(addcdiv)
deg2rad_ = _inplace_of(deg2rad)
rad2deg_ = _inplace_of(rad2deg)
frac_ = _inplace_of(frac)
nan_to_num_ = _inplace_of(nan_to_num)
sinc_ = _inplace_of(sinc)
xlogy_ = _inplace_of(xlogy)
heaviside_ = _inplace_of(heaviside)
logical_xor_ = _inplace_of(logical_xor)
float_power_ = _inplace_of(float_power)
erfc_ = _inplace_of(erfc)
erfinv_ = _inplace_of(erfinv)
lgamma_ = _inplace_of(lgamma)
digamma_ = _inplace_of(digamma)
i0_ = _inplace_of(i0)
for _f in (addcmul, addcdiv, deg2rad, rad2deg, frac, nan_to_num, sinc, xlogy, heaviside,
           logical_xor, fmax, fmin, float_power, erfc, erfinv, lgamma, digamma, i0, signbit,
           isposinf, isneginf, isreal, positive):
    METHODS[_f.__name__] = _f
for _f in (addcmul_, addcdiv_, deg2rad_, rad2deg_, frac_, nan_to_num_, sinc_, xlogy_, heaviside_,
           logical_xor_, float_power_, erfc_, erfinv_, lgamma_, digamma_, i0_):
    METHODS[_f.__name__] = _f
for _n, _f in (("absolute", abs), ("negative", neg), ("greater", gt), ("greater_equal", ge),
               ("less", lt), ("less_equal", le), ("not_equal", ne)):
    METHODS.setdefault(_n, _f)
