"""What torch builds from the decompositions (graphc/frontend/spectral.py): linalg.pinv and pinverse,
matrix_rank, matrix_norm / norm with ord 2, -2 and "nuc", cond, lstsq and householder_product (orgqr),
against torch's values, tolerance rules and float64 gradients; one small case of each on Triton, the
rest on NumPy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from helpers import assert_matches, data
from torch_grads import check_grads

import graphc
from graphc.errors import GraphcError


def rank_two(rows: int, cols: int) -> np.ndarray:
    """A float64 matrix of rank 2, whose third singular value is rounding noise."""
    return data(rows, 2, dtype="float64") @ data(2, cols, dtype="float64")


def test_spectral_functions_on_a_small_matrix_match_torch(backend: str) -> None:
    a = data(3, 2, dtype="float64")

    def functions(T: object, x: object) -> tuple:
        solution = T.linalg.lstsq(x, x[:, :1] + 1).solution
        return T.linalg.pinv(x), T.linalg.matrix_norm(x, 2), T.linalg.matrix_norm(x, "nuc"), T.linalg.cond(x), T.linalg.matrix_rank(x), solution

    check_grads(functions, a)


def test_pinv_tolerances_and_hermitian_match_torch() -> None:
    a, low = data(2, 4, 3, dtype="float64"), rank_two(4, 3)
    s = data(3, 3, dtype="float64")
    symmetric = s + s.T
    for fn in (
        lambda T, x: T.linalg.pinv(x),
        lambda T, x: T.linalg.pinv(x, atol=0.5),
        lambda T, x: T.linalg.pinv(x, rtol=0.3),
        lambda T, x: T.linalg.pinv(x, 0.3),
        lambda T, x: T.pinverse(x, rcond=0.3),
        lambda T, x: x.pinverse(),
    ):
        assert_matches(fn(graphc, graphc.tensor(a)), fn(torch, torch.from_numpy(a)))
    assert_matches(graphc.linalg.pinv(graphc.tensor(low)), torch.linalg.pinv(torch.from_numpy(low)))
    for fn in (lambda T, x: T.linalg.pinv(x, hermitian=True), lambda T, x: T.linalg.pinv(x, hermitian=True, atol=1.0)):
        assert_matches(fn(graphc, graphc.tensor(symmetric)), fn(torch, torch.from_numpy(symmetric)))
    check_grads(lambda T, x: (T.linalg.pinv(x), T.linalg.pinv(x @ x.mT, hermitian=True)), data(2, 3, 2, dtype="float64"))
    # singular values 3, 1 and 0.2, the last cut off: torch's pinv_backward, not the chain rule through the SVD
    left, right = np.linalg.qr(data(4, 3, dtype="float64"))[0], np.linalg.qr(data(3, 3, dtype="float64"))[0]
    check_grads(lambda T, x: T.linalg.pinv(x, atol=0.5), left @ np.diag([3.0, 1.0, 0.2]) @ right.T)


def test_matrix_rank_counts_singular_values_above_torchs_tolerance() -> None:
    a, low = data(2, 4, 3), rank_two(5, 4)
    s = data(3, 3, dtype="float64")
    for x in (a, low):
        for fn in (
            lambda T, x: T.linalg.matrix_rank(x),
            lambda T, x: T.linalg.matrix_rank(x, atol=1.0),
            lambda T, x: T.linalg.matrix_rank(x, rtol=0.4),
            lambda T, x: T.linalg.matrix_rank(x, atol=0.1, rtol=0.4),
            lambda T, x: T.linalg.matrix_rank(x, 1.0),
        ):
            assert_matches(fn(graphc, graphc.tensor(x)), fn(torch, torch.from_numpy(x)))
    assert_matches(graphc.linalg.matrix_rank(graphc.tensor(s + s.T), hermitian=True), torch.linalg.matrix_rank(torch.from_numpy(s + s.T), hermitian=True))


def test_spectral_and_nuclear_norms_match_torch() -> None:
    a = data(2, 3, 4, dtype="float64")
    check_grads(
        lambda T, x: (
            T.linalg.matrix_norm(x, 2),
            T.linalg.matrix_norm(x, -2, dim=(0, 2), keepdim=True),
            T.linalg.matrix_norm(x, "nuc", dim=(2, 1)),
            T.linalg.norm(x, 2, dim=(1, 2)),
            T.linalg.norm(x[0], "nuc"),
            T.norm(x, "nuc", dim=(0, 1), keepdim=True),
            x[1].norm(p="nuc"),
        ),
        a,
    )
    assert_matches(graphc.linalg.matrix_norm(graphc.tensor(a.astype(np.float32)), 2), torch.linalg.matrix_norm(torch.from_numpy(a.astype(np.float32)), 2))


def test_cond_for_every_order_matches_torch() -> None:
    a = data(2, 3, 3, dtype="float64")
    for p in (None, 2, -2, "fro", "nuc", 1, -1, math.inf, -math.inf):
        assert_matches(graphc.linalg.cond(graphc.tensor(a), p), torch.linalg.cond(torch.from_numpy(a), p))
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    assert_matches(graphc.linalg.cond(graphc.tensor(singular), 1), torch.linalg.cond(torch.from_numpy(singular), 1))
    wide = data(2, 4, dtype="float64")
    assert_matches(graphc.linalg.cond(graphc.tensor(wide), -2), torch.linalg.cond(torch.from_numpy(wide), -2))
    # torch cannot differentiate the orders through the inverse (it masks the inverse in place)
    check_grads(lambda T, x: (T.linalg.cond(x), T.linalg.cond(x, -2)), a)


def test_lstsq_returns_gelsy_outputs_as_torch() -> None:
    """torch's CPU default (gelsy): the solution, empty residuals and singular values, the rank."""
    tall, rhs = data(2, 5, 3, dtype="float64"), data(2, 5, 2, dtype="float64")
    wide = data(3, 5, dtype="float64")
    cases = [
        (lambda T, a, b: T.linalg.lstsq(a, b), (tall, rhs)),
        (lambda T, a, b: T.linalg.lstsq(a, b[..., 0]), (tall, rhs)),
        (lambda T, a, b: T.linalg.lstsq(a[:1], b), (tall, rhs)),
        (lambda T, a, b: T.linalg.lstsq(a[0], b[0, :, 0]), (tall, rhs)),
        (lambda T, a, b: T.linalg.lstsq(a, b, driver="gelsy"), (wide, rhs[0, :3])),
        (lambda T, a, b: T.linalg.lstsq(a.float(), b.float()), (tall, rhs)),
        # the rank of a matrix of rank 2 (graphc counts singular values, gelsy estimates it from its pivoted QR)
        (lambda T, a, b: T.linalg.lstsq(a, b).rank, (rank_two(5, 3), rhs[0])),
        (lambda T, a, b: T.linalg.lstsq(a, b, rcond=1e-8).rank, (rank_two(5, 3), rhs[0])),
    ]
    for fn, inputs in cases:
        got, expected = fn(graphc, *(graphc.tensor(x) for x in inputs)), fn(torch, *(torch.from_numpy(x) for x in inputs))
        assert_matches(list(got) if isinstance(got, tuple) else got, list(expected) if isinstance(expected, tuple) else expected)
    check_grads(lambda T, a, b: T.linalg.lstsq(a, b).solution, tall, rhs)
    check_grads(lambda T, a, b: T.linalg.lstsq(a, b).solution, wide, rhs[0, :3])


