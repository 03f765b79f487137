"""nn / nn.functional names added for PyTorch parity, compared with PyTorch: outputs and
every gradient (input and parameters), with the PyTorch module's weights loaded through
load_state_dict unchanged."""
import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn as nn
import fastgrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _load(fmod, tmod):
    sd = {k: fg.tensor(v.detach().numpy().copy()) for k, v in tmod.state_dict().items()}
    fmod.load_state_dict(sd)
    assert list(fmod.state_dict()) == list(tmod.state_dict())


def _check_module(fmod, tmod, *inputs, rtol=1e-5, atol=1e-6):
    """Same outputs and gradients (inputs and parameters) for a random output weighting."""
    _load(fmod, tmod)
    fx = [fg.tensor(x, requires_grad=x.dtype.kind == "f") for x in inputs]
    tx = [torch.tensor(x, requires_grad=x.dtype.kind == "f") for x in inputs]
    fo, to = fmod(*fx), tmod(*tx)
    assert tuple(fo.shape) == tuple(to.shape)
    np.testing.assert_allclose(fo.detach().numpy(), to.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(1).standard_normal(tuple(to.shape)).astype(inputs[0].dtype)
    fo.backward(fg.tensor(g))
    to.backward(torch.tensor(g))
    for f, t in zip(fx, tx):
        if t.grad is not None:
            np.testing.assert_allclose(f.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol)
    fp, tp = dict(fmod.named_parameters()), dict(tmod.named_parameters())
    assert list(fp) == list(tp)
    for k in tp:
        assert tuple(fp[k].shape) == tuple(tp[k].shape), k
        np.testing.assert_allclose(fp[k].grad.numpy(), tp[k].grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=k)


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("name,kw", [("LogSigmoid", {}), ("Softsign", {}), ("CELU", {}),
                                     ("CELU", {"alpha": 0.4}), ("Softmin", {"dim": 1}),
                                     ("Softmin", {"dim": -1})])
def test_activation_modules(name, kw):
    x = _x(3, 4, 5) * 4
    _check_module(getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw), x)


def test_softmin_implicit_dim_warns_like_torch():
    x = _x(3, 4)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        y = F.softmin(fg.tensor(x))
    with pytest.warns(UserWarning):
        t = TF.softmin(torch.tensor(x))
    np.testing.assert_allclose(y.numpy(), t.numpy(), rtol=1e-6)


@pytest.mark.parametrize("kw", [dict(), dict(p=1.0, dim=0), dict(p=3.0, dim=-1, eps=1e-3)])
def test_normalize(kw):
    x = _x(4, 5)
    x[1] = 0.0      # a zero row: clamped by eps, gradient as torch's
    _check_module(_Fn(F.normalize, **kw), _Tn(TF.normalize, **kw), x)


class _Fn(nn.Module):
    def __init__(self, fn, **kw):
        super().__init__()
        self.fn, self.kw = fn, kw

    def forward(self, *a):
        return self.fn(*a, **self.kw)


class _Tn(torch.nn.Module):
    def __init__(self, fn, **kw):
        super().__init__()
        self.fn, self.kw = fn, kw

    def forward(self, *a):
        return self.fn(*a, **self.kw)


@pytest.mark.parametrize("shapes,kw", [(((4, 5), (4, 5)), {}), (((4, 5), (1, 5)), {"dim": 0}),
                                       (((2, 3, 4), (2, 3, 4)), {"dim": -1, "eps": 1e-3})])
def test_cosine_similarity(shapes, kw):
    a, b = _x(*shapes[0]), _x(*shapes[1], seed=1)
    a[0] = 0.0
    _check_module(nn.CosineSimilarity(**kw), torch.nn.CosineSimilarity(**kw), a, b)


@pytest.mark.parametrize("kw", [{}, {"p": 1.0, "keepdim": True}, {"p": 3.0, "eps": 0.0}])
def test_pairwise_distance(kw):
    _check_module(nn.PairwiseDistance(**kw), torch.nn.PairwiseDistance(**kw), _x(4, 6), _x(4, 6, seed=2))


