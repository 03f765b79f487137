"""fastgrad.memory: the cache large kernel results come from (csrc/alloc.c, _memory.pxi).

Results of at least 128 KiB are NumPy arrays over cache blocks; a block goes back to the
cache when its last array or view dies and serves the next result of its size class."""
import gc
import json
import os
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import memory
from fastgrad._C import _kernels as K

BIG = 1 << 16          # float32 elements: 256 KiB, above the cache's 128 KiB floor


@pytest.fixture(autouse=True)
def _cache_state():
    """Each test starts with the cache on, empty, at its default limit."""
    limit = memory.get_cache_limit()
    enabled = memory.is_cache_enabled()
    memory.set_cache_enabled(True)
    gc.collect()
    memory.empty_cache()
    memory.reset_accumulated_memory_stats()
    yield
    memory.set_cache_enabled(enabled)
    memory.set_cache_limit(limit)
    gc.collect()
    memory.empty_cache()


def _from_cache(a):
    return type(a.base).__name__ == "_CacheBlock"


def test_large_results_come_from_the_cache_and_equal_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 512)).astype(np.float32)
    w = rng.standard_normal((512, 384)).astype(np.float32)
    t = fg.tensor(x, requires_grad=True)
    cases = [(fg.exp(t).detach().numpy(), np.exp(x), 1e-6),
             ((t * 2.0 + 1.0).detach().numpy(), x * 2 + 1, 0),
             (fg.matmul(t, fg.tensor(w)).detach().numpy(), x @ w, 1e-4),
             (fg.relu(t).detach().numpy(), np.maximum(x, 0), 0),
             ((t > 0).numpy(), x > 0, 0)]
    for got, want, tol in cases:
        assert _from_cache(got)
        assert got.shape == want.shape and got.dtype == want.dtype
        assert got.flags.c_contiguous and got.flags.writeable and got.flags.aligned
        assert got.ctypes.data % 64 == 0
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    # the backward's kernel results too
    memory.reset_accumulated_memory_stats()
    fg.sum(fg.exp(t)).backward()
    st = memory.memory_stats()
    assert st["hits"] + st["misses"] >= 2, st
    np.testing.assert_allclose(t.grad.numpy(), np.exp(x), rtol=1e-6)
    # small results are plain numpy.empty arrays
    small = fg.exp(fg.tensor(x[:4])).numpy()
    assert small.base is None


def test_cached_arrays_behave_like_numpy_arrays():
    a = fg.exp(fg.zeros(BIG)).numpy()
    assert _from_cache(a)
    a[:] = np.arange(BIG, dtype=np.float32)            # writeable
    b = pickle.loads(pickle.dumps(a))
    assert not _from_cache(b) and np.array_equal(a, b)
    assert np.asarray(a) is a
    np.testing.assert_array_equal(np.copy(a), a)
    assert np.shares_memory(a[::3], a)
    with pytest.raises(ValueError):                  # not its own data: resize refuses
        a.resize(10)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(a.base)


def test_blocks_are_reused_after_a_warm_up_step():
    from fastgrad.bench import workloads as W
    step = W.fastgrad_cnn_step("sgd")
    step()
    step()
    memory.reset_accumulated_memory_stats()
    step()
    st = memory.memory_stats()
    # a step allocates the same sizes as the one before it: the cache serves them all
    assert st["hits"] > 10, st
    assert st["misses"] == 0, st
    assert st["cached_bytes"] > 0


