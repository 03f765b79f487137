"""Fuzzing every op in the registry (fastgrad.testing.REGISTRY) with hypothesis.

Each case starts from one of the op's registry samples and mutates it: random shapes
(0-size and 0-d included, broadcast combinations, shapes the op must reject), dtypes
(float32, float64, int64 in place of floats), memory layouts (transposed, reversed,
strided views), values (nan, +-inf, denormals, +-1e38, -0.0, values in the op's domain)
and integer arguments at the limits (-1, the size, +-2**63).  Every case must either

  * return the NumPy reference's result (same shape; values within the op's float32
    tolerance, or exactly for integer results; nan where the reference has nan), or
  * raise a fastgrad exception: a ValueError, TypeError, RuntimeError or IndexError
    (or a MemoryError for a result too big to allocate) whose message names the op.

Whenever the op returns and the case differentiates (float inputs with
requires_grad), ``backward`` must run and give gradients of the inputs' shapes.

The cases run in child processes, one per group of ops, so a crash (segfault, abort,
sanitizer report) is a test failure naming the op and the case rather than a dead test
run: the child writes each case to a progress file before running it.  New registry
entries are fuzzed automatically.

FASTGRAD_FUZZ_EXAMPLES (default 30) sets the number of cases per op;
FASTGRAD_FUZZ_SEED fixes the seed (default: derandomized, so CI runs are repeatable;
the derandomized cases also depend on the hypothesis version, which the test extra pins);
FASTGRAD_FUZZ_REPORT=path appends each op's counts (cases, matched, raised, failures).
Long run:  FASTGRAD_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz.py -n 2
"""
import json
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

EXAMPLES = int(os.environ.get("FASTGRAD_FUZZ_EXAMPLES", "30"))
GROUPS = 8
ACCEPTED = (ValueError, TypeError, RuntimeError, IndexError, MemoryError)   # MemoryError: a size
# that cannot be allocated (e.g. one_hot of class 2**31), which tests/test_resources.py covers
CHILD_MEMORY = 16 * 2 ** 30        # address-space cap of a child: huge requests fail fast
MAX_ELEMS = 4096            # registry samples bigger than this ("large (threaded)") are skipped

SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e38, -1e38, 1e-40, -1e-40, 5e-324, 1e-30,
           3.4e38, -3.4e38, 1.0, -1.0, 0.5]
INT_LIMITS = [-1, 0, 1, 2, 7, -(2 ** 63), 2 ** 63 - 1, 2 ** 31, -(2 ** 31)]


# ---- the child: runs cases --------------------------------------------------------------------
def _names_op(msg, name, info):
    """An error message names the op: its registry name, or any part of it, or the name
    of the public function the registry entry calls, or it has fastgrad's "op: ..." form
    (for entries whose op is reached through another name, e.g. getitem -> "index: ...")."""
    if re.match(r"^[A-Za-z_][\w.]*(\(\))?: \S", msg):
        return True
    msg = msg.lower()
    words = {name, *[w for w in name.split("_") if len(w) > 2]}
    fn = getattr(info.op, "__name__", "")
    if fn and fn != "<lambda>":
        words.add(fn.strip("_"))
    return any(w.lower() in msg for w in words)


def _flatten(out):
    if isinstance(out, (tuple, list)):
        res = []
        for o in out:
            res.extend(_flatten(o))
        return res
    return [out]


