"""torch's LU factorization family: linalg.lu_factor, lu_factor_ex, linalg.lu, lu_unpack, linalg.lu_solve,
and the deprecated torch.lu and torch.lu_solve (Tensor.lu, Tensor.lu_solve).

One primitive, ``lu`` (``graphc/ir/primitives/lu_cholesky.py``), returns getrf's LU packed with
its pivots and the row permutation they amount to, both as exact floats in A's dtype; the front
end slices them out and casts the pivots to int32, as torch's. ``linalg.lu``'s P is the one-hot
matrix of the permutation, L and U are the triangles of the factor, so their gradients reach
``lu``'s VJP (torch's linalg_lu_backward). ``lu_solve`` is a permutation and two triangular solves
reading the factor's triangles, differentiated through them. Pivots that did not come from
``lu_factor`` (a user's tensor) are turned into the permutation by applying the row swaps one
after another, as LAPACK's laswp does (k small steps in the graph).
"""

from __future__ import annotations

import warnings
import weakref
from typing import NamedTuple

from graphc.frontend.functional import node_of, wrap
from graphc.frontend.linalg_solvers import TORCH_NAMES, _batched, _raise_where, _t
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.primitives.lu_cholesky import block, permutation_matrix, triangle, unit_lower, unpack
from graphc.ir.registry import emit, op_error
from graphc.ir.types import dims_equal
from graphc.runtime.tensor import Tensor

METHODS = ["lu", "lu_solve"]

SINGULAR_FACTOR = (
    ": U[{info},{info}] is zero and using it on lu_solve would result in a division by zero. "
    "If you still want to perform the factorization, consider calling linalg.lu(A, pivot) or linalg.lu_factor_ex(A, pivot)"
)
# The permutation ``lu_factor`` found with each pivots node it returned (a pivots tensor used later
# in the same graph need not be replayed as row swaps).
_PERMUTATIONS: weakref.WeakKeyDictionary[Node, Node] = weakref.WeakKeyDictionary()


class LUFactorResult(NamedTuple):
    LU: Tensor
    pivots: Tensor


class LUFactorExResult(NamedTuple):
    LU: Tensor
    pivots: Tensor
    info: Tensor


class LUResult(NamedTuple):
    P: Tensor
    L: Tensor
    U: Tensor


class LUWithInfoResult(NamedTuple):
    LU: Tensor
    pivots: Tensor
    info: Tensor


def _matrix(op: str, A: Tensor) -> Node:
    """A's node: batches of float32/float64 matrices, refused with torch's messages otherwise."""
    a = node_of(A)
    if a.type.ndim < 2:
        raise op_error(op, [a.type], {}, f"{op}: Expected tensor with 2 or more dimensions. Got size: {list(a.shape)} instead")
    if a.dtype not in (dtypes.float32, dtypes.float64):
        raise op_error(op, [a.type], {}, f"\"lu_cpu\" not implemented for '{TORCH_NAMES[a.dtype.name]}'")
    return a


def _factor(op: str, A: Tensor, pivot: bool) -> tuple[Node, Node, Node, Node]:
    """(LU, pivots int32, perm, info int32) of A."""
    a = _matrix(op, A)
    if not pivot:
        raise op_error(op, [a.type], {"pivot": pivot}, f"{op}: LU without pivoting is not implemented on the CPU")
    m, n = a.shape[-2:]
    factor, pivots, perm = unpack(emit("lu", a), m, n)
    pivots = b.cast(pivots, dtypes.int32)
    _PERMUTATIONS[pivots] = perm
    return factor, pivots, perm, _info(factor)


def _info(factor: Node) -> Node:
    """getrf's info: 1 + the first zero on U's diagonal, else 0 (int32, per matrix)."""
    m, n = factor.shape[-2:]
    k = min(m, n)
    batch = tuple(factor.shape[:-2])
    if k == 0:
        return b.full(batch, 0, dtypes.int32)
    flat = b.reshape(factor, batch + (m * n,))
    positions = b.broadcast_to(b.mul(emit("iota", shape=(k,), axis=0, dtype=dtypes.int64), n + 1), batch + (k,))
    zero = b.cast(b.compare("eq", emit("gather", flat, positions, axis=len(batch)), 0.0), dtypes.int32)
    first = b.add(emit("argmax", zero, axes=(len(batch),), keepdim=False), 1)
    return b.cast(b.where(b.compare("gt", b.reduce("max", zero, -1), 0), first, b.zeros_like(first)), dtypes.int32)


