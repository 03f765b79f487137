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
