"""Run a peer project's op-test corpus against fastgrad and PyTorch and compare.

The corpus is a tinygrad-style ``test_ops.py``: its tests call
``helper_test_op(shapes, torch_fxn, tinygrad_fxn, ...)`` and
``self.helper_test_exception(shapes, torch_fxn, tinygrad_fxn, expected=...)``, where
``torch_fxn`` is a lambda over torch tensors.  This tool loads the file twice, in two
child processes ("worlds"):

* ``torch``: ``import torch`` is PyTorch;
* ``fastgrad``: ``import torch`` is fastgrad, through a shim that only aliases module
  names (torch -> fastgrad, torch.nn -> fastgrad.nn, torch.nn.functional ->
  fastgrad.nn.functional, ...), as a user who changes only imports would.

In each world the helpers are replaced by recorders that run the torch lambda on the same
generated inputs (the peer's recipe: ``np.random.seed(0)``, uniform in ``[low, high)``,
float32; ``vals=`` as given, int64 turned into int32) and record the forward output and the
gradient of every input (``autograd.grad(fxn(*xs).sum(), xs)``), or the exception raised.
The peer's own (tinygrad) lambdas are never run; the ``tinygrad`` package is replaced by an
inert stub so the file imports.

The parent compares the two records case by case (one case = one helper call): shape,
dtype, values within the call's tolerances (the peer's defaults: atol 1e-6, rtol 1e-3;
gradients 1e-4 / 1e-3), and for exception cases whether fastgrad raises the class the peer
expects.  Usage::

    python tools/peer_corpus.py /path/to/test_ops.py [-v] [--only SUBSTR] [--json OUT]

It prints the counts per outcome and one line per non-agreeing case, grouped by outcome.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import importlib.machinery
import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import traceback
import types
import unittest

import numpy as np

CASE_TIMEOUT_S = 60

OUTCOMES = ("agree", "missing name", "error", "WRONG value", "wrong gradient",
            "wrong dtype", "wrong exception", "excluded")


# --------------------------------------------------------------------------- worlds

class _Inert:
    """Stands for any tinygrad object: every attribute, call and index gives another one;
    it is falsy, compares unequal and contains nothing, so the peer's skip conditions
    and device checks read as "not this device"."""

    def __init__(self, *a, **k):
        pass

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Inert()

    def __call__(self, *a, **k):
        return _Inert()

    def __getitem__(self, k):
        return _Inert()

    def __iter__(self):
        return iter(())

    def __bool__(self):
        return False

    def __len__(self):
        return 0

    def __contains__(self, k):
        return False

    def __eq__(self, o):
        return False

    def __ne__(self, o):
        return True

    __lt__ = __le__ = __gt__ = __ge__ = __eq__

    def __hash__(self):
        return id(self)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def _self(self, *a):
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _self
    __truediv__ = __rtruediv__ = __neg__ = __pow__ = __rpow__ = _self
    __matmul__ = __rmatmul__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _self
    __and__ = __rand__ = __or__ = __ror__ = __xor__ = __rxor__ = __invert__ = _self
    __lshift__ = __rlshift__ = __rshift__ = __rrshift__ = __abs__ = _self

    def __repr__(self):
        return "<inert>"


class _Limits:
    def __init__(self, lo, hi):
        self.min, self.max = lo, hi

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Inert()


class _Dtypes(_Inert):
    """tinygrad's ``dtypes``: integer limits are real numbers (the peer's ``vals`` use
    them); everything else is inert."""
    _LIMITS = {"int": (-2**31, 2**31 - 1), "int32": (-2**31, 2**31 - 1),
               "int8": (-128, 127), "int16": (-2**15, 2**15 - 1), "uint8": (0, 255),
               "uint16": (0, 2**16 - 1), "uint32": (0, 2**32 - 1),
               "int64": (-2**63, 2**63 - 1), "long": (-2**63, 2**63 - 1)}

    def __getattr__(self, name):
        if name in self._LIMITS:
            return _Limits(*self._LIMITS[name])
        return super().__getattr__(name)

    def max(self, dt):                   # older corpora: dtypes.max(dtypes.int)
        return dt.max if isinstance(dt, _Limits) else _Inert()

    def min(self, dt):
        return dt.min if isinstance(dt, _Limits) else _Inert()


def _getenv(key, default=0):
    return type(default)(os.environ.get(key, default))


class _InertMeta(type):
    """The class of the peer's CamelCase names (Tensor, Device, renderer classes): usable
    in isinstance(), and inert as classes (Device.DEFAULT, Device[...], Tensor.empty)."""

    def __getattr__(cls, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Inert()

    def __getitem__(cls, k):
        return _Inert()


class _InertModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        if name[:1].isupper() and not name.isupper():
            cls = _InertMeta(name, (_Inert,), {})
            setattr(self, name, cls)
            return cls
        return _Inert()


class _InertFinder:
    """Imports of the peer's own packages (tinygrad, its test helpers) give inert modules."""
    PREFIXES = ("tinygrad", "test", "extra")

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.PREFIXES:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        m = _InertModule(spec.name)
        m.__path__ = []
        return m

    def exec_module(self, module):
        pass