def _as_array(x):
    import fastgrad as fg
    if isinstance(x, fg.Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def _layout(arr, how):
    """The same values in a different memory layout (a view into a bigger buffer)."""
    if arr.ndim == 0 or arr.size == 0 or how == "contiguous":
        return arr
    if how == "transposed":
        return np.ascontiguousarray(arr.T).T
    if how == "reversed":
        return np.ascontiguousarray(arr[(slice(None, None, -1),) * arr.ndim])[(slice(None, None, -1),) * arr.ndim]
    buf = np.zeros(arr.shape + (3,), dtype=arr.dtype)        # "strided": gaps between items
    buf[..., 1] = arr
    return buf[..., 1]


class _Case:
    """One fuzz case, built from hypothesis draws; repr() is what a failure reports."""

    def __init__(self, name, sample_desc, args, layouts, kwargs, dtype, simd, threads, grad):
        self.name, self.sample_desc = name, sample_desc
        self.args, self.layouts, self.kwargs = args, layouts, kwargs
        self.dtype, self.simd, self.threads, self.grad = dtype, simd, threads, grad

    def __repr__(self):
        def d(a):
            if isinstance(a, np.ndarray):
                vals = np.array2string(a.ravel()[:16], precision=4, threshold=16, max_line_width=10**6)
                return f"array(shape={a.shape}, dtype={a.dtype}, values[:16]={vals})"
            return repr(a)
        return (f"{self.name}(sample={self.sample_desc!r}, args=[{', '.join(d(a) for a in self.args)}], "
                f"kwargs={self.kwargs!r}, dtype={np.dtype(self.dtype).name}, layouts={self.layouts}, "
                f"simd={self.simd}, threads={self.threads}, backward={self.grad})")


def _draw_case(data, name, info, samples, simds):
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    s = data.draw(st.sampled_from(samples), label="sample")
    mode = data.draw(st.sampled_from(["values", "values", "shape", "shape", "broadcast", "dtype"]), label="mode")
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    lo, hi = info.domain if info.domain else (-3.0, 3.0)
    special = data.draw(st.booleans(), label="special") and info.extreme
    elements = st.floats(lo, hi, allow_nan=False, width=64)
    if special:
        elements = st.one_of(elements, st.sampled_from(SPECIAL))
    float_shapes = [a.shape for a in s.args if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    bshape = None
    if mode == "broadcast" and float_shapes:
        nd = max(len(sh) for sh in float_shapes)
        bshape = data.draw(hnp.array_shapes(min_dims=nd, max_dims=nd, min_side=0, max_side=4), label="bshape")
    args, layouts = [], []
    for a in s.args:
        layouts.append("contiguous")
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            shape = a.shape
            if mode == "shape":
                kind = data.draw(st.sampled_from(["random", "zero-dim", "0-d", "extra-dim", "drop-dim"]),
                                 label="shape kind")
                if kind == "random":
                    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5), label="shape")
                elif kind == "zero-dim" and shape:
                    zero = data.draw(st.integers(0, len(shape) - 1))
                    shape = tuple(0 if i == zero else n for i, n in enumerate(shape))
                elif kind == "0-d":
                    shape = ()
                elif kind == "extra-dim":
                    shape = (data.draw(st.integers(0, 3)),) + shape
                elif kind == "drop-dim" and shape:
                    shape = shape[1:]
            elif bshape is not None:
                # a shape broadcastable with bshape: trailing dims of bshape, some set to 1
                k = data.draw(st.integers(0, len(bshape)), label="ndim")
                shape = tuple(1 if data.draw(st.booleans()) else n for n in bshape[len(bshape) - k:])
            arr = data.draw(hnp.arrays(np.float64, shape, elements=elements), label="values")
            if mode == "dtype":
                arr = np.asarray(np.clip(np.nan_to_num(np.round(arr), nan=0.0), -100, 100)).astype(np.int64)
            layouts[-1] = data.draw(st.sampled_from(["contiguous", "transposed", "reversed", "strided"]),
                                    label="layout")
            args.append(arr)
        elif isinstance(a, np.ndarray) and a.dtype.kind in "iu":
            arr = a.astype(np.int64)
            if data.draw(st.integers(0, 3), label="int limits") == 0 and arr.size:
                pos = data.draw(st.integers(0, arr.size - 1))
                arr = arr.copy()
                arr.flat[pos] = data.draw(st.sampled_from(INT_LIMITS + [int(arr.max()) + 1 + 100]))
            args.append(arr)
        else:
            args.append(a)
    kwargs = dict(s.kwargs)
    for k, v in list(kwargs.items()):           # int kwargs (dims, k, sizes) at the limits
        if type(v) is int and data.draw(st.integers(0, 7), label=f"kw {k}") == 0:
            kwargs[k] = data.draw(st.sampled_from(INT_LIMITS), label=f"kw {k} value")
    simd = data.draw(st.sampled_from(simds), label="simd")
    threads = data.draw(st.sampled_from([1, 2]), label="threads")
    grad = bool(info.grad) and mode != "dtype" and data.draw(st.booleans(), label="backward")
    return _Case(name, s.desc, args, layouts, kwargs, dtype, simd, threads, grad)


