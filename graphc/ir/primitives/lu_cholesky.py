"""The linear solvers: LU (``solve``, ``slogdet``, ``lu``), Cholesky and triangular solves.

Five primitives carry ``torch.linalg``'s LU and Cholesky families; everything else is a front-end
composite (``graphc/frontend/linalg_solvers.py``, ``lu.py``): ``inv`` is ``solve`` with the identity,
``det`` is ``sign * exp(logabsdet)``, ``cholesky_solve`` two triangular solves, ``lu_solve`` a
permutation and two triangular solves of ``lu``'s factor. The IR has one result per node, so
the LU's by-products that torch returns beside the result (the sign, the LAPACK ``info`` the
``_ex`` functions and the singular-input checks read; the pivots) come packed in the last axis
of ``slogdet``'s and ``lu``'s results. Each runs as a kernel of its own (fusion's ``linalg``
category): LAPACK through NumPy on the CPU, one Triton program per matrix on the GPU
(``graphc/codegen/numpy_linalg.py``, ``graphc/codegen/triton_linalg.py``).

Batch dimensions are already broadcast by the front end. Only float32 and float64 are taken,
as torch's CPU linear algebra.
"""

from __future__ import annotations

from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.primitives.custom import rule
from graphc.ir.primitives.decompositions import pieces, svd_sizes
from graphc.ir.registry import defvjp, emit, primitive
from graphc.ir.types import Shape, TensorType, TypeRuleError, dims_equal, format_shape, shapes_equal


def _square(a: TensorType, what: str = "A") -> None:
    if a.ndim < 2 or not dims_equal(a.shape[-1], a.shape[-2]):
        raise TypeRuleError(f"{what} must be batches of square matrices, got {format_shape(a.shape)}")
    if a.dtype not in (dtypes.float32, dtypes.float64):
        raise TypeRuleError(f"takes float32 or float64 matrices, got {a.dtype.name}")


def _right_side(a: TensorType, b_: TensorType) -> None:
    if b_.ndim != a.ndim or not shapes_equal(a.shape[:-1], b_.shape[:-1]):
        raise TypeRuleError(f"B must be [..., n, k] with A's batch and n: A is {format_shape(a.shape)}, B {format_shape(b_.shape)}")
    if b_.dtype != a.dtype:
        raise TypeRuleError(f"A and B dtypes differ: {a.dtype.name} vs {b_.dtype.name}")


@primitive("solve", "linalg")
def solve_rule(a: TensorType, b_: TensorType) -> TensorType:
    """X with A X = B for A [..., n, n] and B [..., n, k]: LU with partial pivoting (a singular A gives inf/NaN; the front end checks ``slogdet``'s info)"""
    _square(a)
    _right_side(a, b_)
    return b_


@defvjp("solve")
def solve_vjp(node: Node, g: Node) -> tuple:
    """torch's: gB = A^-T g, gA = -gB X^T."""
    a, _ = node.inputs
    g_b = emit("solve", b.transpose_last(a), g)
    return (b.neg(b.matmul(g_b, b.transpose_last(node))), g_b)


@primitive("solve_triangular", "linalg", attrs=("upper", "unitriangular"))
def solve_triangular_rule(a: TensorType, b_: TensorType, upper: bool, unitriangular: bool) -> TensorType:
    """X with A X = B, reading only A's upper (or lower) triangle, its diagonal taken as ones when ``unitriangular``"""
    _square(a)
    _right_side(a, b_)
    for name, flag in (("upper", upper), ("unitriangular", unitriangular)):
        if not isinstance(flag, bool):
            raise TypeRuleError(f"{name} must be a bool, got {flag!r}")
    return b_


@defvjp("solve_triangular")
def solve_triangular_vjp(node: Node, g: Node) -> tuple:
    """torch's: gB = A^-T g (the other triangle), gA = -gB X^T kept to A's triangle (strictly, when unitriangular)."""
    a, _ = node.inputs
    upper, unit = node.attrs["upper"], node.attrs["unitriangular"]
    g_b = emit("solve_triangular", b.transpose_last(a), g, upper=not upper, unitriangular=unit)
    g_a = b.neg(b.matmul(g_b, b.transpose_last(node)))
    return (triangle(g_a, upper, 1 if unit else 0), g_b)


@primitive("cholesky", "linalg")
def cholesky_rule(a: TensorType) -> TensorType:
    """the lower factor L of A = L L^T, reading A's lower triangle; from the first failing column on (A not positive-definite) L is NaN"""
    _square(a)
    return a


@defvjp("cholesky")
def cholesky_vjp(node: Node, g: Node) -> tuple:
    """torch's cholesky_backward: P = tril(L^T gL), gA = L^-T (P + tril(P, -1)^T) / 2 L^-1."""
    lower = node
    p = triangle(b.matmul(b.transpose_last(lower), g), upper=False, offset=0)
    sym = b.mul(b.add(p, b.transpose_last(triangle(p, upper=False, offset=1))), 0.5)
    left = emit("solve_triangular", b.transpose_last(lower), sym, upper=True, unitriangular=False)
    # Y L = left  <=>  L^T Y^T = left^T
    return (b.transpose_last(emit("solve_triangular", b.transpose_last(lower), b.transpose_last(left), upper=True, unitriangular=False)),)


