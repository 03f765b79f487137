import numpy as np
import pytest

import fastgrad as fg


def as_view(a):
    """Keep a non-contiguous array non-contiguous (with gaps) after a dtype change."""
    if a.flags.c_contiguous or a.ndim == 0:
        return a
    buf = np.zeros(a.shape + (2,), dtype=a.dtype)
    buf[..., 0] = a
    return buf[..., 0]


def materialize(sample, dtype, requires_grad):
    """Sample args -> op args: float arrays to `dtype` tensors (views stay views)."""
    args = []
    for a in sample.args:
        if isinstance(a, np.ndarray):
            if a.dtype.kind == "f":
                arr = as_view(a.astype(dtype)) if not a.flags.c_contiguous else a.astype(dtype)
                t = fg.from_numpy(arr)
                if requires_grad:
                    t.requires_grad_(True)
                args.append(t)
            else:
                args.append(fg.from_numpy(a.astype(np.int64) if a.dtype.kind in "iu" else a))
        else:
            args.append(a)
    return args


def ref_args(sample):
    return [a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
            for a in sample.args]


def assert_close(actual, expected, rtol, atol, what=""):
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual.astype(np.float64), expected.astype(np.float64),
                               rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


@pytest.fixture(autouse=True)
def _restore_global_state():
    threads, simd, backend = fg.get_num_threads(), fg.get_simd(), fg.get_backend()
    yield
    fg.set_num_threads(threads)
    fg.set_simd(simd)
    fg.set_backend(backend)
