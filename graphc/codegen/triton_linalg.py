"""Hand-written Triton kernels of the ``linalg`` primitives: solve, slogdet, cholesky, solve_triangular.

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
``tl.debug_barrier()`` between a step's stores and the next step's loads (the lanes that
store an element are not those that read it back). They compute in the operands' dtype:
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
def _copy_rows(src, dst, n, width, BLOCK: tl.constexpr, ROWS: tl.constexpr, LOWER: tl.constexpr):
    """dst[:n, :width] = src (its lower triangle, zeros above, when LOWER)."""
    cols = tl.arange(0, BLOCK)
    for r0 in range(0, n, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        mask = (rows < n)[:, None] & (cols < width)[None, :]
        tile = tl.load(src + rows[:, None] * width + cols[None, :], mask=mask, other=0.0)
        if LOWER:
            tile = tl.where(cols[None, :] <= rows[:, None], tile, 0.0)
        tl.store(dst + rows[:, None] * width + cols[None, :], tile, mask=mask)


@triton.jit
def _pivot(w, n, j, cols):
    """The first row at or below j whose column-j entry is largest in magnitude (LAPACK's idamax)."""
    column = tl.load(w + cols * n + j, mask=(cols >= j) & (cols < n), other=0.0)
    magnitude = tl.where((cols >= j) & (cols < n), tl.abs(column), -1.0)
    return tl.argmax(magnitude, 0)


@triton.jit
def _solve_kernel(a_ptr, b_ptr, w_ptr, x_ptr, n, k, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, ROWS: tl.constexpr):
    """Gauss-Jordan elimination with partial pivoting on [A | B]: A's copy in w becomes the identity, B's in x the solution."""
    pid = tl.program_id(0).to(tl.int64)
    a = a_ptr + pid * n * n
    w = w_ptr + pid * n * n
    x = x_ptr + pid * n * k
    _copy_rows(a, w, n, n, BLOCK_N, ROWS, False)
    _copy_rows(b_ptr + pid * n * k, x, n, k, BLOCK_K, ROWS, False)
    cols = tl.arange(0, BLOCK_N)
    kcols = tl.arange(0, BLOCK_K)
    cmask = cols < n
    kmask = kcols < k
    tl.debug_barrier()
    for j in range(0, n):
        p = _pivot(w, n, j, cols)
        row_j = tl.load(w + j * n + cols, mask=cmask, other=0.0)
        row_p = tl.load(w + p * n + cols, mask=cmask, other=0.0)
        x_j = tl.load(x + j * k + kcols, mask=kmask, other=0.0)
        x_p = tl.load(x + p * k + kcols, mask=kmask, other=0.0)
        pivot = tl.sum(tl.where(cols == j, row_p, 0.0), 0)
        row_p = row_p / pivot
        x_p = x_p / pivot
        tl.debug_barrier()
        tl.store(w + p * n + cols, row_j, mask=cmask)
        tl.store(x + p * k + kcols, x_j, mask=kmask)
        tl.store(w + j * n + cols, row_p, mask=cmask)
        tl.store(x + j * k + kcols, x_p, mask=kmask)
        tl.debug_barrier()
        for r0 in range(0, n, ROWS):
            rows = r0 + tl.arange(0, ROWS)
            others = (rows < n) & (rows != j)
            tile = tl.load(w + rows[:, None] * n + cols[None, :], mask=others[:, None] & cmask[None, :], other=0.0)
            factor = tl.sum(tl.where(cols[None, :] == j, tile, 0.0), 1)
            tl.store(w + rows[:, None] * n + cols[None, :], tile - factor[:, None] * row_p[None, :], mask=others[:, None] & cmask[None, :])
            xs = tl.load(x + rows[:, None] * k + kcols[None, :], mask=others[:, None] & kmask[None, :], other=0.0)
            tl.store(x + rows[:, None] * k + kcols[None, :], xs - factor[:, None] * x_p[None, :], mask=others[:, None] & kmask[None, :])
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
    w = w_ptr + pid * n * n
    _copy_rows(a_ptr + pid * n * n, w, n, n, BLOCK_N, ROWS, False)
    cols = tl.arange(0, BLOCK_N)
    cmask = cols < n
    dtype = w_ptr.dtype.element_ty
    sign = tl.full([], 1.0, dtype)
    logabs = tl.full([], 0.0, dtype)
    info = tl.full([], 0.0, dtype)
    tl.debug_barrier()
    for j in range(0, n):
        p = _pivot(w, n, j, cols)
        row_j = tl.load(w + j * n + cols, mask=cmask, other=0.0)
        row_p = tl.load(w + p * n + cols, mask=cmask, other=0.0)
        pivot = tl.sum(tl.where(cols == j, row_p, 0.0), 0)
        tl.debug_barrier()
        tl.store(w + p * n + cols, row_j, mask=cmask)
        tl.store(w + j * n + cols, row_p, mask=cmask)
        tl.debug_barrier()
        sign = tl.where(p != j, -sign, sign)
        sign = tl.where(pivot < 0, -sign, sign)
        logabs += tl.log(tl.where(pivot == 0, 1.0, tl.abs(pivot)))  # -inf when singular, set at the end
        info = tl.where((pivot == 0) & (info == 0), j + 1.0, info)
        divisor = tl.where(pivot == 0, 1.0, pivot)
        for r0 in range(0, n, ROWS):
            rows = r0 + tl.arange(0, ROWS)
            below = (rows < n) & (rows > j)
            tile = tl.load(w + rows[:, None] * n + cols[None, :], mask=below[:, None] & cmask[None, :], other=0.0)
            factor = tl.where(pivot == 0, 0.0, tl.sum(tl.where(cols[None, :] == j, tile, 0.0), 1) / divisor)
            tl.store(w + rows[:, None] * n + cols[None, :], tile - factor[:, None] * row_p[None, :], mask=below[:, None] & cmask[None, :])
        tl.debug_barrier()
    sign = tl.where(info != 0, 0.0, sign)
    logabs = tl.where(info != 0, -float("inf"), logabs)
    slots = tl.arange(0, 4)
    packed = tl.where(slots == 0, sign, tl.where(slots == 1, logabs, info))
    tl.store(out_ptr + pid * 3 + slots, packed, mask=slots < 3)


def slogdet(a: torch.Tensor, out: torch.Tensor) -> None:
    batch = out.numel() // 3
    if batch == 0:
        return
    block_n, _, rows = _blocks(a.shape[-1])
    scratch = rt.empty(tuple(a.shape), a.dtype)
    rt.launch(_slogdet_kernel, (batch,), a, scratch, out, a.shape[-1], BLOCK_N=block_n, ROWS=rows, num_warps=WARPS)


@triton.jit
def _cholesky_kernel(a_ptr, l_ptr, n, BLOCK_N: tl.constexpr, ROWS: tl.constexpr):
    """Right-looking Cholesky in the result: column j is scaled by sqrt(pivot), then the trailing lower triangle updated.

    A pivot that is not positive (A is not positive-definite) becomes NaN, and NaN spreads
    to every later column, so the first non-positive diagonal entry of L is LAPACK's info.
    """
    pid = tl.program_id(0).to(tl.int64)
    el = l_ptr + pid * n * n
    _copy_rows(a_ptr + pid * n * n, el, n, n, BLOCK_N, ROWS, True)
    cols = tl.arange(0, BLOCK_N)
    tl.debug_barrier()
    for j in range(0, n):
        column = tl.load(el + cols * n + j, mask=(cols >= j) & (cols < n), other=0.0)
        pivot = tl.sum(tl.where(cols == j, column, 0.0), 0)
        root = tl.sqrt(tl.where(pivot > 0, pivot, float("nan")))
        column = tl.where(cols == j, root, column / root)
        tl.debug_barrier()
        tl.store(el + cols * n + j, column, mask=(cols >= j) & (cols < n))
        tl.debug_barrier()
        for r0 in range(0, n, ROWS):
            rows = r0 + tl.arange(0, ROWS)
            below = (rows < n) & (rows > j)
            factor = tl.load(el + rows * n + j, mask=below, other=0.0)
            update = below[:, None] & (cols[None, :] > j) & (cols[None, :] <= rows[:, None])
            tile = tl.load(el + rows[:, None] * n + cols[None, :], mask=update, other=0.0)
            tl.store(el + rows[:, None] * n + cols[None, :], tile - factor[:, None] * column[None, :], mask=update)
        tl.debug_barrier()


def cholesky(a: torch.Tensor, out: torch.Tensor) -> None:
    batch = _batch(a)
    if batch == 0:
        return
    block_n, _, rows = _blocks(a.shape[-1])
    rt.launch(_cholesky_kernel, (batch,), a, out, a.shape[-1], BLOCK_N=block_n, ROWS=rows, num_warps=WARPS)


@triton.jit
def _solve_triangular_kernel(
    a_ptr, b_ptr, x_ptr, n, k, UPPER: tl.constexpr, UNIT: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, ROWS: tl.constexpr
):
    """Substitution in the result: row j of X is solved (forwards for lower A, backwards for upper), then removed from the rows after it."""
    pid = tl.program_id(0).to(tl.int64)
    a = a_ptr + pid * n * n
    x = x_ptr + pid * n * k
    _copy_rows(b_ptr + pid * n * k, x, n, k, BLOCK_K, ROWS, False)
    kcols = tl.arange(0, BLOCK_K)
    kmask = kcols < k
    tl.debug_barrier()
    for step in range(0, n):
        if UPPER:
            j = n - 1 - step
        else:
            j = step
        x_j = tl.load(x + j * k + kcols, mask=kmask, other=0.0)
        if not UNIT:
            x_j = x_j / tl.load(a + j * n + j)
        tl.debug_barrier()
        tl.store(x + j * k + kcols, x_j, mask=kmask)
        tl.debug_barrier()
        for r0 in range(0, n, ROWS):
            rows = r0 + tl.arange(0, ROWS)
            if UPPER:
                after = rows < j
            else:
                after = (rows > j) & (rows < n)
            factor = tl.load(a + rows * n + j, mask=after, other=0.0)
            xs = tl.load(x + rows[:, None] * k + kcols[None, :], mask=after[:, None] & kmask[None, :], other=0.0)
            tl.store(x + rows[:, None] * k + kcols[None, :], xs - factor[:, None] * x_j[None, :], mask=after[:, None] & kmask[None, :])
        tl.debug_barrier()


def solve_triangular(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor, upper: bool, unitriangular: bool) -> None:
    n, k = a.shape[-1], b.shape[-1]
    batch = _batch(a)
    if batch == 0 or k == 0:
        return
    block_n, block_k, rows = _blocks(n, k)
    rt.launch(
        _solve_triangular_kernel, (batch,), a, b, out, n, k,
        UPPER=upper, UNIT=unitriangular, BLOCK_N=block_n, BLOCK_K=block_k, ROWS=rows, num_warps=WARPS,
    )  # fmt: skip


from graphc.codegen.triton_eigen import eigh, qr, svd  # noqa: E402, F401  (the decompositions' host functions, as la.<op>)
