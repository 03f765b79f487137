"""``fastgrad.utils``: the place PyTorch programs look for ``utils.data``
(``from fastgrad.utils.data import DataLoader``)."""
from fastgrad.utils import data

__all__ = ["data"]