@pytest.mark.parametrize("kw", [dict(normalized_shape=5), dict(normalized_shape=(4, 5), eps=1e-3),
                                dict(normalized_shape=5, elementwise_affine=False)])
def test_rmsnorm(kw):
    t = torch.nn.RMSNorm(**kw)
    if t.weight is not None:
        with torch.no_grad():
            t.weight.normal_()
    f = nn.RMSNorm(**kw)
    assert f.eps == t.eps and f.normalized_shape == t.normalized_shape
    _check_module(f, t, _x(3, 4, 5))


def test_rmsnorm_init_and_default_eps():
    f = nn.RMSNorm(6)
    assert f.eps is None and np.all(f.weight.detach().numpy() == 1)
    x = _x(2, 6) * 1e-5
    np.testing.assert_allclose(F.rms_norm(fg.tensor(x), (6,)).numpy(),
                               TF.rms_norm(torch.tensor(x), (6,)).numpy(), rtol=1e-5)


@pytest.mark.parametrize("kw", [dict(kernel_size=3), dict(kernel_size=(2, 3, 2), stride=(2, 1, 2),
                                                          padding=1, dilation=(1, 2, 1), groups=2),
                                dict(kernel_size=2, padding="same", bias=False),
                                dict(kernel_size=3, padding=1, padding_mode="replicate")])
def test_conv3d(kw):
    torch.manual_seed(0)
    t = torch.nn.Conv3d(4, 6, **kw)
    f = nn.Conv3d(4, 6, **kw)
    assert {k: tuple(v.shape) for k, v in f.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in t.state_dict().items()}
    _check_module(f, t, _x(2, 4, 5, 6, 5), rtol=1e-4, atol=1e-5)


def test_conv3d_init_bounds_as_torch():
    f = nn.Conv3d(3, 5, (2, 3, 4))
    bound = 1 / np.sqrt(3 * 2 * 3 * 4)
    w, b = f.weight.detach().numpy(), f.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.8 * bound        # kaiming_uniform(a=sqrt(5)) spans the bound


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=(3, 2, 3), stride=(2, 1, 2),
                                                          padding=1, ceil_mode=True),
                                dict(kernel_size=2, dilation=(2, 1, 1))])
def test_max_pool3d(kw):
    _check_module(nn.MaxPool3d(**kw), torch.nn.MaxPool3d(**kw), _x(2, 3, 5, 6, 7))
    fy, fi = F.max_pool3d(fg.tensor(_x(2, 3, 5, 6, 7)), return_indices=True, **kw)
    ty, ti = TF.max_pool3d(torch.tensor(_x(2, 3, 5, 6, 7)), return_indices=True, **kw)
    assert np.array_equal(fi.numpy(), ti.numpy())


@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1,
                                                          ceil_mode=True),
                                dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                     count_include_pad=False)])
def test_avg_pool3d(kw):
    _check_module(nn.AvgPool3d(**kw), torch.nn.AvgPool3d(**kw), _x(2, 3, 5, 6, 7))


@pytest.mark.parametrize("nsp", [1, 2, 3])
def test_max_unpool_round_trip(nsp):
    x = _x(*((2, 3) + (6, 8, 4)[:nsp]))
    pool = getattr(TF, f"max_pool{nsp}d")
    ty, ti = pool(torch.tensor(x), 2, return_indices=True)
    fun = getattr(nn, f"MaxUnpool{nsp}d")(2)
    tun = getattr(torch.nn, f"MaxUnpool{nsp}d")(2)
    fy = fg.tensor(ty.numpy(), requires_grad=True)
    ty = ty.clone().requires_grad_()
    fo = fun(fy, fg.tensor(ti.numpy()))
    to = tun(ty, ti)
    np.testing.assert_array_equal(fo.detach().numpy(), to.detach().numpy())
    g = _x(*to.shape, seed=3)
    fo.backward(fg.tensor(g))
    to.backward(torch.tensor(g))
    np.testing.assert_array_equal(fy.grad.numpy(), ty.grad.numpy())
    big = tuple(n + 1 for n in x.shape[2:])
    np.testing.assert_array_equal(fun(fy, fg.tensor(ti.numpy()), output_size=big).detach().numpy(),
                                  tun(ty, ti, output_size=big).detach().numpy())


