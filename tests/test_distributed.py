"""fastgrad.distributed, nn.parallel.DistributedDataParallel, data.DistributedSampler and
``fastgrad train --distributed``.

The multi-process checks run real jobs with ``mpirun -n 2 --oversubscribe`` (mpi4py and
an MPI runtime come with ``pip install "fastgrad[distributed]"``, also part of the
``test`` extra).  Each job runs a script under tests/mpi_scripts/ that bundles many
checks and prints one ``RESULT <json>`` line per rank; every job runs under a timeout,
so a hang fails the test instead of blocking the suite.
"""
import functools
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

import fastgrad as fg
import fastgrad.distributed as dist
from fastgrad.data import DataLoader, DistributedSampler, TensorDataset

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "mpi_scripts")


# ---- launching MPI jobs ----------------------------------------------------------------------------
def _find_mpirun():
    """mpirun/mpiexec next to this Python (a venv with fastgrad[distributed]), else on PATH."""
    here = os.path.dirname(sys.executable)
    for name in ("mpirun", "mpiexec"):
        p = os.path.join(here, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    for name in ("mpirun", "mpiexec"):
        p = shutil.which(name)
        if p:
            return p
    return None


MPIRUN = _find_mpirun()
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(
    not (MPIRUN and HAVE_MPI4PY),
    reason="no MPI runtime: mpi4py " + ("found" if HAVE_MPI4PY else "missing") + ", mpirun "
           + ("found" if MPIRUN else "missing") + ' (pip install "fastgrad[distributed]")')


@functools.lru_cache(maxsize=None)
def _launcher_flags():
    out = subprocess.run([MPIRUN, "--version"], capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr
    if "Open MPI" in text or "prte" in text.lower() or "OpenRTE" in text:
        return ["--oversubscribe"]
    return []               # MPICH's hydra runs more processes than cores without a flag


def mpirun(args, n=2, timeout=180, env=None):
    """Run ``mpirun -n n <python> args``; returns (returncode, stdout, stderr).  The whole
    process group is killed on timeout (a hang is reported, not waited for)."""
    e = dict(os.environ)
    if hasattr(os, "geteuid") and os.geteuid() == 0:      # Open MPI refuses root without these
        e.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    e.setdefault("OMP_NUM_THREADS", "1")
    # ranks that wait in MPI give their core away (this runner shares 2 cores with others)
    e.setdefault("OMPI_MCA_mpi_yield_when_idle", "1")
    e.update(env or {})
    cmd = [MPIRUN, "-n", str(n)] + _launcher_flags() + [sys.executable] + list(args)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        pytest.fail(f"mpirun {' '.join(args)} hung (killed after {timeout} s)\nstdout:\n{out}\n"
                    f"stderr:\n{err}")
    return p.returncode, out, err


def results(out, err, n=2):
    rows = [json.loads(line[len("RESULT "):]) for line in out.splitlines() if line.startswith("RESULT ")]
    assert sorted(r["rank"] for r in rows) == list(range(n)), f"stdout:\n{out}\nstderr:\n{err}"
    return rows


def assert_all_ok(rows):
    bad = {f"rank {r['rank']}: {k}": v for r in rows for k, v in r["checks"].items() if v != "ok"}
    assert not bad, "\n".join(f"{k}:\n{v}" for k, v in bad.items())
    assert len(rows[0]["checks"]) > 0


@needs_mpi
def test_collectives_and_checkpoints_on_two_ranks(tmp_path):
    rc, out, err = mpirun([os.path.join(SCRIPTS, "collectives.py")],
                          env={"CKPT_PATH": str(tmp_path / "ck.fgc"), "EXPECT_SIZE": "2"})
    rows = results(out, err)
    assert rc == 0, err
    assert_all_ok(rows)
    assert {r["size"] for r in rows} == {2}
    assert set(rows[0]["checks"]) >= {"all_reduce_ops", "broadcast_and_all_gather",
                                      "checkpoint_rank0_save_and_broadcast_load"}


@needs_mpi
def test_ddp_two_ranks_match_single_process_training(tmp_path):
    rc, out, err = mpirun([os.path.join(SCRIPTS, "ddp.py")], env={"CKPT_PATH": str(tmp_path / "m.fgc")})
    rows = results(out, err)
    assert rc == 0, err
    assert_all_ok(rows)
    assert rows[0]["info"]["buckets"] >= 3
    assert rows[0]["info"]["early_buckets"] > 0        # all-reduces started during backward


@needs_mpi
def test_a_failing_rank_ends_the_job_instead_of_hanging():
    rc, out, err = mpirun([os.path.join(SCRIPTS, "fail.py")], timeout=90)
    assert rc != 0
    assert "ValueError: rank 1 fails on purpose" in err
    assert "aborting all 2 ranks" in err
    assert "UNREACHABLE" not in out


@needs_mpi
def test_cli_train_distributed_checkpoint_and_resume(tmp_path):
    common = ["-m", "fastgrad", "train", "--distributed", "--dataset", "blobs", "--samples", "600",
              "--epochs", "3", "--hidden", "16", "--batch-size", "32", "--no-progress", "--seed", "3"]
    full, part = tmp_path / "full.fgc", tmp_path / "part.fgc"
    rc, out, err = mpirun(common + ["--checkpoint", str(full)])
    assert rc == 0, err
    # rank 0 alone prints: each line once
    assert out.count("fastgrad 0.1.0: blobs") == 1, out
    assert "2 processes (global batch 64)" in out
    assert out.count("epoch   3/3") == 1 and out.count("test accuracy") == 1
    acc = float(out.split("test accuracy ")[1].split()[0])
    assert acc > 0.8, out
    rc, out, err = mpirun(common + ["--checkpoint", str(part), "--stop-after", "2"])
    assert rc == 0, err
    assert "epoch   2/3" in out and "epoch   3/3" not in out
    rc, out, err = mpirun(common + ["--checkpoint", str(part), "--resume", str(part)])
    assert rc == 0, err
    assert "epoch   3/3" in out and "epoch   1/3" not in out
    a, b = fg.load(str(full)), fg.load(str(part))
    assert a["epoch"] == b["epoch"] == 3
    assert not any(k.startswith("module.") for k in a["model"])      # the bare model's keys
    for k in a["model"]:          # interrupted + resumed == uninterrupted
        np.testing.assert_allclose(a["model"][k]._data, b["model"][k]._data, rtol=1e-6, atol=1e-7)
    # the checkpoint loads into a plain single-process model
    from fastgrad.cli import build_model
    build_model(8, [16], 4).load_state_dict(a["model"])


@needs_mpi
def test_cli_distributed_missing_resume_file_fails_on_every_rank(tmp_path):
    rc, out, err = mpirun(["-m", "fastgrad", "train", "--distributed", "--dataset", "blobs",
                           "--samples", "200", "--epochs", "1", "--no-progress",
                           "--resume", str(tmp_path / "nope.fgc")], timeout=90)
    assert rc != 0
    assert "rank 0 could not load" in err and "nope.fgc" in err


# ---- single process: no MPI needed ---------------------------------------------------------------
def test_not_initialized_errors():
    assert not dist.is_initialized()
    for fn in (dist.get_rank, dist.get_world_size, dist.barrier, dist.destroy_process_group):
        with pytest.raises(RuntimeError, match="has not been initialized; call fastgrad.distributed"
                                               ".init_process_group"):
            fn()
    with pytest.raises(RuntimeError, match="all_reduce: the default process group"):
        dist.all_reduce(fg.ones(2))
    with pytest.raises(ValueError, match="unsupported backend 'nccl'"):
        dist.init_process_group("nccl")
    from fastgrad.nn.parallel import DistributedDataParallel
    with pytest.raises(RuntimeError, match="DistributedDataParallel: the default process group"):
        DistributedDataParallel(fg.nn.Linear(2, 2))
    with pytest.raises(RuntimeError, match="DistributedSampler: num_replicas and rank were not given"):
        DistributedSampler(list(range(4)))


def test_consume_prefix():
    from fastgrad.nn.parallel import consume_prefix_in_state_dict_if_present
    sd = {"module.a": 1, "module.b.c": 2, "other": 3}
    assert consume_prefix_in_state_dict_if_present(sd, "module.") == {"a": 1, "b.c": 2, "other": 3}


def _shards(n, replicas, **kw):
    return [list(DistributedSampler(range(n), num_replicas=replicas, rank=r, **kw))
            for r in range(replicas)]


@pytest.mark.parametrize("n", [0, 1, 5, 10, 11, 12, 13])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_distributed_sampler_partition(n, replicas, drop_last):
    shards = _shards(n, replicas, shuffle=True, seed=5, drop_last=drop_last)
    per = n // replicas if drop_last else -(-n // replicas)
    assert [len(s) for s in shards] == [per] * replicas
    assert all(len(DistributedSampler(range(n), replicas, r, drop_last=drop_last)) == per
               for r in range(replicas))
    # rank r holds positions r, r + R, ... of one epoch-wide list; rebuild that list
    merged = [shards[i % replicas][i // replicas] for i in range(per * replicas)]
    if drop_last:
        assert len(set(merged)) == len(merged)                 # disjoint, nothing repeated
        assert set(merged) <= set(range(n))
        assert len(merged) > n - replicas                       # less than one row dropped
    else:
        assert sorted(set(merged)) == list(range(n))            # every sample is read
        head = merged[:n]
        assert sorted(head) == list(range(n))                   # a permutation ...
        pad = merged[n:]
        assert pad == (head * (len(pad) // max(n, 1) + 1))[:len(pad)]   # ... padded with its start


def test_distributed_sampler_epochs_and_seeds():
    a = _shards(50, 2, seed=1)
    assert a == _shards(50, 2, seed=1)                   # same on every rank / every run
    assert a != _shards(50, 2, seed=2)
    s = DistributedSampler(range(50), 2, 0, seed=1)
    e0 = list(s)
    s.set_epoch(1)
    e1 = list(s)
    assert e0 != e1 and sorted(e0) != list(range(0, 50, 2))
    s.set_epoch(0)
    assert list(s) == e0
    assert _shards(7, 2, shuffle=False) == [[0, 2, 4, 6], [1, 3, 5, 0]]
    assert _shards(7, 2, shuffle=False, drop_last=True) == [[0, 2, 4], [1, 3, 5]]


def test_distributed_sampler_errors():
    with pytest.raises(ValueError, match=r"invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas must be positive"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(TypeError, match="rank must be an int"):
        DistributedSampler(range(4), num_replicas=2, rank=1.0)
    with pytest.raises(ValueError, match="seed must be non-negative"):
        DistributedSampler(range(4), num_replicas=2, rank=0, seed=-1)


def test_distributed_sampler_with_dataloader():
    X = fg.tensor(np.arange(22.0).reshape(11, 2))
    y = fg.tensor(np.arange(11))
    ds = TensorDataset(X, y)
    seen = []
    for r in range(3):
        s = DistributedSampler(ds, num_replicas=3, rank=r, seed=4)
        s.set_epoch(2)
        idx = list(s)
        loader = DataLoader(ds, batch_size=2, sampler=s)
        assert len(loader) == 2
        got = [yb._data.tolist() for _, yb in loader]
        assert sum(got, []) == idx
        for xb, yb in loader:
            np.testing.assert_array_equal(xb._data, X._data[yb._data])
        seen += idx
    assert sorted(set(seen)) == list(range(11)) and len(seen) == 12


def test_distributed_sampler_matches_torch_order_without_shuffle():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler as TorchDS
    for n in (5, 10, 13):
        for replicas in (2, 3, 4):
            for drop_last in (False, True):
                for r in range(replicas):
                    ours = list(DistributedSampler(range(n), replicas, r, shuffle=False,
                                                   drop_last=drop_last))
                    theirs = list(TorchDS(range(n), replicas, r, shuffle=False, drop_last=drop_last))
                    assert ours == theirs, (n, replicas, r, drop_last)
    del torch
