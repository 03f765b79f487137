"""Registry entries of indexing and scatter: index_select, gather, scatter, take_along_dim,
masked_fill, one_hot, getitem and setitem."""

import numpy as np

import fastgrad as fg
from fastgrad import reference as R
from fastgrad.nn import functional as F
from fastgrad.testing.opinfo import ErrorInput, OpTable, Sample, _i, _u

OPS = OpTable()
_simple = OPS.simple


def _x(rng, *shape):
    return _u(rng, shape, -2, 2)


def _blk(a, shape):
    return a[tuple(slice(0, s) for s in shape)]


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


_simple("index_select", lambda x, idx, dim: fg.index_select(x, dim, idx),
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


_simple("gather", lambda x, idx, dim: fg.gather(x, dim, idx),
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


_simple("scatter_add", lambda x, idx, src, dim: fg.scatter_add(x, dim, idx, src),
        lambda x, idx, src, dim: _np_scatter(x, idx, src, dim), _scatter_samples(True),
        _scatter_errors("scatter_add"))
_simple("scatter", lambda x, idx, src, dim: fg.scatter(x, dim, idx, src),
        lambda x, idx, src, dim: _np_scatter(x, idx, src, dim, False), _scatter_samples(False),
        _scatter_errors("scatter"))
_simple("scatter_value", lambda x, idx, dim, value: fg.scatter(x, dim, idx, value=value),
        lambda x, idx, dim, value: _np_scatter(x, idx, np.full(idx.shape, value), dim, False),
        lambda rng: [Sample([_x(rng, 3, 4), _i(0, 3, 2, 2, 1, 0).reshape(3, 2)], {"dim": 1, "value": 2.5})])


def _np_take_along(x, idx, dim=None):
    if dim is None:
        return np.take_along_axis(x.reshape(-1), idx.reshape(-1), 0)
    return np.take_along_axis(x, idx, dim)


_simple("take_along_dim", fg.take_along_dim, _np_take_along,
        lambda rng: [Sample([_x(rng, 3, 4), _gather_1d_idx(4)], {"dim": 1}, "repeats"),
                     Sample([_x(rng, 3, 1), _i(0, 0, 0, 0).reshape(1, 4)], {"dim": 0}, "broadcast"),
                     Sample([_x(rng, 3, 4), _i(11, 0, 11)], {}, "flattened"),
                     Sample([_x(rng, 2, 3, 4), _rand_idx(rng, 4, (2, 1, 6))], {"dim": -1},
                            "3-d broadcast")],
        lambda: [ErrorInput([np.zeros((3, 4)), _i(0, 5).reshape(1, 2)], {"dim": 1}, IndexError,
                            r"take_along_dim: index 5 is out of bounds for dimension 1 with size 4"),
                 ErrorInput([np.zeros((3, 4)), np.zeros((2, 2), np.int64)], {"dim": 1}, ValueError,
                            r"take_along_dim: input shape \(3, 4\) and indices shape \(2, 2\) cannot be broadcast")])
_simple("masked_fill", fg.masked_fill, lambda x, mask, value: np.where(mask, value, x),
        lambda rng: [Sample([_x(rng, 3, 4), rng.random((3, 4)) > 0.5], {"value": -1.5}),
                     Sample([_x(rng, 3, 4), rng.random((4,)) > 0.5], {"value": 2.0}, "broadcast mask"),
                     Sample([_x(rng, 4, 3).T, rng.random((3, 4)) > 0.5], {"value": 0.0}, "view"),
                     Sample([_x(rng), np.array(True)], {"value": 1.0}, "0-d")],
        lambda: [ErrorInput([np.zeros((3, 4)), np.zeros((3, 4))], {"value": 1.0}, TypeError,
                            "masked_fill: mask must be a bool tensor"),
                 ErrorInput([np.zeros((3, 4)), np.zeros((2, 4), bool)], {"value": 1.0}, ValueError,
                            r"masked_fill: mask shape \(2, 4\) cannot be broadcast")])
def _emb_samples(rng):
    return [Sample([_i(0, 2, 0, 5), _x(rng, 6, 3)], {}, "repeated indices"),
            Sample([_i(1, 4, 4, 0, 2, 1).reshape(2, 3), _x(rng, 5, 2)], {}, "2-d indices"),
            Sample([_i(1, 0), _x(rng, 3, 4).T], {}, "view weight"),
            Sample([np.zeros(0, np.int64), _x(rng, 4, 3)], {}, "no indices"),
            # the padding row is read but gets no gradient: forward only
            Sample([_i(0, 1, 2, 1), _x(rng, 3, 2)], {"padding_idx": 1}, "padding_idx", grad=False),
            Sample([_rand_idx(rng, 1000, 500), _x(rng, 1000, 64)], {}, "large", grad=False)]


_simple("embedding", F.embedding, lambda idx, w, padding_idx=None: w[idx], _emb_samples,
        lambda: [ErrorInput([np.array([0.0, 1.0]), np.zeros((3, 2))], {}, TypeError,
                            "embedding: indices must be integers"),
                 ErrorInput([_i(0, 3), np.zeros((3, 2))], {}, IndexError,
                            "embedding: index 3 is out of range for 3 embeddings"),
                 ErrorInput([_i(0), np.zeros((3, 2, 2))], {}, ValueError, "embedding: weight must be 2-D"),
                 ErrorInput([_i(0), np.zeros((3, 2))], {"padding_idx": 3}, ValueError,
                            r"embedding: padding_idx 3 must be within \[-3, 3\)")])
_simple("one_hot", fg.one_hot, lambda t, num_classes=-1: np.eye(
            num_classes if num_classes != -1 else t.max() + 1, dtype=np.int64)[t],
        lambda rng: [Sample([_i(0, 2, 1, 2)]), Sample([_i(1, 0, 3, 3, 2, 0).reshape(2, 3)], {"num_classes": 5}),
                     Sample([_i(3)], {"num_classes": 4}, "0-d"),
                     Sample([np.zeros(0, np.int64)], {"num_classes": 3}, "empty")],
        lambda: [ErrorInput([_i(0, 3)], {"num_classes": 3}, ValueError,
                            r"one_hot: class value 3 is out of range for num_classes=3"),
                 ErrorInput([_i(-1, 0)], {}, ValueError, "one_hot: class values must be non-negative"),
                 ErrorInput([np.zeros(2)], {}, TypeError, "one_hot: expected an int64 tensor")],
        grad=False, returns_index=True)


def _setitem_op(x, v, idx):
    y = fg.mul(x, 1.0)
    y[idx] = v
    return fg.mul(y, x)


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


_simple("getitem", fg.getitem, _np_getitem,
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


# ---- scatter_reduce, nonzero, argwhere, masked_select ---------------------------------------
def _np_scatter_reduce(x, idx, src, dim, reduce, include_self=True):
    """Element by element: the values written to each position, then their reduction."""
    d = dim % x.ndim
    groups = {}
    for pos in np.ndindex(idx.shape):
        tgt = pos[:d] + (int(idx[pos]),) + pos[d + 1:]
        groups.setdefault(tgt, []).append(src[pos])
    out = x.copy()
    fn = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "amax": np.max, "amin": np.min}[reduce]
    if reduce == "mean" and x.dtype.kind in "iu":
        fn = lambda v: np.sum(v) // len(v)      # noqa: E731 - PyTorch floors an integer mean
    for tgt, vals in groups.items():
        out[tgt] = fn(([x[tgt]] if include_self else []) + vals)
    return out


def _scatter_reduce_samples(rng):
    out = []
    for s in _scatter_samples(True)(rng)[:4]:
        for inc in (True, False):
            out.append(Sample(s.args, dict(s.kwargs, include_self=inc), f"{s.desc} include_self={inc}"))
    z = _x(rng, 3, 3)
    z[0, 0] = z[1, 1] = z[1, 2] = 0.0
    out.append(Sample([_x(rng, 3, 4), np.array([[0, 0, 3], [1, 1, 1], [2, 0, 2]], np.int64), z], {"dim": 1},
                      "zeros in src"))
    out.append(Sample([_x(rng, 60, 50), _rand_idx(rng, 50, (60, 50)), _x(rng, 60, 50)], {"dim": 1},
                      "large", grad=False))
    return out


for _red in ("sum", "prod", "mean", "amax", "amin"):
    _simple(f"scatter_reduce_{_red}",
            lambda x, idx, src, dim, _r=_red, **kw: fg.scatter_reduce(x, dim, idx, src, _r, **kw),
            lambda x, idx, src, dim, _r=_red, **kw: _np_scatter_reduce(x, idx, src, dim, _r, **kw),
            _scatter_reduce_samples, covers=("scatter_reduce",))
OPS[-1].errors = lambda: [
    ErrorInput([np.zeros((3, 4)), _i(0, 7).reshape(1, 2), np.zeros((1, 2)), 1], {}, IndexError,
               r"scatter_reduce: index 7 is out of bounds for dimension 1 with size 4"),
    ErrorInput([np.zeros((3, 4)), _i(0, 1).reshape(1, 2), np.zeros((1, 2)), 1], {"_r": "max"}, ValueError,
               r"scatter_reduce: reduce must be one of")]


def _nz_samples(rng):
    return [Sample([np.round(_x(rng, 3, 4))], desc="2-d"), Sample([np.array(2.0)], desc="0-d nonzero"),
            Sample([np.array(0.0)], desc="0-d zero"), Sample([np.zeros((2, 0))], desc="zero-size"),
            Sample([rng.random((2, 3, 4)) > 0.5], desc="bool 3-d")]


_simple("nonzero", fg.nonzero, lambda x: np.argwhere(x), _nz_samples, grad=False, returns_index=True)
_simple("nonzero_as_tuple", lambda x: fg.stack(list(fg.nonzero(x, as_tuple=True))),
        lambda x: np.stack(np.nonzero(np.atleast_1d(x))), _nz_samples, grad=False, returns_index=True,
        covers=("nonzero",))
_simple("argwhere", fg.argwhere, lambda x: np.argwhere(x), _nz_samples, grad=False, returns_index=True)


def _msel_samples(rng):
    return [Sample([_x(rng, 3, 4), rng.random((3, 4)) > 0.5]),
            Sample([_x(rng, 3, 4), rng.random((4,)) > 0.5], desc="mask broadcast"),
            Sample([_x(rng, 4, 1), rng.random((2, 4, 3)) > 0.5], desc="both broadcast"),
            Sample([_x(rng, 4, 3).T, rng.random((3, 4)) > 0.5], desc="view"),
            Sample([_x(rng), np.array(True)], desc="0-d"),
            Sample([np.zeros((0, 3)), np.zeros((0, 3), bool)], desc="empty")]


_simple("masked_select", fg.masked_select, lambda x, m: np.broadcast_to(x, np.broadcast_shapes(x.shape, m.shape))[
            np.broadcast_to(m, np.broadcast_shapes(x.shape, m.shape))], _msel_samples,
        lambda: [ErrorInput([np.zeros((2, 3)), np.zeros(3)], {}, TypeError, "masked_select: mask must be a bool"),
                 ErrorInput([np.zeros((2, 3)), np.zeros(4, bool)], {}, ValueError,
                            r"masked_select: mask shape \(4,\) and input shape \(2, 3\) cannot be broadcast")])
