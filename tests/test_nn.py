"""nn.Module machinery, containers, layers, init and losses.

Layers and losses are checked against NumPy formulas written here (float64) and their
gradients against central differences (fastgrad.autograd.gradcheck)."""
import math
from collections import OrderedDict

import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn as nn
import fastgrad.nn.functional as F
from fastgrad.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(1234)


def t64(a, grad=True):
    return fg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# ---- Module registration and traversal ------------------------------------------------------
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.scale = nn.Parameter(fg.ones(4))
        self.register_buffer("count", fg.zeros(()))
        self.register_buffer("tmp", fg.zeros(2), persistent=False)
        self.act = nn.Tanh()

    def forward(self, x):
        return self.act(self.fc(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.b1 = Block()
        self.b2 = Block()
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.b1(x) + self.b2(x))


def test_registration_and_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["b1.scale", "b1.fc.weight", "b1.fc.bias", "b2.scale", "b2.fc.weight",
                     "b2.fc.bias", "head.weight", "head.bias"]
    assert len(list(net.parameters())) == 8
    assert [n for n, _ in net.named_buffers()] == ["b1.count", "b1.tmp", "b2.count", "b2.tmp"]
    assert [n for n, _ in net.named_children()] == ["b1", "b2", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "b1", "b1.fc", "b1.act", "b2", "b2.fc",
                                                    "b2.act", "head"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert list(net.parameters(recurse=False)) == []
    assert net.get_submodule("b1.fc") is net.b1.fc
    assert net.get_parameter("b2.fc.bias") is net.b2.fc.bias


def test_shared_parameter_listed_once_and_reassignment():
    a = nn.Linear(2, 2)
    seq = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(seq.parameters())) == 2
    m = nn.Linear(2, 3)
    m.weight = nn.Parameter(fg.zeros(3, 2))
    assert m._parameters["weight"] is m.weight
    m.bias = None
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    with pytest.raises(TypeError, match="cannot assign Tensor as parameter 'weight'"):
        m.weight = fg.zeros(3, 2)
    m.extra = nn.Tanh()
    assert "extra" in dict(m.named_children())
    del m.extra
    assert "extra" not in dict(m.named_children())


def test_assign_before_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(fg.zeros(2))

    with pytest.raises(AttributeError, match="super\\(\\).__init__\\(\\)"):
        Bad()


def test_train_eval_zero_grad_requires_grad_apply():
    net = Net()
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    x = fg.randn(5, 3)
    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen.count("Linear") == 3


def test_to_dtype_casts_parameters_and_buffers():
    net = Net().to(fg.float64)
    assert all(p.dtype == fg.float64 for p in net.parameters())
    assert net.b1.count.dtype == fg.float64
    out = net(fg.randn(2, 3, dtype=fg.float64))
    assert out.dtype == fg.float64
    net.float()
    assert all(p.dtype == fg.float32 for p in net.parameters())
    with pytest.raises(TypeError, match="only accepts floating point dtypes"):
        net.to(fg.int64)


def test_repr_matches_pytorch_layout():
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.25), nn.Linear(8, 2, bias=False))
    assert repr(m) == ("Sequential(\n"
                       "  (0): Linear(in_features=4, out_features=8, bias=True)\n"
                       "  (1): ReLU()\n"
                       "  (2): Dropout(p=0.25, inplace=False)\n"
                       "  (3): Linear(in_features=8, out_features=2, bias=False)\n"
                       ")")
    nested = nn.Sequential(OrderedDict(body=nn.Sequential(nn.Tanh())))
    assert repr(nested) == "Sequential(\n  (body): Sequential(\n    (0): Tanh()\n  )\n)"


def test_forward_hooks():
    m = nn.Linear(3, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: calls.append("pre"))
    h2 = m.register_forward_hook(lambda mod, args, out: out * 0)
    out = m(fg.randn(4, 3))
    assert calls == ["pre"] and np.all(out.detach().numpy() == 0)
    h1.remove()
    h2.remove()
    assert np.any(m(fg.randn(4, 3)).detach().numpy() != 0)


