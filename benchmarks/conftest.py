import pytest

import fastgrad as fg
from fastgrad.bench import harness


@pytest.fixture(params=["c", "numpy"])
def backend(request):
    prev = fg.get_backend()
    fg.set_backend(request.param)
    yield request.param
    fg.set_backend(prev)


def pytest_benchmark_update_machine_info(config, machine_info):
    """pytest-benchmark's JSON names the fastgrad build that produced the numbers: the
    machine record of fastgrad.bench.harness (the one `fastgrad bench` writes), plus the
    SIMD paths available and the kernel backend."""
    info = harness.machine(fg.get_num_threads())
    info.update(available_simd=list(fg.available_simd()), backend=fg.get_backend(),
                version=fg.__version__)
    machine_info["fastgrad"] = info
