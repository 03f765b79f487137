"""Threading: the GEMM task pool under concurrent callers and across fork()."""
import os
import threading

import numpy as np
import pytest

import fastgrad as fg
from fastgrad._C import _kernels as K


def test_concurrent_python_threads_get_correct_products():
    fg.set_num_threads(2)
    rng = np.random.default_rng(0)
    mats = [(rng.standard_normal((200, 150)).astype(np.float32),
             rng.standard_normal((150, 170)).astype(np.float32)) for _ in range(4)]
    want = [a.astype(np.float64) @ b for a, b in mats]
    errors = []

    def work(i):
        a, b = mats[i]
        for _ in range(30):
            got = K.matmul(a, b)
            if not np.allclose(got, want[i], rtol=1e-4, atol=1e-3):
                errors.append(i)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_pool_works_in_a_forked_child():
    fg.set_num_threads(2)
    a = np.ones((300, 300), np.float32)
    K.matmul(a, a)                            # start the pool's workers in the parent
    pid = os.fork()
    if pid == 0:                              # child: the workers did not survive fork
        try:
            ok = np.allclose(K.matmul(a, a), 300.0)
            os._exit(0 if ok else 1)
        except BaseException:  # noqa: BLE001 - the forked child must exit, whatever happened
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


# ---- Python threads training and inferring concurrently -------------------------------
def _train(seed, steps=150, out=None):
    """A small MLP trained with Adam on fixed data; returns the final parameters."""
    fg.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = fg.nn.Sequential(fg.nn.Linear(12, 32), fg.nn.ReLU(), fg.nn.Linear(32, 3))
    # parameters from the local rng: the global generator is shared between threads
    for p in model.parameters():
        p._data[...] = rng.standard_normal(p.shape).astype(p._data.dtype) * 0.3
    opt = fg.optim.Adam(model.parameters(), lr=1e-2)
    x = fg.from_numpy(rng.standard_normal((64, 12)).astype(np.float32))
    y = fg.from_numpy(rng.integers(0, 3, 64))
    for _ in range(steps):
        opt.zero_grad()
        loss = fg.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    res = [p.detach().numpy().copy() for p in model.parameters()]
    if out is not None:
        out[seed] = res
    return res


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_training_separate_models_match_sequential_runs(threads):
    fg.set_num_threads(threads)
    seeds = list(range(4))
    want = {s: _train(s) for s in seeds}
    got, errors = {}, []

    def work(s):
        try:
            _train(s, out=got)
        except BaseException as e:            # noqa: BLE001 - reported below
            errors.append(repr(e))
    for _ in range(2):
        ts = [threading.Thread(target=work, args=(s,)) for s in seeds]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert not errors, errors
        for s in seeds:
            for a, b in zip(got[s], want[s]):
                np.testing.assert_array_equal(a, b)


def test_concurrent_no_grad_inference_on_one_shared_model():
    fg.set_num_threads(2)
    fg.manual_seed(0)
    model = fg.nn.Sequential(fg.nn.Linear(20, 64), fg.nn.Tanh(), fg.nn.Linear(64, 5))
    rng = np.random.default_rng(1)
    xs = [fg.from_numpy(rng.standard_normal((n, 20)).astype(np.float32)) for n in (1, 7, 33, 128)]
    with fg.no_grad():
        want = [model(x).numpy().copy() for x in xs]
    params = [p.detach().numpy().copy() for p in model.parameters()]
    errors = []

    def work(k):
        try:
            with fg.no_grad():
                for i in range(40):
                    j = (i + k) % len(xs)
                    out = model(xs[j])
                    if out.requires_grad or out.grad_fn is not None:
                        errors.append("graph recorded under no_grad")
                    if not np.array_equal(out.numpy(), want[j]):
                        errors.append(f"thread {k}: wrong output for input {j}")
        except BaseException as e:            # noqa: BLE001
            errors.append(repr(e))
    ts = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[:5]
    for p, q in zip(model.parameters(), params):     # inference changed nothing
        np.testing.assert_array_equal(p.detach().numpy(), q)
        assert p.grad is None


