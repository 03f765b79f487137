"""Fused recurrent layers: the whole sequence of one layer and direction as one graph node.

``rnn_sequence`` computes the input projection of every time step as one GEMM (the
backend's ``linear``), then runs the recurrence in one kernel call (``rnn_fwd``, C in
csrc/rnn.c or the NumPy reference), which saves the gates and states the backward reads.
The backward is one kernel call (``rnn_bwd``: backward through time, the recurrent weight
and bias gradients) and the GEMMs for the input, W_ih and b_ih gradients.

Under ``create_graph=True`` the backward recomputes the layer with the composed step
functions of ``fastgrad.nn.rnn`` and differentiates that graph, so higher derivatives
work.  No forward-mode rule: the layers use the composed path while forward-mode AD is
active.
"""
from fastgrad._state import backend, grad_mode
from fastgrad._C._kernels import R, RNN_MODES
from fastgrad.autograd import engine as _engine
from fastgrad.autograd.engine import FRESH, jvp_rule
from fastgrad.errors import ShapeError
from fastgrad.ops._record import _make, _needs, _record

__all__ = []

_NO_FORWARD_AD = ("{}: the fused recurrent node has no forward-mode rule; the recurrent layers "
                  "take the composed path while forward-mode AD is active")

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _fresh(arr):
    t = _make(arr)
    t._name = FRESH
    return t


class _Ctx:
    __slots__ = ("mode", "reverse", "ws", "steps", "batch", "index", "inputs", "batch_sizes")

    def __init__(self, mode, reverse, ws, steps, batch, index, inputs, batch_sizes):
        self.mode, self.reverse, self.ws = mode, reverse, ws
        self.steps, self.batch, self.index, self.inputs = steps, batch, index, inputs
        self.batch_sizes = batch_sizes


def rnn_sequence(mode, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False,
                 batch_sizes=None):
    """One recurrent layer and direction over a whole sequence.

    mode: "RNN_TANH", "RNN_RELU", "LSTM" or "GRU"; x (T, B, I) with T >= 1, h0 (B, H)
    or None for zeros, c0 (B, H) or None for zeros (LSTM; ignored otherwise), w_ih
    (G*H, I), w_hh (G*H, H), b_ih, b_hh (G*H,) or None, with PyTorch's gate orders.
    reverse: run from the last step to the first.  Returns (y (T, B, H), c_n (B, H) or
    None): y is one graph node; an LSTM's c_n a second one over the same kernel call,
    whose backward runs only when c_n is used.  The final hidden state is y[T - 1]
    (y[0] with reverse).

    batch_sizes (packed sequences): None, or an int64 array of T counts: only the leading
    batch_sizes[t] rows take step t, the others keep their state and get y[t] = 0, so c_n
    holds each sequence's final cell state (csrc/rnn.h)."""
    who = mode.lower()
    if _engine.fw.level:
        raise RuntimeError(_NO_FORWARD_AD.format(who))
    xd = x._data
    if xd.ndim != 3 or xd.shape[0] < 1:
        raise ShapeError(f"{who}: expected an input of shape (T >= 1, B, I), got {xd.shape}")
    T, B, In = xd.shape
    G, H = w_hh._data.shape
    if mode != "LSTM":
        c0 = None
    if G != _GATES[mode] * H or w_ih._data.shape != (G, In) or any(
            s is not None and s._data.shape != (B, H) for s in (h0, c0)):
        raise ShapeError(f"{who}: input {xd.shape}, initial states "
                         f"{[None if s is None else s._data.shape for s in (h0, c0)]}, weight_ih "
                         f"{w_ih._data.shape} and weight_hh {w_hh._data.shape} do not match")
    k = backend.k
    m = RNN_MODES[mode]
    if not xd.flags.c_contiguous:
        xd = k.contiguous(xd)
    gi = k.linear(xd.reshape(T * B, In), w_ih._data, None if b_ih is None else b_ih._data)
    out, _, ws = k.rnn_fwd(m, gi.reshape(T, B, G), w_hh._data,
                           None if b_hh is None else b_hh._data,
                           None if h0 is None else h0._data,
                           None if c0 is None else c0._data, bool(reverse), batch_sizes)
    inputs = [x]
    index = {"x": 0}
    for name, t in (("h0", h0), ("c0", c0), ("w_ih", w_ih), ("w_hh", w_hh), ("b_ih", b_ih), ("b_hh", b_hh)):
        if t is not None:
            index[name] = len(inputs)
            inputs.append(t)
    y = out[:T] if mode == "LSTM" else out
    cn = out[T] if mode == "LSTM" else None
    if _needs(*inputs):
        ctx = _Ctx(m, bool(reverse), ws, T, B, index, tuple(inputs), batch_sizes)
        if xd is not x._data:
            x = _make(xd)
        saved = (x, w_ih, w_hh)
        ys = _record(y, who, _rnn_bwd, tuple(inputs), saved, None, ctx)
        cs = None if cn is None else _record(cn, who + "_c_n", _rnn_bwd_c, tuple(inputs), saved,
                                             None, ctx)
        return ys, cs
    return _make(y), (None if cn is None else _make(cn))


