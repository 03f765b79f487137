"""float16 (and, with ml_dtypes, bfloat16) inputs to convolution, pooling, normalisation,
loss and linear layers: computed in float32 and rounded back.  Each op is compared with
PyTorch's float32 result on the same half-precision values, rounded to the half dtype
(the same recipe, so within one rounding), and with PyTorch's own float16 CPU result
within float16 tolerances; gradients arrive in the inputs' dtype."""
import numpy as np
import pytest

import fastgrad as fg

torch = pytest.importorskip("torch")
F, TF = fg.nn.functional, torch.nn.functional

rng = np.random.default_rng(0)


def _h(*shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, shape).astype(np.float16)


_IDX = np.array([0, 3, 1, 2, 4, 0])
CASES = {
    "conv1d": (lambda m, x, w: m.nn.functional.conv1d(x, w, padding=1), [_h(2, 3, 9), _h(4, 3, 3)]),
    "conv2d": (lambda m, x, w, b: m.nn.functional.conv2d(x, w, b, stride=2, padding=1),
               [_h(2, 3, 8, 7), _h(4, 3, 3, 3), _h(4)]),
    "conv3d": (lambda m, x, w: m.nn.functional.conv3d(x, w), [_h(1, 2, 4, 5, 4), _h(3, 2, 2, 3, 2)]),
    "conv_transpose1d": (lambda m, x, w: m.nn.functional.conv_transpose1d(x, w, stride=2), [_h(2, 3, 5), _h(3, 2, 3)]),
    "conv_transpose2d": (lambda m, x, w: m.nn.functional.conv_transpose2d(x, w, stride=2, padding=1),
                         [_h(2, 3, 4, 4), _h(3, 2, 3, 3)]),
    "conv_transpose3d": (lambda m, x, w: m.nn.functional.conv_transpose3d(x, w),
                         [_h(1, 2, 3, 2, 3), _h(2, 2, 2, 2, 2)]),
    "max_pool1d": (lambda m, x: m.nn.functional.max_pool1d(x, 3, 2), [_h(2, 3, 11)]),
    "max_pool2d": (lambda m, x: m.nn.functional.max_pool2d(x, 2), [_h(2, 3, 8, 8)]),
    "max_pool3d": (lambda m, x: m.nn.functional.max_pool3d(x, 2), [_h(1, 2, 4, 4, 4)]),
    "avg_pool1d": (lambda m, x: m.nn.functional.avg_pool1d(x, 2), [_h(2, 3, 10)]),
    "avg_pool2d": (lambda m, x: m.nn.functional.avg_pool2d(x, 3, 2, 1), [_h(2, 3, 8, 8)]),
    "avg_pool3d": (lambda m, x: m.nn.functional.avg_pool3d(x, 2), [_h(1, 2, 4, 4, 4)]),
    "adaptive_avg_pool1d": (lambda m, x: m.nn.functional.adaptive_avg_pool1d(x, 4), [_h(2, 3, 10)]),
    "adaptive_avg_pool2d": (lambda m, x: m.nn.functional.adaptive_avg_pool2d(x, (3, 2)), [_h(2, 3, 7, 6)]),
    "batch_norm": (lambda m, x, w, b: m.nn.functional.batch_norm(x, None, None, w, b, training=True),
                   [_h(4, 3, 5, 5), _h(3), _h(3)]),
    "layer_norm": (lambda m, x, w, b: m.nn.functional.layer_norm(x, (6,), w, b), [_h(4, 5, 6), _h(6), _h(6)]),
    "group_norm": (lambda m, x, w, b: m.nn.functional.group_norm(x, 2, w, b), [_h(2, 4, 3, 3), _h(4), _h(4)]),
    "linear": (lambda m, x, w, b: m.nn.functional.linear(x, w, b), [_h(5, 8), _h(3, 8), _h(3)]),
    "cross_entropy": (lambda m, x: m.nn.functional.cross_entropy(x, m.tensor(_IDX)), [_h(6, 5, lo=-3, hi=3)]),
    "cross_entropy_probs": (lambda m, x, t: m.nn.functional.cross_entropy(x, t.softmax(1)),
                            [_h(6, 5), _h(6, 5)]),
    "nll_loss": (lambda m, x: m.nn.functional.nll_loss(x, m.tensor(_IDX)), [_h(6, 5)]),
    "mse_loss": (lambda m, x, y: m.nn.functional.mse_loss(x, y), [_h(4, 5), _h(4, 5)]),
    "l1_loss": (lambda m, x, y: m.nn.functional.l1_loss(x, y, reduction="sum"), [_h(4, 5), _h(4, 5)]),
    "huber_loss": (lambda m, x, y: m.nn.functional.huber_loss(x, y, delta=0.5), [_h(4, 5), _h(4, 5)]),
    "smooth_l1_loss": (lambda m, x, y: m.nn.functional.smooth_l1_loss(x, y, reduction="none"), [_h(4, 5), _h(4, 5)]),
    "binary_cross_entropy": (lambda m, x, y: m.nn.functional.binary_cross_entropy(x, y),
                             [_h(4, 5, lo=0.05, hi=0.95), _h(4, 5, lo=0, hi=1)]),
    "binary_cross_entropy_with_logits": (lambda m, x, y: m.nn.functional.binary_cross_entropy_with_logits(x, y),
                                         [_h(4, 5, lo=-3, hi=3), _h(4, 5, lo=0, hi=1)]),
    "kl_div": (lambda m, x, y: m.nn.functional.kl_div(x, y, reduction="batchmean"),
               [_h(4, 5, lo=-3, hi=-0.1), _h(4, 5, lo=0.05, hi=1)]),
}


