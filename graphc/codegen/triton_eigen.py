"""Hand-written Triton kernels of the decompositions: eigh (cyclic Jacobi), svd (one-sided Jacobi) and qr (Householder).

Host functions named for the primitives (``eigh``, ``svd``, ``qr``) follow the convention of
``graphc/codegen/triton_linalg.py``: contiguous operands, the packed result's buffer last,
the node's attributes as keywords, launches through ``rt.launch`` and scratch from ``rt.empty``.

One program per matrix of the batch, for any size: every step works on whole columns (or
rows) as masked vectors of ``BLOCK = next_power_of_2(size)`` lanes, and the working matrices
live in global memory (scratch copies and the result's buffer), so a rotation or a reflection
costs O(n) and registers never hold a matrix. Where a step reads elements that other lanes
stored (a row after the columns were rotated, one entry of a column) a ``tl.debug_barrier()``
comes first; steps that only ever touch a column through lanes indexed by its rows need none.
Sums run in the matrix's dtype: float32 in float32, float64 in float64.

- eigh: cyclic Jacobi on a symmetric copy of the triangle read, each rotation zeroing one
  off-diagonal pair (Golub and Van Loan's symmetric Schur 2x2): rows p and q of J^T A J
  computed once and stored as rows and columns (the matrix stays symmetric), the rotation
  accumulated into V. A pair is rotated only while |a_pq| exceeds eps * sqrt(|a_pp a_qq|)
  (and eps^2 times the norm), Demmel and Veselic's test, which gives the small eigenvalues
  to high relative accuracy; the sweeps stop after one without a rotation, at most
  ``MAX_SWEEPS``. Then the eigenvalues are sorted ascending with their vectors (a selection
  sort, swapping columns).
- svd: one-sided Jacobi (Hestenes) on the columns of the tall one of A and A^T: rotations
  orthogonalize pairs of columns until every pair's cosine is below ``eps``; the columns'
  norms are the singular values (sorted descending with the vectors), the normalized columns
  the left vectors, the accumulated rotations the right ones. Left vectors that are missing
  (a zero singular value, or past min(m, n) with ``full_matrices``) are completed by
  Gram-Schmidt from the unit vector least covered by those found.
- qr: Householder reflections as LAPACK's geqrf (``dlarfg``: beta = -sign(alpha) * norm, no
  reflection where the column below the diagonal is already 0), so R's diagonal signs are
  LAPACK's and torch's; Q as orgqr, each column the reflections applied to a unit vector.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from graphc.codegen import triton_support as rt
from graphc.ir.primitives.decompositions import qr_sizes, svd_sizes

# A matrix that has not converged after this many sweeps is returned as it is (LAPACK's own
# Jacobi drivers stop at 30; a sweep roughly squares the off-diagonal norm once it is small).
MAX_SWEEPS = 40
EPS = {torch.float32: 1.1920928955078125e-07, torch.float64: 2.220446049250313e-16}


def _warps(block: int) -> int:
    return 1 if block <= 64 else 4


def _batch(a: torch.Tensor) -> int:
    m, n = a.shape[-2:]
    return a.numel() // (m * n) if m * n else 0


@triton.jit
def _rotation(app, aqq, apq):
    """(c, s) of the Jacobi rotation that zeroes apq of the symmetric 2x2 [[app, apq], [apq, aqq]] (c = 1, s = 0 if it is 0)."""
    nonzero = apq != 0.0
    tau = (aqq - app) / (2.0 * tl.where(nonzero, apq, 1.0))
    size = tl.abs(tau)
    # Beyond 1e15 sqrt(1 + tau^2) is |tau| in both float32 and float64, and squaring would overflow float32.
    root = tl.where(size > 1e15, size, tl.sqrt(1.0 + tl.where(size > 1e15, 0.0, tau * tau)))
    t = tl.where(tau >= 0.0, 1.0, -1.0) / (size + root)
    c = 1.0 / tl.sqrt(1.0 + t * t)
    return tl.where(nonzero, c, 1.0), tl.where(nonzero, t * c, 0.0)


@triton.jit
def _eigh_kernel(x_ptr, out_ptr, work_ptr, n, UPPER: tl.constexpr, BLOCK: tl.constexpr, MAX_SWEEPS: tl.constexpr, EPS: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    x = x_ptr + pid * n * n
    values = out_ptr + pid * (n + n * n)
    vectors = values + n
    a = work_ptr + pid * n * n
    lanes = tl.arange(0, BLOCK)
    inside = lanes < n
    # The symmetric matrix of the triangle read, and V = I.
    norm2 = tl.sum(tl.zeros_like(lanes).to(out_ptr.dtype.element_ty), 0)
    for i in range(0, n):
        if UPPER:
            mine = lanes >= i
        else:
            mine = lanes <= i
        direct = tl.load(x + i * n + lanes, mask=inside & mine, other=0.0)
        mirrored = tl.load(x + lanes * n + i, mask=inside & (~mine), other=0.0)
        row = tl.where(mine, direct, mirrored)
        norm2 += tl.sum(row * row, 0)
        tl.store(a + i * n + lanes, row, mask=inside)
        tl.store(vectors + i * n + lanes, tl.where(lanes == i, 1.0, 0.0).to(row.dtype), mask=inside)
    tl.debug_barrier()
    floor = EPS * EPS * tl.sqrt(norm2)
    rotated = 1
    sweep = 0
    while (rotated > 0) & (sweep < MAX_SWEEPS):
        rotated = 0
        for p in range(0, n - 1):
            for q in range(p + 1, n):
                row_p = tl.load(a + p * n + lanes, mask=inside, other=0.0)
                row_q = tl.load(a + q * n + lanes, mask=inside, other=0.0)
                app = tl.sum(tl.where(lanes == p, row_p, 0.0), 0)
                aqq = tl.sum(tl.where(lanes == q, row_q, 0.0), 0)
                apq = tl.sum(tl.where(lanes == q, row_p, 0.0), 0)
                turn = tl.abs(apq) > tl.maximum(EPS * tl.sqrt(tl.abs(app * aqq)), floor)
                rotated += turn.to(tl.int32)
                if turn:
                    c, s = _rotation(app, aqq, apq)
                    t = s / c
                    # Rows p and q of J^T A J; by symmetry they are its columns p and q too.
                    new_p = tl.where(lanes == p, app - t * apq, tl.where(lanes == q, 0.0, c * row_p - s * row_q))
                    new_q = tl.where(lanes == q, aqq + t * apq, tl.where(lanes == p, 0.0, s * row_p + c * row_q))
                    tl.debug_barrier()
                    tl.store(a + p * n + lanes, new_p, mask=inside)
                    tl.store(a + q * n + lanes, new_q, mask=inside)
                    tl.store(a + lanes * n + p, new_p, mask=inside)
                    tl.store(a + lanes * n + q, new_q, mask=inside)
                    v_p = tl.load(vectors + lanes * n + p, mask=inside, other=0.0)
                    v_q = tl.load(vectors + lanes * n + q, mask=inside, other=0.0)
                    tl.store(vectors + lanes * n + p, c * v_p - s * v_q, mask=inside)
                    tl.store(vectors + lanes * n + q, s * v_p + c * v_q, mask=inside)
                    tl.debug_barrier()
        sweep += 1
    # Eigenvalues ascending, each column of V moved with its value.
    diagonal = tl.load(a + lanes * n + lanes, mask=inside, other=float("inf"))
    for i in range(0, n):
        candidates = tl.where((lanes >= i) & inside, diagonal, float("inf"))
        j = tl.argmin(candidates, 0)
        smallest = tl.min(candidates, 0)
        here = tl.sum(tl.where(lanes == i, diagonal, 0.0), 0)
        diagonal = tl.where(lanes == i, smallest, tl.where(lanes == j, here, diagonal))
        v_i = tl.load(vectors + lanes * n + i, mask=inside, other=0.0)
        v_j = tl.load(vectors + lanes * n + j, mask=inside, other=0.0)
        tl.store(vectors + lanes * n + i, v_j, mask=inside)
        tl.store(vectors + lanes * n + j, v_i, mask=inside)
    tl.store(values + lanes, diagonal, mask=inside)


def eigh(a: torch.Tensor, out: torch.Tensor, upper: bool) -> None:
    n = a.shape[-1]
    batch = _batch(a)
    if batch == 0:
        return
    block = rt.next_power_of_2(n)
    work = rt.empty((batch, n, n), a.dtype)
    rt.launch(_eigh_kernel, (batch,), a, out, work, n, UPPER=upper, BLOCK=block, MAX_SWEEPS=MAX_SWEEPS, EPS=EPS[a.dtype], num_warps=_warps(block))


@triton.jit
def _svd_kernel(
    x_ptr, out_ptr, w_ptr, v_ptr, m, n, x_rows, x_cols, length, columns,
    left, left_rows, left_cols, values_at, right, right_rows, right_cols,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, MAX_SWEEPS: tl.constexpr, EPS: tl.constexpr,
):  # fmt: skip
    """One-sided Jacobi on the m x n (m >= n) matrix read with strides (x_rows, x_cols): its left
    vectors (``columns`` of them) and right vectors are stored with the strides given, so the
    host places them as U and Vh, or, for the transpose of a wide matrix, as Vh and U."""
    pid = tl.program_id(0).to(tl.int64)
    x = x_ptr + pid * m * n
    out = out_ptr + pid * length
    w = w_ptr + pid * m * n
    v = v_ptr + pid * n * n
    rows = tl.arange(0, BLOCK_M)
    in_rows = rows < m
    lanes = tl.arange(0, BLOCK_N)
    in_lanes = lanes < n
    # Every step reads and writes whole columns through the lanes of their rows: no barriers.
    for j in range(0, n):
        tl.store(w + rows * n + j, tl.load(x + rows * x_rows + j * x_cols, mask=in_rows, other=0.0), mask=in_rows)
        tl.store(v + lanes * n + j, tl.where(lanes == j, 1.0, 0.0).to(out_ptr.dtype.element_ty), mask=in_lanes)
    rotated = 1
    sweep = 0
    while (rotated > 0) & (sweep < MAX_SWEEPS):
        rotated = 0
        for p in range(0, n - 1):
            for q in range(p + 1, n):
                w_p = tl.load(w + rows * n + p, mask=in_rows, other=0.0)
                w_q = tl.load(w + rows * n + q, mask=in_rows, other=0.0)
                alpha = tl.sum(w_p * w_p, 0)
                beta = tl.sum(w_q * w_q, 0)
                gamma = tl.sum(w_p * w_q, 0)
                turn = tl.abs(gamma) > EPS * tl.sqrt(alpha) * tl.sqrt(beta)
                rotated += turn.to(tl.int32)
                if turn:
                    c, s = _rotation(alpha, beta, gamma)
                    tl.store(w + rows * n + p, c * w_p - s * w_q, mask=in_rows)
                    tl.store(w + rows * n + q, s * w_p + c * w_q, mask=in_rows)
                    v_p = tl.load(v + lanes * n + p, mask=in_lanes, other=0.0)
                    v_q = tl.load(v + lanes * n + q, mask=in_lanes, other=0.0)
                    tl.store(v + lanes * n + p, c * v_p - s * v_q, mask=in_lanes)
                    tl.store(v + lanes * n + q, s * v_p + c * v_q, mask=in_lanes)
        sweep += 1
    # Singular values (the columns' norms) descending, the columns of W and V moved with them.
    norms = tl.zeros([BLOCK_N], out_ptr.dtype.element_ty)
    for j in range(0, n):
        w_j = tl.load(w + rows * n + j, mask=in_rows, other=0.0)
        norms = tl.where(lanes == j, tl.sqrt(tl.sum(w_j * w_j, 0)), norms)
    for i in range(0, n):
        candidates = tl.where((lanes >= i) & in_lanes, norms, -1.0)
        j = tl.argmax(candidates, 0)
        largest = tl.max(candidates, 0)
        here = tl.sum(tl.where(lanes == i, norms, 0.0), 0)
        norms = tl.where(lanes == i, largest, tl.where(lanes == j, here, norms))
        w_i = tl.load(w + rows * n + i, mask=in_rows, other=0.0)
        w_j = tl.load(w + rows * n + j, mask=in_rows, other=0.0)
        tl.store(w + rows * n + i, w_j, mask=in_rows)
        tl.store(w + rows * n + j, w_i, mask=in_rows)
        v_i = tl.load(v + lanes * n + i, mask=in_lanes, other=0.0)
        v_j = tl.load(v + lanes * n + j, mask=in_lanes, other=0.0)
        tl.store(v + lanes * n + i, v_j, mask=in_lanes)
        tl.store(v + lanes * n + j, v_i, mask=in_lanes)
    tl.store(out + values_at + lanes, norms, mask=in_lanes)
    for j in range(0, n):
        v_j = tl.load(v + lanes * n + j, mask=in_lanes, other=0.0)
        tl.store(out + right + lanes * right_rows + j * right_cols, v_j, mask=in_lanes)
    # Left vectors: the normalized columns, then Gram-Schmidt for those missing.
    for j in range(0, n):
        size = tl.sum(tl.where(lanes == j, norms, 0.0), 0)
        w_j = tl.load(w + rows * n + j, mask=in_rows, other=0.0)
        tl.store(out + left + rows * left_rows + j * left_cols, w_j / tl.where(size > 0.0, size, 1.0), mask=in_rows)
    tl.debug_barrier()
    for j in range(0, columns):
        size = tl.sum(tl.where(lanes == j, norms, 0.0), 0)
        if (j >= n) | (size == 0.0):
            # The unit vector least covered by the columns found (1 - its squared projection onto them).
            covered = tl.zeros([BLOCK_M], out_ptr.dtype.element_ty)
            for col in range(0, j):
                u = tl.load(out + left + rows * left_rows + col * left_cols, mask=in_rows, other=0.0)
                covered += u * u
            pick = tl.argmin(tl.where(in_rows, covered, float("inf")), 0)
            fresh = tl.where(rows == pick, 1.0, 0.0).to(out_ptr.dtype.element_ty)
            for _ in range(0, 2):  # twice is enough (Kahan's "twice is enough" for Gram-Schmidt)
                for col in range(0, j):
                    u = tl.load(out + left + rows * left_rows + col * left_cols, mask=in_rows, other=0.0)
                    fresh -= tl.sum(u * fresh, 0) * u
            fresh = fresh / tl.sqrt(tl.sum(fresh * fresh, 0))
            tl.store(out + left + rows * left_rows + j * left_cols, fresh, mask=in_rows)
            tl.debug_barrier()


def svd(a: torch.Tensor, out: torch.Tensor, full_matrices: bool) -> None:
    """The tall matrix's factors placed as torch's: for a wide A = (A^T)^T, A^T's left vectors are V, its right ones U."""
    m, n = a.shape[-2:]
    (u_rows, u_cols), _, (vh_rows, vh_cols) = svd_sizes(m, n, full_matrices)
    values_at = u_rows * u_cols
    right_at = values_at + min(m, n)
    length = right_at + vh_rows * vh_cols
    # The batch from the result: a matrix without columns (or rows) still has full vectors to write (identity).
    batch = out.numel() // length if length else 0
    if batch == 0:
        return
    if m >= n:  # left vectors are U's columns, right ones V's columns: Vh[j, i] = V[i, j]
        tall, wide, strides = m, n, (n, 1)
        placement = (0, u_cols, 1, u_cols, right_at, 1, n)
    else:  # left vectors are V's columns (Vh's rows), right ones U's columns
        tall, wide, strides = n, m, (1, n)
        placement = (right_at, 1, n, vh_rows, 0, m, 1)
    left, left_rows, left_cols, columns, right, right_rows, right_cols = placement
    block_m, block_n = rt.next_power_of_2(tall), rt.next_power_of_2(max(wide, 1))
    work = rt.empty((batch, tall, wide), a.dtype)
    rotations = rt.empty((batch, wide, wide), a.dtype)
    rt.launch(
        _svd_kernel, (batch,), a, out, work, rotations, tall, wide, *strides, length, columns,
        left, left_rows, left_cols, values_at, right, right_rows, right_cols,
        BLOCK_M=block_m, BLOCK_N=block_n, MAX_SWEEPS=MAX_SWEEPS, EPS=EPS[a.dtype], num_warps=_warps(block_m),
    )  # fmt: skip


