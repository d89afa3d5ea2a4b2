"""The NumPy kernels of the ``linalg`` primitives: LAPACK through ``np.linalg``, batched over leading axes.

``np.linalg`` raises on the inputs torch's ``_ex`` functions answer with an ``info`` (a
singular matrix, one that is not positive-definite); here those matrices get the result the
Triton kernels give (inf/NaN), so the IR's checks, not the kernel, decide what to raise.
Generated code calls these as ``rt.<op>`` (``numpy_support`` re-exports them).
"""

from __future__ import annotations

import numpy as np

from graphc.ir.primitives.matrix_exp import DEGREES, THETAS


def solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """X with A X = B (LAPACK gesv; the batches are already broadcast); a singular matrix's X is NaN."""
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        out = np.empty(b.shape, dtype=a.dtype)
        for at in np.ndindex(*out.shape[:-2]):
            try:
                out[at] = np.linalg.solve(a[at], b[at])
            except np.linalg.LinAlgError:
                out[at] = np.nan
        return out


def slogdet(a: np.ndarray) -> np.ndarray:
    """(sign, log|det|, getrf's info) packed in a last axis of 3; the info is searched for only where the sign is 0."""
    sign, logabs = np.linalg.slogdet(a)
    info = np.zeros_like(sign)
    singular = sign == 0
    if np.any(singular):
        info[singular] = _first_zero_pivots(a[singular])
    return np.stack([sign, logabs, info], axis=-1).astype(a.dtype, copy=False)


def _first_zero_pivots(a: np.ndarray) -> np.ndarray:
    """LAPACK getrf's info of each matrix of a [m, n, n] stack: 1 + the first zero pivot of LU with partial pivoting (0 if none)."""
    w = np.array(a, copy=True)
    m, n = w.shape[0], w.shape[-1]
    info = np.zeros(m, dtype=a.dtype)
    every = np.arange(m)
    for j in range(n):
        p = j + np.argmax(np.abs(w[:, j:, j]), axis=1)  # the first largest, as idamax
        rows_j, rows_p = w[every, j].copy(), w[every, p].copy()
        w[every, p], w[every, j] = rows_j, rows_p
        pivot = rows_p[:, j]
        info[(pivot == 0) & (info == 0)] = j + 1
        factor = np.divide(w[:, j + 1 :, j], pivot[:, None], out=np.zeros_like(w[:, j + 1 :, j]), where=pivot[:, None] != 0)
        w[:, j + 1 :, :] -= factor[:, :, None] * rows_p[:, None, :]
    return info


def cholesky(a: np.ndarray) -> np.ndarray:
    """The lower Cholesky factor (LAPACK potrf on the lower triangle); a matrix that is not positive-definite
    gets NaN from its first failing column on, as the Triton kernel."""
    try:
        return np.linalg.cholesky(a)
    except np.linalg.LinAlgError:
        return _cholesky_by_columns(np.asarray(a))


def _cholesky_by_columns(a: np.ndarray) -> np.ndarray:
    """Left-looking Cholesky over the whole batch, a non-positive pivot made NaN (then NaN spreads to later columns)."""
    n = a.shape[-1]
    out = np.zeros_like(a)
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(n):
            done = out[..., j, :j]
            pivot = a[..., j, j] - np.sum(done * done, axis=-1)
            root = np.sqrt(np.where(pivot > 0, pivot, np.nan))
            out[..., j, j] = root
            below = a[..., j + 1 :, j] - np.einsum("...ik,...k->...i", out[..., j + 1 :, :j], done)
            out[..., j + 1 :, j] = below / root[..., None]
    return out