def _run(mod, fn, arrays, dt, grad=True):
    ts = [mod.tensor(a.astype(np.float32)).to(dt).requires_grad_(grad) for a in arrays]
    out = fn(mod, *ts)
    out = out[0] if isinstance(out, tuple) else out
    grads = mod.autograd.grad((out.float() * out.float()).sum(), ts) if grad else ()
    return out, grads


def _np(t):
    return t.detach().float().numpy()


def _close(f, t, what, rtol, atol):
    assert tuple(f.shape) == tuple(t.shape), f"{what}: shape {tuple(f.shape)} vs {tuple(t.shape)}"
    np.testing.assert_allclose(_np(f), _np(t), rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float16_is_float32_rounded_back(name):
    fn, arrays = CASES[name]
    fo, fgr = _run(fg, fn, arrays, fg.float16)
    assert fo.dtype == fg.float16, f"{name}: output dtype {fo.dtype}"
    assert all(g.dtype == fg.float16 for g in fgr), f"{name}: gradient dtypes {[g.dtype for g in fgr]}"
    ro, rgr = _run(torch, fn, arrays, torch.float32)
    # one float16 rounding of the float32 result (2 ulps of slack for sums taken in
    # another order)
    _close(fo, ro.half(), name, 2e-3, 2e-3)
    for i, (a, b) in enumerate(zip(fgr, rgr)):
        _close(a, b.half(), f"{name}: gradient {i}", 5e-3, 5e-3)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float16_vs_torch_float16(name):
    fn, arrays = CASES[name]
    try:
        to, tgr = _run(torch, fn, arrays, torch.float16)
    except RuntimeError as e:              # an op PyTorch's CPU build has no float16 kernel for
        pytest.skip(f"PyTorch float16 on CPU: {e}")
    fo, fgr = _run(fg, fn, arrays, fg.float16)
    assert str(fo.dtype).split(".")[-1] == str(to.dtype).split(".")[-1]
    _close(fo, to, name, 1e-2, 1e-2)
    for i, (a, b) in enumerate(zip(fgr, tgr)):
        _close(a, b, f"{name}: gradient {i}", 2e-2, 2e-2)


def test_half_modules_train_and_keep_running_stats_in_float16():
    x = _h(4, 3, 6, 6)
    m, tm = fg.nn.BatchNorm2d(3).half(), torch.nn.BatchNorm2d(3).half()
    for _ in range(3):
        a, b = m(fg.tensor(x)), tm(torch.tensor(x))
    assert m.running_mean.dtype == fg.float16 and m.weight.dtype == fg.float16
    _close(a, b, "BatchNorm2d output", 1e-2, 1e-2)
    _close(m.running_mean, tm.running_mean, "running_mean", 1e-3, 1e-3)
    _close(m.running_var, tm.running_var, "running_var", 1e-3, 1e-3)
    net = fg.nn.Sequential(fg.nn.Conv2d(3, 4, 3), fg.nn.ReLU(), fg.nn.MaxPool2d(2), fg.nn.Flatten(),
                           fg.nn.Linear(16, 2)).half()
    loss = F.cross_entropy(net(fg.tensor(x)), fg.tensor([0, 1, 1, 0]))
    loss.backward()
    assert loss.dtype == fg.float16
    assert all(p.grad is not None and p.grad.dtype == fg.float16 for p in net.parameters())


def test_bfloat16_layers():
    pytest.importorskip("ml_dtypes")
    for name in ("conv2d", "max_pool2d", "layer_norm", "cross_entropy", "linear"):
        fn, arrays = CASES[name]
        fo, fgr = _run(fg, fn, arrays, fg.bfloat16)
        ro, _ = _run(torch, fn, arrays, torch.float32)
        assert fo.dtype == fg.bfloat16 and all(g.dtype == fg.bfloat16 for g in fgr)
        _close(fo, ro.bfloat16(), name, 2e-2, 2e-2)
