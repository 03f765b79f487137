#!/usr/bin/env bash
# Build fastgrad with AddressSanitizer + UndefinedBehaviorSanitizer and run the test suite
# under them.
#
#   tools/sanitize.sh                      # whole suite: tests -q -n 2
#   tools/sanitize.sh tests/test_fuzz.py   # any pytest arguments
#
# The build happens in a scratch copy of the checkout (the tracked and untracked,
# non-ignored files), so the normal in-place build is left alone; set
# FASTGRAD_SANITIZE_DIR to reuse a copy between runs (the build is then incremental).
# The Python interpreter itself is not instrumented, so the sanitizer runtime is
# preloaded; PYTHONMALLOC=malloc routes Python's allocations through ASan too.  Leak
# detection is off for the Python run (the interpreter keeps memory at exit); leaks are
# checked by tools/memcheck.sh and tests/test_leaks.py.  Every report is written to
# $work/reports/ and the script exits 1 if there is any, printing them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${FASTGRAD_SANITIZE_DIR:-$(mktemp -d /tmp/fastgrad-sanitize.XXXXXX)}"
mkdir -p "$work"
cd "$root"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$work"
else                                  # not a git checkout (e.g. an unpacked sdist)
    tar --exclude=./build --exclude='*.so' --exclude=.git -cf - . | tar -xf - -C "$work"
fi
cd "$work"
echo "sanitize: building in $work (FASTGRAD_SANITIZE=address,undefined)"
start=$(date +%s)
if ! FASTGRAD_SANITIZE=address,undefined python setup.py build_ext --inplace -j 2 >build.log 2>&1; then
    tail -40 build.log
    exit 1
fi
echo "sanitize: build took $(( $(date +%s) - start )) s"

rm -rf reports && mkdir reports
LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export LD_PRELOAD
export PYTHONMALLOC=malloc
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1:max_allocation_size_mb=16384:detect_stack_use_after_return=0:log_path=$work/reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$work/reports/ubsan"
export PYTHONPATH="$work/src"
export FASTGRAD_SANITIZED=1     # tests that measure RSS skip (ASan's quarantine and shadow memory)
[ $# -eq 0 ] && set -- tests -q -n 2 -p no:cacheprovider
start=$(date +%s)
set +e
python -m pytest "$@"
rc=$?
set -e
echo "sanitize: tests took $(( $(date +%s) - start )) s, pytest exit status $rc"
# a report is an ASan/UBSan error; with allocator_may_return_null=1 ASan also logs a
# warning for each refused huge allocation (tests/test_resources.py), which is not one
pattern="ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:"
n=$( (grep -l -E "$pattern" reports/* 2>/dev/null || true) | wc -l)
echo "sanitize: $n sanitizer report(s)"
if [ "$n" -gt 0 ]; then
    for f in $(grep -l -E "$pattern" reports/*); do
        echo "==== $f"; head -60 "$f"
    done
    exit 1
fi
exit "$rc"
