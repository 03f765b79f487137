"""Run under mpirun by tests/test_distributed.py: fastgrad.distributed's collectives and
checkpoint helpers against NumPy.  Every rank prints one line ``RESULT <json>`` mapping
check name -> "ok" or the failure; the test asserts all are "ok" on every rank."""
import json
import os
import sys
import traceback

import numpy as np

import fastgrad as fg
import fastgrad.distributed as dist

dist.init_process_group("mpi")
rank, size = dist.get_rank(), dist.get_world_size()
results = {}


def check(fn):
    try:
        fn()
        results[fn.__name__] = "ok"
    except Exception:  # noqa: BLE001 - every failure is reported to rank 0
        results[fn.__name__] = traceback.format_exc(limit=4)
    dist.barrier()


def data(r, shape, dtype, seed=0):
    """What rank r contributes: every rank can rebuild every other rank's input."""
    rng = np.random.default_rng(1000 * seed + r)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(-50, 50, size=shape).astype(dtype)


def everyone(shape, dtype, seed=0):
    return np.stack([data(r, shape, dtype, seed) for r in range(size)])


@check
def basics():
    assert size == int(os.environ.get("EXPECT_SIZE", size)), (size, os.environ.get("EXPECT_SIZE"))
    assert dist.is_initialized() and dist.get_backend() == "mpi"
    assert 0 <= rank < size


@check
def all_reduce_ops():
    for dtype in (np.float32, np.float64, np.int64):
        for shape in [(7,), (3, 5), (), (0, 4), (1000,)]:
            for op in (dist.ReduceOp.SUM, dist.ReduceOp.MAX, dist.ReduceOp.MIN, dist.ReduceOp.AVG):
                if op == dist.ReduceOp.AVG and dtype is np.int64:
                    continue
                t = fg.tensor(data(rank, shape, dtype, seed=len(shape)))
                v0 = t._version[0]
                dist.all_reduce(t, op=op)
                allx = everyone(shape, dtype, seed=len(shape))
                expect = {"sum": allx.sum(0), "max": allx.max(0), "min": allx.min(0),
                          "avg": allx.astype(np.float64).mean(0)}[op]
                tol = 1e-5 if dtype is np.float32 else 1e-12
                assert t._data.dtype == dtype and t._data.shape == shape
                np.testing.assert_allclose(t._data, expect, rtol=tol, atol=tol, err_msg=f"{op} {dtype} {shape}")
                assert t._version[0] == v0 + 1


@check
def all_reduce_bool_and_product():
    b = fg.tensor(np.array([rank == 0, True, False]))
    dist.all_reduce(b, op=dist.ReduceOp.MAX)        # any
    np.testing.assert_array_equal(b._data, [True, True, False])
    b = fg.tensor(np.array([rank == 0, True, False]))
    dist.all_reduce(b, op=dist.ReduceOp.MIN)        # all
    np.testing.assert_array_equal(b._data, [size == 1, True, False])
    p = fg.tensor(np.array([rank + 1.0, 2.0]))
    dist.all_reduce(p, op=dist.ReduceOp.PRODUCT)
    np.testing.assert_allclose(p._data, [np.prod(np.arange(1.0, size + 1)), 2.0 ** size])


@check
def all_reduce_noncontiguous_and_async():
    base = data(rank, (6, 8), np.float64, seed=7)
    t = fg.tensor(base.copy())
    view = t[:, ::2]                      # non-contiguous: reduced through a copy, written back
    assert not view._data.flags.c_contiguous
    dist.all_reduce(view)
    expect = everyone((6, 8), np.float64, seed=7)
    np.testing.assert_allclose(t._data[:, ::2], expect.sum(0)[:, ::2], rtol=1e-12)
    np.testing.assert_array_equal(t._data[:, 1::2], base[:, 1::2])    # untouched
    a = fg.tensor(data(rank, (5000,), np.float32, seed=8))
    w = dist.all_reduce(a, op=dist.ReduceOp.AVG, async_op=True)
    assert w.wait()
    assert w.is_completed()
    np.testing.assert_allclose(a._data, everyone((5000,), np.float32, seed=8).astype(np.float64).mean(0),
                               rtol=1e-5, atol=1e-6)


