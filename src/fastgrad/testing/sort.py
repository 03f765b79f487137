"""Registry entries of sort, argsort and topk."""

import numpy as np

import fastgrad as fg
from fastgrad.testing.opinfo import ErrorInput, OpInfo, OpTable, Sample

OPS = OpTable()
register = OPS.register


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


register(OpInfo("sort", lambda x, dim=-1, descending=False: fg.sort(x, dim, descending).values, _np_sort,
                _sort_samples(True),
                lambda: [ErrorInput([np.zeros((2, 3))], {"dim": 2}, IndexError, r"sort: dimension 2 is out of range")]))
register(OpInfo("sort_indices", lambda x, dim=-1, descending=False: fg.sort(x, dim, descending).indices,
                lambda x, dim=-1, descending=False: _np_sort_idx(x, dim, descending) if x.ndim else np.array(0),
                _sort_samples(True), grad=False, returns_index=True))
register(OpInfo("argsort", fg.argsort,
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


register(OpInfo("topk", lambda x, k, dim=-1, largest=True: fg.topk(x, k, dim, largest).values,
                lambda x, k, dim=-1, largest=True: np.take_along_axis(x, _np_topk_idx(x, k, dim, largest), dim),
                _topk_samples,
                lambda: [ErrorInput([np.zeros((2, 3))], {"k": 4}, IndexError,
                                    r"topk: k=4 is out of range for dimension 1 of size 3"),
                         ErrorInput([np.zeros((2, 3))], {"k": 1.5}, TypeError, r"topk: k must be an int")]))
register(OpInfo("topk_indices", lambda x, k, dim=-1, largest=True: fg.topk(x, k, dim, largest).indices,
                _np_topk_idx, _topk_samples, grad=False, returns_index=True))
