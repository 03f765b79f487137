"""Depthwise convolution kernels (one input channel per group) against the NumPy
reference, on every SIMD path: the padded-plane path (unit stride and dilation: forward,
input gradient as a flipped correlation, weight gradient by runs with a nine-tap pass for
3x3) and the row loops it falls back to (strides, dilations, padding beyond the kernel,
channel multipliers, planes holding inf or nan)."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad import reference
from fastgrad._C import _kernels as K


def _out(n, k, s, p_total, d):
    return (n + p_total - d * (k - 1) - 1) // s + 1


CASES = [
    # (n, c, mult, h, w, kh, kw, stride, pad_top_left, extra bottom/right, dilation)
    (3, 4, 1, 14, 14, 3, 3, 1, 1, 1, 1),        # "same" 3x3: the nine-tap pass
    (2, 3, 1, 9, 17, 3, 3, 1, 0, 0, 1),         # "valid", rows longer than a vector
    (2, 5, 1, 8, 8, 5, 5, 1, 2, 2, 1),          # 5x5: one run per tap
    (2, 3, 1, 7, 6, 4, 2, 1, 1, 2, 1),          # even kernel, asymmetric padding
    (2, 2, 1, 6, 6, 3, 3, 1, 3, 3, 1),          # padding beyond kh - 1: gx by rows
    (2, 3, 2, 10, 10, 3, 3, 1, 1, 1, 1),        # channel multiplier 2: gx by rows
    (2, 3, 1, 11, 9, 3, 3, 2, 1, 1, 1),         # stride 2: rows
    (2, 3, 1, 11, 9, 3, 3, 1, 2, 2, 2),         # dilation 2: rows
    (1, 2, 1, 1, 1, 3, 3, 1, 1, 1, 1),          # 1x1 plane
]


@pytest.mark.parametrize("simd", fg.available_simd())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
def test_depthwise_matches_reference(simd, dtype, case):
    n, c, mult, h, w, kh, kw, st, p, extra, dl = case
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((c * mult, 1, kh, kw)).astype(dtype)
    b = rng.standard_normal(c * mult).astype(dtype)
    oh, ow = _out(h, kh, st, p + extra, dl), _out(w, kw, st, p + extra, dl)
    g = rng.standard_normal((n, c * mult, oh, ow)).astype(dtype)
    args = ((st, st), (p, p), (dl, dl), c)
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    prev = fg.get_simd()
    fg.set_simd(simd)
    try:
        y = K.conv2d(x, wt, b, *args, oh, ow)
        got = K.conv2d_bwd(g, x, wt, x.shape, wt.shape, *args, True, True, True)
    finally:
        fg.set_simd(prev)
    np.testing.assert_allclose(y, reference.conv2d(x, wt, b, *args, oh, ow), **tol)
    want = reference.conv2d_bwd(g, x, wt, x.shape, wt.shape, *args, True, True, True)
    for name, a, e in zip(("gx", "gw", "gb"), got, want):
        np.testing.assert_allclose(a, e, err_msg=name, **tol)


@pytest.mark.parametrize("simd", fg.available_simd())
def test_depthwise_weight_gradient_with_inf_and_nan(simd):
    # a plane with an inf: the weight gradient of its channel must not pick up the nan
    # that 0 * inf would give in the padded runs; other channels keep the fast path
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    x[0, 1, 2, 5] = np.inf
    x[1, 2, 0, 0] = np.nan
    wt = rng.standard_normal((3, 1, 3, 3)).astype(np.float32)
    g = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    args = ((1, 1), (1, 1), (1, 1), 3)
    prev = fg.get_simd()
    fg.set_simd(simd)
    try:
        _, gw, _ = K.conv2d_bwd(g, x, wt, x.shape, wt.shape, *args, False, True, False)
    finally:
        fg.set_simd(prev)
    want = reference.conv2d_bwd(g, x, wt, x.shape, wt.shape, *args, False, True, False)[1]
    np.testing.assert_allclose(gw, want, rtol=2e-5, atol=2e-5)     # equal_nan: same nan/inf places
    assert np.isfinite(gw[0]).all() and np.isnan(gw[2]).any()


def test_depthwise_two_threads_bitwise_repeatable():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((16, 8, 14, 14)).astype(np.float32)
    wt = rng.standard_normal((8, 1, 3, 3)).astype(np.float32)
    g = rng.standard_normal((16, 8, 14, 14)).astype(np.float32)
    args = (x.shape, wt.shape, (1, 1), (1, 1), (1, 1), 8, True, True, True)
    prev = fg.get_num_threads()
    fg.set_num_threads(2)
    try:
        a = K.conv2d_bwd(g, x, wt, *args)
        b = K.conv2d_bwd(g, x, wt, *args)
    finally:
        fg.set_num_threads(prev)
    for u, v in zip(a, b):
        assert u.tobytes() == v.tobytes()
