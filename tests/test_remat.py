"""The remat pass: the backward keeps fewer forward bytes, recomputes cheap values, and computes the same gradients."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import graphc
import graphc.nn.functional as GF
from graphc.frontend import lazy
from graphc.ir import build as b
from graphc.ir.graph import Graph
from graphc.ir.primitives.source import source_node
from graphc.ir.registry import origin
from graphc.ir.types import TensorType
from graphc.ir.verifier import verify
from graphc.passes.autodiff import vjp
from graphc.passes.remat import remat, saved_for_backward
from graphc.passes.simplify import simplify

pytestmark = pytest.mark.usefixtures("numpy_kernels")  # C loops have their own tests (conftest.py)


def _mlp(nn: Any) -> Any:
    return nn.Sequential(nn.Linear(6, 12), nn.GELU(), nn.Linear(12, 3))


def _layernorm(nn: Any) -> Any:
    return nn.Sequential(nn.LayerNorm(6), nn.Linear(6, 3))


def _gelu(nn: Any) -> Any:
    return nn.Sequential(nn.Linear(6, 6), nn.GELU())


def _block(nn: Any) -> Any:
    class Block(nn.Module):
        """The transformer MLP block of graphc's benchmark: x + down(gelu(up(norm(x))))."""

        def __init__(self) -> None:
            super().__init__()
            self.norm, self.up, self.act, self.down = nn.LayerNorm(6), nn.Linear(6, 24), nn.GELU(), nn.Linear(24, 6)

        def forward(self, x: Any) -> Any:
            return x + self.down(self.act(self.up(self.norm(x))))

    return Block()


MODELS: dict[str, Callable[[Any], Any]] = {"mlp": _mlp, "layernorm": _layernorm, "gelu": _gelu, "block": _block}


def _train_graphc(make: Callable[[Any], Any], x: np.ndarray, remat_on: bool) -> tuple[Any, dict[str, np.ndarray], Any]:
    """A compiled training step in float64 (loss, backward, no update), its gradients and its report."""
    model = make(graphc.nn).to(graphc.float64)
    model.load_state_dict(_torch_model(make).state_dict())

    def step(batch: graphc.Tensor) -> graphc.Tensor:
        loss = (model(batch) ** 2).mean()
        loss.backward()
        return loss

    compiled = graphc.compile(step, remat=remat_on)
    loss = compiled(graphc.tensor(x))
    grads = {name: p.grad.numpy() for name, p in model.named_parameters()}
    return loss.item(), grads, compiled.report()


def _torch_model(make: Callable[[Any], Any]) -> torch.nn.Module:
    torch.manual_seed(0)
    return make(torch.nn).double()


