"""Registry entries of the ops of ``fastgrad.ops.extra_methods`` (clamp_min/clamp_max and
the index ops index_add, index_copy, index_fill, masked_scatter)."""

import numpy as np

import fastgrad as fg
from fastgrad.testing.opinfo import OpTable, Sample, _i, _u

OPS = OpTable()
_simple = OPS.simple


def _x(rng, *shape):
    return _u(rng, shape, -2, 2)


_simple("clamp_min", fg.clamp_min, np.maximum,
        lambda rng: [Sample([_u(rng, (3, 4), -2, 2, away=0.05), 0.0]),
                     Sample([_x(rng, 3, 4), _x(rng, 4) + 0.013], desc="tensor bound")])
_simple("clamp_max", fg.clamp_max, np.minimum,
        lambda rng: [Sample([_u(rng, (3, 4), -2, 2, away=0.05), 0.0]),
                     Sample([_x(rng, 3, 4), _x(rng, 4) + 0.013], desc="tensor bound")])


def _np_index_add(x, dim, index, source, alpha=1):
    out = x.copy()
    np.add.at(np.moveaxis(out, dim, 0), index, np.moveaxis(source, dim, 0) * alpha)
    return out


def _np_index_copy(x, dim, index, source):
    out = x.copy()
    np.moveaxis(out, dim, 0)[index] = np.moveaxis(source, dim, 0)
    return out


def _np_index_fill(x, dim, index, value):
    out = x.copy()
    np.moveaxis(out, dim, 0)[index] = value
    return out


def _np_masked_scatter(x, mask, source):
    m = np.broadcast_to(mask, np.broadcast_shapes(x.shape, mask.shape))
    out = np.broadcast_to(x, m.shape).copy()
    out[m] = source.reshape(-1)[:int(m.sum())]
    return out


_simple("index_add", fg.index_add, _np_index_add,
        lambda rng: [Sample([_x(rng, 4, 3), 0, _i(0, 2, 2), _x(rng, 3, 3)], desc="repeated"),
                     Sample([_x(rng, 4, 3), 1, _i(2, 0), _x(rng, 4, 2)], {"alpha": 1.5}, "alpha")])
_simple("index_copy", fg.index_copy, _np_index_copy,
        lambda rng: [Sample([_x(rng, 4, 3), 0, _i(3, 0), _x(rng, 2, 3)]),
                     Sample([_x(rng, 2, 5, 3), 1, _i(4, 1, 2), _x(rng, 2, 3, 3)], desc="3-d")])
_simple("index_fill", fg.index_fill, _np_index_fill,
        lambda rng: [Sample([_x(rng, 4, 3), 1, _i(0, 2), -1.5]),
                     Sample([_x(rng, 4, 3), 0, _i(3, 3), 2.0], desc="repeated")])
_simple("masked_scatter", fg.masked_scatter, _np_masked_scatter,
        lambda rng: [Sample([_x(rng, 3, 4), rng.random((3, 4)) > 0.5, _x(rng, 12)]),
                     Sample([_x(rng, 3, 4), rng.random((4,)) > 0.5, _x(rng, 4, 4)],
                            desc="broadcast mask")])
