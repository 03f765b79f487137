"""Timing helpers shared by the report scripts."""
import statistics
import time


def interleaved(fns, reps, inner=3):
    """Median seconds per call of each fn.  The fns are timed alternately, `inner` calls
    per sample, so machine drift hits all of them alike; the order rotates every rep,
    so no fn always runs right after the same other one (the memory one frees changes
    the page faults the next one takes)."""
    for f in fns:
        for _ in range(max(1, inner // 4)):
            f()
    samples = [[] for _ in fns]
    k = len(fns)
    for r in range(reps):
        for i in [(r + o) % k for o in range(k)]:
            f = fns[i]
            t0 = time.perf_counter()
            for _ in range(inner):
                f()
            samples[i].append((time.perf_counter() - t0) / inner)
    return [statistics.median(s) for s in samples]


def set_threads(n):
    """The same thread count for fastgrad and, when threadpoolctl is there, NumPy's BLAS."""
    import fastgrad as fg
    fg.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(n)
    except ImportError:
        pass
