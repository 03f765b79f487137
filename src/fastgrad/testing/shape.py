"""Registry entries of the shape and movement ops: views, reshape, cat/stack/split,
flip, roll, repeat, pad, triangles, diagonal, meshgrid."""

import numpy as np

import fastgrad as fg
from fastgrad.testing.opinfo import ErrorInput, OpTable, Sample, _u

OPS = OpTable()
_simple = OPS.simple


def _x(rng, *shape):
    return _u(rng, shape, -2, 2)


_simple("reshape", lambda x, shape: fg.reshape(x, shape), lambda x, shape: np.reshape(x, shape),
        lambda rng: [Sample([_x(rng, 3, 4)], {"shape": (2, 6)}), Sample([_x(rng, 3, 4).T], {"shape": (-1,)}),
                     Sample([_x(rng, 2, 3, 4)], {"shape": (4, -1)}), Sample([_x(rng)], {"shape": (1, 1)})],
        lambda: [ErrorInput([np.zeros((3, 4))], {"shape": (5, 3)}, ValueError,
                            r"reshape: shape \(5, 3\) is invalid for input of shape \(3, 4\)")])
_simple("view", lambda x, shape: fg.view(x, shape), lambda x, shape: np.reshape(x, shape),
        lambda rng: [Sample([_x(rng, 3, 4)], {"shape": (2, 6)}), Sample([_x(rng, 2, 3, 4)], {"shape": (6, 4)})],
        lambda: [ErrorInput([np.zeros((3, 4)).T], {"shape": (12,)}, RuntimeError,
                            r"view: shape \(12,\) is not compatible")])
_simple("transpose", fg.transpose, lambda x, dim0, dim1: np.swapaxes(x, dim0, dim1),
        lambda rng: [Sample([_x(rng, 3, 4)], {"dim0": 0, "dim1": 1}),
                     Sample([_x(rng, 2, 3, 4)], {"dim0": -1, "dim1": 0})],
        lambda: [ErrorInput([np.zeros((3, 4))], {"dim0": 0, "dim1": 3}, IndexError, "transpose: dimension 3")])
_simple("permute", lambda x, dims: fg.permute(x, dims), lambda x, dims: np.transpose(x, dims),
        lambda rng: [Sample([_x(rng, 2, 3, 4)], {"dims": (2, 0, 1)}), Sample([_x(rng, 2, 3)], {"dims": (1, 0)})],
        lambda: [ErrorInput([np.zeros((3, 4))], {"dims": (0, 0)}, ValueError, "permute: dims")])
_simple("flatten", fg.flatten, lambda x, start_dim=0, end_dim=-1: x.reshape(
            x.shape[:start_dim % x.ndim] + (-1,) + x.shape[end_dim % x.ndim + 1:]) if x.ndim else x.reshape(1),
        lambda rng: [Sample([_x(rng, 2, 3, 4)]), Sample([_x(rng, 2, 3, 4)], {"start_dim": 1}),
                     Sample([_x(rng)], {}, "0-d")])
_simple("squeeze", fg.squeeze, lambda x, dim=None: np.squeeze(x, dim),
        lambda rng: [Sample([_x(rng, 1, 3, 1)]), Sample([_x(rng, 1, 3, 1)], {"dim": 0})])
_simple("unsqueeze", fg.unsqueeze, lambda x, dim: np.expand_dims(x, dim),
        lambda rng: [Sample([_x(rng, 3, 4)], {"dim": 1}), Sample([_x(rng, 3)], {"dim": -1})],
        lambda: [ErrorInput([np.zeros((3, 4))], {"dim": 4}, IndexError, "unsqueeze: dimension 4")])
_simple("expand", lambda x, sizes: fg.expand(x, sizes), lambda x, sizes: np.broadcast_to(x, tuple(
            x.shape[i - (len(sizes) - x.ndim)] if s == -1 else s for i, s in enumerate(sizes))),
        lambda rng: [Sample([_x(rng, 3, 1)], {"sizes": (3, 4)}), Sample([_x(rng, 4)], {"sizes": (2, 3, -1)})],
        lambda: [ErrorInput([np.zeros((3, 2))], {"sizes": (3, 4)}, ValueError,
                            r"expand: cannot expand shape \(3, 2\)")])
