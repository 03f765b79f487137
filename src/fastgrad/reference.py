"""Pure-NumPy reference kernels: the correctness oracle and the ``"numpy"`` backend.

Every function here has the same signature and meaning as its C counterpart in
``fastgrad._C._kernels``; ``fastgrad.set_backend("numpy")`` routes the whole Tensor API
through this module, so tests and benchmarks compare the two on identical code paths.
Formulas are written for clarity, in the input dtype, with ``np.errstate`` silencing the
warnings that NumPy would raise for the same inf/nan results the C kernels produce.
"""
import functools
import math

import numpy as np

from fastgrad._C._kernels import ACT, B, CMP, R, U, TargetIndexError

_SQRT1_2 = 0.70710678118654752440
_SQRT_2_OVER_PI = 0.79788456080286535588

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
    want = np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1])
    if (not isinstance(out, np.ndarray) or out.shape != want or out.dtype != a.dtype
            or not out.flags.c_contiguous or not out.flags.writeable):
        raise ValueError(f"matmul: out must be a writable C-contiguous {a.dtype} array of shape "
                         f"{want}")
    p = np.matmul(a, b)
    if beta == 0:                   # out's old values are not read (a nan there is dropped)
        out[...] = p
    else:
        out[...] = p + beta * out
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


# ---- convolution, pooling, normalization (issue 6) ------------------------------------------
# Direct formulas (a sum over kernel offsets, explicit windows), independent of the C
# kernels' im2col + GEMM.  Same signatures as fastgrad._C._kernels (see _conv.pxi).
from fastgrad._C._kernels import POOL  # noqa: E402


def _conv_pad(x, ph, pw, hp, wp):
    out = np.zeros(x.shape[:2] + (hp, wp), dtype=np.float64)
    h, w = x.shape[2:]
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def _conv_extent(n, p, o, s, k, d):
    return max(n + p, (o - 1) * s + (k - 1) * d + 1)


def conv2d(x, w, bias, stride, padding, dilation, groups, oh, ow):
    n, ci, h, wd = x.shape
    co, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = _conv_pad(x, ph, pw, _conv_extent(h, ph, oh, sh, kh, dh), _conv_extent(wd, pw, ow, sw, kw, dw))
    y = np.zeros((n, co, oh, ow))
    og = co // groups
    w64 = w.astype(np.float64)
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * cg:(g + 1) * cg, i * dh:i * dh + (oh - 1) * sh + 1:sh,
                           j * dw:j * dw + (ow - 1) * sw + 1:sw]
                y[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w64[g * og:(g + 1) * og, :, i, j])
    if bias is not None:
        y += bias.astype(np.float64)[None, :, None, None]
    return y.astype(x.dtype)


def conv2d_bwd(g, x, w, xshape, wshape, stride, padding, dilation, groups, want_gx, want_gw, want_gb):
    n, ci, h, wd = xshape
    co, cg, kh, kw = wshape
    oh, ow = g.shape[2:]
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    hp, wp = _conv_extent(h, ph, oh, sh, kh, dh), _conv_extent(wd, pw, ow, sw, kw, dw)
    og = co // groups
    g64 = g.astype(np.float64)
    gx = gw = gb = None
    if want_gx:
        gxp = np.zeros((n, ci, hp, wp))
        w64 = w.astype(np.float64)
        for gi in range(groups):
            for i in range(kh):
                for j in range(kw):
                    gxp[:, gi * cg:(gi + 1) * cg, i * dh:i * dh + (oh - 1) * sh + 1:sh,
                        j * dw:j * dw + (ow - 1) * sw + 1:sw] += np.einsum(
                            "nohw,oc->nchw", g64[:, gi * og:(gi + 1) * og], w64[gi * og:(gi + 1) * og, :, i, j])
        gx = gxp[:, :, ph:ph + h, pw:pw + wd].astype(g.dtype)
    if want_gw:
        xp = _conv_pad(x, ph, pw, hp, wp)
        gw = np.zeros(wshape)
        for gi in range(groups):
            for i in range(kh):
                for j in range(kw):
                    patch = xp[:, gi * cg:(gi + 1) * cg, i * dh:i * dh + (oh - 1) * sh + 1:sh,
                               j * dw:j * dw + (ow - 1) * sw + 1:sw]
                    gw[gi * og:(gi + 1) * og, :, i, j] = np.einsum("nohw,nchw->oc", g64[:, gi * og:(gi + 1) * og], patch)
        gw = gw.astype(g.dtype)
    if want_gb:
        gb = g64.sum((0, 2, 3)).astype(g.dtype)
    return gx, gw, gb


