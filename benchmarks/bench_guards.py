"""The cost of fastgrad.compile's guards: the compiled S training step of
fastgrad.bench.workloads (batch 32, MLP 64-128-10, SGD) with its guards and with the
guard function replaced by one that passes, timed interleaved in one process (medians),
plus the guard function alone.  The difference is taken on one compiled step whose guard
is switched on and off (two separately compiled steps also differ by where their arrays
lie in memory, which moves their times by more than the guard costs; that difference is
printed too).

    python benchmarks/bench_guards.py [--reps 31] [--inner 200] [--configs S,M] [--opt sgd]

The "without guards" step is not a usable configuration (a replay that checks nothing
can run a stale plan); it exists here only to measure what the checks cost.
"""
import argparse
import time

from fastgrad.bench import workloads as W
from fastgrad.bench.harness import interleaved, set_threads


def _passes():
    return True


def measure(cfg, opt, reps, inner):
    guarded = W.fastgrad_compiled_train_step(cfg, opt)
    bare = W.fastgrad_compiled_train_step(cfg, opt)
    for f in (guarded, bare):
        for _ in range(3):          # trace, second-call check, first replay
            f()
    plans = [p for ps in bare._plans.values() for p in ps]
    gplans = [p for ps in guarded._plans.values() for p in ps]
    assert len(plans) == 1 and len(gplans) == 1, "expected one compiled plan per step"
    plan = gplans[0]
    guard = plan.guard
    plans[0].guard = _passes

    def with_guard():               # the same step, its guard switched on and off
        plan.guard = guard
        guarded()

    def without_guard():
        plan.guard = _passes
        guarded()
    t_on, t_off, t_guarded, t_bare, t_guard, t_pass = interleaved(
        [with_guard, without_guard, guarded, bare, lambda: guard(), lambda: _passes()],
        reps, inner=inner, clock=time.perf_counter)
    plan.guard = guard
    return {"cfg": cfg, "opt": opt, "checks": guard.nchecks, "step_guarded_us": t_on * 1e6,
            "step_bare_us": t_off * 1e6, "guard_us": (t_guard - t_pass) * 1e6,
            "difference_us": (t_on - t_off) * 1e6,
            "two_steps_difference_us": (t_guarded - t_bare) * 1e6}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=31)
    ap.add_argument("--inner", type=int, default=200)
    ap.add_argument("--configs", default="S")
    ap.add_argument("--opt", default="sgd")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    set_threads(a.threads)
    for cfg in a.configs.split(","):
        r = measure(cfg, a.opt, a.reps, a.inner)
        print(f"{r['cfg']} {r['opt']}: {r['checks']} checks; step with guards "
              f"{r['step_guarded_us']:.2f} us, without {r['step_bare_us']:.2f} us "
              f"(difference {r['difference_us']:+.2f} us); guard function alone "
              f"{r['guard_us']:.2f} us per call; two separate compiled steps, one without "
              f"guards: difference {r['two_steps_difference_us']:+.2f} us (medians)")


if __name__ == "__main__":
    main()
