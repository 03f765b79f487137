"""nn.Parameter goes wherever a Tensor goes: every registry op gives the same values and
gradients with its float inputs as Parameters, results are plain Tensors, and the
update idioms of training scripts (in-place ops under no_grad, indexing, ``._data``)
behave as in PyTorch."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad import nn
from fastgrad.testing import REGISTRY

from conftest import assert_close, materialize

OPS = sorted(REGISTRY)


def _outputs(res):
    res = res if isinstance(res, (tuple, list)) else (res,)
    return [r for r in res if isinstance(r, fg.Tensor)]


def _as_parameters(args):
    """Float leaf tensors -> Parameters sharing their memory (same requires_grad)."""
    return [nn.Parameter(a, requires_grad=a.requires_grad)
            if isinstance(a, fg.Tensor) and a.dtype.kind == "f" and a.grad_fn is None else a
            for a in args]


def _run(info, s, args):
    outs = _outputs(info.op(*args, **s.kwargs))
    xs = [a for a in args if isinstance(a, fg.Tensor) and a.requires_grad]
    live = [o for o in outs if o.requires_grad]
    grads = []
    if xs and live:
        vs = [fg.tensor(np.linspace(-1, 1, o.numel()).reshape(o.shape), dtype=o.dtype) for o in live]
        grads = fg.autograd.grad(live, xs, vs, allow_unused=True)
    return outs, grads


@pytest.mark.parametrize("name", OPS)
def test_registry_op_with_parameter_inputs(name):
    info = REGISTRY[name]
    checked = 0
    for s in info.samples(np.random.default_rng(5)):
        if not s.grad:
            continue                    # the large samples: same code path, no need twice
        plain = materialize(s, np.float64, info.grad)
        params = _as_parameters(materialize(s, np.float64, info.grad))
        if not any(isinstance(p, nn.Parameter) for p in params):
            continue
        outs, grads = _run(info, s, plain)
        pouts, pgrads = _run(info, s, params)
        assert len(outs) == len(pouts)
        for o, po in zip(outs, pouts):
            if not any(po is p for p in params):
                assert type(po) is fg.Tensor, f"{name} {s}: result is a {type(po).__name__}"
            assert po.dtype == o.dtype and po.shape == o.shape, f"{name} {s}"
            assert_close(po.detach().numpy(), o.detach().numpy(), 0, 0, f"{name} {s}")
        assert len(grads) == len(pgrads)
        for g, pg in zip(grads, pgrads):
            assert (g is None) == (pg is None), f"{name} {s}"
            if g is not None:
                assert type(pg) is fg.Tensor
                assert_close(pg.numpy(), g.numpy(), 0, 0, f"{name} {s} grad")
        checked += 1
    if any(isinstance(a, np.ndarray) and a.dtype.kind == "f"
           for s in info.samples(np.random.default_rng(5)) if s.grad for a in s.args):
        assert checked, f"{name}: no sample took a Parameter"


def test_parameter_shares_memory_with_its_tensor():
    t = fg.zeros(3)
    p = nn.Parameter(t)
    with fg.no_grad():
        p.add_(1.0)
    np.testing.assert_array_equal(t.numpy(), [1.0, 1.0, 1.0])
    assert p.requires_grad and p.is_leaf and type(p) is nn.Parameter


# ---- update idioms, each compared with PyTorch --------------------------------------------
def _sgd_sub(p, g, lib):
    p.sub_(0.1 * g)


def _sgd_isub(p, g, lib):
    p -= 0.1 * g


def _add_alpha(p, g, lib):
    p.add_(g, alpha=-0.5)


def _mul_add(p, g, lib):
    p.mul_(0.9).add_(g)


def _copy(p, g, lib):
    p.copy_(g * 2)


def _zero(p, g, lib):
    p.zero_()


def _fill(p, g, lib):
    p.fill_(3.0)


def _setitem_row(p, g, lib):
    p[0] = 1.5


def _setitem_tensor_index(p, g, lib):
    p[lib.tensor([1, 3])] = g[:2]


def _setitem_slice_add(p, g, lib):
    p[:, 1] += g[:, 0]


def _clamp(p, g, lib):
    p.clamp_(-0.2, 0.2)


def _masked_fill(p, g, lib):
    p.masked_fill_(g > 0, 0.0)


def _data_add(p, g, lib):
    p.data.add_(g, alpha=-0.1)


def _data_copy(p, g, lib):
    p.data.copy_(g)


def _data_mul(p, g, lib):
    p.data.mul_(0.5)


def _data_setitem(p, g, lib):
    p.data[1:3] = g[0]


def _data_isub(p, g, lib):
    p.data -= 0.1 * g


def _data_assign(p, g, lib):
    p.data = p.data - 0.1 * g


IDIOMS = [_sgd_sub, _sgd_isub, _add_alpha, _mul_add, _copy, _zero, _fill, _setitem_row,
          _setitem_tensor_index, _setitem_slice_add, _clamp, _masked_fill, _data_add, _data_copy,
          _data_mul, _data_setitem, _data_isub, _data_assign]


@pytest.mark.parametrize("idiom", IDIOMS, ids=lambda f: f.__name__[1:])
def test_update_idiom_matches_torch(idiom):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    p, tp = nn.Parameter(fg.tensor(w)), torch.nn.Parameter(torch.tensor(w))
    pg, tg = fg.tensor(g), torch.tensor(g)
    v0, tv0 = p._version[0], tp._version
    with fg.no_grad():
        idiom(p, pg, fg)
    with torch.no_grad():
        idiom(tp, tg, torch)
    assert type(p) is nn.Parameter and p.requires_grad and p.is_leaf
    np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-15, atol=1e-15)
    assert (p._version[0] > v0) == (tp._version > tv0)
    # still a working leaf afterwards
    (p * p).sum().backward()
    (tp * tp).sum().backward()
    np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("index", [0, -1, slice(1, 3), (slice(None), 1), [0, 2]],
                         ids=["int", "neg", "slice", "tuple", "list"])
def test_indexing_a_parameter_matches_torch(index):
    torch = pytest.importorskip("torch")
    w = np.arange(12.0).reshape(4, 3)
    p, tp = nn.Parameter(fg.tensor(w)), torch.nn.Parameter(torch.tensor(w))
    out, tout = p[index], tp[index]
    assert type(out) is fg.Tensor and out.grad_fn is not None
    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    (out * out).sum().backward()
    (tout * tout).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), tp.grad.numpy())


def test_parameter_indexed_by_a_tensor_as_embedding_lookup():
    torch = pytest.importorskip("torch")
    w = np.random.default_rng(1).standard_normal((5, 2))
    idx = np.array([[0, 4], [4, 1]])
    p, tp = nn.Parameter(fg.tensor(w)), torch.nn.Parameter(torch.tensor(w))
    out, tout = p[fg.tensor(idx)], tp[torch.tensor(idx)]
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
    np.testing.assert_array_equal(p.grad.numpy(), tp.grad.numpy())


def test_inplace_op_with_a_parameter_argument_records_it():
    """x.add_(p) under grad mode: p requires grad, so the op is recorded and p gets a
    gradient (the argument check must see Parameters)."""
    torch = pytest.importorskip("torch")
    w = np.ones((2, 2))
    p, tp = nn.Parameter(fg.tensor(w)), torch.nn.Parameter(torch.tensor(w))
    y, ty = fg.zeros(2, 2, dtype=fg.float64), torch.zeros(2, 2, dtype=torch.float64)
    y.add_(p * 3.0)
    ty.add_(tp * 3.0)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), tp.grad.numpy())


def test_inplace_on_a_parameter_outside_no_grad_raises_runtime_error():
    torch = pytest.importorskip("torch")
    p, tp = nn.Parameter(fg.ones(2)), torch.nn.Parameter(torch.ones(2))
    with pytest.raises(RuntimeError) as te:
        tp.add_(1.0)
    with pytest.raises(type(te.value), match="leaf"):
        p.add_(1.0)


# ---- .data ----------------------------------------------------------------------------------
def test_data_is_a_detached_tensor_sharing_memory_as_in_torch():
    torch = pytest.importorskip("torch")
    w = np.arange(6.0).reshape(2, 3)
    for p, tp in ((nn.Parameter(fg.tensor(w)), torch.nn.Parameter(torch.tensor(w))),
                  (fg.tensor(w, requires_grad=True) * 2, torch.tensor(w, requires_grad=True) * 2)):
        d, td = p.data, tp.data
        assert type(d) is fg.Tensor and type(td) is torch.Tensor
        assert d.requires_grad == td.requires_grad is False
        assert d.grad_fn is None and td.grad_fn is None and d.is_leaf
        assert d.shape == tuple(td.shape)
        assert str(d.dtype).replace("fastgrad.", "") == str(td.dtype).replace("torch.", "")
        v0, tv0 = p._version[0], tp._version
        d.add_(1.0)
        td.add_(1.0)
        np.testing.assert_array_equal(p.detach().numpy(), tp.detach().numpy())   # same memory
        assert (p._version[0] == v0) == (tp._version == tv0)    # its own version counter
    x = fg.ones(3)
    assert np.shares_memory(x.data.numpy(), x.numpy())


def test_changes_through_data_are_not_seen_by_autograd():
    torch = pytest.importorskip("torch")
    grads = []
    for L in (fg, torch):
        x = L.tensor([1.0, 2.0, 3.0], dtype=L.float64, requires_grad=True)
        y = x * x
        x.data.mul_(10.0)           # no version error: the graph does not see it
        y.sum().backward()
        grads.append(x.grad.numpy().copy())
    np.testing.assert_array_equal(grads[0], grads[1])


def test_assigning_data_replaces_the_storage_as_in_torch():
    torch = pytest.importorskip("torch")
    p, tp = nn.Parameter(fg.ones(3)), torch.nn.Parameter(torch.ones(3))
    p.data = fg.zeros(2, 2, dtype=fg.float64)
    tp.data = torch.zeros(2, 2, dtype=torch.float64)
    assert type(p) is nn.Parameter and p.requires_grad and p.is_leaf
    assert p.shape == tuple(tp.shape) and p.dtype == np.float64
    (p * 2).sum().backward()
    (tp * 2).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), tp.grad.numpy())
    src = fg.arange(4.0)
    p.data = src
    with fg.no_grad():
        p.add_(1.0)
    assert src.tolist() == [1.0, 2.0, 3.0, 4.0]                # shares the assigned memory
    for bad in ([1.0, 2.0], np.ones(2)):
        with pytest.raises(TypeError) as te:
            tp.data = bad
        with pytest.raises(type(te.value), match="must be a Tensor"):
            p.data = bad


def test_data_assignment_in_module_weight_init_idiom():
    torch = pytest.importorskip("torch")
    m, tm = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    w = np.random.default_rng(3).standard_normal((2, 3)).astype(np.float32)
    m.weight.data = fg.tensor(w)
    tm.weight.data = torch.tensor(w)
    m.bias.data.zero_()
    tm.bias.data.zero_()
    x = np.ones((1, 3), np.float32)
    np.testing.assert_allclose(m(fg.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-6)
    assert list(m.parameters())[0] is m.weight


@pytest.mark.parametrize("opt", ["SGD", "Adam"])
def test_optimizer_steps_after_data_assignment_match_torch(opt):
    """Replacing a parameter's storage through .data between steps: the optimizer keeps
    its state and updates the new storage, as PyTorch's does."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    w0, x, w1 = (rng.standard_normal(s) for s in ((2, 3), (5, 3), (2, 3)))
    results = []
    for L in (fg, torch):
        m = L.nn.Linear(3, 2, bias=False).double()
        with L.no_grad():
            m.weight.copy_(L.tensor(w0))
        kw = {"lr": 0.1, "momentum": 0.9} if opt == "SGD" else {"lr": 0.1}
        o = getattr(L.optim, opt)(m.parameters(), **kw)
        for step in range(4):
            if step == 2:
                m.weight.data = L.tensor(w1)
            o.zero_grad()
            (m(L.tensor(x)) ** 2).sum().backward()
            o.step()
        results.append(m.weight.detach().numpy().copy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-10, atol=1e-12)
