"""Adadelta, RAdam and NAdam inside compiled steps: their fused C updates are recorded as
plan steps, so compiled == eager bit for bit (options, float32 and float64, state loaded
from a state dict).  LBFGS's step (closure, line search) cannot be a fixed plan: a compiled
function that steps it runs eagerly, with one warning saying why."""
import warnings

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import nn, optim

rng0 = np.random.default_rng(3)
XS = [rng0.standard_normal((16, 5)) for _ in range(3)]
YS = [rng0.standard_normal((16, 2)) for _ in range(3)]


def mk(dtype, seed=0):
    fg.manual_seed(seed)
    m = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))
    return m.to(fg.float64) if dtype == np.float64 else m


CASES = [
    ("Adadelta", {}), ("Adadelta", {"lr": 0.5, "rho": 0.8, "weight_decay": 0.1}),
    ("Adadelta", {"maximize": True, "eps": 1e-4}),
    ("RAdam", {}), ("RAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"betas": (0.8, 0.9), "maximize": True}),
    ("NAdam", {}), ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "momentum_decay": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("NAdam", {"betas": (0.8, 0.95), "maximize": True}),
]


def _pair(name, kw, dtype, steps=12, sched=False):
    a, b = mk(dtype), mk(dtype)
    opts = []

    def make_step(m):
        opt = getattr(optim, name)(m.parameters(), **kw)
        s = optim.lr_scheduler.StepLR(opt, 3, 0.5) if sched else None
        opts.append(opt)

        def step(x, y):
            opt.zero_grad()
            loss = ((m(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            if s is not None:
                s.step()
            return loss
        return step
    e, c = make_step(a), fg.compile(make_step(b))
    for i in range(steps):
        x, y = (fg.from_numpy(v[i % 3].astype(dtype)) for v in (XS, YS))
        la, lb = e(x, y), c(x, y)
        assert la._data.tobytes() == lb._data.tobytes(), i
        for p, q in zip(a.parameters(), b.parameters()):
            assert p._data.tobytes() == q._data.tobytes(), (name, i)
    assert c.stats["traces"] == 1 and c.stats["replays"] == steps - 1, c.stats
    for p, q in zip(a.parameters(), b.parameters()):
        sa, sb = opts[0].state[p], opts[1].state[q]
        assert set(sa) == set(sb)
        for k in sa:
            assert sa[k]._data.tobytes() == sb[k]._data.tobytes(), k
    return opts


@pytest.mark.parametrize("name,kw", CASES)
def test_compiled_equals_eager(name, kw):
    _pair(name, kw, np.float32)


@pytest.mark.parametrize("name", ["Adadelta", "RAdam", "NAdam"])
def test_float64_and_a_scheduler(name):
    opts = _pair(name, {"lr": 0.05}, np.float64, sched=True)
    assert opts[0].param_groups[0]["lr"] == opts[1].param_groups[0]["lr"] == 0.05 * 0.5 ** 4


def test_nadam_state_is_torch_shaped():
    m = mk(np.float32)
    opt = optim.NAdam(m.parameters())
    ((m(fg.from_numpy(XS[0].astype(np.float32))) - 1.0) ** 2).mean().backward()
    opt.step()
    opt.step()
    st = opt.state[next(iter(m.parameters()))]
    assert st["mu_product"]._data.dtype == np.float32 and st["mu_product"]._data.shape == ()
    mu = [np.float32(0.9 * (1 - 0.5 * 0.96 ** (t * 4e-3))) for t in (1, 2)]
    assert st["mu_product"]._data == np.float32(1.0) * mu[0] * mu[1]
    assert float(st["step"]._data) == 2.0


def test_loaded_state_is_followed():
    """A state dict loaded between calls replaces the state arrays: the compiled step
    follows the new state (a guard fails and it retraces)."""
    a, b = mk(np.float32), mk(np.float32)
    oa, ob = optim.NAdam(a.parameters(), lr=0.01), optim.NAdam(b.parameters(), lr=0.01)

    def make(m, o):
        def step(x, y):
            o.zero_grad()
            loss = ((m(x) - y) ** 2).mean()
            loss.backward()
            o.step()
            return loss
        return step
    e, c = make(a, oa), fg.compile(make(b, ob))
    x, y = (fg.from_numpy(v[0].astype(np.float32)) for v in (XS, YS))
    for _ in range(3):
        e(x, y)
        c(x, y)
    sd = oa.state_dict()
    oa.load_state_dict(sd)
    ob.load_state_dict(sd)
    for _ in range(3):
        assert e(x, y)._data.tobytes() == c(x, y)._data.tobytes()
    for p, q in zip(a.parameters(), b.parameters()):
        assert p._data.tobytes() == q._data.tobytes()
    assert c.stats["traces"] == 2


def _lbfgs_models():
    a, b = mk(np.float32), mk(np.float32)
    x, y = (fg.from_numpy(v[0].astype(np.float32)) for v in (XS, YS))

    def make(m):
        opt = optim.LBFGS(m.parameters(), max_iter=4)

        def closure():
            opt.zero_grad()
            loss = ((m(x) - y) ** 2).mean()
            loss.backward()
            return loss

        def step():
            return opt.step(closure)
        return step
    return a, b, make


@pytest.mark.parametrize("fallback", [None, "eager"])
def test_lbfgs_runs_eagerly_with_one_warning(fallback):
    a, b, make = _lbfgs_models()
    e, c = make(a), fg.compile(make(b), fallback=fallback)
    with pytest.warns(RuntimeWarning, match="LBFGS.step evaluates its closure"):
        c()
    e()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            assert e()._data.tobytes() == c()._data.tobytes()
    for p, q in zip(a.parameters(), b.parameters()):
        assert p._data.tobytes() == q._data.tobytes()
    assert c.stats["traces"] == 1 and c.stats["eager_calls"] == 3 and c.stats["plans"] == 0
    info = c.plan_info()
    assert len(info) == 1 and info[0]["mode"] == "eager" and "line search" in info[0]["reason"]
