"""Checkpoints: ``save(obj, f)`` / ``load(f)`` without pickle.

What can be saved: dicts (any hashable-leaf keys: str, int, float, bool, None, tuples of
those), OrderedDicts, lists, tuples, str, bytes, int, float, bool, None, NumPy scalars,
``numpy.ndarray`` (numeric or bool dtypes) and ``fastgrad.Tensor`` (data and
``requires_grad``; gradients and graphs are not saved), nested up to ``MAX_DEPTH``
containers deep (dict keys that are tuples count as levels too).  That limit sits far
below Python's recursion limit, so whatever ``save`` accepts ``load`` reads back, from any
call depth; ``save`` refuses anything deeper with a ``ValueError``.  A model or
optimizer ``state_dict()`` round-trips exactly: int keys stay ints, tuples stay tuples,
Python scalar types are kept.  The same Tensor (or array) object reachable twice is
stored once and loads as one object; distinct tensors that are views of one buffer load
as independent copies.  Whole objects save too, as ``torch.save(model, f)`` does: sets,
fastgrad dtypes and devices, classes and functions by module and qualified name, and
instances of classes that pickle by the default protocol (``nn.Module`` subclasses among
them) as their class name and state; one instance reachable twice loads as one object.
Loading them is gated by ``weights_only`` (see :func:`load`).  Anything else raises
``TypeError`` naming where in ``obj`` it is.

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
(A process killed outright, e.g. by SIGKILL, can still leave the hidden ``.NAME.*.tmp``.)

``load`` checks every field of the header against what ``save`` writes (dtypes from an
allow-list, shapes of at most ``MAX_NDIM`` non-negative dimensions whose sizes fit the
data section, offsets inside it) and raises :class:`CheckpointError` naming the file and
the field for anything else.
"""
from __future__ import annotations

import base64
import collections
import copyreg
import hashlib
import io
import json
import math
import os
import secrets
import stat
import struct
import sys
import threading
import types

import numpy as np

from fastgrad import _device, _dtype
from fastgrad._tensor import SUPPORTED, Tensor, _rebuild_tensor
from fastgrad.errors import ArgumentError, WeightsOnlyError

from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from typing import Any

__all__ = ["save", "load", "CheckpointError", "UnsafeGlobalError", "add_safe_globals",
           "clear_safe_globals", "get_safe_globals", "safe_globals", "FORMAT_VERSION", "MAX_DEPTH", "MAX_NDIM",
           "MAX_ITEMS"]

MAGIC = b"\x89FGCKPT\n"
END = b"FGCKEND\n"
FORMAT_VERSION = 1
_ALIGN = 64
_PREFIX = struct.Struct("<8sIIQ")          # magic, version, reserved, header length
_TRAILER = 32 + len(END)
MAX_DEPTH = 100            # containers nested in one another (save refuses more, load too)
MAX_ITEMS = 10_000_000     # items in all containers together, counted per reference
MAX_NDIM = 64 if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else 32
_BIG_INT_BITS = 2000       # larger ints are stored in hex: Python limits int <-> decimal str
_MAX_BYTES = 2 ** 62       # no array is larger; bounds every shape product


def _dtype_strings():
    """The dtype strings an array in a checkpoint may have: bool, the integers, the floats
    and the complex types, in either byte order (exactly what ``save`` writes)."""
    out = set()
    for c in "?" + np.typecodes["AllInteger"] + np.typecodes["AllFloat"]:
        dt = np.dtype(c)
        out.add(dt.str)
        out.add(dt.newbyteorder().str)
    return frozenset(out)


