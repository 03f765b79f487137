"""fastgrad's malloc settings at import (fastgrad._config._tune_malloc): freed activation
buffers are reused instead of unmapped and faulted in again.  Each case runs in a fresh
interpreter, since the settings are process-wide and applied once."""
import json
import os
import platform
import subprocess
import sys

import pytest

_GLIBC = platform.libc_ver()[0] == "glibc"

# page faults per eager training step of the benchmarks' small CNN (batch 64 of 1x28x28:
# conv 1->16, pool, conv 16->32, pool, linear), after warm-up steps
_FAULTS = r"""
import json, resource
import fastgrad as fg
from fastgrad._config import config
from fastgrad.bench import workloads as W
fg.set_num_threads(1)
step = W.fastgrad_cnn_step("sgd")
for _ in range(3):
    step()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(8):
    step()
print(json.dumps({"faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 8,
                  "malloc": config()["malloc"]}))
"""


def _run(env_extra, drop=()):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES" and k not in drop}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", _FAULTS], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not _GLIBC, reason="the malloc settings exist only in glibc")
def test_training_steps_stop_faulting_pages_in():
    on = _run({})
    off = _run({"FASTGRAD_MALLOC_TUNING": "0"})
    assert on["malloc"] == "mmap threshold 32 MiB, trim threshold 64 MiB"
    assert off["malloc"] == "off (FASTGRAD_MALLOC_TUNING=0)"
    # with the C library's defaults each step faults in thousands of pages (its freshly
    # mmapped activations); tuned, the freed ones are reused
    assert off["faults"] > 500, off
    assert on["faults"] < off["faults"] / 10, (on, off)


@pytest.mark.skipif(not _GLIBC, reason="the malloc settings exist only in glibc")
def test_user_malloc_environment_is_left_alone():
    r = _run({"MALLOC_TRIM_THRESHOLD_": "1000000"})
    assert r["malloc"] == "left to the environment (MALLOC_TRIM_THRESHOLD_)"
    r = _run({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=4000000"})
    assert r["malloc"] == "left to the environment (GLIBC_TUNABLES)"


def test_malloc_tune_rejects_impossible_thresholds():
    from fastgrad._C import _kernels as K
    want = "refused" if _GLIBC else "unsupported"
    assert K.malloc_tune(-1, 1 << 20) == want
    assert K.malloc_tune(1 << 40, 1 << 20) == want      # above glibc's 32 MiB cap
