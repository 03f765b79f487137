"""Run under mpirun by tests/test_distributed.py: DistributedDataParallel against
single-process training on the combined batch (computed on every rank from the same
data and the same initial weights).  Prints ``RESULT <json>`` per rank."""
import json
import traceback

import numpy as np

import fastgrad as fg
import fastgrad.distributed as dist
from fastgrad import nn, optim
from fastgrad.nn import functional as F
from fastgrad.nn.parallel import DistributedDataParallel as DDP
from fastgrad.nn.parallel import consume_prefix_in_state_dict_if_present

fg.set_num_threads(1)
dist.init_process_group("mpi")
rank, size = dist.get_rank(), dist.get_world_size()
results = {}
info = {}


def check(fn):
    try:
        fn()
        results[fn.__name__] = "ok"
    except Exception:  # noqa: BLE001 - every failure is reported to rank 0
        results[fn.__name__] = traceback.format_exc(limit=6)
    dist.barrier()


def make_model(seed, hidden=16):
    fg.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 3))


def batch(step, n=8 * size):
    rng = np.random.default_rng(100 + step)
    return (fg.tensor(rng.standard_normal((n, 6)).astype(np.float32)),
            fg.tensor(rng.integers(0, 3, n)))


def shard(t):
    return t[rank::size]


def params(m):
    return [p._data.copy() for p in m.parameters()]


def same_on_all_ranks(arrays):
    got = dist._group.comm.allgather([a.tobytes() for a in arrays])
    return all(g == got[0] for g in got)


@check
def ddp_matches_single_process_training():
    ref = make_model(0)
    model = DDP(make_model(0 if rank == 0 else 123), bucket_cap_mb=600 / 2**20)   # several buckets
    assert same_on_all_ranks(params(model)), "initial parameters were not broadcast"
    for a, b in zip(params(model), params(ref)):
        np.testing.assert_array_equal(a, b)
    nb = len(model._buckets)
    info["buckets"] = nb
    assert nb >= 3, nb
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ropt = optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    for step in range(6):
        x, y = batch(step)
        loss = F.cross_entropy(model(shard(x)), shard(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        rloss = F.cross_entropy(ref(x), y)
        ropt.zero_grad()
        rloss.backward()
        ropt.step()
    info["early_buckets"] = model.stats["early_buckets"]
    assert model.stats["early_buckets"] > 0      # started from hooks, during backward
    assert same_on_all_ranks(params(model))
    for a, b in zip(params(model), params(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # and they did move: the comparison is not between two untrained models
    assert max(np.abs(a - b).max() for a, b in zip(params(model), params(make_model(0)))) > 1e-2


@check
def no_sync_accumulates_locally_then_averages():
    ref = make_model(1)
    model = DDP(make_model(1))
    x1, y1 = batch(10)
    x2, y2 = batch(11)
    with model.no_sync():
        F.cross_entropy(model(shard(x1)), shard(y1)).backward()
    g_local = [p.grad._data.copy() for p in model.parameters()]
    if size > 1:
        assert not same_on_all_ranks(g_local), "no_sync() still synchronised"
    F.cross_entropy(model(shard(x2)), shard(y2)).backward()
    F.cross_entropy(ref(x1), y1).backward()
    F.cross_entropy(ref(x2), y2).backward()
    for p, r in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad._data, r.grad._data, rtol=1e-5, atol=1e-6)


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 5)
        self.a = nn.Linear(5, 1)
        self.b = nn.Linear(5, 1)
        self.never = nn.Linear(5, 1)

    def forward(self, x, use_b):
        h = self.body(x).tanh()
        out = self.a(h)
        return out + self.b(h) if use_b else out


@check
def unused_parameters():
    x = fg.tensor(np.random.default_rng(rank).standard_normal((3, 4)))
    fg.manual_seed(3)
    model = DDP(TwoHeads().double(), find_unused_parameters=True)
    use_b = rank == size - 1
    model(x, use_b).sum().backward()
    # the gradient of b is rank (size-1)'s own divided by size, on every rank
    m2 = TwoHeads().double()
    m2.load_state_dict(model.module.state_dict())
    xl = fg.tensor(np.random.default_rng(size - 1).standard_normal((3, 4)))
    m2(xl, True).sum().backward()
    np.testing.assert_allclose(model.module.b.weight.grad._data, m2.b.weight.grad._data / size,
                               rtol=1e-12)
    assert model.module.never.weight.grad is None
    assert same_on_all_ranks([p.grad._data for p in model.module.a.parameters()])
    # without find_unused_parameters the rank that skipped b raises; no rank hangs
    strict = DDP(model.module)
    err = None
    try:
        strict(x, use_b).sum().backward()
    except RuntimeError as e:
        err = str(e)
    if size > 1 and rank != size - 1:
        assert err is not None and "b.weight" in err and "find_unused_parameters=True" in err, err
    elif size > 1:
        assert err is not None and "never.weight" in err, err


@check
def buffers_broadcast_and_state_dict_prefix():
    fg.manual_seed(4)
    inner = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    inner[1].running_mean._data[...] = rank + 5.0
    model = DDP(inner)
    np.testing.assert_array_equal(inner[1].running_mean._data, 5.0)      # rank 0's
    inner[1].running_var._data[...] = rank + 2.0
    model.eval()
    model(fg.ones(2, 3))                                               # re-broadcast at forward
    np.testing.assert_array_equal(inner[1].running_var._data, 2.0)
    keys = list(model.state_dict())
    assert keys and all(k.startswith("module.") for k in keys), keys
    bare = list(model.module.state_dict())
    assert [k[len("module."):] for k in keys] == bare
    sd = consume_prefix_in_state_dict_if_present(model.state_dict(), "module.")
    assert list(sd) == bare
    fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    fresh.load_state_dict(sd)


@check
def checkpoint_through_rank0():
    import os
    model = DDP(make_model(5))
    path = os.environ["CKPT_PATH"]
    dist.save_on_rank0(model.module.state_dict(), path)
    other = make_model(77)
    other.load_state_dict(dist.load_and_broadcast(path))
    for a, b in zip(params(other), params(model)):
        np.testing.assert_array_equal(a, b)


@check
def different_models_raise_on_every_rank():
    try:
        DDP(make_model(0, hidden=16 if rank == 0 else 17))
    except RuntimeError as e:
        assert "differs between ranks" in str(e) and "rank 0 has" in str(e), e
        return
    if size > 1:
        raise AssertionError("no error for different models")


print("RESULT " + json.dumps({"rank": rank, "size": size, "checks": results, "info": info}),
      flush=True)