def _install_tinygrad_stub():
    sys.meta_path.insert(0, _InertFinder())
    for n in ("tinygrad", "tinygrad.helpers", "tinygrad.renderer.nir"):
        importlib.import_module(n)
    sys.modules["tinygrad"].dtypes = _Dtypes()
    sys.modules["tinygrad.helpers"].getenv = _getenv
    sys.modules["tinygrad.helpers"].DEBUG = 0
    sys.modules["tinygrad.helpers"].IMAGE = 0
    sys.modules["tinygrad.renderer.nir"].NIRRenderer = type("NIRRenderer", (), {})


# Submodules a user's ``import torch.X`` reaches; each maps to fastgrad's module of the
# same name where fastgrad has one.
_ALIASED = ["nn", "nn.functional", "nn.init", "nn.utils", "autograd", "optim", "utils",
            "utils.data", "linalg", "special", "fft", "cuda", "amp", "backends", "testing"]


def _install_fastgrad_shim():
    import fastgrad
    sys.modules["torch"] = fastgrad
    for sub in _ALIASED:
        try:
            mod = importlib.import_module("fastgrad." + sub)
        except ImportError:
            continue
        sys.modules["torch." + sub] = mod


def _dtype_name(dt):
    return str(dt).rsplit(".", 1)[-1]


def _exc_info(e):
    return {"type": type(e).__name__, "mro": [c.__name__ for c in type(e).__mro__],
            "msg": str(e).splitlines()[0][:300] if str(e) else ""}


def _to_numpy(t):
    t = t.detach()
    try:
        return np.asarray(t.cpu().numpy())
    except Exception:  # noqa: BLE001 - every failure is a recorded outcome
        return np.asarray(t.float().cpu().numpy())


def _tensor_record(torch, t):
    if not isinstance(t, torch.Tensor):
        return {"notensor": repr(type(t))}
    return {"shape": tuple(t.shape), "dtype": _dtype_name(t.dtype), "value": _to_numpy(t)}


class _CaseTimeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _CaseTimeout()


