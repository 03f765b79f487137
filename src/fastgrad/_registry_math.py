"""Registry entries for the ops of fastgrad._ops_math (issue 3B).  Imported at the end of
fastgrad._registry, which merges them into REGISTRY, so every generic test (forward vs
reference on every dtype/thread/SIMD path, NumPy backend, gradcheck, gradgradcheck,
fused-vs-composite backward, error inputs) covers them.

References are written in NumPy on float64 (never with fastgrad code)."""
import math

import numpy as np

import fastgrad as M
from fastgrad._registry import ErrorInput, OpInfo, Sample, _u, _unary_errors, binary_samples, register, \
    unary_samples, _binary_errors, _np_dims


def _unary(name, op, ref, lo=-3.0, hi=3.0, away=0.0, gradgrad=True, **kw):
    register(OpInfo(name, op, ref, unary_samples(lo, hi, away, **kw), _unary_errors(name, kw),
                    gradgrad=gradgrad, unary_kernel=name, domain=(lo, hi)))


def _sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


# ---- elementwise unary -----------------------------------------------------------------------
_unary("exp2", M.exp2, np.exp2, -10, 10)
_unary("log2", M.log2, np.log2, 0.05, 5)
_unary("log10", M.log10, np.log10, 0.05, 5)
_unary("expm1", M.expm1, np.expm1, -5, 5)
_unary("tan", M.tan, np.tan, -1.4, 1.4)
_unary("asin", M.asin, np.arcsin, -0.95, 0.95)
_unary("acos", M.acos, np.arccos, -0.95, 0.95)
_unary("atan", M.atan, np.arctan, -5, 5)
_unary("sinh", M.sinh, np.sinh, -5, 5)
_unary("cosh", M.cosh, np.cosh, -5, 5)
_unary("floor", M.floor, np.floor, -4, 4)
_unary("ceil", M.ceil, np.ceil, -4, 4)
_unary("trunc", M.trunc, np.trunc, -4, 4)
_unary("round", M.round, np.rint, -4, 4)
_unary("hardtanh", M.hardtanh, lambda x, min_val=-1.0, max_val=1.0: np.minimum(np.maximum(x, min_val), max_val),
       -3, 3, min_val=-1.0, max_val=0.5)
_unary("relu6", M.relu6, lambda x: np.minimum(np.maximum(x, 0), 6), -3, 9)
_unary("elu", M.elu, lambda x, alpha=1.0: np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1)),
       -4, 3, away=0.05, alpha=0.7)
_unary("selu", M.selu,
       lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * (np.exp(np.minimum(x, 0)) - 1)),
       -4, 3, away=0.05)
_unary("mish", M.mish, lambda x: x * np.tanh(np.logaddexp(0, x)), -6, 6)
_unary("hardswish", M.hardswish, lambda x: x * np.minimum(np.maximum(x + 3, 0), 6) / 6, -5, 5)
_unary("hardsigmoid", M.hardsigmoid, lambda x: np.minimum(np.maximum(x + 3, 0), 6) / 6, -5, 5)
_unary("logit", M.logit, lambda x: np.log(x) - np.log1p(-x), 0.03, 0.97)
register(OpInfo("logit_eps", lambda x, eps: M.logit(x, eps),
                lambda x, eps: np.log(np.clip(x, eps, 1 - eps)) - np.log1p(-np.clip(x, eps, 1 - eps)),
                unary_samples(0.01, 0.99, eps=0.1),
                lambda: [ErrorInput([np.full(3, 0.5)], {"eps": 0.7}, ValueError, r"logit: eps must be in \[0, 0.5\]")]))
register(OpInfo("round_decimals", lambda x, decimals: M.round(x, decimals=decimals),
                # integers round to 0 beyond 10**19; NumPy's own np.round overflows there
                lambda x, decimals: np.round(x, max(decimals, -30) if x.dtype.kind in "iu" else decimals),
                unary_samples(-4, 4, decimals=2),
                rtol32=1e-6, atol32=1e-6))


# ---- elementwise binary ----------------------------------------------------------------------
def _np_remainder(a, b):
    r = np.fmod(a, b)
    return np.where((r != 0) & ((r < 0) != (b < 0)), r + b, r)


register(OpInfo("atan2", M.atan2, np.arctan2, binary_samples(away=0.1), _binary_errors("atan2")))
register(OpInfo("fmod", M.fmod, np.fmod, binary_samples(lo=-5, hi=5, blo=0.4, bhi=2.0), _binary_errors("fmod")))
register(OpInfo("remainder", M.remainder, _np_remainder, binary_samples(lo=-5, hi=5, blo=0.4, bhi=2.0),
                _binary_errors("remainder")))
