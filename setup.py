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
    """Compiles the C sources in parallel by default (`pip install .` runs build_ext
    without -j): one job per CPU this process may use."""

    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:
            try:
                self.parallel = len(os.sched_getaffinity(0))
            except AttributeError:
                self.parallel = os.cpu_count() or 1

HERE = os.path.dirname(os.path.abspath(__file__))


def _compiler():
    return os.environ.get("CC") or sysconfig.get_config_var("CC").split()[0] or "cc"


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


omp_c = simd_pragma_flags()
cflags = ["-std=gnu11", "-O3", "-fno-math-errno", "-fno-trapping-math", "-Wno-unknown-pragmas",
          "-fvisibility=hidden"]
ldflags = []
macros = [("NPY_NO_DEPRECATED_API", "NPY_2_0_API_VERSION")]
cflags += ["-march=native"] if os.environ.get("FASTGRAD_NATIVE") == "1" else []   # opt-in only
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
