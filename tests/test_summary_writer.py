"""fastgrad.utils.tensorboard.SummaryWriter: event files TensorBoard reads, checked by decoding
them here (TFRecord framing with CRC-32C, Event protocol buffers) and, where the tensorboard
package is installed, with its own reader."""
import os
import struct

import pytest

import fastgrad as fg
from fastgrad.utils.tensorboard import SummaryWriter, crc32c


def _masked(c):
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _records(path):
    data = open(path, "rb").read()
    out, i = [], 0
    while i < len(data):
        n, = struct.unpack_from("<Q", data, i)
        assert struct.unpack_from("<I", data, i + 8)[0] == _masked(crc32c(data[i:i + 8]))
        payload = data[i + 12:i + 12 + n]
        assert struct.unpack_from("<I", data, i + 12 + n)[0] == _masked(crc32c(payload))
        out.append(payload)
        i += 16 + n
    return out


def _varint(b, i):
    v = s = 0
    while True:
        x = b[i]
        i += 1
        v |= (x & 0x7F) << s
        s += 7
        if not x & 0x80:
            return v, i


def _fields(b):
    i, out = 0, []
    while i < len(b):
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v = struct.unpack_from("<d", b, i)[0]
            i += 8
        elif wt == 5:
            v = struct.unpack_from("<f", b, i)[0]
            i += 4
        else:
            n, i = _varint(b, i)
            v = b[i:i + n]
            i += n
        out.append((num, v))
    return out


def _scalars(path):
    got = []
    for rec in _records(path):
        f = dict(_fields(rec))
        if 5 in f:
            for num, value in _fields(f[5]):
                v = dict(_fields(value))
                got.append((v[1].decode(), f.get(2, 0), pytest.approx(v[2])))
    return got


def _event_files(d):
    return sorted(os.path.join(d, n) for n in os.listdir(d) if n.startswith("events.out.tfevents."))


def test_crc32c_check_value():
    assert crc32c(b"123456789") == 0xE3069283


def test_scalars_are_written_as_tensorboard_events(tmp_path):
    with SummaryWriter(log_dir=str(tmp_path)) as w:
        w.add_scalar("Loss/train", 2.5, 0)
        w.add_scalar("Loss/train", fg.tensor(1.25), 10)
        w.add_scalar("lr", 1e-3, global_step=10)
        w.add_scalars("acc", {"train": 0.5, "test": 0.25}, 3)
    path, = _event_files(tmp_path)
    first = dict(_fields(_records(path)[0]))
    assert first[3] == b"brain.Event:2"
    assert _scalars(path) == [("Loss/train", 0, 2.5), ("Loss/train", 10, 1.25), ("lr", 10, 1e-3)]
    sub, = _event_files(tmp_path / "acc_train")
    assert _scalars(sub) == [("acc", 3, 0.5)]
    assert w.get_logdir() == str(tmp_path)


def test_errors(tmp_path):
    w = SummaryWriter(str(tmp_path))
    with pytest.raises(ValueError, match="one element"):
        w.add_scalar("x", fg.ones(3), 0)
    with pytest.raises(TypeError, match="scalar_value"):
        w.add_scalar("x", "high", 0)
    with pytest.raises(NotImplementedError, match="add_histogram"):
        w.add_histogram("h", fg.ones(3), 0)
    w.close()
    with pytest.raises(RuntimeError, match="closed"):
        w.add_scalar("x", 1.0, 0)


def test_tensorboard_reads_the_files(tmp_path):
    acc = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    w = SummaryWriter(str(tmp_path))
    for step in range(5):
        w.add_scalar("loss", 1.0 / (step + 1), step)
    w.close()
    ea = acc.EventAccumulator(str(tmp_path))
    ea.Reload()
    assert [(e.step, round(e.value, 6)) for e in ea.Scalars("loss")] == \
        [(s, round(1.0 / (s + 1), 6)) for s in range(5)]
