"""Checkpoints: ``save(obj, f)`` / ``load(f)`` without pickle.

What can be saved: dicts (any hashable-leaf keys: str, int, float, bool, None, tuples of
those), OrderedDicts, lists, tuples, str, bytes, int, float, bool, None, NumPy scalars,
``numpy.ndarray`` (numeric or bool dtypes) and ``fastgrad.Tensor`` (data and
``requires_grad``; gradients and graphs are not saved), nested to any depth.  A model or
optimizer ``state_dict()`` round-trips exactly: int keys stay ints, tuples stay tuples,
Python scalar types are kept.  The same Tensor (or array) object reachable twice is
stored once and loads as one object; distinct tensors that are views of one buffer load
as independent copies.  Anything else (class instances, functions) raises ``TypeError``
naming where in ``obj`` it is.

File format (version 1), all integers little-endian::

    magic      8 bytes   b"\\x89FGCKPT\\n"
    version    u32       1
    reserved   u32       0
    hlen       u64       length of the header
    header     hlen      UTF-8 JSON: {"format", "version", "tree", "arrays", "data_bytes"}
    padding              zeros up to a multiple of 64
    data                 raw array bytes (C order), each at a 64-byte aligned offset
    sha256     32 bytes  SHA-256 of every byte before it
    end        8 bytes   b"FGCKEND\\n"

The tree is JSON with tagged nodes for everything JSON cannot say exactly, e.g.
``{"$": "tensor", "i": 0, "rg": false}``, ``{"$": "dict", "k": [...], "v": [...]}``.
Loading only parses JSON and copies raw bytes into arrays of an allow-listed dtype, so
a checkpoint can never run code.  The checksum catches truncation and bit flips.

Saving to a path is atomic: the bytes go to a temporary file in the same directory,
which is flushed, fsync'ed and then renamed over ``path`` (``os.replace``); if anything
fails midway, ``path`` keeps its previous content and the temporary file is removed.
"""
import base64
import collections
import hashlib
import io
import json
import math
import os
import secrets
import struct

import numpy as np

from fastgrad._tensor import SUPPORTED, Tensor

__all__ = ["save", "load", "CheckpointError", "FORMAT_VERSION"]

MAGIC = b"\x89FGCKPT\n"
END = b"FGCKEND\n"
FORMAT_VERSION = 1
_ALIGN = 64
_PREFIX = struct.Struct("<8sIIQ")          # magic, version, reserved, header length
_TRAILER = 32 + len(END)
_MAX_DEPTH = 500


class CheckpointError(RuntimeError):
    """A file that is not a valid fastgrad checkpoint (truncated, corrupted, foreign, or of
    an unsupported format version)."""


def _pad(n):
    return (-n) % _ALIGN


def _where(path):
    return "obj" + "".join(f"[{p!r}]" for p in path)


