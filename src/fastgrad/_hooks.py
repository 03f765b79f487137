"""Named hooks: the eager code paths that work outside the kernel backend, in Python or
NumPy, report to a hook slot, so that a tracer (fastgrad.compile) sees that work without
replacing any function.

Each slot of ``hooks`` holds None (the default: the call site costs one attribute load
and an ``is None`` test) or a callable, which the owning module calls as listed here:

=============  ==========================================  =====================================
slot           called by                                   call
=============  ==========================================  =====================================
grad_seed      autograd.engine: backward()/grad() made      ``grad_seed(t)``
               the ones tensor ``t`` that seeds a scalar
               output's gradient
grad_store     autograd.engine._store_grad, after storing   ``grad_store(t, g, old, tag,
               ``g`` into ``t.grad`` (``old``: the .grad    create_graph)``
               before, ``tag``: g's adoption tag)
accum_target   autograd.engine.accum_target, when it hands  ``accum_target(t)``
               out t.grad for a GEMM to add into
xent_reduce    ops.loss cross-entropy with reduction      ``xent_reduce(x, target,
               'mean' or 'sum', before the eager kernels;   ignore_index, label_smoothing,
               a Tensor returned is the loss, None lets     scale, reduction)``
               the eager path run
dropout        nn.functional.dropout (and dropout1d/2d),    ``dropout(x, p)``
               before drawing a random mask; a callable
               returned is called as ``after(mask,
               draws)`` with the mask array just made
               (``draws``: the dtype of the uniform
               draws from the global generator's
               ``random()``, None for p == 1: no draws)
embedding      nn.functional.embedding with a padding_idx,  ``embedding(weight, idx,
               after checking its arguments; a Tensor       padding_idx, keep)`` (idx: int64,
               returned is the result, None lets the        padding_idx in [0, n), keep: the
               eager path run                               index Tensors to version-check)
numpy_copy     ops.shape.reshape, when NumPy copied the     ``numpy_copy(src, out, name)``
               data (a layout no view can reshape):
               ``out`` holds src's elements in C order
numpy_assemble ops that build a fresh array with NumPy from    ``numpy_assemble(out, pieces,
               regions (cat, stack, the backward of basic   fill, name)`` (pieces: (basic
               indexing), after building it: ``out`` holds  index, array) pairs; fill: a
               ``fill`` (None: nothing) overwritten by      number or None)
               each piece's array at its index, in order
batch_norm     batch_norm, before its kernels               ``batch_norm(running_mean,
                                                            running_var, training, momentum,
                                                            eps)``
batch_count    nn BatchNorm modules, before counting a      ``batch_count(module)``
               training step in num_batches_tracked
inplace        in-place tensor ops (ops.inplace), before      ``inplace(x, name)``
               the op; a callable returned is called
               with the result tensor after each copy
               of a result into x
zero_grad      Optimizer.zero_grad / Module.zero_grad,      ``zero_grad(params, set_to_none)``
               before clearing
optim_step     Optimizer.step, before the update; a         ``optim_step(optimizer, closure)``
               callable returned runs after it
module_call    Module.__call__                              ``module_call(module)``
clip_grad      nn.utils.clip_grad_norm_ / clip_grad_value_  ``clip_grad(name, grads, limit,
               before changing the gradients; a callable   norm_type, error_if_nonfinite)``
               returned runs after, with the returned      (norm_type None for
               total norm's array (None for clip_grad_     clip_grad_value_)
               value_)
sched_step     LRScheduler.step (and ReduceLROnPlateau's),  ``sched_step(scheduler, args)``
               before stepping; ``args``: the arguments
               given to step(), () for none
filled         zeros / ones / zeros_like, with the array  ``filled(arr, value, name)``
               just made, every element ``value``
shape_const    an op's NumPy-made array that depends     ``shape_const(arr, name)``
               only on shapes and Python arguments
               (scaled_dot_product_attention's causal
               mask), just made
=============  ==========================================  =====================================

Hooks are process-wide (a handler checks the thread itself).  ``installed(handlers)``
sets a group of slots for the duration of a ``with`` block and restores the previous
values however the block ends.
"""
import contextlib

__all__ = ["hooks", "installed", "HOOK_NAMES"]

HOOK_NAMES = ("grad_seed", "grad_store", "accum_target", "xent_reduce", "dropout", "embedding",
              "numpy_copy", "numpy_assemble", "batch_norm", "batch_count", "inplace", "zero_grad", "optim_step",
              "module_call", "clip_grad", "sched_step",
              "filled", "shape_const")


class _Hooks:
    __slots__ = HOOK_NAMES

    def __init__(self):
        for name in HOOK_NAMES:
            setattr(self, name, None)

    def __repr__(self):
        on = [n for n in HOOK_NAMES if getattr(self, n) is not None]
        return f"<fastgrad hooks: {', '.join(on) or 'none'} set>"


hooks = _Hooks()


@contextlib.contextmanager
def installed(handlers):
    """Within the block, ``hooks.<name>`` is ``handlers[name]`` for each name given; the
    previous values come back when the block ends, also by an exception or
    KeyboardInterrupt."""
    unknown = set(handlers) - set(HOOK_NAMES)
    if unknown:
        raise ValueError(f"installed: unknown hook names {sorted(unknown)}")
    prev = {name: getattr(hooks, name) for name in handlers}
    try:
        for name, fn in handlers.items():
            setattr(hooks, name, fn)
        yield hooks
    finally:
        for name, fn in prev.items():
            setattr(hooks, name, fn)
