"""Optimizers (fused multi-tensor C kernels; NumPy updates for Adadelta, RAdam, NAdam and
LBFGS) and learning-rate schedulers, following
torch.optim's names, arguments and update rules."""
from fastgrad.optim.optimizer import Optimizer
from fastgrad.optim._algorithms import SGD, Adam, AdamW, RMSprop, Adagrad
from fastgrad.optim._python import Adadelta, RAdam, NAdam, LBFGS
from fastgrad.optim import lr_scheduler

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "RAdam", "NAdam", "LBFGS",
           "lr_scheduler"]
