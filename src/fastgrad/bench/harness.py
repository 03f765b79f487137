"""`fastgrad bench`: fastgrad's kernels, GEMM, training steps and per-op overhead, timed
side by side with NumPy and (when installed) PyTorch and JAX.

Method, per case:
1. Correctness gate: every implementation runs once on the same inputs and its result is
   compared with fastgrad's (a fast wrong answer is a failure, not a result); an
   implementation that disagrees is reported as WRONG and not timed.
2. Warm-up, then rounds: in each round every implementation runs one block of calls
   (a block lasts about `block` seconds), in rotating order, until the case's time
   budget is spent (at least `min_rounds` rounds).  So the machine's drift hits all of
   them alike, and a ratio of medians holds even when absolute speed does not.  With
   more than one thread, the process sleeps `settle` seconds before each block: thread
   pools that spin-wait after a call (NumPy's BLAS, PyTorch's OpenMP) would otherwise
   steal the cores from the next library's block and measure their coexistence instead.
3. Reported per implementation: median seconds per call, interquartile range, every
   sample, GFLOP/s where the FLOPs are defined, and ratio = peer's median / fastgrad's
   median (above 1: fastgrad is faster).

This module is fastgrad's one timing harness: ``fastgrad bench`` (``time_case``), the
scripts in benchmarks/ (``interleaved``, ``set_threads``) and pytest-benchmark's machine
info (``machine``, read by benchmarks/conftest.py) all use it.
"""
import json
import math
import os
import platform
import statistics
import time

import numpy as np

SCHEMA = "fastgrad-bench/1"
SUITES = ("kernels", "gemm", "train", "overhead", "threads", "seq")
PEERS = ("numpy", "torch", "jax")


class Case:
    """One benchmark: `impls` maps an implementation name to a zero-argument factory
    returning (run, result): `run()` is what is timed, `result()` gives a value (array or
    float) to check against fastgrad's.  A factory may return None: not applicable."""

    def __init__(self, suite, name, impls, flops=None, rtol=1e-4, atol=1e-5, note=None):
        self.suite, self.name, self.impls = suite, name, impls
        self.flops, self.rtol, self.atol, self.note = flops, rtol, atol, note


def quartiles(samples):
    """(q25, median, q75) by linear interpolation, as numpy.percentile."""
    q = np.percentile(np.asarray(samples, dtype=np.float64), [25, 50, 75])
    return float(q[0]), float(q[1]), float(q[2])


def _as_array(v):
    if hasattr(v, "detach"):           # torch tensors and fastgrad tensors
        v = v.detach()
    if hasattr(v, "numpy"):
        v = v.numpy()
    return np.asarray(v, dtype=np.float64)


def agree(ref, other, rtol, atol):
    a, b = _as_array(ref), _as_array(other)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def time_case(case, budget=1.0, block=0.05, min_rounds=5, settle=0.0, clock=time.perf_counter):
    """Run one Case; returns a dict ready for JSON (see the module docstring)."""
    made, out = {}, {"suite": case.suite, "case": case.name, "flops": case.flops,
                     "impls": {}, "note": case.note}
    for name, factory in case.impls.items():
        try:
            pair = factory()
        except ImportError as e:
            out["impls"][name] = {"status": "unavailable", "why": str(e)}
            continue
        if pair is None:
            out["impls"][name] = {"status": "unavailable", "why": "not applicable"}
            continue
        made[name] = pair
    if "fastgrad" not in made:
        raise ValueError(f"bench: case {case.name} has no fastgrad implementation")
    ref = made["fastgrad"][1]()
    timed = {}
    for name, (run, result) in made.items():
        if name != "fastgrad" and not agree(ref, result(), case.rtol, case.atol):
            out["impls"][name] = {"status": "WRONG",
                                  "why": f"result differs from fastgrad's beyond rtol={case.rtol}, "
                                         f"atol={case.atol}"}
            continue
        timed[name] = run
    reps = {}
    for name, run in timed.items():                    # warm up and calibrate a block
        run()
        t0 = clock()
        run()
        dt = max(clock() - t0, 1e-7)
        reps[name] = max(1, int(block / dt))
    names = list(timed)
    per = interleaved_samples([timed[n] for n in names], [reps[n] for n in names], min_rounds,
                              budget=budget, settle=settle, clock=clock, max_rounds=1000)
    samples = dict(zip(names, per))
    fg_med = None
    for name in names:
        q25, med, q75 = quartiles(samples[name])
        rec = {"status": "ok", "median_s": med, "iqr_s": q75 - q25, "samples_s": samples[name],
               "calls_per_sample": reps[name]}
        if case.flops:
            rec["gflops"] = case.flops / med / 1e9
        out["impls"][name] = rec
        if name == "fastgrad":
            fg_med = med
    for name in names:
        if name != "fastgrad":
            out["impls"][name]["ratio"] = out["impls"][name]["median_s"] / fg_med
    return out


