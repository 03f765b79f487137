"""Gradient descent, momentum and Adam on the Rosenbrock valley.

    f(a, b) = (1 - a)^2 + 100 (b - a^2)^2,   minimum f(1, 1) = 0

The gradient field over a grid is computed with one backward pass (each grid point's
loss depends on its own coordinates only) and checked against the closed form

    df/da = -2 (1 - a) - 400 a (b - a^2),   df/db = 200 (b - a^2).

Then a 2-element parameter starts at (-1.5, 2) and is moved by fastgrad.optim.SGD,
SGD with momentum 0.9 and Adam; each path is checked step by step against the same
update rule written in NumPy with the closed-form gradient.  Figure: contours of f,
the (normalized) descent directions -grad f, and the three paths.

    python examples/calculus/02_gradient_descent.py [--out DIR] [--quick]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fastgrad as fg
from _tour import Checks, parse_args, pyplot, save

START = (-1.5, 2.0)


def rosenbrock(a, b):
    """Works for fastgrad tensors and NumPy arrays alike."""
    return (1 - a) ** 2 + 100 * (b - a * a) ** 2


def grad_exact(a, b):
    return np.array([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])


OPTIMIZERS = {
    "gradient descent (lr 1e-3)": (lambda p: fg.optim.SGD([p], lr=1e-3),
                                   dict(kind="sgd", lr=1e-3, momentum=0.0)),
    "momentum 0.9 (lr 2e-4)": (lambda p: fg.optim.SGD([p], lr=2e-4, momentum=0.9),
                               dict(kind="sgd", lr=2e-4, momentum=0.9)),
    "Adam (lr 0.02)": (lambda p: fg.optim.Adam([p], lr=0.02),
                       dict(kind="adam", lr=0.02, b1=0.9, b2=0.999, eps=1e-8)),
}


def run_fastgrad(make_opt, steps):
    p = fg.tensor(START, dtype=fg.float64, requires_grad=True)
    opt = make_opt(p)
    path = [p.detach().numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        loss = rosenbrock(p[0], p[1])
        loss.backward()
        opt.step()
        path.append(p.detach().numpy().copy())
    return np.array(path)


def run_numpy(cfg, steps):
    """The same update rules, independently, with the closed-form gradient."""
    p = np.array(START)
    path = [p.copy()]
    buf, m, v = None, np.zeros(2), np.zeros(2)
    for t in range(1, steps + 1):
        g = grad_exact(*p)
        if cfg["kind"] == "sgd":
            if cfg["momentum"]:
                buf = g.copy() if buf is None else cfg["momentum"] * buf + g
                g = buf
            p = p - cfg["lr"] * g
        else:
            m = cfg["b1"] * m + (1 - cfg["b1"]) * g
            v = cfg["b2"] * v + (1 - cfg["b2"]) * g * g
            mhat, vhat = m / (1 - cfg["b1"] ** t), v / (1 - cfg["b2"] ** t)
            p = p - cfg["lr"] * mhat / (np.sqrt(vhat) + cfg["eps"])
        path.append(p.copy())
    return np.array(path)


def main(argv=None):
    args = parse_args(__doc__, argv)
    checks = Checks()
    steps = 300 if args.quick else 3000
    n = 15 if args.quick else 25

    # the gradient field: one backward over the whole grid
    A, B = np.meshgrid(np.linspace(-2, 2, n), np.linspace(-1, 3, n))
    a = fg.tensor(A, dtype=fg.float64, requires_grad=True)
    b = fg.tensor(B, dtype=fg.float64, requires_grad=True)
    rosenbrock(a, b).sum().backward()
    ga, gb = a.grad.numpy(), b.grad.numpy()
    ea, eb = grad_exact(A, B)
    rel = max(np.abs(ga - ea).max(), np.abs(gb - eb).max()) / np.abs(np.stack([ea, eb])).max()
    print(f"gradient field on a {n}x{n} grid, max |grad| = {np.abs(np.stack([ea, eb])).max():.1f}")
    checks.le("max |grad fastgrad - grad exact| / max |grad|", rel, 1e-14)

    f0 = rosenbrock(*START)
    paths = {}
    print(f"start {START}, f = {f0:.4f}; {steps} steps each")
    for name, (make_opt, cfg) in OPTIMIZERS.items():
        path = run_fastgrad(make_opt, steps)
        ref = run_numpy(cfg, steps)
        paths[name] = path
        fend = rosenbrock(*path[-1])
        print(f"  {name:28s} final point ({path[-1][0]:+.6f}, {path[-1][1]:+.6f}), "
              f"f = {fend:.3e}, distance to (1, 1) = {np.hypot(*(path[-1] - 1)):.3e}")
        checks.le(f"{name}: max |path - NumPy update rule|", np.abs(path - ref).max(), 1e-8)
        checks.true(f"{name}: the loss went down", fend < f0, f"{fend:.3e} < {f0:.3e}")
    if not args.quick:
        fin = {k: rosenbrock(*p[-1]) for k, p in paths.items()}
        gd, mom, adam = fin.values()
        checks.true("momentum and Adam end lower than plain gradient descent",
                    mom < gd and adam < gd, f"{mom:.2e}, {adam:.2e} < {gd:.2e}")
        checks.le("Adam's distance to the minimum", np.hypot(*(paths["Adam (lr 0.02)"][-1] - 1)),
                  1e-3)

    plt = pyplot(args)
    if plt is not None:
        fig, ax = plt.subplots(figsize=(8, 7))
        fa, fb = np.meshgrid(np.linspace(-2, 2, 300), np.linspace(-1, 3, 300))
        ax.contour(fa, fb, np.log10(rosenbrock(fa, fb) + 1e-3), levels=25, cmap="viridis",
                   linewidths=0.8)
        norm = np.maximum(np.hypot(ga, gb), 1e-12)     # (1, 1) is on the grid
        ax.quiver(A, B, -ga / norm, -gb / norm, color="0.6", scale=45, width=0.0025)
        styles = [("tab:red", "-", 4.5), ("tab:orange", "-", 2.5), ("tab:blue", "--", 1.2)]
        for (name, path), (c, ls, lw) in zip(paths.items(), styles):
            ax.plot(path[:, 0], path[:, 1], ls, color=c, lw=lw,
                    label=f"{name}: f = {rosenbrock(*path[-1]):.1e}")
            ax.plot(path[-1, 0], path[-1, 1], "o", color=c, ms=6)
        ax.plot(*START, "ks", ms=7, label="start")
        ax.plot(1, 1, "k*", ms=14, label="minimum (1, 1)")
        ax.set_xlim(-2, 2)
        ax.set_ylim(-1, 3)
        ax.set_xlabel("a")
        ax.set_ylabel("b")
        ax.set_title(f"Rosenbrock: contours of log f, arrows -grad f, {steps} steps")
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        save(plt, fig, args, "02_gradient_descent.png")
    checks.finish()


if __name__ == "__main__":
    main()
