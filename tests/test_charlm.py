"""The tiny-Shakespeare corpus, the character vocabulary and ``fastgrad train --task
charlm`` for each model, run through the command's entry point."""
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import charlm, cli, datasets


def test_corpus_ships_with_the_package():
    text = datasets.tiny_shakespeare()
    assert len(text) == 1115394
    assert text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")
    tr, va = datasets.tiny_shakespeare("train"), datasets.tiny_shakespeare("val")
    assert tr + va == text and len(va) == len(text) - int(len(text) * 0.9)
    with pytest.raises(ValueError, match="split"):
        datasets.tiny_shakespeare("test")
    with pytest.raises(ValueError, match="val_fraction"):
        datasets.tiny_shakespeare("val", val_fraction=1.5)


def test_char_vocab_round_trips():
    text = datasets.tiny_shakespeare()
    vocab = datasets.CharVocab(text)
    assert len(vocab) == 65 and vocab.chars[0] == "\n" and vocab.chars == "".join(sorted(set(text)))
    ids = vocab.encode(text[:1000])
    assert ids.dtype == fg.int64 and ids.shape == (1000,)
    assert ids._data.tolist() == [vocab.chars.index(c) for c in text[:1000]]
    assert vocab.decode(ids) == text[:1000]
    assert vocab.decode([]) == ""
    with pytest.raises(ValueError, match=r"not in the vocabulary: \['é'\]"):
        vocab.encode("café")
    with pytest.raises(ValueError, match=r"ids must be in \[0, 65\)"):
        vocab.decode([3, 65])
    with pytest.raises(ValueError, match="empty"):
        datasets.CharVocab("")


def test_get_batch_targets_are_the_next_characters():
    data = np.arange(100)
    x, y = charlm.get_batch(data, 8, 10, np.random.default_rng(0))
    assert x.shape == y.shape == (8, 10) and x.dtype == np.int64
    np.testing.assert_array_equal(y, x + 1)
    np.testing.assert_array_equal(np.diff(x, axis=1), 1)
    with pytest.raises(ValueError, match="longer than seq_len"):
        charlm.get_batch(data[:5], 2, 5, np.random.default_rng(0))


def _losses(text):
    vals = [float(v) for v in re.findall(r"val loss (\d+\.\d+)", text)]
    final = re.search(r"validation loss (\d+\.\d+) \(untrained (\d+\.\d+)\)", text)
    return vals, final


@pytest.mark.parametrize("model,extra", [
    ("lstm", ["--hidden", "48"]),
    ("gru", ["--hidden", "48", "--layers", "2"]),
    ("transformer", ["--d-model", "32", "--heads", "4", "--layers", "2", "--lr", "1e-2"]),
])
def test_charlm_task_learns_and_samples(model, extra):
    argv = [sys.executable, "-m", "fastgrad", "train", "--task", "charlm", "--model", model,
            "--steps", "40", "--batch-size", "16",
            "--seq-len", "32", "--threads", "1", "--eval-every", "10", "--eval-batches", "4",
            "--sample-chars", "200", "--seed", "3"] + extra
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert r.returncode == 0, r.stderr[-2000:]
    text = r.stdout
    vals, final = _losses(text)
    assert len(vals) == 5, text                       # step 0 and every 10 steps
    untrained = float(final.group(2))
    assert untrained > 3.9                            # about ln(65) = 4.17 before training
    assert vals[-1] < untrained - 0.8, text           # it learned the character statistics
    assert vals[-1] < vals[1], text
    assert f"{model}" in text.splitlines()[0]
    sample = text.split("sample:\n", 1)[1]
    lines = [ln for ln in sample.splitlines() if ln.strip()]
    assert lines and all(ln.startswith("  ") for ln in sample.splitlines())
    assert sum(len(ln) - 2 for ln in sample.splitlines()) + sample.count("\n") >= 200


def _train(argv):
    buf = io.StringIO()
    res = cli.train(cli.build_parser().parse_args(["train"] + argv), out=buf)
    return res, buf.getvalue()


def test_charlm_same_seed_same_run():
    argv = ["--task", "charlm", "--steps", "5", "--batch-size", "4", "--seq-len", "16",
            "--hidden", "16", "--threads", "1", "--sample-chars", "50", "--quiet"]
    ra, a = _train(argv)
    rb, b = _train(argv)
    assert ra["history"] == rb["history"] and ra["sample"] == rb["sample"] and len(ra["sample"]) == 50
    strip = re.compile(r"training .*steps/s")
    assert strip.sub("", a) == strip.sub("", b)


@pytest.mark.parametrize("argv,msg", [
    (["--model", "lstm", "--d-model", "32"], "--d-model is the transformer's width"),
    (["--model", "transformer", "--d-model", "30", "--heads", "4"], "not divisible by --heads 4"),
    (["--hidden", "32,16"], "one --hidden width"),
    (["--checkpoint", "x.fg"], "--checkpoint is not supported with --task charlm"),
    (["--dropout", "1.5"], "--dropout"),
    (["--sample-chars", "-1"], "--sample-chars"),
])
def test_charlm_option_errors(argv, msg):
    with pytest.raises(SystemExit, match=msg):
        cli.main(["train", "--task", "charlm", "--steps", "1"] + argv)


def test_charlm_bad_model_choice():
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["train", "--task", "charlm", "--model", "rnn"])


def test_char_lm_example_runs(tmp_path):
    path = os.path.join(os.path.dirname(__file__), "..", "examples", "char_lm.py")
    r = subprocess.run([sys.executable, path, "--steps", "30", "--hidden", "32", "--batch-size", "16",
                        "--seq-len", "32", "--sample-chars", "120"], capture_output=True, text=True,
                       timeout=600, cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert r.returncode == 0, r.stderr[-2000:]
    vals = [float(v) for v in re.findall(r"val loss (\d+\.\d+)", r.stdout)]
    assert len(vals) == 6 and vals[-1] < vals[0] - 0.8, r.stdout
    sample = r.stdout.split("--- sample ---\n", 1)[1]
    assert len(sample) >= 120


@pytest.mark.parametrize("model", ["gru", "transformer"])
def test_charlm_compile_gives_the_eager_run(model):
    """--compile runs the step as a plan where fastgrad.compile can (eagerly, with a notice,
    where not); either way the run is the eager one, loss for loss."""
    argv = ["--task", "charlm", "--model", model, "--steps", "4", "--batch-size", "4", "--seq-len", "8",
            "--hidden", "16", "--threads", "1", "--sample-chars", "20", "--eval-every", "2", "--quiet"]
    eager, _ = _train(argv)
    compiled, _ = _train(argv + ["--compile"])
    assert compiled["history"] == eager["history"] and compiled["sample"] == eager["sample"]