@primitive("slogdet", "linalg")
def slogdet_rule(a: TensorType) -> TensorType:
    """[..., n, n] -> [..., 3]: sign of det A, log|det A|, getrf's info (1 + the first zero pivot of LU with partial pivoting, or 0)"""
    _square(a)
    return TensorType(tuple(a.shape[:-2]) + (3,), a.dtype)


@defvjp("slogdet")
def slogdet_vjp(node: Node, g: Node) -> tuple:
    """torch's: g_logabsdet A^-T; the sign and the info carry no gradient."""
    a = node.inputs[0]
    g_log = column(g, 1)
    inverse_t = emit("solve", b.transpose_last(a), identity_like(a))
    return (b.mul(b.reshape(g_log, tuple(g_log.shape) + (1, 1)), inverse_t),)


@rule("det")
def det_vjp(node: Node, g: Node) -> tuple:
    """torch's linalg_det_backward, the cofactor matrix times g: ``g det A^-T`` where det A != 0, and where it
    is 0 the SVD form U diag(g det(U) det(Vh) prod_{j != i} S_j) Vh, finite at a singular A (the first is
    0 * inf there). The value operand is det broadcast to A's [..., n, n]; its gradient is read summed."""
    value, a = node.inputs
    batch, n = tuple(a.shape[:-2]), a.shape[-1]
    g_det = b.reduce("sum", g, (-2, -1))
    det = b.reshape(emit("slice", value, starts=(0,) * (len(batch) + 2), stops=batch + (1, 1), steps=(1,) * (len(batch) + 2)), batch)
    regular = b.mul(b.reshape(b.mul(g_det, det), batch + (1, 1)), emit("solve", b.transpose_last(a), identity_like(a)))
    if not isinstance(n, int) or n == 0:
        return (regular,)
    u, s, vh = pieces(emit("svd", a, full_matrices=False), svd_sizes(n, n, False))
    alpha = b.mul(column(emit("slogdet", u), 0), column(emit("slogdet", vh), 0))
    weights = b.mul(_products_of_the_others(s), b.reshape(b.mul(g_det, alpha), batch + (1,)))  # the diagonal D
    singular = b.matmul(b.mul(u, b.reshape(weights, batch + (1, n))), vh)
    zero = b.broadcast_to(b.reshape(b.compare("eq", det, 0.0), batch + (1, 1)), a.shape)
    return (b.where(zero, singular, regular),)


def _products_of_the_others(s: Node) -> Node:
    """[..., n] -> [..., n]: entry i is the product of every entry but the i-th (no division: zeros allowed)."""
    n = s.shape[-1]
    batch = tuple(s.shape[:-1])
    rows, columns = _grid((n, n))
    spread = b.broadcast_to(b.reshape(s, batch + (1, n)), batch + (n, n))
    masked = b.where(b.broadcast_to(b.compare("eq", rows, columns), batch + (n, n)), b.full_like(spread, 1.0), spread)
    product = column(masked, 0)
    for j in range(1, n):
        product = b.mul(product, column(masked, j))
    return product


def lu_sizes(m: int, n: int) -> list[tuple[int, ...]]:
    """The pieces of ``lu``'s packed result for an m x n matrix: LU, getrf's pivots, the row permutation."""
    return [(m, n), (min(m, n),), (m,)]


@primitive("lu", "linalg")
def lu_rule(a: TensorType) -> TensorType:
    """[..., m, n] -> [..., m*n + k + m] (k = min(m, n)): getrf's LU with partial pivoting (L's unit diagonal implicit) row-major,
    its 1-based pivots and the permutation (row i of L U is row perm[i] of A), the integers as exact floats"""
    m, n = _static_sizes(a)
    return TensorType(tuple(a.shape[:-2]) + (m * n + min(m, n) + m,), a.dtype)


def _static_sizes(a: TensorType) -> tuple[int, int]:
    """(m, n) of float32/float64 matrices: numbers, as the packed length and the kernels' loops need."""
    if a.ndim < 2:
        raise TypeRuleError(f"A must be batches of matrices, got {format_shape(a.shape)}")
    if a.dtype not in (dtypes.float32, dtypes.float64):
        raise TypeRuleError(f"takes float32 or float64 matrices, got {a.dtype.name}")
    m, n = a.shape[-2:]
    if not isinstance(m, int) or not isinstance(n, int):
        raise TypeRuleError(f"the matrix sizes must be numbers, got {m} x {n}")
    return m, n


