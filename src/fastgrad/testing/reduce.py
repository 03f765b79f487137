"""Registry entries of the reductions, scans and the softmax family."""
import math

import numpy as np

import fastgrad as fg
from fastgrad.testing.opinfo import ErrorInput, OpInfo, OpTable, Sample, _u, dim_errors, np_dims

OPS = OpTable()
register = OPS.register


# ---- reductions -----------------------------------------------------------------------------
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


register(OpInfo("sum", fg.sum, lambda x, dim=None, keepdim=False: np.sum(x, axis=np_dims(dim), keepdims=keepdim),
                _red_samples(), dim_errors("sum")))
register(OpInfo("mean", fg.mean, lambda x, dim=None, keepdim=False: np.mean(x, axis=np_dims(dim), keepdims=keepdim),
                _red_samples(), dim_errors("mean")))


def _var_ref(x, dim=None, keepdim=False, correction=1):
    """np.var with the divisor n - correction computed exactly (np.var's ddof overflows
    at correction = -2**63)."""
    ax = np_dims(dim)
    axes = range(x.ndim) if ax is None else (ax if isinstance(ax, tuple) else (ax,))
    n = math.prod(x.shape[a] for a in axes)
    ss = np.sum((x - x.mean(axis=ax, keepdims=True)) ** 2, axis=ax, keepdims=keepdim)
    with np.errstate(divide="ignore", invalid="ignore"):
        return ss / float(max(n - correction, 0))


register(OpInfo("var", fg.var, _var_ref,
                lambda rng: [s for s in _red_samples()(rng) if s.desc != "0-d"] +
                [Sample([_u(rng, (6, 3), -2, 2)], {"dim": 0, "correction": 0}, "correction=0")],
                dim_errors("var"), rtol32=1e-4, atol32=1e-5))
register(OpInfo("std", fg.std,
                lambda x, dim=None, keepdim=False, correction=1: np.sqrt(_var_ref(x, dim, keepdim, correction)),
                lambda rng: [s for s in _red_samples()(rng) if s.desc != "0-d"], dim_errors("std"),
                rtol32=1e-4, atol32=1e-5))


def _np_lse(x, dim=None, keepdim=False):
    m = np.max(x, axis=np_dims(dim), keepdims=True)
    r = m + np.log(np.sum(np.exp(x - m), axis=np_dims(dim), keepdims=True))
    return r if keepdim else np.squeeze(r, axis=np_dims(dim))


register(OpInfo("logsumexp", fg.logsumexp, _np_lse,
                lambda rng: [s for s in _red_samples()(rng) if "dim" in s.kwargs],
                dim_errors("logsumexp")))


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


register(OpInfo("max", _maxmin_op(fg.max), lambda x, dim=None, keepdim=False: np.max(x, axis=dim, keepdims=keepdim),
                _maxmin_samples, _maxmin_errors("max")))
register(OpInfo("min", _maxmin_op(fg.min), lambda x, dim=None, keepdim=False: np.min(x, axis=dim, keepdims=keepdim),
                _maxmin_samples, _maxmin_errors("min")))
register(OpInfo("max_indices", lambda x, dim, keepdim=False: fg.max(x, dim, keepdim).indices,
                lambda x, dim, keepdim=False: np.argmax(x, axis=dim, keepdims=keepdim),
                lambda rng: [s for s in _maxmin_samples(rng) if "dim" in s.kwargs], grad=False,
                returns_index=True))
register(OpInfo("argmax", fg.argmax, lambda x, dim=None, keepdim=False: np.argmax(x, axis=dim, keepdims=keepdim),
                _maxmin_samples, grad=False, returns_index=True))
register(OpInfo("argmin", fg.argmin, lambda x, dim=None, keepdim=False: np.argmin(x, axis=dim, keepdims=keepdim),
                _maxmin_samples, grad=False, returns_index=True))


# ---- softmax family -------------------------------------------------------------------------
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


register(OpInfo("softmax", fg.softmax, _np_softmax, _softmax_samples, dim_errors("softmax")))
register(OpInfo("log_softmax", fg.log_softmax, lambda x, dim: x - _np_lse(x, dim, keepdim=True),
                _softmax_samples, dim_errors("log_softmax"), atol32=1e-5))


# ---- scans, products and more reductions ----------------------------------------------------


