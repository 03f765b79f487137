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


def backward_weighted(t_outs, f_outs, rng, dtype=None):
    """Backward through PyTorch's outputs t_outs and fastgrad's f_outs under one random
    weighting: loss = sum of (output * w).sum(), w standard normal of each output's shape
    (cast to dtype when given), the same w on both sides."""
    import torch
    ws = [rng.standard_normal(tuple(a.shape)) for a in t_outs]
    if dtype is not None:
        ws = [w.astype(dtype) for w in ws]
    sum((a * torch.tensor(w)).sum() for a, w in zip(t_outs, ws)).backward()
    loss = None
    for b, w in zip(f_outs, ws):
        term = (b * fg.tensor(w)).sum()
        loss = term if loss is None else loss + term
    loss.backward()


@pytest.fixture(autouse=True)
def _restore_global_state():
    threads, simd, backend = fg.get_num_threads(), fg.get_simd(), fg.get_backend()
    yield
    fg.set_num_threads(threads)
    fg.set_simd(simd)
    fg.set_backend(backend)
