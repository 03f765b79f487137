import pytest

import fastgrad as fg


@pytest.fixture(params=["c", "numpy"])
def backend(request):
    prev = fg.get_backend()
    fg.set_backend(request.param)
    yield request.param
    fg.set_backend(prev)


def pytest_benchmark_update_machine_info(config, machine_info):
    """pytest-benchmark's JSON names the fastgrad build that produced the numbers."""
    machine_info["fastgrad"] = {"version": fg.__version__, "simd": fg.get_simd(),
                                "available_simd": list(fg.available_simd()),
                                "threads": fg.get_num_threads(), "backend": fg.get_backend()}