class _Recorder:
    def __init__(self, torch):
        self.torch = torch
        self.records = {}
        self.test = None
        self.index = 0

    def _key(self):
        key = f"{self.test}#{self.index}"
        self.index += 1
        return key

    def _inputs(self, shps, vals, forward_only, low, high):
        torch = self.torch
        if shps is None:
            ts = [torch.tensor(x, requires_grad=(not forward_only)) for x in vals]
        else:
            np.random.seed(0)
            data = [np.random.uniform(low=low, high=high, size=s).astype(np.float32) for s in shps]
            ts = [torch.tensor(d, requires_grad=(not forward_only)) for d in data]
        for i in range(len(ts)):
            if ts[i].dtype == torch.int64:
                ts[i] = ts[i].type(torch.int32)
        return ts

    def op(self, shps, torch_fxn, tinygrad_fxn=None, atol=1e-6, rtol=1e-3, grad_atol=1e-4,
           grad_rtol=1e-3, forward_only=False, vals=None, low=-2, high=2, a=None, b=None):
        low = low if a is None else a           # older corpora name the range a, b
        high = high if b is None else b
        torch = self.torch
        key = self._key()
        rec = {"kind": "op", "tol": (atol, rtol, grad_atol, grad_rtol)}
        self.records[key] = rec
        signal.alarm(CASE_TIMEOUT_S)
        try:
            try:
                ts = self._inputs(shps, vals, forward_only, low, high)
            except Exception as e:  # noqa: BLE001 - every failure is a recorded outcome
                rec["input_error"] = _exc_info(e)
                return
            try:
                out = torch_fxn(*ts)
                rec["fwd"] = _tensor_record(torch, out)
            except Exception as e:  # noqa: BLE001 - every failure is a recorded outcome
                rec["fwd_error"] = _exc_info(e)
                rec["fwd_tb"] = traceback.format_exc(limit=-3)
                return
            if not forward_only and ts:
                try:
                    grads = torch.autograd.grad(torch_fxn(*ts).sum(), ts)
                    rec["grads"] = [None if g is None else _tensor_record(torch, g) for g in grads]
                except Exception as e:  # noqa: BLE001 - every failure is a recorded outcome
                    rec["bwd_error"] = _exc_info(e)
                    rec["bwd_tb"] = traceback.format_exc(limit=-3)
        except _CaseTimeout:
            rec["timeout"] = True
        finally:
            signal.alarm(0)

    def exception(self, shps, torch_fxn, tinygrad_fxn=None, expected=None, forward_only=False,
                  exact=False, vals=None, low=-1.5, high=1.5, a=None, b=None):
        low = low if a is None else a
        high = high if b is None else b
        key = self._key()
        if expected is None:
            names = []
        elif isinstance(expected, tuple):
            names = [c.__name__ for c in expected]
        else:
            names = [expected.__name__]
        rec = {"kind": "exc", "expected": names}
        self.records[key] = rec
        signal.alarm(CASE_TIMEOUT_S)
        try:
            try:
                ts = self._inputs(shps, vals, forward_only, low, high)
            except Exception as e:  # noqa: BLE001 - every failure is a recorded outcome
                rec["input_error"] = _exc_info(e)
                return
            try:
                torch_fxn(*ts)
                rec["raised"] = None
            except Exception as e:  # noqa: BLE001 - every failure is a recorded outcome
                rec["raised"] = _exc_info(e)
        except _CaseTimeout:
            rec["timeout"] = True
        finally:
            signal.alarm(0)


_RANDOM = ("rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like",
           "normal", "bernoulli", "multinomial")


class _RandomReplay:
    """The two worlds draw random numbers from different generators, so the random
    tensors a test builds (index tensors from ``torch.randint`` and the like) would differ.
    The torch world records what each random factory returned; the fastgrad world calls
    its own factory (its signature, shape and dtype are still checked) and, where shape
    and dtype match the recorded tensor, gives back the recorded values instead."""

    def __init__(self, torch, recorder, replay=None):
        self.torch, self.recorder = torch, recorder
        self.seen = {}
        self.replay = replay
        for name in _RANDOM:
            fn = getattr(torch, name, None)
            if fn is not None:
                setattr(torch, name, self._wrap(name, fn))

    def _wrap(self, name, fn):
        def wrapped(*args, **kwargs):
            out = fn(*args, **kwargs)
            if not isinstance(out, self.torch.Tensor):
                return out
            key = f"{self.recorder.test}#{self.recorder.index}"
            seq = self.seen.setdefault(key, [])
            n = len(seq)
            seq.append(None)
            if self.replay is None:
                seq[n] = _tensor_record(self.torch, out)
                return out
            rec = (self.replay.get(key) or [])[n:n + 1]
            if not rec or rec[0] is None:
                return out
            rec = rec[0]
            if rec["shape"] != tuple(out.shape) or rec["dtype"] != _dtype_name(out.dtype):
                return out
            return self.torch.tensor(rec["value"], dtype=out.dtype, requires_grad=out.requires_grad)
        wrapped.__name__ = name
        return wrapped


