"""Hostile use of the Python layer: index and target tensors modified in place between
forward and backward, and end-of-backward callbacks from backward calls in several threads."""
import threading

import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn.functional as F
from fastgrad import autograd

_MASK = [[True, False, True, False], [False, False, True, True], [True, True, False, False]]


def _mask_getitem(lib, x):
    m = lib.tensor(_MASK)
    return x[m], lambda: m.fill_(True)


def _mask_rows(lib, x):
    m = lib.tensor([True, False, True])
    return x[m], lambda: m.fill_(True)


def _int_getitem(lib, x):
    i = lib.tensor([0, 2])
    return x[i], lambda: i.add_(1)


def _int_getitem_slice(lib, x):
    i = lib.tensor([2, 0])
    return x[i, 1:], lambda: i.__setitem__(0, 1)


def _int_pair_getitem(lib, x):
    i, j = lib.tensor([0, 2]), lib.tensor([1, 3])
    return x[i, j], lambda: j.sub_(1)


def _index_select(lib, x):
    i = lib.tensor([0, 2, 2])
    return lib.index_select(x, 0, i), lambda: i.add_(-2)


def _gather(lib, x):
    i = lib.tensor([[0, 2], [1, 1], [3, 0]])
    return lib.gather(x, 1, i), lambda: i.fill_(0)


def _masked_fill(lib, x):
    m = lib.tensor(_MASK)
    return x.masked_fill(m, 0.0), lambda: m.fill_(False)


def _embedding(lib, x):
    i = lib.tensor([[0, 2], [1, 2]])
    fn = F.embedding if lib is fg else lib.nn.functional.embedding
    return fn(i, x), lambda: i.add_(1)


def _cross_entropy(lib, x):
    t = lib.tensor([0, 2, 1])
    fn = F.cross_entropy if lib is fg else lib.nn.functional.cross_entropy
    return fn(x, t), lambda: t.add_(1)


def _cross_entropy_weighted(lib, x):
    t = lib.tensor([0, 2, 1])
    fn = F.cross_entropy if lib is fg else lib.nn.functional.cross_entropy
    return fn(x, t, weight=lib.tensor([1.0, 2.0, 0.5, 1.0])), lambda: t.fill_(3)


def _cross_entropy_none(lib, x):
    t = lib.tensor([0, 2, 1])
    fn = F.cross_entropy if lib is fg else lib.nn.functional.cross_entropy
    return fn(x, t, reduction="none"), lambda: t.fill_(3)


def _nll_loss(lib, x):
    t = lib.tensor([0, 2, 1])
    fn = F.nll_loss if lib is fg else lib.nn.functional.nll_loss
    return fn(x, t), lambda: t.add_(1)


def _scatter(lib, x):
    i = lib.tensor([[0, 2], [1, 3], [3, 0]])
    return lib.scatter(x, 1, i, x[:, :2] * 2.0), lambda: i.fill_(1)


def _scatter_add(lib, x):
    i = lib.tensor([[0, 2], [1, 3], [3, 0]])
    return lib.scatter_add(x, 1, i, x[:, 1:3] * 3.0), lambda: i.fill_(2)


def _setitem(lib, x):
    i = lib.tensor([0, 2])
    y = x * 1.0
    y[i] = x[1:3] * 2.0
    return y, lambda: i.fill_(1)


def _setitem_mask(lib, x):
    m = lib.tensor([True, False, True])
    y = x * 1.0
    y[m] = 0.0
    return y, lambda: m.fill_(False)


def _masked_fill_inplace(lib, x):
    m = lib.tensor(_MASK)
    y = x * 1.0
    y.masked_fill_(m, 0.0)
    return y, lambda: m.fill_(False)


CASES = [_mask_getitem, _mask_rows, _int_getitem, _int_getitem_slice, _int_pair_getitem,
         _index_select, _gather, _masked_fill, _embedding, _cross_entropy,
         _cross_entropy_weighted, _cross_entropy_none, _nll_loss, _scatter, _scatter_add,
         _setitem, _setitem_mask, _masked_fill_inplace]


def _leaf(lib, case):
    shape = (5, 3) if case is _embedding else (3, 4)
    data = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    return lib.tensor(data, requires_grad=True)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.strip("_"))
def test_index_modified_in_place_raises_at_backward(case):
    x = _leaf(fg, case)
    y, modify = case(fg, x)
    modify()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    assert x.grad is None


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.strip("_"))
def test_index_unmodified_backward_matches_torch(case):
    torch = pytest.importorskip("torch")
    x = _leaf(fg, case)
    y, modify = case(fg, x)
    y.sum().backward()
    modify()                   # after backward: nothing left to check
    xt = torch.tensor(x._data, requires_grad=True)
    yt, _ = case(torch, xt)
    yt.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.__name__.strip("_"))
def test_torch_raises_on_the_same_cases(case):
    torch = pytest.importorskip("torch")
    xt = torch.tensor(_leaf(fg, case)._data, requires_grad=True)
    yt, modify = case(torch, xt)
    modify()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        yt.sum().backward()


