"""fastgrad.serialization: pickle-free checkpoints (save/load)."""
import collections
import io
import json
import math
import os
import pathlib
import pickle
import struct
import zipfile

import numpy as np
import pytest

import fastgrad as fg
from fastgrad import serialization
from fastgrad.serialization import CheckpointError, load, save


def assert_same(a, b, where="obj"):
    """Exact structural equality: types, keys (with their types), dtypes, shapes, bits."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, dict):
        assert list(a.keys()) == list(b.keys()), where
        for (ka, va), (kb, vb) in zip(a.items(), b.items()):
            assert type(ka) is type(kb), f"{where}: key {ka!r}"
            assert_same(va, vb, f"{where}[{ka!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, fg.Tensor):
        assert a.requires_grad == b.requires_grad, where
        assert_same(a.detach().numpy(), b.detach().numpy(), where)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {a.dtype}{a.shape} != {b.dtype}{b.shape}"
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), where
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    elif isinstance(a, float):
        assert a == b and math.copysign(1, a) == math.copysign(1, b), where
    else:
        assert a == b, where


def roundtrip(obj, tmp_path, name="ckpt.fg"):
    p = tmp_path / name
    save(obj, p)
    return load(p)


# ---- round trips ------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (5,), (2, 3, 4)])
def test_tensor_roundtrip_every_dtype_and_shape(tmp_path, dtype, shape):
    rng = np.random.default_rng(0)
    arr = np.asarray(rng.standard_normal(shape) * 100).astype(dtype)
    t = fg.from_numpy(arr)
    out = roundtrip({"t": t, "a": arr.copy()}, tmp_path)
    assert isinstance(out["t"], fg.Tensor) and isinstance(out["a"], np.ndarray)
    assert_same({"t": t, "a": arr}, out)
    assert out["t"].numpy().flags.writeable and out["t"].numpy().flags.c_contiguous


def test_special_float_values_and_extreme_ints(tmp_path):
    vals = np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, np.finfo(np.float64).max], np.float64)
    ints = np.array([np.iinfo(np.int64).min, -1, 0, np.iinfo(np.int64).max], np.int64)
    v32 = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4e38], np.float32)
    obj = {"f": fg.from_numpy(vals), "f32": fg.from_numpy(v32), "i": fg.from_numpy(ints),
           "py": [float("nan"), float("inf"), -float("inf"), -0.0, 0.1, 1e300, 2 ** 80, -(2 ** 70)]}
    assert_same(obj, roundtrip(obj, tmp_path))


def test_optimizer_state_dict_roundtrip_exact(tmp_path):
    obj = {"state": {0: {"exp_avg": fg.randn(3, 4), "exp_avg_sq": fg.rand(3, 4), "step": 3},
                     1: {"exp_avg": fg.randn(4), "exp_avg_sq": fg.rand(4), "step": 3}},
           "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0,
                             "amsgrad": False, "foreach": None, "params": [0, 1]}]}
    out = roundtrip(obj, tmp_path)
    assert_same(obj, out)
    assert type(next(iter(out["state"]))) is int
    assert type(out["param_groups"][0]["betas"]) is tuple


def test_model_state_dict_and_misc_types(tmp_path):
    sd = collections.OrderedDict([("fc1.weight", fg.randn(8, 4, requires_grad=True)),
                                  ("fc1.bias", fg.zeros(8, requires_grad=True)),
                                  ("bn.num_batches_tracked", fg.tensor(7))])
    obj = {"model": sd, "epoch": 12, "best": 0.875, "name": "run-é✓", "blob": b"\x00\xff",
           "none": None, "flags": (True, False), "np": [np.float32(1.5), np.int64(-3), np.bool_(True)],
           (1, "a"): "tuple key", 2.5: "float key", None: "none key", True: "bool key",
           "empty": {}, "empty_list": [], "empty_tuple": (), "nested": [[[{"x": [1, (2, [3])]}]]],
           "f64": np.arange(6, dtype=np.float64).reshape(2, 3).T,          # non-contiguous
           "be": np.arange(3, dtype=">f4"), "u8": np.arange(5, dtype=np.uint8),
           "c": np.array([1 + 2j], np.complex64)}
    out = roundtrip(obj, tmp_path)
    assert type(out["model"]) is collections.OrderedDict
    assert out["model"]["fc1.weight"].requires_grad and out["model"]["fc1.weight"].grad is None
    assert out["model"]["fc1.weight"].is_leaf
    want = dict(obj, f64=np.ascontiguousarray(obj["f64"]))
    assert_same(want, out)


def test_shared_objects_stay_shared(tmp_path):
    w = fg.randn(3)
    a = np.ones(2)
    out = roundtrip({"a": w, "b": [w], "c": a, "d": a}, tmp_path)
    assert out["a"] is out["b"][0]
    assert out["c"] is out["d"]


def test_pathlike_str_and_file_objects(tmp_path):
    obj = {"w": fg.randn(2, 2), "n": 1}
    save(obj, str(tmp_path / "s.fg"))
    assert_same(obj, load(str(tmp_path / "s.fg")))
    save(obj, pathlib.Path(tmp_path / "p.fg"))
    assert_same(obj, load(pathlib.Path(tmp_path / "p.fg"), weights_only=True, map_location="cpu"))
    buf = io.BytesIO()
    save(obj, buf)
    buf.seek(0)
    assert_same(obj, load(buf))
    with open(tmp_path / "f.fg", "wb") as f:
        save(obj, f)
    with open(tmp_path / "f.fg", "rb") as f:
        assert_same(obj, load(f))
    with open(tmp_path / "t.txt", "w") as f, pytest.raises(TypeError, match="binary"):
        save(obj, f)
    with pytest.raises(TypeError, match="path or a binary file"):
        save(obj, 42)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save(obj, tmp_path / "no" / "such" / "dir.fg")
    with pytest.raises(ValueError, match="map_location"):
        load(tmp_path / "s.fg", map_location="cuda")


def test_same_object_saves_identical_bytes(tmp_path):
    obj = {"w": fg.from_numpy(np.arange(10, dtype=np.float32)), "k": [1, 2.0, "x"]}
    save(obj, tmp_path / "a.fg")
    save(obj, tmp_path / "b.fg")
    assert (tmp_path / "a.fg").read_bytes() == (tmp_path / "b.fg").read_bytes()


# ---- unsupported objects -----------------------------------------------------------------------
@pytest.mark.parametrize("obj,where", [
    ({"a": {"b": [1, type("Unnamed", (), {})()]}}, r"obj\['a'\]\['b'\]\[1\]"),
    ({"fn": lambda x: x}, r"obj\['fn'\]"),
    ([{1, 2j}], r"obj\[0\]"),
    ({"arr": np.array(["s"])}, r"obj\['arr'\]"),
    ({"arr": np.array([None], dtype=object)}, r"obj\['arr'\]"),
    ({"nt": collections.namedtuple("P", "x")(1)}, r"obj\['nt'\]"),
])
def test_unsupported_objects_raise_type_error_with_key_path(tmp_path, obj, where):
    p = tmp_path / "x.fg"
    with pytest.raises(TypeError, match=r"save: .*" + where):
        save(obj, p)
    assert not p.exists() and os.listdir(tmp_path) == []


def test_unsupported_key_and_cycle(tmp_path):
    with pytest.raises(TypeError, match="dict key"):
        save({frozenset(): 1}, tmp_path / "x.fg")
    cyc = []
    cyc.append(cyc)
    with pytest.raises(ValueError, match="circular"):
        save({"c": cyc}, tmp_path / "x.fg")
    deep = []
    for _ in range(2000):
        deep = [deep]
    with pytest.raises(ValueError, match="nest"):
        save(deep, tmp_path / "x.fg")


# ---- atomicity --------------------------------------------------------------------------------
def test_crash_midway_keeps_previous_checkpoint_and_leaves_no_temp_file(tmp_path, monkeypatch):
    p = tmp_path / "model.fg"
    old = {"w": fg.from_numpy(np.arange(1000, dtype=np.float32))}
    save(old, p)
    before = p.read_bytes()

    real = serialization._write_chunks

    def crashing(f, chunks):
        f.write(b"partial data " * 1000)
        f.flush()
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(serialization, "_write_chunks", crashing)
    with pytest.raises(OSError, match="simulated"):
        save({"w": fg.zeros(5000)}, p)
    assert p.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.fg"]
    assert_same(old, load(p))

    def interrupted(f, chunks):
        real(f, chunks[:2])
        raise KeyboardInterrupt

    monkeypatch.setattr(serialization, "_write_chunks", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save({"w": fg.zeros(5000)}, p)
    assert p.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["model.fg"]

    def crash_on_replace(src, dst):
        raise OSError("rename failed (simulated)")

    monkeypatch.setattr(serialization, "_write_chunks", real)
    monkeypatch.setattr(serialization.os, "replace", crash_on_replace)
    with pytest.raises(OSError, match="rename failed"):
        save({"w": fg.zeros(5000)}, p)
    assert p.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["model.fg"]


def test_save_fsyncs_before_replace(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(serialization.os, "fsync", lambda fd: events.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(serialization.os, "replace", lambda a, b: events.append("replace") or real_replace(a, b))
    save({"a": 1}, tmp_path / "x.fg")
    assert events.index("fsync") < events.index("replace")


def test_save_over_existing_file_replaces_it(tmp_path):
    p = tmp_path / "x.fg"
    save({"v": 1}, p)
    save({"v": 2}, p)
    assert load(p) == {"v": 2}
    assert os.listdir(tmp_path) == ["x.fg"]


# ---- damaged and foreign files -----------------------------------------------------------------
def _good_bytes(tmp_path):
    p = tmp_path / "good.fg"
    save({"w": fg.from_numpy(np.arange(300, dtype=np.float32)), "meta": {"epoch": 3, "lr": 0.01}}, p)
    return p.read_bytes()


@pytest.mark.parametrize("frac", [0.0, 0.001, 0.01, 0.05, 0.2, 0.5, 0.9, 0.99, "minus1", "minus40"])
def test_truncated_files_are_rejected(tmp_path, frac):
    good = _good_bytes(tmp_path)
    cut = len(good) - int(frac[5:]) if isinstance(frac, str) else int(len(good) * frac)
    p = tmp_path / "cut.fg"
    p.write_bytes(good[:cut])
    with pytest.raises(CheckpointError, match="cut.fg") as e:
        load(p)
    assert isinstance(e.value, RuntimeError)
    if cut:
        assert "truncated" in str(e.value) or "corrupted" in str(e.value)


def test_every_flipped_byte_is_detected(tmp_path):
    good = _good_bytes(tmp_path)
    p = tmp_path / "flip.fg"
    rng = np.random.default_rng(0)
    positions = sorted(set(rng.integers(0, len(good), 60).tolist()) | {0, 9, 20, 30, 100, len(good) - 1,
                                                                       len(good) - 20})
    for pos in positions:
        bad = bytearray(good)
        bad[pos] ^= 1 << int(rng.integers(0, 8))
        p.write_bytes(bytes(bad))
        with pytest.raises(CheckpointError, match="flip.fg"):
            load(p)


def test_appended_garbage_is_rejected(tmp_path):
    p = tmp_path / "x.fg"
    p.write_bytes(_good_bytes(tmp_path) + b"\0")
    with pytest.raises(CheckpointError):
        load(p)


def test_pickle_file_is_rejected_without_unpickling(tmp_path, monkeypatch):
    class Boom:
        def __reduce__(self):
            return (os.system, ("echo should-never-run",))

    p = tmp_path / "evil.pt"
    p.write_bytes(pickle.dumps({"w": Boom()}))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("pickle.loads called"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("pickle.load called"))
    monkeypatch.setattr(pickle, "Unpickler", lambda *a, **k: pytest.fail("Unpickler used"))
    with pytest.raises(CheckpointError, match="pickle"):
        load(p)


def test_no_pickle_in_the_module():
    import inspect
    src = inspect.getsource(serialization)
    assert "import pickle" not in src and "allow_pickle=True" not in src


@pytest.mark.parametrize("kind", ["zip", "npz", "npy", "text", "empty", "random"])
def test_foreign_files_are_rejected(tmp_path, kind):
    p = tmp_path / f"foreign.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("data.json", "{}")
    elif kind == "npz":
        np.savez(p, a=np.zeros(3))
    elif kind == "npy":
        np.save(p, np.zeros(3))
    elif kind == "text":
        p.write_text("hello, this is not a checkpoint\n" * 10)
    elif kind == "empty":
        p.write_bytes(b"")
    else:
        p.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError, match="not a fastgrad checkpoint") as e:
        load(p)
    assert p.name in str(e.value)
    if kind in ("zip", "npz"):
        assert "zip" in str(e.value)


def _rewrite(good, edit_header=None, version=None):
    """Rebuild a checkpoint with an edited header or version and a valid checksum, as a
    crafted (not randomly damaged) file would be."""
    import hashlib
    magic, ver, res, hlen = serialization._PREFIX.unpack_from(good)
    header = json.loads(good[serialization._PREFIX.size:serialization._PREFIX.size + hlen])
    start = serialization._PREFIX.size + hlen
    data = good[start + (-start) % 64:-serialization._TRAILER]
    if edit_header:
        edit_header(header)
    hb = json.dumps(header).encode()
    head = serialization._PREFIX.pack(magic, ver if version is None else version, res, len(hb)) + hb
    body = head + b"\0" * ((-len(head)) % 64) + data
    return body + hashlib.sha256(body).digest() + serialization.END


def test_version_mismatch(tmp_path):
    good = _good_bytes(tmp_path)
    p = tmp_path / "v.fg"
    p.write_bytes(_rewrite(good, version=2))
    with pytest.raises(CheckpointError, match=r"v\.fg.*version 2.*reads version 1"):
        load(p)
    p.write_bytes(_rewrite(good))          # the rewriting itself is faithful
    assert load(p)["meta"] == {"epoch": 3, "lr": 0.01}


@pytest.mark.parametrize("edit,msg", [
    (lambda h: h["arrays"][0].update(dtype="|O"), "dtype"),
    (lambda h: h["arrays"][0].update(shape=[10 ** 6]), "does not fit"),
    (lambda h: h["arrays"][0].update(offset=-64), "does not fit"),
    (lambda h: h["tree"]["v"].__setitem__(0, {"$": "tensor", "i": 5}), "out of range"),
    (lambda h: h["tree"]["v"].__setitem__(0, {"$": "pickle", "v": "x"}), "unknown node"),
    (lambda h: h.update(data_bytes=1), "data section"),
    (lambda h: h.update(format="other"), "invalid header"),
])
def test_crafted_headers_are_rejected(tmp_path, edit, msg):
    p = tmp_path / "crafted.fg"
    p.write_bytes(_rewrite(_good_bytes(tmp_path), edit_header=edit))
    with pytest.raises(CheckpointError, match=msg):
        load(p)


def test_file_layout_has_marker_version_and_checksum(tmp_path):
    good = _good_bytes(tmp_path)
    magic, ver, _, hlen = struct.unpack_from("<8sIIQ", good)
    assert magic == serialization.MAGIC and ver == serialization.FORMAT_VERSION == 1
    assert good.endswith(serialization.END)
    import hashlib
    assert hashlib.sha256(good[:-40]).digest() == good[-40:-8]


# ---- loading never runs code; fuzzed and crafted files; killed saves ----------------
def test_npz_with_object_array_is_rejected_without_unpickling(tmp_path, monkeypatch):
    class Boom:
        def __reduce__(self):
            return (os.system, ("echo should-never-run",))

    p = tmp_path / "evil.npz"
    np.savez(p, a=np.array([Boom()], dtype=object))
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("pickle.loads called"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("pickle.load called"))
    with pytest.raises(CheckpointError, match="zip"):
        load(p)


def test_bytes_in_a_checkpoint_stay_bytes_even_if_they_are_a_pickle(tmp_path, monkeypatch):
    payload = pickle.dumps({"x": 1})
    p = tmp_path / "b.fg"
    save({"blob": payload}, p)
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("pickle.loads called"))
    assert load(p) == {"blob": payload}


@pytest.mark.parametrize("dtype", ["|O", "O", "V8", "|V4", "<U3", "|S4", "M8[s]", "m8[s]",
                                   [["a", "<f8"]], [["a", "|O"]], "(2,)<f8", "object", "f8x",
                                   12, None, {"names": ["a"], "formats": ["O"]}])
def test_crafted_dtypes_are_rejected(tmp_path, dtype):
    p = tmp_path / "dt.fg"
    p.write_bytes(_rewrite(_good_bytes(tmp_path), edit_header=lambda h: h["arrays"][0].update(dtype=dtype)))
    with pytest.raises(CheckpointError):
        load(p)


def _load_bytes(b):
    """load() of raw bytes: a CheckpointError or a value, never anything else."""
    try:
        return load(io.BytesIO(b))
    except CheckpointError as e:
        assert str(e).startswith("load: "), str(e)
        return e


def test_fuzz_random_bytes_are_rejected():
    from hypothesis import given, settings, strategies as st

    @settings(max_examples=200, deadline=None, database=None, derandomize=True)
    @given(st.binary(max_size=600), st.booleans())
    def run(b, with_magic):
        if with_magic:
            b = serialization.MAGIC + b
        assert isinstance(_load_bytes(b), CheckpointError)
    run()


def test_fuzz_damaged_checkpoints_with_valid_checksum(tmp_path):
    """Random edits of a real checkpoint, re-sealed with a correct checksum (as an attacker
    would): load must return a value or raise CheckpointError, never crash or raise
    anything else."""
    import hashlib

    from hypothesis import given, settings, strategies as st
    good = _good_bytes(tmp_path)
    body = good[:-serialization._TRAILER]

    @settings(max_examples=200, deadline=None, database=None, derandomize=True)
    @given(st.lists(st.tuples(st.integers(0, len(body) - 1), st.integers(0, 255)), min_size=1, max_size=8),
           st.integers(0, len(body)))
    def run(edits, cut):
        b = bytearray(body[:max(cut, serialization._PREFIX.size)])
        for pos, val in edits:
            if pos < len(b):
                b[pos] = val
        b = bytes(b)
        _load_bytes(b + hashlib.sha256(b).digest() + serialization.END)
    run()


def _json_values():
    from hypothesis import strategies as st
    leaf = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=False),
                     st.text(max_size=8), st.sampled_from(["tensor", "ndarray", "npscalar", "dict", "odict",
                                                           "list", "tuple", "float", "bytes", "<f4", "|O"]))
    return st.recursive(leaf, lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["$", "i", "v", "k", "rg", "dtype", "shape", "offset", "nbytes"]),
                        inner, max_size=5)), max_leaves=25)


def test_fuzz_crafted_headers(tmp_path):
    """Random JSON trees and array descriptions in a correctly sealed file."""
    from hypothesis import given, settings, strategies as st
    good = _good_bytes(tmp_path)

    @settings(max_examples=200, deadline=None, database=None, derandomize=True)
    @given(_json_values(), st.one_of(st.none(), st.lists(_json_values(), max_size=3)))
    def run(tree, arrays):
        def edit(h):
            h["tree"] = tree
            if arrays is not None:
                h["arrays"] = arrays
        _load_bytes(_rewrite(good, edit_header=edit))
    run()


_KILL_WRITER = r"""
import sys, numpy as np
from fastgrad.serialization import save
path = sys.argv[1]
big = {"w": np.full(4_000_000, 2.0, np.float32), "step": 2}
print("ready", flush=True)
while True:
    save(big, path)
