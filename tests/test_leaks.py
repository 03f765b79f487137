"""Memory: long training runs, eager and compiled (fastgrad.compile), keep a flat
footprint, and ops do not hold on to their inputs.

* 100,000 steps of a tiny MLP (forward, backward, SGD step): the resident set size is
  sampled every 10,000 steps after a warm-up, and the least-squares slope must stay under
  RSS_SLOPE bytes per 1,000 steps (a leak of one 64-byte object per step would show as
  64,000 bytes per 1,000 steps).
* tracemalloc (slow, so over 3,000 steps after a traced warm-up): the traced Python heap's slope must stay
  under TRACED_SLOPE bytes per 1,000 steps.
* sys.getrefcount of inputs and parameters is unchanged after forward + backward once
  the outputs are dropped.
"""
import gc
import os
import sys
import tracemalloc

import numpy as np
import pytest

import fastgrad as fg
from fastgrad.nn import functional as F

STEPS = int(os.environ.get("FASTGRAD_LEAK_STEPS", "100000"))
RSS_SLOPE = 4096          # bytes per 1,000 steps
TRACED_SLOPE = 1024       # bytes per 1,000 steps


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _slope(xs, ys):
    """Least-squares slope of ys over xs (bytes per step)."""
    return float(np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)[0])


def _trainer(seed=0, compiled=False):
    fg.manual_seed(seed)
    model = fg.nn.Sequential(fg.nn.Linear(4, 8), fg.nn.Tanh(), fg.nn.Linear(8, 1))
    opt = fg.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    rng = np.random.default_rng(seed)
    x = fg.from_numpy(rng.standard_normal((16, 4)).astype(np.float32))
    y = fg.from_numpy(rng.standard_normal((16, 1)).astype(np.float32))

    def step():
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return model, (fg.compile(step) if compiled else step)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
@pytest.mark.skipif(bool(os.environ.get("FASTGRAD_SANITIZED")),
                    reason="RSS is meaningless under AddressSanitizer (quarantine, shadow memory)")
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_rss_flat_over_100k_training_steps(compiled):
    fg.set_num_threads(1)
    _, step = _trainer(compiled=compiled)
    for _ in range(5000):                         # warm-up: caches, allocator pools
        step()
    gc.collect()
    xs, ys = [], []
    every = max(STEPS // 10, 1)
    for i in range(STEPS):
        loss = step()
        if i % every == 0:
            xs.append(i)
            ys.append(_rss())
    assert np.isfinite(loss.item())
    if compiled:                                  # the steps really were replayed plans
        assert step.stats["replays"] >= STEPS and step.stats["eager_calls"] == 0
    slope = _slope(xs, ys) * 1000
    print(f"\nRSS over {STEPS} steps: {ys[0] / 2**20:.1f} -> {ys[-1] / 2**20:.1f} MiB, "
          f"slope {slope:.0f} bytes per 1000 steps")
    assert slope < RSS_SLOPE, f"RSS grows by {slope:.0f} bytes per 1000 steps: {ys}"
    assert ys[-1] - ys[0] < 8 * 2**20


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_tracemalloc_flat_over_training_steps(compiled):
    fg.set_num_threads(1)
    _, step = _trainer(1, compiled)
    for _ in range(2000):
        step()
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(1000):    # traced warm-up: blocks allocated before tracing get replaced
            step()
        xs, ys = [], []
        n = 3000
        for i in range(n + 1):
            step()
            if i % 500 == 0:
                xs.append(i)
                ys.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    slope = _slope(xs, ys) * 1000
    print(f"\ntraced Python heap over {n} steps: slope {slope:.0f} bytes per 1000 steps")
    assert slope < TRACED_SLOPE, f"traced memory grows by {slope:.0f} bytes per 1000 steps: {ys}"


def test_refcounts_of_inputs_unchanged_after_forward_and_backward():
    rng = np.random.default_rng(0)
    x = fg.from_numpy(rng.standard_normal((5, 4)))
    w = fg.from_numpy(rng.standard_normal((3, 4))).requires_grad_(True)
    b = fg.from_numpy(rng.standard_normal(3)).requires_grad_(True)
    t = fg.from_numpy(rng.integers(0, 3, 5))
    objs = [x, w, b, t, x._data, w._data, b._data]
    before = [sys.getrefcount(o) for o in objs]
    for _ in range(3):
        h = F.linear(x, w, b)
        loss = F.cross_entropy(fg.tanh(h) * 2.0 + h.exp().log(), t) + (w * w).sum()
        loss.backward()
        del h, loss
    w.grad = None
    b.grad = None
    gc.collect()
    after = [sys.getrefcount(o) for o in objs]
    assert after == before


def test_refcounts_after_backward_with_retain_graph_and_grad():
    a = fg.randn(4, 4, requires_grad=True)
    before = sys.getrefcount(a), sys.getrefcount(a._data)
    out = (a @ a).relu().sum()
    out.backward(retain_graph=True)
    g, = fg.autograd.grad(out, a)
    del out, g
    a.grad = None
    gc.collect()
    assert (sys.getrefcount(a), sys.getrefcount(a._data)) == before


def test_graph_is_freed_when_outputs_are_dropped():
    import weakref
    a = fg.randn(8, requires_grad=True)
    y = (a.exp() * a).sum()
    node = weakref.ref(y.grad_fn)
    del y
    gc.collect()
    assert node() is None
