"""fastgrad.autograd.functional timings (medians, interleaved in one process), float64.

    python benchmarks/bench_calculus.py [--threads 1] [--reps 15]

1. hessian of a scalar function of a 100-element input (target: <= 20 ms), loop and
   vectorize=True, and the same call in PyTorch when it is installed (ratio = torch time / fastgrad
   time, > 1: fastgrad is faster).
2. hvp of a ~10,000-parameter MLP's cross-entropy loss against one gradient computation
   (forward + backward) of the same loss (target: hvp <= 4x the gradient), at batch 32
   (where the per-op Python cost of the double-backward graph dominates) and batch 256
   (where the arithmetic does), and PyTorch's hvp and vhp against its gradient.
3. jacobian of a 64 -> 64 layer (tanh(W x + b), and fg.linear with a fused tanh) with
   vectorize=True (all 64 one-hot rows
   in one batched walk of the graph) against the per-row loop (target: >= 10x), and
   PyTorch's jacobian(vectorize=True) when installed.
"""
import argparse
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import fastgrad as fg
from fastgrad.autograd import functional as AF
from fastgrad.bench.harness import interleaved, set_threads

try:
    import torch
except ImportError:         # optional: only for the comparison columns
    torch = None


def t64(a, requires_grad=False):
    return fg.tensor(np.asarray(a, np.float64), dtype=fg.float64, requires_grad=requires_grad)


def bench_hessian(rng, reps):
    n = 100
    A = rng.standard_normal((n, n)) / np.sqrt(n)
    x0 = rng.standard_normal(n)
    At = t64(A)

    def f(x):
        return (fg.tanh(fg.matmul(At, x)) ** 2).sum() + (x * fg.sin(x)).sum()

    fns = [lambda: AF.hessian(f, t64(x0)), lambda: AF.hessian(f, t64(x0), vectorize=True)]
    if torch is not None:
        tA = torch.as_tensor(A)

        def tf(x):
            return (torch.tanh(tA @ x) ** 2).sum() + (x * torch.sin(x)).sum()
        fns.append(lambda: torch.autograd.functional.hessian(tf, torch.as_tensor(x0)))
    times = interleaved(fns, reps, inner=1)
    line = (f"hessian, 100-element input: fastgrad {times[0] * 1e3:.2f} ms, vectorize=True "
            f"{times[1] * 1e3:.2f} ms (target <= 20 ms)")
    if torch is not None:
        line += (f"; torch {times[2] * 1e3:.2f} ms; torch/fastgrad = {times[2] / times[0]:.2f} "
                 f"(vectorize=True: {times[2] / times[1]:.2f})")
    print(line)


def bench_hvp(rng, reps, batches=(32, 256)):
    sizes = [128, 64, 24, 10]
    params = []
    for i in range(3):
        params.append(rng.standard_normal((sizes[i + 1], sizes[i])) / np.sqrt(sizes[i]))
        params.append(np.zeros(sizes[i + 1]))
    n_params = sum(p.size for p in params)
    F = fg.nn.functional
    for batch in batches:
        Xn, yn = rng.standard_normal((batch, 128)), rng.integers(0, 10, batch)
        X, y = t64(Xn), fg.tensor(yn)

        def loss(*ps):
            h = X
            for i in range(0, 6, 2):
                h = fg.matmul(h, ps[i].transpose(0, 1)) + ps[i + 1]
                if i < 4:
                    h = fg.tanh(h)
            return F.cross_entropy(h, y)

        ps = tuple(t64(p, requires_grad=True) for p in params)
        v = tuple(t64(rng.standard_normal(p.shape)) for p in params)
        fns = [lambda: fg.autograd.grad(loss(*ps), ps), lambda: AF.hvp(loss, ps, v)]
        if torch is not None:
            tX, ty = torch.as_tensor(Xn), torch.as_tensor(yn)

            def tloss(*tp):
                h = tX
                for i in range(0, 6, 2):
                    h = h @ tp[i].T + tp[i + 1]
                    if i < 4:
                        h = torch.tanh(h)
                return torch.nn.functional.cross_entropy(h, ty)
            tps = tuple(torch.tensor(p, requires_grad=True) for p in params)
            tv = tuple(torch.as_tensor(a.numpy()) for a in v)
            fns += [lambda: torch.autograd.grad(tloss(*tps), tps),
                    lambda: torch.autograd.functional.hvp(tloss, tps, tv),
                    lambda: torch.autograd.functional.vhp(tloss, tps, tv)]
        times = interleaved(fns, reps, inner=3)
        tg, th = times[:2]
        line = (f"hvp, MLP 128-64-24-10 ({n_params} parameters, batch {batch}): gradient "
                f"{tg * 1e3:.3f} ms, hvp {th * 1e3:.3f} ms, hvp/gradient = {th / tg:.2f} "
                "(target <= 4)")
        if torch is not None:
            line += (f"; torch hvp/gradient = {times[3] / times[2]:.2f}, vhp/gradient = "
                     f"{times[4] / times[2]:.2f}")
        print(line)


def bench_jacobian(rng, reps):
    W = rng.standard_normal((64, 64)) / 8
    b = rng.standard_normal(64)
    x0 = rng.standard_normal(64)
    Wt, bt = t64(W), t64(b)

    def layer(x):
        return fg.tanh(fg.matmul(Wt, x) + bt)

    def fused(x):
        return fg.linear(x, Wt, bt, activation="tanh")

    fns = [lambda: AF.jacobian(layer, t64(x0)), lambda: AF.jacobian(layer, t64(x0), vectorize=True)]
    if torch is not None:
        tW, tb = torch.as_tensor(W), torch.as_tensor(b)

        def tlayer(x):
            return torch.tanh(tW @ x + tb)
        fns.append(lambda: torch.autograd.functional.jacobian(tlayer, torch.as_tensor(x0),
                                                              vectorize=True))
    fns += [lambda: AF.jacobian(fused, t64(x0)), lambda: AF.jacobian(fused, t64(x0), vectorize=True)]
    times = interleaved(fns, reps, inner=1)
    tf_loop, tf_vec = times[-2:]
    print(f"jacobian, 64->64 fused linear(tanh): loop {tf_loop * 1e3:.2f} ms, vectorize=True "
          f"{tf_vec * 1e3:.3f} ms, loop/vectorize = {tf_loop / tf_vec:.2f}")
    line = (f"jacobian, 64->64 layer: loop {times[0] * 1e3:.2f} ms, vectorize=True "
            f"{times[1] * 1e3:.2f} ms, loop/vectorize = {times[0] / times[1]:.2f} "
            "(target >= 10)")
    if torch is not None:
        line += (f"; torch vectorize=True {times[2] * 1e3:.2f} ms, torch/fastgrad vectorize = "
                 f"{times[2] / times[1]:.2f}")
    print(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    set_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"fastgrad {fg.__version__ if hasattr(fg, '__version__') else ''} threads={args.threads} "
          f"float64, medians of {args.reps}")
    bench_hessian(rng, args.reps)
    bench_hvp(rng, args.reps)
    bench_jacobian(rng, args.reps)


if __name__ == "__main__":
    main()
