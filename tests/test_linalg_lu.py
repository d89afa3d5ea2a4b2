"""torch.linalg's LU family against torch (graphc/frontend/linalg_solvers.py): inv, inv_ex, inverse, solve,
solve_ex, det, slogdet, logdet, tensorinv, tensorsolve and negative matrix powers. Values in float32 and
float64 on both backends (batched and broadcast), float64 gradients, one compiled step at two batch
sizes, torch's info for singular matrices and the errors torch raises."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches
from torch_grads import check_compiled_batches, check_grads

import graphc
from graphc.errors import GraphcError

RNG = np.random.default_rng(7)
# float32 results go through a factorization (torch's LAPACK and graphc's kernels round differently).
TOLERANCE = {"float32": (1e-4, 1e-5), "float64": (1e-10, 1e-12)}


def square(*shape: int, dtype: str = "float64") -> np.ndarray:
    """Well-conditioned matrices: R + n I."""
    n = shape[-1]
    return (RNG.standard_normal(shape) + n * np.eye(n)).astype(dtype)


def values(*shape: int, dtype: str = "float64") -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def lu_core(T: Any, a: Any, m: Any, v: Any) -> tuple:
    """a: [2, 3, 3] (negative and positive determinants), m: [2, 3, 2], v: [3]: the kernels' cases, on both backends."""
    return (
        T.linalg.inv(a),
        T.linalg.solve(a, m),
        T.linalg.solve(a[0], v),  # one vector
        T.linalg.solve(a, m.mT, left=False),
        T.linalg.det(a),
        *T.linalg.slogdet(a),
        T.logdet(a),
    )


def lu_family(T: Any, a: Any, m: Any, v: Any, sq: Any) -> tuple:
    """``lu_core``, the other spellings, broadcasting and the composites (sq: [4, 4], a tensor of [2, 2, 2, 2])."""
    return (
        *lu_core(T, a, m, v),
        T.linalg.inv_ex(a).inverse,
        a.inverse(),
        T.inverse(a),
        T.linalg.solve(a, v),  # a batch of one vector broadcast
        T.linalg.solve(a, m[..., 0]),  # B of A's shape without its last dimension: vectors
        T.linalg.solve(a[0], m),  # A broadcast over B's batch
        T.linalg.solve_ex(a, m).result,
        a.det(),
        T.det(a),
        T.slogdet(a).logabsdet,
        a.slogdet().sign,
        a.logdet(),
        T.linalg.tensorinv(sq.reshape(2, 2, 2, 2), ind=2),
        T.linalg.tensorsolve(sq.reshape(2, 2, 2, 2), v[:2].outer(v[1:])),
        T.linalg.tensorsolve(sq.reshape(2, 2, 2, 2), v[:2].outer(v[1:]), dims=(0,)),
        T.linalg.matrix_power(a, -1),
        T.linalg.matrix_power(a, -3),
    )