def test_max_unpool_bad_index_raises():
    with pytest.raises(IndexError, match="max_unpool2d: index 99 is out of range"):
        F.max_unpool2d(fg.zeros(1, 1, 2, 2), fg.tensor(np.full((1, 1, 2, 2), 99)), 2)


# ---- parameter containers ----------------------------------------------------------------------
class _FModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.pl = nn.ParameterList([nn.Parameter(fg.zeros(2)), fg.zeros(3, 2)])
        self.pd = nn.ParameterDict({"a": fg.zeros(4), "b": nn.Parameter(fg.zeros(1))})

    def forward(self, x):
        return (x * self.pl[0]).sum() + (self.pl[1] * 2).sum() + self.pd["a"].sum() * self.pd["b"]


class _TModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.pl = torch.nn.ParameterList([torch.nn.Parameter(torch.zeros(2)), torch.zeros(3, 2)])
        self.pd = torch.nn.ParameterDict({"a": torch.zeros(4), "b": torch.nn.Parameter(torch.zeros(1))})

    def forward(self, x):
        return (x * self.pl[0]).sum() + (self.pl[1] * 2).sum() + self.pd["a"].sum() * self.pd["b"]


def test_parameter_containers_register_like_torch():
    f, t = _FModel(), _TModel()
    torch.manual_seed(0)
    for p in t.parameters():
        torch.nn.init.normal_(p)
    assert [n for n, _ in f.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert all(p.requires_grad for p in f.parameters())
    assert len(f.pl) == 2 and len(f.pd) == 2 and "a" in f.pd and list(f.pd) == ["a", "b"]
    _check_module(f, t, _x(2))


def test_parameter_list_and_dict_editing():
    pl = nn.ParameterList()
    pl.append(fg.ones(2))
    pl.extend([fg.ones(3), "not a tensor"])
    pl[0] = fg.zeros(5)
    assert isinstance(pl[0], nn.Parameter) and tuple(pl[0].shape) == (5,)
    assert pl[2] == "not a tensor" and len(pl) == 3 and len(list(pl.parameters())) == 2
    assert len(pl[:2]) == 2 and isinstance(pl[-1], str)
    with pytest.raises(IndexError):
        pl[3]
    pd = nn.ParameterDict()
    pd["w"] = fg.ones(2)
    pd.update({"v": fg.ones(1)})
    pd.update([("u", fg.ones(3))])
    assert list(pd.keys()) == ["w", "v", "u"]
    assert isinstance(pd.pop("v"), nn.Parameter) and "v" not in pd
    assert list(pd.state_dict()) == ["w", "u"]
    del pd["w"]
    assert list(pd.state_dict()) == ["u"] and pd.get("w") is None
    with pytest.raises(KeyError):
        pd["w"]
    with pytest.raises(TypeError, match="keys must be strings"):
        pd[1] = fg.ones(1)


def test_parameter_list_in_optimizer_trains():
    f = _FModel()
    opt = fg.optim.SGD(f.parameters(), lr=0.1)
    f(fg.ones(2)).backward()
    before = f.pl[1].detach().numpy().copy()
    opt.step()
    np.testing.assert_allclose(f.pl[1].detach().numpy(), before - 0.2)


# ---- cross-entropy with probability targets ------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 5), (2, 5, 3, 4), (5,)])
@pytest.mark.parametrize("kw", [{}, {"label_smoothing": 0.2}, {"reduction": "sum"},
                                {"reduction": "none", "label_smoothing": 0.1}, {"weight": True},
                                {"weight": True, "label_smoothing": 0.3, "reduction": "none"}])
def test_cross_entropy_probability_targets(shape, kw):
    rng = np.random.default_rng(0)
    kw = dict(kw)
    fkw, tkw = dict(kw), dict(kw)
    if kw.pop("weight", None):
        w = rng.uniform(0.5, 2.0, 5)
        fkw["weight"], tkw["weight"] = fg.tensor(w), torch.tensor(w)
    x = rng.standard_normal(shape)
    p = rng.uniform(0.1, 1.0, shape)
    p /= p.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)
    fx, fp = fg.tensor(x, requires_grad=True), fg.tensor(p, requires_grad=True)
    tx, tp = torch.tensor(x, requires_grad=True), torch.tensor(p, requires_grad=True)
    fo = nn.CrossEntropyLoss(**fkw)(fx, fp)
    to = torch.nn.CrossEntropyLoss(**tkw)(tx, tp)
    assert tuple(fo.shape) == tuple(to.shape)
    np.testing.assert_allclose(fo.detach().numpy(), to.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(tuple(to.shape))
    fo.backward(fg.tensor(g))
    to.backward(torch.tensor(g))
    np.testing.assert_allclose(fx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fp.grad.numpy(), tp.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_cross_entropy_probability_target_errors():
    with pytest.raises(ValueError, match="ignore_index is not supported"):
        F.cross_entropy(fg.zeros(2, 3), fg.zeros(2, 3), ignore_index=0)
    with pytest.raises(TypeError, match=r"probability targets must be a floating tensor of the input's shape"):
        F.cross_entropy(fg.zeros(2, 3), fg.zeros(2, 4))


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", [(1, -2, -1, 1), (2, -1, 0, -2), (-2, -3, 3, -1), (-1, -1, -1, -1),
                                 (-2, 3, 0, 0)])
