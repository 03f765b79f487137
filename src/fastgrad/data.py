"""Datasets, samplers and a DataLoader (the names and behaviour of ``torch.utils.data``,
single process).

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

Batches are containers of the same type as the samples: a dataset returning tuples
gives tuple batches (PyTorch's default_collate turns tuples into lists; fastgrad keeps
the type, and ``xb, yb = batch`` works with both).
"""
import collections.abc
import itertools
import math
import numbers

import numpy as np

from fastgrad import _factory
from fastgrad.ops.indexing import getitem as _getitem
from fastgrad.ops.shape import stack as _stack
from fastgrad._tensor import Tensor, bool_, canonical_dtype, float64, int64

_make = Tensor._make

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
           "Generator", "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "BatchSampler", "DataLoader", "default_collate",
           "DistributedSampler"]


# ---- random generator ------------------------------------------------------------------------
class Generator:
    """A random generator for shuffling and splitting (PCG64), mirroring ``torch.Generator``.

    ``Generator().manual_seed(0)`` gives the same sequence in every run.  ``Generator()``
    without a seed draws one from the operating system; ``initial_seed()`` tells which, so a
    run can be repeated.  Also accepted by ``fastgrad.rand/randn/randint/randperm``
    (which use its ``rng`` attribute, a ``numpy.random.Generator``).
    """

    def __init__(self, seed=None):
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

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the i-th rows of each tensor: ``ds[i] == (t0[i], t1[i], ...)``.

    NumPy arrays are accepted and wrapped without a copy.  All tensors must have the same
    first dimension.
    """

    def __init__(self, *tensors):
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

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return self.tensors[0]._data.shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
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

    def __init__(self, datasets):
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
    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)

    def _index_array(self):
        return np.arange(len(self.data_source), dtype=np.int64)


class RandomSampler(Sampler):
    """A random permutation of the indices each epoch (or ``num_samples`` draws with
    replacement)."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = bool(replacement)
        self._num_samples = num_samples
        self.generator = _as_generator(generator, "RandomSampler")
        if num_samples is not None:
            k = _check_count(num_samples, "RandomSampler", "num_samples")
            if k <= 0:
                raise ValueError(f"RandomSampler: num_samples must be a positive int, got {k}")

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def __len__(self):
        return self.num_samples

    def _index_array(self):
        n, k, rng = len(self.data_source), self.num_samples, _rng(self.generator)
        if self.replacement:
            if n == 0:
                raise ValueError("RandomSampler: cannot sample with replacement from an empty dataset")
            return rng.integers(0, n, size=k, dtype=np.int64)
        if k <= n:
            return rng.permutation(n)[:k].astype(np.int64, copy=False)
        reps = -(-k // n)
        return np.concatenate([rng.permutation(n) for _ in range(reps)])[:k].astype(np.int64)

    def __iter__(self):
        return iter(self._index_array().tolist())


class SubsetRandomSampler(Sampler):
    """The given indices in a random order each epoch."""

    def __init__(self, indices, generator=None):
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

    def __init__(self, sampler, batch_size, drop_last=False):
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


class DataLoader:
    """Iterates over ``dataset`` in batches.

    Args:
        dataset: a map-style dataset (``__getitem__`` and ``__len__``).
        batch_size: samples per batch (a positive int).
        shuffle: draw a new random order every epoch (from ``generator``).
        drop_last: drop the last batch if it is smaller than ``batch_size``.
        generator: a :class:`Generator`, ``numpy.random.Generator``, int seed, or None for
            fastgrad's global generator (``fastgrad.manual_seed``).
        collate_fn: merges a list of samples into a batch (default: :func:`default_collate`).
        sampler: an iterable of indices (a :class:`Sampler`); excludes ``shuffle``.
        num_workers: accepted for PyTorch compatibility; must be 0 (batches are made in the
            calling thread; the TensorDataset fast path needs no workers).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, generator=None,
                 collate_fn=None, sampler=None, num_workers=0):
        if num_workers != 0:
            raise ValueError(f"DataLoader: num_workers={num_workers!r} is not supported; fastgrad's "
                             "DataLoader runs in the calling process (num_workers=0)")
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise TypeError(f"DataLoader: dataset must define __getitem__ and __len__, got "
                            f"{type(dataset).__name__}")
        bs = _check_count(batch_size, "DataLoader", "batch_size")
        if bs <= 0:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {bs}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable, got {type(collate_fn).__name__}")
        self.dataset = dataset
        self.batch_size = bs
        self.drop_last = bool(drop_last)
        self.generator = _as_generator(generator, "DataLoader")
        if sampler is None:
            sampler = RandomSampler(dataset, generator=self.generator) if shuffle else SequentialSampler(dataset)
        elif not hasattr(sampler, "__iter__"):
            raise TypeError(f"DataLoader: sampler must be iterable, got {type(sampler).__name__}")
        self.sampler = sampler
        self.collate_fn = default_collate if collate_fn is None else collate_fn

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _index_batches(self):
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

    def __iter__(self):
        src = _tensor_source(self.dataset) if self.collate_fn is default_collate else None
        if src is None:
            return self._iter_samples()
        return self._iter_tensors(*src)

    def _iter_samples(self):
        ds, collate = self.dataset, self.collate_fn
        for idx in self._index_batches():
            yield collate([ds[i] for i in (idx.tolist() if isinstance(idx, np.ndarray) else idx)])

    def _iter_tensors(self, tensors, imap):
        n = len(imap) if imap is not None else tensors[0]._data.shape[0]
        arrays = [t._data for t in tensors]
        grads = [t.requires_grad for t in tensors]
        take = np.take
        for idx in self._index_batches():
            idx = np.asarray(idx)
            if idx.dtype.kind not in "iu":
                if idx.size == 0:
                    idx = idx.astype(np.int64)
                else:
                    raise TypeError(f"DataLoader: the sampler yielded indices of type {idx.dtype}; "
                                    "expected ints")
            try:
                j = idx if imap is None else imap[idx]
                out = [_getitem(t, _make(j)) if g else _make(take(a, j, axis=0))
                       for a, t, g in zip(arrays, tensors, grads)]
            except IndexError:
                bad = idx[(idx >= n) | (idx < -n)]
                if bad.size:
                    raise IndexError(f"DataLoader: index {bad[0]} is out of range for a dataset of length "
                                     f"{n}") from None
                raise IndexError("DataLoader: a Subset's indices are out of range for the TensorDataset "
                                 f"it wraps (length {tensors[0]._data.shape[0]})") from None
            yield tuple(out)

    def __repr__(self):
        return (f"DataLoader(dataset={type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}, drop_last={self.drop_last}, "
                f"sampler={type(self.sampler).__name__})")


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

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
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
