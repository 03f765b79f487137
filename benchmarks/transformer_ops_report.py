"""Forward+backward of the elementwise and normalisation ops a small transformer spends its
non-GEMM time in, fastgrad vs PyTorch eager on the same float32 data, 1 thread, timed
interleaved in one process (medians of process CPU time): layer norm over the last dim
(with weight and bias), x ** 3 (makemore's and GPT-2's tanh GELU), tanh, erf-based GELU.

    python benchmarks/transformer_ops_report.py [--reps 15]

Prints fastgrad's time, PyTorch's, and the ratio fastgrad / PyTorch (below 1: fastgrad is
faster).  Needs torch.
"""
import argparse
import time

import numpy as np

from fastgrad.bench.harness import interleaved, set_threads

SHAPES = [(32, 16, 64), (512, 64), (64, 64, 128)]


def _cases(lib, shape, rng):
    """(name, closure running forward and backward) for one library."""
    x0 = rng.standard_normal(shape).astype(np.float32)
    x = lib.tensor(x0, requires_grad=True)
    g = lib.tensor(rng.standard_normal(shape).astype(np.float32))
    ln = lib.nn.LayerNorm(shape[-1])
    gelu = lib.nn.GELU()
    return [("layer_norm", lambda: ln(x).backward(g)),
            ("x ** 3", lambda: (x ** 3).backward(g)),
            ("tanh", lambda: lib.tanh(x).backward(g)),
            ("gelu (erf)", lambda: gelu(x).backward(g))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    import torch

    import fastgrad as fg
    set_threads(1)
    print("forward+backward, float32, 1 thread, process CPU time, medians")
    print(f"{'op':>12} {'shape':>14} {'fastgrad us':>12} {'torch us':>10} {'ratio':>6}")
    for shape in SHAPES:
        ours = _cases(fg, shape, np.random.default_rng(0))
        theirs = _cases(torch, shape, np.random.default_rng(0))
        for (name, f), (_, t) in zip(ours, theirs):
            tf, tt = interleaved([f, t], args.reps, inner=20, clock=time.process_time)
            print(f"{name:>12} {str(shape):>14} {tf * 1e6:12.1f} {tt * 1e6:10.1f} {tf / tt:6.2f}")


if __name__ == "__main__":
    main()
