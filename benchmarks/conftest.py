import pytest

import fastgrad as fg


@pytest.fixture(params=["c", "numpy"])
def backend(request):
    prev = fg.get_backend()
    fg.set_backend(request.param)
    yield request.param
    fg.set_backend(prev)