def test_spectral_functions_refuse_bad_input_with_torchs_messages() -> None:
    cases = [
        (lambda: graphc.linalg.pinv(graphc.ones(3, 3, dtype=graphc.int64)), "expected a tensor with 2 or more dimensions of float, double"),
        (lambda: graphc.linalg.matrix_rank(graphc.ones(3, 3, dtype=graphc.float16)), "This function doesn't handle types other than float and double"),
        (lambda: graphc.linalg.lstsq(graphc.ones(3), graphc.ones(3)), "torch.linalg.lstsq: input must have at least 2 dimensions."),
        (lambda: graphc.linalg.householder_product(*(graphc.ones(*s, dtype=graphc.int64) for s in ((3, 3), (2,)))), "\"orgqr_cpu\" not implemented for 'Long'"),
        (lambda: graphc.linalg.cond(graphc.ones(2, 3), 1), "linalg.cond(ord=1): A must be batches of square matrices, but they are 2 by 3 matrices"),
        (lambda: graphc.linalg.matrix_norm(graphc.ones(3, 3), 3), "linalg.matrix_norm: Order 3 not supported."),
        (lambda: graphc.norm(graphc.ones(2, 3, 3), "nuc"), "linalg.matrix_norm: dim must be a 2-tuple. Got 0 1 2"),
        (lambda: graphc.linalg.lstsq(graphc.ones(3, 2), graphc.ones(4, 1)), "torch.linalg.lstsq: input.size(-2) should match other.size(-2), got 3 and 4"),
        (lambda: graphc.linalg.lstsq(graphc.ones(3, 2), graphc.ones(3, 1), driver="gelsd"), "graphc computes the default driver's result only (gelsy)"),
        (lambda: graphc.linalg.lstsq(graphc.ones(3, 2), graphc.ones(3, 1, dtype=graphc.float64)), "Expected input and other to have the same dtype"),
    ]
    for build, message in cases:
        with pytest.raises(GraphcError, match="test_linalg_spectral.py") as raised:
            build()
        assert message in str(raised.value)


def test_householder_product_and_orgqr_match_torch() -> None:
    a, tau = data(2, 5, 3, dtype="float64"), data(2, 2, dtype="float64", low=0.0, high=2.0)
    check_grads(lambda T, x, t: (T.linalg.householder_product(x, t), x[0].orgqr(t[0]), T.orgqr(x, t)), a, tau)
    with pytest.raises(GraphcError, match="input.shape\\[-2\\] must be greater than or equal to input.shape\\[-1\\]"):
        graphc.linalg.householder_product(graphc.ones(3, 4), graphc.ones(2))
