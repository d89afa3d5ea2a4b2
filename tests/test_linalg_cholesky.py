"""torch.linalg's Cholesky family and triangular solves against torch (graphc/frontend/linalg_solvers.py):
linalg.cholesky, cholesky_ex, torch.cholesky, cholesky_solve, cholesky_inverse, linalg.solve_triangular and
torch.triangular_solve. Values in float32 and float64 on both backends, float64 gradients, one compiled
step at two batch sizes, torch's info for matrices that are not positive-definite, the errors torch
raises, and the kernels compiled for sm_90."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches
from torch_grads import check_compiled_batches, check_grads

import graphc
from graphc.errors import GraphcError

RNG = np.random.default_rng(11)
TOLERANCE = {"float32": (1e-4, 1e-5), "float64": (1e-10, 1e-12)}


def spd(*shape: int, dtype: str = "float64") -> np.ndarray:
    """Symmetric positive-definite matrices: R R^T + n I."""
    r = RNG.standard_normal(shape)
    return (r @ np.swapaxes(r, -1, -2) + shape[-1] * np.eye(shape[-1])).astype(dtype)


def triangular(*shape: int, dtype: str = "float64") -> np.ndarray:
    """Well-conditioned in both triangles (each solve reads one): R + n I."""
    return (RNG.standard_normal(shape) + shape[-1] * np.eye(shape[-1])).astype(dtype)


def values(*shape: int, dtype: str = "float64") -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


def cholesky_core(T: Any, s: Any, t: Any, m: Any) -> tuple:
    """s: [2, 3, 3] SPD, t: [2, 3, 3], m: [2, 3, 2]: the kernels' cases, on both backends."""
    lower = T.linalg.cholesky(s)
    return (
        lower,
        T.cholesky_solve(m, lower),
        T.linalg.solve_triangular(t, m, upper=True),
        T.linalg.solve_triangular(t, m.mT, upper=False, left=False, unitriangular=True),
    )


def cholesky_family(T: Any, s: Any, t: Any, m: Any) -> tuple:
    """``cholesky_core``, the other spellings and options, garbage in the triangle not read, and broadcasting."""
    lower = T.linalg.cholesky(s)
    upper = T.linalg.cholesky(s, upper=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch.cholesky and torch.triangular_solve are deprecated
        old = (
            T.cholesky(s),
            s.cholesky(upper=True),
            *T.triangular_solve(m, t),
            T.triangular_solve(m, t, upper=False, transpose=True, unitriangular=True).solution,
            m.triangular_solve(t[0], transpose=True).solution,
        )
    return (
        *cholesky_core(T, s, t, m),
        upper,
        *old,
        T.linalg.cholesky(s + t.triu(1)),  # only the lower triangle is read
        T.linalg.cholesky(s + t.tril(-1), upper=True),  # only the upper one
        T.linalg.cholesky_ex(s).L,
        T.cholesky_solve(m, upper, upper=True),
        m[0].cholesky_solve(lower),  # B broadcast over L's batch
        T.cholesky_inverse(lower),
        upper.cholesky_inverse(upper=True),
        T.linalg.solve_triangular(t, m, upper=False),
        T.linalg.solve_triangular(t, m, upper=True, unitriangular=True),
        T.linalg.solve_triangular(t[0], m, upper=True),  # A broadcast
        T.linalg.solve_triangular(t, m.mT, upper=True, left=False),
    )


def cholesky_inputs(dtype: str) -> tuple[np.ndarray, ...]:
    return spd(2, 3, 3, dtype=dtype), triangular(2, 3, 3, dtype=dtype), values(2, 3, 2, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cholesky_family_values_match_torch(dtype: str) -> None:
    arrays = cholesky_inputs(dtype)
    got = cholesky_family(graphc, *[graphc.tensor(a) for a in arrays])
    expected = cholesky_family(torch, *[torch.tensor(a) for a in arrays])
    assert_matches(list(got), list(expected), *TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cholesky_kernels_match_torch_in_one_program(backend: str, dtype: str) -> None:
    arrays = cholesky_inputs(dtype)
    got = graphc.compile(lambda *xs: cholesky_core(graphc, *xs))(*[graphc.tensor(a) for a in arrays])
    assert_matches(list(got), list(cholesky_core(torch, *[torch.tensor(a) for a in arrays])), *TOLERANCE[dtype])


def with_lower_factor(T: Any, s: Any, t: Any, m: Any) -> tuple:
    """The family with cholesky_solve/cholesky_inverse given a factor that is triangular (``tril``) in both libraries:
    torch's gradient of those is the full ``-(C + C^T) L`` (docs/decisions.md), graphc's that of L's triangle."""
    lower, upper = t.tril(), t.triu()
    return (*cholesky_family(T, s, t, m), T.cholesky_solve(m, lower), T.cholesky_solve(m, upper, upper=True), T.cholesky_inverse(lower))


def test_cholesky_family_gradients_match_torch() -> None:
    check_grads(with_lower_factor, *cholesky_inputs("float64"), rtol=1e-8, atol=1e-10)


def test_cholesky_solve_gradient_stays_in_the_factors_triangle() -> None:
    """The factor's other triangle is never read, so graphc's gradient there is 0; torch's is its formula's."""
    factor, rhs = triangular(3, 3), values(3, 2)
    ours = graphc.tensor(factor, requires_grad=True)
    theirs = torch.tensor(factor, requires_grad=True)
    graphc.cholesky_solve(graphc.tensor(rhs), ours).sum().backward()
    torch.cholesky_solve(torch.tensor(rhs), theirs.tril()).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert not np.triu(ours.grad.numpy(), 1).any()


def test_cholesky_and_its_solve_compile_with_a_symbolic_batch(backend: str) -> None:
    def step(T: Any, s: Any, m: Any) -> tuple:
        lower = T.linalg.cholesky(s)
        return lower, T.cholesky_solve(m, lower)

    check_compiled_batches(step, lambda rows: (spd(rows, 2, 2), values(rows, 2, 2)), backend, batches=(2, 3))


NOT_POSITIVE_DEFINITE = np.array(
    [
        [[4.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]],  # the second leading minor is 0: info 2
        [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],  # info 1
        [[1.0, 0.0, 0.0], [0.0, 1.0, 2.0], [0.0, 2.0, 1.0]],  # info 3
        [[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 1.0]],  # positive-definite: info 0
    ]
)


def test_cholesky_ex_gives_torchs_info(backend: str) -> None:
    got = graphc.linalg.cholesky_ex(graphc.tensor(NOT_POSITIVE_DEFINITE))
    expected = torch.linalg.cholesky_ex(torch.tensor(NOT_POSITIVE_DEFINITE))
    assert_matches(got.info, expected.info)
    assert_matches(got.L[3], expected.L[3])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda T: T.linalg.cholesky(T.tensor(NOT_POSITIVE_DEFINITE)), "linalg.cholesky: .*The factorization could not be completed"),
        (lambda T: T.linalg.cholesky_ex(T.tensor(NOT_POSITIVE_DEFINITE[1]), check_errors=True).L, "linalg.cholesky_ex: The factorization could not"),
    ],
    ids=["cholesky", "cholesky_ex-check_errors"],
)
def test_matrices_not_positive_definite_raise_when_the_program_runs(backend: str, call: Callable[[Any], Any], message: str) -> None:
    with pytest.raises(torch.linalg.LinAlgError, match=message):
        call(torch)
    with pytest.raises(graphc.linalg.LinAlgError, match=message):
        call(graphc).numpy()


