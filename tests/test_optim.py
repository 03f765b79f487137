"""fastgrad.optim and fastgrad.nn.utils.clip_grad_*: every optimizer against a NumPy
implementation of its published update rule (written here, in float64, independent of
the C kernels), and against torch.optim when torch is importable."""
import copy
import math

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import optim
from fastgrad.nn.utils import clip_grad_norm_, clip_grad_value_

SHAPES = [(3, 4), (7,), (2, 3, 2), (), (0, 3)]
STEPS = 20


# ---- NumPy reference implementations of the published update rules ---------------------
def ref_sgd(p, g, st, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
            maximize=False):
    if maximize:
        g = -g
    if weight_decay:
        g = g + weight_decay * p
    if momentum:
        st["b"] = g.copy() if "b" not in st else momentum * st["b"] + (1 - dampening) * g
        g = g + momentum * st["b"] if nesterov else st["b"]
    return p - lr * g


def ref_adam(p, g, st, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
             maximize=False, decoupled=False):
    b1, b2 = betas
    if maximize:
        g = -g
    if weight_decay and decoupled:
        p = p * (1 - lr * weight_decay)
    elif weight_decay:
        g = g + weight_decay * p
    t = st["t"] = st.get("t", 0) + 1
    st["m"] = b1 * st.get("m", 0.0) + (1 - b1) * g
    st["v"] = b2 * st.get("v", 0.0) + (1 - b2) * g * g
    v = st["v"]
    if amsgrad:          # PyTorch keeps the running max of the raw second moment
        v = st["vmax"] = np.maximum(st.get("vmax", 0.0), st["v"])
    m_hat = st["m"] / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


def ref_rmsprop(p, g, st, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                centered=False, maximize=False):
    if maximize:
        g = -g
    if weight_decay:
        g = g + weight_decay * p
    st["v"] = alpha * st.get("v", 0.0) + (1 - alpha) * g * g
    v = st["v"]
    if centered:
        st["ga"] = alpha * st.get("ga", 0.0) + (1 - alpha) * g
        v = v - st["ga"] ** 2
    if momentum > 0:
        st["b"] = momentum * st.get("b", 0.0) + g / (np.sqrt(v) + eps)
        return p - lr * st["b"]
    return p - lr * g / (np.sqrt(v) + eps)


def ref_adagrad(p, g, st, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                eps=1e-10, maximize=False):
    if maximize:
        g = -g
    t = st["t"] = st.get("t", 0) + 1
    clr = lr / (1 + (t - 1) * lr_decay)
    if weight_decay:
        g = g + weight_decay * p
    st["s"] = st.get("s", initial_accumulator_value) + g * g
    return p - clr * g / (np.sqrt(st["s"]) + eps)


REFS = {optim.SGD: ref_sgd, optim.Adam: ref_adam, optim.AdamW: ref_adam,
        optim.RMSprop: ref_rmsprop, optim.Adagrad: ref_adagrad}

CONFIGS = [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.05, momentum=0.9)),
    (optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    (optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    (optim.SGD, dict(lr=0.05, momentum=0.5, maximize=True)),
    (optim.SGD, dict(lr=0.05, weight_decay=0.2, maximize=True)),
    (optim.Adam, dict(lr=0.01)),
    (optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
    (optim.Adam, dict(lr=0.01, amsgrad=True, maximize=True)),
    (optim.Adam, dict(lr=0.01, betas=(0.3, 0.9), eps=1e-3)),
    (optim.AdamW, dict(lr=0.01)),
    (optim.AdamW, dict(lr=0.02, weight_decay=0.3, amsgrad=True)),
    (optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.9, weight_decay=0.05)),
    (optim.RMSprop, dict(lr=0.01, centered=True)),
    (optim.RMSprop, dict(lr=0.005, centered=True, momentum=0.5, alpha=0.3, maximize=True)),
    (optim.Adagrad, dict(lr=0.1)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5)),
    (optim.Adagrad, dict(lr=0.1, eps=1e-3, maximize=True)),
]


