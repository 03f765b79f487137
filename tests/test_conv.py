"""Convolution, pooling, normalization and resampling beyond the generic
registry tests (tests/test_registry.py walks their REGISTRY entries): modules, shape
errors naming the layer, max-pool indices, running statistics, channel dropout, the C
layer's own argument checks, agreement with PyTorch (when installed) and the examples."""
import os
import subprocess
import sys

import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn.functional as F
from fastgrad import nn, reference as R
from fastgrad._C import _kernels as K
from fastgrad.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(0)


def t64(a, grad=False):
    return fg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# ---- modules ------------------------------------------------------------------------------------
def test_conv_modules_shapes_init_and_repr():
    fg.manual_seed(0)
    m = nn.Conv2d(3, 8, 3, stride=2, padding=1, groups=1)
    assert m.weight.shape == (8, 3, 3, 3) and m.bias.shape == (8,)
    bound = 1 / np.sqrt(3 * 9)
    assert np.abs(m.weight._data).max() <= bound and np.abs(m.bias._data).max() <= bound
    assert m(fg.randn(2, 3, 9, 9)).shape == (2, 8, 5, 5)
    assert m(fg.randn(3, 9, 9)).shape == (8, 5, 5)                 # unbatched
    assert "stride=(2, 2)" in repr(m) and "padding=(1, 1)" in repr(m)
    assert nn.Conv1d(4, 6, 3, padding="same", groups=2)(fg.randn(2, 4, 7)).shape == (2, 6, 7)
    t = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2, bias=False)
    assert t.weight.shape == (4, 3, 3, 3) and t.bias is None
    assert t(fg.randn(1, 4, 5, 5)).shape == (1, 6, 10, 10)
    assert nn.ConvTranspose1d(2, 3, 4, stride=2)(fg.randn(1, 2, 5)).shape == (1, 3, 12)
    assert set(m.state_dict()) == {"weight", "bias"}


def test_conv_layer_channel_mismatch_names_layer_and_channels():
    m = nn.Conv2d(3, 8, 3)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8, kernel_size=\(3, 3\)\): expected input with 3 "
                                         r"channels, got 5 channels \(input shape \(2, 5, 9, 9\)\)"):
        m(fg.randn(2, 5, 9, 9))
    with pytest.raises(ValueError, match=r"Conv1d\(2, 4, kernel_size=\(3,\)\): expected 2-D \(unbatched\) "
                                         r"or 3-D \(batched\) input"):
        nn.Conv1d(2, 4, 3)(fg.randn(2, 2, 3, 3))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(4\): expected input with 4 channels, got 3"):
        nn.BatchNorm2d(4)(fg.randn(2, 3, 2, 2))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4-D input \(N, C, H, W\), got 3-D"):
        nn.BatchNorm2d(4)(fg.randn(2, 4, 2))
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 4\): expected input \(N, 4, ...\)"):
        nn.GroupNorm(2, 4)(fg.randn(2, 6, 3))
    with pytest.raises(ValueError, match="must be divisible by groups"):
        nn.Conv2d(3, 8, 3, groups=2)
    with pytest.raises(ValueError, match="must be divisible by num_groups"):
        nn.GroupNorm(3, 4)
    with pytest.raises(TypeError, match="conv2d: input, weight and bias must share one float dtype"):
        F.conv2d(fg.randn(1, 2, 4, 4, dtype=fg.float64), fg.randn(2, 2, 3, 3, dtype=fg.float32))


def test_module_parameters_get_gradients_and_train():
    fg.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 4, 3, padding="same", groups=4), nn.GroupNorm(2, 4),
                          nn.AvgPool2d(2), nn.Upsample(scale_factor=2), nn.AdaptiveAvgPool2d((1, 1)),
                          nn.Flatten(), nn.Linear(4, 3))
    x = fg.randn(6, 2, 8, 8)
    y = fg.tensor(np.arange(6) % 3)
    opt = fg.optim.SGD(model.parameters(), lr=0.1)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(p.grad is not None for p in model.parameters())
    assert losses[-1] < losses[0]


