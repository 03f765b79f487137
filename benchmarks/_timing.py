"""Timing helpers shared by the report scripts."""
import statistics
import time

from fastgrad.bench.harness import set_threads  # noqa: F401 - one thread setter for all


def interleaved(fns, reps, inner=3, clock=time.perf_counter):
    """Median seconds per call of each fn.  The fns are timed alternately, `inner` calls
    per sample, so machine drift hits all of them alike; the order rotates every rep,
    so no fn always runs right after the same other one (the memory one frees changes
    the page faults the next one takes).  `clock`: time.perf_counter (wall), or
    time.process_time / time.thread_time for CPU time on a busy machine."""
    for f in fns:
        for _ in range(max(1, inner // 4)):
            f()
    samples = [[] for _ in fns]
    k = len(fns)
    for r in range(reps):
        for i in [(r + o) % k for o in range(k)]:
            f = fns[i]
            t0 = clock()
            for _ in range(inner):
                f()
            samples[i].append((clock() - t0) / inner)
    return [statistics.median(s) for s in samples]
