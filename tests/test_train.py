"""End to end: training networks with nn + optim + data, the `fastgrad train` command,
checkpoints that resume exactly."""
import io
import os
import subprocess
import sys

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import cli, nn, optim
from fastgrad.nn import functional as F


def _run(argv):
    out = io.StringIO()
    res = cli.train(cli.build_parser().parse_args(["train"] + argv), out=out)
    return res, out.getvalue()


def test_mlp_on_digits_reaches_95_percent():
    pytest.importorskip("sklearn")
    res, text = _run(["--quiet", "--threads", "1"])        # the defaults: MLP 64-128-64-10, Adam
    assert res["test_accuracy"] >= 0.95, text
    assert "test accuracy" in text and "steps/s" in text


def test_train_on_generated_sets_learns():
    # moons are not linearly separable: a linear model stays near 86%, an MLP goes above 95%
    res, _ = _run(["--dataset", "moons", "--samples", "1000", "--epochs", "40", "--quiet",
                   "--optimizer", "sgd", "--lr", "0.1", "--hidden", "32,32"])
    assert res["test_accuracy"] > 0.95
    res, _ = _run(["--dataset", "spirals", "--samples", "900", "--epochs", "60", "--quiet",
                   "--hidden", "64,64", "--lr", "0.01"])
    assert res["test_accuracy"] > 0.9


def test_checkpoint_resume_continues_exactly(tmp_path):
    ck = str(tmp_path / "run.fg")
    base = ["--dataset", "blobs", "--samples", "600", "--hidden", "16", "--quiet", "--threads", "1",
            "--dropout", "0.1", "--schedule", "onecycle", "--epochs", "4"]
    full, _ = _run(base)
    _run(base + ["--stop-after", "2", "--checkpoint", ck])       # an interrupted run
    assert os.path.exists(ck)
    resumed, _ = _run(base + ["--resume", ck])
    a = full["model"].state_dict()
    b = resumed["model"].state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k].numpy(), b[k].numpy(), err_msg=k)
    state = fg.load(ck)
    assert state["epoch"] == 2 and set(state) >= {"model", "optimizer", "config"}


def test_resume_from_bad_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.fg"
    fg.save({"model": {"nope": fg.zeros(1)}, "optimizer": {}, "epoch": 1}, str(bad))
    args = ["--dataset", "moons", "--samples", "100", "--epochs", "2", "--quiet"]
    with pytest.raises(SystemExit, match="cannot resume from"):
        _run(args + ["--resume", str(bad)])
    with pytest.raises(SystemExit, match="no such file"):
        _run(args + ["--resume", str(tmp_path / "missing.fg")])
    ck = str(tmp_path / "ok.fg")
    _run(args + ["--checkpoint", ck, "--stop-after", "1"])
    with pytest.raises(SystemExit, match=r"other settings: --epochs 2 \(now 3\)"):
        _run(["--dataset", "moons", "--samples", "100", "--epochs", "3", "--quiet", "--resume", ck])


def test_cli_argument_errors():
    p = cli.build_parser()
    for argv in (["train", "--hidden", "12,x"], ["train", "--epochs", "0"], ["train", "--lr", "-1"],
                 ["train", "--optimizer", "lbfgs"]):
        with pytest.raises(SystemExit):
            p.parse_args(argv)


def test_console_entry_point_runs_as_module():
    # `python -m fastgrad train ...` in a fresh interpreter: the installed entry point's code path
    r = subprocess.run([sys.executable, "-m", "fastgrad", "train", "--dataset", "moons", "--samples",
                        "300", "--epochs", "2", "--no-progress"], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert r.returncode == 0, r.stderr
    assert "epoch   2/2" in r.stdout and "test accuracy" in r.stdout


def _mlp_numpy_reference_step(x, y, Ws, bs, lr):
    """One SGD step of a ReLU MLP with mean cross-entropy, by hand in float64."""
    hs = [x]
    for i, (W, b) in enumerate(zip(Ws, bs)):
        z = hs[-1] @ W.T + b
        hs.append(np.maximum(z, 0) if i < len(Ws) - 1 else z)
    z = hs[-1] - hs[-1].max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    loss = -np.log(p[np.arange(len(y)), y]).mean()
    g = p.copy()
    g[np.arange(len(y)), y] -= 1
    g /= len(y)
    newW, newb = list(Ws), list(bs)
    for i in reversed(range(len(Ws))):
        gW, gb = g.T @ hs[i], g.sum(0)
        if i > 0:
            g = (g @ Ws[i]) * (hs[i] > 0)
        newW[i] = Ws[i] - lr * gW
        newb[i] = bs[i] - lr * gb
    return loss, newW, newb


def test_training_steps_match_a_numpy_mlp():
    fg.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3)).double()
    opt = optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    Ws = [model[0].weight._data.copy(), model[2].weight._data.copy()]
    bs = [model[0].bias._data.copy(), model[2].bias._data.copy()]
    for _ in range(5):
        x = rng.standard_normal((8, 5))
        y = rng.integers(0, 3, 8)
        loss = F.cross_entropy(model(fg.tensor(x)), fg.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        ref_loss, Ws, bs = _mlp_numpy_reference_step(x, y, Ws, bs, 0.1)
        assert loss.item() == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(model[0].weight._data, Ws[0], rtol=1e-11)
    np.testing.assert_allclose(model[2].bias._data, bs[1], rtol=1e-11)


@pytest.mark.parametrize("script", ["mlp_digits.py", "regression.py", "port_from_pytorch.py"])
def test_examples_run(script, tmp_path):
    if script == "mlp_digits.py":
        pytest.importorskip("sklearn")
    path = os.path.join(os.path.dirname(__file__), "..", "examples", script)
    r = subprocess.run([sys.executable, path], capture_output=True, text=True, timeout=600,
                       cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert r.returncode == 0, r.stderr[-2000:]
    if script == "mlp_digits.py":
        acc = float(r.stdout.split("test accuracy ")[1].split(",")[0])
        assert acc > 0.95 and "reloaded model agrees: True" in r.stdout
    if script == "regression.py":
        assert float(r.stdout.rsplit(" ", 1)[1]) < 0.01