_simple("cat", lambda *ts, dim=0: fg.cat(ts, dim), lambda *xs, dim=0: np.concatenate(xs, dim),
        lambda rng: [Sample([_x(rng, 2, 3), _x(rng, 4, 3)]), Sample([_x(rng, 2, 3), _x(rng, 2, 1)], {"dim": 1})],
        lambda: [ErrorInput([np.zeros((2, 3)), np.zeros((2, 4))], {}, ValueError,
                            r"cat: tensor 1 has shape \(2, 4\), which does not match \(2, 3\)")])
_simple("stack", lambda *ts, dim=0: fg.stack(ts, dim), lambda *xs, dim=0: np.stack(xs, dim),
        lambda rng: [Sample([_x(rng, 2, 3), _x(rng, 2, 3)]), Sample([_x(rng, 2, 3), _x(rng, 2, 3)], {"dim": -1})],
        lambda: [ErrorInput([np.zeros((2, 3)), np.zeros((3, 2))], {}, ValueError,
                            r"stack: tensor 1 has shape \(3, 2\)")])
_simple("narrow", fg.narrow, lambda x, dim, start, length: np.take(x, range(start, start + length), axis=dim),
        lambda rng: [Sample([_x(rng, 5, 3)], {"dim": 0, "start": 1, "length": 3})])
_simple("broadcast_to", fg.broadcast_to, lambda x, size: np.broadcast_to(x, size),
        lambda rng: [Sample([_x(rng, 3, 1)], {"size": (3, 4)}), Sample([_x(rng, 4), (2, 3, 4)], {}, "new dims"),
                     Sample([_x(rng)], {"size": (2, 2)}, "0-d")],
        lambda: [ErrorInput([np.zeros((3, 2))], {"size": (3, 4)}, ValueError, r"cannot expand shape \(3, 2\)")])


_simple("t", fg.t, lambda x: x.T,
        lambda rng: [Sample([_x(rng, 3, 4)]), Sample([_x(rng, 4, 3).T], {}, "view"), Sample([_x(rng, 5)], {}, "1-d"),
                     Sample([_x(rng)], {}, "0-d")],
        lambda: [ErrorInput([np.zeros((2, 3, 4))], {}, ValueError, "t: expects a tensor with <= 2 dimensions")])
_simple("contiguous", fg.contiguous, lambda x: x, lambda rng: [Sample([_x(rng, 4, 3).T])])
_simple("clone", fg.clone, lambda x: x.copy(), lambda rng: [Sample([_x(rng, 4, 3)])])


def _np_pieces(x, sizes, dim):
    out, start = [], 0
    for s in sizes:
        out.append(np.take(x, range(start, start + s), axis=dim).reshape(-1))
        start += s
    return np.concatenate(out)


