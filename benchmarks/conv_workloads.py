"""Convolution workloads shared by bench_conv.py and conv_report.py: the same forward +
backward (or training step) in fastgrad and in PyTorch eager, float32, on the same data.
The small-CNN training step is the one `fastgrad bench` and bench_train_step.py time
(fastgrad.bench.workloads: the same weights and data in both frameworks, plain SGD)."""
import numpy as np

from fastgrad.bench.workloads import CNN_CONFIG, fastgrad_cnn_step, torch_cnn_step  # noqa: F401

# name -> (kind, batch, c_in, c_out, spatial, kernel, padding[, groups])
CONV_CASES = {
    "conv2d b64 1->16 28x28 k3": ("2d", 64, 1, 16, 28, 3, 1),
    "conv2d b64 16->32 14x14 k3": ("2d", 64, 16, 32, 14, 3, 1),
    "conv1d b100 1->32 L40 k5": ("1d", 100, 1, 32, 40, 5, 2),
    "conv1d b100 32->32 L20 k3": ("1d", 100, 32, 32, 20, 3, 1),
    "conv2d b64 32->32 14x14 k3 depthwise": ("2d", 64, 32, 32, 14, 3, 1, 32),
    "conv2d b64 32->64 14x14 1x1": ("2d", 64, 32, 64, 14, 1, 0),
}
CNN_BATCH = CNN_CONFIG[0]


def _data(case):
    kind, n, ci, co, sp, k, p = CONV_CASES[case][:7]
    groups = CONV_CASES[case][7] if len(CONV_CASES[case]) > 7 else 1
    rng = np.random.default_rng(0)
    xs = (n, ci) + ((sp, sp) if kind == "2d" else (sp,))
    ws = (co, ci // groups) + ((k, k) if kind == "2d" else (k,))
    return (kind, p, groups, rng.standard_normal(xs).astype(np.float32),
            (rng.standard_normal(ws) * 0.1).astype(np.float32), rng.standard_normal(co).astype(np.float32))


def fastgrad_conv(case):
    """A closure running conv forward + backward (input, weight and bias grads)."""
    import fastgrad as fg
    import fastgrad.nn.functional as F
    kind, p, groups, x, w, b = _data(case)
    xt = fg.tensor(x, requires_grad=True)
    wt = fg.tensor(w, requires_grad=True)
    bt = fg.tensor(b, requires_grad=True)
    conv = F.conv2d if kind == "2d" else F.conv1d

    def run():
        xt.grad = wt.grad = bt.grad = None
        y = conv(xt, wt, bt, padding=p, groups=groups)
        y.backward(fg.ones_like(y))
    return run


def torch_conv(case):
    import torch
    kind, p, groups, x, w, b = _data(case)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    conv = torch.nn.functional.conv2d if kind == "2d" else torch.nn.functional.conv1d

    def run():
        xt.grad = wt.grad = bt.grad = None
        y = conv(xt, wt, bt, padding=p, groups=groups)
        y.backward(torch.ones_like(y))
    return run
