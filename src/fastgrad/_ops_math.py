"""More math (issue 3B): elementwise functions and activations, scans and reductions,
sort/topk, and products (dot, outer, bmm, addmm, einsum).

Same pattern as ``fastgrad._ops``: forward on the active kernel backend (C or the NumPy
reference), a ``Node`` whose backward is written with fastgrad ops (so
``create_graph=True`` works), and PyTorch's names, arguments and defaults.  Where the
semantics differ from PyTorch the docstring says so.  Registry entries:
``fastgrad._registry_math``.
"""
import collections
import math

import numpy as np

from fastgrad import reference as _reference
from fastgrad._C._kernels import B, R, SCAN, U
from fastgrad._ops import (_bin_shapes, _elementwise_jvp, _float_in, _make, _mask, _needs,
                           _norm_dim, _norm_dims, _ones_of, _pair, _put_along, _record, _scalar,
                           _slice_reduce_jvp, _take_along, _to_tensor, _unary, _zeros_of, abs, add,
                           cat, div, eq, exp, expand, flip, ge, gt, le, logical_and, lt, matmul, mul,
                           narrow, neg, permute, pow, reciprocal, reshape, rsqrt, sigmoid, softplus,
                           square, sub, sum, tanh, to, unsqueeze, where)
from fastgrad._state import backend, grad_mode
from fastgrad.autograd.engine import jvp_rule
from fastgrad._tensor import Tensor, _default

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


# ---- scans -------------------------------------------------------------------------------
def _scan_arr(op, arr, d, reverse):
    if arr.ndim == 0:
        return backend.k.scan(op, arr.reshape(1), 0, reverse).reshape(())
    return backend.k.scan(op, arr, d, reverse)


def _cumsum_bwd(node, g):
    d, reverse = node.ctx
    return (_cumsum(g, d, not reverse),)


@jvp_rule(_cumsum_bwd)
def _cumsum_jvp(node, xs, ts, out):
    d, reverse = node.ctx
    return _cumsum(ts[0], d, reverse)


def _cumsum(x, d, reverse):
    out = _scan_arr(SCAN["cumsum"], x.data, d, reverse)
    if _needs(x):
        return _record(out, "cumsum", _cumsum_bwd, (x,), (), None, (d, reverse))
    return _make(out)


def _cumprod_bwd(node, g):
    """d/dx_k of y_j = prod_{i<=j} x_i (the order runs backwards when reversed).  Without
    zeros: revcumsum(g * y) / x.  With zeros, the exact product form
    prod_{i<k} x_i * sum_{j>=k} g_j prod_{k<i<=j} x_i, built as an (n, n) cumprod per
    line (O(n^2), only when x has a zero); it is a polynomial in x, so its own
    derivative (create_graph) is exact too."""
    (x,) = node.saved
    d, rev = node.ctx
    if x.data.ndim == 0:
        return (g,)
    if not (x.data == 0).any():
        return (div(_cumsum(mul(g, node.output()), d, not rev), x),)
    dt = x.data.dtype
    nd = x.data.ndim
    perm = tuple([i for i in range(nd) if i != d] + [d])
    inv = tuple(int(v) for v in np.argsort(perm))
    xl, gl = permute(x, perm), permute(g, perm)
    n = x.data.shape[d]
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    enters = _make((i < k) if rev else (i > k))      # x_i is a factor of row k's products
    used = _make((i <= k) if rev else (i >= k))      # output j contributes to row k
    rows = _cumprod(where(enters, unsqueeze(xl, -2), _scalar(1.0, dt)), nd, rev)
    s = sum(where(used, mul(rows, unsqueeze(gl, -2)), _scalar(0.0, dt)), -1)
    excl = _shift_ones(_cumprod(xl, nd - 1, rev), nd - 1, not rev)
    return (permute(mul(excl, s), inv),)


