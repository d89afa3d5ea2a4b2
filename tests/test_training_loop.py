"""How an eager-looking training loop turns into programs: one program per step, and a
compiled step that traces once (or, when its first call creates optimizer state, once eagerly
and once for the replay)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from graphc import nn, optim
from graphc.frontend import lazy
from graphc.ir.graph import Graph


@pytest.fixture
def programs_run(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Graph]]:
    """Every graph the lazy runtime realizes (compiled or taken from its cache), in order."""
    lazy.realize([])  # state an earlier test left pending is not this test's
    graphs: list[Graph] = []
    original = lazy.get_program

    def recording(graph: Graph, backend: str) -> Any:
        graphs.append(graph)
        return original(graph, backend)

    monkeypatch.setattr(lazy, "get_program", recording)
    yield graphs


def model_and_data() -> tuple[nn.Module, graphc.Tensor, graphc.Tensor]:
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    return model, graphc.randn(8, 4), graphc.randn(8, 2)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_loss_read_after_the_step_comes_from_the_steps_program(name: str, programs_run: list[Graph]) -> None:
    """``loss.item()`` after ``opt.step()`` reads a value the step computed: one program per iteration."""
    model, x, y = model_and_data()
    opt = getattr(optim, name)(model.parameters(), lr=0.01)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert len(programs_run) == 3, [len(g.outputs) for g in programs_run]
    assert losses[2] < losses[0]
    again = F.mse_loss(model(x), y)  # the first loss was of the weights before any step
    assert again.item() < losses[0]


def test_loss_of_autograd_grad_is_realized_with_the_gradients(programs_run: list[Graph]) -> None:
    w = graphc.tensor([2.2], requires_grad=True)
    loss = ((graphc.tensor([1.1]) * w).sigmoid() - 1.0).square().sum()
    (grad,) = graphc.autograd.grad(loss, [w])
    grad.numpy()
    loss.item()
    assert len(programs_run) == 1


def test_backward_inside_a_compiled_function_does_not_defer_its_loss(programs_run: list[Graph]) -> None:
    model, x, y = model_and_data()
    step = graphc.compile(lambda a, b: F.mse_loss(model(a), b).backward())
    step(x, y)
    assert not lazy._deferred


@pytest.mark.parametrize("zero_grad_first", [True, False], ids=["zero_grad-first", "zero_grad-last"])
@pytest.mark.parametrize("use_module", [False, True], ids=["optimizer", "module"])
def test_compiled_step_with_zero_grad_inside_traces_once(zero_grad_first: bool, use_module: bool) -> None:
    model, x, y = model_and_data()
    opt = optim.SGD(model.parameters(), lr=0.1)
    zero_grad = model.zero_grad if use_module else opt.zero_grad
    eager_model, _, _ = model_and_data()
    eager_opt = optim.SGD(eager_model.parameters(), lr=0.1)

    def train_step(m: nn.Module, o: optim.Optimizer, zero: Any, a: graphc.Tensor, b: graphc.Tensor) -> graphc.Tensor:
        if zero_grad_first:
            zero()
        loss = F.mse_loss(m(a), b)
        loss.backward()
        o.step()
        if not zero_grad_first:
            zero()
        return loss

    compiled = graphc.compile(lambda a, b: train_step(model, opt, zero_grad, a, b))
    for _ in range(4):
        got = compiled(x, y).item()
        expected = train_step(eager_model, eager_opt, eager_opt.zero_grad, x, y).item()
        assert got == pytest.approx(expected, rel=1e-6)
    assert compiled.trace_count == 1, compiled.recompilations
    for p, q in zip(model.parameters(), eager_model.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-6, atol=1e-7)
        assert (p.grad is None) == (not zero_grad_first)  # as in the eager loop


def test_a_step_that_creates_state_runs_eagerly_once_then_replays_and_says_why() -> None:
    model, x, y = model_and_data()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    @graphc.compile
    def train_step(a: graphc.Tensor, b: graphc.Tensor) -> graphc.Tensor:
        opt.zero_grad()
        loss = F.mse_loss(model(a), b)
        loss.backward()
        opt.step()
        return loss

    for _ in range(4):
        train_step(x, y)
    assert train_step.trace_count == 2
    first, second = train_step.recompilations
    assert "ran eagerly because it created" in first
    assert "created state and ran eagerly" in second
    assert "new input signature" not in second
