"""Copies: ``copy`` (always a fresh C-contiguous array) and ``contiguous`` (a copy only
where the input is not C-contiguous)."""
import numpy as np


def copy(x):
    return np.array(x, order="C", copy=True)      # 0-d stays 0-d (ascontiguousarray gives 1-d)


def contiguous(x):
    return x if x.flags.c_contiguous else np.array(x, order="C")
