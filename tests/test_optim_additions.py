"""Adadelta, RAdam, NAdam and LBFGS against PyTorch: the same model, initial weights and
data, parameters compared after every step; state_dict round trips with PyTorch's keys.
(Their compiled steps: tests/test_compile_optim.py.)"""
import copy

import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn as nn
import fastgrad.optim as optim

torch = pytest.importorskip("torch")


def _models(seed=0):
    torch.manual_seed(seed)
    t = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    f = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))
    f.load_state_dict({k: fg.tensor(v.detach().numpy().copy()) for k, v in t.state_dict().items()})
    return f, t


def _data(seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((16, 5)).astype(np.float32), rng.standard_normal((16, 2)).astype(np.float32)


def _assert_same_params(f, t, step, rtol=2e-5, atol=2e-6):
    for (name, fp), (_, tp) in zip(f.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(fp.detach().numpy(), tp.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"{name} after step {step}")


def _closures(f, t, x, y):
    fx, fy, tx, ty = fg.tensor(x), fg.tensor(y), torch.tensor(x), torch.tensor(y)

    def fclosure(opt):
        def c():
            opt.zero_grad()
            loss = ((f(fx) - fy) ** 2).mean()
            loss.backward()
            return loss
        return c

    def tclosure(opt):
        def c():
            opt.zero_grad()
            loss = ((t(tx) - ty) ** 2).mean()
            loss.backward()
            return loss
        return c
    return fclosure, tclosure


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


@pytest.mark.parametrize("name,kw", CASES)
def test_trajectory_matches_torch(name, kw):
    f, t = _models()
    x, y = _data()
    fo, to = getattr(optim, name)(f.parameters(), **kw), getattr(torch.optim, name)(t.parameters(), **kw)
    fc, tc = _closures(f, t, x, y)
    for step in range(25):
        fl = fo.step(fc(fo))
        tl = to.step(tc(to))
        tl = float(tl.detach())
        assert abs(float(fl) - tl) <= 1e-5 * (1 + abs(tl))
        _assert_same_params(f, t, step)


LBFGS_CASES = [{}, {"max_iter": 4}, {"max_iter": 4, "history_size": 3},
               {"max_iter": 4, "line_search_fn": "strong_wolfe"},
               {"max_iter": 3, "line_search_fn": "strong_wolfe", "history_size": 2, "lr": 0.5}]


def _logistic(seed=0):
    torch.manual_seed(seed)
    t = torch.nn.Linear(5, 3)
    f = nn.Linear(5, 3)
    f.load_state_dict({k: fg.tensor(v.detach().numpy().copy()) for k, v in t.state_dict().items()})
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((64, 5)).astype(np.float32), rng.integers(0, 3, 64)
    return f, t, (fg.tensor(x), fg.tensor(y)), (torch.tensor(x), torch.tensor(y))


@pytest.mark.parametrize("kw", LBFGS_CASES)
def test_lbfgs_trajectory_matches_torch(kw):
    """A convex problem (multinomial logistic regression) in float32: 20 steps of up to
    max_iter iterations each, parameters compared after every step.  Near the optimum the
    stopping tests (loss and step changes below 1e-9) see float32 rounding, so evaluation
    counts are compared after the first step."""
    f, t, (fx, fy), (tx, ty) = _logistic()
    fo, to = optim.LBFGS(f.parameters(), **kw), torch.optim.LBFGS(t.parameters(), **kw)

    def fc():
        fo.zero_grad()
        loss = fg.nn.functional.cross_entropy(f(fx), fy)
        loss.backward()
        return loss

    def tc():
        to.zero_grad()
        loss = torch.nn.functional.cross_entropy(t(tx), ty)
        loss.backward()
        return loss
    for step in range(20):
        fl = float(fo.step(fc))
        tl = float(to.step(tc).detach())
        assert abs(fl - tl) <= 1e-5 * (1 + abs(tl)), step
        _assert_same_params(f, t, step, rtol=1e-3, atol=5e-4)
        if step == 0:
            fs, ts = fo.state[f.weight], to.state[t.weight]
            assert (fs["func_evals"], fs["n_iter"]) == (ts["func_evals"], ts["n_iter"]), step
    fs, ts = fo.state_dict()["state"][0], to.state_dict()["state"][0]
    assert set(fs) == set(ts)
    assert 0 < len(fs["old_dirs"]) <= kw.get("history_size", 100)


@pytest.mark.parametrize("kw", [{}, {"line_search_fn": "strong_wolfe", "history_size": 4, "lr": 0.5}])
def test_lbfgs_float64_matches_torch_closely(kw):
    """In float64 the iterations agree to rounding: a non-convex net, 3 steps of 20
    iterations (later steps amplify rounding chaotically, in PyTorch against itself too)."""
    torch.manual_seed(0)
    t = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
    f = nn.Sequential(nn.Linear(5, 8, dtype=fg.float64), nn.Tanh(), nn.Linear(8, 2, dtype=fg.float64))
    f.load_state_dict({k: fg.tensor(v.detach().numpy().copy()) for k, v in t.state_dict().items()})
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((128, 5)), rng.standard_normal((128, 2))
    fo, to = optim.LBFGS(f.parameters(), **kw), torch.optim.LBFGS(t.parameters(), **kw)
    fc, tc = _closures(f, t, x, y)
    for step in range(3):
        fo.step(fc(fo))
        to.step(tc(to))
        _assert_same_params(f, t, step, rtol=1e-9, atol=1e-10)
        fs, ts = fo.state[f[0].weight], to.state[t[0].weight]
        assert (fs["func_evals"], fs["n_iter"]) == (ts["func_evals"], ts["n_iter"])


def test_lbfgs_converges_on_a_quadratic():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6))
    h = fg.tensor(a @ a.T + 6 * np.eye(6))
    b = fg.tensor(rng.standard_normal(6))
    w = nn.Parameter(fg.zeros(6, dtype=fg.float64))
    opt = optim.LBFGS([w], line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                      tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        loss = 0.5 * (w @ (h @ w)) - b @ w
        loss.backward()
        return loss
    tw = torch.zeros(6, dtype=torch.float64, requires_grad=True)
    th, tb = torch.tensor(h.numpy()), torch.tensor(b.numpy())
    topt = torch.optim.LBFGS([tw], line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                             tolerance_change=1e-14)

    def tclosure():
        topt.zero_grad()
        loss = 0.5 * (tw @ (th @ tw)) - tb @ tw
        loss.backward()
        return loss
    for _ in range(3):
        opt.step(closure)
        topt.step(tclosure)
    np.testing.assert_allclose(w.detach().numpy(), tw.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.detach().numpy(), np.linalg.solve(h.numpy(), b.numpy()), rtol=1e-6)


def test_lbfgs_needs_a_closure_and_one_group():
    p = nn.Parameter(fg.zeros(2))
    with pytest.raises(ValueError, match="closure"):
        optim.LBFGS([p]).step(None)
    with pytest.raises(TypeError):
        optim.LBFGS([p]).step()       # closure is a required argument, as in PyTorch
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [p]}, {"params": [nn.Parameter(fg.zeros(1))]}])
    with pytest.raises(ValueError, match="line_search_fn"):
        optim.LBFGS([p], line_search_fn="armijo")


