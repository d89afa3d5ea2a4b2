"""Attention: ``scaled_dot_product_attention``, ``multi_head_attention_forward`` and ``MultiheadAttention``.

Written from graphc's ops (matmul, softmax, where), so autodiff, fusion and both backends need
nothing new: the scores' scale, mask and softmax fuse into one reduction kernel. The argument
conventions are torch's, including its two meanings of a bool mask: in
``scaled_dot_product_attention`` True marks a pair that takes part, in ``MultiheadAttention``
(``attn_mask``, ``key_padding_mask``) True marks a pair that is masked out.
"""

from __future__ import annotations

import math
from typing import Any

from graphc.errors import GraphcError
from graphc.frontend import functional as _F
from graphc.frontend.autocast_policy import autocast_op
from graphc.frontend.constructors import zeros_like
from graphc.ir import dtypes
from graphc.ir.registry import emit
from graphc.runtime.nn import functional as F
from graphc.runtime.nn import init
from graphc.runtime.nn.linear import Linear, empty_parameter
from graphc.runtime.nn.module import Module
from graphc.runtime.tensor import Tensor


def _causal_mask(rows: Any, columns: Any) -> Tensor:
    """True where row i may attend to column j (j <= i): torch's ``ones(L, S).tril()``, built in the
    graph so that a sequence length that is the batch symbol ``B`` stays symbolic."""
    row = emit("iota", shape=(rows, columns), axis=0, dtype=dtypes.int64)
    column = emit("iota", shape=(rows, columns), axis=1, dtype=dtypes.int64)
    return _F.wrap(row) >= _F.wrap(column)


def _repeat_heads(x: Tensor, times: int) -> Tensor:
    """``x.repeat_interleave(times, dim=-3)``: each key/value head serves ``times`` query heads (GQA)."""
    if times == 1:
        return x
    shape = tuple(x.shape)
    spread = x.unsqueeze(-3).expand(*shape[:-2], times, *shape[-2:])
    return spread.reshape(*shape[:-3], shape[-3] * times, *shape[-2:])


@autocast_op
def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """``softmax(query @ key.T * scale + mask) @ value`` over the last two dimensions.

    A bool ``attn_mask`` keeps the pairs where it is True; a float one is added to the scores.
    A query that may attend to nothing gets zeros, as torch's own math kernel gives.
    """
    if is_causal and attn_mask is not None:
        raise GraphcError("scaled_dot_product_attention: an explicit attn_mask should not be set when is_causal=True")
    if query.ndim < 2 or key.ndim < 2 or value.ndim < 2:
        raise GraphcError(f"scaled_dot_product_attention: query, key and value must be at least 2-d, got {query.ndim}, {key.ndim}, {value.ndim}")
    if enable_gqa:
        key = _repeat_heads(key, query.shape[-3] // key.shape[-3])
        value = _repeat_heads(value, query.shape[-3] // value.shape[-3])
    factor = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ key.transpose(-2, -1)) * factor
    allowed = _causal_mask(query.shape[-2], key.shape[-2]) if is_causal else None
    if attn_mask is not None and attn_mask.dtype == dtypes.bool_:
        allowed = attn_mask
    elif attn_mask is not None:
        scores = scores + attn_mask
    if allowed is not None:
        scores = _F.where(allowed, scores, float("-inf"))
    weights = _F.softmax(scores, -1)
    # torch's math kernel (_safe_softmax): a row masked entirely is zeros, not the NaN of 0 / 0.
    weights = _F.where(scores.amax(-1, keepdim=True) == float("-inf"), 0.0, weights)
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p)
    return weights @ value


def _additive(mask: Tensor | None, name: str, dtype: dtypes.DType) -> Tensor | None:
    """A bool mask (True: masked out) as the float mask torch's ``_canonical_mask`` makes: -inf or 0."""
    if mask is None or mask.dtype.is_floating_point:
        return mask
    if mask.dtype != dtypes.bool_:
        raise GraphcError(f"multi_head_attention_forward: {name} must be bool or floating point, got {mask.dtype.name}")
    return _F.where(mask, float("-inf"), 0.0).to(dtype)


