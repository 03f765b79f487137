"""Products with one to four rows (one sample or a small batch through a linear layer),
fastgrad's GEMM call against numpy.matmul, both at 1 thread, as x @ W^T (W stored
out x in) and x @ B (B stored in x out): best of 5 x 3 repeats, microseconds.

    PYTHONPATH=src python benchmarks/few_rows_report.py

The ratio is NumPy's time over fastgrad's (above 1: fastgrad is faster).  NumPy's
OpenBLAS is held to one thread with threadpoolctl when it is installed.
"""
import timeit

import numpy as np

import fastgrad as fg
from fastgrad._C import _kernels as K

SHAPES = [(1, 64, 64), (1, 128, 128), (1, 784, 128), (2, 784, 128), (4, 256, 256), (2, 64, 64),
          (3, 512, 512), (4, 784, 128), (1, 4096, 1024), (4, 1024, 1024)]


def _best(f, number=2000):
    return min(timeit.repeat(f, number=number, repeat=5)) / number * 1e6


def main():
    fg.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:
        print("threadpoolctl is not installed: NumPy may use more than one thread")
    rng = np.random.default_rng(0)
    print(f"{'m x k x n':>16} {'layout':>7} {'fastgrad us':>12} {'numpy us':>9} {'ratio':>6}")
    for m, k, n in SHAPES:
        a = rng.standard_normal((m, k)).astype(np.float32)
        w = rng.standard_normal((n, k)).astype(np.float32)
        number = max(20, int(2e6 / (m * k * n + 1e4)))
        for layout, b in (("x@W^T", w.T), ("x@B", np.ascontiguousarray(w.T))):
            tf = _best(lambda: K.mm2d(a, b), number)
            tn = _best(lambda: np.matmul(a, b), number)
            print(f"{m:>4} x {k:>4} x {n:>4} {layout:>7} {tf:>12.2f} {tn:>9.2f} {tn / tf:>6.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
