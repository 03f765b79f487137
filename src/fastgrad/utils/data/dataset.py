"""``torch.utils.data.dataset``'s names, from :mod:`fastgrad.data`."""
from fastgrad.data import (ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset,
                           TensorDataset, random_split)

__all__ = ["ChainDataset", "ConcatDataset", "Dataset", "IterableDataset", "Subset",
           "TensorDataset", "random_split"]
