"""What further public PyTorch programs need (pytorch/examples word_language_model, vae,
mnist_rnn, siamese_network, dcgan, mnist_forward_forward; karpathy/minGPT), each checked
against PyTorch where it is installed."""
import io
import pickle
import warnings

import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn as nn
import fastgrad.nn.functional as F
from fastgrad import serialization


# ---- saving and loading whole modules (torch.save(model) / torch.load + safe_globals) ---------
class TinyLM(nn.Module):
    """word_language_model's RNNModel, reduced: embedding, LSTM, tied decoder."""

    def __init__(self, ntoken=11, nhid=6):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, nhid)
        self.rnn = nn.LSTM(nhid, nhid, 2, dropout=0.1)
        self.decoder = nn.Linear(nhid, ntoken)
        self.decoder.weight = self.encoder.weight
        self.nhid = nhid

    def forward(self, x):
        out, _ = self.rnn(self.encoder(x))
        return self.decoder(out)


def _roundtrip(obj, **kw):
    buf = io.BytesIO()
    fg.save(obj, buf)
    buf.seek(0)
    return fg.load(buf, **kw)


def _tiny_lm_globals():
    return [TinyLM, nn.Embedding, nn.LSTM, nn.Linear]


def test_save_whole_module_loads_with_safe_globals():
    fg.manual_seed(0)
    m = TinyLM().eval()
    x = fg.tensor([[1, 2, 3], [4, 5, 6]])
    with serialization.safe_globals(_tiny_lm_globals()):
        m2 = _roundtrip(m)
    assert type(m2) is TinyLM and m2 is not m
    assert m2.nhid == 6 and not m2.training
    np.testing.assert_array_equal(m2(x).detach().numpy(), m(x).detach().numpy())
    # the tied weight stays one Parameter, registered in both modules
    assert m2.decoder.weight is m2.encoder.weight
    assert isinstance(m2.encoder.weight, nn.Parameter) and m2.encoder.weight.requires_grad
    assert len(list(m2.parameters())) == len(list(m.parameters()))
    # the loaded model trains
    m2.train()
    m2(x).sum().backward()
    assert all(p.grad is not None for p in m2.parameters())


def test_load_whole_module_needs_allow_list():
    m = TinyLM()
    buf = io.BytesIO()
    fg.save(m, buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError, match="TinyLM.*add_safe_globals"):
        fg.load(buf)
    buf.seek(0)
    with pytest.raises(RuntimeError, match="not an allowed global"):
        fg.load(buf, weights_only=True)
    buf.seek(0)
    with serialization.safe_globals([TinyLM]):          # the submodules' classes are missing
        with pytest.raises(serialization.UnsafeGlobalError, match="Embedding"):
            fg.load(buf)
    buf.seek(0)
    assert type(fg.load(buf, weights_only=False)) is TinyLM


def test_add_safe_globals_and_names():
    serialization.clear_safe_globals()
    try:
        serialization.add_safe_globals(_tiny_lm_globals())
        assert serialization.get_safe_globals() == _tiny_lm_globals()
        assert type(_roundtrip(TinyLM())) is TinyLM
        serialization.clear_safe_globals()
        serialization.add_safe_globals([(TinyLM, f"{__name__}.TinyLM"), nn.Embedding, nn.LSTM,
                                        nn.Linear])
        assert type(_roundtrip(TinyLM())) is TinyLM
    finally:
        serialization.clear_safe_globals()
    with pytest.raises(TypeError, match="safe_globals"):
        serialization.safe_globals(TinyLM)
    assert serialization.get_safe_globals() == []


def test_save_objects_sets_functions_and_shared_instances():
    d = {"s": {1, 2}, "f": frozenset({"a"}), "fn": F.relu, "dt": fg.float16, "dev": fg.device("cpu")}
    with serialization.safe_globals([F.relu]):
        out = _roundtrip(d)
    assert out == d and out["fn"] is F.relu
    lin = nn.Linear(2, 2)
    with serialization.safe_globals([nn.Linear]):
        a, b = _roundtrip([lin, lin])
    assert a is b and type(a) is nn.Linear
    with pytest.raises(TypeError, match="lambda|not reachable"):
        fg.save({"f": lambda x: x}, io.BytesIO())

    class Local:
        pass
    with pytest.raises(TypeError, match="not reachable"):
        fg.save(Local(), io.BytesIO())


