"""Packed sequences for the recurrent layers, with torch.nn.utils.rnn's names and
semantics: PackedSequence, pack_padded_sequence, pad_packed_sequence, pad_sequence,
pack_sequence, unpad_sequence, unpack_sequence.

A PackedSequence holds the time steps of a batch of sequences sorted by decreasing
length, one after the other: data (sum of lengths, *) has the batch_sizes[t] rows of
step t at offset batch_sizes[:t].sum().  sorted_indices maps the sorted order to the
caller's batch order (None: it was sorted already), unsorted_indices is its inverse.
Every conversion is one differentiable index_select (and a cat for the padding), so
gradients flow back to the padded or packed tensors.
"""
import collections
import numbers

import numpy as np

from fastgrad._tensor import Tensor
from fastgrad.errors import ShapeError

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "pack_sequence", "unpad_sequence", "unpack_sequence", "invert_permutation"]


def _fg():
    import fastgrad
    return fastgrad


def _index(a):
    return _fg().tensor(np.asarray(a, dtype=np.int64))


def _ints(v, who, name):
    """v (list, tuple, ndarray or integer Tensor) as a 1-D int64 ndarray."""
    if isinstance(v, Tensor):
        if v.dtype not in (_fg().int64, _fg().int32, _fg().int16, _fg().int8, _fg().uint8):
            raise TypeError(f"{who}: '{name}' must hold integers, got {v.dtype}")
        a = np.asarray(v.numpy())
    else:
        a = np.asarray(v)
        if a.size and not np.issubdtype(a.dtype, np.integer):
            if not all(isinstance(e, numbers.Integral) for e in a.reshape(-1).tolist()):
                raise TypeError(f"{who}: '{name}' must hold integers, got {a.dtype}")
    if a.ndim != 1:
        raise RuntimeError(f"{who}: '{name}' argument should be a 1D int64 tensor, but got a "
                           f"{a.ndim}D one of shape {a.shape}")
    return a.astype(np.int64)


def invert_permutation(permutation):
    """The inverse of a permutation (int64 Tensor), or None for None."""
    if permutation is None:
        return None
    p = _ints(permutation, "invert_permutation", "permutation")
    inv = np.empty_like(p)
    inv[p] = np.arange(p.size, dtype=np.int64)
    return _index(inv)


