"""The PyTorch functions added for ported programs, compared with PyTorch on generated
inputs (values, dtypes, shapes and float64 gradients), and the random ones checked by
their distributions, seeding and errors."""
import warnings

import numpy as np
import pytest

import fastgrad as fg
from fastgrad.autograd import gradcheck

torch = pytest.importorskip("torch")

SHAPES = [(), (0,), (5,), (3, 4), (2, 3, 4), (0, 3)]
BIN = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (3,)), ((5,), ()), ((0, 3), (3,))]


def _pair(a, grad=True):
    """The same float64 data as a fastgrad and a torch tensor."""
    return (fg.tensor(a, dtype=fg.float64, requires_grad=grad),
            torch.tensor(a, dtype=torch.float64, requires_grad=grad))


def _same(f, t, what=""):
    if isinstance(t, torch.Tensor):
        t = t.detach().numpy()
    f = f.detach().numpy() if isinstance(f, fg.Tensor) else np.asarray(f)
    assert f.shape == t.shape, f"{what}: shape {f.shape} != {t.shape}"
    assert f.dtype == t.dtype, f"{what}: dtype {f.dtype} != {t.dtype}"
    np.testing.assert_allclose(f, t, rtol=1e-10, atol=1e-12, equal_nan=True, err_msg=what)


def _compare(fg_fn, torch_fn, arrays, what, grad=True):
    """Run both on the same inputs; compare outputs and the gradients of a random
    weighting of the output."""
    fs, ts = zip(*[_pair(a, grad) for a in arrays])
    fo, to = fg_fn(*fs), torch_fn(*ts)
    _same(fo, to, what)
    if grad and fo.requires_grad and fo.numel():
        w = np.random.default_rng(9).standard_normal(fo.shape)
        (fo * fg.tensor(w)).sum().backward()
        (to * torch.tensor(w)).sum().backward()
        for i, (a, b) in enumerate(zip(fs, ts)):
            if b.grad is None:
                assert a.grad is None or not np.any(a.grad.numpy()), f"{what}: input {i} gradient"
            else:
                _same(a.grad, b.grad, f"{what}: gradient of input {i}")


def _u(rng, shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, size=shape)


# ---- elementwise -------------------------------------------------------------------------------
@pytest.mark.parametrize("name,lo,hi", [("asinh", -5, 5), ("acosh", 1.1, 5), ("atanh", -0.9, 0.9),
                                        ("arcsinh", -5, 5), ("arccosh", 1.1, 5), ("arctanh", -0.9, 0.9)])
@pytest.mark.parametrize("shape", SHAPES)
def test_inverse_hyperbolic_vs_torch(name, lo, hi, shape):
    x = _u(np.random.default_rng(0), shape, lo, hi)
    _compare(getattr(fg, name), getattr(torch, name), [x], f"{name} {shape}")
    _compare(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), [x], f"Tensor.{name}")


def test_inverse_hyperbolic_outside_domain_and_ints():
    with np.errstate(invalid="ignore"):
        _same(fg.acosh(fg.tensor([0.5, 1.0])), torch.acosh(torch.tensor([0.5, 1.0])), "acosh domain")
        _same(fg.atanh(fg.tensor([1.0, -1.0, 2.0])), torch.atanh(torch.tensor([1.0, -1.0, 2.0])), "atanh")
    _same(fg.asinh(fg.tensor([1, 2])), torch.asinh(torch.tensor([1, 2])), "asinh of ints")


@pytest.mark.parametrize("name", ["logaddexp", "logaddexp2", "copysign"])
@pytest.mark.parametrize("sa,sb", BIN)
def test_binary_vs_torch(name, sa, sb):
    rng = np.random.default_rng(1)
    a, b = _u(rng, sa, -30, 30), _u(rng, sb, -30, 30)
    _compare(getattr(fg, name), getattr(torch, name), [a, b], f"{name} {sa} {sb}")
    _compare(lambda x, y: getattr(x, name)(y), lambda x, y: getattr(x, name)(y), [a, b], f"Tensor.{name}")


