"""One optimizer step (Adam, SGD with momentum) over an MLP's parameters: fastgrad's fused
multi-tensor C kernel vs an in-place NumPy implementation and torch.optim (foreach default).

    pytest benchmarks/bench_optim.py --benchmark-group-by=param:model,param:alg
    python benchmarks/bench_optim.py [--threads 2] [--quick]     # medians and ratios

The pytest benchmarks pin fastgrad and torch to FASTGRAD_BENCH_THREADS threads (default 1):
on a loaded 2-core machine torch's OpenMP workers, once asleep, can take milliseconds to
wake, which would swamp a ~100 us step.
"""
import argparse
import os
import sys

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import optim
from fastgrad.bench.harness import interleaved

MODELS = {
    "small": [(128, 784), (128,), (10, 128), (10,)],
    "large": [(512, 784), (512,), (512, 512), (512,), (10, 512), (10,)],
}
ALGS = ("adam", "sgd_momentum")
IMPLS = ("fastgrad", "numpy", "torch")


def _arrays(model, seed=0):
    rng = np.random.default_rng(seed)
    ps = [rng.standard_normal(s).astype(np.float32) * 0.05 for s in MODELS[model]]
    gs = [rng.standard_normal(s).astype(np.float32) * 0.01 for s in MODELS[model]]
    return ps, gs


def make_fastgrad(model, alg):
    ps, gs = _arrays(model)
    params = [fg.from_numpy(p).requires_grad_(True) for p in ps]
    for p, g in zip(params, gs):
        p.grad = fg.from_numpy(g)
    opt = optim.Adam(params, lr=1e-3) if alg == "adam" else optim.SGD(params, lr=1e-2, momentum=0.9)
    return opt.step


def make_numpy(model, alg):
    """a straightforward in-place NumPy implementation of the same update"""
    ps, gs = _arrays(model)
    if alg == "sgd_momentum":
        bufs = [None] * len(ps)

        def step():
            for i, (p, g) in enumerate(zip(ps, gs)):
                if bufs[i] is None:
                    bufs[i] = g.copy()
                else:
                    bufs[i] *= 0.9
                    bufs[i] += g
                p -= 1e-2 * bufs[i]
        return step
    ms = [np.zeros_like(p) for p in ps]
    vs = [np.zeros_like(p) for p in ps]
    t = [0]

    def step():
        t[0] += 1
        b1, b2, lr, eps = 0.9, 0.999, 1e-3, 1e-8
        ss = lr / (1 - b1 ** t[0])
        bc2 = (1 - b2 ** t[0]) ** 0.5
        for p, g, m, v in zip(ps, gs, ms, vs):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            den = np.sqrt(v)
            den /= bc2
            den += eps
            p -= ss * (m / den)
    return step


def make_torch(model, alg):
    torch = pytest.importorskip("torch")
    ps, gs = _arrays(model)
    params = [torch.from_numpy(p).requires_grad_(True) for p in ps]
    for p, g in zip(params, gs):
        p.grad = torch.from_numpy(g)
    opt = (torch.optim.Adam(params, lr=1e-3) if alg == "adam"
           else torch.optim.SGD(params, lr=1e-2, momentum=0.9))
    return opt.step


MAKERS = {"fastgrad": make_fastgrad, "numpy": make_numpy, "torch": make_torch}


@pytest.fixture(scope="module", autouse=True)
def _pinned_threads():
    n = int(os.environ.get("FASTGRAD_BENCH_THREADS", "1"))
    prev = fg.get_num_threads()
    fg.set_num_threads(n)
    try:
        import torch
        tprev = torch.get_num_threads()
        torch.set_num_threads(n)
    except ImportError:
        torch = None
    yield
    fg.set_num_threads(prev)
    if torch is not None:
        torch.set_num_threads(tprev)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize("model", sorted(MODELS))
def test_optimizer_step(benchmark, model, alg, impl):
    benchmark.group = f"{alg} {model}"
    benchmark(MAKERS[impl](model, alg))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    fg.set_num_threads(a.threads)
    impls = ["fastgrad", "numpy"]
    try:
        import torch
        torch.set_num_threads(a.threads)
        impls.append("torch")
    except ImportError:
        pass
    reps = 7 if a.quick else 21
    print(f"fastgrad {fg.__version__}  simd={fg.get_simd()}  threads={a.threads}  (median us per step)")
    print(f"{'workload':22s}" + "".join(f"{i:>11s}" for i in impls)
          + "".join(f"{'vs ' + i:>11s}" for i in impls[1:]))
    for model in sorted(MODELS):
        n = sum(int(np.prod(s)) for s in MODELS[model])
        for alg in ALGS:
            fns = [MAKERS[i](model, alg) for i in impls]
            inner = 200 if model == "small" else 30
            t = interleaved(fns, reps, inner)
            print(f"{alg + ' ' + model + f' ({n})':22s}" + "".join(f"{x * 1e6:11.1f}" for x in t)
                  + "".join(f"{x / t[0]:10.2f}x" for x in t[1:]))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
