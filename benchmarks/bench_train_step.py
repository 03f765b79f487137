"""Compiled training steps (fastgrad.compile) vs eager fastgrad vs PyTorch eager vs
hand-written NumPy, on the MLP steps of fastgrad.bench.workloads.TRAIN_CONFIGS
(S: batch 32 64-128-10, M: batch 64 784-128-10, L: batch 256 784-512-512-10), with
JAX ``jit`` beside them when JAX is installed, and on
the small CNN of fastgrad.bench.workloads (config CNN: batch 64 of 1x28x28, conv3x3
1->16, ReLU, maxpool 2, conv3x3 16->32, ReLU, maxpool 2, linear 1568->10).

    pytest benchmarks/bench_train_step.py --benchmark-group-by=param:cfg,param:opt
    python benchmarks/bench_train_step.py [--threads 2] [--reps 15] [--configs S,M,L,CNN]
    python benchmarks/bench_train_step.py --e2e [--threads 2]

--e2e times a whole `fastgrad train` run with its defaults (digits, MLP 64-128-64-10,
Adam, cosine schedule, batch 64, 30 epochs): the training loop's time as the command
reports it, eager and with --compile, against the same loop written with PyTorch
(same data, model, optimizer, schedule, batch order; per step the loss and accuracy are
read, as the command does).

The script form times all implementations interleaved in one process and prints medians
and ratios (time / PyTorch eager time, and compiled / eager), which is how speed is
quoted: absolute times drift on a shared machine, ratios from one run hold.
"""
import argparse
import time

import pytest

from fastgrad.bench import workloads as W
from fastgrad.compile import CompileError
from fastgrad.bench.harness import interleaved

IMPLS = {"eager": W.fastgrad_train_step, "compiled": W.fastgrad_compiled_train_step,
         "torch": W.torch_train_step, "numpy": W.numpy_train_step, "jax": W.jax_train_step}


def _compiled_cnn_step(opt):
    import fastgrad as fg
    return fg.compile(W.fastgrad_cnn_step(opt))


# the small CNN (config "CNN"): no hand-written NumPy step
CNN_IMPLS = {"eager": W.fastgrad_cnn_step, "compiled": _compiled_cnn_step,
             "torch": W.torch_cnn_step}


def _maker(impl, cfg):
    if cfg == "CNN":
        return lambda opt: CNN_IMPLS[impl](opt) if impl in CNN_IMPLS else None
    return lambda opt: IMPLS[impl](cfg, opt)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("cfg", sorted(W.TRAIN_CONFIGS) + ["CNN"])
@pytest.mark.parametrize("impl", sorted(IMPLS))
def test_train_step(benchmark, impl, cfg, opt):
    if impl in ("torch", "jax"):
        pytest.importorskip(impl)
    step = _maker(impl, cfg)(opt)
    if step is None:
        pytest.skip(f"{impl} has no {opt} step")
    step()                       # the compiled step traces on its first call
    benchmark.group = f"{cfg} {opt}"
    benchmark(step)


def torch_train_loop(args, Xtr, ytr, clock):
    """`fastgrad train`'s loop in PyTorch; returns seconds spent in the epochs."""
    import numpy as np
    import torch
    torch.manual_seed(args.seed)
    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[args.activation]
    layers, width = [], Xtr.shape[1]
    for h in args.hidden:
        layers += [torch.nn.Linear(width, h), act()]
        width = h
    n_classes = int(ytr.max()) + 1
    model = torch.nn.Sequential(*layers, torch.nn.Linear(width, n_classes))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    n = Xtr.shape[0]
    nb = (n + args.batch_size - 1) // args.batch_size
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs * nb)
    X, y = torch.from_numpy(Xtr), torch.from_numpy(ytr)
    total = 0.0
    for epoch in range(args.epochs):
        perm = torch.from_numpy(np.random.default_rng(epoch).permutation(n))
        t0 = clock()
        loss_sum, correct = 0.0, 0
        for i in range(nb):
            idx = perm[i * args.batch_size:(i + 1) * args.batch_size]
            xb, yb = X[idx], y[idx]
            logits = model(xb)
            loss = torch.nn.functional.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * yb.shape[0]
            correct += int((logits.detach().argmax(1) == yb).sum())
        total += clock() - t0
    return total


