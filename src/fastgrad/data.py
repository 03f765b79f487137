"""Datasets, samplers and a DataLoader (the names and behaviour of ``torch.utils.data``;
also importable as ``fastgrad.utils.data``).

    ds = TensorDataset(X, y)                         # X: (N, ...), y: (N,)
    g = Generator().manual_seed(0)                   # a fixed seed gives the same order every run
    loader = DataLoader(ds, batch_size=64, shuffle=True, generator=g)
    for xb, yb in loader:
        ...

Randomness.  ``shuffle=True`` draws a new permutation at the start of every epoch (every
``iter(loader)``) from ``generator``: a :class:`Generator` (mirrors ``torch.Generator``:
``Generator().manual_seed(0)``), a ``numpy.random.Generator``, or an int (shorthand for
``Generator().manual_seed(int)``, seeded once when the loader is made, so epochs still
differ).  Without a generator the permutation comes from fastgrad's global generator,
so ``fastgrad.manual_seed(0)`` makes the order reproducible.

Fast path.  When the dataset is a :class:`TensorDataset` (or a :class:`Subset` of one, as
``random_split`` makes) and no ``collate_fn`` is given, a batch is produced by one
fancy index per tensor over the whole batch of indices, never a Python loop over the
samples.  The result equals what ``default_collate`` would build from the samples.

Workers.  ``DataLoader(num_workers=N)`` makes batches in N worker processes (see
:class:`DataLoader`); the batches and their order are those of ``num_workers=0``.

Batches are containers of the same type as the samples: a dataset returning tuples
gives tuple batches (PyTorch's default_collate turns tuples into lists; fastgrad keeps
the type, and ``xb, yb = batch`` works with both).
"""
from __future__ import annotations

import collections.abc
import itertools
import math
import numbers

import numpy as np

from fastgrad import _factory
from fastgrad.ops.indexing import getitem as _getitem
from fastgrad.ops.shape import stack as _stack
from fastgrad._tensor import Tensor, bool_, canonical_dtype, float64, int64

from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from typing import Any
    from collections.abc import Iterator

_make = Tensor._make

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
           "ChainDataset", "random_split", "Generator", "Sampler", "SequentialSampler",
           "RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler",
           "DataLoader", "default_collate", "default_convert", "get_worker_info", "WorkerInfo",
           "DistributedSampler"]


# ---- random generator ------------------------------------------------------------------------
class Generator:
    """A random generator for shuffling and splitting (PCG64), mirroring ``torch.Generator``.

    ``Generator().manual_seed(0)`` gives the same sequence in every run.  ``Generator()``
    without a seed draws one from the operating system; ``initial_seed()`` tells which, so a
    run can be repeated.  Also accepted by ``fastgrad.rand/randn/randint/randperm``
    (which use its ``rng`` attribute, a ``numpy.random.Generator``).
    """

    def __init__(self, seed=None) -> None:
        self.manual_seed(_os_seed() if seed is None else seed)

    def manual_seed(self, seed):
        """Reseed; returns the generator (``g = Generator().manual_seed(0)``)."""
        self._seed = _check_seed(seed, "Generator.manual_seed")
        self.rng = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def initial_seed(self):
        """The seed this generator was last seeded with."""
        return self._seed

    def seed(self):
        """Reseed from the operating system; returns the new seed."""
        s = _os_seed()
        self.manual_seed(s)
        return s

    def get_state(self):
        """The generator's state as a dict of Python ints and strings (``fastgrad.save`` can
        store it, e.g. to resume an epoch's order)."""
        return {"seed": self._seed, "bit_generator": self.rng.bit_generator.state}

    def set_state(self, state):
        """Restore the state returned by ``get_state()``."""
        if not isinstance(state, dict) or "bit_generator" not in state:
            raise TypeError("Generator.set_state: expected a dict returned by get_state()")
        bg = np.random.PCG64()
        try:
            bg.state = state["bit_generator"]
        except (TypeError, ValueError, KeyError) as e:
            raise ValueError(f"Generator.set_state: invalid state ({e})") from None
        self.rng = np.random.Generator(bg)
        self._seed = state.get("seed")
        return self

    def __repr__(self):
        return f"fastgrad.data.Generator(initial_seed={self._seed})"


def _os_seed():
    return int(np.random.SeedSequence().entropy) & ((1 << 63) - 1)


def _check_seed(seed, who):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{who}: expected an int seed, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"{who}: seed must be non-negative, got {seed}")
    return int(seed)


