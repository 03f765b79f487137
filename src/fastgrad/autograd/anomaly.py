"""Anomaly detection: find the forward op behind a nan/inf gradient.

While anomaly mode is on, every graph node remembers the stack of the forward call that
created it, and after each backward function runs the engine checks its outputs: a nan
or an infinity raises ``RuntimeError`` naming the backward function and showing where
its forward op was called.

    with fastgrad.autograd.detect_anomaly():
        loss = model(x).sum()
        loss.backward()          # RuntimeError: Function 'LogBackward' returned nan ...

Cost: off (the default), one check of a flag per recorded node and per backward node;
on, a Python stack capture per node and a finiteness scan of every gradient (use it to
debug, not to train).  The mode is process-wide (like PyTorch's): switching it in one
thread switches it for all.
"""
import functools
import traceback
import weakref

import numpy as np

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "is_anomaly_check_nan_enabled"]

# [enabled, check_nan]: read by the node-recording path (fastgrad.ops._record._record) and the
# backward loop (fastgrad.autograd.engine._run); a list so both can bind it once.
_mode = [False, True]
_traces = weakref.WeakKeyDictionary()      # Node -> traceback.StackSummary of its forward


def is_anomaly_enabled():
    """True while anomaly detection is on (``detect_anomaly`` / ``set_detect_anomaly``)."""
    return _mode[0]


def is_anomaly_check_nan_enabled():
    return _mode[0] and _mode[1]


class set_detect_anomaly:
    """set_detect_anomaly(mode, check_nan=True): as a call it switches anomaly mode at once;
    as a context manager or decorator it restores the previous setting afterwards."""

    def __init__(self, mode, check_nan=True):
        self._prev = tuple(_mode)
        _mode[0] = bool(mode)
        _mode[1] = bool(check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _mode[0], _mode[1] = self._prev
        return False

    def __call__(self, fn):
        mode = (_mode[0], _mode[1])
        _mode[0], _mode[1] = self._prev           # decorating must not leave the mode on

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = tuple(_mode)
            _mode[0], _mode[1] = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _mode[0], _mode[1] = prev
        return wrapper


class detect_anomaly:
    """Context manager (and decorator) that turns anomaly mode on inside it."""

    def __init__(self, check_nan=True):
        self.check_nan = bool(check_nan)

    def __enter__(self):
        self._prev = tuple(_mode)
        _mode[0], _mode[1] = True, self.check_nan
        return self

    def __exit__(self, *exc):
        _mode[0], _mode[1] = self._prev
        return False

    def __call__(self, fn):
        check_nan = self.check_nan

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly(check_nan):
                return fn(*args, **kwargs)
        return wrapper


def _remember(node):
    """Called by _record for each new node while anomaly mode is on."""
    # drop the two innermost frames (_record and this function): the stack ends at the op
    _traces[node] = traceback.extract_stack()[:-2]


def backward_name(node):
    """'mul' -> 'MulBackward', 'leaky_relu' -> 'LeakyReluBackward'."""
    return "".join(p[:1].upper() + p[1:] for p in str(node.name).split("_")) + "Backward"


def forward_trace(node):
    st = _traces.get(node)
    if st is None:
        return ("No forward traceback was recorded for this node (it was created while anomaly "
                "mode was off; enable it before the forward pass).")
    return "Traceback of forward call that caused the error:\n" + "".join(traceback.format_list(st)).rstrip()


def _check(node, grads):
    """Called by the backward loop after node.fn while anomaly mode is on."""
    if not _mode[1]:
        return
    for i, g in enumerate(grads):
        if g is None:
            continue
        a = getattr(g, "_data", g)
        if not isinstance(a, np.ndarray) or a.dtype.kind not in "fc":
            continue
        if np.isfinite(a).all():
            continue
        what = "nan" if np.isnan(a).any() else "inf"
        raise RuntimeError(f"Function '{backward_name(node)}' returned {what} values in its {i}th "
                           f"output.\n{forward_trace(node)}")
