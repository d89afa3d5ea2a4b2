"""The LU factorization family against torch (graphc/frontend/lu_factorization.py): linalg.lu_factor, lu_factor_ex,
linalg.lu, lu_unpack, linalg.lu_solve (left and adjoint), the deprecated torch.lu / torch.lu_solve and the Tensor
methods. LU, pivots and P as torch's on both backends (rows chosen as LAPACK's getrf: matrices that pivot),
float64 gradients of the factor, of P, L, U and of the solutions with respect to A, LU and B, the singular
case with torch's messages, a compiled step at two batch sizes, torch's refusals, and the kernels compiled
for sm_90 (the importer's lowerings: test_torch_import_linalg_lu.py). Triton cases stay at n <= 4, batch <= 2."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_matches
from torch_grads import check_compiled_batches, check_grads

import graphc
from graphc.errors import GraphcError

RNG = np.random.default_rng(5)
TOLERANCE = {"float32": (1e-5, 1e-6), "float64": (1e-12, 1e-13)}


def values(*shape: int, dtype: str = "float64") -> np.ndarray:
    return RNG.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("shape, dtype", [((2, 4, 4), "float32"), ((3, 4), "float64"), ((4, 3), "float64")], ids=["square-f32", "wide", "tall"])
def test_lu_factor_and_lu_match_torch_pivots_and_permutation_exactly(backend: str, shape: tuple[int, ...], dtype: str) -> None:
    a = values(*shape, dtype=dtype)
    rtol, atol = TOLERANCE[dtype]
    factor, pivots = graphc.linalg.lu_factor(graphc.tensor(a))
    expected = torch.linalg.lu_factor(torch.from_numpy(a))
    assert not np.array_equal(expected.pivots.numpy(), np.arange(1, expected.pivots.shape[-1] + 1) + np.zeros_like(expected.pivots.numpy()))
    assert pivots.dtype == graphc.int32 and np.array_equal(pivots.numpy(), expected.pivots.numpy())
    assert_matches([factor], [expected.LU], rtol=rtol, atol=atol)
    p, lower, upper = graphc.linalg.lu(graphc.tensor(a))
    theirs = torch.linalg.lu(torch.from_numpy(a))
    assert np.array_equal(p.numpy(), theirs.P.numpy()) and p.dtype.name == dtype
    assert_matches([lower, upper], [theirs.L, theirs.U], rtol=rtol, atol=atol)


def test_lu_solve_matches_torch_on_each_side_and_adjoint(backend: str) -> None:
    a, rhs = values(2, 3, 3), values(3, 2)  # B broadcast over A's batch
    factor, pivots = graphc.linalg.lu_factor(graphc.tensor(a))
    theirs = torch.linalg.lu_factor(torch.from_numpy(a))
    for left in (True, False):
        for adjoint in (True, False):
            b = rhs if left else rhs.T
            got = graphc.linalg.lu_solve(factor, pivots, graphc.tensor(b), left=left, adjoint=adjoint)
            assert_matches([got], [torch.linalg.lu_solve(*theirs, torch.from_numpy(b), left=left, adjoint=adjoint)], rtol=1e-12, atol=1e-12)


def test_lu_unpack_replays_pivots_that_did_not_come_from_graphc(backend: str) -> None:
    factor, pivots = torch.linalg.lu_factor(torch.from_numpy(values(2, 4, 3)))
    ours = graphc.tensor(factor.numpy()), graphc.tensor(pivots.numpy())
    assert_matches(list(graphc.lu_unpack(*ours)), list(torch.lu_unpack(factor, pivots)))
    for flags in ({"unpack_data": False}, {"unpack_pivots": False}):
        assert_matches(list(graphc.lu_unpack(*ours, **flags)), list(torch.lu_unpack(factor, pivots, **flags)))


@pytest.mark.parametrize("shape", [(2, 3, 3), (3, 5), (5, 3)], ids=["square", "wide", "tall"])
def test_lu_factor_and_lu_gradients_match_torch(shape: tuple[int, ...]) -> None:
    a = values(*shape)
    check_grads(lambda T, x: T.linalg.lu_factor(x), a)
    check_grads(lambda T, x: tuple(T.linalg.lu(x)), a)


def test_lu_gradients_on_triton_match_torch(backend: str) -> None:
    check_grads(lambda T, x: tuple(T.linalg.lu(x)), values(3, 3))


def test_lu_solve_gradients_match_torch_with_respect_to_a_lu_and_b() -> None:
    a, b = values(2, 3, 3), values(2, 3, 2)
    for left, adjoint in ((True, False), (True, True), (False, False), (False, True)):

        def through_a(T: object, x: object, r: object) -> object:
            return T.linalg.lu_solve(*T.linalg.lu_factor(x), r if left else r.mT, left=left, adjoint=adjoint)

        check_grads(through_a, a, b)
    factor, pivots = torch.linalg.lu_factor(torch.from_numpy(a))
    check_grads(lambda T, lu, r: T.linalg.lu_solve(lu, T.tensor(pivots.numpy()), r, adjoint=True), factor.numpy(), b)


def test_deprecated_lu_and_lu_solve_and_the_methods_match_torch() -> None:
    a, b = values(2, 3, 3), values(2, 3, 1)
    ga, ta = graphc.tensor(a), torch.from_numpy(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = [*torch.lu(ta), *ta.lu(get_infos=True), torch.lu_solve(torch.from_numpy(b), *torch.lu(ta))]
        expected.append(torch.from_numpy(b).lu_solve(*ta.lu()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        factor = graphc.lu(ga)
        got = [*factor, *ga.lu(get_infos=True), graphc.lu_solve(graphc.tensor(b), *factor), graphc.tensor(b).lu_solve(*factor)]
    assert_matches(got, expected, rtol=1e-12, atol=1e-12)
    said = [str(w.message).split(" in favor")[0] for w in caught]
    assert said == ["torch.lu is deprecated"] * 2 + ["torch.lu_solve is deprecated"] * 2, said


def test_a_singular_matrix_gives_torch_s_info_and_lu_factor_raises(backend: str) -> None:
    a = np.array([[[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]], [[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
    expected = torch.linalg.lu_factor_ex(torch.from_numpy(a))
    assert_matches(list(graphc.linalg.lu_factor_ex(graphc.tensor(a))), list(expected))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_matches(list(graphc.lu(graphc.tensor(a), get_infos=True)), list(torch.lu(torch.from_numpy(a), get_infos=True)))
    with pytest.raises(graphc.linalg.LinAlgError, match=r"torch.linalg.lu_factor: U\[3,3\] is zero and using it on lu_solve"):
        graphc.linalg.lu_factor(graphc.tensor(a[:1])).LU.numpy()
    with pytest.raises(graphc.linalg.LinAlgError, match=r"torch.linalg.lu_factor_ex: U\[2,2\] is zero"):
        graphc.linalg.lu_factor_ex(graphc.tensor(a[1:]), check_errors=True).LU.numpy()


def test_lu_factor_and_solve_in_a_compiled_step_at_two_batch_sizes() -> None:
    def step(T: object, a: object, b: object) -> tuple:
        factor, pivots = T.linalg.lu_factor(a)
        return factor, pivots, T.linalg.lu_solve(factor, pivots, b)

    check_compiled_batches(step, lambda rows: (values(rows, 3, 3), values(rows, 3, 2)), "numpy")


def test_lu_family_refuses_what_torch_refuses() -> None:
    square = graphc.tensor(values(3, 3))
    factor, pivots = graphc.linalg.lu_factor(square)
    for call, message in [
        (lambda: graphc.linalg.lu_factor(square, pivot=False), "linalg.lu_factor: LU without pivoting is not implemented on the CPU"),
        (lambda: graphc.linalg.lu(graphc.zeros(3)), "linalg.lu: Expected tensor with 2 or more dimensions. Got size: \\[3\\] instead"),
        (lambda: graphc.linalg.lu_factor(graphc.zeros(2, 2, dtype=graphc.int64)), "\"lu_cpu\" not implemented for 'Long'"),
        (lambda: graphc.linalg.lu_solve(factor, pivots.long(), square), "linalg.lu_solve: pivots should be a Tensor of scalar type torch.int32"),
        (lambda: graphc.linalg.lu_solve(factor, pivots, graphc.zeros(4, 3, dtype=graphc.float64)), "equation AX = B \\(3x3 and 4x3\\)"),
        (lambda: graphc.linalg.lu_solve(factor, pivots, graphc.zeros(3, 1)), "found LU of type Double and B of type Float"),
        (lambda: graphc.lu_unpack(factor, pivots.long()), "torch.lu_unpack: LU_pivots is expected to be a contiguous tensor of torch.int32 dtype"),
    ]:
        with pytest.raises(GraphcError, match=message):
            call()


def test_singular_and_indefinite_inputs_raise_naming_torch_s_pivot_and_minor(backend: str) -> None:
    """torch's messages with the number of the zero pivot or the failing minor (not torch's "(Batch element i): ")."""
    singular = graphc.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], [[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 1.0]]])
    with pytest.raises(graphc.linalg.LinAlgError, match="^linalg.inv: The diagonal element 2 is zero, the inversion could not be completed"):
        graphc.linalg.inv(singular).numpy()
    indefinite = graphc.tensor(np.diag([1.0, 2.0, -1.0]))
    minor = r"^linalg.cholesky: The factorization could not be completed because the input is not positive-definite \(the leading minor of order 3 is not"
    with pytest.raises(graphc.linalg.LinAlgError, match=minor):
        graphc.linalg.cholesky(indefinite).numpy()


SM90 = """
import os
os.environ["TRITON_INTERPRET"] = "0"
import torch
from graphc.codegen import triton_compile
from graphc.codegen import triton_linalg as la
launches = []
triton_compile.recording = launches
for dtype in (torch.float32, torch.float64):
    la.lu(torch.empty(2, 5, 3, dtype=dtype), torch.empty(2, 15 + 3 + 5, dtype=dtype))
    la.matrix_exp(torch.empty(2, 4, 4, dtype=dtype), torch.empty(2, 4, 4, dtype=dtype))
triton_compile.recording = None
print(len(triton_compile.compile_for_target(launches, workers=2)))
"""


@pytest.mark.slow  # Triton's compiler in a process of its own
@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the Triton tests compile the kernels anyway")
def test_the_lu_and_matrix_exp_kernels_compile_for_sm90(tmp_path: Path) -> None:
    """What only Triton's compiler rejects (the interpreter runs Python): matrix_exp's while loop of halvings and
    loops bounded by the degree it chose, each kernel in float32 and float64."""
    env = dict(os.environ, TRITON_INTERPRET="0", TRITON_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", SM90], env=env, capture_output=True, text=True, timeout=600, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "4"