@jvp_rule(_cumprod_bwd)
def _cumprod_jvp(node, xs, ts, out):
    # y_i = y_{i-1} x_i, so dy_i = x_i dy_{i-1} + y_{i-1} dx_i: a running recurrence
    # (exact with zeros in x, unlike out * cumsum(t / x))
    d, reverse = node.ctx
    x, t, y = xs[0], ts[0], out
    if x.data.ndim == 0 or x.data.shape[d] == 0:
        return t
    if reverse:
        x, t, y = flip(x, d), flip(t, d), flip(y, d)
    parts = [narrow(t, d, 0, 1)]
    for i in range(1, x.data.shape[d]):
        parts.append(add(mul(narrow(x, d, i, 1), parts[-1]), mul(narrow(y, d, i - 1, 1), narrow(t, d, i, 1))))
    r = cat(parts, d)
    return flip(r, d) if reverse else r


def _cumprod(x, d, reverse):
    out = _scan_arr(SCAN["cumprod"], x.data, d, reverse)
    if _needs(x):
        return _record(out, "cumprod", _cumprod_bwd, (x,), (x,), out, (d, reverse))
    return _make(out)


def _scan_public(name, x, dim, dtype):
    x = _to_tensor(x, name)
    if dtype is not None:
        x = to(x, dtype)
    d = _norm_dim(dim, x.data.ndim, name)
    if x.data.dtype.kind != "f":
        arr = x.data.astype(np.int64) if x.data.dtype.kind == "b" else x.data
        fn = np.cumsum if name == "cumsum" else np.cumprod
        return _make(np.asarray(fn(arr, axis=d) if arr.ndim else arr.copy(), dtype=np.int64))
    return (_cumsum if name == "cumsum" else _cumprod)(x, d, False)


def cumsum(x, dim, dtype=None):
    """Inclusive cumulative sum along dim (float32 accumulates in double)."""
    return _scan_public("cumsum", x, dim, dtype)


def cumprod(x, dim, dtype=None):
    """Inclusive cumulative product along dim; the gradient is exact with zeros in x."""
    return _scan_public("cumprod", x, dim, dtype)


# ---- prod --------------------------------------------------------------------------------
def _shift_ones(t, d, first):
    """t along d with its last element dropped and a 1 put in front (first=True), or its
    first element dropped and a 1 put at the end."""
    n = t.data.shape[d]
    shape = list(t.data.shape)
    shape[d] = 1
    ones = _make(np.ones(shape, dtype=t.data.dtype))
    if first:
        return cat([ones, narrow(t, d, 0, n - 1)], d)
    return cat([narrow(t, d, 1, n - 1), ones], d)


def _prod_bwd(node, g):
    (x,) = node.saved
    d, keepdim, flat = node.ctx
    xs = reshape(x, (-1,)) if flat else x
    if not keepdim:
        g = unsqueeze(g, d) if not flat else reshape(g, (1,))
    if xs.data.shape[d] == 0:
        return (mul(x, 0.0),)
    if not (xs.data == 0).any():
        out = node.output()
        out = reshape(out, g.data.shape)
        r = div(mul(g, out), xs)
    else:
        # prod of the others = (exclusive prefix product) * (exclusive suffix product)
        left = _shift_ones(_cumprod(xs, d, False), d, True)
        right = _shift_ones(_cumprod(xs, d, True), d, False)
        r = mul(g, mul(left, right))
    return (reshape(r, x.data.shape) if flat else r,)


@jvp_rule(_prod_bwd)
def _prod_jvp(node, xs, ts, out):
    d, keepdim, flat = node.ctx
    (gx,) = node.fn(node, _ones_of(out))       # the product of the other factors
    p = mul(gx, ts[0])
    return reshape(sum(p), out.data.shape) if flat else sum(p, d, keepdim)


