"""Accuracy of the float32 GELU kernels (forward and derivative, csrc/vecmath.h fg_geluf /
fg_gelu_gradf, and the tanh form fg_gelu_tanhf / fg_gelu_tanh_gradf) against
double-precision references, on every SIMD path, and the float64 path against the exact
formula."""
import math

import numpy as np
import pytest

import fastgrad as fg
from fastgrad._C import _kernels as K

special = pytest.importorskip("scipy.special")

SIMD = fg.available_simd()
GELU = K.U["gelu"]


def _every_float32(lo, hi, step):
    """Every step-th float32 bit pattern in [lo, hi] (lo < 0 < hi), both signs, plus the
    end points and zeros."""
    pos = np.arange(0, np.float32(hi).view(np.uint32) + 1, step, dtype=np.uint32).view(np.float32)
    neg = -np.arange(0, np.float32(-lo).view(np.uint32) + 1, step, dtype=np.uint32).view(np.float32)
    return np.concatenate([pos, neg, np.float32([lo, hi, 0.0, -0.0])])


def _ref_gelu(x):
    v = x.astype(np.float64)
    return 0.5 * v * special.erfc(-v / math.sqrt(2.0))


def _ref_grad(x):
    v = x.astype(np.float64)
    return 0.5 * special.erfc(-v / math.sqrt(2.0)) + v * np.exp(-0.5 * v * v) / math.sqrt(2 * math.pi)


def _ulps(y, ref):
    """|y - ref| in float32 ulps of ref (2^-149 in the subnormal range)."""
    mag = np.abs(ref.astype(np.float32).astype(np.float64))
    ulp = np.maximum(2.0 ** (np.floor(np.log2(np.maximum(mag, 2.0 ** -126))) - 23), 2.0 ** -149)
    return np.abs(y.astype(np.float64) - ref) / ulp


@pytest.mark.parametrize("simd", SIMD)
def test_gelu_float32_within_2_ulp_on_minus_10_to_10(simd):
    """A dense sample (every 101st float32) of [-10, 10]; tools/ulp_check.c sweeps all."""
    fg.set_simd(simd)
    x = _every_float32(-10.0, 10.0, 101)
    y = K.unary(GELU, x)
    err = _ulps(y, _ref_gelu(x))
    worst = int(np.argmax(err))
    assert err[worst] <= 2.0, f"[{simd}] {err[worst]:.2f} ulp at x={x[worst]!r}: {y[worst]!r}"


@pytest.mark.parametrize("simd", SIMD)
def test_gelu_grad_float32_error_bound(simd):
    """Phi(x) + x phi(x) crosses zero near x = -0.75, so the bound is absolute: within
    3e-7 of the double result over [-16, 16] (measured: 2.3e-7 without FMA, 2.1e-7 with),
    about 4 ulps of the results near 1/2."""
    fg.set_simd(simd)
    x = _every_float32(-16.0, 16.0, 101)
    d = K.unary_bwd(GELU, np.ones_like(x), x, None)
    err = np.abs(d.astype(np.float64) - _ref_grad(x))
    worst = int(np.argmax(err))
    assert err[worst] <= 3e-7, f"[{simd}] {err[worst]:.3g} at x={x[worst]!r}: {d[worst]!r}"
    g = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(K.unary_bwd(GELU, g, x, None), g * d)


@pytest.mark.parametrize("simd", SIMD)
def test_gelu_special_values(simd):
    fg.set_simd(simd)
    tiny = 2.0 ** -130                  # subnormal
    x = np.float32([np.inf, -np.inf, np.nan, 0.0, -0.0, 15.0, -15.0, 30.0, -30.0, tiny, -tiny,
                    3e38, -3e38])
    y = K.unary(GELU, x)
    want = np.float32([np.inf, -0.0, np.nan, 0.0, -0.0, 15.0, -0.0, 30.0, -0.0, tiny / 2, -tiny / 2,
                       3e38, -0.0])
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(np.signbit(y[~np.isnan(y)]), np.signbit(want[~np.isnan(want)]))
    d = K.unary_bwd(GELU, np.ones_like(x), x, None)
    np.testing.assert_array_equal(d, np.float32([1, 0, np.nan, 0.5, 0.5, 1, 0, 1, 0, 0.5, 0.5, 1, 0]))


def test_gelu_float64_keeps_the_accurate_path():
    x = np.linspace(-12, 12, 20001)
    y = K.unary(GELU, x)
    d = K.unary_bwd(GELU, np.ones_like(x), x, None)
    np.testing.assert_allclose(y, _ref_gelu(x), rtol=1e-13, atol=1e-300)   # libm vs cephes erfc
    np.testing.assert_allclose(d, _ref_grad(x), rtol=0, atol=4e-16)


