"""Tensor construction, conversion, metadata and printing."""
import numpy as np
import pytest

import fastgrad as fg


def test_dtype_inference_and_factories():
    assert fg.tensor([1.0, 2.0]).dtype == fg.float32
    assert fg.tensor([1, 2]).dtype == fg.int64
    assert fg.tensor([True]).dtype == fg.bool
    assert fg.tensor(np.zeros(2)).dtype == fg.float64
    assert fg.zeros(2, 3).shape == (2, 3) and fg.ones((2,)).dtype == fg.float32
    assert fg.full((2,), 7).dtype == fg.int64
    assert fg.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert fg.arange(0, 1, 0.25).dtype == fg.float32
    np.testing.assert_allclose(fg.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])
    assert fg.eye(3).numpy().trace() == 3
    assert fg.zeros_like(fg.ones(2, dtype=fg.float64)).dtype == fg.float64
    with pytest.raises(TypeError, match="unsupported dtype complex128"):
        fg.tensor(np.zeros(2, complex))
    with pytest.raises(ValueError, match="negative dimension"):
        fg.zeros(2, -1)


def test_manual_seed_reproducible():
    fg.manual_seed(123)
    a = fg.randn(4).numpy().copy(), fg.rand(2).numpy().copy(), fg.randint(0, 10, (3,)).numpy().copy()
    fg.manual_seed(123)
    b = fg.randn(4).numpy(), fg.rand(2).numpy(), fg.randint(0, 10, (3,)).numpy()
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert fg.randn(3).dtype == fg.float32


def test_from_numpy_and_numpy_are_zero_copy():
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = fg.from_numpy(arr)
    arr[0, 0] = 42
    assert t[0, 0].item() == 42
    assert np.shares_memory(t.numpy(), arr)
    assert np.shares_memory(np.asarray(t), arr)
    with pytest.raises(TypeError, match="from_numpy: unsupported dtype uint16"):
        fg.from_numpy(np.zeros(2, np.uint16))


def test_item_tolist_metadata_repr():
    t = fg.tensor([[1.0, 2.0]], requires_grad=True)
    assert t.shape == (1, 2) and t.ndim == 2 and t.numel() == 2 and t.T.shape == (2, 1)
    assert t.sum().item() == 3.0
    assert t.tolist() == [[1.0, 2.0]]
    assert "requires_grad=True" in repr(t)
    assert "grad_fn=<MulBackward>" in repr(t * 2)
    assert "dtype=fastgrad.float64" in repr(fg.zeros(1, dtype=fg.float64))
    with pytest.raises(ValueError, match="only one-element tensors"):
        t.item()


def test_views_and_shape_ops_share_memory():
    x = fg.arange(12).float().reshape(3, 4)
    assert np.shares_memory(x.transpose(0, 1).numpy(), x.numpy())
    assert x.permute(1, 0).shape == (4, 3)
    assert x.unsqueeze(0).squeeze(0).shape == (3, 4)
    assert x.flatten().shape == (12,)
    assert fg.cat([x, x], dim=1).shape == (3, 8)
    assert fg.stack([x, x]).shape == (2, 3, 4)
    assert x.expand(2, 3, 4).shape == (2, 3, 4)


def test_max_min_return_values_and_indices():
    x = fg.tensor([[1.0, 5.0, 3.0], [7.0, 0.0, 2.0]])
    v, i = fg.max(x, dim=1)
    assert v.tolist() == [5.0, 7.0] and i.tolist() == [1, 0]
    assert fg.min(x).item() == 0.0
    assert x.argmax().item() == 3 and x.argmin(dim=0).tolist() == [0, 1, 1]


def test_threads_and_simd_controls():
    n = fg.get_num_threads()
    fg.set_num_threads(1)
    assert fg.get_num_threads() == 1
    fg.set_num_threads(n)
    with pytest.raises(ValueError):
        fg.set_num_threads(0)
    assert "scalar" in fg.available_simd()
    with pytest.raises(ValueError, match="unknown SIMD path"):
        fg.set_simd("sse9")


def test_show_config_prints_build_facts(capsys):
    fg.show_config()
    out = capsys.readouterr().out
    for key in ("fastgrad", "openmp", "simd", "threads", "compiler"):
        assert key in out


def test_default_threads_respect_omp_num_threads():
    import subprocess
    import sys
    import os
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", "import fastgrad; print(fastgrad.get_num_threads())"],
                       env=env, capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "1"


def test_forced_simd_by_environment():
    import subprocess
    import sys
    import os
    env = dict(os.environ, FASTGRAD_SIMD="scalar")
    r = subprocess.run([sys.executable, "-c", "import fastgrad; print(fastgrad.get_simd())"],
                       env=env, capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "scalar"
