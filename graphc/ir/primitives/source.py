"""Where values come from: graph inputs, parameters, constants, indices, random numbers; and detach."""

from __future__ import annotations

import sympy

from graphc.ir import dtypes
from graphc.ir.dtypes import DType
from graphc.ir.graph import Node
from graphc.ir.registry import primitive
from graphc.ir.types import TensorType, TypeRuleError, normalize_shape


def _declared(kind: str, doc: str) -> None:
    def rule() -> TensorType:
        raise TypeRuleError(f"{kind} nodes are declared with a type (graphc.ir.source_node), not inferred")

    rule.__doc__ = doc
    primitive(kind, "source")(rule)


_declared("input", "a value passed in by the caller; its type is declared")
_declared("parameter", "a trainable weight passed in by the runtime; its type is declared")


def source_node(type: TensorType, op: str = "input", requires_grad: bool = False, data: object = None) -> Node:
    """An ``input`` or ``parameter`` node: the leaves of every graph."""
    assert op in ("input", "parameter"), op
    return Node(op, (), {}, type, requires_grad=requires_grad, data=data)


@primitive("constant", "source", attrs=("value", "dtype"))
def constant_rule(value: bool | int | float, dtype: DType) -> TensorType:
    """a 0-d tensor holding ``value``; larger constants are this and an expand"""
    if not isinstance(value, (bool, int, float)):
        raise TypeRuleError(f"constant values are Python numbers, got {type(value).__name__}")
    return TensorType((), dtype)


@primitive("size", "source", attrs=("value", "dtype"), nondifferentiable=True)
def size_rule(value: object, dtype: DType) -> TensorType:
    """a 0-d tensor holding a size of the program's tensors, symbolic or not: what a mean over a dynamic batch divides by"""
    if not isinstance(value, (int, sympy.Expr)) or isinstance(value, bool):
        raise TypeRuleError(f"a size is an integer or a size expression, got {type(value).__name__}")
    return TensorType((), dtype)


@primitive("iota", "source", attrs=("shape", "axis", "dtype"), nondifferentiable=True)
def iota_rule(shape: tuple, axis: int, dtype: DType) -> TensorType:
    """each element's index along ``axis`` (0, 1, 2, ...), broadcast over the other axes: a one-hot's classes"""
    shape = normalize_shape(shape)
    if not 0 <= axis < len(shape):
        raise TypeRuleError(f"axis {axis} out of range for a {len(shape)}-d shape")
    if dtype not in (dtypes.int32, dtypes.int64):
        raise TypeRuleError(f"iota produces int32 or int64 indices, not {dtype.name}")
    return TensorType(shape, dtype)


@primitive("rand", "random", attrs=("shape", "dtype"), nondifferentiable=True)
def rand_rule(seed: TensorType, shape: tuple, dtype: DType) -> TensorType:
    """uniform samples in [0, 1), from a counter-based generator keyed by the int64 ``seed`` operand"""
    if seed.dtype != dtypes.int64 or seed.ndim != 0:
        raise TypeRuleError(f"the seed must be an int64 scalar, got {seed}")
    if not dtype.is_floating_point:
        raise TypeRuleError(f"rand produces floating-point values, not {dtype.name}")
    return TensorType(normalize_shape(shape), dtype)


@primitive("detach", "elementwise", nondifferentiable=True)
def detach_rule(x: TensorType) -> TensorType:
    """the same value, cut off from autodiff (torch's detach / JAX's stop_gradient)"""
    return x