def _scan_samples(lo, hi, zeros=False):
    def samples(rng):
        x = _u(rng, (3, 4, 5), lo, hi)
        out = [Sample([x[:, :, :3]], {"dim": 1}, "dim=1"),
               Sample([x[:2, :3]], {"dim": -1}, "dim=-1"),
               Sample([x.transpose(2, 0, 1)[:3, :2]], {"dim": 0}, "view dim 0"),
               Sample([_u(rng, (), lo, hi)], {"dim": 0}, "0-d"),
               Sample([np.zeros((0, 3))], {"dim": 0}, "zero-size"),
               Sample([_u(rng, (300, 200), lo, hi)], {"dim": 0}, "large dim 0", grad=False),
               Sample([_u(rng, (300, 200), lo, hi)], {"dim": 1}, "large dim 1", grad=False),
               Sample([_u(rng, (100000,), lo, hi)], {"dim": 0}, "long line", grad=False)]
        if zeros:
            z = _u(rng, (2, 6), lo, hi)
            z[0, 2] = 0.0
            z[1, 1] = z[1, 4] = 0.0
            out.insert(0, Sample([z], {"dim": 1}, "zeros"))
        return out
    return samples


register(OpInfo("cumsum", fg.cumsum, lambda x, dim: np.cumsum(x, axis=dim) if x.ndim else x,
                _scan_samples(-2, 2), dim_errors("cumsum"), rtol32=1e-5, atol32=1e-5))
register(OpInfo("cumprod", fg.cumprod, lambda x, dim: np.cumprod(x, axis=dim) if x.ndim else x,
                _scan_samples(0.9, 1.1, zeros=True), dim_errors("cumprod"), rtol32=1e-5, atol32=1e-6))


def _prod_samples(rng):
    z = _u(rng, (3, 4), 0.5, 1.5)
    z[1, 2] = 0.0
    z2 = z.copy()
    z2[0, 0] = z2[0, 3] = 0.0
    return [Sample([_u(rng, (3, 4), 0.5, 1.5)], {}, "all"),
            Sample([z2], {"dim": 1}, "zeros (one and two per row)"),
            Sample([z], {}, "a zero, all elements"),
            Sample([_u(rng, (2, 3, 4), 0.5, 1.5)], {"dim": -1, "keepdim": True}, "keepdim"),
            Sample([_u(rng, (4, 3), 0.5, 1.5).T], {"dim": 0}, "view"),
            Sample([_u(rng, (), 0.5, 1.5)], {}, "0-d"),
            Sample([np.zeros((0, 3))], {"dim": 0}, "empty dim: 1"),
            Sample([_u(rng, (300, 200), 0.99, 1.01)], {"dim": 0}, "large", grad=False)]


register(OpInfo("prod", fg.prod,
                lambda x, dim=None, keepdim=False: np.prod(x, axis=dim, keepdims=keepdim) if dim is not None
                else np.prod(x),
                _prod_samples, dim_errors("prod"), rtol32=1e-5))


def _ties_samples(rng):
    x = rng.permutation(60).reshape(3, 4, 5) / 7.0 - 4
    t = np.array([[1.0, 3.0, 3.0, -2.0], [0.5, -1.0, 0.5, 0.25], [2.0, 2.0, 1.0, 0.0]])
    # the tied samples come after the first four: gradgradcheck uses only those four, and
    # the gradient itself jumps where a tie breaks (the second derivative does not exist)
    return [Sample([x], {"dim": (0, 2)}, "dims (0, 2)"),
            Sample([x], {"dim": -1, "keepdim": True}, "keepdim"),
            Sample([x.transpose(1, 2, 0)], {"dim": 0}, "view"),
            Sample([np.array(1.5)], {}, "0-d"),
            Sample([t], {"dim": 1}, "two-way ties"),
            Sample([t], {}, "all, one two-way tie"),
            Sample([rng.permutation(60000).reshape(300, 200) / 1e3], {"dim": 1}, "large", grad=False)]


def _amax_errors(name):
    return lambda: [ErrorInput([np.zeros((0, 3))], {"dim": 0}, ValueError,
                               rf"{name}: cannot reduce over the zero-size dimension 0")]


register(OpInfo("amax", fg.amax, lambda x, dim=None, keepdim=False: np.max(x, axis=np_dims(dim), keepdims=keepdim),
                _ties_samples, _amax_errors("amax")))
