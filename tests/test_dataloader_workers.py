"""DataLoader(num_workers=N): worker processes, their seeding, errors and shutdown,
compared with num_workers=0 and with torch.utils.data where it is installed."""
import gc
import multiprocessing
import os
import random
import time

import numpy as np
import pytest

import fastgrad as fg
from fastgrad.utils.data import (DataLoader, Dataset, IterableDataset, TensorDataset,
                                 get_worker_info)

WAIT = 60          # loaders under test get timeout=WAIT: a hang fails the test instead of stalling it
LOCAL_OK = "fork"  # for loaders given lambdas or local functions/classes, which only fork can pass


def _xy(n=50):
    X = fg.from_numpy(np.arange(n * 3, dtype=np.float32).reshape(n, 3))
    y = fg.from_numpy(np.arange(n, dtype=np.int64))
    return X, y


def _batches(loader):
    return [tuple(t.numpy().tolist() for t in b) for b in loader]


def _our_children():
    return multiprocessing.active_children()


class Squares(Dataset):
    """Samples are dicts; records which worker made each sample."""

    def __init__(self, n=23):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        wi = get_worker_info()
        return {"x": np.full(2, i * i, np.float32), "i": i, "worker": -1 if wi is None else wi.id}


class RandomDraws(Dataset):
    """Each sample is what the worker's random generators give."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        wi = get_worker_info()
        return (float(fg.rand(1).item()), float(np.random.rand()), random.random(),
                wi.id, wi.seed, wi.num_workers)


class FailsAt(Dataset):
    def __init__(self, bad):
        self.bad = bad

    def __len__(self):
        return 12

    def __getitem__(self, i):
        if i == self.bad:
            raise KeyError(f"sample {i} is missing")
        return np.float32(i)


class Dies(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            os._exit(3)
        return np.float32(i)


class Slow(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        time.sleep(30)
        return np.float32(i)


class Counter(IterableDataset):
    """0 .. n-1, split between workers by get_worker_info (or duplicated without split)."""

    def __init__(self, n, split=True):
        self.n, self.split = n, split

    def __iter__(self):
        wi = get_worker_info()
        if wi is None or not self.split:
            return iter(range(self.n))
        return iter(range(wi.id, self.n, wi.num_workers))

    def __len__(self):
        return self.n


class MatmulDataset(Dataset):
    """Runs threaded-size kernels inside the worker."""

    def __len__(self):
        return 6

    def __getitem__(self, i):
        a = fg.ones(256, 256)
        return (a @ a).sum(dim=0)[:4] + i


# ---- same batches, same order ---------------------------------------------------------------
@pytest.mark.parametrize("nw", [1, 2, 3])
@pytest.mark.parametrize("bs,drop_last", [(7, False), (7, True), (1, False), (64, False)])
def test_batches_and_order_equal_single_process(nw, bs, drop_last):
    ds = TensorDataset(*_xy())

    def run(n):
        loader = DataLoader(ds, batch_size=bs, shuffle=True, drop_last=drop_last, generator=11,
                            num_workers=n, timeout=WAIT if n else 0)
        return [_batches(loader) for _ in range(2)]          # two epochs: two different orders

    single, multi = run(0), run(nw)
    assert multi == single
    assert single[0] != single[1] or bs == 64


def test_global_seed_gives_same_order_with_and_without_workers():
    ds = TensorDataset(*_xy())
    out = []
    for nw in (0, 2):
        fg.manual_seed(7)
        out.append(_batches(DataLoader(ds, batch_size=5, shuffle=True, num_workers=nw)))
    assert out[0] == out[1]


def test_generic_datasets_samplers_and_collate_fn_match_single_process():
    ds = Squares()
    cases = [dict(batch_size=4), dict(batch_size=4, sampler=[5, 1, 9, 2, 2, 22, 0]),
             dict(batch_sampler=[[3, 1], [0], [22, 21, 20]]),
             dict(batch_size=3, collate_fn=lambda b: [s["i"] for s in b]),
             dict(batch_size=None)]
    for kw in cases:
        single = list(DataLoader(ds, **kw))
        multi = list(DataLoader(ds, num_workers=2, timeout=WAIT, multiprocessing_context=LOCAL_OK, **kw))
        assert len(single) == len(multi)
        for a, b in zip(single, multi):
            if isinstance(a, dict):
                assert a.keys() == b.keys()
                np.testing.assert_array_equal(a["x"].numpy(), b["x"].numpy())
                assert type(a["i"]) is type(b["i"])
                np.testing.assert_array_equal(np.asarray(a["i"].numpy() if isinstance(a["i"], fg.Tensor)
                                                         else a["i"]),
                                              np.asarray(b["i"].numpy() if isinstance(b["i"], fg.Tensor)
                                                         else b["i"]))
                assert isinstance(b["x"], fg.Tensor) and b["x"].dtype == a["x"].dtype
            else:
                assert a == b


def test_batches_are_made_by_the_workers_in_turn():
    loader = DataLoader(Squares(16), batch_size=4, num_workers=2, timeout=WAIT)
    assert [b["worker"].numpy().tolist() for b in loader] == [[0] * 4, [1] * 4, [0] * 4, [1] * 4]
    assert [b["worker"].numpy().tolist() for b in DataLoader(Squares(8), batch_size=4)] == [[-1] * 4] * 2


def test_in_order_false_yields_every_batch():
    loader = DataLoader(Squares(), batch_size=3, num_workers=3, in_order=False, timeout=WAIT)
    got = sorted(i for b in loader for i in b["i"].numpy().tolist())
    assert got == list(range(23))


def test_pin_memory_is_accepted():
    ds = TensorDataset(*_xy(10))
    assert _batches(DataLoader(ds, batch_size=4, pin_memory=True, num_workers=1, timeout=WAIT)) == \
        _batches(DataLoader(ds, batch_size=4, pin_memory=True))


# ---- iterable datasets ------------------------------------------------------------------------
def test_iterable_dataset_split_by_worker_info():
    loader = DataLoader(Counter(10), batch_size=2, num_workers=2, timeout=WAIT)
    got = [b.numpy().tolist() for b in loader]
    # worker 0 streams 0,2,4,6,8 and worker 1 streams 1,3,5,7,9; batches alternate between them
    assert got == [[0, 2], [1, 3], [4, 6], [5, 7], [8], [9]]
    assert [b.numpy().tolist() for b in DataLoader(Counter(5), batch_size=2)] == [[0, 1], [2, 3], [4]]


def test_iterable_dataset_without_split_is_read_by_every_worker():
    got = [b.numpy().tolist() for b in DataLoader(Counter(3, split=False), batch_size=2,
                                                  num_workers=2, timeout=WAIT)]
    assert got == [[0, 1], [0, 1], [2], [2]]


def test_iterable_dataset_rejects_shuffle_and_sampler():
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Counter(4), shuffle=True)
    with pytest.raises(ValueError, match="sampler"):
        DataLoader(Counter(4), sampler=[0, 1])


# ---- seeding ----------------------------------------------------------------------------------
def test_worker_seeds_are_base_seed_plus_id_and_seed_every_generator():
    def draws(gen):
        return [tuple(t.numpy().tolist() for t in b)
                for b in DataLoader(RandomDraws(), batch_size=2, num_workers=2, generator=gen,
                                    timeout=WAIT)]

    a, b, c = draws(3), draws(3), draws(4)
    assert a == b and a != c
    rows = [list(zip(*batch)) for batch in a]
    seeds = {}
    for row in (r for batch in rows for r in batch):
        fg_r, np_r, py_r, wid, seed, nw = row
        assert nw == 2
        seeds.setdefault(wid, seed)
        assert seeds[wid] == seed
    assert seeds[1] == seeds[0] + 1
    # the first draw of each worker is the first draw of a generator seeded with its seed
    first = {int(r[3]): r for r in reversed(rows[0] + rows[1])}
    for wid, r in first.items():
        fg.manual_seed(int(r[4]))
        assert r[0] == pytest.approx(float(fg.rand(1).item()))
        random.seed(int(r[4]))
        assert r[2] == random.random()
    np_first = [first[0][1], first[1][1]]
    assert np_first[0] != np_first[1]


def test_worker_init_fn_runs_in_each_worker_after_seeding():
    def init(worker_id):
        wi = get_worker_info()
        assert wi.id == worker_id
        np.random.seed(1000 + worker_id)

    out = [b for b in DataLoader(RandomDraws(), batch_size=4, num_workers=2, worker_init_fn=init,
                                 multiprocessing_context=LOCAL_OK, timeout=WAIT)]
    np.random.seed(1000)
    expect0 = np.random.rand()
    assert out[0][1].numpy()[0] == pytest.approx(expect0)
    assert get_worker_info() is None


# ---- persistent workers ----------------------------------------------------------------------
def test_persistent_workers_live_across_epochs():
    class Pid(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return os.getpid()

    persistent = DataLoader(Pid(), batch_size=2, num_workers=2, persistent_workers=True, timeout=WAIT,
                            multiprocessing_context=LOCAL_OK)
    e1 = [b.numpy().tolist() for b in persistent]
    e2 = [b.numpy().tolist() for b in persistent]
    assert e1 == e2 and len({p for b in e1 for p in b}) == 2
    fresh = DataLoader(Pid(), batch_size=2, num_workers=2, timeout=WAIT, multiprocessing_context=LOCAL_OK)
    f1 = {p for b in fresh for p in b.numpy().tolist()}
    f2 = {p for b in fresh for p in b.numpy().tolist()}
    assert not f1 & f2
    del persistent
    gc.collect()
    assert _our_children() == []


def test_persistent_workers_after_an_unfinished_epoch():
    ds = TensorDataset(*_xy(30))
    loader = DataLoader(ds, batch_size=4, shuffle=True, generator=2, num_workers=2,
                        persistent_workers=True, timeout=WAIT)
    it = iter(loader)
    next(it)
    second = _batches(loader)                        # leftovers of the first epoch are dropped
    ref = DataLoader(ds, batch_size=4, shuffle=True, generator=2)
    next(iter(ref))
    assert second == _batches(ref)


# ---- errors and shutdown ---------------------------------------------------------------------
def test_worker_exception_is_raised_with_type_worker_and_traceback():
    loader = DataLoader(FailsAt(5), batch_size=2, num_workers=2, timeout=WAIT)
    it = iter(loader)
    next(it)
    next(it)
    with pytest.raises(KeyError) as ei:
        next(it)
    msg = str(ei.value)
    assert "DataLoader worker process 0" in msg and "sample 5 is missing" in msg
    assert "__getitem__" in msg and "Original Traceback" in msg
    del it
    gc.collect()
    assert _our_children() == []


def test_worker_init_fn_error_is_raised():
    def init(worker_id):
        raise ValueError(f"init failed in {worker_id}")

    with pytest.raises(ValueError, match="init failed in 0"):
        list(DataLoader(Squares(), batch_size=2, num_workers=2, worker_init_fn=init, timeout=WAIT,
                        multiprocessing_context=LOCAL_OK))
    gc.collect()
    assert _our_children() == []


def test_a_worker_that_dies_is_reported():
    with pytest.raises(RuntimeError, match="exited unexpectedly"):
        list(DataLoader(Dies(), batch_size=2, num_workers=2, timeout=WAIT))
    gc.collect()
    assert _our_children() == []


def test_timeout_raises():
    with pytest.raises(RuntimeError, match="timed out after 0.5 seconds"):
        next(iter(DataLoader(Slow(), batch_size=1, num_workers=1, timeout=0.5)))
    gc.collect()
    assert _our_children() == []


@pytest.mark.parametrize("how", ["break", "del_loader", "exhaust"])
def test_no_worker_outlives_its_iterator(how):
    loader = DataLoader(TensorDataset(*_xy(200)), batch_size=2, num_workers=3, timeout=WAIT)
    if how == "break":
        for i, _ in enumerate(loader):
            if i == 3:
                break
    elif how == "del_loader":
        it = iter(loader)
        next(it)
        assert len(_our_children()) == 3
        del loader, it
    else:
        assert len(list(loader)) == 100
    gc.collect()
    assert _our_children() == []


def test_argument_errors_as_torch():
    ds = TensorDataset(*_xy(10))
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers"):
        DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match="timeout"):
        DataLoader(ds, timeout=-1)
    with pytest.raises(ValueError, match="multiprocessing_context"):
        DataLoader(ds, num_workers=1, multiprocessing_context="telepathy")
    with pytest.raises(ValueError, match="batch_sampler"):
        DataLoader(ds, batch_size=2, batch_sampler=[[0]])
    with pytest.raises(ValueError, match="drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    assert DataLoader(ds, num_workers=2).prefetch_factor == 2


# ---- fork safety and start methods ------------------------------------------------------------
def test_workers_run_kernels_after_threaded_kernels_in_the_parent():
    old = fg.get_num_threads()
    fg.set_num_threads(2)
    try:
        a = fg.randn(384, 384)
        for _ in range(3):
            (a @ a).relu().sum().item()          # the pool's threads are started
        got = [b.numpy() for b in DataLoader(MatmulDataset(), batch_size=3, num_workers=2,
                                             multiprocessing_context="fork", timeout=WAIT)]
        want = [b.numpy() for b in DataLoader(MatmulDataset(), batch_size=3)]
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
        (a @ a).sum().item()                     # and the parent's pool still works
    finally:
        fg.set_num_threads(old)


def test_spawn_context():
    ds = TensorDataset(*_xy(12))
    got = _batches(DataLoader(ds, batch_size=5, shuffle=True, generator=1, num_workers=1,
                              multiprocessing_context="spawn", timeout=WAIT))
    assert got == _batches(DataLoader(ds, batch_size=5, shuffle=True, generator=1))


# ---- against torch ---------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:This DataLoader will create")
def test_iterable_and_map_order_match_torch():
    torch = pytest.importorskip("torch")
    tud = torch.utils.data

    class TCounter(tud.IterableDataset):
        def __iter__(self):
            wi = tud.get_worker_info()
            return iter(range(wi.id, 11, wi.num_workers) if wi else range(11))

    for bs in (2, 3):
        ours = [b.numpy().tolist() for b in DataLoader(Counter(11), batch_size=bs, num_workers=3,
                                                       timeout=WAIT)]
        theirs = [b.tolist() for b in tud.DataLoader(TCounter(), batch_size=bs, num_workers=3)]
        assert ours == theirs
    ours = [b["i"].numpy().tolist() for b in DataLoader(Squares(), batch_size=4, num_workers=2,
                                                        sampler=[3, 1, 4, 1, 5, 9, 2, 6, 5])]
    theirs = [b.tolist() for b in tud.DataLoader(list(range(23)), batch_size=4, num_workers=2,
                                                 sampler=[3, 1, 4, 1, 5, 9, 2, 6, 5])]
    assert ours == theirs


def test_seed_worker_idiom_sees_the_worker_seed():
    """``worker_init_fn`` reading ``initial_seed()`` (the common reproducibility recipe)."""
    seen = multiprocessing.get_context("fork").Queue()

    def seed_worker(worker_id):
        worker_seed = fg.initial_seed() % 2 ** 32
        np.random.seed(worker_seed)
        random.seed(worker_seed)
        seen.put((worker_id, fg.initial_seed(), get_worker_info().seed))

    g = fg.Generator()
    g.manual_seed(0)
    list(DataLoader(Squares(8), batch_size=2, num_workers=2, worker_init_fn=seed_worker, generator=g,
                    multiprocessing_context="fork", timeout=WAIT))
    got = sorted(seen.get(timeout=WAIT) for _ in range(2))
    assert [w for w, _, _ in got] == [0, 1]
    assert all(a == b for _, a, b in got)
    assert got[1][1] == got[0][1] + 1


class Unpicklable(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return {"x": np.float32(i), "f": lambda: i}


class LocalErrorDataset(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        class LocalError(Exception):
            pass
        raise LocalError(f"local failure at {i}")


def test_a_batch_that_cannot_be_pickled_is_an_error_not_a_hang():
    loader = DataLoader(Unpicklable(), batch_size=2, collate_fn=lambda b: b, num_workers=1,
                        timeout=WAIT, multiprocessing_context=LOCAL_OK)
    with pytest.raises(Exception, match="DataLoader worker process 0"):
        next(iter(loader))
    with pytest.raises(RuntimeError, match="local failure at 0"):
        next(iter(DataLoader(LocalErrorDataset(), batch_size=2, num_workers=1, timeout=WAIT)))
    gc.collect()
    assert _our_children() == []
