"""Pickling and copying: tensors as data plus requires_grad (never the graph), modules
and optimizers as PyTorch's pickle and deepcopy them, and multiprocessing."""
import copy
import multiprocessing as mp
import pickle

import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn as nn
import fastgrad.nn.functional as F


def _rt(obj):
    return pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


@pytest.mark.parametrize("make", [
    lambda: fg.randn(3, 4),
    lambda: fg.randn(3, 4, dtype=fg.float64),
    lambda: fg.arange(10).reshape(2, 5),
    lambda: fg.tensor([True, False]),
    lambda: fg.tensor(1.5),
    lambda: fg.zeros(0, 3),
    lambda: fg.randn(4, 6)[:, ::2],                # a view: only its elements are pickled
])
def test_tensors_round_trip(make):
    t = make()
    u = _rt(t)
    assert type(u) is fg.Tensor and u.dtype == t.dtype and u.shape == t.shape
    np.testing.assert_array_equal(u.numpy(), t.numpy())
    assert not np.shares_memory(u.numpy(), t.numpy())


def test_graph_and_grad_are_never_pickled():
    a = fg.randn(3, requires_grad=True)
    for b in (a * 2, fg.exp(a), F.relu(a), a.sum()):      # non-leaves from several ops
        u = _rt(b)
        assert u.requires_grad and u.grad_fn is None
        np.testing.assert_array_equal(u.detach().numpy(), b.detach().numpy())
        u.sum().backward()                                  # a leaf of its own
        assert u.grad is not None and a.grad is None
    a.grad = fg.ones(3)
    assert _rt(a).grad is None
    assert _rt(a.detach()).requires_grad is False


def test_parameter_round_trips_as_parameter():
    p = nn.Parameter(fg.randn(2, 3))
    q = _rt(p)
    assert type(q) is nn.Parameter and q.requires_grad
    np.testing.assert_array_equal(q.detach().numpy(), p.detach().numpy())
    assert _rt(nn.Parameter(fg.ones(2), requires_grad=False)).requires_grad is False


def test_deepcopy_matches_pytorch_rules():
    a = fg.randn(3, requires_grad=True)
    a.grad = fg.full((3,), 2.0)
    b = copy.deepcopy(a)
    assert b.requires_grad and b.grad_fn is None
    np.testing.assert_array_equal(b.grad.numpy(), a.grad.numpy())
    b.detach().add_(1.0)
    assert not np.array_equal(b.detach().numpy(), a.detach().numpy())
    with pytest.raises(RuntimeError, match="leaf"):
        copy.deepcopy(a * 2)
    t = fg.arange(4.0)
    pair = copy.deepcopy([t, t])
    assert pair[0] is pair[1]                                # shared stays shared


def _model():
    fg.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 3))


def test_modules_and_optimizers_pickle():
    m = _model()
    opt = fg.optim.Adam(m.parameters(), lr=1e-2)
    x, y = fg.randn(16, 4), fg.randint(0, 3, (16,))
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(m(x), y).backward()
        opt.step()
    m2, opt2 = _rt((m, opt))
    assert [k for k, _ in m2.named_parameters()] == [k for k, _ in m.named_parameters()]
    for (k, a), b in zip(m.state_dict().items(), m2.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(force=True), b.numpy(force=True), err_msg=k)
    # the unpickled optimizer drives the unpickled model's parameters, exactly as the original
    for mm, oo in ((m, opt), (m2, opt2)):
        oo.zero_grad()
        F.cross_entropy(mm(x), y).backward()
        oo.step()
    for a, b in zip(m.parameters(), m2.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert opt2.param_groups[0]["params"][0] is next(iter(m2.parameters()))


def _worker_sum(t):
    return (t * 2).sum().item()


def test_tensors_cross_process_boundaries():
    t = fg.arange(6.0).reshape(2, 3)
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        assert pool.map(_worker_sum, [t, t + 1]) == [30.0, 42.0]
