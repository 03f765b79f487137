"""max/min along a dim (values and indices), argmax/argmin, cumsum/cumprod, prod,
sort/argsort and topk inside compiled training steps: recorded as plan steps, each
compiled == eager bit for bit over several steps, float32 and float64; an index result
that varies with the data (argmax of the batch) follows each call's input."""
import functools

import numpy as np
import pytest

import fastgrad as fg
from fastgrad.nn import functional as F

from test_compile_index import check_pair

strict_compile = functools.partial(fg.compile, fallback="error")
DT = [np.float32, np.float64]


RANK_W = {np.dtype(d): fg.tensor(np.array([3.0, 2.0, 1.0], d)) for d in DT}


def _argmax_pick(m, x, y):
    out = m(x)
    return fg.gather(out, 1, out.argmax(1, keepdim=True)).sum() + F.cross_entropy(out, y)


def _argsort_gather(m, x, y):
    out = m(x)
    return (fg.gather(out, 1, out.argsort(1)) * RANK_W[out._data.dtype]).sum()


def _sorted_weighted(m, x, y):
    out = m(x)
    return (out.sort(1, descending=True).values * RANK_W[out._data.dtype]).sum()


CASES = {
    "max_dim": lambda m, x, y: m(x).max(1).values.mean(),
    "min_dim": lambda m, x, y: m(x).min(dim=1)[0].sum(),
    "max_keepdim": lambda m, x, y: (m(x) - m(x).max(1, keepdim=True).values).exp().mean(),
    "argmax": _argmax_pick,
    "argmin": lambda m, x, y: F.cross_entropy(m(x), m(x).argmin(1)),
    "cumsum": lambda m, x, y: m(x).cumsum(1).square().mean(),
    "cumsum_dim0": lambda m, x, y: fg.cumsum(m(x), 0).tanh().sum(),
    "prod": lambda m, x, y: m(x).tanh().prod(1).sum(),
    "topk": lambda m, x, y: m(x).topk(2, dim=1).values.sum(),
    "sort": _sorted_weighted,
    "argsort": _argsort_gather,
}


@pytest.mark.parametrize("dtype", DT)
@pytest.mark.parametrize("case", sorted(CASES))
def test_compiled_equals_eager(case, dtype):
    check_pair(CASES[case], dtype)
