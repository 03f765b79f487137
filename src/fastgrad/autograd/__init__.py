"""Reverse-mode automatic differentiation: the graph engine and grad-mode switches."""
from fastgrad.autograd.engine import (Node, backward, grad, queue_callback,
                                     register_post_accumulate_grad_hook)
from fastgrad.autograd.grad_mode import (enable_grad, inference_mode, is_grad_enabled,
                                        is_inference_mode_enabled, no_grad, set_grad_enabled)

__all__ = ["Node", "backward", "grad", "queue_callback", "register_post_accumulate_grad_hook",
           "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "inference_mode", "is_inference_mode_enabled"]
from fastgrad.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ += ["gradcheck", "gradgradcheck", "GradcheckError"]
from fastgrad.autograd import functional  # noqa: E402,F401
from fastgrad.autograd import forward_ad  # noqa: E402,F401
from fastgrad.autograd.anomaly import (detect_anomaly, is_anomaly_enabled,  # noqa: E402
                                       set_detect_anomaly)

__all__ += ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled"]
