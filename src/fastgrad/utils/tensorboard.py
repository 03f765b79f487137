"""``SummaryWriter`` for scalar logs that TensorBoard reads (``torch.utils.tensorboard``'s
names), written without the ``tensorboard`` package.

Supported: ``add_scalar``, ``add_scalars``, ``flush``, ``close`` and use as a context manager.
The other ``add_*`` methods of PyTorch's writer (images, histograms, graphs, embeddings,
hparams) raise NotImplementedError.

Files are TensorBoard event files: TFRecord framing (length, masked CRC-32C, payload, masked
CRC-32C) around ``Event`` protocol buffers, encoded here by hand (only the fields scalars use:
wall_time, step, file_version and a summary of (tag, simple_value) pairs).
"""
import os
import socket
import struct
import time
from datetime import datetime

from fastgrad._tensor import Tensor

__all__ = ["SummaryWriter"]


# ---- CRC-32C (Castagnoli), as TFRecord frames use it ---------------------------------------------
def _crc_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _masked_crc(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _record(payload):
    n = struct.pack("<Q", len(payload))
    return n + struct.pack("<I", _masked_crc(n)) + payload + struct.pack("<I", _masked_crc(payload))


# ---- protocol buffer encoding of Event ------------------------------------------------------------
def _varint(v):
    out = bytearray()
    v &= (1 << 64) - 1
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field_bytes(num, data):
    return _varint((num << 3) | 2) + _varint(len(data)) + data


def _event(wall_time, step=None, file_version=None, scalars=()):
    out = struct.pack("<Bd", (1 << 3) | 1, wall_time)
    if step is not None:
        out += _varint((2 << 3) | 0) + _varint(int(step))
    if file_version is not None:
        out += _field_bytes(3, file_version.encode())
    if scalars:
        values = b"".join(_field_bytes(1, _field_bytes(1, tag.encode()) + struct.pack("<Bf", (2 << 3) | 5, v))
                          for tag, v in scalars)
        out += _field_bytes(5, values)
    return out


def _scalar(value, who):
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{who}: scalar_value must hold one element, got a tensor of shape "
                             f"{tuple(value.shape)}")
        value = value.item()
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{who}: scalar_value must be a number or a one-element Tensor, got "
                        f"{type(value).__name__}") from None


class _EventFile:
    def __init__(self, log_dir, filename_suffix=""):
        os.makedirs(log_dir, exist_ok=True)
        name = (f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}."
                f"{id(self) % 100000}{filename_suffix}")
        self.path = os.path.join(log_dir, name)
        self.f = open(self.path, "wb")  # noqa: SIM115 - kept open for the writer's life
        self.write(_event(time.time(), step=0, file_version="brain.Event:2"))
        self.f.flush()

    def write(self, payload):
        self.f.write(_record(payload))

    def flush(self):
        if not self.f.closed:
            self.f.flush()

    def close(self):
        if not self.f.closed:
            self.f.close()


class SummaryWriter:
    """Writes scalars to a TensorBoard event file in ``log_dir`` (default
    ``runs/<date>_<host><comment>``), as ``torch.utils.tensorboard.SummaryWriter`` does."""

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120,
                 filename_suffix=""):
        if log_dir is None:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = str(log_dir)
        self.purge_step = purge_step
        self.max_queue, self.flush_secs = int(max_queue), float(flush_secs)
        self.filename_suffix = filename_suffix
        self._file = _EventFile(self.log_dir, filename_suffix)
        self._children = {}
        self._pending = 0
        self._last_flush = time.monotonic()

    def get_logdir(self):
        return self.log_dir

    def _write(self, payload):
        if self._file is None:
            raise RuntimeError("SummaryWriter: the writer is closed")
        self._file.write(payload)
        self._pending += 1
        if self._pending >= self.max_queue or time.monotonic() - self._last_flush >= self.flush_secs:
            self.flush()

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False,
                   double_precision=False):
        """Log ``scalar_value`` (a number or one-element Tensor) under ``tag`` at ``global_step``."""
        if not isinstance(tag, str):
            raise TypeError(f"SummaryWriter.add_scalar: tag must be a str, got {type(tag).__name__}")
        v = _scalar(scalar_value, "SummaryWriter.add_scalar")
        self._write(_event(time.time() if walltime is None else float(walltime), step=global_step,
                           scalars=[(tag, v)]))

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Log several scalars as one chart: each ``tag`` goes to its own run directory
        ``<log_dir>/<main_tag>_<tag>`` under ``main_tag``."""
        wall = time.time() if walltime is None else float(walltime)
        for tag, value in tag_scalar_dict.items():
            sub = os.path.join(self.log_dir, f"{main_tag.replace('/', '_')}_{tag}")
            f = self._children.get(sub)
            if f is None:
                f = self._children[sub] = _EventFile(sub, self.filename_suffix)
            f.write(_event(wall, step=global_step,
                           scalars=[(main_tag, _scalar(value, "SummaryWriter.add_scalars"))]))
        self.flush()

    def flush(self):
        if self._file is not None:
            self._file.flush()
        for f in self._children.values():
            f.flush()
        self._pending = 0
        self._last_flush = time.monotonic()

    def close(self):
        if self._file is None:
            return
        self.flush()
        self._file.close()
        for f in self._children.values():
            f.close()
        self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getattr__(self, name):
        if name.startswith("add_"):
            def unsupported(*args, **kwargs):
                raise NotImplementedError(f"SummaryWriter.{name}: fastgrad's SummaryWriter writes "
                                          "scalars only (add_scalar, add_scalars)")
            return unsupported
        raise AttributeError(f"'SummaryWriter' object has no attribute '{name}'")