def multi_head_attention_forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: Tensor | None,
    in_proj_bias: Tensor | None,
    bias_k: Tensor | None,
    bias_v: Tensor | None,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
    training: bool = True,
    key_padding_mask: Tensor | None = None,
    need_weights: bool = True,
    attn_mask: Tensor | None = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: Tensor | None = None,
    k_proj_weight: Tensor | None = None,
    v_proj_weight: Tensor | None = None,
    static_k: Tensor | None = None,
    static_v: Tensor | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """torch's ``F.multi_head_attention_forward`` on sequence-first ``[L, N, E]`` (or unbatched ``[L, E]``) inputs."""
    if static_k is not None or static_v is not None:
        raise GraphcError("multi_head_attention_forward: static_k and static_v are not supported")
    if is_causal and attn_mask is None:
        raise GraphcError("multi_head_attention_forward: is_causal needs attn_mask as well (it is a hint that attn_mask is causal)")
    batched = query.ndim == 3
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    if embed_dim != embed_dim_to_check:
        raise GraphcError(f"multi_head_attention_forward: was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise GraphcError(f"multi_head_attention_forward: embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    q, k, v = _in_projection(query, key, value, in_proj_weight, in_proj_bias, (q_proj_weight, k_proj_weight, v_proj_weight), use_separate_proj_weight)
    attn_mask = _additive(attn_mask, "attn_mask", q.dtype)
    key_padding_mask = _additive(key_padding_mask, "key_padding_mask", q.dtype)
    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt_len, key.shape[0]):
                raise GraphcError(f"multi_head_attention_forward: the 2-d attn_mask should be of size {(tgt_len, key.shape[0])}, got {tuple(attn_mask.shape)}")
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.ndim != 3:
            raise GraphcError(f"multi_head_attention_forward: attn_mask must be 2-d or 3-d, got {attn_mask.ndim}-d")
    if bias_k is not None and bias_v is not None:
        k = _F.cat([k, bias_k.expand(1, bsz, embed_dim)])
        v = _F.cat([v, bias_v.expand(1, bsz, embed_dim)])
        attn_mask = None if attn_mask is None else F.pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else F.pad(key_padding_mask, (0, 1))
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    k = k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    v = v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    if add_zero_attn:
        zeros = zeros_like(k[:, :1])
        k, v = _F.cat([k, zeros], 1), _F.cat([v, zeros], 1)
        attn_mask = None if attn_mask is None else F.pad(attn_mask, (0, 1))
        key_padding_mask = None if key_padding_mask is None else F.pad(key_padding_mask, (0, 1))
    src_len = k.shape[1]
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise GraphcError(f"multi_head_attention_forward: expecting key_padding_mask shape of {(bsz, src_len)}, but got {tuple(key_padding_mask.shape)}")
        padding = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(bsz, num_heads, 1, src_len).reshape(bsz * num_heads, 1, src_len)
        attn_mask = padding if attn_mask is None else attn_mask + padding
    if not training:
        dropout_p = 0.0
    scores = (q * math.sqrt(1.0 / head_dim)) @ k.transpose(-2, -1)
    if attn_mask is not None:
        scores = scores + attn_mask
    weights = _F.softmax(scores, -1)
    if not need_weights:  # torch's scaled_dot_product_attention path: a query masked entirely gets zeros
        weights = _F.where(scores.amax(-1, keepdim=True) == float("-inf"), 0.0, weights)
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p)
    out = (weights @ v).transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
    out = F.linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, embed_dim)
    if not batched:
        out = out.squeeze(1)
    if not need_weights:
        return out, None
    weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
    if average_attn_weights:
        weights = weights.mean(1)
    return out, weights if batched else weights.squeeze(0)


def _in_projection(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    weight: Tensor | None,
    bias: Tensor | None,
    separate: tuple[Tensor | None, Tensor | None, Tensor | None],
    use_separate: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """Query, key and value projected by the three row blocks of ``weight`` (or the separate weights)."""
    biases = (None, None, None) if bias is None else bias.chunk(3)
    if use_separate:
        weights = separate
    else:
        assert weight is not None
        weights = weight.chunk(3)
    if query is key and key is value and not use_separate:  # self-attention: one product with all three blocks
        return F.linear(query, weight, bias).chunk(3, -1)
    return tuple(F.linear(x, w, b) for x, w, b in zip((query, key, value), weights, biases))  # type: ignore[return-value]


class MultiheadAttention(Module):
    """torch.nn.MultiheadAttention: the same parameters (``in_proj_weight`` or ``q/k/v_proj_weight``,
    ``in_proj_bias``, ``out_proj``), initialisation and ``forward`` arguments."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and num_heads={num_heads} instead")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty_parameter(3 * embed_dim, embed_dim, dtype=dtype, device=device)
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = empty_parameter(embed_dim, embed_dim, dtype=dtype, device=device)
            self.k_proj_weight = empty_parameter(embed_dim, self.kdim, dtype=dtype, device=device)
            self.v_proj_weight = empty_parameter(embed_dim, self.vdim, dtype=dtype, device=device)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = empty_parameter(3 * embed_dim, dtype=dtype, device=device)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k = empty_parameter(1, 1, embed_dim, dtype=dtype, device=device)
            self.bias_v = empty_parameter(1, 1, embed_dim, dtype=dtype, device=device)
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
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

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        if self.batch_first and query.ndim == 3:
            query, key, value = (x.transpose(0, 1) for x in (query, key, value))
        out, weights = multi_head_attention_forward(
            query,
            key,
            value,
            self.embed_dim,
            self.num_heads,
            self.in_proj_weight,
            self.in_proj_bias,
            self.bias_k,
            self.bias_v,
            self.add_zero_attn,
            self.dropout,
            self.out_proj.weight,
            self.out_proj.bias,
            training=self.training,
            key_padding_mask=key_padding_mask,
            need_weights=need_weights,
            attn_mask=attn_mask,
            use_separate_proj_weight=not self._qkv_same_embed_dim,
            q_proj_weight=self.q_proj_weight,
            k_proj_weight=self.k_proj_weight,
            v_proj_weight=self.v_proj_weight,
            average_attn_weights=average_attn_weights,
            is_causal=is_causal,
        )
        if self.batch_first and query.ndim == 3:
            out = out.transpose(0, 1)
        return out, weights

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, batch_first={self.batch_first}"
