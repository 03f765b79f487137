"""tools/peer_corpus.py: a small corpus in the peer's style run end to end, and the
comparison's outcomes on hand-made records."""
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastgrad as fg

pytest.importorskip("torch")

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "peer_corpus.py"


def _tool():
    spec = importlib.util.spec_from_file_location("peer_corpus", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CORPUS = textwrap.dedent('''
    import unittest
    import numpy as np
    import torch
    from tinygrad import Tensor, Device, dtypes

    def helper_test_op(shps, torch_fxn, tinygrad_fxn=None, atol=1e-6, rtol=1e-3, grad_atol=1e-4,
                       grad_rtol=1e-3, forward_only=False, vals=None, low=-2, high=2):
      raise AssertionError("replaced by the tool")

    class TestOps(unittest.TestCase):
      def helper_test_exception(self, shps, torch_fxn, tinygrad_fxn=None, expected=None, **kw):
        raise AssertionError("replaced by the tool")

      def test_ops(self):
        helper_test_op([(3, 4), (3, 4)], lambda x, y: x * y + y.exp(), Tensor.mul)
        helper_test_op([(5, 6)], lambda x: x.relu().sum(1))
        t = Tensor([1, 2, 3])            # peer-only statements are inert
        assert t.numpy() == 7            # and their assertions do not stop the test
        helper_test_op(None, lambda x: x // 2, forward_only=True, vals=[[3, -4, 5]])
        idx = torch.randint(0, 5, (4,))  # random tensors: the same values in both worlds
        helper_test_op([(5, 3)], lambda x: x[idx])

      def test_missing_and_errors(self):
        # a PyTorch function fastgrad does not have
        helper_test_op([(3,)], lambda x: torch.fake_quantize_per_tensor_affine(x, 0.1, 0, 0, 255))
        helper_test_op([(3,)], lambda x: x.reshape(7))           # both raise: excluded
        self.helper_test_exception([(2, 3), (4, 5)], lambda x, y: x @ y, expected=RuntimeError)

      @unittest.skipIf(Device.DEFAULT == "WEBGPU", "peer device condition")
      def test_skip_condition_on_inert_device(self):
        helper_test_op([(2, 2)], lambda x: x.sigmoid())

      @unittest.skip("skipped by the peer")
      def test_skipped(self):
        helper_test_op([(2, 2)], lambda x: x.sigmoid())
''')


def test_small_corpus_end_to_end(tmp_path):
    path = tmp_path / "test_ops.py"
    path.write_text(CORPUS)
    out = tmp_path / "out.json"
    # the fastgrad this test imported (the source tree in development, the installed
    # package in CI), first on the child's path
    env_path = os.path.dirname(os.path.dirname(os.path.abspath(fg.__file__)))
    r = subprocess.run([sys.executable, str(TOOL), str(path), "--json", str(out)], capture_output=True,
                       text=True, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    cases = {k: (o, why) for k, o, why in res["cases"]}
    assert set(cases) == {"TestOps.test_ops#0", "TestOps.test_ops#1", "TestOps.test_ops#2", "TestOps.test_ops#3",
                          "TestOps.test_missing_and_errors#0", "TestOps.test_missing_and_errors#1",
                          "TestOps.test_missing_and_errors#2", "TestOps.test_skip_condition_on_inert_device#0"}
    for k in ("TestOps.test_ops#0", "TestOps.test_ops#1", "TestOps.test_ops#2", "TestOps.test_ops#3",
              "TestOps.test_missing_and_errors#2", "TestOps.test_skip_condition_on_inert_device#0"):
        assert cases[k][0] == "agree", (k, cases[k])
    assert cases["TestOps.test_missing_and_errors#0"][0] == "missing name"
    assert "fake_quantize_per_tensor_affine" in cases["TestOps.test_missing_and_errors#0"][1]
    assert cases["TestOps.test_missing_and_errors#1"][0] == "excluded"
    assert res["counts"]["agree"] == 6 and "agreement" in r.stdout


def _rec(value, dtype="float32"):
    a = np.asarray(value, dtype=dtype)
    return {"shape": a.shape, "dtype": dtype, "value": a}


def _op(fwd, grads=None):
    r = {"kind": "op", "tol": (1e-6, 1e-3, 1e-4, 1e-3), "fwd": fwd}
    if grads is not None:
        r["grads"] = grads
    return r


def test_classify_outcomes():
    pc = _tool()
    t = _op(_rec([1.0, 2.0]), [_rec([1.0, 1.0])])
    assert pc.classify(t, _op(_rec([1.0, 2.0005]), [_rec([1.0, 1.0])]))[0] == "agree"
    assert pc.classify(t, _op(_rec([1.0, 2.1]), [_rec([1.0, 1.0])]))[0] == "WRONG value"
    assert pc.classify(t, _op(_rec([1.0, 2.0, 3.0]), [_rec([1.0, 1.0])]))[0] == "WRONG value"
    assert pc.classify(t, _op(_rec([1.0, 2.0]), [_rec([1.0, 0.0])]))[0] == "wrong gradient"
    assert pc.classify(t, _op(_rec([1.0, 2.0]), [None]))[0] == "wrong gradient"
    assert pc.classify(t, _op(_rec([1.0, 2.0], "float64"), [_rec([1.0, 1.0])]))[0] == "wrong dtype"
    assert pc.classify(_op(_rec([1, 2], "int32")), _op(_rec([1, 3], "int32")))[0] == "WRONG value"
    nan = _op(_rec([np.nan, 1.0]))
    assert pc.classify(nan, _op(_rec([np.nan, 1.0])))[0] == "agree"
    err = {"type": "AttributeError", "mro": ["AttributeError"], "msg": "no attribute 'x'"}
    assert pc.classify(t, {"kind": "op", "fwd_error": err})[0] == "missing name"
    assert pc.classify(t, None)[0] == "error"
    exc = {"kind": "exc", "expected": ["RuntimeError"],
           "raised": {"type": "RuntimeError", "mro": ["RuntimeError"], "msg": ""}}
    assert pc.classify(exc, exc)[0] == "agree"
    assert pc.classify(exc, {"kind": "exc", "raised": None})[0] == "wrong exception"
    other = {"kind": "exc", "raised": {"type": "TypeError", "mro": ["TypeError"], "msg": ""}}
    assert pc.classify(exc, other)[0] == "wrong exception"
