"""The op workloads, shared with `fastgrad bench` (defined in fastgrad.bench.workloads)."""
from fastgrad.bench.workloads import (OPS, SIZES, make_fwd, make_fwd_bwd, numpy_fwd,  # noqa: F401
                                      tanh_chain)
