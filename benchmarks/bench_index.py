"""Indexing, gather/scatter and index_select on 1e6-element float32 tensors, forward and
backward, against the same NumPy operation (medians, timed interleaved in one process).

    python benchmarks/bench_index.py [--threads 1 2] [--reps 15]
    pytest benchmarks/bench_index.py                   (pytest-benchmark, C vs NumPy backend)

Forward: fastgrad on tensors that do not require grad vs NumPy's indexing.  Backward:
fastgrad's autograd.grad through a prebuilt graph (the scatter-add / masked expand / ...)
vs NumPy's way of computing the same gradient: np.add.at and np.bincount for repeated
indices (the better of the two is the baseline), np.take_along_axis for scatter_add's
source gradient.  Ratio = NumPy time / fastgrad time (> 1: fastgrad faster).
"""
import argparse
import sys

import numpy as np

import fastgrad as fg
from fastgrad.bench.harness import interleaved

N = 1_000_000


def cases():
    """name -> (fastgrad fn, [NumPy fns]) ; each NumPy list entry is (label, fn)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal(N).astype(np.float32)
    g1 = rng.standard_normal(N).astype(np.float32)
    idx = rng.integers(0, N, N)                         # 1e6 random ints, with repeats
    mask = rng.random(N) < 0.5
    a2 = a.reshape(1000, 1000)
    idx2 = rng.integers(0, 1000, (1000, 1000))
    rows = np.arange(1000)[:, None]
    ridx = rng.integers(0, 1000, 1000)                  # index_select: 1000 rows, repeats
    src2 = rng.standard_normal((1000, 1000)).astype(np.float32)
    g2 = rng.standard_normal((1000, 1000)).astype(np.float32)

    x = fg.tensor(a)
    xi, mi = fg.tensor(idx), fg.tensor(mask)
    x2, i2, ri, s2 = fg.tensor(a2), fg.tensor(idx2), fg.tensor(ridx), fg.tensor(src2)
    xg = fg.tensor(a, requires_grad=True)
    x2g = fg.tensor(a2, requires_grad=True)
    s2g = fg.tensor(src2, requires_grad=True)

    def grad_of(out, inputs, g):
        gt = fg.tensor(g)
        return lambda: fg.autograd.grad(out, inputs, gt, retain_graph=True)

    ym = xg[mi]
    gm = rng.standard_normal(ym.shape).astype(np.float32)

    def np_mask_bwd():
        out = np.zeros(N, np.float32)
        out[mask] = gm
        return out

    def np_addat(shape, index, g):
        def f():
            out = np.zeros(shape, np.float32)
            np.add.at(out, index, g)
            return out
        return f

    def np_scatter_add():
        out = a2.copy()
        np.add.at(out, (rows, idx2), src2)
        return out

    return {
        "x[idx] fwd": (lambda: x[xi], [("x[idx]", lambda: a[idx])]),
        "x[idx] bwd": (grad_of(xg[xi], [xg], g1),
                       [("np.add.at", np_addat(N, idx, g1)),
                        ("np.bincount", lambda: np.bincount(idx, g1, N).astype(np.float32))]),
        "x[mask] fwd": (lambda: x[mi], [("x[mask]", lambda: a[mask])]),
        "x[mask] bwd": (grad_of(ym, [xg], gm), [("out[mask] = g", np_mask_bwd)]),
        "gather fwd": (lambda: fg.gather(x2, 1, i2), [("take_along_axis", lambda: np.take_along_axis(a2, idx2, 1))]),
        "gather bwd": (grad_of(fg.gather(x2g, 1, i2), [x2g], g2),
                       [("np.add.at", np_addat((1000, 1000), (rows, idx2), g2)),
                        ("np.bincount", lambda: np.bincount((rows * 1000 + idx2).ravel(), g2.ravel(), N)
                         .astype(np.float32).reshape(1000, 1000))]),
        "scatter_add fwd": (lambda: fg.scatter_add(x2, 1, i2, s2),
                            [("copy + np.add.at", np_scatter_add),
                             ("copy + np.bincount", lambda: a2 + np.bincount(
                                 (rows * 1000 + idx2).ravel(), src2.ravel(), N)
                              .astype(np.float32).reshape(1000, 1000))]),
        "scatter_add bwd": (grad_of(fg.scatter_add(x2g, 1, i2, s2g), [x2g, s2g], g2),
                            [("g.copy + take_along_axis", lambda: (g2.copy(), np.take_along_axis(g2, idx2, 1)))]),
        "index_select fwd": (lambda: fg.index_select(x2, 0, ri), [("np.take", lambda: np.take(a2, ridx, 0))]),
        "index_select bwd": (grad_of(fg.index_select(x2g, 0, ri), [x2g], g2),
                             [("np.add.at", np_addat((1000, 1000), ridx, g2))]),
    }


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args(argv)
    cs = cases()
    print(f"fastgrad {fg.__version__}, SIMD {fg.get_simd()}, numpy {np.__version__}; "
          "times are medians in ms; ratio = best NumPy / fastgrad")
    for nt in args.threads:
        fg.set_num_threads(nt)
        print(f"\nthreads={nt}")
        print(f"{'case':18s} {'fastgrad':>9s} {'numpy':>9s} {'ratio':>6s}  numpy baseline")
        for name, (f, base) in cs.items():
            ts = interleaved([f] + [b for _, b in base], args.reps)
            best = min(range(len(base)), key=lambda i: ts[i + 1])
            print(f"{name:18s} {ts[0] * 1e3:9.3f} {ts[best + 1] * 1e3:9.3f} {ts[best + 1] / ts[0]:6.2f}  "
                  + ", ".join(f"{lbl} {t * 1e3:.3f}" for (lbl, _), t in zip(base, ts[1:])))
    return 0


# ---- pytest-benchmark: the fastgrad side of each case on both backends -------------------
def _bench(name):
    def test(benchmark, backend):
        benchmark.group = name
        benchmark(cases()[name][0])
    return test


for _name in ["x[idx] fwd", "x[idx] bwd", "x[mask] fwd", "gather fwd", "gather bwd",
              "scatter_add fwd", "index_select bwd"]:
    globals()["test_" + _name.replace(" ", "_").replace("[", "_").replace("]", "")] = _bench(_name)


if __name__ == "__main__":
    sys.exit(main())