def _cid(c):
    return c[0].__name__ + "-" + "-".join(f"{k}={v}" for k, v in c[1].items())


def _ref_kwargs(cls, kw):
    kw = dict(kw)
    if cls is optim.AdamW:
        kw.setdefault("weight_decay", 1e-2)
        kw["decoupled"] = True
    return kw


def init_arrays(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in SHAPES]


def noise(step, i, shape):
    return np.random.default_rng(1000 * step + i).standard_normal(shape)


def grad_of(p, step, i):
    """a gradient that depends on the current parameters (a quadratic bowl plus noise)"""
    return np.asarray(0.7 * p + noise(step, i, np.shape(p)))


def strided(a):
    """the same values as a non-contiguous view"""
    if a.ndim == 0 or a.size == 0:
        return a
    buf = np.zeros(a.shape + (2,), dtype=a.dtype)
    buf[..., 1] = a
    return buf[..., 1]


def run_reference(cls, kw, steps=STEPS, seed=0):
    ref = REFS[cls]
    kw = _ref_kwargs(cls, kw)
    ps = init_arrays(seed)
    states = [{} for _ in ps]
    for t in range(steps):
        ps = [ref(p, grad_of(p, t, i), st, **kw) for i, (p, st) in enumerate(zip(ps, states))]
    return ps


def run_fastgrad(cls, kw, dtype, steps=STEPS, seed=0, noncontig=(0, 2)):
    params = [fg.tensor(a, dtype=dtype, requires_grad=True) for a in init_arrays(seed)]
    opt = cls(params, **kw)
    for t in range(steps):
        for i, p in enumerate(params):
            g = np.asarray(grad_of(p._data.astype(np.float64), t, i).astype(dtype))
            p.grad = fg.from_numpy(strided(g) if i in noncontig else g)
        opt.step()
    return [p._data for p in params], opt


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", CONFIGS, ids=_cid)
def test_matches_numpy_reference(cfg, dtype):
    cls, kw = cfg
    want = run_reference(cls, kw)
    got, opt = run_fastgrad(cls, kw, dtype)
    tol = dict(rtol=1e-9, atol=1e-11) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-5)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, err_msg=f"param {i}", **tol)
    assert len(opt.state) == len(SHAPES) or cls is optim.SGD


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", CONFIGS, ids=_cid)
def test_matches_torch(cfg, dtype):
    torch = pytest.importorskip("torch")
    cls, kw = cfg
    got, _ = run_fastgrad(cls, kw, dtype)
    tparams = [torch.tensor(a.astype(dtype), requires_grad=True) for a in init_arrays()]
    topt = getattr(torch.optim, cls.__name__)(tparams, **kw)
    for t in range(STEPS):
        for i, p in enumerate(tparams):
            g = grad_of(p.detach().numpy().astype(np.float64), t, i).astype(dtype)
            p.grad = torch.from_numpy(np.asarray(g))
        topt.step()
    tol = dict(rtol=1e-9, atol=1e-12) if dtype == np.float64 else dict(rtol=3e-5, atol=3e-6)
    for i, (g, p) in enumerate(zip(got, tparams)):
        np.testing.assert_allclose(g, p.detach().numpy(), err_msg=f"param {i}", **tol)


@pytest.mark.parametrize("cfg", [CONFIGS[3], CONFIGS[8], CONFIGS[11], CONFIGS[15], CONFIGS[17]],
                         ids=_cid)
