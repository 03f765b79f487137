"""Attention and Transformer layers with torch.nn's names, arguments, parameter names and
initialisation: MultiheadAttention, TransformerEncoderLayer, TransformerDecoderLayer,
TransformerEncoder, TransformerDecoder and Transformer.  A PyTorch state_dict of any of
them loads unchanged with load_state_dict.

Everything is composed from fastgrad's ops (linear, matmul, softmax, layer_norm, dropout
and F.scaled_dot_product_attention), so autograd differentiates it like any other program.
Internally the attention runs batch-major: (N, L, E) projections split into heads as
(N, H, L, D) without copies.

Masks follow PyTorch: in MultiheadAttention and the Transformer layers a bool mask is True
where attention is *not* allowed; bool masks become additive float masks (-inf where True)
and key_padding_mask is added to attn_mask.
"""
import copy
import math
import numbers
import warnings

import numpy as np

import fastgrad as fg
from fastgrad._tensor import Tensor
from fastgrad.errors import ArgumentError, DtypeError, ShapeError
from fastgrad.nn import functional as F
from fastgrad.nn import init
from fastgrad.nn.container import ModuleList
from fastgrad.nn.layers import Dropout, LayerNorm, Linear, _dtype
from fastgrad.nn.module import Module
from fastgrad.nn.parameter import Parameter

__all__ = ["MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer",
           "TransformerEncoder", "TransformerDecoder", "Transformer", "multi_head_attention_forward"]


class AttentionShapeError(ShapeError, AssertionError):
    """Operand shapes multi-head attention cannot use; an AssertionError as in PyTorch,
    and a fastgrad ShapeError (ValueError, RuntimeError)."""


class AttentionDtypeError(DtypeError, AssertionError):
    """A mask dtype other than bool or floating; an AssertionError as in PyTorch."""


class AttentionArgumentError(ArgumentError, AssertionError):
    """Arguments that do not fit together (embed_dim and num_heads, missing projection
    weights); an AssertionError as in PyTorch."""


def _shape(t):
    return tuple(t.shape)


def _param(shape, dtype):
    return Parameter(np.empty(shape, dtype=_dtype(dtype)))


