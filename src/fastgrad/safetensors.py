"""Reading and writing the safetensors format: a flat map of names to tensors.

A safetensors file is::

    n          u64, little-endian: the length of the header
    header     n bytes of UTF-8 JSON, padded with spaces:
               {"NAME": {"dtype": "F32", "shape": [2, 3], "data_offsets": [BEGIN, END]},
                ..., "__metadata__": {"key": "value", ...}}
    data       the raw little-endian bytes of every tensor, C order, at
               [BEGIN, END) relative to the start of this section

The format holds no code and no object structure, so loading a file can never run
anything; PyTorch, the ``safetensors`` package and most model hubs read and write it.
``fastgrad.save(state_dict, "model.safetensors")`` and ``fastgrad.load(...)`` pick it
from the file suffix; full training checkpoints with nested optimizer state keep
fastgrad's own format (:mod:`fastgrad.serialization`), which can hold any nesting.

Writes go through a temporary file renamed over the target, so a failed save never
leaves a half-written file.  Tensors that share memory (tied weights) are each stored
in full and load as independent tensors.  ``BF16`` entries load as float32 (every
bfloat16 value is exactly a float32 value); the 8-bit float formats are refused.
"""
import json
import os
import struct

import numpy as np

from fastgrad._tensor import Tensor, from_numpy
from fastgrad.serialization import CheckpointError, _atomic_write, _fspath

__all__ = ["save_file", "load_file", "save", "load"]

MAX_HEADER_BYTES = 100_000_000
_U64 = struct.Struct("<Q")
_ALIGN = 8          # header padding: keeps the data section 8-byte aligned in the file

# safetensors dtype names <-> little-endian NumPy dtypes
_TO_NUMPY = {
    "BOOL": np.dtype("|b1"), "U8": np.dtype("|u1"), "I8": np.dtype("|i1"),
    "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "F16": np.dtype("<f2"),
    "U32": np.dtype("<u4"), "I32": np.dtype("<i4"), "F32": np.dtype("<f4"),
    "U64": np.dtype("<u8"), "I64": np.dtype("<i8"), "F64": np.dtype("<f8"),
}
_FROM_NUMPY = {dt: name for name, dt in _TO_NUMPY.items()}


def _as_array(name, value):
    if isinstance(value, Tensor):
        arr = value.numpy(force=True)
    elif isinstance(value, np.ndarray):
        arr = value
    else:
        raise TypeError(f"safetensors.save: entry {name!r} must be a Tensor or a numpy.ndarray, "
                        f"got {type(value).__name__}")
    le = arr.dtype.newbyteorder("<") if arr.dtype.byteorder not in "|" else arr.dtype
    code = _FROM_NUMPY.get(le)
    if code is None:
        raise TypeError(f"safetensors.save: entry {name!r} has dtype {arr.dtype}, which safetensors "
                        f"cannot store (supported: {', '.join(sorted(set(map(str, _TO_NUMPY.values()))))})")
    if arr.dtype != le or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr, dtype=le)
    return code, arr


def _layout(tensors, metadata):
    """The header bytes (padded) and the arrays in file order."""
    if not isinstance(tensors, dict):
        raise TypeError(f"safetensors.save: tensors must be a dict of str -> Tensor, got {type(tensors).__name__}")
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(type(k) is str and type(v) is str
                                                     for k, v in metadata.items()):
            raise TypeError("safetensors.save: metadata must be a dict of str -> str")
    entries = []
    for name, value in tensors.items():
        if type(name) is not str:
            raise TypeError(f"safetensors.save: keys must be str, got {name!r}")
        if name == "__metadata__":
            raise ValueError("safetensors.save: '__metadata__' is reserved and cannot name a tensor")
        code, arr = _as_array(name, value)
        entries.append((name, code, arr))
    # larger items first, then by name: every tensor then starts at a multiple of its
    # item size within the (8-byte aligned) data section
    entries.sort(key=lambda e: (-e[2].dtype.itemsize, e[0]))
    header, arrays, off = {}, [], 0
    if metadata:
        header["__metadata__"] = dict(metadata)
    for name, code, arr in entries:
        header[name] = {"dtype": code, "shape": [int(d) for d in arr.shape],
                        "data_offsets": [off, off + arr.nbytes]}
        off += arr.nbytes
        arrays.append(arr)
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-(len(raw) + _U64.size) % _ALIGN)
    if len(raw) > MAX_HEADER_BYTES:
        raise ValueError(f"safetensors.save: header of {len(raw)} bytes exceeds {MAX_HEADER_BYTES}")
    return _U64.pack(len(raw)) + raw, arrays


def _write(fh, head, arrays):
    fh.write(head)
    for arr in arrays:
        if arr.nbytes:
            fh.write(memoryview(arr.reshape(-1)).cast("B"))


def save(tensors, metadata=None):
    """Return the safetensors bytes of ``tensors`` (a dict of str -> Tensor or ndarray)."""
    head, arrays = _layout(tensors, metadata)
    parts = [head] + [arr.tobytes() for arr in arrays]
    return b"".join(parts)


def save_file(tensors, filename, metadata=None):
    """Write ``tensors`` (a dict of str -> Tensor or ndarray) to ``filename`` in the
    safetensors format, atomically.  ``metadata`` is an optional dict of str -> str."""
    path = _fspath(filename)
    if path is None:
        raise TypeError(f"safetensors.save_file: filename must be a path, got {type(filename).__name__}")
    head, arrays = _layout(tensors, metadata)
    _atomic_write(path, lambda fh: _write(fh, head, arrays), "safetensors.save_file")


