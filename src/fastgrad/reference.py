"""Pure-NumPy reference kernels: the correctness oracle and the ``"numpy"`` backend.

Every function here has the same signature and meaning as its C counterpart in
``fastgrad._C._kernels``; ``fastgrad.set_backend("numpy")`` routes the whole Tensor API
through this module, so tests and benchmarks compare the two on identical code paths.
Formulas are written for clarity, in the input dtype, with ``np.errstate`` silencing the
warnings that NumPy would raise for the same inf/nan results the C kernels produce.
"""
import math

import numpy as np

from fastgrad._C._kernels import ACT, B, CMP, R, U, TargetIndexError

_SQRT1_2 = 0.70710678118654752440
_SQRT_2_OVER_PI = 0.79788456080286535588

try:  # erf/erfc as NumPy ufuncs when SciPy is around, else a vectorised math.erf
    from scipy.special import erf as _erf, erfc as _erfc
except ImportError:  # pragma: no cover - depends on the environment
    _erf = np.vectorize(math.erf, otypes=[np.float64])
    _erfc = np.vectorize(math.erfc, otypes=[np.float64])


def _cast(fn):
    def wrapped(x, *a):
        return np.asarray(fn(x, *a), dtype=x.dtype)
    return wrapped


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
    return np.where(x > 0, 1, np.where(x < 0, -1, x)).astype(x.dtype)


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
    U["pow_scalar"]: lambda x, a, b: np.power(x, x.dtype.type(a)),
    U["sign"]: lambda x, a, b: _sign(x),
    U["square"]: lambda x, a, b: x * x,
    U["reciprocal"]: lambda x, a, b: 1 / x,
    U["erf"]: lambda x, a, b: _erf(x.astype(np.float64)).astype(x.dtype),
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
    U["softplus"]: lambda x, y, a, b: np.where(x * a > b, 1, sigmoid((x * x.dtype.type(a)).astype(x.dtype))).astype(x.dtype),
    U["clamp"]: lambda x, y, a, b: ((x >= a) & (x <= b)).astype(x.dtype),
    U["pow_scalar"]: lambda x, y, a, b: _pow_grad(x, a),
    U["sign"]: lambda x, y, a, b: np.zeros_like(x),
    U["square"]: lambda x, y, a, b: 2 * x,
    U["reciprocal"]: lambda x, y, a, b: -1 / (x * x),
    U["erf"]: lambda x, y, a, b: (2 / math.sqrt(math.pi)) * np.exp(-x * x),
}
# which saved array each backward reads (mirrors csrc/fastgrad.h)
USES_Y = {U["exp"], U["sqrt"], U["rsqrt"], U["tanh"], U["sigmoid"]}


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


BINARY = {B["add"]: np.add, B["sub"]: np.subtract, B["mul"]: np.multiply,
          B["div"]: np.true_divide, B["pow"]: np.power, B["maximum"]: _maximum,
          B["minimum"]: _minimum}
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


def copy(x):
    return np.ascontiguousarray(x).copy()


def contiguous(x):
    return np.ascontiguousarray(x)


def _lse(x, axis):
    m = np.max(x, axis=axis, keepdims=True)
    shift = np.where(np.isfinite(m), m, 0)
    with np.errstate(all="ignore"):
        s = np.sum(np.exp((x - shift).astype(np.float64)), axis=axis, keepdims=True)
        return np.squeeze(shift + np.log(s), axis=axis).astype(x.dtype)


def reduce(op, x, dims):
    with np.errstate(all="ignore"):
        if op == R["sum"]:
            return np.asarray(np.sum(x, axis=dims, dtype=np.float64), dtype=x.dtype)
        if op == R["mean"]:
            return np.asarray(np.mean(x, axis=dims, dtype=np.float64), dtype=x.dtype)
        if op == R["max"]:
            return np.asarray(np.max(x, axis=dims))
        if op == R["min"]:
            return np.asarray(np.min(x, axis=dims))
        if op == R["logsumexp"]:
            return np.asarray(_lse(x, dims), dtype=x.dtype)
    raise ValueError(f"reduce: unknown op {op}")