def _split_sizes(n, s):
    return [s] * (n // s) + ([n % s] if n % s else []) if isinstance(s, int) else list(s)


def _cat_flat(ts):
    return fg.cat([fg.reshape(t, -1) for t in ts])


_simple("split", lambda x, s, dim=0: _cat_flat(fg.split(x, s, dim)),
        lambda x, s, dim=0: _np_pieces(x, _split_sizes(x.shape[dim], s), dim),
        lambda rng: [Sample([_x(rng, 5, 3), 2], {"dim": 0}, "uneven"),
                     Sample([_x(rng, 3, 6), [1, 3, 2]], {"dim": -1}, "sections"),
                     Sample([_x(rng, 4, 3).T, 2], {"dim": 1}, "view")],
        lambda: [ErrorInput([np.zeros((3, 4)), [1, 1]], {"dim": 1}, ValueError,
                            r"split: sections \(1, 1\) do not sum to the size 4 of dimension 1")])
_simple("chunk", lambda x, chunks, dim=0: _cat_flat(fg.chunk(x, chunks, dim)),
        lambda x, chunks, dim=0: _np_pieces(x, _split_sizes(x.shape[dim], -(-x.shape[dim] // chunks)), dim),
        lambda rng: [Sample([_x(rng, 5, 3), 3], {"dim": 0}), Sample([_x(rng, 3, 6), 4], {"dim": -1})],
        lambda: [ErrorInput([np.zeros((3, 4)), 0], {}, ValueError, "chunk: chunks must be a positive int")])
_simple("unbind", lambda x, dim=0: fg.stack(fg.unbind(x, dim)), lambda x, dim=0: np.moveaxis(x, dim, 0),
        lambda rng: [Sample([_x(rng, 3, 4)], {"dim": 1}), Sample([_x(rng, 2, 3, 4)], {"dim": -1})],
        lambda: [ErrorInput([np.zeros((3, 4))], {"dim": 2}, IndexError, "unbind: dimension 2 is out of range")])
_simple("flip", fg.flip, lambda x, dims: np.flip(x, dims),
        lambda rng: [Sample([_x(rng, 3, 4)], {"dims": (0,)}), Sample([_x(rng, 2, 3, 4)], {"dims": (-1, 0)}),
                     Sample([_x(rng, 4, 3).T], {"dims": (1,)}, "view"), Sample([_x(rng)], {"dims": ()}, "0-d"),
                     Sample([np.zeros((0, 3))], {"dims": (1,)}, "zero-size")],
        lambda: [ErrorInput([np.zeros((3, 4))], {"dims": (2,)}, IndexError, "flip: dimension 2 is out of range")])
_simple("roll", fg.roll, lambda x, shifts, dims=None: np.roll(x, shifts, dims),
        lambda rng: [Sample([_x(rng, 3, 4)], {"shifts": 1, "dims": 1}),
                     Sample([_x(rng, 3, 4)], {"shifts": (-2, 5), "dims": (0, 1)}, "two dims"),
                     Sample([_x(rng, 3, 4)], {"shifts": 5}, "flattened"),
                     Sample([_x(rng, 4, 3).T], {"shifts": -1, "dims": -1}, "view")],
        lambda: [ErrorInput([np.zeros((3, 4))], {"shifts": (1, 2), "dims": 0}, ValueError,
                            r"roll: shifts \(1, 2\) and dims \(0,\) must have the same length")])


def _np_repeat(x, sizes):
    return np.tile(x.reshape((1,) * (len(sizes) - x.ndim) + x.shape), sizes)


_simple("repeat", lambda x, sizes: fg.repeat(x, sizes), _np_repeat,
        lambda rng: [Sample([_x(rng, 2, 3)], {"sizes": (2, 1)}), Sample([_x(rng, 3)], {"sizes": (2, 1, 3)}, "new dims"),
                     Sample([_x(rng, 3, 2).T], {"sizes": (1, 2)}, "view"), Sample([_x(rng)], {"sizes": (3,)}, "0-d"),
                     Sample([_x(rng, 2, 3)], {"sizes": (0, 1)}, "zero repeats")],
        lambda: [ErrorInput([np.zeros((3, 4))], {"sizes": (2,)}, ValueError,
                            r"repeat: the number of repeats \(2,\) must be at least")])
_simple("tile", fg.tile, lambda x, dims: np.tile(x, dims),
        lambda rng: [Sample([_x(rng, 2, 3)], {"dims": (2,)}), Sample([_x(rng, 3)], {"dims": (2, 2)})])


def _np_pad(x, pad, mode="constant", value=None):
    nd = x.ndim
    widths = [(0, 0)] * nd
    for i in range(len(pad) // 2):
        widths[nd - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    crop = tuple(slice(max(-lo, 0), x.shape[k] - max(-hi, 0)) for k, (lo, hi) in enumerate(widths))
    x = x[crop]
    widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    if mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=0 if value is None else value)
    return np.pad(x, widths, mode={"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode])


_simple("pad", fg.pad, _np_pad,
        lambda rng: [Sample([_x(rng, 3, 4)], {"pad": (1, 2)}, "last dim"),
                     Sample([_x(rng, 3, 4)], {"pad": (1, 0, 2, 1), "value": 1.5}, "two dims, value"),
                     Sample([_x(rng, 3, 5)], {"pad": (-1, 2, 0, -2)}, "negative crops"),
                     Sample([_x(rng, 2, 3, 4)], {"pad": (3, 2, 1, 2), "mode": "reflect"}, "reflect"),
                     Sample([_x(rng, 4, 3).T], {"pad": (2, 1), "mode": "reflect"}, "reflect view"),
                     Sample([_x(rng, 2, 3, 4)], {"pad": (2, 3, 0, 1), "mode": "replicate"}, "replicate"),
                     Sample([_x(rng, 2, 3, 4)], {"pad": (4, 1, 3, 2), "mode": "circular"}, "circular, whole dims"),
                     Sample([_x(rng, 4, 3).T], {"pad": (0, 2), "mode": "circular"}, "circular view"),
                     Sample([np.zeros((0, 3))], {"pad": (1, 1)}, "zero-size")],
        lambda: [ErrorInput([np.zeros((3, 4))], {"pad": (4, 0), "mode": "reflect"}, ValueError,
                            r"pad: reflect padding \(4, 0\) must be smaller than the size 4 of dimension 1"),
                 ErrorInput([np.zeros((3, 4))], {"pad": (1,)}, ValueError, "pad: the pad tuple"),
                 ErrorInput([np.zeros((3, 4))], {"pad": (5, 0), "mode": "circular"}, ValueError,
                            r"pad: circular padding \(5, 0\) wraps around more than once \(at most the size 4"),
                 ErrorInput([np.zeros((3, 4))], {"pad": (1, 1), "mode": "wrap"}, ValueError,
                            "pad: mode must be")])
_simple("tril", fg.tril, lambda x, diagonal=0: np.tril(x, diagonal),
        lambda rng: [Sample([_x(rng, 3, 4)]), Sample([_x(rng, 2, 3, 4)], {"diagonal": -1}, "batched"),
                     Sample([_x(rng, 4, 3).T], {"diagonal": 2}, "view")],
        lambda: [ErrorInput([np.zeros(3)], {}, ValueError, "tril: input must have at least 2 dimensions")])
_simple("triu", fg.triu, lambda x, diagonal=0: np.triu(x, diagonal),
        lambda rng: [Sample([_x(rng, 3, 4)]), Sample([_x(rng, 2, 3, 4)], {"diagonal": 1}, "batched")],
        lambda: [ErrorInput([np.zeros(3)], {}, ValueError, "triu: input must have at least 2 dimensions")])
# (the offset clamped to the plane, same result: NumPy overflows on offsets near -2**31)
_simple("diagonal", fg.diagonal, lambda x, offset=0, dim1=0, dim2=1: np.diagonal(
            x, max(-x.shape[dim1], min(offset, x.shape[dim2])), dim1, dim2),
        lambda rng: [Sample([_x(rng, 3, 4)]), Sample([_x(rng, 3, 4)], {"offset": 1}, "offset 1"),
                     Sample([_x(rng, 3, 4)], {"offset": -2}, "offset -2"),
                     Sample([_x(rng, 2, 3, 4)], {"dim1": -1, "dim2": 0}, "3-d"),
                     Sample([_x(rng, 3, 4)], {"offset": 5}, "empty")],
        lambda: [ErrorInput([np.zeros((3, 4))], {"dim1": 1, "dim2": 1}, ValueError,
                            "diagonal: dim1 and dim2 must differ")])
_simple("movedim", fg.movedim, lambda x, source, destination: np.moveaxis(x, source, destination),
        lambda rng: [Sample([_x(rng, 2, 3, 4)], {"source": 0, "destination": -1}),
                     Sample([_x(rng, 2, 3, 4)], {"source": (0, 1), "destination": (2, 0)}, "two dims")],
        lambda: [ErrorInput([np.zeros((3, 4))], {"source": (0, 1), "destination": 0}, ValueError,
                            "movedim: source")])
_simple("meshgrid", lambda *xs, indexing="ij": fg.stack(fg.meshgrid(*xs, indexing=indexing)),
        lambda *xs, indexing="ij": np.stack(np.meshgrid(*xs, indexing=indexing)),
        lambda rng: [Sample([_x(rng, 3), _x(rng, 4)]), Sample([_x(rng, 3), _x(rng, 4), _x(rng, 2)],
                                                               {"indexing": "xy"}, "xy 3-d")],
        lambda: [ErrorInput([np.zeros((3, 4))], {}, ValueError, "meshgrid: expected 0-d or 1-d tensors"),
                 ErrorInput([np.zeros(3)], {"indexing": "ji"}, ValueError, "meshgrid: indexing must be")])


# ---- unflatten, diag, diag_embed, repeat_interleave ----------------------------------------
_simple("unflatten", fg.unflatten,
        lambda x, dim, sizes: x.reshape(x.shape[:dim % x.ndim] + tuple(
            s if s != -1 else -1 for s in sizes) + x.shape[dim % x.ndim + 1:]),
        lambda rng: [Sample([_x(rng, 2, 6, 3)], {"dim": 1, "sizes": (2, 3)}),
                     Sample([_x(rng, 2, 6)], {"dim": -1, "sizes": (3, -1)}, "-1 and negative dim"),
                     Sample([_x(rng, 4, 0)], {"dim": 0, "sizes": (2, 2)}, "zero-size")],
        lambda: [ErrorInput([np.zeros((2, 6))], {"dim": 1, "sizes": (4, 2)}, ValueError,
                            r"unflatten: sizes \(4, 2\) do not multiply to the size 6")])


def _diag_ref(x, diagonal=0):
    return np.diag(x, diagonal).copy()


_simple("diag", fg.diag, _diag_ref,
        lambda rng: [Sample([_x(rng, 4)]), Sample([_x(rng, 3)], {"diagonal": 2}, "vector, offset 2"),
                     Sample([_x(rng, 3)], {"diagonal": -1}, "vector, offset -1"),
                     Sample([_x(rng, 3, 4)], {"diagonal": 1}, "matrix"),
                     Sample([_x(rng, 4, 3)], {"diagonal": -2}, "matrix, offset -2"),
                     Sample([_x(rng, 3, 4)], {"diagonal": 5}, "matrix, empty diagonal"),
                     Sample([np.zeros(0)], {}, "empty vector")],
        lambda: [ErrorInput([np.zeros((2, 2, 2))], {}, ValueError, "diag: expected a 1-d or 2-d tensor")])


def _diag_embed_ref(x, offset=0, dim1=-2, dim2=-1):
    n = x.shape[-1] + abs(offset)
    out = np.zeros(x.shape[:-1] + (n, n))
    for k in range(x.shape[-1]):
        r, c = (k, k + offset) if offset >= 0 else (k - offset, k)
        out[..., r, c] = x[..., k]
    nd = x.ndim + 1
    return np.moveaxis(out, (-2, -1), (dim1 % nd, dim2 % nd))


_simple("diag_embed", fg.diag_embed, _diag_embed_ref,
        lambda rng: [Sample([_x(rng, 2, 3)]), Sample([_x(rng, 2, 3)], {"offset": 1}, "offset 1"),
                     Sample([_x(rng, 2, 3)], {"offset": -2, "dim1": 0, "dim2": 2}, "dims 0, 2"),
                     Sample([_x(rng, 3)], {"dim1": 1, "dim2": 0}, "swapped dims")],
        lambda: [ErrorInput([np.zeros((2, 3))], {"dim1": 1, "dim2": -2}, ValueError,
                            "diag_embed: dim1 and dim2 must differ")])


def _ri_ref(x, repeats, dim=None):
    r = repeats
    return np.repeat(x.reshape(-1) if dim is None else x, r, axis=0 if dim is None else dim)


_simple("repeat_interleave", fg.repeat_interleave, _ri_ref,
        lambda rng: [Sample([_x(rng, 2, 3)], {"repeats": 2}, "flattened"),
                     Sample([_x(rng, 2, 3)], {"repeats": 3, "dim": 1}),
                     Sample([_x(rng, 3, 2)], {"repeats": np.array([1, 0, 2]), "dim": 0}, "tensor repeats"),
                     Sample([_x(rng, 3, 2)], {"repeats": np.array([2, 1]), "dim": -1}, "negative dim"),
                     Sample([_x(rng)], {"repeats": 3}, "0-d")],
        lambda: [ErrorInput([np.zeros((3, 2))], {"repeats": np.array([1, 2]), "dim": 0}, ValueError,
                            "repeat_interleave: repeats has 2 entries but dimension 0 has size 3"),
                 ErrorInput([np.zeros(3)], {"repeats": -1}, ValueError,
                            "repeat_interleave: repeats must be non-negative")])
