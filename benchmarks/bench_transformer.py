"""A 2-layer tiny transformer language-model training step, fastgrad vs PyTorch eager, from
the same weights: token and position embeddings, nn.TransformerEncoder of two pre-norm
nn.TransformerEncoderLayers (4 heads, feed-forward 4 * d_model, GELU, batch_first, causal
mask, dropout 0), a final LayerNorm, a linear head, cross-entropy, AdamW.

Configs "d{d_model}-s{seq}-b{batch}": d_model 64 and 128, sequence 64 (batch 32) and 256
(batch 16); vocabulary 65 (a character set).

    pytest benchmarks/bench_transformer.py --benchmark-group-by=param:cfg
    python benchmarks/bench_transformer.py [--threads 1,2] [--reps 9] [--configs d64-s64-b32,...]
                                           [--clock wall|cpu] [--copies]

The script form times both implementations interleaved in one process (medians) and
prints the ratio fastgrad / PyTorch per config and thread count, which is how speed is
quoted: absolute times drift on a shared machine, ratios from one run hold.  It first
checks that both start from the same loss.  --clock cpu times process CPU time instead of
wall time (steadier at 1 thread on a busy machine; at 2 threads it counts both threads'
time, spin-waiting included).

--copies times fastgrad against itself instead: its step as it runs, interleaved with the same
step whose attention copies its head-split operands dense and returns dense results (the
copies nn.MultiheadAttention's layout costs when the kernel cannot read and write it in
place); it prints the ratio in-place / copies.
"""
import argparse
import time

import numpy as np
import pytest

from fastgrad.bench.harness import interleaved, set_threads

VOCAB = 65
CONFIGS = {f"d{d}-s{s}-b{b}": (d, s, b) for d in (64, 128) for s, b in ((64, 32), (256, 16))}
NHEAD, NLAYERS = 4, 2


def _lm_class(nn, F):
    """The language model as a Module class of the given library (torch.nn or fastgrad.nn)."""

    class TinyLM(nn.Module):
        def __init__(self, d, seq):
            super().__init__()
            self.tok = nn.Embedding(VOCAB, d)
            self.pos = nn.Embedding(seq, d)
            layer = nn.TransformerEncoderLayer(d, NHEAD, 4 * d, dropout=0.0, activation="gelu",
                                               batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, NLAYERS, enable_nested_tensor=False)
            self.ln = nn.LayerNorm(d)
            self.head = nn.Linear(d, VOCAB)

        def forward(self, idx, pos, mask):
            x = self.tok(idx) + self.pos(pos)
            x = self.encoder(x, mask=mask, is_causal=True)
            return self.head(self.ln(x))

    return TinyLM


def _data(seq, batch, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, VOCAB, (batch, seq + 1))
    return idx[:, :-1].copy(), idx[:, 1:].copy()


def torch_step(cfg, state=None):
    """(step function, model) for PyTorch; state: a state_dict of NumPy arrays to start from."""
    import torch
    d, seq, batch = CONFIGS[cfg]
    torch.manual_seed(0)
    model = _lm_class(torch.nn, torch.nn.functional)(d, seq)
    if state is not None:
        model.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = (torch.tensor(a) for a in _data(seq, batch))
    pos = torch.arange(seq)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(seq)

    def step():
        opt.zero_grad()
        logits = model(x, pos, mask)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        opt.step()
        return loss
    return step, model


def fastgrad_step(cfg, state=None):
    """(step function, model) for fastgrad; state: a state_dict of NumPy arrays to start from."""
    import fastgrad as fg
    from fastgrad import nn
    d, seq, batch = CONFIGS[cfg]
    fg.manual_seed(0)
    model = _lm_class(nn, nn.functional)(d, seq)
    if state is not None:
        model.load_state_dict({k: fg.tensor(v) for k, v in state.items()})
    opt = fg.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = (fg.tensor(a) for a in _data(seq, batch))
    pos = fg.arange(seq)
    mask = nn.Transformer.generate_square_subsequent_mask(seq)

    def step():
        opt.zero_grad()
        logits = model(x, pos, mask)
        loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        opt.step()
        return loss
    return step, model


