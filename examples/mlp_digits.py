"""Train an MLP classifier on the 8x8 digits (needs scikit-learn for the data) and save it.

    python examples/mlp_digits.py
"""
import time

import fastgrad as fg
from fastgrad import nn, optim
from fastgrad.data import DataLoader, Generator, TensorDataset
from fastgrad.datasets import load_digits

fg.manual_seed(0)
X_train, y_train = load_digits(split="train")
X_test, y_test = load_digits(split="test")

model = nn.Sequential(
    nn.Linear(64, 128), nn.ReLU(),
    nn.Linear(128, 64), nn.ReLU(),
    nn.Linear(64, 10),
)
print(model)
opt = optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
loader = DataLoader(TensorDataset(X_train, y_train), batch_size=64, shuffle=True,
                    generator=Generator().manual_seed(0))

t0 = time.perf_counter()
for epoch in range(30):
    for xb, yb in loader:
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
    if epoch % 10 == 9:
        print(f"epoch {epoch + 1}: loss {loss.item():.4f}")
elapsed = time.perf_counter() - t0

model.eval()
with fg.no_grad():
    acc = (model(X_test).argmax(1) == y_test).float().mean().item()
print(f"test accuracy {acc:.4f}, {30 * len(loader) / elapsed:.0f} steps/s")

fg.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, "digits_mlp.fg")
restored = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
restored.load_state_dict(fg.load("digits_mlp.fg")["model"])
print("reloaded model agrees:", bool((restored(X_test).argmax(1) == model(X_test).argmax(1)).all()))