def _train_torch(make: Callable[[Any], Any], x: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    model = _torch_model(make)
    loss = (model(torch.from_numpy(x)) ** 2).mean()
    loss.backward()
    return loss.item(), {name: p.grad.numpy() for name, p in model.named_parameters()}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_training_step_gradients_match_torch_with_remat_on_and_off(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHC_VERIFY", "1")  # the verifier runs after simplify and after remat
    x = np.random.default_rng(3).standard_normal((5, 6))
    expected_loss, expected = _train_torch(MODELS[name], x)
    for remat_on in (True, False):
        loss, grads, report = _train_graphc(MODELS[name], x, remat_on)
        assert loss == pytest.approx(expected_loss, rel=1e-12)
        assert list(grads) == list(expected)
        for key, value in expected.items():
            np.testing.assert_allclose(grads[key], value, rtol=1e-10, atol=1e-12, err_msg=f"{name}: gradient of {key} (remat={remat_on})")
        if remat_on:
            before, after = report.remat.at(report.sizes)
            assert after <= before
            assert "remat" in report.pass_times
        else:
            assert report.remat is None and "remat: off" in str(report)


def _joint_graph(fn: Callable[[graphc.Tensor, graphc.Tensor, graphc.Tensor], graphc.Tensor], *others: graphc.Tensor) -> Graph:
    """A training step's graph: the loss ``fn(x, w, bias).sum()`` and its gradients with respect
    to x, w, bias and the ``others`` that ``fn`` reads."""
    rng = np.random.default_rng(0)
    x = graphc.tensor(rng.standard_normal((4, 8)), requires_grad=True)
    w = graphc.tensor(rng.standard_normal((8, 16)), requires_grad=True)
    bias = graphc.tensor(rng.standard_normal(16), requires_grad=True)
    loss = fn(x, w, bias).sum()
    loss.backward()
    graph, _ = lazy.pending_graph([loss._node] + [t.grad._node for t in (x, w, bias, *others)])
    return simplify(graph)  # as compile_graph runs it before remat


def test_gelu_intermediates_are_recomputed_from_the_bias_add() -> None:
    graph = _joint_graph(lambda x, w, bias: GF.gelu(x @ w + bias))
    result, stats = remat(graph)
    verify(result)
    # Without remat the backward keeps 0.5*h, h/sqrt(2) and erf(h/sqrt(2))+1; with it, h alone,
    # and computes the four nodes (two muls, erf, add) of those three values again.
    assert [n.op for n in stats.saved] == ["add"] and stats.saved[0].shape == (4, 16)
    assert stats.saved_bytes_after == 4 * 16 * 8
    assert stats.saved_bytes_before == 3 * stats.saved_bytes_after
    assert stats.recomputed == 4
    recomputed = [n for n in result.nodes if n.phase == "backward" and n.op == "erf"]
    assert len(recomputed) == 1, "the backward computes erf again"


def test_a_value_max_s_gradient_compares_with_its_max_is_saved_not_recomputed() -> None:
    """amax's gradient masks ``s == amax(s)``: computed again in the backward, ``s = sigmoid(h)`` may
    differ in its last bit from the forward's (the C loops' vectorized exp is not libm's), which
    empties the mask and zeroes the gradient (fuzzer seed 20 with C loops). Without the mask,
    remat recomputes sigmoid from the input, which costs no saved bytes."""
    graph = _joint_graph(lambda x, w, bias: x.sigmoid().amax(-1, keepdim=True) * (w.sum() + bias.sum()))
    result, stats = remat(graph)
    verify(result)
    assert "sigmoid" in [n.op for n in stats.saved]
    assert all(n.op != "sigmoid" for n in result.nodes if n.phase == "backward")
    unmasked = _joint_graph(lambda x, w, bias: x.sigmoid().sum(-1, keepdim=True) * (w.sum() + bias.sum()))
    assert any(n.op == "sigmoid" for n in remat(unmasked)[0].nodes if n.phase == "backward")


def test_a_value_the_backward_compares_with_a_constant_is_still_recomputed() -> None:
    """``s == 0`` (pow's and xlogy's gradients ask it) is as robust to the last bit as ``s > 0``:
    only a comparison of two computed values pins ``s`` to the forward's bits."""
    x = source_node(TensorType((4, 16), graphc.float64))
    s = b.unary("sigmoid", x)
    with origin("backward"):
        grad = b.where(b.compare("eq", s, 0.0), 0.0, b.mul(s, s))
    result, stats = remat(Graph([x], [b.reduce("sum", s), grad]))
    verify(result)
    assert stats.saved == [] and stats.recomputed == 1
    assert any(n.op == "sigmoid" for n in result.nodes if n.phase == "backward")


def test_a_matmul_output_is_saved_not_recomputed() -> None:
    graph = _joint_graph(lambda x, w, bias: GF.gelu(x @ w) + bias)
    result, stats = remat(graph)
    verify(result)
    assert [n.op for n in stats.saved] == ["matmul"]
    assert all(n.op != "matmul" for n in result.nodes if n.phase == "backward" and n.shape == (4, 16))


def test_values_read_by_a_backward_matmul_are_saved() -> None:
    """gelu's output feeds the next layer, whose weight gradient is a matmul reading it: recomputed, it
    would be a kernel of its own and run in the forward anyway, so it stays saved."""
    second = graphc.tensor(np.random.default_rng(1).standard_normal((16, 2)), requires_grad=True)
    graph = _joint_graph(lambda x, w, bias: GF.gelu(x @ w + bias) @ second, second)
    result, stats = remat(graph)
    verify(result)
    assert sorted(n.op for n in stats.saved) == ["add", "mul"]
    assert stats.saved_bytes_after < stats.saved_bytes_before


def test_a_cheaper_value_is_kept_rather_than_recomputed_from_a_larger_one() -> None:
    """The backward reads a bool mask of a matmul's result: keeping the mask (1 byte an element)
    beats keeping the float64 result it is computed from (8 bytes), so nothing is recomputed."""
    x, w = source_node(TensorType((4, 8), graphc.float64)), source_node(TensorType((8, 16), graphc.float64))
    y = b.matmul(x, w)
    mask = b.compare("gt", y, 0.0)
    forward_out = b.where(mask, y, 0.0)
    with origin("backward"):
        grad = b.where(mask, b.full_like(y, 1.0), 0.0)
    graph = Graph([x, w], [forward_out, grad])
    result, stats = remat(graph)
    verify(result)
    assert [n.op for n in stats.saved] == ["gt"] and stats.recomputed == 0
    assert stats.saved_bytes_after == stats.saved_bytes_before == 4 * 16


def test_a_graph_without_backward_is_left_alone() -> None:
    x = source_node(TensorType((3, 4), graphc.float32))
    graph = Graph([x], [b.unary("exp", x)])
    result, stats = remat(graph)
    assert result is graph and stats.saved_bytes_before == stats.saved_bytes_after == 0


def test_report_shows_saved_bytes_at_the_call_sizes() -> None:
    model = _block(graphc.nn)

    def step(batch: graphc.Tensor) -> None:
        model(batch).sum().backward()

    compiled = graphc.compile(step)
    compiled(graphc.randn(32, 6))
    report = compiled.report()
    before, after = report.remat.at(report.sizes)
    assert isinstance(before, int) and isinstance(after, int) and after < before
    assert report.remat.recomputed > 0
    assert f"{after} B ({before} B without remat)" in str(report)


def test_split_programs_save_the_bias_add_and_recompute_gelu() -> None:
    """For imported torch modules the forward and backward are separate programs: remat decides the
    values the forward hands to the backward."""
    x, w, bias = (source_node(TensorType(s, graphc.float64), "parameter", requires_grad=True) for s in ((4, 8), (8, 16), (16,)))
    with graphc.enable_grad():
        h = b.add(b.matmul(x, w), bias)
        out = GF.gelu(graphc.Tensor._from_node(h))._node
        grads = vjp([out], [source_node(out.type)], [x, w, bias])
    saved, stats = saved_for_backward([out], grads)
    assert [n.op for n in stats.saved] == ["add"]
    assert {id(n) for n in saved} == {id(x), id(w), id(h)}
    _, all_stats = saved_for_backward([out], grads, enabled=False)
    assert all_stats.saved_bytes_after == all_stats.saved_bytes_before > stats.saved_bytes_after


class TorchBlock(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm, self.up, self.down = torch.nn.LayerNorm(6), torch.nn.Linear(6, 24), torch.nn.Linear(24, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(torch.nn.functional.gelu(self.up(self.norm(x))))


@pytest.mark.parametrize("remat_on", [True, False])
def test_imported_torch_module_trains_the_same_with_remat_on_and_off(remat_on: bool) -> None:
    torch.manual_seed(0)
    model = TorchBlock().double()
    compiled = graphc.compile(copy.deepcopy(model), backend="numpy", remat=remat_on)
    x = torch.randn(5, 6, dtype=torch.float64)
    model(x).pow(2).mean().backward()
    compiled(x).pow(2).mean().backward()
    for (name, expected), got in zip(model.named_parameters(), compiled.parameters()):
        torch.testing.assert_close(got.grad, expected.grad, rtol=1e-10, atol=1e-12, msg=f"gradient of {name}")
    stats = compiled.report().remat
    before, after = stats.at(compiled.report().sizes)
    assert after < before if remat_on else after == before
