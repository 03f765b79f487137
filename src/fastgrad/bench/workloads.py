"""Workloads of `fastgrad bench` and of the developer benchmarks in benchmarks/ (which
import them from here): elementwise and reduction ops, GEMM shapes, MLP training steps."""
import numpy as np

import fastgrad as fg

SIZES = [100, 10_000, 1_000_000]

# op name -> (function of tensors, input maker(n, rng) -> list of arrays)
def _pos(n, rng):
    return [rng.uniform(0.1, 3.0, n).astype(np.float32)]


def _any(n, rng):
    return [rng.standard_normal(n).astype(np.float32)]


def _two(n, rng):
    return [rng.standard_normal(n).astype(np.float32), rng.uniform(0.5, 2, n).astype(np.float32)]


def _rows(n, rng):
    c = 100 if n >= 10_000 else 10
    return [rng.standard_normal((n // c, c)).astype(np.float32)]


OPS = {
    "add": (lambda a, b: a + b, _two),
    "mul": (lambda a, b: a * b, _two),
    "div": (lambda a, b: a / b, _two),
    "exp": (fg.exp, _any),
    "log": (fg.log, _pos),
    "tanh": (fg.tanh, _any),
    "sigmoid": (fg.sigmoid, _any),
    "gelu": (fg.gelu, _any),
    "relu": (fg.relu, _any),
    "sqrt": (fg.sqrt, _pos),
    "sin": (fg.sin, _any),
    "softplus": (fg.softplus, _any),
    "sum": (lambda x: x.sum(), _any),
    "mean_rows": (lambda x: x.mean(1), _rows),
    "max_rows": (lambda x: fg.max(x, 1).values, _rows),
    "logsumexp_rows": (lambda x: fg.logsumexp(x, 1), _rows),
    "softmax_rows": (lambda x: fg.softmax(x, 1), _rows),
    "log_softmax_rows": (lambda x: fg.log_softmax(x, 1), _rows),
}


def make_fwd_bwd(op, n, seed=0):
    """A callable running forward + backward of `op` on fresh leaves of size n."""
    fn, maker = OPS[op]
    rng = np.random.default_rng(seed)
    xs = [fg.from_numpy(a).requires_grad_() for a in maker(n, rng)]

    def step():
        for x in xs:
            x.grad = None
        out = fn(*xs)
        out.backward(fg.ones_like(out))
    return step


def make_fwd(op, n, seed=0):
    fn, maker = OPS[op]
    rng = np.random.default_rng(seed)
    xs = [fg.from_numpy(a) for a in maker(n, rng)]
    return lambda: fn(*xs)


def numpy_ops():
    """op name -> the same forward computation written directly in NumPy (the baseline).
    The ops that need SciPy (gelu's erf, the row-wise softmax family) are left out when
    it is not installed."""
    t = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
         "exp": np.exp, "log": np.log, "tanh": np.tanh, "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
         "relu": lambda x: np.maximum(x, 0), "sqrt": np.sqrt, "sin": np.sin,
         "softplus": lambda x: np.logaddexp(x.dtype.type(0), x), "sum": np.sum,
         "mean_rows": lambda x: x.mean(1), "max_rows": lambda x: x.max(1)}
    try:
        import scipy.special as sp
    except ImportError:  # pragma: no cover - scipy is optional
        return t
    t.update({"gelu": lambda x: 0.5 * x * (1 + sp.erf(x * x.dtype.type(0.7071067811865476))),
              "logsumexp_rows": lambda x: sp.logsumexp(x, 1), "softmax_rows": lambda x: sp.softmax(x, 1),
              "log_softmax_rows": lambda x: sp.log_softmax(x, 1)})
    return t


def numpy_fwd(op, n, seed=0):
    """A callable running numpy_ops()[op] on the inputs make_fwd uses (None without SciPy
    for the ops that need it)."""
    f = numpy_ops().get(op)
    if f is None:
        return None
    xs = OPS[op][1](n, np.random.default_rng(seed))
    return lambda: f(*xs)


def tanh_chain(n_ops=50, size=16, seed=0):
    """Eager overhead: a chain of n_ops tanh on `size`-element tensors, forward and
    backward; time / (n_ops + 1) is the per-op cost (the +1 is the final sum)."""
    x = fg.from_numpy(np.random.default_rng(seed).standard_normal(size).astype(np.float32))
    x.requires_grad_()

    def step():
        x.grad = None
        y = x
        for _ in range(n_ops):
            y = fg.tanh(y)
        y.sum().backward()
    return step


# ---- GEMM ------------------------------------------------------------------------------------
# (m, k, n, layout): NN, TN (A stored k x m, as in the weight gradient x^T @ g) or NT (B
# stored n x k, as in g @ W^T)
GEMM_SHAPES = [
    (32, 784, 128, "NN"), (64, 784, 128, "NN"), (128, 784, 128, "NN"),
    (784, 64, 128, "TN"), (64, 128, 784, "NT"), (256, 784, 512, "NN"),
    (128, 128, 128, "NN"), (256, 256, 256, "NN"), (512, 512, 512, "NN"),
    (1024, 1024, 1024, "NN"), (2048, 2048, 2048, "NN"),
    # a few rows: one sample through a linear layer (x @ W^T), a small batch
    (1, 784, 128, "NT"), (1, 1024, 1024, "NN"), (4, 512, 512, "NT"),
]
SMALL_NETWORK = GEMM_SHAPES[:6]


def gemm_operands(m, k, n, layout, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((k, m)).astype(dtype).T if layout == "TN" else rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((n, k)).astype(dtype).T if layout == "NT" else rng.standard_normal((k, n)).astype(dtype)
    return a, b


# ---- training steps ----------------------------------------------------------------------------
# S = batch 32, 64-128-10; M = batch 64, 784-128-10; L = batch 256, 784-512-512-10
TRAIN_CONFIGS = {"S": (32, [64, 128, 10]), "M": (64, [784, 128, 10]), "L": (256, [784, 512, 512, 10])}


def train_data(bs, sizes, seed=0):
    r = np.random.default_rng(seed)
    x = r.standard_normal((bs, sizes[0])).astype(np.float32)
    y = r.integers(0, sizes[-1], bs)
    Ws = [(r.standard_normal((b, a)) / np.sqrt(a)).astype(np.float32) for a, b in zip(sizes, sizes[1:])]
    bs_ = [np.zeros(b, np.float32) for b in sizes[1:]]
    return x, y, Ws, bs_


def fastgrad_train_step(cfg, opt="sgd"):
    """One step (forward, cross-entropy, backward, optimizer update); returns the step
    callable, which returns the loss as a float."""
    from fastgrad import nn, optim
    from fastgrad.nn import functional as F
    bs, sizes = TRAIN_CONFIGS[cfg]
    x, y, Ws, Bs = train_data(bs, sizes)
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
        loss = F.cross_entropy(model(X), Y)
        loss.backward()
        o.step()
        return loss
    return step


def fastgrad_compiled_train_step(cfg, opt="sgd"):
    """The same step as fastgrad_train_step, compiled with fastgrad.compile (the first
    call traces it, later calls replay the plan)."""
    return fg.compile(fastgrad_train_step(cfg, opt))


def torch_train_step(cfg, opt="sgd"):
    import torch
    bs, sizes = TRAIN_CONFIGS[cfg]
    x, y, Ws, Bs = train_data(bs, sizes)
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
        loss = torch.nn.functional.cross_entropy(model(X), Y)
        loss.backward()
        o.step()
        return loss
    return step


def jax_train_step(cfg, opt="sgd"):
    """The same SGD step with JAX: forward, cross-entropy, grad and update under one
    ``jax.jit``, blocking on the result; None for other optimizers."""
    if opt != "sgd":
        return None
    import jax
    import jax.numpy as jnp
    bs, sizes = TRAIN_CONFIGS[cfg]
    x, y, Ws, Bs = train_data(bs, sizes)
    params = [(jnp.asarray(W.T), jnp.asarray(b)) for W, b in zip(Ws, Bs)]

    def loss_fn(params, x, y):
        h = x
        for i, (W, b) in enumerate(params):
            h = h @ W + b
            if i < len(params) - 1:
                h = jax.nn.relu(h)
        return -jnp.mean(jax.nn.log_softmax(h)[jnp.arange(x.shape[0]), y])

    @jax.jit
    def update(params, x, y):
        loss, g = jax.value_and_grad(loss_fn)(params, x, y)
        return loss, [(W - 0.01 * gW, b - 0.01 * gb) for (W, b), (gW, gb) in zip(params, g)]

    X, Y = jnp.asarray(x), jnp.asarray(y)
    state = {"p": params}

    def step():
        loss, state["p"] = update(state["p"], X, Y)
        jax.block_until_ready(state["p"])
        return loss
    return step


def fastgrad_regression_step(n=512, seed=0):
    """examples/regression.py's step: a 1-64-64-1 tanh MLP on n points, MSE, Adam (full
    batch); the step callable returns the loss."""
    from fastgrad import nn, optim
    r = np.random.default_rng(seed)
    x = r.uniform(-3, 3, (n, 1)).astype(np.float32)
    y = (np.sin(x) + 0.05 * r.standard_normal((n, 1))).astype(np.float32)
    sizes = [1, 64, 64, 1]
    Ws = [(r.standard_normal((b, a)) / np.sqrt(a)).astype(np.float32) for a, b in zip(sizes, sizes[1:])]
    layers = []
    for W in Ws:
        lin = nn.Linear(W.shape[1], W.shape[0])
        lin.load_state_dict({"weight": W, "bias": np.zeros(W.shape[0], np.float32)})
        layers += [lin, nn.Tanh()]
    model = nn.Sequential(*layers[:-1])
    o = optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.MSELoss()
    X, Y = fg.tensor(x), fg.tensor(y)

    def step():
        o.zero_grad()
        loss = loss_fn(model(X), Y)
        loss.backward()
        o.step()
        return loss
    return step


CNN_CONFIG = (64, 1, 28, 10)    # batch, channels, image side, classes


def cnn_data(seed=0):
    """Data and weights for conv(1->16) relu maxpool conv(16->32) relu maxpool linear."""
    r = np.random.default_rng(seed)
    bs, c, s, k = CNN_CONFIG
    x = r.standard_normal((bs, c, s, s)).astype(np.float32)
    y = r.integers(0, k, bs)
    w1 = (r.standard_normal((16, c, 3, 3)) / 3).astype(np.float32)
    w2 = (r.standard_normal((32, 16, 3, 3)) / 12).astype(np.float32)
    w3 = (r.standard_normal((k, 32 * (s // 4) ** 2)) / np.sqrt(32 * (s // 4) ** 2)).astype(np.float32)
    return x, y, [w1, np.zeros(16, np.float32), w2, np.zeros(32, np.float32), w3, np.zeros(k, np.float32)]


def fastgrad_cnn_step(opt="sgd"):
    """One step of the small CNN; the step callable returns the loss."""
    from fastgrad import nn, optim
    from fastgrad.nn import functional as F
    x, y, ps = cnn_data()
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(ps[4].shape[1], ps[4].shape[0]))
    for p, v in zip(model.parameters(), ps):
        p._data[...] = v
    o = optim.SGD(model.parameters(), lr=0.01) if opt == "sgd" else optim.Adam(model.parameters(), lr=1e-3)
    X, Y = fg.tensor(x), fg.tensor(y)

    def step():
        o.zero_grad()
        loss = F.cross_entropy(model(X), Y)
        loss.backward()
        o.step()
        return loss
    return step


def torch_cnn_step(opt="sgd"):
    import torch
    x, y, ps = cnn_data()
    nn = torch.nn
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(ps[4].shape[1], ps[4].shape[0]))
    with torch.no_grad():
        for p, v in zip(model.parameters(), ps):
            p.copy_(torch.from_numpy(v))
    o = torch.optim.SGD(model.parameters(), lr=0.01) if opt == "sgd" else torch.optim.Adam(model.parameters(), lr=1e-3)
    X, Y = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        o.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X), Y)
        loss.backward()
        o.step()
        return loss
    return step


def numpy_train_step(cfg, opt="sgd"):
    """Hand-written forward/backward/SGD in NumPy (a floor for what Python + BLAS costs);
    None for other optimizers."""
    if opt != "sgd":
        return None
    bs, sizes = TRAIN_CONFIGS[cfg]
    x, y, Ws, Bs = train_data(bs, sizes)
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
        loss = -np.log(p[np.arange(bs), y]).mean()
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
        return loss
    return step
