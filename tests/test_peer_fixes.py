"""Semantics a peer project's op-test corpus (its PyTorch lambdas run on fastgrad by
tools/peer_corpus.py) found different from PyTorch, each compared with PyTorch here:
factory keywords, bit views, negative norms and pads, PyTorch's exception classes, index
sequences inside index tuples and lists, and the gradient of std where it is zero."""
import warnings

import numpy as np
import pytest

import fastgrad as fg
from fastgrad.autograd import gradcheck

torch = pytest.importorskip("torch")
F, TF = fg.nn.functional, torch.nn.functional


def _pair(a, grad=True):
    return (fg.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad))


def _same(f, t, what="", rtol=1e-10, atol=1e-12):
    t = t.detach().numpy()
    f = f.detach().numpy()
    assert f.shape == t.shape, f"{what}: shape {f.shape} != {t.shape}"
    assert f.dtype == t.dtype, f"{what}: dtype {f.dtype} != {t.dtype}"
    np.testing.assert_allclose(f, t, rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def _compare(fg_fn, torch_fn, a, what, rtol=1e-10, atol=1e-12):
    """Same float64 input: outputs and the gradients of a random weighting of them."""
    f, t = _pair(np.asarray(a, dtype=np.float64))
    fo, to = fg_fn(f), torch_fn(t)
    _same(fo, to, what, rtol, atol)
    w = np.random.default_rng(5).standard_normal(fo.shape)
    (gf,) = fg.autograd.grad((fo * fg.tensor(w)).sum(), f)
    (gt,) = torch.autograd.grad((to * torch.tensor(w)).sum(), t)
    _same(gf, gt, what + " (gradient)", rtol, atol)


# ---- factories -------------------------------------------------------------------------------
def test_randint_keywords_as_torch():
    a = fg.randint(low=-1, high=1, size=(2, 1, 3), dtype=fg.int64, requires_grad=False)
    b = fg.randint(high=4, size=(5,), dtype=fg.int64)
    assert a.shape == (2, 1, 3) and a.dtype == fg.int64 and int(a.min()) >= -1 and int(a.max()) <= 0
    assert b.shape == (5,) and int(b.min()) >= 0 and int(b.max()) <= 3
    assert fg.randint(3, (4,)).shape == (4,) and fg.randint(1, 3, (4,)).shape == (4,)
    # integer tensors cannot require gradients, in either library
    with pytest.raises(RuntimeError):
        torch.randint(0, 3, (2,), requires_grad=True)
    with pytest.raises(RuntimeError):
        fg.randint(0, 3, (2,), requires_grad=True)
    r = fg.randperm(5, dtype=fg.float32, requires_grad=True)
    assert r.requires_grad and sorted(r.detach().numpy().tolist()) == [0, 1, 2, 3, 4]


def test_linspace_bool_not_implemented():
    with pytest.raises(NotImplementedError):
        torch.linspace(0, 1, 3, dtype=torch.bool)
    with pytest.raises(NotImplementedError, match="linspace"):
        fg.linspace(0, 1, 3, dtype=fg.bool)


# ---- view(dtype) -----------------------------------------------------------------------------
@pytest.mark.parametrize("src,dst", [("float32", "int32"), ("float32", "float32"), ("float32", "int16"),
                                     ("float32", "uint8"), ("float32", "float64"), ("int64", "float32"),
                                     ("int16", "uint8"), ("uint8", "int32")])
def test_view_dtype_vs_torch(src, dst):
    a = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float64)
    a = (a * 100).astype(src)
    f = fg.tensor(a).view(getattr(fg, dst))
    t = torch.tensor(a).view(getattr(torch, dst))
    assert f.shape == tuple(t.shape) and str(f.dtype).split(".")[-1] == dst
    np.testing.assert_array_equal(f.numpy().view(np.uint8), t.numpy().view(np.uint8))


