"""mypy over the whole package against a checked-in baseline of accepted errors.

tests/typing/ is checked with ``--strict`` (the public API as a user sees it, see
[tool.mypy] in pyproject.toml).  The package's own code is checked here with mypy's
default options (bodies of unannotated functions are not checked) and compared with
tests/typing/mypy_baseline.txt: an error that is not in the baseline fails, so annotated
code stays consistent while the rest is annotated step by step.  Baseline entries carry
no line numbers (path, message and code), so moving code does not invalidate them; an
entry that no longer occurs is reported and can be dropped with ``--update``.

Usage: python tools/mypy_baseline.py [--update] [--cache-dir DIR]
"""
import argparse
import collections
import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
BASELINE = ROOT / "tests" / "typing" / "mypy_baseline.txt"
HEADER = ("# mypy errors accepted in src/fastgrad (tools/mypy_baseline.py): path: message [code], one per\n"
          "# occurrence.  Fix one and drop its line (--update); never add a line by hand.\n")
_ERR = re.compile(r"^(?P<path>[^:]+):\d+(?::\d+)?: error: (?P<msg>.*)$")


def run_mypy(cache_dir):
    cmd = [sys.executable, "-m", "mypy", "--config-file", os.devnull, "--ignore-missing-imports",
           "--show-error-codes", "--no-pretty", "--no-error-summary", "--hide-error-context",
           "--cache-dir", str(cache_dir), "src/fastgrad"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode not in (0, 1):
        raise SystemExit(f"mypy failed to run:\n{r.stdout}\n{r.stderr}")
    errors = collections.Counter()
    for line in r.stdout.splitlines():
        m = _ERR.match(line)
        if m:
            msg = re.sub(r"\bon line \d+", "on line N", m.group("msg"))
            errors[f"{m.group('path')}: {msg}"] += 1
    return errors


def read_baseline():
    c = collections.Counter()
    if BASELINE.exists():
        for line in BASELINE.read_text().splitlines():
            if line and not line.startswith("#"):
                c[line] += 1
    return c


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update", action="store_true", help="write the current errors as the baseline")
    ap.add_argument("--cache-dir", default=str(ROOT / ".mypy_cache"))
    args = ap.parse_args(argv)
    errors = run_mypy(args.cache_dir)
    if args.update:
        BASELINE.write_text(HEADER + "".join(f"{e}\n" for e in sorted(errors.elements())))
        print(f"wrote {BASELINE} ({sum(errors.values())} errors)")
        return 0
    base = read_baseline()
    new, fixed = errors - base, base - errors
    for e in sorted(fixed.elements()):
        print(f"fixed (drop it with --update): {e}")
    for e in sorted(new.elements()):
        print(f"new mypy error: {e}")
    print(f"{sum(errors.values())} errors, {sum(base.values())} in the baseline, {sum(new.values())} new")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
