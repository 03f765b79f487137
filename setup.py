"""Build fastgrad's C kernels and Cython wrappers.

Environment knobs (build time):
  FASTGRAD_NATIVE=1      add -march=native (never the default: wheels must run anywhere;
                         SIMD paths are chosen at run time instead)
  FASTGRAD_LIBM_MATH=1   use scalar libm for float32 math instead of the vectorised code
  FASTGRAD_DEBUG=1       -O0 -g
  FASTGRAD_SANITIZE=address,undefined   build with sanitizers

Threads run on fastgrad's own pool (csrc/threadpool.c), so no OpenMP runtime is linked;
only `-fopenmp-simd` (vectorisation hints of `#pragma omp simd`, no runtime) is used where
the compiler accepts it.
"""
import glob
import os
import shutil
import subprocess
import sysconfig
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class ParallelBuildExt(build_ext):
    """Compiles the C sources of the extension in parallel (setuptools' own -j only runs
    whole extensions in parallel, and fastgrad has one): one compiler process per CPU
    this process may use, the longest compiles (the per-ISA kernel files) started first.
    MSVC builds take MSVC_CFLAGS instead of the GCC/clang flags and compile serially (its
    compile() is not split per source)."""

    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:
            try:
                self.parallel = len(os.sched_getaffinity(0))
            except AttributeError:
                self.parallel = os.cpu_count() or 1

    def build_extensions(self):
        cc = self.compiler
        if cc.compiler_type == "msvc":
            for e in self.extensions:
                e.extra_compile_args = list(MSVC_CFLAGS)
                e.extra_link_args = []
        elif hasattr(cc, "_setup_compile") and hasattr(cc, "_compile"):
            cc.compile = _parallel_compile.__get__(cc)
            cc.fg_jobs = max(1, int(self.parallel or 1))
        self.check_extensions_list(self.extensions)
        for e in self.extensions:       # one extension: its sources are the parallel part
            self.build_extension(e)


# the longest compiles, longest first (gcc -O3 CPU seconds on a 2-core EPYC VM: the
# Cython module about 30, kern_avx2.c and kern_avx512.c about 14 each, kern_scalar.c 6,
# conv.c 5, the GEMM kernels 4-5, optim.c 2; all the others together under 6). Started in
# this order, two compiler processes finish within a few seconds of each other.
_LONG_COMPILES = ("_kernels.c", "kern_avx2.c", "kern_avx512.c", "kern_scalar.c", "conv.c",
                  "gemm_avx512.c", "gemm_avx2.c", "gemm_neon.c", "optim.c")


# the Cython module is glue (argument parsing, reference counting, calls into the C kernels):
# -O2 compiles it in 22 CPU seconds instead of 30, and its per-call overhead is the same as
# at -O3 (the eager and compiled steps of benchmarks/bench_train_step.py, within 1.5%);
# a later -O option overrides the earlier one
_PER_FILE_FLAGS = {} if os.environ.get("FASTGRAD_DEBUG") == "1" or os.environ.get(
    "FASTGRAD_SANITIZE") else {"_kernels.c": ["-O2"]}


def _compile_cost(src):
    """Sort key, largest first: a rank from _LONG_COMPILES, then the file size."""
    name = os.path.basename(src)
    rank = len(_LONG_COMPILES) - _LONG_COMPILES.index(name) if name in _LONG_COMPILES else 0
    try:
        size = os.path.getsize(src)
    except OSError:
        size = 0
    return (rank, size)


def _parallel_compile(self, sources, output_dir=None, macros=None, include_dirs=None, debug=0,
                      extra_preargs=None, extra_postargs=None, depends=None):
    """CCompiler.compile with the sources compiled by a thread pool of compiler processes
    (bound to a Unix-style compiler object as its compile method)."""
    from concurrent.futures import ThreadPoolExecutor
    macros, objects, extra_postargs, pp_opts, build = self._setup_compile(
        output_dir, macros, include_dirs, sources, depends, extra_postargs)
    cc_args = self._get_cc_args(pp_opts, debug, extra_preargs)

    def one(obj):
        src, ext = build[obj]
        post = extra_postargs + _PER_FILE_FLAGS.get(os.path.basename(src), [])
        self._compile(obj, src, ext, cc_args, post, pp_opts)

    todo = sorted(build, key=lambda o: _compile_cost(build[o][0]), reverse=True)
    with ThreadPoolExecutor(self.fg_jobs) as ex:
        for _ in ex.map(one, todo):     # re-raises the first compile error
            pass
    return objects