def lu_inputs(dtype: str) -> tuple[np.ndarray, ...]:
    a = square(2, 3, 3, dtype=dtype)
    a[1, [0, 1]] = a[1, [1, 0]]  # a row swap: a negative determinant
    return a, values(2, 3, 2, dtype=dtype), values(3, dtype=dtype), square(4, 4, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lu_family_values_match_torch(dtype: str) -> None:
    arrays = lu_inputs(dtype)
    got = lu_family(graphc, *[graphc.tensor(a) for a in arrays])
    expected = lu_family(torch, *[torch.tensor(a) for a in arrays])
    assert_matches(list(got), list(expected), *TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lu_kernels_match_torch_in_one_program(backend: str, dtype: str) -> None:
    """The Triton interpreter is slow: the kernels' cases run as one compiled program, where the LU of each A is shared."""
    arrays = lu_inputs(dtype)[:3]
    got = graphc.compile(lambda *xs: lu_core(graphc, *xs))(*[graphc.tensor(a) for a in arrays])
    assert_matches(list(got), list(lu_core(torch, *[torch.tensor(a) for a in arrays])), *TOLERANCE[dtype])


def test_lu_family_gradients_match_torch() -> None:
    check_grads(lu_family, *lu_inputs("float64"), rtol=1e-8, atol=1e-10)


def test_solve_and_det_compile_with_a_symbolic_batch(backend: str) -> None:
    """Values and float64 gradients of one compiled step at two batch sizes (the Triton backend's gradient check)."""

    def step(T: Any, a: Any, m: Any) -> tuple:
        return T.linalg.solve(a, m), T.linalg.det(a)

    check_compiled_batches(step, lambda rows: (square(rows, 2, 2), values(rows, 2, 2)), backend, batches=(2, 3))


def test_empty_matrices_and_batches_match_torch(backend: str) -> None:
    """0 x 0 matrices (det 1, info 0) and batches of no matrix, through each kernel."""

    def fn(T: Any, e: Any, none: Any) -> tuple:
        return (
            T.linalg.det(e),
            T.linalg.inv(e),
            T.linalg.cholesky_ex(e).info,
            T.linalg.solve_triangular(e, e, upper=True),
            T.linalg.inv(none),
            T.linalg.slogdet(none).logabsdet,
            T.linalg.cholesky(none),
        )

    arrays = np.zeros((2, 0, 0)), np.zeros((0, 3, 3))
    assert_matches(list(fn(graphc, *[graphc.tensor(a) for a in arrays])), list(fn(torch, *[torch.tensor(a) for a in arrays])))


SINGULAR = np.array(
    [
        # the last pivot is zero: info 3. The third row is the sum of the others, and every step of
        # elimination is exact; [[1, 2, 3], [2, 4, 6], [1, 0, 1]] was, but torch's det on an Intel
        # CPU (MKL) gave -6.7e-16, sign -1, where its lu_factor_ex gives the zero pivot
        [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 2.0]],
        [[0.0, 0.0, 0.0], [1.0, 2.0, 0.0], [0.0, 1.0, 1.0]],  # a zero row: info 3
        [[0.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 1.0]],  # a zero column first: info 1
        [[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 1.0]],  # invertible: info 0
    ]
)


def test_ex_forms_give_torchs_info_and_singular_determinants(backend: str) -> None:
    a = graphc.tensor(SINGULAR)
    t = torch.tensor(SINGULAR)
    assert_matches(graphc.linalg.inv_ex(a).info, torch.linalg.inv_ex(t).info)
    assert_matches(graphc.linalg.solve_ex(a, a[0]).info, torch.linalg.solve_ex(t, t[0]).info)
    assert_matches(list(graphc.linalg.slogdet(a)), list(torch.linalg.slogdet(t)))
    assert_matches(graphc.linalg.det(a), torch.linalg.det(t))
    assert_matches(graphc.logdet(a), torch.logdet(t))
    assert_matches(graphc.linalg.inv_ex(a[3]).inverse, torch.linalg.inv(t[3]))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda T: T.linalg.inv(T.tensor(SINGULAR[:2])), "linalg.inv: .*the input matrix is singular"),
        (lambda T: T.linalg.inv_ex(T.tensor(SINGULAR[0]), check_errors=True).inverse, "linalg.inv_ex: .*the input matrix is singular"),
        (lambda T: T.linalg.solve(T.tensor(SINGULAR[2]), T.ones(3, dtype=T.float64)), "torch.linalg.solve: The solver failed .* singular"),
        (lambda T: T.linalg.matrix_power(T.zeros(2, 2), -2), "linalg.inv: .*the input matrix is singular"),
    ],
    ids=["inv", "inv_ex-check_errors", "solve", "matrix_power"],
)
def test_singular_matrices_raise_when_the_program_runs(backend: str, call: Callable[[Any], Any], message: str) -> None:
    with pytest.raises(torch.linalg.LinAlgError, match=message):
        call(torch)
    with pytest.raises(graphc.linalg.LinAlgError, match=message):
        call(graphc).numpy()


@pytest.mark.parametrize(
    "call",
    [
        lambda T: T.linalg.inv(T.ones(2, 3)),
        lambda T: T.linalg.inv(T.ones(3)),
        lambda T: T.linalg.inv(T.ones(3, 3, dtype=T.int64)),
        lambda T: T.linalg.inv(T.ones(3, 3, dtype=T.float16)),
        lambda T: T.linalg.det(T.ones(3, 3, dtype=T.int64)),
        lambda T: T.linalg.slogdet(T.ones(3, 3, dtype=T.bfloat16)),
        lambda T: T.logdet(T.ones(3, 3, dtype=T.float16)),
        lambda T: T.linalg.solve(T.ones(3, 3, dtype=T.float16), T.ones(3, dtype=T.float16)),
        lambda T: T.linalg.solve(T.eye(3), T.ones(4)),
        lambda T: T.linalg.solve(T.eye(3), T.ones(3), left=False),
        lambda T: T.linalg.solve(T.eye(3), T.ones(3, dtype=T.float64)),
        lambda T: T.linalg.solve(T.ones(2, 3), T.ones(2)),
        lambda T: T.linalg.tensorinv(T.ones(2, 3, 4), ind=1),
        lambda T: T.linalg.tensorinv(T.ones(2, 2), ind=0),
        lambda T: T.linalg.tensorsolve(T.ones(2, 3, 4), T.ones(2)),
    ],
)
def test_bad_input_raises_torchs_message(call: Callable[[Any], Any]) -> None:
    with pytest.raises((RuntimeError, NotImplementedError)) as expected:
        call(torch)
    message = str(expected.value).splitlines()[0]
    with pytest.raises(GraphcError) as got:
        call(graphc)
    assert message in str(got.value)
