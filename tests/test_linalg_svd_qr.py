"""linalg.svd, svdvals, torch.svd, linalg.qr and torch.qr against torch on both backends (NumPy's
LAPACK; the Triton one-sided Jacobi and Householder kernels): singular values directly, singular
vectors after aligning their signs to torch's, Q and R directly (Householder as LAPACK's geqrf
gives R's diagonal torch's signs), float64 gradients, a compiled step at two batch sizes, the
refusals, and the kernels (eigh's too) compiled for sm_90. Triton cases stay at 3 x 4 (the interpreter runs a Jacobi sweep op by op)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_matches, data
from torch_grads import check_compiled_batches, check_grads
from vector_signs import aligned, assert_orthonormal_columns

import graphc
from graphc.errors import GraphcError

TOLERANCE = {"float32": 2e-5, "float64": 1e-12}


@pytest.mark.parametrize(
    "shape, full_matrices, dtype",
    [((2, 4, 3), False, "float32"), ((2, 3, 4), True, "float64")],
    ids=["tall-reduced-f32", "wide-full-f64"],
)
def test_svd_matches_torch_up_to_the_vectors_signs(backend: str, shape: tuple[int, ...], full_matrices: bool, dtype: str) -> None:
    """U's and Vh's first min(m, n) vectors match torch's once each pair (u_j, vh_j) has torch's sign; the
    vectors past them (full_matrices) are any orthonormal completion, in graphc as in LAPACK."""
    a = data(*shape, dtype=dtype)
    u, s, vh = graphc.linalg.svd(graphc.tensor(a), full_matrices=full_matrices)
    expected = torch.linalg.svd(torch.from_numpy(a), full_matrices=full_matrices)
    k, atol = min(shape[-2:]), TOLERANCE[dtype] * 10
    assert [tuple(t.shape) for t in (u, s, vh)] == [tuple(t.shape) for t in expected]
    assert {t.dtype.name for t in (u, s, vh)} == {dtype}
    np.testing.assert_allclose(s.numpy(), expected.S.numpy(), atol=atol)
    left, signs = aligned(u.numpy()[..., :k], expected.U[..., :k])
    np.testing.assert_allclose(left, expected.U[..., :k].numpy(), atol=atol)
    np.testing.assert_allclose(vh.numpy()[..., :k, :] * np.swapaxes(signs, -1, -2), expected.Vh[..., :k, :].numpy(), atol=atol)
    assert_orthonormal_columns(u.numpy(), atol)
    assert_orthonormal_columns(np.swapaxes(vh.numpy(), -1, -2), atol)
    np.testing.assert_allclose(graphc.linalg.svdvals(graphc.tensor(a)).numpy(), expected.S.numpy(), atol=atol)


def test_torch_svd_returns_v_and_zeros_without_compute_uv(backend: str) -> None:
    a = data(3, 2, dtype="float64")
    got, expected = graphc.svd(graphc.tensor(a)), torch.svd(torch.from_numpy(a))
    ours, signs = aligned(got.V.numpy(), expected.V)
    np.testing.assert_allclose(ours, expected.V.numpy(), atol=1e-12)
    np.testing.assert_allclose(got.U.numpy() * signs.reshape(1, -1), expected.U.numpy(), atol=1e-12)
    assert_matches(list(graphc.tensor(a).svd(compute_uv=False)), list(torch.from_numpy(a).svd(compute_uv=False)))


def test_svd_of_a_rank_deficient_matrix_completes_u_with_orthonormal_vectors(backend: str) -> None:
    """A zero singular value leaves its left vector undetermined: graphc's is orthonormal to the others."""
    column = data(3, 1, dtype="float64")
    a = np.concatenate([column, 2 * column], axis=1)
    u, s, vh = graphc.linalg.svd(graphc.tensor(a), full_matrices=True)
    np.testing.assert_allclose(s.numpy(), torch.linalg.svdvals(torch.from_numpy(a)).numpy(), atol=1e-12)
    assert_orthonormal_columns(u.numpy(), 1e-12)
    np.testing.assert_allclose(u.numpy()[:, :2] * s.numpy() @ vh.numpy(), a, atol=1e-12)


@pytest.mark.parametrize("shape, full_matrices", [((2, 4, 3), False), ((3, 4), True), ((3, 3), False)])
def test_svd_gradients_of_sign_free_losses_match_torch(shape: tuple[int, ...], full_matrices: bool) -> None:
    """S, the squared vectors and U diag(S) Vh rebuilt: torch's svd_backward, including the m > n and
    m < n terms; with full_matrices the vectors past min(m, n) get no gradient, as in torch."""
    k = min(shape[-2:])

    def losses(T: object, a: object) -> tuple:
        u, s, vh = T.linalg.svd(a, full_matrices=full_matrices)
        u, vh = u[..., :k], vh[..., :k, :]
        return s, u**2, vh**2, (u * s.unsqueeze(-2)) @ vh

    check_grads(losses, data(*shape, dtype="float64"))


def test_svd_gradients_on_triton_match_torch(backend: str) -> None:
    check_grads(lambda T, a: (lambda r: (r.S, r.U**2, r.Vh**2))(T.linalg.svd(a, full_matrices=False)), data(3, 2, dtype="float64"))


