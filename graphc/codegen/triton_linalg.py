"""Hand-written Triton kernels of the ``linalg`` primitives: solve, slogdet, lu, cholesky, solve_triangular.

How a linalg primitive runs on Triton (add a kernel this way):

1. The primitive is registered in the ``"linalg"`` category, so fusion gives it a kernel of
   its own (``ALONE`` in ``graphc/passes/fusion.py``), holding it and the views it reads.
2. ``KernelEmitter.linalg_kernel`` (``graphc/codegen/triton.py``) copies every operand that is
   not a buffer (a transpose, a broadcast) into a contiguous one, then writes the launcher line
   ``la.<op>(<operands>..., <result>, <attr>=<value>...)``: generated programs import this module
   as ``la``. So a host function named for the op takes contiguous torch tensors, the result's
   buffer last (contiguous, to be written, not zeroed), and the node's attributes as keywords.
   Add the op's name to ``LINALG`` in triton.py. A module of its own (``triton_eigen.py``)
   exposes its host functions by being imported at the end of this one.
3. The host function launches its ``@triton.jit`` kernels through ``rt.launch`` (so
   ``graphc.codegen.triton_compile`` can record and compile them ahead), allocating any
   scratch memory with ``rt.empty``. It must not read tensor values on the host.

The kernels here run one program per matrix of the batch, for any n: rows are masked vectors
of ``BLOCK_N = next_power_of_2(n)`` lanes, the working matrix lives in global memory (the
result's buffer or a scratch copy), updated by tiles of ``ROWS`` rows, with
``tl.debug_barrier()`` between stores and loads of the same elements by different lanes (a
step's stores and the next step's loads; a tile's read of the pivot column and its update of
that column): a GPU's warps do not run in step. They compute in the operands' dtype:
float32 accumulates in float32 as torch's CPU LAPACK does, float64 in float64.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from graphc.codegen import triton_support as rt

# Elements of one tile of rows: the interpreter runs a whole small matrix as one tile.
TILE_ELEMENTS = 4096 if not rt.INTERPRET else 1 << 16
WARPS = 4


def _blocks(n: int, k: int = 1) -> tuple[int, int, int]:
    """(BLOCK_N, BLOCK_K, ROWS): lanes of a row of A, of a row of B, and rows per tile."""
    block_n = rt.next_power_of_2(max(n, 1))
    block_k = rt.next_power_of_2(max(k, 1))
    rows = max(1, min(block_n, TILE_ELEMENTS // max(block_n, block_k)))
    return block_n, block_k, rows


def _batch(a: torch.Tensor) -> int:
    n = a.shape[-1]
    return a.numel() // (n * n) if n else 0


@triton.jit
def _copy_rows(src, dst, n, width, cols, cmask, ROWS: tl.constexpr):
    """``dst = src`` for an [n, width] row-major matrix, ROWS rows at a time: the kernels solve in their copy."""
    for r0 in range(0, n, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        inside = (rows < n)[:, None] & cmask[None, :]
        at = rows[:, None] * width + cols[None, :]
        tl.store(dst + at, tl.load(src + at, mask=inside), mask=inside)


@triton.jit
def _solve_kernel(a_ptr, b_ptr, w_ptr, x_ptr, n, k, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, ROWS: tl.constexpr):
    """Gauss-Jordan elimination with partial pivoting on [A | B]: A's copy in w becomes the identity, B's in x the solution."""
    pid = tl.program_id(0).to(tl.int64)
    a = a_ptr + pid * n * n
    b = b_ptr + pid * n * k
    w = w_ptr + pid * n * n
    x = x_ptr + pid * n * k
    cols = tl.arange(0, BLOCK_N)
    kcols = tl.arange(0, BLOCK_K)
    cmask = cols < n
    kmask = kcols < k
    _copy_rows(a, w, n, n, cols, cmask, ROWS)
    _copy_rows(b, x, n, k, kcols, kmask, ROWS)
    tl.debug_barrier()
    for j in range(0, n):
        # the pivot: the first row at or below j whose column-j entry is largest in magnitude (LAPACK's idamax)
        below = (cols >= j) & cmask
        p = tl.argmax(tl.where(below, tl.abs(tl.load(w + cols * n + j, mask=below, other=0.0)), -1.0), 0)
        pivot = tl.load(w + p * n + j)
        row_j = tl.load(w + j * n + cols, mask=cmask)
        row_p = tl.load(w + p * n + cols, mask=cmask) / pivot
        x_j = tl.load(x + j * k + kcols, mask=kmask)
        x_p = tl.load(x + p * k + kcols, mask=kmask) / pivot
        tl.debug_barrier()
        tl.store(w + p * n + cols, row_j, mask=cmask)
        tl.store(x + p * k + kcols, x_j, mask=kmask)
        tl.store(w + j * n + cols, row_p, mask=cmask)
        tl.store(x + j * k + kcols, x_p, mask=kmask)
        tl.debug_barrier()
        for r0 in range(0, n, ROWS):
            rows = r0 + tl.arange(0, ROWS)
            others = (rows < n) & (rows != j)
            factor = tl.load(w + rows * n + j, mask=others, other=0.0)[:, None]
            inside = others[:, None] & cmask[None, :]
            at = rows[:, None] * n + cols[None, :]
            updated = tl.load(w + at, mask=inside) - factor * row_p[None, :]
            tl.debug_barrier()  # other lanes store column j, which the factor was read from
            tl.store(w + at, updated, mask=inside)
            inside = others[:, None] & kmask[None, :]
            at = rows[:, None] * k + kcols[None, :]
            tl.store(x + at, tl.load(x + at, mask=inside) - factor * x_p[None, :], mask=inside)
        tl.debug_barrier()


def solve(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor) -> None:
    n, k = a.shape[-1], b.shape[-1]
    batch = _batch(a)
    if batch == 0 or k == 0:
        return
    block_n, block_k, rows = _blocks(n, k)
    scratch = rt.empty(tuple(a.shape), a.dtype)
    rt.launch(_solve_kernel, (batch,), a, b, scratch, out, n, k, BLOCK_N=block_n, BLOCK_K=block_k, ROWS=rows, num_warps=WARPS)


@triton.jit
def _slogdet_kernel(a_ptr, w_ptr, out_ptr, n, BLOCK_N: tl.constexpr, ROWS: tl.constexpr):
    """LU with partial pivoting, as LAPACK's getrf: a zero pivot sets info (the first) and skips its elimination."""
    pid = tl.program_id(0).to(tl.int64)
    a = a_ptr + pid * n * n
    w = w_ptr + pid * n * n
    cols = tl.arange(0, BLOCK_N)
    cmask = cols < n
    for r0 in range(0, n, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        inside = (rows < n)[:, None] & cmask[None, :]
        at = rows[:, None] * n + cols[None, :]
        tl.store(w + at, tl.load(a + at, mask=inside), mask=inside)
    dtype = w_ptr.dtype.element_ty
    sign = tl.full([], 1.0, dtype)
    logabs = tl.full([], 0.0, dtype)
    info = tl.full([], 0.0, dtype)
    tl.debug_barrier()
    for j in range(0, n):
        below = (cols >= j) & cmask
        p = tl.argmax(tl.where(below, tl.abs(tl.load(w + cols * n + j, mask=below, other=0.0)), -1.0), 0)
        pivot = tl.load(w + p * n + j)
        row_j = tl.load(w + j * n + cols, mask=below)
        row_p = tl.load(w + p * n + cols, mask=below)
        tl.debug_barrier()
        tl.store(w + p * n + cols, row_j, mask=below)
        tl.store(w + j * n + cols, row_p, mask=below)
        tl.debug_barrier()
        sign = tl.where((p != j) != (pivot < 0), -sign, sign)
        logabs += tl.log(tl.where(pivot == 0, 1.0, tl.abs(pivot)))  # -inf when singular, set at the end
        info = tl.where((pivot == 0) & (info == 0), j + 1.0, info)
        scale = tl.where(pivot == 0, 0.0, 1.0 / tl.where(pivot == 0, 1.0, pivot))  # getrf skips a zero pivot's column
        for r0 in range(j + 1, n, ROWS):
            rows = r0 + tl.arange(0, ROWS)
            factor = tl.load(w + rows * n + j, mask=rows < n, other=0.0)[:, None] * scale
            inside = (rows < n)[:, None] & below[None, :]
            at = rows[:, None] * n + cols[None, :]
            updated = tl.load(w + at, mask=inside) - factor * row_p[None, :]
            tl.debug_barrier()  # other lanes store column j, which the factor was read from
            tl.store(w + at, updated, mask=inside)
        tl.debug_barrier()
    sign = tl.where(info != 0, 0.0, sign)
    logabs = tl.where(info != 0, -float("inf"), logabs)
    slots = tl.arange(0, 4)
    tl.store(out_ptr + pid * 3 + slots, tl.where(slots == 0, sign, tl.where(slots == 1, logabs, info)), mask=slots < 3)


def slogdet(a: torch.Tensor, out: torch.Tensor) -> None:
    batch = out.numel() // 3
    if batch == 0:
        return
    block_n, _, rows = _blocks(a.shape[-1])
    scratch = rt.empty(tuple(a.shape), a.dtype)
    rt.launch(_slogdet_kernel, (batch,), a, scratch, out, a.shape[-1], BLOCK_N=block_n, ROWS=rows, num_warps=WARPS)


@triton.jit
def _lu_kernel(a_ptr, out_ptr, m, n, k, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, ROWS: tl.constexpr):
    """getrf in the result's LU slot, as ``_slogdet_kernel``'s elimination, also storing the multipliers, the
    1-based pivots and the row permutation after it (exact floats): the ``lu`` primitive's packed result."""
    pid = tl.program_id(0).to(tl.int64)
    a = a_ptr + pid * m * n
    w = out_ptr + pid * (m * n + k + m)
    pivots = w + m * n
    perm = pivots + k
    dtype = out_ptr.dtype.element_ty
    cols = tl.arange(0, BLOCK_N)
    cmask = cols < n
    lanes = tl.arange(0, BLOCK_M)
    for r0 in range(0, m, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        inside = (rows < m)[:, None] & cmask[None, :]
        at = rows[:, None] * n + cols[None, :]
        tl.store(w + at, tl.load(a + at, mask=inside), mask=inside)
    tl.store(perm + lanes, lanes.to(dtype), mask=lanes < m)
    tl.debug_barrier()
    for j in range(0, k):
        below = (lanes >= j) & (lanes < m)
        p = tl.argmax(tl.where(below, tl.abs(tl.load(w + lanes * n + j, mask=below, other=0.0)), -1.0), 0)
        pivot = tl.load(w + p * n + j)
        row_j = tl.load(w + j * n + cols, mask=cmask)
        row_p = tl.load(w + p * n + cols, mask=cmask)
        perm_j = tl.load(perm + j)
        perm_p = tl.load(perm + p)
        tl.debug_barrier()
        tl.store(w + p * n + cols, row_j, mask=cmask)
        tl.store(w + j * n + cols, row_p, mask=cmask)
        tl.store(perm + p, perm_j)
        tl.store(perm + j, perm_p)
        tl.store(pivots + j, (p + 1).to(dtype))
        tl.debug_barrier()
        scale = tl.where(pivot == 0, 1.0, 1.0 / tl.where(pivot == 0, 1.0, pivot))  # getrf leaves a zero pivot's column
        for r0 in range(j + 1, m, ROWS):
            rows = r0 + tl.arange(0, ROWS)
            factor = tl.load(w + rows * n + j, mask=rows < m, other=0.0) * scale
            inside = (rows < m)[:, None] & (cols > j)[None, :] & cmask[None, :]
            at = rows[:, None] * n + cols[None, :]
            updated = tl.load(w + at, mask=inside) - factor[:, None] * row_p[None, :]
            tl.debug_barrier()  # other lanes read column j, stored now
            tl.store(w + at, updated, mask=inside)
            tl.store(w + rows * n + j, factor, mask=rows < m)
        tl.debug_barrier()


def lu(a: torch.Tensor, out: torch.Tensor) -> None:
    m, n = a.shape[-2:]
    k = min(m, n)
    batch = out.numel() // (m * n + k + m) if m else 0
    if batch == 0:
        return
    block_m, block_n = rt.next_power_of_2(m), rt.next_power_of_2(max(n, 1))
    rows = max(1, min(block_m, TILE_ELEMENTS // block_n))
    rt.launch(_lu_kernel, (batch,), a, out, m, n, k, BLOCK_M=block_m, BLOCK_N=block_n, ROWS=rows, num_warps=WARPS)


@triton.jit
def _cholesky_kernel(a_ptr, l_ptr, n, BLOCK_N: tl.constexpr, ROWS: tl.constexpr):
    """Right-looking Cholesky in the result: column j is scaled by sqrt(pivot), then the trailing lower triangle updated.

    A pivot that is not positive (A is not positive-definite) becomes NaN, and NaN spreads
    to every later column, so the first non-positive diagonal entry of L is LAPACK's info.
    """
    pid = tl.program_id(0).to(tl.int64)
    a = a_ptr + pid * n * n
    el = l_ptr + pid * n * n
    cols = tl.arange(0, BLOCK_N)
    for r0 in range(0, n, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        inside = (rows < n)[:, None] & (cols < n)[None, :]
        at = rows[:, None] * n + cols[None, :]
        tl.store(el + at, tl.load(a + at, mask=inside & (cols[None, :] <= rows[:, None]), other=0.0), mask=inside)
    tl.debug_barrier()
    for j in range(0, n):
        below = (cols >= j) & (cols < n)
        pivot = tl.load(el + j * n + j)
        root = tl.sqrt(tl.where(pivot > 0, pivot, float("nan")))
        column = tl.load(el + cols * n + j, mask=below, other=0.0) / root
        column = tl.where(cols == j, root, column)
        tl.debug_barrier()
        tl.store(el + cols * n + j, column, mask=below)
        tl.debug_barrier()
        for r0 in range(j + 1, n, ROWS):
            rows = r0 + tl.arange(0, ROWS)
            factor = tl.load(el + rows * n + j, mask=rows < n, other=0.0)[:, None]
            inside = (rows < n)[:, None] & (cols[None, :] > j) & (cols[None, :] <= rows[:, None])
            at = rows[:, None] * n + cols[None, :]
            tl.store(el + at, tl.load(el + at, mask=inside) - factor * column[None, :], mask=inside)
        tl.debug_barrier()


def cholesky(a: torch.Tensor, out: torch.Tensor) -> None:
    batch = _batch(a)
    if batch == 0:
        return
    block_n, _, rows = _blocks(a.shape[-1])
    rt.launch(_cholesky_kernel, (batch,), a, out, a.shape[-1], BLOCK_N=block_n, ROWS=rows, num_warps=WARPS)


@triton.jit
def _solve_triangular_kernel(
    a_ptr, b_ptr, x_ptr, n, k, UPPER: tl.constexpr, UNIT: tl.constexpr, BLOCK_K: tl.constexpr, ROWS: tl.constexpr
):
    """Substitution in the result: row j of X is solved (forwards for lower A, backwards for upper), then removed from the rows after it."""
    pid = tl.program_id(0).to(tl.int64)
    a = a_ptr + pid * n * n
    b = b_ptr + pid * n * k
    x = x_ptr + pid * n * k
    kcols = tl.arange(0, BLOCK_K)
    kmask = kcols < k
    _copy_rows(b, x, n, k, kcols, kmask, ROWS)
    tl.debug_barrier()
    for step in range(0, n):
        if UPPER:
            j = n - 1 - step
        else:
            j = step
        x_j = tl.load(x + j * k + kcols, mask=kmask)
        if not UNIT:
            x_j = x_j / tl.load(a + j * n + j)
            tl.debug_barrier()
            tl.store(x + j * k + kcols, x_j, mask=kmask)
        tl.debug_barrier()
        if UPPER:
            first = 0
            last = j
        else:
            first = j + 1
            last = n
        for r0 in range(first, last, ROWS):
            rows = r0 + tl.arange(0, ROWS)
            factor = tl.load(a + rows * n + j, mask=rows < last, other=0.0)[:, None]
            inside = (rows < last)[:, None] & kmask[None, :]
            at = rows[:, None] * k + kcols[None, :]
            tl.store(x + at, tl.load(x + at, mask=inside) - factor * x_j[None, :], mask=inside)
        tl.debug_barrier()


def solve_triangular(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor, upper: bool, unitriangular: bool) -> None:
    n, k = a.shape[-1], b.shape[-1]
    batch = _batch(a)
    if batch == 0 or k == 0:
        return
    _, block_k, rows = _blocks(n, k)
    rt.launch(
        _solve_triangular_kernel, (batch,), a, b, out, n, k, UPPER=upper, UNIT=unitriangular, BLOCK_K=block_k, ROWS=rows, num_warps=WARPS
    )


from graphc.codegen.triton_eigen import eigh, qr, svd  # noqa: E402, F401  (the decompositions' host functions, as la.<op>)
from graphc.codegen.triton_ldl import ldl_factor, ldl_solve  # noqa: E402, F401
from graphc.codegen.triton_matrix_exp import matrix_exp  # noqa: E402, F401