def test_binary_special_values():
    a = np.array([np.inf, -np.inf, -np.inf, 0.0, -0.0, np.nan, 3.0])
    b = np.array([np.inf, -np.inf, 1.0, -0.0, 0.0, 1.0, -np.inf])
    for name in ("logaddexp", "logaddexp2", "copysign"):
        _same(getattr(fg, name)(fg.tensor(a), fg.tensor(b)), getattr(torch, name)(torch.tensor(a), torch.tensor(b)),
              name)
    _same(fg.copysign(fg.tensor([1, -2]), 3), torch.copysign(torch.tensor([1, -2]), 3), "copysign ints")
    _same(fg.logaddexp(fg.tensor([1.0], dtype=fg.float32), 2.0),
          torch.logaddexp(torch.tensor([1.0]), torch.tensor(2.0)), "float32 and a number")


def test_copysign_gradient_at_zero():
    _compare(fg.copysign, torch.copysign, [np.array([0.0, 2.0, -3.0]), np.array([-1.0, -0.0, 2.0])], "copysign")


@pytest.mark.parametrize("sa,sb", BIN)
def test_lerp_vs_torch(sa, sb):
    rng = np.random.default_rng(2)
    a, b = _u(rng, sa), _u(rng, sb)
    if sa == sb:          # torch.lerp does not broadcast input to end's shape
        for w in (0.3, 0.5, 1.0, -0.4):
            _compare(lambda x, y, w=w: fg.lerp(x, y, w), lambda x, y, w=w: torch.lerp(x, y, w),
                     [a, b], f"lerp {sa} {sb} {w}")
    wt = _u(rng, sb, -0.5, 1.5)
    _compare(fg.lerp, torch.lerp, [b, b + 1, wt], f"lerp tensor weight {sb}")
    _compare(fg.lerp, torch.lerp, [a, np.broadcast_to(b, np.broadcast_shapes(sa, sb)).copy(), b],
             f"lerp broadcast weight {sa} {sb}")
    _compare(lambda x, y: x.lerp(y, 0.25), lambda x, y: x.lerp(y, 0.25), [a, a + 1], "Tensor.lerp")


def test_isclose_allclose_vs_torch():
    rng = np.random.default_rng(3)
    a = _u(rng, (3, 4))
    for b in (a + 1e-9, a + 1e-3, a[0] * (1 + 1e-6)):
        for kw in ({}, {"atol": 1e-2}, {"rtol": 1e-3}):
            _same(fg.isclose(fg.tensor(a), fg.tensor(b), **kw), torch.isclose(torch.tensor(a), torch.tensor(b), **kw))
            _same(fg.tensor(a).isclose(fg.tensor(b), **kw), torch.tensor(a).isclose(torch.tensor(b), **kw))
            assert fg.tensor(a).allclose(fg.tensor(b), **kw) == torch.tensor(a).allclose(torch.tensor(b), **kw)
    n = np.array([np.nan, np.inf, -np.inf, 1.0])
    for eq in (False, True):
        _same(fg.isclose(fg.tensor(n), fg.tensor(n), equal_nan=eq),
              torch.isclose(torch.tensor(n), torch.tensor(n), equal_nan=eq))


# ---- shape -------------------------------------------------------------------------------------
def test_as_methods_vs_torch():
    rng = np.random.default_rng(4)
    x, other = _u(rng, (2, 6)), np.zeros((3, 4))
    _compare(lambda t: t.view_as(fg.tensor(other)), lambda t: t.view_as(torch.tensor(other)), [x], "view_as")
    _compare(lambda t: t.reshape_as(fg.tensor(other)), lambda t: t.reshape_as(torch.tensor(other)), [x], "reshape_as")
    y = _u(rng, (3, 1))
    _compare(lambda t: t.expand_as(fg.tensor(other)), lambda t: t.expand_as(torch.tensor(other)), [y], "expand_as")
    with pytest.raises(RuntimeError, match="view"):
        fg.tensor(x).T.view_as(fg.tensor(np.zeros(12)))


@pytest.mark.parametrize("shape,dim,sizes", [((2, 6, 3), 1, (2, 3)), ((2, 6), -1, (3, -1)), ((4, 0), 0, (2, 2)),
                                             ((6,), 0, (1, 6, 1)), ((2, 6), 1, (-1,))])