def test_simd_paths_and_threads(cfg):
    """every SIMD path, and the task-pool split of a large model, give the reference result"""
    cls, kw = cfg
    rng = np.random.default_rng(5)
    init = [rng.standard_normal((520, 510)), rng.standard_normal(1001)]   # > the pool threshold
    want = [a.copy() for a in init]
    states = [{} for _ in init]
    for t in range(3):
        want = [REFS[cls](p, grad_of(p, t, i), st, **_ref_kwargs(cls, kw))
                for i, (p, st) in enumerate(zip(want, states))]
    results = []
    for simd in fg.available_simd():
        for threads in (1, 2):
            fg.set_simd(simd)
            fg.set_num_threads(threads)
            params = [fg.tensor(a, dtype=np.float32, requires_grad=True) for a in init]
            opt = cls(params, **kw)
            for t in range(3):
                for i, p in enumerate(params):
                    p.grad = fg.from_numpy(grad_of(p._data.astype(np.float64), t, i).astype(np.float32))
                opt.step()
            for p, w in zip(params, want):
                np.testing.assert_allclose(p._data, w, rtol=1e-4, atol=1e-5, err_msg=f"{simd} x{threads}")
            results.append((simd, threads, [p._data.copy() for p in params]))
    # on one SIMD path the threaded split is bit-identical to the single-thread run
    for (s1, t1, r1), (s2, t2, r2) in zip(results[::2], results[1::2]):
        assert s1 == s2 and t1 == 1 and t2 == 2
        for a, b in zip(r1, r2):
            np.testing.assert_array_equal(a, b)


def test_param_groups_with_their_own_hyperparameters():
    arrays = init_arrays()
    a = [fg.tensor(x, dtype=np.float64, requires_grad=True) for x in arrays[:2]]
    b = [fg.tensor(x, dtype=np.float64, requires_grad=True) for x in arrays[2:]]
    opt = optim.SGD([{"params": a}, {"params": b, "lr": 0.5, "momentum": 0.0}], lr=0.1, momentum=0.9)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["momentum"] == 0.0 and opt.param_groups[0]["momentum"] == 0.9
    ref = [x.copy() for x in arrays]
    st = [{} for _ in arrays]
    for t in range(5):
        for i, p in enumerate(a + b):
            p.grad = fg.from_numpy(grad_of(p._data, t, i))
        opt.step()
        ref = [ref_sgd(p, grad_of(p, t, i), s, **(dict(lr=0.1, momentum=0.9) if i < 2 else dict(lr=0.5)))
               for i, (p, s) in enumerate(zip(ref, st))]
    for p, r in zip(a + b, ref):
        np.testing.assert_allclose(p._data, r, rtol=1e-12, atol=1e-14)
    # a group added later, with a lr changed through param_groups
    c = fg.tensor(np.ones(4), dtype=np.float64, requires_grad=True)
    opt.add_param_group({"params": [c], "lr": 1.0})
    opt.param_groups[2]["lr"] = 0.25
    c.grad = fg.from_numpy(np.full(4, 2.0))
    opt.step()
    np.testing.assert_allclose(c._data, np.full(4, 1.0 - 0.25 * 2.0 * 1.0))


def test_mixed_dtypes_in_one_group():
    p32 = fg.tensor(np.ones(3), dtype=np.float32, requires_grad=True)
    p64 = fg.tensor(np.ones(3), dtype=np.float64, requires_grad=True)
    opt = optim.Adam([p32, p64], lr=0.1)
    for p in (p32, p64):
        p.grad = fg.from_numpy(np.full(3, 0.5, dtype=p.dtype))
    opt.step()
    want = 1 - 0.1 * 0.5 / (0.5 + 1e-8)                 # first Adam step: lr * g / (|g| + eps)
    assert p32.dtype == np.float32 and p64.dtype == np.float64
    np.testing.assert_allclose(p32._data, want, rtol=1e-6)
    np.testing.assert_allclose(p64._data, want, rtol=1e-14)


@pytest.mark.parametrize("cfg", [CONFIGS[2], CONFIGS[3], CONFIGS[8], CONFIGS[11], CONFIGS[15],
                                 CONFIGS[17]], ids=_cid)
