"""The Triton kernel of ``matrix_exp``: scaling and squaring with a Taylor polynomial, one program per matrix.

The host function follows ``graphc/codegen/triton_linalg.py``'s convention (contiguous operand,
the result's buffer last, launched through ``rt.launch``, scratch from ``rt.empty``). Each
program reads its matrix's 1-norm, picks the Taylor degree m from torch's thetas (or, past the
largest, the least s with |A|_1 / 2^s below it, by exact halvings), evaluates
I + A(I + A/2(... (I + A/m))) by Horner's rule and squares the result s times: a NaN or
infinite norm gives NaN, as torch's. The matrices live in global memory (the scaled A and two
buffers that products alternate between); a product is computed by tiles of ``ROWS`` rows, each
a sum of n outer products of a column of the left factor and a row of the right, with a
barrier before the next product reads what other lanes stored. Sums run in the matrix's dtype.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from graphc.codegen import triton_support as rt
from graphc.ir.primitives.matrix_exp import THETAS

# Elements of one tile of rows of a product (the interpreter runs a small matrix as one tile).
TILE_ELEMENTS = 4096 if not rt.INTERPRET else 1 << 16
WARPS = 4


@triton.jit
def _product(x, y, z, n, scale, identity, BLOCK_N: tl.constexpr, ROWS: tl.constexpr):
    """z = identity * I + scale * (x @ y) for n x n matrices in global memory (z apart from x and y)."""
    cols = tl.arange(0, BLOCK_N)
    cmask = cols < n
    for r0 in range(0, n, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        rmask = rows < n
        acc = tl.zeros([ROWS, BLOCK_N], z.dtype.element_ty)
        for k in range(0, n):
            left = tl.load(x + rows * n + k, mask=rmask, other=0.0)
            right = tl.load(y + k * n + cols, mask=cmask, other=0.0)
            acc += left[:, None] * right[None, :]
        acc = acc * scale + tl.where(rows[:, None] == cols[None, :], identity, 0.0)
        tl.store(z + rows[:, None] * n + cols[None, :], acc, mask=rmask[:, None] & cmask[None, :])
    tl.debug_barrier()


@triton.jit
def _matrix_exp_kernel(
    a_ptr, out_ptr, w_ptr, n, t1, t2, t4, t8, t12, t18, BLOCK_N: tl.constexpr, ROWS: tl.constexpr
):
    pid = tl.program_id(0).to(tl.int64)
    a = a_ptr + pid * n * n
    out = out_ptr + pid * n * n
    scaled = w_ptr + pid * 3 * n * n
    cols = tl.arange(0, BLOCK_N)
    cmask = cols < n
    dtype = out_ptr.dtype.element_ty
    column_sums = tl.zeros([BLOCK_N], dtype)
    for r0 in range(0, n, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        inside = (rows < n)[:, None] & cmask[None, :]
        column_sums += tl.sum(tl.abs(tl.load(a + rows[:, None] * n + cols[None, :], mask=inside, other=0.0)), 0)
    bad = tl.sum(((column_sums != column_sums) | (column_sums == float("inf"))).to(tl.int32), 0) > 0
    norm = tl.where(bad, 0.0, tl.max(column_sums, 0))
    halved = norm
    squarings = 0
    factor = tl.full([], 1.0, dtype)  # 2^-s, by halvings: a float32 division on a GPU need not be exact
    while halved > t18:
        halved = halved * 0.5
        factor = factor * 0.5
        squarings += 1
    m = tl.where(norm <= t1, 1, tl.where(norm <= t2, 2, tl.where(norm <= t4, 4, tl.where(norm <= t8, 8, tl.where(norm <= t12, 12, 18)))))
    # P = I + A_s / m, into the first of the two product buffers
    first = scaled + n * n
    for r0 in range(0, n, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        inside = (rows < n)[:, None] & cmask[None, :]
        at = rows[:, None] * n + cols[None, :]
        block = tl.load(a + at, mask=inside, other=0.0) * factor
        tl.store(scaled + at, block, mask=inside)
        tl.store(first + at, block / m.to(dtype) + tl.where(rows[:, None] == cols[None, :], 1.0, 0.0), mask=inside)
    tl.debug_barrier()
    step = 0
    for i in range(1, m):
        current = first + (step % 2) * n * n
        _product(scaled, current, first + ((step + 1) % 2) * n * n, n, 1.0 / (m - i).to(dtype), 1.0, BLOCK_N, ROWS)
        step += 1
    for _ in range(0, squarings):
        current = first + (step % 2) * n * n
        _product(current, current, first + ((step + 1) % 2) * n * n, n, 1.0, 0.0, BLOCK_N, ROWS)
        step += 1
    result = first + (step % 2) * n * n
    for r0 in range(0, n, ROWS):
        rows = r0 + tl.arange(0, ROWS)
        inside = (rows < n)[:, None] & cmask[None, :]
        at = rows[:, None] * n + cols[None, :]
        tl.store(out + at, tl.where(bad, float("nan"), tl.load(result + at, mask=inside)), mask=inside)


def matrix_exp(a: torch.Tensor, out: torch.Tensor) -> None:
    n = a.shape[-1]
    batch = a.numel() // (n * n) if n else 0
    if batch == 0:
        return
    block_n = rt.next_power_of_2(n)
    rows = max(1, min(block_n, TILE_ELEMENTS // block_n))
    scratch = rt.empty((batch, 3, n, n), a.dtype)
    thetas = THETAS[str(a.dtype).removeprefix("torch.")]
    rt.launch(_matrix_exp_kernel, (batch,), a, out, scratch, n, *thetas, BLOCK_N=block_n, ROWS=rows, num_warps=WARPS)
