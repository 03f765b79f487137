"""The cost of the float16/bfloat16 dispatch (ops._record.lowp_via_float32) on float32
calls of small conv, pooling, norm and loss ops: the wrapped public function against the
function it wraps, interleaved in one process, medians of many rounds.  Run:
``PYTHONPATH=src python benchmarks/lowp_wrapper_overhead.py``."""
import statistics
import timeit

import numpy as np

import fastgrad as fg

F = fg.nn.functional
rng = np.random.default_rng(0)
x4 = fg.tensor(rng.standard_normal((2, 3, 8, 8)).astype(np.float32))
w4 = fg.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
a = fg.tensor(rng.standard_normal((8, 16)).astype(np.float32))
b = fg.tensor(rng.standard_normal((8, 16)).astype(np.float32))
g = fg.tensor(np.ones(16, np.float32))
CASES = {
    "conv2d": (F.conv2d, (x4, w4)),
    "max_pool2d": (F.max_pool2d, (x4, 2)),
    "layer_norm": (F.layer_norm, (a, (16,), g)),
    "mse_loss": (F.mse_loss, (a, b)),
    "cross_entropy": (F.cross_entropy, (a, fg.tensor(np.arange(8) % 16))),
}


def main(rounds=41, number=200):
    for name, (fn, args) in CASES.items():
        raw = fn.__wrapped__
        wrapped_t, raw_t = [], []
        for _ in range(rounds):
            wrapped_t.append(timeit.timeit(lambda: fn(*args), number=number) / number * 1e6)
            raw_t.append(timeit.timeit(lambda: raw(*args), number=number) / number * 1e6)
        w, r = statistics.median(wrapped_t), statistics.median(raw_t)
        print(f"{name:14s} wrapped {w:8.2f} us   unwrapped {r:8.2f} us   difference {w - r:+.2f} us")


if __name__ == "__main__":
    main()
