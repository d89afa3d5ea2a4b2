"""Batched matrix multiplication (batch dimensions already broadcast by the front end)."""

from __future__ import annotations

from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.dtypes import DType
from graphc.ir.graph import Node
from graphc.ir.registry import defvjp, primitive
from graphc.ir.types import TensorType, TypeRuleError, dims_equal, format_shape, shapes_equal


@primitive("matmul", "matmul", attrs=("out_dtype",))
def matmul_rule(a: TensorType, b_: TensorType, out_dtype: DType | None = None) -> TensorType:
    """[..., M, K] @ [..., K, N] -> [..., M, N] accumulating in at least float32; out_dtype=float32 keeps half operands' accumulator"""
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
    if out_dtype is not None and (out_dtype != dtypes.float32 or a.dtype not in (dtypes.float16, dtypes.bfloat16)):
        raise TypeRuleError(f"out_dtype is float32 for half-precision operands only, got {out_dtype} for {a.dtype.name}")
    return TensorType(tuple(a.shape[:-1]) + (b_.shape[-1],), out_dtype or a.dtype)


@defvjp("matmul")
def matmul_vjp(node: Node, g: Node) -> tuple:
    """The gradients of a float32 result of half operands come in the operands' dtype, as torch's addmm's."""
    x, y = node.inputs
    g = b.cast(g, x.dtype)
    return (b.matmul(g, b.transpose_last(y)), b.matmul(b.transpose_last(x), g))
