"""Registry entries of ``median``, ``unique`` and ``unique_consecutive``."""

import numpy as np

import fastgrad as fg
from fastgrad.testing.opinfo import ErrorInput, OpInfo, OpTable, Sample, _u

OPS = OpTable()
register, _simple = OPS.register, OPS.simple


def _distinct(rng, *shape):
    n = int(np.prod(shape))
    return (rng.permutation(n) / n * 4 - 2 + _u(rng, (n,), 0, 0.001)).reshape(shape)


def _np_lower_median(x, dim=None, keepdim=False):
    if dim is None:
        return np.sort(x.reshape(-1))[(x.size - 1) // 2]
    s = np.take(np.sort(x, axis=dim), [(x.shape[dim] - 1) // 2], axis=dim)
    return s if keepdim else np.squeeze(s, dim)


_simple("median", lambda x, **kw: fg.median(x, **kw) if "dim" not in kw else fg.median(x, **kw).values,
        _np_lower_median,
        lambda rng: [Sample([_distinct(rng, 3, 4)], desc="all, even count"),
                     Sample([_distinct(rng, 3, 5)], desc="all, odd count"),
                     Sample([_distinct(rng, 3, 4)], {"dim": 1}),
                     Sample([_distinct(rng, 4, 3)], {"dim": 0, "keepdim": True})],
        lambda: [ErrorInput([np.zeros((2, 3))], {"dim": 2}, IndexError, "median")])


def _ties(rng):
    return [Sample([rng.integers(0, 4, (3, 5)).astype(np.float64)], desc="ties"),
            Sample([np.repeat(rng.integers(0, 3, 6), 2).astype(np.float64)], desc="runs")]


register(OpInfo("unique", fg.unique, lambda x: np.unique(x), _ties,
                lambda: [ErrorInput([np.zeros((2, 3))], {"dim": 3}, IndexError, "unique")],
                grad=False, extreme=False))


def _np_unique_consecutive(x):
    f = x.reshape(-1)
    keep = np.ones(f.shape, bool)
    keep[1:] = f[1:] != f[:-1]
    return f[keep]


register(OpInfo("unique_consecutive", fg.unique_consecutive, _np_unique_consecutive, _ties,
                lambda: [ErrorInput([np.zeros((2, 3))], {"dim": 3}, IndexError, "unique_consecutive")],
                grad=False, extreme=False))
