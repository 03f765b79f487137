"""`fastgrad train --compile` says when its steps fall back to eager execution."""
import io

from fastgrad import cli


def _train(extra, capsys):
    args = cli.build_parser().parse_args(
        ["train", "--quiet", "--dataset", "blobs", "--samples", "200", "--epochs", "2",
         "--hidden", "8", "--optimizer", "sgd"] + extra)
    cli.train(args, out=io.StringIO())
    return capsys.readouterr().err


def test_compile_with_dropout_says_it_runs_eagerly(capsys):
    err = _train(["--compile", "--dropout", "0.2"], capsys)
    assert err.count("--compile: training steps run eagerly") == 1
    assert "dropout" in err


def test_compile_without_dropout_says_nothing(capsys):
    assert "eagerly" not in _train(["--compile"], capsys)