def test_view_dtype_shares_memory_and_errors():
    x = fg.zeros(2, 4)
    y = x.view(fg.int32)
    y[0, 0] = 1
    assert x[0, 0].item() == np.array([1], np.int32).view(np.float32)[0]
    with pytest.raises(RuntimeError):
        torch.zeros(3, 4)[:, ::2].view(torch.int16)
    with pytest.raises(RuntimeError, match="view"):
        fg.zeros(3, 4)[:, ::2].view(fg.int16)
    with pytest.raises(RuntimeError, match="view"):
        fg.zeros(3, 3, dtype=fg.uint8).view(fg.int32)
    g = fg.ones(3, requires_grad=True)
    assert g.view(fg.float32).requires_grad and not g.view(fg.int32).requires_grad


# ---- negative p norms ------------------------------------------------------------------------
@pytest.mark.parametrize("p", [-1, -2.5, -0.5])
@pytest.mark.parametrize("dim", [0, 1])
def test_normalize_negative_p_vs_torch(p, dim):
    a = np.random.default_rng(1).uniform(-2, 2, (4, 5))
    _compare(lambda x: F.normalize(x, p=p, dim=dim), lambda x: TF.normalize(x, p=p, dim=dim), a,
             f"normalize p={p} dim={dim}")
    _compare(lambda x: x.norm(p=p, dim=dim), lambda x: torch.linalg.vector_norm(x, ord=p, dim=dim), a,
             f"norm p={p} dim={dim}")


def test_negative_p_norm_gradcheck_and_zero():
    x = fg.tensor(np.random.default_rng(2).uniform(0.5, 2, (3, 4)), requires_grad=True)
    assert gradcheck(lambda t: t.norm(p=-1.5, dim=1), (x,))
    z = np.array([0.0, 1.0, 2.0])
    assert float(fg.tensor(z).norm(p=-1)) == float(torch.tensor(z).norm(p=-1)) == 0.0


# ---- pad: negative widths in reflect / replicate ---------------------------------------------
PADS = [(-1, 2), (3, -3), (3, -5), (-2, -2), (2, -4), (-3, 4), (1, 1), (0, 4), (4, 0), (0, 0)]


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
@pytest.mark.parametrize("p", PADS)
def test_pad_negative_vs_torch(mode, p):
    a = np.random.default_rng(3).standard_normal((2, 5, 5))
    pad = p + (1, -2)
    _compare(lambda x: F.pad(x, pad, mode=mode), lambda x: TF.pad(x, pad, mode=mode), a,
             f"pad {pad} {mode}")
    a4 = a.reshape(1, 2, 5, 5)
    _compare(lambda x: F.pad(x, p + p, mode=mode), lambda x: TF.pad(x, p + p, mode=mode), a4,
             f"pad {p + p} {mode} (4-d)")


def test_pad_negative_gradcheck_and_errors():
    x = fg.tensor(np.random.default_rng(4).standard_normal((2, 5)), requires_grad=True)
    assert gradcheck(lambda t: F.pad(t, (3, -4), mode="reflect"), (x,))
    assert gradcheck(lambda t: F.pad(t, (-2, 3), mode="replicate"), (x,))
    for mod, pad in ((torch, TF.pad), (fg, F.pad)):
        with pytest.raises(RuntimeError):      # reflect pads stay below the size
            pad(mod.zeros(1, 5), (5, -1), mode="reflect")
        with pytest.raises(RuntimeError):      # crops past the size
            pad(mod.zeros(1, 5), (0, -6), mode="replicate")
        with pytest.raises(NotImplementedError):
            pad(mod.zeros(1, 5), (1, 1), mode="typo")


# ---- exception classes as PyTorch's ----------------------------------------------------------
def _both_raise(cls, fn):
    with pytest.raises(cls):
        fn(torch)
    with pytest.raises(cls):
        fn(fg)


