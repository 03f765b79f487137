"""Forward+backward of programs whose gradients come from views of slabs of a tensor
(split, chunk, basic indexing), fastgrad vs PyTorch at 1 thread, float32: medians of
interleaved rounds of CPU time (time.process_time, which counts the page faults of fresh
gradient buffers too).

    PYTHONPATH=src python benchmarks/slab_grad_report.py [--rounds 7]

Cases: nanoGPT's attention input, a (2048, 192) activation split into q, k, v; a
hand-written tanh recurrence reading x[:, t] for 64 time steps (batch 32, width 128);
LSTM gates written by hand, a (32, 1024) activation cut with chunk(4).  Then, in a
fresh process that imports only fastgrad, the eager training step of fastgrad.charlm's
tiny transformer (the ``seq`` suite's, whose attention input is split into q, k, v):
its CPU time and the page faults it takes per step.
"""
import argparse
import statistics
import subprocess
import sys
import time

import numpy as np


def _qkv(lib, rng):
    a = lib.tensor(rng.standard_normal((2048, 192)).astype(np.float32), requires_grad=True)

    def run():
        q, k, v = (a * 1.0).split(64, dim=1)
        (q * k + v).sum().backward()
    return run


def _rnn_loop(lib, rng):
    x = lib.tensor(rng.standard_normal((32, 64, 128)).astype(np.float32), requires_grad=True)
    w = lib.tensor((rng.standard_normal((128, 128)) * 0.1).astype(np.float32),
                   requires_grad=True)

    def run():
        h = lib.zeros(32, 128)
        for t in range(64):
            h = (x[:, t] + h @ w).tanh()
        h.sum().backward()
    return run


def _gates(lib, rng):
    g = lib.tensor(rng.standard_normal((32, 1024)).astype(np.float32), requires_grad=True)

    def run():
        i, f, c, o = (g * 1.0).chunk(4, dim=1)
        (i.sigmoid() * c.tanh() + f.sigmoid() * o.sigmoid()).sum().backward()
    return run


CASES = [("split of a 2048x192 activation into q, k, v", _qkv),
         ("recurrence over x[:, t], B32 T64 H128", _rnn_loop),
         ("LSTM gates by chunk(4), 32x1024", _gates)]


def _time(fn, reps):
    t0 = time.process_time()
    for _ in range(reps):
        fn()
    return (time.process_time() - t0) / reps


_LM_STEP = """
import resource, statistics, time
import fastgrad as fg
from fastgrad.bench import seq
fg.set_num_threads(1)
step = seq.fastgrad_lm_step("transformer", 64, 64)
for _ in range(10):
    step()
ts = []
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(15):
    t0 = time.process_time(); step(); step(); ts.append((time.process_time() - t0) / 2)
f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(f"charlm transformer step (eager, fastgrad only): {statistics.median(ts) * 1e3:.2f} ms, "
      f"{(f1 - f0) / 30:.0f} page faults per step")
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    import fastgrad as fg
    libs = [("fastgrad", fg)]
    fg.set_num_threads(1)
    try:
        import torch
        torch.set_num_threads(1)
        libs.append(("torch", torch))
    except ImportError:
        pass
    print(f"{'case':<48}" + "".join(f"{n + ' us':>14}" for n, _ in libs)
          + ("   fastgrad/torch" if len(libs) > 1 else ""))
    for name, make in CASES:
        fns = [make(lib, np.random.default_rng(0)) for _, lib in libs]
        for f in fns:
            f()
        reps = max(1, int(0.05 / max(_time(fns[0], 1), 1e-6)))
        ts = [[] for _ in fns]
        for _ in range(args.rounds):
            for k, f in enumerate(fns):
                ts[k].append(_time(f, reps))
        med = [statistics.median(t) * 1e6 for t in ts]
        line = f"{name:<48}" + "".join(f"{m:>14.1f}" for m in med)
        if len(med) > 1:
            line += f"{med[0] / med[1]:>17.2f}"
        print(line, flush=True)
    print(subprocess.run([sys.executable, "-c", _LM_STEP], capture_output=True, text=True,
                         check=True).stdout.strip())


if __name__ == "__main__":
    main()