def argreduce(op, x, dim):
    if x.shape[dim] == 0:
        raise ValueError(f"{'max' if op == R['max'] else 'min'}: cannot reduce over a zero-size dimension {dim}")
    idx = np.argmax(x, axis=dim) if op == R["max"] else np.argmin(x, axis=dim)
    vals = np.take_along_axis(x, np.expand_dims(idx, dim), dim).squeeze(dim)
    return np.asarray(vals), np.asarray(idx, dtype=np.int64)


def softmax(x, dim, log):
    with np.errstate(all="ignore"):
        m = np.max(x, axis=dim, keepdims=True) if x.size else x
        z = x - m
        if log:
            return (z - np.log(np.sum(np.exp(z.astype(np.float64)), axis=dim, keepdims=True))).astype(x.dtype)
        e = np.exp(z)
        return (e / np.sum(e.astype(np.float64), axis=dim, keepdims=True)).astype(x.dtype)


def softmax_bwd(g, y, dim, log):
    if log:
        return (g - np.exp(y) * np.sum(g, axis=dim, keepdims=True)).astype(g.dtype)
    return (y * (g - np.sum(g * y, axis=dim, keepdims=True))).astype(g.dtype)


def _check_targets(target, c, ignore_index):
    t = np.asarray(target, dtype=np.int64)
    bad = (t != ignore_index) & ((t < 0) | (t >= c))
    if bad.any():
        r = int(np.argmax(bad))
        raise TargetIndexError(f"cross_entropy: target {t[r]} at position {r} is out of bounds "
                               f"for {c} classes (valid: 0..{c - 1} or ignore_index={ignore_index})")
    return t


def xent(x, target, ignore_index, label_smoothing):
    rows, c = x.shape
    t = _check_targets(target, c, ignore_index)
    lsm = softmax(x, 1, True)
    keep = t != ignore_index
    tt = np.where(keep, t, 0)
    nll = -lsm[np.arange(rows), tt] if rows else np.zeros(0, x.dtype)
    loss = (1 - label_smoothing) * nll - label_smoothing / c * lsm.sum(1)
    return np.where(keep, loss, 0).astype(x.dtype), lsm


def xent_bwd(g, lsm, target, ignore_index, label_smoothing):
    rows, c = lsm.shape
    t = _check_targets(target, c, ignore_index)
    keep = t != ignore_index
    q = np.full((rows, c), label_smoothing / c, dtype=lsm.dtype)
    q[np.arange(rows)[keep], t[keep]] += 1 - label_smoothing
    gx = np.asarray(g, dtype=lsm.dtype)[:, None] * (np.exp(lsm) - q)
    return np.where(keep[:, None], gx, 0).astype(lsm.dtype)


def matmul(a, b, out=None, beta=0.0):
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: cannot multiply shapes {a.shape} and {b.shape}: "
                         f"{a.shape[-1]} != {b.shape[-2]}")
    if out is None:
        return np.matmul(a, b)
    out[...] = np.matmul(a, b) + beta * out
    return out


def _act(y, act):
    a = ACT[act]
    if a == ACT["relu"]:
        return unary(U["relu"], y)
    if a == ACT["gelu"]:
        return unary(U["gelu"], y)
    if a == ACT["tanh"]:
        return np.tanh(y)
    if a == ACT["sigmoid"]:
        return sigmoid(y)
    return y


def linear(x, w, bias, act=None):
    y = x @ w.T
    if bias is not None:
        y = y + bias
    return _act(y, act)


# configuration calls the Tensor layer makes on whichever backend is active
def set_num_threads(n):
    pass


def get_num_threads():
    return 1


# ---- indexing and movement (issue 3A) ----------------------------------------------------
# Same names, signatures and errors as the index wrappers in fastgrad/_C/_index.pxi.
def _check_index(idx, n, wrap, op, dim):
    idx = np.asarray(idx, dtype=np.int64)
    bad = (idx < (-n if wrap else 0)) | (idx >= n)
    if bad.any():
        raise IndexError(f"{op}: index {idx[bad].flat[0]} is out of bounds for dimension {dim} "
                         f"with size {n}")
    return np.where(idx < 0, idx + n, idx)


