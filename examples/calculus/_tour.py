"""Shared plumbing of the calculus tour: command line, optional matplotlib, checks.

Every script of the tour parses ``--out DIR`` (where figures go), ``--quick`` (smaller
sizes, for the test suite) and ``--no-plot`` (numbers only), prints each number it
checks with its tolerance, and exits with status 1 when a check fails.
"""
import argparse
import os
import sys


def parse_args(doc, argv=None):
    ap = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    ap.add_argument("--out", default="calculus_figures",
                    help="directory for the figures (created if missing; default: %(default)s)")
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a fast run")
    ap.add_argument("--no-plot", action="store_true", help="run the checks, write no figure")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    return args


def pyplot(args):
    """matplotlib.pyplot with a file-only backend, or None (with a clear message) when
    matplotlib is not installed or --no-plot was given.  The checks run either way."""
    if args.no_plot:
        return None
    try:
        import matplotlib
    except ImportError:
        print("note: matplotlib is not installed, so no figures are written; "
              "install it with 'pip install matplotlib' (or 'pip install fastgrad[bench]'). "
              "The numerical checks still run.", file=sys.stderr)
        return None
    matplotlib.use("Agg")           # the tour writes files, it never opens a window
    import matplotlib.pyplot as plt
    return plt


def save(plt, fig, args, name):
    path = os.path.join(args.out, name)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")
    return path


class Checks:
    """Collects named checks ``value <= tol``; ``finish()`` exits 1 if any failed."""

    def __init__(self):
        self.failed = []

    def le(self, what, value, tol):
        ok = bool(value <= tol)         # NaN fails
        print(f"check {what}: {value:.3e} <= {tol:.0e}  {'ok' if ok else 'FAILED'}")
        if not ok:
            self.failed.append(what)
        return ok

    def true(self, what, cond, detail=""):
        ok = bool(cond)
        print(f"check {what}{': ' + detail if detail else ''}  {'ok' if ok else 'FAILED'}")
        if not ok:
            self.failed.append(what)
        return ok

    def finish(self):
        if self.failed:
            print(f"{len(self.failed)} check(s) FAILED: {', '.join(self.failed)}")
            sys.exit(1)
        print("all checks passed")