# ---- encoding --------------------------------------------------------------------------------
class _Encoder:
    def __init__(self):
        self.arrays = []            # contiguous ndarrays, in file order
        self.seen = {}              # id(Tensor or ndarray) -> array index
        self.keep = []              # keeps the ids above valid while encoding
        self.active = set()         # ids of the containers on the current path (cycles)

    def _array(self, obj, arr):
        key = id(obj)
        if key in self.seen:
            return self.seen[key]
        if arr.dtype.kind not in "biufc" or arr.dtype.fields is not None or arr.dtype.subdtype:
            raise TypeError(f"unsupported array dtype {arr.dtype}")
        i = len(self.arrays)
        self.arrays.append(arr if arr.flags.c_contiguous else arr.copy(order="C"))   # keeps 0-d
        self.seen[key] = i
        self.keep.append(obj)
        return i

    def node(self, obj, path):
        t = type(obj)
        if obj is None or t is bool or t is str:
            return obj
        if t is int:
            return obj
        if t is float:
            return obj if math.isfinite(obj) else {"$": "float", "v": repr(obj)}
        if isinstance(obj, Tensor):
            return {"$": "tensor", "i": self._checked(obj, obj.data, path), "rg": bool(obj.requires_grad)}
        if t is np.ndarray:
            return {"$": "ndarray", "i": self._checked(obj, obj, path)}
        if isinstance(obj, np.generic) and not isinstance(obj, (np.str_, np.bytes_, np.void, np.object_)):
            return {"$": "npscalar", "i": self._checked(object(), np.asarray(obj), path)}
        if t is bytes:
            return {"$": "bytes", "v": base64.b64encode(obj).decode("ascii")}
        if t in (dict, collections.OrderedDict, list, tuple):
            if len(path) > _MAX_DEPTH:
                raise ValueError(f"save: {_where(path[:8])}...: nesting deeper than {_MAX_DEPTH} levels")
            if id(obj) in self.active:
                raise ValueError(f"save: circular reference at {_where(path)}")
            self.active.add(id(obj))
            try:
                if t is list or t is tuple:
                    return {"$": t.__name__, "v": [self.node(v, path + (i,)) for i, v in enumerate(obj)]}
                keys, vals = [], []
                for k, v in obj.items():
                    keys.append(self.key(k, path))
                    vals.append(self.node(v, path + (k,)))
                return {"$": "dict" if t is dict else "odict", "k": keys, "v": vals}
            finally:
                self.active.discard(id(obj))
        raise TypeError(f"save: cannot save an object of type {t.__module__}.{t.__qualname__} at "
                        f"{_where(path)}; checkpoints hold dicts, lists, tuples, str, bytes, numbers, "
                        "None, NumPy arrays and fastgrad Tensors (no pickle)")

    def _checked(self, obj, arr, path):
        try:
            return self._array(obj, arr)
        except TypeError as e:
            raise TypeError(f"save: {e} at {_where(path)}") from None

    def key(self, k, path):
        t = type(k)
        if k is None or t in (bool, int, str):
            return k
        if t is float:
            return k if math.isfinite(k) else {"$": "float", "v": repr(k)}
        if t is tuple:
            return {"$": "tuple", "v": [self.key(x, path) for x in k]}
        raise TypeError(f"save: cannot save a dict key of type {t.__qualname__} ({k!r}) in {_where(path)}; "
                        "keys must be str, int, float, bool, None or tuples of those")


def _serialize(obj):
    """-> (list of byte chunks, total length) of the whole file."""
    enc = _Encoder()
    try:
        tree = enc.node(obj, ())
    except RecursionError:
        raise ValueError("save: obj is nested too deeply") from None
    arrays, offset = [], 0
    for a in enc.arrays:
        arrays.append({"dtype": a.dtype.str, "shape": list(a.shape), "offset": offset, "nbytes": a.nbytes})
        offset += a.nbytes + _pad(a.nbytes)
    header = json.dumps({"format": "fastgrad.checkpoint", "version": FORMAT_VERSION, "tree": tree,
                         "arrays": arrays, "data_bytes": offset},
                        separators=(",", ":"), allow_nan=False).encode("utf-8")
    head = _PREFIX.pack(MAGIC, FORMAT_VERSION, 0, len(header)) + header
    chunks = [head, b"\0" * _pad(len(head))]
    for a in enc.arrays:
        if a.nbytes:
            chunks.append(a.reshape(-1).view(np.uint8))
            chunks.append(b"\0" * _pad(a.nbytes))
    return chunks


def _write_chunks(f, chunks):
    h = hashlib.sha256()
    for c in chunks:
        if len(c):
            h.update(c)
            f.write(c)
    f.write(h.digest())
    f.write(END)


def _fspath(f):
    if isinstance(f, (str, bytes, os.PathLike)):
        return os.fsdecode(os.fspath(f))
    return None