def _tensors(case):
    import fastgrad as fg
    out = []
    for a, how in zip(case.args, case.layouts):
        if isinstance(a, np.ndarray):
            if a.dtype.kind == "f":
                t = fg.from_numpy(_layout(a.astype(case.dtype), how))
                if case.grad:
                    t.requires_grad_(True)
                out.append(t)
            else:
                out.append(fg.from_numpy(_layout(a, how)))
        else:
            out.append(a)
    return out


def _check(case, info, stats):
    """Run one case; return None if it passed, else a description of the failure."""
    import fastgrad as fg
    fg.set_simd(case.simd)
    fg.set_num_threads(case.threads)
    ins = _tensors(case)
    try:
        with np.errstate(all="ignore"):
            out = info.op(*ins, **case.kwargs)
    except ACCEPTED as e:
        if not _names_op(str(e), case.name, info):
            return f"{type(e).__name__} does not name the op: {e}"
        stats["raised"] += 1
        return None
    except Exception as e:                                   # noqa: BLE001
        return f"unexpected exception {type(e).__name__}: {e}"
    # the oracle sees exactly the values the op saw (rounded to the case's dtype)
    ref_args = [a.astype(case.dtype).astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f"
                else a for a in case.args]
    try:
        with np.errstate(all="ignore"):
            expected = info.ref(*ref_args, **case.kwargs)
    except Exception:                                        # noqa: BLE001
        expected = None                                      # no oracle for this case
        stats["no_reference"] += 1
    outs = _flatten(out)
    if expected is not None:
        exps = _flatten(expected)
        if len(outs) != len(exps):
            return f"returned {len(outs)} outputs, the reference {len(exps)}"
        for i, (o, e) in enumerate(zip(outs, exps)):
            got, want = _as_array(o), np.asarray(e)
            if got.shape != want.shape:
                return f"output {i}: shape {got.shape}, reference shape {want.shape}"
            msg = _compare(got, want, info, case)
            if msg:
                return f"output {i}: {msg}"
        stats["matched"] += 1
    if case.grad:
        leaves = [t for t in ins if isinstance(t, fg.Tensor) and t.requires_grad]
        diff = [o for o in outs if isinstance(o, fg.Tensor) and o.requires_grad]
        if diff and leaves:
            try:
                with np.errstate(all="ignore"):
                    fg.autograd.backward([o.sum() for o in diff])
            except ACCEPTED as e:
                return f"backward raised {type(e).__name__}: {e}"
            except Exception as e:                           # noqa: BLE001
                return f"backward: unexpected exception {type(e).__name__}: {e}"
            for j, t in enumerate(leaves):
                if t.grad is not None and t.grad.shape != t.shape:
                    return f"backward: gradient of input {j} has shape {t.grad.shape}, input {t.shape}"
            stats["backward"] += 1
    return None


