"""fastgrad.compile: trace a training step once, replay it in C with no Python per op.

    step = fastgrad.compile(step_fn)          # or @fastgrad.compile, compile(fn, fallback="eager")
    loss = step(x, y)                         # first call: traced (runs eagerly, records)
    loss = step(x, y)                         # later calls: one C call replays the plan

How it works
------------
Tracing runs ``fn`` eagerly once with a recorder as the active kernel backend
(``fastgrad._state.backend.activate``; the recorder implements the interface
``fastgrad._backend.KernelBackend`` as the C kernels and the NumPy reference do, calling
the C kernel and recording the call).  Every kernel call the ops, the backward pass and
the optimizer make is recorded with its operands; the eager results are what the first
call returns, so a traced call is an ordinary eager call.  Because the plan replays
exactly the kernels eager execution called, with the same arguments and thread counts, a
compiled step gives the same parameters as eager execution, bit for bit.

Each array a kernel touches must be known to the recorder: the output of an earlier
recorded kernel, an input tensor passed to ``fn`` (positionally; replays read the new
arguments in place, no copy), a tensor ``fn`` reaches when the trace starts through its
closure, the globals its code names, its bound object or its arguments (parameters,
buffers and gradients of modules, optimizer parameters and state, tensors in containers:
read in place at each replay), or a constant fixed by the program (Python scalars, the
ones that seed ``backward()``).  Float tensors made inside ``fn`` by ``zeros``, ``ones``
or ``zeros_like`` (a recurrent layer's initial state) are fill steps of the plan, and the
causal mask of ``scaled_dot_product_attention(is_causal=True)`` is a constant of the plan
(it depends only on the shapes).  Any other array made by NumPy code outside the kernels (a
dropout mask, another tensor factory called inside ``fn``, an op with untraced NumPy work)
makes the trace unsupported: the function runs eagerly for that signature from then on,
with one ``RuntimeWarning`` naming the op (``fallback="eager"``: no warning;
``fallback="error"``: a ``CompileError`` naming it instead).  So are
kernels outside the supported set (GEMM/linear with fused epilogues, batched and
broadcast matmul (one batched GEMM step per batch index the C wrapper loops over), unary and binary
elementwise ops and their backward kernels, comparisons and ``where`` (so
``masked_fill``, ``maximum``/``minimum``, ``clamp``, the smooth-L1 and Huber losses),
sum/mean/logsumexp reductions, softmax and log-softmax, cross-entropy, strided copies,
the optimizers (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, RAdam, NAdam), 1-D/2-D convolution and its
backward (any subset of input/weight/bias gradients; also transposed convolution), max,
average and adaptive average pooling and their backward, batch/layer/group normalization
and their backward), in-place ops that cast dtypes or write into non-contiguous
tensors, ``create_graph=True``,
``Optimizer.step(closure)``, BatchNorm modules
with ``momentum=None`` in training mode (the momentum is computed in Python from the
step count), and ``clip_grad_norm_`` with ``error_if_nonfinite=True``, a norm_type other
than 1, 2 or inf, or gradients of several dtypes.  Gradient clipping itself is recorded
as one plan step that computes the norm and the scale from the gradients at every
replay, with the floating-point operations of the eager code, so it clips exactly
when eager execution would.
Conversions of tensors to Python values (``.item()``, ``.tolist()``, ``.numpy()``,
``float()``, ``int()``, ``bool()``) inside a compiled function make it eager the same
way (``fallback="error"``: they raise).  ``LBFGS.step(closure)`` is not a refusal: it
evaluates its closure a number of times
that depends on the values computed (line search, convergence tests), so no fixed plan
can follow it, but eager execution is correct; a compiled function that steps LBFGS
runs eagerly for that signature, with one ``RuntimeWarning`` saying why, whatever its
``fallback`` setting.
Python control flow is captured as traced (as
``torch.jit.trace`` does): a branch on a Python value is taken the way it was taken while
tracing, and Python side effects in ``fn`` (appending to a list, printing, counters) happen
only when ``fn`` actually runs (tracing, the second-call check, eager fallback), not on
replays.

What a kernel-level recorder cannot see -- NumPy arithmetic on ``tensor._data`` (a manual
``p._data -= lr * p.grad._data``, an in-place buffer update), a Python number computed from
``x._data`` -- is caught by a check: the second call of every plan runs the plan, restores
the state, runs ``fn`` eagerly and compares parameters, buffers, optimizer state,
gradients and returned tensors bit for bit.  On a mismatch that call's results are the
eager ones and the signature runs eagerly from then on, with the warning above
(``fallback="error"``: a ``CompileError``).  (A value
frozen this way that happens to be equal on the first two calls is not caught; keep
Python-level reads of tensor data out of compiled functions.)

The eager code paths that work on Python values report to named hooks
(``fastgrad._hooks``), which the trace installs for its duration; through them the
unsupported ones above make the trace fail, and four are traced at the op level:
``batch_norm``'s NumPy work around its C kernels (the inverse standard deviation, the
copy of the running mean in eval mode, the running-statistics update in training mode,
and a BatchNorm module's ``num_batches_tracked`` count) is replayed by small C steps that
do the same floating-point operations in the same order and precision as the NumPy
expressions (so running statistics stay bitwise equal to eager ones);
the mean/sum reduction of ``cross_entropy`` (the count of non-ignored targets is
recomputed at each replay, the loss summed in NumPy's pairwise order), the gradient
store into ``.grad`` (adopt, copy or accumulate; a weight gradient that the linear or
matmul backward adds straight into an existing ``.grad`` is the GEMM's own beta=1
step), and ``Optimizer.step`` (one fused multi-tensor update per group and dtype: the
optimizer's own ``OptimPlan`` with the plan's gradient buffers; hyperparameters such as
``lr`` are read at every call, so learning-rate schedulers work without retracing).
``zero_grad`` is traced as well; a learning-rate scheduler stepped inside the function
(reachable from it, ``step()`` without arguments) is stepped again by every replay,
before the plan or after it as in the traced call; and so are in-place ops (their result, computed by
the kernels, is copied into the tensor by a recorded strided copy).

Why record kernels rather than compile the graph: every fastgrad op, backward formula and
optimizer already ends in one call of a C kernel with a uniform argument convention, so
recording those calls reuses all of them unchanged (including the fused ones: Linear with
its bias and activation in the GEMM epilogue, softmax cross-entropy forward and backward
in one kernel each, one multi-tensor kernel for all parameters of an optimizer group), and
replaying the same calls with the same arguments makes compiled and eager results
identical, which keeps the tests exact.  The price is that work done outside the kernels
must be found (the reachability rule, the op-level hooks above, the second-call check).
No further fusion is done at plan level: fusing kernels eager mode runs separately would
change rounding and lose bitwise agreement, and on the small networks this targets the
time went to Python, which the replay removes.

Memory: intermediates live in one arena.  A liveness pass gives each buffer an offset,
reusing memory whose last reader has run (greedy, largest first), so a replay allocates
nothing but the returned tensors.  ``plan_info()`` reports the arena size.

Semantics after a replay
------------------------
* Parameters and optimizer state are updated in place, as in eager mode.
* ``p.grad`` is a tensor over the plan's gradient buffer: the same tensor object at every
  call, overwritten by the next call (eager mode with ``zero_grad(set_to_none=True)``
  makes a new tensor per step; copy ``.grad`` if you keep it across steps).
* Returned tensors are new tensors holding copies of the results, detached from any
  graph (``requires_grad`` False).
* Tensor version counters are not bumped by a replay.

Signature and guards: a plan is keyed by the tensor arguments' shapes, dtypes,
requires_grad flags and contiguity, the other arguments' values, and grad mode.  Before
every replay one C call (``fastgrad.compile.guards``, fastgrad._C's ``GuardProgram``) checks what the
plan assumed when it was traced: the objects bound to the globals and closure cells the
function names (Python scalars by value) and the path by which it reached each tensor,
module and optimizer; every module tree it ran (submodules, parameters, buffers,
training modes: rescanned only when ``fastgrad._state.module_gen`` says some module
changed) and the forward hooks; each captured tensor's array and ``requires_grad``;
each stepped optimizer's groups (count, order, parameter lists), its multi-tensor plans
and state arrays, and the state layout its hyperparameters select; and the ``.grad``
entries it read (a step without ``zero_grad`` accumulates, as in eager mode).  So
freezing or unfreezing layers, ``add_param_group``, replacing a submodule or a
parameter, rebinding ``model``/``opt`` to new objects and ``train()``/``eval()`` all
retrace rather than replay a stale plan; numeric hyperparameters are read at every
replay without retracing.  A failed guard traces a new variant of the signature (so
train and eval steps each keep a plan); at most ``max_plans`` variants are cached (oldest
dropped), and a warning, naming the check that failed last, is issued when a function
keeps retracing.  Python control flow is still captured as traced: the guards cover
the objects and values the function names, not branches on attributes of other
objects.  The checks read Tensor's slots (array, ``requires_grad``, ``.grad``) at their
offsets; ``benchmarks/bench_guards.py`` measures the guards of the S step (about
0.15 us for SGD and 0.25 us for Adam on a busy 2-core machine).
Tensor arguments must not be views into a larger array (pass a contiguous tensor).  A
compiled function serves one call at a time (a lock; its arena is shared by its calls).

Randomness: dropout in training mode (``F.dropout``, ``nn.Dropout``, ``dropout1d/2d``)
is one plan step that draws its mask in C from fastgrad's global generator: through
NumPy's own bit generator interface, the same draws ``Generator.random`` makes (float32
or float64, compared with ``p`` as NumPy compares them), so a replay draws the masks
eager execution would draw and leaves the generator in the same state; ``manual_seed``
between calls is followed (the replay draws from the generator's current state, no
retrace).  In eval mode dropout is the identity.

Indexing: ``index_select``, integer-tensor indexing (``w[idx]``) and ``F.embedding`` /
``nn.Embedding`` (``padding_idx`` included: the gather's backward adds every row into a
zeroed gradient and zeroes the padding row) are plan steps, forward and backward
(a scatter-add into the weight gradient); so are ``gather``, ``take_along_dim``,
``scatter_add`` and ``scatter`` (a tensor or a scalar source), forward and backward.
Indices must be an int64 tensor (an argument, a captured tensor, or one made from them
by traced ops: views, ``contiguous``); an index out of range in a replay raises
``IndexError``.  An array a traced op builds with NumPy from regions -- ``cat``,
``stack``, and the backward of slicing (``x[a:b]``, ``chunk``, ``split``, ``narrow``) --
is replayed as a fill and one strided copy per region; a tensor made inside the
function that holds one value everywhere (``fg.zeros``, ``fg.full``), copied by
``scatter`` or added into by ``scatter_add``, becomes a fill step.  ``nll_loss`` (with
``log_softmax``, class weights, ``ignore_index``, every reduction) is recorded: its
target bookkeeping (kept rows, 0/1 weights, the count a mean divides by) is one kernel,
so each replay follows its batch's targets; a target out of range raises
``IndexError``.  ``max``/``min`` along a dim (values and indices), ``argmax``/``argmin``,
``cumsum``/``cumprod``, ``prod`` over a dim, ``sort``/``argsort`` and ``topk`` are plan
steps, with their backward (a scatter into zeros, a gather).  Still not recorded:
``binary_cross_entropy`` and ``norm`` (NumPy in their forward), comparisons of integer
tensors (``argmax(1) == y``), ``masked_select`` and ``nonzero`` (data-dependent shapes):
a step using them runs eagerly, with a warning.

``p.grad = None`` inside the function (instead of ``zero_grad``) is seen at the gradient
store: the plan then does not depend on what ``.grad`` holds when a call starts, so it
is not guarded and replays do not retrace.

Modules: ``compile(module)`` returns a ``CompiledModule`` that behaves like the module
(attributes, ``parameters()``, ``state_dict()``, ``train()``/``eval()``) and compiles its
forward; a forward whose result requires grad (compiled plans return results outside
the autograd graph: compile the whole training step instead) or that cannot be compiled
runs eagerly, said once with a RuntimeWarning.

Only the C backend compiles; under the NumPy reference backend a compiled function runs
eagerly.

Modules
-------
``api`` (compile, CompiledFunction, CompileError), ``tracing`` (the tracer, the arrays a
call may read in place, the hook handlers), ``guards`` (the checks before each replay),
``recording`` (the recorder backend and the
record of each kernel as a plan step), ``plan`` (arena layout, the C plan, guards,
the second-call check, replay), ``module`` (``compile(module)``).
"""
from fastgrad.compile.api import CompiledFunction, CompileError, compile  # noqa: A004 - torch.compile's name

__all__ = ["compile", "CompileError", "CompiledFunction"]
