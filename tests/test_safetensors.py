"""The safetensors format: round trips with fastgrad, the safetensors package and PyTorch,
and refusal of malformed files."""
import json
import os
import struct

import numpy as np
import pytest

import fastgrad as fg
import fastgrad.nn as nn
from fastgrad import safetensors as st
from fastgrad.serialization import CheckpointError

DTYPES = [np.float32, np.float64, np.int64, np.bool_]


def _sample(rng):
    out = {}
    for i, dt in enumerate(DTYPES):
        shape = [(), (0,), (3,), (2, 5), (2, 3, 4)][i % 5]
        a = rng.standard_normal(shape) * 10
        out[f"t{i}.{np.dtype(dt).name}"] = fg.from_numpy(np.asarray(a > 0 if dt is np.bool_ else a).astype(dt))
    out["empty"] = fg.zeros(0, 3)
    out["scalar"] = fg.tensor(2.5)
    return out


def _same(a, b):
    assert set(a) == set(b)
    for k in a:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        assert x.dtype == y.dtype and x.shape == y.shape, k
        np.testing.assert_array_equal(x, y)


def test_round_trip_file_and_bytes(tmp_path):
    rng = np.random.default_rng(0)
    tensors = _sample(rng)
    p = tmp_path / "x.safetensors"
    st.save_file(tensors, p, metadata={"format": "pt", "note": "fastgrad"})
    back = st.load_file(p)
    _same(tensors, back)
    assert all(isinstance(v, fg.Tensor) for v in back.values())
    assert st.metadata(p) == {"format": "pt", "note": "fastgrad"}
    _same(tensors, st.load(st.save(tensors)))
    # loaded tensors are writable and independent of the file
    back["t0.float32"].add_(1.0)
    np.testing.assert_array_equal(np.asarray(st.load_file(p)["t0.float32"]),
                                  np.asarray(tensors["t0.float32"]))


def test_fg_save_load_pick_the_format_from_the_suffix(tmp_path):
    fg.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    p = tmp_path / "model.safetensors"
    fg.save(m.state_dict(), p)
    with open(p, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
    assert set(header) == set(m.state_dict())
    m2 = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    m2.load_state_dict(fg.load(p))
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(force=True), b.numpy(force=True), err_msg=k)
    with pytest.raises(TypeError, match="flat dict"):
        fg.save([1, 2], tmp_path / "bad.safetensors")
    with pytest.raises(TypeError, match="Tensor or a numpy.ndarray"):
        fg.save({"a": {"nested": fg.ones(2)}}, tmp_path / "bad.safetensors")
    assert not os.path.exists(tmp_path / "bad.safetensors")


def test_non_contiguous_big_endian_and_shared_inputs(tmp_path):
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    be = np.arange(5, dtype=">f8")
    t = fg.from_numpy(base)
    tensors = {"strided": base[:, ::2], "t": fg.from_numpy(base.T.copy()), "be": be, "tied": t, "tied2": t}
    back = st.load(st.save(tensors))
    np.testing.assert_array_equal(np.asarray(back["strided"]), base[:, ::2])
    np.testing.assert_array_equal(np.asarray(back["be"]), be.astype("<f8"))
    assert np.asarray(back["be"]).dtype == np.float64
    back["tied"].mul_(0.0)           # tied weights load as independent tensors
    assert np.asarray(back["tied2"]).sum() == base.sum()


def test_bad_inputs_to_save(tmp_path):
    with pytest.raises(TypeError, match="keys must be str"):
        st.save({1: fg.ones(1)})
    with pytest.raises(TypeError, match="cannot store"):
        st.save({"c": np.ones(2, dtype=np.complex64)})
    with pytest.raises(TypeError, match="metadata"):
        st.save({"a": fg.ones(1)}, metadata={"k": 1})
    with pytest.raises(ValueError, match="reserved"):
        st.save({"__metadata__": fg.ones(1)})


def _file(header, data=b"", pad=True):
    raw = json.dumps(header).encode()
    if pad:
        raw += b" " * (-(len(raw) + 8) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


@pytest.mark.parametrize("blob, match", [
    (b"", "too short"),
    (struct.pack("<Q", 1 << 40) + b"{}", "does not fit"),
    (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
    (struct.pack("<Q", 3) + b"{x}", "unreadable header"),
    (_file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4), "data_offsets"),
    (_file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8), "cover"),
    (_file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4), "overlaps"),
    (_file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8), "gap"),
    (_file({"a": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8), "unsupported dtype"),
    (_file({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 0]}}), "invalid shape"),
    (_file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}, b"\0" * 4), "invalid data_offsets"),
    (_file({"a": {"dtype": "F32", "shape": [1]}}, b"\0" * 4), "exactly dtype"),
    (_file({"__metadata__": {"k": 1}}), "__metadata__"),
    (struct.pack("<Q", 2 * 64) + (b'{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},'
                                  b'"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}').ljust(128), "duplicate"),
])
def test_malformed_files_are_refused(tmp_path, blob, match):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(blob)
    with pytest.raises(CheckpointError, match=match):
        st.load_file(p)
    with pytest.raises(CheckpointError, match=match):
        fg.load(p)


def test_bf16_loads_as_float32():
    vals = np.array([1.0, -2.5, 3.140625, 0.0, np.inf], dtype=np.float32)
    bits = (vals.view(np.uint32) >> 16).astype("<u2")
    blob = _file({"w": {"dtype": "BF16", "shape": [5], "data_offsets": [0, 10]}}, bits.tobytes())
    out = st.load(blob)["w"]
    assert np.asarray(out).dtype == np.float32
    np.testing.assert_array_equal(np.asarray(out), vals)


def test_interop_with_the_safetensors_package(tmp_path):
    sn = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(1)
    arrays = {"w": rng.standard_normal((3, 4)).astype(np.float32), "b": rng.standard_normal(4),
              "i": np.arange(6, dtype=np.int64).reshape(2, 3), "m": np.array([True, False])}
    p = tmp_path / "theirs.safetensors"
    sn.save_file(arrays, str(p), metadata={"k": "v"})
    ours = st.load_file(p)
    assert st.metadata(p) == {"k": "v"}
    _same({k: fg.from_numpy(v) for k, v in arrays.items()}, ours)
    q = tmp_path / "ours.safetensors"
    st.save_file(ours, q, metadata={"a": "b"})
    theirs = sn.load_file(str(q))
    for k, v in arrays.items():
        assert theirs[k].dtype == v.dtype
        np.testing.assert_array_equal(theirs[k], v)
    assert sn.load(st.save(ours)).keys() == arrays.keys()


def test_interop_with_pytorch_state_dicts(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("safetensors.torch")
    from safetensors.torch import load_file as torch_load_file, save_file as torch_save_file
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                             torch.nn.Linear(4 * 6 * 6, 5))
    p = tmp_path / "torch.safetensors"
    torch_save_file(tm.state_dict(), str(p))
    fm = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 5))
    fm.load_state_dict(fg.load(p))
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8)).astype(np.float32)
    tm.eval()
    fm.eval()
    with torch.no_grad():
        want = tm(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(fm(fg.from_numpy(x)).numpy(force=True), want, rtol=1e-5, atol=1e-5)
    q = tmp_path / "fg.safetensors"
    fg.save(fm.state_dict(), q)
    back = torch_load_file(str(q))
    for k, v in tm.state_dict().items():
        assert back[k].dtype == v.dtype, k
        assert torch.equal(back[k], v), k
