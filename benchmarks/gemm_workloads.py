"""GEMM shapes of the benchmark suite (m, k, n, layout): layout NN, TN (A stored k x m,
as in the weight gradient x^T @ g) or NT (B stored n x k, as in g @ W^T)."""
import numpy as np

SHAPES = [
    (32, 784, 128, "NN"), (64, 784, 128, "NN"), (128, 784, 128, "NN"),
    (784, 64, 128, "TN"), (64, 128, 784, "NT"), (256, 784, 512, "NN"),
    (128, 128, 128, "NN"), (256, 256, 256, "NN"), (512, 512, 512, "NN"),
    (1024, 1024, 1024, "NN"), (2048, 2048, 2048, "NN"),
]
SMALL_NETWORK = SHAPES[:6]


def operands(m, k, n, layout, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, m)).astype(dtype).T if layout == "TN" else rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((n, k)).astype(dtype).T if layout == "NT" else rng.standard_normal((k, n)).astype(dtype)
    return a, b
