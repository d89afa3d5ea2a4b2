"""torch.linalg.vander, vecdot, diagonal and matmul against torch (graphc/frontend/linalg_vectors.py): values,
integer dtypes, batches and float64 gradients (vander's at a zero), and torch's refusals; and the gradient of
det at singular matrices (torch's cofactor matrix, finite, where g det A^-T is 0 * inf)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import assert_matches
from torch_grads import check_grads

import graphc
from graphc.errors import GraphcError

RNG = np.random.default_rng(3)


def test_vander_vecdot_diagonal_and_matmul_match_torch(backend: str) -> None:
    x = np.array([[1.5, 0.0, -2.0], [0.5, 3.0, 1.0]])
    check_grads(lambda T, v: (T.linalg.vander(v), T.linalg.vander(v[0], N=4)), x)
    a, b = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((4,))
    check_grads(lambda T, p, q: (T.linalg.vecdot(p, q), T.linalg.vecdot(p, p, dim=1)), a, b)
    check_grads(lambda T, p: (T.linalg.diagonal(p), T.linalg.diagonal(p, offset=1, dim1=0, dim2=2)), a)
    check_grads(lambda T, p, q: T.linalg.matmul(p, q), a, b)


def test_vander_of_integers_and_a_zero_dimensional_tensor_is_torch_s() -> None:
    for x in (np.array([2, -1, 3], dtype=np.int32), np.array([[1, 2], [3, 4]], dtype=np.uint8), np.array(2.0)):
        assert_matches([graphc.linalg.vander(graphc.tensor(x), N=3)], [torch.linalg.vander(torch.from_numpy(x), N=3)])


def test_vander_and_vecdot_refuse_what_torch_refuses() -> None:
    for call, message in [
        (lambda: graphc.linalg.vander(graphc.tensor([True, False])), "linalg.vander supports floating point, complex, and integer tensors, but got Bool"),
        (lambda: graphc.linalg.vander(graphc.zeros(3, dtype=graphc.float16)), "but got Half"),
        (lambda: graphc.linalg.vander(graphc.zeros(1)), "N must be greater than 1."),
        (lambda: graphc.linalg.vecdot(graphc.zeros(3, dtype=graphc.int64), graphc.zeros(3)), "floating point or complex tensor as input. Got Long"),
        (lambda: graphc.linalg.vecdot(graphc.zeros(3), graphc.zeros(3, dtype=graphc.float64)), "found x of type Float and y of type Double"),
    ]:
        with pytest.raises(GraphcError, match=message):
            call()


def test_det_gradient_at_singular_matrices_is_torch_s_cofactor_matrix(backend: str) -> None:
    """torch 2.13's first-order backward returns 0 at an exactly singular matrix; its create_graph path (and the
    limit from nearby matrices) is the cofactor matrix, which graphc returns (docs/decisions.md)."""
    a = np.array([[[1.0, 2.0], [2.0, 4.0]], [[2.0, 1.0], [1.0, 3.0]], np.diag([1.0, 0.0])])
    ours = graphc.tensor(a, requires_grad=True)
    graphc.linalg.det(ours).sum().backward()
    theirs = torch.tensor(a, requires_grad=True)
    (expected,) = torch.autograd.grad(torch.linalg.det(theirs).sum(), theirs, create_graph=True)
    np.testing.assert_allclose(ours.grad.numpy(), expected.detach().numpy(), atol=1e-12)
    assert np.abs(ours.grad.numpy()[0]).max() > 1  # a rank-2 matrix's cofactors are not zero
