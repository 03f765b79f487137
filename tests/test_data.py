"""fastgrad.data: datasets, samplers, default_collate and the DataLoader."""
import collections

import numpy as np
import pytest

import fastgrad as fg
from fastgrad.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, Generator, RandomSampler,
                           SequentialSampler, Subset, SubsetRandomSampler, TensorDataset, default_collate,
                           random_split)


def _xy(n=10, d=3):
    X = fg.from_numpy(np.arange(n * d, dtype=np.float32).reshape(n, d))
    y = fg.from_numpy(np.arange(n, dtype=np.int64) * 10)
    return X, y


class ListDataset(Dataset):
    """A dataset whose samples are arbitrary Python objects (the slow, generic path)."""

    def __init__(self, items):
        self.items = items

    def __getitem__(self, i):
        return self.items[i]

    def __len__(self):
        return len(self.items)


def _order(loader):
    """The sample order a loader over _xy() produced (y = 10 * index)."""
    return np.concatenate([yb.numpy() // 10 for _, yb in loader]).tolist()


# ---- TensorDataset ----------------------------------------------------------------------------
def test_tensor_dataset_indexing_returns_tuple_of_tensors():
    X, y = _xy()
    ds = TensorDataset(X, y)
    assert len(ds) == 10
    s = ds[3]
    assert isinstance(s, tuple) and len(s) == 2
    assert all(isinstance(t, fg.Tensor) for t in s)
    np.testing.assert_array_equal(s[0].numpy(), [9, 10, 11])
    assert s[1].item() == 30 and s[1].shape == ()


def test_tensor_dataset_accepts_numpy_without_copy():
    a = np.zeros((4, 2), np.float32)
    ds = TensorDataset(a, np.arange(4))
    assert np.shares_memory(ds.tensors[0].numpy(), a)
    assert ds.tensors[1].dtype == np.int64


def test_tensor_dataset_errors():
    with pytest.raises(ValueError, match=r"TensorDataset.*\(10, 3\).*\(9,\)"):
        TensorDataset(fg.zeros(10, 3), fg.zeros(9))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(TypeError, match="argument 1 is a list"):
        TensorDataset(fg.zeros(3), [1, 2, 3])
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(fg.tensor(1.0))


# ---- DataLoader batching ----------------------------------------------------------------------
@pytest.mark.parametrize("n,bs,drop_last", [(10, 3, False), (10, 3, True), (10, 5, False), (10, 5, True),
                                            (10, 1, False), (10, 32, False), (10, 32, True), (0, 4, False)])
def test_batches_shapes_and_last_batch(n, bs, drop_last):
    X, y = _xy(n)
    loader = DataLoader(TensorDataset(X, y), batch_size=bs, drop_last=drop_last)
    batches = list(loader)
    full, rest = divmod(n, bs)
    expected_sizes = [bs] * full + ([rest] if rest and not drop_last else [])
    assert [xb.shape[0] for xb, _ in batches] == expected_sizes
    assert len(loader) == len(expected_sizes)
    for xb, yb in batches:
        assert xb.shape[1:] == (3,) and xb.dtype == np.float32 and yb.dtype == np.int64
    if batches:
        got = np.concatenate([xb.numpy() for xb, _ in batches])
        np.testing.assert_array_equal(got, X.numpy()[:len(got)])


def test_batches_are_copies_not_views_of_the_dataset():
    X, y = _xy()
    xb, _ = next(iter(DataLoader(TensorDataset(X, y), batch_size=4)))
    xb.numpy()[:] = -1
    assert X.numpy().min() == 0


def test_shuffle_is_a_permutation_and_differs_from_identity():
    X, y = _xy(100)
    loader = DataLoader(TensorDataset(X, y), batch_size=7, shuffle=True, generator=Generator().manual_seed(1))
    order = _order(loader)
    assert sorted(order) == list(range(100))
    assert order != list(range(100))
    for xb, yb in loader:              # rows stay paired with their labels
        np.testing.assert_array_equal(xb.numpy()[:, 0] / 3, yb.numpy() // 10)


def test_same_seed_same_order_other_seed_other_order():
    X, y = _xy(50)
    ds = TensorDataset(X, y)

    def order(seed):
        return _order(DataLoader(ds, batch_size=8, shuffle=True, generator=Generator().manual_seed(seed)))

    assert order(0) == order(0)
    assert order(0) != order(1)


def test_epochs_differ_but_the_sequence_of_epochs_is_reproducible():
    X, y = _xy(50)
    ds = TensorDataset(X, y)
    a = DataLoader(ds, batch_size=8, shuffle=True, generator=Generator().manual_seed(3))
    b = DataLoader(ds, batch_size=8, shuffle=True, generator=3)          # int seed shorthand
    ea = [_order(a) for _ in range(3)]
    eb = [_order(b) for _ in range(3)]
    assert ea == eb
    assert ea[0] != ea[1] != ea[2]


def test_numpy_generator_accepted():
    X, y = _xy(30)
    ds = TensorDataset(X, y)
    o1 = _order(DataLoader(ds, batch_size=4, shuffle=True, generator=np.random.default_rng(5)))
    o2 = _order(DataLoader(ds, batch_size=4, shuffle=True, generator=np.random.default_rng(5)))
    assert o1 == o2 and sorted(o1) == list(range(30))


def test_global_seed_controls_shuffle_without_generator():
    X, y = _xy(40)
    loader = DataLoader(TensorDataset(X, y), batch_size=5, shuffle=True)
    fg.manual_seed(123)
    o1 = _order(loader)
    fg.manual_seed(123)
    o2 = _order(loader)
    fg.manual_seed(124)
    o3 = _order(loader)
    assert o1 == o2 and o1 != o3


def test_generator_api():
    g = Generator().manual_seed(7)
    assert g.initial_seed() == 7
    state = g.get_state()
    a = fg.randperm(20, generator=g).numpy()
    g.set_state(state)
    np.testing.assert_array_equal(fg.randperm(20, generator=g).numpy(), a)
    s = g.seed()
    assert g.initial_seed() == s
    assert isinstance(Generator().initial_seed(), int)
    with pytest.raises(TypeError, match="int seed"):
        Generator().manual_seed(1.5)
    with pytest.raises(TypeError, match="generator"):
        DataLoader(TensorDataset(*_xy()), shuffle=True, generator="seed")


def test_fast_path_equals_generic_collate_path():
    """TensorDataset batches (one fancy index per tensor) == default_collate of the samples."""
    X, y = _xy(23)
    ds = TensorDataset(X, y)
    fast = DataLoader(ds, batch_size=5, shuffle=True, generator=Generator().manual_seed(9))
    slow = DataLoader(ds, batch_size=5, shuffle=True, generator=Generator().manual_seed(9),
                      collate_fn=lambda b: default_collate(b))
    for (xf, yf), (xs, ys) in zip(fast, slow, strict=True):
        assert xf.dtype == xs.dtype and yf.dtype == ys.dtype
        np.testing.assert_array_equal(xf.numpy(), xs.numpy())
        np.testing.assert_array_equal(yf.numpy(), ys.numpy())


def test_fast_path_does_not_call_getitem_per_sample(monkeypatch):
    X, y = _xy(20)
    ds = TensorDataset(X, y)
    calls = []
    real = fg.Tensor.__getitem__
    monkeypatch.setattr(fg.Tensor, "__getitem__", lambda self, i: calls.append(i) or real(self, i))
    batches = list(DataLoader(ds, batch_size=10, shuffle=True, generator=0))
    assert len(batches) == 2 and calls == []


def test_fast_path_keeps_graph_for_tensors_that_require_grad():
    X = fg.randn(6, 2, requires_grad=True)
    xb, = next(iter(DataLoader(TensorDataset(X), batch_size=3, shuffle=True, generator=0)))
    assert xb.requires_grad
    xb.sum().backward()
    assert float(X.grad.sum().item()) == 6.0


def test_random_split_and_subset():
    X, y = _xy(20)
    ds = TensorDataset(X, y)
    a, b = random_split(ds, [15, 5], generator=Generator().manual_seed(0))
    assert len(a) == 15 and len(b) == 5
    ia = [int(a[i][1].item()) // 10 for i in range(15)]
    ib = [int(b[i][1].item()) // 10 for i in range(5)]
    assert sorted(ia + ib) == list(range(20))
    a2, _ = random_split(ds, [15, 5], generator=Generator().manual_seed(0))
    assert [int(a2[i][1].item()) // 10 for i in range(15)] == ia
    # a loader over a Subset of a TensorDataset takes the fast path and gives the subset's samples
    order = _order(DataLoader(a, batch_size=4))
    assert order == ia
    # fractions, remainder handed out from the first
    parts = random_split(ds, [0.5, 0.3, 0.2], generator=1)
    assert [len(p) for p in parts] == [10, 6, 4]
    parts = random_split(TensorDataset(*_xy(7)), [0.5, 0.5], generator=1)
    assert [len(p) for p in parts] == [4, 3]
    with pytest.raises(ValueError, match="does not equal"):
        random_split(ds, [10, 5])
    with pytest.raises(ValueError, match="fractions"):
        random_split(ds, [0.5, 0.6])
    sub = Subset(ds, [4, 2])
    assert len(sub) == 2 and int(sub[1][1].item()) == 20


def test_concat_dataset():
    a = ListDataset([1, 2, 3])
    b = ListDataset([4, 5])
    c = a + b
    assert isinstance(c, ConcatDataset) and len(c) == 5
    assert [c[i] for i in range(5)] == [1, 2, 3, 4, 5] and c[-1] == 5
    with pytest.raises(IndexError, match="out of range"):
        c[5]


# ---- samplers -----------------------------------------------------------------------------------
def test_samplers():
    ds = ListDataset(list(range(10)))
    assert list(SequentialSampler(ds)) == list(range(10))
    r = list(RandomSampler(ds, generator=Generator().manual_seed(0)))
    assert sorted(r) == list(range(10))
    rr = list(RandomSampler(ds, replacement=True, num_samples=25, generator=0))
    assert len(rr) == 25 and all(0 <= i < 10 for i in rr)
    assert len(list(RandomSampler(ds, num_samples=23, generator=0))) == 23
    s = list(SubsetRandomSampler([3, 5, 7], generator=0))
    assert sorted(s) == [3, 5, 7]
    assert list(BatchSampler(SequentialSampler(ds), 4, drop_last=False)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert list(BatchSampler(SequentialSampler(ds), 4, drop_last=True)) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(BatchSampler(SequentialSampler(ds), 4, drop_last=False)) == 3


def test_custom_sampler_is_followed():
    X, y = _xy(10)
    loader = DataLoader(TensorDataset(X, y), batch_size=3, sampler=[9, 0, 8, 1, 7])
    assert _order(loader) == [9, 0, 8, 1, 7]
    assert len(loader) == 2
    gen_sampler = (i for i in [2, 4])               # no __len__: iteration still works
    assert _order(DataLoader(TensorDataset(X, y), batch_size=3, sampler=gen_sampler)) == [2, 4]
    loader = DataLoader(TensorDataset(X, y), batch_size=2, sampler=[1, 10])
    with pytest.raises(IndexError, match="index 10 is out of range.*length 10"):
        list(loader)
    sub = Subset(TensorDataset(X, y), [0, 1, 2])
    with pytest.raises(IndexError, match="index 3 is out of range.*length 3"):
        list(DataLoader(sub, batch_size=2, sampler=[0, 3]))
    with pytest.raises(IndexError, match="Subset's indices"):
        list(DataLoader(Subset(TensorDataset(X, y), [0, 11]), batch_size=2))


def test_loader_argument_errors():
    ds = TensorDataset(*_xy())
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(TypeError, match="batch_size"):
        DataLoader(ds, batch_size=2.0)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, shuffle=True, sampler=[0, 1])
    with pytest.raises(TypeError, match="__getitem__"):
        DataLoader(42)
    with pytest.raises(TypeError, match="collate_fn"):
        DataLoader(ds, collate_fn=3)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)
    assert len(DataLoader(ds, batch_size=4, num_workers=0)) == 3


# ---- default_collate and the generic path ------------------------------------------------------
def test_default_collate_nested_structures():
    Point = collections.namedtuple("Point", "x y")
    samples = [{"img": np.full((2, 2), i, np.float32), "label": i, "w": 0.5 * i, "ok": i % 2 == 0,
                "name": f"s{i}", "pair": (fg.tensor([i, i + 1]), [np.int64(i), np.float64(i)]),
                "pt": Point(i, float(i)), "t": fg.full((3,), float(i))}
               for i in range(4)]
    b = default_collate(samples)
    assert set(b) == set(samples[0])
    assert b["img"].shape == (4, 2, 2) and b["img"].dtype == np.float32
    np.testing.assert_array_equal(b["img"].numpy()[:, 0, 0], [0, 1, 2, 3])
    assert b["label"].dtype == np.int64 and b["label"].tolist() == [0, 1, 2, 3]
    assert b["w"].dtype == np.float64 and b["w"].tolist() == [0.0, 0.5, 1.0, 1.5]
    assert b["ok"].dtype == np.bool_ and b["ok"].tolist() == [True, False, True, False]
    assert b["name"] == ["s0", "s1", "s2", "s3"]
    assert isinstance(b["pair"], tuple) and b["pair"][0].shape == (4, 2)
    assert isinstance(b["pair"][1], list)
    assert b["pair"][1][0].dtype == np.int64 and b["pair"][1][1].dtype == np.float64
    assert isinstance(b["pt"], Point) and b["pt"].x.tolist() == [0, 1, 2, 3]
    assert b["t"].shape == (4, 3) and b["t"].dtype == np.float32


def test_generic_dataset_loader():
    items = [{"x": np.array([i, -i], np.float32), "y": i} for i in range(7)]
    loader = DataLoader(ListDataset(items), batch_size=3, shuffle=True, generator=0)
    seen = []
    for b in loader:
        np.testing.assert_array_equal(b["x"].numpy()[:, 0], b["y"].numpy())
        seen += b["y"].tolist()
    assert sorted(seen) == list(range(7))
    raw = list(DataLoader(ListDataset(items), batch_size=2, collate_fn=lambda b: b))
    assert raw[0] == items[:2] and len(raw) == 4


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match=r"batch\['x'\].*\(3,\).*\(2,\).*sample 1"):
        default_collate([{"x": fg.zeros(3)}, {"x": fg.zeros(2)}])
    with pytest.raises(RuntimeError, match="equal shape"):
        default_collate([np.zeros(3), np.zeros(4)])
    with pytest.raises(RuntimeError, match="keys"):
        default_collate([{"a": 1}, {"b": 1}])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([(1, 2), (1, 2, 3)])
    with pytest.raises(TypeError, match=r"batch\[1\].*object"):
        default_collate([(1, object()), (2, object())])
    with pytest.raises(TypeError, match="dtype"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(TypeError, match="sample 1"):
        default_collate([fg.zeros(2), np.zeros(2)])
    with pytest.raises(ValueError, match="empty"):
        default_collate([])


def test_fixed_seed_gives_the_same_order_in_a_fresh_process():
    import os
    import subprocess
    import sys
    code = ("import fastgrad as fg; from fastgrad.data import DataLoader, TensorDataset, Generator; "
            "ds = TensorDataset(fg.arange(50)); "
            "print([b[0].tolist() for b in DataLoader(ds, batch_size=16, shuffle=True, "
            "generator=Generator().manual_seed(42))])")
    env = dict(os.environ, PYTHONHASHSEED="123")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    here = [b[0].tolist() for b in DataLoader(TensorDataset(fg.arange(50)), batch_size=16, shuffle=True,
                                              generator=Generator().manual_seed(42))]
    assert out.stdout.strip() == str(here)


# ---- samplers as torch's ----------------------------------------------------------------------
def test_random_sampler_with_replacement_draws_lazily():
    import itertools
    from fastgrad.data import WeightedRandomSampler  # noqa: F401 - exported next to it
    s = RandomSampler(range(10), replacement=True, num_samples=10 ** 10, generator=0)
    assert len(s) == 10 ** 10
    first = list(itertools.islice(iter(s), 1000))
    assert all(0 <= i < 10 for i in first) and len(set(first)) == 10
    loader = DataLoader(TensorDataset(*_xy()), batch_size=4, sampler=s)
    assert len(loader) == 25 * 10 ** 8
    xb, yb = next(iter(loader))
    assert xb.shape == (4, 3)


def test_random_sampler_more_samples_than_data_without_replacement():
    s = RandomSampler(range(4), num_samples=10, generator=1)
    got = list(s)
    assert len(got) == 10 and sorted(got[:4]) == [0, 1, 2, 3] and sorted(got[4:8]) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="num_samples"):
        RandomSampler(range(4), num_samples=0)
    with pytest.raises(TypeError, match="replacement"):
        RandomSampler(range(4), replacement=1)


def test_weighted_random_sampler():
    from fastgrad.data import WeightedRandomSampler
    s = WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], num_samples=20000, generator=0)
    got = np.array(list(s))
    assert set(got.tolist()) == {1, 3}
    assert abs((got == 3).mean() - 0.75) < 0.02
    u = list(WeightedRandomSampler(fg.tensor([1.0, 2.0, 3.0, 4.0]), 4, replacement=False, generator=0))
    assert sorted(u) == [0, 1, 2, 3]
    with pytest.raises(RuntimeError, match="without replacement"):
        WeightedRandomSampler([1.0, 0.0], 2, replacement=False)
    with pytest.raises(ValueError, match="num_samples"):
        WeightedRandomSampler([1.0], 0)
    with pytest.raises(ValueError, match="1d"):
        WeightedRandomSampler([[1.0]], 1)


def test_sampler_errors_are_torchs_classes():
    torch = pytest.importorskip("torch")
    from fastgrad.data import WeightedRandomSampler
    tud = torch.utils.data
    cases = [lambda m: m.RandomSampler(range(3), num_samples=0),
             lambda m: m.WeightedRandomSampler([1.0], 0),
             lambda m: m.WeightedRandomSampler([[1.0]], 1),
             lambda m: m.DataLoader(range(3), num_workers=-1),
             lambda m: m.DataLoader(range(3), prefetch_factor=2),
             lambda m: m.DataLoader(range(3), persistent_workers=True),
             lambda m: m.DataLoader(range(3), batch_size=2, batch_sampler=[[0]]),
             lambda m: m.DataLoader(range(3), batch_size=None, drop_last=True),
             lambda m: m.DataLoader(range(3), sampler=[0], shuffle=True)]

    import types
    ours_mod = types.SimpleNamespace(RandomSampler=RandomSampler, DataLoader=DataLoader,
                                     WeightedRandomSampler=WeightedRandomSampler)
    for make in cases:
        with pytest.raises(Exception) as theirs:
            make(tud)
        with pytest.raises(Exception) as ours:
            make(ours_mod)
        assert type(ours.value) is type(theirs.value), (theirs.value, ours.value)


def test_batch_size_none_yields_converted_samples():
    ds = ListDataset([np.arange(3), {"a": np.float32(1.5)}, 7])
    got = list(DataLoader(ds, batch_size=None))
    assert isinstance(got[0], fg.Tensor) and got[0].numpy().tolist() == [0, 1, 2]
    assert isinstance(got[1]["a"], fg.Tensor) and got[2] == 7


def test_utils_data_is_fastgrad_data():
    import fastgrad.utils.data as ud
    from fastgrad.utils.data.dataset import Dataset as D2
    from fastgrad.utils.data.sampler import Sampler as S2
    import fastgrad.data as d
    assert ud.DataLoader is d.DataLoader and D2 is d.Dataset and S2 is d.Sampler
    torch = pytest.importorskip("torch")
    public = [n for n in dir(torch.utils.data) if not n.startswith("_") and n[0].isupper()]
    wanted = {"DataLoader", "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
              "ChainDataset", "Sampler", "RandomSampler", "SequentialSampler", "SubsetRandomSampler",
              "WeightedRandomSampler", "BatchSampler", "DistributedSampler"}
    assert wanted <= set(public)
    assert all(hasattr(ud, n) for n in wanted)
    for n in ("random_split", "get_worker_info", "default_collate", "default_convert"):
        assert hasattr(torch.utils.data, n) and callable(getattr(ud, n))