_DTYPES = _dtype_strings()


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
        self.objects = {}           # id(class instance) -> its index, for shared references
        self.budget = MAX_ITEMS     # items left to write (a container shared n times is
                                    # written n times: this bounds the blow-up)

    def _array(self, obj, arr):
        key = id(obj)
        if key in self.seen:
            return self.seen[key]
        if arr.dtype.str not in _DTYPES or arr.dtype.fields is not None or arr.dtype.subdtype:
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
            return _int_node(obj)
        if t is float:
            return obj if math.isfinite(obj) else {"$": "float", "v": repr(obj)}
        if isinstance(obj, Tensor):
            node = {"$": "tensor", "i": self._checked(obj, obj._data, path), "rg": bool(obj.requires_grad)}
            if t is not Tensor:
                node["cls"] = _global_node(t, path)
            return node
        if t is np.ndarray:
            return {"$": "ndarray", "i": self._checked(obj, obj, path)}
        if isinstance(obj, np.generic) and not isinstance(obj, (np.str_, np.bytes_, np.void, np.object_)):
            return {"$": "npscalar", "i": self._checked(object(), np.asarray(obj), path)}
        if t is bytes:
            return {"$": "bytes", "v": base64.b64encode(obj).decode("ascii")}
        if t in (dict, collections.OrderedDict, list, tuple):
            if len(path) >= MAX_DEPTH:
                raise _too_deep(path)
            self.budget -= len(obj)
            if self.budget < 0:
                raise ValueError(f"save: obj holds more than {MAX_ITEMS} items in its containers "
                                 f"(at {_where(path[:8])}; a container reachable n times counts "
                                 "n times, since each reference is stored)")
            if id(obj) in self.active:
                raise ValueError(f"save: circular reference at {_where(path)}")
            self.active.add(id(obj))
            try:
                if t is list or t is tuple:
                    return {"$": t.__name__, "v": [self.node(v, path + (i,)) for i, v in enumerate(obj)]}
                keys, vals = [], []
                for k, v in obj.items():
                    keys.append(self.key(k, path, len(path) + 1))
                    vals.append(self.node(v, path + (k,)))
                return {"$": "dict" if t is dict else "odict", "k": keys, "v": vals}
            finally:
                self.active.discard(id(obj))
        return self.other(obj, path)

    def other(self, obj, path):
        """Sets, dtypes, devices, classes and functions (by name), and instances of classes
        that pickle by the default protocol (their state: ``__getstate__()`` or ``__dict__``)."""
        t = type(obj)
        if t is set or t is frozenset:
            return {"$": t.__name__, "v": [self.node(v, path + (i,)) for i, v in enumerate(obj)]}
        if t is _dtype.dtype:
            return {"$": "dtype", "v": str(obj).rpartition(".")[2]}
        if t is _device.device:
            return {"$": "device", "v": str(obj)}
        if isinstance(obj, (type, types.FunctionType, types.BuiltinFunctionType)) or (
                callable(obj) and _resolves_to(obj)):
            return _global_node(obj, path)
        if id(obj) in self.objects:
            return {"$": "ref", "i": self.objects[id(obj)]}
        try:
            red = obj.__reduce_ex__(2)
        except Exception as e:      # noqa: BLE001 - a class may refuse pickling any way it likes
            raise TypeError(f"save: cannot save {t.__module__}.{t.__qualname__} at {_where(path)}: "
                            f"{e}") from None
        if not (type(red) is tuple and 2 <= len(red) and red[0] is copyreg.__newobj__
                and red[1] == (t,) and all(x is None for x in red[3:])):
            raise TypeError(f"save: cannot save an object of type {t.__module__}.{t.__qualname__} at "
                            f"{_where(path)}; checkpoints hold dicts, lists, tuples, sets, str, bytes, "
                            "numbers, None, NumPy arrays, fastgrad Tensors, classes and functions "
                            "by name, and instances of classes that pickle by the default protocol")
        i = len(self.objects)
        self.objects[id(obj)] = i
        self.keep.append(obj)
        state = red[2] if len(red) > 2 else None
        return {"$": "object", "o": i, "cls": _global_node(t, path),
                "s": self.node(state, path + ("__state__",))}

    def _checked(self, obj, arr, path):
        try:
            return self._array(obj, arr)
        except TypeError as e:
            raise TypeError(f"save: {e} at {_where(path)}") from None

    def key(self, k, path, depth):
        t = type(k)
        if k is None or t in (bool, str):
            return k
        if t is int:
            return _int_node(k)
        if t is float:
            return k if math.isfinite(k) else {"$": "float", "v": repr(k)}
        if t is tuple:
            if depth >= MAX_DEPTH:
                raise _too_deep(path, " (in a tuple dict key)")
            return {"$": "tuple", "v": [self.key(x, path, depth + 1) for x in k]}
        raise TypeError(f"save: cannot save a dict key of type {t.__qualname__} ({k!r}) in {_where(path)}; "
                        "keys must be str, int, float, bool, None or tuples of those")


