#!/usr/bin/env bash
# Cross-build the C unit tests for arm64 (aarch64-linux-gnu-gcc) and run them under
# qemu-aarch64: the NEON GEMM kernels (gemm_neon.c), the elementwise / reduction /
# softmax kernels (test_kern.c: the compiler's NEON vectorisation of kern_scalar.c), the
# portability layer (port.c) and the task pool, as an arm64 Linux machine runs them.  Needs the packages
# gcc-aarch64-linux-gnu and qemu-user (Debian/Ubuntu); tests/c/run.sh calls this script
# when both are installed.  Exits non-zero when a test fails or does not build.
#
#   tests/c/run_aarch64.sh          the quick tests (what tests/c/run.sh runs)
#   tests/c/run_aarch64.sh full     every test case (under emulation: many minutes)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${FG_CTEST_DIR:-$root/build/ctest}/aarch64"
mkdir -p "$out"
cc="${AARCH64_CC:-aarch64-linux-gnu-gcc}"
qemu="${QEMU_AARCH64:-qemu-aarch64}"
sysroot="${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}"
cflags=(-std=gnu11 -O3 -fno-math-errno -fno-trapping-math -Wall -Wno-unknown-pragmas -fopenmp-simd
        -I"$root/csrc" -I"$root/csrc/gemm")
srcs=("$root/tests/c/test_gemm.c" "$root"/csrc/gemm/gemm*.c "$root/csrc/cpu.c"
      "$root/csrc/alloc.c" "$root/csrc/threadpool.c" "$root/csrc/port.c"
      "$root/tests/c/test_kern.c" "$root"/csrc/kern_*.c)
kern_objs=()
objs=()
pids=()
for src in "${srcs[@]}"; do
    obj="$out/$(basename "${src%.c}").o"
    case "$src" in
        */test_kern.c|*/kern_*.c) kern_objs+=("$obj") ;;
        *) objs+=("$obj") ;;
    esac
    "$cc" "${cflags[@]}" -c "$src" -o "$obj" & pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
"$cc" "${objs[@]}" -lm -lpthread -o "$out/test_gemm"
"$cc" "${cflags[@]}" "$root/tests/c/test_pool.c" "$out/threadpool.o" "$out/port.o" -lm -lpthread \
    -o "$out/test_pool"
"$cc" "${cflags[@]}" "$root/tests/c/test_port.c" "$out/port.o" -lpthread -o "$out/test_port"
"$cc" "${kern_objs[@]}" "$out/cpu.o" "$out/alloc.o" "$out/threadpool.o" "$out/port.o" -lm -lpthread \
    -o "$out/test_kern"
# the NEON kernels are really in the binary: fmla on q registers
nfmla=$("${AARCH64_OBJDUMP:-aarch64-linux-gnu-objdump}" -d "$out/gemm_neon.o" | grep -c 'fmla.*v[0-9]*\.4s' || true)
if [ "$nfmla" -lt 100 ]; then
    echo "tests/c (aarch64): gemm_neon.o has no NEON fmla: the NEON GEMM is not compiled"
    exit 1
fi
# and the baseline kernels are vectorised (a scalar build has almost no .4s operations)
nvec=$("${AARCH64_OBJDUMP:-aarch64-linux-gnu-objdump}" -d "$out/kern_scalar.o" | grep -c '\.4s' || true)
if [ "$nvec" -lt 500 ]; then
    echo "tests/c (aarch64): kern_scalar.o has $nvec NEON .4s operations: not vectorised"
    exit 1
fi
run() { "$qemu" -L "$sysroot" "$@"; }
mode=smoke
[ "${1:-}" = full ] && mode=
echo "tests/c (aarch64, qemu): test_port"
run "$out/test_port"
echo "tests/c (aarch64, qemu): test_kern"
run "$out/test_kern"
echo "tests/c (aarch64, qemu): test_gemm $mode"
run "$out/test_gemm" $mode
echo "tests/c (aarch64, qemu): test_pool"
run "$out/test_pool"
