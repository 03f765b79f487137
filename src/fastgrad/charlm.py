"""Character-level language models: the models, batches, training and sampling behind
``fastgrad train --task charlm``, ``examples/char_lm.py`` and the ``seq`` bench suite.

The models are written once against a library namespace (``fastgrad`` or ``torch``),
using only the public ``nn`` / ``nn.functional`` API the two share, so the same code
builds the same network in both and a PyTorch ``state_dict`` loads into the fastgrad one
unchanged:

- ``"lstm"`` / ``"gru"``: token embedding (width ``hidden``) -> ``nn.LSTM``/``nn.GRU``
  (``layers`` layers, batch_first) -> linear head to the vocabulary.
- ``"transformer"``: a small GPT-style decoder: token + learned position embedding
  (width ``d_model``), ``layers`` blocks of LayerNorm -> causal multi-head
  self-attention (``F.scaled_dot_product_attention(is_causal=True)``) -> residual,
  LayerNorm -> MLP (4 * d_model, GELU) -> residual; a final LayerNorm and a linear head.

    import fastgrad as fg
    from fastgrad import charlm
    model = charlm.build_model("lstm", vocab_size=65, hidden=128, layers=1)
    logits, state = charlm.forward(model, ids)      # ids: int64 (batch, time)
"""
import math
import sys
import time

import numpy as np

MODELS = ("lstm", "gru", "transformer")

__all__ = ["MODELS", "build_model", "forward", "lm_loss", "get_batch", "estimate_loss", "generate",
           "train"]

_CLASSES: "dict[str, dict]" = {}


def _classes(lib):
    """The model classes written against ``lib`` (the fastgrad or the torch module)."""
    key = lib.__name__
    if key in _CLASSES:
        return _CLASSES[key]
    nn = lib.nn
    F = nn.functional

    class RecurrentLM(nn.Module):
        """Embedding -> LSTM or GRU -> Linear; forward(idx, state) -> (logits, state)."""

        def __init__(self, cell, vocab_size, hidden, layers=1, dropout=0.0):
            super().__init__()
            rnn = nn.LSTM if cell == "lstm" else nn.GRU
            self.embed = nn.Embedding(vocab_size, hidden)
            self.rnn = rnn(hidden, hidden, layers, batch_first=True,
                           dropout=dropout if layers > 1 else 0.0)
            self.head = nn.Linear(hidden, vocab_size)

        def forward(self, idx, state=None):
            h, state = self.rnn(self.embed(idx), state)
            return self.head(h), state

    class CausalSelfAttention(nn.Module):
        def __init__(self, d_model, heads, dropout=0.0):
            super().__init__()
            self.heads, self.dropout = heads, dropout
            self.qkv = nn.Linear(d_model, 3 * d_model)
            self.proj = nn.Linear(d_model, d_model)

        def forward(self, x):
            B, T, C = x.shape
            H = self.heads
            q, k, v = self.qkv(x).split(C, dim=2)
            q = q.view(B, T, H, C // H).transpose(1, 2)
            k = k.view(B, T, H, C // H).transpose(1, 2)
            v = v.view(B, T, H, C // H).transpose(1, 2)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               dropout_p=self.dropout if self.training else 0.0)
            return self.proj(y.transpose(1, 2).reshape(B, T, C))

    class Block(nn.Module):
        def __init__(self, d_model, heads, dropout=0.0):
            super().__init__()
            self.ln1 = nn.LayerNorm(d_model)
            self.attn = CausalSelfAttention(d_model, heads, dropout)
            self.ln2 = nn.LayerNorm(d_model)
            self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(),
                                     nn.Linear(4 * d_model, d_model), nn.Dropout(dropout))

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    class TinyGPT(nn.Module):
        """A GPT-style decoder; forward(idx, state=None) -> (logits, None).  ``block_size``
        is the longest context (the number of learned positions)."""

        def __init__(self, vocab_size, d_model, layers, heads, block_size, dropout=0.0):
            super().__init__()
            self.block_size = block_size
            self.tok = nn.Embedding(vocab_size, d_model)
            self.pos = nn.Embedding(block_size, d_model)
            # the position ids, a buffer (not saved) so that a compiled step reads them as state
            self.register_buffer("positions", lib.arange(block_size), persistent=False)
            self.drop = nn.Dropout(dropout)
            self.blocks = nn.ModuleList([Block(d_model, heads, dropout) for _ in range(layers)])
            self.ln_f = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab_size)

        def forward(self, idx, state=None):
            T = idx.shape[1]
            pos = self.positions if T == self.block_size else self.positions[:T]
            x = self.drop(self.tok(idx) + self.pos(pos))
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.ln_f(x)), None

    _CLASSES[key] = (RecurrentLM, TinyGPT)
    return _CLASSES[key]