def prod(x, dim=None, keepdim=False, dtype=None):
    """Product over one dim (or all elements when dim is None; keepdim applies to dim
    only, as in PyTorch).  The gradient is exact with zeros (no division by x)."""
    x = _to_tensor(x, "prod")
    if dtype is not None:
        x = to(x, dtype)
    if x.data.dtype.kind != "f":
        arr = x.data.astype(np.int64)
        if dim is None:
            return _make(np.asarray(np.prod(arr), dtype=np.int64))
        d = _norm_dim(dim, arr.ndim, "prod")
        return _make(np.asarray(np.prod(arr, axis=d, keepdims=keepdim) if arr.ndim else arr, np.int64))
    if dim is None:
        flat, d = True, 0
        out = backend.k.prod(np.ascontiguousarray(x.data).reshape(-1), 0)
    else:
        flat = False
        d = _norm_dim(dim, x.data.ndim, "prod")
        if x.data.ndim == 0:
            out = x.data.copy()
        else:
            out = backend.k.prod(x.data, d)
            if keepdim:
                out = np.expand_dims(out, d)
    if x.data.ndim == 0:
        flat, keepdim = True, True
        out = out.reshape(())
    if _needs(x):
        return _record(out, "prod", _prod_bwd, (x,), (x,), out, (d, keepdim, flat))
    return _make(out)


# ---- amax / amin --------------------------------------------------------------------------
def _amaxmin_bwd(node, g):
    (x,) = node.saved
    shape, dims, keepdim = node.ctx
    out = node.output()
    keep = tuple(1 if i in dims else s for i, s in enumerate(shape))
    if not keepdim:
        out = reshape(out, keep)
        g = reshape(g, keep)
    m = _mask(eq(x, out), x)
    return (mul(div(m, sum(m, dims if dims else None, keepdim=True)), g),)


jvp_rule(_amaxmin_bwd)(_slice_reduce_jvp)


def _amaxmin(name, x, dim, keepdim):
    x = _to_tensor(x, name)
    nd = x.data.ndim
    dims = _norm_dims(None if dim is None or dim == () else dim, nd, name)
    for d in dims:
        if x.data.shape[d] == 0:
            raise ValueError(f"{name}: cannot reduce over the zero-size dimension {d} of a tensor "
                             f"of shape {tuple(x.data.shape)}")
    if x.data.dtype.kind != "f":
        fn = np.max if name == "amax" else np.min
        return _make(np.asarray(fn(x.data, axis=dims, keepdims=keepdim) if nd else x.data.copy()))
    if nd == 0:
        out = x.data.copy()
    else:
        out = backend.k.reduce(R["max" if name == "amax" else "min"], x.data, dims)
        if keepdim:
            out = out.reshape(tuple(1 if i in dims else s for i, s in enumerate(x.data.shape)))
    if _needs(x):
        return _record(out, name, _amaxmin_bwd, (x,), (x,), out, (x.data.shape, dims, keepdim))
    return _make(out)


def amax(x, dim=None, keepdim=False):
    """Maximum over dim (an int, a tuple, or None / () for all dims).  NaN propagates.
    The gradient is split evenly among tied maxima, as in PyTorch."""
    return _amaxmin("amax", x, dim, keepdim)


def amin(x, dim=None, keepdim=False):
    """Minimum over dim; see amax."""
    return _amaxmin("amin", x, dim, keepdim)


# ---- all / any ----------------------------------------------------------------------------
def _allany(name, x, dim, keepdim):
    x = _to_tensor(x, name)
    nd = x.data.ndim
    dims = _norm_dims(dim, nd, name) if dim is not None else None
    fn = np.all if name == "all" else np.any
    return _make(np.asarray(fn(x.data != 0, axis=dims, keepdims=keepdim), dtype=bool))


def all(x, dim=None, keepdim=False):  # noqa: A001 - torch.all
    """True where every element (over dim, an int or tuple; all when None) is non-zero."""
    return _allany("all", x, dim, keepdim)


def any(x, dim=None, keepdim=False):  # noqa: A001 - torch.any
    return _allany("any", x, dim, keepdim)


# ---- norm ---------------------------------------------------------------------------------
def _norm2_bwd(node, g):
    (x,) = node.saved
    shape, dims, keepdim = node.ctx
    n = node.output()
    if not keepdim:
        keep = tuple(1 if i in dims else s for i, s in enumerate(shape))
        g = reshape(g, keep)
        n = reshape(n, keep)
    safe = where(eq(n, 0.0), _scalar(1.0, x.data.dtype), n)
    return (mul(g, div(x, safe)),)


jvp_rule(_norm2_bwd)(_slice_reduce_jvp)