# ---- state_dict ----------------------------------------------------------------------------------
def test_state_dict_round_trip_and_sharing():
    a, b = Net(), Net()
    sd = a.state_dict()
    # a module's own parameters, then its persistent buffers, then its children's
    assert list(sd) == ["b1.scale", "b1.count", "b1.fc.weight", "b1.fc.bias", "b2.scale",
                        "b2.count", "b2.fc.weight", "b2.fc.bias", "head.weight", "head.bias"]
    assert not any(v.requires_grad for v in sd.values())
    res = b.load_state_dict(sd)
    assert res.missing_keys == [] and res.unexpected_keys == []
    x = fg.randn(4, 3)
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())
    # values are copied, not aliased
    b.head.weight._data[...] = 0
    assert np.any(a.head.weight._data != 0)
    # state_dict tensors alias the parameters
    sd["head.bias"]._data[...] = 7
    assert np.all(a.head.bias._data == 7)


def test_load_state_dict_errors():
    net = Net()
    sd = dict(net.state_dict())
    sd.pop("head.bias")
    sd["extra.w"] = fg.zeros(1)
    with pytest.raises(RuntimeError) as e:
        Net().load_state_dict(sd)
    assert 'Unexpected key(s) in state_dict: "extra.w"' in str(e.value)
    assert 'Missing key(s) in state_dict: "head.bias"' in str(e.value)
    res = Net().load_state_dict(sd, strict=False)
    assert res.missing_keys == ["head.bias"] and res.unexpected_keys == ["extra.w"]
    sd = dict(net.state_dict())
    sd["head.weight"] = fg.zeros(3, 4)
    with pytest.raises(RuntimeError, match=r"size mismatch for head.weight: copying a param with "
                                           r"shape \(3, 4\) from checkpoint, the shape in current "
                                           r"model is \(2, 4\)"):
        Net().load_state_dict(sd, strict=False)
    with pytest.raises(TypeError, match="expected a mapping"):
        Net().load_state_dict([1, 2])


def test_load_state_dict_accepts_numpy_and_casts():
    m = nn.Linear(3, 2)
    w = RNG.standard_normal((2, 3))
    m.load_state_dict({"weight": w, "bias": np.zeros(2)})
    assert m.weight.dtype == fg.float32
    np.testing.assert_allclose(m.weight._data, w.astype(np.float32))


# ---- containers ---------------------------------------------------------------------------------
def test_sequential_container_ops():
    s = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(s) == 3 and isinstance(s[-1], nn.Linear)
    assert isinstance(s[:2], nn.Sequential) and len(s[:2]) == 2
    s.append(nn.Sigmoid())
    assert len(s) == 4 and isinstance(s[3], nn.Sigmoid)
    s.insert(0, nn.Identity())
    assert [type(m).__name__ for m in s] == ["Identity", "Linear", "ReLU", "Linear", "Sigmoid"]
    del s[0]
    assert [n for n, _ in s.named_children()] == ["0", "1", "2", "3"]
    with pytest.raises(IndexError, match="out of range"):
        s[10]
    out = s(fg.randn(5, 2)).detach().numpy()
    assert out.shape == (5, 1) and np.all((out > 0) & (out < 1))


def test_modulelist_and_moduledict():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(ml) == 3 and len(list(ml.parameters())) == 6
    ml.append(nn.Tanh())
    del ml[0]
    assert [n for n, _ in ml.named_children()] == ["0", "1", "2"]
    md = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.ReLU()})
    assert list(md.keys()) == ["a", "b"] and "a" in md
    md["c"] = nn.Linear(1, 2)
    assert [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias", "c.weight", "c.bias"]
    with pytest.raises(KeyError):
        md["zz"]


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh, nn.Sigmoid])
def test_sequential_fusion_equals_unfused(act):
    fg.manual_seed(0)
    s = nn.Sequential(nn.Linear(6, 5), act(), nn.Linear(5, 3)).double()
    x = t64(RNG.standard_normal((7, 6)))
    y = s(x)
    # the same computation one module at a time
    h = s[0](x)
    ref = s[2](s[1](h))
    np.testing.assert_allclose(y.detach().numpy(), ref.detach().numpy(), rtol=1e-13, atol=1e-14)
    assert gradcheck(lambda x, *p: s(x), [x] + list(s.parameters()))
    gx = fg.autograd.grad(y.sum(), x)[0]
    gref = fg.autograd.grad(ref.sum(), x)[0]
    np.testing.assert_allclose(gx.numpy(), gref.numpy(), rtol=1e-12)


