"""A character-level LSTM language model on tiny Shakespeare, then a few sampled lines.

The corpus ships with fastgrad (fastgrad.datasets.tiny_shakespeare: Shakespeare's plays,
public domain, from Andrej Karpathy's char-rnn data).  The model reads a window of
characters and predicts each next one: embedding -> LSTM -> linear head, trained with
AdamW on the cross-entropy of every position.

    python examples/char_lm.py                  # 300 steps, about a minute on one core
    python examples/char_lm.py --steps 3000     # longer: lower loss, more word-like text

The same model in PyTorch is this file with ``import torch`` for fastgrad (and
``torch.nn``/``torch.optim``): every name used here is PyTorch's.
"""
import argparse
import time

import numpy as np

import fastgrad as fg
from fastgrad import nn, optim
from fastgrad.datasets import CharVocab, tiny_shakespeare
from fastgrad.nn import functional as F


class CharLSTM(nn.Module):
    def __init__(self, vocab_size, hidden, layers):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, hidden)
        self.lstm = nn.LSTM(hidden, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, idx, state=None):
        h, state = self.lstm(self.embed(idx), state)       # h: (batch, time, hidden)
        return self.head(h), state                         # logits: (batch, time, vocab)


def get_batch(data, batch_size, seq_len, rng):
    """Random windows of the text and the same windows shifted by one (the targets)."""
    starts = rng.integers(0, len(data) - seq_len - 1, batch_size)
    idx = starts[:, None] + np.arange(seq_len)
    return fg.from_numpy(data[idx]), fg.from_numpy(data[idx + 1])


def loss_of(model, x, y):
    logits, _ = model(x)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def sample(model, vocab, length, temperature=0.8, prompt="\n"):
    """Characters drawn one at a time from softmax(logits / temperature)."""
    model.eval()
    out = []
    with fg.no_grad():
        logits, state = model(vocab.encode(prompt).reshape(1, -1))
        for _ in range(length):
            probs = F.softmax(logits[:, -1] / temperature, -1)
            nxt = fg.multinomial(probs, 1)                 # (1, 1): the next character
            out.append(int(nxt.item()))
            logits, state = model(nxt, state)
    model.train()
    return vocab.decode(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--sample-chars", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    fg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    text = tiny_shakespeare()
    vocab = CharVocab(text)
    data = vocab.encode(text).numpy()
    cut = int(0.9 * len(data))                             # the last 10% is validation text
    train, val = data[:cut], data[cut:]
    print(f"{len(text)} characters, {len(vocab)} distinct; training on {len(train)}")

    model = CharLSTM(len(vocab), args.hidden, args.layers)
    opt = optim.AdamW(model.parameters(), lr=args.lr)
    val_batches = [get_batch(val, args.batch_size, args.seq_len, np.random.default_rng(1)) for _ in range(4)]

    def val_loss():
        with fg.no_grad():
            return sum(loss_of(model, x, y).item() for x, y in val_batches) / len(val_batches)

    print(f"step     0  val loss {val_loss():.4f}")
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        x, y = get_batch(train, args.batch_size, args.seq_len, rng)
        loss = loss_of(model, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % max(1, args.steps // 5) == 0 or step == args.steps:
            print(f"step {step:5d}  train loss {loss.item():.4f}  val loss {val_loss():.4f}  "
                  f"({step / (time.perf_counter() - t0):.1f} steps/s)")
    print("--- sample ---")
    print(sample(model, vocab, args.sample_chars))


if __name__ == "__main__":
    main()
