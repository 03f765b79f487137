"""Copies: ``copy`` (always a fresh C-contiguous array) and ``contiguous`` (a copy only
where the input is not C-contiguous)."""
import numpy as np


def copy(x):
    return np.ascontiguousarray(x).copy()


def contiguous(x):
    return np.ascontiguousarray(x)
