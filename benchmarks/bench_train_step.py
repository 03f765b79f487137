"""Compiled training steps (fastgrad.compile) vs eager fastgrad vs PyTorch eager vs
hand-written NumPy, on the MLP steps of fastgrad.bench.workloads.TRAIN_CONFIGS
(S: batch 32 64-128-10, M: batch 64 784-128-10, L: batch 256 784-512-512-10).

    pytest benchmarks/bench_train_step.py --benchmark-group-by=param:cfg,param:opt
    python benchmarks/bench_train_step.py [--threads 2] [--reps 15]

The script form times all implementations interleaved in one process and prints medians
and ratios (time / PyTorch eager time, and compiled / eager), which is how speed is
quoted: absolute times drift on a shared machine, ratios from one run hold.
"""
import argparse

import pytest

from fastgrad.bench import workloads as W

IMPLS = {"eager": W.fastgrad_train_step, "compiled": W.fastgrad_compiled_train_step,
         "torch": W.torch_train_step, "numpy": W.numpy_train_step}


@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("cfg", sorted(W.TRAIN_CONFIGS))
@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_train_step(benchmark, impl, cfg, opt):
    if impl == "torch":
        pytest.importorskip("torch")
    step = IMPLS[impl](cfg, opt)
    if step is None:
        pytest.skip(f"{impl} has no {opt} step")
    step()                       # the compiled step traces on its first call
    benchmark.group = f"{cfg} {opt}"
    benchmark(step)


def main(argv=None):
    import os
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _timing import interleaved, set_threads
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--configs", default="S,M,L")
    ap.add_argument("--opts", default="sgd,adam")
    a = ap.parse_args(argv)
    set_threads(a.threads)
    print(f"threads {a.threads}; median us per step; ratios from the same interleaved run")
    for cfg in a.configs.split(","):
        for opt in a.opts.split(","):
            steps = {}
            for name, maker in IMPLS.items():
                try:
                    s = maker(cfg, opt)
                except ImportError:
                    s = None
                if s is not None:
                    s()
                    steps[name] = s
            inner = {"S": 200, "M": 40, "L": 4}.get(cfg, 10)
            med = dict(zip(steps, interleaved(list(steps.values()), a.reps, inner)))
            cells = "  ".join(f"{k} {v * 1e6:9.1f}" for k, v in med.items())
            ratios = f"compiled/eager {med['compiled'] / med['eager']:.3f}"
            if "torch" in med:
                ratios += (f"  compiled/torch {med['compiled'] / med['torch']:.3f}"
                           f"  eager/torch {med['eager'] / med['torch']:.3f}")
            if "numpy" in med:
                ratios += f"  compiled/numpy {med['compiled'] / med['numpy']:.3f}"
            print(f"{cfg} {opt:5s} {cells}   {ratios}")


if __name__ == "__main__":
    main()
