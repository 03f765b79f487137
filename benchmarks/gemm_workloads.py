"""GEMM shapes of the benchmark suite, shared with `fastgrad bench`."""
from fastgrad.bench.workloads import GEMM_SHAPES as SHAPES, SMALL_NETWORK  # noqa: F401
from fastgrad.bench.workloads import gemm_operands as operands  # noqa: F401