def test_state_dict_round_trip(cfg):
    cls, kw = cfg
    params, opt = None, None
    params = [fg.tensor(a, dtype=np.float32, requires_grad=True) for a in init_arrays()]
    opt = cls(params, **kw)

    def run(ps, o, t0, n):
        for t in range(t0, t0 + n):
            for i, p in enumerate(ps):
                p.grad = fg.from_numpy(np.asarray(grad_of(p._data.astype(np.float64), t, i).astype(np.float32)))
            o.step()

    run(params, opt, 0, 5)
    saved = copy.deepcopy(opt.state_dict())
    snapshot = [p._data.copy() for p in params]
    run(params, opt, 5, 5)
    # a fresh optimizer over fresh parameters, restored, continues identically
    params2 = [fg.tensor(a, requires_grad=True) for a in snapshot]
    opt2 = cls(params2, **kw)
    opt2.load_state_dict(saved)
    assert opt2.state_dict()["param_groups"] == saved["param_groups"]
    run(params2, opt2, 5, 5)
    for p, q in zip(params, params2):
        np.testing.assert_array_equal(p._data, q._data)
    sd, sd2 = opt.state_dict(), opt2.state_dict()
    assert sd["state"].keys() == sd2["state"].keys()
    for k in sd["state"]:
        for name, v in sd["state"][k].items():
            np.testing.assert_array_equal(np.asarray(v._data), np.asarray(sd2["state"][k][name]._data))


def test_state_dict_layout():
    ps = [fg.ones(2, requires_grad=True) for _ in range(3)]
    opt = optim.Adam([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.5}], amsgrad=True)
    ps[1].grad = fg.ones(2)
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["lr"] == 1e-3
    assert list(sd["state"]) == [1]                      # only the parameter that had a gradient
    assert set(sd["state"][1]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert float(sd["state"][1]["step"]) == 1.0
    np.testing.assert_array_equal(ps[0]._data, 1.0)       # no gradient: untouched


def test_load_state_dict_errors():
    ps = [fg.ones(2, requires_grad=True) for _ in range(3)]
    opt = optim.SGD([{"params": ps[:2]}, {"params": ps[2:]}], lr=0.1, momentum=0.9)
    for p in ps:
        p.grad = fg.ones(2)
    opt.step()
    sd = copy.deepcopy(opt.state_dict())
    other = optim.SGD(ps, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        other.load_state_dict(sd)
    q = [fg.tensor(np.ones(2), requires_grad=True) for _ in range(3)]
    other = optim.SGD([{"params": q[:1]}, {"params": q[1:]}], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        other.load_state_dict(sd)
    r = [fg.tensor(np.ones(3), requires_grad=True) for _ in range(3)]
    other = optim.SGD([{"params": r[:2]}, {"params": r[2:]}], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"momentum_buffer.*shape \(2,\).*shape \(3,\)"):
        other.load_state_dict(sd)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})


def test_load_torch_state_dict():
    torch = pytest.importorskip("torch")
    init = init_arrays()[:3]
    tps = [torch.tensor(a, requires_grad=True) for a in init]
    topt = torch.optim.Adam(tps, lr=0.01, amsgrad=True)
    ps = [fg.tensor(a, dtype=np.float64, requires_grad=True) for a in init]
    for t in range(3):
        for i, p in enumerate(tps):
            p.grad = torch.from_numpy(grad_of(p.detach().numpy(), t, i))
        topt.step()
    for p, tp in zip(ps, tps):
        p._data[...] = tp.detach().numpy()
    opt = optim.Adam(ps, lr=0.01, amsgrad=True)
    opt.load_state_dict(copy.deepcopy(topt.state_dict()))
    for t in range(3, 6):
        for i, (p, tp) in enumerate(zip(ps, tps)):
            tp.grad = torch.from_numpy(grad_of(tp.detach().numpy(), t, i))
            p.grad = fg.from_numpy(grad_of(p._data, t, i))
        topt.step()
        opt.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p._data, tp.detach().numpy(), rtol=1e-9, atol=1e-12)