def _compare(got, want, info, case):
    if got.dtype.kind in "biu" or want.dtype.kind in "biu" and got.dtype.kind not in "fc":
        with np.errstate(all="ignore"):
            want = want.astype(got.dtype)     # e.g. masked_fill of an int tensor with 1.5 -> 1
        if not np.array_equal(got, want):
            bad = np.argwhere(got != want)[:3].tolist()
            return f"integer/bool values differ at {bad}"
        return None
    dt = got.dtype
    with np.errstate(all="ignore"):
        w = want.astype(dt).astype(np.float64)            # the reference rounded to the result dtype
        g = got.astype(np.float64)
    if dt == np.float32 or any(isinstance(a, np.ndarray) and a.dtype.kind in "iu" for a in case.args):
        rtol, atol = max(info.rtol32, 1e-4), max(info.atol32, 1e-5)
    else:
        rtol, atol = 1e-9, 1e-11
    nan_g, nan_w = np.isnan(g), np.isnan(w)
    if nan_w.any() and (not _has_nan(case) or _has_inf(case)):
        # The reference formulas are plain NumPy expressions: at an infinite input they may
        # hit inf - inf or 0 * inf (e.g. gelu(-inf) = 0.5 * -inf * 0) where fastgrad returns
        # the limit, and NumPy computes power(x, 0.5) as sqrt(x) (nan at -inf where C's pow
        # gives +inf).  A reference nan that no nan input explains is no oracle: skip it.
        g, w = np.where(nan_w, 0.0, g), np.where(nan_w, 0.0, w)
        nan_g, nan_w = np.isnan(g), np.isnan(w)
    big = _max_finite(case)
    if dt == np.float32 and big >= 1e30:
        # float32 arithmetic on inputs near the float32 limit may overflow in an intermediate
        # (a GEMM's partial sums, x * 6 in hardswish, squares in var, inf - inf after that)
        # where the float64 reference does not: accept a non-finite result there, and a
        # huge finite one where the reference rounds to inf.
        huge = np.isinf(g) | np.isnan(g) | (np.isinf(w) & (np.abs(g) >= 1e30))
        g, w = np.where(huge, 0.0, g), np.where(huge, 0.0, w)
        nan_g, nan_w = np.isnan(g), np.isnan(w)
    if not np.array_equal(nan_g, nan_w):
        pos = np.argwhere(nan_g != nan_w)[:3].tolist()
        at = tuple(np.array(pos).T)
        return (f"nan where the reference has none (or the reverse) at {pos}: "
                f"got {g[at] if pos else ''}, want {w[at] if pos else ''}")
    fin = np.isfinite(w) & np.isfinite(g)
    inf_mismatch = ~nan_w & ~fin & (g != w)
    if inf_mismatch.any():
        pos = np.argwhere(inf_mismatch)[:3].tolist()
        return f"infinities differ at {pos}: got {[g[tuple(p)] for p in pos]}, want {[w[tuple(p)] for p in pos]}"
    # With inputs of huge magnitude M, rounding and cancellation (sum of 1e38 and -1e38,
    # var of equal values whose mean is inexact) give errors up to about eps * M**2 in
    # results that are small: that much absolute error is accepted for such inputs.
    if big >= 1e30:
        atol = atol + 8 * np.finfo(dt).eps * _min_inf(big * big)
    with np.errstate(all="ignore"):
        err = np.abs(g - w)
    bad = fin & (err > atol + rtol * np.abs(w))
    if bad.any():
        pos = np.argwhere(bad)[:3].tolist()
        return (f"values differ at {pos}: got {[g[tuple(p)] for p in pos]}, "
                f"want {[w[tuple(p)] for p in pos]} (rtol {rtol}, atol {atol})")
    return None


def _has_nan(case):
    return any(isinstance(a, np.ndarray) and a.dtype.kind == "f" and np.isnan(a).any() for a in case.args)


def _has_inf(case):
    return any(isinstance(a, np.ndarray) and a.dtype.kind == "f" and np.isinf(a).any() for a in case.args)


def _max_finite(case):
    m = 0.0
    for a in case.args:
        if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.size:
            v = np.abs(a.astype(case.dtype).astype(np.float64))
            v = v[np.isfinite(v)]
            if v.size:
                m = max(m, float(v.max()))
    return m


def _min_inf(x):
    return x if np.isfinite(x) else np.finfo(np.float64).max