@pytest.mark.parametrize("name", ["Adadelta", "RAdam", "NAdam"])
def test_state_dict_round_trip_and_torch_keys(name):
    f, t = _models()
    x, y = _data()
    fo, to = getattr(optim, name)(f.parameters(), lr=0.01), getattr(torch.optim, name)(t.parameters(), lr=0.01)
    fc, tc = _closures(f, t, x, y)
    for _ in range(3):
        fo.step(fc(fo))
        to.step(tc(to))
    fsd, tsd = fo.state_dict(), to.state_dict()
    assert set(fsd["state"]) == set(tsd["state"])
    for k in tsd["state"]:
        assert set(fsd["state"][k]) == set(tsd["state"][k])
    assert set(fsd["param_groups"][0]) == set(tsd["param_groups"][0])
    # a torch state dict (its tensors as arrays) loads into fastgrad and continues the same
    # trajectory; and fastgrad's own state dict round-trips
    f2 = copy.deepcopy(f)
    fo2 = getattr(optim, name)(f2.parameters(), lr=0.01)
    fo2.load_state_dict({"state": {k: {n: (v.numpy() if torch.is_tensor(v) else v) for n, v in st.items()}
                                   for k, st in tsd["state"].items()},
                         "param_groups": copy.deepcopy(tsd["param_groups"])})
    fo3 = getattr(optim, name)(f.parameters(), lr=0.01)
    fo3.load_state_dict(copy.deepcopy(fsd))
    fc2, _ = _closures(f2, t, x, y)
    for step in range(5):
        fo2.step(fc2(fo2))
        fo3.step(fc(fo3))
        to.step(tc(to))
        _assert_same_params(f2, t, step)
        _assert_same_params(f, t, step)


