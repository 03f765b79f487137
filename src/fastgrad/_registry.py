"""The op registry: one entry per public op, with its NumPy reference, the inputs the
generic tests feed it and the bad inputs that must raise.

The test suite iterates over ``REGISTRY``: forward against ``ref`` (every dtype, thread
count and SIMD path), float64 central-difference gradcheck, second-order gradgradcheck,
fused-vs-composite backward agreement, and ``errors``.  An op added to fastgrad without
an entry here is an op the tests do not see, so add one.

Sample arguments: NumPy float arrays become float tensors (requires_grad when the entry
is differentiable), integer/bool arrays become int64/bool tensors, anything else is
passed as is.  ``ref`` gets float64 copies of the float arrays (the oracle is computed
in double precision, then compared at the dtype's tolerance).
"""
import math

import numpy as np

import fastgrad as O
from fastgrad import reference as R
from fastgrad.nn import functional as F


class Sample:
    __slots__ = ("args", "kwargs", "desc", "grad")

    def __init__(self, args, kwargs=None, desc="", grad=True):
        self.args = tuple(args)
        self.kwargs = kwargs or {}
        self.desc = desc
        self.grad = grad         # also used by gradcheck (keep these small)

    def __repr__(self):
        shapes = [a.shape if isinstance(a, np.ndarray) else a for a in self.args]
        return f"Sample({shapes}, {self.kwargs}, {self.desc!r})"


class ErrorInput:
    __slots__ = ("args", "kwargs", "exc", "match")

    def __init__(self, args, kwargs, exc, match):
        self.args, self.kwargs, self.exc, self.match = tuple(args), kwargs or {}, exc, match


class OpInfo:
    def __init__(self, name, op, ref, samples, errors=None, grad=True, gradgrad=True,
                 rtol32=2e-5, atol32=2e-6, unary_kernel=None, domain=None, extreme=True,
                 returns_index=False, keeps_dtype=True):
        self.name = name
        self.op = op                  # callable on Tensors (and plain args)
        self.ref = ref                # callable on float64 NumPy arrays
        self.samples = samples        # samples(rng) -> [Sample]
        self.errors = errors or (lambda: [])
        self.grad = grad
        self.gradgrad = gradgrad
        self.rtol32, self.atol32 = rtol32, atol32
        self.unary_kernel = unary_kernel   # name in the C kernel table, for extreme-value tests
        self.domain = domain
        self.extreme = extreme
        self.returns_index = returns_index
        self.keeps_dtype = keeps_dtype     # output dtype == input dtype

    def __repr__(self):
        return f"OpInfo({self.name})"


REGISTRY = {}


def register(info):
    if info.name in REGISTRY:
        raise ValueError(f"op {info.name!r} registered twice")
    REGISTRY[info.name] = info
    return info


# ---- sample helpers ---------------------------------------------------------------------
def _u(rng, shape, lo, hi, away=0.0):
    x = rng.uniform(lo, hi, size=shape)
    if away:
        x = np.where(x >= 0, x + away, x - away)
    return x


def unary_samples(lo=-3.0, hi=3.0, away=0.0, **kwargs):
    def samples(rng):
        out = [
            Sample([_u(rng, (), lo, hi, away)], kwargs, "0-d"),
            Sample([_u(rng, (7,), lo, hi, away)], kwargs, "1-d"),
            Sample([_u(rng, (3, 4), lo, hi, away)], kwargs, "2-d"),
            Sample([_u(rng, (4, 3), lo, hi, away).T], kwargs, "transposed view"),
            Sample([_u(rng, (2, 3, 8), lo, hi, away)[:, ::2, 1::3]], kwargs, "strided view"),
            Sample([np.zeros((0, 3))], kwargs, "zero-size"),
            Sample([_u(rng, (300, 250), lo, hi, away)], kwargs, "large (threaded)", grad=False),
        ]
        return out
    return samples


BIN_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (3,)), ((5,), ()),
              ((0, 3), (3,)), ((1, 4), (3, 1))]


def binary_samples(lo=-3.0, hi=3.0, blo=None, bhi=None, away=0.0, scalar=1.5):
    blo = lo if blo is None else blo
    bhi = hi if bhi is None else bhi

    def samples(rng):
        out = [Sample([_u(rng, sa, lo, hi, away), _u(rng, sb, blo, bhi, away)], desc=f"{sa} {sb}")
               for sa, sb in BIN_SHAPES]
        out.append(Sample([_u(rng, (4, 3), lo, hi, away).T, _u(rng, (3, 4), blo, bhi, away)[:, ::-1]],
                          desc="views"))
        out.append(Sample([_u(rng, (3, 4), lo, hi, away), scalar], desc="tensor-scalar"))
        out.append(Sample([scalar, _u(rng, (3, 4), blo, bhi, away)], desc="scalar-tensor"))
        out.append(Sample([_u(rng, (200, 300), lo, hi, away), _u(rng, (300,), blo, bhi, away)],
                          desc="large broadcast", grad=False))
        return out
    return samples


def _no_errors():
    return []


def _unary_errors(op, kwargs):
    def errors():
        return [ErrorInput(["not a tensor"], kwargs, TypeError, op)]
    return errors


def _binary_errors(op):
    def errors():
        return [ErrorInput([np.zeros((2, 3)), np.zeros((4,))], {}, ValueError,
                           rf"{op}: shapes \(2, 3\) and \(4,\) cannot be broadcast")]
    return errors


# ---- elementwise unary ----------------------------------------------------------------------
def _reg_unary(name, op, ref, lo=-3.0, hi=3.0, away=0.0, kernel=None, gradgrad=True,
               public=None, **kw):
    register(OpInfo(name, op, ref, unary_samples(lo, hi, away, **kw), _unary_errors(public or name, kw),
                    gradgrad=gradgrad, unary_kernel=kernel or name, domain=(lo, hi)))


_erf = R._erf
_reg_unary("neg", O.neg, np.negative)
_reg_unary("abs", O.abs, np.abs, away=0.05)
_reg_unary("exp", O.exp, np.exp, -10, 10)
_reg_unary("log", O.log, np.log, 0.05, 5)
_reg_unary("log1p", O.log1p, np.log1p, -0.9, 5)
_reg_unary("sqrt", O.sqrt, np.sqrt, 0.05, 5)
_reg_unary("rsqrt", O.rsqrt, lambda x: 1 / np.sqrt(x), 0.05, 5)
_reg_unary("sin", O.sin, np.sin, -6, 6)
_reg_unary("cos", O.cos, np.cos, -6, 6)
_reg_unary("tanh", O.tanh, np.tanh, -5, 5)
_reg_unary("sigmoid", O.sigmoid, lambda x: 1 / (1 + np.exp(-x)), -8, 8)
_reg_unary("relu", O.relu, lambda x: np.maximum(x, 0), away=0.05)
_reg_unary("leaky_relu", lambda x, negative_slope=0.01: O.leaky_relu(x, negative_slope),
           lambda x, negative_slope=0.01: np.where(x > 0, x, negative_slope * x), away=0.05,
           negative_slope=0.2)
_reg_unary("gelu", O.gelu, lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2))), -5, 5)
_reg_unary("gelu_tanh", lambda x: O.gelu(x, approximate="tanh"),
           lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
           -5, 5)