@pytest.mark.parametrize("simd", SIMD)
def test_gelu_forward_backward_match_torch(simd):
    torch = pytest.importorskip("torch")
    fg.set_simd(simd)
    rng = np.random.default_rng(3)
    x0 = np.concatenate([rng.standard_normal(5000) * 3, rng.uniform(-12, 12, 5000)]).astype(np.float32)
    g0 = rng.standard_normal(x0.shape).astype(np.float32)
    x = fg.tensor(x0, requires_grad=True)
    y = fg.nn.functional.gelu(x)
    y.backward(fg.tensor(g0))
    xt = torch.tensor(x0, requires_grad=True)
    yt = torch.nn.functional.gelu(xt, approximate="none")
    yt.backward(torch.tensor(g0))
    # PyTorch's float32 erf is accurate to about 1e-6 absolute (its tail is 0)
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-6, atol=2e-6)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=2e-6)


GELU_TANH = K.U["gelu_tanh"]
_C0 = 2.0 * math.sqrt(2.0 / math.pi)          # 2z = x (C0 + C1 x^2)
_C1 = 0.044715 * _C0


def _sigmoid(z):
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


@pytest.mark.parametrize("simd", SIMD)
def test_gelu_tanh_float32_within_3_ulp(simd):
    """x sigmoid(2z) relative to the double formula on every 101st float32 of [-12, 12]
    (results down to ~1e-37) and on a sample of the whole range (measured: 2.42 ulp with
    FMA, 2.48 without; tools/ulp_check.c sweeps all)."""
    fg.set_simd(simd)
    big = np.random.default_rng(1).integers(0, 2 ** 31, 200_000, dtype=np.uint32).view(np.float32)
    big = big[np.isfinite(big)]
    x = np.concatenate([_every_float32(-12.0, 12.0, 101), big, -big])
    y = K.unary(GELU_TANH, x)
    v = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        ref = v * _sigmoid(v * (_C0 + _C1 * v * v))
    ref = np.where(np.isfinite(ref), ref, np.where(v > 0, v, -0.0))
    err = _ulps(y, ref)
    worst = int(np.argmax(err))
    assert err[worst] <= 3.0, f"[{simd}] {err[worst]:.2f} ulp at x={x[worst]!r}: {y[worst]!r}"


@pytest.mark.parametrize("simd", SIMD)
def test_gelu_tanh_grad_float32_error_bound(simd):
    """The derivative crosses zero near x = -0.75: an absolute bound, 3e-7 over [-16, 16]
    (measured 2.0e-7), with the gradient applied exactly as g * d."""
    fg.set_simd(simd)
    x = _every_float32(-16.0, 16.0, 101)
    d = K.unary_bwd(GELU_TANH, np.ones_like(x), x, None)
    v = x.astype(np.float64)
    s = _sigmoid(v * (_C0 + _C1 * v * v))
    ref = s + v * s * (1 - s) * (_C0 + 3 * _C1 * v * v)
    err = np.abs(d.astype(np.float64) - ref)
    worst = int(np.argmax(err))
    assert err[worst] <= 3e-7, f"[{simd}] {err[worst]:.3g} at x={x[worst]!r}: {d[worst]!r}"
    g = np.random.default_rng(0).standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(K.unary_bwd(GELU_TANH, g, x, None), g * d)


@pytest.mark.parametrize("simd", SIMD)
def test_gelu_tanh_special_values(simd):
    fg.set_simd(simd)
    tiny = 2.0 ** -130
    x = np.float32([np.inf, -np.inf, np.nan, 0.0, -0.0, 30.0, -30.0, tiny, -tiny, 3e38, -3e38])
    y = K.unary(GELU_TANH, x)
    want = np.float32([np.inf, -0.0, np.nan, 0.0, -0.0, 30.0, -0.0, tiny / 2, -tiny / 2, 3e38, -0.0])
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(np.signbit(y[~np.isnan(y)]), np.signbit(want[~np.isnan(want)]))
    d = K.unary_bwd(GELU_TANH, np.ones_like(x), x, None)
    # the limits 1 and 0 at +-inf (PyTorch's formula gives x * 0 = NaN there)
    np.testing.assert_array_equal(d, np.float32([1, 0, np.nan, 0.5, 0.5, 1, 0, 0.5, 0.5, 1, 0]))
