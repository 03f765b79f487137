#!/usr/bin/env bash
# Wall and CPU time of a source build from clean (cythonize + compile + link), for one or
# more git revisions, alternating between them:
#
#   benchmarks/build_time.sh [-n ROUNDS] REV [REV ...]      e.g. build_time.sh main HEAD
#
# Each build runs `python setup.py build_ext --inplace` (what `pip install .` runs, with
# the same default parallelism) in a fresh `git archive` of the revision under a
# temporary directory, with the Python, NumPy, Cython and compiler ($CC) of this
# environment; `taskset -c 0,1` in front of the script gives a 2-core measurement on a
# larger machine.  Prints one line per build: revision, wall seconds, user+sys CPU
# seconds.  On a busy machine the wall times say little; the CPU times still compare.
set -euo pipefail
rounds=1
if [ "${1:-}" = -n ]; then rounds=$2; shift 2; fi
[ $# -ge 1 ] || { echo "usage: $0 [-n ROUNDS] REV [REV ...]" >&2; exit 2; }
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for ((r = 1; r <= rounds; r++)); do
    for rev in "$@"; do
        dir="$tmp/$r-$(echo "$rev" | tr '/' '_')"
        mkdir -p "$dir"
        git -C "$root" archive "$rev" | tar -x -C "$dir"
        ( cd "$dir" && /usr/bin/time -f "$rev wall %e s cpu %U+%S s" -o "$dir/time.txt" \
              python setup.py build_ext --inplace > "$dir/build.log" 2>&1 ) \
            || { echo "$rev: build failed, see the log below" >&2; tail -20 "$dir/build.log" >&2; exit 1; }
        cat "$dir/time.txt"
        rm -rf "$dir"
    done
done
