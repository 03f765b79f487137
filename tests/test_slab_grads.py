"""Gradients of views of one slab of their input (narrow, split, chunk, unbind, basic
indexing of one dimension), which the backward walk assembles in one buffer per input
(fastgrad.autograd.engine, "gradients of slabs"): values against PyTorch, the zeros of the
parts no view reached (written over memory the cache hands out dirty), the sign of zero,
accumulation into an existing .grad, hooks, autograd.grad, create_graph, and compiled
steps bitwise equal to eager ones."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad.autograd import engine

try:
    import torch
except ImportError:             # the tests that compare with PyTorch skip themselves
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is the oracle")


def _pair(shape, dtype=np.float64, seed=0):
    """The same values as a fastgrad leaf and (with PyTorch installed) a PyTorch leaf."""
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    x = fg.tensor(a, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True) if torch is not None else None
    return x, xt


# programs written once, run on both libraries: f(lib, x) -> scalar
def _split3(lib, x):
    q, k, v = x.split(3, dim=1)
    return (q * 2 + k * k + v.sin()).sum()


def _chunk_unused(lib, x):
    a, b, c, d = x.chunk(4, dim=0)          # b and d reach nothing
    return (a.exp() + c * 3).sum()


def _unbind_rnn(lib, x):
    h = x[:, 0] * 0
    for t in range(x.shape[1]):              # a hand-written recurrence over time steps
        h = (h + x[:, t]).tanh()
    return h.sum()


def _overlap(lib, x):
    a = x.narrow(1, 1, 4)
    b = x.narrow(1, 3, 4)                    # overlaps a at columns 3, 4
    return (a * a).sum() + (b * 5).sum()


def _mixed(lib, x):
    p = x.narrow(0, 2, 3)
    return (p * p).sum() + (x * x.cos()).sum() + x[1].sum()


def _two_dims(lib, x):
    return (x.narrow(0, 1, 2).sum() * 3 + (x.narrow(1, 0, 2) ** 2).sum()
            + (x[:, -1] * x[:, -2]).sum())


def _same_piece_twice(lib, x):
    a, b = x.split([2, 7], dim=1)
    return (a * b[:, :2]).sum() + (a ** 3).sum() + b.mean()


def _nonleaf(lib, x):
    y = x * 1.5 + 1
    q, k, v = y.chunk(3, dim=-1)
    return (q @ k.transpose(0, 1) * v.sum()).sum()


def _int_rows(lib, x):
    return x[0].sum() * 2 + (x[-1] ** 2).sum() + x[2:3].exp().sum()


PROGRAMS = [_split3, _chunk_unused, _unbind_rnn, _overlap, _mixed, _two_dims,
            _same_piece_twice, _nonleaf, _int_rows]


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("prog", PROGRAMS, ids=lambda f: f.__name__)
def test_gradients_match_torch(prog, dtype):
    x, xt = _pair((8, 9) if prog is not _nonleaf else (6, 12), dtype)
    prog(fg, x).backward()
    prog(torch, xt).backward()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=tol, atol=tol)


def _dirty_cache(nbytes):
    """Leave a block of nbytes full of NaN in fastgrad's result cache, so an
    uninitialised gradient buffer of that size would show NaN where nothing wrote it."""
    a = fg._C._kernels.cache_empty((nbytes // 4,), np.float32)
    a.fill(np.nan)
    del a


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_parts_no_view_reached_are_zero(dim):
    shape = (64, 48, 32)                     # 384 KiB in float32: a cached buffer
    x, _ = _pair(shape, np.float32)
    y = x * 1.0                              # a non-leaf: its gradient is a walk buffer
    q = shape[dim] // 4

    def piece(k):
        return (slice(None),) * dim + (slice(k * q, (k + 1) * q),)

    for _ in range(3):
        _dirty_cache(int(np.prod(shape)) * 4)
        (y.chunk(4, dim=dim)[1] * 2).sum().backward(retain_graph=True)
    expect = np.zeros(shape, np.float32)
    expect[piece(1)] = 6
    np.testing.assert_array_equal(x.grad.numpy(), expect)
    _dirty_cache(int(np.prod(shape)) * 4)
    x.grad = None
    (x.chunk(4, dim=dim)[3] * 3).sum().backward()      # a leaf's own buffer
    expect = np.zeros(shape, np.float32)
    expect[piece(3)] = 3
    np.testing.assert_array_equal(x.grad.numpy(), expect)


@needs_torch
def test_sign_of_zero_matches_torch():
    a = np.zeros((4, 6), np.float32)
    x = fg.tensor(a, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    for lib, t in ((fg, x), (torch, xt)):
        p, q, r = t.split(2, dim=1)
        (p * -1.0 + q * 2.0 + r * -0.0).sum().backward()
    np.testing.assert_array_equal(np.signbit(x.grad.numpy()), np.signbit(xt.grad.numpy()))


@needs_torch
def test_accumulates_into_existing_grad_in_place():
    x, xt = _pair((6, 9))
    for _ in range(3):
        _split3(fg, x).backward()
        _split3(torch, xt).backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    g = x.grad
    _split3(fg, x).backward()
    assert x.grad is g                       # added in place, as PyTorch does


def test_grad_of_two_leaves_never_shares_memory():
    x, _ = _pair((4, 6))
    w, _ = _pair((4, 6), seed=1)
    a, b = (x + w).split(3, dim=1)           # add's backward hands one gradient to both
    (a * 2 + b).sum().backward()
    assert not np.shares_memory(x.grad.numpy(), w.grad.numpy())
    x.grad.numpy()[...] = 7
    assert (w.grad.numpy() != 7).all()


@needs_torch
def test_hooks_see_the_complete_gradient():
    x, xt = _pair((5, 6))
    seen = []
    y = x * 2
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    a, b, c = y.split(2, dim=1)
    (a * 3 + c).sum().backward()
    yt = xt * 2
    a, b, c = yt.split(2, dim=1)
    yt.retain_grad()
    (a * 3 + c).sum().backward()
    np.testing.assert_array_equal(seen[0], yt.grad.numpy())
    np.testing.assert_array_equal(seen[1], xt.grad.numpy())


@needs_torch
@pytest.mark.parametrize("prog", [_split3, _overlap, _two_dims, _unbind_rnn],
                         ids=lambda f: f.__name__)
def test_autograd_grad_and_create_graph(prog):
    x, xt = _pair((6, 9))
    (g,) = fg.autograd.grad(prog(fg, x), x, create_graph=True)
    (gt,) = torch.autograd.grad(prog(torch, xt), xt, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), gt.detach().numpy(), rtol=1e-12, atol=1e-12)
    (h,) = fg.autograd.grad((g * g).sum(), x)
    (ht,) = torch.autograd.grad((gt * gt).sum(), xt)
    np.testing.assert_allclose(h.numpy(), ht.numpy(), rtol=1e-10, atol=1e-12)
    (g2,) = fg.autograd.grad(prog(fg, x), x)          # no create_graph: the slab path
    np.testing.assert_allclose(g2.numpy(), gt.detach().numpy(), rtol=1e-12, atol=1e-12)


def test_gradcheck_float64():
    for prog in PROGRAMS:
        x = fg.tensor(np.random.default_rng(3).standard_normal((8, 9)) * 0.5,
                      requires_grad=True)
        assert fg.autograd.gradcheck(lambda t: prog(fg, t), (x,))


@needs_torch
def test_anomaly_mode_gets_dense_gradients():
    x, xt = _pair((6, 9))
    with fg.autograd.detect_anomaly():
        _split3(fg, x).backward()
    _split3(torch, xt).backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


def test_slab_flag_is_off_outside_backward():
    assert engine._into.slab is False
    x, _ = _pair((6, 9))
    _split3(fg, x).backward()
    assert engine._into.slab is False


@pytest.mark.parametrize("unused", [False, True])
def test_compiled_step_bitwise_equal_to_eager(unused):
    def build():
        fg.manual_seed(0)
        lin = fg.nn.Linear(16, 48)
        opt = fg.optim.Adam(lin.parameters(), lr=1e-2)
        return lin, opt

    x = fg.tensor(np.random.default_rng(0).standard_normal((64, 16)).astype(np.float32))

    def make_step(lin, opt):
        def step():
            q, k, v = lin(x).split(16, dim=1)
            loss = (q * k).sum() if unused else (q * k + v.tanh()).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return step

    le, oe = build()
    lc, oc = build()
    eager, comp = make_step(le, oe), fg.compile(make_step(lc, oc))
    for _ in range(5):
        eager()
        comp()
    assert comp.stats["replays"] >= 1 and comp.stats["eager_calls"] == 0
    for pe, pc in zip(le.parameters(), lc.parameters()):
        assert pe.detach().numpy().tobytes() == pc.detach().numpy().tobytes()
        assert pe.grad.numpy().tobytes() == pc.grad.numpy().tobytes()


def _random_views(rng, shape):
    """A list of (kind, args) slab views of a tensor of `shape`: narrow, int index, slice
    index, split or chunk, over random dims and ranges (overlaps included)."""
    views = []
    for _ in range(int(rng.integers(1, 7))):
        d = int(rng.integers(0, len(shape)))
        n = shape[d]
        kind = rng.choice(["narrow", "int", "slice", "split", "chunk"])
        if kind == "narrow":
            a = int(rng.integers(0, n))
            views.append(("narrow", (d, a, int(rng.integers(0, n - a + 1)))))
        elif kind == "int":
            views.append(("int", (d, int(rng.integers(-n, n)))))
        elif kind == "slice":
            a, b = sorted(int(v) for v in rng.integers(0, n + 1, 2))
            views.append(("slice", (d, a, b)))
        elif kind == "split":
            views.append(("split", (d, int(rng.integers(1, n + 1)))))
        else:
            views.append(("chunk", (d, int(rng.integers(1, n + 1)))))
    return views


def _apply_views(t, views, weights):
    """sum over the views' pieces of (piece * w) summed, with w drawn per piece."""
    pieces = []
    for kind, args in views:
        d = args[0]
        if kind == "narrow":
            pieces.append(t.narrow(d, args[1], args[2]))
        elif kind == "int":
            pieces.append(t[(slice(None),) * d + (args[1],)])
        elif kind == "slice":
            pieces.append(t[(slice(None),) * d + (slice(args[1], args[2]),)])
        elif kind == "split":
            pieces.extend(t.split(args[1], dim=d))
        else:
            pieces.extend(t.chunk(args[1], dim=d))
    total = None
    for p, w in zip(pieces, weights):
        term = (p * p * w).sum() if w > 0 else (p * w).sum()
        total = term if total is None else total + term
    return total


@needs_torch
@pytest.mark.parametrize("seed", range(60))
def test_random_slab_programs_match_torch(seed):
    rng = np.random.default_rng(1000 + seed)
    shape = tuple(int(v) for v in rng.integers(1, 7, int(rng.integers(1, 4))))
    views = _random_views(rng, shape)
    weights = rng.standard_normal(64)
    a = rng.standard_normal(shape)
    x = fg.tensor(a, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    nonleaf = bool(rng.integers(0, 2))
    y, yt = (x * 1.0, xt * 1.0) if nonleaf else (x, xt)
    _apply_views(y, views, weights).backward()
    _apply_views(yt, views, weights).backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12,
                               err_msg=f"shape {shape} views {views}")
