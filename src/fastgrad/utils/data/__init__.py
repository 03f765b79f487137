"""``fastgrad.utils.data``: the same objects as :mod:`fastgrad.data`, under the path PyTorch
programs import them from (``torch.utils.data``)."""
from fastgrad.data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset,
                           DistributedSampler, Generator, IterableDataset, RandomSampler, Sampler,
                           SequentialSampler, Subset, SubsetRandomSampler, TensorDataset,
                           WeightedRandomSampler, WorkerInfo, default_collate, default_convert,
                           get_worker_info, random_split)
from fastgrad.utils.data import dataloader, dataset, distributed, sampler

__all__ = ["BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset",
           "DistributedSampler", "Generator", "IterableDataset", "RandomSampler", "Sampler",
           "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset",
           "WeightedRandomSampler", "WorkerInfo", "default_collate", "default_convert",
           "get_worker_info", "random_split", "dataloader", "dataset", "distributed", "sampler"]
