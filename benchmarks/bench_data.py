"""DataLoader throughput: 60000x784 float32 TensorDataset, batch 64, shuffled.

    python benchmarks/bench_data.py [--reps 7] [--n 60000]       # report: medians and ratios
    pytest benchmarks/bench_data.py                               # pytest-benchmark, one epoch each

Baselines, timed interleaved in the same process: a plain NumPy loop (one permutation
per epoch, then ``X[idx], y[idx]`` per batch: the floor any loader can reach), and
``torch.utils.data.DataLoader`` over a torch TensorDataset when torch is installed.
"""
import argparse
import statistics
import time

import numpy as np
import pytest

import fastgrad as fg
from fastgrad.data import DataLoader, Generator, TensorDataset

N, D, BS = 60000, 784, 64


def make_data(n=N, d=D):
    rng = np.random.default_rng(0)
    return rng.random((n, d), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


def fastgrad_epoch(X, y, bs=BS):
    loader = DataLoader(TensorDataset(fg.from_numpy(X), fg.from_numpy(y)), batch_size=bs, shuffle=True,
                        generator=Generator().manual_seed(0))

    def run():
        k = 0
        for xb, yb in loader:
            k += 1
        return k
    return run


def numpy_epoch(X, y, bs=BS):
    rng = np.random.default_rng(0)

    def run():
        perm = rng.permutation(len(X))
        k = 0
        for s in range(0, len(X), bs):
            idx = perm[s:s + bs]
            X[idx], y[idx]
            k += 1
        return k
    return run


def torch_epoch(X, y, bs=BS):
    import torch
    from torch.utils.data import DataLoader as TDL
    from torch.utils.data import TensorDataset as TTD
    torch.set_num_threads(1)
    loader = TDL(TTD(torch.from_numpy(X), torch.from_numpy(y)), batch_size=bs, shuffle=True,
                 generator=torch.Generator().manual_seed(0))

    def run():
        k = 0
        for xb, yb in loader:
            k += 1
        return k
    return run


# ---- pytest-benchmark ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data():
    return make_data()


@pytest.mark.parametrize("impl", ["fastgrad", "numpy", "torch"])
def test_epoch_mnist_shape(benchmark, data, impl):
    benchmark.group = f"DataLoader epoch {N}x{D} batch {BS} shuffled"
    if impl == "torch":
        pytest.importorskip("torch")
    fn = {"fastgrad": fastgrad_epoch, "numpy": numpy_epoch, "torch": torch_epoch}[impl](*data)
    benchmark.pedantic(fn, rounds=3, iterations=1)


# ---- report ----------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--n", type=int, default=N)
    ap.add_argument("--bs", type=int, default=BS)
    ap.add_argument("--no-torch", action="store_true")
    a = ap.parse_args()
    X, y = make_data(a.n)
    impls = {"fastgrad": fastgrad_epoch(X, y, a.bs), "numpy loop": numpy_epoch(X, y, a.bs)}
    if not a.no_torch:
        try:
            impls["torch DataLoader"] = torch_epoch(X, y, a.bs)
        except ImportError:
            pass
    nb = -(-a.n // a.bs)
    samples = {k: [] for k in impls}
    for f in impls.values():                 # warm up
        f()
    for _ in range(a.reps):                  # interleaved, so machine drift hits all alike
        for k, f in impls.items():
            t0 = time.perf_counter()
            assert f() == nb
            samples[k].append((time.perf_counter() - t0) / nb)
    med = {k: statistics.median(v) for k, v in samples.items()}
    print(f"DataLoader over a {a.n}x{D} float32 TensorDataset, batch {a.bs}, shuffled "
          f"({nb} batches/epoch, median of {a.reps} epochs)")
    base = med["numpy loop"]
    for k, v in med.items():
        print(f"  {k:18s} {v * 1e6:9.2f} us/batch   {v / base:6.2f}x the NumPy loop")
    if "torch DataLoader" in med:
        print(f"  fastgrad is {med['torch DataLoader'] / med['fastgrad']:.1f}x faster than torch's DataLoader")


if __name__ == "__main__":
    main()
