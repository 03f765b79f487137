"""``fastgrad.cuda``: the queries PyTorch scripts make before choosing a device.  fastgrad
has no CUDA devices: ``is_available()`` is False and ``device_count()`` is 0.  Seeding
calls are accepted and do nothing (PyTorch ignores them too when no GPU is present);
calls that need a GPU raise a RuntimeError."""


def is_available():
    return False


def device_count():
    return 0


def is_initialized():
    return False


def manual_seed(seed):
    """Does nothing: there is no CUDA generator (fastgrad.manual_seed seeds the CPU)."""


def manual_seed_all(seed):
    """Does nothing: there is no CUDA generator (fastgrad.manual_seed seeds the CPU)."""


def is_bf16_supported(including_emulation=True):
    return False


def _unavailable(name):
    def fn(*args, **kwargs):
        raise RuntimeError(f"fastgrad.cuda.{name}: fastgrad runs on the CPU only; no CUDA device "
                           "is available")
    fn.__name__ = name
    return fn


current_device = _unavailable("current_device")
set_device = _unavailable("set_device")
synchronize = _unavailable("synchronize")
get_device_name = _unavailable("get_device_name")
get_device_properties = _unavailable("get_device_properties")
empty_cache = _unavailable("empty_cache")

from fastgrad.cuda import amp as amp  # noqa: E402 - the submodule torch.cuda.amp scripts name