def e2e(threads, cpu_time=False):
    import io

    from fastgrad import cli
    args = cli.build_parser().parse_args(["train", "--quiet"] + (["--threads", str(threads)]))
    Xtr, _, ytr, _ = cli._load_data(args)
    res = {}
    for name, extra in (("eager", []), ("compiled", ["--compile"])):
        a = cli.build_parser().parse_args(["train", "--quiet", "--threads", str(threads)] + extra)
        if cpu_time:       # the whole command, evaluation and data loading included
            t0 = time.process_time()
            cli.train(a, out=io.StringIO())
            res[name] = time.process_time() - t0
        else:
            res[name] = cli.train(a, out=io.StringIO())["train_time"]
    try:
        import torch
        torch.set_num_threads(threads)
        res["torch"] = torch_train_loop(args, Xtr._data, ytr._data,
                                        time.process_time if cpu_time else time.perf_counter)
    except ImportError:
        pass
    line = "  ".join(f"{k} {v:.3f} s" for k, v in res.items())
    if "torch" in res:
        line += (f"   torch/compiled {res['torch'] / res['compiled']:.1f}x"
                 f"  torch/eager {res['torch'] / res['eager']:.1f}x")
    what = "CPU time (fastgrad: whole command)" if cpu_time else "training loop wall time"
    print(f"fastgrad train defaults, {what}, {threads} threads: {line}")


def main(argv=None):
    import os
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from fastgrad.bench.harness import set_threads
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--configs", default="S,M,L")
    ap.add_argument("--opts", default="sgd,adam")
    ap.add_argument("--e2e", action="store_true", help="time whole `fastgrad train` runs")
    ap.add_argument("--settle", type=float, default=None,
                    help="seconds to sleep before each timed block (default: 0.15 with more "
                         "than one thread, so that OpenBLAS's, PyTorch's or XLA's workers, "
                         "which spin after a call, have let the cores go before the next "
                         "library's block; 0 with one thread)")
    ap.add_argument("--cpu-time", action="store_true",
                    help="measure process CPU time instead of wall time: on a shared, "
                         "oversubscribed machine this is what a step costs on an idle core "
                         "(meaningful with --threads 1; with more threads spin-waiting "
                         "counts too)")
    a = ap.parse_args(argv)
    set_threads(a.threads)
    if a.threads == 1:       # JAX (when installed) reads its thread setting at import
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                           "intra_op_parallelism_threads=1")
    if a.e2e:
        return e2e(a.threads, a.cpu_time)
    print(f"threads {a.threads}; median {'CPU' if a.cpu_time else 'wall'} us per step; "
          "ratios from the same interleaved run")
    for cfg in a.configs.split(","):
        for opt in a.opts.split(","):
            steps = {}
            for name in IMPLS:
                try:
                    s = _maker(name, cfg)(opt)
                except ImportError:
                    s = None
                if s is None:
                    continue
                try:
                    s()
                    s()          # the compiled step checks its plan against eager here
                except CompileError as e:
                    print(f"{cfg} {opt}: {name} unavailable: {str(e)[:150]}...")
                    continue
                steps[name] = s
            inner = {"S": 200, "M": 40, "L": 4, "CNN": 4}.get(cfg, 10)
            settle = a.settle if a.settle is not None else (0.15 if a.threads > 1 else 0.0)
            med = dict(zip(steps, interleaved(list(steps.values()), a.reps, inner,
                                              time.process_time if a.cpu_time
                                              else time.perf_counter, settle)))
            cells = "  ".join(f"{k} {v * 1e6:9.1f}" for k, v in med.items())
            ratios = ""
            if "compiled" in med:
                ratios = f"compiled/eager {med['compiled'] / med['eager']:.3f}"
            if "torch" in med:
                if "compiled" in med:
                    ratios += f"  compiled/torch {med['compiled'] / med['torch']:.3f}"
                ratios += f"  eager/torch {med['eager'] / med['torch']:.3f}"
            for peer in ("numpy", "jax"):
                if peer in med:
                    ratios += f"  eager/{peer} {med['eager'] / med[peer]:.3f}"
                    if "compiled" in med:
                        ratios += f"  compiled/{peer} {med['compiled'] / med[peer]:.3f}"
            print(f"{cfg} {opt:5s} {cells}   {ratios}")


if __name__ == "__main__":
    main()
