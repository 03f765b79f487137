"""Registry entries of the ops of ``fastgrad.ops.extra_shape``.  Ops returning several
tensors are compared through the concatenation of their flattened results."""

import numpy as np

import fastgrad as fg
from fastgrad.testing.opinfo import ErrorInput, OpInfo, OpTable, Sample, _i, _u

OPS = OpTable()
register, _simple = OPS.register, OPS.simple


def _x(rng, *shape):
    return _u(rng, shape, -2, 2)


def _flat(ts):
    return fg.cat([fg.reshape(t, -1) for t in ts])


def _npflat(xs):
    return np.concatenate([np.asarray(x).reshape(-1) for x in xs])


def _err(who, *args, exc=RuntimeError, **kw):
    return lambda: [ErrorInput(list(args), kw, exc, who)]


_simple("swapaxes", fg.swapaxes, np.swapaxes,
        lambda rng: [Sample([_x(rng, 2, 3, 4), 0, 2]), Sample([_x(rng, 3, 4), -1, 0])],
        _err("swapaxes", np.zeros((2, 3)), 0, 3, exc=IndexError))
_simple("ravel", fg.ravel, np.ravel,
        lambda rng: [Sample([_x(rng, 2, 3, 4)]), Sample([_x(rng, 4, 3).T], desc="view"), Sample([_x(rng)])],
        _err("ravel", "x", exc=TypeError))
for _n in ("atleast_1d", "atleast_2d", "atleast_3d"):
    _simple(_n, getattr(fg, _n), getattr(np, _n),
            lambda rng: [Sample([_x(rng)], desc="0-d"), Sample([_x(rng, 3)], desc="1-d"),
                         Sample([_x(rng, 2, 3)], desc="2-d"), Sample([_x(rng, 2, 3, 2)], desc="3-d")],
            _err(_n, "x", exc=TypeError))


def _stack_samples(rng):
    return [Sample([_x(rng, 3), _x(rng, 2)], desc="1-d"), Sample([_x(rng, 2, 3), _x(rng, 2, 1)], desc="2-d")]


def _stack_samples_v(rng):
    return [Sample([_x(rng, 3), _x(rng, 3)], desc="1-d"), Sample([_x(rng, 2, 3), _x(rng, 1, 3)], desc="2-d")]


_simple("hstack", lambda *ts: fg.hstack(ts), lambda *xs: np.hstack(xs), _stack_samples,
        _err("hstack", "x", exc=TypeError))
_simple("vstack", lambda *ts: fg.vstack(ts), lambda *xs: np.vstack(xs), _stack_samples_v,
        _err("vstack", "x", exc=TypeError))
_simple("dstack", lambda *ts: fg.dstack(ts), lambda *xs: np.dstack(xs),
        lambda rng: [Sample([_x(rng, 3), _x(rng, 3)], desc="1-d"),
                     Sample([_x(rng, 2, 3), _x(rng, 2, 3)], desc="2-d")],
        _err("dstack", "x", exc=TypeError))
_simple("column_stack", lambda *ts: fg.column_stack(ts), lambda *xs: np.column_stack(xs),
        lambda rng: [Sample([_x(rng, 3), _x(rng, 3, 2)]), Sample([_x(rng), _x(rng)], desc="0-d")],
        _err("column_stack", "x", exc=TypeError))
_simple("fliplr", fg.fliplr, np.fliplr, lambda rng: [Sample([_x(rng, 3, 4)]), Sample([_x(rng, 2, 3, 2)])],
        _err("fliplr", np.zeros(3)))
_simple("flipud", fg.flipud, np.flipud, lambda rng: [Sample([_x(rng, 3, 4)]), Sample([_x(rng, 3)])],
        _err("flipud", np.zeros(())))
_simple("rot90", fg.rot90, lambda x, k=1, dims=(0, 1): np.rot90(x, k, dims),
        lambda rng: [Sample([_x(rng, 3, 4)]), Sample([_x(rng, 3, 4)], {"k": 2}),
                     Sample([_x(rng, 3, 4)], {"k": -1}), Sample([_x(rng, 2, 3, 4)], {"k": 3, "dims": (2, 0)}),
                     Sample([_x(rng, 3, 4)], {"k": 4})],
        _err("rot90", np.zeros((2, 3)), dims=(0, 0)))


