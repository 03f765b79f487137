"""Optimizers (fused multi-tensor C kernels) and learning-rate schedulers, following
torch.optim's names, arguments and update rules."""
from fastgrad.optim.optimizer import Optimizer
from fastgrad.optim._algorithms import SGD, Adam, AdamW, RMSprop, Adagrad
from fastgrad.optim import lr_scheduler

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]