def _norm2(x, dims, keepdim):
    if x.data.ndim == 0:
        s = x.data * x.data
    else:
        s = backend.k.reduce(R["sum"], backend.k.unary(U["square"], x.data), dims)
        if x.data.dtype == np.float32:
            with np.errstate(invalid="ignore"):
                redo = not np.all(np.isfinite(s)) or np.any(s < 1e-30)
            if redo:   # squares overflowed or underflowed in float32: redo in float64
                xd = x.data.astype(np.float64)
                s = backend.k.reduce(R["sum"], backend.k.unary(U["square"], xd), dims)
    out = np.sqrt(s).astype(x.data.dtype)
    if keepdim:
        out = out.reshape(tuple(1 if i in dims else n for i, n in enumerate(x.data.shape)))
    out = np.asarray(out)
    if _needs(x):
        return _record(out, "norm", _norm2_bwd, (x,), (x,), out, (x.data.shape, dims, keepdim))
    return _make(out)


def _zero_grad(node, g):
    return (_make(np.zeros(node.ctx, dtype=g.data.dtype)),)


@jvp_rule(_zero_grad)
def _zero_jvp(node, xs, ts, out):
    return _zeros_of(out)


def _count_nonzero(x, dims, keepdim):
    """The p=0 "norm": number of non-zeros, as x's dtype; its gradient is zero."""
    out = np.asarray(np.sum(x.data != 0, axis=dims, keepdims=keepdim), dtype=x.data.dtype)
    if _needs(x):
        return _record(out, "norm", _zero_grad, (x,), (), None, x.data.shape)
    return _make(out)


def norm(x, p="fro", dim=None, keepdim=False, dtype=None):
    """Vector norm over dim (an int, a tuple, or None for all elements), as
    ``torch.linalg.vector_norm``: p = 2 or "fro" (the default, the same thing for
    vectors), 1, inf, -inf, 0 (number of non-zeros) or any p > 0.  Matrix norms
    ("nuc", spectral) and p < 0 (other than -inf) are not supported.  The 2-norm's
    gradient at 0 is 0 (PyTorch's subgradient).  float32 inputs whose squares overflow
    or underflow float32 are recomputed in double, so huge and tiny vectors get a finite,
    accurate norm."""
    x = _float_in(x, "norm")
    if dtype is not None:
        x = to(x, dtype)
    nd = x.data.ndim
    dims = _norm_dims(dim, nd, "norm")
    red = dims if dims else None
    if isinstance(p, str):
        if p != "fro":
            raise ValueError(f"norm: p={p!r} is not supported (use 'fro' or a number)")
        p = 2.0
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"norm: p must be a number or 'fro', got {type(p).__name__}")
    if p == 2:
        return _norm2(x, dims, keepdim)
    if p == 1:
        return sum(abs(x), red, keepdim=keepdim)
    if p == math.inf:
        return amax(abs(x), red, keepdim=keepdim)
    if p == -math.inf:
        return amin(abs(x), red, keepdim=keepdim)
    if p == 0:
        return _count_nonzero(x, red, keepdim)
    if p < 0 or math.isnan(p):
        raise ValueError(f"norm: p={p} is not supported (expected p > 0, 0, inf or -inf)")
    return pow(sum(pow(abs(x), float(p)), red, keepdim=keepdim), 1.0 / p)


# ---- sort / topk / argsort ----------------------------------------------------------------
SortResult = collections.namedtuple("sort", ["values", "indices"])
TopkResult = collections.namedtuple("topk", ["values", "indices"])


# values of sort/topk at their indices and the scatter back are _ops' take-along /
# put-along pair (each other's backward and forward rule)
_scatter_along = _put_along
_gather_along = _take_along


def _sorted(name, x, dim, flag, k):
    """(values array, int64 indices) of sort (k=None) or topk along dim."""
    x = _to_tensor(x, name)
    arr = x.data
    nd = arr.ndim
    d = _norm_dim(dim, nd, name)
    a1 = arr.reshape(1) if nd == 0 else arr
    kern = backend.k if arr.dtype.kind == "f" else _reference
    if k is None:
        v, i = kern.sort(a1, d, flag)
    else:
        v, i = kern.topk(a1, k, d, flag)
    if nd == 0:
        v, i = v.reshape(()), i.reshape(())
    return x, d, v, i