def _np_diff(x, n=1, dim=-1, prepend=None, append=None):
    kw = {}
    if prepend is not None:
        kw["prepend"] = prepend
    if append is not None:
        kw["append"] = append
    return np.diff(x, n, axis=dim, **kw)


_simple("diff", fg.diff, _np_diff,
        lambda rng: [Sample([_x(rng, 3, 5)]), Sample([_x(rng, 3, 5), 2, 0]),
                     Sample([_x(rng, 6), 1, 0, _x(rng, 2), _x(rng, 1)], desc="prepend/append")],
        _err("diff", np.zeros(())))
_simple("trace", fg.trace, np.trace, lambda rng: [Sample([_x(rng, 3, 3)]), Sample([_x(rng, 2, 4)])],
        _err("trace", np.zeros(3)))
_simple("tensordot", fg.tensordot, lambda a, b, dims=2: np.tensordot(a, b, dims),
        lambda rng: [Sample([_x(rng, 2, 3, 4), _x(rng, 3, 4, 5)]),
                     Sample([_x(rng, 2, 3, 4), _x(rng, 4, 2)], {"dims": ([0, 2], [1, 0])}),
                     Sample([_x(rng, 2, 3), _x(rng, 4)], {"dims": 0})],
        _err("tensordot", np.zeros((2, 3)), np.zeros((4, 2)), dims=1))
_simple("inner", fg.inner, np.inner,
        lambda rng: [Sample([_x(rng, 2, 3), _x(rng, 4, 3)]), Sample([_x(rng, 3), _x(rng, 3)]),
                     Sample([_x(rng), _x(rng, 2)], desc="0-d")],
        _err("inner", np.zeros((2, 3)), np.zeros(4)))
_simple("kron", fg.kron, np.kron,
        lambda rng: [Sample([_x(rng, 2, 3), _x(rng, 3, 2)]), Sample([_x(rng, 2), _x(rng, 2, 3)])],
        _err("kron", "x", np.zeros(2), exc=TypeError))
_simple("cross", fg.cross, lambda a, b, dim=None: np.cross(a, b, axis=dim if dim is not None else 0),
        lambda rng: [Sample([_x(rng, 3, 4), _x(rng, 3, 4)]),
                     Sample([_x(rng, 4, 3), _x(rng, 1, 3)], {"dim": -1}, "broadcast")],
        _err("cross", np.zeros((2, 4)), np.zeros((2, 4))))
_simple("broadcast_tensors", lambda *ts: _flat(fg.broadcast_tensors(*ts)),
        lambda *xs: _npflat(np.broadcast_arrays(*xs)),
        lambda rng: [Sample([_x(rng, 3, 1), _x(rng, 4)])],
        _err("broadcast_tensors", np.zeros(2), np.zeros(3)))
_simple("tensor_split", lambda x, s, dim=0: _flat(fg.tensor_split(x, s, dim)),
        lambda x, s, dim=0: _npflat(np.array_split(x, s, dim)),
        lambda rng: [Sample([_x(rng, 7, 2), 3]), Sample([_x(rng, 2, 7), [1, 5], 1], desc="indices")],
        _err("tensor_split", np.zeros(3), 0))
for _n, _shape in (("hsplit", (2, 4)), ("vsplit", (4, 2)), ("dsplit", (2, 2, 4))):
    _simple(_n, (lambda f: lambda x, s: _flat(f(x, s)))(getattr(fg, _n)),
            (lambda f: lambda x, s: _npflat(f(x, s)))(getattr(np, _n)),
            (lambda sh: lambda rng: [Sample([_x(rng, *sh), 2]), Sample([_x(rng, *sh), [1, 3]])])(_shape),
            _err(_n, np.zeros(_shape), 3))