def test_hook_on_child_sees_intermediate_despite_fusion():
    s = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = fg.randn(2, 3)
    s(x)                                  # builds the fused plan
    seen = []
    h = s[0].register_forward_hook(lambda m, a, out: seen.append(out.detach().numpy().copy()))
    s(x)
    assert len(seen) == 1 and seen[0].shape == (2, 4) and np.any(seen[0] < 0)
    h.remove()


# ---- layers vs NumPy ---------------------------------------------------------------------------
def test_linear_forward_and_gradients():
    m = nn.Linear(5, 3).double()
    x = t64(RNG.standard_normal((4, 5)))
    ref = x._data @ m.weight._data.T + m.bias._data
    np.testing.assert_allclose(m(x).detach().numpy(), ref, rtol=1e-12)
    assert gradcheck(lambda x, w, b: m(x), [x, m.weight, m.bias])
    x3 = t64(RNG.standard_normal((2, 3, 5)))
    np.testing.assert_allclose(m(x3).detach().numpy(), x3._data @ m.weight._data.T + m.bias._data,
                               rtol=1e-12)
    with pytest.raises(ValueError, match="linear: input shape \\(4, 6\\)"):
        m(t64(np.zeros((4, 6))))


def test_bilinear_matches_einsum():
    m = nn.Bilinear(3, 4, 2).double()
    a, b = t64(RNG.standard_normal((5, 3))), t64(RNG.standard_normal((5, 4)))
    ref = np.einsum("ni,kij,nj->nk", a._data, m.weight._data, b._data) + m.bias._data
    np.testing.assert_allclose(m(a, b).detach().numpy(), ref, rtol=1e-12)
    assert gradcheck(lambda a, b, w, bias: m(a, b), [a, b, m.weight, m.bias])


def test_embedding_gather_accumulation_and_padding():
    e = nn.Embedding(6, 3, padding_idx=2).double()
    assert np.all(e.weight._data[2] == 0)
    idx = fg.tensor([[1, 2, 1], [5, 1, 0]])
    out = e(idx)
    np.testing.assert_array_equal(out.detach().numpy(), e.weight._data[idx._data])
    g = RNG.standard_normal((2, 3, 3))
    out.backward(fg.tensor(g))
    ref = np.zeros((6, 3))
    np.add.at(ref, idx._data, g)
    ref[2] = 0
    np.testing.assert_allclose(e.weight.grad.numpy(), ref, rtol=1e-12)
    with pytest.raises(IndexError, match="index 6 is out of range for 6 embeddings"):
        e(fg.tensor([6]))
    with pytest.raises(TypeError, match="indices must be integers"):
        e(fg.tensor([1.0]))
    # (the padding row is used in the forward but gets no gradient by design, so the
    # finite-difference check runs without padding_idx)
    assert gradcheck(lambda w: F.embedding(idx, w), [e.weight])


def test_layernorm_matches_numpy_and_gradchecks():
    m = nn.LayerNorm((3, 4)).double()
    m.weight._data[...] = RNG.standard_normal((3, 4))
    m.bias._data[...] = RNG.standard_normal((3, 4))
    x = t64(RNG.standard_normal((2, 3, 4)) * 3 + 1)
    mu = x._data.mean((1, 2), keepdims=True)
    var = x._data.var((1, 2), keepdims=True)
    ref = (x._data - mu) / np.sqrt(var + 1e-5) * m.weight._data + m.bias._data
    np.testing.assert_allclose(m(x).detach().numpy(), ref, rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda x, w, b: m(x), [x, m.weight, m.bias])
    assert gradgradcheck(lambda x: m(x), [x])
    with pytest.raises(ValueError, match="normalized_shape \\(3, 4\\) does not match"):
        m(t64(np.zeros((2, 4, 3))))


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5)])
def test_batchnorm1d_training_eval_and_running_stats(shape):
    m = nn.BatchNorm1d(3, momentum=0.2).double()
    m.weight._data[...] = [0.5, 2.0, -1.0]
    m.bias._data[...] = [0.1, 0.0, 0.3]
    dims = (0,) if len(shape) == 2 else (0, 2)
    bshape = (1, 3) if len(shape) == 2 else (1, 3, 1)
    rm, rv = np.zeros(3), np.ones(3)
    for step in range(3):
        x = t64(RNG.standard_normal(shape) * (step + 1) + step)
        y = m(x)
        mu, var = x._data.mean(dims), x._data.var(dims)
        n = x._data.size // 3
        ref = ((x._data - mu.reshape(bshape)) / np.sqrt(var.reshape(bshape) + 1e-5)
               * m.weight._data.reshape(bshape) + m.bias._data.reshape(bshape))
        np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-10, atol=1e-12)
        rm = 0.8 * rm + 0.2 * mu
        rv = 0.8 * rv + 0.2 * var * n / (n - 1)
        np.testing.assert_allclose(m.running_mean.numpy(), rm, rtol=1e-12)
        np.testing.assert_allclose(m.running_var.numpy(), rv, rtol=1e-12)
    assert int(m.num_batches_tracked.item()) == 3
    m.eval()
    x = t64(RNG.standard_normal(shape))
    ref = ((x._data - rm.reshape(bshape)) / np.sqrt(rv.reshape(bshape) + 1e-5)
           * m.weight._data.reshape(bshape) + m.bias._data.reshape(bshape))
    np.testing.assert_allclose(m(x).detach().numpy(), ref, rtol=1e-10)
    m.train()
    saved = m.running_mean.numpy().copy()
    assert gradcheck(lambda x, w, b: m(x), [x, m.weight, m.bias])
    assert not np.array_equal(saved, m.running_mean.numpy())   # training updates them
    with pytest.raises(ValueError, match="expected more than 1 value per channel"):
        m(t64(np.zeros((1, 3))))
    with pytest.raises(ValueError, match="expected 2-D or 3-D input"):
        m(t64(np.zeros((2, 3, 4, 5))))


