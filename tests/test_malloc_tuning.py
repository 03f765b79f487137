"""Importing fastgrad leaves the C library's malloc settings alone; training steps still
reuse their freed activation memory (the block cache, fastgrad.memory), and
fastgrad.memory.tune_malloc is the explicit, process-wide opt-in.  Each case runs in a
fresh interpreter, since malloc settings are process-wide."""
import json
import os
import platform
import subprocess
import sys

import pytest

# glibc's own malloc: not under tools/sanitize.sh, whose preloaded AddressSanitizer
# replaces malloc, mallopt and mallinfo2
_GLIBC = platform.libc_ver()[0] == "glibc" and not os.environ.get("FASTGRAD_SANITIZED")

# page faults per eager training step of the benchmarks' small CNN (batch 64 of 1x28x28:
# conv 1->16, pool, conv 16->32, pool, linear), after warm-up steps
_FAULTS = r"""
import json, resource, sys
import fastgrad as fg
from fastgrad.bench import workloads as W
if "tune" in sys.argv:
    assert fg.memory.tune_malloc() == "applied"
fg.set_num_threads(1)
step = W.fastgrad_cnn_step("sgd")
for _ in range(3):
    step()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(8):
    step()
print(json.dumps({"faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 8}))
"""

# whether a malloc of 200 KiB, then one of 4 MiB, is served by a fresh mmap (glibc's
# default: above a 128 KiB threshold, which rises to the size of an mmapped block freed)
# after importing numpy alone, or fastgrad
_MMAP = r"""
import ctypes, json, sys
class MI2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MI2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
import numpy
if sys.argv[1] != "numpy":
    import fastgrad as fg
    x = fg.randn(64, 1, 28, 28)
    fg.nn.functional.conv2d(x, fg.randn(16, 1, 3, 3), padding=1).sum()
if sys.argv[1] == "tune":
    fg.memory.tune_malloc()
out = {}
for kib in (200, 4096):
    h = libc.mallinfo2().hblks
    p = libc.malloc(kib << 10)
    out[kib] = libc.mallinfo2().hblks - h
    libc.free(p)
print(json.dumps(out))
"""


def _env(extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "FASTGRAD_MEMORY_CACHE")}
    env.update(extra)
    return env


def _run(code, args=(), env_extra=None):
    out = subprocess.run([sys.executable, "-c", code, *args], env=_env(env_extra or {}),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not _GLIBC, reason="counts glibc's mmapped blocks (mallinfo2)")
def test_import_leaves_malloc_settings_alone():
    numpy_only = _run(_MMAP, ["numpy"])
    assert numpy_only["4096"] == 1            # the observable works: a fresh mmap
    # importing fastgrad and running kernels changes nothing the C library decides
    assert _run(_MMAP, ["fastgrad"]) == numpy_only
    # the opt-in does change it: both come from the heap
    assert _run(_MMAP, ["tune"]) == {"200": 0, "4096": 0}


@pytest.mark.skipif(not _GLIBC, reason="page-fault counts of glibc's mmap threshold")
def test_training_steps_stop_faulting_pages_in():
    cached = _run(_FAULTS)
    off = _run(_FAULTS, env_extra={"FASTGRAD_MEMORY_CACHE": "0"})
    tuned = _run(_FAULTS, ["tune"], env_extra={"FASTGRAD_MEMORY_CACHE": "0"})
    # with the C library's defaults each step faults in thousands of pages (its freshly
    # mmapped activations); the cache, or the malloc opt-in, reuses the freed ones
    assert off["faults"] > 500, off
    assert cached["faults"] < off["faults"] / 10, (cached, off)
    assert tuned["faults"] < off["faults"] / 10, (tuned, off)


def test_malloc_tune_rejects_impossible_thresholds():
    from fastgrad._C import _kernels as K
    from fastgrad import memory
    want = "refused" if platform.libc_ver()[0] == "glibc" else "unsupported"
    assert K.malloc_tune(-1, 1 << 20) == want
    assert K.malloc_tune(1 << 40, 1 << 20) == want      # above glibc's 32 MiB cap
    with pytest.raises(TypeError, match="tune_malloc"):
        memory.tune_malloc(1.5)
