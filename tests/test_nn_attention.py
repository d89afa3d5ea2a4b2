"""Attention and transformer layers against torch: the same weights and inputs give the same outputs,
parameter gradients and input gradients (float64), on both backends, fused and unfused."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from nn_compare import compare_modules

import graphc
import graphc.nn.functional as F
from graphc import nn

pytestmark = pytest.mark.usefixtures("backend", "fusion")

RNG = np.random.default_rng(0)


def data(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def as_lib(value: Any, lib: str) -> Any:
    """A NumPy array as a tensor of ``lib`` ("graphc" or "torch"); other values as they are."""
    if not isinstance(value, np.ndarray):
        return value
    return graphc.tensor(value) if lib == "graphc" else torch.tensor(value)


class Call(nn.Module):
    """``inner(*inputs, **options)``, the options' arrays made graphc tensors (for compare_modules)."""

    def __init__(self, inner: nn.Module, **options: Any) -> None:
        super().__init__()
        self.inner = inner
        self.options = options

    def forward(self, *inputs: graphc.Tensor) -> Any:
        return self.inner(*inputs, **{k: as_lib(v, "graphc") for k, v in self.options.items()})


class TorchCall(torch.nn.Module):
    def __init__(self, inner: torch.nn.Module, **options: Any) -> None:
        super().__init__()
        self.inner = inner
        self.options = options

    def forward(self, *inputs: torch.Tensor) -> Any:
        return self.inner(*inputs, **{k: as_lib(v, "torch") for k, v in self.options.items()})


# ----------------------------------------------------------------------------- scaled_dot_product_attention


def causal_bool(rows: int, columns: int) -> np.ndarray:
    return np.tril(np.ones((rows, columns), dtype=bool))


SDPA_CASES = {
    "plain": {},
    "causal": {"is_causal": True},
    "bool_mask": {"attn_mask": RNG.random((3, 5)) > 0.3},
    "float_mask": {"attn_mask": data(2, 1, 3, 5)},
    "scale": {"scale": 0.3},
    "fully_masked_row": {"attn_mask": np.array([[True] * 5, [False] * 5, [True, False, True, False, True]])},
}


@pytest.mark.parametrize("case", list(SDPA_CASES))
def test_scaled_dot_product_attention_matches_torch(case: str) -> None:
    options = SDPA_CASES[case]
    arrays = [data(2, 2, 3, 4), data(2, 2, 5, 4), data(2, 2, 5, 4)]
    g_in = [graphc.tensor(a, requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    g_out = F.scaled_dot_product_attention(*g_in, **{k: as_lib(v, "graphc") for k, v in options.items()})
    t_out = torch.nn.functional.scaled_dot_product_attention(*t_in, **{k: as_lib(v, "torch") for k, v in options.items()})
    np.testing.assert_allclose(g_out.numpy(), t_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    weights = data(*t_out.shape)
    (g_out * graphc.tensor(weights)).sum().backward()
    (t_out * torch.tensor(weights)).sum().backward()
    for g, t in zip(g_in, t_in):
        np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_grouped_query_attention_shares_each_key_head_among_query_heads() -> None:
    q, k, v = data(1, 4, 3, 2), data(1, 2, 5, 2), data(1, 2, 5, 2)
    g_out = F.scaled_dot_product_attention(graphc.tensor(q), graphc.tensor(k), graphc.tensor(v), enable_gqa=True)
    t_out = torch.nn.functional.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k), torch.tensor(v), enable_gqa=True)
    np.testing.assert_allclose(g_out.numpy(), t_out.numpy(), rtol=1e-12)


def test_a_mask_and_is_causal_together_are_refused() -> None:
    x = graphc.ones(1, 2, 2)
    with pytest.raises(graphc.errors.GraphcError, match="attn_mask should not be set when is_causal=True"):
        F.scaled_dot_product_attention(x, x, x, attn_mask=graphc.ones(2, 2) > 0, is_causal=True)


# ----------------------------------------------------------------------------- MultiheadAttention


MHA_CASES: dict[str, tuple[dict, dict, bool]] = {
    # name: (constructor options, forward options, batch_first)
    "default": ({}, {}, False),
    "batch_first": ({"batch_first": True}, {}, True),
    "no_weights": ({}, {"need_weights": False}, False),
    "per_head_weights": ({}, {"average_attn_weights": False}, False),
    "no_bias": ({"bias": False}, {}, False),
    "bias_kv_zero_attn": ({"add_bias_kv": True, "add_zero_attn": True}, {"key_padding_mask": np.array([[False] * 4 + [True], [False] * 5])}, False),
    "kdim_vdim": ({"kdim": 3, "vdim": 5}, {}, False),
    "padding_mask": ({}, {"key_padding_mask": np.array([[False, False, True, False, True], [False] * 5])}, False),
    "float_padding_mask": ({}, {"key_padding_mask": data(2, 5)}, False),
    "bool_attn_mask": ({}, {"attn_mask": RNG.random((3, 5)) > 0.7}, False),
    "float_3d_attn_mask": ({}, {"attn_mask": data(4, 3, 5), "need_weights": False}, False),
    "causal_hint": ({}, {"attn_mask": ~causal_bool(3, 5), "is_causal": True, "need_weights": False}, False),
}


@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multihead_attention_matches_torch(case: str) -> None:
    options, call, batch_first = MHA_CASES[case]
    torch.manual_seed(0)
    reference = torch.nn.MultiheadAttention(4, 2, **options)
    module = nn.MultiheadAttention(4, 2, **options)
    kdim, vdim = options.get("kdim", 4), options.get("vdim", 4)
    shapes = [(3, 2, 4), (5, 2, kdim), (5, 2, vdim)]
    if batch_first:
        shapes = [(s[1], s[0], s[2]) for s in shapes]
    compare_modules(Call(module, **call), TorchCall(reference, **call), [data(*s) for s in shapes])


def test_multihead_attention_takes_unbatched_inputs() -> None:
    torch.manual_seed(0)
    compare_modules(nn.MultiheadAttention(4, 2), torch.nn.MultiheadAttention(4, 2), [data(3, 4), data(5, 4), data(5, 4)])


def test_multihead_attention_is_initialised_as_torchs() -> None:
    module = nn.MultiheadAttention(8, 2)
    bound = math.sqrt(6 / (8 + 24))  # xavier_uniform_ of the [24, 8] packed projection
    weight = module.in_proj_weight.numpy()
    assert np.abs(weight).max() <= bound and weight.std() > bound / 3
    assert not module.in_proj_bias.numpy().any() and not module.out_proj.bias.numpy().any()
    assert [name for name, _ in module.named_parameters()] == [name for name, _ in torch.nn.MultiheadAttention(8, 2).named_parameters()]