def _pool_windows(op, n, o, k, s, p, d):
    """Per output index: (input indices inside the input, divisor for count_include_pad)."""
    out = []
    for i in range(o):
        if op == POOL["adaptive_avg"]:
            a, b = (i * n) // o, -((-(i + 1) * n) // o)
            out.append((list(range(a, b)), b - a))
        elif op == POOL["max"]:
            out.append(([i * s - p + t * d for t in range(k) if 0 <= i * s - p + t * d < n], 0))
        else:
            a = i * s - p
            e = min(a + k, n + p)
            out.append((list(range(max(a, 0), min(e, n))), e - a))
    return out


def pool2d(op, x, oh, ow, kernel=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1),
           count_include_pad=True):
    h, w = x.shape[-2:]
    rows = _pool_windows(op, h, oh, kernel[0], stride[0], padding[0], dilation[0])
    cols = _pool_windows(op, w, ow, kernel[1], stride[1], padding[1], dilation[1])
    lead = x.shape[:-2]
    x2 = x.reshape((-1, h, w)).astype(np.float64)
    y = np.zeros((x2.shape[0], oh, ow))
    idx = np.zeros((x2.shape[0], oh, ow), dtype=np.int64) if op == POOL["max"] else None
    for a, (ri, rf) in enumerate(rows):
        for b, (ci, cf) in enumerate(cols):
            win = x2[:, ri][:, :, ci].reshape(x2.shape[0], -1)
            if op == POOL["max"]:
                k = np.argmax(win, axis=1)
                y[:, a, b] = win[np.arange(win.shape[0]), k]
                idx[:, a, b] = np.array(ri)[k // len(ci)] * w + np.array(ci)[k % len(ci)]
            else:
                div = rf * cf if (op == POOL["avg"] and count_include_pad) else len(ri) * len(ci)
                y[:, a, b] = win.sum(1) / div
    # integer input is pooled as float (the op converts it first), not truncated back
    y = y.reshape(lead + (oh, ow)).astype(x.dtype if x.dtype.kind == "f" else np.float64)
    return y, (idx.reshape(lead + (oh, ow)) if idx is not None else None)


def pool2d_bwd(op, g, idx, xshape, kernel=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1),
               count_include_pad=True):
    h, w = xshape[-2:]
    oh, ow = g.shape[-2:]
    g2 = g.reshape((-1, oh, ow)).astype(np.float64)
    gx = np.zeros((g2.shape[0], h * w))
    if op == POOL["max"]:
        i2 = np.asarray(idx).reshape(g2.shape[0], -1)
        if i2.size and (i2.min() < 0 or i2.max() >= h * w):
            raise IndexError(f"max_pool2d_backward: an index lies outside the {h}x{w} input plane")
        for pl in range(g2.shape[0]):
            np.add.at(gx[pl], i2[pl], g2[pl].reshape(-1))
        return gx.reshape(xshape).astype(g.dtype)
    gx = gx.reshape(-1, h, w)
    rows = _pool_windows(op, h, oh, kernel[0], stride[0], padding[0], dilation[0])
    cols = _pool_windows(op, w, ow, kernel[1], stride[1], padding[1], dilation[1])
    for a, (ri, rf) in enumerate(rows):
        for b, (ci, cf) in enumerate(cols):
            div = rf * cf if (op == POOL["avg"] and count_include_pad) else len(ri) * len(ci)
            if div:
                gx[:, ri[0]:ri[-1] + 1, ci[0]:ci[-1] + 1] += (g2[:, a, b] / div)[:, None, None]
    return gx.reshape(xshape).astype(g.dtype)


