"""The long tail of torch.nn against torch: in-place functional activations, the ``*_with_indices`` pools,
``lp_pool3d``/``LPPool3d``, ``pdist``, ``NLLLoss2d``, ``SyncBatchNorm``, ``RNNCellBase``, ``DataParallel``,
``conv_tbc`` and ``native_channel_shuffle``."""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data
from nn_compare import compare_modules
from torch_grads import check_grads

import graphc
import graphc.nn as gnn

INPLACE = [
    ("relu_", ()),
    ("elu_", (0.7,)),
    ("celu_", (0.5,)),  # torch's celu gradient rounds 1 / alpha to float32: 0.5 keeps it exact
    ("selu_", ()),
    ("leaky_relu_", (0.2,)),
    ("hardtanh_", (-0.5, 0.8)),
    ("rrelu_", (0.1, 0.3)),  # eval mode: the mean slope
    ("threshold_", (0.1, -2.0)),
]


@pytest.mark.parametrize("name, args", INPLACE, ids=[n for n, _ in INPLACE])
def test_inplace_activation_writes_its_input_and_differentiates_as_torch(name: str, args: tuple) -> None:
    def fn(lib: Any, x: Any) -> Any:
        y = x * 1.5
        out = getattr(lib.nn.functional, name)(y, *args)
        assert out is y
        return y

    check_grads(fn, data(3, 5, dtype="float64"))


@pytest.mark.usefixtures("backend")
def test_inplace_activation_on_each_backend(backend: str) -> None:
    x = data(2, 3)
    g, t = graphc.tensor(x), torch.tensor(x)
    graphc.nn.functional.elu_(g, 0.5)
    torch.nn.functional.elu_(t, 0.5)
    assert_matches(g, t)


