"""Accuracy of the float32 math kernels, extreme values, inf/nan propagation, and
hypothesis property tests against NumPy."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import fastgrad as fg
from fastgrad._C import _kernels as K

scipy_special = pytest.importorskip("scipy.special")

SIMD = fg.available_simd()


def _f64_ref(name, x):
    x = x.astype(np.float64)
    erfc = scipy_special.erfc
    with np.errstate(all="ignore"):
        return {
            "exp": np.exp, "log": np.log, "log1p": np.log1p, "sqrt": np.sqrt,
            "rsqrt": lambda v: 1 / np.sqrt(v), "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
            "sigmoid": lambda v: np.where(v >= 0, 1 / (1 + np.exp(-v)), np.exp(v) / (1 + np.exp(v))),
            "gelu": lambda v: 0.5 * v * erfc(-v / math.sqrt(2)),
            "silu": lambda v: v * np.where(v >= 0, 1 / (1 + np.exp(-v)), np.exp(v) / (1 + np.exp(v))),
            "softplus": lambda v: np.logaddexp(0, v),
            "erf": scipy_special.erf,
        }[name](x)


def _ulp_error(y, ref):
    """|y - ref| in units of the float32 ulp at ref (2^-149 in the subnormal range)."""
    with np.errstate(all="ignore"):
        return _ulp_error_raw(y, ref)


def _ulp_error_raw(y, ref):
    r32 = ref.astype(np.float32)
    mag = np.abs(r32.astype(np.float64))
    ulp = np.maximum(np.spacing(np.float32(1)) * 2.0 ** np.floor(np.log2(np.maximum(mag, 2.0 ** -126))),
                     2.0 ** -149)
    ulp = np.where(mag >= np.finfo(np.float32).max, np.spacing(np.finfo(np.float32).max), ulp)
    with np.errstate(all="ignore"):
        err = np.abs(y.astype(np.float64) - ref) / ulp
    y64 = y.astype(np.float64)
    same = (y64 == ref) | (np.isnan(y) & np.isnan(ref)) | (np.isinf(ref) & (y64 == ref))
    # results that overflow float32 must be inf with the right sign
    over = np.abs(ref) > np.finfo(np.float32).max
    err = np.where(over, np.where(y.astype(np.float64) == np.sign(ref) * np.inf, 0, np.inf), err)
    return np.where(same, 0.0, err)


def _whole_range_float32(n, seed):
    """Finite float32 values spread over the whole range (uniform over bit patterns),
    plus the special values."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    x = x[np.isfinite(x)]
    special = np.array([0.0, -0.0, 1e-45, -1e-45, 1e-38, 1.0, -1.0, 88.72, -87.3, -103.9, 89.0,
                        1e4, -1e4, 3.4e38, -3.4e38, 0.5, 2.0, 1e-7, -1e-7, 9.0, -9.0, 15.0, 20.0],
                       np.float32)
    return np.concatenate([x, special, rng.standard_normal(n // 4).astype(np.float32) * 5])


TRANSCENDENTAL = ["exp", "log", "log1p", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "gelu",
                  "silu", "softplus", "erf"]


@pytest.mark.parametrize("simd", SIMD)
@pytest.mark.parametrize("name", TRANSCENDENTAL)
def test_float32_math_within_4_ulp_over_whole_range(name, simd):
    fg.set_simd(simd)
    x = _whole_range_float32(400_000, seed=hash(name) % 1000)
    if name in ("log", "sqrt", "rsqrt"):
        x = np.abs(x)
    if name == "log1p":
        x = np.where(x < -1, -x, x).astype(np.float32)
    ref = _f64_ref(name, x)
    if name == "softplus":   # the op reverts to x above its threshold (20), as PyTorch
        y = K.unary(K.U[name], x, 1.0, math.inf)
    else:
        y = K.unary(K.U[name], x)
    err = _ulp_error(y, ref)
    worst = int(np.argmax(err))
    assert err[worst] <= 4.0, (f"{name} [{simd}]: {err[worst]:.1f} ulp at x={x[worst]!r}: "
                               f"got {y[worst]!r}, want {ref[worst]!r}")


@pytest.mark.parametrize("simd", SIMD)
@pytest.mark.parametrize("name", TRANSCENDENTAL + ["relu", "abs", "neg", "square"])
def test_inf_and_nan_propagate_like_numpy(name, simd):
    fg.set_simd(simd)
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], np.float32)
    got = getattr(fg, name)(fg.from_numpy(x)).numpy() if hasattr(fg, name) else None
    with np.errstate(all="ignore"):
        want = fg.reference.unary(K.U[name], x.astype(np.float64),
                                  *((1.0, 20.0) if name == "softplus" else ())).astype(np.float32)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
    np.testing.assert_array_equal(got[~np.isnan(got)], want[~np.isnan(want)], err_msg=name)


@pytest.mark.parametrize("simd", SIMD)
def test_softmax_family_stable_at_magnitude_1e4(simd):
    fg.set_simd(simd)
    x = fg.tensor([[1e4, -1e4, 5e3, 1e4 - 1.0], [-1e4, -1e4 + 2, -2e4, 0.0]])
    p = fg.softmax(x, dim=1).numpy()
    lp = fg.log_softmax(x, dim=1).numpy()
    assert np.all(np.isfinite(p)) and np.all(np.isfinite(lp))
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(lp[0, [0, 3]], [-np.log1p(np.exp(-1.0)), -1 - np.log1p(np.exp(-1.0))], rtol=1e-5)
    lse = fg.logsumexp(x, dim=1).numpy()
    np.testing.assert_allclose(lse, [1e4 + np.log1p(np.exp(-1.0)), 0.0], rtol=1e-6)
    loss = fg.nn.functional.cross_entropy(x, fg.tensor([1, 3]), reduction="none").numpy()
    assert np.all(np.isfinite(loss))
    np.testing.assert_allclose(loss, [2e4 + np.log1p(np.exp(-1.0)), 0.0], rtol=1e-5, atol=1e-4)
    s = fg.sigmoid(fg.tensor([-1e4, 1e4])).numpy()
    sp = fg.softplus(fg.tensor([-1e4, 1e4])).numpy()
    np.testing.assert_array_equal(s, [0.0, 1.0])
    np.testing.assert_array_equal(sp, [0.0, 1e4])


# ---- property tests ----------------------------------------------------------------------
finite = st.floats(-100, 100, width=32)


@settings(max_examples=60, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=5),
       data=st.data(), op=st.sampled_from(["add", "sub", "mul", "maximum", "minimum"]))
