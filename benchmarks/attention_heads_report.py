"""Fused attention kernels at small head sizes against PyTorch's
scaled_dot_product_attention, causal, float32: forward alone and forward + backward, best
of 40 rounds of 3 calls each, one process.

    PYTHONPATH=src python benchmarks/attention_heads_report.py [--threads 1]

Ratios are fastgrad's time over PyTorch's (below 1: fastgrad is faster).
"""
import argparse
import time

import numpy as np

SHAPES = [(32, 4, 64, 16), (16, 4, 256, 16), (32, 4, 64, 32), (4, 8, 512, 64)]


def run(b, h, t, d, rounds=40):
    import torch
    from fastgrad._C import _kernels as K
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((b, h, t, d)).astype(np.float32) for _ in range(3))
    scale = d ** -0.5
    o, lse = K.sdpa(q, k, v, None, scale, True)
    g = np.ones_like(o)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    tg = torch.tensor(g)
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def torch_fb():
        sdpa(tq, tk, tv, is_causal=True).backward(tg)

    fns = {"fg_fwd": lambda: K.sdpa(q, k, v, None, scale, True),
           "fg_bwd": lambda: K.sdpa_bwd(g, q, k, v, None, o, lse, scale, True),
           "torch_fwd": lambda: sdpa(tq, tk, tv, is_causal=True),
           "torch_fb": torch_fb}
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, f in fns.items():
            t0 = time.perf_counter()
            f(), f(), f()
            best[name] = min(best[name], (time.perf_counter() - t0) / 3)
    us = {n: x * 1e6 for n, x in best.items()}
    fb = us["fg_fwd"] + us["fg_bwd"]
    print(f"b{b} h{h} L{t} d{d}: fastgrad fwd {us['fg_fwd']:.0f} us, fwd+bwd {fb:.0f} us | torch fwd "
          f"{us['torch_fwd']:.0f} us, fwd+bwd {us['torch_fb']:.0f} us | ratio fwd "
          f"{us['fg_fwd'] / us['torch_fwd']:.2f}, fwd+bwd {fb / us['torch_fb']:.2f}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch
    import fastgrad as fg
    fg.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    for shape in SHAPES:
        run(*shape)


if __name__ == "__main__":
    main()
