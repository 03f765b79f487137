#!/usr/bin/env bash
# Build the C unit tests with plain gcc (the kernel sources they need, the compiler flags
# of setup.py) and run them; exits non-zero when a test fails or does not build.
#
#   tests/c/run.sh          build into build/ctest/ (or $FG_CTEST_DIR) and run the quick tests
#   tests/c/run.sh full     the same with every test case (about a minute more)
#
# test_gemm.c: fg_gemm_f32 / fg_gemm_f64 against a double-precision reference, on every
# SIMD path the CPU has (see its header for its benchmark modes).
# test_pool.c: fastgrad's task pool (csrc/threadpool.c) with more threads than cores:
# every task once, split reductions bit-identical at a thread count, nested and
# concurrent submitters ("bench" mode: the fork/join numbers behind dispatch.h).
# test_port.c: the platform layer (csrc/port.h): allocation, threads, CPU features.
# Neither links an OpenMP runtime: fastgrad uses none.
# Then the same tests cross-built for arm64 and run under qemu (run_aarch64.sh), when
# aarch64-linux-gnu-gcc and qemu-aarch64 are installed; FG_CTEST_AARCH64=0 skips them.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${FG_CTEST_DIR:-$root/build/ctest}"
mkdir -p "$out"
cc="${CC:-gcc}"
cflags=(-std=gnu11 -O3 -fno-math-errno -fno-trapping-math -Wall -Wno-unknown-pragmas -fopenmp-simd
        -I"$root/csrc" -I"$root/csrc/gemm")
srcs=("$root/tests/c/test_gemm.c" "$root"/csrc/gemm/gemm*.c "$root/csrc/cpu.c"
      "$root/csrc/alloc.c" "$root/csrc/threadpool.c" "$root/csrc/port.c")
objs=()
pids=()
for src in "${srcs[@]}"; do                  # one compiler per source, in parallel
    obj="$out/$(basename "${src%.c}").o"
    objs+=("$obj")
    "$cc" "${cflags[@]}" -c "$src" -o "$obj" & pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
"$cc" "${objs[@]}" -lm -lpthread -o "$out/test_gemm"
"$cc" "${cflags[@]}" "$root/tests/c/test_pool.c" "$out/threadpool.o" "$out/port.o" -lm -lpthread -o "$out/test_pool"
"$cc" "${cflags[@]}" "$root/tests/c/test_port.c" "$out/port.o" -lpthread -o "$out/test_port"
mode=quick
[ "${1:-}" = full ] && mode=
echo "tests/c: test_gemm $mode"
"$out/test_gemm" $mode
echo "tests/c: test_pool"
"$out/test_pool"
echo "tests/c: test_port"
"$out/test_port"
if [ "${FG_CTEST_AARCH64:-1}" = 0 ]; then
    echo "tests/c: aarch64 cross tests skipped (FG_CTEST_AARCH64=0)"
elif command -v "${AARCH64_CC:-aarch64-linux-gnu-gcc}" >/dev/null && command -v "${QEMU_AARCH64:-qemu-aarch64}" >/dev/null; then
    "$root/tests/c/run_aarch64.sh" ${1:-}
else
    echo "tests/c: aarch64 cross tests skipped: aarch64-linux-gnu-gcc or qemu-aarch64 not installed" \
         "(apt-get install gcc-aarch64-linux-gnu qemu-user)"
fi