def _bn_axes(x):
    return (0,) + tuple(range(2, x.ndim)), (1, x.shape[1]) + (1,) * (x.ndim - 2)


def bn_stats(x):
    ax, _ = _bn_axes(x)
    x64 = x.astype(np.float64)
    return x64.mean(ax).astype(x.dtype), x64.var(ax).astype(x.dtype)


def bn_apply(x, mean, invstd, w, b):
    _, bs = _bn_axes(x)
    y = (x.astype(np.float64) - mean.reshape(bs)) * invstd.reshape(bs)
    if w is not None:
        y = y * w.reshape(bs)
    if b is not None:
        y = y + b.reshape(bs)
    return y.astype(x.dtype)


def bn_bwd(x, g, mean, invstd, w, training, want_gx, want_gw, want_gb):
    ax, bs = _bn_axes(x)
    g64 = g.astype(np.float64)
    inv = invstd.astype(np.float64).reshape(bs)
    xhat = (x.astype(np.float64) - mean.reshape(bs)) * inv
    gw = (g64 * xhat).sum(ax).astype(x.dtype) if want_gw else None
    gb = g64.sum(ax).astype(x.dtype) if want_gb else None
    gx = None
    if want_gx:
        k = inv * (w.reshape(bs) if w is not None else 1.0)
        if training:
            gx = k * (g64 - g64.mean(ax, keepdims=True) - xhat * (g64 * xhat).mean(ax, keepdims=True))
        else:
            gx = k * g64
        gx = gx.astype(x.dtype)
    return gx, gw, gb


def _rn_affine_index(rows, d, groups, s):
    r = np.arange(rows)[:, None]
    j = np.arange(d)[None, :]
    return ((r % groups) * d + j) // s


def rownorm(x, d, groups, s, w, b, eps):
    x2 = x.reshape(-1, d).astype(np.float64)
    mean = x2.mean(1)
    rstd = 1.0 / np.sqrt(x2.var(1) + eps)
    y = (x2 - mean[:, None]) * rstd[:, None]
    a = _rn_affine_index(x2.shape[0], d, groups, s)
    if w is not None:
        y = y * np.reshape(w, -1)[a]
    if b is not None:
        y = y + np.reshape(b, -1)[a]
    return y.reshape(x.shape).astype(x.dtype), mean.astype(x.dtype), rstd.astype(x.dtype)


def rownorm_bwd(x, g, mean, rstd, w, d, groups, s, want_gx, want_gw, want_gb):
    x2 = x.reshape(-1, d).astype(np.float64)
    g2 = g.reshape(-1, d).astype(np.float64)
    rs = rstd.astype(np.float64)[:, None]
    xhat = (x2 - mean.astype(np.float64)[:, None]) * rs
    a = _rn_affine_index(x2.shape[0], d, groups, s)
    na = groups * d // s
    gh = g2 * (np.reshape(w, -1)[a] if w is not None else 1.0)
    gx = None
    if want_gx:
        gx = rs * (gh - gh.mean(1, keepdims=True) - xhat * (gh * xhat).mean(1, keepdims=True))
        gx = gx.reshape(x.shape).astype(x.dtype)
    gw = np.bincount(a.ravel(), (g2 * xhat).ravel(), na).astype(x.dtype) if want_gw else None
    gb = np.bincount(a.ravel(), g2.ravel(), na).astype(x.dtype) if want_gb else None
    return gx, gw, gb
