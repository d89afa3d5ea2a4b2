"""linalg.matrix_exp, torch.matrix_exp and Tensor.matrix_exp against torch on both backends: values in float32
and float64 over norms that take every Taylor degree and the scaling (matrices of different norms in one
batch, each choosing its own), float64 gradients (the block-matrix identity), a compiled step at two batch
sizes, NaN and empty inputs, and torch's refusals. Triton cases stay at n <= 4, batch <= 2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import assert_matches
from torch_grads import check_compiled_batches, check_grads

import graphc
from graphc.errors import GraphcError

# Relative to the result's entries: a Taylor polynomial of another evaluation order than torch's.
TOLERANCE = {"float32": (2e-5, 1e-6), "float64": (1e-12, 1e-14)}


def scaled(norms: tuple[float, ...], n: int, dtype: str, seed: int = 11) -> np.ndarray:
    """One n x n matrix per 1-norm in ``norms``, the same draws whatever tests ran before."""
    a = np.random.default_rng(seed).standard_normal((len(norms), n, n))
    a *= np.array(norms)[:, None, None] / np.abs(a).sum(axis=-2).max(axis=-1)[:, None, None]
    return a.astype(dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norms", [(1e-9, 3e-2), (0.9, 25.0)], ids=["low-degrees", "top-degree-and-scaling"])
def test_matrix_exp_matches_torch_with_each_matrix_choosing_its_degree(backend: str, dtype: str, norms: tuple[float, ...]) -> None:
    a = scaled(norms, 4, dtype)
    rtol, atol = TOLERANCE[dtype]
    got = graphc.linalg.matrix_exp(graphc.tensor(a))
    expected = torch.linalg.matrix_exp(torch.from_numpy(a))
    if dtype == "float32" and max(norms) > 1:
        # float32 with squarings: rounding grows with each squaring (as below), so the error is taken
        # relative to each result's largest entry; a CI run drew a matrix 1.3e-4 off in one entry.
        error = np.abs(got.numpy() - expected.numpy()).max(axis=(-2, -1)) / np.abs(expected.numpy()).max(axis=(-2, -1))
        assert got.dtype == graphc.float32 and error.max() < rtol * 10, error
        return
    assert_matches([got], [expected], rtol=rtol, atol=atol * np.abs(a).max())


def test_matrix_exp_over_every_degree_and_many_squarings_matches_torch() -> None:
    """Each result within a tolerance of its own largest entry (the squarings of exp(300) amplify rounding)."""
    norms = (1e-17, 1e-9, 1e-5, 1e-2, 0.2, 0.6, 1.0, 2.5, 40.0)
    for dtype, largest in (("float64", 300.0), ("float32", 60.0)):
        a = scaled((*norms, largest), 5, dtype)
        expected = torch.matrix_exp(torch.from_numpy(a)).numpy()
        got = graphc.tensor(a).matrix_exp().numpy()
        assert got.dtype == expected.dtype
        error = np.abs(got - expected).max(axis=(-2, -1)) / np.abs(expected).max(axis=(-2, -1))
        assert error.max() < TOLERANCE[dtype][0] * 10, error


def test_matrix_exp_gradients_match_torch(backend: str) -> None:
    n = 2 if backend == "triton" else 3  # the gradient's 2n x 2n exponential runs op by op in Triton's interpreter
    check_grads(lambda T, a: T.linalg.matrix_exp(a), scaled((0.5, 4.0), n, "float64"), rtol=1e-9, atol=1e-10)
    check_grads(lambda T, a: T.matrix_exp(a.mT) ** 2, scaled((2.0,), n, "float64")[0], rtol=1e-9, atol=1e-10)


def test_matrix_exp_in_a_compiled_step_at_two_batch_sizes() -> None:
    check_compiled_batches(lambda T, a: T.linalg.matrix_exp(a), lambda rows: (scaled((1.5,) * rows, 3, "float64"),), "numpy")


def test_matrix_exp_of_nan_empty_and_one_by_one_matrices_is_torch_s(backend: str) -> None:
    nan = np.array([[np.nan, 0.0], [0.0, 1.0]])
    cases = [nan, np.zeros((2, 0, 0)), np.array([[[0.5]], [[-2.0]]])]
    assert_matches([graphc.matrix_exp(graphc.tensor(a)) for a in cases], [torch.matrix_exp(torch.from_numpy(a)) for a in cases])


def test_matrix_exp_refuses_what_torch_refuses() -> None:
    for shape, dtype, message in [
        ((3,), "float32", "linalg.matrix_exp: The input tensor A must have at least 2 dimensions."),
        ((2, 3), "float32", "linalg.matrix_exp: A must be batches of square matrices, but they are 2 by 3 matrices"),
        ((2, 2), "int64", "linalg.matrix_exp: Expected a floating point or complex tensor as input. Got Long"),
        ((2, 2), "float16", "linalg.matrix_exp: Low precision dtypes not supported. Got Half"),
    ]:
        with pytest.raises(GraphcError, match=message):
            graphc.linalg.matrix_exp(graphc.zeros(*shape, dtype=getattr(graphc, dtype)))