def test_batchnorm_cumulative_average_and_no_tracking():
    m = nn.BatchNorm1d(2, momentum=None).double()
    xs = [RNG.standard_normal((6, 2)) for _ in range(4)]
    for x in xs:
        m(t64(x))
    np.testing.assert_allclose(m.running_mean.numpy(), np.mean([x.mean(0) for x in xs], 0), rtol=1e-12)
    m2 = nn.BatchNorm1d(2, track_running_stats=False).double().eval()
    x = RNG.standard_normal((6, 2))
    ref = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)
    np.testing.assert_allclose(m2(t64(x)).detach().numpy(), ref, rtol=1e-10)
    assert "running_mean" not in m2.state_dict()


def test_dropout_scaling_seed_and_eval():
    d = nn.Dropout(0.3)
    x = fg.ones(200, 500)
    fg.manual_seed(5)
    y1 = d(x).numpy()
    fg.manual_seed(5)
    y2 = d(x).numpy()
    np.testing.assert_array_equal(y1, y2)
    kept = y1 != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y1[kept], 1 / 0.7, rtol=1e-6)
    d.eval()
    assert d(x) is x
    xr = fg.randn(3, 4, requires_grad=True)
    d.train()
    fg.manual_seed(1)
    y = d(xr)
    y.backward(fg.ones(3, 4))
    np.testing.assert_allclose(xr.grad.numpy(), (y.detach().numpy() != 0) / 0.7, rtol=1e-6)
    with pytest.raises(ValueError, match="probability must be in \\[0, 1\\]"):
        nn.Dropout(1.5)
    assert np.all(F.dropout(x, 1.0).numpy() == 0)


def test_flatten_unflatten_identity():
    x = fg.randn(2, 3, 4)
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0, 1)(x).shape == (6, 4)
    assert nn.Unflatten(1, (3, 1))(fg.randn(2, 3)).shape == (2, 3, 1)
    assert nn.Identity(5, foo=1)(x) is x


@pytest.mark.parametrize("mod,ref", [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.Tanh(), np.tanh),
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (nn.LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (nn.SiLU(), lambda x: x / (1 + np.exp(-x))),
    (nn.GELU("tanh"), lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    (nn.Softplus(2.0), lambda x: np.log1p(np.exp(2 * x)) / 2),
    (nn.Softmax(1), lambda x: np.exp(x) / np.exp(x).sum(1, keepdims=True)),
    (nn.LogSoftmax(1), lambda x: x - np.log(np.exp(x).sum(1, keepdims=True))),
    (nn.ELU(0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x))),
    (nn.SELU(), lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x))),
    (nn.Mish(), lambda x: x * np.tanh(np.log1p(np.exp(x)))),
    (nn.Hardswish(), lambda x: x * np.clip(x + 3, 0, 6) / 6),
    (nn.Hardsigmoid(), lambda x: np.clip(x / 6 + 0.5, 0, 1)),
    (nn.Hardtanh(-0.5, 0.8), lambda x: np.clip(x, -0.5, 0.8)),
    (nn.ReLU6(), lambda x: np.clip(x, 0, 6)),
])
def test_activation_modules(mod, ref):
    x = t64(RNG.standard_normal((4, 5)) * 3)
    x._data[np.abs(np.abs(x._data) - 3) < 1e-3] += 0.01    # stay off hardswish/relu6 kinks
    np.testing.assert_allclose(mod(x).detach().numpy(), ref(x._data), rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda x: mod(x), [x])