def _canonical_mask(mask, mask_name, other_type, other_name, target_type, check_other=True,
                    who="multi_head_attention_forward"):
    """A bool mask as an additive float mask of target_type's dtype (target_type: the
    Tensor whose dtype it takes), -inf where True; a float mask unchanged.  Other dtypes
    raise AttentionDtypeError (an AssertionError, as in PyTorch)."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        mask = fg.tensor(np.asarray(mask))
    mdt = mask._data.dtype
    if mdt != np.bool_ and mdt.kind != "f":
        raise AttentionDtypeError(f"{who}: only bool and floating types of {mask_name} are supported, "
                                  f"got {mask.dtype}")
    if check_other and other_type is not None and mask.dtype != other_type:
        warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. "
                      "Use same type for both instead.", stacklevel=3)
    if mdt == np.bool_:
        if target_type._data.dtype.kind != "f":
            raise DtypeError(f"{who}: a bool {mask_name} needs a floating-point input to become an "
                             f"additive mask, got input dtype {target_type.dtype}")
        out = np.zeros(mask._data.shape, dtype=target_type._data.dtype)
        out[mask._data] = -np.inf
        return fg.tensor(out)
    return mask


def _none_or_dtype(t):
    return None if t is None else t.dtype


def _get_seq_len(src, batch_first):
    if src.dim() == 2:          # unbatched (S, E)
        return src.shape[0]
    return src.shape[1 if batch_first else 0]


def _detect_is_causal_mask(mask, is_causal=None, size=None):
    """is_causal when given; else whether mask equals the float causal mask of its size."""
    make_causal = is_causal is True
    if is_causal is None and mask is not None:
        sz = size if size is not None else mask.shape[-2]
        if _shape(mask) == (sz, sz):
            want = np.triu(np.full((sz, sz), -np.inf), 1)
            make_causal = bool(np.array_equal(mask.detach().numpy(), want))
    return make_causal


def _check_size(v, name, who):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{who}: {name} should be of type int, got: {type(v).__name__}")
    return int(v)


# ---- the functional form -------------------------------------------------------------------

def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads, who):
    """Whether the call is batched (3-D query), checking ranks as PyTorch does."""
    if query.dim() == 3:
        if key.dim() != 3 or value.dim() != 3:
            raise AttentionShapeError(f"{who}: For batched (3-D) `query`, expected `key` and `value` to be "
                                      f"3-D but found {key.dim()}-D and {value.dim()}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 2:
            raise AttentionShapeError(f"{who}: For batched (3-D) `query`, expected `key_padding_mask` to be "
                                      f"`None` or 2-D but found {key_padding_mask.dim()}-D tensor instead")
        if attn_mask is not None and attn_mask.dim() not in (2, 3):
            raise AttentionShapeError(f"{who}: For batched (3-D) `query`, expected `attn_mask` to be `None`, "
                                      f"2-D or 3-D but found {attn_mask.dim()}-D tensor instead")
        return True
    if query.dim() == 2:
        if key.dim() != 2 or value.dim() != 2:
            raise AttentionShapeError(f"{who}: For unbatched (2-D) `query`, expected `key` and `value` to be "
                                      f"2-D but found {key.dim()}-D and {value.dim()}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 1:
            raise AttentionShapeError(f"{who}: For unbatched (2-D) `query`, expected `key_padding_mask` to be "
                                      f"`None` or 1-D but found {key_padding_mask.dim()}-D tensor instead")
        if attn_mask is not None:
            if attn_mask.dim() not in (2, 3):
                raise AttentionShapeError(f"{who}: For unbatched (2-D) `query`, expected `attn_mask` to be "
                                          f"`None`, 2-D or 3-D but found {attn_mask.dim()}-D tensor instead")
            if attn_mask.dim() == 3:
                want = (num_heads, query.shape[0], key.shape[0])
                if _shape(attn_mask) != want:
                    raise AttentionShapeError(f"{who}: Expected `attn_mask` shape to be {want} but got "
                                              f"{_shape(attn_mask)}")
        return False
    raise AttentionShapeError(f"{who}: query should be unbatched 2D or batched 3D tensor but received "
                              f"{query.dim()}-D query tensor")


def _as_tensor(x, name, who):
    if x is None or isinstance(x, Tensor):
        return x
    raise TypeError(f"{who}: {name} must be a Tensor, got {type(x).__name__}")


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight,
                                 in_proj_bias, bias_k, bias_v, add_zero_attn, dropout_p,
                                 out_proj_weight, out_proj_bias, training=True, key_padding_mask=None,
                                 need_weights=True, attn_mask=None, use_separate_proj_weight=False,
                                 q_proj_weight=None, k_proj_weight=None, v_proj_weight=None,
                                 static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """Multi-head attention on sequence-major inputs, PyTorch's functional form.

    query (L, N, E), key (S, N, kdim), value (S, N, vdim), or unbatched (L, E), (S, kdim),
    (S, vdim).  Projections: in_proj_weight (3E, E) packed, or q/k/v_proj_weight with
    use_separate_proj_weight; in_proj_bias (3E,).  bias_k, bias_v (1, 1, E) append one
    key/value position; add_zero_attn appends a zero one.  key_padding_mask (N, S) and
    attn_mask (L, S) or (N * num_heads, L, S): bool (True = masked out) or additive float.
    static_k / static_v (N * num_heads, S, E / num_heads) replace the projected key/value.
    Returns (output (L, N, E), weights) with weights (N, L, S) averaged over heads,
    (N, num_heads, L, S) per head, or None when need_weights is False (then the attention
    runs through F.scaled_dot_product_attention)."""
    who = "multi_head_attention_forward"
    for name, t in (("query", query), ("key", key), ("value", value),
                    ("key_padding_mask", key_padding_mask), ("attn_mask", attn_mask)):
        _as_tensor(t, name, who)
    if isinstance(num_heads, bool) or not isinstance(num_heads, numbers.Integral) or num_heads <= 0:
        raise AttentionArgumentError(f"{who}: num_heads must be a positive int, got {num_heads!r}")
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads, who)
    if not is_batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = _shape(query)
    src_len = key.shape[0]
    if key.shape[1] != bsz or value.shape[1] != bsz:
        raise AttentionShapeError(f"{who}: query, key and value must have the same batch size, got "
                                  f"shapes {_shape(query)}, {_shape(key)}, {_shape(value)}")
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", _none_or_dtype(attn_mask),
                                       "attn_mask", query)
    if is_causal and attn_mask is None:
        raise RuntimeError(f"{who}: Need attn_mask if specifying the is_causal hint. You may use the "
                           "Transformer module method `generate_square_subsequent_mask` to create "
                           "this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None        # the causal mask comes from is_causal alone
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query, check_other=False)
        if key_padding_mask is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise AttentionShapeError(f"{who}: was expecting embedding dimension of {embed_dim_to_check}, but got "
                                  f"{embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AttentionArgumentError(f"{who}: embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if _shape(key)[:2] != _shape(value)[:2]:
            raise AttentionShapeError(f"{who}: key's sequence and batch dims {_shape(key)[:2]} do not match "
                                      f"value's {_shape(value)[:2]}")
    elif _shape(key) != _shape(value):
        raise AttentionShapeError(f"{who}: key shape {_shape(key)} does not match value shape {_shape(value)}")

    # in-projection, batch-major: (N, L, E).  Three products with row blocks of the packed
    # weight (rather than one product split afterwards): each result is contiguous, and
    # backward splits the small weight gradient instead of the activations'.
    qb, kb, vb = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
    b_q, b_k, b_v = (None,) * 3 if in_proj_bias is None else in_proj_bias.chunk(3)
    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise AttentionArgumentError(f"{who}: use_separate_proj_weight is False but in_proj_weight is None")
        w_q, w_k, w_v = in_proj_weight.chunk(3)
    else:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise AttentionArgumentError(f"{who}: use_separate_proj_weight is True but q_proj_weight, "
                                         "k_proj_weight or v_proj_weight is None")
        w_q, w_k, w_v = q_proj_weight, k_proj_weight, v_proj_weight
        for name, w, t in (("query", w_q, query), ("key", w_k, key), ("value", w_v, value)):
            want = (embed_dim, t.shape[-1])
            if _shape(w) != want:
                raise AttentionShapeError(f"{who}: expecting {name} weights shape of {want}, but got "
                                          f"{_shape(w)} ({name} shape {_shape(t)})")
    q, k, v = F.linear(qb, w_q, b_q), F.linear(kb, w_k, b_k), F.linear(vb, w_v, b_v)

    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if _shape(attn_mask) != (tgt_len, src_len):
                raise ShapeError(f"{who}: The shape of the 2D attn_mask is {_shape(attn_mask)}, but "
                                 f"should be {(tgt_len, src_len)}.")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.dim() == 3:
            if _shape(attn_mask) != (bsz * num_heads, tgt_len, src_len):
                raise ShapeError(f"{who}: The shape of the 3D attn_mask is {_shape(attn_mask)}, but "
                                 f"should be {(bsz * num_heads, tgt_len, src_len)}.")
        else:
            raise ShapeError(f"{who}: attn_mask's dimension {attn_mask.dim()} is not supported")

    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise AttentionArgumentError(f"{who}: bias cannot be added to static key and value")
        k = fg.cat([k, bias_k.reshape(1, 1, embed_dim).expand(bsz, 1, embed_dim)], 1)
        v = fg.cat([v, bias_v.reshape(1, 1, embed_dim).expand(bsz, 1, embed_dim)], 1)
        if attn_mask is not None:
            attn_mask = F.pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = F.pad(key_padding_mask, (0, 1))
    elif bias_k is not None or bias_v is not None:
        raise AttentionArgumentError(f"{who}: bias_k and bias_v must both be given or both be None")

    # heads: (N, H, L, D)
    q = q.reshape(bsz, tgt_len, num_heads, head_dim).permute(0, 2, 1, 3)
    k = _heads(k, static_k, bsz, num_heads, head_dim, "static_k", who)
    v = _heads(v, static_v, bsz, num_heads, head_dim, "static_v", who)
    if add_zero_attn:
        z = fg.zeros((bsz, num_heads, 1, head_dim), dtype=q.dtype)
        k = fg.cat([k, z], 2)
        v = fg.cat([v, z], 2)
        if attn_mask is not None:
            attn_mask = F.pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = F.pad(key_padding_mask, (0, 1))
    src_len = k.shape[2]

    # attn_mask as (1 or N, 1 or H, L, S); key_padding_mask added as (N, 1, 1, S)
    if attn_mask is not None:
        attn_mask = (attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1
                     else attn_mask.reshape(bsz, num_heads, tgt_len, src_len))
    if key_padding_mask is not None:
        if _shape(key_padding_mask) != (bsz, src_len):
            raise AttentionShapeError(f"{who}: expected key_padding_mask of shape {(bsz, src_len)}, but got "
                                      f"{_shape(key_padding_mask)}")
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0

    if need_weights:
        scores = fg.matmul(q * math.sqrt(1.0 / float(head_dim)), k.transpose(-2, -1))
        if attn_mask is not None:
            scores = attn_mask + scores
        weights = F.softmax(scores, -1)
        if dropout_p > 0.0:
            weights = F.dropout(weights, p=dropout_p)
        out = fg.matmul(weights, v)
    else:
        weights = None
        out = F.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = out.permute(0, 2, 1, 3).reshape(bsz, tgt_len, embed_dim)
    out = F.linear(out, out_proj_weight, out_proj_bias).transpose(0, 1)    # (L, N, E)
    if weights is not None and average_attn_weights:
        weights = weights.mean(1)
    if not is_batched:
        out = out.squeeze(1)
        if weights is not None:
            weights = weights.squeeze(0)
    return out, weights


def _heads(t, static, bsz, num_heads, head_dim, name, who):
    """(N, S, E) -> (N, H, S, D), or static (N * H, S, D) -> (N, H, S, D)."""
    if static is None:
        return t.reshape(bsz, t.shape[1], num_heads, head_dim).permute(0, 2, 1, 3)
    if static.dim() != 3 or static.shape[0] != bsz * num_heads or static.shape[2] != head_dim:
        raise AttentionShapeError(f"{who}: expected {name} of shape ({bsz * num_heads}, S, {head_dim}), "
                                  f"but got {_shape(static)}")
    return static.reshape(bsz, num_heads, static.shape[1], head_dim)


# ---- modules -------------------------------------------------------------------------------

class NonDynamicallyQuantizableLinear(Linear):
    """The Linear MultiheadAttention names out_proj (PyTorch's class of the same name)."""


class MultiheadAttention(Module):
    """Multi-head attention: softmax(Q K^T / sqrt(D) + mask) V per head, heads concatenated
    and projected by out_proj.

    Parameters as PyTorch's: in_proj_weight (3E, E) when kdim == vdim == embed_dim, else
    q_proj_weight (E, E), k_proj_weight (E, kdim), v_proj_weight (E, vdim); in_proj_bias
    (3E,); out_proj (Linear E -> E); bias_k, bias_v (1, 1, E) with add_bias_kv.  Projection
    weights are xavier-uniform, biases zero, bias_k/bias_v xavier-normal.

    forward(query, key, value) takes (L, N, E) / (S, N, kdim) / (S, N, vdim), or (N, L, E)
    ... with batch_first, or unbatched (L, E); returns (output, weights): weights (N, L, S)
    averaged over heads, (N, H, L, S) with average_attn_weights=False, None with
    need_weights=False (then F.scaled_dot_product_attention computes the attention).
    A bool mask is True where attention is not allowed."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        who = "MultiheadAttention"
        embed_dim = _check_size(embed_dim, "embed_dim", who)
        num_heads = _check_size(num_heads, "num_heads", who)
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} "
                             f"and num_heads={num_heads} instead")
        self.embed_dim = embed_dim
        self.kdim = _check_size(kdim, "kdim", who) if kdim is not None else embed_dim
        self.vdim = _check_size(vdim, "vdim", who) if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = float(dropout)
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AttentionArgumentError(f"{who}: embed_dim must be divisible by num_heads (got embed_dim="
                                         f"{embed_dim}, num_heads={num_heads})")
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = _param((embed_dim, embed_dim), dtype)
            self.k_proj_weight = _param((embed_dim, self.kdim), dtype)
            self.v_proj_weight = _param((embed_dim, self.vdim), dtype)
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = _param((3 * embed_dim, embed_dim), dtype)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = _param((3 * embed_dim,), dtype)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, dtype=dtype)
        if add_bias_kv:
            self.bias_k = _param((1, 1, embed_dim), dtype)
            self.bias_v = _param((1, 1, embed_dim), dtype)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        is_batched = isinstance(query, Tensor) and query.dim() == 3
        if self.batch_first and is_batched:
            # transpose once per distinct tensor, so that "query is key" survives
            if key is value:
                if query is key:
                    query = key = value = query.transpose(1, 0)
                else:
                    query, key = (x.transpose(1, 0) for x in (query, key))
                    value = key
            else:
                query, key, value = (x.transpose(1, 0) for x in (query, key, value))
        out, weights = multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight, self.in_proj_bias,
            self.bias_k, self.bias_v, self.add_zero_attn, self.dropout, self.out_proj.weight,
            self.out_proj.bias, training=self.training, key_padding_mask=key_padding_mask,
            need_weights=need_weights, attn_mask=attn_mask,
            use_separate_proj_weight=not self._qkv_same_embed_dim, q_proj_weight=self.q_proj_weight,
            k_proj_weight=self.k_proj_weight, v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights, is_causal=is_causal)
        if self.batch_first and is_batched:
            return out.transpose(1, 0), weights
        return out, weights


def _get_activation_fn(activation):
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise RuntimeError(f"activation should be relu/gelu, not {activation}")


def _get_clones(module, n):
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with a residual connection and a
    LayerNorm: x = norm1(x + sa(x)); x = norm2(x + ff(x)), or with norm_first
    x = x + sa(norm1(x)); x = x + ff(norm2(x)).  sa is self_attn (need_weights=False, so
    F.scaled_dot_product_attention) followed by dropout1; ff is
    dropout2(linear2(dropout(activation(linear1(x))))).  activation: "relu", "gelu" or a
    callable."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu,
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, device=None,
                 dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        if isinstance(activation, str):
            activation = _get_activation_fn(activation)
        self.activation_relu_or_gelu = 1 if activation is F.relu else 2 if activation is F.gelu else 0
        self.activation = activation

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        """src (S, N, E), (N, S, E) with batch_first, or unbatched (S, E); src_mask (S, S)
        or (N * nhead, S, S); src_key_padding_mask (N, S) or (S,)."""
        who = "TransformerEncoderLayer"
        src_key_padding_mask = _canonical_mask(src_key_padding_mask, "src_key_padding_mask",
                                               _none_or_dtype(src_mask), "src_mask", src, who=who)
        src_mask = _canonical_mask(src_mask, "src_mask", None, "", src, check_other=False, who=who)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)


class TransformerDecoderLayer(Module):
    """Self-attention on tgt, attention over memory, then a feed-forward block, each with a
    residual connection and a LayerNorm (norm1, norm2, norm3; before each block with
    norm_first).  The attention blocks are self_attn and multihead_attn with
    need_weights=False (F.scaled_dot_product_attention), followed by dropout1 / dropout2;
    ff is dropout3(linear2(dropout(activation(linear1(x)))))."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu,
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, device=None,
                 dtype=None):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=batch_first,
                                            bias=bias, dtype=dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout,
                                                 batch_first=batch_first, bias=bias, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        if isinstance(activation, str):
            activation = _get_activation_fn(activation)
        self.activation = activation

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        """tgt (T, N, E) and memory (S, N, E) ((N, T, E), (N, S, E) with batch_first, or
        unbatched); tgt_mask (T, T), memory_mask (T, S), key padding masks (N, T), (N, S)."""
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask,
                                    memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                               memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           is_causal=is_causal, need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal=False):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                is_causal=is_causal, need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout3(x)