class _LenientAssertRaises:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return True


def _lenient(case):
    """The peer's own assertions check tinygrad objects (inert here): make them no-ops."""
    for name in dir(case):
        if name.startswith("assert") and name not in ("assertRaises", "assertRaisesRegex"):
            setattr(case, name, lambda *a, **k: None)
    case.assertRaises = case.assertRaisesRegex = lambda *a, **k: _LenientAssertRaises()


_TINY_NAMES = {"Tensor", "dtypes", "Device", "Context", "_to_np_dtype"}
_KEEP_NAMES = {"torch", "helper_test_op", "helper_test_exception"}


def _names(node):
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.Attribute) and n.attr in ("testing", "helper_test_exception"):
            out.add("np.testing" if n.attr == "testing" else n.attr)
    return out


class _GuardTinygradStatements(ast.NodeTransformer):
    """Inside the peer's test methods, a statement that works on tinygrad objects (inert
    here) or asserts, and touches neither torch nor a helper, runs under
    ``try/except Exception: pass``, so the helper calls after it still run.  Statements
    that use torch are left as they are: their failure is the world's failure."""

    def _guard_body(self, body):
        new = []
        for stmt in body:
            names = _names(stmt)
            if isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
                new.append(stmt)
            elif names & _KEEP_NAMES:
                for field in ("body", "orelse", "finalbody"):
                    if isinstance(getattr(stmt, field, None), list) and getattr(stmt, field):
                        setattr(stmt, field, self._guard_body(getattr(stmt, field)))
                new.append(stmt)
            elif isinstance(stmt, ast.Assert) or names & (_TINY_NAMES | {"np.testing"}):
                handler = ast.ExceptHandler(type=ast.Name("Exception", ast.Load()), name=None,
                                            body=[ast.Pass()])
                new.append(ast.Try(body=[stmt], handlers=[handler], orelse=[], finalbody=[]))
            else:
                new.append(stmt)
        return new

    def visit_ClassDef(self, node):
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name.startswith("test"):
                item.body = self._guard_body(item.body)
            if isinstance(item, ast.FunctionDef):
                for dec in item.decorator_list:
                    self._guard_skip_condition(dec)
        return node

    @staticmethod
    def _guard_skip_condition(dec):
        """A skipIf / skipUnless condition that fails to evaluate (it reads an attribute
        only the peer's own library or torch's internals have) counts as "run the test"."""
        if (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute)
                and dec.func.attr in ("skipIf", "skipUnless") and dec.args):
            lam = ast.Lambda(args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[],
                                                defaults=[]), body=dec.args[0])
            dec.args[0] = ast.Call(ast.Name("_peer_safe_condition", ast.Load()),
                                   [lam, ast.Constant(dec.func.attr == "skipUnless")], [])


def _peer_safe_condition(fn, default):
    try:
        return fn()
    except Exception:  # noqa: BLE001 - an unevaluable skip condition runs the test
        return default


def _load_peer(path):
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    tree = ast.fix_missing_locations(_GuardTinygradStatements().visit(tree))
    mod = types.ModuleType("peer_test_ops")
    mod.__file__ = path
    sys.modules["peer_test_ops"] = mod
    mod._peer_safe_condition = _peer_safe_condition
    exec(compile(tree, path, "exec"), mod.__dict__)
    return mod