# ---- init ---------------------------------------------------------------------------------------
def test_default_linear_init_distribution():
    fg.manual_seed(0)
    m = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w = m.weight._data
    assert w.min() >= -bound and w.max() <= bound
    # U(-b, b) has variance b^2 / 3
    assert abs(w.var() / (bound ** 2 / 3) - 1) < 0.02
    assert m.bias._data.min() >= -bound and m.bias._data.max() <= bound


@pytest.mark.parametrize("fn,expect_std", [
    (lambda t: nn.init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(2) / math.sqrt(250)),
    (lambda t: nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"), math.sqrt(2 / 500)),
    (lambda t: nn.init.xavier_uniform_(t, gain=2.0), 2 * math.sqrt(2 / 750)),
    (lambda t: nn.init.xavier_normal_(t), math.sqrt(2 / 750)),
    (lambda t: nn.init.normal_(t, 1.0, 0.5), 0.5),
    (lambda t: nn.init.uniform_(t, -3, 3), 3 / math.sqrt(3)),
    (lambda t: nn.init.trunc_normal_(t, std=1.0, a=-1, b=1), 0.5379),   # std of N(0,1) cut at +-1
])
def test_init_statistics(fn, expect_std):
    fg.manual_seed(3)
    t = fg.empty(500, 250, dtype=fg.float64)
    v0 = t._version[0]
    assert fn(t) is t
    assert t._version[0] > v0
    assert abs(t.numpy().std() / expect_std - 1) < 0.02


def test_init_misc_and_errors():
    t = fg.empty(3, 4)
    nn.init.zeros_(t)
    assert np.all(t.numpy() == 0)
    nn.init.ones_(t)
    assert np.all(t.numpy() == 1)
    nn.init.constant_(t, 2.5)
    assert np.all(t.numpy() == 2.5)
    nn.init.eye_(t)
    np.testing.assert_array_equal(t.numpy(), np.eye(3, 4))
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(fg.empty(5))
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        nn.init.calculate_gain("cosine")
    with pytest.raises(TypeError, match="only floating point"):
        nn.init.zeros_(fg.zeros(3, dtype=fg.int64))


# ---- losses vs NumPy ---------------------------------------------------------------------------
def _red(v, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction](v)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(reduction):
    x, y = t64(RNG.standard_normal((4, 3)) * 2), t64(RNG.standard_normal((4, 3)), grad=False)
    d = x._data - y._data
    cases = [
        (nn.MSELoss(reduction), d ** 2),
        (nn.L1Loss(reduction), np.abs(d)),
        (nn.HuberLoss(reduction, delta=0.7), np.where(np.abs(d) < 0.7, 0.5 * d ** 2, 0.7 * (np.abs(d) - 0.35))),
        (nn.SmoothL1Loss(reduction, beta=0.7), np.where(np.abs(d) < 0.7, 0.5 * d ** 2 / 0.7, np.abs(d) - 0.35)),
    ]
    for mod, ref in cases:
        np.testing.assert_allclose(mod(x, y).detach().numpy(), _red(ref, reduction), rtol=1e-12,
                                   err_msg=type(mod).__name__)
        assert gradcheck(lambda x: mod(x, y), [x])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_losses(reduction):
    p = t64(RNG.uniform(0.05, 0.95, (5, 2)))
    t = t64(RNG.uniform(0, 1, (5, 2)), grad=False)
    w = t64(RNG.uniform(0.5, 2, (5, 2)), grad=False)
    ref = -(t._data * np.log(p._data) + (1 - t._data) * np.log(1 - p._data)) * w._data
    np.testing.assert_allclose(nn.BCELoss(w, reduction)(p, t).detach().numpy(), _red(ref, reduction), rtol=1e-12)
    assert gradcheck(lambda p: F.binary_cross_entropy(p, t, w, reduction), [p])
    z = t64(RNG.standard_normal((5, 2)) * 3)
    pw = t64([2.0, 0.5], grad=False)
    s = 1 / (1 + np.exp(-z._data))
    ref = -(pw._data * t._data * np.log(s) + (1 - t._data) * np.log(1 - s))
    np.testing.assert_allclose(nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=pw)(z, t).detach().numpy(),
                               _red(ref, reduction), rtol=1e-10)