# ---- pooling --------------------------------------------------------------------------------------
def test_max_pool_indices_and_first_maximum_gets_the_gradient():
    x = t64([[[[1.0, 3.0, 3.0, 0.0], [2.0, 3.0, -1.0, 5.0]]]], grad=True)
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(y.detach().numpy(), [[[[3.0, 5.0]]]])
    np.testing.assert_array_equal(idx.numpy(), [[[[1, 7]]]])
    assert idx.dtype == np.int64
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[[[0, 1, 0, 0], [0, 0, 0, 1]]]])
    v, i1 = F.max_pool1d(t64(np.arange(10.0).reshape(1, 1, 10)), 3, stride=3, return_indices=True)
    np.testing.assert_array_equal(i1.numpy(), [[[2, 5, 8]]])


def test_global_pooling_modules_and_interpolate_nearest():
    x = fg.randn(2, 3, 4, 5)
    # atol: a mean of 20 float32 values near zero carries absolute, not relative, rounding
    np.testing.assert_allclose(nn.GlobalAvgPool2d()(x).numpy(), x.numpy().mean((2, 3)), rtol=1e-6, atol=1e-7)
    assert nn.GlobalAvgPool2d(keepdim=True)(x).shape == (2, 3, 1, 1)
    np.testing.assert_allclose(nn.AdaptiveAvgPool1d(1)(x[:, :, 0]).numpy()[..., 0],
                               x.numpy()[:, :, 0].mean(-1), rtol=1e-6, atol=1e-7)
    up = F.interpolate(t64([[[[1.0, 2.0], [3.0, 4.0]]]]), scale_factor=2)
    np.testing.assert_array_equal(up.numpy()[0, 0], [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])


def test_pool_kernels_reject_bad_arguments_without_crashing():
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(IndexError, match="max_pool2d_backward: an index lies outside the 4x4 input plane"):
        K.pool2d_bwd(K.POOL["max"], np.ones((1, 1, 2, 2), np.float32), np.full((1, 1, 2, 2), 16),
                     (1, 1, 4, 4), (2, 2), (2, 2))
    with pytest.raises(ValueError, match="the C kernel rejected its arguments"):
        K.pool2d(K.POOL["max"], x, 2, 2, (0, 2), (2, 2))
    with pytest.raises(ValueError, match="conv2d: inconsistent arguments"):
        K.conv2d(x, np.zeros((2, 1, 3, 3), np.float32), None, (1, 1), (0, 0), (1, 1), 2, 2, 2)
    with pytest.raises(ValueError, match="conv2d_backward: gradient shape"):
        K.conv2d_bwd(np.zeros((1, 3, 2, 2), np.float32), x, None, (1, 1, 4, 4), (2, 1, 3, 3), (1, 1),
                     (0, 0), (1, 1), 1, False, True, False)
    with pytest.raises(TypeError, match="conv2d: weight has dtype float64, expected float32"):
        K.conv2d(x, np.zeros((2, 1, 3, 3)), None, (1, 1), (0, 0), (1, 1), 1, 2, 2)


# ---- normalization -----------------------------------------------------------------------------------
def test_batchnorm2d_running_stats_eval_and_momentum_none():
    m = nn.BatchNorm2d(3, momentum=0.3).double()
    rm, rv = np.zeros(3), np.ones(3)
    for step in range(3):
        x = RNG.standard_normal((4, 3, 5, 2)) * (step + 1) + step
        y = m(t64(x))
        mu, var = x.mean((0, 2, 3)), x.var((0, 2, 3))
        n = x.size // 3
        ref = (x - mu.reshape(1, 3, 1, 1)) / np.sqrt(var.reshape(1, 3, 1, 1) + 1e-5)
        np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-9, atol=1e-11)
        rm = 0.7 * rm + 0.3 * mu
        rv = 0.7 * rv + 0.3 * var * n / (n - 1)
    np.testing.assert_allclose(m.running_mean.numpy(), rm, rtol=1e-12)
    np.testing.assert_allclose(m.running_var.numpy(), rv, rtol=1e-12)
    m.eval()
    x = RNG.standard_normal((2, 3, 2, 2))
    ref = (x - rm.reshape(1, 3, 1, 1)) / np.sqrt(rv.reshape(1, 3, 1, 1) + 1e-5)
    np.testing.assert_allclose(m(t64(x)).detach().numpy(), ref, rtol=1e-9)
    xs = t64(RNG.standard_normal((3, 3, 2, 2)), grad=True)
    assert gradcheck(lambda a, w, b: m(a), [xs, m.weight, m.bias])
    m.train()
    assert gradgradcheck(lambda a: m(a), [xs], atol=1e-4, rtol=1e-3)