def _resolves_to(obj):
    """True when ``obj`` is reachable as ``sys.modules[obj.__module__].<obj.__qualname__>``."""
    m, q = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if type(m) is not str or type(q) is not str or "<" in q or m not in sys.modules:
        return False
    cur = sys.modules[m]
    for part in q.split("."):
        cur = getattr(cur, part, _MISSING)
    return cur is obj


_MISSING = object()


def _global_node(obj, path):
    if not _resolves_to(obj):
        raise TypeError(f"save: cannot save {obj!r:.80} at {_where(path)}: it is not reachable by its "
                        "module and qualified name (a lambda, a local class or function, or a "
                        "bound method)")
    return {"$": "global", "m": obj.__module__, "q": obj.__qualname__}


def _int_node(v):
    return v if v.bit_length() <= _BIG_INT_BITS else {"$": "int", "v": format(v, "x")}


def _too_deep(path, what=""):
    return ValueError(f"save: {_where(path[:8])}{'...' if len(path) > 8 else ''}: nesting "
                      f"deeper than {MAX_DEPTH} levels{what}; checkpoints hold at most "
                      f"{MAX_DEPTH} nested containers (fastgrad.serialization.MAX_DEPTH)")


def _serialize(obj):
    """-> list of byte chunks of the whole file but its checksum and end marker."""
    enc = _Encoder()
    try:
        tree = enc.node(obj, ())
    except RecursionError:      # only when save itself is called from very deep recursion
        raise ValueError("save: obj is nested too deeply for the current call depth") from None
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


def save(obj: Any, f: Any) -> None:
    """Save ``obj`` (a state dict or a nested structure of containers, numbers, strings,
    arrays and Tensors) to ``f``: a path (``str``/``os.PathLike``, written atomically) or a
    binary file object opened for writing.

    A path ending in ``.safetensors`` is written in the safetensors format
    (:mod:`fastgrad.safetensors`), which PyTorch and the ``safetensors`` package read;
    ``obj`` must then be a flat dict of str -> Tensor, such as a model's ``state_dict()``.
    """
    path = _fspath(f)
    if path is not None and path.endswith(".safetensors"):
        from fastgrad import safetensors
        if not isinstance(obj, dict):
            raise TypeError(f"save: a .safetensors file holds a flat dict of str -> Tensor, got "
                            f"{type(obj).__name__}; save nested training state to a .fg file instead")
        safetensors.save_file(obj, path)
        return
    chunks = _serialize(obj)
    if path is None:
        if not hasattr(f, "write"):
            raise TypeError(f"save: f must be a path or a binary file object, got {type(f).__name__}")
        if isinstance(f, io.TextIOBase):
            raise TypeError("save: f is a text-mode file; open it in binary mode ('wb')")
        _write_chunks(f, chunks)
        return
    _atomic_write(path, lambda fh: _write_chunks(fh, chunks), "save")