def test_grad_mode_is_per_thread():
    inside, other = threading.Event(), threading.Event()
    seen = {}

    def in_no_grad():
        with fg.no_grad():
            inside.set()
            other.wait(10)
            seen["no_grad thread"] = fg.is_grad_enabled()

    def with_grad():
        inside.wait(10)
        a = fg.ones(2, requires_grad=True)
        seen["other thread"] = fg.is_grad_enabled()
        seen["records"] = (a * 2).requires_grad
        other.set()
    ts = [threading.Thread(target=in_no_grad), threading.Thread(target=with_grad)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert seen == {"no_grad thread": False, "other thread": True, "records": True}
    assert fg.is_grad_enabled()


def test_new_threads_start_with_grad_enabled():
    res = []
    with fg.no_grad():
        t = threading.Thread(target=lambda: res.append(fg.is_grad_enabled()))
        t.start()
        t.join()
    assert res == [True]


# ---- one runtime: more threads than cores, determinism, no global side effects --------
# Sizes large enough that the cost model (csrc/dispatch.h) splits every kernel below into
# many parts at 8 and 16 threads on any machine (it does not look at the core count).
_RNG = np.random.default_rng(23)
_X = _RNG.standard_normal((1024, 1536)).astype(np.float32)
_Y = _RNG.standard_normal((1024, 1536)).astype(np.float32)
_V = _RNG.standard_normal(1 << 21).astype(np.float32)
_T = _RNG.integers(0, 1536, 1024)


def _kernels():
    """name -> (fastgrad result as float64 arrays, NumPy reference)"""
    x64 = _X.astype(np.float64)
    m = x64.max(1, keepdims=True)
    lsm = x64 - m - np.log(np.exp(x64 - m).sum(1, keepdims=True))
    X, Y = fg.tensor(_X), fg.tensor(_Y)
    return {
        "sum0": (lambda: X.sum(0), x64.sum(0)),
        "sum1": (lambda: X.sum(1), x64.sum(1)),
        "mean0": (lambda: X.mean(0), x64.mean(0)),
        "sum_all": (lambda: fg.tensor(_V).sum(), _V.astype(np.float64).sum()),
        "max0": (lambda: X.max(0).values, x64.max(0)),
        "argmax1": (lambda: X.argmax(1), x64.argmax(1)),
        "logsumexp1": (lambda: fg.logsumexp(X, 1), m[:, 0] + np.log(np.exp(x64 - m).sum(1))),
        "log_softmax1": (lambda: fg.log_softmax(X, 1), lsm),
        "softmax0": (lambda: fg.softmax(X, 0), np.exp(x64 - x64.max(0)) / np.exp(x64 - x64.max(0)).sum(0)),
        "cross_entropy": (lambda: fg.nn.functional.cross_entropy(X, fg.tensor(_T)),
                          -lsm[np.arange(1024), _T].mean()),
        "exp": (lambda: fg.exp(X), np.exp(x64)),
        "add_bcast": (lambda: X + fg.tensor(_Y[:1]), x64 + _Y[:1]),
        "where": (lambda: fg.where(X > 0, X, Y), np.where(x64 > 0, x64, _Y)),
        "copy_T": (lambda: X.t().contiguous(), x64.T),
    }


@pytest.fixture
def restore_threads():
    n = fg.get_num_threads()
    yield
    fg.set_num_threads(n)


def _run(fn):
    return np.asarray(fn().numpy())


@pytest.mark.parametrize("threads", [8, 16])
def test_kernels_beyond_the_core_count_match_one_thread_and_numpy(threads, restore_threads):
    """8 and 16 threads on a machine with fewer cores: every parallel kernel gives the
    result it gives on one thread, bit for bit (each output element is computed whole by
    one part), except the sum of one long vector, whose partial sums depend on the thread
    count; that one is bit-identical across runs at a fixed count.  All match NumPy."""
    ks = _kernels()
    fg.set_num_threads(1)
    one = {k: _run(f) for k, (f, _) in ks.items()}
    fg.set_num_threads(threads)
    for name, (f, ref) in ks.items():
        runs = [_run(f) for _ in range(3)]
        for r in runs[1:]:
            assert r.tobytes() == runs[0].tobytes(), f"{name}: differs between runs at {threads} threads"
        if name != "sum_all":
            assert runs[0].tobytes() == one[name].tobytes(), f"{name}: {threads} threads != 1 thread"
        np.testing.assert_allclose(runs[0].astype(np.float64), ref, rtol=2e-5, atol=2e-5 * max(1.0, np.abs(ref).max()),
                                   err_msg=name)


def test_bias_gradient_threads_match_one_thread(restore_threads):
    """The backward column sum of a linear layer's bias at 1 and 16 threads."""
    w = fg.tensor(np.ascontiguousarray(_Y.T[:, :512]) * 0.01)
    grads = []
    for nt in (1, 16):
        fg.set_num_threads(nt)
        b = fg.zeros(512, requires_grad=True)
        (fg.tensor(_X) @ w + b).backward(fg.tensor(_Y[:, :512]))
        grads.append(b.grad.numpy().copy())
    assert grads[0].tobytes() == grads[1].tobytes()
    np.testing.assert_allclose(grads[0], _Y[:, :512].astype(np.float64).sum(0), rtol=1e-5, atol=1e-4)


def _clean_env():
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(fg.__file__))))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": src}
    return env


