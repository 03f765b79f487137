"""`fastgrad bench`: the suites and the command.  See fastgrad.bench.harness for the method."""
import json
import sys
import time

import numpy as np

from fastgrad.bench import workloads as W
from fastgrad.bench.harness import (PEERS, SCHEMA, SUITES, Case, compare, fmt_time, load_run,
                                    machine, set_threads, time_case)

__all__ = ["run", "kernel_cases", "gemm_cases", "train_cases", "overhead_cases", "threads_cases",
           "compare", "load_run", "Case", "time_case"]

QUICK_OPS = ["add", "exp", "tanh", "gelu", "sum", "softmax_rows"]
QUICK_GEMM = [(32, 784, 128, "NN"), (784, 64, 128, "TN"), (256, 784, 512, "NN"), (512, 512, 512, "NN")]


def _pair(run, result=None):
    return run, (result if result is not None else run)


def kernel_cases(dtype, quick, against, n=1_000_000):
    import fastgrad as fg
    dt = np.dtype(dtype)
    cases = []
    for op in (QUICK_OPS if quick else sorted(W.OPS)):
        fn, maker = W.OPS[op]
        rng = np.random.default_rng(0)
        arrays = [a.astype(dt) for a in maker(n, rng)]

        def f_fg(fn=fn, arrays=arrays):
            xs = [fg.from_numpy(a) for a in arrays]
            return _pair(lambda: fn(*xs))

        def f_np(op=op, arrays=arrays):
            g = W.numpy_ops().get(op)             # None: needs SciPy, which is not installed
            return None if g is None else _pair(lambda: g(*arrays))

        def f_torch(op=op, arrays=arrays):
            import torch
            ts = [torch.from_numpy(a) for a in arrays]
            g = _torch_table(torch)[op]
            return _pair(lambda: g(*ts))

        def f_jax(op=op, arrays=arrays):
            import jax
            import jax.numpy as jnp
            xs = [jnp.asarray(a) for a in arrays]
            g = jax.jit(_jax_table(jax, jnp)[op])
            return _pair(lambda: g(*xs).block_until_ready())

        impls = {"fastgrad": f_fg}
        for peer, f in (("numpy", f_np), ("torch", f_torch), ("jax", f_jax)):
            if peer in against:
                impls[peer] = f
        rtol = 1e-4 if dt == np.float32 else 1e-10
        cases.append(Case("kernels", f"{op} n={n}", impls, rtol=rtol, atol=rtol))
    # fused softmax cross-entropy, forward and backward, against PyTorch
    rows, c = (n // 100, 100)
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((rows, c)).astype(dt)
    target = rng.integers(0, c, rows)

    def xent_fg():
        from fastgrad.nn import functional as F
        x = fg.from_numpy(logits).requires_grad_()
        t = fg.from_numpy(target)

        def run():
            x.grad = None
            F.cross_entropy(x, t).backward()
            return x.grad
        return _pair(run)

    def xent_torch():
        import torch
        x = torch.from_numpy(logits).requires_grad_()
        t = torch.from_numpy(target)

        def run():
            x.grad = None
            torch.nn.functional.cross_entropy(x, t).backward()
            return x.grad
        return _pair(run)

    impls = {"fastgrad": xent_fg}
    if "torch" in against:
        impls["torch"] = xent_torch
    cases.append(Case("kernels", f"cross_entropy fwd+bwd {rows}x{c}", impls,
                      rtol=1e-4 if dt == np.float32 else 1e-10, atol=1e-7))
    return cases


def _torch_table(torch):
    F = torch.nn.functional
    return {"add": lambda a, b: a + b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
            "exp": torch.exp, "log": torch.log, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
            "gelu": F.gelu, "relu": torch.relu, "sqrt": torch.sqrt, "sin": torch.sin,
            "softplus": F.softplus, "sum": torch.sum, "mean_rows": lambda x: x.mean(1),
            "max_rows": lambda x: x.max(1).values, "logsumexp_rows": lambda x: torch.logsumexp(x, 1),
            "softmax_rows": lambda x: torch.softmax(x, 1), "log_softmax_rows": lambda x: torch.log_softmax(x, 1)}


def _jax_table(jax, jnp):
    return {"add": lambda a, b: a + b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
            "exp": jnp.exp, "log": jnp.log, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid,
            "gelu": lambda x: jax.nn.gelu(x, approximate=False), "relu": jax.nn.relu, "sqrt": jnp.sqrt,
            "sin": jnp.sin, "softplus": jax.nn.softplus, "sum": jnp.sum, "mean_rows": lambda x: x.mean(1),
            "max_rows": lambda x: x.max(1), "logsumexp_rows": lambda x: jax.scipy.special.logsumexp(x, 1),
            "softmax_rows": lambda x: jax.nn.softmax(x, 1), "log_softmax_rows": lambda x: jax.nn.log_softmax(x, 1)}


def gemm_cases(dtype, quick, against):
    from fastgrad._C import _kernels as K
    cases = []
    for m, k, n, layout in (QUICK_GEMM if quick else W.GEMM_SHAPES):
        a, b = W.gemm_operands(m, k, n, layout, np.dtype(dtype))
        impls = {"fastgrad": lambda a=a, b=b: _pair(lambda: K.matmul(a, b))}
        if "numpy" in against:
            impls["numpy"] = lambda a=a, b=b: _pair(lambda: np.matmul(a, b))
        if "torch" in against:
            def f_torch(a=a, b=b):
                import torch
                ta, tb = torch.from_numpy(a), torch.from_numpy(b)
                return _pair(lambda: torch.matmul(ta, tb))
            impls["torch"] = f_torch
        if "jax" in against:
            def f_jax(a=a, b=b):
                import jax
                import jax.numpy as jnp
                ja, jb = jnp.asarray(a), jnp.asarray(b)
                mm = jax.jit(jnp.matmul)
                return _pair(lambda: mm(ja, jb).block_until_ready())
            impls["jax"] = f_jax
        tol = 1e-3 if np.dtype(dtype) == np.float32 else 1e-9
        cases.append(Case("gemm", f"{m}x{k}x{n} {layout}", impls, flops=2.0 * m * k * n,
                          rtol=tol, atol=tol * float(np.sqrt(k))))
    return cases


def train_cases(quick, against):
    """MLP training steps (SGD and Adam).  The correctness gate compares the loss of the
    first step, taken from identical weights and data."""
    cases = []
    for cfg in W.TRAIN_CONFIGS:
        for opt in (("sgd",) if quick else ("sgd", "adam")):
            def fresh(maker, cfg=cfg, opt=opt):
                def factory():
                    step = maker(cfg, opt)
                    if step is None:
                        return None

                    def result():
                        return _as_float(maker(cfg, opt)())   # a fresh model's first loss
                    return step, result
                return factory
            impls = {"fastgrad": fresh(W.fastgrad_train_step),
                     "compiled": fresh(W.fastgrad_compiled_train_step)}
            if "torch" in against:
                impls["torch"] = fresh(W.torch_train_step)
            if "numpy" in against and opt == "sgd":
                impls["numpy"] = fresh(W.numpy_train_step)
            bs, sizes = W.TRAIN_CONFIGS[cfg]
            cases.append(Case("train", f"MLP {cfg} batch {bs} {'-'.join(map(str, sizes))} {opt}",
                              impls, rtol=1e-5, atol=1e-6))
    def cnn(maker):
        def factory():
            return maker(), lambda: _as_float(maker()())    # a fresh model's first loss
        return factory
    impls = {"fastgrad": cnn(W.fastgrad_cnn_step)}
    if "torch" in against:
        impls["torch"] = cnn(W.torch_cnn_step)
    bs, c, side, k = W.CNN_CONFIG
    cases.append(Case("train", f"CNN batch {bs} {c}x{side}x{side} conv16-pool-conv32-pool-linear{k} sgd",
                      impls, rtol=1e-4, atol=1e-5))
    return cases


def _skipped(suite, name, why):
    return {"suite": suite, "case": name, "skipped": why}


def _as_float(v):
    return float(v.item()) if hasattr(v, "item") else float(v)


def overhead_cases(against, n_ops=50):
    """Per-op cost on 16-element tensors: a chain of tanh, forward and backward; the time
    is divided by the op count (n_ops tanh + the final sum)."""
    import fastgrad as fg
    x0 = np.random.default_rng(0).standard_normal(16).astype(np.float32)

    def f_fg():
        x = fg.from_numpy(x0.copy()).requires_grad_()

        def run():
            x.grad = None
            y = x
            for _ in range(n_ops):
                y = fg.tanh(y)
            y.sum().backward()
            return x.grad
        return run, run

    def f_torch():
        import torch
        x = torch.from_numpy(x0.copy()).requires_grad_()

        def run():
            x.grad = None
            y = x
            for _ in range(n_ops):
                y = torch.tanh(y)
            y.sum().backward()
            return x.grad
        return run, run

    impls = {"fastgrad": f_fg}
    if "torch" in against:
        impls["torch"] = f_torch
    return [Case("overhead", f"{n_ops} tanh + sum, 16 elements, fwd+bwd (all {n_ops + 1} ops)", impls,
                 rtol=1e-5, atol=1e-6, note=f"per-op time = time / {n_ops + 1}")]


# ---- threads: each training step at 1 and N threads, alone and beside other libraries ---
THREAD_WORKLOADS = ("regress 1-64-64-1 b512 adam", "MLP S b32 64-128-10 sgd",
                    "MLP L b256 784-512-512-10 sgd", "CNN b64 1x28x28 sgd")
BESIDE_GEMM = 192          # the NumPy / PyTorch matmul run between steps: 192^3, ~0.1-0.3 ms


class _Excluded:
    """A clock that leaves out the time spent in the neighbours' calls: the threads suite
    times fastgrad's step only, while NumPy's or PyTorch's thread pools run between steps
    (and may still spin when the step starts)."""

    def __init__(self):
        self.skip = 0.0

    def __call__(self):
        return time.perf_counter() - self.skip

    def around(self, fn):
        def wrapped():
            t0 = time.perf_counter()
            fn()
            self.skip += time.perf_counter() - t0
        return wrapped


def _thread_step(name):
    if name.startswith("regress"):
        return W.fastgrad_regression_step()
    if name.startswith("CNN"):
        return W.fastgrad_cnn_step()
    return W.fastgrad_train_step(name.split()[1])


def _neighbour(peer, nthreads):
    """A zero-argument call of `peer`'s matmul at nthreads threads, or None if missing."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((BESIDE_GEMM, BESIDE_GEMM)).astype(np.float32)
    if peer == "numpy":
        return lambda: np.matmul(a, a)
    if peer == "torch":
        try:
            import torch
        except ImportError:
            return None
        torch.set_num_threads(nthreads)
        ta = torch.from_numpy(a)
        return lambda: torch.matmul(ta, ta)
    return None


def threads_cases(quick, against, nthreads, clock):
    """Each training step at 1 thread ("fastgrad") and at nthreads (f"t{nthreads}") in the
    same process, interleaved, alone and with NumPy's (and PyTorch's) matmul called at
    nthreads threads between steps.  The reported ratio is the nthreads time over the
    1-thread time: at most 1 means the threads never made the step slower."""
    import fastgrad as fg
    cases = []
    workloads = THREAD_WORKLOADS[:2] + THREAD_WORKLOADS[3:] if quick else THREAD_WORKLOADS
    for wl in workloads:
        for beside in ("alone",) + tuple(p for p in ("numpy", "torch") if p in against):
            def impl(nt, wl=wl, beside=beside):
                def factory():
                    step = _thread_step(wl)
                    nb = None if beside == "alone" else _neighbour(beside, nthreads)
                    if beside != "alone" and nb is None:
                        return None
                    nb = clock.around(nb) if nb else None

                    def run():
                        if nb:
                            nb()
                        fg.set_num_threads(nt)
                        return step()

                    def result():
                        fg.set_num_threads(nt)
                        return _as_float(_thread_step(wl)())    # a fresh model's first loss
                    return run, result
                return factory
            impls = {"fastgrad": impl(1), f"t{nthreads}": impl(nthreads)}
            where = "alone" if beside == "alone" else f"+{beside} mm"
            cases.append(Case("threads", f"{wl} {where}", impls, rtol=1e-4, atol=1e-5,
                              note=f"ratio = {nthreads}-thread time / 1-thread time"))
    return cases


def build(suite, dtype, quick, against, nthreads=1, clock=None):
    if suite == "kernels":
        return kernel_cases(dtype, quick, against)
    if suite == "gemm":
        return gemm_cases(dtype, quick, against)
    if suite == "train":
        return train_cases(quick, against) if np.dtype(dtype) == np.float32 else []
    if suite == "overhead":
        return overhead_cases(against) if np.dtype(dtype) == np.float32 else []
    if suite == "threads":
        return threads_cases(quick, against, nthreads, clock) if np.dtype(dtype) == np.float32 else []
    if suite == "seq":
        from fastgrad.bench.seq import seq_cases
        return seq_cases(quick, against) if np.dtype(dtype) == np.float32 else []
    raise ValueError(f"bench: unknown suite {suite!r}; choose from {SUITES} or 'all'")


def run(suites=("all",), threads=(None,), dtypes=("float32",), against=PEERS, quick=False,
        budget=None, out=None, progress=True):
    """Run the suites; returns the result dict (schema fastgrad-bench/1)."""
    import fastgrad as fg
    out = out or sys.stdout
    suites = list(SUITES) if "all" in suites else list(suites)
    for s in suites:
        if s not in SUITES:
            raise ValueError(f"bench: unknown suite {s!r}; choose from {', '.join(SUITES)} or all")
    budget = budget if budget is not None else (0.3 if quick else 2.0)
    avail = {}
    for peer in against:
        if peer not in PEERS:
            raise ValueError(f"bench: unknown peer {peer!r}; choose from {', '.join(PEERS)}")
        try:
            __import__(peer if peer != "jax" else "jax.numpy")
            avail[peer] = True
        except ImportError:
            avail[peer] = False
    peers = [p for p in against if avail[p]]
    notes = [f"{p} is not installed: skipped" for p in against if not avail[p]]
    prev = fg.get_num_threads()
    results = []
    try:
        for th in threads:
            th = th or prev
            set_threads(th)
            for dtype in dtypes:
                for suite in suites:
                    clock = _Excluded()
                    for case in build(suite, dtype, quick, peers, th, clock):
                        if isinstance(case, dict):
                            r = dict(case, threads=th, dtype=str(np.dtype(dtype)), impls={})
                        else:            # threads: coexistence is what it measures, no settle
                            r = time_case(case, budget=budget, block=min(0.05, budget / 10),
                                          settle=0.12 if th > 1 and suite != "threads" else 0.0,
                                          clock=clock)
                            r.update(threads=th, dtype=str(np.dtype(dtype)))
                        results.append(r)
                        if progress:
                            print(_row(r), file=out, flush=True)
    finally:
        set_threads(prev)
    return {"schema": SCHEMA, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine(list(threads)), "peers": peers, "notes": notes,
            "budget_s": budget, "quick": quick, "results": results}


def _row(r):
    head = f"{r['suite']:<9}{r['case']:<44.44}{'t' + str(r['threads']):>4} {r['dtype']:<8}"
    if "skipped" in r:
        return head + f" skipped: {r['skipped']}"
    f = r["impls"]["fastgrad"]
    cells = [f"fastgrad {fmt_time(f['median_s'])} ±{fmt_time(f['iqr_s'] / 2)}"]
    if "gflops" in f:
        cells[0] += f" ({f['gflops']:.0f} GF/s)"
    for name, v in r["impls"].items():
        if name == "fastgrad":
            continue
        if v["status"] == "ok":
            cells.append(f"{name} {fmt_time(v['median_s'])} x{v['ratio']:.2f}")
        elif v["status"] == "WRONG":
            cells.append(f"{name} WRONG")
    return head + " " + "  ".join(cells)


def print_table(run_result, out=None):
    """The terminal table: one row per case, ratio = peer time / fastgrad time."""
    out = out or sys.stdout
    print(f"fastgrad bench on {run_result['machine']['cpu']} (simd {run_result['machine']['simd']}); "
          "ratio = peer time / fastgrad time (above 1: fastgrad faster), medians", file=out)
    for n in run_result["notes"]:
        print("note: " + n, file=out)
    for r in run_result["results"]:
        print(_row(r), file=out)


def _variants(run_result):
    """Implementations that are fastgrad itself run another way (``compiled``, ``t2``, ...):
    their ratio is their time over eager fastgrad's, so below 1 they are faster."""
    out = []
    for r in run_result["results"]:
        for name in r.get("impls", {}):
            if (name == "compiled" or (name[:1] == "t" and name[1:].isdigit())) and name not in out:
                out.append(name)
    return out