_reg_unary("silu", O.silu, lambda x: x / (1 + np.exp(-x)), -6, 6)
_reg_unary("softplus", O.softplus,
           lambda x, beta=1.0, threshold=20.0: np.where(beta * x > threshold, x,
                                                        np.log1p(np.exp(beta * x)) / beta),
           -6, 6, beta=2.0, threshold=5.0)
_reg_unary("clamp", O.clamp, lambda x, min, max: np.clip(x, min, max), away=0.0, min=-1.0, max=0.5)
_reg_unary("pow_scalar", O.pow, lambda x, exponent: np.power(x, exponent), 0.2, 3,
           public="pow", exponent=2.5)
_reg_unary("sign", O.sign, np.sign, away=0.05, gradgrad=True)
_reg_unary("square", O.square, np.square)
_reg_unary("reciprocal", O.reciprocal, lambda x: 1 / x, 0.2, 3)
_reg_unary("erf", O.erf, _erf, -3, 3)


# ---- elementwise binary ---------------------------------------------------------------------
register(OpInfo("add", O.add, np.add, binary_samples(), _binary_errors("add")))
register(OpInfo("sub", O.sub, np.subtract, binary_samples(), _binary_errors("sub")))
register(OpInfo("mul", O.mul, np.multiply, binary_samples(), _binary_errors("mul")))
register(OpInfo("div", O.div, np.true_divide, binary_samples(blo=0.3, bhi=3.0),
                _binary_errors("div")))
register(OpInfo("pow", O.pow, np.power, binary_samples(lo=0.3, hi=3.0), _binary_errors("pow"),
                rtol32=5e-5))
register(OpInfo("maximum", O.maximum, np.maximum, binary_samples(), _binary_errors("maximum")))
register(OpInfo("minimum", O.minimum, np.minimum, binary_samples(), _binary_errors("minimum")))


def _where_samples(rng):
    return [Sample([rng.random((3, 4)) > 0.5, _u(rng, (3, 4), -2, 2), _u(rng, (3, 4), -2, 2)]),
            Sample([rng.random((3, 1)) > 0.5, _u(rng, (4,), -2, 2), _u(rng, (2, 1, 1), -2, 2)],
                   desc="broadcast"),
            Sample([rng.random((5,)) > 0.5, _u(rng, (5,), -2, 2), 0.0], desc="scalar other"),
            Sample([rng.random((300, 200)) > 0.5, _u(rng, (300, 200), -2, 2),
                    _u(rng, (200,), -2, 2)], desc="large", grad=False)]


register(OpInfo("where", O.where, lambda c, a, b: np.where(c, a, b), _where_samples,
                lambda: [ErrorInput([np.zeros(3), np.zeros(3), np.zeros(3)], {}, TypeError,
                                    "where: condition must be a bool tensor")]))


# ---- reductions ----------------------------------------------------------------------------
def _red_samples(extra_kw=None):
    kw = extra_kw or {}

    def samples(rng):
        x = _u(rng, (3, 4, 5), -2, 2)
        return [Sample([x], dict(kw), "all"),
                Sample([x], dict(kw, dim=1), "dim=1"),
                Sample([x], dict(kw, dim=(0, 2)), "dims (0, 2)"),
                Sample([x], dict(kw, dim=-1, keepdim=True), "dim=-1 keepdim"),
                Sample([x.transpose(2, 0, 1)], dict(kw, dim=(1, 2)), "view dims (1, 2)"),
                Sample([_u(rng, (), -2, 2)], dict(kw), "0-d"),
                Sample([_u(rng, (400, 300), -2, 2)], dict(kw, dim=0), "large dim 0", grad=False),
                Sample([_u(rng, (400, 300), -2, 2)], dict(kw, dim=1), "large dim 1", grad=False),
                Sample([_u(rng, (200000,), -2, 2)], dict(kw), "large all", grad=False)]
    return samples


def _dim_errors(op):
    def errors():
        return [ErrorInput([np.zeros((2, 3))], {"dim": 2}, IndexError,
                           rf"{op}: dimension 2 is out of range")]
    return errors


def _np_dims(dim):
    return tuple(dim) if isinstance(dim, (list, tuple)) else dim


register(OpInfo("sum", O.sum, lambda x, dim=None, keepdim=False: np.sum(x, axis=_np_dims(dim), keepdims=keepdim),
                _red_samples(), _dim_errors("sum")))
register(OpInfo("mean", O.mean, lambda x, dim=None, keepdim=False: np.mean(x, axis=_np_dims(dim), keepdims=keepdim),
                _red_samples(), _dim_errors("mean")))
def _var_ref(x, dim=None, keepdim=False, correction=1):
    """np.var with the divisor n - correction computed exactly (np.var's ddof overflows
    at correction = -2**63)."""
    ax = _np_dims(dim)
    axes = range(x.ndim) if ax is None else (ax if isinstance(ax, tuple) else (ax,))
    n = math.prod(x.shape[a] for a in axes)
    ss = np.sum((x - x.mean(axis=ax, keepdims=True)) ** 2, axis=ax, keepdims=keepdim)
    with np.errstate(divide="ignore", invalid="ignore"):
        return ss / float(max(n - correction, 0))


register(OpInfo("var", O.var, _var_ref,
                lambda rng: [s for s in _red_samples()(rng) if s.desc != "0-d"] +
                [Sample([_u(rng, (6, 3), -2, 2)], {"dim": 0, "correction": 0}, "correction=0")],
                _dim_errors("var"), rtol32=1e-4, atol32=1e-5))
register(OpInfo("std", O.std,
                lambda x, dim=None, keepdim=False, correction=1: np.sqrt(_var_ref(x, dim, keepdim, correction)),
                lambda rng: [s for s in _red_samples()(rng) if s.desc != "0-d"], _dim_errors("std"),
                rtol32=1e-4, atol32=1e-5))


def _np_lse(x, dim=None, keepdim=False):
    m = np.max(x, axis=_np_dims(dim), keepdims=True)
    r = m + np.log(np.sum(np.exp(x - m), axis=_np_dims(dim), keepdims=True))
    return r if keepdim else np.squeeze(r, axis=_np_dims(dim))


register(OpInfo("logsumexp", O.logsumexp, _np_lse,
                lambda rng: [s for s in _red_samples()(rng) if "dim" in s.kwargs],
                _dim_errors("logsumexp")))


def _maxmin_samples(rng):
    x = rng.permutation(60).reshape(3, 4, 5) / 7.0 - 4     # distinct values: no ties
    return [Sample([x], {}, "all"), Sample([x], {"dim": 1}, "dim=1"),
            Sample([x], {"dim": -1, "keepdim": True}, "keepdim"),
            Sample([x.transpose(1, 2, 0)], {"dim": 0}, "view"),
            Sample([rng.permutation(120000).reshape(400, 300) / 1e3], {"dim": 0}, "large", grad=False)]


def _maxmin_op(fn):
    def op(x, dim=None, keepdim=False):
        r = fn(x, dim, keepdim)
        return r if dim is None else r.values
    return op