def test_unflatten_vs_torch(shape, dim, sizes):
    x = _u(np.random.default_rng(5), shape)
    _compare(lambda t: fg.unflatten(t, dim, sizes), lambda t: torch.unflatten(t, dim, sizes), [x], "unflatten")
    _compare(lambda t: t.unflatten(dim, sizes), lambda t: t.unflatten(dim, sizes), [x], "Tensor.unflatten")


@pytest.mark.parametrize("shape,dim,size,step", [((7,), 0, 3, 1), ((7,), 0, 3, 2), ((3, 8), 1, 4, 3),
                                                 ((3, 8), -2, 2, 1), ((4, 5, 2), 1, 5, 1), ((4,), 0, 0, 1),
                                                 ((), 0, 1, 1), ((5, 3), 0, 1, 4)])
def test_unfold_vs_torch(shape, dim, size, step):
    x = _u(np.random.default_rng(6), shape)
    _compare(lambda t: t.unfold(dim, size, step), lambda t: t.unfold(dim, size, step), [x],
             f"unfold {shape} {dim} {size} {step}")


def test_unfold_errors():
    with pytest.raises(ValueError, match="unfold: size 5 is out of range"):
        fg.zeros(4).unfold(0, 5, 1)
    with pytest.raises(ValueError, match="unfold: step must be positive"):
        fg.zeros(4).unfold(0, 2, 0)
    with pytest.raises(IndexError, match="unfold"):
        fg.zeros(4).unfold(1, 2, 1)


@pytest.mark.parametrize("shape", [(4,), (3, 4), (4, 3), (0,), (1,)])
@pytest.mark.parametrize("k", [0, 1, -2, 5])
def test_diag_vs_torch(shape, k):
    x = _u(np.random.default_rng(7), shape)
    _compare(lambda t: fg.diag(t, k), lambda t: torch.diag(t, k), [x], f"diag {shape} {k}")
    _compare(lambda t: t.diag(k), lambda t: t.diag(k), [x], "Tensor.diag")


@pytest.mark.parametrize("shape,args", [((3,), ()), ((2, 3), (1,)), ((2, 3), (-2, 0, 2)), ((2, 3), (0, 1, 0)),
                                        ((2, 2, 3), (1, -1, 1)), ((0,), ())])
def test_diag_embed_vs_torch(shape, args):
    x = _u(np.random.default_rng(8), shape)
    _compare(lambda t: fg.diag_embed(t, *args), lambda t: torch.diag_embed(t, *args), [x], f"diag_embed {args}")


@pytest.mark.parametrize("shape,repeats,dim", [((2, 3), 2, None), ((2, 3), 3, 1), ((3, 2), [1, 0, 2], 0),
                                               ((3, 2), [2, 1], -1), ((), 3, None), ((0, 2), 2, 0),
                                               ((3, 2), [4], 0), ((2, 3), 0, 1)])
def test_repeat_interleave_vs_torch(shape, repeats, dim):
    x = _u(np.random.default_rng(9), shape)
    rf = fg.tensor(repeats) if isinstance(repeats, list) else repeats
    rt = torch.tensor(repeats) if isinstance(repeats, list) else repeats
    _compare(lambda t: fg.repeat_interleave(t, rf, dim), lambda t: torch.repeat_interleave(t, rt, dim), [x],
             f"repeat_interleave {shape} {repeats} {dim}")
    _compare(lambda t: t.repeat_interleave(rf, dim=dim), lambda t: t.repeat_interleave(rt, dim=dim), [x],
             "Tensor.repeat_interleave")


def test_repeat_interleave_counts_only():
    _same(fg.repeat_interleave(fg.tensor([2, 0, 3])), torch.repeat_interleave(torch.tensor([2, 0, 3])))
    _same(fg.repeat_interleave(fg.tensor([1, 2]), 2), torch.repeat_interleave(torch.tensor([1, 2]), 2), "ints")
    with pytest.raises(ValueError, match="repeats must be non-negative"):
        fg.repeat_interleave(fg.tensor([1, -1]))


# ---- reductions and scans ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["std_mean", "var_mean"])
@pytest.mark.parametrize("kw", [{}, {"dim": 1}, {"dim": (0, 2), "keepdim": True}, {"dim": -1, "correction": 0},
                                {"dim": 0, "unbiased": False}, {"axis": 2}, {"correction": 2}])
