"""``torch.utils.data.sampler``'s names, from :mod:`fastgrad.data`."""
from fastgrad.data import (BatchSampler, RandomSampler, Sampler, SequentialSampler,
                           SubsetRandomSampler, WeightedRandomSampler)

__all__ = ["BatchSampler", "RandomSampler", "Sampler", "SequentialSampler",
           "SubsetRandomSampler", "WeightedRandomSampler"]