def test_layer_norm_is_fused_and_matches_the_composite_formula():
    x = t64(RNG.standard_normal((3, 5, 4)), grad=True)
    w, b = t64(RNG.standard_normal((5, 4)), grad=True), t64(RNG.standard_normal((5, 4)), grad=True)
    y = F.layer_norm(x, (5, 4), w, b)
    assert y.grad_fn.name == "layer_norm"                  # one fused node, not a chain
    mu = x._data.mean((1, 2), keepdims=True)
    ref = (x._data - mu) / np.sqrt(x._data.var((1, 2), keepdims=True) + 1e-5) * w._data + b._data
    np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda a, c, d: F.layer_norm(a, (5, 4), c, d), [x, w, b])
    # bias without weight keeps the bias's shape for its gradient
    g = fg.autograd.grad(F.layer_norm(x, (5, 4), None, b).sum(), [b])[0]
    assert g.shape == (5, 4)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", ["ln_wb", "ln_w", "ln_b", "ln_none", "ln_long", "ln_2d_shape",
                                  "gn_2d", "gn_4d", "gn_2d_noaffine"])
def test_row_norms_match_torch(case, dtype):
    """Layer and group norm, forward and all gradients, against torch with copied weights:
    every affine combination, rows shorter and longer than a vector, group norm on (N, C)
    input (one element per channel) and on images."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    shapes = {"ln_wb": (6, 7, 20), "ln_w": (6, 7, 20), "ln_b": (6, 7, 20), "ln_none": (6, 7, 20),
              "ln_long": (3, 1000), "ln_2d_shape": (4, 3, 5), "gn_2d": (5, 12), "gn_4d": (3, 12, 4, 5),
              "gn_2d_noaffine": (5, 12)}
    x = rng.standard_normal(shapes[case]).astype(dtype) * 3 + 1
    g = rng.standard_normal(x.shape).astype(dtype)
    if case.startswith("ln"):
        ns = (3, 5) if case == "ln_2d_shape" else (x.shape[-1],)
        w = rng.standard_normal(ns).astype(dtype) if case in ("ln_wb", "ln_w", "ln_long", "ln_2d_shape") else None
        b = rng.standard_normal(ns).astype(dtype) if case in ("ln_wb", "ln_b", "ln_long", "ln_2d_shape") else None

        def run(L, F_, xx, ww, bb):
            return F_.layer_norm(xx, ns, ww, bb, 1e-5)
    else:
        w = None if case == "gn_2d_noaffine" else rng.standard_normal(12).astype(dtype)
        b = None if case == "gn_2d_noaffine" else rng.standard_normal(12).astype(dtype)

        def run(L, F_, xx, ww, bb):
            return F_.group_norm(xx, 4, ww, bb, 1e-5)
    res = []
    for L, F_ in ((fg, F), (torch, torch.nn.functional)):
        xx = L.tensor(x, requires_grad=True)
        ww = None if w is None else L.tensor(w, requires_grad=True)
        bb = None if b is None else L.tensor(b, requires_grad=True)
        y = run(L, F_, xx, ww, bb)
        y.backward(L.tensor(g))
        res.append([y.detach().numpy()] + [t.grad.numpy() for t in (xx, ww, bb) if t is not None])
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-11)
    for a, r in zip(*res):
        np.testing.assert_allclose(a, r, **tol)


def test_dropout2d_zeroes_whole_channels():
    fg.manual_seed(3)
    x = fg.ones(8, 16, 3, 3, requires_grad=True)
    y = F.dropout2d(x, 0.5)
    per_channel = y.detach().numpy().reshape(8, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))
    assert 0.2 < (per_channel[..., 0] == 0).mean() < 0.8
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())
    d = nn.Dropout2d(0.5).eval()
    assert np.array_equal(d(x).detach().numpy(), x.detach().numpy())
    assert F.dropout1d(fg.ones(4, 5, 6), 1.0).numpy().sum() == 0


# ---- against PyTorch ---------------------------------------------------------------------------------
def _torch_grads(fn, arrays):
    torch = pytest.importorskip("torch")
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(torch.ones_like(out))
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


def _fg_grads(fn, arrays):
    ts = [t64(a, grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(fg.ones_like(out))
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("kw", [dict(stride=2, padding=1), dict(padding="same", dilation=2),
                                dict(groups=3, stride=(1, 2), padding=(2, 0)), dict(padding="valid")])
def test_conv2d_and_transpose_match_torch(kw):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((2, 6, 7, 8))
    w = RNG.standard_normal((9, 6 // kw.get("groups", 1), 3, 2))
    b = RNG.standard_normal(9)
    a = _fg_grads(lambda *t: F.conv2d(*t, **kw), [x, w, b])
    e = _torch_grads(lambda *t: torch.nn.functional.conv2d(*t, **kw), [x, w, b])
    for u, v in zip([a[0]] + a[1], [e[0]] + e[1]):
        np.testing.assert_allclose(u, v, rtol=1e-9, atol=1e-10)
    tk = {k: v for k, v in kw.items() if k in ("stride", "groups") or (k == "padding" and not isinstance(v, str))}
    wt = RNG.standard_normal((6, 4 // kw.get("groups", 1) if kw.get("groups", 1) == 1 else 1, 3, 2))
    xt = RNG.standard_normal((2, 6, 4, 5))
    a = _fg_grads(lambda *t: F.conv_transpose2d(*t, **tk), [xt, wt])
    e = _torch_grads(lambda *t: torch.nn.functional.conv_transpose2d(*t, **tk), [xt, wt])
    for u, v in zip([a[0]] + a[1], [e[0]] + e[1]):
        np.testing.assert_allclose(u, v, rtol=1e-9, atol=1e-10)


def test_pooling_norms_and_interpolate_match_torch():
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    x = RNG.standard_normal((2, 4, 7, 6))
    cases = [
        (lambda t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True), lambda t: tf.max_pool2d(t, 3, 2, 1, ceil_mode=True)),
        (lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False),
         lambda t: tf.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False)),
        (lambda t: F.avg_pool2d(t, 2, 1, 1), lambda t: tf.avg_pool2d(t, 2, 1, 1)),
        (lambda t: F.adaptive_avg_pool2d(t, (3, 4)), lambda t: tf.adaptive_avg_pool2d(t, (3, 4))),
        (lambda t: F.group_norm(t, 2), lambda t: tf.group_norm(t, 2)),
        (lambda t: F.interpolate(t, size=(5, 9), mode="bilinear"),
         lambda t: tf.interpolate(t, size=(5, 9), mode="bilinear")),
        (lambda t: F.interpolate(t, scale_factor=1.5, mode="bilinear", align_corners=True),
         lambda t: tf.interpolate(t, scale_factor=1.5, mode="bilinear", align_corners=True)),
        (lambda t: F.interpolate(t, size=(3, 11)), lambda t: tf.interpolate(t, size=(3, 11))),
        (lambda t: F.max_pool1d(t[:, :, 0], 2, dilation=2), lambda t: tf.max_pool1d(t[:, :, 0], 2, dilation=2)),
        (lambda t: F.interpolate(t[:, :, 0], scale_factor=2, mode="linear"),
         lambda t: tf.interpolate(t[:, :, 0], scale_factor=2, mode="linear")),
    ]
    for i, (f, g) in enumerate(cases):
        a, e = _fg_grads(f, [x]), _torch_grads(g, [x])
        np.testing.assert_allclose(a[0], e[0], rtol=1e-9, atol=1e-10, err_msg=str(i))
        np.testing.assert_allclose(a[1][0], e[1][0], rtol=1e-9, atol=1e-10, err_msg=str(i))


def test_float32_conv_at_benchmark_size_matches_reference_threads():
    x = RNG.standard_normal((16, 16, 14, 14)).astype(np.float32)
    w = (RNG.standard_normal((32, 16, 3, 3)) * 0.1).astype(np.float32)
    g = RNG.standard_normal((16, 32, 14, 14)).astype(np.float32)
    ref = R.conv2d(x.astype(np.float64), w.astype(np.float64), None, (1, 1), (1, 1), (1, 1), 1, 14, 14)
    rg = R.conv2d_bwd(g.astype(np.float64), x.astype(np.float64), w.astype(np.float64), x.shape, w.shape,
                      (1, 1), (1, 1), (1, 1), 1, True, True, True)
    for nt in (1, 2, 3):
        fg.set_num_threads(nt)
        np.testing.assert_allclose(K.conv2d(x, w, None, (1, 1), (1, 1), (1, 1), 1, 14, 14), ref,
                                   rtol=1e-4, atol=1e-4)
        out = K.conv2d_bwd(g, x, w, x.shape, w.shape, (1, 1), (1, 1), (1, 1), 1, True, True, True)
        for u, v in zip(out, rg):
            np.testing.assert_allclose(u, v, rtol=1e-4, atol=2e-3)


# ---- the C convolution's column paths on every SIMD path ------------------------------------------
# (x shape, w shape, stride, top/left padding, dilation, groups, (oh, ow) or None for symmetric
# padding).  They reach: several images per GEMM (oh * ow < 256) and one image per GEMM, the
# shifted-plane im2col (stride 1, ow == w) with and without dilation, strided and dilated
# windows, kernels wider than the input, asymmetric ("same" with an even kernel) padding,
# groups, a single image, an odd image count that does not split evenly over threads, 1x1.
_COL_CASES = [
    ((7, 6, 1, 20), (4, 6, 1, 3), (1, 1), (0, 1), (1, 1), 1, None),
    ((5, 4, 1, 23), (6, 2, 1, 3), (1, 2), (0, 2), (1, 2), 2, None),
    ((3, 5, 15, 14), (6, 5, 3, 3), (1, 1), (1, 1), (1, 1), 1, None),
    ((9, 4, 6, 7), (8, 2, 2, 2), (1, 1), (0, 0), (1, 1), 2, (6, 7)),
    ((2, 3, 17, 19), (4, 3, 3, 3), (2, 2), (2, 2), (2, 2), 1, None),
    ((4, 2, 3, 3), (3, 2, 5, 5), (1, 1), (2, 2), (1, 1), 1, None),
    ((1, 3, 5, 40), (2, 3, 3, 3), (1, 1), (1, 0), (1, 1), 1, None),
    ((6, 3, 9, 9), (5, 3, 3, 3), (1, 1), (2, 2), (2, 2), 1, None),
    ((3, 4, 5, 5), (6, 4, 1, 1), (1, 1), (0, 0), (1, 1), 1, None),
    ((11, 3, 1, 9), (3, 1, 1, 4), (1, 3), (0, 3), (1, 1), 3, None),
    ((2, 3, 18, 16), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1, None),
    ((3, 2, 20, 30), (4, 2, 3, 3), (1, 2), (1, 1), (1, 1), 1, None),
    # unit column stride with rows of at most one vector (16 float32 / 8 float64 lanes):
    # the AVX-512 register im2col / gather col2im, at and just past the vector width,
    # with row stride, dilation, windows narrower and wider than the input, a kernel
    # wider than its table (70 > 64 offsets: the copy loops), rows no window reaches
    ((4, 3, 11, 13), (5, 3, 3, 3), (2, 1), (1, 1), (1, 1), 1, None),
    ((3, 2, 12, 9), (4, 2, 3, 3), (1, 1), (2, 3), (3, 2), 1, None),
    ((5, 3, 8, 16), (4, 3, 2, 5), (1, 1), (0, 0), (1, 1), 1, None),
    ((3, 2, 5, 6), (3, 2, 3, 3), (1, 1), (1, 3), (1, 1), 1, None),
    ((2, 2, 4, 5), (3, 2, 1, 7), (1, 1), (0, 4), (1, 1), 1, None),
    ((3, 2, 6, 16), (4, 2, 3, 3), (1, 1), (1, 1), (1, 1), 1, None),
    ((3, 2, 6, 17), (4, 2, 3, 3), (1, 1), (1, 1), (1, 1), 1, None),
    ((3, 4, 5, 8), (4, 2, 3, 3), (1, 1), (1, 1), (1, 1), 2, None),
    ((3, 2, 5, 9), (4, 2, 3, 3), (1, 1), (1, 1), (1, 1), 1, None),
    ((4, 3, 1, 1), (2, 3, 1, 3), (1, 1), (0, 1), (1, 1), 1, None),
    ((2, 1, 1, 10), (2, 1, 1, 70), (1, 1), (0, 34), (1, 1), 1, None),
    ((4, 2, 7, 7), (3, 2, 4, 4), (1, 1), (1, 1), (1, 1), 1, (7, 7)),
    ((3, 2, 10, 9), (4, 2, 1, 3), (3, 1), (0, 1), (1, 1), 1, None),
    # 3x3, unit stride, 16+ input and 8+ output channels, rows of at most 16, 512+ output
    # tiles of 2x2: Winograd F(2x2, 3x3) on the AVX-512 float32 path (forward, input and
    # weight gradients); odd sizes (edge tiles), padding 0..3 (3: the input gradient falls
    # back to columns), 1x1 images, an asymmetric output size, 17 columns (columns), an
    # image count that leaves a short last task, one tall image (the GEMMs threaded)
    ((11, 16, 14, 14), (8, 16, 3, 3), (1, 1), (1, 1), (1, 1), 1, None),
    ((40, 17, 7, 13), (10, 17, 3, 3), (1, 1), (2, 0), (1, 1), 1, None),
    ((22, 16, 6, 16), (8, 16, 3, 3), (1, 1), (3, 1), (1, 1), 1, None),
    ((520, 16, 1, 1), (8, 16, 3, 3), (1, 1), (1, 1), (1, 1), 1, None),
    ((32, 16, 9, 9), (12, 16, 3, 3), (1, 1), (1, 1), (1, 1), 1, (8, 8)),
    ((4, 8, 5, 17), (8, 8, 3, 3), (1, 1), (1, 1), (1, 1), 1, None),
    ((129, 16, 4, 4), (8, 16, 3, 3), (1, 1), (1, 1), (1, 1), 1, None),
    ((1, 32, 128, 16), (16, 32, 3, 3), (1, 1), (1, 1), (1, 1), 1, None),
]


def _col_case_ids():
    return [f"x{c[0]}w{c[1]}s{c[2]}p{c[3]}d{c[4]}g{c[5]}" for c in _COL_CASES]


@pytest.mark.parametrize("case", _COL_CASES, ids=_col_case_ids())
def test_conv_kernels_match_reference_on_every_simd_path(case):
    xs, ws, st, pad, dil, groups, osz = case
    if osz is None:
        osz = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1
                    for n, k, s, p, d in zip(xs[2:], ws[2:], st, pad, dil))
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[0])
    g = rng.standard_normal((xs[0], ws[0]) + osz)
    ref = R.conv2d(x, w, b, st, pad, dil, groups, *osz)
    rg = R.conv2d_bwd(g, x, w, xs, ws, st, pad, dil, groups, True, True, True)
    best = K.cpu_best_isa()
    paths = [p for p in ("scalar", "avx2", "avx512")
             if p == "scalar" or p == "avx2" and best in ("avx2", "avx512") or p == best]
    for path in paths:
        fg.set_simd(path)
        for nt in (1, 2):
            fg.set_num_threads(nt)
            for dt, tol in ((np.float64, 1e-12), (np.float32, 2e-5)):
                what = f"{path} threads={nt} {np.dtype(dt).name}"
                y = K.conv2d(x.astype(dt), w.astype(dt), b.astype(dt), st, pad, dil, groups, *osz)
                np.testing.assert_allclose(y, ref, rtol=tol, atol=tol * 10, err_msg="forward " + what)
                out = K.conv2d_bwd(g.astype(dt), x.astype(dt), w.astype(dt), xs, ws, st, pad, dil,
                                   groups, True, True, True)
                for name, u, v in zip(("gx", "gw", "gb"), out, rg):
                    np.testing.assert_allclose(u, v, rtol=tol, atol=tol * 30, err_msg=f"{name} {what}")
                # the input gradient alone (no column reuse with the weight gradient)
                gx = K.conv2d_bwd(g.astype(dt), None, w.astype(dt), xs, ws, st, pad, dil, groups,
                                  True, False, False)[0]
                np.testing.assert_allclose(gx, rg[0], rtol=tol, atol=tol * 30, err_msg="gx alone " + what)
                # the weight and bias gradients alone (an input that needs no gradient)
                _, gw, gb = K.conv2d_bwd(g.astype(dt), x.astype(dt), None, xs, ws, st, pad, dil, groups,
                                         False, True, True)
                np.testing.assert_allclose(gw, rg[1], rtol=tol, atol=tol * 30, err_msg="gw alone " + what)
                np.testing.assert_allclose(gb, rg[2], rtol=tol, atol=tol * 30, err_msg="gb alone " + what)


# ---- examples ------------------------------------------------------------------------------------
@pytest.mark.parametrize("script,epochs,floor", [("cnn_digits.py", 6, 0.95), ("cnn1d_signals.py", 6, 0.85)])
def test_cnn_examples_run(script, epochs, floor, tmp_path):
    if script == "cnn_digits.py":
        pytest.importorskip("sklearn")
    path = os.path.join(os.path.dirname(__file__), "..", "examples", script)
    r = subprocess.run([sys.executable, path, "--epochs", str(epochs)], capture_output=True, text=True,
                       timeout=600, cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert r.returncode == 0, r.stderr[-2000:]
    acc = float(r.stdout.split("test accuracy ")[1].split(",")[0])
    assert acc > floor, r.stdout


@pytest.mark.parametrize("threads", [1, 2])
def test_threaded_backward_reductions_are_deterministic(threads):
    """Weight/bias gradients of conv and layer/group norm sum per-thread partials; they
    are combined in a fixed order, so repeated runs give the same bits (compiled steps
    check replays against eager bit for bit)."""
    fg.set_num_threads(threads)
    rng = np.random.default_rng(0)
    x = fg.tensor(rng.standard_normal((64, 16, 14, 14)).astype(np.float32))
    w = fg.tensor(rng.standard_normal((32, 16, 3, 3)).astype(np.float32), requires_grad=True)
    b = fg.tensor(rng.standard_normal(32).astype(np.float32), requires_grad=True)
    xl = fg.tensor(rng.standard_normal((256, 512)).astype(np.float32))
    wl = fg.tensor(rng.standard_normal(512).astype(np.float32), requires_grad=True)
    xg = fg.tensor(rng.standard_normal((64, 8, 16, 16)).astype(np.float32))
    wg = fg.tensor(rng.standard_normal(8).astype(np.float32), requires_grad=True)

    def grads():
        for t in (w, b, wl, wg):
            t.grad = None
        (F.conv2d(x, w, b, padding=1) ** 2).sum().backward()
        (F.layer_norm(xl, (512,), wl) ** 2).sum().backward()
        (F.group_norm(xg, 4, wg) ** 2).sum().backward()
        return [t.grad.numpy().copy() for t in (w, b, wl, wg)]
    first = grads()
    for _ in range(10):
        for a, c in zip(first, grads()):
            assert np.array_equal(a, c)
