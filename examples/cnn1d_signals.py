"""Classify generated 1-D signals with a small 1-D CNN.

    python examples/cnn1d_signals.py [--epochs 20]

Four classes of noisy length-64 signals with random phase and amplitude: a slow sine, a
fast sine, a square wave and a train of spikes.  conv1d (1 -> 16, k5) + ReLU + max
pooling, conv1d (16 -> 32, k3) + GroupNorm + ReLU, global average pooling, a linear head.
"""
import argparse
import time

import numpy as np

import fastgrad as fg
from fastgrad import nn, optim
from fastgrad.data import DataLoader, Generator, TensorDataset

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=20)
args = ap.parse_args()


def make_signals(n, length=64, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(length) / length
    y = rng.integers(0, 4, n)
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    amp = rng.uniform(0.5, 1.5, (n, 1))
    slow = np.sin(2 * np.pi * 2 * t + phase)
    fast = np.sin(2 * np.pi * 8 * t + phase)
    square = np.sign(np.sin(2 * np.pi * 3 * t + phase))
    spikes = (np.sin(2 * np.pi * 4 * t + phase) > 0.95).astype(np.float64) * 3 - 0.3
    x = np.choose(y[:, None], [slow, fast, square, spikes]) * amp
    x = x + 0.4 * rng.standard_normal((n, length))
    return fg.tensor(x[:, None, :].astype(np.float32)), fg.tensor(y)


fg.manual_seed(0)
X_train, y_train = make_signals(2000, seed=0)
X_test, y_test = make_signals(500, seed=1)

model = nn.Sequential(
    nn.Conv1d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool1d(2),
    nn.Conv1d(16, 32, 3, padding=1), nn.GroupNorm(4, 32), nn.ReLU(),
    nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(32, 4),
)
print(model)
opt = optim.Adam(model.parameters(), lr=3e-3)
loss_fn = nn.CrossEntropyLoss()
loader = DataLoader(TensorDataset(X_train, y_train), batch_size=100, shuffle=True,
                    generator=Generator().manual_seed(0))

t0 = time.perf_counter()
for epoch in range(args.epochs):
    for xb, yb in loader:
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
    if epoch % 5 == 4 or epoch == args.epochs - 1:
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}")
elapsed = time.perf_counter() - t0

model.eval()
with fg.no_grad():
    acc = (model(X_test).argmax(1) == y_test).float().mean().item()
print(f"test accuracy {acc:.4f}, {args.epochs * len(loader) / elapsed:.0f} steps/s")
