"""``fastgrad.accelerator``: PyTorch's device-agnostic accelerator queries.  fastgrad runs
on the CPU only, so there is never an accelerator; scripts that test for one
(``torch.accelerator.is_available()``) take their CPU path."""

__all__ = ["is_available", "current_accelerator", "device_count"]


def is_available():
    """False: fastgrad has no accelerator backend."""
    return False


def current_accelerator(check_available=False):
    """None: there is no accelerator (PyTorch returns None too when none is present)."""
    return None


def device_count():
    """0: no accelerator devices."""
    return 0
