"""The extended math ops (special functions, scans, sort, einsum) against NumPy,
interleaved in one process (medians), float32.

    python benchmarks/report_math.py [--threads 2] [--n 1000000] [--quick]

Forward of each new elementwise op and of cumsum / cumprod / prod / sort / argsort /
topk / amax / norm on n elements (a 1e6-element vector, and 1000 rows of 1000 for the
per-row ops), against the same computation in NumPy.  The ratio is NumPy time / fastgrad
time (> 1: fastgrad is faster).  Forward + backward for a few is reported against
fastgrad's own NumPy backend.
"""
import argparse
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import fastgrad as fg
from report import interleaved, with_backend
from fastgrad.bench.harness import set_threads


def _np_mish(v):
    return v * np.tanh(np.logaddexp(np.float32(0), v))


def _np_hswish(v):
    return v * np.clip(v + np.float32(3), 0, 6) / np.float32(6)


# name -> (fastgrad fn, numpy fn, input kind)
UNARY = {
    "exp2": (fg.exp2, np.exp2, "any"), "log2": (fg.log2, np.log2, "pos"),
    "log10": (fg.log10, np.log10, "pos"), "expm1": (fg.expm1, np.expm1, "any"),
    "tan": (fg.tan, np.tan, "any"), "asin": (fg.asin, np.arcsin, "unit"),
    "acos": (fg.acos, np.arccos, "unit"), "atan": (fg.atan, np.arctan, "any"),
    "sinh": (fg.sinh, np.sinh, "any"), "cosh": (fg.cosh, np.cosh, "any"),
    "floor": (fg.floor, np.floor, "any"), "round": (fg.round, np.rint, "any"),
    "mish": (fg.mish, _np_mish, "any"), "hardswish": (fg.hardswish, _np_hswish, "any"),
    "elu": (fg.elu, lambda v: np.where(v > 0, v, np.expm1(v)), "any"),
    "logit": (fg.logit, lambda v: np.log(v / (np.float32(1) - v)), "prob"),
}


def inputs(kind, shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    if kind == "pos":
        x = np.abs(x) + np.float32(0.1)
    elif kind == "unit":
        x = np.tanh(x)
    elif kind == "prob":
        x = (1 / (1 + np.exp(-x))).astype(np.float32)
    return x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    set_threads(a.threads)
    reps = 5 if a.quick else 11
    inner = 3
    rng = np.random.default_rng(0)
    n = a.n
    rows = (n // 1000, 1000)
    print(f"fastgrad {fg.__version__}  simd={fg.get_simd()}  threads={a.threads}  n={n}  float32")
    print(f"{'op':22s} {'fastgrad':>10s} {'numpy':>10s} {'ratio':>7s}")

    def line(name, ffn, nfn):
        tf, tn = interleaved([ffn, nfn], reps, inner)
        print(f"{name:22s} {tf*1e6:9.1f}us {tn*1e6:9.1f}us {tn/tf:6.2f}x", flush=True)

    for name, (ff, nf, kind) in UNARY.items():
        x = inputs(kind, n, rng)
        t = fg.from_numpy(x)
        line(name, lambda ff=ff, t=t: ff(t), lambda nf=nf, x=x: nf(x))

    x, y = inputs("any", n, rng), inputs("pos", n, rng)
    tx, ty = fg.from_numpy(x), fg.from_numpy(y)
    line("atan2", lambda: fg.atan2(tx, ty), lambda: np.arctan2(x, y))
    line("remainder", lambda: fg.remainder(tx, ty), lambda: np.remainder(x, y))
    line("fmod", lambda: fg.fmod(tx, ty), lambda: np.fmod(x, y))

    v = inputs("any", n, rng)
    tv = fg.from_numpy(v)
    line("cumsum (1 line)", lambda: fg.cumsum(tv, 0), lambda: np.cumsum(v))
    r = inputs("any", rows, rng)
    tr = fg.from_numpy(r)
    line("cumsum rows", lambda: fg.cumsum(tr, 1), lambda: np.cumsum(r, 1))
    line("cumsum dim 0", lambda: fg.cumsum(tr, 0), lambda: np.cumsum(r, 0))
    p = (1 + inputs("any", rows, rng) * np.float32(1e-3)).astype(np.float32)
    tp = fg.from_numpy(p)
    line("cumprod rows", lambda: fg.cumprod(tp, 1), lambda: np.cumprod(p, 1))
    line("prod rows", lambda: fg.prod(tp, 1), lambda: np.prod(p, 1))
    line("sort (1 line)", lambda: fg.sort(tv), lambda: (np.sort(v, kind="stable"), np.argsort(v, kind="stable")))
    line("sort rows", lambda: fg.sort(tr, 1), lambda: (np.sort(r, 1, kind="stable"), np.argsort(r, 1, kind="stable")))
    line("argsort (1 line)", lambda: fg.argsort(tv), lambda: np.argsort(v, kind="stable"))
    line("topk rows k=10", lambda: fg.topk(tr, 10, 1),
         lambda: np.take_along_axis(r, np.argpartition(-r, 10, 1)[:, :10], 1))
    line("amax rows", lambda: fg.amax(tr, 1), lambda: np.max(r, 1))
    line("norm rows", lambda: fg.norm(tr, dim=1), lambda: np.sqrt(np.sum(r.astype(np.float64) ** 2, 1)))
    a3, b3 = inputs("any", (64, 128, 64), rng), inputs("any", (64, 64, 128), rng)
    ta3, tb3 = fg.from_numpy(a3), fg.from_numpy(b3)
    line("einsum bij,bjk->bik", lambda: fg.einsum("bij,bjk->bik", ta3, tb3), lambda: np.einsum("bij,bjk->bik", a3, b3))
    line("  (np.matmul)", lambda: fg.einsum("bij,bjk->bik", ta3, tb3), lambda: np.matmul(a3, b3))

    print("forward+backward vs fastgrad's NumPy backend")
    for name, fn, arr in [("mish", fg.mish, v), ("tan", fg.tan, v), ("cumsum rows", lambda t: fg.cumsum(t, 1), r),
                          ("sort rows (values)", lambda t: fg.sort(t, 1).values, r),
                          ("cumprod rows", lambda t: fg.cumprod(t, 1), p)]:
        def step(fn=fn, arr=arr):
            t = fg.from_numpy(arr).requires_grad_()
            out = fn(t)
            out.backward(fg.ones_like(out))
        tf, tn = interleaved([step, with_backend("numpy", step)], reps, inner)
        print(f"{name:22s} {tf*1e6:9.1f}us {tn*1e6:9.1f}us {tn/tf:6.2f}x", flush=True)


if __name__ == "__main__":
    main()
