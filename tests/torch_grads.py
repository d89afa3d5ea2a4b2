"""Shared checks of the op-family suites (test_ops_manipulation, test_ops_linalg_more,
test_ops_reduction_more, test_ops_scatter, test_ops_sorting): one function ``fn(T, *tensors)`` written once for ``T`` = graphc and
torch, compared on values and float64 gradients, eagerly and compiled at two batch sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from helpers import assert_matches

import graphc

RNG = np.random.default_rng(2024)


def _outputs(result: Any) -> list:
    return list(result) if isinstance(result, (tuple, list)) else [result]


def _differentiable(results: list) -> list:
    return [r for r in results if r.dtype.is_floating_point]


def check_grads(fn: Callable[..., Any], *arrays: np.ndarray, rtol: float = 1e-9, atol: float = 1e-10) -> None:
    """Values, and the gradients of a random weighting of every float result, against torch.autograd in float64."""
    ours = [graphc.tensor(a.copy(), requires_grad=True) if a.dtype.kind == "f" else graphc.tensor(a.copy()) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=a.dtype.kind == "f") for a in arrays]
    got, expected = _outputs(fn(graphc, *ours)), _outputs(fn(torch, *theirs))
    assert_matches(got, expected, rtol, atol)
    weights = [RNG.standard_normal(tuple(e.shape)) for e in _differentiable(expected)]
    loss = sum(((g * graphc.tensor(w)).sum() for g, w in zip(_differentiable(got), weights)), graphc.tensor(0.0))
    reference = sum((e * torch.tensor(w)).sum() for e, w in zip(_differentiable(expected), weights))
    loss.backward()
    reference.backward()
    for g, t in zip(ours, theirs):
        if t.requires_grad:
            want = torch.zeros_like(t) if t.grad is None else t.grad
            assert g.grad is not None, "graphc produced no gradient where torch did"
            np.testing.assert_allclose(g.grad.numpy(), want.numpy(), rtol=rtol, atol=atol)


def check_compiled_batches(
    fn: Callable[..., Any],
    make: Callable[[int], tuple[np.ndarray, ...]],
    backend: str,
    rtol: float = 1e-9,
    atol: float = 1e-9,
    batches: tuple[int, int] = (3, 5),
) -> None:
    """``fn`` under graphc.compile at two batch sizes: one program with the symbol B, values and gradients as torch's."""

    def step(*tensors: graphc.Tensor) -> tuple:
        results = _outputs(fn(graphc, *tensors))
        sum((r.double().sum() for r in _differentiable(results)), graphc.tensor(0.0, dtype=graphc.float64)).backward()
        return (*results, *[t.grad for t in tensors if t.requires_grad])

    compiled = graphc.compile(step, backend=backend)
    for rows in batches:
        arrays = make(rows)
        ours = [graphc.tensor(a.copy(), requires_grad=a.dtype.kind == "f") for a in arrays]
        theirs = [torch.tensor(a.copy(), requires_grad=a.dtype.kind == "f") for a in arrays]
        results = _outputs(fn(torch, *theirs))
        sum(r.double().sum() for r in _differentiable(results)).backward()
        expected = [*results, *[t.grad for t in theirs if t.requires_grad]]
        assert_matches(list(compiled(*ours)), expected, rtol, atol)
    report = compiled.report()
    assert report.recompilations == [], report.recompilations
    assert any(not isinstance(d, int) for n in report.graph.nodes for d in n.shape), "the program has no symbolic size"