register(OpInfo("remainder_negative_divisor", M.remainder, _np_remainder,
                binary_samples(lo=-5, hi=5, blo=-2.0, bhi=-0.4), _binary_errors("remainder")))


# ---- scans and reductions --------------------------------------------------------------------
def _dim_errors(op, **kw):
    def errors():
        return [ErrorInput([np.zeros((2, 3))], dict(kw, dim=2), IndexError, rf"{op}: dimension 2 is out of range")]
    return errors


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


register(OpInfo("cumsum", M.cumsum, lambda x, dim: np.cumsum(x, axis=dim) if x.ndim else x,
                _scan_samples(-2, 2), _dim_errors("cumsum"), rtol32=1e-5, atol32=1e-5))
register(OpInfo("cumprod", M.cumprod, lambda x, dim: np.cumprod(x, axis=dim) if x.ndim else x,
                _scan_samples(0.9, 1.1, zeros=True), _dim_errors("cumprod"), rtol32=1e-5, atol32=1e-6))


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


register(OpInfo("prod", M.prod,
                lambda x, dim=None, keepdim=False: np.prod(x, axis=dim, keepdims=keepdim) if dim is not None
                else np.prod(x),
                _prod_samples, _dim_errors("prod"), rtol32=1e-5))


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


register(OpInfo("amax", M.amax, lambda x, dim=None, keepdim=False: np.max(x, axis=_np_dims(dim), keepdims=keepdim),
                _ties_samples, _amax_errors("amax")))