def _as_generator(generator, who):
    """None (fastgrad's global generator, looked up at each use), a fastgrad Generator,
    a numpy.random.Generator, or an int seed -> object with .rng (or None)."""
    if generator is None:
        return None
    if isinstance(generator, (Generator, _factory._Generator)):
        return generator
    if isinstance(generator, np.random.Generator):
        g = _factory._Generator.__new__(_factory._Generator)
        g.rng, g.seed = generator, None      # draws advance the caller's generator
        return g
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return Generator(_check_seed(generator, who))
    raise TypeError(f"{who}: generator must be a fastgrad.data.Generator, a numpy.random.Generator, "
                    f"an int seed or None, got {type(generator).__name__}")


def _rng(gen):
    return (gen if gen is not None else _factory.default_generator).rng


def _check_count(n, who, what):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"{who}: {what} must be an int, got {type(n).__name__}")
    return int(n)


# ---- datasets --------------------------------------------------------------------------------
class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__(i)`` and ``__len__``."""

    def __getitem__(self, index: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Base class of iterable-style datasets: subclasses define ``__iter__`` (a stream of
    samples).  With DataLoader workers, every worker iterates its own copy; use
    :func:`get_worker_info` in ``__iter__`` to give each worker its share."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __getitem__(self, index):
        raise TypeError(f"{type(self).__name__} is an IterableDataset: iterate over it instead of "
                        "indexing it")

    def __add__(self, other):
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """The samples of several iterable datasets, one stream after another."""

    def __init__(self, datasets) -> None:
        self.datasets = list(datasets)

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(f"ChainDataset only supports IterableDataset, got {type(d).__name__}")
            yield from d

    def __len__(self):
        return sum(len(d) for d in self.datasets)


class TensorDataset(Dataset):
    """Samples are the i-th rows of each tensor: ``ds[i] == (t0[i], t1[i], ...)``.

    NumPy arrays are accepted and wrapped without a copy.  All tensors must have the same
    first dimension.
    """

    def __init__(self, *tensors) -> None:
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        ts = []
        for i, t in enumerate(tensors):
            if isinstance(t, np.ndarray):
                t = _make(t) if t.dtype == canonical_dtype(t.dtype, "TensorDataset") else \
                    _make(t.astype(canonical_dtype(t.dtype)))
            elif not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: argument {i} is a {type(t).__name__}, expected a "
                                "Tensor or numpy.ndarray")
            if t._data.ndim == 0:
                raise ValueError(f"TensorDataset: argument {i} is a 0-d tensor; every tensor needs a "
                                 "first (sample) dimension")
            ts.append(t)
        n = ts[0]._data.shape[0]
        if any(t._data.shape[0] != n for t in ts):
            shapes = ", ".join(str(tuple(t._data.shape)) for t in ts)
            raise ValueError(f"TensorDataset: size mismatch between tensors: all must have the same "
                             f"first dimension, got shapes {shapes}")
        self.tensors = tuple(ts)

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0]._data.shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices) -> None:
        self.dataset = dataset
        if isinstance(indices, Tensor):
            indices = indices._data
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self):
        return len(self.indices)


class ConcatDataset(Dataset):
    """The samples of several datasets one after another."""

    def __init__(self, datasets) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: expected a non-empty list of datasets")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        n = len(self)
        i = int(idx)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"ConcatDataset: index {idx} is out of range for a dataset of length {n}")
        d = int(np.searchsorted(self.cumulative_sizes, i, side="right"))
        return self.datasets[d][i - (self.cumulative_sizes[d - 1] if d else 0)]


def random_split(dataset, lengths, generator=None):
    """Split ``dataset`` into non-overlapping random :class:`Subset` s of the given lengths.

    ``lengths`` are ints summing to ``len(dataset)``, or fractions summing to 1 (the
    floors are taken and the remainder handed out one by one from the first subset on).
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: lengths must not be empty")
    if all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in lengths):
        lens = [int(x) for x in lengths]
    elif math.isclose(sum(lengths), 1.0) and all(isinstance(x, numbers.Real) and 0 <= x <= 1 for x in lengths):
        lens = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(lens)):
            lens[i % len(lens)] += 1
    else:
        raise ValueError(f"random_split: lengths must be ints summing to the dataset length ({n}) "
                         f"or fractions summing to 1, got {lengths}")
    if any(x < 0 for x in lens):
        raise ValueError(f"random_split: lengths must be non-negative, got {lens}")
    if sum(lens) != n:
        raise ValueError(f"random_split: sum of input lengths ({sum(lens)}) does not equal the length "
                         f"of the input dataset ({n})")
    perm = _rng(_as_generator(generator, "random_split")).permutation(n)
    out, start = [], 0
    for k in lens:
        out.append(Subset(dataset, perm[start:start + k]))
        start += k
    return out


