"""nn.utils.parametrizations.orthogonal with the "matrix_exp", "cayley" and "householder" maps against torch: the
weight at registration (base from the QR of the weight, the original -I), after the original
changes, its gradient with respect to the original, the state_dict keys, a compiled training step,
and torch's refusals. A wide or tall weight's base is completed by random columns (graphc's
generator, not torch's), which leave the weight at registration unchanged but not after training,
so those cases compare orthogonality once the original moves."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.utils.parametrizations as TP
from helpers import data
from vector_signs import assert_orthonormal_columns

import graphc
import graphc.nn.utils.parametrizations as GP
from graphc.errors import GraphcError


def moved_original(shape: tuple[int, ...]) -> np.ndarray:
    """A new original: random off the diagonal, -1 on it (the householder map reads the diagonal as the
    columns' signs and gives it no gradient, so training never moves it)."""
    moved = data(*shape, dtype="float64") * 0.3
    np.fill_diagonal(moved, -1.0)
    return moved


def linears(shape: tuple[int, int], orthogonal_map: str | None, weight: np.ndarray) -> tuple[graphc.nn.Linear, torch.nn.Linear]:
    ours = graphc.nn.Linear(shape[1], shape[0], dtype=graphc.float64)
    theirs = torch.nn.Linear(shape[1], shape[0]).double()
    ours.weight = graphc.nn.Parameter(graphc.tensor(weight))
    theirs.weight = torch.nn.Parameter(torch.from_numpy(weight.copy()))
    ours.bias = graphc.nn.Parameter(graphc.tensor(theirs.bias.detach().numpy().copy()))
    return GP.orthogonal(ours, orthogonal_map=orthogonal_map), TP.orthogonal(theirs, orthogonal_map=orthogonal_map)


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
@pytest.mark.parametrize("orthogonal_map", ["matrix_exp", "cayley", "householder"])
def test_orthogonal_weight_at_registration_matches_torch(shape: tuple[int, int], orthogonal_map: str) -> None:
    ours, theirs = linears(shape, orthogonal_map, data(*shape, dtype="float64"))
    np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), atol=1e-12)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    moved = moved_original(shape)
    ours.parametrizations.weight.original = graphc.nn.Parameter(graphc.tensor(moved))
    weight = ours.weight.numpy()
    assert_orthonormal_columns(weight if shape[0] >= shape[1] else weight.T, 1e-12)


@pytest.mark.parametrize("orthogonal_map", ["matrix_exp", "cayley", "householder"])
def test_orthogonal_weight_and_gradient_after_the_original_moves_match_torch(orthogonal_map: str) -> None:
    ours, theirs = linears((3, 3), orthogonal_map, data(3, 3, dtype="float64"))
    moved = moved_original((3, 3))
    ours.parametrizations.weight.original = graphc.nn.Parameter(graphc.tensor(moved))
    with torch.no_grad():
        theirs.parametrizations.weight.original.copy_(torch.from_numpy(moved))
    x = data(2, 3, dtype="float64")
    ours(graphc.tensor(x)).pow(2).sum().backward()
    theirs(torch.from_numpy(x)).pow(2).sum().backward()
    np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(
        ours.parametrizations.weight.original.grad.numpy(), theirs.parametrizations.weight.original.grad.numpy(), atol=1e-12
    )


@pytest.mark.parametrize("orthogonal_map", ["cayley", None])
def test_orthogonal_in_a_compiled_training_step_matches_torch(backend: str, orthogonal_map: str | None) -> None:
    """None: torch's default for a square weight, "matrix_exp"."""
    ours, theirs = linears((3, 3), orthogonal_map, data(3, 3, dtype="float64"))
    opt, topt = graphc.optim.SGD(ours.parameters(), lr=0.1), torch.optim.SGD(theirs.parameters(), lr=0.1)

    @graphc.compile
    def step(x: graphc.Tensor) -> graphc.Tensor:
        opt.zero_grad()
        loss = ours(x).pow(2).sum()
        loss.backward()
        opt.step()
        return loss

    for _ in range(2):
        x = data(2, 3, dtype="float64")
        got = step(graphc.tensor(x))
        topt.zero_grad()
        expected = theirs(torch.from_numpy(x)).pow(2).sum()
        expected.backward()
        topt.step()
        np.testing.assert_allclose(got.numpy(), expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), atol=1e-12)


def test_orthogonal_refuses_what_torch_refuses_and_the_reflectors_graphc_lacks() -> None:
    square = graphc.nn.Linear(3, 3)
    with pytest.raises(ValueError, match='orthogonal_map has to be one of "matrix_exp", "cayley", "householder". Got: qr'):
        GP.orthogonal(square, orthogonal_map="qr")
    with pytest.raises(ValueError, match="Expected a matrix or batch of matrices. Got a tensor of 1 dimensions."):
        GP.orthogonal(square, "bias", orthogonal_map="cayley")
    for orthogonal_map in ("matrix_exp", "cayley"):
        with pytest.raises(NotImplementedError, match="when use_trivialization=False"):
            GP.orthogonal(graphc.nn.Linear(3, 3), orthogonal_map=orthogonal_map, use_trivialization=False)
    with pytest.raises(GraphcError, match="geqrf"):
        GP.orthogonal(graphc.nn.Linear(3, 2), orthogonal_map="householder", use_trivialization=False)
