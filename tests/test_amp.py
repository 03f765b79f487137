"""fastgrad.amp: autocast (a documented no-op) and GradScaler (disabled: identity; enabled:
PyTorch's loss scaling), compared with torch.amp."""
import warnings

import numpy as np
import pytest

import fastgrad as fg
from fastgrad.amp import GradScaler, autocast


def _mlp():
    fg.manual_seed(0)
    return fg.nn.Sequential(fg.nn.Linear(4, 8), fg.nn.Tanh(), fg.nn.Linear(8, 1))


# ---- autocast ---------------------------------------------------------------------------------
def test_autocast_context_and_decorator_change_nothing():
    m = _mlp()
    x = fg.randn(5, 4)
    ref = m(x).detach().numpy()
    with autocast("cpu", dtype="bfloat16") as ac:
        out = m(x)
    assert isinstance(ac, autocast)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.detach().numpy(), ref)

    @fg.autocast(device_type="cpu")
    def f(t):
        return m(t)

    np.testing.assert_array_equal(f(x).detach().numpy(), ref)
    assert f.__name__ == "f"
    with fg.amp.autocast(device_type="cpu", enabled=False):
        np.testing.assert_array_equal(m(x).detach().numpy(), ref)


def test_autocast_argument_checks_as_torch():
    torch = pytest.importorskip("torch")
    for args in [(1,), ("foo",)]:
        with pytest.raises(Exception) as theirs:
            torch.autocast(*args)
        with pytest.raises(Exception) as ours:
            autocast(*args)
        assert type(ours.value) is type(theirs.value)
    for args, kw in [(("cuda",), {}), (("cpu",), {"dtype": "float32"})]:
        with pytest.warns(UserWarning, match="Disabling autocast"):
            a = autocast(*args, **kw)
        assert not a._enabled
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        autocast("cpu", dtype="float16")
    assert fg.amp.is_autocast_available("cpu") and not fg.amp.is_autocast_available("cuda")


# ---- GradScaler disabled -----------------------------------------------------------------------
def test_disabled_scaler_is_the_identity():
    m = _mlp()
    opt = fg.optim.SGD(m.parameters(), lr=0.1)
    s = GradScaler("cpu", enabled=False)
    loss = m(fg.randn(3, 4)).sum()
    assert s.scale(loss) is loss
    s.scale(loss).backward()
    before = [p.detach().numpy().copy() for p in m.parameters()]
    grads = [p.grad.numpy().copy() for p in m.parameters()]
    s.unscale_(opt)
    np.testing.assert_array_equal(m[0].weight.grad.numpy(), grads[0])
    assert s.step(opt) is None
    s.update()
    for b, g, p in zip(before, grads, m.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), b - 0.1 * g, rtol=1e-6)
    assert not s.is_enabled() and s.get_scale() == 1.0 and s.state_dict() == {}
    s.load_state_dict({})


def test_default_device_is_cuda_and_disables_itself_as_in_torch():
    torch = pytest.importorskip("torch")
    with pytest.warns(UserWarning, match="Disabling"):
        t = torch.amp.GradScaler()
    with pytest.warns(UserWarning, match="Disabling"):
        s = GradScaler()
    assert s.is_enabled() == t.is_enabled() is False
    assert GradScaler("cpu").is_enabled()


