"""Transformer layers and stacks against torch: the same weights and inputs give the same outputs,
parameter gradients and input gradients (float64).

Each runs on both backends, fused and unfused; Triton unfused is a slow test (a Transformer is
hundreds of kernels, each a few interpreted programs, about 20 s on a CPU).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from nn_compare import compare_modules
from test_nn_attention import Call, TorchCall, causal_bool, data

import graphc
from graphc import nn


@pytest.fixture(params=["numpy-fused", "numpy-unfused", "triton-fused", pytest.param("triton-unfused", marks=pytest.mark.slow)])
def variant(request: pytest.FixtureRequest) -> Iterator[None]:
    backend, fusion = request.param.split("-")
    if backend == "triton":
        pytest.importorskip("triton")
    with graphc.use_backend(backend), graphc.use_fusion(fusion == "fused"):
        yield


pytestmark = pytest.mark.usefixtures("numpy_kernels", "variant")

LAYER = {"d_model": 4, "nhead": 2, "dim_feedforward": 6, "dropout": 0.0}


@pytest.mark.parametrize(
    "options",
    [{}, {"norm_first": True}, {"activation": "gelu", "batch_first": True}, {"bias": False}],
    ids=["post_norm", "pre_norm", "gelu_batch_first", "no_bias"],
)
def test_transformer_encoder_layer_matches_torch(options: dict) -> None:
    torch.manual_seed(0)
    reference = torch.nn.TransformerEncoderLayer(**LAYER, **options)
    module = nn.TransformerEncoderLayer(**LAYER, **options)
    call = {"src_mask": ~causal_bool(3, 3), "src_key_padding_mask": np.array([[False, False, True], [False] * 3])}
    shape = (2, 3, 4) if options.get("batch_first") else (3, 2, 4)
    compare_modules(Call(module, **call), TorchCall(reference, **call), [data(*shape)])


def test_transformer_decoder_layer_matches_torch() -> None:
    torch.manual_seed(0)
    reference = torch.nn.TransformerDecoderLayer(**LAYER)
    module = nn.TransformerDecoderLayer(**LAYER)
    call = {"tgt_mask": data(3, 3), "memory_key_padding_mask": np.array([[False, True, False, False], [False] * 4])}
    compare_modules(Call(module, **call), TorchCall(reference, **call), [data(3, 2, 4), data(4, 2, 4)])


def test_transformer_encoder_and_decoder_stacks_have_their_own_parameters_and_match_torch() -> None:
    torch.manual_seed(0)
    reference = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(**LAYER), 2, norm=torch.nn.LayerNorm(4), enable_nested_tensor=False)
    module = nn.TransformerEncoder(nn.TransformerEncoderLayer(**LAYER), 2, norm=nn.LayerNorm(4))
    assert module.layers[0].linear1.weight is not module.layers[1].linear1.weight
    compare_modules(module, reference, [data(3, 2, 4)])


def test_transformer_matches_torch() -> None:
    torch.manual_seed(0)
    reference = torch.nn.Transformer(num_encoder_layers=1, num_decoder_layers=2, **LAYER)
    module = nn.Transformer(num_encoder_layers=1, num_decoder_layers=2, **LAYER)
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    np.testing.assert_array_equal(mask.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(3).numpy())
    call = {"tgt_mask": mask.numpy(), "tgt_is_causal": True}
    compare_modules(Call(module, **call), TorchCall(reference, **call), [data(4, 2, 4), data(3, 2, 4)])


def test_is_causal_without_a_mask_is_refused_as_torch_refuses_it() -> None:
    layer = nn.TransformerEncoderLayer(**LAYER)
    with pytest.raises(graphc.errors.GraphcError, match="is_causal needs attn_mask"):
        layer(graphc.ones(3, 2, 4), is_causal=True)


def test_a_compiled_transformer_training_step_matches_torch_at_two_batch_sizes() -> None:
    torch.manual_seed(0)
    reference = torch.nn.TransformerEncoderLayer(**LAYER, batch_first=True).double()
    module = nn.TransformerEncoderLayer(**LAYER, batch_first=True).double()
    module.load_state_dict(reference.state_dict())
    opt = graphc.optim.SGD(module.parameters(), lr=0.1)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)

    @graphc.compile
    def step(x: graphc.Tensor) -> graphc.Tensor:
        opt.zero_grad()
        loss = (module(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    for batch in (2, 3, 2):
        x = data(batch, 3, 4)
        ref_opt.zero_grad()
        expected = (reference(torch.tensor(x)) ** 2).mean()
        expected.backward()
        ref_opt.step()
        assert step(graphc.tensor(x)).item() == pytest.approx(expected.item(), rel=1e-10)
    for name, parameter in reference.named_parameters():
        np.testing.assert_allclose(dict(module.named_parameters())[name].numpy(), parameter.detach().numpy(), rtol=1e-9, atol=1e-12)
    assert step.trace_count == 1, step.recompilations