@defvjp("lu")
def lu_vjp(node: Node, g: Node) -> tuple:
    """torch's linalg_lu_backward on the packed factor's gradient: L's from its strict lower part, U's from its upper part."""
    m, n = node.inputs[0].shape[-2:]
    k = min(m, n)
    lu, _, perm = unpack(node, m, n)
    g_lu = unpack(g, m, n)[0]
    lower, upper = unit_lower(block(lu, m, k)), triangle(block(lu, k, n), upper=True, offset=0)
    g_l, g_u = triangle(block(g_lu, m, k), upper=False, offset=1), triangle(block(g_lu, k, n), upper=True, offset=0)
    l_t, u_t = b.transpose_last(lower), b.transpose_last(upper)
    if m == n:
        grad = b.add(triangle(b.matmul(l_t, g_l), upper=False, offset=1), triangle(b.matmul(g_u, u_t), upper=True, offset=0))
        grad = _unit_upper_solve(l_t, _right_solve_upper_t(upper, grad))
    elif m < n:
        grad = triangle(b.sub(b.matmul(l_t, g_l), b.matmul(g_u, u_t)), upper=False, offset=1)
        grad = _right_solve_upper_t(block(upper, k, k), grad)
        last = grad.type.ndim - 1
        grad = emit("concat", b.add(grad, block(g_u, k, k)), block(g_u, k, n, first_column=k), axis=last)
        grad = _unit_upper_solve(l_t, grad)
    else:
        grad = triangle(b.sub(b.matmul(g_u, u_t), b.matmul(l_t, g_l)), upper=True, offset=0)
        grad = _unit_upper_solve(b.transpose_last(block(lower, k, k)), grad)
        grad = emit("concat", b.add(grad, block(g_l, k, k)), block(g_l, m, k, first_row=k), axis=grad.type.ndim - 2)
        grad = _right_solve_upper_t(upper, grad)
    return (b.matmul(permutation_matrix(perm, node.dtype), grad),)


def _unit_upper_solve(upper: Node, rhs: Node) -> Node:
    """X with U X = rhs, U unit upper triangular (L^T)."""
    return emit("solve_triangular", upper, rhs, upper=True, unitriangular=True)


def _right_solve_upper_t(upper: Node, rhs: Node) -> Node:
    """X with X U^T = rhs for upper triangular U: U X^T = rhs^T."""
    return b.transpose_last(emit("solve_triangular", upper, b.transpose_last(rhs), upper=True, unitriangular=False))


def unpack(packed: Node, m: int, n: int) -> list[Node]:
    """``lu``'s packed result as (LU [..., m, n], pivots [..., k], perm [..., m]), still in A's dtype."""
    return pieces(packed, lu_sizes(m, n))


def block(x: Node, rows: int, cols: int, first_row: int = 0, first_column: int = 0) -> Node:
    """``x[..., first_row:rows, first_column:cols]``."""
    batch = tuple(x.shape[:-2])
    starts = (0,) * len(batch) + (first_row, first_column)
    return emit("slice", x, starts=starts, stops=batch + (rows, cols), steps=(1,) * (len(batch) + 2))


def unit_lower(x: Node) -> Node:
    """L of a packed LU's first k columns: the strict lower triangle, ones on the diagonal."""
    rows, columns = _grid(x.shape)
    diagonal = b.broadcast_to(b.cast(b.compare("eq", rows, columns), x.dtype), x.shape)
    return b.add(triangle(x, upper=False, offset=1), diagonal)


def permutation_matrix(perm: Node, dtype: dtypes.DType) -> Node:
    """P with A = P L U from the permutation (row i of L U is row perm[i] of A): P[perm[i], i] = 1."""
    m = perm.shape[-1]
    rows = emit("iota", shape=(m, m), axis=0, dtype=dtypes.int64)
    columns = b.reshape(b.cast(perm, dtypes.int64), tuple(perm.shape[:-1]) + (1, m))
    return b.cast(b.compare("eq", rows, columns), dtype)


# ------------------------------------------------------------------ helpers shared with the front end


def column(x: Node, i: int) -> Node:
    """``x[..., i]``: one entry of the last axis, the axis dropped."""
    shape = x.shape
    starts = (0,) * (len(shape) - 1) + (i,)
    stops = tuple(shape[:-1]) + (i + 1,)
    piece = emit("slice", x, starts=starts, stops=stops, steps=(1,) * len(shape))
    return b.reshape(piece, tuple(shape[:-1]))


def _grid(shape: Shape) -> tuple[Node, Node]:
    """Row and column indices of [n, m] matrices."""
    rows, columns = (emit("iota", shape=tuple(shape[-2:]), axis=axis, dtype=dtypes.int64) for axis in (0, 1))
    return rows, columns


def triangle(x: Node, upper: bool, offset: int) -> Node:
    """``x``'s lower triangle below diagonal ``-offset`` (``tril(x, -offset)``), or upper above ``offset`` (``triu``)."""
    rows, columns = _grid(x.shape)
    keep = b.compare("ge", b.sub(columns, rows), offset) if upper else b.compare("ge", b.sub(rows, columns), offset)
    return b.where(b.broadcast_to(keep, x.shape), x, b.zeros_like(x))


def identity_like(a: Node) -> Node:
    """The identity matrix broadcast over ``a``'s batch, in ``a``'s dtype."""
    rows, columns = _grid(a.shape)
    return b.broadcast_to(b.cast(b.compare("eq", rows, columns), a.dtype), a.shape)