def _rnn_bwd_c(node, g):
    """Backward of an LSTM's c_n: the same backward through time from its gradient alone
    (gradients from y and from c_n add up, the recurrence being linear in them)."""
    return _rnn_bwd(node, g, True)


def _rnn_bwd(node, g, of_c=False):
    c = node.ctx
    if grad_mode.enabled:
        return _rnn_bwd_composed(node, g, of_c)
    x, w_ih, w_hh = node.saved
    e = node.edges
    idx = c.index
    want = lambda n: n in idx and e[idx[n]] is not None  # noqa: E731
    k = backend.k
    gd = g._data
    dgi, dh0, dc0, dw_hh, db_hh = k.rnn_bwd(
        c.mode, c.steps, None if of_c else gd, None, gd if of_c else None, w_hh._data, c.ws,
        c.reverse, want("h0") or want("c0"),
        want("w_hh"), want("b_hh") or (want("b_ih") and c.mode != RNN_MODES["GRU"]),
        c.batch_sizes)
    T, B = c.steps, c.batch
    G = dgi.shape[2]
    d2 = dgi.reshape(T * B, G)
    xd = x._data
    x2 = xd.reshape(T * B, xd.shape[2])
    res = [None] * len(e)
    if want("x"):
        res[idx["x"]] = _fresh(k.matmul(d2, w_ih._data).reshape(xd.shape))
    if want("h0"):
        res[idx["h0"]] = _fresh(dh0)
    if want("c0"):
        res[idx["c0"]] = _fresh(dc0)
    if want("w_ih"):
        res[idx["w_ih"]] = _fresh(k.matmul(d2.T, x2))
    if want("w_hh"):
        res[idx["w_hh"]] = _fresh(dw_hh)
    if want("b_ih"):
        # RNN and LSTM: the input and recurrent projections get the same gradient
        res[idx["b_ih"]] = _fresh(k.reduce(R["sum"], d2, (0,)) if c.mode == RNN_MODES["GRU"]
                                  else (db_hh if not want("b_hh") else k.copy(db_hh)))
    if want("b_hh"):
        res[idx["b_hh"]] = _fresh(db_hh)
    return tuple(res)


@jvp_rule(_rnn_bwd, _rnn_bwd_c)
def _rnn_jvp(node, xs, ts, out):
    raise RuntimeError(_NO_FORWARD_AD.format(node.name))


def _rnn_bwd_composed(node, g, of_c=False):
    """Differentiable gradients for create_graph=True: the layer recomputed from its
    inputs with the composed step functions, and that graph differentiated."""
    from fastgrad import autograd, zeros
    from fastgrad.nn import rnn as nn_rnn
    c = node.ctx
    mode = {v: n for n, v in RNN_MODES.items()}[c.mode]
    ins = c.inputs
    get = lambda n: ins[c.index[n]] if n in c.index else None  # noqa: E731
    x = get("x")
    h0, c0 = get("h0"), get("c0")
    B, H = x.shape[1], get("w_hh").shape[1]
    if h0 is None:
        h0 = zeros((B, H), dtype=x.dtype)
    if c0 is None and mode == "LSTM":
        c0 = zeros((B, H), dtype=x.dtype)
    y, cn = nn_rnn._composed_sequence(mode, x, h0, c0, get("w_ih"), get("w_hh"), get("b_ih"),
                                      get("b_hh"), c.reverse, c.batch_sizes)
    out = cn if of_c else y
    pos = [i for i, ed in enumerate(node.edges) if ed is not None and ins[i].requires_grad]
    grads = autograd.grad([out], [ins[i] for i in pos], [g], create_graph=True,
                          allow_unused=True)
    res = [None] * len(node.edges)
    for i, gr in zip(pos, grads):
        res[i] = gr
    return tuple(res)