def build_model(kind, vocab_size, hidden=128, layers=1, heads=4, block_size=64, dropout=0.0, lib=None):
    """A character LM of ``kind`` ("lstm", "gru" or "transformer") built with ``lib``
    (default: fastgrad; pass ``torch`` for the same network in PyTorch).  ``hidden`` is the
    recurrent width or the transformer's d_model; ``heads`` and ``block_size`` (the
    longest context) apply to the transformer, which needs ``hidden % heads == 0``."""
    if lib is None:
        import fastgrad as lib
    if kind not in MODELS:
        raise ValueError(f"charlm.build_model: kind must be one of {', '.join(MODELS)}, got {kind!r}")
    for name, v in (("vocab_size", vocab_size), ("hidden", hidden), ("layers", layers), ("heads", heads),
                    ("block_size", block_size)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"charlm.build_model: {name} must be a positive int, got {v!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"charlm.build_model: dropout must be in [0, 1), got {dropout!r}")
    RecurrentLM, TinyGPT = _classes(lib)
    if kind == "transformer":
        if hidden % heads:
            raise ValueError(f"charlm.build_model: d_model {hidden} is not divisible by heads {heads}")
        return TinyGPT(vocab_size, hidden, layers, heads, block_size, dropout)
    return RecurrentLM(kind, vocab_size, hidden, layers, dropout)


def forward(model, idx, state=None):
    """(logits (batch, time, vocab), the recurrent state or None)."""
    return model(idx, state)


def lm_loss(logits, targets, F=None):
    """Mean cross-entropy of next-character predictions: logits (B, T, V), targets (B, T)."""
    if F is None:
        from fastgrad.nn import functional as F
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))


def get_batch(data, batch_size, seq_len, rng):
    """(x, y) int64 NumPy arrays of shape (batch_size, seq_len): windows of ``data`` (a 1-d
    array of ids) starting at random offsets drawn from ``rng`` (a numpy Generator), and
    the same windows shifted by one character (the targets)."""
    data = np.asarray(data)
    if len(data) <= seq_len:
        raise ValueError(f"charlm.get_batch: the text ({len(data)} characters) must be longer than "
                         f"seq_len {seq_len}")
    starts = rng.integers(0, len(data) - seq_len, batch_size)
    offs = starts[:, None] + np.arange(seq_len)
    return data[offs].astype(np.int64), data[offs + 1].astype(np.int64)


def estimate_loss(model, data, batch_size, seq_len, batches=8, seed=1234):
    """The mean loss over ``batches`` batches of ``data`` drawn with a fixed seed (the
    same windows every call, so successive estimates are comparable)."""
    import fastgrad as fg
    rng = np.random.default_rng(seed)
    was = model.training
    model.eval()
    total = 0.0
    with fg.no_grad():
        for _ in range(batches):
            x, y = get_batch(data, batch_size, seq_len, rng)
            logits, _ = model(fg.from_numpy(x))
            total += float(lm_loss(logits, fg.from_numpy(y)).item())
    model.train(was)
    return total / batches


def generate(model, vocab, prompt="\n", length=200, temperature=0.8, generator=None):
    """``length`` characters sampled from ``model`` after ``prompt``, one at a time, each
    drawn with ``fastgrad.multinomial`` from softmax(logits / temperature).  The recurrent
    models carry their state; the transformer sees the last ``block_size`` characters."""
    import fastgrad as fg
    from fastgrad.nn import functional as F
    if not temperature > 0:
        raise ValueError(f"charlm.generate: temperature must be positive, got {temperature!r}")
    was = model.training
    model.eval()
    out = []
    ids = vocab.encode(prompt or "\n")._data
    window = getattr(model, "block_size", None)
    with fg.no_grad():
        ctx = ids[None, -window:] if window else ids[None, :]
        logits, state = model(fg.from_numpy(np.ascontiguousarray(ctx)))
        for _ in range(length):
            p = F.softmax(logits[:, -1, :] / temperature, -1)
            nxt = int(fg.multinomial(p, 1, generator=generator).item())
            out.append(nxt)
            if window:
                ids = np.append(ids, nxt)
                logits, _ = model(fg.from_numpy(np.ascontiguousarray(ids[None, -window:])))
            else:
                logits, state = model(fg.tensor([[nxt]]), state)
    model.train(was)
    return vocab.decode(out)