# ---- GradScaler enabled, against torch ---------------------------------------------------------
def _torch_twin(torch, m):
    t = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    with torch.no_grad():
        for tp, p in zip(t.parameters(), m.parameters()):
            tp.copy_(torch.from_numpy(p.detach().numpy().copy()))
    return t


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
@pytest.mark.parametrize("clip", [False, True])
def test_enabled_scaler_matches_torch(opt_name, clip):
    torch = pytest.importorskip("torch")
    m = _mlp()
    t = _torch_twin(torch, m)
    kw = {"lr": 0.001, "momentum": 0.9} if opt_name == "SGD" else {"lr": 0.01}
    opt = getattr(fg.optim, opt_name)(m.parameters(), **kw)
    topt = getattr(torch.optim, opt_name)(t.parameters(), **kw)
    # a scale so large that the first steps overflow: they are skipped and the scale backs off,
    # then it grows again every 3 good steps until it overflows again
    args = dict(init_scale=2.0 ** 120, growth_factor=4.0, backoff_factor=0.25, growth_interval=3)
    s, ts = GradScaler("cpu", **args), torch.amp.GradScaler("cpu", **args)
    rng = np.random.default_rng(0)
    scales, skipped = [], 0
    for _ in range(30):
        x = rng.standard_normal((6, 4)).astype(np.float32)
        y = 100 * rng.standard_normal((6, 1)).astype(np.float32)
        loss = ((m(fg.from_numpy(x)) - fg.from_numpy(y)) ** 2).mean()
        tloss = ((t(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2).mean()
        opt.zero_grad()
        topt.zero_grad()
        sl, tsl = s.scale(loss), ts.scale(tloss)
        np.testing.assert_allclose(sl.item(), tsl.item(), rtol=1e-4)
        sl.backward()
        tsl.backward()
        if clip:
            s.unscale_(opt)
            ts.unscale_(topt)
            fg.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            torch.nn.utils.clip_grad_norm_(t.parameters(), 1.0)
        before = m[0].weight.detach().numpy().copy()
        s.step(opt)
        ts.step(topt)
        if np.array_equal(before, m[0].weight.detach().numpy()):
            skipped += 1
        s.update()
        ts.update()
        scales.append(s.get_scale())
        assert s.get_scale() == ts.get_scale()
        assert s.state_dict() == ts.state_dict()
        for p, tp in zip(m.parameters(), t.parameters()):
            np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=2e-4, atol=2e-5)
    assert skipped >= 2
    assert len(set(scales)) >= 2          # backed off, grown again


def test_state_dict_round_trip_and_settings():
    torch = pytest.importorskip("torch")
    s = GradScaler("cpu", init_scale=1024.0, growth_interval=7)
    t = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=7)
    assert s.state_dict() == t.state_dict()
    s2 = GradScaler("cpu")
    s2.load_state_dict(s.state_dict())
    assert s2.get_scale() == 1024.0 and s2.get_growth_interval() == 7
    s2.set_growth_factor(3.0)
    s2.set_backoff_factor(0.1)
    s2.set_growth_interval(11)
    assert (s2.get_growth_factor(), s2.get_backoff_factor(), s2.get_growth_interval()) == (3.0, 0.1, 11)
    with pytest.raises(RuntimeError, match="empty"):
        GradScaler("cpu").load_state_dict({})
    loss = fg.tensor(2.0, requires_grad=True)
    s2.scale(loss)
    s2.update(new_scale=8.0)
    assert s2.get_scale() == 8.0


def test_misuse_raises_as_torch():
    torch = pytest.importorskip("torch")

    def run(lib, scaler_cls, steps):
        w = (fg.nn.Parameter(fg.ones(2)) if lib is fg else torch.nn.Parameter(torch.ones(2)))
        opt = lib.optim.SGD([w], lr=0.1)
        s = scaler_cls("cpu")
        for step in steps:
            if step == "backward":
                s.scale((w * 3).sum()).backward()
            elif step == "update":
                s.update()
            else:
                getattr(s, step)(opt)

    cases = [["update"], ["unscale_"], ["step"], ["backward", "unscale_", "unscale_"],
             ["backward", "step", "step"], ["backward", "step", "unscale_"]]
    for steps in cases:
        with pytest.raises(Exception) as theirs:
            run(torch, torch.amp.GradScaler, steps)
        with pytest.raises(Exception) as ours:
            run(fg, GradScaler, steps)
        assert type(ours.value) is type(theirs.value), steps
    w = fg.nn.Parameter(fg.ones(2))
    opt = fg.optim.SGD([w], lr=0.1)
    s = GradScaler("cpu")
    s.scale((w * 3).sum()).backward()
    with pytest.raises(RuntimeError, match="Closure"):
        s.step(opt, closure=lambda: 0.0)