@pytest.mark.parametrize(
    "shape, dtype, modes",
    [((2, 4, 3), "float32", ("reduced", "complete", "r")), ((3, 4), "float64", ("reduced", "r"))],
    ids=["tall-f32", "wide-f64"],
)
def test_qr_matches_torch_exactly_signs_included(backend: str, shape: tuple[int, ...], dtype: str, modes: tuple[str, ...]) -> None:
    a = data(*shape, dtype=dtype)
    for mode in modes:
        assert_matches(list(graphc.linalg.qr(graphc.tensor(a), mode=mode)), list(torch.linalg.qr(torch.from_numpy(a), mode=mode)), atol=TOLERANCE[dtype] * 10)


def test_torch_qr_is_reduced_or_complete() -> None:
    a = data(4, 2, dtype="float64")
    assert_matches(list(graphc.qr(graphc.tensor(a))), list(torch.linalg.qr(torch.from_numpy(a))))
    assert_matches(list(graphc.tensor(a).qr(some=False)), list(torch.linalg.qr(torch.from_numpy(a), mode="complete")))


@pytest.mark.parametrize("shape, mode", [((2, 4, 3), "reduced"), ((3, 5), "reduced"), ((3, 4), "complete"), ((3, 3), "complete")])
def test_qr_gradients_match_torch(shape: tuple[int, ...], mode: str) -> None:
    check_grads(lambda T, a: tuple(T.linalg.qr(a, mode=mode)), data(*shape, dtype="float64"))


def test_qr_gradients_on_triton_match_torch(backend: str) -> None:
    check_grads(lambda T, a: tuple(T.linalg.qr(a)), data(3, 2, dtype="float64"))


def test_qr_refuses_the_gradients_torch_refuses() -> None:
    a = graphc.tensor(data(4, 3, dtype="float64"), requires_grad=True)
    with pytest.raises(GraphcError, match="The derivative of linalg.qr depends on Q, which is not computed when mode='r'"):
        graphc.linalg.qr(a, mode="r").R.sum().backward()
    with pytest.raises(GraphcError, match="The QR decomposition is not differentiable when mode='complete' and nrows > ncols."):
        graphc.linalg.qr(a, mode="complete").Q.sum().backward()


def test_eigh_svd_and_qr_in_one_compiled_step_at_two_batch_sizes(backend: str) -> None:
    """One program with the symbolic batch for the three decompositions (eigh of A^T A, 2 x 2), at batch
    sizes 2 and 3 (not the helper's 3 and 5: the Triton interpreter runs each matrix's program op by op)."""

    def make(rows: int) -> tuple[np.ndarray, ...]:
        return (data(rows // 2 + 1, 3, 2, dtype="float64"),)

    def step(T: object, a: object) -> tuple:
        values, vectors = T.linalg.eigh(a.mT @ a)
        return (values, vectors**2, T.linalg.svdvals(a), *T.linalg.qr(a))

    check_compiled_batches(step, make, backend)


def test_svd_and_qr_refuse_what_torch_refuses() -> None:
    cases = [
        (lambda: graphc.linalg.svd(graphc.ones(3, 3, dtype=graphc.float16)), "\"linalg_svd_cpu\" not implemented for 'Half'"),
        (lambda: graphc.linalg.svdvals(graphc.ones(3, 3, dtype=graphc.int64)), "linalg.svd: Expected a floating point or complex tensor as input. Got Long"),
        (lambda: graphc.linalg.svd(graphc.ones(3)), "linalg.svd: The input tensor A must have at least 2 dimensions."),
        (lambda: graphc.linalg.svd(graphc.ones(3, 3), driver="gesvd"), "keyword argument `driver=` is only supported on CUDA inputs"),
        (lambda: graphc.linalg.qr(graphc.ones(3, 3, dtype=graphc.bfloat16)), "\"geqrf_cpu\" not implemented for 'BFloat16'"),
        (lambda: graphc.linalg.qr(graphc.ones(3, 3, dtype=graphc.bool)), "linalg.qr: Expected a floating point or complex tensor as input. Got Bool"),
        (lambda: graphc.linalg.qr(graphc.ones(3, 3), mode="x"), "qr received unrecognized mode 'x' but expected one of 'reduced' (default)"),
    ]
    for build, message in cases:
        with pytest.raises(GraphcError, match="test_linalg_svd_qr.py") as raised:
            build()
        assert message in str(raised.value)


SM90 = """
import os
os.environ["TRITON_INTERPRET"] = "0"
import torch
from graphc.codegen import triton_compile
from graphc.codegen import triton_eigen as eigen
launches = []
triton_compile.recording = launches
for dtype in (torch.float32, torch.float64):
    a = torch.empty(2, 5, 3, dtype=dtype)
    eigen.eigh(torch.empty(2, 5, 5, dtype=dtype), torch.empty(2, 30, dtype=dtype), upper=False)
    eigen.svd(a, torch.empty(2, 15 + 3 + 9, dtype=dtype), full_matrices=False)
    eigen.qr(a, torch.empty(2, 15 + 9, dtype=dtype), mode="reduced")
    eigen.qr(a, torch.empty(2, 9, dtype=dtype), mode="r")
triton_compile.recording = None
print(len(triton_compile.compile_for_target(launches, workers=2)))
"""


@pytest.mark.slow  # about 15 s: eight compiles and Triton's imports in a process of its own
@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the Triton tests compile the kernels anyway")
def test_the_decomposition_kernels_compile_for_sm90(tmp_path: Path) -> None:
    """What only Triton's compiler rejects (the interpreter runs Python): the Jacobi sweeps' while loops and
    branches, float64 square roots, each kernel in float32 and float64."""
    env = dict(os.environ, TRITON_INTERPRET="0", TRITON_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", SM90], env=env, capture_output=True, text=True, timeout=600, cwd=Path(__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "8"