@check
def broadcast_and_all_gather():
    for src in range(size):
        t = fg.tensor(data(rank, (4, 3), np.float32, seed=9))
        dist.broadcast(t, src=src)
        np.testing.assert_array_equal(t._data, data(src, (4, 3), np.float32, seed=9))
    w = fg.tensor(data(rank, (9,), np.int64, seed=10))
    dist.broadcast(w, src=size - 1, async_op=True).wait()
    np.testing.assert_array_equal(w._data, data(size - 1, (9,), np.int64, seed=10))
    t = fg.tensor(data(rank, (2, 3), np.float64, seed=11))
    outs = [fg.zeros(2, 3, dtype=fg.float64) for _ in range(size)]
    dist.all_gather(outs, t)
    for r in range(size):
        np.testing.assert_array_equal(outs[r]._data, data(r, (2, 3), np.float64, seed=11))


def raises(exc, text, fn):
    try:
        fn()
    except exc as e:
        assert text in str(e), f"{text!r} not in {e!r}"
        return
    raise AssertionError(f"no {exc.__name__} raised ({text})")


@check
def bad_inputs_raise_on_the_calling_rank():
    t = fg.tensor(np.zeros(3, dtype=np.float32))
    raises(ValueError, "all_reduce: unknown op 'median'", lambda: dist.all_reduce(t, op="median"))
    raises(TypeError, "AVG needs a floating-point tensor", lambda: dist.all_reduce(
        fg.tensor(np.zeros(3, dtype=np.int64)), op=dist.ReduceOp.AVG))
    raises(TypeError, "all_reduce: tensor must be a fastgrad.Tensor, got ndarray",
           lambda: dist.all_reduce(np.zeros(3)))
    raises(ValueError, f"broadcast: src must be a rank in [0, {size - 1}], got {size}",
           lambda: dist.broadcast(t, src=size))
    raises(ValueError, f"tensor_list must be a list of world_size={size} tensors, got {size + 1}",
           lambda: dist.all_gather([fg.zeros(3) for _ in range(size + 1)], t))
    raises(ValueError, "tensor_list[0] has shape (4,)",
           lambda: dist.all_gather([fg.zeros(4) for _ in range(size)], t))
    raises(ValueError, "read-only", lambda: dist.all_reduce(fg.ones(1).expand(3)))
    raises(RuntimeError, "already initialized", lambda: dist.init_process_group("mpi"))


@check
def checkpoint_rank0_save_and_broadcast_load():
    path = os.environ["CKPT_PATH"]
    state = {"w": fg.tensor(data(rank, (3, 4), np.float32, seed=12), requires_grad=True),
             "step": 7 + rank, "nested": [np.arange(5) * (rank + 1), ("a", 1.5)]}
    dist.save_on_rank0(state, path)            # rank 0's values are written
    got = dist.load_and_broadcast(path)
    assert got["step"] == 7
    assert isinstance(got["w"], fg.Tensor) and got["w"].requires_grad
    np.testing.assert_array_equal(got["w"]._data, data(0, (3, 4), np.float32, seed=12))
    np.testing.assert_array_equal(got["nested"][0], np.arange(5))
    assert got["nested"][1] == ("a", 1.5)
    # a file rank 0 cannot read: every rank raises the same error, none hangs
    raises(RuntimeError, "load_and_broadcast: rank 0 could not load",
           lambda: dist.load_and_broadcast(path + ".missing"))
    raises(RuntimeError, "save_on_rank0: failed on rank 0",
           lambda: dist.save_on_rank0({"f": lambda: None}, path + ".bad"))


print("RESULT " + json.dumps({"rank": rank, "size": size, "checks": results}), flush=True)
dist.destroy_process_group()
assert not dist.is_initialized()
sys.exit(0)