def _values(x, v, i, d, name):
    if _needs(x) and x.data.dtype.kind == "f":
        i1 = i.reshape(1) if x.data.ndim == 0 else i
        return _record(v, name, _values_bwd, (x,), (), None, (i1, d, x.data.shape))
    return _make(v)


def _values_bwd(node, g):
    idx, d, shape = node.ctx
    if len(shape) == 0:
        return (reshape(_scatter_along(reshape(g, (1,)), idx, d, (1,)), ()),)
    return (_scatter_along(g, idx, d, shape),)


@jvp_rule(_values_bwd)
def _values_jvp(node, xs, ts, out):
    idx, d, shape = node.ctx
    t = reshape(ts[0], (1,)) if len(shape) == 0 else ts[0]
    return reshape(_gather_along(t, idx, d), out.data.shape)


def sort(x, dim=-1, descending=False, stable=False):
    """(values, indices) sorted along dim.  The sort is always stable (``stable`` is
    accepted for PyTorch compatibility); NaN sorts as the largest value."""
    x, d, v, i = _sorted("sort", x, dim, bool(descending), None)
    return SortResult(_values(x, v, i, d, "sort"), _make(i))


def argsort(x, dim=-1, descending=False, stable=False):
    """Indices that sort x along dim (stable; NaN largest)."""
    return _make(_sorted("argsort", x, dim, bool(descending), None)[3])


