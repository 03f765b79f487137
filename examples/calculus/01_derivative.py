"""The derivative of f(x) = sin(x) * x^2 on a grid, with one backward pass.

Every y_i = f(x_i) depends on x_i only, so the gradient of sum(y) with respect to the
grid x is the vector of derivatives f'(x_i): one backward pass differentiates the
whole batch.  Differentiating that gradient again (create_graph=True) gives f''.
Checked against the closed forms

    f'(x)  = cos(x) x^2 + 2 x sin(x)
    f''(x) = -sin(x) x^2 + 4 x cos(x) + 2 sin(x)

and against central differences of f.  Figure: f with its tangent lines at a few
points, and f', f'' from fastgrad over the analytic curves.

    python examples/calculus/01_derivative.py [--out DIR] [--quick]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fastgrad as fg
from _tour import Checks, parse_args, pyplot, save


def f(x):
    return fg.sin(x) * x * x


def df_exact(x):
    return np.cos(x) * x ** 2 + 2 * x * np.sin(x)


def d2f_exact(x):
    return -np.sin(x) * x ** 2 + 4 * x * np.cos(x) + 2 * np.sin(x)


def main(argv=None):
    args = parse_args(__doc__, argv)
    checks = Checks()
    n = 81 if args.quick else 401
    grid = np.linspace(-4.0, 4.0, n)

    # f' over the grid: one forward, one backward
    x = fg.tensor(grid, dtype=fg.float64, requires_grad=True)
    y = f(x)
    y.sum().backward()
    d1 = x.grad.numpy()

    # f'' by differentiating the gradient again
    x2 = fg.tensor(grid, dtype=fg.float64, requires_grad=True)
    (g,) = fg.autograd.grad(f(x2).sum(), x2, create_graph=True)
    (gg,) = fg.autograd.grad(g.sum(), x2)
    d2 = gg.numpy()

    # an independent oracle: central differences of f itself
    h = 1e-5
    with fg.no_grad():
        fd = (f(fg.tensor(grid + h, dtype=fg.float64)).numpy()
              - f(fg.tensor(grid - h, dtype=fg.float64)).numpy()) / (2 * h)

    # float32: the same derivative to single precision
    x32 = fg.tensor(grid.astype(np.float32), requires_grad=True)
    f(x32).sum().backward()
    d1_32 = x32.grad.numpy().astype(np.float64)

    scale = np.abs(df_exact(grid)).max()
    print(f"f(x) = sin(x) x^2 on {n} points in [-4, 4]; max |f'| = {scale:.3f}")
    checks.le("max |f' fastgrad - f' exact| (float64)", np.abs(d1 - df_exact(grid)).max(), 1e-12)
    checks.le("max |f'' fastgrad - f'' exact| (float64)", np.abs(d2 - d2f_exact(grid)).max(),
              1e-12)
    checks.le("max |f' fastgrad - central difference|", np.abs(d1 - fd).max(), 1e-8)
    checks.le("max |f' float32 - f' exact| / max|f'|",
              np.abs(d1_32 - df_exact(grid)).max() / scale, 1e-5)

    points = np.array([-3.2, -1.6, 0.8, 2.6])
    idx = [int(np.argmin(np.abs(grid - p))) for p in points]
    fx = y.detach().numpy()
    for i in idx:
        print(f"  x = {grid[i]:+.3f}: f = {fx[i]:+.6f}, f' = {d1[i]:+.6f} "
              f"(exact {df_exact(grid[i]):+.6f}), f'' = {d2[i]:+.6f}")

    plt = pyplot(args)
    if plt is not None:
        fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(7, 7), sharex=True)
        ax0.plot(grid, fx, color="black", lw=2, label="f(x) = sin(x) x²")
        for i in idx:
            a = grid[i]
            t = np.linspace(a - 0.8, a + 0.8, 2)
            ax0.plot(t, fx[i] + d1[i] * (t - a), color="tab:red", lw=1.2)
            ax0.plot([a], [fx[i]], "o", color="tab:red", ms=5)
        ax0.plot([], [], color="tab:red", label="tangent: f(a) + f'(a)(x - a)")
        ax0.set_ylabel("f(x)")
        ax0.legend(loc="upper center")
        ax0.set_title("derivative by one backward pass over the grid")
        every = max(1, n // 40)
        ax1.plot(grid, df_exact(grid), color="tab:blue", lw=1.5, label="f'(x) exact")
        ax1.plot(grid[::every], d1[::every], "o", color="tab:blue", ms=3,
                 label="f'(x) fastgrad")
        ax1.plot(grid, d2f_exact(grid), color="tab:green", lw=1.5, label="f''(x) exact")
        ax1.plot(grid[::every], d2[::every], "s", color="tab:green", ms=3,
                 label="f''(x) fastgrad (double backward)")
        ax1.axhline(0, color="gray", lw=0.5)
        ax1.set_xlabel("x")
        ax1.legend(loc="upper center", ncol=2, fontsize=8)
        fig.tight_layout()
        save(plt, fig, args, "01_derivative.png")
    checks.finish()


if __name__ == "__main__":
    main()
