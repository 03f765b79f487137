"""Gradient accumulation straight into an existing .grad (engine.accum_target): the
backward of linear/matmul adds a leaf's weight gradient into its .grad in the GEMM's
epilogue (beta=1) instead of making a new array that the engine adds afterwards.

The oracle is NumPy: each test's loss is sum(c * f(...)) with a random c, whose
gradients have closed forms (written here in float64 NumPy); accumulated gradients must
equal the sum of the per-micro-batch ones.  Whether the in-place path ran is observed
by spying on engine._store_grad (the path skips it for the leaf it accumulated into)."""
import threading
import tracemalloc

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import nn, optim
from fastgrad.autograd import engine as E

ACTS = [None, "relu", "tanh", "sigmoid"]


@pytest.fixture
def stores(monkeypatch):
    """The leaves _store_grad was called for, in order."""
    seen = []
    orig = E._store_grad

    def spy(t, g, create_graph):
        seen.append(t)
        return orig(t, g, create_graph)
    monkeypatch.setattr(E, "_store_grad", spy)
    return seen


def stored(seen, t):
    return any(s is t for s in seen)


def leaf(a, dtype):
    return fg.tensor(np.asarray(a, dtype=dtype), requires_grad=True)


def tol(dtype):
    return dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-5)


def act_np(z, act):
    if act == "relu":
        y = np.maximum(z, 0)
        return y, (z > 0).astype(z.dtype)
    if act == "tanh":
        y = np.tanh(z)
        return y, 1 - y * y
    if act == "sigmoid":
        y = 1 / (1 + np.exp(-z))
        return y, y * (1 - y)
    return z, np.ones_like(z)


