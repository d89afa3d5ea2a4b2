"""``nn.AdaptiveLogSoftmaxWithLoss`` and fractional max pooling against torch: the same values, indices and
gradients with the same weights (and, for the pools, the same ``_random_samples``)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from helpers import assert_matches, data
from nn_compare import compare_functions, compare_modules

import graphc
import graphc.nn as gnn

RNG = np.random.default_rng(5)


def _pair(*args: object, **kwargs: object) -> tuple[gnn.AdaptiveLogSoftmaxWithLoss, torch.nn.AdaptiveLogSoftmaxWithLoss]:
    t = torch.nn.AdaptiveLogSoftmaxWithLoss(*args, **kwargs).double()
    g = gnn.AdaptiveLogSoftmaxWithLoss(*args, **kwargs).double()
    g.load_state_dict(t.state_dict())
    return g, t


@pytest.mark.parametrize("head_bias", [False, True])
def test_adaptive_log_softmax_output_loss_and_gradients_as_torch(head_bias: bool) -> None:
    g, t = _pair(8, 10, [3, 6], div_value=2.0, head_bias=head_bias)
    assert repr(g) == repr(t) and list(g.state_dict()) == list(t.state_dict())
    target = np.array([0, 4, 9, 2, 7, 5])  # the head's classes and both clusters
    compare_modules(g, t, [data(6, 8, dtype="float64"), target])
    out = g(graphc.tensor(data(6, 8, dtype="float64")), graphc.tensor(target))
    assert out._fields == ("output", "loss") and out.output.shape == (6,) and out.loss.shape == ()


def test_adaptive_log_softmax_log_prob_predict_and_one_sample_as_torch() -> None:
    g, t = _pair(6, 9, [2, 4, 7], div_value=1.5)
    x = data(7, 6, dtype="float64") * 3
    assert_matches(g.log_prob(graphc.tensor(x)), t.log_prob(torch.tensor(x)))
    assert_matches(g.predict(graphc.tensor(x)), t.predict(torch.tensor(x)))
    head_wins = np.abs(data(7, 6, dtype="float64"))  # rows where the head's choice is a frequent class, and others
    assert_matches(g.predict(graphc.tensor(head_wins)), t.predict(torch.tensor(head_wins)))
    got, expected = g(graphc.tensor(x[0]), graphc.tensor(np.array(8))), t(torch.tensor(x[0]), torch.tensor(8))
    assert_matches(list(got), list(expected))


def test_adaptive_log_softmax_refuses_what_torch_refuses() -> None:
    for cutoffs in ([], [3, 2], [0, 3], [3, 10], [3, 3]):
        with pytest.raises(ValueError) as expected:
            torch.nn.AdaptiveLogSoftmaxWithLoss(4, 10, cutoffs)
        with pytest.raises(ValueError, match=f"^{expected.value}$"):
            gnn.AdaptiveLogSoftmaxWithLoss(4, 10, cutoffs)
    g, t = _pair(4, 10, [3])
    x = data(3, 4, dtype="float64")
    for inputs, target in [(x, np.array([0, 10, 1])), (x, np.array([0, 1])), (x[0], np.array([1, 2])), (x, np.zeros((3, 1), dtype=np.int64))]:
        with pytest.raises(RuntimeError) as expected:
            t(torch.tensor(inputs), torch.tensor(target))
        with pytest.raises(RuntimeError, match=f"^{re.escape(str(expected.value))}$"):
            g(graphc.tensor(inputs), graphc.tensor(target))


@pytest.mark.usefixtures("backend")
def test_adaptive_log_softmax_compiles(backend: str) -> None:
    g, t = _pair(4, 6, [2], div_value=2.0)
    x, target = data(3, 4, dtype="float64"), np.array([0, 3, 5])

    def loss_and_grad(inputs: graphc.Tensor, labels: graphc.Tensor) -> graphc.Tensor:
        g.zero_grad()
        loss = g(inputs, labels).loss
        loss.backward()
        return loss

    loss = graphc.compile(loss_and_grad)(graphc.tensor(x), graphc.tensor(target))
    expected = t(torch.tensor(x), torch.tensor(target)).loss
    expected.backward()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    np.testing.assert_allclose(g.head.weight.grad.numpy(), t.head.weight.grad.numpy(), rtol=1e-10)


FRACTIONAL = [
    (2, (2, 3, 9, 11), (2, 3), {"output_size": (5, 4)}),
    (2, (3, 9, 7), 2, {"output_size": (4, 3)}),  # unbatched
    (2, (2, 2, 8, 10), 3, {"output_ratio": (0.5, 0.7)}),
    (2, (1, 2, 5, 6), (2, 2), {"output_size": 1}),  # one window: only the last offset
    (3, (1, 2, 7, 6, 8), (2, 2, 3), {"output_size": (3, 4, 2)}),
    (3, (2, 5, 4, 6), 2, {"output_ratio": 0.6}),  # unbatched
]


def _samples(shape: tuple, spatial: int, dtype: str) -> np.ndarray:
    batch = shape[0] if len(shape) == spatial + 2 else 1
    return RNG.random((batch, shape[-spatial - 1], spatial)).astype(dtype)


@pytest.mark.parametrize("spatial, shape, kernel, sizes", FRACTIONAL)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fractional_max_pool_with_given_samples_matches_torch(spatial: int, shape: tuple, kernel: object, sizes: dict, dtype: str) -> None:
    """torch's window offsets are computed in the input's dtype: float32 and float64 both match exactly."""
    x, samples = data(*shape, dtype=dtype), _samples(shape, spatial, dtype)
    name = f"fractional_max_pool{spatial}d"
    got = getattr(graphc.nn.functional, name)(graphc.tensor(x), kernel, **sizes, return_indices=True, _random_samples=graphc.tensor(samples))
    expected = getattr(torch.nn.functional, name)(torch.tensor(x), kernel, **sizes, return_indices=True, _random_samples=torch.tensor(samples))
    assert_matches(list(got), list(expected), rtol=0, atol=0)
    if dtype == "float64":
        compare_functions(
            lambda t, s: getattr(graphc.nn.functional, name)(t, kernel, **sizes, _random_samples=s),
            lambda t, s: getattr(torch.nn.functional, name)(t, kernel, **sizes, _random_samples=s),
            [x, samples],
            grad_mask=[True, False],
        )


def test_fractional_max_pool_modules_as_torch() -> None:
    samples = _samples((2, 3, 6, 7), 2, "float64")
    g = gnn.FractionalMaxPool2d(2, output_size=(3, 4), _random_samples=graphc.tensor(samples))
    t = torch.nn.FractionalMaxPool2d(2, output_size=(3, 4), _random_samples=torch.tensor(samples))
    compare_modules(g, t, [data(2, 3, 6, 7, dtype="float64")])
    samples3 = _samples((1, 2, 5, 5, 6), 3, "float64")
    g3 = gnn.FractionalMaxPool3d((2, 2, 3), output_ratio=0.5, return_indices=True, _random_samples=graphc.tensor(samples3))
    t3 = torch.nn.FractionalMaxPool3d((2, 2, 3), output_ratio=0.5, return_indices=True, _random_samples=torch.tensor(samples3))
    compare_modules(g3, t3, [data(1, 2, 5, 5, 6, dtype="float64")])
    for kwargs in ({}, {"output_size": 2, "output_ratio": 0.5}, {"output_ratio": 1.5}):
        with pytest.raises(ValueError) as expected:
            torch.nn.FractionalMaxPool2d(2, **kwargs)
        with pytest.raises(ValueError, match=f"^{re.escape(str(expected.value))}$"):
            gnn.FractionalMaxPool2d(2, **kwargs)


def test_fractional_max_pool_draws_samples_when_none_are_given() -> None:
    """Samples from graphc's generator (not torch's stream): every output is the maximum its index names,
    and two calls pick different windows."""
    x = graphc.tensor(data(2, 3, 20, 20))
    pool = gnn.FractionalMaxPool2d(3, output_ratio=0.5, return_indices=True)
    (first, first_indices), (_, second_indices) = pool(x), pool(x)
    assert first.shape == (2, 3, 10, 10)
    flat = x.numpy().reshape(2, 3, -1)
    np.testing.assert_array_equal(np.take_along_axis(flat, first_indices.numpy().reshape(2, 3, -1), 2).reshape(first.shape), first.numpy())
    assert not np.array_equal(first_indices.numpy(), second_indices.numpy())


def test_fractional_max_pool_refuses_what_torch_refuses() -> None:
    x = data(2, 3, 9, 11)
    for kwargs in (
        {"output_size": (8, 4)},
        {"output_size": (3, 3), "_random_samples": RNG.random((2, 3, 3)).astype(np.float32)},
        {"output_size": (3, 3), "_random_samples": RNG.random((1, 3, 2)).astype(np.float32)},
        {"output_size": (3, 3), "_random_samples": RNG.random((2, 3, 2))},
    ):
        samples = kwargs.pop("_random_samples", None)
        with pytest.raises(RuntimeError) as expected:
            torch.nn.functional.fractional_max_pool2d(torch.tensor(x), 3, _random_samples=None if samples is None else torch.tensor(samples), **kwargs)
        with pytest.raises(RuntimeError, match=re.escape(str(expected.value))):
            graphc.nn.functional.fractional_max_pool2d(graphc.tensor(x), 3, _random_samples=None if samples is None else graphc.tensor(samples), **kwargs)


@pytest.mark.usefixtures("backend")
def test_fractional_max_pool_on_each_backend(backend: str) -> None:
    x, samples = data(1, 2, 5, 6), _samples((1, 2, 5, 6), 2, "float32")
    got = graphc.nn.functional.fractional_max_pool2d(graphc.tensor(x), 2, (3, 3), return_indices=True, _random_samples=graphc.tensor(samples))
    expected = torch.nn.functional.fractional_max_pool2d(torch.tensor(x), 2, (3, 3), return_indices=True, _random_samples=torch.tensor(samples))
    assert_matches(list(got), list(expected), rtol=0, atol=0)
