"""GFLOP/s table: fastgrad.matmul on tensors vs numpy.matmul on the same arrays, measured
interleaved in one process (medians), at 1 and 2 threads, float32 and float64; plus the
fused linear+ReLU layer.  The fastgrad column is the public call, tensor wrapper included.

    python benchmarks/gemm_report.py [--dtypes float32,float64] [--threads 1,2] [--quick]
    python benchmarks/gemm_report.py --peak     # 1024^3 float32, 1 thread, as % of peak
    python benchmarks/gemm_report.py --threads 1 --cpu-time   # robust on a busy machine
    python benchmarks/gemm_report.py --alternate   # the two calls alternate call by call
    python benchmarks/gemm_report.py --coexistence # only the 2-thread alternation lines

NumPy's BLAS threads are limited with threadpoolctl (pip install threadpoolctl).
"""
import argparse
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import fastgrad as fg
from fastgrad._C import _kernels as K
from gemm_workloads import SHAPES, operands


def interleaved(fns, budget, block=0.03, settle=0.12, clock=time.perf_counter):
    """Median seconds per call of each fn.  Calls run in blocks of about `block` seconds,
    the fns' blocks alternating until `budget` is spent, so a drift of the machine's
    speed hits every fn alike.  Before each block the process sleeps `settle` seconds so
    the other library's worker threads stop spinning (OpenBLAS spins for tens of ms
    after a call and would otherwise hold the second core); call-by-call alternation is
    measured separately, in coexistence().  `clock` times the blocks (time.thread_time for
    single-thread runs with --cpu-time); the budget is always wall time."""
    reps = []
    for f in fns:
        f()
        t0 = time.perf_counter()
        f()
        reps.append(max(1, int(block / max(time.perf_counter() - t0, 1e-7))))
    samples = [[] for _ in fns]
    t_end = time.perf_counter() + budget
    while time.perf_counter() < t_end or len(samples[0]) < 5:
        for i, f in enumerate(fns):
            if len(fns) > 1:
                time.sleep(settle)
            f()                                   # first call after a switch: not timed
            t0 = clock()
            for _ in range(reps[i]):
                f()
            samples[i].append((clock() - t0) / reps[i])
    return [statistics.median(s) for s in samples]


def alternating(fns, budget):
    """Median seconds per call when the fns alternate call by call."""
    samples = [[] for _ in fns]
    t_end = time.perf_counter() + budget
    while time.perf_counter() < t_end or len(samples[0]) < 5:
        for i, f in enumerate(fns):
            t0 = time.perf_counter()
            f()
            samples[i].append(time.perf_counter() - t0)
    return [statistics.median(s) for s in samples]