def markdown(run_result):
    """The results as a Markdown table (what the README's Performance section shows).
    Peer columns give the peer's time and peer / fastgrad (above 1: fastgrad is faster);
    variant columns (compiled, tN) give their time and variant / fastgrad (below 1: the
    variant is faster)."""
    variants = _variants(run_result)
    peers = [p for p in run_result["peers"] if p not in variants]
    head = ("| suite | case | threads | fastgrad | " + "".join(f"{v} (x fastgrad) | " for v in variants)
            + "".join(f"{p} (ratio) | " for p in peers)).rstrip(" ")
    lines = [head, "|" + "---|" * (4 + len(variants) + len(peers))]
    for r in run_result["results"]:
        if "skipped" in r:
            continue
        f = r["impls"]["fastgrad"]
        cell = fmt_time(f["median_s"]) + (f" ({f['gflops']:.0f} GF/s)" if "gflops" in f else "")
        cells = []
        for p in variants + list(peers):
            v = r["impls"].get(p, {})
            cells.append(f"{fmt_time(v['median_s'])} ({v['ratio']:.2f})" if v.get("status") == "ok"
                         else ("WRONG" if v.get("status") == "WRONG" else "-"))
        lines.append(f"| {r['suite']} | {r['case']} | {r['threads']} | {cell} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(run_result, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("fastgrad bench --plot needs matplotlib: pip install matplotlib") from None
    variants = set(_variants(run_result))
    # one bar per comparison, oriented so that right of 1 always means "fastgrad (eager, or
    # the variant) is faster": peer / fastgrad for peers, fastgrad / variant for variants
    rows = [(r["suite"], r["case"], name, (1.0 / v["ratio"]) if name in variants else v["ratio"])
            for r in run_result["results"] for name, v in r.get("impls", {}).items()
            if v.get("status") == "ok" and "ratio" in v and v["ratio"] > 0]
    if not rows:
        raise RuntimeError("fastgrad bench --plot: no ratios to plot (no peer was measured)")
    labels = [f"{s}: {p} vs eager" if p in variants else f"{s}: {c} vs {p}" for s, c, p, _ in rows]
    labels = [f"{lab} ({c})" if p in variants else lab for lab, (s, c, p, _) in zip(labels, rows)]
    fig, ax = plt.subplots(figsize=(12, 0.28 * len(rows) + 1.2))
    ax.barh(range(len(rows)), [r[3] for r in rows], color=["tab:green" if r[3] >= 1 else "tab:red" for r in rows])
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("speed-up (log scale): peer time / fastgrad time, or eager time / variant time; "
                  "right of 1: the fastgrad side is faster")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(args, out=None):
    """Entry point of `fastgrad bench` (args from fastgrad.cli's parser)."""
    out = out or sys.stdout
    if args.bench_command == "compare":
        old, new = load_run(args.old), load_run(args.new)
        rows = compare(old, new, args.threshold)
        print(f"{'suite':<9}{'case':<44}{'thr':>4} {'dtype':<8}{'old':>10}{'new':>10}{'speed-up':>10}  verdict",
              file=out)
        worse = 0
        for s, c, th, dt, a, b, sp, verdict in rows:
            worse += verdict == "slower"
            print(f"{s:<9}{c:<44.44}{th!s:>4} {dt!s:<8}{fmt_time(a):>10}{fmt_time(b):>10}{sp:>10.2f}  {verdict}",
                  file=out)
        if not rows:
            print("no case in common", file=out)
        return 1 if (worse and args.fail_on_slower) else 0
    res = run(args.suite, args.threads, args.dtype, args.against, args.quick, args.budget, out=out,
              progress=True)
    for n in res["notes"]:
        print("note: " + n, file=out)
    wrong = [(r["case"], k) for r in res["results"] for k, v in r.get("impls", {}).items()
             if v.get("status") == "WRONG"]
    for case, k in wrong:
        print(f"FAILED correctness gate: {k} on {case}", file=out)
    if args.markdown:
        print(markdown(res), file=out)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
        print(f"results: {args.json}", file=out)
    if args.plot:
        plot(res, args.plot)
        print(f"chart: {args.plot}", file=out)
    return 1 if wrong else 0
