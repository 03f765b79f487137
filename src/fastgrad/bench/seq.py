"""The ``seq`` suite of ``fastgrad bench``: sequence models, against PyTorch when installed.

- character language-model training steps (forward, cross-entropy over every position,
  backward, AdamW) of fastgrad.charlm's models on tiny-Shakespeare batches: LSTM and GRU
  (batch 32, sequence 64, hidden 128 and 256) and the 2-layer GPT-style transformer
  (batch 32, d_model 64 and 128, 4 heads, sequence 64 and 256);
- attention alone: forward and backward of ``F.scaled_dot_product_attention`` (causal,
  batch 2, 4 heads, head size 32) at sequence lengths 64 to 2048.

fastgrad and PyTorch start from the same weights (fastgrad's initialisation, copied) and
see the same batch; the correctness gate compares the third step's loss (the gradients of
query, key and value for attention).  A ``compiled`` column appears where
``fastgrad.compile`` can compile the step.
"""
import numpy as np

from fastgrad.bench.harness import Case

VOCAB = 65
RNN_SIZES = (128, 256)                     # hidden
TRANSFORMER_SIZES = ((64, 64), (64, 256), (128, 64), (128, 256))   # (d_model, seq)
ATTN_LENGTHS = (64, 128, 256, 512, 1024, 2048)
QUICK_RNN = (128,)
QUICK_TRANSFORMER = ((64, 64),)
QUICK_ATTN = (64, 512)
BATCH, SEQ, HEADS = 32, 64, 4
ATTN_BATCH, ATTN_HEAD_DIM = 2, 32


def _batch(seq, seed=0):
    """One (x, y) batch of tiny-Shakespeare character ids, (BATCH, seq) int64 each."""
    from fastgrad import charlm, datasets
    text = datasets.tiny_shakespeare("train")
    ids = datasets.CharVocab(datasets.tiny_shakespeare()).encode(text[:200_000])._data
    return charlm.get_batch(ids, BATCH, seq, np.random.default_rng(seed))


def _weights(kind, hidden, seq):
    """fastgrad's initial weights for the model (seeded), as NumPy arrays."""
    import fastgrad as fg
    from fastgrad import charlm
    fg.manual_seed(0)
    layers = 2 if kind == "transformer" else 1
    m = charlm.build_model(kind, VOCAB, hidden=hidden, layers=layers, heads=HEADS, block_size=seq)
    return {k: v.numpy().copy() for k, v in m.state_dict().items()}


def fastgrad_lm_step(kind, hidden, seq):
    """A zero-argument training step of fastgrad.charlm's model returning the loss."""
    import fastgrad as fg
    from fastgrad import charlm, optim
    layers = 2 if kind == "transformer" else 1
    model = charlm.build_model(kind, VOCAB, hidden=hidden, layers=layers, heads=HEADS, block_size=seq)
    model.load_state_dict(_weights(kind, hidden, seq))
    opt = optim.AdamW(model.parameters(), lr=1e-3)
    x, y = _batch(seq)
    X, Y = fg.from_numpy(x), fg.from_numpy(y)

    def step():
        logits, _ = model(X)
        loss = charlm.lm_loss(logits, Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step


def compiled_lm_step(kind, hidden, seq):
    """fastgrad_lm_step compiled with fastgrad.compile, or None where the step cannot be
    compiled (a CompileError on its first calls)."""
    import fastgrad as fg
    from fastgrad.compile import CompileError
    compiled = fg.compile(fastgrad_lm_step(kind, hidden, seq))
    try:
        compiled()
        compiled()          # the first call traces, the second checks the plan against eager
    except CompileError:
        return None

    def step():
        return compiled()
    step.warm_calls = 2
    return step


def torch_lm_step(kind, hidden, seq):
    import torch
    from fastgrad import charlm
    layers = 2 if kind == "transformer" else 1
    model = charlm.build_model(kind, VOCAB, hidden=hidden, layers=layers, heads=HEADS, block_size=seq,
                               lib=torch)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in _weights(kind, hidden, seq).items()})
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = _batch(seq)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    F = torch.nn.functional

    def step():
        logits, _ = model(X)
        loss = charlm.lm_loss(logits, Y, F=F)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step