HERE = os.path.dirname(os.path.abspath(__file__))


def _compiler():
    return os.environ.get("CC") or (sysconfig.get_config_var("CC") or "cc").split()[0] or "cc"


def simd_pragma_flags():
    """-fopenmp-simd when the compiler accepts it (compile-time only: no OpenMP runtime)."""
    cc = _compiler()
    d = tempfile.mkdtemp()
    try:
        with open(os.path.join(d, "t.c"), "w") as f:
            f.write("int main(void){\n#pragma omp simd\nfor(int i=0;i<4;i++){}\nreturn 0;}\n")
        r = subprocess.run([cc, "-fopenmp-simd", "-Werror", "-c", "t.c", "-o", "t.o"], cwd=d,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return ["-fopenmp-simd"] if r.returncode == 0 else []
    except OSError:
        return []
    finally:
        shutil.rmtree(d, ignore_errors=True)


def compiler_is_clang():
    try:
        r = subprocess.run([_compiler(), "--version"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        return "clang" in r.stdout
    except OSError:
        return False


omp_c = simd_pragma_flags()
cflags = ["-std=gnu11", "-O3", "-fno-math-errno", "-fno-trapping-math", "-Wno-unknown-pragmas",
          "-fvisibility=hidden"]
ldflags = []
# MSVC (Windows): C11 with its C11 atomics (threadpool.c's <stdatomic.h>; Visual Studio
# 2022 17.5+), no warnings for the GCC pragmas it ignores; the per-ISA sections compile
# without target flags there (csrc/isa.h), the AVX intrinsics need none
MSVC_CFLAGS = ["/O2", "/std:c11", "/experimental:c11atomics", "/wd4068"]
macros = [("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")]
cflags += ["-march=native"] if os.environ.get("FASTGRAD_NATIVE") == "1" else []   # opt-in only
if compiler_is_clang():
    # clang reports each `#pragma omp simd` loop its cost model declines to vectorise (a
    # remark about speed, the loop stays correct) as a warning
    cflags.append("-Wno-pass-failed")
if os.environ.get("FASTGRAD_LIBM_MATH") == "1":
    macros.append(("FG_LIBM_MATH", "1"))
if os.environ.get("FASTGRAD_DEBUG") == "1":
    cflags = [f for f in cflags if not f.startswith("-O")] + ["-O0", "-g"]
san = os.environ.get("FASTGRAD_SANITIZE")
if os.environ.get("FASTGRAD_DEBUG") != "1" and not san:
    # no debug information in release builds: Python's own CFLAGS carry -g, which makes a
    # 25 MB extension of a 3 MB one (the last -g option on the command line wins)
    cflags.append("-g0")
    ldflags.append("-Wl,-S")          # and strip what the linker would keep
if san:   # tools/sanitize.sh; -O1 (unless FASTGRAD_DEBUG): the sanitizers' recommended level, and
          # a far faster build of the big SIMD files than -O3
    if os.environ.get("FASTGRAD_DEBUG") != "1":
        cflags = [f for f in cflags if not f.startswith("-O")] + ["-O1"]
    cflags += [f"-fsanitize={san}", "-fno-omit-frame-pointer", "-g"]
    ldflags += [f"-fsanitize={san}"]
macros.append(("FG_COMPILER", '"%s"' % _compiler().replace('"', "")))
macros.append(("FG_OPENMP_FLAG", '"%s"' % " ".join(omp_c)))   # compile-time SIMD pragmas only

csrc = sorted(glob.glob("csrc/*.c") + glob.glob("csrc/gemm/*.c"))

ext = Extension(
    "fastgrad._C._kernels",
    sources=["src/fastgrad/_C/_kernels.pyx", *csrc],
    include_dirs=["csrc", np.get_include()],
    # headers, op tables and included Cython files: a change to any of them rebuilds (without this
    # an in-place build silently keeps objects compiled against an older header)
    depends=sorted(glob.glob("csrc/*.h") + glob.glob("csrc/gemm/*.h") + glob.glob("csrc/ops/*.def")
                   + glob.glob("src/fastgrad/_C/*.pxi") + glob.glob("src/fastgrad/_C/*.pxd")),
    define_macros=macros,
    extra_compile_args=cflags + omp_c,
    extra_link_args=ldflags,
    language="c",
)

setup(
    cmdclass={"build_ext": ParallelBuildExt},
    ext_modules=cythonize(
        [ext],
        compiler_directives={"language_level": 3, "boundscheck": False,
                             "cdivision": True, "initializedcheck": False},
        include_path=["src"],
        quiet=True,
    ),
)