def run_world(world, path, out_path, only=None, replay_path=None):
    _install_tinygrad_stub()
    if world == "fastgrad":
        _install_fastgrad_shim()
    import torch
    recorder = _Recorder(torch)
    replay = None
    if replay_path:
        with open(replay_path, "rb") as f:
            replay = pickle.load(f)["random"]
    randoms = _RandomReplay(torch, recorder, replay)
    mod = _load_peer(path)
    mod.helper_test_op = recorder.op
    aborted = {}
    skipped = []
    signal.signal(signal.SIGALRM, _on_alarm)
    for cname in sorted(vars(mod)):
        cls = getattr(mod, cname)
        if not (isinstance(cls, type) and issubclass(cls, unittest.TestCase)):
            continue
        cls.helper_test_exception = lambda self, *a, **k: recorder.exception(*a, **k)
        for mname in sorted(n for n in vars(cls) if n.startswith("test")):
            test = f"{cname}.{mname}"
            if only and only not in test:
                continue
            fn = getattr(cls, mname)
            if getattr(fn, "__unittest_skip__", False) or getattr(cls, "__unittest_skip__", False):
                skipped.append(test)
                continue
            recorder.test, recorder.index = test, 0
            case = cls(mname)
            _lenient(case)
            signal.alarm(CASE_TIMEOUT_S * 4)
            try:
                getattr(case, mname)()
            except unittest.SkipTest:
                skipped.append(test)
            except (Exception, _CaseTimeout) as e:  # noqa: BLE001 - every failure is a recorded outcome
                aborted[test] = _exc_info(e) if isinstance(e, Exception) else {
                    "type": "timeout", "mro": [], "msg": ""}
            finally:
                signal.alarm(0)
    with open(out_path, "wb") as f:
        pickle.dump({"records": recorder.records, "aborted": aborted, "skipped": skipped,
                     "random": randoms.seen}, f)


# --------------------------------------------------------------------------- comparison

def _is_missing(err):
    if err["type"] in ("AttributeError", "ImportError", "ModuleNotFoundError"):
        return True
    return err["type"] == "TypeError" and "unexpected keyword argument" in err["msg"]


def _compare_tensor(ft, tt, atol, rtol):
    """None when the fastgrad record matches the torch one, else (outcome, reason)."""
    if "notensor" in tt or "notensor" in ft:
        if tt.get("notensor") == ft.get("notensor"):
            return None
        return "WRONG value", f"type {ft.get('notensor', 'Tensor')} vs torch {tt.get('notensor', 'Tensor')}"
    if ft["shape"] != tt["shape"]:
        return "WRONG value", f"shape {ft['shape']} vs torch {tt['shape']}"
    if ft["dtype"] != tt["dtype"]:
        return "wrong dtype", f"dtype {ft['dtype']} vs torch {tt['dtype']}"
    a, b = ft["value"], tt["value"]
    if np.issubdtype(b.dtype, np.floating) or np.issubdtype(b.dtype, np.complexfloating):
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        ok = np.isclose(a64, b64, atol=atol, rtol=rtol, equal_nan=True)
        if not ok.all():
            bad = np.argwhere(~ok)[0]
            idx = tuple(int(i) for i in bad)
            return "WRONG value", (f"{int((~ok).sum())}/{ok.size} differ; at {idx}: "
                                   f"{a64[idx]!r} vs torch {b64[idx]!r}")
        return None
    if not np.array_equal(a, b):
        neq = a != b
        idx = tuple(int(i) for i in np.argwhere(neq)[0]) if neq.ndim else ()
        return "WRONG value", (f"{int(np.sum(neq))}/{a.size} differ; at {idx}: "
                               f"{a[idx]!r} vs torch {b[idx]!r}")
    return None


