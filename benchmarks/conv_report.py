"""Convolution forward + backward and a small-CNN training step, fastgrad vs PyTorch
eager, float32, same process, interleaved (benchmarks/_timing.py), medians.

    python benchmarks/conv_report.py [--threads 2] [--reps 15]

Targets (issue 6): the first two conv2d cases <= 1.0x PyTorch's time, the conv1d cases
<= 0.7x, the CNN step <= 0.8x (the depthwise and 1x1 cases are informational).  The ratio is fastgrad's median time / PyTorch's median time.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conv_workloads as W  # noqa: E402
from _timing import interleaved, set_threads  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args()
    set_threads(args.threads)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("PyTorch is not installed: nothing to compare against")
        return
    rows = []
    for case in W.CONV_CASES:
        f, t = W.fastgrad_conv(case), W.torch_conv(case)
        tf, tt = interleaved([f, t], args.reps)
        rows.append((case + " fwd+bwd", tf, tt))
    f, t = W.fastgrad_cnn_step(), W.torch_cnn_step()
    tf, tt = interleaved([f, t], args.reps)
    rows.append((f"CNN train step b{W.CNN_BATCH}", tf, tt))
    print(f"threads={args.threads}, float32, medians of {args.reps} interleaved samples")
    print(f"{'case':40s} {'fastgrad':>11s} {'torch':>11s} {'ratio':>7s}")
    for name, tf, tt in rows:
        print(f"{name:40s} {tf * 1e3:9.3f}ms {tt * 1e3:9.3f}ms {tf / tt:7.2f}")


if __name__ == "__main__":
    main()
