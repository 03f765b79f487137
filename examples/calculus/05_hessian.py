"""The Hessian of a small network's loss with respect to its 13 parameters.

A 2-3-1 MLP, f(x) = W2 tanh(W1 x + b1) + b2, fits t = sin(2 x0) cos(x1) on 16 points
with the mean squared error.  Its parameters (W1: 3x2, b1: 3, W2: 1x3, b2: 1) are 13
numbers; fastgrad.autograd.functional.hessian gives the 13x13 matrix of second
derivatives of the loss (as 4x4 blocks for the 4 parameter tensors).  Checked:

* symmetric, and equal with vectorize=True and with one flattened 13-vector input;
* against float64 central differences of the gradient (itself from backward());
* hvp(loss, params, v) equals H v for a random v (without ever forming H).

numpy.linalg.eigvalsh gives the curvature along the eigenvectors, at the random
initialization and after training with Adam (near a minimum the curvature is mostly
positive).  Figure: the Hessian heatmap with the parameter blocks, and the eigenvalues.

    python examples/calculus/05_hessian.py [--out DIR] [--quick]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fastgrad as fg
from fastgrad.autograd.functional import hessian, hvp
from _tour import Checks, parse_args, pyplot, save

SHAPES = [("W1", (3, 2)), ("b1", (3,)), ("W2", (1, 3)), ("b2", (1,))]
SIZES = [int(np.prod(s)) for _, s in SHAPES]


def t64(a, requires_grad=False):
    return fg.tensor(np.asarray(a, np.float64), dtype=fg.float64, requires_grad=requires_grad)


def make_loss(X, T):
    Xt, Tt = t64(X), t64(T)

    def loss(W1, b1, W2, b2):
        h = fg.tanh(fg.linear(Xt, W1, b1))
        return ((fg.linear(h, W2, b2) - Tt) ** 2).mean()

    def loss_flat(theta):
        parts, k = [], 0
        for (_, shape), n in zip(SHAPES, SIZES):
            parts.append(theta[k:k + n].reshape(shape))
            k += n
        return loss(*parts)
    return loss, loss_flat


def full_matrix(blocks):
    return np.block([[blocks[i][j].numpy().reshape(SIZES[i], SIZES[j]) for j in range(4)]
                     for i in range(4)])


def flat_grad(loss, theta):
    """The gradient of the loss (by backward) at a flat parameter vector."""
    ps, k = [], 0
    for (_, shape), n in zip(SHAPES, SIZES):
        ps.append(t64(theta[k:k + n].reshape(shape), requires_grad=True))
        k += n
    loss(*ps).backward()
    return np.concatenate([p.grad.numpy().ravel() for p in ps])


def main(argv=None):
    args = parse_args(__doc__, argv)
    checks = Checks()
    rng = np.random.default_rng(5)
    X = rng.uniform(-1.5, 1.5, (16, 2))
    T = (np.sin(2 * X[:, 0]) * np.cos(X[:, 1]))[:, None]
    loss, loss_flat = make_loss(X, T)
    init = [rng.standard_normal(s) * (0.8 if n.startswith("W") else 0.1) for n, s in SHAPES]
    theta0 = np.concatenate([p.ravel() for p in init])
    n = theta0.size
    print(f"2-3-1 MLP, {n} parameters, 16 training points, mean squared error")

    params = tuple(t64(p) for p in init)
    H = full_matrix(hessian(loss, params))
    Hv = full_matrix(hessian(loss, params, vectorize=True))
    Hflat = hessian(loss_flat, t64(theta0)).numpy()
    checks.le("max |H - H^T|", np.abs(H - H.T).max(), 1e-14)
    checks.le("max |H (vectorize=True) - H|", np.abs(Hv - H).max(), 1e-14)
    checks.le("max |H (one flat 13-vector input) - H|", np.abs(Hflat - H).max(), 1e-14)

    eps = 1e-6
    fd = np.zeros((n, n))
    for j in range(n):
        e = np.zeros(n)
        e[j] = eps
        fd[:, j] = (flat_grad(loss, theta0 + e) - flat_grad(loss, theta0 - e)) / (2 * eps)
    checks.le("max |H - central differences of the gradient|", np.abs(H - fd).max(), 1e-7)

    v = rng.standard_normal(n)
    vs, k = [], 0
    for (_, shape), m in zip(SHAPES, SIZES):
        vs.append(t64(v[k:k + m].reshape(shape)))
        k += m
    _, hv = hvp(loss, params, tuple(vs))
    hv = np.concatenate([t.numpy().ravel() for t in hv])
    checks.le("max |hvp(loss, params, v) - H v|", np.abs(hv - H @ v).max(), 1e-12)

    eig0 = np.linalg.eigvalsh(H)
    # train with Adam, then look at the curvature again
    ps = [t64(p, requires_grad=True) for p in init]
    opt = fg.optim.Adam(ps, lr=0.03)
    steps = 150 if args.quick else 1500
    l0 = loss(*ps).item()
    for _ in range(steps):
        opt.zero_grad()
        loss(*ps).backward()
        opt.step()
    l1 = loss(*ps).item()
    trained = tuple(p.detach() for p in ps)
    H1 = full_matrix(hessian(loss, trained))
    eig1 = np.linalg.eigvalsh(H1)
    np.set_printoptions(precision=4, suppress=False, linewidth=120)
    print(f"eigenvalues at initialization (loss {l0:.4f}):\n  {eig0}")
    print(f"eigenvalues after {steps} Adam steps (loss {l1:.4f}):\n  {eig1}")
    print(f"condition number after training (max / min |eigenvalue|): "
          f"{np.abs(eig1).max() / np.abs(eig1).min():.3g}")
    checks.true("training lowered the loss", l1 < l0, f"{l1:.4f} < {l0:.4f}")
    checks.le("|sum of eigenvalues - trace(H)|", abs(eig1.sum() - np.trace(H1)), 1e-12)

    plt = pyplot(args)
    if plt is not None:
        fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 5))
        lim = np.abs(H1).max()
        im = ax0.imshow(H1, cmap="RdBu_r", vmin=-lim, vmax=lim)
        fig.colorbar(im, ax=ax0, shrink=0.85)
        edges = np.cumsum(SIZES)[:-1] - 0.5
        for e in edges:
            ax0.axhline(e, color="black", lw=0.8)
            ax0.axvline(e, color="black", lw=0.8)
        centers = np.cumsum(SIZES) - np.array(SIZES) / 2 - 0.5
        names = [nm for nm, _ in SHAPES]
        ax0.set_xticks(centers, names)
        ax0.set_yticks(centers, names)
        ax0.set_title(f"Hessian of the loss after training ({n}x{n})")
        idx = np.arange(n)
        ax1.bar(idx - 0.2, eig0, width=0.4, color="tab:gray", label="at initialization")
        ax1.bar(idx + 0.2, eig1, width=0.4, color="tab:blue", label=f"after {steps} Adam steps")
        ax1.axhline(0, color="black", lw=0.6)
        ax1.set_yscale("symlog", linthresh=1e-3)
        ax1.set_xlabel("eigenvalue index (ascending)")
        ax1.set_ylabel("curvature (symlog scale)")
        ax1.set_title("eigenvalues of the Hessian (numpy.linalg.eigvalsh)")
        ax1.legend()
        fig.tight_layout()
        save(plt, fig, args, "05_hessian.png")
    checks.finish()


if __name__ == "__main__":
    main()