def test_wrong_length_padding_tuples_are_runtime_errors():
    x = np.zeros((1, 1, 5, 5), np.float32)
    w = np.zeros((1, 1, 3, 3), np.float32)
    _both_raise(RuntimeError, lambda m: m.nn.functional.conv2d(m.tensor(x), m.tensor(w), padding=(1, 1, 1)))
    _both_raise(RuntimeError, lambda m: m.nn.functional.max_pool2d(m.tensor(x), 2, padding=(1, 1, 1)))
    _both_raise(RuntimeError, lambda m: m.nn.functional.avg_pool2d(m.tensor(x), 2, padding=(1, 1, 1)))
    _both_raise(RuntimeError, lambda m: m.nn.functional.conv_transpose2d(m.tensor(x), m.tensor(w),
                                                                        padding=(1, 1, 1)))
    with pytest.raises(TypeError):             # the wrong type is still a TypeError
        F.conv2d(fg.tensor(x), fg.tensor(w), padding=1.5)


def test_scatter_dtype_mismatch_and_float_target_are_runtime_errors():
    idx = np.array([[0, 1]])
    _both_raise(RuntimeError, lambda m: m.zeros(2, 2, dtype=m.float16).scatter(
        0, m.tensor(idx), m.ones(1, 2, dtype=m.float32)))
    _both_raise(RuntimeError, lambda m: m.zeros(2, 2, dtype=m.float16).scatter_reduce(
        0, m.tensor(idx), m.ones(1, 2, dtype=m.float32), "sum"))
    _both_raise(RuntimeError, lambda m: m.nn.functional.cross_entropy(m.zeros(4, 3), m.zeros(4, 1)))


# ---- index sequences -------------------------------------------------------------------------
def _index_cases():
    rng = np.random.default_rng(6)
    c = rng.integers(-5, 5, (1, 1, 4, 1, 1, 1))
    e = rng.integers(0, 1, (1, 1, 1, 1, 6, 1))
    a = rng.integers(-1, 1, (2, 1, 1, 1, 1, 1))
    return [
        lambda m: (((0,),),),
        lambda m: ((0,), slice(None)),
        lambda m: ((1, 0), m.tensor(c)),
        lambda m: (1, (2, 1, 0), None, m.tensor(c), (2, 1, 0), m.tensor(e)),
        lambda m: (m.tensor(a), ((2,), (1,), (0,)), m.tensor(c), (2, 1, 0)),
        lambda m: [[0]],
        lambda m: [m.tensor(a), 1],
        lambda m: [m.tensor(a), (1, 1)],
        lambda m: [m.tensor(a), [1, 1]],
        lambda m: [0, slice(None), 1],
        lambda m: [None, 1],
        lambda m: [0, 1],
    ]


@pytest.mark.parametrize("k", range(12))
def test_index_sequences_vs_torch(k):
    make = _index_cases()[k]
    a = np.random.default_rng(7).standard_normal((2, 5, 6, 5, 3, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # PyTorch's notice about list indices
        _compare(lambda x: x[make(fg)], lambda x: x[make(torch)], a, f"index case {k}")
        f, t = fg.tensor(a.copy()), torch.tensor(a.copy())
        f[make(fg)] = 7.0
        t[make(torch)] = 7.0
    _same(f, t, f"setitem case {k}")


# ---- std's gradient where it is zero ---------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(dim=(0, 3), correction=0), dict(dim=(0, 3)), dict(dim=(0, 4), correction=0),
                                dict(dim=(0, 4))])
def test_std_gradient_at_zero_vs_torch(kw):
    a = np.random.default_rng(8).uniform(-2, 2, (1, 2, 3, 1, 5))
    a[0, 0, 0] = 1.0                           # a row of equal values: std 0 over dim 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _compare(lambda x: x.std(**kw), lambda x: x.std(**kw), a, f"std {kw}")
        _compare(lambda x: fg.std_mean(x, **kw)[0], lambda x: torch.std_mean(x, **kw)[0], a,
                 f"std_mean {kw}")


# ---- conv_transpose3d ------------------------------------------------------------------------
CT3 = [((2, 3, 3, 4, 4), (3, 2, 2, 3, 3), {}),
       ((1, 2, 3, 3, 3), (2, 2, 3, 2, 2), dict(stride=2, padding=1, output_padding=1)),
       ((2, 4, 2, 3, 3), (4, 1, 2, 2, 2), dict(groups=2, dilation=2)),
       ((4, 3, 3, 3), (4, 2, 2, 2, 2), dict(stride=(2, 1, 3), padding=(1, 0, 1), output_padding=(1, 0, 2))),
       ((1, 2, 4, 3, 3), (2, 3, 3, 3, 3), dict(stride=2, padding=(2, 0, 0), output_padding=(1, 0, 0),
                                               dilation=(2, 1, 1)))]


