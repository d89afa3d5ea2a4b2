"""The LDL factorization of symmetric matrices: ``ldl_factor`` (LAPACK's sytrf) and ``ldl_solve`` (sytrs).

torch differentiates neither (its results require grad, and backward() through them fails), so
both primitives are nondifferentiable and the front end marks their results with the
``*_no_derivative`` rules. The factor's by-products come packed in the last axis of
``ldl_factor``'s result, as ``lu``'s: the pivots and LAPACK's info, exact floats in A's dtype.
Each runs as a kernel of its own (``linalg``): ``graphc/codegen/numpy_ldl.py`` on the CPU and
``graphc/codegen/triton_ldl.py`` on Triton, both Bunch-Kaufman pivoting as reference LAPACK's
dsytf2 on the lower triangle.
"""

from __future__ import annotations

from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.primitives.decompositions import pieces
from graphc.ir.registry import primitive
from graphc.ir.types import TensorType, TypeRuleError, dims_equal, format_shape, shapes_equal


def ldl_sizes(n: int) -> list[tuple[int, ...]]:
    """The pieces of ``ldl_factor``'s packed result for an n x n matrix: LD, the pivots, info."""
    return [(n, n), (n,), ()]


@primitive("ldl_factor", "linalg", nondifferentiable=True)
def ldl_factor_rule(a: TensorType) -> TensorType:
    """[..., n, n] -> [..., n*n + n + 1]: sytrf's factor of the symmetric matrix A's lower triangle, A = P L D L^T P^T with
    1x1 and 2x2 blocks in D (Bunch-Kaufman), as LD row-major (zeros above the diagonal), its 1-based pivots (a 2x2 block's
    two negative) and info (1 + the first zero 1x1 block of D, or 0), the integers as exact floats"""
    if a.ndim < 2 or not dims_equal(a.shape[-1], a.shape[-2]):
        raise TypeRuleError(f"A must be batches of square matrices, got {format_shape(a.shape)}")
    if a.dtype not in (dtypes.float32, dtypes.float64):
        raise TypeRuleError(f"takes float32 or float64 matrices, got {a.dtype.name}")
    n = a.shape[-1]
    if not isinstance(n, int):
        raise TypeRuleError(f"the matrix size must be a number, got {n}")
    return TensorType(tuple(a.shape[:-2]) + (n * n + n + 1,), a.dtype)


@primitive("ldl_solve", "linalg", nondifferentiable=True)
def ldl_solve_rule(ld: TensorType, pivots: TensorType, b_: TensorType) -> TensorType:
    """X with A X = B for A = P L D L^T P^T given by ``ldl_factor``'s LD [..., n, n] and int32 pivots [..., n] (sytrs); B is [..., n, k]"""
    if ld.ndim < 2 or not dims_equal(ld.shape[-1], ld.shape[-2]):
        raise TypeRuleError(f"LD must be batches of square matrices, got {format_shape(ld.shape)}")
    if ld.dtype not in (dtypes.float32, dtypes.float64):
        raise TypeRuleError(f"takes float32 or float64 matrices, got {ld.dtype.name}")
    if pivots.dtype != dtypes.int32 or not shapes_equal(pivots.shape, ld.shape[:-1]):
        raise TypeRuleError(f"the pivots must be int32 [..., n] with LD's batch, got {pivots.dtype.name}{format_shape(pivots.shape)}")
    if b_.ndim != ld.ndim or not shapes_equal(b_.shape[:-1], ld.shape[:-1]):
        raise TypeRuleError(f"B must be [..., n, k] with LD's batch and n: LD is {format_shape(ld.shape)}, B {format_shape(b_.shape)}")
    if b_.dtype != ld.dtype:
        raise TypeRuleError(f"LD and B dtypes differ: {ld.dtype.name} vs {b_.dtype.name}")
    return b_


def unpack(packed: Node, n: int) -> list[Node]:
    """``ldl_factor``'s packed result as (LD [..., n, n], pivots [..., n], info [...]), still in A's dtype."""
    return pieces(packed, ldl_sizes(n))