def coexistence(a):
    """fastgrad and NumPy alternating call by call at 2 threads each: both thread pools
    must yield the cores to each other (compare with each library timed alone, and with
    fastgrad at one thread: alternating must never be slower than that)."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(2):
        for m, k, n in [(256, 784, 512), (512, 512, 512), (1024, 1024, 1024),
                        (2048, 1024, 1024)]:
            x, y = operands(m, k, n, "NN", np.float32)
            fl = 2.0 * m * n * k
            fg.set_num_threads(1)
            one_f, = interleaved([lambda: K.matmul(x, y)], 0.5)
            fg.set_num_threads(2)
            alone_f, = interleaved([lambda: K.matmul(x, y)], 0.5)
            alone_n, = interleaved([lambda: np.matmul(x, y)], 0.5)
            mix_f, mix_n = alternating([lambda: K.matmul(x, y), lambda: np.matmul(x, y)], 1.0)
            print(f"coexistence {m}x{k}x{n}, 2 threads: fastgrad alone {fl/alone_f/1e9:.0f} GF/s "
                  f"(1 thread {fl/one_f/1e9:.0f}), interleaved {fl/mix_f/1e9:.0f}; numpy alone "
                  f"{fl/alone_n/1e9:.0f}, interleaved {fl/mix_n/1e9:.0f}; ratio interleaved "
                  f"{mix_n/mix_f:.2f}")


def peak_fraction(rounds=7, n=1024):
    """fastgrad's and NumPy's single-thread 1024^3 float32 GEMM as a fraction of this core's
    FMA peak (tools/peak_fma.c, compiled here with gcc).  Everything is timed with the
    thread's CPU clock (on a shared machine the wall clock also counts time spent
    descheduled, which would understate both throughputs by different amounts),
    alternating peak, fastgrad and NumPy (best of 5 calls each) for `rounds` rounds; each
    GEMM is divided by the peak of its own round (the core's clock drifts with the load on
    the other core), and the median is reported."""
    import os
    import subprocess
    import tempfile
    from threadpoolctl import threadpool_limits
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "peak_fma.c")
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "peak_fma")
        subprocess.run(["gcc", "-O2", "-mavx512f", "-mfma", src, "-o", exe], check=True)
        fg.set_num_threads(1)
        x, y = operands(n, n, n, "NN", np.float32)
        fl = 2.0 * n ** 3

        def best(f, reps=5):
            f()
            b = 1e9
            for _ in range(reps):
                t0 = time.thread_time()
                f()
                b = min(b, time.thread_time() - t0)
            return fl / b / 1e9
        rows = []
        with threadpool_limits(1):
            for _ in range(rounds):
                out = subprocess.run([exe, "cpu", "-q"], check=True, capture_output=True, text=True)
                rows.append((float(out.stdout), best(lambda: K.matmul(x, y)),
                             best(lambda: np.matmul(x, y))))
    med = statistics.median
    peak = med(r[0] for r in rows)
    ff = [r[1] / r[0] for r in rows]
    fn = [r[2] / r[0] for r in rows]
    print(f"peak (12 FMA chains, thread CPU clock): median {peak:.1f} GFLOP/s per core "
          f"(range {min(r[0] for r in rows):.1f}-{max(r[0] for r in rows):.1f}, {rounds} rounds)")
    print(f"{n}^3 float32, 1 thread, fraction of the peak measured in the same round "
          f"(median, range): fastgrad {100 * med(ff):.1f}% ({100 * min(ff):.1f}-{100 * max(ff):.1f}), "
          f"{med(r[1] for r in rows):.1f} GFLOP/s; numpy {100 * med(fn):.1f}% "
          f"({100 * min(fn):.1f}-{100 * max(fn):.1f}), {med(r[2] for r in rows):.1f} GFLOP/s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtypes", default="float32,float64")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time 1-thread runs with the thread's CPU clock: on a busy machine "
                         "time spent descheduled then counts for neither library")
    ap.add_argument("--alternate", action="store_true",
                    help="alternate the two libraries call by call (no pause between them: "
                         "each meets the other's threads still spinning) instead of in blocks")
    ap.add_argument("--peak", action="store_true",
                    help="only the 1024^3 single-thread fraction of peak (needs gcc)")
    ap.add_argument("--coexistence", action="store_true",
                    help="only the coexistence lines (2 threads, alternating with NumPy)")
    a = ap.parse_args()
    if a.peak:
        peak_fraction()
        return
    if a.coexistence:
        coexistence(a)
        return
    from threadpoolctl import threadpool_info, threadpool_limits
    blas = [f"{i['internal_api']} {i['version']} ({i.get('architecture')})" for i in threadpool_info()
            if i["user_api"] == "blas"]
    print(f"fastgrad {fg.__version__} simd={fg.get_simd()}; numpy {np.__version__} BLAS: {', '.join(blas)}")
    print(f"{'shape':>20s} {'dtype':>7s} {'thr':>3s} {'fastgrad GF/s':>13s} {'numpy GF/s':>11s} {'ratio':>6s}")
    for dt in a.dtypes.split(","):
        for t in map(int, a.threads.split(",")):
            fg.set_num_threads(t)
            with threadpool_limits(t):
                for m, k, n, layout in SHAPES:
                    if a.quick and m * k * n > 600 ** 3:
                        continue
                    x, y = operands(m, k, n, layout, np.dtype(dt))
                    X, Y = fg.from_numpy(x), fg.from_numpy(y)
                    got, want = fg.matmul(X, Y).numpy(), np.matmul(x, y)
                    tol = 1e-3 if dt == "float32" else 1e-9
                    assert np.allclose(got, want, rtol=tol, atol=tol * np.sqrt(k)), "wrong result"
                    budget = 1.0 if a.quick else 2.5
                    clk = time.thread_time if a.cpu_time and t == 1 else time.perf_counter
                    pair = [lambda: fg.matmul(X, Y), lambda: np.matmul(x, y)]
                    tf, tn = (alternating(pair, budget) if a.alternate
                              else interleaved(pair, budget, clock=clk))
                    fl = 2.0 * m * n * k
                    print(f"{f'{m}x{k}x{n} {layout}':>20s} {dt:>7s} {t:3d} {fl/tf/1e9:13.1f} "
                          f"{fl/tn/1e9:11.1f} {tn/tf:6.2f}")
    coexistence(a)
    import fastgrad.nn.functional as F
    rng = np.random.default_rng(0)
    for t in map(int, a.threads.split(",")):
        fg.set_num_threads(t)
        xx = fg.from_numpy(rng.standard_normal((64, 784)).astype(np.float32))
        w = fg.from_numpy((rng.standard_normal((128, 784)) * 0.03).astype(np.float32)).requires_grad_()
        b = fg.zeros(128, requires_grad=True)

        def fused():
            w.grad = b.grad = None
            yv = F.linear(xx, w, b, activation="relu")
            yv.backward(fg.ones_like(yv))

        def unfused():
            w.grad = b.grad = None
            yv = fg.relu(fg.matmul(xx, w.T) + b)
            yv.backward(fg.ones_like(yv))
        tf, tu = interleaved([fused, unfused], 1.0)
        print(f"linear+ReLU 64x784x128 fwd+bwd, {t} thread(s): fused {tf*1e6:.1f} us, "
              f"unfused {tu*1e6:.1f} us, speed-up {tu/tf:.2f}x")


if __name__ == "__main__":
    main()
