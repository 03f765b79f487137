"""Products with one to four rows (one sample or a small batch through a linear layer),
fastgrad's GEMM call against numpy.matmul, both at 1 thread, as x @ W^T (W stored
out x in) and x @ B (B stored in x out): medians of interleaved runs (the calls take
turns, `number` calls at a time, 15 rounds), microseconds.

    PYTHONPATH=src python benchmarks/few_rows_report.py
    PYTHONPATH=src python benchmarks/few_rows_report.py --baseline /path/to/other/_kernels.so

The ratio is NumPy's time over fastgrad's (above 1: fastgrad is faster).  --baseline
loads a second build of fastgrad's extension module (another checkout's
src/fastgrad/_C/_kernels*.so) into the same process and times it in the same rounds:
its column and the speedup (its time over this build's).  NumPy's OpenBLAS is held to
one thread with threadpoolctl when it is installed.
"""
import argparse
import importlib.machinery
import importlib.util
import statistics
import time

import numpy as np

import fastgrad as fg
from fastgrad._C import _kernels as K

SHAPES = [(1, 64, 64), (1, 128, 128), (1, 784, 128), (2, 784, 128), (4, 256, 256), (2, 64, 64),
          (3, 512, 512), (4, 784, 128), (1, 4096, 1024), (4, 1024, 1024)]


def _load_build(path):
    """Another build of the extension module, loaded under a name of its own."""
    name = "fastgrad_baseline._kernels"
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def _interleaved(fns, number, rounds=15):
    """Median microseconds per call of each fn, the fns taking turns `number` calls at a time."""
    clock = time.perf_counter
    samples = [[] for _ in fns]
    for f in fns:
        f()
    for _ in range(rounds):
        for f, s in zip(fns, samples):
            t0 = clock()
            for _ in range(number):
                f()
            s.append((clock() - t0) / number * 1e6)
    return [statistics.median(s) for s in samples]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", help="path of another build's _kernels extension module")
    args = ap.parse_args()
    fg.set_num_threads(1)
    base = None
    if args.baseline:
        base = _load_build(args.baseline)
        base.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(1)
    except ImportError:
        print("threadpoolctl is not installed: NumPy may use more than one thread")
    rng = np.random.default_rng(0)
    head = f"{'m x k x n':>16} {'layout':>7} {'fastgrad us':>12} {'numpy us':>9} {'ratio':>6}"
    print(head + (f" {'baseline us':>12} {'speedup':>8}" if base else ""))
    for m, k, n in SHAPES:
        a = rng.standard_normal((m, k)).astype(np.float32)
        w = rng.standard_normal((n, k)).astype(np.float32)
        number = max(20, int(2e6 / (m * k * n + 1e4)))
        for layout, b in (("x@W^T", w.T), ("x@B", np.ascontiguousarray(w.T))):
            fns = [lambda: K.mm2d(a, b), lambda: np.matmul(a, b)]
            if base:
                fns.append(lambda: base.mm2d(a, b))
            t = _interleaved(fns, number)
            line = f"{m:>4} x {k:>4} x {n:>4} {layout:>7} {t[0]:>12.2f} {t[1]:>9.2f} {t[1] / t[0]:>6.2f}"
            if base:
                line += f" {t[2]:>12.2f} {t[2] / t[0]:>8.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