def test_bce_clamps_log_and_checks_range():
    p = t64([0.0, 1.0])
    t = t64([1.0, 0.0], grad=False)
    np.testing.assert_allclose(F.binary_cross_entropy(p, t, reduction="none").detach().numpy(), [100, 100])
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(t64([1.5]), t64([1.0]))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    logq = t64(np.log(RNG.dirichlet(np.ones(4), 3)))
    p = RNG.dirichlet(np.ones(4), 3)
    p[0, 1] = 0.0                       # a zero target contributes 0
    tgt = t64(np.log(np.where(p > 0, p, 1e-300)) if log_target else p, grad=False)
    pt = np.exp(tgt._data) if log_target else p
    with np.errstate(divide="ignore", invalid="ignore"):
        pointwise = np.where(pt > 0, pt * (np.log(np.where(pt > 0, pt, 1)) - logq._data), 0.0)
    ref = pointwise.sum() / 3 if reduction == "batchmean" else _red(pointwise, reduction)
    np.testing.assert_allclose(nn.KLDivLoss(reduction, log_target)(logq, tgt).detach().numpy(), ref,
                               rtol=1e-10, atol=1e-14)
    assert gradcheck(lambda x: F.kl_div(x, tgt, reduction, log_target), [logq])


def _np_log_softmax(x):
    m = x.max(1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(1, keepdims=True))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ls", [0.0, 0.2])
def test_weighted_cross_entropy_and_nll(reduction, ls):
    x = t64(RNG.standard_normal((6, 4)) * 2)
    tgt = np.array([0, 3, 1, -100, 2, 3])
    w = np.array([0.5, 1.0, 2.0, 1.5])
    lp = _np_log_softmax(x._data)
    keep = tgt != -100
    safe = np.where(keep, tgt, 0)
    nll = -lp[np.arange(6), safe] * w[safe] * keep
    smooth = -(lp * w).sum(1) * keep
    rows = (1 - ls) * nll + ls / 4 * smooth
    denom = (w[safe] * keep).sum()
    ref = rows.sum() / denom if reduction == "mean" else _red(rows, reduction)
    ce = nn.CrossEntropyLoss(weight=fg.tensor(w), reduction=reduction, label_smoothing=ls)
    np.testing.assert_allclose(ce(x, fg.tensor(tgt)).detach().numpy(), ref, rtol=1e-12)
    assert gradcheck(lambda x: ce(x, fg.tensor(tgt)), [x])
    nref = nll.sum() / denom if reduction == "mean" else _red(nll, reduction)
    nl = nn.NLLLoss(weight=fg.tensor(w), reduction=reduction)
    np.testing.assert_allclose(nl(fg.tensor(lp), fg.tensor(tgt)).detach().numpy(), nref, rtol=1e-12)
    # weights of ones give the unweighted (fused-kernel) result
    ones = nn.CrossEntropyLoss(weight=fg.ones(4, dtype=fg.float64), reduction=reduction, label_smoothing=ls)
    plain = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=ls)
    np.testing.assert_allclose(ones(x, fg.tensor(tgt)).detach().numpy(),
                               plain(x, fg.tensor(tgt)).detach().numpy(), rtol=1e-12)


def test_weighted_cross_entropy_spatial_and_errors():
    x = t64(RNG.standard_normal((2, 3, 4)))
    tgt = fg.tensor(RNG.integers(0, 3, (2, 4)))
    w = fg.tensor([1.0, 2.0, 3.0], dtype=fg.float64)
    flat = F.cross_entropy(fg.permute(x, (0, 2, 1)).reshape(-1, 3), tgt.reshape(-1), weight=w)
    np.testing.assert_allclose(F.cross_entropy(x, tgt, weight=w).detach().numpy(),
                               flat.detach().numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="weight must have shape \\(3,\\)"):
        F.cross_entropy(x, tgt, weight=fg.ones(4))
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.MSELoss("avg")


