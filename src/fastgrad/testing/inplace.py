"""Registry entries of the in-place ops.  Each runs on a non-leaf (the op clones its input
first, so the leaf itself is not modified): gradcheck runs through the rebased history."""

import numpy as np

import fastgrad as fg
from fastgrad.testing.opinfo import OpTable, Sample, _u

OPS = OpTable()
_simple = OPS.simple


def _x(rng, *shape):
    return _u(rng, shape, -2, 2)


_simple("relu_", lambda x: fg.relu_(fg.clone(x)), lambda x: np.maximum(x, 0),
        lambda rng: [Sample([_u(rng, (3, 4), -2, 2, away=0.05)])])
_simple("masked_fill_", lambda x, mask, value: fg.masked_fill_(fg.clone(x), mask, value),
        lambda x, mask, value: np.where(mask, value, x),
        lambda rng: [Sample([_x(rng, 3, 4), rng.random((4,)) > 0.5], {"value": 0.5})])


def _inplace_binary(fn):
    def op(a, b):
        return fn(fg.clone(a), b)
    return op


def _inplace_samples(rng, lo=-2.0):
    return [Sample([_u(rng, (3, 4), lo, 2), _u(rng, (3, 4), 0.5, 2)]),
            Sample([_u(rng, (3, 4), lo, 2), _u(rng, (4,), 0.5, 2)], desc="broadcast other"),
            Sample([_u(rng, (3, 4), lo, 2), 1.5], desc="scalar")]


for _n, _f, _r in [("add_", fg.add_, np.add), ("sub_", fg.sub_, np.subtract),
                   ("mul_", fg.mul_, np.multiply), ("div_", fg.div_, np.true_divide)]:
    _simple(f"inplace_{_n}", _inplace_binary(_f), _r, _inplace_samples, covers=(_n,))
_simple("inplace_self_mul_", lambda a: (lambda c: fg.mul_(c, c))(fg.clone(a)), np.square,
        lambda rng: [Sample([_x(rng, 3, 4)])], covers=("mul_",))
_simple("inplace_clamp_", lambda a: fg.clamp_(fg.clone(a), -0.5, 1.0), lambda a: np.clip(a, -0.5, 1.0),
        lambda rng: [Sample([_x(rng, 3, 4)])], covers=("clamp_",))
_simple("inplace_copy_", lambda a, b: fg.mul(fg.copy_(fg.mul(a, 1.0), b), a), lambda a, b: b * a,
        lambda rng: [Sample([_x(rng, 3, 4), _x(rng, 4)], desc="broadcast src")], covers=("copy_",))
_simple("inplace_fill_", lambda a, v: fg.mul(fg.fill_(fg.mul(a, 1.0), fg.sum(v)), a), lambda a, v: v.sum() * a,
        lambda rng: [Sample([_x(rng, 3, 4), _x(rng, 2)])], covers=("fill_",))
_simple("inplace_zero_", lambda a: fg.add(fg.zero_(fg.mul(a, 2.0)), a), lambda a: a,
        lambda rng: [Sample([_x(rng, 3, 4)])], covers=("zero_",))