def _bad(where, msg):
    return CheckpointError(f"safetensors.load: {where}: {msg}")


def _no_duplicates(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def _parse(where, buf):
    """Validate ``buf`` (bytes-like, the whole file) and return (entries, data offset,
    metadata) where entries is a list of (name, numpy dtype, shape, begin, end, is_bf16)."""
    if len(buf) < _U64.size:
        raise _bad(where, f"the file has {len(buf)} bytes, too short for a safetensors header")
    (n,) = _U64.unpack_from(buf)
    if n > MAX_HEADER_BYTES or _U64.size + n > len(buf):
        raise _bad(where, f"header length {n} does not fit the file of {len(buf)} bytes "
                          "(truncated, or not a safetensors file)")
    raw = bytes(buf[_U64.size:_U64.size + n])
    if not raw.startswith(b"{"):
        raise _bad(where, "the header is not a JSON object (not a safetensors file)")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as e:
        raise _bad(where, f"unreadable header ({e})") from None
    if type(header) is not dict:
        raise _bad(where, "the header is not a JSON object")
    metadata = header.pop("__metadata__", None)
    if metadata is not None and (type(metadata) is not dict
                                 or not all(type(v) is str for v in metadata.values())):
        raise _bad(where, "__metadata__ must map strings to strings")
    data_len = len(buf) - _U64.size - n
    entries = []
    for name, info in header.items():
        if type(info) is not dict or set(info) != {"dtype", "shape", "data_offsets"}:
            raise _bad(where, f"tensor {name!r}: entry must have exactly dtype, shape and data_offsets")
        code, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        bf16 = code == "BF16"
        dt = np.dtype("<u2") if bf16 else _TO_NUMPY.get(code)
        if dt is None:
            raise _bad(where, f"tensor {name!r}: unsupported dtype {code!r}")
        if (type(shape) is not list or len(shape) > 64
                or not all(type(d) is int and d >= 0 for d in shape)):
            raise _bad(where, f"tensor {name!r}: invalid shape {shape!r}")
        if type(offs) is not list or len(offs) != 2 or not all(type(o) is int for o in offs):
            raise _bad(where, f"tensor {name!r}: invalid data_offsets {offs!r}")
        begin, end = offs
        count = 1
        for d in shape:
            count *= d
        if not 0 <= begin <= end <= data_len or end - begin != count * dt.itemsize:
            raise _bad(where, f"tensor {name!r}: data_offsets {offs} do not match dtype {code} and shape "
                              f"{shape} inside a data section of {data_len} bytes")
        entries.append((name, dt, tuple(shape), begin, end, bf16))
    # the data section must be covered exactly once: no holes, no overlaps
    pos = 0
    for _, _, _, begin, end, _ in sorted(entries, key=lambda e: (e[3], e[4])):
        if begin != pos:
            raise _bad(where, f"tensor data {'overlaps' if begin < pos else 'leaves a gap'} at byte {begin}")
        pos = end
    if pos != data_len:
        raise _bad(where, f"the data section has {data_len} bytes but the tensors cover {pos}")
    return entries, _U64.size + n, metadata


def _build(entries, base, start):
    out = {}
    native_le = np.little_endian
    for name, dt, shape, begin, end, bf16 in entries:
        count = (end - begin) // dt.itemsize
        arr = np.frombuffer(base, dtype=dt, count=count, offset=start + begin).reshape(shape)
        if bf16:
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        elif not native_le or arr.ctypes.data % dt.itemsize:
            arr = arr.astype(dt.newbyteorder("="))
        out[name] = from_numpy(arr if arr.flags.writeable else arr.copy())
    return out


def load(data):
    """Tensors from safetensors bytes, as a dict of str -> Tensor (copies of the data)."""
    buf = bytearray(data)
    entries, start, _ = _parse("<bytes>", buf)
    return _build(entries, buf, start)


def load_file(filename, device="cpu"):
    """Read a safetensors file into a dict of str -> Tensor.  ``device`` must be "cpu"."""
    if device not in ("cpu", None) and str(device) != "cpu":
        raise ValueError(f"safetensors.load_file: fastgrad runs on the CPU only; got device {device!r}")
    path = _fspath(filename)
    if path is None:
        raise TypeError(f"safetensors.load_file: filename must be a path, got {type(filename).__name__}")
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        buf = np.empty(size, dtype=np.uint8)        # no zero-fill: readinto writes every byte
        got = fh.readinto(memoryview(buf))
    if got != size:
        raise _bad(repr(path), f"read {got} of {size} bytes")
    entries, start, _ = _parse(repr(path), buf)
    return _build(entries, buf, start)


def metadata(filename):
    """The ``__metadata__`` dict of a safetensors file (None when it has none)."""
    path = _fspath(filename)
    with open(path, "rb") as fh:
        head = fh.read(_U64.size)
        if len(head) < _U64.size:
            raise _bad(repr(path), "too short for a safetensors header")
        (n,) = _U64.unpack(head)
        size = os.fstat(fh.fileno()).st_size
        if n > MAX_HEADER_BYTES or _U64.size + n > size:
            raise _bad(repr(path), f"header length {n} does not fit the file of {size} bytes")
        raw = head + fh.read(n)
    try:
        header = json.loads(raw[_U64.size:].decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError) as e:
        raise _bad(repr(path), f"unreadable header ({e})") from None
    if type(header) is not dict:
        raise _bad(repr(path), "the header is not a JSON object")
    return header.get("__metadata__")
