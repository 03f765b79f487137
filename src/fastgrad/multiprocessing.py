"""``fastgrad.multiprocessing``: Python's :mod:`multiprocessing` under PyTorch's module name,
so that ``import torch.multiprocessing as mp`` and ``mp.Process`` / ``mp.set_start_method``
work.  Tensors passed to another process are copied (pickled), never shared:
``Tensor.share_memory_()`` and ``Module.share_memory()`` raise NotImplementedError, so
Hogwild-style training on one shared model is not supported."""
import multiprocessing as _mp
from multiprocessing import *  # noqa: F401, F403

__all__ = list(getattr(_mp, "__all__", [])) + ["get_all_sharing_strategies", "get_sharing_strategy",
                                                 "set_sharing_strategy"]


def get_all_sharing_strategies():
    """fastgrad shares no tensor memory between processes: the empty set."""
    return set()


def get_sharing_strategy():
    """None: fastgrad shares no tensor memory between processes."""
    return None


def set_sharing_strategy(new_strategy):
    """Not supported: fastgrad shares no tensor memory between processes."""
    raise NotImplementedError("set_sharing_strategy: fastgrad cannot share tensors between processes")
