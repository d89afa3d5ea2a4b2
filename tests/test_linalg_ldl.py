"""linalg.ldl_factor, ldl_factor_ex and ldl_solve against torch (graphc/frontend/ldl_factorization.py): LD and the
pivots exactly as torch's (MKL's sytrf) on matrices that take 1x1 swaps and 2x2 blocks, only the lower triangle read,
info of a singular D, solutions with B broadcast over LD's batch, torch's missing derivative, torch's refusals, a
compiled program at two batch sizes, an imported torch module, and the Triton kernels compiled for sm_90. Triton cases stay at n <= 5, batch <= 3."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_matches

import graphc
from graphc.errors import GraphcError, NoDerivativeError

RNG = np.random.default_rng(11)
# Symmetric matrices whose factors take a 1x1 pivot with a swap (row 1), a 2x2 block (row 2: zero diagonal) and
# a zero column (row 3: D[3,3] = 0, info 3), below a random upper triangle that the factorization must not read.
SPECIAL = np.array(
    [
        [[1.0, 4.0, 0.5, 2.0, 0.0], [4.0, 2.0, 1.0, 0.0, 3.0], [0.5, 1.0, 3.0, 1.0, 1.0], [2.0, 0.0, 1.0, 5.0, 2.0], [0.0, 3.0, 1.0, 2.0, 1.0]],
        [[0.0, 1.0, 2.0, 0.0, 0.0], [1.0, 0.0, 0.0, 3.0, 0.0], [2.0, 0.0, 0.0, 1.0, 1.0], [0.0, 3.0, 1.0, 0.0, 2.0], [0.0, 0.0, 1.0, 2.0, 0.0]],
        [[2.0, 1.0, 0.0, 0.0, 1.0], [1.0, 2.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 1.0, 4.0]],
    ]
)


def with_random_upper(a: np.ndarray) -> np.ndarray:
    return np.tril(a) + np.triu(RNG.standard_normal(a.shape), 1)


def symmetric(*shape: int, dtype: str = "float64") -> np.ndarray:
    a = RNG.standard_normal(shape)
    return (a + np.swapaxes(a, -1, -2)).astype(dtype)


def assert_factor_matches(got: tuple, expected: tuple, rtol: float = 1e-12, atol: float = 1e-12) -> None:
    """The pivots and info exactly (int32), LD to the tolerance."""
    for ours, theirs in zip(got[1:], expected[1:]):
        assert ours.dtype == graphc.int32 and np.array_equal(ours.numpy(), theirs.numpy()), (ours.numpy(), theirs.numpy())
    assert_matches([got[0]], [expected[0]], rtol=rtol, atol=atol)


def test_ldl_factor_ex_matches_torch_pivots_blocks_and_info(backend: str) -> None:
    a = with_random_upper(SPECIAL)
    expected = torch.linalg.ldl_factor_ex(torch.from_numpy(a))
    assert sorted(set(expected.pivots.numpy().ravel())) != list(range(1, 6)) and (expected.pivots < 0).any() and expected.info[2] == 3
    factor = graphc.linalg.ldl_factor_ex(graphc.tensor(a))
    assert_factor_matches(tuple(factor), tuple(expected))
    b = RNG.standard_normal((5, 2))  # broadcast over LD's batch
    got = graphc.linalg.ldl_solve(factor.LD[:2], factor.pivots[:2], graphc.tensor(b))
    assert_matches([got], [torch.linalg.ldl_solve(expected.LD[:2], expected.pivots[:2], torch.from_numpy(b))], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ldl_factor_and_solve_match_torch_on_random_and_integer_matrices(dtype: str) -> None:
    """Many pivot choices: random symmetric and non-symmetric (lower triangle read) matrices and small integers with ties
    (``hermitian`` changes nothing for real matrices)."""
    a = np.concatenate([symmetric(4, 9, 9), RNG.standard_normal((2, 9, 9)), RNG.integers(-2, 3, (4, 9, 9)).astype(float)]).astype(dtype)
    a[-4:] = np.tril(a[-4:]) + np.tril(a[-4:], -1).mT + 12 * np.eye(9)  # nonsingular despite the ties
    rtol, atol = (1e-4, 1e-5) if dtype == "float32" else (1e-10, 1e-11)
    ours, theirs = graphc.linalg.ldl_factor(graphc.tensor(a), hermitian=True), torch.linalg.ldl_factor(torch.from_numpy(a), hermitian=True)
    assert_factor_matches(tuple(ours), tuple(theirs), rtol, atol)
    b = RNG.standard_normal((10, 9, 3)).astype(dtype)
    pivots = graphc.tensor(theirs.pivots.numpy()).long()  # torch's factor, pivots as int64: torch takes any integers
    got = graphc.linalg.ldl_solve(graphc.tensor(theirs.LD.numpy()), pivots, graphc.tensor(b))
    assert_matches([got], [torch.linalg.ldl_solve(theirs.LD, theirs.pivots.long(), torch.from_numpy(b))], rtol=rtol, atol=atol)


def test_a_singular_d_raises_where_torch_raises(backend: str) -> None:
    singular = graphc.tensor(SPECIAL[2:])
    with pytest.raises(graphc.linalg.LinAlgError, match=r"^torch.linalg.ldl_factor: D\[3,3\] is zero: the input is singular"):
        graphc.linalg.ldl_factor(singular).LD.numpy()
    with pytest.raises(graphc.linalg.LinAlgError, match=r"^torch.linalg.ldl_factor_ex: D\[3,3\] is zero"):
        graphc.linalg.ldl_factor_ex(singular, check_errors=True).LD.numpy()
    theirs = torch.from_numpy(SPECIAL[2:])
    for call in (lambda: torch.linalg.ldl_factor(theirs), lambda: torch.linalg.ldl_factor_ex(theirs, check_errors=True)):
        with pytest.raises(RuntimeError, match="Unknown error code: 3"):
            call()


def test_results_require_grad_but_have_no_derivative_as_torch_s() -> None:
    a, b = graphc.tensor(SPECIAL[:2], requires_grad=True), graphc.tensor(RNG.standard_normal((5, 1)), requires_grad=True)
    factor = graphc.linalg.ldl_factor_ex(a)
    assert factor.LD.requires_grad and not factor.pivots.requires_grad and not factor.info.requires_grad
    with pytest.raises(NoDerivativeError, match="^ldl_factor: the derivative is not implemented, as in torch"):
        factor.LD.sum().backward()
    with torch.no_grad():
        theirs = torch.linalg.ldl_factor(torch.from_numpy(SPECIAL[:2]))
    for operands in ((factor.LD.detach(), b), (graphc.tensor(theirs.LD.numpy(), requires_grad=True), b.detach())):
        x = graphc.linalg.ldl_solve(operands[0], factor.pivots, operands[1])
        assert x.requires_grad
        with pytest.raises(NoDerivativeError, match="^ldl_solve: the derivative is not implemented"):
            x.sum().backward()
    assert not graphc.linalg.ldl_solve(factor.LD.detach(), factor.pivots, b.detach()).requires_grad
    with pytest.raises(RuntimeError, match="derivative for aten::linalg_ldl_solve is not implemented"):
        torch.linalg.ldl_solve(theirs.LD, theirs.pivots, torch.ones(5, 1, dtype=torch.float64, requires_grad=True)).sum().backward()


def test_pivots_out_of_range_raise_torch_s_messages() -> None:
    factor = graphc.linalg.ldl_factor(graphc.tensor(SPECIAL[0]))
    b = graphc.ones(5, 1, dtype=graphc.float64)
    for pivots, message in (([1, 2, 6, 4, 5], r"\|pivot\| <= LD.size\(-2\)"), ([1, 0, 3, 4, 5], r"\|pivot\| >= 1")):
        with pytest.raises(graphc.errors.InvalidValueError, match=f"^Pivots given to ldl_solve must all satisfy {message}"):
            graphc.linalg.ldl_solve(factor.LD, graphc.tensor(pivots, dtype=graphc.int32), b).numpy()
        with pytest.raises(RuntimeError, match=f"^Pivots given to ldl_solve must all satisfy {message}"):
            torch.linalg.ldl_solve(torch.from_numpy(factor.LD.numpy()), torch.tensor(pivots, dtype=torch.int32), torch.ones(5, 1, dtype=torch.float64))


def test_ldl_family_refuses_what_torch_refuses() -> None:
    square = graphc.tensor(SPECIAL[0])
    factor, pivots = graphc.linalg.ldl_factor(square)
    b = graphc.ones(5, 2, dtype=graphc.float64)
    factor_ex, solve = "torch.linalg.ldl_factor_ex: ", "torch.linalg.ldl_solve: "
    for call, message in [
        (lambda: graphc.linalg.ldl_factor(graphc.ones(3, 3, dtype=graphc.int64)), factor_ex + "Expected a floating point or complex tensor as input. Got Long"),
        (lambda: graphc.linalg.ldl_factor(graphc.ones(3, 3, dtype=graphc.float16)), "\"ldl_factor_kernel_cpu\" not implemented for 'Half'"),
        (lambda: graphc.linalg.ldl_factor(graphc.ones(3)), factor_ex + "The input tensor A must have at least 2 dimensions."),
        (lambda: graphc.linalg.ldl_factor(graphc.ones(3, 2)), factor_ex + "A must be batches of square matrices, but they are 3 by 2 matrices"),
        (lambda: graphc.linalg.ldl_solve(factor, pivots.float(), b), solve + "Expected pivots to be integers. Got Float"),
        (lambda: graphc.linalg.ldl_solve(factor, pivots, b.float()), "Expected b and A to have the same dtype, but found b of type Float and A of type Double"),
        (lambda: graphc.linalg.ldl_solve(factor, pivots, b[:3]), "Incompatible matrix sizes for torch.linalg.ldl_solve: each A matrix is 5 by 5 but each b"),
        (lambda: graphc.linalg.ldl_solve(factor, pivots[:3], b), solve + r"Expected LD.shape\[:-1\] and pivots.shape to be the same, but got pivots with"),
        (lambda: graphc.linalg.ldl_solve(factor[0], pivots, b), solve + "The input tensor A must have at least 2 dimensions."),
    ]:
        with pytest.raises(GraphcError, match=message):
            call()


def test_ldl_factor_and_solve_in_a_compiled_program_at_two_batch_sizes() -> None:
    def step(a: graphc.Tensor, b: graphc.Tensor) -> tuple:
        factor, pivots = graphc.linalg.ldl_factor(a)
        return factor, pivots, graphc.linalg.ldl_solve(factor, pivots, b)

    compiled = graphc.compile(step, backend="numpy")
    for rows in (3, 5):
        a, b = symmetric(rows, 4, 4), RNG.standard_normal((rows, 4, 2))
        expected = torch.linalg.ldl_factor(torch.from_numpy(a))
        got = compiled(graphc.tensor(a), graphc.tensor(b))
        assert_factor_matches(tuple(got[:2]), tuple(expected))
        assert_matches([got[2]], [torch.linalg.ldl_solve(*expected, torch.from_numpy(b))], rtol=1e-10, atol=1e-10)
    assert compiled.report().recompilations == []


def test_empty_matrices_give_empty_results_as_torch_s() -> None:
    for shape in ((0, 0), (2, 0, 0)):
        ours, theirs = graphc.linalg.ldl_factor(graphc.zeros(*shape)), torch.linalg.ldl_factor(torch.zeros(*shape))
        assert [tuple(t.shape) for t in ours] == [tuple(t.shape) for t in theirs] and ours.pivots.dtype == graphc.int32
    assert tuple(graphc.linalg.ldl_solve(*ours, graphc.zeros(2, 0, 3)).shape) == (2, 0, 3)


class Factorization(torch.nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, ...]:
        factor, pivots = torch.linalg.ldl_factor(a)
        return factor, pivots, torch.linalg.ldl_factor_ex(a, hermitian=True).info, torch.linalg.ldl_solve(factor, pivots, b)


def test_an_imported_module_factors_and_solves_as_torch() -> None:
    """torch.export's linalg_ldl_factor, linalg_ldl_factor_ex and linalg_ldl_solve (lowering/lu_and_exp.py)."""
    a, b = torch.from_numpy(symmetric(2, 4, 4)), torch.from_numpy(RNG.standard_normal((2, 4, 2)))
    got, expected = graphc.compile(Factorization(), backend="numpy")(a, b), Factorization()(a, b)
    for ours, theirs in zip(got, expected):
        assert ours.dtype == theirs.dtype and torch.allclose(ours, theirs, rtol=1e-10, atol=1e-12)


