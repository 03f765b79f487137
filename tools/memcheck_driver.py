"""Exercise every C kernel family once per SIMD path and thread count, with small,
odd-sized inputs (edge tiles, tails, strided and broadcast operands): the workload of
tools/memcheck.sh.  Also usable on its own as a smoke test: exits 0 when every result
matches NumPy."""
import sys

import numpy as np

import fastgrad as fg
from fastgrad._C import _kernels as K
from fastgrad.nn import functional as F


def check(what, got, want, tol=1e-4):
    got = got.detach().numpy() if isinstance(got, fg.Tensor) else np.asarray(got)
    if not np.allclose(got, want, rtol=tol, atol=tol, equal_nan=True):
        print(f"memcheck driver: MISMATCH in {what}", file=sys.stderr)
        sys.exit(1)


def run(rng, dtype):
    a = rng.standard_normal((37, 19)).astype(dtype)
    b = rng.standard_normal((19,)).astype(dtype)
    pos = np.abs(a) + 0.1
    ta, tb = fg.from_numpy(a), fg.from_numpy(b)
    # unary (every kernel of the table) forward and backward
    for name in K.U_NAMES:
        x = fg.from_numpy(pos if name in ("log", "log2", "log10", "sqrt", "rsqrt", "acosh") else
                          np.clip(a, -0.9, 0.9) if name in ("asin", "acos", "atanh", "logit") else a)
        x.requires_grad_(True)
        try:
            y = getattr(fg, name)(x) if hasattr(fg, name) else None
        except (TypeError, ValueError):
            y = None
        if y is not None and y.dtype.kind == "f":
            y.sum().backward()
    # binary with broadcasting and views, comparisons, where, strided copy
    for op, ref in ((fg.add, np.add), (fg.sub, np.subtract), (fg.mul, np.multiply), (fg.div, np.divide),
                    (fg.maximum, np.maximum), (fg.minimum, np.minimum)):
        check(op.__name__, op(ta, tb), ref(a, b))
        check(op.__name__ + " view", op(fg.from_numpy(a[::2, ::3]), fg.from_numpy(b[::3])), ref(a[::2, ::3], b[::3]))
    check("pow", fg.pow(fg.from_numpy(pos), tb), np.power(pos, b))
    check("atan2", fg.atan2(ta, tb), np.arctan2(a, b))
    check("lt", (ta < tb).numpy(), a < b)
    check("where", fg.where(ta > 0, ta, tb), np.where(a > 0, a, b))
    check("contiguous", fg.from_numpy(a.T).contiguous(), a.T)
    # reductions, arg-reductions, softmax, logsumexp, scans, sort/topk
    check("sum", ta.sum(0), a.sum(0), 1e-3)
    check("mean", ta.mean(1), a.mean(1), 1e-3)
    check("max", fg.max(ta, 1).values, a.max(1))
    check("argmin", fg.argmin(ta, 0).numpy(), a.argmin(0))
    check("logsumexp", fg.logsumexp(ta, 1), np.log(np.exp(a).sum(1)), 1e-3)
    s = F.softmax(fg.from_numpy(a).requires_grad_(True), 1)
    (s * s).sum().backward()
    check("softmax", s, np.exp(a) / np.exp(a).sum(1, keepdims=True))
    check("cumsum", fg.cumsum(ta, 1), np.cumsum(a, 1), 1e-3)
    check("sort", fg.sort(ta, 1).values, np.sort(a, 1))
    check("topk", fg.topk(ta, 3, 1).values, -np.sort(-a, 1)[:, :3])
    check("prod", fg.prod(fg.from_numpy(pos[:4, :5]), 1), np.prod(pos[:4, :5], 1), 1e-3)
    check("norm", fg.norm(ta), np.linalg.norm(a), 1e-3)
    # cross-entropy forward and backward
    t = rng.integers(0, 19, 37)
    logits = fg.from_numpy(a).requires_grad_(True)
    loss = F.cross_entropy(logits, fg.from_numpy(t))
    loss.backward()
    lse = np.log(np.exp(a).sum(1))
    check("cross_entropy", loss, np.mean(lse - a[np.arange(37), t]), 1e-3)
    # GEMM: edge sizes, transposed operands, batched, linear with bias and activation
    for m, k, n in ((1, 1, 1), (7, 13, 5), (33, 17, 65), (70, 3, 31)):
        x, w = rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)
        check(f"matmul {m}x{k}x{n}", fg.from_numpy(x) @ fg.from_numpy(w), x @ w, 1e-3)
        check(f"matmul^T {m}x{k}x{n}", fg.from_numpy(np.ascontiguousarray(x.T)).T @ fg.from_numpy(w), x @ w, 1e-3)
    xb, wb = rng.standard_normal((3, 5, 6)).astype(dtype), rng.standard_normal((6, 4)).astype(dtype)
    check("bmm", fg.from_numpy(xb) @ fg.from_numpy(wb), xb @ wb, 1e-3)
    lin = fg.nn.Linear(19, 11).to(dtype)
    h = fg.relu(lin(ta.requires_grad_(True)))
    h.sum().backward()
    # indexing: gather, scatter_add, index_select, masked ops
    idx = rng.integers(0, 19, (37, 4))
    check("gather", fg.gather(ta, 1, fg.from_numpy(idx)), np.take_along_axis(a, idx, 1))
    z = fg.zeros(37, 19, dtype=dtype).scatter_add(1, fg.from_numpy(idx), fg.ones(37, 4, dtype=dtype))
    want = np.zeros((37, 19))
    np.add.at(want, (np.arange(37)[:, None], idx), 1)
    check("scatter_add", z, want)
    sel = rng.integers(0, 37, 9)
    check("index_select", fg.index_select(ta, 0, fg.from_numpy(sel)), a[sel])
    check("masked_select", ta[ta > 0], a[a > 0])
    # optimizers (fused C steps)
    for opt_cls, kw in ((fg.optim.SGD, {"lr": 0.1, "momentum": 0.9}), (fg.optim.Adam, {"lr": 0.01}),
                        (fg.optim.AdamW, {"lr": 0.01}), (fg.optim.RMSprop, {"lr": 0.01}),
                        (fg.optim.Adagrad, {"lr": 0.01})):
        model = fg.nn.Sequential(fg.nn.Linear(19, 8), fg.nn.Tanh(), fg.nn.Linear(8, 3)).to(dtype)
        opt = opt_cls(model.parameters(), **kw)
        for _ in range(2):
            opt.zero_grad()
            F.cross_entropy(model(ta), fg.from_numpy(t % 3)).backward()
            opt.step()
    fg.nn.utils.clip_grad_norm_(model.parameters(), 1.0)     # the multi-tensor norm/scale kernels


def main():
    simds = sys.argv[1:] or fg.available_simd()
    rng = np.random.default_rng(0)
    for simd in simds:
        fg.set_simd(simd)
        for threads in (1, 2):
            fg.set_num_threads(threads)
            for dtype in (np.float32, np.float64):
                run(rng, dtype)
        print(f"memcheck driver: {simd} ok", flush=True)
    K.release_workspace()


if __name__ == "__main__":
    main()