def interleaved_samples(fns, calls, min_rounds, budget=0.0, settle=0.0, clock=time.perf_counter,
                        max_rounds=None):
    """Seconds per call of each of ``fns``, one sample per round: in round r each fn runs one
    block of ``calls[i]`` calls, in an order rotated by r, so the machine's drift hits all of
    them alike and no fn always runs right after the same other one (the memory one frees
    changes the page faults the next one takes).  Rounds go on until at least
    ``min_rounds`` are done and ``budget`` seconds have passed (at most ``max_rounds``).
    ``settle``: seconds to sleep before each block (thread pools that spin-wait after a
    call would otherwise steal the cores from the next block).  Returns one list of
    samples per fn."""
    samples = [[] for _ in fns]
    k = len(fns)
    start = clock()
    r = 0
    while r < min_rounds or clock() - start < budget:
        for o in range(k):
            i = (r + o) % k
            f, n = fns[i], calls[i]
            if settle:
                time.sleep(settle)
            t0 = clock()
            for _ in range(n):
                f()
            samples[i].append((clock() - t0) / n)
        r += 1
        if max_rounds is not None and r >= max_rounds:
            break
    return samples


def interleaved(fns, reps, inner=3, clock=time.perf_counter, settle=0.0):
    """Median seconds per call of each of ``fns``, timed alternately: after a warm-up
    (``inner // 4`` calls each, at least one), ``reps`` rounds of ``inner`` calls per fn
    (``interleaved_samples``).  ``clock``: time.perf_counter (wall), or
    time.process_time / time.thread_time for CPU time on a busy machine.  ``settle``:
    seconds to sleep before each block (see ``interleaved_samples``)."""
    for f in fns:
        for _ in range(max(1, inner // 4)):
            f()
    samples = interleaved_samples(fns, [inner] * len(fns), reps, clock=clock, max_rounds=reps,
                                  settle=settle)
    return [statistics.median(s) for s in samples]


# ---- the machine --------------------------------------------------------------------------
def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(threads):
    import fastgrad as fg
    info = {"cpu": _cpu_model(), "logical_cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "fastgrad": fg.__version__,
            "simd": fg.get_simd(), "threads": threads, "numpy": np.__version__}
    try:
        from threadpoolctl import threadpool_info
        info["blas"] = [{k: p.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
                        for p in threadpool_info() if p.get("user_api") == "blas"]
    except ImportError:
        info["blas"] = "unknown (threadpoolctl not installed)"
    for peer in ("torch", "jax"):
        try:
            info[peer] = __import__(peer).__version__
        except ImportError:
            info[peer] = None
    return info


def set_threads(n):
    """The same thread count for fastgrad, NumPy's BLAS (threadpoolctl) and PyTorch."""
    import fastgrad as fg
    fg.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(n)
    except ImportError:
        pass
    try:
        import torch
        torch.set_num_threads(n)
    except ImportError:
        pass


# ---- comparing two runs ---------------------------------------------------------------------
def compare(old, new, threshold=0.05):
    """Rows (suite, case, threads, dtype, old median, new median, speed-up, verdict) for the
    fastgrad results present in both runs.  A change counts only when it exceeds both
    `threshold` and the runs' combined relative spread (IQR / median of each)."""
    def index(run):
        out = {}
        for r in run["results"]:
            fgr = r["impls"].get("fastgrad", {})
            if fgr.get("status") == "ok":
                out[(r["suite"], r["case"], r.get("threads"), r.get("dtype"))] = fgr
        return out
    a, b = index(old), index(new)
    rows = []
    for key in a:
        if key not in b:
            continue
        ma, mb = a[key]["median_s"], b[key]["median_s"]
        speedup = ma / mb
        noise = a[key]["iqr_s"] / ma + b[key]["iqr_s"] / mb
        limit = max(threshold, noise)
        verdict = "faster" if speedup > 1 + limit else ("slower" if speedup < 1 / (1 + limit) else "same")
        rows.append(key + (ma, mb, speedup, verdict))
    return rows


def load_run(path):
    with open(path) as f:
        run = json.load(f)
    if not isinstance(run, dict) or run.get("schema") != SCHEMA or "results" not in run:
        raise ValueError(f"{path}: not a fastgrad bench result (expected schema {SCHEMA!r})")
    return run


def fmt_time(s):
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "-"
    for unit, f in (("s", 1.0), ("ms", 1e3), ("us", 1e6)):
        if s * f >= 1 or unit == "us":
            return f"{s * f:.3g} {unit}"


def median_of(xs):
    return statistics.median(xs) if xs else float("nan")
