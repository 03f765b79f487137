"""One training step (forward, cross-entropy, backward, optimizer update) of an MLP, built
the same way for fastgrad, PyTorch (when installed) and hand-written NumPy.

CONFIGS are the issue's three sizes: S = batch 32, 64-128-10; M = batch 64, 784-128-10;
L = batch 256, 784-512-512-10.  All start from the same float32 weights and data.
"""
import numpy as np

CONFIGS = {"S": (32, [64, 128, 10]), "M": (64, [784, 128, 10]), "L": (256, [784, 512, 512, 10])}


def data(bs, sizes, seed=0):
    r = np.random.default_rng(seed)
    x = r.standard_normal((bs, sizes[0])).astype(np.float32)
    y = r.integers(0, sizes[-1], bs)
    Ws = [(r.standard_normal((b, a)) / np.sqrt(a)).astype(np.float32) for a, b in zip(sizes, sizes[1:])]
    bs_ = [np.zeros(b, np.float32) for b in sizes[1:]]
    return x, y, Ws, bs_


def fastgrad_step(cfg, opt="sgd"):
    import fastgrad as fg
    from fastgrad import nn, optim
    from fastgrad.nn import functional as F
    bs, sizes = CONFIGS[cfg]
    x, y, Ws, Bs = data(bs, sizes)
    layers = []
    for W, b in zip(Ws, Bs):
        lin = nn.Linear(W.shape[1], W.shape[0])
        lin.load_state_dict({"weight": W, "bias": b})
        layers += [lin, nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    o = optim.SGD(model.parameters(), lr=0.01) if opt == "sgd" else optim.Adam(model.parameters(), lr=1e-3)
    X, Y = fg.tensor(x), fg.tensor(y)

    def step():
        o.zero_grad()
        F.cross_entropy(model(X), Y).backward()
        o.step()
    return step


def torch_step(cfg, opt="sgd"):
    import torch
    bs, sizes = CONFIGS[cfg]
    x, y, Ws, Bs = data(bs, sizes)
    layers = []
    for W, b in zip(Ws, Bs):
        lin = torch.nn.Linear(W.shape[1], W.shape[0])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        layers += [lin, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    o = torch.optim.SGD(model.parameters(), lr=0.01) if opt == "sgd" else torch.optim.Adam(model.parameters(), lr=1e-3)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        o.zero_grad()
        torch.nn.functional.cross_entropy(model(X), Y).backward()
        o.step()
    return step


def numpy_step(cfg, opt="sgd"):
    """Hand-written forward/backward/SGD in NumPy (a floor for what Python + BLAS costs)."""
    if opt != "sgd":
        return None
    bs, sizes = CONFIGS[cfg]
    x, y, Ws, Bs = data(bs, sizes)
    Ws = [W.T.copy() for W in Ws]

    def step():
        hs = [x]
        for i, (W, b) in enumerate(zip(Ws, Bs)):
            z = hs[-1] @ W + b
            hs.append(np.maximum(z, 0) if i < len(Ws) - 1 else z)
        z = hs[-1]
        z = z - z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        g = p
        g[np.arange(bs), y] -= 1
        g /= bs
        for i in reversed(range(len(Ws))):
            gW = hs[i].T @ g
            gb = g.sum(0)
            if i > 0:
                g = (g @ Ws[i].T) * (hs[i] > 0)
            Ws[i] -= 0.01 * gW
            Bs[i] -= 0.01 * gb
    return step
