"""Recurrent layers with torch.nn's names, arguments, parameter names and initialisation:
RNNCell, LSTMCell, GRUCell and the sequence layers RNN, LSTM, GRU.

The sequence layers run each layer and direction as one graph node
(``fastgrad.ops.rnn.rnn_sequence``: the input projection of all time steps as one GEMM,
the recurrence and its backward through time in C, csrc/rnn.c) for float32 and float64
inputs.  They fall back to the composed path -- each step built from fastgrad's ops
(linear, sigmoid, tanh, relu, mul, add, chunk, stack), which autograd differentiates like
any other program -- for other dtypes, an LSTM with proj_size > 0, an empty sequence and
while forward-mode AD is active.  Higher derivatives (create_graph=True) through the fused
node recompute the layer on the composed path.  The cells always use the composed path.

Gate layouts are PyTorch's: LSTM (i, f, g, o), GRU (r, z, n), with GRU's candidate
n = tanh(W_in x + b_in + r * (W_hn h + b_hn)).  Every parameter starts from
U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)) drawn from fastgrad's generator.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

import fastgrad as fg
from fastgrad.errors import ArgumentError, DtypeError, ShapeError
from fastgrad.nn import functional as F
from fastgrad.nn import init
from fastgrad.nn.layers import _dtype
from fastgrad.nn.module import Module
from fastgrad.nn.parameter import Parameter
from fastgrad.autograd import engine as _engine
from fastgrad.ops import linalg as _la
from fastgrad.ops import rnn as _rnn_ops
from fastgrad.nn.utils import rnn as _rnn_utils
from fastgrad.nn.utils.rnn import PackedSequence

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Optional
    from fastgrad._tensor import Tensor
    from fastgrad._typing import DType
if TYPE_CHECKING:
    from fastgrad._tensor import Tensor

__all__ = ["RNNCellBase", "RNNCell", "LSTMCell", "GRUCell", "RNNBase", "RNN", "LSTM", "GRU"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class RNNInputDtypeError(DtypeError, ValueError):
    """A sequence layer's input dtype differs from its weights' (torch raises ValueError)."""


_FUSED = [True]     # False: the sequence layers always take the composed path (tests)


def _size(v, name, who, minimum=1):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{who}: {name} should be of type int, got: {type(v).__name__}")
    if v < minimum:
        word = "greater than zero" if minimum == 1 else "non-negative"
        raise ValueError(f"{who}: {name} must be {word}, got {v}")
    return int(v)


def _new_param(shape, dtype):
    return Parameter(np.empty(shape, dtype=_dtype(dtype)))


def _shape(t):
    return tuple(t.shape)


# --- one time step, composed from registered ops -------------------------------------------

def _rnn_step(gi, h, w_hh, b_hh, nonlinearity):
    pre = gi + _la.linear(h, w_hh, b_hh)
    return fg.tanh(pre) if nonlinearity == "tanh" else fg.relu(pre)


def _lstm_step(gi, h, c, w_hh, b_hh, w_hr):
    gates = gi + _la.linear(h, w_hh, b_hh)
    i, f, g, o = fg.chunk(gates, 4, -1)
    c = fg.sigmoid(f) * c + fg.sigmoid(i) * fg.tanh(g)
    h = fg.sigmoid(o) * fg.tanh(c)
    if w_hr is not None:
        h = _la.linear(h, w_hr)
    return h, c


def _gru_step(gi, h, w_hh, b_hh):
    gh = _la.linear(h, w_hh, b_hh)
    i_r, i_z, i_n = fg.chunk(gi, 3, -1)
    h_r, h_z, h_n = fg.chunk(gh, 3, -1)
    r = fg.sigmoid(i_r + h_r)
    z = fg.sigmoid(i_z + h_z)
    n = fg.tanh(i_n + r * h_n)
    return n + z * (h - n)


def _composed_layer(mode, proj, h, c, w_hh, b_hh, w_hr, reverse, batch_sizes=None):
    """One layer and direction from the step functions, given the input projection proj
    (T, B, G) = linear(x, w_ih, b_ih): (y (T, B, H'), h_n, c_n or None).  batch_sizes: as
    for ``fastgrad.ops.rnn.rnn_sequence`` (rows past batch_sizes[t] keep their state
    through step t and output 0)."""
    steps, batch = proj.shape[0], proj.shape[1]
    gi = fg.unbind(proj, 0)
    seq = [None] * steps
    for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
        h_old, c_old = h, c
        if mode == "LSTM":
            h, c = _lstm_step(gi[t], h, c, w_hh, b_hh, w_hr)
        elif mode == "GRU":
            h = _gru_step(gi[t], h, w_hh, b_hh)
        else:
            h = _rnn_step(gi[t], h, w_hh, b_hh, "tanh" if mode == "RNN_TANH" else "relu")
        nb = batch if batch_sizes is None else int(batch_sizes[t])
        if nb < batch:
            keep = fg.tensor((np.arange(batch) < nb)[:, None])
            seq[t] = fg.where(keep, h, fg.zeros((), dtype=h.dtype))
            h = fg.where(keep, h, h_old)
            if c is not None:
                c = fg.where(keep, c, c_old)
        else:
            seq[t] = h
    y = fg.stack(seq, 0) if steps else fg.zeros((0, batch, h.shape[-1]), dtype=proj.dtype)
    return y, h, c


def _composed_sequence(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse, batch_sizes=None):
    """The result of ``fastgrad.ops.rnn.rnn_sequence`` ((y, c_n), c_n None unless an
    LSTM) computed with the step functions."""
    y, _, c = _composed_layer(mode, _la.linear(x, w_ih, b_ih), h0, c0, w_hh, b_hh, None,
                              reverse, batch_sizes)
    return y, c


# --- cells -----------------------------------------------------------------------------------

class RNNCellBase(Module):
    """Parameters weight_ih (G*hidden, input), weight_hh (G*hidden, hidden), bias_ih and
    bias_hh (G*hidden,), G the number of gates; all ~ U(-1/sqrt(hidden), 1/sqrt(hidden))."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype: Optional[DType] = None) -> None:
        super().__init__()
        who = type(self).__name__
        self.input_size = _size(input_size, "input_size", who, 0)
        self.hidden_size = _size(hidden_size, "hidden_size", who)
        self.bias = bool(bias)
        g = num_chunks * self.hidden_size
        self.weight_ih = _new_param((g, self.input_size), dtype)
        self.weight_hh = _new_param((g, self.hidden_size), dtype)
        if self.bias:
            self.bias_ih = _new_param((g,), dtype)
            self.bias_hh = _new_param((g,), dtype)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        """Re-initialise every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as
        PyTorch does."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        nl = getattr(self, "nonlinearity", "tanh")
        if nl != "tanh":
            s += f", nonlinearity={nl}"
        return s

    def _input(self, x):
        """(x as (N, input), batched flag); checks the input's rank and feature size."""
        who = type(self).__name__
        if not isinstance(x, fg.Tensor):
            x = fg.tensor(x)
        if x.dim() not in (1, 2):
            raise ShapeError(f"{who}: Expected input to be 1D or 2D, got {x.dim()}D instead "
                             f"(input shape {_shape(x)})")
        if x.shape[-1] != self.input_size:
            raise ShapeError(f"{who}: input has inconsistent input_size: got {x.shape[-1]} "
                             f"(input shape {_shape(x)}), expected {self.input_size}")
        if x._data.dtype != self.weight_ih._data.dtype:
            raise DtypeError(f"{who}: input dtype ({x.dtype}) does not match weight dtype "
                             f"({self.weight_ih.dtype}) (input shape {_shape(x)})")
        batched = x.dim() == 2
        return (x if batched else x.unsqueeze(0)), batched

    def _state(self, hx, x, batched, name="hx"):
        who = type(self).__name__
        if hx is None:
            return fg.zeros((x.shape[0], self.hidden_size), dtype=x.dtype)
        want = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        if _shape(hx) != want:
            raise ShapeError(f"{who}: {name} has shape {_shape(hx)}, expected {want} "
                             f"for input of shape {_shape(x) if batched else (x.shape[1],)}")
        if hx._data.dtype != self.weight_hh._data.dtype:
            raise DtypeError(f"{who}: {name} dtype ({hx.dtype}) does not match weight dtype "
                             f"({self.weight_hh.dtype}) ({name} shape {_shape(hx)})")
        return hx if batched else hx.unsqueeze(0)


class RNNCell(RNNCellBase):
    """h' = nonlinearity(W_ih x + b_ih + W_hh h + b_hh), nonlinearity 'tanh' or 'relu'."""

    def __init__(self, input_size, hidden_size, bias: bool = True, nonlinearity: str = "tanh", device=None,
                 dtype: Optional[DType] = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: Unknown nonlinearity: {nonlinearity!r} (expected 'tanh' or 'relu')")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)

    def forward(self, input: Tensor, hx=None):
        x, batched = self._input(input)
        h = self._state(hx, x, batched)
        h = _rnn_step(_la.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh,
                      self.nonlinearity)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """Gates (i, f, g, o) = W_ih x + b_ih + W_hh h + b_hh; c' = sigmoid(f) c +
    sigmoid(i) tanh(g); h' = sigmoid(o) tanh(c').  Returns (h', c')."""

    def __init__(self, input_size, hidden_size, bias: bool = True, device=None, dtype: Optional[DType] = None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        x, batched = self._input(input)
        if hx is None:
            h = c = self._state(None, x, batched)
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ArgumentError("LSTMCell: hx must be a tuple (h_0, c_0)")
            h = self._state(hx[0], x, batched, "h_0")
            c = self._state(hx[1], x, batched, "c_0")
        h, c = _lstm_step(_la.linear(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh,
                          self.bias_hh, None)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """r = sigmoid(W_ir x + b_ir + W_hr h + b_hr), z likewise, n = tanh(W_in x + b_in +
    r (W_hn h + b_hn)), h' = (1 - z) n + z h."""

    def __init__(self, input_size, hidden_size, bias: bool = True, device=None, dtype: Optional[DType] = None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx=None):
        x, batched = self._input(input)
        h = self._state(hx, x, batched)
        h = _gru_step(_la.linear(x, self.weight_ih, self.bias_ih), h, self.weight_hh, self.bias_hh)
        return h if batched else h.squeeze(0)


# --- sequence layers -------------------------------------------------------------------------

class RNNBase(Module):
    """Stacked, optionally bidirectional recurrent layers.  Parameters per layer k and
    direction: weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} (and weight_hr_l{k}
    for an LSTM with proj_size > 0), with the suffix _reverse for the backward direction."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, proj_size=0, device=None,
                 dtype: Optional[DType] = None) -> None:
        super().__init__()
        who = self._name()
        self.mode = mode
        self.input_size = _size(input_size, "input_size", who, 0)
        self.hidden_size = _size(hidden_size, "hidden_size", who)
        self.num_layers = _size(num_layers, "num_layers", who)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        if (not isinstance(dropout, numbers.Number) or isinstance(dropout, bool)
                or not 0 <= dropout <= 1):
            raise ValueError(f"{who}: dropout should be a number in range [0, 1] representing the "
                             f"probability of an element being zeroed, got {dropout!r}")
        self.dropout = float(dropout)
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(f"{who}: dropout option adds dropout after all but last recurrent layer, "
                          f"so non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=2)
        self.bidirectional = bool(bidirectional)
        self.proj_size = _size(proj_size, "proj_size", who, 0)
        if self.proj_size > 0 and mode != "LSTM":
            raise ValueError(f"{who}: proj_size argument is only supported for LSTM, not RNN or GRU")
        if self.proj_size >= self.hidden_size:
            raise ValueError(f"{who}: proj_size has to be smaller than hidden_size, got "
                             f"proj_size={self.proj_size}, hidden_size={self.hidden_size}")
        g = _GATES[mode] * self.hidden_size
        real_hidden = self.proj_size or self.hidden_size
        dirs = 2 if self.bidirectional else 1
        self._flat_weights_names = []
        for layer in range(self.num_layers):
            layer_in = self.input_size if layer == 0 else real_hidden * dirs
            for d in range(dirs):
                sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
                shapes = [("weight_ih", (g, layer_in)), ("weight_hh", (g, real_hidden))]
                if self.bias:
                    shapes += [("bias_ih", (g,)), ("bias_hh", (g,))]
                if self.proj_size > 0:
                    shapes.append(("weight_hr", (self.proj_size, self.hidden_size)))
                for name, shape in shapes:
                    setattr(self, name + sfx, _new_param(shape, dtype))
                    self._flat_weights_names.append(name + sfx)
        self.reset_parameters()

    def _name(self):
        return type(self).__name__

    def reset_parameters(self):
        """Re-initialise every parameter ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as
        PyTorch does."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def flatten_parameters(self):
        """PyTorch compacts cuDNN weights here; fastgrad's parameters are already separate
        arrays, so this does nothing."""

    @property
    def all_weights(self):
        """The parameters per layer and direction: a list of [w_ih, w_hh, b_ih, b_hh] lists
        (without the biases when ``bias=False``)."""
        per = len(self._flat_weights_names) // (self.num_layers * (2 if self.bidirectional else 1))
        names = self._flat_weights_names
        return [[getattr(self, n) for n in names[i:i + per]] for i in range(0, len(names), per)]

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    def _weights(self, layer, d):
        sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
        get = lambda n: getattr(self, n + sfx, None)  # noqa: E731
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"), get("weight_hr")

    def _fused(self, x):
        """Whether this call runs on the fused kernels (see the module docstring)."""
        return (_FUSED[0] and self.proj_size == 0 and x.shape[0] > 0 and not _engine.fw.level
                and x._data.dtype in (np.float32, np.float64))

    def _check_input(self, x):
        who = self._name()
        if not isinstance(x, fg.Tensor):
            x = fg.tensor(x)
        if x.dim() not in (2, 3):
            raise ShapeError(f"{who}: Expected input to be 2D or 3D, got {x.dim()}D instead "
                             f"(input shape {_shape(x)})")
        if x.shape[-1] != self.input_size:
            raise ShapeError(f"{who}: input.size(-1) must be equal to input_size. Expected "
                             f"{self.input_size}, got {x.shape[-1]} (input shape {_shape(x)})")
        w = self.weight_ih_l0
        if x._data.dtype != w._data.dtype:
            raise RNNInputDtypeError(f"{who}: input dtype ({x.dtype}) does not match weight dtype "
                                     f"({w.dtype}) (input shape {_shape(x)}); convert the input "
                                     f"or the module")
        return x

    def _check_state(self, hx, batch, batched, size, name):
        who = self._name()
        dirs = 2 if self.bidirectional else 1
        want = (self.num_layers * dirs, batch, size) if batched else (self.num_layers * dirs, size)
        if not isinstance(hx, fg.Tensor):
            raise ArgumentError(f"{who}: {name} must be a Tensor, got {type(hx).__name__}")
        if batched and hx.dim() != 3:
            raise ShapeError(f"{who}: For batched 3-D input, {name} should also be 3-D but got "
                             f"{hx.dim()}-D tensor (shape {_shape(hx)})")
        if not batched and hx.dim() != 2:
            raise ShapeError(f"{who}: For unbatched 2-D input, {name} should also be 2-D but got "
                             f"{hx.dim()}-D tensor (shape {_shape(hx)})")
        if _shape(hx) != want:
            raise ShapeError(f"{who}: Expected hidden size {want}, got {_shape(hx)} for {name}")
        if hx._data.dtype != self.weight_hh_l0._data.dtype:
            raise DtypeError(f"{who}: {name} dtype ({hx.dtype}) does not match weight dtype "
                             f"({self.weight_hh_l0.dtype}) ({name} shape {_shape(hx)})")
        return hx if batched else hx.unsqueeze(1)

    def _run(self, input, hx):
        """Shared driver: returns (output, [final states per (layer, direction)], batched)
        where each final state is h or (h, c); for a PackedSequence input the output is a
        PackedSequence and the states are in its sorted batch order."""
        packed = isinstance(input, PackedSequence)
        bsizes = None
        if packed:
            bsizes = np.asarray(input.batch_sizes.numpy(), dtype=np.int64)
            x = self._check_input(_rnn_utils._padded_sorted(input))
            batched = True
            if hx is not None and input.sorted_indices is not None:
                si = input.sorted_indices
                hx = (tuple(fg.index_select(h, 1, si) if isinstance(h, fg.Tensor) else h
                            for h in hx) if isinstance(hx, (tuple, list))
                      else fg.index_select(hx, 1, si) if isinstance(hx, fg.Tensor) else hx)
        else:
            x = self._check_input(input)
            batched = x.dim() == 3
        if not batched:
            x = x.unsqueeze(1)
        elif self.batch_first and not packed:
            x = x.transpose(0, 1)
        batch = x.shape[1]
        steps = x.shape[0]
        fused = self._fused(x)
        dirs = 2 if self.bidirectional else 1
        lstm = self.mode == "LSTM"
        real_hidden = self.proj_size or self.hidden_size
        if hx is None and fused:
            h0 = c0 = None      # the fused kernel starts from zeros itself
        elif hx is None:
            zeros = fg.zeros((self.num_layers * dirs, batch, real_hidden), dtype=x.dtype)
            h0 = zeros
            c0 = fg.zeros((self.num_layers * dirs, batch, self.hidden_size), dtype=x.dtype) if lstm else None
        elif lstm:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ArgumentError(f"{self._name()}: hx must be a tuple (h_0, c_0)")
            h0 = self._check_state(hx[0], batch, batched, real_hidden, "h_0")
            c0 = self._check_state(hx[1], batch, batched, self.hidden_size, "c_0")
        else:
            h0 = self._check_state(hx, batch, batched, self.hidden_size, "hx")
            c0 = None
        h0s = fg.unbind(h0, 0) if h0 is not None else [None] * (self.num_layers * dirs)
        c0s = fg.unbind(c0, 0) if c0 is not None else [None] * (self.num_layers * dirs)
        finals = []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(dirs):
                k = layer * dirs + d
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, d)
                h = h0s[k]
                c = c0s[k] if lstm else None
                if fused:
                    y, c = _rnn_ops.rnn_sequence(self.mode, layer_in, h, c, w_ih, w_hh, b_ih,
                                                 b_hh, d == 1, bsizes)
                    if d == 1:
                        h = y[0]
                    elif packed:       # each sequence's output at its last step
                        h = _rnn_utils._last_steps(y, bsizes)
                    else:
                        h = y[steps - 1]
                else:
                    y, h, c = _composed_layer(self.mode, _la.linear(layer_in, w_ih, b_ih), h, c,
                                              w_hh, b_hh, w_hr, d == 1, bsizes)
                finals.append((h, c) if lstm else h)
                outs.append(y)
            layer_in = outs[0] if dirs == 1 else fg.cat(outs, 2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, True)
        out = layer_in
        if packed:
            out = input._with(_rnn_utils._pack_time_major(out, bsizes))
            if input.unsorted_indices is not None:
                ui = input.unsorted_indices
                finals = [tuple(fg.index_select(s, 0, ui) for s in f) if lstm
                          else fg.index_select(f, 0, ui) for f in finals]
            return out, finals, batched
        if not batched:
            out = out.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1).contiguous()
        return out, finals, batched


def _stack_states(states, batched):
    s = fg.stack(states, 0)
    return s if batched else s.squeeze(1)


class RNN(RNNBase):
    """Elman RNN: h_t = nonlinearity(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh).  forward(input,
    hx=None) -> (output, h_n) with PyTorch's shapes."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity: str = "tanh", bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, device=None,
                 dtype: Optional[DType] = None) -> None:
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(f"RNN: Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 0, device, dtype)

    def forward(self, input, hx=None):
        out, finals, batched = self._run(input, hx)
        return out, _stack_states(finals, batched)


class LSTM(RNNBase):
    """Long short-term memory, gates (i, f, g, o).  forward(input, hx=None) with hx =
    (h_0, c_0) -> (output, (h_n, c_n)).  proj_size > 0 projects each h_t with weight_hr."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, proj_size=0, device=None,
                 dtype: Optional[DType] = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, device, dtype)

    def forward(self, input, hx=None):
        out, finals, batched = self._run(input, hx)
        return out, (_stack_states([f[0] for f in finals], batched),
                     _stack_states([f[1] for f in finals], batched))


class GRU(RNNBase):
    """Gated recurrent unit, gates (r, z, n) as GRUCell.  forward(input, hx=None) ->
    (output, h_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None, dtype: Optional[DType] = None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 0, device, dtype)

    def forward(self, input, hx=None):
        out, finals, batched = self._run(input, hx)
        return out, _stack_states(finals, batched)
