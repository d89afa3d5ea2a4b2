"""Lazy modules against torch's: placeholders, materialization by the first call (shapes, initialization,
the class they become), then the same outputs and gradients with torch's weights; state dicts, optimizers
and graphc.compile around them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import data
from nn_compare import compare_modules

import graphc
import graphc.nn as gnn
from graphc import optim

# (class name, constructor arguments, input shape)
LAZY = [
    ("LazyLinear", (3,), (2, 4)),
    ("LazyConv1d", (4, 3), (2, 3, 7)),
    ("LazyConv2d", (4, 2), (3, 5, 6)),  # unbatched: in_channels from dimension 0
    ("LazyConv3d", (2, 2), (1, 2, 3, 4, 3)),
    ("LazyConvTranspose1d", (3, 2), (2, 4, 5)),
    ("LazyConvTranspose2d", (2, 3), (1, 3, 4, 3)),
    ("LazyConvTranspose3d", (2, 2), (1, 2, 2, 3, 2)),
    ("LazyBatchNorm1d", (), (5, 3)),
    ("LazyBatchNorm2d", (), (4, 2, 3, 3)),
    ("LazyBatchNorm3d", (), (3, 2, 2, 2, 3)),
    ("LazyInstanceNorm1d", (), (2, 3, 6)),
    ("LazyInstanceNorm2d", (), (2, 3, 4, 4)),
    ("LazyInstanceNorm3d", (), (2, 2, 3, 2, 3)),
]


@pytest.mark.parametrize("name, args, shape", LAZY, ids=[case[0] for case in LAZY])
def test_first_call_materializes_as_torch_then_matches_torch(name: str, args: tuple, shape: tuple) -> None:
    g, t = getattr(gnn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(g) == repr(t)
    assert g.has_uninitialized_params()
    x = data(*shape)
    g_out, t_out = g(graphc.tensor(x)), t(torch.tensor(x))
    assert type(g).__name__ == type(t).__name__ == name.removeprefix("Lazy") and repr(g) == repr(t)
    assert not isinstance(g, gnn.LazyModuleMixin)
    for (gname, gp), (tname, tp) in zip(g.state_dict(keep_vars=True).items(), t.state_dict(keep_vars=True).items(), strict=True):
        assert gname == tname and tuple(gp.shape) == tuple(tp.shape) and type(gp).__name__ == type(tp).__name__, gname
    assert tuple(g_out.shape) == tuple(t_out.shape)
    if "Norm" in name:  # ones, zeros and the statistics of the same batch
        for key, value in t.state_dict().items():
            np.testing.assert_allclose(g.state_dict()[key].numpy(), value.numpy(), rtol=1e-5, atol=1e-6, err_msg=key)
    else:  # torch's uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) bounds (graphc draws from its own generator)
        fan_in = int(np.prod(t.weight.shape[1:]))
        for p in g.parameters():
            assert np.abs(p.numpy()).max() <= 1 / np.sqrt(fan_in)
    compare_modules(g, t, [x])


def test_placeholders_refuse_their_shape_and_an_optimizer() -> None:
    g = gnn.LazyLinear(3)
    assert repr(g.weight) == repr(torch.nn.LazyLinear(3).weight) == "<UninitializedParameter>"
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized parameter or buffer"):
        _ = g.weight.shape
    with pytest.raises(graphc.GraphcError, match="call the module once on a sample batch .* before creating the optimizer"):
        optim.Adam(g.parameters())
    assert isinstance(g.weight, gnn.Parameter) and isinstance(gnn.LazyBatchNorm1d().running_mean, gnn.UninitializedBuffer)
    with pytest.raises(ValueError, match="Attempted to use an uninitialized parameter"):  # torch's refusal (graphc added 0-element tensors)
        _ = g.weight + 1


def test_state_dict_of_an_uninitialized_module_holds_the_placeholders_as_torch() -> None:
    for name, args in (("LazyLinear", (3,)), ("LazyBatchNorm2d", ())):
        source, target = getattr(gnn, name)(*args), getattr(gnn, name)(*args)
        reference = getattr(torch.nn, name)(*args).state_dict()
        state = source.state_dict()
        assert [(k, type(v).__name__) for k, v in state.items()] == [(k, type(v).__name__) for k, v in reference.items()]
        assert str(target.load_state_dict(state)) == "<All keys matched successfully>"
        assert target.has_uninitialized_params()


def test_dtype_set_before_the_first_call_is_kept() -> None:
    g = gnn.LazyConv1d(2, 3).double()
    g(graphc.tensor(data(1, 2, 5, dtype="float64")))
    assert g.weight.dtype == g.bias.dtype == graphc.float64
    b = gnn.LazyBatchNorm1d(dtype=graphc.float64)
    b(graphc.tensor(data(4, 3, dtype="float64")))
    assert b.running_mean.dtype == graphc.float64 and b.num_batches_tracked.dtype == graphc.int64


def test_load_state_dict_materializes_and_the_first_call_completes_the_module() -> None:
    t = torch.nn.Linear(4, 3)
    g, reference = gnn.LazyLinear(3), torch.nn.LazyLinear(3)
    for module in (g, reference):
        module.load_state_dict(t.state_dict())
    assert type(g).__name__ == type(reference).__name__ == "LazyLinear" and repr(g) == repr(reference)
    assert tuple(g.weight.shape) == (3, 4)
    x = data(2, 4)
    np.testing.assert_allclose(g(graphc.tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-6)
    assert type(g) is gnn.Linear and g.in_features == 4


def test_a_first_call_inside_graphc_compile_is_refused() -> None:
    model = gnn.Sequential(gnn.LazyLinear(3), gnn.Tanh())
    with pytest.raises(graphc.GraphcError, match="LazyLinear: a lazy module infers its parameters' shapes from its first call"):
        graphc.compile(model)(graphc.tensor(data(2, 4)))


@pytest.mark.usefixtures("backend")
def test_compiled_training_after_a_dry_run_matches_torch(backend: str) -> None:
    g = gnn.Sequential(gnn.LazyLinear(3), gnn.Tanh(), gnn.LazyLinear(1)).double()
    t = torch.nn.Sequential(torch.nn.LazyLinear(3), torch.nn.Tanh(), torch.nn.LazyLinear(1)).double()
    x, y = data(4, 2, dtype="float64"), data(4, 1, dtype="float64")
    g(graphc.tensor(x))  # the dry run
    t(torch.tensor(x))
    g.load_state_dict(t.state_dict())
    g_opt, t_opt = optim.Adam(g.parameters(), lr=0.1), torch.optim.Adam(t.parameters(), lr=0.1)

    def step(inputs: graphc.Tensor, targets: graphc.Tensor) -> graphc.Tensor:
        g_opt.zero_grad()
        loss = ((g(inputs) - targets) ** 2).mean()
        loss.backward()
        g_opt.step()
        return loss

    compiled = graphc.compile(step)
    for _ in range(3):
        loss = compiled(graphc.tensor(x), graphc.tensor(y))
        t_opt.zero_grad()
        expected = ((t(torch.tensor(x)) - torch.tensor(y)) ** 2).mean()
        expected.backward()
        t_opt.step()
        assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    for (name, gp), tp in zip(g.named_parameters(), t.parameters()):
        np.testing.assert_allclose(gp.numpy(), tp.detach().numpy(), rtol=1e-12, err_msg=name)


def test_modules_keep_torchs_attributes_after_materialization() -> None:
    options = {"stride": 2, "output_padding": 1, "groups": 2, "bias": False}
    g, t = gnn.LazyConvTranspose2d(4, 3, **options), torch.nn.LazyConvTranspose2d(4, 3, **options)
    x = data(1, 6, 3, 3)
    g(graphc.tensor(x))
    t(torch.tensor(x))
    assert g.bias is None and (g.in_channels, g.out_channels, g.groups, g.output_padding) == (t.in_channels, t.out_channels, t.groups, t.output_padding)
    compare_modules(g, t, [x])
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        gnn.LazyConv1d(4, 3, groups=2)(graphc.tensor(data(1, 3, 5)))