def index_select(x, dim, idx, wrap=False, op="index_select"):
    n = x.shape[dim] if x.ndim else 1
    idx = _check_index(np.reshape(idx, -1), n, wrap, op, dim)
    return np.take(x, idx, axis=dim) if x.ndim else x.reshape(1)[idx]


def index_add(out, dim, idx, src, wrap=False, op="index_add"):
    n = out.shape[dim] if out.ndim else 1
    idx = _check_index(np.reshape(idx, -1), n, wrap, op, dim)
    view = out if out.ndim else out.reshape(1)
    src = np.asarray(src, dtype=out.dtype).reshape(view.shape[:dim] + (len(idx),) + view.shape[dim + 1:])
    np.add.at(view, (slice(None),) * dim + (idx,), src)
    return out


def gather(x, dim, idx, op="gather"):
    idx = np.asarray(idx, dtype=np.int64)
    x = x[tuple(slice(None) if d == dim else slice(0, idx.shape[d]) for d in range(x.ndim))]
    n = x.shape[dim] if x.ndim else 1
    _check_index(idx, n, False, op, dim)
    if x.ndim == 0:
        return x.reshape(1)[idx.reshape(-1)].reshape(idx.shape)
    return np.take_along_axis(x, idx, dim)


def scatter_add(out, dim, idx, src, accumulate=True, op="scatter_add"):
    idx = np.asarray(idx, dtype=np.int64)
    n = out.shape[dim] if out.ndim else 1
    _check_index(idx, n, False, op, dim)
    view = out if out.ndim else out.reshape(1)
    ix = list(np.indices(idx.shape, sparse=True)) if idx.ndim else [np.zeros(1, np.int64)]
    ix[dim] = idx if idx.ndim else idx.reshape(1)
    src = np.asarray(src, dtype=out.dtype).reshape(idx.shape if idx.ndim else (1,))
    if accumulate:
        np.add.at(view, tuple(ix), src)
    else:
        view[tuple(ix)] = src
    return out


def masked_select(x, mask, op="masked_select"):
    return x[mask]


def masked_expand(src, mask, op="masked_expand"):
    out = np.zeros(mask.shape, dtype=src.dtype)
    out[mask] = np.reshape(src, -1)
    return out


# ---- math, reductions, products (issue 3B) ---------------------------------------------
from fastgrad._C._kernels import SCAN  # noqa: E402

_LN2, _LN10 = math.log(2.0), math.log(10.0)


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


UNARY.update({
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
})
UNARY_DERIV.update({
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
})


def _remainder(a, b):
    r = np.fmod(a, b)
    return np.where((r != 0) & ((r < 0) != (b < 0)), r + b, r)


BINARY.update({B["atan2"]: np.arctan2, B["fmod"]: np.fmod, B["remainder"]: _remainder})


def scan(op, x, dim, reverse=False):
    """cumsum/cumprod along dim (accumulated in float64, like the C kernel)."""
    fn = np.cumsum if op == SCAN["cumsum"] else np.cumprod
    xd = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if reverse:
            return np.flip(fn(np.flip(xd, dim), axis=dim), dim).astype(x.dtype)
        return fn(xd, axis=dim).astype(x.dtype)


def prod(x, dim):
    with np.errstate(all="ignore"):
        return np.asarray(np.prod(x.astype(np.float64), axis=dim), dtype=x.dtype)


def _stable_argsort(x, dim, descending):
    """Stable order; NaN largest; descending keeps ties in input order."""
    if not descending:
        return np.argsort(x, axis=dim, kind="stable")
    n = x.shape[dim]
    r = np.argsort(np.flip(x, dim), axis=dim, kind="stable")
    return (n - 1 - np.flip(r, dim)).astype(np.int64)


def sort(x, dim, descending=False):
    idx = _stable_argsort(x, dim, descending).astype(np.int64)
    return np.take_along_axis(x, idx, dim), idx


def topk(x, k, dim, largest=True):
    n = x.shape[dim]
    if k < 0 or k > n:
        raise IndexError(f"topk: k={k} is out of range for dimension {dim} of size {n} (shape {x.shape})")
    v, i = sort(x, dim, largest)
    sl = (slice(None),) * dim + (slice(0, k),)
    return np.ascontiguousarray(v[sl]), np.ascontiguousarray(i[sl])