def _maxmin_errors(name):
    def errors():
        return [ErrorInput([np.zeros((0, 3))], {}, ValueError, rf"{name}: cannot reduce an empty tensor"),
                ErrorInput([np.zeros((0, 3))], {"dim": 0}, ValueError, rf"{name}: cannot reduce over a zero-size")]
    return errors


register(OpInfo("max", _maxmin_op(O.max), lambda x, dim=None, keepdim=False: np.max(x, axis=dim, keepdims=keepdim),
                _maxmin_samples, _maxmin_errors("max")))
register(OpInfo("min", _maxmin_op(O.min), lambda x, dim=None, keepdim=False: np.min(x, axis=dim, keepdims=keepdim),
                _maxmin_samples, _maxmin_errors("min")))
register(OpInfo("max_indices", lambda x, dim, keepdim=False: O.max(x, dim, keepdim).indices,
                lambda x, dim, keepdim=False: np.argmax(x, axis=dim, keepdims=keepdim),
                lambda rng: [s for s in _maxmin_samples(rng) if "dim" in s.kwargs], grad=False,
                returns_index=True))
register(OpInfo("argmax", O.argmax, lambda x, dim=None, keepdim=False: np.argmax(x, axis=dim, keepdims=keepdim),
                _maxmin_samples, grad=False, returns_index=True))
register(OpInfo("argmin", O.argmin, lambda x, dim=None, keepdim=False: np.argmin(x, axis=dim, keepdims=keepdim),
                _maxmin_samples, grad=False, returns_index=True))


# ---- softmax family and losses ------------------------------------------------------------
def _np_softmax(x, dim):
    e = np.exp(x - np.max(x, axis=dim, keepdims=True))
    return e / np.sum(e, axis=dim, keepdims=True)


def _softmax_samples(rng):
    x = _u(rng, (3, 4, 5), -3, 3)
    return [Sample([x], {"dim": 1}), Sample([x], {"dim": -1}), Sample([x], {"dim": 0}),
            Sample([x.transpose(2, 1, 0)], {"dim": 1}, "view"),
            Sample([_u(rng, (7,), -3, 3) * 1e4], {"dim": 0}, "magnitude 1e4", grad=False),
            Sample([_u(rng, (300, 200), -3, 3)], {"dim": 1}, "large", grad=False),
            Sample([_u(rng, (300, 200), -3, 3)], {"dim": 0}, "large dim 0", grad=False)]


register(OpInfo("softmax", O.softmax, _np_softmax, _softmax_samples, _dim_errors("softmax")))
register(OpInfo("log_softmax", O.log_softmax, lambda x, dim: x - _np_lse(x, dim, keepdim=True),
                _softmax_samples, _dim_errors("log_softmax"), atol32=1e-5))


def _np_xent(x, t, reduction="mean", ignore_index=-100, label_smoothing=0.0):
    tshape = np.shape(t)
    if x.ndim == 1:
        x, t = x[None], np.asarray(t).reshape(1)
    elif x.ndim > 2:
        x = np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
        t = t.reshape(-1)
    c = x.shape[1]
    m = np.max(x, axis=1, keepdims=True)
    lsm = x - m - np.log(np.sum(np.exp(x - m), axis=1, keepdims=True))
    keep = t != ignore_index
    tt = np.where(keep, t, 0)
    loss = -(1 - label_smoothing) * lsm[np.arange(len(t)), tt] - label_smoothing / c * lsm.sum(1)
    loss = np.where(keep, loss, 0.0)
    if reduction == "none":
        return loss.reshape(tshape)
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / keep.sum()


def _xent_samples(rng):
    x = _u(rng, (6, 5), -3, 3)
    t = rng.integers(0, 5, 6)
    ti = t.copy()
    ti[[1, 4]] = -100
    return [Sample([x, t], {}, "mean"), Sample([x, t], {"reduction": "sum"}),
            Sample([x, t], {"reduction": "none"}), Sample([x, ti], {}, "ignore_index"),
            Sample([x, t], {"label_smoothing": 0.2}), Sample([x, ti], {"label_smoothing": 0.1, "reduction": "none"}),
            Sample([np.asfortranarray(x), t], {}, "view"),
            Sample([_u(rng, (2, 4, 3), -3, 3), rng.integers(0, 4, (2, 3))], {}, "(N, C, d)"),
            Sample([_u(rng, (5,), -3, 3), np.array(2)], {}, "unbatched"),
            Sample([_u(rng, (6, 5), -1, 1) * 1e4, t], {}, "magnitude 1e4", grad=False),
            Sample([_u(rng, (500, 100), -3, 3), rng.integers(0, 100, 500)], {}, "large", grad=False)]


def _xent_errors():
    return [ErrorInput([np.zeros((3, 4)), np.array([0, 4, 1])], {}, IndexError,
                       r"cross_entropy: target 4 at position 1 is out of bounds for 4 classes"),
            ErrorInput([np.zeros((3, 4)), np.array([0, 1])], {}, ValueError,
                       r"cross_entropy: input shape \(3, 4\) expects target shape \(3,\)"),
            ErrorInput([np.zeros((3, 4)), np.array([0, 1, 2])], {"reduction": "avg"}, ValueError,
                       r"cross_entropy: reduction must be one of")]


register(OpInfo("cross_entropy", F.cross_entropy, _np_xent, _xent_samples, _xent_errors))


def _np_nll(x, t, reduction="mean", ignore_index=-100):
    keep = t != ignore_index
    loss = np.where(keep, -x[np.arange(len(t)), np.where(keep, t, 0)], 0.0)
    return loss if reduction == "none" else (loss.sum() if reduction == "sum" else loss.sum() / keep.sum())


register(OpInfo("nll_loss", F.nll_loss, _np_nll,
                lambda rng: [Sample([_u(rng, (6, 5), -3, 0), rng.integers(0, 5, 6)]),
                             Sample([_u(rng, (6, 5), -3, 0), np.array([0, -100, 2, 3, -100, 1])],
                                    {"reduction": "sum"}, "ignore"),
                             Sample([_u(rng, (6, 5), -3, 0), rng.integers(0, 5, 6)], {"reduction": "none"})],
                lambda: [ErrorInput([np.zeros((3, 4)), np.array([0, 7, 1])], {}, IndexError,
                                    r"nll_loss: target 7 at position 1 is out of bounds")]))
register(OpInfo("mse_loss", F.mse_loss,
                lambda x, y, reduction="mean": {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction]((x - y) ** 2),
                lambda rng: [Sample([_u(rng, (4, 3), -2, 2), _u(rng, (4, 3), -2, 2)]),
                             Sample([_u(rng, (4, 3), -2, 2), _u(rng, (4, 3), -2, 2)], {"reduction": "sum"}),
                             Sample([_u(rng, (5,), -2, 2), _u(rng, (5,), -2, 2)], {"reduction": "none"})],
                lambda: [ErrorInput([np.zeros((3, 4)), np.zeros((4, 3))], {}, ValueError,
                                    r"sub: shapes \(3, 4\) and \(4, 3\) cannot be broadcast")]))


def _np_bce(x, t, reduction="mean", pos_weight=None):
    pw = 1.0 if pos_weight is None else pos_weight
    sp = np.logaddexp(0, -x)
    loss = (1 - t) * x + (1 + (pw - 1) * t) * sp
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](loss)