def test_transformer_module_roundtrip():
    fg.manual_seed(1)
    m = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), 2).eval()
    allowed = [nn.TransformerEncoder, nn.TransformerEncoderLayer, nn.MultiheadAttention,
               nn.modules.linear.NonDynamicallyQuantizableLinear, nn.Linear, nn.LayerNorm, nn.Dropout,
               nn.ModuleList, F.relu]
    with serialization.safe_globals(allowed):
        m2 = _roundtrip(m)
    x = fg.randn(5, 3, 8)
    np.testing.assert_allclose(m2(x).detach().numpy(), m(x).detach().numpy(), rtol=0, atol=0)


def test_torch_also_refuses_unlisted_module_classes():
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    torch.save(torch.nn.Linear(2, 2), buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(buf)
    buf = io.BytesIO()
    fg.save(nn.Linear(2, 2), buf)
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        fg.load(buf)


# ---- torch.nn.modules.<kind>.<Class> paths -----------------------------------------------------
def test_nn_modules_layout_matches_torch():
    torch = pytest.importorskip("torch")
    checked = 0
    for sub in nn.modules._LAYOUT:
        tmod = getattr(torch.nn.modules, sub)
        fmod = getattr(nn.modules, sub)
        for name, tcls in vars(tmod).items():
            if not isinstance(tcls, type) or name.startswith("_") or tcls.__module__ != tmod.__name__:
                continue
            fcls = getattr(nn, name, None)
            if fcls is not None:
                assert getattr(fmod, name) is fcls, (sub, name)
                checked += 1
        for name in fmod.__all__:        # nothing that PyTorch defines elsewhere
            assert isinstance(getattr(tmod, name, None), type), (sub, name)
    assert checked > 80
    assert nn.modules.batchnorm._BatchNorm in type(nn.BatchNorm2d(3)).__mro__
    assert isinstance(nn.Conv2d(1, 1, 1), nn.modules.conv._ConvNd)
    import importlib
    assert importlib.import_module("fastgrad.nn.modules.activation").MultiheadAttention is nn.MultiheadAttention


# ---- small surface: device queries, onnx -------------------------------------------------------
def test_tensor_device_flags_match_torch():
    torch = pytest.importorskip("torch")
    t, f = torch.zeros(2), fg.zeros(2)
    names = [n for n in dir(t) if n.startswith("is_") and not callable(getattr(t, n))]
    assert {"is_xpu", "is_cuda", "is_meta", "is_sparse", "is_quantized"} <= set(names)
    for n in names:
        if hasattr(f, n):
            assert getattr(f, n) == getattr(t, n), n
    for n in ("is_xpu", "is_cuda", "is_mps", "is_meta", "is_sparse", "is_quantized", "is_nested", "is_cpu"):
        assert getattr(f, n) == getattr(t, n), n


def test_onnx_export_says_unsupported():
    import fastgrad.onnx
    assert fastgrad.onnx.is_in_onnx_export() is False
    with pytest.raises(NotImplementedError, match="ONNX"):
        fastgrad.onnx.export(nn.Linear(2, 2), (fg.zeros(1, 2),), "m.onnx")


# ---- dropout2d on the inputs PyTorch accepts (mnist_rnn: Dropout2d after an LSTM) --------------
def test_dropout2d_on_2d_and_3d_inputs_as_torch():
    torch = pytest.importorskip("torch")
    fg.manual_seed(0)
    torch.manual_seed(0)
    for shape in [(64, 32), (16, 8, 12), (4, 6, 5, 5)]:
        with warnings.catch_warnings(record=True) as wf:
            warnings.simplefilter("always")
            y = F.dropout2d(fg.ones(*shape), 0.5).numpy()
        with warnings.catch_warnings(record=True) as wt:
            warnings.simplefilter("always")
            yt = torch.nn.functional.dropout2d(torch.ones(*shape), 0.5).numpy()
        assert bool(wf) == bool(wt), shape
        for out in (y, yt):
            # PyTorch's mask covers the first two dimensions, whatever the rank
            flat = out.reshape(shape[0], shape[1], -1)
            assert np.all((flat == flat[..., :1]).all(-1))
            assert set(np.unique(out)) <= {0.0, 2.0}
            assert 0.3 < (flat[..., 0] == 0).mean() < 0.7
    with pytest.raises(RuntimeError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.nn.functional.dropout2d(torch.ones(5), 0.5)
    with pytest.raises(RuntimeError, match="dropout2d"):
        F.dropout2d(fg.ones(5), 0.5)
    d = nn.Dropout2d(0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = d(fg.ones(200, 50)).numpy()
    assert 0.15 < (out == 0).mean() < 0.35


# ---- indexing with a range (mnist_forward_forward: x_[range(n), y] = x.max()) -----------------
def test_range_index_as_torch():
    torch = pytest.importorskip("torch")
    x = np.arange(12.0).reshape(3, 4)
    y = [1, 2, 0]
    for idx in [(range(3), y), range(2), (slice(None), range(1, 3)), (range(0),), (Ellipsis, range(3, 0, -1))]:
        a, b = fg.tensor(x)[idx], torch.tensor(x)[idx]
        assert a.shape == tuple(b.shape)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    a, b = fg.tensor(x), torch.tensor(x)
    a[range(3), fg.tensor(y)] = a.max()
    b[range(3), torch.tensor(y)] = b.max()
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    p = nn.Parameter(fg.tensor(x))
    p[range(2)].sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), (np.arange(3) < 2)[:, None] * np.ones((3, 4)))


# ---- layer constructors take PyTorch's arguments in PyTorch's order ---------------------------
_LAYER_ARGS = {"Linear": (3, 4), "Bilinear": (3, 2, 4), "Embedding": (5, 3), "LayerNorm": (4,),
               "BatchNorm1d": (4,), "BatchNorm2d": (4,), "GroupNorm": (2, 4), "Conv1d": (2, 3, 3),
               "Conv2d": (2, 3, 3), "ConvTranspose1d": (2, 3, 3), "ConvTranspose2d": (2, 3, 3)}


@pytest.mark.parametrize("name", sorted(_LAYER_ARGS))
def test_layer_signature_and_device_as_torch(name):
    torch = pytest.importorskip("torch")
    import inspect
    fcls, tcls = getattr(nn, name), getattr(torch.nn, name)
    fp = [p.name for p in inspect.signature(fcls.__init__).parameters.values()]
    tp = [p.name for p in inspect.signature(tcls.__init__).parameters.values()]
    assert fp == tp
    # device passed positionally, as subclasses forwarding (..., bias, device, dtype) do
    pos = tp.index("device") - 1
    args = list(_LAYER_ARGS[name])
    defaults = [inspect.signature(tcls.__init__).parameters[n].default for n in tp[1:pos + 1]]
    full = args + defaults[len(args):pos] + ["cpu", torch.float64]
    m = fcls(*full[:-1], fg.float64)
    t = tcls(*full)
    assert sorted(n for n, _ in m.named_parameters()) == sorted(n for n, _ in t.named_parameters())
    assert all(p.dtype == fg.float64 for p in m.parameters())
    with pytest.raises(RuntimeError, match="cuda"):
        fcls(*args, device="cuda")


@pytest.mark.parametrize("name", ["BatchNorm1d", "BatchNorm2d", "GroupNorm"])
def test_norm_without_bias_as_torch(name):
    torch = pytest.importorskip("torch")
    args = (2, 4) if name == "GroupNorm" else (4,)
    shape = (3, 4, 2, 5) if name != "BatchNorm1d" else (3, 4, 5)
    m, t = getattr(nn, name)(*args, bias=False), getattr(torch.nn, name)(*args, bias=False)
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()] == ["weight"]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    a, b = m(fg.tensor(x)), t(torch.tensor(x))
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-5)
    (a * fg.tensor(x)).sum().backward()
    (b * torch.tensor(x)).sum().backward()
    np.testing.assert_allclose(m.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_embedding_options():
    e = nn.Embedding(5, 3, None, None, 2.0, False, False, fg.ones(5, 3), True)
    assert not e.weight.requires_grad and e.norm_type == 2.0
    for kw in ({"max_norm": 1.0}, {"sparse": True}, {"scale_grad_by_freq": True}):
        with pytest.raises(NotImplementedError, match=next(iter(kw))):
            nn.Embedding(5, 3, **kw)


# ---- super_resolution: PixelShuffle, init.orthogonal_, a few Adam steps against PyTorch ----------
@pytest.mark.parametrize("shape,r", [((2, 8, 3, 2), 2), ((9, 2, 2), 3), ((2, 2, 4, 1, 3), 2)])
def test_pixel_shuffle_and_unshuffle_as_torch(shape, r):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal(shape)
    a, b = fg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    fa, fb = F.pixel_shuffle(a, r), torch.nn.functional.pixel_shuffle(b, r)
    np.testing.assert_array_equal(fa.detach().numpy(), fb.detach().numpy())
    g = np.random.default_rng(1).standard_normal(fa.shape)
    fa.backward(fg.tensor(g))
    fb.backward(torch.tensor(g))
    np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
    back = F.pixel_unshuffle(fa, r)
    np.testing.assert_array_equal(back.detach().numpy(),
                                  torch.nn.functional.pixel_unshuffle(fb, r).detach().numpy())
    np.testing.assert_array_equal(back.detach().numpy(), x)
    assert repr(nn.PixelShuffle(r)) == repr(torch.nn.PixelShuffle(r))
    assert repr(nn.PixelUnshuffle(r)) == repr(torch.nn.PixelUnshuffle(r))


@pytest.mark.parametrize("shape", [(64, 1, 5, 5), (4, 32, 3, 3), (3, 5), (5, 3)])
def test_orthogonal_init_as_torch(shape):
    torch = pytest.importorskip("torch")
    w, t = fg.empty(*shape), torch.empty(*shape)
    assert nn.init.orthogonal_(w, 1.5) is w
    torch.nn.init.orthogonal_(t, 1.5)
    for m in (w.numpy().reshape(shape[0], -1), t.numpy().reshape(shape[0], -1)):
        small = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
        np.testing.assert_allclose(small, 1.5 ** 2 * np.eye(len(small)), atol=1e-5)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        nn.init.orthogonal_(fg.empty(3))
    with pytest.raises(ValueError):
        torch.nn.init.orthogonal_(torch.empty(3))


def _superres_net(lib, r=2):
    class Net(lib.nn.Module):
        def __init__(self):
            super().__init__()
            self.relu = lib.nn.ReLU()
            self.conv1 = lib.nn.Conv2d(1, 8, (5, 5), (1, 1), (2, 2))
            self.conv2 = lib.nn.Conv2d(8, r ** 2, (3, 3), (1, 1), (1, 1))
            self.pixel_shuffle = lib.nn.PixelShuffle(r)

        def forward(self, x):
            return self.pixel_shuffle(self.conv2(self.relu(self.conv1(x))))
    return Net()


def test_superres_training_steps_match_torch():
    torch = pytest.importorskip("torch")
    net, tnet = _superres_net(fg), _superres_net(torch)
    with torch.no_grad():
        for (n, p), (tn, tp) in zip(net.named_parameters(), tnet.named_parameters()):
            assert n == tn
            tp.copy_(torch.tensor(p.detach().numpy()))
    rng = np.random.default_rng(0)
    x = rng.random((4, 1, 6, 6)).astype(np.float32)
    y = rng.random((4, 1, 12, 12)).astype(np.float32)
    opt, topt = fg.optim.Adam(net.parameters(), lr=0.01), torch.optim.Adam(tnet.parameters(), lr=0.01)
    for _ in range(4):
        for o, m, X, Y, lib in ((opt, net, fg.tensor(x), fg.tensor(y), fg),
                                (topt, tnet, torch.tensor(x), torch.tensor(y), torch)):
            o.zero_grad()
            loss = lib.nn.MSELoss()(m(X), Y)
            loss.backward()
            o.step()
            m.last = loss.item()
        np.testing.assert_allclose(net.last, tnet.last, rtol=1e-4)


# ---- distributions (reinforcement_learning: Categorical; VAEs and policies: Normal) -----------
def test_categorical_as_torch():
    torch = pytest.importorskip("torch")
    from fastgrad.distributions import Categorical
    rng = np.random.default_rng(0)
    p = rng.random((3, 4)) + 0.1
    lg = rng.standard_normal((3, 4))
    v = np.array([0, 3, 1])
    for kw in ({"probs": p}, {"logits": lg}):
        fa = fg.tensor(next(iter(kw.values())), requires_grad=True)
        ta = torch.tensor(next(iter(kw.values())), requires_grad=True)
        fd, td = Categorical(**{next(iter(kw)): fa}), torch.distributions.Categorical(**{next(iter(kw)): ta})
        assert fd.batch_shape == tuple(td.batch_shape) and fd.event_shape == tuple(td.event_shape)
        np.testing.assert_allclose(fd.probs.detach().numpy(), td.probs.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(fd.logits.detach().numpy(), td.logits.detach().numpy(), rtol=1e-12)
        flp, tlp = fd.log_prob(fg.tensor(v)), td.log_prob(torch.tensor(v))
        np.testing.assert_allclose(flp.detach().numpy(), tlp.detach().numpy(), rtol=1e-12)
        fe, te = fd.entropy(), td.entropy()
        np.testing.assert_allclose(fe.detach().numpy(), te.detach().numpy(), rtol=1e-12)
        (flp.sum() + fe.sum()).backward()
        (tlp.sum() + te.sum()).backward()
        np.testing.assert_allclose(fa.grad.numpy(), ta.grad.numpy(), rtol=1e-10, atol=1e-12)
        # log_prob broadcasts a (2, 1) value against batch_shape (3,)
        np.testing.assert_allclose(fd.log_prob(fg.tensor([[1], [2]])).detach().numpy(),
                                   td.log_prob(torch.tensor([[1], [2]])).detach().numpy(), rtol=1e-12)
        for shape in [(), (5,), (2, 3)]:
            s, ts = fd.sample(shape), td.sample(shape)
            assert s.shape == tuple(ts.shape) and s.dtype == fg.int64 and not s.requires_grad
        np.testing.assert_array_equal(fd.mode.numpy(), td.mode.numpy())
        assert np.isnan(fd.mean.numpy()).all() and fd.mean.shape == tuple(td.mean.shape)
    s = Categorical(fg.tensor([0.2, 0.8])).sample((4000,)).numpy()
    assert 0.75 < s.mean() < 0.85
    assert Categorical(fg.tensor([0.2, 0.8])).enumerate_support().tolist() == [0, 1]


def test_categorical_errors_as_torch():
    torch = pytest.importorskip("torch")
    from fastgrad.distributions import Categorical
    for lib, C in ((fg, Categorical), (torch, torch.distributions.Categorical)):
        with pytest.raises(ValueError, match="Either `probs` or `logits`"):
            C()
        with pytest.raises(ValueError, match="Either `probs` or `logits`"):
            C(probs=lib.tensor([0.5, 0.5]), logits=lib.tensor([0.0, 0.0]))
        with pytest.raises(ValueError, match="Simplex"):
            C(lib.tensor([-0.5, 1.5]))
        with pytest.raises(ValueError, match="support"):
            C(lib.tensor([0.5, 0.5])).log_prob(lib.tensor(2))
        with pytest.raises(ValueError, match="one-dimensional"):
            C(lib.tensor(1.0))
        C(lib.tensor([-0.5, 1.5]), validate_args=False)


def test_normal_as_torch():
    torch = pytest.importorskip("torch")
    from fastgrad.distributions import Normal
    rng = np.random.default_rng(1)
    loc, scale, x = rng.standard_normal((3, 1)), rng.random(4) + 0.5, rng.standard_normal((3, 4))
    fl, fs = fg.tensor(loc, requires_grad=True), fg.tensor(scale, requires_grad=True)
    tl, ts = torch.tensor(loc, requires_grad=True), torch.tensor(scale, requires_grad=True)
    fd, td = Normal(fl, fs), torch.distributions.Normal(tl, ts)
    assert fd.batch_shape == tuple(td.batch_shape)
    out_f = fd.log_prob(fg.tensor(x)).sum() + fd.entropy().sum() + fd.cdf(fg.tensor(x)).sum()
    out_t = td.log_prob(torch.tensor(x)).sum() + td.entropy().sum() + td.cdf(torch.tensor(x)).sum()
    np.testing.assert_allclose(out_f.item(), out_t.item(), rtol=1e-12)
    out_f.backward()
    out_t.backward()
    np.testing.assert_allclose(fl.grad.numpy(), tl.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(fs.grad.numpy(), ts.grad.numpy(), rtol=1e-10)
    r = fd.rsample((2,))
    assert r.shape == tuple(td.rsample((2,)).shape) == (2, 3, 4) and r.requires_grad
    assert not fd.sample().requires_grad
    r.sum().backward()
    assert Normal(0.0, 1.0).sample((2,)).dtype == torch_default_dtype_as_fg(torch)
    with pytest.raises(ValueError, match="GreaterThan"):
        Normal(fg.tensor([0.0]), fg.tensor([0.0]))
    with pytest.raises(ValueError, match="GreaterThan"):
        torch.distributions.Normal(torch.tensor([0.0]), torch.tensor([0.0]))
    big = Normal(fg.tensor(2.0), fg.tensor(3.0)).sample((20000,)).numpy()
    assert abs(big.mean() - 2.0) < 0.1 and abs(big.std() - 3.0) < 0.1


def torch_default_dtype_as_fg(torch):
    return {torch.float32: fg.float32, torch.float64: fg.float64}[torch.get_default_dtype()]


# ---- multiprocessing (mnist_hogwild): the module works, shared tensors are refused clearly -----
def _put_sum(q, t):
    q.put(float(t.sum()))


def test_multiprocessing_module_and_no_shared_tensors():
    torch = pytest.importorskip("torch")
    import fastgrad.multiprocessing as mp
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_put_sum, args=(q, fg.arange(4.0)))
    p.start()
    assert q.get(timeout=60) == 6.0
    p.join(60)
    assert p.exitcode == 0
    assert fg.zeros(2).is_shared() == torch.zeros(2).is_shared() is False
    with pytest.raises(NotImplementedError, match="share tensors between processes"):
        nn.Linear(2, 2).share_memory()
    with pytest.raises(NotImplementedError, match="share tensors between processes"):
        fg.zeros(2).share_memory_()