def test_losses_match_torch_when_available():
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((6, 4))
    y = RNG.standard_normal((6, 4))
    tgt = RNG.integers(0, 4, 6)
    w = RNG.uniform(0.5, 2, 4)
    pairs = [
        (nn.HuberLoss(delta=0.5), torch.nn.HuberLoss(delta=0.5), x, y),
        (nn.SmoothL1Loss(beta=0.5), torch.nn.SmoothL1Loss(beta=0.5), x, y),
        (nn.CrossEntropyLoss(weight=fg.tensor(w), label_smoothing=0.1),
         torch.nn.CrossEntropyLoss(weight=torch.tensor(w), label_smoothing=0.1), x, tgt),
        (nn.KLDivLoss("batchmean"), torch.nn.KLDivLoss(reduction="batchmean"),
         _np_log_softmax(x), np.exp(_np_log_softmax(y))),
    ]
    for ours, theirs, a, b in pairs:
        va = ours(t64(a), fg.tensor(b)).detach().numpy()
        vb = theirs(torch.tensor(a), torch.tensor(b)).numpy()
        np.testing.assert_allclose(va, vb, rtol=1e-10, err_msg=type(ours).__name__)


def test_parameter_basics():
    p = nn.Parameter(fg.zeros(3))
    assert p.requires_grad and p.grad_fn is None and isinstance(p, fg.Tensor)
    assert repr(p).startswith("Parameter containing:\ntensor(")
    q = nn.Parameter(fg.zeros(2), requires_grad=False)
    assert not q.requires_grad
    # parameters work with every op path (binary ops with scalars and tensors, where, pow)
    y = (p * 2 + 1 - p / 3) ** 2
    z = fg.where(p > 0, p, 0.5 * p).sum() + y.sum() + (2.0 - p).sum()
    z.backward()
    assert p.grad.shape == (3,)


# ---- regressions found in review ----------------------------------------------------------------
def test_create_graph_grads_are_not_shared_between_leaves():
    a = fg.randn(3, requires_grad=True)
    b = fg.randn(3, requires_grad=True)
    gv = fg.ones(3)
    (a + b).backward(gv, create_graph=True)
    assert a.grad is not b.grad and a.grad is not gv
    (a + b).backward(fg.ones(3))
    np.testing.assert_array_equal(gv.numpy(), np.ones(3))
    np.testing.assert_array_equal(b.grad.detach().numpy(), 2 * np.ones(3))


def test_register_module_invalidates_the_fused_plan():
    s = nn.Sequential(nn.Linear(3, 4))
    x = fg.randn(8, 3)
    s(x)
    s.register_module("1", nn.ReLU())
    assert s(x).detach().numpy().min() >= 0


def test_fusion_respects_a_patched_forward():
    s = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    s[1].forward = lambda x: x * 0
    assert np.all(s(fg.randn(2, 3)).detach().numpy() == 0)


def test_deepcopy_gives_an_independent_model():
    import copy
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    m(fg.randn(5, 3)).sum().backward()
    c = copy.deepcopy(m)
    assert isinstance(c[0].weight, nn.Parameter) and c[0].weight is not m[0].weight
    assert [n for n, _ in c.named_parameters()] == [n for n, _ in m.named_parameters()]
    assert c[0]._parameters["weight"] is c[0].weight
    c[0].weight._data[...] = 0
    c[1].running_mean._data[...] = 5
    assert np.any(m[0].weight._data != 0) and np.all(m[1].running_mean._data != 5)
    np.testing.assert_array_equal(c[0].bias.grad.numpy(), m[0].bias.grad.numpy())


def test_bce_gradient_is_finite_at_saturated_probabilities():
    z = t64([20.0, -20.0, 40.0])
    p = fg.sigmoid(z)
    F.binary_cross_entropy(p, t64([1.0, 0.0, 1.0], grad=False)).backward()
    assert np.all(np.isfinite(z.grad.numpy()))
    q = t64([1.0, 0.0])
    F.binary_cross_entropy(q, t64([1.0, 0.0], grad=False)).backward()
    np.testing.assert_array_equal(q.grad.numpy(), [0.0, 0.0])
    p = t64([0.3, 0.8])
    t = t64([0.2, 0.9])                   # the target gets a gradient too
    assert gradcheck(lambda p, t: F.binary_cross_entropy(p, t), [p, t])
    assert gradgradcheck(lambda p: F.binary_cross_entropy(p, t), [p])
    # second derivatives through the target's gradient too (mixed p, t terms)
    assert gradgradcheck(lambda p, t: F.binary_cross_entropy(p, t), [p, t])
    assert gradgradcheck(lambda p, t: F.binary_cross_entropy(p, t, reduction="none"), [p, t])


