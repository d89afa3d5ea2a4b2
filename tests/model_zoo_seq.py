"""Small sequence models written once as ``make(nn)``, built from ``torch.nn`` or ``graphc.nn``.

Whole architectures combine ops in ways op-by-op tests do not: fusion across blocks,
buffer reuse in the memory plan, recomputation in the backward, masks broadcast into
attention scores, tied weights, and what ``torch.export`` emits for a real model. Each
definition follows its reference implementation's structure (nanoGPT/HF GPT-2, Meta's
LLaMA, HF BERT, torchvision's ViT, the PyTorch seq2seq tutorial with Bahdanau attention,
a BiLSTM tagger) at a size that compiles in seconds. ``lib(nn)`` is the tensor library
beside ``nn`` (``torch`` or ``graphc``), for the few factory functions a model calls.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

VOCAB = 50
PAD = 0


def lib(nn: Any) -> Any:
    """``torch`` for ``torch.nn``, ``graphc`` for ``graphc.nn``."""
    return importlib.import_module(nn.__name__.split(".")[0])


# ---------------------------------------------------------------------------------- GPT-2


def gpt2(nn: Any, d: int = 32, heads: int = 4, layers: int = 2, vocab: int = VOCAB, max_len: int = 8, read_sizes: bool = True) -> Any:
    """GPT-2: learned positions, pre-norm blocks, causal SDPA, tanh-GELU MLP, LM head tied to the token embedding.

    ``read_sizes=False`` splits heads with unflatten/flatten and adds the whole position
    table (sequences of ``max_len`` only), so no size is read; with size reads graphc keeps
    the batch symbolic too (``x.shape`` gives symbolic sizes, graphc/frontend/symbolic_sizes.py).
    """
    F = nn.functional
    T = lib(nn)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1 = nn.LayerNorm(d)
            self.c_attn = nn.Linear(d, 3 * d)
            self.attn_proj = nn.Linear(d, d)
            self.ln_2 = nn.LayerNorm(d)
            self.c_fc = nn.Linear(d, 4 * d)
            self.mlp_proj = nn.Linear(4 * d, d)

        def forward(self, x: Any) -> Any:
            q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
            if read_sizes:
                b, t, c = x.shape
                q, k, v = (z.view(b, t, heads, c // heads).transpose(1, 2) for z in (q, k, v))
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).contiguous().view(b, t, c)
            else:
                q, k, v = (z.unflatten(-1, (heads, d // heads)).transpose(1, 2) for z in (q, k, v))
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).flatten(2)
            x = x + self.attn_proj(y)
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

    class GPT2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte = nn.Embedding(vocab, d)
            self.wpe = nn.Embedding(max_len, d)
            self.h = nn.ModuleList([Block() for _ in range(layers)])
            self.ln_f = nn.LayerNorm(d)
            self.lm_head = nn.Linear(d, vocab, bias=False)
            self.lm_head.weight = self.wte.weight

        def forward(self, idx: Any) -> Any:
            x = self.wte(idx) + (self.wpe(T.arange(0, idx.shape[1], dtype=T.long)) if read_sizes else self.wpe.weight)
            for block in self.h:
                x = block(x)
            return self.lm_head(self.ln_f(x))

    return GPT2()


# ---------------------------------------------------------------------------------- LLaMA


def llama(nn: Any, d: int = 32, heads: int = 4, kv_heads: int = 2, layers: int = 2, vocab: int = VOCAB, max_len: int = 8, hidden: int = 64) -> Any:
    """LLaMA: RMSNorm, rotary embeddings (rotate_half form), SwiGLU, grouped-query attention, no biases."""
    F = nn.functional
    T = lib(nn)
    head_dim = d // heads

    class RMSNorm(nn.Module):
        def __init__(self, eps: float = 1e-6) -> None:
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(T.ones(d))

        def forward(self, x: Any) -> Any:
            return x * T.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

    def rotate_half(x: Any) -> Any:
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
        return T.cat((-x2, x1), dim=-1)

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wq = nn.Linear(d, heads * head_dim, bias=False)
            self.wk = nn.Linear(d, kv_heads * head_dim, bias=False)
            self.wv = nn.Linear(d, kv_heads * head_dim, bias=False)
            self.wo = nn.Linear(heads * head_dim, d, bias=False)

        def forward(self, x: Any, cos: Any, sin: Any) -> Any:
            b, t, _ = x.shape
            q = self.wq(x).view(b, t, heads, head_dim).transpose(1, 2)
            k = self.wk(x).view(b, t, kv_heads, head_dim).transpose(1, 2)
            v = self.wv(x).view(b, t, kv_heads, head_dim).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k = k.repeat_interleave(heads // kv_heads, dim=1)
            v = v.repeat_interleave(heads // kv_heads, dim=1)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.wo(y.transpose(1, 2).reshape(b, t, d))

    class FeedForward(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w1 = nn.Linear(d, hidden, bias=False)
            self.w2 = nn.Linear(hidden, d, bias=False)
            self.w3 = nn.Linear(d, hidden, bias=False)

        def forward(self, x: Any) -> Any:
            return self.w2(F.silu(self.w1(x)) * self.w3(x))

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attention_norm = RMSNorm()
            self.attention = Attention()
            self.ffn_norm = RMSNorm()
            self.feed_forward = FeedForward()

        def forward(self, x: Any, cos: Any, sin: Any) -> Any:
            h = x + self.attention(self.attention_norm(x), cos, sin)
            return h + self.feed_forward(self.ffn_norm(h))

    class Llama(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok_embeddings = nn.Embedding(vocab, d)
            self.layers = nn.ModuleList([Layer() for _ in range(layers)])
            self.norm = RMSNorm()
            self.output = nn.Linear(d, vocab, bias=False)
            inv_freq = 1.0 / (10000.0 ** (T.arange(0, head_dim, 2, dtype=T.float64) / head_dim))
            freqs = T.outer(T.arange(max_len, dtype=T.float64), inv_freq)
            emb = T.cat((freqs, freqs), dim=-1)
            self.register_buffer("cos_cached", emb.cos(), persistent=False)
            self.register_buffer("sin_cached", emb.sin(), persistent=False)

        def forward(self, tokens: Any) -> Any:
            t = tokens.shape[1]
            cos, sin = self.cos_cached[:t].to(self.output.weight.dtype), self.sin_cached[:t].to(self.output.weight.dtype)
            h = self.tok_embeddings(tokens)
            for layer in self.layers:
                h = layer(h, cos, sin)
            return self.output(self.norm(h))

    return Llama()


# ---------------------------------------------------------------------------------- BERT


def bert(nn: Any, d: int = 32, heads: int = 4, layers: int = 2, vocab: int = VOCAB, max_len: int = 8, labels: int = 3) -> Any:
    """BERT encoder for classification: three embeddings, a padding mask, post-norm layers, tanh pooler."""
    F = nn.functional
    T = lib(nn)
    head_dim = d // heads

    class Embeddings(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.word_embeddings = nn.Embedding(vocab, d, padding_idx=PAD)
            self.position_embeddings = nn.Embedding(max_len, d)
            self.token_type_embeddings = nn.Embedding(2, d)
            self.LayerNorm = nn.LayerNorm(d, eps=1e-12)

        def forward(self, input_ids: Any, token_type_ids: Any) -> Any:
            pos = T.arange(input_ids.shape[1]).unsqueeze(0)
            x = self.word_embeddings(input_ids) + self.position_embeddings(pos) + self.token_type_embeddings(token_type_ids)
            return self.LayerNorm(x)

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.query = nn.Linear(d, d)
            self.key = nn.Linear(d, d)
            self.value = nn.Linear(d, d)
            self.attn_dense = nn.Linear(d, d)
            self.attn_norm = nn.LayerNorm(d, eps=1e-12)
            self.intermediate = nn.Linear(d, 4 * d)
            self.output = nn.Linear(4 * d, d)
            self.output_norm = nn.LayerNorm(d, eps=1e-12)

        def heads(self, x: Any) -> Any:
            return x.view(x.shape[0], x.shape[1], heads, head_dim).permute(0, 2, 1, 3)

        def forward(self, x: Any, extended_mask: Any) -> Any:
            q, k, v = self.heads(self.query(x)), self.heads(self.key(x)), self.heads(self.value(x))
            scores = T.matmul(q, k.transpose(-1, -2)) / math.sqrt(head_dim) + extended_mask
            context = T.matmul(F.softmax(scores, dim=-1), v).permute(0, 2, 1, 3).contiguous()
            context = context.view(x.shape[0], x.shape[1], d)
            x = self.attn_norm(self.attn_dense(context) + x)
            return self.output_norm(self.output(F.gelu(self.intermediate(x))) + x)

    class Bert(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embeddings = Embeddings()
            self.layer = nn.ModuleList([Layer() for _ in range(layers)])
            self.pooler = nn.Linear(d, d)
            self.classifier = nn.Linear(d, labels)

        def forward(self, input_ids: Any, token_type_ids: Any, attention_mask: Any) -> Any:
            dtype = self.pooler.weight.dtype
            extended = (1.0 - attention_mask[:, None, None, :].to(dtype)) * T.finfo(dtype).min
            x = self.embeddings(input_ids, token_type_ids)
            for layer in self.layer:
                x = layer(x, extended)
            pooled = T.tanh(self.pooler(x[:, 0]))
            return self.classifier(pooled)

    return Bert()


# ---------------------------------------------------------------------------------- ViT


def vit(nn: Any, d: int = 32, heads: int = 4, layers: int = 2, image: int = 8, patch: int = 4, channels: int = 3, classes: int = 5) -> Any:
    """ViT: strided-conv patches, class token, learned positions, a norm_first batch_first TransformerEncoder."""
    T = lib(nn)
    patches = (image // patch) ** 2

    class ViT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv_proj = nn.Conv2d(channels, d, kernel_size=patch, stride=patch)
            self.class_token = nn.Parameter(T.zeros(1, 1, d))
            self.pos_embedding = nn.Parameter(T.empty(1, patches + 1, d).normal_(std=0.02))
            layer = nn.TransformerEncoderLayer(d, heads, dim_feedforward=2 * d, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(d), enable_nested_tensor=False)
            self.head = nn.Linear(d, classes)

        def forward(self, images: Any) -> Any:
            x = self.conv_proj(images).flatten(2).transpose(1, 2)
            x = T.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embedding
            return self.head(self.encoder(x)[:, 0])

    return ViT()


# ---------------------------------------------------------------------------------- seq2seq GRU


def seq2seq_gru(nn: Any, d: int = 32, vocab: int = VOCAB) -> Any:
    """GRU encoder-decoder with additive (Bahdanau) attention over the source, decoded with teacher forcing."""
    F = nn.functional
    T = lib(nn)

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.Wa = nn.Linear(d, d)
            self.Ua = nn.Linear(d, d)
            self.Va = nn.Linear(d, 1)

        def forward(self, query: Any, keys: Any, pad_mask: Any) -> Any:
            scores = self.Va(T.tanh(self.Wa(query) + self.Ua(keys))).squeeze(2)
            weights = F.softmax(scores.masked_fill(pad_mask, float("-inf")), dim=-1)
            return T.bmm(weights.unsqueeze(1), keys)

    class Seq2Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.src_embedding = nn.Embedding(vocab, d, padding_idx=PAD)
            self.encoder = nn.GRU(d, d, batch_first=True)
            self.tgt_embedding = nn.Embedding(vocab, d, padding_idx=PAD)
            self.attention = Attention()
            self.decoder = nn.GRU(2 * d, d, batch_first=True)
            self.out = nn.Linear(d, vocab)

        def forward(self, src: Any, tgt_in: Any) -> Any:
            keys, hidden = self.encoder(self.src_embedding(src))
            pad_mask = src == PAD
            outputs = []
            for i in range(tgt_in.shape[1]):
                embedded = self.tgt_embedding(tgt_in[:, i : i + 1])
                context = self.attention(hidden.permute(1, 0, 2), keys, pad_mask)
                output, hidden = self.decoder(T.cat((embedded, context), dim=2), hidden)
                outputs.append(self.out(output))
            return T.cat(outputs, dim=1)

    return Seq2Seq()


# ---------------------------------------------------------------------------------- BiLSTM tagger


def bilstm_tagger(nn: Any, d: int = 32, vocab: int = VOCAB, tags: int = 7, packed: bool = True) -> Any:
    """Bidirectional LSTM over packed variable-length sentences (or, ``packed=False``, the padded batch), a tag per token.

    torch.export cannot trace an LSTM over a PackedSequence (torch's LSTM sizes its
    initial state from the packed batch sizes), so the importer sees the padded form.
    """
    rnn = nn.utils.rnn

    class Tagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(vocab, d, padding_idx=PAD)
            self.lstm = nn.LSTM(d, d, num_layers=2, batch_first=True, bidirectional=True)
            self.hidden2tag = nn.Linear(2 * d, tags)

        def forward(self, tokens: Any, lengths: list[int]) -> Any:
            if not packed:
                return self.hidden2tag(self.lstm(self.embedding(tokens))[0])
            sequences = rnn.pack_padded_sequence(self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(sequences)
            out, _ = rnn.pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
            return self.hidden2tag(out)

    return Tagger()


# ---------------------------------------------------------------------------------- data


@dataclass
class Case:
    """A model of the zoo with a batch: ``inputs(np_rng)`` gives NumPy arrays (or lists) for the forward, ``target`` the labels."""

    name: str
    make: Callable[[Any], Any]
    inputs: Callable[[Any], tuple[Any, ...]]
    target: Callable[[Any, tuple[Any, ...]], Any]
    ignore_index: int = -100
    clip: float | None = None


LENGTHS = [8, 5]


def _tokens(rng: Any, batch: int = 2, seq: int = 8, lengths: list[int] | None = None) -> Any:
    ids = rng.integers(1, VOCAB, size=(batch, seq))
    for row, n in enumerate(lengths or []):
        ids[row, n:] = PAD
    return ids


def _next_tokens(rng: Any, inputs: tuple[Any, ...]) -> Any:
    import numpy as np

    ids = inputs[0]
    return np.where(ids == PAD, PAD, np.roll(ids, -1, axis=1))


def _bert_inputs(rng: Any) -> tuple[Any, ...]:
    import numpy as np

    ids = _tokens(rng, lengths=LENGTHS)
    types = np.zeros_like(ids)
    types[:, 4:] = 1
    return ids, types, (ids != PAD).astype(np.int64)


def _seq2seq_inputs(rng: Any) -> tuple[Any, ...]:
    return _tokens(rng, lengths=[8, 6]), _tokens(rng, lengths=[8, 4])


def _tagger_inputs(rng: Any) -> tuple[Any, ...]:
    return _tokens(rng, lengths=LENGTHS), LENGTHS


def _tags(rng: Any, inputs: tuple[Any, ...]) -> Any:
    import numpy as np

    ids = inputs[0]
    return np.where(ids == PAD, -100, ids % 7)


CASES = [
    Case("gpt2", gpt2, lambda rng: (_tokens(rng, lengths=LENGTHS),), _next_tokens, ignore_index=PAD),
    Case("llama", llama, lambda rng: (_tokens(rng),), _next_tokens, ignore_index=PAD, clip=0.5),
    Case("bert", bert, _bert_inputs, lambda rng, inputs: rng.integers(0, 3, size=(2,))),
    Case("vit", vit, lambda rng: (rng.standard_normal((2, 3, 8, 8)),), lambda rng, inputs: rng.integers(0, 5, size=(2,))),
    Case("seq2seq_gru", seq2seq_gru, _seq2seq_inputs, lambda rng, inputs: _next_tokens(rng, inputs[1:]), ignore_index=PAD),
    Case("bilstm_tagger", bilstm_tagger, _tagger_inputs, _tags),
]