@triton.jit
def _qr_kernel(x_ptr, out_ptr, r_ptr, v_ptr, m, n, k, columns, r_at, length, R_ONLY: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_K: tl.constexpr):
    """geqrf's reflections on a copy of A, then R's first ``columns`` rows and Q's ``columns`` columns (orgqr)."""
    pid = tl.program_id(0).to(tl.int64)
    x = x_ptr + pid * m * n
    out = out_ptr + pid * length
    r = r_ptr + pid * m * n
    vs = v_ptr + pid * m * k
    rows = tl.arange(0, BLOCK_M)
    in_rows = rows < m
    steps = tl.arange(0, BLOCK_K)
    taus = tl.zeros([BLOCK_K], out_ptr.dtype.element_ty)
    for j in range(0, n):
        tl.store(r + rows * n + j, tl.load(x + rows * n + j, mask=in_rows, other=0.0), mask=in_rows)
    for j in range(0, k):
        column = tl.load(r + rows * n + j, mask=in_rows, other=0.0)
        alpha = tl.sum(tl.where(rows == j, column, 0.0), 0)
        below = tl.where((rows > j) & in_rows, column, 0.0)
        below2 = tl.sum(below * below, 0)
        reflect = below2 > 0.0
        norm = tl.sqrt(alpha * alpha + below2)
        beta = tl.where(alpha >= 0.0, -norm, norm)
        tau = tl.where(reflect, (beta - alpha) / tl.where(reflect, beta, 1.0), 0.0)
        scale = tl.where(reflect, 1.0 / tl.where(reflect, alpha - beta, 1.0), 0.0)
        v = tl.where(rows == j, 1.0, below * scale)
        taus = tl.where(steps == j, tau, taus)
        tl.store(vs + rows * k + j, v, mask=in_rows)
        tl.store(r + rows * n + j, tl.where(rows == j, tl.where(reflect, beta, alpha), tl.where(rows > j, 0.0, column)), mask=in_rows)
        for col in range(j + 1, n):
            values = tl.load(r + rows * n + col, mask=in_rows, other=0.0)
            tl.store(r + rows * n + col, values - tau * tl.sum(v * values, 0) * v, mask=in_rows)
    for col in range(0, n):  # R: the first ``columns`` rows
        values = tl.load(r + rows * n + col, mask=in_rows, other=0.0)
        tl.store(out + r_at + rows * n + col, values, mask=rows < columns)
    if not R_ONLY:
        for col in range(0, columns):  # Q e_col = H_0 ... H_{k-1} e_col
            q = tl.where(rows == col, 1.0, 0.0).to(out_ptr.dtype.element_ty)
            for back in range(0, k):
                j = k - 1 - back
                v = tl.load(vs + rows * k + j, mask=in_rows, other=0.0)
                tau = tl.sum(tl.where(steps == j, taus, 0.0), 0)
                q = q - tau * tl.sum(v * q, 0) * v
            tl.store(out + rows * columns + col, q, mask=in_rows)


def qr(a: torch.Tensor, out: torch.Tensor, mode: str) -> None:
    m, n = a.shape[-2:]
    k = min(m, n)
    sizes = qr_sizes(m, n, mode)
    r_rows = sizes[-1][0]
    r_at = 0 if mode == "r" else m * sizes[0][1]
    length = r_at + r_rows * n
    # The batch from the result: a complete Q of a matrix without columns is the identity, still to write.
    batch = out.numel() // length if length else 0
    if batch == 0:
        return
    block_m = rt.next_power_of_2(m)
    work = rt.empty((batch, m, n), a.dtype)
    reflectors = rt.empty((batch, m, max(k, 1)), a.dtype)
    rt.launch(
        _qr_kernel, (batch,), a, out, work, reflectors, m, n, k, r_rows, r_at, length,
        R_ONLY=mode == "r", BLOCK_M=block_m, BLOCK_K=rt.next_power_of_2(max(k, 1)), num_warps=_warps(block_m),
    )  # fmt: skip