def test_bce_double_backward_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    pv, tv, gv = rng.uniform(0.05, 0.95, (3, 4, 5))
    p, t = t64(pv), t64(tv)
    gp, gt = fg.autograd.grad(F.binary_cross_entropy(p, t, reduction="sum"), [p, t],
                              create_graph=True)
    ours = fg.autograd.grad((gp * t64(gv, grad=False)).sum() + (gt * t64(gv, grad=False)).sum(),
                            [p, t])
    tp = torch.tensor(pv, requires_grad=True)
    tt = torch.tensor(tv, requires_grad=True)
    a, b = torch.autograd.grad(torch.nn.functional.binary_cross_entropy(tp, tt, reduction="sum"),
                               [tp, tt], create_graph=True)
    ref = torch.autograd.grad((a * torch.tensor(gv)).sum() + (b * torch.tensor(gv)).sum(), [tp, tt])
    for o, r in zip(ours, ref):
        np.testing.assert_allclose(o.numpy(), r.numpy(), rtol=1e-7, atol=1e-10)


def test_weighted_cross_entropy_none_keeps_the_target_shape():
    x = t64(RNG.standard_normal((2, 3, 4)))
    tgt = fg.tensor(RNG.integers(0, 3, (2, 4)))
    out = F.cross_entropy(x, tgt, weight=fg.ones(3, dtype=fg.float64), reduction="none")
    ref = F.cross_entropy(x, tgt, reduction="none")
    assert out.shape == (2, 4)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="target must be 0-d"):
        F.cross_entropy(t64(np.zeros(3)), fg.tensor([0, 1]), weight=fg.ones(3, dtype=fg.float64))


def test_shape_checks_of_layer_norm_bilinear_batchnorm_and_init():
    with pytest.raises(ValueError, match="weight shape \\(1,\\) must equal normalized_shape \\(4,\\)"):
        F.layer_norm(fg.randn(2, 4), (4,), weight=fg.ones(1))
    assert F.layer_norm(fg.randn(2, 4), np.int64(4)).shape == (2, 4)
    with pytest.raises(ValueError, match="bias shape \\(1,\\)"):
        F.bilinear(fg.randn(2, 3), fg.randn(2, 4), fg.randn(5, 3, 4), fg.randn(1))
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(fg.randn(1, 3))
    assert int(bn.num_batches_tracked.item()) == 0
    with pytest.raises(ValueError, match="less than 1e-4 of the mass"):
        nn.init.trunc_normal_(fg.empty(3), a=8.0, b=9.0)


def test_loss_weights_are_buffers():
    m = nn.BCEWithLogitsLoss(weight=fg.ones(2), pos_weight=fg.tensor([2.0, 1.0]))
    assert set(m.state_dict()) == {"weight", "pos_weight"}
    m.double()
    assert m.pos_weight.dtype == fg.float64
    assert list(nn.CrossEntropyLoss(weight=fg.ones(3)).state_dict()) == ["weight"]
    assert list(nn.BCELoss().state_dict()) == []


def test_nll_loss_spatial_and_0d_forms():
    x = t64(_np_log_softmax(RNG.standard_normal((6, 3))).reshape(2, 3, 3).transpose(0, 2, 1).copy())
    # x is (N=2, C=3, d=3); the same rows as a (6, 3) input in (n, d) order
    tgt = fg.tensor(RNG.integers(0, 3, (2, 3)))
    flat = F.nll_loss(fg.permute(x, (0, 2, 1)).reshape(-1, 3), tgt.reshape(-1), reduction="none")
    out = F.nll_loss(x, tgt, reduction="none")
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out.detach().numpy().ravel(), flat.detach().numpy(), rtol=1e-12)
    assert gradcheck(lambda x: F.nll_loss(x, tgt, weight=fg.tensor([1.0, 2.0, 0.5], dtype=fg.float64)), [x])
    v = t64([-1.0, -2.0, -0.5])
    assert F.nll_loss(v, fg.tensor(2), reduction="none").shape == ()
    with pytest.raises(IndexError, match="cross_entropy: target 5"):
        F.cross_entropy(t64(np.zeros((2, 3))), fg.tensor([0, 5]), weight=fg.ones(3, dtype=fg.float64))