def linear_grads_np(x, w, b, c, act):
    """d/d(x, w, b) of sum(c * act(x @ w.T + b)) in float64 (x may be N-D)."""
    x, w, c = (np.asarray(v, np.float64) for v in (x, w, c))
    z = x @ w.T + (0 if b is None else np.asarray(b, np.float64))
    dz = c * act_np(z, act)[1]
    dz2, x2 = dz.reshape(-1, dz.shape[-1]), x.reshape(-1, x.shape[-1])
    return dz @ w, dz2.T @ x2, dz2.sum(0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
@pytest.mark.parametrize("act", ACTS, ids=str)
def test_linear_accumulates_in_place(act, bias, dtype, stores):
    r = np.random.default_rng(0)
    w = leaf(r.standard_normal((6, 9)), dtype)
    b = leaf(r.standard_normal(6), dtype) if bias else None
    g0 = r.standard_normal((6, 9)).astype(dtype)          # whatever .grad held before
    w.grad = fg.tensor(g0.copy())
    arr, gt = w.grad._data, w.grad
    v0 = gt._version[0]
    expect = g0.astype(np.float64)
    separate = g0.copy()
    for i in range(3):
        x = r.standard_normal((7, 9)).astype(dtype)
        c = r.standard_normal((7, 6)).astype(dtype)
        fg.linear(fg.tensor(x), w, b, act).mul(fg.tensor(c)).sum().backward()
        expect = expect + linear_grads_np(x, w._data, None if b is None else b._data, c, act)[1]
        # the same micro-batch on a fresh leaf: its own gradient, for the rounding check
        w1 = leaf(w._data, dtype)
        fg.linear(fg.tensor(x), w1, b, act).mul(fg.tensor(c)).sum().backward()
        separate = separate + w1.grad._data
    assert w.grad is gt and w.grad._data is arr            # really in place
    assert gt._version[0] >= v0 + 3                       # .grad's version bumped per write
    assert not stored(stores, w)                          # no store for w: the GEMM added it
    np.testing.assert_allclose(w.grad._data, expect, **tol(dtype))
    np.testing.assert_allclose(w.grad._data, separate, rtol=1e-6 if dtype == np.float32 else 1e-14,
                               atol=1e-5 if dtype == np.float32 else 1e-13)
    if bias:
        assert stored(stores, b)                          # the bias keeps the ordinary path


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_matmul_2d_both_operands(dtype, stores):
    r = np.random.default_rng(1)
    a = leaf(r.standard_normal((5, 7)), dtype)
    b = leaf(r.standard_normal((7, 3)), dtype)
    c = r.standard_normal((5, 3)).astype(dtype)
    fg.matmul(a, b).mul(fg.tensor(c)).sum().backward()   # .grad None: the ordinary path
    ga0, gb0 = a.grad._data, b.grad._data
    ga1, gb1 = ga0.copy(), gb0.copy()
    stores.clear()
    fg.matmul(a, b).mul(fg.tensor(c)).sum().backward()
    assert a.grad._data is ga0 and b.grad._data is gb0
    assert not stored(stores, a) and not stored(stores, b)
    A, B, C = (v.astype(np.float64) for v in (a._data, b._data, c))
    np.testing.assert_allclose(a.grad._data, 2 * (C @ B.T), **tol(dtype))
    np.testing.assert_allclose(b.grad._data, 2 * (A.T @ C), **tol(dtype))
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(a.grad._data, ga1 + ga1, rtol=4 * eps, atol=4 * eps)
    np.testing.assert_allclose(b.grad._data, gb1 + gb1, rtol=4 * eps, atol=4 * eps)


@pytest.mark.parametrize("simd", fg.available_simd())
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_large_blocked_products(dtype, threads, simd, stores):
    """Sizes off the register tile, a reduction (the batch) longer than one cache block,
    every SIMD path, 1 and 2 threads: .grad = g0 + g^T x to rounding."""
    fg.set_num_threads(threads)
    fg.set_simd(simd)
    r = np.random.default_rng(14)
    w = leaf(r.standard_normal((131, 517)) / 20, dtype)
    g0 = r.standard_normal((131, 517)).astype(dtype)
    w.grad = fg.tensor(g0.copy())
    x = r.standard_normal((600, 517)).astype(dtype)
    c = r.standard_normal((600, 131)).astype(dtype)
    fg.linear(fg.tensor(x), w, None, "tanh").mul(fg.tensor(c)).sum().backward()
    assert not stored(stores, w)
    expect = g0 + linear_grads_np(x, w._data, None, c, "tanh")[1]
    rtol, atol = (1e-12, 1e-10) if dtype == np.float64 else (1e-4, 2e-3)
    np.testing.assert_allclose(w.grad._data, expect, rtol=rtol, atol=atol)


def sum_to_np(g, shape):
    """g summed over the dims broadcasting added or stretched to reach it from shape."""
    while g.ndim > len(shape):
        g = g.sum(0)
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


@pytest.mark.parametrize("sa,sb", [((2, 5, 7), (7, 3)), ((5, 7), (2, 7, 3)),
                                   ((2, 5, 7), (2, 7, 3)), ((3, 1, 5, 7), (2, 7, 3))])
def test_matmul_batched_and_broadcast(sa, sb, stores):
    """Batched operands: in place when the product has the operand's shape or the
    operand is 2-D (the batch sum is one GEMM); otherwise the ordinary path (sum_to)."""
    r = np.random.default_rng(2)
    a = leaf(r.standard_normal(sa), np.float64)
    b = leaf(r.standard_normal(sb), np.float64)
    c = r.standard_normal(np.broadcast_shapes(sa[:-2], sb[:-2]) + (sa[-2], sb[-1]))
    a.grad = fg.tensor(np.ones(sa))
    b.grad = fg.tensor(np.ones(sb))
    fg.matmul(a, b).mul(fg.tensor(c)).sum().backward()
    A, B = a._data, b._data
    ga = c @ np.swapaxes(B, -1, -2)
    gb = np.swapaxes(A, -1, -2) @ c
    ga, gb = sum_to_np(ga, sa), sum_to_np(gb, sb)
    np.testing.assert_allclose(a.grad._data, 1 + ga, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.grad._data, 1 + gb, rtol=1e-12, atol=1e-12)
    if len(sa) == 3 and len(sb) == 2:
        assert not stored(stores, a) and not stored(stores, b)
    if sa == (3, 1, 5, 7):
        assert stored(stores, a)          # broadcast over a batch dim of size 1: ordinary path


@pytest.mark.parametrize("act", [None, "relu"], ids=str)
def test_linear_3d_input(act, stores):
    r = np.random.default_rng(3)
    x = leaf(r.standard_normal((2, 4, 9)), np.float64)
    w = leaf(r.standard_normal((6, 9)), np.float64)
    b = leaf(r.standard_normal(6), np.float64)
    c = r.standard_normal((2, 4, 6))
    for _ in range(2):
        fg.linear(x, w, b, act).mul(fg.tensor(c)).sum().backward()
    gx, gw, gb = linear_grads_np(x._data, w._data, b._data, c, act)
    np.testing.assert_allclose(w.grad._data, 2 * gw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad._data, 2 * gx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.grad._data, 2 * gb, rtol=1e-12, atol=1e-12)
    assert x.grad.shape == (2, 4, 9)


def test_linear_1d_input():
    r = np.random.default_rng(4)
    x = leaf(r.standard_normal(9), np.float64)
    w = leaf(r.standard_normal((6, 9)), np.float64)
    b = leaf(r.standard_normal(6), np.float64)
    c = r.standard_normal(6)
    for _ in range(2):
        fg.linear(x, w, b, "sigmoid").mul(fg.tensor(c)).sum().backward()
    gx, gw, gb = linear_grads_np(x._data, w._data, b._data, c, "sigmoid")
    np.testing.assert_allclose(w.grad._data, 2 * gw, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad._data, 2 * gx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(b.grad._data, 2 * gb, rtol=1e-12, atol=1e-12)
    assert x.grad.shape == (9,)


@pytest.mark.parametrize("xshape", [(0, 9), (2, 0, 9)])
def test_empty_batch_leaves_grad_as_it_was(xshape):
    w = leaf(np.ones((6, 9)), np.float64)
    w.grad = fg.tensor(np.full((6, 9), 3.0))
    arr = w.grad._data
    fg.linear(fg.zeros(xshape, dtype=fg.float64), w, None, "relu").sum().backward()
    assert w.grad._data is arr
    np.testing.assert_array_equal(arr, np.full((6, 9), 3.0))
    a = leaf(np.ones((2, 0)), np.float64)
    b = leaf(np.ones((0, 3)), np.float64)
    a.grad, b.grad = fg.tensor(np.ones((2, 0))), fg.tensor(np.full((0, 3), 2.0))
    fg.matmul(a, b).sum().backward()
    assert a.grad.shape == (2, 0) and b.grad.shape == (0, 3)


def test_same_weight_twice_in_one_graph(stores):
    """Two edges into one leaf: both add into .grad (and one more accumulation call)."""
    r = np.random.default_rng(5)
    w = leaf(r.standard_normal((8, 8)) / 3, np.float64)
    x = r.standard_normal((5, 8))
    c = r.standard_normal((5, 8))

    def np_grad():
        h = x @ w._data.T
        hr = np.maximum(h, 0)
        dh = (c @ w._data) * (h > 0)
        return c.T @ hr + dh.T @ x

    def run():
        h = fg.linear(fg.tensor(x), w, None, "relu")
        fg.linear(h, w).mul(fg.tensor(c)).sum().backward()
    run()
    arr = w.grad._data
    stores.clear()
    run()
    run()
    assert w.grad._data is arr and not stored(stores, w)
    np.testing.assert_allclose(w.grad._data, 3 * np_grad(), rtol=1e-12, atol=1e-12)


def test_shared_weight_between_two_linear_layers(stores):
    fg.manual_seed(0)
    l1, l2 = nn.Linear(8, 8).to(fg.float64), nn.Linear(8, 8).to(fg.float64)
    l2.weight = l1.weight
    w = l1.weight
    r = np.random.default_rng(6)
    xs = [r.standard_normal((4, 8)) for _ in range(3)]
    cs = [r.standard_normal((4, 8)) for _ in range(3)]
    total = np.zeros((8, 8))
    for x, c in zip(xs, cs):
        fg.tanh(l2(fg.tanh(l1(fg.tensor(x))))).mul(fg.tensor(c)).sum().backward()
        W, b1, b2 = w._data, l1.bias._data, l2.bias._data
        h1 = np.tanh(x @ W.T + b1)
        y = np.tanh(h1 @ W.T + b2)
        dz2 = c * (1 - y * y)
        dz1 = (dz2 @ W) * (1 - h1 * h1)
        total += dz2.T @ h1 + dz1.T @ x
    assert sum(s is w for s in stores) == 1          # only the very first backward stores
    np.testing.assert_allclose(w.grad._data, total, rtol=1e-12, atol=1e-12)


def test_after_zero_grad_set_to_none_false(stores):
    fg.manual_seed(1)
    m = nn.Sequential(nn.Linear(9, 16), nn.ReLU(), nn.Linear(16, 3)).to(fg.float64)
    opt = optim.SGD(m.parameters(), lr=0.1)
    r = np.random.default_rng(7)
    x, c = r.standard_normal((5, 9)), r.standard_normal((5, 3))
    m(fg.tensor(x)).mul(fg.tensor(c)).sum().backward()
    first = {id(p): p.grad._data.copy() for p in m.parameters()}
    arrs = {id(p): p.grad._data for p in m.parameters()}
    opt.zero_grad(set_to_none=False)
    stores.clear()
    m(fg.tensor(x)).mul(fg.tensor(c)).sum().backward()
    for p in m.parameters():
        assert p.grad._data is arrs[id(p)]
        np.testing.assert_array_equal(p.grad._data, first[id(p)])    # 0 + g, same kernels
    assert not stored(stores, m[0].weight) and not stored(stores, m[2].weight)


# ---- cases that must take the ordinary path (and still be right) ------------------------
def _setup(kind):
    r = np.random.default_rng(8)
    w = leaf(r.standard_normal((6, 9)), np.float64)
    x = r.standard_normal((7, 9))
    c = r.standard_normal((7, 6))
    g0 = r.standard_normal((6, 9))
    if kind == "noncontig":
        buf = np.zeros((9, 6))
        buf[...] = g0.T
        w.grad = fg.tensor(buf.T)                   # a transposed view (F-contiguous)
        assert not w.grad._data.flags.c_contiguous
    elif kind == "strided":
        buf = np.zeros((6, 18))
        buf[:, ::2] = g0
        w.grad = fg.from_numpy(buf[:, ::2])
    elif kind == "readonly":
        a = g0.copy()
        a.flags.writeable = False
        w.grad = fg.from_numpy(a)
    elif kind == "dtype":
        w.grad = fg.tensor(g0.astype(np.float32))
    elif kind == "aliases_weight":
        w.grad = fg.from_numpy(w._data)               # .grad shares the weight's memory
        g0 = w._data.copy()
    else:
        w.grad = fg.tensor(g0.copy())
    return w, x, c, g0


def _loss(w, x, c):
    return fg.linear(fg.tensor(x), w).mul(fg.tensor(c)).sum()


@pytest.mark.parametrize("kind", ["noncontig", "strided", "readonly", "dtype", "aliases_weight"])
def test_unsuitable_grad_takes_the_ordinary_path(kind, stores):
    w, x, c, g0 = _setup(kind)
    before = w.grad
    _loss(w, x, c).backward()
    assert stored(stores, w)
    expect = g0 + c.T @ x           # (aliases_weight: the weight gradient does not read w)
    np.testing.assert_allclose(w.grad._data, expect, rtol=1e-6 if kind == "dtype" else 1e-12,
                               atol=1e-6 if kind == "dtype" else 1e-12)
    if kind in ("noncontig", "strided", "aliases_weight"):
        assert w.grad is before                      # the ordinary in-place add


def test_tensor_hook_and_post_accumulate_hook_take_the_ordinary_path(stores):
    w, x, c, g0 = _setup("plain")
    seen = []
    h = w.register_hook(lambda g: seen.append(g._data.copy()))
    _loss(w, x, c).backward()
    assert stored(stores, w) and len(seen) == 1
    np.testing.assert_allclose(seen[0], c.T @ x, rtol=1e-12)
    np.testing.assert_allclose(w.grad._data, g0 + c.T @ x, rtol=1e-12, atol=1e-12)
    h.remove()
    post = []
    w.register_post_accumulate_grad_hook(lambda t: post.append(t.grad._data.copy()))
    stores.clear()
    _loss(w, x, c).backward()
    assert stored(stores, w) and len(post) == 1
    np.testing.assert_allclose(post[0], g0 + 2 * (c.T @ x), rtol=1e-12, atol=1e-12)


def test_post_accumulate_hook_elsewhere(stores):
    """A post-accumulate-grad hook on another leaf of the same graph runs mid-backward
    (it may read w.grad): ordinary path.  One on a tensor outside the graph: no effect."""
    w, x, c, g0 = _setup("plain")
    other = leaf(np.ones(6), np.float64)
    h = other.register_post_accumulate_grad_hook(lambda t: None)
    _loss(w, x, c).backward()
    assert not stored(stores, w)
    post = []
    b = leaf(np.zeros(6), np.float64)
    b.register_post_accumulate_grad_hook(lambda t: post.append(w.grad._data.copy()))
    fg.linear(fg.tensor(x), w, b).mul(fg.tensor(c)).sum().backward()
    assert stored(stores, w)
    np.testing.assert_allclose(w.grad._data, g0 + 2 * (c.T @ x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(post[0], g0 + c.T @ x, rtol=1e-12, atol=1e-12)   # as before
    h.remove()


def test_autograd_grad_and_backward_inputs_leave_grad_alone(stores):
    w, x, c, g0 = _setup("plain")
    arr = w.grad._data
    (gw,) = fg.autograd.grad(_loss(w, x, c), [w])
    np.testing.assert_array_equal(w.grad._data, g0)          # untouched
    np.testing.assert_allclose(gw._data, c.T @ x, rtol=1e-12)
    assert not np.shares_memory(gw._data, arr)
    _loss(w, x, c).backward(inputs=[w])
    assert stored(stores, w)
    np.testing.assert_allclose(w.grad._data, g0 + c.T @ x, rtol=1e-12, atol=1e-12)


def test_create_graph_takes_the_ordinary_path(stores):
    w, x, c, g0 = _setup("plain")
    old = w.grad
    _loss(w, x, c).backward(create_graph=True)
    assert stored(stores, w) and w.grad is not old           # differentiable .grad = old + g
    np.testing.assert_allclose(w.grad._data, g0 + c.T @ x, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(old._data, g0)


def test_anomaly_mode_sees_every_gradient(stores):
    """Anomaly mode checks each backward's outputs for nan, so it disables the in-place
    path: a nan weight gradient raises naming the op and leaves .grad as it was."""
    w, x, c, g0 = _setup("plain")
    with fg.autograd.detect_anomaly():
        _loss(w, x, c).backward()
        assert stored(stores, w)
        np.testing.assert_allclose(w.grad._data, g0 + c.T @ x, rtol=1e-12, atol=1e-12)
        before = w.grad._data.copy()
        x[0, 0] = np.nan
        with pytest.raises(RuntimeError, match="nan"):
            _loss(w, x, c).backward()
    np.testing.assert_array_equal(w.grad._data, before)


def test_switch_off_restores_the_ordinary_path(monkeypatch, stores):
    monkeypatch.setattr(E, "_ACCUM_INTO", False)
    w, x, c, g0 = _setup("plain")
    arr = w.grad._data
    _loss(w, x, c).backward()
    assert stored(stores, w) and w.grad._data is arr
    np.testing.assert_allclose(w.grad._data, g0 + c.T @ x, rtol=1e-12, atol=1e-12)


def test_graph_with_tensor_hooks_takes_the_ordinary_path(stores):
    """A hook on an intermediate tensor drops w.grad mid-backward, after the second
    linear's backward has run: w.grad must end as the whole gradient of this backward
    (as before, and as when .grad is stored once at the end), so with a hooked graph
    the in-place path is off."""
    r = np.random.default_rng(9)
    w = leaf(r.standard_normal((5, 5)), np.float64)
    w.grad = fg.tensor(np.ones((5, 5)))
    x = r.standard_normal((3, 5))
    h = fg.linear(fg.tensor(x), w)
    h.register_hook(lambda g: setattr(w, "grad", None))
    fg.linear(h, w).sum().backward()
    g_out = np.ones((3, 5))
    gh = g_out @ w._data
    np.testing.assert_allclose(w.grad._data, g_out.T @ h._data + gh.T @ x, rtol=1e-12)
    assert stored(stores, w)


def test_in_place_path_is_per_thread():
    """autograd.grad in one thread does not switch the path off (or on) in another."""
    w, x, c, g0 = _setup("plain")
    errs = []

    def other():
        try:
            w2 = leaf(w._data, np.float64)
            for _ in range(20):
                fg.autograd.grad(_loss(w2, x, c), [w2])
            assert w2.grad is None
        except Exception as e:      # noqa: BLE001 - reported below
            errs.append(e)
    t = threading.Thread(target=other)
    t.start()
    for _ in range(20):
        _loss(w, x, c).backward()
    t.join()
    assert not errs
    np.testing.assert_allclose(w.grad._data, g0 + 20 * (c.T @ x), rtol=1e-12, atol=1e-10)


# ---- no weight-sized allocation --------------------------------------------------------
def _peak_during_backward(flag, monkeypatch):
    monkeypatch.setattr(E, "_ACCUM_INTO", flag)
    r = np.random.default_rng(10)
    w = leaf(r.standard_normal((512, 1024)), np.float64)        # 4 MiB
    w.grad = fg.tensor(np.zeros((512, 1024)))
    x = fg.tensor(r.standard_normal((4, 1024)))
    loss = fg.linear(x, w).sum()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        loss.backward()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    np.testing.assert_allclose(w.grad._data, np.broadcast_to(x._data.sum(0), (512, 1024)),
                               rtol=1e-12)
    return peak, w._data.nbytes


def test_no_weight_sized_allocation(monkeypatch):
    new, size = _peak_during_backward(True, monkeypatch)
    old, _ = _peak_during_backward(False, monkeypatch)
    assert old >= size, (old, size)          # the ordinary path allocates the gradient
    assert new < size // 8, (new, size)      # the in-place path does not


# ---- optimizers see the right gradients ------------------------------------------------
@pytest.mark.parametrize("threads", [1, 2])
def test_sgd_after_two_micro_batches_equals_one_combined_batch(threads):
    fg.set_num_threads(threads)
    r = np.random.default_rng(11)
    x = r.standard_normal((8, 10))
    y = r.integers(0, 4, 8)

    def model():
        fg.manual_seed(3)
        return nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 32), nn.ReLU(),
                             nn.Linear(32, 4)).to(fg.float64)
    m1, m2 = model(), model()
    o1 = optim.SGD(m1.parameters(), lr=0.05, momentum=0.9)
    o2 = optim.SGD(m2.parameters(), lr=0.05, momentum=0.9)
    for step in range(3):
        o1.zero_grad(set_to_none=False)
        for half in (slice(0, 4), slice(4, 8)):
            fg.nn.functional.cross_entropy(m1(fg.tensor(x[half])), fg.tensor(y[half]),
                                           reduction="sum").backward()
        o1.step()
        o2.zero_grad()
        fg.nn.functional.cross_entropy(m2(fg.tensor(x)), fg.tensor(y), reduction="sum").backward()
        o2.step()
        for p1, p2 in zip(m1.parameters(), m2.parameters()):
            np.testing.assert_allclose(p1.grad._data, p2.grad._data, rtol=1e-11, atol=1e-12)
            np.testing.assert_allclose(p1._data, p2._data, rtol=1e-11, atol=1e-12)


def test_reference_backend_accumulates_the_same():
    r = np.random.default_rng(12)
    x, c = r.standard_normal((5, 9)), r.standard_normal((5, 6))
    res = []
    for be in ("c", "numpy"):
        with fg.use_backend(be):
            w = leaf(np.linspace(-1, 1, 54).reshape(6, 9), np.float64)
            for _ in range(2):
                fg.linear(fg.tensor(x), w, None, "tanh").mul(fg.tensor(c)).sum().backward()
            res.append(w.grad._data.copy())
    np.testing.assert_allclose(res[0], res[1], rtol=1e-12, atol=1e-12)


# ---- compiled steps ---------------------------------------------------------------------
def _compiled_vs_eager(steps, set_to_none=False):
    def setup():
        fg.manual_seed(4)
        m = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 5))
        return m, optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    (m1, o1), (m2, o2) = setup(), setup()

    def mk(m, o):
        def step(xa, ya, xb, yb):
            o.zero_grad(set_to_none=set_to_none)
            la = fg.nn.functional.cross_entropy(m(xa), ya)
            la.backward()
            lb = fg.nn.functional.cross_entropy(m(xb), yb)
            lb.backward()
            o.step()
            return la + lb
        return step
    eager, comp = mk(m1, o1), fg.compile(mk(m2, o2))
    r = np.random.default_rng(13)
    for i in range(steps):
        args = (fg.tensor(r.standard_normal((8, 12)).astype(np.float32)),
                fg.tensor(r.integers(0, 5, 8)),
                fg.tensor(r.standard_normal((8, 12)).astype(np.float32)),
                fg.tensor(r.integers(0, 5, 8)))
        assert eager(*args)._data.tobytes() == comp(*args)._data.tobytes()
        for a, b in zip(m1.parameters(), m2.parameters()):
            assert np.array_equal(a._data, b._data) and np.array_equal(a.grad._data, b.grad._data)
    assert comp.stats["replays"] == steps - comp.stats["traces"]
    return comp.plan_info()[-1]["steps"]


def test_compiled_two_micro_batches_matches_eager(monkeypatch):
    """zero_grad(set_to_none=False), two micro-batches, one step: the compiled step equals
    eager bit for bit (its first trace sees no .grad, the second accumulates).  Its plan
    records the accumulating GEMMs: four fewer steps (no separate .grad += g for the two
    weights, twice) than with the in-place path switched off."""
    n_new = _compiled_vs_eager(6)
    monkeypatch.setattr(E, "_ACCUM_INTO", False)
    n_old = _compiled_vs_eager(3)
    assert n_new == n_old - 4, (n_new, n_old)


def test_compiled_micro_batches_after_zero_grad_set_to_none(monkeypatch):
    """zero_grad() (set_to_none): the first micro-batch's weight gradients become .grad,
    the second adds into them in place; compiled == eager, two fewer plan steps."""
    n_new = _compiled_vs_eager(5, set_to_none=True)
    monkeypatch.setattr(E, "_ACCUM_INTO", False)
    n_old = _compiled_vs_eager(3, set_to_none=True)
    assert n_new == n_old - 2, (n_new, n_old)


@pytest.mark.parametrize("shape", [(0,), (2, 4, 0), (5, 0)])
def test_linear_with_zero_in_features(shape):
    # in_features 0: every output is the bias, and the weight gradient is empty
    x = fg.zeros(*shape, requires_grad=True)
    w = fg.zeros(3, 0, requires_grad=True)
    b = fg.tensor(np.array([1.0, 2.0, 3.0], np.float32), requires_grad=True)
    y = fg.nn.functional.linear(x, w, b)
    assert y.shape == shape[:-1] + (3,)
    np.testing.assert_array_equal(y._data, np.broadcast_to([1.0, 2.0, 3.0], shape[:-1] + (3,)))
    y.sum().backward()
    assert w.grad.shape == (3, 0) and x.grad.shape == shape
    np.testing.assert_array_equal(b.grad._data, np.full(3, float(np.prod(shape[:-1]))))


def test_reference_matmul_out_is_checked():
    from fastgrad import reference
    a, b = np.ones((1, 5)), np.ones((5, 5))
    with pytest.raises(ValueError, match=r"matmul: out must be .* of shape \(1, 5\)"):
        reference.matmul(a, b, out=np.zeros((4, 5)), beta=1.0)
    out = np.full((1, 5), np.nan)
    reference.matmul(a, b, out=out, beta=0.0)            # beta 0: old values not read
    np.testing.assert_array_equal(out, np.full((1, 5), 5.0))