register(OpInfo("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits, _np_bce,
                lambda rng: [Sample([_u(rng, (4, 3), -4, 4), rng.random((4, 3))]),
                             Sample([_u(rng, (6,), -4, 4), (rng.random(6) > 0.5) * 1.0], {"reduction": "none"}),
                             Sample([_u(rng, (4, 3), -4, 4), rng.random((4, 3))], {"pos_weight": 3.0}),
                             Sample([np.array([-1e4, -50.0, 0.0, 50.0, 1e4]), np.array([1.0, 0.0, 0.5, 1.0, 0.0])],
                                    {"reduction": "none"}, "extreme", grad=False)]))


# ---- matmul and linear --------------------------------------------------------------------
MM_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
             ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (3, 4, 2)), ((1, 4), (4, 1)), ((0, 4), (4, 3)),
             ((3, 0), (0, 2))]


def _mm_samples(rng):
    out = [Sample([_u(rng, a, -1, 1), _u(rng, b, -1, 1)], desc=f"{a}@{b}") for a, b in MM_SHAPES]
    out.append(Sample([_u(rng, (4, 3), -1, 1).T, _u(rng, (5, 4), -1, 1).T], desc="transposed"))
    out.append(Sample([_u(rng, (3, 8), -1, 1)[:, ::2], _u(rng, (4, 5), -1, 1)], desc="strided"))
    out.append(Sample([_u(rng, (65, 129), -1, 1), _u(rng, (129, 33), -1, 1)], desc="odd sizes", grad=False))
    out.append(Sample([_u(rng, (128, 300), -1, 1), _u(rng, (300, 96), -1, 1)], desc="large", grad=False))
    return out


def _mm_errors():
    return [ErrorInput([np.zeros((3, 4)), np.zeros((5, 2))], {}, ValueError,
                       r"matmul: cannot multiply shapes \(3, 4\) and \(5, 2\): 4 != 5"),
            ErrorInput([np.zeros(()), np.zeros((5, 2))], {}, ValueError,
                       r"matmul: both arguments need at least 1 dimension")]


register(OpInfo("matmul", O.matmul, np.matmul, _mm_samples, _mm_errors, rtol32=1e-4, atol32=1e-5))


def _np_linear(x, w, b=None, activation=None):
    y = x @ w.T
    if b is not None:
        y = y + b
    if activation == "gelu":
        return 0.5 * y * (1 + _erf(y / math.sqrt(2)))
    return {None: lambda v: v, "relu": lambda v: np.maximum(v, 0), "tanh": np.tanh,
            "sigmoid": lambda v: 1 / (1 + np.exp(-v))}[activation](y)


def _linear_samples(rng):
    def lin(n, i, o):
        return _u(rng, (n, i), -1, 1), _u(rng, (o, i), -1, 1), _u(rng, (o,), -1, 1)
    x, w, b = lin(5, 3, 4)
    out = [Sample([x, w, b]), Sample([x, w], {}, "no bias"),
           Sample([x, w, b], {"activation": "relu"}, "fused relu"),
           Sample([x, w, b], {"activation": "tanh"}, "fused tanh"),
           Sample([x, w, b], {"activation": "sigmoid"}, "fused sigmoid"),
           Sample([x, w, b], {"activation": "gelu"}, "gelu"),
           Sample([_u(rng, (2, 5, 3), -1, 1), w, b], {}, "3-d input"),
           Sample([x, _u(rng, (3, 4), -1, 1).T, b], {}, "transposed weight")]
    x, w, b = lin(64, 100, 50)
    out.append(Sample([x, w, b], {"activation": "relu"}, "large", grad=False))
    return out


register(OpInfo("linear", O.linear, _np_linear, _linear_samples,
                lambda: [ErrorInput([np.zeros((3, 4)), np.zeros((2, 5))], {}, ValueError,
                                    r"linear: input shape \(3, 4\) does not match weight shape \(2, 5\)")],
                rtol32=1e-4, atol32=1e-5))


# ---- shape and movement ops -------------------------------------------------------------
def _simple(name, op, ref, samples, errors=None, **kw):
    register(OpInfo(name, op, ref, samples, errors, extreme=False, **kw))


def _x(rng, *shape):
    return _u(rng, shape, -2, 2)


_simple("reshape", lambda x, shape: O.reshape(x, shape), lambda x, shape: np.reshape(x, shape),
        lambda rng: [Sample([_x(rng, 3, 4)], {"shape": (2, 6)}), Sample([_x(rng, 3, 4).T], {"shape": (-1,)}),
                     Sample([_x(rng, 2, 3, 4)], {"shape": (4, -1)}), Sample([_x(rng)], {"shape": (1, 1)})],
        lambda: [ErrorInput([np.zeros((3, 4))], {"shape": (5, 3)}, ValueError,
                            r"reshape: shape \(5, 3\) is invalid for input of shape \(3, 4\)")])
_simple("view", lambda x, shape: O.view(x, shape), lambda x, shape: np.reshape(x, shape),
        lambda rng: [Sample([_x(rng, 3, 4)], {"shape": (2, 6)}), Sample([_x(rng, 2, 3, 4)], {"shape": (6, 4)})],
        lambda: [ErrorInput([np.zeros((3, 4)).T], {"shape": (12,)}, RuntimeError, r"view: shape \(12,\) is not compatible")])
_simple("transpose", O.transpose, lambda x, dim0, dim1: np.swapaxes(x, dim0, dim1),
        lambda rng: [Sample([_x(rng, 3, 4)], {"dim0": 0, "dim1": 1}),
                     Sample([_x(rng, 2, 3, 4)], {"dim0": -1, "dim1": 0})],
        lambda: [ErrorInput([np.zeros((3, 4))], {"dim0": 0, "dim1": 3}, IndexError, "transpose: dimension 3")])
_simple("permute", lambda x, dims: O.permute(x, dims), lambda x, dims: np.transpose(x, dims),
        lambda rng: [Sample([_x(rng, 2, 3, 4)], {"dims": (2, 0, 1)}), Sample([_x(rng, 2, 3)], {"dims": (1, 0)})],
        lambda: [ErrorInput([np.zeros((3, 4))], {"dims": (0, 0)}, ValueError, "permute: dims")])
_simple("flatten", O.flatten, lambda x, start_dim=0, end_dim=-1: x.reshape(
            x.shape[:start_dim % x.ndim] + (-1,) + x.shape[end_dim % x.ndim + 1:]) if x.ndim else x.reshape(1),
        lambda rng: [Sample([_x(rng, 2, 3, 4)]), Sample([_x(rng, 2, 3, 4)], {"start_dim": 1}),
                     Sample([_x(rng)], {}, "0-d")])
_simple("squeeze", O.squeeze, lambda x, dim=None: np.squeeze(x, dim),
        lambda rng: [Sample([_x(rng, 1, 3, 1)]), Sample([_x(rng, 1, 3, 1)], {"dim": 0})])
_simple("unsqueeze", O.unsqueeze, lambda x, dim: np.expand_dims(x, dim),
        lambda rng: [Sample([_x(rng, 3, 4)], {"dim": 1}), Sample([_x(rng, 3)], {"dim": -1})],
        lambda: [ErrorInput([np.zeros((3, 4))], {"dim": 4}, IndexError, "unsqueeze: dimension 4")])