def _atomic_write(path, write, who):
    """Write a file at ``path`` through ``write(fh)`` atomically: the bytes go to a
    temporary file in the same directory, which is flushed, fsync'ed and renamed over
    ``path``; on any failure ``path`` keeps its previous content and the temporary file is
    removed."""
    d = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f"{who}: {path!r} is a directory")
    if not os.path.isdir(d):
        raise FileNotFoundError(f"{who}: cannot write {path!r}: directory {d!r} does not exist")
    tmp = os.path.join(d, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    created = False             # whether `tmp` exists (and must go unless it was renamed)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        created = True
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        created = False
    finally:
        if created:
            try:
                os.unlink(tmp)
            except OSError:
                pass
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
        self.objects = {}           # object index -> the object restored for it
        self.weights_only = True    # classes and functions must be allow-listed

    def other(self, tag, n, depth):
        """Sets, dtypes, devices, globals (classes, functions) and class instances."""
        if tag == "set" or tag == "frozenset":
            v = n.get("v")
            if type(v) is not list or depth >= MAX_DEPTH:
                raise self.bad(f"invalid {tag} node")
            try:
                items = [self.node(x, depth + 1) for x in v]
                return set(items) if tag == "set" else frozenset(items)
            except TypeError:
                raise self.bad(f"unhashable item in a {tag}") from None
        if tag == "dtype":
            dt = getattr(_dtype, str(n.get("v")), None)
            if type(dt) is not _dtype.dtype:
                raise self.bad(f"unknown dtype {n.get('v')!r:.80}")
            return dt
        if tag == "device":
            try:
                return _device.device(str(n.get("v")))
            except (RuntimeError, TypeError):
                raise self.bad(f"invalid device {n.get('v')!r:.80}") from None
        if tag == "global":
            m, q = n.get("m"), n.get("q")
            if type(m) is not str or type(q) is not str:
                raise self.bad("global node without a module and name")
            return _find_global(m, q, self.weights_only, self.name)
        if tag == "ref":
            i = n.get("i")
            if type(i) is not int or i not in self.objects:
                raise self.bad(f"object reference {i!r:.80} out of range")
            return self.objects[i]
        i = n.get("o")
        if type(i) is not int or i in self.objects or depth >= MAX_DEPTH:
            raise self.bad("invalid object node")
        cls = self.node(n.get("cls"), depth + 1)
        if not isinstance(cls, type) or issubclass(cls, Tensor):
            raise self.bad(f"object class {cls!r:.80} is not a class of plain objects")
        try:
            obj = cls.__new__(cls)
        except Exception as e:      # noqa: BLE001 - whatever the named class raises
            raise self.bad(f"cannot create a {cls.__qualname__}: {e}") from None
        self.objects[i] = obj
        state = self.node(n.get("s"), depth + 1)
        if state is None:
            return obj
        try:
            setstate = getattr(obj, "__setstate__", None)
            if setstate is not None:
                setstate(state)
                return obj
            slots = None
            if type(state) is tuple and len(state) == 2:
                state, slots = state
            if state:
                obj.__dict__.update(state)
            for k, v in (slots or {}).items():
                setattr(obj, k, v)
        except Exception as e:      # noqa: BLE001 - a state that does not fit its class
            raise self.bad(f"the state of a {cls.__qualname__} does not fit it: {e}") from None
        return obj

    def bad(self, msg):
        return CheckpointError(f"load: {self.name}: corrupted checkpoint: {msg}")

    def array(self, i):
        if type(i) is not int or not 0 <= i < len(self.meta):
            raise self.bad(f"array reference {i!r} out of range")
        if i in self.loaded:
            return self.loaded[i]
        m = self.meta[i]
        f = f"arrays[{i}]"
        if type(m) is not dict:
            raise self.bad(f"{f}: expected an object, got {type(m).__name__}")
        ds = m.get("dtype")
        if type(ds) is not str or ds not in _DTYPES:
            raise self.bad(f"{f}.dtype: disallowed dtype {ds!r} (a checkpoint holds bool, "
                           "integer, float and complex arrays, e.g. '<f4')")
        dt = np.dtype(ds)
        shape, off, nbytes = m.get("shape"), m.get("offset"), m.get("nbytes")
        if type(shape) is not list:
            raise self.bad(f"{f}.shape: expected a list of dimensions, got {shape!r:.80}")
        if len(shape) > MAX_NDIM:
            raise self.bad(f"{f}.shape: {len(shape)} dimensions (at most {MAX_NDIM})")
        for s in shape:
            if type(s) is not int or not 0 <= s <= _MAX_BYTES:
                raise self.bad(f"{f}.shape: invalid dimension {s!r:.80} in a shape of "
                               f"{len(shape)} dimensions")
        if math.prod(max(s, 1) for s in shape) * dt.itemsize > _MAX_BYTES:
            raise self.bad(f"{f}.shape: {shape} is too large")
        for name, v in (("offset", off), ("nbytes", nbytes)):
            if type(v) is not int:
                raise self.bad(f"{f}.{name}: invalid value {v!r:.80}")
            if v < 0:
                raise self.bad(f"{f}.{name}: {v} does not fit the data section")
        count = math.prod(shape)
        if count * dt.itemsize != nbytes or off + nbytes > len(self.payload):
            raise self.bad(f"{f} (shape {tuple(shape)}, dtype {dt}) does not fit the data section "
                           f"(offset {off}, nbytes {nbytes}, data section {len(self.payload)} bytes)")
        try:
            arr = np.frombuffer(self.payload, dtype=dt, count=count, offset=off).reshape(shape).copy()
        except (ValueError, TypeError, OverflowError, MemoryError) as e:
            raise self.bad(f"{f}: cannot be read ({e})") from None
        self.loaded[i] = arr
        return arr

    def node(self, n, depth=0):
        if n is None or type(n) in (bool, int, float, str):
            return n
        if type(n) is not dict:
            raise self.bad(f"unexpected node {type(n).__name__}")
        tag = n.get("$")
        if tag in ("list", "tuple", "dict", "odict") and depth >= MAX_DEPTH:
            raise self.bad(f"tree: containers nested deeper than {MAX_DEPTH} levels")
        if tag == "list" or tag == "tuple":
            v = n.get("v")
            if type(v) is not list:
                raise self.bad(f"{tag} node without items")
            items = [self.node(x, depth + 1) for x in v]
            return items if tag == "list" else tuple(items)
        if tag == "dict" or tag == "odict":
            ks, vs = n.get("k"), n.get("v")
            if type(ks) is not list or type(vs) is not list or len(ks) != len(vs):
                raise self.bad("dict node with mismatched keys and values")
            d = {} if tag == "dict" else collections.OrderedDict()
            for k, v in zip(ks, vs):
                k = self.node(k, depth + 1)
                try:
                    d[k] = self.node(v, depth + 1)
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
            if "cls" in n:
                cls = self.node(n["cls"], depth + 1)
                if not (isinstance(cls, type) and issubclass(cls, Tensor)):
                    raise self.bad(f"tensor class {cls!r:.80} is not a Tensor subclass")
                t = _rebuild_tensor(cls, arr, False)
            else:
                t = Tensor._make(arr)
            if n.get("rg"):
                if arr.dtype.kind != "f":
                    raise self.bad("integer tensor marked requires_grad")
                t.requires_grad_(True)
            self.loaded[key] = t
            return t
        if tag == "ndarray":
            return self.array(n.get("i"))
        if type(tag) is str and tag in _OBJECT_TAGS:
            return self.other(tag, n, depth)
        if tag == "npscalar":
            arr = self.array(n.get("i"))
            if arr.ndim != 0:
                raise self.bad("NumPy scalar stored with a non-empty shape")
            return arr[()]
        if tag == "float":
            v = n.get("v")
            if v not in ("nan", "inf", "-inf"):
                raise self.bad(f"invalid float {v!r:.80}")
            return float(v)
        if tag == "int":
            v = n.get("v")
            try:
                if type(v) is not str or not v.lstrip("-").isalnum():
                    raise ValueError
                return int(v, 16)
            except ValueError:
                raise self.bad(f"invalid int {v!r:.80}") from None
        if tag == "bytes":
            try:
                return base64.b64decode(n.get("v"), validate=True)
            except (TypeError, ValueError):
                raise self.bad("invalid bytes node") from None
        raise self.bad(f"unknown node type {tag!r}")


_OBJECT_TAGS = frozenset(("set", "frozenset", "dtype", "device", "global", "object", "ref"))


# ---- allow-listed globals (torch.serialization's safe_globals API) ----------------------------
class UnsafeGlobalError(CheckpointError, WeightsOnlyError):
    """``load`` with ``weights_only=True`` met a class or function that is not allow-listed."""


_SAFE_GLOBALS: list = []                # add_safe_globals entries: obj or (obj, "module.name")
_SCOPED = threading.local()             # safe_globals context managers active in this thread


def _default_safe():
    from fastgrad.nn.parameter import Parameter
    return [Tensor, Parameter]


def _safe_names():
    out = {}
    for g in _default_safe() + _SAFE_GLOBALS + [g for lst in getattr(_SCOPED, "stack", ()) for g in lst]:
        if type(g) is tuple:
            obj, name = g
        else:
            obj, name = g, f"{getattr(g, '__module__', '?')}.{getattr(g, '__qualname__', '?')}"
        out[name] = obj
    return out


def _find_global(m, q, weights_only, fname):
    name = f"{m}.{q}"
    if weights_only:
        allowed = _safe_names()
        if name in allowed:
            return allowed[name]
        short = q.rpartition(".")[2]
        raise UnsafeGlobalError(
            f"load: {fname}: weights-only load failed: the checkpoint holds {name}, which is not an "
            f"allowed global. If you trust it, allow-list it with "
            f"fastgrad.serialization.add_safe_globals([{short}]) or the "
            f"fastgrad.serialization.safe_globals([{short}]) context manager, or load with "
            "weights_only=False (which imports modules the checkpoint names)")
    import importlib
    try:
        obj = importlib.import_module(m)
        for part in q.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise CheckpointError(f"load: {fname}: cannot find {name} the checkpoint refers to ({e})") from None
    return obj


def _check_globals(safe_globals, who):
    if not isinstance(safe_globals, (list, tuple)):
        raise TypeError(f"{who}: expected a list of classes or functions, got "
                        f"{type(safe_globals).__name__}")
    for g in safe_globals:
        if type(g) is tuple and (len(g) != 2 or type(g[1]) is not str):
            raise TypeError(f"{who}: a tuple entry must be (obj, 'module.qualified_name'), got {g!r:.80}")
    return list(safe_globals)


def add_safe_globals(safe_globals: list) -> None:
    """Allow-list classes and functions for ``load(..., weights_only=True)``: objects, or
    ``(obj, "module.qualified_name")`` pairs naming the global the checkpoint refers to."""
    _SAFE_GLOBALS.extend(_check_globals(safe_globals, "add_safe_globals"))


def clear_safe_globals() -> None:
    """Forget every global added by :func:`add_safe_globals`."""
    _SAFE_GLOBALS.clear()


def get_safe_globals() -> list:
    """The globals added by :func:`add_safe_globals` (not the defaults, not the scoped ones)."""
    return list(_SAFE_GLOBALS)


class safe_globals:
    """Context manager: allow-list ``safe_globals`` for ``load(..., weights_only=True)``
    inside the ``with`` block (in this thread)::

        with fastgrad.serialization.safe_globals([MyModel]):
            model = fastgrad.load("model.pt")
    """

    def __init__(self, safe_globals: list) -> None:
        self.safe_globals = _check_globals(safe_globals, "safe_globals")

    def __enter__(self):
        if not hasattr(_SCOPED, "stack"):
            _SCOPED.stack = []
        _SCOPED.stack.append(self.safe_globals)

    def __exit__(self, *exc):
        _SCOPED.stack.pop()


def _read_all(f, who):
    path = _fspath(f)
    if path is not None:
        with open(path, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):     # /dev/zero would never end
                raise CheckpointError(f"{who}: {path!r} is a device, not a checkpoint file")
            return path, fh.read()
    if not hasattr(f, "read"):
        raise TypeError(f"{who}: f must be a path or a binary file object, got {type(f).__name__}")
    data = f.read()
    if isinstance(data, str):
        raise TypeError(f"{who}: f is a text-mode file; open it in binary mode ('rb')")
    return getattr(f, "name", None) or "<file object>", bytes(data)


def _is_cpu(dev):
    return (isinstance(dev, str) and dev.partition(":")[0] == "cpu") or (
        isinstance(dev, _device.device) and dev.type == "cpu")


def load(f: Any, map_location: Any = None, pickle_module: Any = None, *,
         weights_only: bool | None = None, mmap: bool | None = None, **pickle_load_args: Any) -> Any:
    """Load an object saved by :func:`save` from a path or a binary file object.

    A path ending in ``.safetensors`` is read as a safetensors file (a dict of str ->
    Tensor).  The file holds JSON and raw array bytes, no pickle.  A checkpoint of whole
    objects (``save(model, f)``) names their classes and functions: with ``weights_only``
    True (the default, None) each must be ``Tensor``, ``nn.Parameter`` or allow-listed with
    :func:`add_safe_globals` / :class:`safe_globals`, else :class:`UnsafeGlobalError` (an
    ``pickle.UnpicklingError`` too) is raised, as in PyTorch; ``weights_only=False`` imports the
    modules named in the file.  Restoring an object calls its class's ``__setstate__``
    when it has one.  ``pickle_module``, ``mmap`` and ``pickle_load_args`` are accepted for
    PyTorch compatibility and change nothing.
    ``map_location`` may be None, ``"cpu"``, ``"cpu:0"`` or ``fastgrad.device("cpu")``
    (fastgrad tensors live on the CPU).
    Raises :class:`CheckpointError` (a ``RuntimeError``) for a truncated, corrupted or
    foreign file or an unsupported format version.
    """
    if map_location not in (None, "cpu") and not _is_cpu(map_location):
        raise ArgumentError(f"load: map_location must be None or 'cpu' (fastgrad runs on the CPU), "
                         f"got {map_location!r}")
    path = _fspath(f)
    if path is not None and path.endswith(".safetensors"):
        from fastgrad import safetensors
        return safetensors.load_file(path)
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
    dec.weights_only = weights_only is None or bool(weights_only)
    try:
        return dec.node(header.get("tree"))
    except RecursionError:
        raise CheckpointError(f"load: {name}: corrupted checkpoint: structure nested too deeply") from None