"""


def test_save_killed_midway_leaves_a_complete_checkpoint(tmp_path):
    """SIGKILL a process that keeps saving over a checkpoint: whenever it dies, the path
    holds either the previous or the new checkpoint, complete and loadable."""
    import signal
    import subprocess
    import sys
    import time
    p = tmp_path / "ckpt.fg"
    save({"w": np.full(10, 1.0, np.float32), "step": 1}, p)
    env = dict(os.environ)
    paths = [os.path.dirname(os.path.dirname(fg.__file__)), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(x for x in paths if x)
    for delay in (0.05, 0.2, 0.4):
        proc = subprocess.Popen([sys.executable, "-c", _KILL_WRITER, str(p)], stdout=subprocess.PIPE, env=env)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        got = load(p)
        assert got["step"] in (1, 2)
        want = 1.0 if got["step"] == 1 else 2.0
        assert np.all(got["w"] == want) and got["w"].size == (10 if got["step"] == 1 else 4_000_000)
    # temporary files of killed writers may remain (nothing can remove them after SIGKILL),
    # but they are hidden dot-files and never the checkpoint itself
    assert all(n == "ckpt.fg" or n.startswith(".ckpt.fg.") for n in os.listdir(tmp_path))


# ---- crafted headers with a valid checksum name the file and the field; depth limit ----------
def _crafted(tmp_path, edit):
    p = tmp_path / "crafted.fg"
    p.write_bytes(_rewrite(_good_bytes(tmp_path), edit_header=edit))
    return p


def _set(**kw):
    return lambda h: h["arrays"][0].update(**kw)


@pytest.mark.parametrize("edit,field", [
    (_set(shape=[1] * 65, nbytes=4), r"arrays\[0\]\.shape: 65 dimensions"),
    (_set(shape=[1] * 200, nbytes=4), r"arrays\[0\]\.shape: 200 dimensions"),
    (_set(shape=[0, 2 ** 63], nbytes=0), r"arrays\[0\]\.shape"),
    (_set(shape=[0, 2 ** 62, 4], nbytes=0), r"arrays\[0\]\.shape: .*too large"),
    (_set(shape=[2 ** 40, 0, 2 ** 40], nbytes=0), r"arrays\[0\]\.shape: .*too large"),
    (_set(shape=[-300], nbytes=-1200), r"arrays\[0\]\.shape: invalid dimension -300"),
    (_set(shape=[-1, -300]), r"arrays\[0\]\.shape: invalid dimension -1"),
    (_set(shape=[300.0]), r"arrays\[0\]\.shape: invalid dimension 300\.0"),
    (_set(shape=[True, 300]), r"arrays\[0\]\.shape: invalid dimension True"),
    (_set(shape="300"), r"arrays\[0\]\.shape"),
    (_set(shape=None), r"arrays\[0\]\.shape"),
    (_set(dtype="float32"), r"arrays\[0\]\.dtype: disallowed dtype 'float32'"),
    (_set(dtype="f4"), r"arrays\[0\]\.dtype"),
    (_set(dtype="<M8[ns]"), r"arrays\[0\]\.dtype"),
    (_set(dtype="<U1"), r"arrays\[0\]\.dtype"),
    (_set(dtype="V4"), r"arrays\[0\]\.dtype"),
    (_set(dtype=["<f4"]), r"arrays\[0\]\.dtype"),
    (_set(offset=2 ** 70), r"arrays\[0\].*does not fit"),
    (_set(offset="0"), r"arrays\[0\]\.offset"),
    (_set(nbytes=None), r"arrays\[0\]\.nbytes"),
    (lambda h: h["arrays"].__setitem__(0, [1, 2]), r"arrays\[0\]: expected an object"),
    (lambda h: h["tree"]["v"].__setitem__(0, {"$": "int", "v": "zz!"}), "invalid int"),
])
def test_crafted_header_fields_raise_checkpoint_error_naming_file_and_field(tmp_path, edit, field):
    p = _crafted(tmp_path, edit)
    with pytest.raises(CheckpointError, match=r"crafted\.fg.*" + field):
        load(p)


def _nested(depth, kind):
    obj = 1
    for _ in range(depth):
        obj = {"k": obj} if kind == "dict" else [obj] if kind == "list" else (obj,)
    return obj


def _call_at_depth(frames, fn):
    """fn() called from `frames` nested Python frames (as from deep inside an application)."""
    def down(n):
        return fn() if n == 0 else down(n - 1)
    return down(frames)


@pytest.mark.parametrize("kind", ["dict", "list", "tuple"])
def test_save_accepts_exactly_the_depth_load_reads_from_any_call_depth(tmp_path, kind):
    p = tmp_path / "deep.fg"
    limit = serialization.MAX_DEPTH
    deepest = _nested(limit, kind)
    save(deepest, p)
    out = _call_at_depth(600, lambda: load(p))       # 600 frames deep: load still works
    assert_same(deepest, out)
    for depth in (limit + 1, 497, 5000):
        with pytest.raises(ValueError, match=f"nesting deeper than {limit} levels"):
            save(_nested(depth, kind), tmp_path / "too_deep.fg")
    assert sorted(os.listdir(tmp_path)) == ["deep.fg"]


def test_tuple_dict_keys_count_toward_the_depth(tmp_path):
    key = _nested(serialization.MAX_DEPTH + 5, "tuple")
    with pytest.raises(ValueError, match="nesting deeper.*tuple dict key"):
        save({key: 1}, tmp_path / "k.fg")
    ok = _nested(serialization.MAX_DEPTH - 2, "tuple")
    assert_same({ok: 1}, roundtrip({ok: 1}, tmp_path))


def test_crafted_deep_tree_is_a_checkpoint_error(tmp_path):
    deep = 1
    for _ in range(serialization.MAX_DEPTH + 1):
        deep = {"$": "list", "v": [deep]}
    p = _crafted(tmp_path, lambda h: h["tree"]["v"].__setitem__(0, deep))
    with pytest.raises(CheckpointError, match=r"crafted\.fg.*nested deeper than"):
        _call_at_depth(600, lambda: load(p))


def test_huge_ints_roundtrip(tmp_path):
    big = 7 ** 20000                     # more digits than Python converts to a decimal str
    obj = {"big": big, "neg": -big, big: [-(2 ** 3000)]}
    out = roundtrip(obj, tmp_path)
    assert out == obj and list(out) == list(obj)


def test_every_dtype_save_accepts_loads(tmp_path):
    arrays = {np.dtype(c).name + o: np.arange(3).astype(np.dtype(c).newbyteorder(o))
              for c in "?" + np.typecodes["AllInteger"] + np.typecodes["AllFloat"] for o in "<>"}
    assert_same(arrays, roundtrip(arrays, tmp_path))


class _RaisesMidSave:
    """A file system operation that fails after the temporary file exists."""
    def __init__(self, exc):
        self.exc = exc

    def __call__(self, *a, **k):
        raise self.exc


@pytest.mark.parametrize("where", ["fdopen", "fsync", "write"])
@pytest.mark.parametrize("exc", [OSError("simulated"), KeyboardInterrupt(), SystemExit(3)])
def test_interrupted_save_leaves_no_temporary_file(tmp_path, monkeypatch, where, exc):
    p = tmp_path / "m.fg"
    save({"w": np.ones(3)}, p)
    before = p.read_bytes()
    if where == "write":      # the checksum object raises while the data is being written
        monkeypatch.setattr(serialization.hashlib, "sha256", lambda: _Hash(exc))
    else:
        monkeypatch.setattr(serialization.os, where, _RaisesMidSave(exc))
    with pytest.raises(type(exc)):
        save({"w": np.zeros(3)}, p)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["m.fg"] and p.read_bytes() == before


class _Hash:
    """A checksum that raises on its third chunk of data (mid-write)."""
    def __init__(self, exc):
        self.exc, self.n = exc, 0

    def update(self, c):
        self.n += 1
        if self.n == 3:
            raise self.exc


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero on this system")
def test_loading_a_device_is_an_error_not_an_endless_read():
    with pytest.raises(CheckpointError, match="/dev/zero.*is a device"):
        load("/dev/zero")


def test_shared_containers_cannot_blow_up_a_save(tmp_path, monkeypatch):
    # 2**60 list references in 60 levels: refused after MAX_ITEMS items, not an endless save
    monkeypatch.setattr(serialization, "MAX_ITEMS", 10_000)
    obj = [1.0]
    for _ in range(60):
        obj = [obj, obj]
    with pytest.raises(ValueError, match="more than 10000 items"):
        save(obj, tmp_path / "big.fg")
    assert os.listdir(tmp_path) == []
    small = [1.0]
    for _ in range(8):
        small = [small, small]
    assert_same(small, roundtrip(small, tmp_path))
