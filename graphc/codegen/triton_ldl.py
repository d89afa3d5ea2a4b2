"""Hand-written Triton kernels of the LDL primitives: ``ldl_factor`` (LAPACK's sytrf) and ``ldl_solve`` (sytrs).

Host functions named for the primitives follow ``graphc/codegen/triton_linalg.py``'s convention
(contiguous operands, the result's buffer last, launches through ``rt.launch``). One program per
matrix, for any n, rows as masked vectors of ``BLOCK_N`` lanes updated by tiles of ``ROWS`` rows,
``tl.debug_barrier()`` between stores and loads of the same elements by different lanes.

- ldl_factor works in the result's LD slot on a full symmetric copy of A's lower triangle, step by
  step as dsytf2 (uplo='L', Bunch-Kaufman): the pivot test on column k and on row imax, the trailing
  block's rows and columns kk and kp swapped (the columns of L already found stay, as LAPACK's), and
  the rank-1 or rank-2 update written to both triangles from the lower one's formula (so both hold
  the same values), the multipliers stored below the pivot. The upper triangle is zeroed at the end.
  A NaN pivot is stepped past as MKL's sytrf (torch's) does, not reported as reference LAPACK does.
- ldl_solve is dsytrs on B's copy in the result: the row swaps and L D's 1x1 or 2x2 blocks forwards,
  then L^T and the swaps backwards.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from graphc.codegen import triton_support as rt
from graphc.codegen.triton_linalg import WARPS, _blocks, _copy_rows

# Bunch and Kaufman's threshold, (1 + sqrt(17)) / 8, as LAPACK's.
ALPHA = (1.0 + math.sqrt(17.0)) / 8.0


@triton.jit
def _swap_trailing(w, n, k, kk, kp, cols, cmask):
    """Rows kk and kp of the trailing block (columns >= k) change places, then its columns kk and kp."""
    trail = (cols >= k) & cmask
    row_kk = tl.load(w + kk * n + cols, mask=trail)
    row_kp = tl.load(w + kp * n + cols, mask=trail)
    tl.debug_barrier()
    tl.store(w + kk * n + cols, row_kp, mask=trail)
    tl.store(w + kp * n + cols, row_kk, mask=trail)
    tl.debug_barrier()
    col_kk = tl.load(w + cols * n + kk, mask=trail)
    col_kp = tl.load(w + cols * n + kp, mask=trail)
    tl.debug_barrier()
    tl.store(w + cols * n + kk, col_kp, mask=trail)
    tl.store(w + cols * n + kp, col_kk, mask=trail)
    tl.debug_barrier()


@triton.jit
def _ldl_factor_kernel(a_ptr, out_ptr, n, ALPHA: tl.constexpr, BLOCK_N: tl.constexpr, ROWS: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    a = a_ptr + pid * n * n
    w = out_ptr + pid * (n * n + n + 1)
    pivots = w + n * n
    dtype = out_ptr.dtype.element_ty
    cols = tl.arange(0, BLOCK_N)
    cmask = cols < n
    for r0 in range(0, n, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        inside = (rows < n)[:, None] & cmask[None, :]
        lower = tl.maximum(rows[:, None], cols[None, :]) * n + tl.minimum(rows[:, None], cols[None, :])
        tl.store(w + rows[:, None] * n + cols[None, :], tl.load(a + lower, mask=inside), mask=inside)
    tl.debug_barrier()
    info = tl.full([], 0, tl.int32)
    k = tl.full([], 0, tl.int32)
    while k < n:
        below = (cols > k) & cmask
        column = tl.load(w + cols * n + k, mask=below, other=0.0)
        absakk = tl.abs(tl.load(w + k * n + k))
        imax = tl.argmax(tl.where(below, tl.abs(column), -1.0), 0).to(tl.int32)  # the first largest, as idamax
        colmax = tl.max(tl.where(below, tl.abs(column), 0.0), 0)
        row = tl.load(w + imax * n + cols, mask=(cols >= k) & cmask, other=0.0)
        rowmax = tl.max(tl.where((cols >= k) & cmask & (cols != imax), tl.abs(row), 0.0), 0)
        zero = (absakk == 0) & (colmax == 0)
        keep = zero | (absakk >= ALPHA * colmax) | (absakk >= ALPHA * colmax * (colmax / rowmax))
        swap_one = tl.abs(tl.load(w + imax * n + imax)) >= ALPHA * rowmax
        step = tl.where(keep | swap_one, 1, 2)
        kp = tl.where(keep, k, imax)
        info = tl.where(zero & (info == 0), k + 1, info)
        kk = k + step - 1
        tl.debug_barrier()
        _swap_trailing(w, n, k, kk, kp, cols, cmask)
        if step == 1:
            pivot = tl.load(w + k * n + k)
            d11 = tl.where(zero, 0.0, 1.0 / tl.where(zero, 1.0, pivot))  # a zero column is left as it is
            x = tl.load(w + cols * n + k, mask=below, other=0.0)
            t = d11 * x
            for r0 in range(k + 1, n, ROWS):
                rows = r0 + tl.arange(0, ROWS)
                x_r = tl.load(w + rows * n + k, mask=rows < n, other=0.0)
                inside = (rows < n)[:, None] & below[None, :]
                at = rows[:, None] * n + cols[None, :]
                update = tl.where(rows[:, None] >= cols[None, :], x_r[:, None] * t[None, :], x[None, :] * (d11 * x_r)[:, None])
                tl.store(w + at, tl.load(w + at, mask=inside) - update, mask=inside)
            tl.debug_barrier()
            tl.store(w + cols * n + k, t, mask=below)
            tl.store(pivots + k, (kp + 1).to(dtype))
        else:
            rest = (cols > k + 1) & cmask
            d21 = tl.load(w + (k + 1) * n + k)
            d11 = tl.load(w + (k + 1) * n + k + 1) / d21
            d22 = tl.load(w + k * n + k) / d21
            d21 = (1.0 / (d11 * d22 - 1.0)) / d21
            first = tl.load(w + cols * n + k, mask=rest, other=0.0)
            second = tl.load(w + cols * n + k + 1, mask=rest, other=0.0)
            wk = d21 * (d11 * first - second)
            wkp1 = d21 * (d22 * second - first)
            for r0 in range(k + 2, n, ROWS):
                rows = r0 + tl.arange(0, ROWS)
                first_r = tl.load(w + rows * n + k, mask=rows < n, other=0.0)
                second_r = tl.load(w + rows * n + k + 1, mask=rows < n, other=0.0)
                wk_r = d21 * (d11 * first_r - second_r)
                wkp1_r = d21 * (d22 * second_r - first_r)
                lower = rows[:, None] >= cols[None, :]
                inside = (rows < n)[:, None] & rest[None, :]
                at = rows[:, None] * n + cols[None, :]
                by_first = tl.where(lower, first_r[:, None] * wk[None, :], first[None, :] * wk_r[:, None])
                by_second = tl.where(lower, second_r[:, None] * wkp1[None, :], second[None, :] * wkp1_r[:, None])
                tl.store(w + at, (tl.load(w + at, mask=inside) - by_first) - by_second, mask=inside)
            tl.debug_barrier()
            tl.store(w + cols * n + k, wk, mask=rest)
            tl.store(w + cols * n + k + 1, wkp1, mask=rest)
            tl.store(pivots + cols, tl.full([BLOCK_N], 0, tl.int32).to(dtype) - (kp + 1).to(dtype), mask=(cols == k) | (cols == k + 1))
        tl.debug_barrier()
        k += step
    for r0 in range(0, n, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        upper = (rows < n)[:, None] & (cols[None, :] > rows[:, None]) & cmask[None, :]
        tl.store(w + rows[:, None] * n + cols[None, :], tl.zeros([ROWS, BLOCK_N], dtype), mask=upper)
    tl.store(pivots + n, info.to(dtype))


def ldl_factor(a: torch.Tensor, out: torch.Tensor) -> None:
    n = a.shape[-1]
    batch = out.numel() // (n * n + n + 1)
    if batch == 0:
        return
    block_n, _, rows = _blocks(n)
    rt.launch(_ldl_factor_kernel, (batch,), a, out, n, ALPHA=ALPHA, BLOCK_N=block_n, ROWS=rows, num_warps=WARPS)


@triton.jit
def _swap_rows(x, k, i, j, kcols, kmask):
    row_i = tl.load(x + i * k + kcols, mask=kmask)
    row_j = tl.load(x + j * k + kcols, mask=kmask)
    tl.debug_barrier()
    tl.store(x + i * k + kcols, row_j, mask=kmask)
    tl.store(x + j * k + kcols, row_i, mask=kmask)
    tl.debug_barrier()


@triton.jit
def _ldl_solve_kernel(ld_ptr, piv_ptr, b_ptr, x_ptr, n, k, BLOCK_K: tl.constexpr, ROWS: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    ld = ld_ptr + pid * n * n
    piv = piv_ptr + pid * n
    b = b_ptr + pid * n * k
    x = x_ptr + pid * n * k
    kcols = tl.arange(0, BLOCK_K)
    kmask = kcols < k
    _copy_rows(b, x, n, k, kcols, kmask, ROWS)
    tl.debug_barrier()
    j = tl.full([], 0, tl.int32)
    while j < n:  # L D Y = P^T B
        p = tl.load(piv + j)
        step = tl.where(p > 0, 1, 2)
        _swap_rows(x, k, j + step - 1, tl.abs(p) - 1, kcols, kmask)
        x_j = tl.load(x + j * k + kcols, mask=kmask)
        if step == 1:
            for r0 in range(j + 1, n, ROWS):
                rows = r0 + tl.arange(0, ROWS)
                inside = (rows < n)[:, None] & kmask[None, :]
                at = rows[:, None] * k + kcols[None, :]
                factor = tl.load(ld + rows * n + j, mask=rows < n, other=0.0)
                tl.store(x + at, tl.load(x + at, mask=inside) - factor[:, None] * x_j[None, :], mask=inside)
            tl.store(x + j * k + kcols, x_j / tl.load(ld + j * n + j), mask=kmask)
        else:
            x_j1 = tl.load(x + (j + 1) * k + kcols, mask=kmask)
            for r0 in range(j + 2, n, ROWS):
                rows = r0 + tl.arange(0, ROWS)
                inside = (rows < n)[:, None] & kmask[None, :]
                at = rows[:, None] * k + kcols[None, :]
                first = tl.load(ld + rows * n + j, mask=rows < n, other=0.0)
                second = tl.load(ld + rows * n + j + 1, mask=rows < n, other=0.0)
                tl.store(x + at, (tl.load(x + at, mask=inside) - first[:, None] * x_j[None, :]) - second[:, None] * x_j1[None, :], mask=inside)
            akm1k = tl.load(ld + (j + 1) * n + j)
            akm1 = tl.load(ld + j * n + j) / akm1k
            ak = tl.load(ld + (j + 1) * n + j + 1) / akm1k
            denom = akm1 * ak - 1.0
            bkm1 = x_j / akm1k
            bk = x_j1 / akm1k
            tl.store(x + j * k + kcols, (ak * bkm1 - bk) / denom, mask=kmask)
            tl.store(x + (j + 1) * k + kcols, (akm1 * bk - bkm1) / denom, mask=kmask)
        tl.debug_barrier()
        j += step
    j = n - 1
    while j >= 0:  # L^T P^T X = Y
        p = tl.load(piv + j)
        step = tl.where(p > 0, 1, 2)
        own = tl.zeros([BLOCK_K], x_ptr.dtype.element_ty)
        previous = tl.zeros([BLOCK_K], x_ptr.dtype.element_ty)
        for r0 in range(j + 1, n, ROWS):
            rows = r0 + tl.arange(0, ROWS)
            inside = (rows < n)[:, None] & kmask[None, :]
            solved = tl.load(x + rows[:, None] * k + kcols[None, :], mask=inside, other=0.0)
            own += tl.sum(tl.load(ld + rows * n + j, mask=rows < n, other=0.0)[:, None] * solved, 0)
            previous += tl.sum(tl.load(ld + rows * n + j - step + 1, mask=rows < n, other=0.0)[:, None] * solved, 0)
        tl.store(x + j * k + kcols, tl.load(x + j * k + kcols, mask=kmask) - own, mask=kmask)
        if step == 2:
            tl.store(x + (j - 1) * k + kcols, tl.load(x + (j - 1) * k + kcols, mask=kmask) - previous, mask=kmask)
        tl.debug_barrier()
        _swap_rows(x, k, j, tl.abs(p) - 1, kcols, kmask)
        j -= step


def ldl_solve(ld: torch.Tensor, pivots: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> None:
    n, k = ld.shape[-1], b.shape[-1]
    batch = out.numel() // (n * k) if n * k else 0
    if batch == 0:
        return
    _, block_k, rows = _blocks(n, k)
    rt.launch(_ldl_solve_kernel, (batch,), ld, pivots, b, out, n, k, BLOCK_K=block_k, ROWS=rows, num_warps=WARPS)