# ---- samplers --------------------------------------------------------------------------------
class Sampler:
    """Base class: an iterable over dataset indices (define ``__iter__``, optionally
    ``__len__``)."""

    def __iter__(self):
        raise NotImplementedError

    def _index_array(self):
        """Indices of one epoch as an int64 array, or None if only iteration is available."""
        return None


class SequentialSampler(Sampler):
    """The indices 0 .. len(data_source) - 1 in order."""
    def __init__(self, data_source) -> None:
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)

    def _index_array(self):
        return np.arange(len(self.data_source), dtype=np.int64)


class RandomSampler(Sampler):
    """A random permutation of the indices each epoch, or ``num_samples`` draws with
    replacement (``torch.utils.data.RandomSampler``).

    Draws are lazy: with ``replacement=True`` the indices come in chunks as iteration
    proceeds, so ``num_samples`` may be far larger than memory (``10**10``); without
    replacement and ``num_samples > len(data_source)``, one permutation is drawn per pass.
    """

    _CHUNK = 1 << 16             # indices drawn at a time when sampling lazily

    def __init__(self, data_source, replacement: bool = False, num_samples=None, generator=None) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement should be a boolean value, but got "
                            f"replacement={replacement!r}")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = _as_generator(generator, "RandomSampler")
        if num_samples is not None:
            k = _check_count(num_samples, "RandomSampler", "num_samples")
            if k <= 0:
                raise ValueError(f"RandomSampler: num_samples should be a positive integer value, "
                                 f"but got num_samples={k}")

    @property
    def num_samples(self):
        """The number of indices one epoch draws (``len(data_source)`` unless ``num_samples``
        was given)."""
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def __len__(self):
        return self.num_samples

    def _index_array(self):
        n, k = len(self.data_source), self.num_samples
        if k > max(n, self._CHUNK):          # too many to hold at once: iterate lazily
            return None
        chunks = list(self._chunks())
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int64)

    def _chunks(self):
        n, k, rng = len(self.data_source), self.num_samples, _rng(self.generator)
        if self.replacement:
            if n == 0:
                raise ValueError("RandomSampler: cannot sample with replacement from an empty dataset")
            while k > 0:
                m = min(k, self._CHUNK)
                yield rng.integers(0, n, size=m, dtype=np.int64)
                k -= m
            return
        if n == 0:
            return
        while k > 0:
            m = min(k, n)
            yield rng.permutation(n)[:m].astype(np.int64, copy=False)
            k -= m

    def _draw(self):
        for c in self._chunks():
            yield from c.tolist()

    def __iter__(self):
        return self._draw()


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probabilities proportional to ``weights``
    (``torch.utils.data.WeightedRandomSampler``): with ``replacement`` each draw is
    independent; without, no index repeats (``num_samples <= len(weights)``)."""

    def __init__(self, weights, num_samples, replacement: bool = True, generator=None) -> None:
        who = "WeightedRandomSampler"
        k = _check_count(num_samples, who, "num_samples")
        if k <= 0:
            raise ValueError(f"{who}: num_samples should be a positive integer value, but got "
                             f"num_samples={k}")
        if not isinstance(replacement, bool):
            raise ValueError(f"{who}: replacement should be a boolean value, but got "
                             f"replacement={replacement!r}")
        w = np.asarray(weights.numpy() if isinstance(weights, Tensor) else weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"{who}: weights should be a 1d sequence but given weights have shape "
                             f"{tuple(w.shape)}")
        if w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise RuntimeError(f"{who}: weights must be finite, non-negative and sum to a positive "
                               f"value, got {w.tolist()[:8]}")
        if not replacement and k > np.count_nonzero(w):
            raise RuntimeError(f"{who}: cannot draw {k} samples without replacement from "
                               f"{np.count_nonzero(w)} indices with non-zero weight")
        self.weights = _make(w)
        self.num_samples, self.replacement = k, replacement
        self.generator = _as_generator(generator, who)

    def __len__(self):
        return self.num_samples

    def _index_array(self):
        w = self.weights.numpy()
        return _rng(self.generator).choice(len(w), size=self.num_samples, replace=self.replacement,
                                           p=w / w.sum()).astype(np.int64, copy=False)

    def __iter__(self):
        return iter(self._index_array().tolist())


class SubsetRandomSampler(Sampler):
    """The given indices in a random order each epoch."""

    def __init__(self, indices, generator=None) -> None:
        self.indices = np.asarray(indices._data if isinstance(indices, Tensor) else indices, dtype=np.int64)
        self.generator = _as_generator(generator, "SubsetRandomSampler")

    def __len__(self):
        return len(self.indices)

    def _index_array(self):
        return self.indices[_rng(self.generator).permutation(len(self.indices))]

    def __iter__(self):
        return iter(self._index_array().tolist())


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size``."""

    def __init__(self, sampler, batch_size, drop_last: bool = False) -> None:
        bs = _check_count(batch_size, "BatchSampler", "batch_size")
        if bs <= 0:
            raise ValueError(f"BatchSampler: batch_size must be a positive int, got {bs}")
        self.sampler, self.batch_size, self.drop_last = sampler, bs, bool(drop_last)

    def __iter__(self):
        it = iter(self.sampler)
        while True:
            b = list(itertools.islice(it, self.batch_size))
            if not b or (self.drop_last and len(b) < self.batch_size):
                return
            yield b

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


