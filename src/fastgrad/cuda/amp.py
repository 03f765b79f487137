"""``fastgrad.cuda.amp``: the older spelling ``torch.cuda.amp.GradScaler(...)`` /
``torch.cuda.amp.autocast(...)``, which are :mod:`fastgrad.amp`'s classes for the device
"cuda".  With no CUDA device an enabled scaler or autocast warns and disables itself, as
PyTorch's does on a machine without a GPU, so scripts that pick them when
``dtype == 'float16'`` run unchanged on the CPU."""
from fastgrad import amp as _amp

__all__ = ["GradScaler", "autocast"]


class GradScaler(_amp.GradScaler):
    """``fastgrad.amp.GradScaler("cuda", ...)``."""

    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                 enabled=True):
        super().__init__("cuda", init_scale=init_scale, growth_factor=growth_factor,
                         backoff_factor=backoff_factor, growth_interval=growth_interval, enabled=enabled)


class autocast(_amp.autocast):  # noqa: N801 - torch's name
    """``fastgrad.amp.autocast("cuda", ...)``."""

    def __init__(self, enabled=True, dtype=None, cache_enabled=True):
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)