_simple("expand", lambda x, sizes: O.expand(x, sizes), lambda x, sizes: np.broadcast_to(x, tuple(
            x.shape[i - (len(sizes) - x.ndim)] if s == -1 else s for i, s in enumerate(sizes))),
        lambda rng: [Sample([_x(rng, 3, 1)], {"sizes": (3, 4)}), Sample([_x(rng, 4)], {"sizes": (2, 3, -1)})],
        lambda: [ErrorInput([np.zeros((3, 2))], {"sizes": (3, 4)}, ValueError, r"expand: cannot expand shape \(3, 2\)")])
_simple("cat", lambda *ts, dim=0: O.cat(ts, dim), lambda *xs, dim=0: np.concatenate(xs, dim),
        lambda rng: [Sample([_x(rng, 2, 3), _x(rng, 4, 3)]), Sample([_x(rng, 2, 3), _x(rng, 2, 1)], {"dim": 1})],
        lambda: [ErrorInput([np.zeros((2, 3)), np.zeros((2, 4))], {}, ValueError,
                            r"cat: tensor 1 has shape \(2, 4\), which does not match \(2, 3\)")])
_simple("stack", lambda *ts, dim=0: O.stack(ts, dim), lambda *xs, dim=0: np.stack(xs, dim),
        lambda rng: [Sample([_x(rng, 2, 3), _x(rng, 2, 3)]), Sample([_x(rng, 2, 3), _x(rng, 2, 3)], {"dim": -1})],
        lambda: [ErrorInput([np.zeros((2, 3)), np.zeros((3, 2))], {}, ValueError, r"stack: tensor 1 has shape \(3, 2\)")])
_simple("narrow", O.narrow, lambda x, dim, start, length: np.take(x, range(start, start + length), axis=dim),
        lambda rng: [Sample([_x(rng, 5, 3)], {"dim": 0, "start": 1, "length": 3})])
_simple("contiguous", O.contiguous, lambda x: x, lambda rng: [Sample([_x(rng, 4, 3).T])])
_simple("clone", O.clone, lambda x: x.copy(), lambda rng: [Sample([_x(rng, 4, 3)])])


# ---- indexing and movement (issue 3A) --------------------------------------------------------
def _blk(a, shape):
    return a[tuple(slice(0, s) for s in shape)]


def _i(*vals):
    return np.array(vals, dtype=np.int64)


def _rand_idx(rng, n, shape):
    return rng.integers(0, n, size=shape).astype(np.int64)


def _np_scatter(x, idx, src, dim, accumulate=True):
    out = x.copy()
    return R.scatter_add(out, dim % x.ndim, idx, _blk(src, idx.shape), accumulate)


def _idx_errors(op, call):
    def errors():
        return [ErrorInput(*call(np.zeros((3, 4)), _i(0, 5)), IndexError,
                           rf"{op}: index 5 is out of bounds for dimension 0 with size 3"),
                ErrorInput(*call(np.zeros((3, 4)), _i(-1, 0)), IndexError,
                           rf"{op}: index -1 is out of bounds for dimension 0 with size 3"),
                ErrorInput(*call(np.zeros((3, 4)), np.array([0.0, 1.0])), TypeError,
                           rf"{op}: index must be an int64 tensor")]
    return errors


_simple("index_select", lambda x, idx, dim: O.index_select(x, dim, idx),
        lambda x, idx, dim: np.take(x, idx, axis=dim),
        lambda rng: [Sample([_x(rng, 4, 5), _i(0, 2, 0, 3)], {"dim": 0}, "repeated indices"),
                     Sample([_x(rng, 4, 5), _i(4, 0)], {"dim": -1}, "negative dim"),
                     Sample([_x(rng, 5, 4).T, _i(1, 1, 3)], {"dim": 1}, "transposed view"),
                     Sample([_x(rng, 2, 3, 4), _i(2, 0, 2)], {"dim": 1}, "middle dim"),
                     Sample([_x(rng, 4, 5), np.zeros(0, np.int64)], {"dim": 0}, "no indices"),
                     Sample([_x(rng, 300, 200), _rand_idx(rng, 300, 500)], {"dim": 0}, "large",
                            grad=False),
                     Sample([_x(rng, 200000), _rand_idx(rng, 200000, 100000)], {"dim": 0},
                            "large 1-d", grad=False)],
        _idx_errors("index_select", lambda x, i: ([x, i], {"dim": 0})))


def _gather_1d_idx(n):
    return np.array([[0, 0], [1, 0], [n - 1, n - 1]], dtype=np.int64)


_simple("gather", lambda x, idx, dim: O.gather(x, dim, idx),
        lambda x, idx, dim: R.gather(x, dim % x.ndim, idx),
        lambda rng: [Sample([_x(rng, 3, 4), _gather_1d_idx(4)], {"dim": 1}, "repeats"),
                     Sample([_x(rng, 3, 4), _i(2, 0, 1, 2).reshape(1, 4)], {"dim": 0}, "dim 0"),
                     Sample([_x(rng, 3, 4), _i(3, 1, 0, 0).reshape(2, 2)], {"dim": -1},
                            "smaller index, negative dim"),
                     Sample([_x(rng, 4, 3).T, _i(0, 1, 1, 2, 3, 3).reshape(3, 2)], {"dim": 1}, "view"),
                     Sample([_x(rng, 2, 3, 4), _rand_idx(rng, 3, (2, 5, 4))], {"dim": 1}, "3-d"),
                     Sample([_x(rng, 300, 300), _rand_idx(rng, 300, (300, 300))], {"dim": 0},
                            "large", grad=False)],
        lambda: [ErrorInput([np.zeros((3, 4)), _i(0, 4, 1).reshape(3, 1)], {"dim": 1}, IndexError,
                            r"gather: index 4 is out of bounds for dimension 1 with size 4"),
                 ErrorInput([np.zeros((3, 4)), _i(0, 1)], {"dim": 1}, ValueError,
                            r"gather: index has 1 dimensions but input has 2"),
                 ErrorInput([np.zeros((3, 4)), np.zeros((4, 1), np.int64)], {"dim": 1}, ValueError,
                            r"gather: index shape \(4, 1\) is larger than input shape \(3, 4\) in dimension 0")])


def _scatter_samples(repeats):
    def samples(rng):
        if repeats:
            i2 = np.array([[0, 0, 3], [1, 1, 1], [2, 0, 2]], dtype=np.int64)
        else:
            i2 = np.array([[0, 3, 1], [2, 1, 0], [3, 0, 2]], dtype=np.int64)
        out = [Sample([_x(rng, 3, 4), i2, _x(rng, 3, 3)], {"dim": 1}, "dim 1"),
               Sample([_x(rng, 4, 3), i2.T.copy(), _x(rng, 3, 3)], {"dim": 0}, "dim 0"),
               Sample([_x(rng, 3, 5), i2[:2, :2].copy(), _x(rng, 3, 4)], {"dim": -1},
                      "smaller index, bigger src"),
               Sample([_x(rng, 4, 3).T, i2, _x(rng, 3, 3).T], {"dim": 1}, "views")]
        n = 300
        big = _rand_idx(rng, n, (n, n)) if repeats else np.argsort(rng.random((n, n)), axis=0)
        out.append(Sample([_x(rng, n, n), big, _x(rng, n, n)], {"dim": 0}, "large", grad=False))
        return out
    return samples