def pair(cfg):
    """Both steps from the same weights (PyTorch's initialisation)."""
    t_step, t_model = torch_step(cfg)
    state = {k: v.detach().numpy().copy() for k, v in t_model.state_dict().items()}
    f_step, _ = fastgrad_step(cfg, state)
    return f_step, t_step


@pytest.mark.parametrize("cfg", sorted(CONFIGS))
@pytest.mark.parametrize("impl", ["fastgrad", "torch"])
def test_transformer_step(benchmark, impl, cfg):
    pytest.importorskip("torch")
    f_step, t_step = pair(cfg)
    step = f_step if impl == "fastgrad" else t_step
    step()
    benchmark.group = cfg
    benchmark(step)


class _DenseAttention:
    """A kernel backend for fastgrad.ops.attention whose attention copies its operands
    dense and returns dense results."""

    def __init__(self):
        from fastgrad._C import _kernels
        self.k = self
        self._k = _kernels

    def sdpa(self, q, k, v, mask, scale, causal):
        c = np.ascontiguousarray
        return self._k.sdpa(c(q), c(k), c(v), mask, scale, causal)

    def sdpa_bwd(self, g, q, k, v, mask, out, lse, scale, causal):
        c = np.ascontiguousarray
        return self._k.sdpa_bwd(c(g), c(q), c(k), c(v), mask, c(out), lse, scale, causal)


def copies(configs, threads, reps, inner, clock):
    """fastgrad's step with the attention reading and writing head-split layouts in place,
    interleaved with the same step copying them; prints both medians and the ratio."""
    import fastgrad.ops.attention as A
    real, dense = (A.backend, A._K), (_DenseAttention(), None)

    def run_with(mode, step):
        def run():
            A.backend, A._K = mode
            try:
                return step()
            finally:
                A.backend, A._K = real
        return run

    for cfg in configs:
        t_step, t_model = torch_step(cfg)
        state = {k: v.detach().numpy().copy() for k, v in t_model.state_dict().items()}
        a = run_with(real, fastgrad_step(cfg, state)[0])
        b = run_with(dense, fastgrad_step(cfg, state)[0])
        if float(a().item()) != float(b().item()):
            raise SystemExit(f"{cfg}: the two fastgrad steps give different losses")
        for n in threads:
            set_threads(n)
            ta, tb = interleaved([a, b], reps, inner, clock=clock)
            print(f"{cfg:>14} threads {n}: in place {ta * 1e3:8.2f} ms  copies {tb * 1e3:8.2f} ms  "
                  f"ratio {ta / tb:5.3f}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--inner", type=int, default=2)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    ap.add_argument("--copies", action="store_true",
                    help="fastgrad's in-place attention layouts against dense copies")
    args = ap.parse_args(argv)
    if args.copies:
        clock = time.perf_counter if args.clock == "wall" else time.process_time
        copies(args.configs.split(","), [int(t) for t in args.threads.split(",")], args.reps,
               args.inner, clock)
        return
    rows = []
    for cfg in args.configs.split(","):
        f_step, t_step = pair(cfg)
        lf, lt = float(f_step().item()), float(t_step().item())
        if abs(lf - lt) > 1e-4 * abs(lt):
            raise SystemExit(f"{cfg}: first losses differ: fastgrad {lf} vs torch {lt}")
        for n in (int(t) for t in args.threads.split(",")):
            set_threads(n)
            clock = time.perf_counter if args.clock == "wall" else time.process_time
            tf, tt = interleaved([f_step, t_step], args.reps, args.inner, clock=clock)
            rows.append((cfg, n, tf * 1e3, tt * 1e3, tf / tt))
            print(f"{cfg:>14} threads {n}: fastgrad {tf * 1e3:8.2f} ms  torch {tt * 1e3:8.2f} ms  "
                  f"ratio {tf / tt:5.2f}", flush=True)
    print()
    print("| config | threads | fastgrad ms | torch ms | fastgrad / torch |")
    print("|---|---|---|---|---|")
    for cfg, n, tf, tt, r in rows:
        print(f"| {cfg} | {n} | {tf:.2f} | {tt:.2f} | {r:.2f} |")


if __name__ == "__main__":
    main()
