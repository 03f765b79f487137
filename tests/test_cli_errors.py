"""`fastgrad train` user errors: one clear line on stderr and a non-zero exit status (no
traceback), found before training where possible; a closed pipe ends the run quietly."""
import io
import os
import subprocess
import sys

import pytest

import fastgrad as fg
from fastgrad import cli

SMALL = ["--dataset", "moons", "--samples", "200", "--epochs", "2", "--no-progress"]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}


def _train(*argv, **kw):
    return subprocess.run([sys.executable, "-m", "fastgrad", "train", *argv], capture_output=True,
                          text=True, timeout=120, env=ENV, **kw)


def _one_line_error(r, *needles):
    assert r.returncode != 0, (r.stdout, r.stderr)
    err = r.stderr.strip()
    assert "Traceback" not in r.stderr, r.stderr
    assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err
    return err


def _no_training(r):
    assert "epoch " not in r.stdout and "steps/s" not in r.stdout, r.stdout


def test_checkpoint_in_a_missing_directory_fails_before_training(tmp_path):
    path = tmp_path / "nope" / "run.fg"
    r = _train(*SMALL, "--checkpoint", str(path))
    _one_line_error(r, "--checkpoint", "does not exist")
    _no_training(r)


def test_checkpoint_that_is_a_directory_fails_before_training(tmp_path):
    r = _train(*SMALL, "--checkpoint", str(tmp_path))
    _one_line_error(r, "--checkpoint", "is a directory")
    _no_training(r)


def _good_checkpoint(tmp_path, *extra):
    ck = tmp_path / "run.fg"
    r = _train(*SMALL, "--checkpoint", str(ck), *extra)
    assert r.returncode == 0, r.stderr
    return ck


@pytest.mark.parametrize("kind", ["garbage", "truncated", "directory", "missing", "empty",
                                  "other_object", "pickle", "bad_epoch", "epoch_out_of_range",
                                  "bad_model"])
def test_resume_from_unusable_paths(tmp_path, kind):
    if kind in ("bad_epoch", "epoch_out_of_range", "bad_model"):
        ck = fg.load(str(_good_checkpoint(tmp_path)))
        ck["config"] = [1, 2]           # not the mapping a run writes: ignored
        ck.update({"bad_epoch": {"epoch": "abc"}, "epoch_out_of_range": {"epoch": 7},
                   "bad_model": {"model": 5}}[kind])
        path = tmp_path / f"{kind}.fg"
        fg.save(ck, str(path))
    elif kind == "truncated":
        good = _good_checkpoint(tmp_path).read_bytes()
        path = tmp_path / "cut.fg"
        path.write_bytes(good[:len(good) // 2])
    elif kind == "directory":
        path = tmp_path
    elif kind == "missing":
        path = tmp_path / "missing.fg"
    else:
        path = tmp_path / f"{kind}.fg"
        if kind == "other_object":
            fg.save([1, 2, 3], str(path))
        else:
            path.write_bytes({"garbage": os.urandom(500), "empty": b"",
                              "pickle": b"\x80\x04\x95" + b"\0" * 40}[kind])
    r = _train(*SMALL, "--resume", str(path))
    _one_line_error(r, "resume", str(path))
    _no_training(r)


@pytest.mark.parametrize("argv,needle", [
    (["--hidden", ""], "--hidden"),
    (["--hidden", "128,,64"], "--hidden"),
    (["--hidden", "128,"], "--hidden"),
    (["--hidden", "0"], "--hidden"),
    (["--momentum", "-1", "--optimizer", "sgd"], "--momentum"),
    (["--weight-decay", "nan"], "--weight-decay"),
    (["--dropout", "1.5"], "--dropout"),
    (["--test-size", "0"], "--test-size"),
    (["--lr", "inf"], "--lr"),
    (["--optimizer", "lbfgs"], "--optimizer"),
    (["--seed", "-1"], "--seed"),
    (["--samples", "1"], "train_test_split"),
    (["--samples", "1000000000000"], "--samples"),      # terabytes: never allocated
])
def test_bad_options_are_one_line(argv, needle):
    r = _train(*SMALL, *argv)
    _one_line_error(r, needle)
    _no_training(r)


@pytest.mark.parametrize("opt", cli.OPTIMIZERS)
def test_every_optimizer_runs_with_every_schedule(opt):
    for sched in ("onecycle", "cosine", "none"):
        out = io.StringIO()
        args = cli.build_parser().parse_args(
            ["train", "--dataset", "moons", "--samples", "100", "--epochs", "1", "--quiet",
             "--optimizer", opt, "--schedule", sched])
        res = cli.train(args, out=out)
        assert "test accuracy" in out.getvalue() and res["steps_per_s"] > 0, (opt, sched)


def test_diverging_sgd_stops_with_a_clear_message():
    r = _train(*SMALL, "--optimizer", "sgd", "--lr", "1e6")
    _one_line_error(r, "diverged", "--lr")


def test_diverging_adam_warns():
    # Adam's steps are bounded by lr, so the loss stays finite but huge: a warning
    r = _train(*SMALL, "--lr", "1e6")
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and "--lr" in r.stderr and "Traceback" not in r.stderr
    r = _train(*SMALL)                                 # a sane run: no warning
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_finished_run_resumed_does_not_report_nan(tmp_path):
    ck = _good_checkpoint(tmp_path)
    r = _train(*SMALL, "--resume", str(ck))
    assert r.returncode == 0, r.stderr
    assert "nan" not in r.stdout and "already trained" in r.stdout
    assert "no training steps run" in r.stdout and "test accuracy" in r.stdout


def test_closed_pipe_exits_quietly():
    # a reader that takes one line and closes the pipe, as `fastgrad train | head -1`
    p = subprocess.Popen([sys.executable, "-m", "fastgrad", "train", "--dataset", "moons",
                          "--samples", "2000", "--epochs", "200", "--no-progress"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    first = p.stdout.readline()
    p.stdout.close()
    _, err = p.communicate(timeout=120)
    assert first.startswith(b"fastgrad ")
    assert p.returncode == 1, err
    assert err == b"", err.decode()


def test_bench_compare_unreadable_results_is_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    for path in (tmp_path / "missing.json", bad, tmp_path):
        r = subprocess.run([sys.executable, "-m", "fastgrad", "bench", "compare", str(path), str(path)],
                           capture_output=True, text=True, timeout=120, env=ENV)
        _one_line_error(r, "fastgrad bench compare", str(path))


@pytest.mark.parametrize("opt", ["--json", "--plot"])
def test_bench_output_paths_are_checked_before_timing(tmp_path, opt):
    # checked in-process: the check itself, so that no benchmark can start here
    for path, needle in ((tmp_path / "nope" / "x.out", "does not exist"), (tmp_path, "is a directory")):
        args = cli.build_parser().parse_args(["bench", "--quick", opt, str(path)])
        with pytest.raises(SystemExit, match=f"fastgrad bench: {opt} .*{needle}"):
            cli._check_bench_args(args)


def test_version_flag_prints_the_package_version():
    r = subprocess.run([sys.executable, "-m", "fastgrad", "--version"], capture_output=True, text=True,
                       timeout=60, env=ENV)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"fastgrad {fg.__version__}"
    from importlib import metadata
    try:
        assert metadata.version("fastgrad") == fg.__version__    # installed: metadata agrees
    except metadata.PackageNotFoundError:
        pass                                                      # run from the source tree