def test_stat_mean_vs_torch(name, kw):
    x = _u(np.random.default_rng(10), (3, 4, 5))
    for i in range(2):
        _compare(lambda t, i=i: getattr(fg, name)(t, **kw)[i], lambda t, i=i: getattr(torch, name)(t, **kw)[i],
                 [x], f"{name} {kw} output {i}")


def test_stat_mean_positional_unbiased():
    x = _u(np.random.default_rng(10), (3, 4))
    for name in ("std_mean", "var_mean"):
        for a, b in zip(getattr(fg, name)(fg.tensor(x), False), getattr(torch, name)(torch.tensor(x), False)):
            _same(a, b, name)
        for a, b in zip(getattr(fg, name)(fg.tensor(x), 1, True, True),
                        getattr(torch, name)(torch.tensor(x), 1, True, True)):
            _same(a, b, name)


@pytest.mark.parametrize("name", ["cummax", "cummin"])
@pytest.mark.parametrize("shape,dim", [((3, 6), 1), ((3, 6), 0), ((2, 3, 4), -1), ((), 0), ((0, 3), 0), ((5,), 0)])
def test_cummax_cummin_vs_torch(name, shape, dim):
    rng = np.random.default_rng(11)
    x = np.round(_u(rng, shape, -3, 3))          # ties: the index of the last one
    _compare(lambda t: getattr(fg, name)(t, dim).values, lambda t: getattr(torch, name)(t, dim).values, [x],
             f"{name} values")
    _same(getattr(fg, name)(fg.tensor(x), dim).indices, getattr(torch, name)(torch.tensor(x), dim).indices,
          f"{name} indices")
    _same(getattr(fg.tensor(x), name)(dim=dim)[1], getattr(torch.tensor(x), name)(dim=dim)[1], f"Tensor.{name}")


def test_cummax_nan_and_ints():
    x = np.array([1.0, np.nan, 3.0, np.nan, 0.0])
    for name in ("cummax", "cummin"):
        f, t = getattr(fg, name)(fg.tensor(x), 0), getattr(torch, name)(torch.tensor(x), 0)
        _same(f.values, t.values, name)
        _same(f.indices, t.indices, name)
        i = np.array([[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]])
        f, t = getattr(fg, name)(fg.tensor(i), 1), getattr(torch, name)(torch.tensor(i), 1)
        _same(f.values, t.values, name + " ints")
        _same(f.indices, t.indices, name + " ints")


@pytest.mark.parametrize("shape,dim", [((3, 6), 1), ((3, 6), 0), ((2, 3, 4), -2), ((), 0), ((0, 3), 1)])
def test_logcumsumexp_vs_torch(shape, dim):
    x = _u(np.random.default_rng(12), shape, -30, 30)
    _compare(lambda t: fg.logcumsumexp(t, dim), lambda t: torch.logcumsumexp(t, dim), [x], "logcumsumexp")
    _compare(lambda t: t.logcumsumexp(dim), lambda t: t.logcumsumexp(dim), [x], "Tensor.logcumsumexp")


def test_logcumsumexp_large_range_and_gradcheck():
    x = np.array([-1000.0, 0.0, 1000.0, -5.0])
    _compare(lambda t: fg.logcumsumexp(t, 0), lambda t: torch.logcumsumexp(t, 0), [x], "range")
    assert gradcheck(lambda t: fg.logcumsumexp(t, 1), [fg.tensor(_u(np.random.default_rng(0), (2, 5)),
                                                                 requires_grad=True)])


# ---- indexing ----------------------------------------------------------------------------------
def _nz_inputs():
    rng = np.random.default_rng(13)
    return [np.round(_u(rng, (3, 4))), np.array(2.0), np.array(0.0), np.zeros((2, 0)), rng.random((2, 3, 2)) > 0.5,
            np.array([0, 3, 0, -1])]


@pytest.mark.parametrize("i", range(6))
def test_nonzero_argwhere_vs_torch(i):
    x = _nz_inputs()[i]
    _same(fg.nonzero(fg.tensor(x)), torch.nonzero(torch.tensor(x)), "nonzero")
    _same(fg.argwhere(fg.tensor(x)), torch.argwhere(torch.tensor(x)), "argwhere")
    _same(fg.tensor(x).nonzero(), torch.tensor(x).nonzero(), "Tensor.nonzero")
    f, t = fg.nonzero(fg.tensor(x), as_tuple=True), torch.nonzero(torch.tensor(x), as_tuple=True)
    assert len(f) == len(t)
    for a, b in zip(f, t):
        _same(a, b, "nonzero as_tuple")