def _scatter_errors(op):
    def errors():
        return [ErrorInput([np.zeros((3, 4)), _i(0, 7).reshape(1, 2), np.zeros((1, 2))], {"dim": 1},
                           IndexError, rf"{op}: index 7 is out of bounds for dimension 1 with size 4"),
                ErrorInput([np.zeros((3, 4)), np.zeros((2, 3), np.int64), np.zeros((1, 3))], {"dim": 1},
                           ValueError, rf"{op}: index shape \(2, 3\) is larger than src shape")]
    return errors


_simple("scatter_add", lambda x, idx, src, dim: O.scatter_add(x, dim, idx, src),
        lambda x, idx, src, dim: _np_scatter(x, idx, src, dim), _scatter_samples(True),
        _scatter_errors("scatter_add"))
_simple("scatter", lambda x, idx, src, dim: O.scatter(x, dim, idx, src),
        lambda x, idx, src, dim: _np_scatter(x, idx, src, dim, False), _scatter_samples(False),
        _scatter_errors("scatter"))
_simple("scatter_value", lambda x, idx, dim, value: O.scatter(x, dim, idx, value=value),
        lambda x, idx, dim, value: _np_scatter(x, idx, np.full(idx.shape, value), dim, False),
        lambda rng: [Sample([_x(rng, 3, 4), _i(0, 3, 2, 2, 1, 0).reshape(3, 2)], {"dim": 1, "value": 2.5})])


def _np_take_along(x, idx, dim=None):
    if dim is None:
        return np.take_along_axis(x.reshape(-1), idx.reshape(-1), 0)
    return np.take_along_axis(x, idx, dim)


_simple("take_along_dim", O.take_along_dim, _np_take_along,
        lambda rng: [Sample([_x(rng, 3, 4), _gather_1d_idx(4)], {"dim": 1}, "repeats"),
                     Sample([_x(rng, 3, 1), _i(0, 0, 0, 0).reshape(1, 4)], {"dim": 0}, "broadcast"),
                     Sample([_x(rng, 3, 4), _i(11, 0, 11)], {}, "flattened"),
                     Sample([_x(rng, 2, 3, 4), _rand_idx(rng, 4, (2, 1, 6))], {"dim": -1},
                            "3-d broadcast")],
        lambda: [ErrorInput([np.zeros((3, 4)), _i(0, 5).reshape(1, 2)], {"dim": 1}, IndexError,
                            r"take_along_dim: index 5 is out of bounds for dimension 1 with size 4"),
                 ErrorInput([np.zeros((3, 4)), np.zeros((2, 2), np.int64)], {"dim": 1}, ValueError,
                            r"take_along_dim: input shape \(3, 4\) and indices shape \(2, 2\) cannot be broadcast")])
_simple("masked_fill", O.masked_fill, lambda x, mask, value: np.where(mask, value, x),
        lambda rng: [Sample([_x(rng, 3, 4), rng.random((3, 4)) > 0.5], {"value": -1.5}),
                     Sample([_x(rng, 3, 4), rng.random((4,)) > 0.5], {"value": 2.0}, "broadcast mask"),
                     Sample([_x(rng, 4, 3).T, rng.random((3, 4)) > 0.5], {"value": 0.0}, "view"),
                     Sample([_x(rng), np.array(True)], {"value": 1.0}, "0-d")],
        lambda: [ErrorInput([np.zeros((3, 4)), np.zeros((3, 4))], {"value": 1.0}, TypeError,
                            "masked_fill: mask must be a bool tensor"),
                 ErrorInput([np.zeros((3, 4)), np.zeros((2, 4), bool)], {"value": 1.0}, ValueError,
                            r"masked_fill: mask shape \(2, 4\) cannot be broadcast")])
_simple("one_hot", O.one_hot, lambda t, num_classes=-1: np.eye(
            num_classes if num_classes != -1 else t.max() + 1, dtype=np.int64)[t],
        lambda rng: [Sample([_i(0, 2, 1, 2)]), Sample([_i(1, 0, 3, 3, 2, 0).reshape(2, 3)], {"num_classes": 5}),
                     Sample([_i(3)], {"num_classes": 4}, "0-d"),
                     Sample([np.zeros(0, np.int64)], {"num_classes": 3}, "empty")],
        lambda: [ErrorInput([_i(0, 3)], {"num_classes": 3}, ValueError,
                            r"one_hot: class value 3 is out of range for num_classes=3"),
                 ErrorInput([_i(-1, 0)], {}, ValueError, "one_hot: class values must be non-negative"),
                 ErrorInput([np.zeros(2)], {}, TypeError, "one_hot: expected an int64 tensor")],
        grad=False, returns_index=True)


def _np_pieces(x, sizes, dim):
    out, start = [], 0
    for s in sizes:
        out.append(np.take(x, range(start, start + s), axis=dim).reshape(-1))
        start += s
    return np.concatenate(out)