def test_import_writes_nothing_to_os_environ():
    import subprocess
    import sys
    code = ("import os, json\nbefore = dict(os.environ)\nimport fastgrad\n"
            "fastgrad.set_num_threads(2)\nfastgrad.ones(100000).exp().sum()\n"
            "after = dict(os.environ)\n"
            "print(json.dumps({'added': sorted(set(after) - set(before)),"
            " 'changed': sorted(k for k in before if after.get(k) != before[k])}))\n")
    r = subprocess.run([sys.executable, "-c", code], env=_clean_env(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == '{"added": [], "changed": []}'


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs Linux /proc")
def test_extension_loads_no_openmp_runtime():
    import subprocess
    import sys
    code = ("import fastgrad\nfastgrad.set_num_threads(2)\n"
            "a = fastgrad.ones(512, 512)\n(a @ a).sum(0)\n"
            "libs = {l.split()[-1] for l in open('/proc/self/maps') if '/' in l}\n"
            "assert any('_kernels' in p for p in libs), 'extension not mapped'\n"
            "print('\\n'.join(sorted(p for p in libs if 'gomp' in p or 'libomp' in p or 'libiomp' in p)))\n")
    r = subprocess.run([sys.executable, "-c", code], env=_clean_env(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"OpenMP runtime loaded: {r.stdout}"


def test_bench_threads_suite_reports_n_over_one_thread_ratios(restore_threads):
    from fastgrad import bench
    res = bench.run(suites=["threads"], threads=[2], against=("numpy",), quick=True, budget=0.02,
                    progress=False)
    rows = [r for r in res["results"] if r["suite"] == "threads"]
    names = {r["case"] for r in rows}
    assert {"regress 1-64-64-1 b512 adam alone", "MLP S b32 64-128-10 sgd +numpy mm",
            "CNN b64 1x28x28 sgd alone"} <= names
    for r in rows:
        assert r["impls"]["fastgrad"]["status"] == "ok", r["case"]
        t2 = r["impls"]["t2"]
        assert t2["status"] == "ok", r["case"]          # same loss at 2 threads as at 1
        assert t2["ratio"] == t2["median_s"] / r["impls"]["fastgrad"]["median_s"]