# ---- collate ---------------------------------------------------------------------------------
def _path_str(path):
    return "batch" + "".join(f"[{p!r}]" for p in path)


def _collate(batch, path):
    elem = batch[0]
    where = _path_str(path)
    if isinstance(elem, Tensor):
        for i, b in enumerate(batch):
            if not isinstance(b, Tensor):
                raise TypeError(f"default_collate: at {where}, sample 0 is a Tensor but sample {i} is a "
                                f"{type(b).__name__}")
            if b._data.shape != elem._data.shape:
                raise RuntimeError(f"default_collate: at {where}, stack expects each tensor to be equal "
                                   f"size, but got {tuple(elem._data.shape)} at sample 0 and "
                                   f"{tuple(b._data.shape)} at sample {i}")
        if any(b.requires_grad for b in batch):
            return _stack(batch)
        arr = np.stack([b._data for b in batch])
        return _make(arr if arr.dtype == canonical_dtype(arr.dtype) else arr.astype(canonical_dtype(arr.dtype)))
    if isinstance(elem, (np.ndarray, np.generic)) and not isinstance(elem, (np.str_, np.bytes_)):
        arrs = []
        for i, b in enumerate(batch):
            a = np.asarray(b)
            if a.dtype.kind not in "biuf":
                raise TypeError(f"default_collate: at {where}, sample {i} is an array of dtype {a.dtype}; "
                                "batches must contain numeric arrays (float, int or bool)")
            if a.shape != np.shape(elem):
                raise RuntimeError(f"default_collate: at {where}, arrays must be of equal shape, but got "
                                   f"{np.shape(elem)} at sample 0 and {a.shape} at sample {i}")
            arrs.append(a)
        arr = np.stack(arrs)
        return _make(arr.astype(canonical_dtype(arr.dtype), copy=False))
    if isinstance(elem, bool):
        if not all(isinstance(b, bool) for b in batch):
            raise TypeError(f"default_collate: at {where}, samples mix bool and other types")
        return _make(np.array(batch, dtype=bool_))
    if isinstance(elem, numbers.Number) and not isinstance(elem, complex):
        for i, b in enumerate(batch):
            if isinstance(b, (bool, complex)) or not isinstance(b, numbers.Number):
                raise TypeError(f"default_collate: at {where}, sample 0 is a number but sample {i} is "
                                f"a {type(b).__name__}")
        if all(isinstance(b, int) for b in batch):
            try:
                return _make(np.array(batch, dtype=int64))
            except OverflowError:
                raise OverflowError(f"default_collate: at {where}, an int does not fit in int64") from None
        return _make(np.array(batch, dtype=float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        keys = list(elem.keys())
        for i, b in enumerate(batch):
            if not isinstance(b, collections.abc.Mapping) or set(b.keys()) != set(keys):
                got = sorted(map(repr, b.keys())) if isinstance(b, collections.abc.Mapping) else type(b).__name__
                raise RuntimeError(f"default_collate: at {where}, sample 0 has keys {sorted(map(repr, keys))} "
                                   f"but sample {i} has {got}")
        out = {k: _collate([b[k] for b in batch], path + (k,)) for k in keys}
        if type(elem) is not dict:
            try:
                return type(elem)(out)
            except TypeError:
                pass
        return out
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):          # namedtuple
        _check_lengths(batch, where)
        return type(elem)(*(_collate(list(s), path + (i,)) for i, s in enumerate(zip(*batch))))
    if isinstance(elem, (tuple, list)):
        _check_lengths(batch, where)
        cols = [_collate(list(s), path + (i,)) for i, s in enumerate(zip(*batch))]
        return tuple(cols) if isinstance(elem, tuple) else cols
    raise TypeError(f"default_collate: at {where}, cannot batch samples of type {type(elem).__name__}; "
                    "batches must contain Tensors, NumPy arrays, numbers, str, dicts, lists or tuples")


def _check_lengths(batch, where):
    n = len(batch[0])
    for i, b in enumerate(batch):
        if not isinstance(b, (tuple, list)):
            raise TypeError(f"default_collate: at {where}, sample 0 is a {type(batch[0]).__name__} but "
                            f"sample {i} is a {type(b).__name__}")
        if len(b) != n:
            raise RuntimeError(f"default_collate: at {where}, each element in the batch should be of equal "
                               f"size, but sample 0 has {n} items and sample {i} has {len(b)}")


def default_collate(batch):
    """Merge a list of samples into a batch.

    Tensors and NumPy arrays are stacked along a new first dimension (into a Tensor);
    Python ints give an int64 Tensor, floats a float64 Tensor, bools a bool Tensor;
    str/bytes are kept as a list; dicts, lists, tuples and namedtuples are batched
    field by field (recursively) and keep their type.
    """
    if not isinstance(batch, (list, tuple)):
        raise TypeError(f"default_collate: expected a list of samples, got {type(batch).__name__}")
    if not batch:
        raise ValueError("default_collate: cannot collate an empty batch")
    return _collate(list(batch), ())


# ---- loader ----------------------------------------------------------------------------------
def default_convert(data):
    """Turn NumPy arrays (numeric) in ``data`` into Tensors, recursing into dicts, lists,
    tuples and namedtuples; everything else is returned unchanged.  The ``collate_fn`` of a
    DataLoader with ``batch_size=None`` (samples are not batched)."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
        return _make(data.astype(canonical_dtype(data.dtype), copy=False))
    if isinstance(data, np.generic) and data.dtype.kind in "biuf":
        return _make(np.asarray(data).astype(canonical_dtype(data.dtype), copy=False))
    if isinstance(data, collections.abc.Mapping):
        out = {k: default_convert(v) for k, v in data.items()}
        if type(data) is not dict:
            try:
                return type(data)(out)
            except TypeError:
                pass
        return out
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (tuple, list)):
        out = [default_convert(d) for d in data]
        return tuple(out) if isinstance(data, tuple) else out
    return data


class WorkerInfo:
    """What :func:`get_worker_info` returns inside a DataLoader worker process: ``id``
    (0 .. num_workers-1), ``num_workers``, ``seed`` (the seed this worker's random
    generators were given) and ``dataset`` (this process's copy of the dataset)."""

    __slots__ = ("id", "num_workers", "seed", "dataset")

    def __init__(self, id, num_workers, seed, dataset) -> None:  # noqa: A002 - torch's field name
        self.id, self.num_workers, self.seed, self.dataset = id, num_workers, seed, dataset

    def __repr__(self):
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, " \
               f"dataset={type(self.dataset).__name__})"


_worker_info = None


def get_worker_info():
    """In a DataLoader worker process, its :class:`WorkerInfo`; in the main process, None.

    An :class:`IterableDataset` uses it to split its stream between workers (each worker
    iterates its own copy of the dataset)."""
    return _worker_info


def _tensor_source(dataset):
    """(tensors, index map) when `dataset` is a TensorDataset or a chain of Subsets of one:
    a batch is then tensors[i][index_map[idx]]; else None."""
    imap = None
    while isinstance(dataset, Subset):
        ind = np.asarray(dataset.indices)
        if ind.ndim != 1 or (ind.size and ind.dtype.kind not in "iu"):
            return None
        ind = ind.astype(np.int64, copy=False)
        imap = ind if imap is None else ind[imap]
        dataset = dataset.dataset
    if type(dataset) is not TensorDataset:     # subclasses may override __getitem__
        return None
    return dataset.tensors, imap


class _Fetcher:
    """Turns one batch of indices into a batch (map-style datasets), or yields the next
    batch of an iterable dataset's stream; runs in the main process or in a worker."""

    def __init__(self, dataset, collate_fn, auto_collation, batch_size, drop_last) -> None:
        self.dataset, self.collate_fn = dataset, collate_fn
        self.auto_collation, self.batch_size, self.drop_last = auto_collation, batch_size, drop_last
        self.iterable = isinstance(dataset, IterableDataset)
        self.src = (_tensor_source(dataset) if auto_collation and collate_fn is default_collate
                    and not self.iterable else None)
        self.it = None

    def reset(self):
        """Start the iterable dataset's stream afresh (a new epoch)."""
        self.it = iter(self.dataset) if self.iterable else None

    def fetch(self, idx):
        if self.iterable:
            if self.it is None:
                self.reset()
            if not self.auto_collation:
                return self.collate_fn(next(self.it))
            b = list(itertools.islice(self.it, self.batch_size))
            if not b or (self.drop_last and len(b) < self.batch_size):
                raise StopIteration
            return self.collate_fn(b)
        if not self.auto_collation:
            return self.collate_fn(self.dataset[idx])
        if self.src is not None:
            return self._fetch_tensors(idx, *self.src)
        ds = self.dataset
        return self.collate_fn([ds[i] for i in (idx.tolist() if isinstance(idx, np.ndarray) else idx)])

    @staticmethod
    def _fetch_tensors(idx, tensors, imap):
        idx = np.asarray(idx)
        if idx.dtype.kind not in "iu":
            if idx.size == 0:
                idx = idx.astype(np.int64)
            else:
                raise TypeError(f"DataLoader: the sampler yielded indices of type {idx.dtype}; "
                                "expected ints")
        n = len(imap) if imap is not None else tensors[0].shape[0]
        try:
            j = idx if imap is None else imap[idx]
            return tuple(_getitem(t, _make(j)) if t.requires_grad else _make(np.take(t.numpy(), j, axis=0))
                         for t in tensors)
        except IndexError:
            bad = idx[(idx >= n) | (idx < -n)]
            if bad.size:
                raise IndexError(f"DataLoader: index {bad[0]} is out of range for a dataset of length "
                                 f"{n}") from None
            raise IndexError("DataLoader: a Subset's indices are out of range for the TensorDataset "
                             f"it wraps (length {tensors[0].shape[0]})") from None


def _check_nonneg_int(v, who, what):
    v = _check_count(v, who, what)
    if v < 0:
        raise ValueError(f"{who}: {what} option should be non-negative, got {v}")
    return v


class DataLoader:
    """Iterates over ``dataset`` in batches (``torch.utils.data.DataLoader``'s arguments and
    rules).

    Args:
        dataset: a map-style dataset (``__getitem__`` and ``__len__``) or an
            :class:`IterableDataset`.
        batch_size: samples per batch (a positive int), or None to yield samples one by one
            (converted by :func:`default_convert`).
        shuffle: draw a new random order every epoch (from ``generator``).
        sampler: an iterable of indices (a :class:`Sampler`); excludes ``shuffle``.
        batch_sampler: an iterable of lists of indices; excludes ``batch_size``, ``shuffle``,
            ``sampler`` and ``drop_last``.
        num_workers: 0 makes batches in the calling process; N > 0 starts N worker
            processes that each make whole batches (see below).
        collate_fn: merges a list of samples into a batch (default: :func:`default_collate`).
        pin_memory, pin_memory_device: accepted; pinned memory only matters for copies to a
            GPU, so on the CPU they change nothing.
        drop_last: drop the last batch if it is smaller than ``batch_size``.
        timeout: with workers, seconds to wait for a batch before raising RuntimeError
            (0: wait as long as the workers are alive).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker after seeding.
        multiprocessing_context: ``"fork"``, ``"spawn"``, ``"forkserver"``, a
            ``multiprocessing`` context, or None for Python's default start method.
        generator: a :class:`Generator`, ``numpy.random.Generator``, int seed, or None for
            fastgrad's global generator (``fastgrad.manual_seed``).
        prefetch_factor: batches requested ahead per worker (default 2 with workers).
        persistent_workers: keep the worker processes between epochs.
        in_order: with workers, yield batches in sampler order (True) or as they are ready.

    Workers.  The sampler runs in the calling process, so the batches and their order are
    the same for every ``num_workers``.  Each epoch draws a base seed from ``generator``
    (as the single-process path also does, which keeps the shuffle orders equal); worker
    ``i`` seeds fastgrad's global generator, NumPy's global generator and ``random`` from
    ``base_seed + i`` (``get_worker_info().seed``) and runs fastgrad kernels on one thread.
    Batches cross the process boundary as NumPy arrays and arrive as Tensors (no autograd
    graph crosses).  An exception in a worker is raised again in the caller with the same
    type, naming the worker and carrying its traceback.  Workers stop when the epoch ends
    (unless ``persistent_workers``), when the iterator or loader is dropped, on an error,
    and if the calling process dies.  fastgrad's thread pool restarts itself in a forked
    child, so forking after running threaded kernels is safe.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory: bool = False, drop_last: bool = False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers: bool = False, pin_memory_device: str = "",
                 in_order: bool = True) -> None:
        who = "DataLoader"
        iterable = isinstance(dataset, IterableDataset)
        if not iterable and not hasattr(dataset, "__getitem__"):
            raise TypeError(f"{who}: dataset must define __getitem__ and __len__ (or be an "
                            f"IterableDataset), got {type(dataset).__name__}")
        if not iterable and sampler is None and batch_sampler is None and not hasattr(dataset, "__len__"):
            raise TypeError(f"{who}: dataset must define __getitem__ and __len__, got "
                            f"{type(dataset).__name__}")
        num_workers = _check_nonneg_int(num_workers, who, "num_workers")
        if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or timeout < 0:
            raise ValueError(f"{who}: timeout option should be non-negative, got {timeout!r}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(f"{who}: prefetch_factor option could only be specified in "
                             "multiprocessing; let num_workers > 0 to enable multiprocessing, "
                             "otherwise set prefetch_factor to None")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor is not None and _check_count(prefetch_factor, who, "prefetch_factor") <= 0:
            raise ValueError(f"{who}: prefetch_factor option should be positive, got {prefetch_factor}")
        if persistent_workers and num_workers == 0:
            raise ValueError(f"{who}: persistent_workers option needs num_workers > 0")
        if worker_init_fn is not None and not callable(worker_init_fn):
            raise TypeError(f"{who}: worker_init_fn must be callable, got {type(worker_init_fn).__name__}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"{who}: collate_fn must be callable, got {type(collate_fn).__name__}")
        if iterable:
            if shuffle not in (None, False):
                raise ValueError(f"{who}: DataLoader with IterableDataset: expected unspecified "
                                 f"shuffle option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"{who}: DataLoader with IterableDataset: expected unspecified "
                                 f"sampler option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"{who}: DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        if sampler is not None and shuffle:
            raise ValueError(f"{who}: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(f"{who}: batch_sampler option is mutually exclusive with "
                                 "batch_size, shuffle, sampler, and drop_last")
            if not hasattr(batch_sampler, "__iter__"):
                raise TypeError(f"{who}: batch_sampler must be iterable, got "
                                f"{type(batch_sampler).__name__}")
            batch_size, drop_last = None, False
        elif batch_size is None:
            if drop_last:
                raise ValueError(f"{who}: batch_size=None option disables auto-batching and is "
                                 "mutually exclusive with drop_last")
        else:
            batch_size = _check_count(batch_size, who, "batch_size")
            if batch_size <= 0:
                raise ValueError(f"{who}: batch_size must be a positive int, got {batch_size}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = bool(drop_last)
        self.generator = _as_generator(generator, who)
        if sampler is None and not iterable:
            sampler = RandomSampler(dataset, generator=self.generator) if shuffle else SequentialSampler(dataset)
        elif sampler is not None and not hasattr(sampler, "__iter__"):
            raise TypeError(f"{who}: sampler must be iterable, got {type(sampler).__name__}")
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self._auto_collation = batch_sampler is not None or batch_size is not None
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self.num_workers = num_workers
        self.pin_memory, self.pin_memory_device = bool(pin_memory), pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = bool(persistent_workers)
        self.in_order = bool(in_order)
        self._iterator = None
        if num_workers:
            from fastgrad.utils.data._workers import resolve_context
            resolve_context(multiprocessing_context)        # a bad name fails here

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _make_fetcher(self):
        return _Fetcher(self.dataset, self.collate_fn, self._auto_collation, self.batch_size,
                        self.drop_last)

    def _draw_base_seed(self):
        return int(_rng(self.generator).integers(0, 1 << 62))

    def _index_batches(self):
        """The epoch's batches of indices (arrays or lists), or single indices when
        batching is off."""
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        if self.batch_size is None:
            yield from self.sampler
            return
        bs, drop = self.batch_size, self.drop_last
        ia = self.sampler._index_array() if isinstance(self.sampler, Sampler) else None
        if ia is not None:
            n = len(ia)
            stop = (n // bs) * bs if drop else n
            for s in range(0, stop, bs):
                yield ia[s:s + bs]
            return
        it = iter(self.sampler)
        while True:
            b = list(itertools.islice(it, bs))
            if not b or (drop and len(b) < bs):
                return
            yield b

    def __iter__(self) -> Iterator[Any]:
        if self.num_workers == 0:
            self._draw_base_seed()          # as with workers, so both give the same order
            return self._iter_single(self._make_fetcher())
        from fastgrad.utils.data._workers import MultiProcessIter
        if self.persistent_workers:
            if self._iterator is None or not self._iterator.alive():
                self._iterator = MultiProcessIter(self)
            else:
                self._iterator.reset()
            return self._iterator
        return MultiProcessIter(self)

    def _iter_single(self, fetcher):
        if fetcher.iterable:
            fetcher.reset()
            while True:
                try:
                    batch = fetcher.fetch(None)
                except StopIteration:
                    return
                yield batch
        for idx in self._index_batches():
            yield fetcher.fetch(idx)

    def __repr__(self):
        n = len(self.dataset) if hasattr(self.dataset, "__len__") else "?"
        return (f"DataLoader(dataset={type(self.dataset).__name__} of {n}, "
                f"batch_size={self.batch_size}, drop_last={self.drop_last}, "
                f"sampler={type(self.sampler).__name__}, num_workers={self.num_workers})")


# ---- distributed -----------------------------------------------------------------------------
class DistributedSampler(Sampler):
    """The share of ``dataset`` that one rank of a data-parallel job reads each epoch
    (``torch.utils.data.DistributedSampler``'s rules).

    The indices (a permutation drawn from ``seed + epoch`` when ``shuffle``, else
    ``0 .. N-1``) are made the same on every rank; rank r takes every
    ``num_replicas``-th index starting at r, so the shards are disjoint.  Unless
    ``drop_last``, the list is first padded with its own first indices to a multiple of
    ``num_replicas`` (every rank gets ``ceil(N / num_replicas)`` samples, a few of them
    repeated); with ``drop_last`` the tail is dropped instead (``floor(N / num_replicas)``
    each).  Call ``set_epoch(epoch)`` at the start of every epoch, or every epoch repeats
    the same order.  ``num_replicas`` and ``rank`` default to
    ``fastgrad.distributed.get_world_size()`` / ``get_rank()``.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle: bool = True, seed=0,
                 drop_last: bool = False) -> None:
        who = "DistributedSampler"
        if num_replicas is None or rank is None:
            from fastgrad import distributed
            if not distributed.is_initialized():
                raise RuntimeError(f"{who}: num_replicas and rank were not given and "
                                   "fastgrad.distributed is not initialized; call "
                                   "init_process_group('mpi') or pass both")
            if num_replicas is None:
                num_replicas = distributed.get_world_size()
            if rank is None:
                rank = distributed.get_rank()
        num_replicas = _check_count(num_replicas, who, "num_replicas")
        rank = _check_count(rank, who, "rank")
        if num_replicas <= 0:
            raise ValueError(f"{who}: num_replicas must be positive, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"{who}: invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        if not hasattr(dataset, "__len__"):
            raise TypeError(f"{who}: dataset must define __len__, got {type(dataset).__name__}")
        self.dataset = dataset
        self.num_replicas, self.rank = num_replicas, rank
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.seed = _check_seed(seed, who)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % num_replicas:
            self.num_samples = n // num_replicas
        else:
            self.num_samples = -(-n // num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch):
        """Use ``seed + epoch`` for the next permutation (the same on every rank)."""
        self.epoch = _check_count(epoch, "DistributedSampler.set_epoch", "epoch")

    def __len__(self):
        return self.num_samples

    def _index_array(self):
        n = len(self.dataset)
        if self.shuffle:
            rng = np.random.Generator(np.random.PCG64(self.seed + self.epoch))
            idx = rng.permutation(n).astype(np.int64, copy=False)
        else:
            idx = np.arange(n, dtype=np.int64)
        if self.drop_last:
            idx = idx[:self.total_size]
        elif self.total_size > n and n > 0:
            pad = self.total_size - n
            idx = np.concatenate([idx, np.tile(idx, -(-pad // n))[:pad]])
        return idx[self.rank:self.total_size:self.num_replicas]

    def __iter__(self):
        return iter(self._index_array().tolist())
