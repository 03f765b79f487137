"""Convolution forward + backward and a small-CNN training step, fastgrad vs PyTorch
eager, float32, same process, interleaved (fastgrad.bench.harness.interleaved), medians.

    python benchmarks/conv_report.py [--threads 2] [--reps 15] [--separate]

By default both frameworks run in this process, timed alternately.  At 2 threads on a
2-core machine the two thread pools (fastgrad's and PyTorch's OpenMP) then spin-wait
against each other, which mostly slows PyTorch down; --separate times each framework
alone in its own fresh process (fastgrad, torch, fastgrad, ... for --rounds rounds,
median over rounds), which measures each at its best.

Memory: fastgrad's large kernel results come from its own block cache (README, "Memory
reuse"), which changes nothing for PyTorch; PyTorch runs with the C library's malloc
settings, as a PyTorch user's process does (page faults on every large fresh tensor).
--torch-tuned gives PyTorch glibc's larger thresholds instead
(fastgrad.memory.tune_malloc(), applied in the same process or in PyTorch's own).

Targets: the first two conv2d cases <= 1.0x PyTorch's time, the conv1d cases
<= 0.7x, the CNN step <= 0.8x (the depthwise and 1x1 cases are informational).  The ratio
is fastgrad's median time / PyTorch's median time.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conv_workloads as W
from fastgrad.bench.harness import interleaved, set_threads


def _child(fw, threads, reps, tuned):
    set_threads(threads)
    if tuned:
        import fastgrad.memory
        fastgrad.memory.tune_malloc()
    out = {}
    for case in W.CONV_CASES:
        f = W.fastgrad_conv(case) if fw == "fastgrad" else W.torch_conv(case)
        out[case + " fwd+bwd"] = interleaved([f], reps)[0]
    f = W.fastgrad_cnn_step() if fw == "fastgrad" else W.torch_cnn_step()
    out[f"CNN train step b{W.CNN_BATCH}"] = interleaved([f], reps)[0]
    print(json.dumps(out))


def _separate(args):
    times = {"fastgrad": [], "torch": []}
    for _ in range(args.rounds):
        for fw in times:
            tuned = ["--torch-tuned"] if fw == "torch" and args.torch_tuned else []
            r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", fw,
                                "--threads", str(args.threads), "--reps", str(args.reps), *tuned],
                               capture_output=True, text=True, check=True)
            times[fw].append(json.loads(r.stdout.strip().splitlines()[-1]))
    rows = []
    for name in times["fastgrad"][0]:
        tf = statistics.median(t[name] for t in times["fastgrad"])
        tt = statistics.median(t[name] for t in times["torch"])
        rows.append((name, tf, tt))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--separate", action="store_true", help="each framework in its own process")
    ap.add_argument("--rounds", type=int, default=3, help="processes per framework with --separate")
    ap.add_argument("--torch-tuned", action="store_true",
                    help="PyTorch runs with glibc's larger malloc thresholds (fastgrad.memory.tune_malloc)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.threads, args.reps, args.torch_tuned)
        return
    set_threads(args.threads)
    if args.torch_tuned and not args.separate:
        import fastgrad.memory
        fastgrad.memory.tune_malloc()
    try:
        import torch  # noqa: F401
    except ImportError:
        print("PyTorch is not installed: nothing to compare against")
        return
    if args.separate:
        rows = _separate(args)
        how = (f"each framework in its own process, median of {args.rounds} rounds of {args.reps} "
               f"samples; PyTorch with "
               f"{'tuned' if args.torch_tuned else 'the C library'}'s malloc settings")
    else:
        rows = []
        for case in W.CONV_CASES:
            f, t = W.fastgrad_conv(case), W.torch_conv(case)
            tf, tt = interleaved([f, t], args.reps)
            rows.append((case + " fwd+bwd", tf, tt))
        f, t = W.fastgrad_cnn_step(), W.torch_cnn_step()
        tf, tt = interleaved([f, t], args.reps)
        rows.append((f"CNN train step b{W.CNN_BATCH}", tf, tt))
        how = (f"one process, medians of {args.reps} interleaved samples; malloc "
               f"{'tuned' if args.torch_tuned else 'as the C library sets it'}")
    print(f"threads={args.threads}, float32, {how}")
    print(f"{'case':48s} {'fastgrad':>11s} {'torch':>11s} {'ratio':>7s}")
    for name, tf, tt in rows:
        print(f"{name:48s} {tf * 1e3:9.3f}ms {tt * 1e3:9.3f}ms {tf / tt:7.2f}")


if __name__ == "__main__":
    main()