@pytest.mark.parametrize("xs,wsh,kw", CT3)
def test_conv_transpose3d_vs_torch(xs, wsh, kw):
    rng = np.random.default_rng(10)
    x, w = rng.standard_normal(xs), rng.standard_normal(wsh)
    b = rng.standard_normal(wsh[1] * kw.get("groups", 1))
    fs = [fg.tensor(a, requires_grad=True) for a in (x, w, b)]
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    fo, to = F.conv_transpose3d(*fs, **kw), TF.conv_transpose3d(*ts, **kw)
    _same(fo, to, "conv_transpose3d", 1e-9, 1e-9)
    g = rng.standard_normal(tuple(to.shape))
    gf = fg.autograd.grad((fo * fg.tensor(g)).sum(), fs)
    gt = torch.autograd.grad((to * torch.tensor(g)).sum(), ts)
    for i, (a, c) in enumerate(zip(gf, gt)):
        _same(a, c, f"conv_transpose3d gradient {i}", 1e-9, 1e-9)


def test_conv_transpose3d_gradcheck_and_module():
    rng = np.random.default_rng(11)
    x = fg.tensor(rng.standard_normal((1, 2, 2, 3, 2)), requires_grad=True)
    w = fg.tensor(rng.standard_normal((2, 2, 2, 2, 2)), requires_grad=True)
    assert gradcheck(lambda a, b: F.conv_transpose3d(a, b, stride=2, padding=1, output_padding=1), (x, w))
    m = fg.nn.ConvTranspose3d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2)
    tm = torch.nn.ConvTranspose3d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert tuple(m.weight.shape) == tuple(tm.weight.shape)
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(m.weight.detach().numpy()))
        tm.bias.copy_(torch.tensor(m.bias.detach().numpy()))
    a = rng.standard_normal((1, 2, 3, 3, 2)).astype(np.float32)
    _same(m(fg.tensor(a)), tm(torch.tensor(a)), "ConvTranspose3d", 1e-5, 1e-5)


# ---- integer inputs to max pooling and nearest resampling ------------------------------------
@pytest.mark.parametrize("dt", ["int32", "int64", "int16", "uint8"])
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=(2, 3), dilation=2, ceil_mode=True)])
def test_max_pool2d_integer_keeps_dtype_vs_torch(dt, kw):
    x = np.random.default_rng(12).integers(0 if dt == "uint8" else -100, 100, (2, 3, 9, 8)).astype(dt)
    f = F.max_pool2d(fg.tensor(x), return_indices=True, **kw)
    t = TF.max_pool2d(torch.tensor(x), return_indices=True, **kw)
    _same(f[0], t[0], "values")
    _same(f[1], t[1], "indices")
    _same(fg.nn.MaxPool2d(**kw)(fg.tensor(x)), TF.max_pool2d(torch.tensor(x), **kw), "module")


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
@pytest.mark.parametrize("size", [(10, 10), (40, 30)])
def test_interpolate_uint8_nearest_vs_torch(mode, size):
    x = np.random.default_rng(13).integers(0, 256, (2, 3, 17, 13)).astype(np.uint8)
    _same(F.interpolate(fg.tensor(x), size=size, mode=mode),
          TF.interpolate(torch.tensor(x), size=size, mode=mode), f"{mode} {size}")


def test_interpolate_integer_unsupported_modes_raise():
    u8 = np.zeros((1, 1, 4, 4), np.uint8)
    with pytest.raises(RuntimeError, match="bilinear.*uint8"):
        F.interpolate(fg.tensor(u8), size=(2, 2), mode="bilinear")
    i32 = np.zeros((1, 1, 4, 4), np.int32)
    for mod, fn in ((torch, TF.interpolate), (fg, F.interpolate)):
        with pytest.raises(RuntimeError):
            fn(mod.tensor(i32), size=(2, 2))