register(OpInfo("amin", fg.amin, lambda x, dim=None, keepdim=False: np.min(x, axis=np_dims(dim), keepdims=keepdim),
                lambda rng: [Sample([np.asarray(-s.args[0])], s.kwargs, s.desc, s.grad) for s in _ties_samples(rng)],
                _amax_errors("amin")))


def _allany_samples(rng):
    x = _u(rng, (3, 4), -1, 1)
    x[0, :] = 0.0
    x[1, 2] = 0.0
    b = rng.random((3, 4)) > 0.3
    return [Sample([x], {}, "all"), Sample([x], {"dim": 1}), Sample([x], {"dim": 0, "keepdim": True}),
            Sample([b], {"dim": -1}, "bool"), Sample([np.zeros((0, 2))], {}, "empty"),
            Sample([np.zeros((0, 2))], {"dim": 1}, "empty rows")]


register(OpInfo("all", fg.all, lambda x, dim=None, keepdim=False: np.all(x != 0, axis=dim, keepdims=keepdim),
                _allany_samples, dim_errors("all"), grad=False, keeps_dtype=False, extreme=False))
register(OpInfo("any", fg.any, lambda x, dim=None, keepdim=False: np.any(x != 0, axis=dim, keepdims=keepdim),
                _allany_samples, dim_errors("any"), grad=False, keeps_dtype=False, extreme=False))


def _np_norm(x, p="fro", dim=None, keepdim=False):
    a = np.abs(x)
    ax = np_dims(dim)
    if p in ("fro", 2):
        return np.sqrt(np.sum(a * a, axis=ax, keepdims=keepdim))
    if p == math.inf:
        return np.max(a, axis=ax, keepdims=keepdim)
    if p == -math.inf:
        return np.min(a, axis=ax, keepdims=keepdim)
    if p == 0:
        return np.sum(a != 0, axis=ax, keepdims=keepdim).astype(x.dtype)
    return np.sum(a ** p, axis=ax, keepdims=keepdim) ** (1.0 / p)


def _norm_samples(rng):
    x = _u(rng, (3, 4), -2, 2, away=0.1)
    z = x.copy()
    z[1] = 0.0
    return [Sample([x], {}, "default"),
            Sample([x], {"p": 1, "dim": 1}, "p=1"),
            Sample([x], {"p": math.inf, "dim": -1, "keepdim": True}, "p=inf"),
            Sample([x], {"p": -math.inf, "dim": 0}, "p=-inf"),
            Sample([z], {"p": 2, "dim": 1}, "a zero row (gradient 0)"),
            Sample([_u(rng, (2, 3, 4), -2, 2, away=0.1)], {"p": 3, "dim": (0, 2)}, "p=3 dims (0, 2)"),
            Sample([x.T], {"p": "fro", "dim": (0, 1)}, "fro view"),
            Sample([x], {"p": 0.5, "dim": 1}, "p=0.5"),
            Sample([x], {"p": -1.5, "dim": 1}, "p=-1.5"),
            Sample([_u(rng, (), -2, 2, away=0.1)], {}, "0-d"),
            Sample([np.zeros((0, 3))], {"dim": 0}, "zero-size"),
            Sample([x], {"p": 0, "dim": 1}, "p=0 (count)", grad=False),
            Sample([np.array([3e20, -4e20, 1e19])], {}, "no overflow in the squares", grad=False),
            Sample([_u(rng, (300, 200), -2, 2)], {"dim": 1}, "large", grad=False)]


register(OpInfo("norm", fg.norm, _np_norm, _norm_samples,
                lambda: [ErrorInput([np.ones(3)], {"p": "nuc"}, ValueError, r"norm: p='nuc' is not supported"),
                         ErrorInput([np.ones(3)], {"p": math.nan}, ValueError, r"norm: p=nan is not supported"),
                         ErrorInput([np.ones((2, 3))], {"dim": 2}, IndexError, r"norm: dimension 2 is out of range")],
                rtol32=1e-5))