def child(names, examples, progress_path, seed):
    """Fuzz the ops `names`; print one JSON line per op: cases run and failures."""
    from hypothesis import HealthCheck, Phase, given, settings, strategies as st
    from hypothesis import seed as fixed_seed

    import fastgrad as fg
    from fastgrad.testing import REGISTRY

    warnings.simplefilter("ignore")          # e.g. mse_loss's broadcast warning on fuzzed shapes
    if not os.environ.get("FASTGRAD_SANITIZED"):      # (ASan reserves terabytes of address space)
        try:
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
        except (ImportError, ValueError, OSError):
            pass
    simds = fg.available_simd()
    prog = open(progress_path, "w")
    for name in names:
        info = REGISTRY[name]
        samples = [s for s in info.samples(np.random.default_rng(0))
                   if all(not isinstance(a, np.ndarray) or a.size <= MAX_ELEMS for a in s.args)]
        stats = {"op": name, "cases": 0, "matched": 0, "raised": 0, "no_reference": 0,
                 "backward": 0, "failures": []}
        if not samples:
            print(json.dumps(stats), flush=True)
            continue

        @settings(max_examples=examples, deadline=None, database=None, derandomize=seed is None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate],
                  report_multiple_bugs=False)
        @given(st.data())
        def run(data):
            case = _draw_case(data, name, info, samples, simds)
            prog.seek(0)
            prog.truncate()
            prog.write(repr(case))
            prog.flush()
            stats["cases"] += 1
            msg = _check(case, info, stats)
            if msg is not None:
                if len(stats["failures"]) < 5:
                    stats["failures"].append(f"{msg}\n    case: {case!r}")
                raise AssertionError(msg)

        if seed is not None:
            run = fixed_seed(seed)(run)
        try:
            run()
        except AssertionError:
            pass                                      # recorded in stats (shrunk cases too)
        except Exception as e:                        # noqa: BLE001 (hypothesis errors)
            stats["failures"].append(f"fuzzer error {type(e).__name__}: {e}")
        print(json.dumps(stats), flush=True)
    prog.close()


# ---- the parent: one pytest case per group of ops ---------------------------------------------
def _groups():
    from fastgrad.testing import REGISTRY
    names = sorted(REGISTRY)
    return [names[i::GROUPS] for i in range(GROUPS)]


TOTALS = {}


