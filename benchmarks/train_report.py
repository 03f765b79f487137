"""Per-step time of MLP training, fastgrad vs PyTorch eager (same process, interleaved
blocks, medians), and the memory a steady-state training loop uses.

    python benchmarks/train_report.py [--threads 2] [--blocks 15] [--no-memory]

Time: by default each framework runs in its own fresh process, and the processes take
turns (fastgrad, torch, numpy, fastgrad, ... for --rounds rounds), so machine noise hits
all of them alike; the figure is the median block's time per step over all rounds.  Own
processes, because three thread pools (fastgrad's, PyTorch's OpenMP, NumPy's OpenBLAS)
interleaved call by call on 2 cores make each other spin-wait, and that measures the
pools' coexistence, not a training step (--same-process measures exactly that).
Memory: each framework trains in a fresh subprocess; reported are the resident-set growth
from the first step to the end of 2000 steps (a leak shows here) and the peak RSS above the
RSS measured after the first 20 steps (the transient memory a step needs).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_workloads as W


def _rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _memory_child(fw, cfg, opt, threads):
    if fw == "torch":
        import torch
        torch.set_num_threads(threads)
    else:
        import fastgrad as fg
        fg.set_num_threads(threads)
    step = getattr(W, fw + "_step")(cfg, opt)
    for _ in range(20):
        step()
    base = _rss_kib()
    peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(2000):
        step()
    end = _rss_kib()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth_kib": end - base, "peak_above_kib": max(peak - max(peak0, base), 0)}))


def _time_child(fw, cfg, opt, threads, blocks, block_time):
    if fw == "torch":
        import torch
        torch.set_num_threads(threads)
    else:
        import fastgrad as fg
        fg.set_num_threads(threads)
    step = getattr(W, fw + "_step")(cfg, opt)
    if step is None:
        print(json.dumps(None))
        return
    for _ in range(30):
        step()
    t0 = time.perf_counter()
    for _ in range(10):
        step()
    reps = max(3, int(block_time / ((time.perf_counter() - t0) / 10)))
    per = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(reps):
            step()
        per.append((time.perf_counter() - t0) / reps)
    print(json.dumps(per))


def _time_subprocess(fw, cfg, opt, threads, blocks, block_time):
    r = subprocess.run([sys.executable, __file__, "--time-child", fw, cfg, opt, str(threads),
                        str(blocks), str(block_time)], capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(f"{fw} {cfg} {opt} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _memory(fw, cfg, opt, threads):
    r = subprocess.run([sys.executable, __file__, "--memory-child", fw, cfg, opt, str(threads)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--blocks", type=int, default=15)
    ap.add_argument("--block-time", type=float, default=0.15, help="seconds per block")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--rounds", type=int, default=3, help="process rounds per framework")
    ap.add_argument("--same-process", action="store_true",
                    help="interleave the frameworks block by block in this process")
    ap.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--time-child", nargs=6, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.memory_child:
        fw, cfg, opt, th = a.memory_child
        return _memory_child(fw, cfg, opt, int(th))
    if a.time_child:
        fw, cfg, opt, th, blocks, bt = a.time_child
        return _time_child(fw, cfg, opt, int(th), int(blocks), float(bt))
    import fastgrad as fg
    fg.set_num_threads(a.threads)
    try:
        import torch
        torch.set_num_threads(a.threads)
        have_torch = True
    except ImportError:
        have_torch = False
    mode = "same process" if a.same_process else f"own processes x {a.rounds} rounds"
    print(f"threads={a.threads}, blocks={a.blocks}, mode={mode}, "
          f"torch={'yes ' + torch.__version__ if have_torch else 'no'}")
    print(f"{'cfg':<4}{'opt':<6}{'fastgrad us':>12}{'torch us':>10}{'numpy us':>10}{'fg/torch':>10}{'fg/numpy':>10}")
    for cfg in W.CONFIGS:
        for opt in ("sgd", "adam"):
            if not a.same_process:
                fws = ["fastgrad"] + (["torch"] if have_torch else []) + (["numpy"] if opt == "sgd" else [])
                per = {k: [] for k in fws}
                for _ in range(a.rounds):
                    for k in fws:
                        per[k] += _time_subprocess(k, cfg, opt, a.threads, a.blocks, a.block_time)
                med = {k: float(np.median(v)) * 1e6 for k, v in per.items()}
                t = med.get("torch", float("nan"))
                n = med.get("numpy", float("nan"))
                print(f"{cfg:<4}{opt:<6}{med['fastgrad']:>12.1f}{t:>10.1f}{n:>10.1f}"
                      f"{med['fastgrad'] / t:>10.2f}{med['fastgrad'] / n:>10.2f}", flush=True)
                continue
            steps = {"fastgrad": W.fastgrad_step(cfg, opt)}
            if have_torch:
                steps["torch"] = W.torch_step(cfg, opt)
            npst = W.numpy_step(cfg, opt)
            if npst is not None:
                steps["numpy"] = npst
            per = {k: [] for k in steps}
            for s in steps.values():              # warm-up and calibrate
                for _ in range(30):
                    s()
            reps = {}
            for k, s in steps.items():
                t0 = time.perf_counter()
                for _ in range(10):
                    s()
                reps[k] = max(3, int(a.block_time / ((time.perf_counter() - t0) / 10)))
            for _ in range(a.blocks):
                for k, s in steps.items():
                    t0 = time.perf_counter()
                    for _ in range(reps[k]):
                        s()
                    per[k].append((time.perf_counter() - t0) / reps[k])
            med = {k: float(np.median(v)) * 1e6 for k, v in per.items()}
            t = med.get("torch", float("nan"))
            n = med.get("numpy", float("nan"))
            print(f"{cfg:<4}{opt:<6}{med['fastgrad']:>12.1f}{t:>10.1f}{n:>10.1f}"
                  f"{med['fastgrad'] / t:>10.2f}{med['fastgrad'] / n:>10.2f}", flush=True)
    if a.no_memory:
        return
    print("\nmemory (fresh process per framework, 2000 steps after 20 warm-up steps), KiB:")
    print(f"{'cfg':<4}{'opt':<6}{'fw':<10}{'RSS growth':>12}{'peak above steady':>20}")
    for cfg in W.CONFIGS:
        for opt in ("sgd", "adam"):
            for fw in (["fastgrad", "torch"] if have_torch else ["fastgrad"]):
                m = _memory(fw, cfg, opt, a.threads)
                if m is None:
                    print(f"{cfg:<4}{opt:<6}{fw:<10}{'failed':>12}")
                else:
                    print(f"{cfg:<4}{opt:<6}{fw:<10}{m['growth_kib']:>12}{m['peak_above_kib']:>20}", flush=True)


if __name__ == "__main__":
    main()