def test_zero_grad():
    p = fg.tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    g = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is g
    np.testing.assert_array_equal(p.grad._data, 0.0)
    assert not p.grad.requires_grad
    opt.zero_grad()
    assert p.grad is None
    opt.zero_grad()                                      # no gradient: nothing to do


def test_step_bumps_version_and_breaks_saved_graph():
    p = fg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    loss = (p * p).sum()                                 # mul saves p
    loss.backward(retain_graph=True)
    v = p._version[0]
    opt.step()
    assert p._version[0] == v + 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_step_records_no_graph_and_closure_returns_loss():
    p = fg.tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss
    with fg.no_grad():
        loss = opt.step(closure)                         # closure runs with grad enabled
    assert float(loss) == 5.0
    np.testing.assert_allclose(p._data, [1.0 - 0.2, -2.0 + 0.4])
    assert p.grad_fn is None and p.is_leaf
    assert opt.step() is None


def test_params_without_grad_are_skipped():
    a = fg.ones(3, requires_grad=True)
    b = fg.ones(3, requires_grad=True)
    opt = optim.RMSprop([a, b], lr=0.1, momentum=0.9, centered=True)
    a.grad = fg.ones(3)
    opt.step()
    assert b not in opt.state and b._version[0] == 0
    np.testing.assert_array_equal(b._data, 1.0)
    b.grad = fg.ones(3)                                  # first gradient for b later
    opt.step()
    assert float(opt.state[a]["step"]) == 2.0 and float(opt.state[b]["step"]) == 1.0
    # b's first step equals a's first step
    a2 = fg.ones(3, requires_grad=True)
    o2 = optim.RMSprop([a2], lr=0.1, momentum=0.9, centered=True)
    a2.grad = fg.ones(3)
    o2.step()
    np.testing.assert_array_equal(b._data, a2._data)


def test_non_contiguous_param_and_replaced_data():
    base = np.zeros((4, 6))
    p = fg.from_numpy(base[:, ::2])                     # a strided view as the parameter
    p.requires_grad_(True)
    opt = optim.SGD([p], lr=0.5, momentum=0.9)
    for _ in range(2):
        p.grad = fg.from_numpy(np.ones((4, 3)))
        opt.step()
    np.testing.assert_allclose(base[:, ::2], -0.5 - 0.5 * 1.9)
    np.testing.assert_array_equal(base[:, 1::2], 0.0)
    # the parameter's array replaced: the cached plan notices
    p._data = np.zeros((4, 3))
    opt.step()
    np.testing.assert_allclose(p._data, -0.5 * (0.9 * 1.9 + 1))


