"""fastgrad.bench.harness's timing core (interleaved rounds, medians), with a fake clock."""
import numpy as np

import fastgrad as fg
from fastgrad.bench import harness


def _clocked(costs):
    """A fake clock and one fn per cost that advances it by that cost and logs its name."""
    now, log = [0.0], []

    def make(name, cost):
        def f():
            log.append(name)
            now[0] += cost
        return f
    fns = [make(n, c) for n, c in costs.items()]
    return fns, (lambda: now[0]), log


def test_interleaved_rounds_rotate_the_order():
    fns, clock, log = _clocked({"a": 1.0, "b": 1.0, "c": 1.0})
    harness.interleaved_samples(fns, [1, 1, 1], min_rounds=3, clock=clock)
    assert "".join(log) == "abc" + "bca" + "cab"


def test_interleaved_medians_per_call():
    fns, clock, log = _clocked({"a": 2.0, "b": 5.0})
    assert harness.interleaved(fns, reps=5, inner=4, clock=clock) == [2.0, 5.0]
    # warm-up: inner // 4 = 1 call each, then 5 rounds of 4 calls each
    assert log.count("a") == log.count("b") == 1 + 5 * 4


def test_interleaved_samples_budget_and_cap():
    fns, clock, log = _clocked({"a": 1.0})
    s = harness.interleaved_samples(fns, [2], min_rounds=1, budget=10.0, clock=clock)
    assert len(s[0]) == 5 and set(s[0]) == {1.0}      # 2 s per round until 10 s passed
    s = harness.interleaved_samples(fns, [1], min_rounds=1, budget=1e9, clock=clock, max_rounds=7)
    assert len(s[0]) == 7


def test_time_case_reports_medians_and_ratio():
    x = fg.randn(64)
    xa = x.numpy()
    case = harness.Case("kernels", "exp", {
        "fastgrad": lambda: (lambda: fg.exp(x), lambda: fg.exp(x)),
        "numpy": lambda: (lambda: np.exp(xa), lambda: np.exp(xa)),
        "wrong": lambda: (lambda: None, lambda: np.zeros(64)),
    })
    out = harness.time_case(case, budget=0.0, block=1e-4, min_rounds=3)
    for name in ("fastgrad", "numpy"):
        rec = out["impls"][name]
        assert rec["status"] == "ok" and len(rec["samples_s"]) == 3
        assert rec["median_s"] == float(np.median(rec["samples_s"]))
    assert out["impls"]["numpy"]["ratio"] == out["impls"]["numpy"]["median_s"] / out["impls"]["fastgrad"]["median_s"]
    assert out["impls"]["wrong"]["status"] == "WRONG"
