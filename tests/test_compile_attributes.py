"""graphc.compile of code that binds module attributes to tensors it computes (``self.ema = ...``).

Each call binds the attribute to that call's tensor, as eager code does, from one program: the
function is traced once, not run eagerly on every call, and the values match torch's.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import graphc
from graphc import nn

# Every test here runs on each backend (numpy, and triton under TRITON_INTERPRET=1 on a CPU).
pytestmark = pytest.mark.usefixtures("backend")

X = np.random.default_rng(0).standard_normal((3, 4))


class Smoothed(nn.Module):
    """A layer keeping a moving average of its outputs in a buffer, rebound on every call."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.register_buffer("ema", graphc.zeros(4, dtype=graphc.float64))

    def forward(self, x: graphc.Tensor) -> graphc.Tensor:
        out = self.lin(x)
        self.ema = 0.9 * self.ema + 0.1 * out.detach().mean(0)
        self.last = out.detach()  # a plain attribute, not a buffer
        return out.sum()


class TorchSmoothed(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)
        self.register_buffer("ema", torch.zeros(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.lin(x)
        self.ema = 0.9 * self.ema + 0.1 * out.detach().mean(0)
        self.last = out.detach()
        return out.sum()


def pair() -> tuple[Smoothed, TorchSmoothed]:
    torch.manual_seed(0)
    reference = TorchSmoothed().double()
    model = Smoothed().double()
    model.load_state_dict(reference.state_dict())
    return model, reference


def test_a_rebound_buffer_and_attribute_follow_torch_over_many_calls_from_one_trace() -> None:
    model, reference = pair()
    compiled = graphc.compile(model)
    seen, expected_seen = [], []
    for step in range(5):
        x = X * (step + 1)
        out = compiled(graphc.tensor(x))
        expected = reference(torch.tensor(x))
        np.testing.assert_allclose(out.item(), expected.item(), rtol=1e-12)
        np.testing.assert_allclose(model.ema.numpy(), reference.ema.numpy(), rtol=1e-12)
        np.testing.assert_allclose(model.last.numpy(), reference.last.numpy(), rtol=1e-12)
        seen.append(model.last)
        expected_seen.append(reference.last)
    assert compiled.trace_count == 1, compiled.recompilations
    # Each call bound a tensor of its own, as eager code does: earlier ones keep their values.
    for mine, theirs in zip(seen, expected_seen):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-12)
    assert dict(model.named_buffers())["ema"] is model.ema  # still a buffer, so in the state dict
    np.testing.assert_array_equal(model.state_dict()["ema"].numpy(), model.ema.numpy())


def test_a_buffer_rebound_outside_between_calls_is_read_at_its_new_value() -> None:
    model, reference = pair()
    compiled = graphc.compile(model)
    for _ in range(2):
        compiled(graphc.tensor(X))
        reference(torch.tensor(X))
    model.ema = graphc.ones(4, dtype=graphc.float64)
    reference.ema = torch.ones(4, dtype=torch.float64)
    compiled(graphc.tensor(X))
    reference(torch.tensor(X))
    np.testing.assert_allclose(model.ema.numpy(), reference.ema.numpy(), rtol=1e-12)
    assert compiled.trace_count == 1, compiled.recompilations


def test_a_buffer_rebound_to_another_shape_traces_again() -> None:
    model, _ = pair()
    compiled = graphc.compile(model)
    compiled(graphc.tensor(X))
    compiled(graphc.tensor(X))
    model.ema = graphc.zeros(1, dtype=graphc.float64)  # broadcasts: the program read a [4]
    compiled(graphc.tensor(X))
    assert compiled.trace_count == 2
    assert "Smoothed.ema, which the function reads, is now f64[1], not f64[4]" in compiled.recompilations[-1]
    assert tuple(model.ema.shape) == (4,)


def test_an_attribute_bound_to_the_returned_tensor_is_that_tensor() -> None:
    holder = nn.Module()

    @graphc.compile
    def double(x: graphc.Tensor) -> graphc.Tensor:
        y = x * 2
        holder.last = y
        return y

    for scale in (1.0, 3.0):
        out = double(graphc.tensor(X * scale))
        assert holder.last is out
        np.testing.assert_allclose(out.numpy(), X * scale * 2)
    assert double.trace_count == 1


def test_an_attribute_bound_to_a_tensor_from_outside_the_call_runs_eagerly_and_right() -> None:
    holder = nn.Module()
    a, b = graphc.tensor(X), graphc.tensor(-X)

    @graphc.compile
    def pick(flag: graphc.Tensor) -> graphc.Tensor:
        holder.chosen = a  # an existing tensor: no program result can be that object
        return flag * 1

    holder.chosen = b
    pick(graphc.ones(1))
    assert holder.chosen is a
    holder.chosen = b
    pick(graphc.ones(1))
    assert holder.chosen is a
    assert "bound module attribute(s) Module.chosen to tensors from outside the call" in pick.recompilations[0]
    with pytest.raises(graphc.errors.GraphcError, match="every call so far ran eagerly, so there is no compiled program yet"):
        pick.report()


def test_an_attribute_rebound_beside_a_result_returned_twice_gets_its_own_value() -> None:
    """The replay binds a rebound attribute from the program's outputs after the results; a result
    returned twice must not move that count (it did: the attribute got the twice-returned result)."""
    holder = nn.Module()
    holder.state = graphc.zeros(4, dtype=graphc.float64)

    def step(x: graphc.Tensor) -> tuple[graphc.Tensor, graphc.Tensor]:
        z = x.sum(0)
        holder.state = holder.state * 0.5 + x[0]
        return z, z

    compiled = graphc.compile(step)
    expected = np.zeros(4)
    for _ in range(3):  # the trace's call and two replays
        first, second = compiled(graphc.tensor(X))
        expected = expected * 0.5 + X[0]
        assert first is second
        np.testing.assert_allclose(holder.state.numpy(), expected, rtol=1e-12)