def classify(t, f):
    """(outcome, reason) for one case: t the torch world's record, f fastgrad's (or None)."""
    if t.get("timeout") or "input_error" in t:
        return "excluded", "torch world: " + (t.get("input_error", {}).get("msg") or "timeout")
    if f is None:
        return "error", "test body failed before this call in the fastgrad world"
    if f.get("timeout"):
        return "error", f"timeout after {CASE_TIMEOUT_S}s"
    if "input_error" in f:
        e = f["input_error"]
        return ("missing name" if _is_missing(e) else "error"), f"inputs: {e['type']}: {e['msg']}"
    if t["kind"] == "exc":
        exp = t["expected"]
        tr = t["raised"]
        if tr is None or (exp and not set(exp) & set(tr["mro"])):
            return "excluded", f"torch does not raise {exp}"
        fr = f["raised"]
        if fr is None:
            return "wrong exception", f"no exception; torch raises {tr['type']}: {tr['msg'][:120]}"
        if exp and not set(exp) & set(fr["mro"]):
            return "wrong exception", f"{fr['type']}: {fr['msg'][:120]} (expected {exp})"
        return "agree", ""
    if "fwd_error" in t:
        return "excluded", f"torch raises {t['fwd_error']['type']}: {t['fwd_error']['msg'][:120]}"
    if "fwd_error" in f:
        e = f["fwd_error"]
        return ("missing name" if _is_missing(e) else "error"), f"{e['type']}: {e['msg'][:200]}"
    atol, rtol, gatol, grtol = t["tol"]
    bad = _compare_tensor(f["fwd"], t["fwd"], atol, rtol)
    if bad:
        return bad
    if "bwd_error" in t:
        return "agree", ""  # the peer's case has no gradient PyTorch can take
    if "grads" in t:
        if "bwd_error" in f:
            e = f["bwd_error"]
            return ("missing name" if _is_missing(e) else "error"), f"backward: {e['type']}: {e['msg'][:200]}"
        for i, (fg, tg) in enumerate(zip(f["grads"], t["grads"])):
            if tg is None:
                continue
            if fg is None:
                return "wrong gradient", f"input {i}: no gradient"
            bad = _compare_tensor(fg, tg, gatol, grtol)
            if bad:
                outcome, reason = bad
                if outcome == "WRONG value":
                    outcome = "wrong gradient"
                return outcome, f"input {i}: {reason}"
    return "agree", ""


def _run_child(world, path, only, tmp):
    out = os.path.join(tmp, world + ".pkl")
    cmd = [sys.executable, os.path.abspath(__file__), "--world", world, "--out", out, path]
    if only:
        cmd += ["--only", only]
    if world == "fastgrad":
        cmd += ["--replay", os.path.join(tmp, "torch.pkl")]
    env = dict(os.environ)
    subprocess.run(cmd, check=True, env=env)
    with open(out, "rb") as f:
        return pickle.load(f)


def compare(torch_res, fg_res):
    rows = []
    for key, t in torch_res["records"].items():
        f = fg_res["records"].get(key)
        outcome, reason = classify(t, f)
        if f is None and key.split("#")[0] in fg_res["aborted"]:
            e = fg_res["aborted"][key.split("#")[0]]
            outcome = "missing name" if _is_missing(e) else "error"
            reason = f"test body: {e['type']}: {e['msg'][:200]}"
        rows.append((key, outcome, reason))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("path")
    p.add_argument("--world", choices=["torch", "fastgrad"])
    p.add_argument("--out")
    p.add_argument("--only")
    p.add_argument("--replay", help=argparse.SUPPRESS)
    p.add_argument("--json")
    p.add_argument("-v", "--verbose", action="store_true", help="list agreeing cases too")
    args = p.parse_args(argv)
    if args.world:
        run_world(args.world, os.path.abspath(args.path), args.out, args.only, args.replay)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        torch_res = _run_child("torch", os.path.abspath(args.path), args.only, tmp)
        fg_res = _run_child("fastgrad", os.path.abspath(args.path), args.only, tmp)
    rows = compare(torch_res, fg_res)
    counts = {o: 0 for o in OUTCOMES}
    for _, o, _ in rows:
        counts[o] += 1
    counted = len(rows) - counts["excluded"]
    for o in OUTCOMES:
        if o == "agree" and not args.verbose:
            continue
        group = [(k, r) for k, oo, r in rows if oo == o]
        if group:
            print(f"== {o} ({len(group)})")
            for k, r in group:
                print(f"  {k}: {r}")
    print("== counts")
    for o in OUTCOMES:
        print(f"  {o:16s} {counts[o]}")
    pct = 100.0 * counts["agree"] / counted if counted else 0.0
    print(f"  agreement        {counts['agree']}/{counted} = {pct:.1f}% "
          f"(cases = helper calls; {counts['excluded']} excluded where PyTorch itself fails)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"counts": counts, "cases": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
