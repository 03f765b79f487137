"""The layer-norm row kernels (csrc/norm_rows_tmpl.h: one copy per SIMD path, float32
row statistics over partial sums, one fused pass for the backward's reductions) against a
float64 reference: row lengths around the vector widths, 1 and 2 threads, with and
without weight and bias, rows far from zero mean, and group norm over (N, C) input, which
takes the same kernels."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad._C import _kernels as K

SIMD = fg.available_simd()


def _ref(x, g, w, b, groups, eps):
    """float64 y, mean, rstd, gx, gw, gb of row norm with weights indexed (r % groups) * D + j."""
    x = x.astype(np.float64)
    g = g.astype(np.float64)
    rows, d = x.shape
    wf = np.ones(groups * d) if w is None else w.astype(np.float64)
    bf = np.zeros(groups * d) if b is None else b.astype(np.float64)
    wr = wf.reshape(groups, d)[np.arange(rows) % groups]
    br = bf.reshape(groups, d)[np.arange(rows) % groups]
    mu = x.mean(1, keepdims=True)
    rs = 1 / np.sqrt(((x - mu) ** 2).mean(1, keepdims=True) + eps)
    xh = (x - mu) * rs
    y = xh * wr + br
    wg = wr * g
    gx = rs * (wg - wg.mean(1, keepdims=True) - xh * (wg * xh).mean(1, keepdims=True))
    gw = np.zeros((groups, d))
    gb = np.zeros((groups, d))
    np.add.at(gw, np.arange(rows) % groups, g * xh)
    np.add.at(gb, np.arange(rows) % groups, g)
    return y, mu[:, 0], rs[:, 0], gx, gw.reshape(-1), gb.reshape(-1)


def _check(x, g, w, b, groups, eps, tol):
    rows, d = x.shape
    y, mean, rstd = K.rownorm(x, d, groups, 1, w, b, eps)
    gx, gw, gb = K.rownorm_bwd(x, g, mean, rstd, w, d, groups, 1, True, True, True)
    ry, rmu, rrs, rgx, rgw, rgb = _ref(x, g, w, b, groups, eps)
    scale = np.sqrt(rows)
    np.testing.assert_allclose(mean, rmu, rtol=tol, atol=tol * np.abs(rmu).max(), err_msg="mean")
    np.testing.assert_allclose(rstd, rrs, rtol=tol, err_msg="rstd")
    np.testing.assert_allclose(y, ry, rtol=tol, atol=tol * max(1.0, np.abs(ry).max()), err_msg="y")
    # gx is rstd (w g - ...): its rounding is relative to rstd |w g| (large when var ~ 0)
    gscale = max(1.0, (rrs[:, None] * np.abs(g)).max() * (1.0 if w is None else np.abs(w).max()))
    np.testing.assert_allclose(gx, rgx, rtol=tol, atol=tol * gscale, err_msg="gx")
    np.testing.assert_allclose(gw, rgw, rtol=tol, atol=tol * scale, err_msg="gw")
    np.testing.assert_allclose(gb, rgb, rtol=tol, atol=tol * scale, err_msg="gb")
    # the kernel without the weight/bias gradients, and without gx, gives the same values
    gx2, gw2, gb2 = K.rownorm_bwd(x, g, mean, rstd, w, d, groups, 1, True, False, False)
    assert gw2 is None and gb2 is None
    np.testing.assert_array_equal(gx2, gx)
    gx3, gw3, gb3 = K.rownorm_bwd(x, g, mean, rstd, w, d, groups, 1, False, True, True)
    assert gx3 is None
    np.testing.assert_allclose(gw3, gw, rtol=1e-6, atol=1e-6 * scale)
    np.testing.assert_allclose(gb3, gb, rtol=1e-6, atol=1e-6 * scale)


@pytest.mark.parametrize("simd", SIMD)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("d", [1, 3, 8, 31, 32, 33, 47, 64, 100, 128, 257, 1024])
def test_layer_norm_rows_match_float64(simd, threads, d):
    fg.set_simd(simd)
    fg.set_num_threads(threads)
    rng = np.random.default_rng(d)
    rows = max(3, 40000 // d)            # over the threading threshold at 2 threads
    x = (rng.standard_normal((rows, d)) * 2 + 0.5).astype(np.float32)
    g = rng.standard_normal((rows, d)).astype(np.float32)
    w = (rng.standard_normal(d) + 1).astype(np.float32)
    b = rng.standard_normal(d).astype(np.float32)
    for ww, bb in ((w, b), (w, None), (None, b), (None, None)):
        _check(x, g, ww, bb, 1, 1e-5, 2e-5)


@pytest.mark.parametrize("simd", SIMD)
def test_layer_norm_rows_float64(simd):
    fg.set_simd(simd)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 77)) * 3 + 1
    g = rng.standard_normal((50, 77))
    w, b = rng.standard_normal(77), rng.standard_normal(77)
    _check(x, g, w, b, 1, 1e-5, 1e-12)


@pytest.mark.parametrize("simd", SIMD)
@pytest.mark.parametrize("d", [64, 1024])
def test_layer_norm_rows_far_from_zero_mean(simd, d):
    """mean 1e3, std 1: the two-pass variance does not cancel; what is left is the float32
    rounding of the mean (a few ulps of 1e3 relative to std 1)."""
    fg.set_simd(simd)
    rng = np.random.default_rng(7)
    x = (1e3 + rng.standard_normal((64, d))).astype(np.float32)
    g = rng.standard_normal((64, d)).astype(np.float32)
    y, mean, rstd = K.rownorm(x, d, 1, 1, None, None, 1e-5)
    gx, _, _ = K.rownorm_bwd(x, g, mean, rstd, None, d, 1, 1, True, False, False)
    ry, rmu, rrs, rgx, _, _ = _ref(x, g, None, None, 1, 1e-5)
    np.testing.assert_allclose(rstd, rrs, rtol=1e-5)
    np.testing.assert_allclose(y, ry, rtol=0, atol=1e3 * 2.0 ** -20)
    np.testing.assert_allclose(gx, rgx, rtol=0, atol=1e3 * 2.0 ** -20 * np.abs(rgx).max())


@pytest.mark.parametrize("simd", SIMD)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constant_rows_normalise_to_zero(simd, dtype):
    """A constant row has that constant as its mean and normalises to exactly 0: a mean off
    by one rounding would come out as +-1 ulp * rstd, with rstd = 1/sqrt(eps) ~ 316."""
    fg.set_simd(simd)
    for d in (1, 2, 3, 5, 7, 8, 9, 16, 31, 33, 64, 100, 768):
        for v in (1.3802992, 0.1, 3.3, -2.5e3, 1e-3):
            x = np.full((2, d), v, dtype)
            y, mean, rstd = K.rownorm(x, d, 1, 1, None, None, 1e-5)
            np.testing.assert_array_equal(mean, x[:, 0], err_msg=f"d={d} v={v}")
            np.testing.assert_array_equal(y, np.zeros_like(x), err_msg=f"d={d} v={v}")


@pytest.mark.parametrize("simd", SIMD)
@pytest.mark.parametrize("threads", [1, 2])
def test_group_norm_over_channels_uses_the_rows_with_group_offsets(simd, threads):
    """(N, C) input: rows (N, G) of C / G values, weights from (r % G) * C / G."""
    fg.set_simd(simd)
    fg.set_num_threads(threads)
    rng = np.random.default_rng(5)
    n, c, grp = 700, 96, 4
    x = rng.standard_normal((n * grp, c // grp)).astype(np.float32)
    g = rng.standard_normal((n * grp, c // grp)).astype(np.float32)
    w = rng.standard_normal(c).astype(np.float32)
    b = rng.standard_normal(c).astype(np.float32)
    _check(x, g, w, b, grp, 1e-5, 2e-5)


@pytest.mark.parametrize("shape", [(32, 16, 64), (512, 64), (64, 64, 128), (3, 5)])
def test_layer_norm_module_matches_torch(shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x0 = rng.standard_normal(shape).astype(np.float32)
    g0 = rng.standard_normal(shape).astype(np.float32)
    w0 = rng.standard_normal(shape[-1]).astype(np.float32)
    b0 = rng.standard_normal(shape[-1]).astype(np.float32)
    ln = fg.nn.LayerNorm(shape[-1])
    ln.weight.data = fg.tensor(w0)
    ln.bias.data = fg.tensor(b0)
    x = fg.tensor(x0, requires_grad=True)
    y = ln(x)
    y.backward(fg.tensor(g0))
    tl = torch.nn.LayerNorm(shape[-1])
    with torch.no_grad():
        tl.weight.copy_(torch.tensor(w0))
        tl.bias.copy_(torch.tensor(b0))
    xt = torch.tensor(x0, requires_grad=True)
    yt = tl(xt)
    yt.backward(torch.tensor(g0))
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ln.weight.grad.numpy(), tl.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ln.bias.grad.numpy(), tl.bias.grad.numpy(), rtol=1e-4, atol=1e-4)