def _attn_inputs(L, seed=0):
    r = np.random.default_rng(seed)
    shape = (ATTN_BATCH, HEADS, L, ATTN_HEAD_DIM)
    return [r.standard_normal(shape).astype(np.float32) for _ in range(4)]    # q, k, v, grad out


def fastgrad_attention(L):
    """Forward and backward of causal scaled_dot_product_attention; returns the input
    gradients concatenated (the value the correctness gate compares)."""
    import fastgrad as fg
    from fastgrad.nn import functional as F
    q0, k0, v0, g0 = _attn_inputs(L)
    q, k, v = (fg.from_numpy(a).requires_grad_() for a in (q0, k0, v0))
    g = fg.from_numpy(g0)

    def run():
        q.grad = k.grad = v.grad = None
        F.scaled_dot_product_attention(q, k, v, is_causal=True).backward(g)

    def result():
        run()
        return np.concatenate([t.grad.numpy().ravel() for t in (q, k, v)])
    return run, result


def torch_attention(L):
    import torch
    q0, k0, v0, g0 = _attn_inputs(L)
    q, k, v = (torch.from_numpy(a).requires_grad_() for a in (q0, k0, v0))
    g = torch.from_numpy(g0)
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def run():
        q.grad = k.grad = v.grad = None
        sdpa(q, k, v, is_causal=True).backward(g)

    def result():
        run()
        return np.concatenate([t.grad.numpy().ravel() for t in (q, k, v)])
    return run, result


def _loss(v):
    return float(v.item()) if hasattr(v, "item") else float(v)


def _lm_impl(maker, *cfg):
    def factory():
        step = maker(*cfg)
        if step is None:
            return None

        def result():                     # a fresh model's third loss (a compiled step's
            s = maker(*cfg)               # third call replays its plan)
            for _ in range(2 - getattr(s, "warm_calls", 0)):
                s()
            return _loss(s())
        return step, result
    return factory


def seq_cases(quick, against):
    """The seq suite's cases (float32)."""
    cases = []
    configs = [(kind, h, SEQ) for kind in ("lstm", "gru") for h in (QUICK_RNN if quick else RNN_SIZES)]
    configs += [("transformer", d, s) for d, s in (QUICK_TRANSFORMER if quick else TRANSFORMER_SIZES)]
    for kind, width, seq in configs:
        impls = {"fastgrad": _lm_impl(fastgrad_lm_step, kind, width, seq),
                 "compiled": _lm_impl(compiled_lm_step, kind, width, seq)}
        if "torch" in against:
            impls["torch"] = _lm_impl(torch_lm_step, kind, width, seq)
        if kind == "transformer":
            name = f"tiny transformer 2x d{width} h{HEADS} b{BATCH} seq {seq} AdamW"
        else:
            name = f"{kind.upper()} LM b{BATCH} seq {seq} hidden {width} AdamW"
        cases.append(Case("seq", name, impls, rtol=1e-4, atol=1e-5))
    for L in (QUICK_ATTN if quick else ATTN_LENGTHS):
        impls = {"fastgrad": lambda L=L: fastgrad_attention(L)}
        if "torch" in against:
            impls["torch"] = lambda L=L: torch_attention(L)
        # QK^T and PV forward, four products of the same size backward: 12 L^2 E per head,
        # half of it under the causal mask
        flops = 12.0 * ATTN_BATCH * HEADS * L * L * ATTN_HEAD_DIM / 2
        cases.append(Case("seq", f"sdpa causal fwd+bwd b{ATTN_BATCH} h{HEADS} L {L} d{ATTN_HEAD_DIM}",
                          impls, flops=flops, rtol=1e-3, atol=1e-4,
                          note="flops: the causal half of QK^T, PV and their gradients"))
    return cases
