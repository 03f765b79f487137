"""The losses of nn/extra_losses.py against PyTorch: values and gradients for every
reduction, the modules' options and reprs, and errors."""
import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn as nn
import fastgrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RNG = np.random.default_rng(4242)


def _f(shape, lo=-2.0, hi=2.0):
    return RNG.uniform(lo, hi, size=shape)


def _sign(shape):
    return np.where(RNG.random(shape) < 0.5, -1.0, 1.0)


def _run(fn_name, arrays, grads, kw, module=None, mkw=None, rtol=1e-10):
    """Call the fastgrad and torch forms on copies of ``arrays`` (``grads``: which need
    gradients); compare values and gradients."""
    fa = [fg.tensor(a, requires_grad=g) if isinstance(a, np.ndarray) else a for a, g in zip(arrays, grads)]
    ta = [torch.tensor(a, requires_grad=g) if isinstance(a, np.ndarray) else a for a, g in zip(arrays, grads)]
    if module is None:
        fy, ty = getattr(F, fn_name)(*fa, **kw), getattr(TF, fn_name)(*ta, **kw)
    else:
        m, tm = getattr(nn, module)(**mkw), getattr(torch.nn, module)(**mkw)
        assert repr(m) == repr(tm)
        fy, ty = m(*fa), tm(*ta)
    assert fy.shape == tuple(ty.shape)
    np.testing.assert_allclose(fy.detach().numpy(), ty.detach().numpy(), rtol=rtol, atol=1e-12)
    g = RNG.standard_normal(ty.shape)
    fy.backward(fg.tensor(g))
    ty.backward(torch.tensor(g))
    for f, t, need in zip(fa, ta, grads):
        if need:
            np.testing.assert_allclose(f.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=1e-12)


REDS = ["mean", "sum", "none"]


def _cases():
    c = []
    for r in REDS:
        c += [
            ("margin_ranking_loss", lambda: [_f(6), _f(6), _sign(6)], [1, 1, 0], {"margin": 0.3}),
            ("hinge_embedding_loss", lambda: [_f((3, 4)), _sign((3, 4))], [1, 0], {"margin": 0.7}),
            ("soft_margin_loss", lambda: [_f((3, 4)), _sign((3, 4))], [1, 0], {}),
            ("multilabel_soft_margin_loss",
             lambda: [_f((3, 5)), (RNG.random((3, 5)) < 0.5) * 1.0], [1, 0], {}),
            ("multilabel_soft_margin_loss",
             lambda: [_f((3, 5)), (RNG.random((3, 5)) < 0.5) * 1.0, _f(5, 0.5, 2)], [1, 0, 0], {}),
            ("cosine_embedding_loss", lambda: [_f((4, 5)), _f((4, 5)), _sign(4)], [1, 1, 0],
             {"margin": 0.2}),
            ("cosine_embedding_loss", lambda: [_f(5), _f(5), np.array(-1.0)], [1, 1, 0], {}),
            ("triplet_margin_loss", lambda: [_f((4, 5)), _f((4, 5)), _f((4, 5))], [1, 1, 1],
             {"margin": 1.5}),
            ("triplet_margin_loss", lambda: [_f((4, 5)), _f((4, 5)), _f((4, 5))], [1, 1, 1],
             {"p": 1.0, "swap": True, "margin": 2.0}),
            ("poisson_nll_loss", lambda: [_f((3, 4)), _f((3, 4), 0, 4)], [1, 0], {}),
            ("poisson_nll_loss", lambda: [_f((3, 4), 0.1, 3), _f((3, 4), 0, 4)], [1, 0],
             {"log_input": False, "full": True}),
            ("gaussian_nll_loss", lambda: [_f((3, 4)), _f((3, 4)), _f((3, 4), 0.1, 2)], [1, 1, 1], {}),
            ("gaussian_nll_loss", lambda: [_f((3, 4)), _f((3, 4)), _f((3, 1), 0.1, 2)], [1, 0, 1],
             {"full": True}),
            ("gaussian_nll_loss", lambda: [_f((3, 4)), _f((3, 4)), _f(3, 0.1, 2)], [1, 0, 1], {}),
            ("gaussian_nll_loss", lambda: [_f((3, 4)), _f((3, 4)), _f((3, 4), 0.0, 1e-3)], [1, 0, 1],
             {"eps": 1e-3}),
            ("multi_margin_loss", lambda: [_f((4, 5)), RNG.integers(0, 5, 4)], [1, 0], {}),
            ("multi_margin_loss", lambda: [_f((4, 5)), RNG.integers(0, 5, 4)], [1, 0],
             {"p": 2, "margin": 0.5, "weight": torch.tensor(_f(5, 0.5, 2))}),
            ("multi_margin_loss", lambda: [_f(5), np.array(2)], [1, 0], {}),
        ]
        c = [(n, mk, g, {**kw, "reduction": r} if "reduction" not in kw else kw) for n, mk, g, kw in c]
    return c


CASES = _cases()


@pytest.mark.parametrize("i", range(len(CASES)), ids=[f"{c[0]}-{c[3].get('reduction')}-{i}"
                                                      for i, c in enumerate(CASES)])