class TransformerEncoder(Module):
    """num_layers deep copies of encoder_layer (layers.0, layers.1, ...) applied in turn,
    then the optional norm.  fastgrad has no nested tensors: enable_nested_tensor is kept
    as an attribute and the padded path always runs."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"TransformerEncoder: encoder_layer must be a Module, got "
                            f"{type(encoder_layer).__name__}")
        self.layers = _get_clones(encoder_layer, _check_size(num_layers, "num_layers", "TransformerEncoder"))
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = False
        self.mask_check = mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        """src as the layers take it; mask (S, S) or (N * nhead, S, S); src_key_padding_mask
        (N, S).  is_causal=None detects a float causal mask."""
        who = "TransformerEncoder"
        src_key_padding_mask = _canonical_mask(src_key_padding_mask, "src_key_padding_mask",
                                               _none_or_dtype(mask), "mask", src, who=who)
        mask = _canonical_mask(mask, "mask", None, "", src, check_other=False, who=who)
        first = self.layers[0] if len(self.layers) else None
        batch_first = getattr(getattr(first, "self_attn", None), "batch_first", False)
        is_causal = _detect_is_causal_mask(mask, is_causal, _get_seq_len(src, batch_first))
        output = src
        for mod in self.layers:
            output = mod(output, src_mask=mask, is_causal=is_causal,
                         src_key_padding_mask=src_key_padding_mask)
        if self.norm is not None:
            output = self.norm(output)
        return output


class TransformerDecoder(Module):
    """num_layers deep copies of decoder_layer applied in turn, then the optional norm."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        if not isinstance(decoder_layer, Module):
            raise TypeError(f"TransformerDecoder: decoder_layer must be a Module, got "
                            f"{type(decoder_layer).__name__}")
        self.layers = _get_clones(decoder_layer, _check_size(num_layers, "num_layers", "TransformerDecoder"))
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        """tgt_is_causal=None detects a float causal tgt_mask."""
        first = self.layers[0] if len(self.layers) else None
        batch_first = getattr(getattr(first, "self_attn", None), "batch_first", False)
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, _get_seq_len(tgt, batch_first))
        output = tgt
        for mod in self.layers:
            output = mod(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                         tgt_key_padding_mask=tgt_key_padding_mask,
                         memory_key_padding_mask=memory_key_padding_mask,
                         tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        if self.norm is not None:
            output = self.norm(output)
        return output


class Transformer(Module):
    """Encoder-decoder Transformer: encoder (num_encoder_layers TransformerEncoderLayers and
    a final LayerNorm) and decoder (num_decoder_layers TransformerDecoderLayers and a final
    LayerNorm), or custom_encoder / custom_decoder.  Every parameter with more than one
    dimension is re-initialised xavier-uniform."""

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                 dim_feedforward=2048, dropout=0.1, activation=F.relu, custom_encoder=None,
                 custom_decoder=None, layer_norm_eps=1e-5, batch_first=False, norm_first=False,
                 bias=True, device=None, dtype=None):
        super().__init__()
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                            layer_norm_eps, batch_first, norm_first, bias, dtype=dtype)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                            layer_norm_eps, batch_first, norm_first, bias, dtype=dtype)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, norm)
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def _reset_parameters(self):
        for p in self.parameters():
            if p.dim() > 1:
                init.xavier_uniform_(p)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
                src_is_causal=None, tgt_is_causal=None, memory_is_causal=False):
        """src (S, N, E), tgt (T, N, E) ((N, S, E), (N, T, E) with batch_first, or
        unbatched); returns (T, N, E)."""
        is_batched = src.dim() == 3
        bdim = 0 if self.batch_first else 1
        if is_batched and src.shape[bdim] != tgt.shape[bdim]:
            raise RuntimeError(f"Transformer: the batch number of src and tgt must be equal (src shape "
                               f"{_shape(src)}, tgt shape {_shape(tgt)})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature number of src and tgt must be equal to d_model "
                               f"{self.d_model} (src shape {_shape(src)}, tgt shape {_shape(tgt)})")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """The (sz, sz) float causal mask: -inf above the diagonal, 0 on and below it."""
        dt = _dtype(dtype)
        return fg.tensor(np.triu(np.full((int(sz), int(sz)), -np.inf, dtype=dt), 1))