@pytest.mark.parametrize("name, args", INPLACE[:3], ids=[n for n, _ in INPLACE[:3]])
def test_inplace_activation_refuses_a_leaf_that_requires_grad_as_torch(name: str, args: tuple) -> None:
    x = data(4, dtype="float64")
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        getattr(torch.nn.functional, name)(torch.tensor(x, requires_grad=True), *args)
    leaf = graphc.tensor(x, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf tensor that requires grad is being used in an in-place operation"):
        getattr(graphc.nn.functional, name)(leaf, *args)
    with graphc.no_grad():
        getattr(graphc.nn.functional, name)(leaf, *args)
    with torch.no_grad():
        expected = getattr(torch.nn.functional, name)(torch.tensor(x, requires_grad=True), *args)
    np.testing.assert_allclose(leaf.detach().numpy(), expected.detach().numpy(), rtol=1e-12)


def test_rrelu_in_training_scales_negatives_by_a_slope_in_range() -> None:
    x = graphc.tensor(-np.linspace(1.0, 2.0, 200))
    before = x.numpy().copy()
    graphc.nn.functional.rrelu_(x, 0.1, 0.3, training=True)
    slopes = x.numpy() / before
    assert slopes.min() >= 0.1 and slopes.max() < 0.3 and np.unique(slopes).size > 100


POOLS = [
    ("max_pool1d_with_indices", (2, 3), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ("max_pool2d_with_indices", (1, 2, 5, 4), {"kernel_size": 2, "ceil_mode": True}),
    ("max_pool3d_with_indices", (1, 1, 4, 4, 3), {"kernel_size": 2, "dilation": 1, "stride": 1}),
    ("adaptive_max_pool1d_with_indices", (2, 7), {"output_size": 3}),
    ("adaptive_max_pool2d_with_indices", (1, 2, 5, 5), {"output_size": (2, 3)}),
    ("adaptive_max_pool3d_with_indices", (1, 1, 4, 3, 5), {"output_size": 2}),
]


@pytest.mark.parametrize("name, shape, kwargs", POOLS, ids=[p[0] for p in POOLS])
def test_pools_with_indices_return_values_and_indices_as_torch(name: str, shape: tuple, kwargs: dict) -> None:
    """torch's names always return ``(output, indices)``, whatever ``return_indices`` says."""
    check_grads(lambda lib, x: getattr(lib.nn.functional, name)(x, **kwargs, return_indices=False), data(*shape, dtype="float64"))


LP_POOLS = [(2.0, {"kernel_size": 2}), (1.5, {"kernel_size": (2, 1, 2), "stride": 1, "ceil_mode": True}), (float("inf"), {"kernel_size": 2})]


@pytest.mark.parametrize("norm_type, kwargs", LP_POOLS)
def test_lp_pool3d_and_its_module_as_torch(norm_type: float, kwargs: dict) -> None:
    x = np.abs(data(2, 2, 3, 4, 5, dtype="float64")) + 0.1  # positive: a fractional power of a negative is NaN in both
    check_grads(lambda lib, t: lib.nn.functional.lp_pool3d(t, norm_type, **kwargs), x)
    compare_modules(gnn.LPPool3d(norm_type, **kwargs), torch.nn.LPPool3d(norm_type, **kwargs), [x[0]])
    assert repr(gnn.LPPool3d(norm_type, **kwargs)) == repr(torch.nn.LPPool3d(norm_type, **kwargs))


@pytest.mark.parametrize("p", [2.0, 1.0, 0.5, 3.0, float("inf")])
def test_pdist_values_and_gradients_as_torch(p: float) -> None:
    x = data(5, 3, dtype="float64")
    x[3] = x[1]  # a zero distance: torch's gradient there is 0
    x[4, 0] = x[0, 0]  # a zero component (|d|^(p-1) is infinite for p < 1: torch takes 0)
    check_grads(lambda lib, t: lib.nn.functional.pdist(t, p), x)


def test_pdist_with_p_zero_counts_differing_components() -> None:
    """Values only: graphc's ``vector_norm(ord=0)`` has no gradient (torch's is a zero one)."""
    x = np.round(data(5, 3, dtype="float64"))
    assert_matches(graphc.nn.functional.pdist(graphc.tensor(x), 0.0), torch.nn.functional.pdist(torch.tensor(x), 0.0))


@pytest.mark.usefixtures("backend")
def test_pdist_on_each_backend(backend: str) -> None:
    x = data(4, 3)
    assert_matches(graphc.nn.functional.pdist(graphc.tensor(x)), torch.nn.functional.pdist(torch.tensor(x)))
    assert graphc.nn.functional.pdist(graphc.tensor(x[:1])).shape == (0,)


def test_pdist_refuses_what_torch_refuses() -> None:
    for x, p, message in [(data(2, 3, 4), 2.0, "pdist only supports 2D tensors, got: 3D"), (data(3, 4), -1.0, "pdist only supports non-negative p values")]:
        with pytest.raises(RuntimeError, match=message):
            torch.nn.functional.pdist(torch.tensor(x), p)
        with pytest.raises(RuntimeError, match=message):
            graphc.nn.functional.pdist(graphc.tensor(x), p)


def test_nll_loss_2d_is_nll_loss_with_torchs_warning() -> None:
    with pytest.warns(FutureWarning, match="`NLLLoss2d` has been deprecated"):
        module = gnn.NLLLoss2d(ignore_index=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        reference = torch.nn.NLLLoss2d(ignore_index=1)
    assert isinstance(module, gnn.NLLLoss)
    target = np.random.default_rng(0).integers(0, 3, size=(2, 4, 5))
    compare_modules(module, reference, [np.log(data(2, 3, 4, 5, positive=True).astype(np.float64)), target])


def test_sync_batch_norm_is_batch_norm_in_one_process() -> None:
    g, t = gnn.SyncBatchNorm(3, momentum=0.3), torch.nn.SyncBatchNorm(3, momentum=0.3)
    for module in (g, t):
        module.train()
    compare_modules(g, t, [data(4, 3, 2, 2, 2)])
    for name, buffer in t.named_buffers():
        np.testing.assert_allclose(dict(g.named_buffers())[name].numpy(), buffer.numpy(), rtol=1e-12)
    g.eval()
    t.eval()
    compare_modules(g, t, [data(5, 3)])
    assert repr(g) == repr(t)
    with pytest.raises(ValueError, match=r"^expected at least 2D input \(got 1D input\)$"):
        g(graphc.tensor(data(3)))


def test_convert_sync_batchnorm_replaces_batch_norms_sharing_their_tensors() -> None:
    inner = gnn.BatchNorm1d(4)
    model = gnn.Sequential(gnn.Linear(3, 4), inner, gnn.Sequential(gnn.BatchNorm2d(2), gnn.InstanceNorm1d(2)))
    model.eval()
    converted = gnn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert converted is model
    assert [type(m).__name__ for m in converted.modules()] == ["Sequential", "Linear", "SyncBatchNorm", "Sequential", "SyncBatchNorm", "InstanceNorm1d"]
    assert converted[1].weight is inner.weight and converted[1].running_mean is inner.running_mean
    assert not converted[1].training
    assert type(gnn.SyncBatchNorm.convert_sync_batchnorm(gnn.BatchNorm3d(2))) is gnn.SyncBatchNorm


def test_cells_derive_from_rnn_cell_base_with_torchs_arguments() -> None:
    assert all(issubclass(cell, gnn.RNNCellBase) for cell in (gnn.RNNCell, gnn.LSTMCell, gnn.GRUCell))

    class TwoGateCell(gnn.RNNCellBase):  # a user's cell, written against torch's base
        def __init__(self, input_size: int, hidden_size: int) -> None:
            super().__init__(input_size, hidden_size, bias=False, num_chunks=2)

    cell = TwoGateCell(3, 5)
    reference = torch.nn.RNNCellBase(3, 5, bias=False, num_chunks=2)
    assert [(n, tuple(p.shape)) for n, p in cell.named_parameters()] == [(n, tuple(p.shape)) for n, p in reference.named_parameters()]
    compare_modules(gnn.GRUCell(3, 4), torch.nn.GRUCell(3, 4), [data(2, 3), data(2, 4)])


def test_data_parallel_on_one_device_calls_the_module() -> None:
    g, t = gnn.DataParallel(gnn.Linear(3, 2)), torch.nn.DataParallel(torch.nn.Linear(3, 2))
    assert list(g.state_dict()) == list(t.state_dict()) == ["module.weight", "module.bias"]
    compare_modules(g, t, [data(4, 3)])
    with pytest.raises(graphc.GraphcError, match="DataParallel: replicating the module over devices"):
        gnn.DataParallel(gnn.Linear(3, 2), device_ids=[0, 1])


@pytest.mark.parametrize("pad", [0, 2])
def test_conv_tbc_values_and_gradients_as_torch(pad: int) -> None:
    operands = data(6, 2, 3, dtype="float64"), data(3, 3, 4, dtype="float64"), data(4, dtype="float64")
    check_grads(lambda lib, x, w, b: lib.nn.functional.conv_tbc(x, w, b, pad), *operands)


def test_conv_tbc_refuses_what_torch_refuses() -> None:
    x, w, b = data(5, 2, 3), data(2, 3, 4), data(4)
    for args in [(x[0], w, b), (x, w[0], b), (x, w, b[:, None]), (x, data(2, 2, 4), b), (x, w, data(3))]:
        with pytest.raises(RuntimeError) as expected:
            torch.nn.functional.conv_tbc(*(torch.tensor(a) for a in args))
        with pytest.raises(RuntimeError, match=re.escape(str(expected.value))):
            graphc.nn.functional.conv_tbc(*(graphc.tensor(a) for a in args))


def test_native_channel_shuffle_is_channel_shuffle() -> None:
    x = data(2, 6, 3)
    assert_matches(graphc.nn.functional.native_channel_shuffle(graphc.tensor(x), 3), torch.nn.functional.native_channel_shuffle(torch.tensor(x), 3))
