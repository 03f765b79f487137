"""The `fastgrad bench` harness: statistics, the correctness gate, the JSON result, the
compare logic and a smoke run of the command (no timing is asserted anywhere)."""
import json

import numpy as np
import pytest

from fastgrad import cli
from fastgrad.bench import harness as H


def test_quartiles_interpolate_like_percentiles():
    assert H.quartiles([1, 2, 3, 4, 5, 6, 7, 8, 9]) == (3.0, 5.0, 7.0)
    assert H.quartiles([4.0, 1.0, 2.0, 3.0]) == (1.75, 2.5, 3.25)


def _case(peer_result, peer_cost=2000):
    x = np.arange(50.0)

    def fast():
        return x * 2

    def slow():
        s = 0
        for i in range(peer_cost):        # clearly more work than `fast`
            s += i
        return peer_result

    return H.Case("kernels", "double", {"fastgrad": lambda: (fast, fast),
                                        "peer": lambda: (slow, slow),
                                        "missing": lambda: None},
                  flops=50, rtol=1e-12, atol=0)


def test_time_case_records_samples_ratio_and_gflops():
    r = H.time_case(_case(np.arange(50.0) * 2), budget=0.02, block=0.002, min_rounds=4)
    f, p = r["impls"]["fastgrad"], r["impls"]["peer"]
    assert f["status"] == p["status"] == "ok"
    assert len(f["samples_s"]) >= 4 and len(p["samples_s"]) == len(f["samples_s"])
    assert f["median_s"] == pytest.approx(H.quartiles(f["samples_s"])[1])
    assert p["ratio"] == pytest.approx(p["median_s"] / f["median_s"])
    assert f["gflops"] == pytest.approx(50 / f["median_s"] / 1e9)
    assert r["impls"]["missing"]["status"] == "unavailable"
    json.dumps(r)                                          # serialisable as is


def test_correctness_gate_rejects_a_wrong_kernel():
    wrong = np.arange(50.0) * 2
    wrong[7] += 1e-6
    r = H.time_case(_case(wrong), budget=0.01, block=0.001, min_rounds=2)
    assert r["impls"]["peer"]["status"] == "WRONG"
    assert "samples_s" not in r["impls"]["peer"]
    shaped = H.time_case(_case((np.arange(50.0) * 2).reshape(5, 10)), budget=0.01, block=0.001,
                         min_rounds=2)
    assert shaped["impls"]["peer"]["status"] == "WRONG"


def _run(medians, iqrs):
    return {"schema": H.SCHEMA, "results": [
        {"suite": "gemm", "case": name, "threads": 2, "dtype": "float32",
         "impls": {"fastgrad": {"status": "ok", "median_s": m, "iqr_s": q}}}
        for name, m, q in zip(("a", "b", "c", "d"), medians, iqrs)]}


def test_compare_flags_only_changes_beyond_the_noise():
    old = _run([1.0, 1.0, 1.0, 1.0], [0.01, 0.01, 0.01, 0.4])
    new = _run([0.5, 2.0, 1.02, 0.7], [0.01, 0.01, 0.01, 0.2])
    rows = {r[1]: r for r in H.compare(old, new)}
    assert rows["a"][-1] == "faster" and rows["a"][-2] == pytest.approx(2.0)
    assert rows["b"][-1] == "slower"
    assert rows["c"][-1] == "same"           # 2% is inside the 5% threshold
    assert rows["d"][-1] == "same"           # 1.43x, but the runs' spread is larger than that


