"""Training-step benchmarks (pytest-benchmark): fastgrad vs PyTorch (when installed) vs
hand-written NumPy, SGD and Adam, the three MLP sizes of train_workloads.CONFIGS.

    pytest benchmarks/bench_train.py --benchmark-group-by=param:cfg,param:opt
For ratios from one interleaved run use benchmarks/train_report.py.
"""
import pytest

import train_workloads as W

FRAMEWORKS = {"fastgrad": W.fastgrad_step, "torch": W.torch_step, "numpy": W.numpy_step}


@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("cfg", sorted(W.CONFIGS))
@pytest.mark.parametrize("fw", sorted(FRAMEWORKS))
def test_train_step(benchmark, fw, cfg, opt):
    if fw == "torch":
        pytest.importorskip("torch")
    step = FRAMEWORKS[fw](cfg, opt)
    if step is None:
        pytest.skip(f"{fw} has no {opt} step")
    benchmark.group = f"{cfg} {opt}"
    benchmark(step)