def topk(x, k, dim=-1, largest=True, sorted=True):  # noqa: A002 - torch's argument name
    """The k largest (largest=True) or smallest elements along dim, as (values, indices).
    Results are always in sorted order (PyTorch leaves the order unspecified when
    sorted=False); ties keep their input order."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"topk: k must be an int, got {type(k).__name__}")
    xt = _to_tensor(x, "topk")
    nd = xt.data.ndim
    d = _norm_dim(dim, nd, "topk")
    n = xt.data.shape[d] if nd else 1
    if not 0 <= k <= n or (nd == 0 and k == 0):        # a 0-d tensor has no empty top-k shape
        raise IndexError(f"topk: k={k} is out of range for dimension {d} of size {n} "
                         f"(input shape {tuple(xt.data.shape)})")
    x, d, v, i = _sorted("topk", xt, dim, bool(largest), int(k))
    return TopkResult(_values(x, v, i, d, "topk"), _make(i))


# ---- products -----------------------------------------------------------------------------
def _shape(t):
    return tuple(t.data.shape)


def dot(input, other):  # noqa: A002
    """Inner product of two 1-D tensors of the same size and dtype."""
    a, b = _to_tensor(input, "dot"), _to_tensor(other, "dot")
    if a.data.ndim != 1 or b.data.ndim != 1:
        raise ValueError(f"dot: 1D tensors expected, but got {a.data.ndim}D and {b.data.ndim}D tensors")
    if a.data.shape[0] != b.data.shape[0]:
        raise ValueError(f"dot: inconsistent tensor size, expected tensors of shapes {_shape(a)} and "
                         f"{_shape(b)} to have the same number of elements")
    if a.data.dtype != b.data.dtype:
        raise TypeError(f"dot: expected both vectors to have same dtype, but found {a.data.dtype} "
                        f"and {b.data.dtype}")
    return matmul(a, b)


def outer(input, vec2):  # noqa: A002
    """Outer product of two 1-D tensors: out[i, j] = input[i] * vec2[j]."""
    a, b = _to_tensor(input, "outer"), _to_tensor(vec2, "outer")
    if a.data.ndim != 1 or b.data.ndim != 1:
        raise ValueError(f"outer: 1D tensors expected, but got shapes {_shape(a)} and {_shape(b)}")
    return mul(unsqueeze(a, 1), unsqueeze(b, 0))


ger = outer


def bmm(input, mat2):  # noqa: A002
    """Batched matrix product of (b, n, m) and (b, m, p) tensors (no broadcasting)."""
    a, b = _to_tensor(input, "bmm"), _to_tensor(mat2, "bmm")
    if a.data.ndim != 3 or b.data.ndim != 3:
        raise ValueError(f"bmm: expected 3-D tensors, got shapes {_shape(a)} and {_shape(b)}")
    if a.data.shape[0] != b.data.shape[0] or a.data.shape[2] != b.data.shape[1]:
        raise ValueError(f"bmm: cannot multiply batches of shapes {_shape(a)} and {_shape(b)} "
                         "(expected (b, n, m) and (b, m, p))")
    return matmul(a, b)


def addmm(input, mat1, mat2, beta=1, alpha=1):  # noqa: A002
    """beta * input + alpha * (mat1 @ mat2), input broadcast to the product's shape.
    With beta == 0 input is ignored (nan/inf in it do not propagate), as in PyTorch."""
    m1, m2 = _to_tensor(mat1, "addmm"), _to_tensor(mat2, "addmm")
    if m1.data.ndim != 2 or m2.data.ndim != 2:
        raise ValueError(f"addmm: mat1 and mat2 must be 2-D, got shapes {_shape(m1)} and {_shape(m2)}")
    if m1.data.shape[1] != m2.data.shape[0]:
        raise ValueError(f"addmm: cannot multiply shapes {_shape(m1)} and {_shape(m2)}: "
                         f"{m1.data.shape[1]} != {m2.data.shape[0]}")
    inp = _to_tensor(input, "addmm")
    oshape = (m1.data.shape[0], m2.data.shape[1])
    try:
        ok = np.broadcast_shapes(inp.data.shape, oshape) == oshape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"addmm: input of shape {_shape(inp)} cannot be broadcast to the product's "
                         f"shape {oshape}")
    p = matmul(m1, m2)
    if alpha != 1:
        p = mul(p, alpha)
    if beta == 0:
        return p if p.data.shape == oshape else expand(p, oshape)
    return add(mul(inp, beta) if beta != 1 else inp, p)


# ---- einsum -------------------------------------------------------------------------------
def _diag_bwd(node, g):
    a1, a2, shape = node.ctx
    return (_embed_diag(g, a1, a2, shape),)


@jvp_rule(_diag_bwd)
def _diag_jvp(node, xs, ts, out):
    a1, a2, shape = node.ctx
    return _take_diag(ts[0], a1, a2)


def _take_diag(x, a1, a2):
    """The diagonal over axes a1 < a2, as a new last axis (like np.diagonal)."""
    out = np.ascontiguousarray(np.diagonal(x.data, axis1=a1, axis2=a2))
    if _needs(x):
        return _record(out, "diagonal", _diag_bwd, (x,), (), None, (a1, a2, x.data.shape))
    return _make(out)


def _embed_bwd(node, g):
    a1, a2 = node.ctx
    return (_take_diag(g, a1, a2),)


@jvp_rule(_embed_bwd)
def _embed_jvp(node, xs, ts, out):
    a1, a2 = node.ctx
    return _embed_diag(ts[0], a1, a2, out.data.shape)


def _embed_diag(g, a1, a2, shape):
    out = np.zeros(shape, dtype=g.data.dtype)
    n = _builtin_min(shape[a1], shape[a2])
    r = np.arange(n)
    np.moveaxis(out, (a1, a2), (-2, -1))[..., r, r] = g.data
    if _needs(g):
        return _record(out, "diag_embed", _embed_bwd, (g,), (), None, (a1, a2))
    return _make(out)


_builtin_min = min


def _parse_einsum(equation, ndims):
    eq_ = equation.replace(" ", "")
    if eq_.count("->") > 1:
        raise ValueError(f"einsum: equation {equation!r} has more than one '->'")
    lhs, arrow, rhs = eq_.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ndims):
        raise ValueError(f"einsum: equation {equation!r} names {len(terms)} operands, "
                         f"but {len(ndims)} were given")
    ell = 0
    parsed = []
    for k, (t, nd) in enumerate(zip(terms, ndims)):
        if t.count("...") > 1 or t.replace("...", "").count(".") or \
                not t.replace("...", "").isalpha() and t.replace("...", "") != "":
            raise ValueError(f"einsum: invalid subscripts {t!r} for operand {k} in {equation!r} "
                             "(letters and at most one '...')")
        left, dots, right = t.partition("...")
        ne = nd - len(left) - len(right) if dots else 0
        if ne < 0 or (not dots and len(t) != nd):
            raise ValueError(f"einsum: operand {k} has {nd} dimensions but the subscripts {t!r} "
                             f"in {equation!r} give {len(left) + len(right)}")
        ell = max(ell, ne)
        parsed.append((left, ne, right))
    labels = []
    for left, ne, right in parsed:
        labels.append(list(left) + [("...", ell - ne + i) for i in range(ne)] + list(right))
    ell_labels = [("...", i) for i in range(ell)]
    if arrow:
        if rhs.count("...") > 1 or not (rhs.replace("...", "").isalpha() or rhs.replace("...", "") == ""):
            raise ValueError(f"einsum: invalid output subscripts {rhs!r} in {equation!r}")
        left, dots, right = rhs.partition("...")
        out = list(left) + (ell_labels if dots else []) + list(right)
        letters = [c for c in out if isinstance(c, str)]
        if len(set(letters)) != len(letters):
            raise ValueError(f"einsum: output subscript repeated in {equation!r}")
        seen = {c for lab in labels for c in lab}
        for c in letters:
            if c not in seen:
                raise ValueError(f"einsum: output subscript {c!r} does not appear in the inputs of "
                                 f"{equation!r}")
    else:
        counts = collections.Counter(c for lab in labels for c in lab if isinstance(c, str))
        out = ell_labels + sorted(c for c, n in counts.items() if n == 1)
    return labels, out


def _einsum_sizes(labels, ops, equation):
    sizes = {}
    for k, (lab, t) in enumerate(zip(labels, ops)):
        for c, s in zip(lab, t.data.shape):
            prev = sizes.get(c)
            if prev is None or prev == 1:
                sizes[c] = s
            elif s != 1 and s != prev:
                name = "..." if isinstance(c, tuple) else c
                raise ValueError(f"einsum: subscript {name!r} has size {s} for operand {k} but size "
                                 f"{prev} elsewhere in {equation!r}")
    return sizes


def _reduce_unneeded(t, lab, keep):
    """Take diagonals for repeated labels, then sum labels not in `keep`."""
    while True:
        rep = next((c for c in lab if lab.count(c) > 1), None)
        if rep is None:
            break
        i1 = lab.index(rep)
        i2 = lab.index(rep, i1 + 1)
        t = _take_diag(t, i1, i2)
        lab = [c for j, c in enumerate(lab) if j not in (i1, i2)] + [rep]
    drop = [j for j, c in enumerate(lab) if c not in keep]
    if drop:
        t = sum(t, tuple(drop))
        lab = [c for j, c in enumerate(lab) if j not in drop]
    return t, lab


def _contract(a, la, b, lb, keep, sizes):
    batch = [c for c in la if c in lb and c in keep]
    contr = [c for c in la if c in lb and c not in keep]
    fa = [c for c in la if c not in lb]
    fb = [c for c in lb if c not in la]
    a = permute(a, tuple(la.index(c) for c in batch + fa + contr))
    b = permute(b, tuple(lb.index(c) for c in batch + contr + fb))
    # a size-1 contracted dim on one side broadcasts against the other
    ash, bsh = list(a.data.shape), list(b.data.shape)
    nb_ = len(batch)
    for j, c in enumerate(contr):
        ash[nb_ + len(fa) + j] = sizes[c]
        bsh[nb_ + j] = sizes[c]
    if tuple(ash) != a.data.shape:
        a = expand(a, tuple(ash))
    if tuple(bsh) != b.data.shape:
        b = expand(b, tuple(bsh))
    ba, bb = a.data.shape[:nb_], b.data.shape[:nb_]
    sfa = a.data.shape[nb_:nb_ + len(fa)]
    sfb = b.data.shape[nb_ + len(contr):]
    na, nbf = int(np.prod(sfa)), int(np.prod(sfb))
    nc = int(np.prod([sizes[c] for c in contr]))
    a3 = reshape(a, ba + (na, nc))
    b3 = reshape(b, bb + (nc, nbf))
    if nc == 1:                        # outer product: elementwise broadcast multiply
        r = mul(a3, reshape(b3, bb + (1, nbf)))
    elif na == 1 and nbf == 1:         # a dot product per batch entry: multiply and sum
        r = sum(mul(a3, reshape(b3, bb + (1, nc))), -1, keepdim=True)
    else:
        r = matmul(a3, b3)             # the GEMM
    rb = r.data.shape[:nb_]
    r = reshape(r, rb + sfa + sfb)
    return r, batch + fa + fb


def einsum(equation, *operands):
    """Einstein summation, as ``torch.einsum`` (letters, '...' for broadcast dims, implicit
    output in alphabetical order when '->' is absent).  Repeated subscripts take
    diagonals, subscripts used once are summed, and every pairwise contraction (left to
    right) is one batched GEMM via permute/reshape, or a broadcast multiply when nothing
    is contracted.  Size-1 dims broadcast against any size."""
    if not isinstance(equation, str):
        raise TypeError(f"einsum: the equation must be a string, got {type(equation).__name__}")
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: at least one operand is required")
    ops = [_to_tensor(t, "einsum") for t in operands]
    if len(ops) > 1:
        dt = np.result_type(*[t.data.dtype for t in ops])
        if dt.kind != "f" and any(t.data.dtype.kind == "f" for t in ops):
            dt = _default[0]
        ops = [t if t.data.dtype == dt else to(t, dt) for t in ops]
    labels, out = _parse_einsum(equation, [t.data.ndim for t in ops])
    sizes = _einsum_sizes(labels, ops, equation)
    outset = set(out)
    cur, lab = None, None
    for k, (t, lb) in enumerate(zip(ops, labels)):
        keep = outset | {c for l2 in labels[k + 1:] for c in l2}    # needed later
        if cur is None:
            cur, lab = _reduce_unneeded(t, list(lb), keep)
            continue
        t, lb = _reduce_unneeded(t, list(lb), keep | set(lab))
        cur, lab = _reduce_unneeded(cur, lab, keep | set(lb))
        cur, lab = _contract(cur, lab, t, lb, keep, sizes)
    cur, lab = _reduce_unneeded(cur, lab, outset)
    perm = tuple(lab.index(c) for c in out)
    res = permute(cur, perm) if perm != tuple(range(len(perm))) else cur
    want = tuple(sizes[c] for c in out)
    if res.data.shape != want:
        res = expand(res, want)
    return res


# ---- Tensor methods -----------------------------------------------------------------------
def _bind():
    for name in ["exp2", "log2", "log10", "expm1", "tan", "asin", "acos", "atan", "arcsin",
                 "arccos", "arctan", "atan2", "arctan2", "sinh", "cosh", "floor", "ceil", "round",
                 "trunc", "fix", "fmod", "remainder", "logit", "cumsum", "cumprod", "prod",
                 "norm", "amax", "amin", "all", "any", "sort", "argsort", "topk", "dot", "outer",
                 "ger", "bmm", "addmm"]:
        setattr(Tensor, name, globals()[name])
    Tensor.__mod__ = remainder
    Tensor.__rmod__ = lambda self, other: remainder(other, self)


_bind()

__all__ = [
    "acos", "addmm", "all", "amax", "amin", "any", "arccos", "arcsin", "arctan", "arctan2",
    "argsort", "asin", "atan", "atan2", "bmm", "ceil", "cosh", "cumprod", "cumsum", "dot",
    "einsum", "elu", "exp2", "expm1", "fix", "floor", "fmod", "ger", "hardsigmoid", "hardswish",
    "hardtanh", "log10", "log2", "logit", "mish", "norm", "outer", "prod", "relu6",
    "remainder", "round", "selu", "sinh", "sort", "tan", "topk", "trunc",
]
