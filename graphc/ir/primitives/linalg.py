"""Batched matrix multiplication (batch dimensions already broadcast by the front end)."""

from __future__ import annotations

from graphc.ir import build as b
from graphc.ir.graph import Node
from graphc.ir.registry import defvjp, primitive
from graphc.ir.types import TensorType, TypeRuleError, dims_equal, format_shape, shapes_equal


@primitive("matmul", "matmul")
def matmul_rule(a: TensorType, b_: TensorType) -> TensorType:
    """[..., M, K] @ [..., K, N] -> [..., M, N], accumulating in at least float32"""
    if a.ndim < 2 or b_.ndim < 2:
        raise TypeRuleError("matmul operands need at least 2 dimensions")
    if a.dtype != b_.dtype:
        raise TypeRuleError(f"operand dtypes differ: {a.dtype.name} vs {b_.dtype.name}")
    if a.dtype.name == "bool":
        raise TypeRuleError("matmul is not defined for bool tensors")
    if not dims_equal(a.shape[-1], b_.shape[-2]):
        raise TypeRuleError(
            f"mat1 and mat2 shapes cannot be multiplied ({format_shape(a.shape)} and {format_shape(b_.shape)}): "
            f"inner dimensions {a.shape[-1]} and {b_.shape[-2]} differ"
        )
    if not shapes_equal(a.shape[:-2], b_.shape[:-2]):
        raise TypeRuleError(f"batch dimensions differ: {format_shape(a.shape[:-2])} vs {format_shape(b_.shape[:-2])}")
    return TensorType(tuple(a.shape[:-1]) + (b_.shape[-1],), a.dtype)


@defvjp("matmul")
def matmul_vjp(node: Node, g: Node) -> tuple:
    x, y = node.inputs
    return (b.matmul(g, b.transpose_last(y)), b.matmul(b.transpose_last(x), g))