SM90 = """
import os
os.environ["TRITON_INTERPRET"] = "0"
import torch
from graphc.codegen import triton_compile
from graphc.codegen import triton_linalg as la
launches = []
triton_compile.recording = launches
for dtype in (torch.float32, torch.float64):
    la.ldl_factor(torch.empty(2, 5, 5, dtype=dtype), torch.empty(2, 25 + 5 + 1, dtype=dtype))
    la.ldl_solve(torch.empty(2, 5, 5, dtype=dtype), torch.empty(2, 5, dtype=torch.int32), torch.empty(2, 5, 3, dtype=dtype), torch.empty(2, 5, 3, dtype=dtype))
triton_compile.recording = None
print(len(triton_compile.compile_for_target(launches, workers=2)))
"""


@pytest.mark.slow  # Triton's compiler in a process of its own
@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the Triton tests compile the kernels anyway")
def test_the_ldl_kernels_compile_for_sm90(tmp_path: Path) -> None:
    """What only Triton's compiler rejects (the interpreter runs Python): the while loops over pivot steps and the
    branches on a 1x1 or 2x2 step, each kernel in float32 and float64."""
    env = dict(os.environ, TRITON_INTERPRET="0", TRITON_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", SM90], env=env, capture_output=True, text=True, timeout=600, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "4"