def test_functional_losses_match_torch(i):
    name, make, grads, kw = CASES[i]
    kw = dict(kw)
    if isinstance(kw.get("weight"), torch.Tensor):
        w = kw["weight"].numpy()
        fa_w = fg.tensor(w)
        arrays = make()
        fa = [fg.tensor(a, requires_grad=bool(g)) for a, g in zip(arrays, grads)]
        ta = [torch.tensor(a, requires_grad=bool(g)) for a, g in zip(arrays, grads)]
        fy = getattr(F, name)(*fa, **{**kw, "weight": fa_w})
        ty = getattr(TF, name)(*ta, **kw)
        np.testing.assert_allclose(fy.detach().numpy(), ty.detach().numpy(), rtol=1e-10)
        fy.sum().backward()
        ty.sum().backward()
        np.testing.assert_allclose(fa[0].grad.numpy(), ta[0].grad.numpy(), rtol=1e-10)
        return
    _run(name, make(), [bool(g) for g in grads], kw)


MODULES = [
    ("MarginRankingLoss", {"margin": 0.5}, lambda: [_f(6), _f(6), _sign(6)], [1, 1, 0]),
    ("HingeEmbeddingLoss", {"reduction": "sum"}, lambda: [_f((3, 4)), _sign((3, 4))], [1, 0]),
    ("SoftMarginLoss", {}, lambda: [_f((3, 4)), _sign((3, 4))], [1, 0]),
    ("MultiLabelSoftMarginLoss", {"reduction": "none"},
     lambda: [_f((3, 5)), (RNG.random((3, 5)) < 0.5) * 1.0], [1, 0]),
    ("CosineEmbeddingLoss", {"margin": 0.1}, lambda: [_f((4, 5)), _f((4, 5)), _sign(4)], [1, 1, 0]),
    ("TripletMarginLoss", {"margin": 1.2, "p": 3.0, "swap": True},
     lambda: [_f((4, 5)), _f((4, 5)), _f((4, 5))], [1, 1, 1]),
    ("PoissonNLLLoss", {"log_input": False, "eps": 1e-4}, lambda: [_f((3, 4), 0.1, 3), _f((3, 4), 0, 4)],
     [1, 0]),
    ("GaussianNLLLoss", {"full": True, "reduction": "sum"},
     lambda: [_f((3, 4)), _f((3, 4)), _f((3, 4), 0.1, 2)], [1, 1, 1]),
    ("MultiMarginLoss", {"p": 2}, lambda: [_f((4, 5)), RNG.integers(0, 5, 4)], [1, 0]),
]


@pytest.mark.parametrize("cls,kw,make,grads", MODULES, ids=[m[0] for m in MODULES])
def test_loss_modules_match_torch(cls, kw, make, grads):
    _run(None, make(), [bool(g) for g in grads], {}, module=cls, mkw=kw)


def test_legacy_size_average_and_reduce_flags():
    x, y = _f((3, 4)), _sign((3, 4))
    for sa, red in [(False, None), (None, False), (True, True)]:
        f = F.soft_margin_loss(fg.tensor(x), fg.tensor(y), size_average=sa, reduce=red)
        t = TF.soft_margin_loss(torch.tensor(x), torch.tensor(y), size_average=sa, reduce=red)
        np.testing.assert_allclose(f.numpy(), t.numpy(), rtol=1e-12)


ERRORS = [
    (lambda: F.gaussian_nll_loss(fg.zeros(3, 4), fg.zeros(3, 4), fg.zeros(2)), ValueError,
     "gaussian_nll_loss: var is of incorrect size"),
    (lambda: F.gaussian_nll_loss(fg.zeros(3), fg.zeros(3), -fg.ones(3)), ValueError,
     "gaussian_nll_loss: var has negative entry"),
    (lambda: F.multi_margin_loss(fg.zeros(2, 3), fg.tensor([0, 3])), IndexError,
     "multi_margin_loss: target 3 is out of bounds for 3 classes"),
    (lambda: F.multi_margin_loss(fg.zeros(2, 3), fg.tensor([0, 1]), p=3), ValueError,
     "multi_margin_loss: only p == 1 and p == 2"),
    (lambda: F.soft_margin_loss(fg.zeros(2, 3), fg.zeros(3, 2)), ValueError,
     r"soft_margin_loss: target of shape \(3, 2\) does not match the input of shape \(2, 3\)"),
    (lambda: F.triplet_margin_loss(fg.zeros(2, 3), fg.zeros(2, 3), fg.zeros(2, 3), margin=0.0),
     ValueError, "triplet_margin_loss: margin must be greater than 0"),
    (lambda: F.cosine_embedding_loss(fg.zeros(2, 3), fg.zeros(2, 3), fg.zeros(2, 3)), ValueError,
     "cosine_embedding_loss: expected inputs of one shape"),
    (lambda: nn.SoftMarginLoss(reduction="avg"), ValueError, "SoftMarginLoss: reduction must be one of"),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_loss_errors_name_the_op(i):
    fn, exc, match = ERRORS[i]
    with pytest.raises(exc, match=match):
        fn()
