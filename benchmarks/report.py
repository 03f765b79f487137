"""Print fastgrad-vs-baseline ratios, measured interleaved in one process (medians).

    python benchmarks/report.py [--threads 2] [--quick]

Forward ops at 1e6 elements against the same computation in NumPy; forward+backward
against fastgrad's own NumPy backend; eager per-op overhead (and PyTorch's, if installed).
"""
import argparse
import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import fastgrad as fg
from workloads import OPS, make_fwd, make_fwd_bwd, numpy_fwd, tanh_chain
from fastgrad.bench.harness import interleaved, set_threads


def with_backend(name, fn):
    def run():
        prev = fg.get_backend()
        fg.set_backend(name)
        try:
            fn()
        finally:
            fg.set_backend(prev)
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    set_threads(a.threads)
    reps = 5 if a.quick else 15
    print(f"fastgrad {fg.__version__}  simd={fg.get_simd()}  threads={a.threads}  n={a.n}")
    print(f"{'op':18s} {'fg fwd':>10s} {'numpy fwd':>10s} {'ratio':>7s}   "
          f"{'fg f+b':>10s} {'np-backend f+b':>14s} {'ratio':>7s}")
    for op in sorted(OPS):
        inner = 3 if a.n >= 1_000_000 else 100
        tf, tn = interleaved([make_fwd(op, a.n), numpy_fwd(op, a.n)], reps, inner)
        fb = make_fwd_bwd(op, a.n)
        tb, tbn = interleaved([fb, with_backend("numpy", make_fwd_bwd(op, a.n))], reps, inner)
        print(f"{op:18s} {tf*1e6:9.1f}us {tn*1e6:9.1f}us {tn/tf:6.2f}x   "
              f"{tb*1e6:9.1f}us {tbn*1e6:13.1f}us {tbn/tb:6.2f}x")
    chain = tanh_chain()
    (t,) = interleaved([chain], reps, 200)
    line = f"eager overhead (50 tanh + sum, 16 elements, fwd+bwd): {t/51*1e6:.2f} us/op"
    try:
        import torch
        torch.set_num_threads(a.threads)
        x = torch.randn(16, requires_grad=True)

        def tchain():
            x.grad = None
            y = x
            for _ in range(50):
                y = torch.tanh(y)
            y.sum().backward()
        t, tt = interleaved([chain, tchain], reps, 200)
        line = (f"eager overhead (50 tanh + sum, 16 elements, fwd+bwd): fastgrad {t/51*1e6:.2f} us/op, "
                f"torch {torch.__version__} {tt/51*1e6:.2f} us/op, ratio {tt/t:.2f}x")
    except ImportError:
        pass
    print(line)


if __name__ == "__main__":
    main()
