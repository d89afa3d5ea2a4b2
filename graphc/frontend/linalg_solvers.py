"""torch.linalg's LU and Cholesky families: inv, solve, det, slogdet, logdet, cholesky, cholesky_solve,
cholesky_inverse, solve_triangular, triangular_solve, tensorinv and tensorsolve (with their ``_ex`` forms).

Four primitives compute them all (``graphc/ir/primitives/lu_cholesky.py``): ``inv`` is ``solve``
with the identity; ``det`` is ``sign * exp(logabsdet)`` of ``slogdet``; ``cholesky_solve`` and
``cholesky_inverse`` are two triangular solves. Where torch raises on a singular or
non-positive-definite input, a ``check`` node raises when the program runs (graphc's
``InvalidValueError``, also ``graphc.linalg.LinAlgError``); the ``_ex`` forms return torch's
``info`` instead: LAPACK getrf's for the LU family (``slogdet``'s packed third entry, from a
second LU of A), potrf's for Cholesky (the first non-positive diagonal entry of L, which the
kernels leave NaN from the failing column on). The static checks come first, with torch's
messages; only float32 and float64 matrices are taken, as torch's CPU linear algebra.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import NamedTuple

from graphc.frontend.functional import node_of, wrap
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.grad_mode import is_grad_enabled
from graphc.ir.graph import Node
from graphc.ir.primitives.lu_cholesky import column, identity_like
from graphc.ir.registry import emit, op_error
from graphc.ir.types import TypeRuleError, broadcast_shapes, dims_equal, shapes_equal
from graphc.runtime.tensor import Tensor

METHODS = ["inverse", "det", "logdet", "slogdet", "cholesky", "cholesky_solve", "cholesky_inverse", "triangular_solve"]

# torch's names of dtypes in its messages ("Got Long").
TORCH_NAMES = {
    **{"float16": "Half", "bfloat16": "BFloat16", "float32": "Float", "float64": "Double", "bool": "Bool"},
    **{"uint8": "Byte", "int8": "Char", "int16": "Short", "int32": "Int", "int64": "Long"},
}
# What a failed factorization raises, after the name of the function called: torch's messages, with
# the number of the zero pivot or of the failing minor ({info}) but not torch's "(Batch element i): "
# (one check per possible info value, each with its message fixed when the program is built).
SINGULAR_INVERSE = ": The diagonal element {info} is zero, the inversion could not be completed because the input matrix is singular."
SINGULAR_SOLVE = ": The solver failed because the input matrix is singular."
NOT_POSITIVE_DEFINITE = (
    ": The factorization could not be completed because the input is not positive-definite (the leading minor of order {info} is not positive-definite)."
)


class InvExResult(NamedTuple):
    inverse: Tensor
    info: Tensor


class SolveExResult(NamedTuple):
    result: Tensor
    info: Tensor


class CholeskyExResult(NamedTuple):
    L: Tensor
    info: Tensor


class SlogdetResult(NamedTuple):
    sign: Tensor
    logabsdet: Tensor


class TriangularSolveResult(NamedTuple):
    solution: Tensor
    cloned_coefficient: Tensor


def _matrices(op: str, A: Tensor, kernel: str | None = None, square: bool = True, name: str = "A", integers: bool = False) -> Node:
    """A's node, refused with torch's messages unless it is a batch of float32/float64 (square) matrices.

    torch refuses half precision either by ``kernel`` ("lu_cpu" not implemented) or, when None,
    as "Low precision dtypes not supported"; ``integers`` refuses integers by the kernel too.
    """
    x = node_of(A)
    if x.type.ndim < 2:
        raise op_error(op, [x.type], {}, f"{op}: The input tensor {name} must have at least 2 dimensions.")
    if x.dtype not in (dtypes.float32, dtypes.float64):
        dtype = TORCH_NAMES[x.dtype.name]
        if kernel is not None and (x.dtype.is_floating_point or integers):
            raise op_error(op, [x.type], {}, f'"{kernel}" not implemented for \'{dtype}\'')
        if x.dtype.is_floating_point:
            raise op_error(op, [x.type], {}, f"{op}: Low precision dtypes not supported. Got {dtype}")
        raise op_error(op, [x.type], {}, f"{op}: Expected a floating point or complex tensor as input. Got {dtype}")
    if square and not dims_equal(x.shape[-1], x.shape[-2]):
        raise op_error(op, [x.type], {}, f"{op}: A must be batches of square matrices, but they are {x.shape[-2]} by {x.shape[-1]} matrices")
    return x


def _same_dtype(op: str, a: Node, other: Node) -> None:
    if a.dtype != other.dtype:
        found = f"A of type {TORCH_NAMES[a.dtype.name]} and B of type {TORCH_NAMES[other.dtype.name]}"
        raise op_error(op, [a.type, other.type], {}, f"{op}: Expected A and B to have the same dtype, but found {found} instead")


def _batched(op: str, a: Node, other: Node) -> tuple[Node, Node]:
    """A and B broadcast over their batch dimensions (all but the last two)."""
    try:
        batch = broadcast_shapes(a.shape[:-2], other.shape[:-2])
    except TypeRuleError as error:
        raise op_error(op, [a.type, other.type], {}, f"the batch dimensions do not broadcast: {error}") from None
    return b.broadcast_to(a, tuple(batch) + tuple(a.shape[-2:])), b.broadcast_to(other, tuple(batch) + tuple(other.shape[-2:]))


def _t(x: Node) -> Node:
    return b.transpose_last(x)


def _lu_info(a: Node) -> Node:
    """LAPACK getrf's info of each matrix, int32 as torch's."""
    return b.cast(column(emit("slogdet", a), 2), dtypes.int32)


def _raise_where(value: Node, info: Node, message: str, most: object = None) -> Node:
    """``value``, checked when the program runs: a nonzero ``info`` (one per matrix) raises ``message``.

    A message naming ``{info}`` gets one check of ``info`` per value 1..``most`` (a number), each
    raising the message with its number; the check of ``value`` then only ties them to the result
    (it tests info > most, never true: a kernel's checks may report the last that fired, not the first).
    """
    bad = b.compare("ne", info, 0)
    if "{info}" in message:
        if isinstance(most, int):
            for number in range(1, most + 1):
                info = emit("check", info, b.compare("eq", info, number), message=message.replace("{info}", str(number)))
            bad = b.compare("gt", info, most)
        message = message.replace("{info}", "k")
    batch = tuple(info.shape)
    bad = b.reshape(bad, batch + (1,) * (value.type.ndim - len(batch)))
    return emit("check", value, b.broadcast_to(bad, value.shape), message=message)


# ------------------------------------------------------------------ LU: inv, solve, det


def _inv(A: Tensor, check: str | None) -> InvExResult:
    """(inverse, info); with ``check``, the name of the function that raises on a singular matrix."""
    a = _matrices("linalg.inv", A)
    inverse, info = emit("solve", a, identity_like(a)), _lu_info(a)
    if check:
        inverse = _raise_where(inverse, info, check + SINGULAR_INVERSE, a.shape[-1])
    return InvExResult(wrap(inverse), wrap(info))


def _checker(default: str, check_errors: bool | str) -> str | None:
    """The name a failed check reports: ``check_errors`` may name the function itself (the importer
    passes the name torch's ``_linalg_check_errors`` was given for a plain ``inv``/``solve``/``cholesky``)."""
    if isinstance(check_errors, str):
        return check_errors
    return default if check_errors else None


def inv_ex(A: Tensor, *, check_errors: bool | str = False) -> InvExResult:
    """torch.linalg.inv_ex: (inverse, info); info is getrf's (1 + the first zero pivot), 0 for an invertible matrix."""
    return _inv(A, _checker("linalg.inv_ex", check_errors))


def inv(A: Tensor) -> Tensor:
    """torch.linalg.inv: raises (when the program runs) on a singular matrix."""
    return _inv(A, "linalg.inv").inverse


def inverse(input: Tensor) -> Tensor:
    """torch.inverse / Tensor.inverse: linalg.inv."""
    return _inv(input, "inverse").inverse


def _solve(A: Tensor, B: Tensor, left: bool, check: str | None) -> SolveExResult:
    op = "linalg.solve"
    a = _matrices(op, A, kernel="lu_cpu")
    rhs = node_of(B)
    _same_dtype(op, a, rhs)
    vector = rhs.type.ndim == 1 or (rhs.type.ndim == a.type.ndim - 1 and shapes_equal(rhs.shape, a.shape[:-1]))
    matrix = b.reshape(rhs, tuple(rhs.shape) + (1,)) if vector else rhs
    if matrix.type.ndim < 2:
        raise op_error(op, [a.type, rhs.type], {"left": left}, f"{op}: The input tensor B must have at least 1 dimensions.")
    n = a.shape[-1]
    if not dims_equal(matrix.shape[-2] if left else matrix.shape[-1], n):
        equation = "AX = B" if left else "XA = B"
        shapes = f"{a.shape[-2]}x{a.shape[-1]} and {matrix.shape[-2]}x{matrix.shape[-1]}"
        raise op_error(op, [a.type, rhs.type], {"left": left}, f"{op}: Incompatible shapes of A and B for the equation {equation} ({shapes})")
    full_a, full_b = _batched(op, a, matrix)
    result = emit("solve", full_a, full_b) if left else _t(emit("solve", _t(full_a), _t(full_b)))
    if vector:
        result = b.reshape(result, tuple(result.shape[:-1]))
    info = _lu_info(a)
    if check:
        result = _raise_where(result, info, check + SINGULAR_SOLVE)
    return SolveExResult(wrap(result), wrap(info))


def solve_ex(A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool | str = False) -> SolveExResult:
    """torch.linalg.solve_ex: (result, info), info per matrix of A (not of the broadcast batch), as torch."""
    return _solve(A, B, left, _checker("torch.linalg.solve_ex", check_errors))


def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """torch.linalg.solve: X with A X = B (X A = B when not ``left``); B is a batch of vectors when it
    is 1-d or has A's shape without its last dimension (torch's rule), else of matrices."""
    return _solve(A, B, left, "torch.linalg.solve").result


def _slogdet(op: str, A: Tensor, kernel: str | None = None) -> tuple[Node, Node]:
    packed = emit("slogdet", _matrices(op, A, kernel=kernel))
    return column(packed, 0), column(packed, 1)


def slogdet(A: Tensor) -> SlogdetResult:
    """torch.linalg.slogdet / torch.slogdet: (sign, logabsdet); a singular matrix gives (0, -inf)."""
    sign, logabs = _slogdet("linalg.slogdet", A)
    return SlogdetResult(wrap(sign), wrap(logabs))


def det(A: Tensor) -> Tensor:
    """torch.linalg.det / torch.det: ``sign * exp(logabsdet)``, differentiated by torch's formula (rule "det"),
    which stays finite at a singular matrix."""
    sign, logabs = _slogdet("linalg.det", A, kernel="lu_cpu")
    value = b.mul(sign, b.unary("exp", logabs))
    a = node_of(A)
    if not (is_grad_enabled() and a.requires_grad):
        return wrap(value)
    batch = tuple(value.shape)
    spread = emit("custom_vjp", b.broadcast_to(b.reshape(value, batch + (1, 1)), a.shape), a, rule="det")
    corner = emit("slice", spread, starts=(0,) * (len(batch) + 2), stops=batch + (1, 1), steps=(1,) * (len(batch) + 2))
    return wrap(b.reshape(corner, batch))


def logdet(input: Tensor) -> Tensor:
    """torch.logdet: log det A, NaN for a negative determinant and -inf for a singular matrix, as torch."""
    sign, logabs = _slogdet("logdet", input)
    return wrap(b.where(b.compare("lt", sign, 0), b.full_like(logabs, math.nan), logabs))


# ------------------------------------------------------------------ Cholesky and triangular solves


def cholesky_ex(A: Tensor, *, upper: bool = False, check_errors: bool | str = False) -> CholeskyExResult:
    """torch.linalg.cholesky_ex: (L, info), info potrf's order of the first leading minor that is not positive-definite.

    ``upper`` reads A's upper triangle and returns U = L^T, as LAPACK's uplo="U".
    """
    return _cholesky(A, upper, _checker("linalg.cholesky_ex", check_errors))


def _cholesky(A: Tensor, upper: bool, check: str | None) -> CholeskyExResult:
    a = _matrices("linalg.cholesky", A, kernel="cholesky_cpu")
    lower = emit("cholesky", _t(a) if upper else a)
    result = _t(lower) if upper else lower
    info = _cholesky_info(lower)
    if check:
        result = _raise_where(result, info, check + NOT_POSITIVE_DEFINITE, a.shape[-1])
    return CholeskyExResult(wrap(result), wrap(info))


def _cholesky_info(lower: Node) -> Node:
    """potrf's info from the factor: 1 + the first diagonal entry that is not positive (NaN from the failing column on), else 0."""
    n = lower.shape[-1]
    if n == 0:
        return b.full(tuple(lower.shape[:-2]), 0, dtypes.int32)
    flat = b.reshape(lower, tuple(lower.shape[:-2]) + (n * n,))
    diagonal = emit("gather", flat, _diagonal_index(lower), axis=lower.type.ndim - 2)
    failed = b.cast(b.unary("logical_not", b.compare("gt", diagonal, 0.0)), dtypes.int32)
    first = b.add(emit("argmax", failed, axes=(failed.type.ndim - 1,), keepdim=False), 1)
    return b.cast(b.where(b.compare("gt", b.reduce("max", failed, -1), 0), first, b.zeros_like(first)), dtypes.int32)


def _diagonal_index(lower: Node) -> Node:
    """The flat positions i * (n + 1) of a matrix's diagonal, broadcast over the batch."""
    n = lower.shape[-1]
    positions = b.mul(emit("iota", shape=(n,), axis=0, dtype=dtypes.int64), n + 1)
    return b.broadcast_to(positions, tuple(lower.shape[:-2]) + (n,))


def linalg_cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """torch.linalg.cholesky: raises (when the program runs) on a matrix that is not positive-definite."""
    return _cholesky(A, upper, "linalg.cholesky").L


def cholesky(input: Tensor, upper: bool = False) -> Tensor:
    """torch.cholesky / Tensor.cholesky (deprecated in torch for linalg.cholesky, with its warning)."""
    warnings.warn(
        "torch.cholesky is deprecated in favor of torch.linalg.cholesky and will be removed in a future PyTorch release.",
        UserWarning,
        stacklevel=2,
    )
    return _cholesky(input, upper, "cholesky").L


def solve_triangular(A: Tensor, B: Tensor, *, upper: bool, left: bool = True, unitriangular: bool = False) -> Tensor:
    """torch.linalg.solve_triangular: reads only A's upper (or lower) triangle, its diagonal as ones when ``unitriangular``."""
    op = "linalg.solve_triangular"
    a = _matrices(op, A, kernel="triangular_solve_cpu", integers=True)
    rhs = _matrices(op, B, kernel="triangular_solve_cpu", square=False, name="B", integers=True)
    _same_dtype(op, a, rhs)
    n = a.shape[-1]
    if not dims_equal(rhs.shape[-2] if left else rhs.shape[-1], n):
        equation = "AX = B" if left else "XA = B"
        shapes = f"{a.shape[-2]}x{a.shape[-1]} and {rhs.shape[-2]}x{rhs.shape[-1]}"
        raise op_error(op, [a.type, rhs.type], {"upper": upper, "left": left}, f"{op}: Incompatible shapes of A and B for the equation {equation} ({shapes})")
    full_a, full_b = _batched(op, a, rhs)
    if left:
        return wrap(emit("solve_triangular", full_a, full_b, upper=bool(upper), unitriangular=bool(unitriangular)))
    # X A = B  <=>  A^T X^T = B^T, and A^T's triangle is the other one
    return wrap(_t(emit("solve_triangular", _t(full_a), _t(full_b), upper=not upper, unitriangular=bool(unitriangular))))


def triangular_solve(input: Tensor, A: Tensor, upper: bool = True, transpose: bool = False, unitriangular: bool = False) -> TriangularSolveResult:
    """torch.triangular_solve (deprecated in torch): (solution of A X = b, or A^T X = b when ``transpose``, and A broadcast)."""
    op = "triangular_solve"
    a = _matrices(op, A, kernel="triangular_solve_cpu", integers=True)
    rhs = _matrices(op, input, kernel="triangular_solve_cpu", square=False, name="B", integers=True)
    _same_dtype(op, a, rhs)
    _fits(op, a, rhs)
    full_a, full_b = _batched(op, a, rhs)
    coefficient = _t(full_a) if transpose else full_a
    solution = emit("solve_triangular", coefficient, full_b, upper=bool(upper) != bool(transpose), unitriangular=bool(unitriangular))
    return TriangularSolveResult(wrap(solution), wrap(b.add(full_a, 0.0)))


def _fits(op: str, a: Node, rhs: Node) -> None:
    """torch's check of the old solvers (b's rows must be A's size)."""
    if not dims_equal(rhs.shape[-2], a.shape[-1]):
        each = f"each A matrix is {a.shape[-2]} by {a.shape[-1]} but each b matrix is {rhs.shape[-2]} by {rhs.shape[-1]}"
        raise op_error(op, [a.type, rhs.type], {}, f"Incompatible matrix sizes for {op}: {each}")


def _cholesky_solve(rhs: Node, factor: Node, upper: bool) -> Node:
    """X with (L L^T) X = B, or (U^T U) X = B when ``upper``: two triangular solves."""
    if upper:
        half = emit("solve_triangular", _t(factor), rhs, upper=False, unitriangular=False)
        return emit("solve_triangular", factor, half, upper=True, unitriangular=False)
    half = emit("solve_triangular", factor, rhs, upper=False, unitriangular=False)
    return emit("solve_triangular", _t(factor), half, upper=True, unitriangular=False)


def cholesky_solve(input: Tensor, input2: Tensor, upper: bool = False) -> Tensor:
    """torch.cholesky_solve(B, L): X with A X = B for A = L L^T (U^T U when ``upper``), read from L's triangle."""
    op = "cholesky_solve"
    rhs, factor = node_of(input), node_of(input2)
    for name, x in (("b", rhs), ("u", factor)):
        if x.type.ndim < 2:
            raise op_error(op, [rhs.type, factor.type], {}, f"{name} should have at least 2 dimensions, but has {x.type.ndim} dimensions instead")
    factor = _matrices(op, input2, kernel="cholesky_solve_cpu", integers=True)
    rhs = _matrices(op, input, kernel="cholesky_solve_cpu", square=False, name="B", integers=True)
    if rhs.dtype != factor.dtype:
        found = f"b of type {TORCH_NAMES[rhs.dtype.name]} and A of type {TORCH_NAMES[factor.dtype.name]}"
        raise op_error(op, [rhs.type, factor.type], {}, f"Expected b and A to have the same dtype, but found {found} instead.")
    _fits(op, factor, rhs)
    full_factor, full_rhs = _batched(op, factor, rhs)
    return wrap(_cholesky_solve(full_rhs, full_factor, upper))


def cholesky_inverse(input: Tensor, upper: bool = False) -> Tensor:
    """torch.cholesky_inverse(L): (L L^T)^-1 ((U^T U)^-1 when ``upper``), as cholesky_solve of the identity."""
    factor = _matrices("cholesky_inverse", input, kernel="cholesky_inverse_out_cpu", integers=True)
    return wrap(_cholesky_solve(identity_like(factor), factor, upper))


# ------------------------------------------------------------------ tensor forms


def _product(sizes: Sequence[object]) -> object:
    total: object = 1
    for s in sizes:
        total = total * s
    return total


def tensorinv(A: Tensor, ind: int = 2) -> Tensor:
    """torch.linalg.tensorinv: the inverse of A read as a matrix of its first ``ind`` dimensions by the rest."""
    x = node_of(A)
    if ind <= 0:
        raise op_error("linalg.tensorinv", [x.type], {"ind": ind}, f"Expected a strictly positive integer for 'ind', but got {ind}")
    rows, cols = _product(x.shape[:ind]), _product(x.shape[ind:])
    if not dims_equal(rows, cols):
        message = f"Expected self to satisfy the requirement prod(self.shape[ind:]) == prod(self.shape[:ind]), but got {cols} != {rows}"
        raise op_error("linalg.tensorinv", [x.type], {"ind": ind}, message)
    inverse = inv(wrap(b.reshape(x, (rows, cols))))
    return wrap(b.reshape(node_of(inverse), tuple(x.shape[ind:]) + tuple(x.shape[:ind])))


def tensorsolve(A: Tensor, B: Tensor, dims: Sequence[int] | None = None) -> Tensor:
    """torch.linalg.tensorsolve: X with tensordot(A, X, X.ndim) = B; ``dims`` of A are moved to its end first."""
    x, rhs = node_of(A), node_of(B)
    if dims is not None:
        moved = [d % x.type.ndim for d in dims]
        x = b.permute(x, [i for i in range(x.type.ndim) if i not in moved] + moved)
    result_shape = tuple(x.shape[rhs.type.ndim :])
    rows, cols = _product(rhs.shape), _product(result_shape)
    if not dims_equal(rows, cols):
        message = f"Expected self to satisfy the requirement prod(self.shape[other.ndim:]) == prod(self.shape[:other.ndim]), but got {cols} != {rows}"
        raise op_error("linalg.tensorsolve", [x.type, rhs.type], {"dims": dims}, message)
    solution = solve(wrap(b.reshape(x, (rows, cols))), wrap(b.reshape(rhs, (rows,))))
    return wrap(b.reshape(node_of(solution), result_shape))