register(OpInfo("amin", M.amin, lambda x, dim=None, keepdim=False: np.min(x, axis=_np_dims(dim), keepdims=keepdim),
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


register(OpInfo("all", M.all, lambda x, dim=None, keepdim=False: np.all(x != 0, axis=dim, keepdims=keepdim),
                _allany_samples, _dim_errors("all"), grad=False, keeps_dtype=False, extreme=False))
register(OpInfo("any", M.any, lambda x, dim=None, keepdim=False: np.any(x != 0, axis=dim, keepdims=keepdim),
                _allany_samples, _dim_errors("any"), grad=False, keeps_dtype=False, extreme=False))


def _np_norm(x, p="fro", dim=None, keepdim=False):
    a = np.abs(x)
    ax = _np_dims(dim)
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
            Sample([_u(rng, (), -2, 2, away=0.1)], {}, "0-d"),
            Sample([np.zeros((0, 3))], {"dim": 0}, "zero-size"),
            Sample([x], {"p": 0, "dim": 1}, "p=0 (count)", grad=False),
            Sample([np.array([3e20, -4e20, 1e19])], {}, "no overflow in the squares", grad=False),
            Sample([_u(rng, (300, 200), -2, 2)], {"dim": 1}, "large", grad=False)]


register(OpInfo("norm", M.norm, _np_norm, _norm_samples,
                lambda: [ErrorInput([np.ones(3)], {"p": "nuc"}, ValueError, r"norm: p='nuc' is not supported"),
                         ErrorInput([np.ones(3)], {"p": -2}, ValueError, r"norm: p=-2 is not supported"),
                         ErrorInput([np.ones((2, 3))], {"dim": 2}, IndexError, r"norm: dimension 2 is out of range")],
                rtol32=1e-5))


# ---- sort / topk -------------------------------------------------------------------------------
def _np_sort_idx(x, dim=-1, descending=False):
    if not descending:
        return np.argsort(x, axis=dim, kind="stable")
    n = x.shape[dim]
    return n - 1 - np.flip(np.argsort(np.flip(x, dim), axis=dim, kind="stable"), dim)


def _np_sort(x, dim=-1, descending=False):
    if x.ndim == 0:
        return x
    return np.take_along_axis(x, _np_sort_idx(x, dim, descending), dim)


def _distinct(rng, *shape):
    n = int(np.prod(shape))
    return rng.permutation(n).reshape(shape) / 3.0 - n / 6.0


def _sort_samples(with_ties):
    def samples(rng):
        out = [Sample([_distinct(rng, 3, 5)], {}, "last dim"),
               Sample([_distinct(rng, 3, 4)], {"dim": 0, "descending": True}, "dim 0 descending"),
               Sample([_distinct(rng, 4, 3).T], {"dim": 1}, "view"),
               Sample([np.array(2.5)], {}, "0-d"),
               Sample([np.zeros((2, 0))], {}, "zero-size"),
               # values exact in float32 too (the index order must not depend on the dtype)
               Sample([rng.integers(-999, 999, (200, 300)) / 8.0], {"dim": 1, "descending": True}, "large",
                      grad=False),
               Sample([rng.integers(-999, 999, (200, 300)) / 8.0], {"dim": 0}, "large dim 0", grad=False),
               Sample([rng.integers(-99999, 99999, 20000) / 8.0], {}, "long line", grad=False)]
        if with_ties:
            t = rng.integers(0, 4, (5, 40)).astype(np.float64)
            t[0, [3, 7]] = np.nan
            t[1, 5] = -0.0
            out += [Sample([t], {"dim": 1}, "ties, nan, -0", grad=False),
                    Sample([t], {"dim": 1, "descending": True}, "ties descending", grad=False),
                    Sample([t.T.copy()], {"dim": 0, "descending": True}, "ties dim 0", grad=False)]
        return out
    return samples


register(OpInfo("sort", lambda x, dim=-1, descending=False: M.sort(x, dim, descending).values, _np_sort,
                _sort_samples(True),
                lambda: [ErrorInput([np.zeros((2, 3))], {"dim": 2}, IndexError, r"sort: dimension 2 is out of range")]))
register(OpInfo("sort_indices", lambda x, dim=-1, descending=False: M.sort(x, dim, descending).indices,
                lambda x, dim=-1, descending=False: _np_sort_idx(x, dim, descending) if x.ndim else np.array(0),
                _sort_samples(True), grad=False, returns_index=True))
register(OpInfo("argsort", M.argsort,
                lambda x, dim=-1, descending=False: _np_sort_idx(x, dim, descending) if x.ndim else np.array(0),
                _sort_samples(True), grad=False, returns_index=True))


def _np_topk_idx(x, k, dim=-1, largest=True):
    idx = _np_sort_idx(x, dim, largest)
    return np.take(idx, np.arange(k), axis=dim)


def _topk_samples(rng):
    t = rng.integers(0, 3, (4, 30)).astype(np.float64)
    return [Sample([_distinct(rng, 3, 6)], {"k": 2}, "k=2"),
            Sample([_distinct(rng, 5, 3)], {"k": 3, "dim": 0, "largest": False}, "smallest dim 0"),
            Sample([_distinct(rng, 4, 3).T], {"k": 1}, "view"),
            Sample([_distinct(rng, 2, 4)], {"k": 0}, "k=0"),
            Sample([t], {"k": 7}, "ties", grad=False),
            Sample([rng.integers(-999, 999, (200, 300)) / 8.0], {"k": 10, "dim": 1}, "large", grad=False)]


register(OpInfo("topk", lambda x, k, dim=-1, largest=True: M.topk(x, k, dim, largest).values,
                lambda x, k, dim=-1, largest=True: np.take_along_axis(x, _np_topk_idx(x, k, dim, largest), dim),
                _topk_samples,
                lambda: [ErrorInput([np.zeros((2, 3))], {"k": 4}, IndexError, r"topk: k=4 is out of range for dimension 1 of size 3"),
                         ErrorInput([np.zeros((2, 3))], {"k": 1.5}, TypeError, r"topk: k must be an int")]))
register(OpInfo("topk_indices", lambda x, k, dim=-1, largest=True: M.topk(x, k, dim, largest).indices,
                _np_topk_idx, _topk_samples, grad=False, returns_index=True))


# ---- products --------------------------------------------------------------------------------
def _m(rng, *shape):
    return _u(rng, shape, -1, 1)


register(OpInfo("dot", M.dot, np.dot,
                lambda rng: [Sample([_m(rng, 5), _m(rng, 5)]), Sample([_m(rng, 8)[::2], _m(rng, 4)], {}, "strided"),
                             Sample([np.zeros(0), np.zeros(0)], {}, "empty"),
                             Sample([_m(rng, 100000), _m(rng, 100000)], {}, "large", grad=False)],
                lambda: [ErrorInput([np.zeros((2, 3)), np.zeros(3)], {}, ValueError, r"dot: 1D tensors expected, but got 2D and 1D"),
                         ErrorInput([np.zeros(3), np.zeros(4)], {}, ValueError, r"dot: inconsistent tensor size")],
                rtol32=1e-4, atol32=1e-5))
register(OpInfo("outer", M.outer, np.outer,
                lambda rng: [Sample([_m(rng, 4), _m(rng, 3)]), Sample([_m(rng, 6)[::-2], _m(rng, 2)], {}, "view"),
                             Sample([np.zeros(0), _m(rng, 3)], {}, "empty"),
                             Sample([_m(rng, 500), _m(rng, 400)], {}, "large", grad=False)],
                lambda: [ErrorInput([np.zeros((2, 3)), np.zeros(3)], {}, ValueError, r"outer: 1D tensors expected")]))
register(OpInfo("bmm", M.bmm, np.matmul,
                lambda rng: [Sample([_m(rng, 2, 3, 4), _m(rng, 2, 4, 2)]),
                             Sample([_m(rng, 2, 4, 3).transpose(0, 2, 1), _m(rng, 2, 4, 2)], {}, "transposed"),
                             Sample([_m(rng, 0, 3, 4), _m(rng, 0, 4, 2)], {}, "empty batch"),
                             Sample([_m(rng, 8, 64, 96), _m(rng, 8, 96, 32)], {}, "large", grad=False)],
                lambda: [ErrorInput([np.zeros((2, 3, 4)), np.zeros((3, 4, 2))], {}, ValueError,
                                    r"bmm: cannot multiply batches of shapes \(2, 3, 4\) and \(3, 4, 2\)"),
                         ErrorInput([np.zeros((3, 4)), np.zeros((4, 2))], {}, ValueError, r"bmm: expected 3-D tensors")],
                rtol32=1e-4, atol32=1e-5))
register(OpInfo("addmm", M.addmm,
                lambda inp, m1, m2, beta=1, alpha=1: (beta * inp if beta != 0 else 0) + alpha * (m1 @ m2),
                lambda rng: [Sample([_m(rng, 3, 2), _m(rng, 3, 4), _m(rng, 4, 2)]),
                             Sample([_m(rng, 2), _m(rng, 3, 4), _m(rng, 4, 2)], {"beta": 0.5, "alpha": -2.0}, "broadcast bias"),
                             Sample([np.full((3, 2), np.nan), _m(rng, 3, 4), _m(rng, 4, 2)], {"beta": 0}, "beta=0 ignores nan",
                                    grad=False),
                             Sample([_m(rng, 64), _m(rng, 128, 96), _m(rng, 96, 64)], {}, "large", grad=False)],
                lambda: [ErrorInput([np.zeros((3, 2)), np.zeros((3, 4)), np.zeros((5, 2))], {}, ValueError,
                                    r"addmm: cannot multiply shapes \(3, 4\) and \(5, 2\)"),
                         ErrorInput([np.zeros((4, 2)), np.zeros((3, 4)), np.zeros((4, 2))], {}, ValueError,
                                    r"addmm: input of shape \(4, 2\) cannot be broadcast")],
                rtol32=1e-4, atol32=1e-5))

EINSUM_CASES = [
    ("ij,jk->ik", [(3, 4), (4, 2)], "matmul"),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)], "batched"),
    ("ij,kj->ik", [(3, 4), (2, 4)], "transposed (a @ b.T)"),
    ("i,j->ij", [(3,), (4,)], "outer"),
    ("ii->", [(4, 4)], "trace"),
    ("ii->i", [(3, 3)], "diagonal"),
    ("ij->j", [(3, 4)], "sum over an index"),
    ("ij->ji", [(3, 4)], "transpose"),
    ("i,i->", [(5,), (5,)], "dot"),
    ("bi,bi->b", [(3, 4), (3, 4)], "batched dot"),
    ("...ij,...jk->...ik", [(2, 3, 4), (4, 2)], "ellipsis broadcast"),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)], "chain of three"),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)], "attention scores"),
    ("iij,jk", [(3, 3, 2), (2, 4)], "implicit output, diagonal then contraction"),
    ("ij,ij->ij", [(3, 4), (1, 4)], "elementwise, size-1 broadcast"),
]


