"""Forward-mode AD (fastgrad.autograd.forward_ad) and the forward-mode Jacobian/Hessian.

Per-op agreement of forward and reverse mode is checked for every registry op in
test_registry.py; here: the dual API, composition, in-place ops, modules, and the
functional strategies, against closed forms and float64 central differences."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad import nn
from fastgrad.autograd import forward_ad as fwad
from fastgrad.autograd.functional import hessian, hvp, jacobian
from fastgrad.nn import functional as F


def _fd_dir(f, x, v, eps=1e-6):
    """Central difference of f along v (float64 arrays)."""
    return (f(x + eps * v) - f(x - eps * v)) / (2 * eps)


def test_dual_of_a_composition_matches_closed_form():
    rng = np.random.default_rng(0)
    x, v = rng.standard_normal(5), rng.standard_normal(5)
    with fwad.dual_level():
        d = fwad.make_dual(fg.tensor(x), fg.tensor(v))
        y = fg.sin(d) * d.exp() + d ** 2
        p, t = fwad.unpack_dual(y)
    expected = (np.cos(x) * np.exp(x) + np.sin(x) * np.exp(x) + 2 * x) * v
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(p.numpy(), np.sin(x) * np.exp(x) + x ** 2, rtol=1e-12)


def test_tangents_are_dropped_when_the_level_closes():
    with fwad.dual_level():
        d = fwad.make_dual(fg.tensor([1.0, 2.0]), fg.tensor([1.0, 0.0]))
        y = d * 3
        assert fwad.unpack_dual(y).tangent is not None
    assert fwad.unpack_dual(y).tangent is None
    assert fg.autograd.engine.fw.tangents is None


def test_dual_api_errors():
    with pytest.raises(RuntimeError, match="no dual level is open"):
        fwad.make_dual(fg.tensor([1.0]), fg.tensor([1.0]))
    with fwad.dual_level():
        with pytest.raises(ValueError, match=r"tangent shape \(3,\) does not match primal shape \(2,\)"):
            fwad.make_dual(fg.tensor([1.0, 2.0]), fg.tensor([1.0, 2.0, 3.0]))
        with pytest.raises(TypeError, match="float tensor"):
            fwad.make_dual(fg.tensor([1, 2]), fg.tensor([1.0, 2.0]))
        with pytest.raises(RuntimeError, match="already open"):
            fwad.enter_dual_level()
    with pytest.raises(RuntimeError, match="no open dual level"):
        fwad.exit_dual_level()


def test_primal_keeps_its_reverse_mode_history():
    x = fg.tensor([0.5, -1.0, 2.0], requires_grad=True)
    with fwad.dual_level():
        d = fwad.make_dual(x, fg.tensor([1.0, 1.0, 1.0]))
        y = (d * d).sum()
        y.backward()
        t = fwad.unpack_dual(y).tangent
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy())
    np.testing.assert_allclose(t.item(), 2 * x.detach().numpy().sum())


def test_inplace_ops_carry_the_tangent():
    rng = np.random.default_rng(1)
    x, v = rng.standard_normal(4), rng.standard_normal(4)
    with fwad.dual_level():
        d = fwad.make_dual(fg.tensor(x), fg.tensor(v))
        y = d * 2.0
        y.add_(d)                   # y = 3x
        y.mul_(d)                   # y = 3x^2
        y[1:3] = d[1:3] * 0.5       # partly overwritten
        t = fwad.unpack_dual(y).tangent.numpy()
    expected = 6 * x * v
    expected[1:3] = 0.5 * v[1:3]
    np.testing.assert_allclose(t, expected, rtol=1e-12)


def test_module_forward_tangent_is_the_jacobian_times_v():
    fg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3), nn.ReLU())
    model.double()
    rng = np.random.default_rng(2)
    x, v = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))

    def f(a):
        with fg.no_grad():
            return model(fg.tensor(a)).numpy()
    with fwad.dual_level():
        y = model(fwad.make_dual(fg.tensor(x), fg.tensor(v)))
        t = fwad.unpack_dual(y).tangent.numpy()
    np.testing.assert_allclose(t, _fd_dir(f, x, v), rtol=1e-6, atol=1e-8)


def test_cross_entropy_tangent_against_finite_differences():
    rng = np.random.default_rng(3)
    x, v = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    tgt = fg.tensor(rng.integers(0, 4, 5))
    for kw in ({}, {"reduction": "sum", "label_smoothing": 0.1}, {"reduction": "none"}):
        def f(a):
            return F.cross_entropy(fg.tensor(a), tgt, **kw).numpy()
        with fwad.dual_level():
            loss = F.cross_entropy(fwad.make_dual(fg.tensor(x), fg.tensor(v)), tgt, **kw)
            t = fwad.unpack_dual(loss).tangent.numpy()
        np.testing.assert_allclose(t, _fd_dir(f, x, v), rtol=1e-6, atol=1e-8, err_msg=str(kw))


def test_cumprod_tangent_with_zeros():
    x = np.array([[2.0, 0.0, 3.0, -1.0], [0.5, 1.5, 0.0, 0.0]])
    v = np.array([[1.0, 2.0, -1.0, 0.5], [0.3, -0.2, 1.0, 2.0]])
    for rev in (False, True):
        def f(a):
            a = a[:, ::-1] if rev else a
            r = np.cumprod(a, axis=1)
            return r[:, ::-1] if rev else r
        with fwad.dual_level():
            d = fwad.make_dual(fg.tensor(x), fg.tensor(v))
            y = fg.flip(fg.cumprod(fg.flip(d, 1), 1), 1) if rev else fg.cumprod(d, 1)
            t = fwad.unpack_dual(y).tangent.numpy()
        np.testing.assert_allclose(t, _fd_dir(f, x, v), rtol=1e-6, atol=1e-8)


def _f2(a, b):
    return fg.tanh(a @ b).sum(1), (a * a).sum() * b[0]


def test_forward_mode_jacobian_equals_reverse_mode():
    rng = np.random.default_rng(4)
    a, b = fg.tensor(rng.standard_normal((3, 2))), fg.tensor(rng.standard_normal((2, 4)))
    rev = jacobian(_f2, (a, b))
    fwd = jacobian(_f2, (a, b), strategy="forward-mode")
    for i in range(2):
        for j in range(2):
            assert fwd[i][j].shape == rev[i][j].shape
            np.testing.assert_allclose(fwd[i][j].numpy(), rev[i][j].numpy(), rtol=1e-12, atol=1e-14)
    # single input and output keep the Tensor structure
    x = fg.tensor(rng.standard_normal(3))
    j1 = jacobian(lambda t: fg.sin(t) * 2, x, strategy="forward-mode")
    np.testing.assert_allclose(j1.numpy(), np.diag(2 * np.cos(x.numpy())), atol=1e-15)


def test_forward_mode_jacobian_with_create_graph_is_differentiable():
    x = fg.tensor([0.3, -0.7], requires_grad=True)
    j = jacobian(lambda t: t ** 3, x, create_graph=True, strategy="forward-mode")
    assert j.requires_grad
    (g,) = fg.autograd.grad(j.sum(), x)
    np.testing.assert_allclose(g.numpy(), 6 * x.detach().numpy(), rtol=1e-12)


def test_forward_over_reverse_hessian_and_hvp():
    rng = np.random.default_rng(5)
    A = rng.standard_normal((4, 4))

    def f(x):
        return fg.tanh(x @ fg.tensor(A) @ x) + (x ** 4).sum()
    x = fg.tensor(rng.standard_normal(4))
    h_rev = hessian(f, x)
    h_fwd = hessian(f, x, outer_jacobian_strategy="forward-mode")
    np.testing.assert_allclose(h_fwd.numpy(), h_rev.numpy(), rtol=1e-10, atol=1e-12)
    # the tangent of a reverse-mode gradient is a Hessian-vector product
    v = rng.standard_normal(4)
    xr = fg.tensor(x.numpy(), requires_grad=True)
    with fwad.dual_level():
        d = fwad.make_dual(xr, fg.tensor(v))
        (g,) = fg.autograd.grad(f(d), d, create_graph=True)
        hv = fwad.unpack_dual(g).tangent.detach().numpy()
    np.testing.assert_allclose(hv, hvp(f, x, fg.tensor(v))[1].numpy(), rtol=1e-10, atol=1e-12)


def test_jacobian_rejects_an_unknown_strategy():
    with pytest.raises(ValueError, match="strategy must be 'reverse-mode' or 'forward-mode'"):
        jacobian(lambda t: t, fg.tensor([1.0]), strategy="sideways")


def test_gradcheck_checks_forward_mode_too():
    from fastgrad.autograd import GradcheckError, gradcheck
    x = fg.tensor(np.random.default_rng(6).standard_normal((3, 2)), requires_grad=True)
    assert gradcheck(lambda t: fg.softmax(t * t, 1), x, check_forward_ad=True)
    # a rule that is wrong only in forward mode is caught, and reported as forward-mode
    from fastgrad.autograd.engine import JVP
    from fastgrad.ops import elementwise
    good = JVP[elementwise._mul_bwd]
    JVP[elementwise._mul_bwd] = lambda node, xs, ts, out: good(node, xs, ts, out) * 1.01
    try:
        assert gradcheck(lambda t: t * t, x)                 # reverse mode is fine
        with pytest.raises(GradcheckError, match="forward-mode Jacobian mismatch"):
            gradcheck(lambda t: t * t, x, check_forward_ad=True)
    finally:
        JVP[elementwise._mul_bwd] = good


def test_every_backward_function_has_a_forward_rule():
    """Static side of 'no op without a forward rule': every module-level backward
    function of the op modules is registered in JVP (ops built by factories, such as the
    unary ones, are covered through the registry test)."""
    import inspect
    from fastgrad import ops
    from fastgrad.autograd.engine import JVP
    missing = []
    kinds = [m for m in vars(ops).values() if inspect.ismodule(m) and m.__name__.startswith('fastgrad.ops.')]
    assert len(kinds) >= 12
    for mod in kinds + [F]:
        for n, f in vars(mod).items():
            if n.endswith("_bwd") and inspect.isfunction(f) and f.__module__ == mod.__name__:
                if f not in JVP:
                    missing.append(f"{mod.__name__}.{n}")
    assert not missing, f"backward functions without a JVP rule: {missing}"


@pytest.mark.parametrize("train", [True, False])
def test_cnn_forward_tangent_matches_finite_differences(train):
    """Convolution, pooling and the fused normalization kernels carry tangents."""
    fg.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.GroupNorm(2, 4), nn.ConvTranspose2d(4, 3, 2, stride=2),
                          nn.AvgPool2d(2), nn.Flatten(), nn.LayerNorm(12), nn.Linear(12, 5))
    model.double()
    model.train(train)
    rng = np.random.default_rng(7)
    x, v = rng.standard_normal((3, 2, 4, 4)), rng.standard_normal((3, 2, 4, 4))
    if not train:                      # non-trivial running statistics
        with fg.no_grad():
            model.train(True)
            model(fg.tensor(rng.standard_normal((3, 2, 4, 4))))
            model.train(False)

    def f(a):
        with fg.no_grad():
            bn = model[1]
            saved = (bn.running_mean.numpy().copy(), bn.running_var.numpy().copy())
            y = model(fg.tensor(a)).numpy()
            bn.running_mean.numpy()[:], bn.running_var.numpy()[:] = saved
            return y
    want = _fd_dir(f, x, v)
    with fwad.dual_level():
        y = model(fwad.make_dual(fg.tensor(x), fg.tensor(v)))
        t = fwad.unpack_dual(y).tangent.numpy()
    np.testing.assert_allclose(t, want, rtol=1e-5, atol=1e-7)