def test_binary_broadcasting_matches_numpy(shapes, data, op):
    a = data.draw(hnp.arrays(np.float32, shapes.input_shapes[0], elements=finite))
    b = data.draw(hnp.arrays(np.float32, shapes.input_shapes[1], elements=finite))
    got = getattr(fg, op)(fg.from_numpy(a), fg.from_numpy(b)).numpy()
    want = getattr(np, {"add": "add", "sub": "subtract", "mul": "multiply", "maximum": "maximum",
                        "minimum": "minimum"}[op])(a, b)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=4, max_side=6), elements=st.floats(-10, 10)),
       data=st.data())
def test_reductions_over_random_dims_match_numpy(x, data):
    dims = data.draw(st.lists(st.integers(0, x.ndim - 1), unique=True, min_size=1, max_size=x.ndim))
    keep = data.draw(st.booleans())
    t = fg.from_numpy(x)
    np.testing.assert_allclose(fg.sum(t, tuple(dims), keepdim=keep).numpy(),
                               np.sum(x, tuple(dims), keepdims=keep), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fg.mean(t, tuple(dims), keepdim=keep).numpy(),
                               np.mean(x, tuple(dims), keepdims=keep), rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, max_side=4),
       data=st.data())
def test_broadcast_gradients_sum_back_to_input_shapes(shapes, data):
    a = data.draw(hnp.arrays(np.float64, shapes.input_shapes[0], elements=st.floats(-3, 3)))
    b = data.draw(hnp.arrays(np.float64, shapes.input_shapes[1], elements=st.floats(-3, 3)))
    ta, tb = fg.tensor(a, requires_grad=True), fg.tensor(b, requires_grad=True)
    (ta * tb).sum().backward()
    full = np.broadcast_shapes(a.shape, b.shape)
    ga = np.broadcast_to(b, full).copy()
    gb = np.broadcast_to(a, full).copy()
    lead = len(full) - a.ndim
    ga = ga.sum(tuple(range(lead)) + tuple(i + lead for i, s in enumerate(a.shape) if s == 1),
                keepdims=True).reshape(a.shape)
    lead = len(full) - b.ndim
    gb = gb.sum(tuple(range(lead)) + tuple(i + lead for i, s in enumerate(b.shape) if s == 1),
                keepdims=True).reshape(b.shape)
    np.testing.assert_allclose(ta.grad.numpy(), ga, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tb.grad.numpy(), gb, rtol=1e-12, atol=1e-12)


SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 3e38, -3e38, 1e-45, 2.5], np.float32)