def test_gradient_errors():
    p = fg.tensor(np.ones(3), dtype=np.float32, requires_grad=True)
    opt = optim.Adam([p])
    p.grad = fg.tensor(np.ones(3), dtype=np.float64)
    with pytest.raises(TypeError, match=r"Adam: gradient of parameter 0 has dtype float64.*float32"):
        opt.step()
    p.grad = fg.tensor(np.ones(4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"Adam: gradient of parameter 0 has shape \(4,\).*\(3,\)"):
        opt.step()
    np.testing.assert_array_equal(p._data, 1.0)


@pytest.mark.parametrize("ctor, msg", [
    (lambda ps: optim.SGD(ps, lr=-1), "Invalid learning rate: -1"),
    (lambda ps: optim.SGD(ps, lr=float("nan")), "Invalid learning rate: nan"),
    (lambda ps: optim.SGD(ps, momentum=-0.5), "Invalid momentum value: -0.5"),
    (lambda ps: optim.SGD(ps, weight_decay=-1e-3), "Invalid weight_decay value"),
    (lambda ps: optim.SGD(ps, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    (lambda ps: optim.SGD(ps, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    (lambda ps: optim.Adam(ps, lr=-0.1), "Invalid learning rate: -0.1"),
    (lambda ps: optim.Adam(ps, eps=-1.0), "Invalid epsilon value: -1.0"),
    (lambda ps: optim.Adam(ps, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    (lambda ps: optim.Adam(ps, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (lambda ps: optim.AdamW(ps, weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    (lambda ps: optim.AdamW(ps, lr=float("inf")), "Invalid learning rate: inf"),
    (lambda ps: optim.RMSprop(ps, alpha=-0.1), "Invalid alpha value: -0.1"),
    (lambda ps: optim.RMSprop(ps, momentum=-1), "Invalid momentum value: -1"),
    (lambda ps: optim.RMSprop(ps, eps=-1), "Invalid epsilon value: -1"),
    (lambda ps: optim.Adagrad(ps, lr_decay=-1), "Invalid lr_decay value: -1"),
    (lambda ps: optim.Adagrad(ps, initial_accumulator_value=-1), "Invalid initial_accumulator_value value: -1"),
    (lambda ps: optim.Adagrad(ps, eps=-1), "Invalid epsilon value: -1"),
    (lambda ps: optim.SGD([{"params": ps, "lr": -2}], lr=0.1), "Invalid learning rate: -2"),
    (lambda ps: optim.SGD([]), "optimizer got an empty parameter list"),
])
def test_hyperparameter_validation(ctor, msg):
    ps = [fg.tensor(np.ones(2), requires_grad=True)]
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        ctor(ps)


def test_parameter_list_errors():
    p = fg.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {p}}], lr=0.1)
    opt = optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [p]})
    with pytest.raises(TypeError, match="float32/float64"):
        optim.SGD([fg.tensor([1, 2])], lr=0.1)


def test_adagrad_state_created_at_construction():
    p = fg.tensor(np.ones((2, 2)), requires_grad=True)
    opt = optim.Adagrad([p], initial_accumulator_value=0.25)
    np.testing.assert_array_equal(opt.state[p]["sum"]._data, 0.25)
    assert float(opt.state[p]["step"]) == 0.0


def test_scheduler_changes_take_effect():
    """lr and betas set in param_groups (as schedulers do) reach the kernel at once"""
    p = fg.zeros(2, requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    p.grad = fg.ones(2)
    opt.step()
    opt.param_groups[0]["lr"] = 0.1
    opt.step()
    np.testing.assert_allclose(p._data, -1.1)
    opt.param_groups[0]["momentum"] = 0.5                 # new state layout: plan rebuilt
    opt.step()
    opt.step()
    np.testing.assert_allclose(p._data, -1.1 - 0.1 - 0.1 * 1.5)


# ---- gradient clipping --------------------------------------------------------------------
def _params_with_grads(dtype, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    ps = []
    for i, s in enumerate([(4, 5), (7,), (3, 2, 2), (0,)]):
        p = fg.tensor(np.zeros(s), dtype=dtype, requires_grad=True)
        g = (scale * rng.standard_normal(s)).astype(dtype)
        p.grad = fg.from_numpy(strided(g) if i == 2 else g)
        ps.append(p)
    ps.append(fg.tensor(np.zeros(3), dtype=dtype, requires_grad=True))   # no gradient
    return ps


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf, 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm(dtype, norm_type, max_norm):
    ps = _params_with_grads(dtype)
    flat = [p.grad._data.astype(np.float64).ravel() for p in ps if p.grad is not None]
    allg = np.concatenate(flat)
    want_total = np.abs(allg).max() if math.isinf(norm_type) else (np.abs(allg) ** norm_type).sum() ** (1 / norm_type)
    coef = min(max_norm / (want_total + 1e-6), 1.0)
    total = clip_grad_norm_(ps, max_norm, norm_type)
    assert isinstance(total, fg.Tensor) and total.dtype == dtype and total.shape == ()
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(float(total), want_total, rtol=rtol)
    for p, f in zip([p for p in ps if p.grad is not None], flat):
        np.testing.assert_allclose(p.grad._data.ravel(), f * coef, rtol=rtol, atol=1e-30)
    if max_norm < 1:
        new = clip_grad_norm_(ps, 1e9, norm_type)
        np.testing.assert_allclose(float(new), max_norm, rtol=1e-4)


def test_clip_grad_norm_vs_torch():
    torch = pytest.importorskip("torch")
    for norm_type in (2.0, math.inf, 1.5):
        ps = _params_with_grads(np.float64, seed=3)[:3]   # torch rejects inf-norms of empty grads
        tps = []
        for p in ps:
            t = torch.zeros(p.shape, dtype=torch.float64, requires_grad=True)
            if p.grad is not None:
                t.grad = torch.from_numpy(p.grad._data.copy())
            tps.append(t)
        total = clip_grad_norm_(ps, 0.7, norm_type)
        ttotal = torch.nn.utils.clip_grad_norm_(tps, 0.7, norm_type)
        np.testing.assert_allclose(float(total), float(ttotal), rtol=1e-12)
        for p, t in zip(ps, tps):
            if p.grad is not None:
                np.testing.assert_allclose(p.grad._data, t.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_nonfinite():
    ps = _params_with_grads(np.float32)
    ps[1].grad._data[3] = np.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    total = clip_grad_norm_(ps, 1.0)                     # no error: scaled by the inf norm
    assert math.isinf(float(total))
    ps = _params_with_grads(np.float64)
    ps[0].grad._data[0, 0] = np.nan
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(ps, 1.0, norm_type=math.inf, error_if_nonfinite=True)
    assert float(clip_grad_norm_([fg.tensor(np.ones(2), requires_grad=True)], 1.0)) == 0.0
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_(ps, 1.0, norm_type=-1)


def test_clip_grad_norm_single_tensor_and_version():
    p = fg.tensor(np.array([3.0, 4.0]), requires_grad=True)
    p.grad = fg.tensor(np.array([3.0, 4.0]))
    v = p.grad._version[0]
    total = clip_grad_norm_(p, 1.0)
    assert float(total) == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad._data, [3 / (5 + 1e-6), 4 / (5 + 1e-6)])
    assert p.grad._version[0] == v + 1


def test_clip_grad_value():
    ps = _params_with_grads(np.float32, scale=3.0)
    want = [np.clip(p.grad._data, -1.5, 1.5) for p in ps if p.grad is not None]
    assert clip_grad_value_(ps, 1.5) is None
    for p, w in zip([p for p in ps if p.grad is not None], want):
        np.testing.assert_array_equal(p.grad._data, w)
    assert max(np.abs(p.grad._data).max(initial=0) for p in ps if p.grad is not None) == 1.5


def test_loaded_none_momentum_buffer_starts_fresh():
    """a saved state whose momentum_buffer is None (PyTorch writes that) restarts the buffer"""
    p = fg.ones(3, requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    opt.load_state_dict({"state": {0: {"momentum_buffer": None}},
                         "param_groups": [dict(opt.state_dict()["param_groups"][0])]})
    p.grad = fg.ones(3)
    opt.step()
    np.testing.assert_allclose(p._data, 0.9)             # first step: buffer = gradient, no dampening
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"]._data, 1.0)


def test_c_kernels_reject_bad_arguments_without_writing():
    from fastgrad._C import _kernels as K
    status, before, after = K._optim_c_selftest()
    ok = status.pop("ok: sgd")
    assert status and all(v == 1 for v in status.values()), status      # FG_EINVAL
    assert before == ([1.0] * 4, [0.0] * 12, [0.0, 0.0])                # rejected calls wrote nothing
    assert ok == 0 and after == [0.5] * 4                               # a valid call runs


def test_optimizer_pickles_and_deepcopies():
    import pickle
    ps = [fg.tensor(a, dtype=np.float64, requires_grad=True) for a in init_arrays()[:2]]
    opt = optim.Adam(ps, lr=0.05, amsgrad=True)
    for i, p in enumerate(ps):
        p.grad = fg.from_numpy(grad_of(p._data, 0, i))
    opt.step()
    for make_copy in (lambda o: pickle.loads(pickle.dumps(o)), copy.deepcopy):
        clone = make_copy(opt)
        cps = clone.param_groups[0]["params"]
        assert all(c is not p for c, p in zip(cps, ps))
        for p, c in zip(ps, cps):
            np.testing.assert_array_equal(p._data, c._data)
        # the copy and the original continue identically, each on its own arrays
        opt_copy_before = [p._data.copy() for p in ps]
        clone.step()
        opt.step()
        for p, c, b in zip(ps, cps, opt_copy_before):
            np.testing.assert_array_equal(p._data, c._data)
            assert not np.array_equal(p._data, b)


def test_signatures_match_torch():
    """argument names, order, kinds and defaults follow PyTorch's"""
    torch = pytest.importorskip("torch")
    import inspect
    from fastgrad.nn import utils as U
    from fastgrad.optim import lr_scheduler as S
    pairs = [(getattr(optim, n), getattr(torch.optim, n))
             for n in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad")]
    pairs += [(getattr(S, n), getattr(torch.optim.lr_scheduler, n))
              for n in ("StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "OneCycleLR",
                        "LambdaLR", "ReduceLROnPlateau")]
    pairs += [(U.clip_grad_norm_, torch.nn.utils.clip_grad_norm_),
              (U.clip_grad_value_, torch.nn.utils.clip_grad_value_)]
    for ours, theirs in pairs:
        a, b = inspect.signature(ours).parameters, inspect.signature(theirs).parameters
        assert [(k, p.kind, p.default) for k, p in a.items()] == \
               [(k, p.kind, p.default) for k, p in b.items()], ours.__name__


@pytest.mark.parametrize("make", [
    lambda ps: optim.Adam(ps, lr=0.01, weight_decay=1e-3),
    lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
], ids=["adam", "sgd-nesterov"])
def test_training_loop_with_autograd(make):
    """forward, backward, clip, step, zero_grad: the loss falls, and with torch installed the
    parameters follow torch's training run of the same model"""
    import fastgrad.nn.functional as F
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 5)), rng.standard_normal((32, 2))
    init = [rng.standard_normal((8, 5)) * 0.5, np.zeros(8), rng.standard_normal((2, 8)) * 0.5, np.zeros(2)]
    ps = [fg.tensor(a, dtype=np.float64, requires_grad=True) for a in init]
    opt = make(ps)
    X, Y = fg.tensor(x, dtype=np.float64), fg.tensor(y, dtype=np.float64)
    losses = []
    for _ in range(25):
        opt.zero_grad()
        loss = F.mse_loss(F.linear(fg.tanh(F.linear(X, ps[0], ps[1])), ps[2], ps[3]), Y)
        loss.backward()
        clip_grad_norm_(ps, 1.0)
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.8 * losses[0]
    torch = pytest.importorskip("torch")
    tps = [torch.tensor(a, requires_grad=True) for a in init]
    topt = getattr(torch.optim, type(opt).__name__)(tps, **{k: v for k, v in opt.defaults.items()
                                                           if k not in ("decoupled_weight_decay",)})
    tx, ty = torch.tensor(x), torch.tensor(y)
    for _ in range(25):
        topt.zero_grad()
        tl = torch.nn.functional.mse_loss(torch.nn.functional.linear(
            torch.tanh(torch.nn.functional.linear(tx, tps[0], tps[1])), tps[2], tps[3]), ty)
        tl.backward()
        torch.nn.utils.clip_grad_norm_(tps, 1.0)
        topt.step()
    for p, t in zip(ps, tps):
        np.testing.assert_allclose(p._data, t.detach().numpy(), rtol=1e-8, atol=1e-10)