@pytest.mark.parametrize("group", range(GROUPS))
def test_fuzz_registry_ops(group, tmp_path):
    pytest.importorskip("hypothesis")
    names = _groups()[group]
    remaining = list(names)
    failures, reports = [], []
    seed = os.environ.get("FASTGRAD_FUZZ_SEED")
    while remaining:
        progress = tmp_path / "progress.txt"
        cmd = [sys.executable, os.path.abspath(__file__), "--child", str(EXAMPLES), str(progress),
               seed or "", *remaining]
        env = dict(os.environ)
        env.setdefault("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
        done = []
        for line in r.stdout.splitlines():
            if line.startswith("{"):
                rep = json.loads(line)
                reports.append(rep)
                done.append(rep["op"])
                failures += [f"{rep['op']}: {f}" for f in rep["failures"]]
        remaining = [n for n in remaining if n not in done]
        if r.returncode != 0:
            crashed = remaining[0] if remaining else "?"
            case = progress.read_text() if progress.exists() else "?"
            failures.append(f"{crashed}: the process died (exit status {r.returncode}) running case "
                            f"{case}\n{r.stderr[-3000:]}")
            remaining = remaining[1:]              # go on with the ops after the one that crashed
        elif remaining:
            failures.append(f"child stopped early without reporting {remaining}: {r.stderr[-2000:]}")
            break
    cases = sum(r["cases"] for r in reports)
    if os.environ.get("FASTGRAD_FUZZ_REPORT"):        # long runs: per-op counts, one JSON line each
        with open(os.environ["FASTGRAD_FUZZ_REPORT"], "a") as f:
            for r in reports:
                f.write(json.dumps(r) + "\n")
    print(f"\nfuzz group {group}: {len(reports)} ops, {cases} cases, "
          f"{sum(r['matched'] for r in reports)} matched the reference, "
          f"{sum(r['raised'] for r in reports)} raised a fastgrad error, "
          f"{sum(r['backward'] for r in reports)} ran backward, {len(failures)} failures")
    assert reports, "no op was fuzzed"
    assert cases >= len(reports), "every fuzzed op must run at least one case"
    assert not failures, "\n\n".join(failures)


_FINDINGS = r"""
import math, numpy as np, fastgrad as fg
from fastgrad.nn import functional as F

def raises(exc, op, fn):
    try:
        fn()
    except exc as e:
        assert op in str(e), (op, str(e))
        return
    raise AssertionError(f"{op}: no {exc.__name__}")

x0 = fg.tensor(1.5)
raises(ValueError, "narrow", lambda: fg.narrow(x0, -1, 0, 1))
raises(ValueError, "split", lambda: fg.split(x0, 2, -1))
raises(ValueError, "chunk", lambda: fg.chunk(x0, 3, -1))
raises(IndexError, "unbind", lambda: fg.unbind(x0, -1))
raises(ValueError, "scatter_add", lambda: fg.scatter_add(fg.zeros(4, 1), 0, fg.zeros(3, 3, dtype=fg.int64), fg.ones(3)))
raises(ValueError, "one_hot", lambda: F.one_hot(fg.tensor([0, 2 ** 63 - 1])))
raises(IndexError, "topk", lambda: fg.topk(x0, 0))
raises(RuntimeError, "fmod", lambda: fg.fmod(fg.tensor([1, 2]), fg.tensor([1, 0])))
raises(IndexError, "index_select", lambda: fg.index_select(fg.zeros(4, 0), 0, fg.tensor([-2 ** 63, 1])))
loss = F.nll_loss(fg.tensor([[0.0, math.inf], [-1.0, -2.0]]), fg.tensor([-100, 0]), reduction="sum")
assert loss.item() == 1.0, loss
x = fg.arange(12.0).reshape(3, 4)
for off in (-2 ** 31, 2 ** 31, -2 ** 63, 2 ** 63 - 1, -3, 4):
    assert fg.diagonal(x, off).shape == (0,), off          # used to read out of bounds (NumPy)
    assert np.array_equal(fg.triu(x, off).numpy(), np.triu(x.numpy(), max(-3, min(off, 4))))
    assert np.array_equal(fg.tril(x, off).numpy(), np.tril(x.numpy(), max(-3, min(off, 4))))
x.requires_grad_(True)
fg.diagonal(x, -2 ** 31).sum().backward()
assert np.array_equal(x.grad.numpy(), np.zeros((3, 4)))
from fastgrad.ops.elementwise import round as fround
assert fround(fg.tensor([3, 35, -45]), -1).tolist() == [0, 40, -40]    # decimals < 0 on ints
raises(ValueError, "round", lambda: fround(fg.tensor(1.5), 2 ** 63 - 1))
# found after the convolution ops were merged
xi = fg.tensor(np.arange(36, dtype=np.int64).reshape(2, 2, 9) % 3)
np.testing.assert_allclose(F.avg_pool1d(xi, 2).numpy(),
                           (xi.numpy()[..., 0:8:2] + xi.numpy()[..., 1:8:2]) / 2)  # pooled as float
raises(ValueError, "pool", lambda: F.adaptive_avg_pool1d(xi, 2 ** 62))   # beyond any memory
raises(ValueError, "interpolate", lambda: F.interpolate(fg.randn(2, 3, 4), scale_factor=2 ** 61))
raises(ValueError, "interpolate", lambda: F.interpolate(fg.zeros(1, 0, 1), scale_factor=2 ** 63 - 1, mode="linear"))
raises(ValueError, "one_hot", lambda: F.one_hot(fg.tensor([], dtype=fg.int64), num_classes=2 ** 63 - 1))
raises(ValueError, "max_pool1d", lambda: F.max_pool1d(fg.zeros(2, 0), 3, 2, 1, ceil_mode=True))
raises(TypeError, "batch_norm", lambda: F.batch_norm(fg.randn(5, 3), fg.zeros(3, dtype=fg.int64),
                                                     fg.ones(3, dtype=fg.int64), training=True))
xc, wc = fg.randn(2, 4, 5), fg.randn(2, 2, 2, 2)
for _ in range(20):          # returned zeros now and then before strides were clamped
    assert np.array_equal(F.conv2d(xc, wc, stride=2 ** 63 - 1).numpy(), F.conv2d(xc, wc, stride=9).numpy())
print("ok")
"""


def test_fuzzer_findings_stay_fixed():
    """What the fuzzer found, as plain regression checks (in a child: one used to crash)."""
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run([sys.executable, "-c", _FINDINGS], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", f"exit {r.returncode}: {r.stderr[-3000:]}"


_HOSTILE = r"""
import numpy as np, fastgrad as fg
from fastgrad.nn import functional as F
from fastgrad._C import _kernels as K

def raises(exc, op, fn):
    try:
        fn()
    except exc as e:
        assert op in str(e), (op, str(e))
        return
    raise AssertionError(f"{op}: no {exc.__name__}")

# layouts NumPy produces that once crashed the C layer (through the public API)
rec = np.zeros(3, dtype=[("a", "<f4"), ("b", "<f8")])
rec["b"] = [1.0, 2.0, 3.0]
f = fg.from_numpy(rec["b"])
assert (f + f).tolist() == [2.0, 4.0, 6.0]
one = fg.from_numpy(rec[:1]["b"])
assert (one * one).tolist() == [1.0]
row = fg.from_numpy(np.zeros((1, 3), dtype=[("a", "<f4"), ("b", "<f8")])["b"])
assert fg.matmul(row + 1, fg.ones(3, 2, dtype=fg.float64)).tolist() == [[3.0, 3.0]]
assert F.linear(row + 1, fg.ones(2, 3, dtype=fg.float64)).tolist() == [[3.0, 3.0]]
assert fg.matmul(row, fg.ones(3, 2, dtype=fg.float64)).tolist() == [[0.0, 0.0]]
huge = np.lib.stride_tricks.as_strided(np.arange(3.0), (1, 3), (np.iinfo(np.intp).max, 8))
h = fg.from_numpy(huge)
assert fg.exp(h).shape == (1, 3) and fg.matmul(h, fg.ones(3, 1, dtype=fg.float64)).tolist() == [[3.0]]
assert F.softmax(h, dim=-1).shape == (1, 3) and fg.sum(h, dim=0).tolist() == [0.0, 1.0, 2.0]
# hostile sizes: bounded work and exact divisors
x = fg.arange(12.0).reshape(1, 1, 3, 4)
assert F.max_pool2d(x, 2 ** 40, 2 ** 40, 2 ** 39).item() == 11.0
assert F.avg_pool2d(x, 2 ** 40, 2 ** 40, 2 ** 39).item() == 66.0 / 2.0 ** 80
a = np.arange(4.0).reshape(2, 2)
assert K.matmul(a, a, out=a).tolist() == [[2.0, 3.0], [6.0, 11.0]]
# hand-built plans and optimizer plans validate like every other wrapper
arena = np.zeros(4)
raises(ValueError, "outside base", lambda: K.Plan([arena, np.ones(4)], [], [
    {"kind": "unary", "op": 0, "is64": 1, "n": [1 << 20], "ins": [(1, 0)], "outs": [(0, 0)]}], ["exp"]))
class P:
    data, grad, _version = np.zeros(3), None, [0]
raises(ValueError, "state slots", lambda: K.OptimPlan("Adam", K.OPT_ALGS["adam"], [P()], [None], [""], "step"))
print("ok")
"""


def test_hostile_inputs_stay_fixed():
    """Each class of hostile input (layouts, sizes, plans) in a child: a crash fails here."""
    env = dict(os.environ)
    env.setdefault("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run([sys.executable, "-c", _HOSTILE], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", f"exit {r.returncode}: {r.stderr[-3000:]}"


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--child":
    _n, _prog, _seed = int(sys.argv[2]), sys.argv[3], sys.argv[4]
    child(sys.argv[5:], _n, _prog, int(_seed) if _seed else None)