# ---- std_mean / var_mean, cummax / cummin, logcumsumexp ---------------------------------------
def _stat_samples(rng):
    x = _u(rng, (3, 4, 5), -2, 2)
    return [Sample([x]), Sample([x], {"dim": 1}), Sample([x], {"dim": (0, 2), "keepdim": True}),
            Sample([x], {"dim": -1, "correction": 0}), Sample([x], {"dim": 0, "unbiased": False}),
            Sample([x.transpose(2, 0, 1)], {"dim": 1}, "view")]


def _stat_mean_ref(stat):
    def ref(x, dim=None, keepdim=False, correction=None, unbiased=None):
        c = 1 if correction is None and unbiased is None else correction if unbiased is None else int(unbiased)
        v = _var_ref(x, dim, keepdim, c)
        return np.stack([np.sqrt(v) if stat == "std" else v, np.mean(x, axis=np_dims(dim), keepdims=keepdim)])
    return ref


def _stat_mean_op(fn):
    return lambda x, **kw: fg.stack(list(fn(x, **kw)))


register(OpInfo("std_mean", _stat_mean_op(fg.std_mean), _stat_mean_ref("std"), _stat_samples,
                dim_errors("std_mean")))
register(OpInfo("var_mean", _stat_mean_op(fg.var_mean), _stat_mean_ref("var"), _stat_samples,
                dim_errors("var_mean")))


def _cum_arg_ref(x, dim, largest):
    """The index of the last running extreme, element by element (nan is the extreme)."""
    y = np.moveaxis(np.atleast_1d(x), dim if x.ndim else 0, -1)
    out = np.zeros(y.shape, np.int64)
    for pos in np.ndindex(y.shape[:-1]):
        best, arg = None, 0
        for k, v in enumerate(y[pos]):
            if best is None or np.isnan(v) or (not np.isnan(best) and (v >= best if largest else v <= best)):
                best, arg = v, k
            out[pos + (k,)] = arg
    return np.moveaxis(out, -1, dim if x.ndim else 0).reshape(x.shape)


def _cum_ref(largest):
    def ref(x, dim):
        return np.take_along_axis(np.atleast_1d(x), np.atleast_1d(_cum_arg_ref(x, dim, largest)),
                                  dim if x.ndim else 0).reshape(x.shape)
    return ref


def _cum_ties_samples(rng):
    t = np.round(_u(rng, (3, 6), -2, 2))
    t[1, 3] = np.nan
    return _scan_samples(-2, 2)(rng)[:5] + [Sample([t], {"dim": 1}, "ties and nan", grad=False),
                                            Sample([np.round(_u(rng, (4, 3), -2, 2))], {"dim": 0}, "ties",
                                                   grad=False)]


register(OpInfo("cummax", lambda x, dim: fg.cummax(x, dim).values, _cum_ref(True), _cum_ties_samples,
                dim_errors("cummax")))
register(OpInfo("cummin", lambda x, dim: fg.cummin(x, dim).values, _cum_ref(False), _cum_ties_samples,
                dim_errors("cummin")))
register(OpInfo("cummax_indices", lambda x, dim: fg.cummax(x, dim).indices,
                lambda x, dim: _cum_arg_ref(x, dim, True), _cum_ties_samples, grad=False, returns_index=True))
register(OpInfo("cummin_indices", lambda x, dim: fg.cummin(x, dim).indices,
                lambda x, dim: _cum_arg_ref(x, dim, False), _cum_ties_samples, grad=False, returns_index=True))


def _lcse_ref(x, dim):
    """log(exp(acc) + exp(v)) element by element, from the larger term; inf and nan as
    PyTorch has them."""
    if not x.ndim:
        return x.astype(np.float64)
    y = np.moveaxis(x, dim, -1)
    out = np.empty(y.shape, np.float64)
    for pos in np.ndindex(y.shape[:-1]):
        acc = -math.inf
        for k, v in enumerate(y[pos].tolist()):
            if math.isnan(acc) or math.isnan(v):
                acc = math.nan
            else:
                hi, lo = max(acc, v), min(acc, v)
                acc = hi if lo == -math.inf or hi == math.inf else hi + math.log1p(math.exp(lo - hi))
            out[pos + (k,)] = acc
    return np.moveaxis(out, -1, dim)


register(OpInfo("logcumsumexp", fg.logcumsumexp, _lcse_ref, _scan_samples(-3, 3), dim_errors("logcumsumexp"),
                gradgrad=False, rtol32=1e-5, atol32=1e-5))
