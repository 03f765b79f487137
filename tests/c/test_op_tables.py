"""The op tables of csrc/ops/ as seen from Python, and the hypot row of binary.def run
through the binary kernel on every SIMD path this CPU has."""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad._C import _kernels as K


def test_tables_are_dense_and_named():
    for table, names in ((K.U, K.U_NAMES), (K.B, K.B_NAMES), (K.CMP, K.CMP_NAMES)):
        assert sorted(table.values()) == list(range(len(table)))
        assert names == {v: k for k, v in table.items()}
    assert sorted(K.R.values()) == list(range(len(K.R)))
    assert K.B["add"] == 0 and K.B["mul"] == 2          # the ids _ops uses as literals
    assert list(K.CMP) == ["eq", "ne", "lt", "le", "gt", "ge"]
    assert list(K.R) == ["sum", "mean", "max", "min", "logsumexp"]
    assert K.SCAN == {"cumsum": 0, "cumprod": 1}
    assert K.POOL == {"max": 0, "avg": 1, "adaptive_avg": 2}
    assert K.ACT == {None: 0, "none": 0, "relu": 1, "gelu": 2, "tanh": 3, "sigmoid": 4}


def test_unary_uses_y():
    assert K.UNARY_USES_Y == frozenset(K.U[n] for n in ("exp", "sqrt", "rsqrt", "tanh", "sigmoid"))
    # the backward of such an op reads y only: x may be absent
    y = np.exp(np.linspace(-1, 1, 7))
    g = np.ones_like(y)
    np.testing.assert_array_equal(K.unary_bwd(K.U["exp"], g, None, y), y)


def _hypot_cases(dtype):
    rng = np.random.default_rng(7)
    info = np.finfo(dtype)
    special = np.array([0.0, -0.0, 1.0, -3.0, np.inf, -np.inf, np.nan, info.max, -info.max,
                        info.max / 2, info.tiny, info.tiny / 4, info.smallest_subnormal,
                        1e-30, 1e30], dtype=dtype)
    a = np.concatenate([rng.standard_normal(1000).astype(dtype) * dtype(10.0) ** rng.integers(
        -30 if dtype == np.float32 else -300, 30 if dtype == np.float32 else 300, 1000).astype(dtype),
        np.repeat(special, special.size)])
    b = np.concatenate([rng.standard_normal(1000).astype(dtype) * dtype(1e3),
                        np.tile(special, special.size)])
    return a, b


@pytest.mark.parametrize("simd", fg.available_simd())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hypot_kernel(simd, dtype):
    prev = fg.get_simd()
    fg.set_simd(simd)
    try:
        a, b = _hypot_cases(dtype)
        with np.errstate(all="ignore"):
            want = np.hypot(a, b)
            got = K.binary(K.B["hypot"], a, b)
            assert got.dtype == dtype
            # huge and tiny operands neither overflow nor flush to zero
            np.testing.assert_array_max_ulp(got, want, maxulp=1)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            # broadcast rows and a scalar side take the kernel's other loops
            m = a[:1000].reshape(40, 25)
            np.testing.assert_array_max_ulp(K.binary(K.B["hypot"], m, b[:25]),
                                            np.hypot(m, b[:25]), maxulp=1)
            np.testing.assert_array_max_ulp(K.binary(K.B["hypot"], b[:1].reshape(1, 1), m),
                                            np.hypot(b[:1].reshape(1, 1), m), maxulp=1)
            np.testing.assert_array_max_ulp(K.binary(K.B["hypot"], m.T, m[:, :1].T),
                                            np.hypot(m.T, m[:, :1].T), maxulp=1)
    finally:
        fg.set_simd(prev)
