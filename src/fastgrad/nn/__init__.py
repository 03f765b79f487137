"""Neural-network building blocks with torch.nn's names: Module, Parameter, layers,
containers, losses, ``init`` and ``functional``."""
from fastgrad.nn import functional, init, utils
from fastgrad.nn.container import ModuleDict, ModuleList, Sequential
from fastgrad.nn.layers import (GELU, BatchNorm1d, Bilinear, Dropout, Embedding, Flatten,
                                Identity, LayerNorm, LeakyReLU, Linear, LogSoftmax, ReLU, SiLU,
                                Sigmoid, Softmax, Softplus, Tanh, Unflatten)
from fastgrad.nn.loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss,
                              L1Loss, MSELoss, NLLLoss, SmoothL1Loss)
from fastgrad.nn.module import Module
from fastgrad.nn.parameter import Buffer, Parameter

__all__ = ["functional", "init", "utils", "Module", "Parameter", "Buffer", "Sequential", "ModuleList",
           "ModuleDict", "Linear", "Bilinear", "Embedding", "Dropout", "LayerNorm", "BatchNorm1d",
           "Flatten", "Unflatten", "Identity", "ReLU", "Sigmoid", "Tanh", "LeakyReLU", "GELU",
           "SiLU", "Softplus", "Softmax", "LogSoftmax", "CrossEntropyLoss", "NLLLoss", "MSELoss",
           "L1Loss", "HuberLoss", "SmoothL1Loss", "BCELoss", "BCEWithLogitsLoss", "KLDivLoss"]
