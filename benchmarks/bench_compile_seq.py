"""Compiled vs eager training-step time of fastgrad.charlm's models (the ``seq`` bench
suite's LM steps: batch 32, AdamW): medians of interleaved runs in one process.

    PYTHONPATH=src python benchmarks/bench_compile_seq.py [--reps 15] [--quick]

Each row: the eager step, the compiled step (the same step through fastgrad.compile,
built from the same weights) and compiled / eager.  The plan is checked to replay (no
eager fallback) before timing.
"""
import argparse
import statistics
import time

import fastgrad as fg
from fastgrad.bench import seq as S
from fastgrad.compile import CompileError


def _time(fn, n):
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=15, help="interleaved rounds (default 15)")
    ap.add_argument("--quick", action="store_true", help="the smallest size of each model")
    args = ap.parse_args()
    cases = [("lstm", 128, 64), ("gru", 128, 64), ("transformer", 64, 64)]
    if not args.quick:
        cases += [("lstm", 256, 64), ("gru", 256, 64), ("transformer", 128, 64)]
    print(f"{'model':12s} {'width':>5s} {'seq':>4s} {'eager ms':>9s} {'compiled ms':>12s} {'ratio':>6s}")
    for kind, width, seq in cases:
        eager = S.fastgrad_lm_step(kind, width, seq)
        comp = fg.compile(S.fastgrad_lm_step(kind, width, seq))
        try:
            comp()
            comp()                        # the trace and the second-call check
        except CompileError as e:
            print(f"{kind:12s} {width:5d} {seq:4d}  compile failed: {e}")
            continue
        st = comp.stats
        assert st["eager_calls"] == 0 and st["replays"] >= 1, st
        eager()
        te, tc = [], []
        for _ in range(args.reps):
            te.append(_time(eager, 2))
            tc.append(_time(comp, 2))
        me, mc = statistics.median(te), statistics.median(tc)
        print(f"{kind:12s} {width:5d} {seq:4d} {me * 1e3:9.2f} {mc * 1e3:12.2f} {mc / me:6.2f}",
              flush=True)


if __name__ == "__main__":
    main()