_simple("take", fg.take, lambda x, i: np.take(x, i),
        lambda rng: [Sample([_x(rng, 3, 4), _i(0, 11, 5, -1)]),
                     Sample([_x(rng, 3, 4), np.array([[1, 2], [2, 3]])], desc="2-d index")],
        _err("take", np.zeros(3), _i(3), exc=IndexError))
register(OpInfo("isin", fg.isin, lambda a, b, invert=False: np.isin(a, b, invert=invert),
                lambda rng: [Sample([np.array([1.0, 2.0, 3.0, 2.5]), np.array([2.0, 3.0])]),
                             Sample([np.array([1.0, 2.0]), np.array([2.0])], {"invert": True})],
                _err("isin", 1, 2, exc=TypeError), grad=False, keeps_dtype=False, extreme=False))
register(OpInfo("bucketize", fg.bucketize,
                lambda x, b, right=False: np.searchsorted(b, x, "right" if right else "left"),
                lambda rng: [Sample([_x(rng, 3, 4), np.array([-1.0, 0.0, 1.0])]),
                             Sample([np.array([-1.0, 0.5, 1.0]), np.array([-1.0, 0.0, 1.0])], {"right": True})],
                _err("bucketize", np.zeros(3), np.zeros((2, 2))), grad=False, returns_index=True,
                extreme=False))


def _nan_x(rng):
    x = _x(rng, 3, 4)
    x[0, 1] = x[2, 2] = np.nan
    return x


_simple("nansum", fg.nansum, lambda x, dim=None, keepdim=False: np.nansum(x, axis=dim, keepdims=keepdim),
        lambda rng: [Sample([_x(rng, 3, 4)]), Sample([_nan_x(rng)], {"dim": 1}, "nan", grad=False),
                     Sample([_x(rng, 3, 4)], {"dim": 0, "keepdim": True})],
        _err("nansum", "x", exc=TypeError))
_simple("nanmean", fg.nanmean, lambda x, dim=None, keepdim=False: np.nanmean(x, axis=dim, keepdims=keepdim),
        lambda rng: [Sample([_x(rng, 3, 4)]), Sample([_nan_x(rng)], {"dim": 1}, "nan", grad=False),
                     Sample([_x(rng, 3, 4)], {"dim": 0, "keepdim": True})],
        _err("nanmean", np.zeros(3, dtype=np.int64)))
register(OpInfo("count_nonzero", fg.count_nonzero,
                lambda x, dim=None: np.asarray(np.count_nonzero(x, axis=dim)),
                lambda rng: [Sample([np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 3.0]])]),
                             Sample([np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 3.0]])], {"dim": 1})],
                _err("count_nonzero", np.zeros(3), exc=IndexError, dim=2), grad=False, returns_index=True,
                extreme=False))
_simple("aminmax", lambda x, **kw: fg.stack(list(fg.aminmax(x, **kw))),
        lambda x, dim=None, keepdim=False: np.stack([np.amin(x, axis=dim, keepdims=keepdim),
                                                     np.amax(x, axis=dim, keepdims=keepdim)]),
        lambda rng: [Sample([_x(rng, 3, 4)]), Sample([_x(rng, 3, 4)], {"dim": 1}),
                     Sample([_x(rng, 3, 4)], {"dim": 0, "keepdim": True})],
        _err("aminmax", "x", exc=TypeError))
_simple("diagflat", fg.diagflat, lambda x, offset=0: np.diagflat(x, offset),
        lambda rng: [Sample([_x(rng, 3)]), Sample([_x(rng, 2, 2)], {"offset": 1}),
                     Sample([_x(rng, 3)], {"offset": -2})],
        _err("diagflat", "x", exc=TypeError))
_simple("cartesian_prod", fg.cartesian_prod,
        lambda *xs: np.stack([g.reshape(-1) for g in np.meshgrid(*xs, indexing="ij")], 1) if len(xs) > 1 else xs[0],
        lambda rng: [Sample([_x(rng, 3), _x(rng, 2)]), Sample([_x(rng, 2), _x(rng, 2), _x(rng, 3)]),
                     Sample([_x(rng, 3)], desc="one")],
        _err("cartesian_prod", np.zeros((2, 2))))
