"""The activations of nn/functional_extra.py and nn/extra_layers.py against PyTorch:
values, input and parameter gradients, in-place forms, module state and errors."""
import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn as nn
import fastgrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RNG = np.random.default_rng(24)


def _pair(shape, lo=-2.0, hi=2.0):
    x = RNG.uniform(lo, hi, size=shape)
    return fg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)


def _check(fy, ty, fxs, txs, atol=1e-12, rtol=1e-10):
    np.testing.assert_allclose(fy.detach().numpy(), ty.detach().numpy(), rtol=rtol, atol=atol)
    g = RNG.standard_normal(ty.shape)
    fy.backward(fg.tensor(g))
    ty.backward(torch.tensor(g))
    for fx, tx in zip(fxs, txs):
        np.testing.assert_allclose(fx.grad.numpy(), tx.grad.numpy(), rtol=rtol, atol=atol)


CASES = [
    ("glu", lambda m, x: m.glu(x), (3, 4)),
    ("glu dim 0", lambda m, x: m.glu(x, 0), (4, 3)),
    ("glu dim 1 3-d", lambda m, x: m.glu(x, dim=1), (2, 6, 3)),
    ("hardshrink", lambda m, x: m.hardshrink(x), (5, 6)),
    ("hardshrink lambd", lambda m, x: m.hardshrink(x, 1.2), (5, 6)),
    ("softshrink", lambda m, x: m.softshrink(x), (5, 6)),
    ("softshrink lambd", lambda m, x: m.softshrink(x, lambd=0.9), (5, 6)),
    ("tanhshrink", lambda m, x: m.tanhshrink(x), (5, 6)),
    ("threshold", lambda m, x: m.threshold(x, 0.3, -1.5), (5, 6)),
    ("rrelu eval", lambda m, x: m.rrelu(x), (5, 6)),
    ("rrelu eval bounds", lambda m, x: m.rrelu(x, 0.2, 0.6, False), (5, 6)),
]


@pytest.mark.parametrize("name,fn,shape", CASES, ids=[c[0] for c in CASES])
def test_functional_matches_torch(name, fn, shape):
    fx, tx = _pair(shape)
    _check(fn(F, fx), fn(TF, tx), [fx], [tx])


@pytest.mark.parametrize("shape,n", [((3, 4, 5), 4), ((3, 4, 5), 1), ((2, 3), 3),
                                     ((6,), 1), ((), 1), ((2, 3, 2, 2), 3)])
def test_prelu_matches_torch_with_weight_gradient(shape, n):
    fx, tx = _pair(shape)
    w = RNG.uniform(-1, 1, size=(n,))
    fw, tw = fg.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    _check(F.prelu(fx, fw), TF.prelu(tx, tw), [fx, fw], [tx, tw])


def test_prelu_module_state_and_gradients():
    tm = torch.nn.PReLU(3, init=0.1, dtype=torch.float64)
    m = nn.PReLU(3, init=0.1, dtype=fg.float64)
    assert list(m.state_dict()) == list(tm.state_dict()) == ["weight"]
    np.testing.assert_array_equal(m.weight.detach().numpy(), tm.weight.detach().numpy())
    assert nn.PReLU().weight.shape == (1,) and float(nn.PReLU().weight[0]) == 0.25
    w = RNG.uniform(-1, 1, size=3)
    m.load_state_dict({"weight": fg.tensor(w)})
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(w))
    fx, tx = _pair((2, 3, 4))
    _check(m(fx), tm(tx), [fx, m.weight], [tx, tm.weight])
    assert repr(m) == repr(tm)


MODULES = [
    ("GLU", {}, (4, 6)), ("GLU", {"dim": 0}, (4, 6)), ("Hardshrink", {"lambd": 0.3}, (4, 6)),
    ("Softshrink", {}, (4, 6)), ("Tanhshrink", {}, (4, 6)),
    ("Threshold", {"threshold": 0.1, "value": 20.0}, (4, 6)), ("Softmax2d", {}, (2, 3, 4, 5)),
    ("Softmax2d", {}, (3, 4, 5)),
]


@pytest.mark.parametrize("cls,kw,shape", MODULES, ids=[f"{m[0]}{m[1]}" for m in MODULES])
def test_modules_match_torch(cls, kw, shape):
    m, tm = getattr(nn, cls)(**kw), getattr(torch.nn, cls)(**kw)
    fx, tx = _pair(shape)
    _check(m(fx), tm(tx), [fx], [tx])
    assert repr(m) == repr(tm)


