"""Gradient accumulation: a 784-512-512-10 ReLU MLP, batch 64, 4 micro-batches
(backward() calls) per SGD step, in float32.  fastgrad with the linear backward adding
each weight gradient straight into the existing .grad (the GEMM's beta=1 epilogue,
autograd.engine.accum_target) against the same code with that path switched off
(engine._ACCUM_INTO = False: a new weight-sized array per micro-batch, added into .grad
afterwards), and against PyTorch doing the same step if it is installed.

    python benchmarks/bench_accumulate.py [--threads 1,2] [--reps 21] [--micro 4] [--clock cpu]

Two ways to clear the gradients before each step: zero_grad() (set_to_none, the default:
the first micro-batch's gradients are adopted as .grad, the other three accumulate) and
zero_grad(set_to_none=False) (all four accumulate).  All implementations are timed
interleaved in one process (the order rotating every rep); medians per step and ratios
are printed.  --clock cpu times process CPU time instead of wall time: steadier on a
shared machine at one thread (at two it also counts the OpenMP workers' spinning).
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fastgrad as fg
from fastgrad import nn, optim
from fastgrad.autograd import engine as E
from fastgrad.nn import functional as F
from fastgrad.bench.harness import interleaved, set_threads

SIZES = (784, 512, 512, 10)
BATCH = 64


def data(micro, seed=0):
    r = np.random.default_rng(seed)
    xs = [r.standard_normal((BATCH, SIZES[0])).astype(np.float32) for _ in range(micro)]
    ys = [r.integers(0, SIZES[-1], BATCH) for _ in range(micro)]
    Ws = [(r.standard_normal((b, a)) / np.sqrt(a)).astype(np.float32)
          for a, b in zip(SIZES, SIZES[1:])]
    return xs, ys, Ws


def fastgrad_step(micro, in_place, set_to_none):
    xs, ys, Ws = data(micro)
    layers = []
    for W in Ws:
        lin = nn.Linear(W.shape[1], W.shape[0])
        lin.load_state_dict({"weight": W, "bias": np.zeros(W.shape[0], np.float32)})
        layers += [lin, nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    opt = optim.SGD(model.parameters(), lr=0.01)
    X = [fg.tensor(x) for x in xs]
    Y = [fg.tensor(y) for y in ys]

    def step():
        prev = E._ACCUM_INTO
        E._ACCUM_INTO = in_place
        try:
            opt.zero_grad(set_to_none=set_to_none)
            for x, y in zip(X, Y):
                F.cross_entropy(model(x), y).backward()
            opt.step()
        finally:
            E._ACCUM_INTO = prev
    return step, model


def torch_step(micro, set_to_none):
    import torch
    xs, ys, Ws = data(micro)
    layers = []
    for W in Ws:
        lin = torch.nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.zero_()
        layers += [lin, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    X = [torch.from_numpy(x) for x in xs]
    Y = [torch.from_numpy(y) for y in ys]

    def step():
        opt.zero_grad(set_to_none=set_to_none)
        for x, y in zip(X, Y):
            torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def kernel_rows(reps, inner, clock):
    """The weight-gradient product alone, per layer shape of the MLP: one accumulating
    GEMM (.grad += g^T x, beta=1) against a new product then NumPy's in-place add (what
    the engine does with the path off).  Median microseconds and their ratio."""
    from fastgrad._C import _kernels as k
    r = np.random.default_rng(1)
    rows = []
    for a, b in zip(SIZES, SIZES[1:]):
        g = r.standard_normal((BATCH, b)).astype(np.float32)
        x = r.standard_normal((BATCH, a)).astype(np.float32)
        acc = np.zeros((b, a), np.float32)

        def in_place():
            k.matmul(g.T, x, out=acc, beta=1.0)

        def off():
            np.add(acc, k.matmul(g.T, x), out=acc)
        t_in, t_off = interleaved([in_place, off], reps, inner, clock)
        rows.append(f"{b}x{a}: in_place {t_in * 1e6:.0f} us  off {t_off * 1e6:.0f} us  "
                    f"in_place/off {t_in / t_off:.3f}")
    return rows


def check_same(micro):
    """The two fastgrad paths give the same parameters after a few steps (to rounding)."""
    s1, m1 = fastgrad_step(micro, True, False)
    s2, m2 = fastgrad_step(micro, False, False)
    for _ in range(3):
        s1()
        s2()
    for a, b in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(a._data, b._data, rtol=1e-5, atol=1e-6)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", default="1,2")
    p.add_argument("--reps", type=int, default=21)
    p.add_argument("--inner", type=int, default=3)
    p.add_argument("--micro", type=int, default=4)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    a = p.parse_args(argv)
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    check_same(a.micro)
    clock = time.perf_counter if a.clock == "wall" else time.process_time
    print(f"MLP {'-'.join(map(str, SIZES))}, batch {BATCH}, {a.micro} micro-batches per SGD "
          f"step, float32; median {a.clock} ms per step, interleaved; in_place/off < 1 is "
          "faster")
    for th in (int(t) for t in a.threads.split(",")):
        set_threads(th)
        for row in kernel_rows(a.reps, 5, clock):
            print(f"threads {th}  weight gradient {row}")
        for stn in (True, False):
            fns = {"in_place": fastgrad_step(a.micro, True, stn)[0],
                   "off": fastgrad_step(a.micro, False, stn)[0]}
            if have_torch:
                fns["torch"] = torch_step(a.micro, stn)
            med = dict(zip(fns, interleaved(list(fns.values()), a.reps, a.inner, clock)))
            line = "  ".join(f"{k} {v * 1e3:7.3f}" for k, v in med.items())
            line += f"   in_place/off {med['in_place'] / med['off']:.3f}"
            if have_torch:
                line += (f"  in_place/torch {med['in_place'] / med['torch']:.3f}"
                         f"  off/torch {med['off'] / med['torch']:.3f}")
            how = "zero_grad()                  " if stn else "zero_grad(set_to_none=False)"
            print(f"threads {th}  {how}  {line}")


if __name__ == "__main__":
    main()