def _einsum_samples(rng):
    out = [Sample([eq] + [_m(rng, *s) for s in shapes], {}, desc) for eq, shapes, desc in EINSUM_CASES]
    out.append(Sample(["ij,jk->ik", _m(rng, 4, 3).T, _m(rng, 4, 5)[:, ::2]], {}, "views"))
    out.append(Sample(["bij,bkj->bik", _m(rng, 4, 64, 48), _m(rng, 4, 32, 48)], {}, "large", grad=False))
    return out


register(OpInfo("einsum", M.einsum, np.einsum, _einsum_samples,
                lambda: [ErrorInput(["ij,jk->ik", np.zeros((2, 3)), np.zeros((4, 2))], {}, ValueError,
                                    r"einsum: subscript 'j' has size 4 for operand 1 but size 3"),
                         ErrorInput(["ij->ik", np.zeros((2, 3))], {}, ValueError, r"einsum: output subscript 'k' does not appear"),
                         ErrorInput(["ijk->i", np.zeros((2, 3))], {}, ValueError, r"einsum: operand 0 has 2 dimensions"),
                         ErrorInput(["ij,jk", np.zeros((2, 3))], {}, ValueError, r"einsum: equation 'ij,jk' names 2 operands"),
                         ErrorInput(["i1->i", np.zeros(3)], {}, ValueError, r"einsum: invalid subscripts")],
                rtol32=1e-4, atol32=1e-5))