def test_rrelu_module_eval_matches_torch_and_training_draws_slopes():
    m, tm = nn.RReLU(0.1, 0.3), torch.nn.RReLU(0.1, 0.3)
    m.eval(), tm.eval()
    fx, tx = _pair((5, 7))
    _check(m(fx), tm(tx), [fx], [tx])
    assert repr(m) == repr(tm)
    m.train()
    fx = fg.tensor(RNG.uniform(-2, 2, size=(200, 50)), requires_grad=True)
    y = m(fx)
    y.sum().backward()
    x, yv, g = fx.detach().numpy(), y.detach().numpy(), fx.grad.numpy()
    neg = x < 0
    np.testing.assert_array_equal(yv[~neg], x[~neg])
    np.testing.assert_array_equal(g[~neg], 1.0)
    slope = yv[neg] / x[neg]
    assert slope.min() >= 0.1 and slope.max() <= 0.3
    assert slope.std() > 0.03                     # drawn per element, not one shared slope
    np.testing.assert_allclose(g[neg], slope, rtol=1e-12)


INPLACE = [
    ("elu_", (), {"alpha": 0.7}), ("leaky_relu_", (0.2,), {}), ("hardtanh_", (-0.5, 0.8), {}),
    ("selu_", (), {}), ("celu_", (), {"alpha": 1.3}), ("threshold_", (0.2, -3.0), {}),
    ("rrelu_", (0.1, 0.4), {}),
]


@pytest.mark.parametrize("name,args,kw", INPLACE, ids=[c[0] for c in INPLACE])
def test_inplace_forms_match_torch(name, args, kw):
    fx, tx = _pair((4, 5))
    fy = getattr(F, name)(fx * 1.0, *args, **kw)
    tc = tx * 1.0
    ty = getattr(TF, name)(tc, *args, **kw)
    assert ty is tc
    # PyTorch computes celu's gradient with alpha rounded to float32
    _check(fy, ty, [fx], [tx], rtol=1e-7 if name == "celu_" else 1e-10)
    plain = fg.tensor(RNG.uniform(-2, 2, size=(3, 3)))
    assert getattr(F, name)(plain, *args, **kw) is plain


def test_inplace_flags_of_out_of_place_forms():
    x = fg.tensor(RNG.uniform(-2, 2, size=(3, 4)))
    ref = F.threshold(x, 0.0, 5.0).numpy()
    assert F.threshold(x, 0.0, 5.0, inplace=True) is x
    np.testing.assert_array_equal(x.numpy(), ref)
    m = nn.Threshold(0.0, 1.0, inplace=True)
    assert m(x) is x


ERRORS = [
    (lambda: F.glu(fg.zeros(2, 3)), ValueError, r"glu: halving dimension must be even.*dimension 1 is size 3"),
    (lambda: F.glu(fg.zeros(2, 4), 2), IndexError, "glu: dimension 2 is out of range"),
    (lambda: F.glu(fg.tensor(1.0)), ValueError, "glu: .*0-d"),
    (lambda: F.prelu(fg.zeros(2, 3), fg.zeros(4)), ValueError, r"prelu: weight of shape \(4,\).*\(2, 3\)"),
    (lambda: F.prelu(fg.zeros(6), fg.zeros(6)), ValueError, r"prelu: weight of shape \(6,\)"),
    (lambda: F.softshrink(fg.zeros(3), -1.0), ValueError, "softshrink: lambda must be"),
    (lambda: F.rrelu(fg.zeros(3), 0.5, 0.1), ValueError, "rrelu: lower bound 0.5"),
    (lambda: nn.Softmax2d()(fg.zeros(2, 3)), ValueError, r"Softmax2d: expected a 3-d or 4-d input, got shape \(2, 3\)"),
    (lambda: F.hardshrink("x"), TypeError, "hardshrink"),
    (lambda: nn.PReLU(-1), ValueError, "PReLU: num_parameters"),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors_name_the_op_and_are_runtime_errors_where_torch_raises_one(i):
    fn, exc, match = ERRORS[i]
    with pytest.raises(exc, match=match):
        fn()
    if exc is ValueError:
        with pytest.raises(RuntimeError):
            fn()


def test_float32_inputs_keep_their_dtype():
    x = fg.tensor(RNG.uniform(-2, 2, size=(4, 6)).astype(np.float32))
    for f in (F.hardshrink, F.softshrink, F.tanhshrink, F.glu, F.rrelu):
        assert f(x).dtype == fg.float32
    assert nn.PReLU(6)(x).dtype == fg.float32


@pytest.mark.parametrize("fn", [lambda m, x: m.threshold(x, 0.5, 7.0), lambda m, x: m.hardshrink(x),
                                lambda m, x: m.softshrink(x), lambda m, x: m.rrelu(x),
                                lambda m, x: m.glu(x), lambda m, x: m.tanhshrink(x)])
def test_nan_and_inf_propagate_as_in_torch(fn):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, -0.5, 2.0])
    np.testing.assert_array_equal(fn(F, fg.tensor(x)).numpy(), fn(TF, torch.tensor(x)).numpy())
