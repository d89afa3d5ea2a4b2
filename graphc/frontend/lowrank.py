"""torch.svd_lowrank and torch.pca_lowrank: torch's randomized range finder (Halko, Martinsson and Tropp,
algorithms 4.4 and 5.1), line for line on graphc's matmul, QR and SVD.

The random matrix R comes from graphc's generator, not torch's, so U, S and V differ from torch's by
the random draws; what the algorithm determines (the singular values and subspaces of a matrix whose
rank is below q, the reconstruction) is torch's. Dense inputs only: graphc has no sparse tensors.
"""

from __future__ import annotations

from graphc.frontend.constructors import randn
from graphc.frontend.decompositions import linalg_qr, linalg_svd
from graphc.frontend.functional import node_of
from graphc.ir import dtypes
from graphc.ir.registry import op_error
from graphc.runtime.tensor import Tensor


def _basis(A: Tensor, q: int, niter: int, M: Tensor | None) -> Tensor:
    """Q with orthonormal columns whose span approximates the range of A - M (torch's get_approximate_basis)."""
    dtype = A.dtype if A.dtype.is_floating_point else dtypes.float32
    R = randn(A.shape[-1], q, dtype=dtype)
    X = A @ R
    if M is not None:
        X = X - M @ R
    Q = linalg_qr(X).Q
    for _ in range(niter):
        X = A.mH @ Q
        if M is not None:
            X = X - M.mH @ Q
        Q = linalg_qr(X).Q
        X = A @ Q
        if M is not None:
            X = X - M @ Q
        Q = linalg_qr(X).Q
    return Q


def _svd_lowrank(A: Tensor, q: int | None, niter: int | None, M: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    q = 6 if q is None else q
    niter = 2 if niter is None else niter
    m, n = A.shape[-2:]
    if M is not None:
        M = M.broadcast_to(tuple(A.shape))
    if m < n:
        A = A.mH
        if M is not None:
            M = M.mH
    Q = _basis(A, q, niter, M)
    B = Q.mH @ A
    if M is not None:
        B = B - Q.mH @ M
    U, S, Vh = linalg_svd(B, full_matrices=False)
    V = Vh.mH
    U = Q @ U
    if m < n:
        U, V = V, U
    return U, S, V


def svd_lowrank(A: Tensor, q: int | None = 6, niter: int | None = 2, M: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """torch.svd_lowrank: (U [..., m, q], S [..., q], V [..., n, q]) with A - M ~ U diag(S) V^T, from q random directions."""
    return _svd_lowrank(A, q, niter, M)


def pca_lowrank(A: Tensor, q: int | None = None, center: bool = True, niter: int = 2) -> tuple[Tensor, Tensor, Tensor]:
    """torch.pca_lowrank: svd_lowrank of A with its columns' means taken away (``center``); q defaults to min(6, m, n)."""
    m, n = A.shape[-2:]
    if q is None:
        q = min(6, m, n)
    elif not (q >= 0 and q <= min(m, n)):
        raise ValueError(f"q(={q}) must be non-negative integer and not greater than min(m, n)={min(m, n)}")
    if not niter >= 0:
        raise ValueError(f"niter(={niter}) must be non-negative integer")
    if node_of(A).type.ndim < 2:
        raise op_error("pca_lowrank", [node_of(A).type], {"q": q}, "pca_lowrank input is expected to be at least 2-dimensional")
    if not center:
        return _svd_lowrank(A, q, niter, None)
    return _svd_lowrank(A - A.mean(dim=(-2,), keepdim=True), q, niter, None)