def lu_factor_ex(A: Tensor, *, pivot: bool = True, check_errors: bool | str = False) -> LUFactorExResult:
    """torch.linalg.lu_factor_ex: (LU, pivots, info); info is 1 + the first zero pivot, 0 when U is invertible."""
    factor, pivots, _, info = _factor("torch.linalg.lu_factor_ex", A, pivot)
    if check_errors:
        name = check_errors if isinstance(check_errors, str) else "torch.linalg.lu_factor_ex"
        factor = _raise_where(factor, info, name + SINGULAR_FACTOR, min(factor.shape[-2:]))
    return LUFactorExResult(wrap(factor), wrap(pivots), wrap(info))


def lu_factor(A: Tensor, *, pivot: bool = True) -> LUFactorResult:
    """torch.linalg.lu_factor: (LU, pivots); raises (when the program runs) where U has a zero on its diagonal."""
    factor, pivots, _, info = _factor("torch.linalg.lu_factor", A, pivot)
    return LUFactorResult(wrap(_raise_where(factor, info, "torch.linalg.lu_factor" + SINGULAR_FACTOR, min(factor.shape[-2:]))), wrap(pivots))


def lu(A: Tensor, pivot: bool = True, get_infos: bool = False) -> LUFactorResult | LUWithInfoResult:
    """torch.lu / Tensor.lu (deprecated in torch for linalg.lu_factor, with its warning): never raises for a singular A."""
    warnings.warn(
        "torch.lu is deprecated in favor of torch.linalg.lu_factor / torch.linalg.lu_factor_ex and will be removed in a future PyTorch release.",
        UserWarning,
        stacklevel=2,
    )
    factor, pivots, _, info = _factor("torch.lu_factor", A, pivot)
    if get_infos:
        return LUWithInfoResult(wrap(factor), wrap(pivots), wrap(info))
    return LUFactorResult(wrap(factor), wrap(pivots))


def _unpacked(factor: Node, perm: Node | None) -> tuple[Node | None, Node, Node]:
    """(P, L, U) of a packed factor (P None without ``perm``)."""
    m, n = factor.shape[-2:]
    k = min(m, n)
    lower = unit_lower(block(factor, m, k))
    upper = triangle(block(factor, k, n), upper=True, offset=0)
    return (None if perm is None else permutation_matrix(perm, factor.dtype)), lower, upper


def linalg_lu(A: Tensor, *, pivot: bool = True) -> LUResult:
    """torch.linalg.lu: (P, L, U) with A = P L U, L [..., m, k] unit lower and U [..., k, n] upper triangular."""
    factor, _, perm, _ = _factor("linalg.lu", A, pivot)
    p, lower, upper = _unpacked(factor, perm)
    return LUResult(wrap(p), wrap(lower), wrap(upper))


def _pivots(op: str, pivots: Tensor, factor: Node, message: str) -> Node:
    node = node_of(pivots)
    if node.dtype != dtypes.int32:
        raise op_error(op, [factor.type, node.type], {}, message)
    k = min(factor.shape[-2:])
    if node.type.ndim != factor.type.ndim - 1 or not dims_equal(node.shape[-1], k):
        raise op_error(op, [factor.type, node.type], {}, f"{op}: the pivots must be [..., {k}] for LU of shape {list(factor.shape)}, got {list(node.shape)}")
    return node


def _permutation(pivots: Node, m: int) -> Node:
    """The row permutation that getrf's pivots stand for: the swaps applied in order (int64; ``lu``'s own is float)."""
    if pivots in _PERMUTATIONS:
        return _PERMUTATIONS[pivots]
    batch = tuple(pivots.shape[:-1])
    positions = emit("iota", shape=(m,), axis=0, dtype=dtypes.int64)
    perm = b.broadcast_to(positions, batch + (m,))
    targets = b.sub(b.cast(pivots, dtypes.int64), 1)
    axis = len(batch)
    for i in range(pivots.shape[-1]):
        j = emit("slice", targets, starts=(0,) * axis + (i,), stops=batch + (i + 1,), steps=(1,) * (axis + 1))
        at_i = emit("slice", perm, starts=(0,) * axis + (i,), stops=batch + (i + 1,), steps=(1,) * (axis + 1))
        at_j = emit("gather", perm, j, axis=axis)
        swapped_j = b.where(b.compare("eq", b.broadcast_to(positions, perm.shape), j), at_i, perm)
        perm = b.where(b.compare("eq", b.broadcast_to(positions, perm.shape), i), at_j, swapped_j)
    return perm