@pytest.mark.parametrize("xs,ms", [((3, 4), (3, 4)), ((3, 4), (4,)), ((4, 1), (2, 4, 3)), ((), ()), ((0, 3), (0, 3)),
                                   ((3,), ())])
def test_masked_select_vs_torch(xs, ms):
    rng = np.random.default_rng(14)
    x, m = _u(rng, xs), rng.random(ms) > 0.4
    _compare(lambda t: fg.masked_select(t, fg.tensor(m)), lambda t: torch.masked_select(t, torch.tensor(m)), [x],
             "masked_select")
    _compare(lambda t: t.masked_select(fg.tensor(m)), lambda t: t.masked_select(torch.tensor(m)), [x],
             "Tensor.masked_select")
    i = np.arange(int(np.prod(xs))).reshape(xs)
    _same(fg.masked_select(fg.tensor(i), fg.tensor(m)), torch.masked_select(torch.tensor(i), torch.tensor(m)), "ints")


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("case", range(4))
def test_scatter_reduce_vs_torch(reduce, include_self, case):
    rng = np.random.default_rng(15 + case)
    xs, ss, dim = [((3, 5), (3, 4), 1), ((5, 3), (4, 3), 0), ((2, 3, 4), (2, 3, 2), -1), ((6,), (9,), 0)][case]
    x, src = _u(rng, xs), _u(rng, ss)
    idx = rng.integers(0, xs[dim], size=ss)
    if reduce == "prod":
        src.flat[:3] = 0.0          # zeros: the gradient is the product of the others
    f = lambda a, b: fg.scatter_reduce(a, dim, fg.tensor(idx), b, reduce, include_self=include_self)  # noqa: E731
    t = lambda a, b: torch.scatter_reduce(a, dim, torch.tensor(idx), b, reduce, include_self=include_self)  # noqa: E731
    _compare(f, t, [x, src], f"scatter_reduce {reduce} {include_self}")
    _compare(lambda a, b: a.scatter_reduce(dim, fg.tensor(idx), b, reduce),
             lambda a, b: a.scatter_reduce(dim, torch.tensor(idx), b, reduce), [x, src], "Tensor.scatter_reduce")
    xi, si = rng.integers(-5, 5, xs), rng.integers(-5, 5, ss)
    _same(fg.scatter_reduce(fg.tensor(xi), dim, fg.tensor(idx), fg.tensor(si), reduce, include_self=include_self),
          torch.scatter_reduce(torch.tensor(xi), dim, torch.tensor(idx), torch.tensor(si), reduce,
                               include_self=include_self), "ints")


def test_scatter_reduce_gradcheck_and_errors():
    rng = np.random.default_rng(16)
    idx = fg.tensor(np.array([[0, 0, 2], [1, 1, 1]]))
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        args = [fg.tensor(_u(rng, (2, 3)), requires_grad=True) for _ in range(2)]
        assert gradcheck(lambda a, b: fg.scatter_reduce(a, 1, idx, b, reduce), args)
    with pytest.raises(ValueError, match="reduce must be one of"):
        fg.scatter_reduce(fg.zeros(3), 0, fg.tensor([0]), fg.ones(1), "max")
    with pytest.raises(IndexError, match="index 3 is out of bounds"):
        fg.scatter_reduce(fg.zeros(3), 0, fg.tensor([3]), fg.ones(1), "sum")
    with pytest.raises(TypeError, match="src dtype"):
        fg.scatter_reduce(fg.zeros(3), 0, fg.tensor([0]), fg.ones(1, dtype=fg.float64), "sum")


