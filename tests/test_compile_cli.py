"""`fastgrad train --compile` compiles its steps (dropout included), trains exactly as
eager execution does, and says when its steps fall back to eager execution."""
import io

import numpy as np

import fastgrad as fg
from fastgrad import cli


def _train(extra, capsys):
    args = cli.build_parser().parse_args(
        ["train", "--quiet", "--dataset", "blobs", "--samples", "200", "--epochs", "2",
         "--hidden", "8", "--optimizer", "sgd"] + extra)
    res = cli.train(args, out=io.StringIO())
    return capsys.readouterr().err, res


def _same_parameters(a, b):
    pa, pb = list(a.parameters()), list(b.parameters())
    return len(pa) == len(pb) and all(p._data.tobytes() == q._data.tobytes() for p, q in zip(pa, pb))


def test_compile_with_dropout_compiles_and_matches_eager(capsys, monkeypatch):
    made = []
    real = fg.compile

    def spy(fn, **kw):
        made.append(real(fn, **kw))
        return made[-1]
    monkeypatch.setattr(fg, "compile", spy)
    err, res = _train(["--compile", "--dropout", "0.2"], capsys)
    assert "eagerly" not in err
    st = made[0].stats
    assert st["eager_calls"] == 0 and st["replays"] > 0
    monkeypatch.setattr(fg, "compile", real)
    err2, res2 = _train(["--dropout", "0.2"], capsys)
    assert _same_parameters(res["model"], res2["model"])
    assert res["test_loss"] == res2["test_loss"]


def test_compile_says_when_steps_run_eagerly(capsys, monkeypatch):
    from fastgrad.nn import functional as F
    real = F.cross_entropy

    def numpy_loss(logits, y, **kw):        # adds a tensor made outside the kernels
        return real(logits, y, **kw) + fg.from_numpy(np.asarray(logits._data.sum() * 0))
    monkeypatch.setattr(F, "cross_entropy", numpy_loss)
    err, _ = _train(["--compile", "--dropout", "0.2"], capsys)
    assert err.count("--compile: training steps run eagerly") == 1


def test_compile_without_dropout_says_nothing(capsys):
    assert "eagerly" not in _train(["--compile"], capsys)[0]