def test_pad_negative_crops_as_torch(mode, pad):
    x = _x(2, 3, 5, 6).astype(np.float64)
    _check_module(_Fn(F.pad, pad=pad, mode=mode), _Tn(TF.pad, pad=pad, mode=mode), x)


@pytest.mark.parametrize("shape,mode", [((2, 3, 5), "nearest-exact"), ((2, 3, 5, 6), "nearest-exact"),
                                        ((1, 2, 3, 4, 5), "nearest-exact"), ((1, 2, 3, 4, 5), "nearest"),
                                        ((1, 2, 3, 4, 5), "trilinear"), ((2, 3, 5, 6), "area")])
@pytest.mark.parametrize("kw", [{"size": 7}, {"size": 3}, {"scale_factor": 1.7}, {"scale_factor": 0.6},
                                {"scale_factor": 1.7, "recompute_scale_factor": True}])
def test_interpolate_modes(shape, mode, kw):
    kw = dict(kw)
    if "size" in kw:
        kw["size"] = (kw["size"],) * (len(shape) - 2)
    acs = [None, True, False] if mode == "trilinear" else [None]
    for ac in acs:
        x = np.random.default_rng(0).standard_normal(shape)
        _check_module(nn.Upsample(mode=mode, align_corners=ac, **kw),
                      torch.nn.Upsample(mode=mode, align_corners=ac, **kw), x, rtol=1e-10, atol=1e-12)


def test_device_argument_is_cpu_only():
    assert nn.Conv3d(1, 1, 1, device="cpu").weight.shape == (1, 1, 1, 1, 1)
    assert nn.RMSNorm(3, device=None).weight.shape == (3,)
    with pytest.raises(RuntimeError, match="Conv3d: device 'cuda' is not available"):
        nn.Conv3d(1, 1, 1, device="cuda")
    with pytest.raises(RuntimeError, match="RMSNorm: device 'cuda:0' is not available"):
        nn.RMSNorm(3, device="cuda:0")
