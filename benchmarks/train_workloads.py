"""MLP training steps, shared with `fastgrad bench` (fastgrad.bench.workloads).

CONFIGS are the issue's three sizes: S = batch 32, 64-128-10; M = batch 64, 784-128-10;
L = batch 256, 784-512-512-10.  All frameworks start from the same float32 weights."""
from fastgrad.bench.workloads import TRAIN_CONFIGS as CONFIGS  # noqa: F401
from fastgrad.bench.workloads import fastgrad_train_step as fastgrad_step  # noqa: F401
from fastgrad.bench.workloads import numpy_train_step as numpy_step  # noqa: F401
from fastgrad.bench.workloads import torch_train_step as torch_step  # noqa: F401
from fastgrad.bench.workloads import train_data as data  # noqa: F401
