"""linalg.eigh and eigvalsh against torch on both backends (NumPy's LAPACK, the Triton Jacobi kernel):
eigenvalues directly, eigenvectors after aligning their signs to torch's, float64 gradients of
sign-free losses, and the refusals with torch's messages (tests/test_linalg_svd_qr.py compiles eigh
in one step with svd and qr at two batch sizes).
The Triton interpreter runs a 3 x 3 Jacobi in about a second, so its matrices stay that small."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import data
from torch_grads import check_grads
from vector_signs import aligned, assert_orthonormal_columns

import graphc
from graphc.errors import GraphcError

TOLERANCE = {"float32": 2e-5, "float64": 1e-12}


@pytest.mark.parametrize("dtype, UPLO", [("float32", "L"), ("float64", "U")])
def test_eigh_values_ascending_and_vectors_match_torch_up_to_sign(backend: str, dtype: str, UPLO: str) -> None:
    """Only the triangle named by UPLO is read: the other holds different numbers."""
    a = data(2, 3, 3, dtype=dtype)
    values, vectors = graphc.linalg.eigh(graphc.tensor(a), UPLO=UPLO)
    expected = torch.linalg.eigh(torch.from_numpy(a), UPLO=UPLO)
    tolerance = TOLERANCE[dtype]
    assert values.dtype.name == dtype and tuple(vectors.shape) == (2, 3, 3)
    np.testing.assert_allclose(values.numpy(), expected.eigenvalues.numpy(), atol=tolerance * 10)
    ours, _ = aligned(vectors.numpy(), expected.eigenvectors)
    np.testing.assert_allclose(ours, expected.eigenvectors.numpy(), atol=tolerance * 10)
    assert_orthonormal_columns(vectors.numpy(), tolerance * 10)
    np.testing.assert_allclose(graphc.linalg.eigvalsh(graphc.tensor(a), UPLO=UPLO).numpy(), expected.eigenvalues.numpy(), atol=tolerance * 10)


def test_eigh_gradients_of_values_and_squared_vectors_match_torch(backend: str) -> None:
    check_grads(lambda T, a: (lambda r: (r.eigenvalues, r.eigenvectors**2))(T.linalg.eigh(a)), data(1, 3, 3, dtype="float64"))


def test_eigh_gradient_at_a_repeated_eigenvalue_is_finite_as_torch(backend: str) -> None:
    """The sum of the eigenvalues is the trace, whatever basis the repeated pair gets: gradient I, not NaN
    (graphc's packed gradient divides by w_j - w_i = 0 only where torch's eigvalsh never divides)."""
    check_grads(lambda T, a: T.linalg.eigvalsh(a).sum(), np.diag([1.0, 1.0, 2.0]))
    check_grads(lambda T, a: T.linalg.eigh(a).eigenvalues.sum(), np.diag([3.0, 3.0]))


def test_eigh_refuses_what_torch_refuses() -> None:
    cases = [
        (lambda: graphc.linalg.eigh(graphc.ones(3, 3, dtype=graphc.float16)), "\"linalg_eigh_cpu\" not implemented for 'Half'"),
        (lambda: graphc.linalg.eigvalsh(graphc.ones(3, 3, dtype=graphc.int64)), "\"linalg_eigh_cpu\" not implemented for 'Long'"),
        (lambda: graphc.linalg.eigh(graphc.ones(3, 4)), "linalg.eigh: A must be batches of square matrices, but they are 3 by 4 matrices"),
        (lambda: graphc.linalg.eigh(graphc.ones(3)), "linalg.eigh: The input tensor A must have at least 2 dimensions."),
        (lambda: graphc.linalg.eigh(graphc.ones(3, 3), UPLO="X"), "Expected UPLO argument to be 'L' or 'U', but got X"),
    ]
    for build, message in cases:
        with pytest.raises(GraphcError, match="test_linalg_eigh.py") as raised:
            build()
        assert message in str(raised.value)
