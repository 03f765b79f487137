"""Recurrent-layer benchmarks (pytest-benchmark): one training step of a character-level
language model -- embedding, one LSTM or GRU layer, linear head, cross_entropy, Adam --
at batch 32, sequence 64, hidden 128 and 256, fastgrad vs PyTorch eager (same weights,
same tokens), float32, at 1 and 2 threads.

    pytest benchmarks/bench_rnn.py --benchmark-group-by=group
    python benchmarks/bench_rnn.py            # one interleaved run: medians and ratios

The "floor" column is the ratio fastgrad would reach if every multiply-add of its step
(step_flops: the GEMMs of the layer, its backward and the head) ran at the speed of a
large square GEMM measured in the same process (gemm_peak_flops) and nothing else took
time: a lower bound on the ratio any implementation of the same arithmetic can reach.

The peaks are measured before PyTorch runs.  At 2 threads the steps alternate call by call,
so each runs right after the other library's: PyTorch's OpenMP workers still spinning on the
second core slow fastgrad's 2-thread step, which the floor does not account for (time a
step alone with fastgrad_step() to see the difference).

The table times 1 thread in CPU time (time.process_time: robust on a shared, loaded
machine, where wall time mostly measures waiting for a core) and 2 threads in wall time
(CPU time would count a spinning worker's waiting as work).
"""
import numpy as np
import pytest

VOCAB, EMBED, BATCH, SEQ = 65, 64, 32, 64
CASES = [(cell, hidden) for cell in ("LSTM", "GRU") for hidden in (128, 256)]


def _tokens(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, VOCAB, (BATCH, SEQ + 1))


def torch_step(cell, hidden):
    """A closure running one training step of PyTorch's model (and the model, to copy)."""
    import torch
    torch.manual_seed(0)
    emb = torch.nn.Embedding(VOCAB, EMBED)
    rnn = getattr(torch.nn, cell)(EMBED, hidden, batch_first=True)
    head = torch.nn.Linear(hidden, VOCAB)
    mods = torch.nn.ModuleList([emb, rnn, head])
    opt = torch.optim.Adam(mods.parameters(), lr=1e-3)
    tok = torch.tensor(_tokens())
    x, y = tok[:, :-1], tok[:, 1:].reshape(-1)

    def step():
        opt.zero_grad()
        out, _ = rnn(emb(x))
        loss = torch.nn.functional.cross_entropy(head(out).reshape(-1, VOCAB), y)
        loss.backward()
        opt.step()
        return loss
    return step, mods


def fastgrad_step(cell, hidden, torch_mods=None):
    """The same model in fastgrad (PyTorch's weights when torch_mods is given)."""
    import fastgrad as fg
    from fastgrad import nn
    fg.manual_seed(0)
    emb = nn.Embedding(VOCAB, EMBED)
    rnn = getattr(nn, cell)(EMBED, hidden, batch_first=True)
    head = nn.Linear(hidden, VOCAB)
    mods = nn.ModuleList([emb, rnn, head])
    if torch_mods is not None:
        mods.load_state_dict({k: fg.tensor(v.detach().numpy().copy())
                              for k, v in torch_mods.state_dict().items()})
    opt = fg.optim.Adam(mods.parameters(), lr=1e-3)
    tok = _tokens()
    x, y = fg.tensor(tok[:, :-1]), fg.tensor(tok[:, 1:].reshape(-1))

    def step():
        opt.zero_grad()
        out, _ = rnn(emb(x))
        loss = nn.functional.cross_entropy(head(out).reshape(-1, VOCAB), y)
        loss.backward()
        opt.step()
        return loss
    return step


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CASES, ids=[f"{c}{h}" for c, h in CASES])
@pytest.mark.parametrize("fw", ["fastgrad", "torch"])
def test_char_lm_step(benchmark, fw, case, threads):
    from fastgrad.bench.harness import set_threads
    if fw == "torch":
        pytest.importorskip("torch")
    set_threads(threads)
    cell, hidden = case
    benchmark.group = f"char-LM {cell} h{hidden} b{BATCH} s{SEQ} t{threads}"
    step = torch_step(cell, hidden)[0] if fw == "torch" else fastgrad_step(cell, hidden)
    benchmark(step)


def step_flops(cell, hidden):
    """Floating-point operations (2 per multiply-add) of the GEMMs of one training step:
    input projection, recurrence, their backward and weight gradients, and the head."""
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[cell] * hidden
    rows = BATCH * SEQ
    layer = 3 * rows * EMBED * gates + 3 * rows * hidden * gates   # fwd, dx or dh, dW
    head = 3 * rows * hidden * VOCAB
    return 2.0 * (layer + head)


def gemm_peak_flops(clock, n=512, reps=7):
    """FLOP/s of fastgrad's n x n x n float32 matmul (median of reps) on the current
    thread setting."""
    import statistics
    import fastgrad as fg
    a = fg.randn(n, n)
    b = fg.randn(n, n)
    ts = []
    for _ in range(reps):
        t0 = clock()
        for _ in range(4):
            a @ b
        ts.append((clock() - t0) / 4)
    return 2.0 * n ** 3 / statistics.median(ts)


def main(reps=15):
    import os
    import sys
    import time
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from fastgrad.bench.harness import interleaved, set_threads
    # the GEMM peaks first, before PyTorch runs: its OpenMP workers spin for a while after
    # each call and would take the second core from a measurement that follows one
    peaks = {}
    for threads in (1, 2):
        set_threads(threads)
        peaks[threads] = gemm_peak_flops(time.process_time if threads == 1 else time.perf_counter)
    print("GEMM peak (512^3, fastgrad): " + ", ".join(f"{peaks[t] / 1e9:.0f} GFLOP/s at {t} thread"
                                                     + "s" * (t > 1) for t in peaks))
    print(f"char-LM training step, batch {BATCH}, sequence {SEQ}, embedding {EMBED}, "
          f"vocabulary {VOCAB}, float32; medians of {reps} interleaved samples")
    print(f"{'case':<10}{'threads':>8}{'clock':>8}{'torch ms':>11}{'fastgrad ms':>13}"
          f"{'ratio':>8}{'floor':>8}")
    for threads in (1, 2):
        set_threads(threads)
        clock, cname = (time.process_time, "cpu") if threads == 1 else (time.perf_counter, "wall")
        peak = peaks[threads]
        for cell, hidden in CASES:
            tstep, tmods = torch_step(cell, hidden)
            fstep = fastgrad_step(cell, hidden, tmods)
            t, f = interleaved([tstep, fstep], reps, inner=1, clock=clock)
            print(f"{cell + str(hidden):<10}{threads:>8}{cname:>8}{t * 1e3:>11.1f}"
                  f"{f * 1e3:>13.1f}{f / t:>8.2f}{step_flops(cell, hidden) / peak / t:>8.2f}")


if __name__ == "__main__":
    main()
