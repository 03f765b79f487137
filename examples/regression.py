"""Fit a noisy sine with a small tanh MLP (regression with MSELoss), generated data only.

    python examples/regression.py
"""
import fastgrad as fg
from fastgrad import nn, optim
from fastgrad.datasets import make_sine

fg.manual_seed(0)
x, y = make_sine(512, noise=0.05, seed=0)
x_val, y_val = make_sine(256, noise=0.0, seed=1)

model = nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
opt = optim.Adam(model.parameters(), lr=3e-3)
sched = optim.lr_scheduler.StepLR(opt, step_size=500, gamma=0.5)
loss_fn = nn.MSELoss()

for step in range(2000):
    opt.zero_grad()
    loss = loss_fn(model(x), y)          # full batch
    loss.backward()
    opt.step()
    sched.step()
    if step % 500 == 0:
        print(f"step {step:4d}  train mse {loss.item():.5f}  lr {sched.get_last_lr()[0]:.4g}")

with fg.no_grad():
    val = loss_fn(model(x_val), y_val).item()
print(f"validation mse against the noise-free sine: {val:.5f}")