_PackedBase = collections.namedtuple("PackedSequence",
                                     ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


class PackedSequence(_PackedBase):
    """(data, batch_sizes, sorted_indices, unsorted_indices); see the module docstring.
    Build it with pack_padded_sequence or pack_sequence; batch_sizes is an int64 Tensor."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if batch_sizes is None:
            raise ValueError("PackedSequence: batch_sizes is required; build packed sequences "
                             "with pack_padded_sequence or pack_sequence")
        batch_sizes = _index(_ints(batch_sizes, "PackedSequence", "batch_sizes"))
        if sorted_indices is not None:
            sorted_indices = _index(_ints(sorted_indices, "PackedSequence", "sorted_indices"))
            if unsorted_indices is None:
                unsorted_indices = invert_permutation(sorted_indices)
        elif unsorted_indices is not None:
            unsorted_indices = _index(_ints(unsorted_indices, "PackedSequence", "unsorted_indices"))
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def _with(self, data):
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def to(self, *args, **kwargs):
        """The same sequence with data converted by Tensor.to."""
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else self._with(data)

    def float(self):
        return self.to(_fg().float32)

    def double(self):
        return self.to(_fg().float64)

    def cpu(self):
        return self

    def detach(self):
        return self._with(self.data.detach())

    @property
    def is_cuda(self):
        return False

    def is_pinned(self):
        return False


def _layout(batch_sizes):
    """(lengths in sorted order, offsets of each step's rows in data) from batch_sizes."""
    bs = np.asarray(batch_sizes, dtype=np.int64)
    B = int(bs[0]) if bs.size else 0
    lengths = (bs[None, :] > np.arange(B)[:, None]).sum(1)
    offsets = np.concatenate([[0], np.cumsum(bs)[:-1]]).astype(np.int64)
    return lengths, offsets


def _pack_index(lengths_sorted, order, steps, batch):
    """Rows of a (steps * batch) time-major padded tensor that make up the packed data:
    step t, sorted position j -> t * batch + order[j], for j < batch_sizes[t]."""
    rows = []
    for t in range(int(lengths_sorted[0]) if len(lengths_sorted) else 0):
        nb = int((lengths_sorted > t).sum())
        rows.append(t * batch + order[:nb])
    return np.concatenate(rows).astype(np.int64) if rows else np.zeros(0, np.int64)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Packs a padded batch input (T, B, *) ((B, T, *) with batch_first) of sequences
    with the given lengths (B values in [1, T]).  enforce_sorted=True requires lengths in
    decreasing order; False sorts them (sorted_indices records the order)."""
    who = "pack_padded_sequence"
    if not isinstance(input, Tensor):
        input = _fg().tensor(input)  # noqa: A001
    lengths = _ints(lengths, who, "lengths")
    if input.dim() < 2:
        raise ShapeError(f"{who}: expected an input of at least 2 dimensions, got shape "
                         f"{tuple(input.shape)}")
    T, B = (input.shape[1], input.shape[0]) if batch_first else (input.shape[0], input.shape[1])
    if lengths.size != B:
        raise RuntimeError(f"{who}: Expected `len(lengths)` to be equal to batch_size, but got "
                           f"{lengths.size} (batch_size={B})")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when "
                               "`enforce_sorted` is True. You can pass `enforce_sorted=False` "
                               "to pack_padded_sequence and/or pack_sequence to sidestep this "
                               "requirement if you do not need ONNX exportability.")
        order = np.arange(B, dtype=np.int64)
        sorted_indices = None
    else:
        order = np.argsort(-lengths, kind="stable").astype(np.int64)
        sorted_indices = _index(order)
    ls = lengths[order]
    if B and ls[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element "
                           "in 'lengths' that is <= 0")
    if B and ls[0] > T:
        raise RuntimeError(f"{who}: a length of {int(ls[0])} exceeds the {T} time steps of the "
                           f"input of shape {tuple(input.shape)}")
    steps = int(ls[0]) if B else 0
    batch_sizes = np.array([(ls > t).sum() for t in range(steps)], dtype=np.int64)
    rest = tuple(input.shape[2:])
    if batch_first:
        # row b * T + t of the (B * T) rows
        rows = np.concatenate([order[:n] * T + t for t, n in enumerate(batch_sizes)]
                              ) if steps else np.zeros(0, np.int64)
    else:
        rows = _pack_index(ls, order, steps, B)
    flat = input.reshape((-1,) + rest)
    data = _fg().index_select(flat, 0, _index(rows))
    return PackedSequence(data, batch_sizes, sorted_indices, None)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """The inverse of pack_padded_sequence: (padded (T, B, *) or (B, T, *), lengths (B,)
    int64), in the batch order of the packed input; T = total_length when given (at least
    the longest length), else the longest length."""
    data, batch_sizes, _, unsorted = sequence
    bs = _ints(batch_sizes, "pad_packed_sequence", "batch_sizes")
    steps = bs.size
    lengths, offsets = _layout(bs)
    if total_length is not None:
        if total_length < steps:
            raise ValueError("Expected total_length to be at least the length of the longest "
                             f"sequence in input, but got total_length={total_length} and max "
                             f"sequence length being {steps}")
        steps = int(total_length)
    B = lengths.size
    j = (_ints(unsorted, "pad_packed_sequence", "unsorted_indices") if unsorted is not None
         else np.arange(B, dtype=np.int64))            # sorted position of each output row
    n = int(data.shape[0])
    t = np.arange(steps, dtype=np.int64)
    # time-major map (steps, B): the packed row of (t, b), or n (the padding row)
    tt, jj = t[:, None], j[None, :]
    inside = tt < lengths[jj]
    src = np.where(inside, offsets[np.minimum(tt, bs.size - 1)] + jj if bs.size else 0, n)
    if batch_first:
        src = src.T
    rest = tuple(data.shape[1:])
    fg = _fg()
    pad = fg.full((1,) + rest, padding_value, dtype=data.dtype)
    out = fg.index_select(fg.cat([data, pad], 0), 0, _index(src.reshape(-1)))
    out = out.reshape(src.shape + rest)
    return out, _index(lengths[j])


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stacks tensors of shapes (L_i, *) into (max L, B, *) ((B, max L, *) with
    batch_first), padding with padding_value on the right (or the left)."""
    who = "pad_sequence"
    if padding_side not in ("left", "right"):
        raise ValueError(f"{who}: padding_side must be 'left' or 'right', got {padding_side!r}")
    seqs = list(sequences)
    if not seqs:
        raise RuntimeError(f"{who}: received an empty list of sequences")
    fg = _fg()
    seqs = [s if isinstance(s, Tensor) else fg.tensor(s) for s in seqs]
    rest = tuple(seqs[0].shape[1:]) if seqs[0].dim() else None
    for s in seqs:
        if s.dim() == 0 or tuple(s.shape[1:]) != rest:
            raise ShapeError(f"{who}: every sequence needs the same trailing shape, got "
                             f"{[tuple(x.shape) for x in seqs]}")
    lens = np.array([s.shape[0] for s in seqs], dtype=np.int64)
    L = int(lens.max())
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    n = int(lens.sum())
    t = np.arange(L, dtype=np.int64)[:, None]
    shift = (L - lens)[None, :] if padding_side == "left" else 0
    pos = t - shift                                  # position within each sequence
    src = np.where((pos >= 0) & (pos < lens[None, :]), starts[None, :] + pos, n)
    if batch_first:
        src = src.T
    pad = fg.full((1,) + rest, padding_value, dtype=seqs[0].dtype)
    out = fg.index_select(fg.cat(seqs + [pad], 0), 0, _index(src.reshape(-1)))
    return out.reshape(src.shape + rest)


def pack_sequence(sequences, enforce_sorted=True):
    """Packs a list of tensors (L_i, *): pad_sequence then pack_padded_sequence."""
    seqs = list(sequences)
    lengths = [int(s.shape[0]) for s in seqs]
    return pack_padded_sequence(pad_sequence(seqs), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences (L_i, *) of a padded batch."""
    lengths = _ints(lengths, "unpad_sequence", "lengths")
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[i, :int(n)] for i, n in enumerate(lengths)]


def unpack_sequence(packed_sequences):
    """The list of sequences (L_i, *) of a PackedSequence, in its batch order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


# ---- helpers of the recurrent layers (fastgrad.nn.rnn) ----------------------------------
def _padded_sorted(sequence):
    """The packed data as a zero-padded time-major (T, B, *) tensor in sorted batch order."""
    data, batch_sizes = sequence.data, sequence.batch_sizes
    bs = _ints(batch_sizes, "PackedSequence", "batch_sizes")
    if bs.size == 0 or bs[0] < 1 or np.any(np.diff(bs) > 0) or int(bs.sum()) != data.shape[0]:
        raise ValueError(f"PackedSequence: batch_sizes {bs.tolist()} must be positive, "
                         f"non-increasing and sum to the {data.shape[0]} rows of data")
    lengths, offsets = _layout(bs)
    B, steps, n = lengths.size, bs.size, int(data.shape[0])
    t, j = np.arange(steps)[:, None], np.arange(B)[None, :]
    src = np.where(t < lengths[j], offsets[t] + j, n)
    fg = _fg()
    rest = tuple(data.shape[1:])
    pad = fg.zeros((1,) + rest, dtype=data.dtype)
    out = fg.index_select(fg.cat([data, pad], 0), 0, _index(src.reshape(-1)))
    return out.reshape((steps, B) + rest)


def _pack_time_major(x, batch_sizes):
    """The packed data of a time-major padded (T, B, *) tensor in sorted batch order."""
    bs = np.asarray(batch_sizes, dtype=np.int64)
    lengths, _ = _layout(bs)
    B = x.shape[1]
    rows = _pack_index(lengths, np.arange(B, dtype=np.int64), bs.size, B)
    return _fg().index_select(x.reshape((-1,) + tuple(x.shape[2:])), 0, _index(rows))


def _last_steps(y, batch_sizes):
    """y[length_j - 1, j] for every sorted row j of a time-major (T, B, H) tensor."""
    lengths, _ = _layout(batch_sizes)
    B = y.shape[1]
    rows = (lengths - 1) * B + np.arange(B, dtype=np.int64)
    return _fg().index_select(y.reshape((-1,) + tuple(y.shape[2:])), 0, _index(rows))