def _split_sizes(n, s):
    return [s] * (n // s) + ([n % s] if n % s else []) if isinstance(s, int) else list(s)


def _cat_flat(ts):
    return O.cat([O.reshape(t, -1) for t in ts])


_simple("split", lambda x, s, dim=0: _cat_flat(O.split(x, s, dim)),
        lambda x, s, dim=0: _np_pieces(x, _split_sizes(x.shape[dim], s), dim),
        lambda rng: [Sample([_x(rng, 5, 3), 2], {"dim": 0}, "uneven"),
                     Sample([_x(rng, 3, 6), [1, 3, 2]], {"dim": -1}, "sections"),
                     Sample([_x(rng, 4, 3).T, 2], {"dim": 1}, "view")],
        lambda: [ErrorInput([np.zeros((3, 4)), [1, 1]], {"dim": 1}, ValueError,
                            r"split: sections \(1, 1\) do not sum to the size 4 of dimension 1")])
_simple("chunk", lambda x, chunks, dim=0: _cat_flat(O.chunk(x, chunks, dim)),
        lambda x, chunks, dim=0: _np_pieces(x, _split_sizes(x.shape[dim], -(-x.shape[dim] // chunks)), dim),
        lambda rng: [Sample([_x(rng, 5, 3), 3], {"dim": 0}), Sample([_x(rng, 3, 6), 4], {"dim": -1})],
        lambda: [ErrorInput([np.zeros((3, 4)), 0], {}, ValueError, "chunk: chunks must be a positive int")])
_simple("unbind", lambda x, dim=0: O.stack(O.unbind(x, dim)), lambda x, dim=0: np.moveaxis(x, dim, 0),
        lambda rng: [Sample([_x(rng, 3, 4)], {"dim": 1}), Sample([_x(rng, 2, 3, 4)], {"dim": -1})],
        lambda: [ErrorInput([np.zeros((3, 4))], {"dim": 2}, IndexError, "unbind: dimension 2 is out of range")])
_simple("flip", O.flip, lambda x, dims: np.flip(x, dims),
        lambda rng: [Sample([_x(rng, 3, 4)], {"dims": (0,)}), Sample([_x(rng, 2, 3, 4)], {"dims": (-1, 0)}),
                     Sample([_x(rng, 4, 3).T], {"dims": (1,)}, "view"), Sample([_x(rng)], {"dims": ()}, "0-d"),
                     Sample([np.zeros((0, 3))], {"dims": (1,)}, "zero-size")],
        lambda: [ErrorInput([np.zeros((3, 4))], {"dims": (2,)}, IndexError, "flip: dimension 2 is out of range")])
_simple("roll", O.roll, lambda x, shifts, dims=None: np.roll(x, shifts, dims),
        lambda rng: [Sample([_x(rng, 3, 4)], {"shifts": 1, "dims": 1}),
                     Sample([_x(rng, 3, 4)], {"shifts": (-2, 5), "dims": (0, 1)}, "two dims"),
                     Sample([_x(rng, 3, 4)], {"shifts": 5}, "flattened"),
                     Sample([_x(rng, 4, 3).T], {"shifts": -1, "dims": -1}, "view")],
        lambda: [ErrorInput([np.zeros((3, 4))], {"shifts": (1, 2), "dims": 0}, ValueError,
                            r"roll: shifts \(1, 2\) and dims \(0,\) must have the same length")])


def _np_repeat(x, sizes):
    return np.tile(x.reshape((1,) * (len(sizes) - x.ndim) + x.shape), sizes)


_simple("repeat", lambda x, sizes: O.repeat(x, sizes), _np_repeat,
        lambda rng: [Sample([_x(rng, 2, 3)], {"sizes": (2, 1)}), Sample([_x(rng, 3)], {"sizes": (2, 1, 3)}, "new dims"),
                     Sample([_x(rng, 3, 2).T], {"sizes": (1, 2)}, "view"), Sample([_x(rng)], {"sizes": (3,)}, "0-d"),
                     Sample([_x(rng, 2, 3)], {"sizes": (0, 1)}, "zero repeats")],
        lambda: [ErrorInput([np.zeros((3, 4))], {"sizes": (2,)}, ValueError,
                            r"repeat: the number of repeats \(2,\) must be at least")])
_simple("tile", O.tile, lambda x, dims: np.tile(x, dims),
        lambda rng: [Sample([_x(rng, 2, 3)], {"dims": (2,)}), Sample([_x(rng, 3)], {"dims": (2, 2)})])


def _np_pad(x, pad, mode="constant", value=None):
    nd = x.ndim
    widths = [(0, 0)] * nd
    for i in range(len(pad) // 2):
        widths[nd - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    crop = tuple(slice(max(-lo, 0), x.shape[k] - max(-hi, 0)) for k, (lo, hi) in enumerate(widths))
    x = x[crop]
    widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    if mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=0 if value is None else value)
    return np.pad(x, widths, mode={"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode])


_simple("pad", O.pad, _np_pad,
        lambda rng: [Sample([_x(rng, 3, 4)], {"pad": (1, 2)}, "last dim"),
                     Sample([_x(rng, 3, 4)], {"pad": (1, 0, 2, 1), "value": 1.5}, "two dims, value"),
                     Sample([_x(rng, 3, 5)], {"pad": (-1, 2, 0, -2)}, "negative crops"),
                     Sample([_x(rng, 2, 3, 4)], {"pad": (3, 2, 1, 2), "mode": "reflect"}, "reflect"),
                     Sample([_x(rng, 4, 3).T], {"pad": (2, 1), "mode": "reflect"}, "reflect view"),
                     Sample([_x(rng, 2, 3, 4)], {"pad": (2, 3, 0, 1), "mode": "replicate"}, "replicate"),
                     Sample([_x(rng, 2, 3, 4)], {"pad": (4, 1, 3, 2), "mode": "circular"}, "circular, whole dims"),
                     Sample([_x(rng, 4, 3).T], {"pad": (0, 2), "mode": "circular"}, "circular view"),
                     Sample([np.zeros((0, 3))], {"pad": (1, 1)}, "zero-size")],
        lambda: [ErrorInput([np.zeros((3, 4))], {"pad": (4, 0), "mode": "reflect"}, ValueError,
                            r"pad: reflect padding \(4, 0\) must be smaller than the size 4 of dimension 1"),
                 ErrorInput([np.zeros((3, 4))], {"pad": (1,)}, ValueError, "pad: the pad tuple"),
                 ErrorInput([np.zeros((3, 4))], {"pad": (5, 0), "mode": "circular"}, ValueError,
                            r"pad: circular padding \(5, 0\) wraps around more than once \(at most the size 4"),
                 ErrorInput([np.zeros((3, 4))], {"pad": (1, 1), "mode": "wrap"}, ValueError,
                            "pad: mode must be")])
_simple("tril", O.tril, lambda x, diagonal=0: np.tril(x, diagonal),
        lambda rng: [Sample([_x(rng, 3, 4)]), Sample([_x(rng, 2, 3, 4)], {"diagonal": -1}, "batched"),
                     Sample([_x(rng, 4, 3).T], {"diagonal": 2}, "view")],
        lambda: [ErrorInput([np.zeros(3)], {}, ValueError, "tril: input must have at least 2 dimensions")])
_simple("triu", O.triu, lambda x, diagonal=0: np.triu(x, diagonal),
        lambda rng: [Sample([_x(rng, 3, 4)]), Sample([_x(rng, 2, 3, 4)], {"diagonal": 1}, "batched")],
        lambda: [ErrorInput([np.zeros(3)], {}, ValueError, "triu: input must have at least 2 dimensions")])
# (the offset clamped to the plane, same result: NumPy overflows on offsets near -2**31)
_simple("diagonal", O.diagonal, lambda x, offset=0, dim1=0, dim2=1: np.diagonal(
            x, max(-x.shape[dim1], min(offset, x.shape[dim2])), dim1, dim2),
        lambda rng: [Sample([_x(rng, 3, 4)]), Sample([_x(rng, 3, 4)], {"offset": 1}, "offset 1"),
                     Sample([_x(rng, 3, 4)], {"offset": -2}, "offset -2"),
                     Sample([_x(rng, 2, 3, 4)], {"dim1": -1, "dim2": 0}, "3-d"),
                     Sample([_x(rng, 3, 4)], {"offset": 5}, "empty")],
        lambda: [ErrorInput([np.zeros((3, 4))], {"dim1": 1, "dim2": 1}, ValueError,
                            "diagonal: dim1 and dim2 must differ")])
_simple("movedim", O.movedim, lambda x, source, destination: np.moveaxis(x, source, destination),
        lambda rng: [Sample([_x(rng, 2, 3, 4)], {"source": 0, "destination": -1}),
                     Sample([_x(rng, 2, 3, 4)], {"source": (0, 1), "destination": (2, 0)}, "two dims")],
        lambda: [ErrorInput([np.zeros((3, 4))], {"source": (0, 1), "destination": 0}, ValueError,
                            "movedim: source")])
_simple("meshgrid", lambda *xs, indexing="ij": O.stack(O.meshgrid(*xs, indexing=indexing)),
        lambda *xs, indexing="ij": np.stack(np.meshgrid(*xs, indexing=indexing)),
        lambda rng: [Sample([_x(rng, 3), _x(rng, 4)]), Sample([_x(rng, 3), _x(rng, 4), _x(rng, 2)],
                                                               {"indexing": "xy"}, "xy 3-d")],
        lambda: [ErrorInput([np.zeros((3, 4))], {}, ValueError, "meshgrid: expected 0-d or 1-d tensors"),
                 ErrorInput([np.zeros(3)], {"indexing": "ji"}, ValueError, "meshgrid: indexing must be")])

# In-place ops on a non-leaf: gradcheck runs through the rebased history (the op clones
# its input first, so the leaf itself is not modified).
_simple("relu_", lambda x: O.relu_(O.clone(x)), lambda x: np.maximum(x, 0),
        lambda rng: [Sample([_u(rng, (3, 4), -2, 2, away=0.05)])])
_simple("masked_fill_", lambda x, mask, value: O.masked_fill_(O.clone(x), mask, value),
        lambda x, mask, value: np.where(mask, value, x),
        lambda rng: [Sample([_x(rng, 3, 4), rng.random((4,)) > 0.5], {"value": 0.5})])


def _inplace_binary(fn):
    def op(a, b):
        return fn(O.clone(a), b)
    return op


def _inplace_samples(rng, lo=-2.0):
    return [Sample([_u(rng, (3, 4), lo, 2), _u(rng, (3, 4), 0.5, 2)]),
            Sample([_u(rng, (3, 4), lo, 2), _u(rng, (4,), 0.5, 2)], desc="broadcast other"),
            Sample([_u(rng, (3, 4), lo, 2), 1.5], desc="scalar")]


for _n, _f, _r in [("add_", O.add_, np.add), ("sub_", O.sub_, np.subtract),
                   ("mul_", O.mul_, np.multiply), ("div_", O.div_, np.true_divide)]:
    _simple(f"inplace_{_n}", _inplace_binary(_f), _r, _inplace_samples)
_simple("inplace_self_mul_", lambda a: (lambda c: O.mul_(c, c))(O.clone(a)), np.square, lambda rng: [Sample([_x(rng, 3, 4)])])
_simple("inplace_clamp_", lambda a: O.clamp_(O.clone(a), -0.5, 1.0), lambda a: np.clip(a, -0.5, 1.0),
        lambda rng: [Sample([_x(rng, 3, 4)])])
_simple("inplace_copy_", lambda a, b: O.mul(O.copy_(O.mul(a, 1.0), b), a), lambda a, b: b * a,
        lambda rng: [Sample([_x(rng, 3, 4), _x(rng, 4)], desc="broadcast src")])
_simple("inplace_fill_", lambda a, v: O.mul(O.fill_(O.mul(a, 1.0), O.sum(v)), a), lambda a, v: v.sum() * a,
        lambda rng: [Sample([_x(rng, 3, 4), _x(rng, 2)])])
_simple("inplace_zero_", lambda a: O.add(O.zero_(O.mul(a, 2.0)), a), lambda a: a,
        lambda rng: [Sample([_x(rng, 3, 4)])])


def _setitem_op(x, v, idx):
    y = O.mul(x, 1.0)
    y[idx] = v
    return O.mul(y, x)


def _np_setitem(x, v, idx):
    y = x.copy()
    y[idx] = v
    return y * x


_simple("setitem", _setitem_op, _np_setitem,
        lambda rng: [Sample([_x(rng, 4, 5), _x(rng, 5)], {"idx": 1}, "row"),
                     Sample([_x(rng, 4, 5), _x(rng, 2, 1)], {"idx": (slice(1, 3), slice(None, None, -2))},
                            "negative step, broadcast value"),
                     Sample([_x(rng, 4, 5), _x(rng, 2, 5)], {"idx": _i(3, 0)}, "int index"),
                     Sample([_x(rng, 4, 5), _x(rng)], {"idx": np.arange(20).reshape(4, 5) % 3 == 0}, "mask"),
                     Sample([_x(rng, 4, 5), 2.0], {"idx": (Ellipsis, 0)}, "scalar value")],
        lambda: [ErrorInput([np.zeros((3, 4)), np.zeros(4)], {"idx": 3}, IndexError,
                            r"setitem: index 3 is out of bounds")])


def _np_getitem(x, idx):
    return x[idx]


_simple("getitem", O.getitem, _np_getitem,
        lambda rng: [Sample([_x(rng, 4, 5)], {"idx": (1, slice(None, None, 2))}, "basic"),
                     Sample([_x(rng, 4, 5)], {"idx": (Ellipsis, None, slice(4, 0, -2))}, "negative step"),
                     Sample([_x(rng, 4, 5)], {"idx": (-1, -2)}, "negative ints, 0-d result"),
                     Sample([_x(rng, 4, 5)], {"idx": np.array([0, 2, 0, 3])}, "repeated indices"),
                     Sample([_x(rng, 4, 5)], {"idx": (Ellipsis, np.array([[4, -1], [0, 4]]))},
                            "2-d index, negative, last dim"),
                     Sample([_x(rng, 4, 5)], {"idx": (np.array([1, 1]), np.array([2, 2]))}, "repeated pairs"),
                     Sample([_x(rng, 4, 5)], {"idx": np.arange(20).reshape(4, 5) % 3 == 0}, "bool mask"),
                     Sample([_x(rng, 4, 5)], {"idx": np.array([True, False, True, True])}, "row mask"),
                     Sample([_x(rng, 2, 3, 4)], {"idx": (slice(None), np.array([2, 0, 2]), slice(1, None, 2))},
                            "mixed"),
                     Sample([_x(rng, 2, 3, 4)], {"idx": (np.array([1, 0]), slice(None), np.array([3, 3]))},
                            "separated arrays"),
                     Sample([_x(rng, 4, 3).T], {"idx": (None, [2, 0, 2])}, "view, list, None"),
                     Sample([_x(rng, 4, 5)], {"idx": np.zeros((4, 5), bool)}, "empty mask"),
                     Sample([_x(rng, 200000)], {"idx": rng.integers(0, 200000, 100000)}, "large", grad=False),
                     Sample([_x(rng, 200000)], {"idx": rng.random(200000) > 0.5}, "large mask", grad=False)],
        lambda: [ErrorInput([np.zeros((3, 4))], {"idx": 5}, IndexError, r"index: .*out of bounds"),
                 ErrorInput([np.zeros((3, 4))], {"idx": np.array([0, 3])}, IndexError,
                            r"index: index 3 is out of bounds for dimension 0 with size 3"),
                 ErrorInput([np.zeros((3, 4))], {"idx": (slice(None), np.array([-5]))}, IndexError,
                            r"index: index -5 is out of bounds for dimension 1 with size 4"),
                 ErrorInput([np.zeros((3, 4))], {"idx": np.array([0.5])}, IndexError,
                            r"index: tensors used as indices must be int64 or bool"),
                 ErrorInput([np.zeros((3, 4))], {"idx": np.array([True, False])}, IndexError,
                            r"index: the shape of the mask \(2,\) does not match")])
_simple("to_float64", lambda x: O.to(x, np.float64), lambda x: x,
        lambda rng: [Sample([_x(rng, 3, 2)])], keeps_dtype=False)

from fastgrad import _registry_math  # noqa: E402,F401  (registers the issue-3B ops)
from fastgrad import _registry_conv  # noqa: E402,F401  (registers the issue-6 ops)