def test_index_given_as_array_is_taken_at_forward_time():
    # a NumPy array has no version counter: the op keeps a copy, as PyTorch does when it
    # turns the array into a tensor, so changing the array afterwards changes nothing
    x = fg.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    i, j, t = np.array([0, 2, 2]), np.array([[0, 1], [2, 3], [1, 1]]), np.array([1, 0, 3])
    y = (fg.index_select(x, 0, i).sum() + fg.gather(x, 1, j).sum() + x[i].sum()
         + F.embedding(i, x).sum() + F.cross_entropy(x, t) + F.nll_loss(x, t))
    i[:] = 1
    j[:] = 0
    t[:] = 2
    y.backward()
    torch = pytest.importorskip("torch")
    xt = torch.tensor(x._data, requires_grad=True)
    it, jt, tt = torch.tensor([0, 2, 2]), torch.tensor([[0, 1], [2, 3], [1, 1]]), torch.tensor([1, 0, 3])
    yt = (xt.index_select(0, it).sum() + xt.gather(1, jt).sum() + xt[it].sum()
          + torch.nn.functional.embedding(it, xt).sum()
          + torch.nn.functional.cross_entropy(xt, tt) + torch.nn.functional.nll_loss(xt, tt))
    yt.backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_index_modified_after_create_graph_backward_raises_in_second_order():
    x = fg.randn(3, 4, requires_grad=True)
    i = fg.tensor([0, 2, 2])
    y = (fg.index_select(x, 0, i) ** 2).sum()
    (g,) = autograd.grad(y, x, create_graph=True)
    i.add_(-1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        g.sum().backward()


def _threaded_backward(n_threads):
    """Each thread runs a backward whose hook queues a callback while every other thread's
    backward is running too (the barrier holds them all inside backward)."""
    barrier = threading.Barrier(n_threads, timeout=30)
    ran = [[] for _ in range(n_threads)]
    errors = []

    def work(k):
        try:
            x = fg.tensor([float(k + 1)], requires_grad=True)
            y = x * 2.0

            def hook(g):
                barrier.wait()           # all threads are inside backward now
                autograd.queue_callback(lambda: ran[k].append(threading.get_ident()))
                barrier.wait()           # all have queued before any finishes
                return g

            y.register_hook(hook)
            y.sum().backward()
            ran[k].append(("done", threading.get_ident(), float(x.grad._data[0])))
        except BaseException as e:       # noqa: BLE001 - reported below
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return threads, ran, errors


@pytest.mark.parametrize("n_threads", [2, 4])
def test_queue_callback_is_per_backward_call_across_threads(n_threads):
    threads, ran, errors = _threaded_backward(n_threads)
    assert not errors, errors
    for k, t in enumerate(threads):
        # exactly one callback, run by the thread that queued it, before backward returned
        assert len(ran[k]) == 2, ran[k]
        assert ran[k][0] == t.ident
        assert ran[k][1] == ("done", t.ident, 2.0)


def test_queue_callback_outside_backward_in_another_thread_raises():
    out = []

    def work():
        try:
            autograd.queue_callback(lambda: None)
        except RuntimeError as e:
            out.append(str(e))

    x = fg.tensor([1.0], requires_grad=True)
    y = x * 2.0

    def hook(g):
        t = threading.Thread(target=work)
        t.start()
        t.join()
        return g

    y.register_hook(hook)
    y.sum().backward()
    assert len(out) == 1 and "no backward pass is running" in out[0]


# ---- index and target arguments that are not what the op needs: clear errors ----------------
@pytest.mark.parametrize("call,exc,msg", [
    (lambda x: fg.gather(x, 1, [[0, 1], [1]]), ValueError, "gather: index must be a rectangular"),
    (lambda x: fg.index_select(x, 0, [[0], [1, 2]]), ValueError, "index_select: index must be"),
    (lambda x: x[[[[0, 1], [1]]]], ValueError, "index: index must be a rectangular"),
    (lambda x: F.embedding([[0, 1], [1]], x), ValueError, "embedding: indices must be a rectangular"),
    (lambda x: F.cross_entropy(x, [[0], [1, 2]]), ValueError, "cross_entropy: target must be"),
    (lambda x: F.cross_entropy(x, fg.tensor([0, 1, 1]), ignore_index=2 ** 70), ValueError,
     "cross_entropy: ignore_index .* int64"),
    (lambda x: F.nll_loss(x, fg.tensor([0, 1, 1]), ignore_index=1.5), TypeError,
     "nll_loss: ignore_index must be an int"),
    (lambda x: F.embedding(fg.tensor([0]), np.ones((3, 2))), TypeError,
     "embedding: weight must be a Tensor"),
    (lambda x: F.embedding(fg.tensor([0]), x, padding_idx=1.5), TypeError,
     "embedding: padding_idx must be an int"),
    (lambda x: F.embedding(fg.tensor([0]), x, padding_idx=True), TypeError,
     "embedding: padding_idx must be an int"),
])
def test_bad_index_arguments_name_the_op(call, exc, msg):
    x = fg.randn(3, 4, requires_grad=True)
    with pytest.raises(exc, match=msg):
        call(x)
