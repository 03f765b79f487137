#!/usr/bin/env bash
# Valgrind memcheck over tools/memcheck_driver.py: every kernel family, the scalar and
# AVX2 paths, 1 and 2 threads, float32 and float64.
#
#   tools/memcheck.sh              # uses the in-place build under src/ (or the installed package)
#
# Valgrind does not emulate AVX-512 (its virtual CPU reports no AVX-512, so fastgrad's
# runtime dispatch never selects that path under it); the AVX-512 kernels are covered by
# tools/sanitize.sh instead.  PYTHONMALLOC=malloc makes Python's own allocations visible
# to memcheck (and avoids pymalloc's false reports).  Prints the counts and exits 1 if
# there is any invalid read/write, use of uninitialised memory in fastgrad, or a
# definite leak whose stack passes through fastgrad.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
command -v valgrind >/dev/null || { echo "memcheck: valgrind not found (apt-get install -y valgrind)"; exit 2; }
log="${MEMCHECK_LOG:-$(mktemp /tmp/fastgrad-memcheck.XXXXXX.log)}"
export PYTHONMALLOC=malloc
export PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}"
export OMP_WAIT_POLICY=passive
# the interpreter itself, not a wrapper script (pyenv shims exec it: valgrind would trace the shell)
py="$(python -c 'import sys; print(sys.executable)')"
start=$(date +%s)
set +e
valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    --num-callers=30 --log-file="$log" "$py" "$root/tools/memcheck_driver.py" scalar avx2
rc=$?
set -e
echo "memcheck: driver exit status $rc, $(( $(date +%s) - start )) s, log $log"
python - "$log" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
blocks = re.split(r"\n==\d+== \n", text)
def ours(b):
    return "_kernels" in b or "fastgrad" in b or "fg_" in b
bad = [b for b in blocks if re.search(r"Invalid (read|write|free)|Mismatched free|overlap", b)]
invalid = [b for b in bad if ours(b)]
others = len(bad) - len(invalid)     # e.g. ld.so's strncmp reading past a strdup'ed rpath
uninit = [b for b in blocks if re.search(r"uninitialised", b) and ours(b)]
definite = [b for b in blocks if "definitely lost in loss record" in b]
ours_def = [b for b in definite if ours(b)]
summary = re.findall(r"ERROR SUMMARY: (\d+) errors", text)
print(f"memcheck: invalid reads/writes/frees in fastgrad: {len(invalid)} (elsewhere, e.g. ld.so: {others})")
print(f"memcheck: uninitialised-value errors in fastgrad: {len(uninit)}")
print(f"memcheck: definite leaks: {len(definite)} (through fastgrad: {len(ours_def)})")
print(f"memcheck: valgrind ERROR SUMMARY: {summary[-1] if summary else '?'}")
for b in (invalid + uninit + ours_def)[:10]:
    print(b[:3000])
    print("----")
sys.exit(1 if invalid or uninit or ours_def else 0)
PY
status=$?
[ "$rc" -eq 0 ] || exit "$rc"
exit "$status"
