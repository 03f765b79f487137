"""Reverse-mode automatic differentiation: the graph engine and grad-mode switches."""
from fastgrad.autograd.engine import Node, backward, grad
from fastgrad.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled

__all__ = ["Node", "backward", "grad", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled"]
from fastgrad.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck  # noqa: E402

__all__ += ["gradcheck", "gradgradcheck", "GradcheckError"]
from fastgrad.autograd import functional  # noqa: E402,F401
from fastgrad.autograd.anomaly import (detect_anomaly, is_anomaly_enabled,  # noqa: E402
                                       set_detect_anomaly)

__all__ += ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled"]