@pytest.mark.parametrize("simd", SIMD)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "pow", "maximum", "minimum"])
def test_binary_ops_on_special_values_match_numpy(op, simd):
    """Every pair of special values (inf, nan, signed zeros, huge, subnormal)."""
    fg.set_simd(simd)
    a, b = np.meshgrid(SPECIAL, SPECIAL)
    got = getattr(fg, op)(fg.from_numpy(a), fg.from_numpy(b)).numpy()
    with np.errstate(all="ignore"):
        want = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
                "pow": np.power, "maximum": np.maximum, "minimum": np.minimum}[op](a, b)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=op)
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(got[ok], want[ok], err_msg=op)


@pytest.mark.parametrize("simd", SIMD)
def test_reductions_propagate_nan_and_inf(simd):
    fg.set_simd(simd)
    x = np.array([[1.0, np.nan, 2.0], [np.inf, 1.0, -np.inf], [1.0, 2.0, 3.0]], np.float32)
    t = fg.from_numpy(x)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(fg.sum(t, 1).numpy(), x.sum(1))
        np.testing.assert_array_equal(fg.max(t, 1).values.numpy(), np.max(x, 1))
        np.testing.assert_array_equal(fg.max(t, 1).indices.numpy(), np.argmax(x, 1))
        np.testing.assert_array_equal(fg.min(t, 0).values.numpy(), np.min(x, 0))
        lse = fg.logsumexp(t, 1).numpy()
    assert np.isnan(lse[0]) and lse[1] == np.inf and np.isfinite(lse[2])


# ---- float64 math: vectorised kernels (csrc/vecmath_d.h) against long double -----------
def _ld_ref(name, x):
    """The float64 functions computed in x87 extended precision (64-bit mantissa)."""
    v = x.astype(np.longdouble)
    one = np.longdouble(1)
    with np.errstate(all="ignore"):
        return {
            "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "tanh": np.tanh,
            "sigmoid": lambda u: np.where(u >= 0, one / (one + np.exp(-u)), np.exp(u) / (one + np.exp(u))),
            "softplus": lambda u: np.where(u > 0, u + np.log1p(np.exp(-u)), np.log1p(np.exp(u))),
        }[name](v)


def _ulp64(y, ref):
    """|y - ref| in float64 ulps at ref (ref in long double); exact matches of specials
    count 0, a wrong inf/nan counts inf."""
    with np.errstate(over="ignore"):
        r = ref.astype(np.float64)
    ulp = np.spacing(np.abs(r))
    ulp = np.where(ulp == 0, np.spacing(0.0), ulp)
    with np.errstate(all="ignore"):
        err = np.abs((y.astype(np.longdouble) - ref) / ulp.astype(np.longdouble)).astype(np.float64)
    same = (y == r) | (np.isnan(y) & np.isnan(r))
    bad_special = ~np.isfinite(r) & ~same
    return np.where(same, 0.0, np.where(bad_special, np.inf, err))


F64_MATH = ["exp", "log", "log1p", "expm1", "tanh", "sigmoid", "softplus"]


@pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63, reason="needs x87 long double as the oracle")
@pytest.mark.parametrize("simd", SIMD)
@pytest.mark.parametrize("name", F64_MATH)
def test_float64_math_within_4_ulp(name, simd):
    fg.set_simd(simd)
    rng = np.random.default_rng(abs(hash(name)) % 1000)
    bits = rng.integers(0, 2 ** 63, 200_000, dtype=np.uint64) | (
        rng.integers(0, 2, 200_000, dtype=np.uint64) << np.uint64(63))
    x = bits.view(np.float64)
    x = x[np.isfinite(x)]
    special = np.array([0.0, -0.0, 5e-324, -5e-324, 1e-310, 2.2250738585072014e-308, 1.0, -1.0,
                        709.78, 709.79, -745.13, -745.14, -708.4, 0.5, 1e-8, -1e-8, 19.0, 20.0,
                        -0.999999, np.inf, -np.inf, np.nan])
    x = np.concatenate([x, special, rng.standard_normal(100_000) * 4, rng.uniform(-750, 750, 50_000)])
    if name == "log":
        x = np.abs(x)
    if name == "log1p":
        x = np.where(x < -1, -x, x)
    y = K.unary(K.U[name], x, *((1.0, math.inf) if name == "softplus" else ()))
    err = _ulp64(y, _ld_ref(name, x))
    worst = int(np.argmax(err))
    assert err[worst] <= 4.0, (f"{name} [{simd}]: {err[worst]:.2f} ulp at x={x[worst]!r}: "
                               f"got {y[worst]!r}, want {_ld_ref(name, x[worst:worst + 1])[0]!r}")