@pytest.mark.parametrize(
    "call",
    [
        lambda T: T.linalg.cholesky(T.ones(2, 3)),
        lambda T: T.linalg.cholesky(T.ones(3, 3, dtype=T.int64)),
        lambda T: T.linalg.cholesky(T.ones(3, 3, dtype=T.float16)),
        lambda T: T.linalg.solve_triangular(T.eye(3), T.ones(3), upper=True),
        lambda T: T.linalg.solve_triangular(T.eye(3), T.ones(4, 2), upper=True),
        lambda T: T.linalg.solve_triangular(T.eye(3), T.ones(3, 2), upper=True, left=False),
        lambda T: T.linalg.solve_triangular(T.eye(3, dtype=T.int64), T.ones(3, 2, dtype=T.int64), upper=True),
        lambda T: T.cholesky_solve(T.ones(3), T.eye(3)),
        lambda T: T.cholesky_solve(T.ones(4, 2), T.eye(3)),
        lambda T: T.cholesky_solve(T.ones(3, 2, dtype=T.float16), T.eye(3, dtype=T.float16)),
        lambda T: T.cholesky_inverse(T.eye(3, dtype=T.int64)),
    ],
)
def test_bad_input_raises_torchs_message(call: Callable[[Any], Any]) -> None:
    with pytest.raises((RuntimeError, NotImplementedError)) as expected:
        call(torch)
    message = str(expected.value).splitlines()[0]
    with pytest.raises(GraphcError) as got:
        call(graphc)
    assert message in str(got.value)


SM90 = """
import os
os.environ["TRITON_INTERPRET"] = "0"
import torch
from graphc.codegen import triton_compile, triton_linalg as la
launches = []
triton_compile.recording = launches
for dtype in (torch.float32, torch.float64):
    a, b = torch.empty(2, 5, 5, dtype=dtype), torch.empty(2, 5, 3, dtype=dtype)
    la.solve(a, b, torch.empty_like(b))
    la.slogdet(a, torch.empty(2, 3, dtype=dtype))
    la.cholesky(a, torch.empty_like(a))
    la.solve_triangular(a, b, torch.empty_like(b), upper=True, unitriangular=False)
    la.solve_triangular(a, b, torch.empty_like(b), upper=False, unitriangular=True)
triton_compile.recording = None
print(len(triton_compile.compile_for_target(launches, workers=2)))
"""


@pytest.mark.slow  # about 20 s: ten compiles and Triton's imports in a process of its own
@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the Triton tests compile the kernels anyway")
def test_the_linalg_kernels_compile_for_sm90(tmp_path: Path) -> None:
    """What only Triton's compiler rejects (the interpreter runs Python): each kernel in float32 and float64."""
    env = dict(os.environ, TRITON_INTERPRET="0", TRITON_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", SM90], env=env, capture_output=True, text=True, timeout=600, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "10"
