"""Scaled dot-product attention benchmarks: forward + backward of
F.scaled_dot_product_attention (fastgrad's fused kernel) against PyTorch's
scaled_dot_product_attention in the same process, float32, L = S = 64 .. 2048.

    pytest benchmarks/bench_attention.py --benchmark-group-by=group
    python benchmarks/bench_attention.py [--clock wall|cpu] [--reps N] [--causal]

The script form prints a table of interleaved medians (fastgrad.bench.harness) at 1 and 2
threads and the ratio fastgrad / torch (below 1: fastgrad is faster).  On a busy machine
`--clock cpu` times the process's CPU time instead of the wall clock.
"""
import argparse
import os
import sys
import time

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# (B, H, L, E): batch 1..4, 4 heads, head size 32 or 64
CASES = [(4, 4, 64, 32), (4, 4, 128, 32), (2, 4, 256, 64), (2, 4, 512, 64), (1, 4, 1024, 64),
         (1, 4, 2048, 64)]


def _data(case, seed=0):
    rng = np.random.default_rng(seed)
    B, H, L, E = case
    return [rng.standard_normal((B, H, L, E)).astype(np.float32) for _ in range(4)]


def fastgrad_sdpa(case, causal=False):
    import fastgrad as fg
    import fastgrad.nn.functional as F
    q, k, v, g = _data(case)
    q, k, v = (fg.tensor(a, requires_grad=True) for a in (q, k, v))
    g = fg.tensor(g)

    def run():
        for t in (q, k, v):
            t.grad = None
        F.scaled_dot_product_attention(q, k, v, is_causal=causal).backward(g)
    return run


def torch_sdpa(case, causal=False):
    import torch
    q, k, v, g = _data(case)
    q, k, v = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    g = torch.tensor(g)

    def run():
        for t in (q, k, v):
            t.grad = None
        torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal).backward(g)
    return run


FRAMEWORKS = {"fastgrad": fastgrad_sdpa, "torch": torch_sdpa}


def _set_threads(n):
    from fastgrad.bench.harness import set_threads      # fastgrad, BLAS and torch alike
    set_threads(n)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "B{}H{}L{}E{}".format(*c))
@pytest.mark.parametrize("fw", sorted(FRAMEWORKS))
def test_sdpa_fwd_bwd(benchmark, fw, case, threads):
    if fw == "torch":
        pytest.importorskip("torch")
    _set_threads(threads)
    benchmark.group = "sdpa B{}H{}L{}E{} t{}".format(*case, threads)
    benchmark(FRAMEWORKS[fw](case))


def main(argv=None):
    from fastgrad.bench.harness import interleaved
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--causal", action="store_true")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--settle", type=float, default=None,
                   help="seconds to sleep before each timed block (default: 0.15 at 2+ threads, "
                        "so that PyTorch's OpenMP workers, which spin for milliseconds after a "
                        "call, have let the cores go before fastgrad's block, and fastgrad's "
                        "before PyTorch's; 0 at 1 thread)")
    a = p.parse_args(argv)
    clock = time.perf_counter if a.clock == "wall" else time.process_time
    print(f"forward+backward, float32, {'causal' if a.causal else 'no mask'}, "
          f"{a.clock} clock, median of {a.reps}")
    print(f"{'threads':>7} {'B':>2} {'H':>2} {'L':>5} {'E':>3} {'fastgrad ms':>12} "
          f"{'torch ms':>10} {'ratio':>6}")
    for n in a.threads:
        _set_threads(n)
        for case in CASES:
            fns = [fastgrad_sdpa(case, a.causal), torch_sdpa(case, a.causal)]
            reps = a.reps if case[2] < 1024 else max(3, a.reps // 2)
            inner = 3 if case[2] <= 256 else 1
            settle = a.settle if a.settle is not None else (0.15 if n > 1 else 0.0)
            tf, tt = interleaved(fns, reps, inner=inner, clock=clock, settle=settle)
            print(f"{n:>7} {case[0]:>2} {case[1]:>2} {case[2]:>5} {case[3]:>3} {tf * 1e3:>12.2f} "
                  f"{tt * 1e3:>10.2f} {tf / tt:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
