"""``torch.utils.data.distributed``'s names, from :mod:`fastgrad.data`."""
from fastgrad.data import DistributedSampler

__all__ = ["DistributedSampler"]
