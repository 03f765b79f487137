"""Convolution benchmarks (pytest-benchmark): conv1d/conv2d forward + backward and one
small-CNN training step, fastgrad vs PyTorch eager (when installed), float32.

    pytest benchmarks/bench_conv.py --benchmark-group-by=group
For ratios from one interleaved run use benchmarks/conv_report.py.
"""
import pytest

import conv_workloads as W

FRAMEWORKS = {"fastgrad": (W.fastgrad_conv, W.fastgrad_cnn_step),
              "torch": (W.torch_conv, W.torch_cnn_step)}


@pytest.fixture(autouse=True)
def _two_threads():
    from fastgrad.bench.harness import set_threads
    set_threads(2)


@pytest.mark.parametrize("case", list(W.CONV_CASES))
@pytest.mark.parametrize("fw", sorted(FRAMEWORKS))
def test_conv_fwd_bwd(benchmark, fw, case):
    if fw == "torch":
        pytest.importorskip("torch")
    benchmark.group = case
    benchmark(FRAMEWORKS[fw][0](case))


@pytest.mark.parametrize("fw", sorted(FRAMEWORKS))
def test_cnn_train_step(benchmark, fw):
    if fw == "torch":
        pytest.importorskip("torch")
    benchmark.group = f"CNN step b{W.CNN_BATCH}"
    benchmark(FRAMEWORKS[fw][1]())