def solve_triangular(a: np.ndarray, b: np.ndarray, upper: bool, unitriangular: bool) -> np.ndarray:
    """X with A X = B by substitution, reading only A's triangle (a zero on its diagonal gives inf/NaN, as torch's trtrs)."""
    n = a.shape[-1]
    out = np.array(np.broadcast_to(b, np.broadcast_shapes(a.shape[:-1] + (1,), b.shape)), dtype=a.dtype, copy=True)
    order = range(n - 1, -1, -1) if upper else range(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in order:
            solved = slice(j + 1, n) if upper else slice(0, j)
            row = out[..., j, :] - np.einsum("...c,...ck->...k", a[..., j, solved], out[..., solved, :])
            out[..., j, :] = row if unitriangular else row / a[..., j, j][..., None]
    return out


def matrix_exp(a: np.ndarray) -> np.ndarray:
    """exp(A) per matrix: the Taylor degree (and, past the largest, the scaling 2^-s and s squarings) from its 1-norm.

    The matrices that take each degree are evaluated together; squaring continues only for those
    whose s is not yet reached. A NaN or infinite norm gives NaN, as torch's.
    """
    thetas = THETAS[a.dtype.name]
    norms = np.abs(a).sum(axis=-2).max(axis=-1, initial=0.0)
    finite = np.isfinite(norms)
    norms = np.where(finite, norms, 0.0)
    squarings = _squarings(norms, thetas[-1])
    scaled = a / np.ldexp(np.ones((), a.dtype), squarings)[..., None, None]
    degree = np.full(norms.shape, len(DEGREES) - 1)
    for i in range(len(DEGREES) - 2, -1, -1):
        degree[norms <= thetas[i]] = i
    out = np.empty_like(a)
    for i, m in enumerate(DEGREES):
        chosen = degree == i
        if np.any(chosen):
            out[chosen] = _taylor(scaled[chosen], m)
    with np.errstate(over="ignore", invalid="ignore"):  # exp(A) may overflow, as torch's
        for step in range(int(squarings.max(initial=0))):
            more = squarings > step
            out[more] = out[more] @ out[more]
    out[~finite] = np.nan
    return out


def _squarings(norms: np.ndarray, top: float) -> np.ndarray:
    """The least s >= 0 with norm / 2^s <= top (halving is exact: the Triton kernel halves until it holds)."""
    with np.errstate(divide="ignore"):
        s = np.maximum(np.ceil(np.log2(np.maximum(norms, np.finfo(norms.dtype).tiny) / top)), 0).astype(np.int64)
    s += np.ldexp(norms, -s) > top
    s -= (s > 0) & (np.ldexp(norms, -(s - 1)) <= top)
    return s


def _taylor(a: np.ndarray, m: int) -> np.ndarray:
    """The degree-m Taylor polynomial of exp by Horner's rule: I + A(I + A/2(... (I + A/m)))."""
    eye = np.eye(a.shape[-1], dtype=a.dtype)
    p = eye + a / m
    for k in range(m - 1, 0, -1):
        p = eye + (a @ p) / k
    return p


def lu(a: np.ndarray) -> np.ndarray:
    """getrf over the batch: LU, the 1-based pivots and the row permutation, packed as the ``lu`` primitive's result.

    Column by column as LAPACK's unblocked getf2: the pivot is the first entry of largest
    magnitude at or below the diagonal (idamax), the rows are swapped, the column below is
    scaled by the pivot's reciprocal (none for a zero pivot), and the trailing block updated.
    """
    m, n = a.shape[-2:]
    k = min(m, n)
    count = int(np.prod(a.shape[:-2]))
    w = np.array(a, copy=True).reshape((count, m, n))
    every = np.arange(count)
    pivots = np.empty((count, k), dtype=np.int64)
    perm = np.tile(np.arange(m), (count, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(k):
            p = j + np.argmax(np.abs(w[:, j:, j]), axis=1)
            pivots[:, j] = p + 1
            rows_j, rows_p = w[every, j].copy(), w[every, p].copy()
            w[every, p], w[every, j] = rows_j, rows_p
            perm[every, p], perm[every, j] = perm[every, j], perm[every, p].copy()
            pivot = rows_p[:, j]
            scale = np.where(pivot != 0, 1.0 / np.where(pivot != 0, pivot, 1.0), 1.0).astype(a.dtype)
            w[:, j + 1 :, j] *= scale[:, None]
            w[:, j + 1 :, j + 1 :] -= w[:, j + 1 :, j, None] * rows_p[:, None, j + 1 :]
    batch = a.shape[:-2]
    parts = (w.reshape(count, m * n), pivots.astype(a.dtype), perm.astype(a.dtype))
    return np.concatenate(parts, axis=-1).reshape(batch + (m * n + k + m,))