def test_cached_bytes_never_exceed_the_limit():
    limit = 3 << 20
    memory.set_cache_limit(limit)
    rng = np.random.default_rng(1)
    live = []
    for i in range(300):
        n = int(rng.integers(BIG // 2, BIG * 8))
        live.append(K.cache_empty((n,), np.float32))
        if len(live) > 6 or rng.random() < 0.4:
            live.pop(int(rng.integers(len(live))))
        st = memory.memory_stats()
        assert st["cached_bytes"] <= limit, (i, st)
    assert memory.memory_stats()["evictions"] > 0
    assert memory.memory_stats()["hits"] > 0
    # a lower limit evicts at once; 0 caches nothing
    del live
    memory.set_cache_limit(1 << 20)
    assert memory.memory_stats()["cached_bytes"] <= 1 << 20
    memory.set_cache_limit(0)
    assert memory.memory_stats()["cached_bytes"] == 0
    a = K.cache_empty((BIG,), np.float32)
    del a
    assert memory.memory_stats()["cached_bytes"] == 0
    with pytest.raises(ValueError, match="set_cache_limit"):
        memory.set_cache_limit(-1)
    with pytest.raises(ValueError, match="set_cache_limit"):
        memory.set_cache_limit(1.5)


def test_empty_cache_releases_free_blocks_and_keeps_live_ones():
    keep = K.cache_empty((BIG,), np.float64)
    keep[:] = 7.0
    tmp = [K.cache_empty((BIG * (i + 1),), np.float32) for i in range(4)]
    used = memory.memory_allocated()
    assert used >= keep.nbytes + sum(t.nbytes for t in tmp)
    del tmp
    st = memory.memory_stats()
    assert st["cached_blocks"] == 4 and st["cached_bytes"] > 0
    assert memory.memory_reserved() == st["allocated_bytes"] + st["cached_bytes"]
    memory.empty_cache()
    st = memory.memory_stats()
    assert st["cached_bytes"] == 0 and st["cached_blocks"] == 0
    assert st["allocated_bytes"] >= keep.nbytes
    assert (keep == 7.0).all()
    del keep
    assert memory.memory_stats()["cached_blocks"] == 1


def test_views_keep_their_block_alive():
    base = fg.exp(fg.zeros(BIG)).numpy()
    base[:] = np.arange(BIG, dtype=np.float32)
    view = base[1::2]
    want = view.copy()
    del base
    gc.collect()
    assert memory.memory_stats()["cached_blocks"] == 0     # the view still holds it
    # new results of the same size must not get the view's memory
    others = [fg.neg(fg.full((BIG,), 3.0)).numpy() for _ in range(8)]
    for o in others:
        assert not np.shares_memory(o, view)
        assert (o == -3.0).all()
    np.testing.assert_array_equal(view, want)
    del view
    gc.collect()
    assert memory.memory_stats()["cached_blocks"] >= 1


def test_threads_allocating_at_once():
    errors = []
    w = fg.tensor(np.eye(256, dtype=np.float32))

    def work(tid):
        try:
            rng = np.random.default_rng(tid)
            for i in range(60):
                n = int(rng.integers(BIG // 2, BIG * 4))
                a = K.cache_empty((n,), np.float32)
                a[:] = tid
                x = fg.full((256, 256), float(tid))
                y = fg.matmul(x, w).numpy()                # a kernel that releases the GIL
                if not (a == tid).all() or not (y == tid).all():
                    errors.append((tid, i))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    ts = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    gc.collect()
    st = memory.memory_stats()
    assert st["allocated_bytes"] == 0, st
    assert st["hits"] > 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_uses_its_own_copy_of_the_cache():
    keep = K.cache_empty((BIG,), np.float64)
    keep[:] = np.arange(BIG)
    free = [K.cache_empty((BIG,), np.float64) for _ in range(3)]
    del free                                               # three free blocks cached
    before = memory.memory_stats()
    pid = os.fork()
    if pid == 0:                                           # the child: use every block
        ok = 1
        try:
            arrs = [K.cache_empty((BIG,), np.float64) for _ in range(6)]
            for a in arrs:
                a[:] = -1.0
            ok = int(all((a == -1.0).all() for a in arrs)
                     and memory.memory_stats()["hits"] >= before["hits"] + 3)
            keep[:] = -2.0                                 # the child's copy only
            del arrs
            memory.empty_cache()
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    np.testing.assert_array_equal(keep, np.arange(BIG))
    assert memory.memory_stats()["cached_blocks"] == before["cached_blocks"]
    again = [K.cache_empty((BIG,), np.float64) for _ in range(3)]
    for a in again:
        a[:] = 1.0
    np.testing.assert_array_equal(keep, np.arange(BIG))


def _child(code, env_extra=None):
    env = dict(os.environ)
    env.pop("FASTGRAD_MEMORY_CACHE", None)
    env.update(env_extra or {})
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    return out


_STATE = r"""
import json, fastgrad as fg
a = fg.exp(fg.zeros(1 << 16)).numpy()
print(json.dumps({"cached": type(a.base).__name__ == "_CacheBlock",
                  "limit": fg.memory.get_cache_limit(),
                  "enabled": fg.memory.is_cache_enabled(),
                  "config": fg._config.config()["memory"]}))
"""


def test_environment_variable_turns_the_cache_off_or_sets_its_limit():
    on = json.loads(_child(_STATE).stdout)
    assert on["cached"] and on["enabled"] and on["config"].startswith("cache on")
    assert 0 < on["limit"] <= memory.DEFAULT_CACHE_LIMIT
    off = json.loads(_child(_STATE, {"FASTGRAD_MEMORY_CACHE": "0"}).stdout)
    assert not off["cached"] and not off["enabled"] and off["config"].startswith("cache off")
    one = json.loads(_child(_STATE, {"FASTGRAD_MEMORY_CACHE": "1"}).stdout)
    assert one["cached"] and one["enabled"] and one["limit"] == on["limit"]
    sized = json.loads(_child(_STATE, {"FASTGRAD_MEMORY_CACHE": "64M"}).stdout)
    assert sized["cached"] and sized["limit"] == 64 << 20
    bad = _child(_STATE, {"FASTGRAD_MEMORY_CACHE": "lots"})
    assert bad.returncode != 0 and "FASTGRAD_MEMORY_CACHE='lots'" in bad.stderr


def test_cache_off_gives_plain_numpy_arrays():
    memory.set_cache_enabled(False)
    a = fg.exp(fg.zeros(BIG)).numpy()
    assert a.base is None
    assert memory.memory_stats()["misses"] == 0
    memory.set_cache_enabled(True)
    assert _from_cache(fg.exp(fg.zeros(BIG)).numpy())


def test_tracemalloc_traces_cached_arrays_while_they_live():
    import tracemalloc
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        a = K.cache_empty((BIG,), np.float32)
        assert _from_cache(a)
        during = tracemalloc.get_traced_memory()[0]
        del a
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert during - before >= BIG * 4
    assert during - after >= BIG * 4
