"""``torch.utils.data.dataloader``'s names, from :mod:`fastgrad.data`."""
from fastgrad.data import DataLoader, default_collate, default_convert, get_worker_info

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]