def lu_unpack(LU_data: Tensor, LU_pivots: Tensor, unpack_data: bool = True, unpack_pivots: bool = True) -> LUResult:
    """torch.lu_unpack: (P, L, U) of lu_factor's result; the parts not unpacked are empty tensors, as torch's."""
    op = "torch.lu_unpack"
    factor = node_of(LU_data)
    if factor.type.ndim < 2:
        raise op_error(op, [factor.type], {}, f"{op}: Expected tensor with 2 or more dimensions. Got size: {list(factor.shape)} instead")
    message = (
        f"{op}: LU_pivots is expected to be a contiguous tensor of torch.int32 dtype.\n"
        "Note: this function is intended to be used with the output produced by torch.linalg.lu_factor"
    )
    pivots = _pivots(op, LU_pivots, factor, message)
    empty = b.full((0,), 0, factor.dtype)
    p, lower, upper = _unpacked(factor, _permutation(pivots, factor.shape[-2]) if unpack_pivots else None)
    return LUResult(wrap(p if unpack_pivots else empty), wrap(lower if unpack_data else empty), wrap(upper if unpack_data else empty))


def lu_solve_linalg(LU: Tensor, pivots: Tensor, B: Tensor, *, left: bool = True, adjoint: bool = False) -> Tensor:
    """torch.linalg.lu_solve: X with A X = B for A = P L U (A^T X = B with ``adjoint``, X A = B unless ``left``)."""
    op = "linalg.lu_solve"
    factor, rhs = node_of(LU), node_of(B)
    if rhs.type.ndim < 2:
        raise op_error(op, [factor.type, rhs.type], {}, f"{op}: The input tensor B must have at least 2 dimensions.")
    if factor.type.ndim < 2 or not dims_equal(factor.shape[-1], factor.shape[-2]):
        shape = list(factor.shape)
        raise op_error(op, [factor.type], {}, f"torch.linalg.lu_solve: A must be batches of square matrices, but they are {shape[-2]} by {shape[-1]} matrices")
    _matrix(op, LU)
    if factor.dtype != rhs.dtype:
        found = f"LU of type {TORCH_NAMES[factor.dtype.name]} and B of type {TORCH_NAMES[rhs.dtype.name]}"
        raise op_error(op, [factor.type, rhs.type], {}, f"{op}: Expected LU and B to have the same dtype, but found {found} instead")
    n = factor.shape[-1]
    if not dims_equal(rhs.shape[-2] if left else rhs.shape[-1], n):
        equation = "AX = B" if left else "XA = B"
        shapes = f"{n}x{n} and {rhs.shape[-2]}x{rhs.shape[-1]}"
        raise op_error(op, [factor.type, rhs.type], {}, f"{op}: Incompatible shapes of A and B for the equation {equation} ({shapes})")
    piv = _pivots(op, pivots, factor, f"{op}: pivots should be a Tensor of scalar type torch.int32")
    perm = _permutation(piv, n)
    if not left:  # X A = B  <=>  A^T X^T = B^T
        return wrap(_t(_solve(factor, perm, _t(rhs), not adjoint)))
    return wrap(_solve(factor, perm, rhs, adjoint))


def _solve(factor: Node, perm: Node, rhs: Node, adjoint: bool) -> Node:
    """X with P L U X = B, or (P L U)^T X = B when ``adjoint``, the batches broadcast."""
    p = permutation_matrix(perm, factor.dtype)
    p = b.broadcast_to(p, tuple(factor.shape[:-2]) + tuple(p.shape[-2:]))
    full, full_rhs = _batched("linalg.lu_solve", factor, rhs)
    full_p, _ = _batched("linalg.lu_solve", p, rhs)
    if adjoint:  # U^T L^T P^T X = B
        half = emit("solve_triangular", _t(full), full_rhs, upper=False, unitriangular=False)
        return b.matmul(full_p, emit("solve_triangular", _t(full), half, upper=True, unitriangular=True))
    half = emit("solve_triangular", full, b.matmul(_t(full_p), full_rhs), upper=False, unitriangular=True)
    return emit("solve_triangular", full, half, upper=True, unitriangular=False)


def lu_solve(input: Tensor, LU_data: Tensor, LU_pivots: Tensor) -> Tensor:
    """torch.lu_solve / Tensor.lu_solve (deprecated in torch for linalg.lu_solve, with its warning): linalg.lu_solve(LU, pivots, b)."""
    warnings.warn(
        "torch.lu_solve is deprecated in favor of torch.linalg.lu_solveand will be removed in a future PyTorch release.\n"
        "Note that torch.linalg.lu_solve has its arguments reversed.",
        UserWarning,
        stacklevel=2,
    )
    return lu_solve_linalg(LU_data, LU_pivots, input)