@pytest.mark.parametrize("reduce", ["add", "multiply"])
def test_scatter_with_reduce_vs_torch(reduce):
    rng = np.random.default_rng(17)
    x, src, idx = _u(rng, (3, 5)), _u(rng, (3, 4)), rng.integers(0, 5, (3, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # torch deprecates reduce= with a tensor src
        t = torch.tensor(x).scatter(1, torch.tensor(idx), torch.tensor(src), reduce=reduce)
    _same(fg.tensor(x).scatter(1, fg.tensor(idx), fg.tensor(src), reduce=reduce), t, "scatter src")
    _same(fg.scatter(fg.tensor(x), 1, fg.tensor(idx), 2.5, reduce=reduce),
          torch.tensor(x).scatter(1, torch.tensor(idx), 2.5, reduce=reduce), "scatter value")
    a = fg.tensor(x, requires_grad=True)
    out = a.scatter(1, fg.tensor(idx), fg.tensor(src), reduce=reduce)
    with pytest.raises(RuntimeError, match="derivative of scatter with reduce"):
        out.sum().backward()


# ---- random ------------------------------------------------------------------------------------
def test_multinomial_with_replacement_frequencies_and_seed():
    p = fg.tensor([0.1, 0.0, 0.6, 0.3])
    fg.manual_seed(3)
    s = fg.multinomial(p, 20000, replacement=True)
    assert s.dtype == np.int64 and s.shape == (20000,)
    freq = np.bincount(s.numpy(), minlength=4) / 20000
    np.testing.assert_allclose(freq, [0.1, 0.0, 0.6, 0.3], atol=0.02)
    fg.manual_seed(3)
    np.testing.assert_array_equal(p.multinomial(20000, True).numpy(), s.numpy())
    g = fg.Generator().manual_seed(5)
    a = fg.multinomial(p, 10, True, generator=g)
    g.manual_seed(5)
    np.testing.assert_array_equal(fg.multinomial(p, 10, True, generator=g).numpy(), a.numpy())


def test_multinomial_without_replacement():
    fg.manual_seed(0)
    w = fg.tensor([[1.0, 2.0, 0.0, 4.0], [5.0, 0.0, 1.0, 1.0]])    # unnormalised weights
    for _ in range(20):
        s = fg.multinomial(w, 3).numpy()
        assert s.shape == (2, 3)
        for row, ws in zip(s, w.numpy()):
            assert len(set(row)) == 3 and all(ws[row] > 0)
    firsts = np.bincount([int(fg.multinomial(fg.tensor([1.0, 3.0]), 1)[0]) for _ in range(4000)], minlength=2)
    np.testing.assert_allclose(firsts / 4000, [0.25, 0.75], atol=0.03)


@pytest.mark.parametrize("args,exc,match", [
    (([0.5, -0.1], 1), ValueError, "element < 0"), (([0.5, np.nan], 1), ValueError, "inf, nan"),
    (([0.0, 0.0], 1, True), ValueError, "sum to 0"), (([1.0, 0.0], 2), ValueError, "without replacement"),
    (([1.0, 1.0], 3), ValueError, "without replacement"), (([1.0], 0), ValueError, "num_samples"),
    (([[[1.0]]], 1), ValueError, "1-d or 2-d")])
def test_multinomial_errors(args, exc, match):
    with pytest.raises(exc, match=match):
        fg.multinomial(fg.tensor(args[0]), *args[1:])


def test_bernoulli_and_bernoulli_():
    fg.manual_seed(1)
    p = fg.tensor(np.linspace(0, 1, 5, dtype=np.float32))
    draws = np.stack([fg.bernoulli(p).numpy() for _ in range(4000)])
    assert draws.dtype == np.float32
    np.testing.assert_allclose(draws.mean(0), np.linspace(0, 1, 5), atol=0.03)
    assert set(np.unique(draws)) <= {0.0, 1.0}
    x = fg.zeros(10000, dtype=fg.float64)
    assert x.bernoulli_(0.3) is x
    assert abs(x.numpy().mean() - 0.3) < 0.02
    assert abs(fg.bernoulli(fg.zeros(10000), 0.8).numpy().mean() - 0.8) < 0.02
    with pytest.raises(ValueError, match="probabilities must be in"):
        fg.bernoulli(fg.tensor([1.5]))
    with pytest.raises(ValueError, match="p must be in"):
        fg.zeros(3).bernoulli_(2.0)


@pytest.mark.parametrize("fill,args,mean,var", [
    ("normal_", (2.0, 3.0), 2.0, 9.0), ("uniform_", (-1.0, 3.0), 1.0, 16 / 12), ("exponential_", (2.0,), 0.5, 0.25),
    ("log_normal_", (0.0, 0.5), np.exp(0.125), (np.exp(0.25) - 1) * np.exp(0.25)),
    ("geometric_", (0.25,), 4.0, 0.75 / 0.0625)])
def test_inplace_fills_distribution(fill, args, mean, var):
    fg.manual_seed(2)
    x = fg.zeros(200000, dtype=fg.float64)
    v0 = x._version[0]
    assert getattr(x, fill)(*args) is x
    assert x._version[0] > v0
    a = x.numpy()
    assert abs(a.mean() - mean) < 0.03 * max(1.0, np.sqrt(var))
    assert abs(a.var() - var) < 0.05 * var


def test_inplace_fills_bounds_seed_and_autograd():
    x = fg.zeros(1000)
    assert x.uniform_(2, 3).numpy().min() >= 2 and x.numpy().max() < 3
    r = fg.zeros(5000).random_(3, 7).numpy()
    assert set(np.unique(r)) == {3, 4, 5, 6}
    assert set(np.unique(fg.zeros(2000, dtype=fg.int64).random_(4).numpy())) == {0, 1, 2, 3}
    assert fg.zeros(100).random_().numpy().max() <= 2 ** 24
    c = fg.zeros(10000).cauchy_(1.0, 2.0).numpy()
    assert abs(np.median(c) - 1.0) < 0.1
    fg.manual_seed(7)
    a = fg.zeros(5).normal_().numpy().copy()
    fg.manual_seed(7)
    np.testing.assert_array_equal(fg.zeros(5).normal_().numpy(), a)
    w = fg.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        w.normal_()
    with fg.no_grad():
        w.normal_()
    assert np.all(w.detach().numpy() != 0) and w.requires_grad
    # a non-leaf filled in place: the old values get a zero gradient
    x = fg.ones(3, requires_grad=True)
    y = x * 2
    y.uniform_()
    (y * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(3))
    with pytest.raises(TypeError, match="normal_: expected a floating point tensor"):
        fg.zeros(3, dtype=fg.int64).normal_()
    with pytest.raises(ValueError, match="random_: expected from < to"):
        fg.zeros(3).random_(5, 2)


def test_methods_bound():
    for name in ["multinomial", "bernoulli", "bernoulli_", "normal_", "uniform_", "exponential_", "random_",
                 "view_as", "expand_as", "reshape_as", "nonzero", "argwhere", "masked_select", "repeat_interleave",
                 "unflatten", "unfold", "diag", "diag_embed", "lerp", "isclose", "allclose", "copysign", "logaddexp",
                 "logaddexp2", "asinh", "acosh", "atanh", "cummax", "cummin", "logcumsumexp", "scatter_reduce",
                 "fill_"]:
        assert hasattr(fg.Tensor, name), name
        assert hasattr(torch.Tensor, name), name
    for name in ["multinomial", "bernoulli", "nonzero", "argwhere", "masked_select", "repeat_interleave", "unflatten",
                 "diag", "diag_embed", "lerp", "isclose", "allclose", "copysign", "logaddexp", "logaddexp2", "asinh",
                 "acosh", "atanh", "cummax", "cummin", "logcumsumexp", "std_mean", "var_mean", "scatter_reduce"]:
        assert hasattr(fg, name), name
        assert hasattr(torch, name), name


@pytest.mark.parametrize("shape,wrap", [((3, 3), False), ((5, 2), True), ((5, 2), False), ((2, 5), False),
                                        ((3, 3, 3), False), ((7, 3), True)])
def test_fill_diagonal_vs_torch(shape, wrap):
    a, b = fg.zeros(*shape), torch.zeros(*shape)
    assert a.fill_diagonal_(2.5, wrap) is a
    b.fill_diagonal_(2.5, wrap)
    _same(a, b, f"fill_diagonal_ {shape} {wrap}")


def test_fill_diagonal_gradient_and_errors():
    x, t = fg.ones(3, 4, requires_grad=True), torch.ones(3, 4, requires_grad=True)
    y, u = x * 2, t * 2
    y.fill_diagonal_(0.0)
    u.fill_diagonal_(0.0)
    (y * y).sum().backward()
    (u * u).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    with pytest.raises(ValueError, match="fill_diagonal_: input must be 2-d"):
        fg.zeros(2, 3, 3).fill_diagonal_(1.0)
