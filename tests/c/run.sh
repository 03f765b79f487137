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
# Neither links an OpenMP runtime: fastgrad uses none.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${FG_CTEST_DIR:-$root/build/ctest}"
mkdir -p "$out"
cc="${CC:-gcc}"
cflags=(-std=gnu11 -O3 -fno-math-errno -fno-trapping-math -Wall -Wno-unknown-pragmas -fopenmp-simd
        -I"$root/csrc" -I"$root/csrc/gemm")
srcs=("$root/tests/c/test_gemm.c" "$root"/csrc/gemm/gemm*.c "$root/csrc/cpu.c"
      "$root/csrc/alloc.c" "$root/csrc/threadpool.c")
objs=()
pids=()
for src in "${srcs[@]}"; do                  # one compiler per source, in parallel
    obj="$out/$(basename "${src%.c}").o"
    objs+=("$obj")
    "$cc" "${cflags[@]}" -c "$src" -o "$obj" & pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
"$cc" "${objs[@]}" -lm -lpthread -o "$out/test_gemm"
"$cc" "${cflags[@]}" "$root/tests/c/test_pool.c" "$out/threadpool.o" -lm -lpthread -o "$out/test_pool"
mode=quick
[ "${1:-}" = full ] && mode=
echo "tests/c: test_gemm $mode"
"$out/test_gemm" $mode
echo "tests/c: test_pool"
"$out/test_pool"
