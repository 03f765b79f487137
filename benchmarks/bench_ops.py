"""Forward+backward of each op, C kernels vs the NumPy backend, at 1e2/1e4/1e6 elements.

    pytest benchmarks/bench_ops.py --benchmark-group-by=param:op,param:n
"""
import pytest

from workloads import OPS, SIZES, make_fwd_bwd, tanh_chain


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("op", sorted(OPS))
def test_fwd_bwd(benchmark, backend, op, n):
    benchmark.group = f"{op} n={n}"
    benchmark(make_fwd_bwd(op, n))


def test_eager_overhead_tanh_chain(benchmark, backend):
    """51 ops (50 tanh + sum) forward and backward on 16-element tensors."""
    benchmark.group = "overhead"
    benchmark(tanh_chain())
