"""Process and thread state: grad mode (per thread, as users expect from no_grad), the
active kernel backend (per process), the compile tracer and the module-structure
generation."""
import threading

from fastgrad._C import _kernels as _ckernels


class _GradMode(threading.local):
    enabled = True          # class attribute: every new thread starts with grad enabled


grad_mode = _GradMode()


class _Backend:
    """The active kernel backend: ``k`` is the object every op calls kernels on (an
    implementation of ``fastgrad._backend.KernelBackend``: fastgrad._C._kernels,
    fastgrad.reference, or while fastgrad.compile traces, its recorder), ``name`` what
    ``fastgrad.get_backend()`` reports ('c' or 'numpy')."""
    __slots__ = ("k", "name")

    def __init__(self):
        self.k = _ckernels
        self.name = "c"

    def activate(self, k, name=None):
        """Make `k` the active backend (named `name`; None keeps the current name, as for
        the compile recorder, which stands in for the C kernels).  Returns the previous
        ``(k, name)``, which ``activate(*prev)`` restores."""
        prev = (self.k, self.name)
        self.k = k
        if name is not None:
            self.name = name
        return prev


backend = _Backend()


class _Trace:
    """The fastgrad.compile tracer running in this process, or None (fastgrad.compile).
    Tensor-to-Python conversions report to it, so a traced function cannot silently
    freeze a value read from tensor data."""
    __slots__ = ("active",)

    def __init__(self):
        self.active = None


trace = _Trace()


# The module-structure generation: nn.Module bumps it whenever an attribute of any module
# is set or deleted, a parameter, buffer or submodule is registered or removed, or
# train()/eval() runs.  fastgrad.compile's guards compare it instead of rescanning module
# trees at every call (one list item, read and bumped without a lock: a bump is the
# only write, and a reader seeing an old value only rescans).
module_gen = [0]

# The leaf-hook generation: bumped when a hook is registered on or removed from a leaf
# tensor (Tensor.register_hook on a leaf, register_post_accumulate_grad_hook); compiled
# functions retrace when it moved, as their plans ran the hooks present when traced.
leaf_hook_gen = [0]