def train(args, out=None):
    """``fastgrad train --task charlm``: trains ``args.model`` on tiny Shakespeare with
    AdamW for ``args.steps`` steps, prints the train and validation loss every
    ``args.eval_every`` steps and at the end, then a few sampled lines.  Returns a dict
    with the losses, the model and the samples."""
    import fastgrad as fg
    from fastgrad import datasets, optim
    out = out or sys.stdout
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=out, flush=True))
    if args.threads:
        fg.set_num_threads(args.threads)
    fg.set_default_dtype(args.dtype)
    fg.manual_seed(args.seed)
    text = datasets.tiny_shakespeare()
    vocab = datasets.CharVocab(text)
    ids = vocab.encode(text)._data
    cut = int(len(ids) * 0.9)
    train_ids, val_ids = ids[:cut], ids[cut:]
    width = args.hidden_size
    model = build_model(args.model, len(vocab), hidden=width, layers=args.layers, heads=args.heads,
                        block_size=args.seq_len, dropout=args.dropout)
    lr = args.lr if args.lr is not None else (3e-3 if args.model == "transformer" else 1e-2)
    opt = optim.AdamW(model.parameters(), lr=lr, weight_decay=args.weight_decay if args.weight_decay else 1e-2)
    n_params = sum(p.numel() for p in model.parameters())
    say(f"fastgrad {fg.__version__}: charlm on tiny Shakespeare ({len(train_ids)} train / {len(val_ids)} "
        f"validation characters, {len(vocab)} symbols), {args.model} "
        + (f"d_model {width} heads {args.heads}" if args.model == "transformer" else f"hidden {width}")
        + f" x{args.layers} ({n_params} parameters), AdamW lr {lr:g}, batch {args.batch_size} x "
        f"seq {args.seq_len}, {fg.get_num_threads()} threads")
    rng = np.random.default_rng(args.seed)

    def step(x, y):
        logits, _ = model(x)
        loss = lm_loss(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    compiled = None
    if getattr(args, "compile", False):
        step = compiled = fg.compile(step, fallback="eager")
    eval_every = args.eval_every or max(1, args.steps // 5)
    val = estimate_loss(model, val_ids, args.batch_size, args.seq_len, args.eval_batches)
    history = [(0, None, val)]             # (step, mean train loss since the last report, val loss)
    say(f"step {0:5d}/{args.steps}  val loss {val:.4f}")
    train_time, recent = 0.0, []
    for i in range(1, args.steps + 1):
        x, y = get_batch(train_ids, args.batch_size, args.seq_len, rng)
        t0 = time.perf_counter()
        loss = step(fg.from_numpy(x), fg.from_numpy(y))
        lv = float(loss.item())
        train_time += time.perf_counter() - t0
        if not math.isfinite(lv):
            raise SystemExit(f"fastgrad train: the loss became {lv} at step {i}: training diverged; "
                             f"try a smaller --lr (this run's: {lr:g})")
        recent.append(lv)
        if i == 1 and compiled is not None:
            for why in {v["reason"] for v in compiled.plan_info() if v["mode"] == "eager"}:
                print(f"fastgrad train: --compile: training steps run eagerly (not compiled): {why}",
                      file=sys.stderr, flush=True)
        if i % eval_every == 0 or i == args.steps:
            val = estimate_loss(model, val_ids, args.batch_size, args.seq_len, args.eval_batches)
            tr = sum(recent) / len(recent)     # the mean over the steps since the last report
            history.append((i, tr, val))
            recent = []
            say(f"step {i:5d}/{args.steps}  train loss {tr:.4f}  val loss {val:.4f}  "
                f"{i / train_time if train_time > 0 else 0:.1f} steps/s")
    samples = generate(model, vocab, "\n", args.sample_chars, args.temperature,
                       generator=fg.Generator().manual_seed(args.seed)) if args.sample_chars else ""
    first, last = history[0], history[-1]
    sps = args.steps / train_time if train_time > 0 else float("nan")
    print(f"validation loss {last[2]:.4f} (untrained {first[2]:.4f}); train loss {last[1]:.4f}; "
          f"training {train_time:.2f} s, {sps:.1f} steps/s", file=out, flush=True)
    if samples:
        print("sample:", file=out)
        for line in samples.splitlines():
            print("  " + line, file=out)
        out.flush()
    return {"history": history, "val_loss": last[2], "train_loss": last[1], "sample": samples,
            "model": model, "vocab": vocab, "steps_per_s": sps}