def save(obj, f):
    """Save ``obj`` (a state dict or a nested structure of containers, numbers, strings,
    arrays and Tensors) to ``f``: a path (``str``/``os.PathLike``, written atomically) or a
    binary file object opened for writing."""
    chunks = _serialize(obj)
    path = _fspath(f)
    if path is None:
        if not hasattr(f, "write"):
            raise TypeError(f"save: f must be a path or a binary file object, got {type(f).__name__}")
        if isinstance(f, io.TextIOBase):
            raise TypeError("save: f is a text-mode file; open it in binary mode ('wb')")
        _write_chunks(f, chunks)
        return
    d = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"save: {path!r} is a directory")
    if not os.path.isdir(d):
        raise FileNotFoundError(f"save: cannot write {path!r}: directory {d!r} does not exist")
    tmp = os.path.join(d, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            _write_chunks(fh, chunks)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(d)


def _fsync_dir(d):
    """Make the rename itself durable (POSIX); best effort elsewhere."""
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---- decoding --------------------------------------------------------------------------------
def _describe_foreign(buf):
    if buf[:4] == b"PK\x03\x04" or buf[:4] == b"PK\x05\x06":
        return "it is a zip archive (e.g. a PyTorch .pt or NumPy .npz file), not a fastgrad checkpoint"
    if buf[:1] == b"\x80" and len(buf) > 1 and buf[1] <= 5:
        return "it is a Python pickle; fastgrad never loads pickles (they can run arbitrary code)"
    if buf[:6] == b"\x93NUMPY":
        return "it is a NumPy .npy file, not a fastgrad checkpoint (use numpy.load)"
    if not buf:
        return "the file is empty"
    return "it does not start with the fastgrad checkpoint marker"


class _Decoder:
    def __init__(self, name, payload, arrays_meta):
        self.name = name
        self.payload = payload
        self.meta = arrays_meta
        self.loaded = {}

    def bad(self, msg):
        return CheckpointError(f"load: {self.name}: corrupted checkpoint: {msg}")

    def array(self, i):
        if type(i) is not int or not 0 <= i < len(self.meta):
            raise self.bad(f"array reference {i!r} out of range")
        if i in self.loaded:
            return self.loaded[i]
        m = self.meta[i]
        try:
            dt = np.dtype(m["dtype"])
            shape = tuple(m["shape"])
            off, nbytes = m["offset"], m["nbytes"]
        except (KeyError, TypeError, ValueError) as e:
            raise self.bad(f"invalid description of array {i} ({e})") from None
        if dt.kind not in "biufc" or dt.fields is not None or dt.subdtype is not None:
            raise self.bad(f"array {i} has disallowed dtype {m['dtype']!r}")
        if not all(type(s) is int and s >= 0 for s in shape) or type(off) is not int or type(nbytes) is not int:
            raise self.bad(f"array {i} has an invalid shape or offset")
        if math.prod(shape) * dt.itemsize != nbytes or off < 0 or off + nbytes > len(self.payload):
            raise self.bad(f"array {i} (shape {shape}, dtype {dt}) does not fit the data section")
        arr = np.frombuffer(self.payload, dtype=dt, count=math.prod(shape), offset=off).reshape(shape).copy()
        self.loaded[i] = arr
        return arr

    def node(self, n):
        if n is None or type(n) in (bool, int, float, str):
            return n
        if type(n) is not dict:
            raise self.bad(f"unexpected node {type(n).__name__}")
        tag = n.get("$")
        if tag == "list" or tag == "tuple":
            v = n.get("v")
            if type(v) is not list:
                raise self.bad(f"{tag} node without items")
            items = [self.node(x) for x in v]
            return items if tag == "list" else tuple(items)
        if tag == "dict" or tag == "odict":
            ks, vs = n.get("k"), n.get("v")
            if type(ks) is not list or type(vs) is not list or len(ks) != len(vs):
                raise self.bad("dict node with mismatched keys and values")
            d = {} if tag == "dict" else collections.OrderedDict()
            for k, v in zip(ks, vs):
                k = self.node(k)
                try:
                    d[k] = self.node(v)
                except TypeError:
                    raise self.bad(f"unhashable dict key {k!r}") from None
            return d
        if tag == "tensor":
            arr = self.array(n.get("i"))
            key = ("t", n.get("i"))
            if key in self.loaded:
                return self.loaded[key]
            if arr.dtype not in SUPPORTED:
                raise self.bad(f"tensor with unsupported dtype {arr.dtype}")
            t = Tensor._make(arr)
            if n.get("rg"):
                if arr.dtype.kind != "f":
                    raise self.bad("integer tensor marked requires_grad")
                t.requires_grad_(True)
            self.loaded[key] = t
            return t
        if tag == "ndarray":
            return self.array(n.get("i"))
        if tag == "npscalar":
            arr = self.array(n.get("i"))
            if arr.ndim != 0:
                raise self.bad("NumPy scalar stored with a non-empty shape")
            return arr[()]
        if tag == "float":
            v = n.get("v")
            if v not in ("nan", "inf", "-inf"):
                raise self.bad(f"invalid float {v!r}")
            return float(v)
        if tag == "bytes":
            try:
                return base64.b64decode(n.get("v"), validate=True)
            except (TypeError, ValueError):
                raise self.bad("invalid bytes node") from None
        raise self.bad(f"unknown node type {tag!r}")


def _read_all(f, who):
    path = _fspath(f)
    if path is not None:
        with open(path, "rb") as fh:
            return path, fh.read()
    if not hasattr(f, "read"):
        raise TypeError(f"{who}: f must be a path or a binary file object, got {type(f).__name__}")
    data = f.read()
    if isinstance(data, str):
        raise TypeError(f"{who}: f is a text-mode file; open it in binary mode ('rb')")
    return getattr(f, "name", None) or "<file object>", bytes(data)


def load(f, map_location=None, weights_only=True):
    """Load an object saved by :func:`save` from a path or a binary file object.

    Loading never runs code: the file holds JSON and raw array bytes, no pickle, so
    ``weights_only`` is accepted for PyTorch compatibility and is always in effect.
    ``map_location`` may be None or ``"cpu"`` (fastgrad tensors live on the CPU).
    Raises :class:`CheckpointError` (a ``RuntimeError``) for a truncated, corrupted or
    foreign file or an unsupported format version.
    """
    if map_location not in (None, "cpu"):
        raise ValueError(f"load: map_location must be None or 'cpu' (fastgrad runs on the CPU), "
                         f"got {map_location!r}")
    name, buf = _read_all(f, "load")
    name = repr(name) if isinstance(name, str) else str(name)
    if buf and MAGIC.startswith(buf[:len(MAGIC)]) and len(buf) < _PREFIX.size:
        raise CheckpointError(f"load: {name}: the checkpoint is truncated ({len(buf)} bytes, shorter than "
                              "its fixed header)")
    if len(buf) < _PREFIX.size or buf[:len(MAGIC)] != MAGIC:
        raise CheckpointError(f"load: {name} is not a fastgrad checkpoint: {_describe_foreign(buf)}")
    _, version, _, hlen = _PREFIX.unpack_from(buf)
    if version != FORMAT_VERSION:
        raise CheckpointError(f"load: {name} has checkpoint format version {version}, but this fastgrad "
                              f"reads version {FORMAT_VERSION}"
                              + ("; upgrade fastgrad to load it (or the file is corrupted)"
                                 if version > FORMAT_VERSION else " (or the file is corrupted)"))
    if len(buf) < _PREFIX.size + _TRAILER or buf[-len(END):] != END:
        raise CheckpointError(f"load: {name}: the checkpoint is truncated or corrupted (end marker missing; "
                              f"file has {len(buf)} bytes)")
    body = memoryview(buf)[:-_TRAILER]
    if hashlib.sha256(body).digest() != buf[-_TRAILER:-len(END)]:
        raise CheckpointError(f"load: {name}: checksum mismatch: the checkpoint is corrupted or truncated")
    hend = _PREFIX.size + hlen
    if hend > len(body):
        raise CheckpointError(f"load: {name}: corrupted checkpoint: header length {hlen} exceeds the file")
    try:
        header = json.loads(bytes(body[_PREFIX.size:hend]).decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"load: {name}: corrupted checkpoint: unreadable header ({e})") from None
    if type(header) is not dict or header.get("format") != "fastgrad.checkpoint" \
            or header.get("version") != FORMAT_VERSION or type(header.get("arrays")) is not list:
        raise CheckpointError(f"load: {name}: corrupted checkpoint: invalid header")
    dstart = hend + _pad(hend)
    payload = body[dstart:]
    if header.get("data_bytes") != len(payload):
        raise CheckpointError(f"load: {name}: corrupted checkpoint: data section has {len(payload)} bytes, "
                              f"header says {header.get('data_bytes')!r}")
    dec = _Decoder(name, payload, header["arrays"])
    try:
        return dec.node(header.get("tree"))
    except RecursionError:
        raise CheckpointError(f"load: {name}: corrupted checkpoint: structure nested too deeply") from None