def test_load_run_rejects_foreign_json(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not a fastgrad bench result"):
        H.load_run(str(p))


def test_bench_command_smoke(tmp_path, capsys):
    out = tmp_path / "run.json"
    argv = ["bench", "--quick", "--suite", "overhead,gemm", "--budget", "0.05", "--threads", "1",
            "--against", "numpy", "--json", str(out)]
    assert cli.main(argv) == 0
    run = H.load_run(str(out))
    assert run["machine"]["simd"] and run["machine"]["threads"] == [1]
    suites = {r["suite"] for r in run["results"]}
    assert suites == {"overhead", "gemm"}
    gemm = [r for r in run["results"] if r["suite"] == "gemm"]
    assert all(r["impls"]["numpy"]["status"] == "ok" for r in gemm)   # passed the gate
    assert all(r["impls"]["fastgrad"]["gflops"] > 0 for r in gemm)
    from fastgrad.bench import markdown
    table = markdown(run).splitlines()
    assert table[0].startswith("| suite | case | threads | fastgrad | numpy (ratio)")
    assert len(table) == 2 + len(run["results"])
    assert cli.main(["bench", "compare", str(out), str(out)]) == 0
    text = capsys.readouterr().out
    assert "same" in text and "faster" not in text


def test_bench_argument_errors():
    p = cli.build_parser()
    for argv in (["bench", "--suite", "conv"], ["bench", "--threads", "0"], ["bench", "--against", "mxnet"]):
        with pytest.raises(SystemExit):
            p.parse_args(argv)


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from fastgrad.bench import plot
    run = {"results": [{"suite": "gemm", "case": "a", "impls": {
        "fastgrad": {"status": "ok", "median_s": 1.0},
        "numpy": {"status": "ok", "median_s": 2.0, "ratio": 2.0}}}]}
    path = tmp_path / "r.png"
    plot(run, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(RuntimeError, match="no ratios to plot"):
        plot({"results": []}, str(path))


def test_plot_and_table_orient_variants_as_speed_ups(tmp_path):
    """compiled and tN columns are fastgrad run another way: a variant 7x faster than
    eager is a green bar right of 1 (not a red one), and the table gives its own column."""
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot
    from fastgrad.bench import markdown, plot
    run = {"peers": ["torch"], "results": [{"suite": "train", "case": "S", "threads": 1, "impls": {
        "fastgrad": {"status": "ok", "median_s": 1.0},
        "compiled": {"status": "ok", "median_s": 0.14, "ratio": 0.14},
        "torch": {"status": "ok", "median_s": 3.0, "ratio": 3.0}}}]}
    table = markdown(run)
    assert "compiled (x fastgrad)" in table.splitlines()[0] and "torch (ratio)" in table.splitlines()[0]
    widths = []
    orig = pyplot.Axes.barh

    def spy(self, y, w, **kw):
        widths.append((list(w), list(kw.get("color", []))))
        return orig(self, y, w, **kw)
    pyplot.Axes.barh = spy
    try:
        plot(run, str(tmp_path / "p.png"))
    finally:
        pyplot.Axes.barh = orig
    (w, colors), = widths
    assert sorted(w) == pytest.approx([3.0, 1 / 0.14]) and colors == ["tab:green", "tab:green"]


def test_seq_suite_runs_through_the_command(tmp_path, monkeypatch):
    """The seq suite at toy sizes: every case is built, timed and (with PyTorch installed)
    passes the correctness gate against PyTorch from the same weights."""
    from fastgrad.bench import seq
    monkeypatch.setattr(seq, "BATCH", 4)
    monkeypatch.setattr(seq, "SEQ", 12)
    monkeypatch.setattr(seq, "QUICK_RNN", (16,))
    monkeypatch.setattr(seq, "QUICK_TRANSFORMER", ((16, 12),))
    monkeypatch.setattr(seq, "QUICK_ATTN", (8, 40))
    out = tmp_path / "seq.json"
    argv = ["bench", "--quick", "--suite", "seq", "--budget", "0.01", "--threads", "1",
            "--against", "torch", "--json", str(out)]
    assert cli.main(argv) == 0
    run = H.load_run(str(out))
    names = [r["case"] for r in run["results"]]
    assert [n.split()[0] for n in names] == ["LSTM", "GRU", "tiny", "sdpa", "sdpa"]
    assert "hidden 16" in names[0] and "seq 12" in names[2] and "L 40" in names[4]
    for r in run["results"]:
        assert r["suite"] == "seq" and r["impls"]["fastgrad"]["status"] == "ok"
        assert r["impls"].get("compiled", {"status": "unavailable"})["status"] in ("ok", "unavailable")
        if "torch" in run["peers"]:
            assert r["impls"]["torch"]["status"] == "ok", r["case"]
    assert all(r["impls"]["fastgrad"]["gflops"] > 0 for r in run["results"][3:])


def test_seq_suite_full_case_list():
    from fastgrad.bench.seq import seq_cases
    names = [c.name for c in seq_cases(quick=False, against=["torch"])]
    assert sum(n.startswith("LSTM") for n in names) == 2 and sum(n.startswith("GRU") for n in names) == 2
    assert sum("transformer" in n for n in names) == 4
    assert [int(n.split(" L ")[1].split()[0]) for n in names if n.startswith("sdpa")] == \
        [64, 128, 256, 512, 1024, 2048]
    assert all("torch" in c.impls for c in seq_cases(quick=True, against=["torch"]))
    assert all("torch" not in c.impls for c in seq_cases(quick=True, against=[]))