@pytest.mark.parametrize("name,kw,match", [
    ("Adadelta", {"rho": 1.5}, "Invalid rho value"), ("RAdam", {"betas": (1.0, 0.9)}, "beta"),
    ("NAdam", {"momentum_decay": -1}, "momentum_decay"), ("RAdam", {"lr": -1}, "learning rate"),
    ("NAdam", {"differentiable": True}, "differentiable")])
def test_bad_hyperparameters_raise(name, kw, match):
    with pytest.raises(ValueError, match=match):
        getattr(optim, name)([nn.Parameter(fg.zeros(2))], **kw)


@pytest.mark.parametrize("source", ["fastgrad", "torch"])
def test_lbfgs_state_dict_round_trip(source):
    """LBFGS's state (curvature pairs, direction, step, counters) saved after two steps and
    loaded into a fresh optimizer continues the same trajectory."""
    f, t, (fx, fy), (tx, ty) = _logistic()
    kw = {"max_iter": 3, "history_size": 4, "line_search_fn": "strong_wolfe"}
    fo, to = optim.LBFGS(f.parameters(), **kw), torch.optim.LBFGS(t.parameters(), **kw)

    def closure(opt, model):
        def c():
            opt.zero_grad()
            loss = fg.nn.functional.cross_entropy(model(fx), fy)
            loss.backward()
            return loss
        return c

    def tc():
        to.zero_grad()
        loss = torch.nn.functional.cross_entropy(t(tx), ty)
        loss.backward()
        return loss
    for _ in range(2):
        fo.step(closure(fo, f))
        to.step(tc)
    if source == "torch":
        sd = to.state_dict()
        conv = lambda v: (v.detach().numpy() if torch.is_tensor(v)  # noqa: E731
                          else [conv(u) for u in v] if isinstance(v, list) else v)
        sd = {"state": {k: {n: conv(v) for n, v in st.items()} for k, st in sd["state"].items()},
              "param_groups": copy.deepcopy(sd["param_groups"])}
    else:
        sd = copy.deepcopy(fo.state_dict())
    f2 = copy.deepcopy(f)
    fo2 = optim.LBFGS(f2.parameters(), **kw)
    fo2.load_state_dict(sd)
    for step in range(3):
        fo.step(closure(fo, f))
        fo2.step(closure(fo2, f2))
        to.step(tc)
        if source == "fastgrad":       # the same state: the same steps, bit for bit
            for a, b in zip(f.parameters(), f2.parameters()):
                np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
        _assert_same_params(f2, t, step, rtol=1e-3, atol=5e-4)
