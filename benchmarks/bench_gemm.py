"""pytest-benchmark: fastgrad's GEMM vs numpy.matmul on the suite's shapes.

    pytest benchmarks/bench_gemm.py --benchmark-group-by=group
"""
import numpy as np
import pytest

import fastgrad as fg
from fastgrad._C import _kernels as K
from gemm_workloads import SHAPES, operands


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("impl", ["fastgrad", "numpy"])
@pytest.mark.parametrize("shape", SHAPES[:-1], ids=lambda s: f"{s[0]}x{s[1]}x{s[2]}{s[3]}")
def test_gemm(benchmark, shape, impl, dtype, threads):
    m, k, n, layout = shape
    a, b = operands(m, k, n, layout, dtype)
    benchmark.group = f"{m}x{k}x{n} {layout} {np.dtype(dtype).name} t{threads}"
    if impl == "fastgrad":
        fg.set_num_threads(threads)
        benchmark(K.matmul, a, b)
    else:
        threadpoolctl = pytest.importorskip("threadpoolctl")
        with threadpoolctl.threadpool_limits(threads):
            benchmark(np.matmul, a, b)


def _linear_step(fused, x, w, b):
    import fastgrad.nn.functional as F
    w.grad = b.grad = None
    if fused:
        y = F.linear(x, w, b, activation="relu")
    else:
        y = fg.relu(fg.matmul(x, w.T) + b)
    y.backward(fg.ones_like(y))


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
def test_linear_relu_fwd_bwd_64x784x128(benchmark, fused):
    rng = np.random.default_rng(0)
    x = fg.from_numpy(rng.standard_normal((64, 784)).astype(np.float32))
    w = fg.from_numpy(rng.standard_normal((128, 784)).astype(np.float32) * 0.03).requires_grad_()
    b = fg.zeros(128, requires_grad=True)
    benchmark.group = "linear+relu 64x784x128 fwd+bwd"
    benchmark(_linear_step, fused, x, w, b)
