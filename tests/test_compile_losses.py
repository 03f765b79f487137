"""nll_loss inside compiled training steps (log_softmax + nll_loss as training scripts
write it, class weights, ignore_index, each reduction): the target bookkeeping is one
recorded kernel, so a plan traced on one batch follows the next batch's targets, ignored
rows included; compiled == eager bit for bit, float32 and float64."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad import optim
from fastgrad.nn import functional as F

from test_compile_index import XS, check_pair, mk

DT = [np.float32, np.float64]
W = {np.dtype(d): fg.tensor(np.array([0.5, 2.0, 1.25], d)) for d in DT}

CASES = {
    "mean": lambda m, x, y: F.nll_loss(F.log_softmax(m(x), 1), y),
    "sum": lambda m, x, y: F.nll_loss(F.log_softmax(m(x), 1), y, reduction="sum"),
    "none": lambda m, x, y: F.nll_loss(F.log_softmax(m(x), 1), y, reduction="none").square().mean(),
    "weighted": lambda m, x, y: F.nll_loss(F.log_softmax(m(x), 1), y,
                                           weight=W[m[0].weight._data.dtype]),
    "weighted_sum": lambda m, x, y: F.nll_loss(F.log_softmax(m(x), 1), y, reduction="sum",
                                               weight=W[m[0].weight._data.dtype]),
    "method_chain": lambda m, x, y: m(x).log_softmax(dim=1).neg().mean() + F.nll_loss(
        m(x).log_softmax(1), y),
}


@pytest.mark.parametrize("dtype", DT)
@pytest.mark.parametrize("case", sorted(CASES))
def test_nll_loss_compiled_equals_eager(case, dtype):
    check_pair(CASES[case], dtype)


# targets: all kept at the trace, then some ignored, last all ignored (a NaN mean)
TARGETS = [np.array(t, np.int64) for t in ([0, 1, 2, 1, 0, 2], [0, -100, 2, -100, 1, 2],
                                           [2, 2, -100, 0, 1, 1], [1, 0, 2, 2, 0, 1],
                                           [-100] * 6)]


@pytest.mark.parametrize("dtype", DT)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_ignored_rows_follow_each_batch(dtype, reduction, weighted):
    a, b = mk(dtype), mk(dtype)
    w = W[np.dtype(dtype)] if weighted else None

    def make(m):
        o = optim.SGD(m.parameters(), lr=0.1)

        def step(x, y):
            o.zero_grad()
            loss = F.nll_loss(F.log_softmax(m(x), 1), y, weight=w, reduction=reduction)
            loss.backward()
            o.step()
            return loss
        return step
    e, c = make(a), fg.compile(make(b), fallback="error")
    for i, t in enumerate(TARGETS):
        x, y = fg.from_numpy(XS[i % 4].astype(dtype)), fg.from_numpy(t)
        ra, rb = e(x, y), c(x, y)
        assert ra._data.tobytes() == rb._data.tobytes(), i
        for p, q in zip(a.parameters(), b.parameters()):
            assert p._data.tobytes() == q._data.tobytes(), i
        if reduction == "mean" and (t == -100).all():
            assert np.isnan(ra.item())      # the all-ignored batch: 0 / 0
    assert c.stats["traces"] == 1 and c.stats["replays"] == len(TARGETS) - 1


def test_bad_target_at_replay_raises_clearly():
    m = mk(np.float32)

    @fg.compile(fallback="error")
    def step(x, y):
        return F.nll_loss(F.log_softmax(m(x), 1), y)
    x = fg.from_numpy(XS[0].astype(np.float32))
    step(x, fg.from_numpy(TARGETS[0]))
    step(x, fg.from_numpy(TARGETS[1]))
    bad = fg.from_numpy(np.array([0, 1, 7, 1, 0, 2], np.int64))
    with pytest.raises(IndexError, match="nll_loss.*position 2.*out of bounds for 3 classes"):
        step(x, bad)
    with pytest.raises(IndexError, match="nll_loss: target 7 at position 2 is out of bounds"):
        F.nll_loss(F.log_softmax(m(x), 1), bad)


def test_nll_prep_reference_agrees_with_c():
    from fastgrad._C import _kernels as K
    from fastgrad import reference as R
    t = np.array([3, -1, 0, 2, -1], np.int64)
    for dt in DT:
        a, b = K.nll_prep(t, 4, -1, dt), R.nll_prep(t, 4, -1, dt)
        for u, v in zip(a, b):
            assert u.dtype == v.dtype and u.shape == v.shape and u.tobytes() == v.tobytes()
    a = K.nll_prep(np.full(3, -1, np.int64), 4, -1, np.float32)
    assert np.isnan(a[3]) and not a[2].any()
    with pytest.raises(IndexError, match="target 4 at position 0"):
        K.nll_prep(np.array([4], np.int64), 4, -1, np.float32)
