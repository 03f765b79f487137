"""The Jacobian of a small layer, y = tanh(W x + b) with W of shape (4, 3).

fastgrad.autograd.functional.jacobian builds dy/dx (shape (4, 3)) by one backward
pass per output element (or all of them in one batched walk with vectorize=True).
Checked against

* the closed form: dy_i/dx_j = (1 - y_i^2) W_ij, i.e. J = diag(1 - y^2) W;
* float64 central finite differences of the layer;
* the same layer with the activation fused into fastgrad.linear.

Also the Jacobian with respect to the weights (shape (4, 4, 3)): dy_i/dW_kj =
[i == k] (1 - y_i^2) x_j.  Figure: heatmaps of J, the closed form and the
finite-difference error.

    python examples/calculus/04_jacobian.py [--out DIR]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fastgrad as fg
from fastgrad.autograd.functional import jacobian
from _tour import Checks, parse_args, pyplot, save


def t64(a):
    return fg.tensor(np.asarray(a, np.float64), dtype=fg.float64)


def main(argv=None):
    args = parse_args(__doc__, argv)
    checks = Checks()
    rng = np.random.default_rng(4)
    W = rng.standard_normal((4, 3))
    b = rng.standard_normal(4) * 0.5
    x0 = rng.standard_normal(3)
    Wt, bt = t64(W), t64(b)

    def layer(x):
        return fg.tanh(fg.linear(x, Wt, bt))

    def layer_fused(x):
        return fg.linear(x, Wt, bt, activation="tanh")

    J = jacobian(layer, t64(x0)).numpy()
    Jv = jacobian(layer, t64(x0), vectorize=True).numpy()
    Jf = jacobian(layer_fused, t64(x0)).numpy()
    y = np.tanh(W @ x0 + b)
    closed = np.diag(1 - y ** 2) @ W

    eps = 1e-6
    fd = np.zeros((4, 3))
    with fg.no_grad():
        for j in range(3):
            e = np.zeros(3)
            e[j] = eps
            fd[:, j] = (layer(t64(x0 + e)).numpy() - layer(t64(x0 - e)).numpy()) / (2 * eps)

    np.set_printoptions(precision=6, suppress=True)
    print(f"x = {x0}\ny = tanh(W x + b) = {y}")
    print(f"Jacobian dy/dx from fastgrad, shape {J.shape}:\n{J}")
    print(f"closed form diag(1 - y^2) W:\n{closed}")
    checks.le("max |J - diag(1 - y^2) W|", np.abs(J - closed).max(), 1e-14)
    checks.le("max |J - central differences|", np.abs(J - fd).max(), 1e-8)
    checks.le("max |J (vectorize=True) - J (loop)|", np.abs(Jv - J).max(), 1e-15)
    checks.le("max |J (fused linear+tanh) - J|", np.abs(Jf - J).max(), 1e-14)

    # with respect to the weights: a 3-D Jacobian
    JW = jacobian(lambda w: fg.tanh(fg.linear(t64(x0), w, bt)), Wt).numpy()
    closed_W = np.einsum("ik,i,j->ikj", np.eye(4), 1 - y ** 2, x0)
    print(f"Jacobian dy/dW has shape {JW.shape} (out.shape + W.shape)")
    checks.le("max |dy/dW - [i == k] (1 - y_i^2) x_j|", np.abs(JW - closed_W).max(), 1e-14)

    plt = pyplot(args)
    if plt is not None:
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
        lim = np.abs(J).max()
        panels = [(J, "dy/dx by fastgrad.autograd.functional.jacobian"),
                  (closed, "closed form diag(1 - y²) W")]
        for ax, (M, title) in zip(axes[:2], panels):
            im = ax.imshow(M, cmap="RdBu_r", vmin=-lim, vmax=lim)
            for (i, j), val in np.ndenumerate(M):
                ax.text(j, i, f"{val:+.3f}", ha="center", va="center", fontsize=8)
            ax.set_title(title, fontsize=9)
            fig.colorbar(im, ax=ax, shrink=0.8)
        err = np.abs(J - fd)
        im = axes[2].imshow(np.log10(err + 1e-20), cmap="magma")
        axes[2].set_title("log10 |J - central differences|", fontsize=9)
        fig.colorbar(im, ax=axes[2], shrink=0.8)
        for ax in axes:
            ax.set_xticks(range(3), [f"x{j}" for j in range(3)])
            ax.set_yticks(range(4), [f"y{i}" for i in range(4)])
        fig.suptitle("Jacobian of y = tanh(W x + b), W: 4x3")
        fig.tight_layout()
        save(plt, fig, args, "04_jacobian.png")
    checks.finish()


if __name__ == "__main__":
    main()
