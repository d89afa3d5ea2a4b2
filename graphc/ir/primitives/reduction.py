"""Reductions over a set of axes, with or without keeping the reduced axes as size 1."""

from __future__ import annotations

from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import defvjp, primitive
from graphc.ir.types import TensorType, TypeRuleError


def _reduced_shape(x: TensorType, axes: tuple[int, ...], keepdim: bool) -> tuple:
    if not isinstance(axes, tuple) or any(not isinstance(a, int) for a in axes):
        raise TypeRuleError(f"axes must be a tuple of ints, got {axes!r}")
    if any(not 0 <= a < max(x.ndim, 1) for a in axes) or len(set(axes)) != len(axes):
        raise TypeRuleError(f"axes {axes} are invalid for a {x.ndim}-d tensor")
    if x.ndim == 0:
        return ()
    if keepdim:
        return tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    return tuple(d for i, d in enumerate(x.shape) if i not in axes)


@primitive("sum", "reduction", attrs=("axes", "keepdim"))
def sum_rule(x: TensorType, axes: tuple[int, ...], keepdim: bool) -> TensorType:
    """sum over ``axes``"""
    return TensorType(_reduced_shape(x, axes, keepdim), x.dtype)


def _nonempty(x: TensorType, axes: tuple[int, ...]) -> None:
    for a in axes:
        if a < x.ndim and isinstance(x.shape[a], int) and x.shape[a] == 0:
            raise TypeRuleError(f"cannot reduce over the empty dimension {a}")


@primitive("max", "reduction", attrs=("axes", "keepdim"))
def max_rule(x: TensorType, axes: tuple[int, ...], keepdim: bool) -> TensorType:
    """largest value over ``axes`` (NaN-propagating)"""
    _nonempty(x, axes)
    return TensorType(_reduced_shape(x, axes, keepdim), x.dtype)


@primitive("min", "reduction", attrs=("axes", "keepdim"))
def min_rule(x: TensorType, axes: tuple[int, ...], keepdim: bool) -> TensorType:
    """smallest value over ``axes`` (NaN-propagating)"""
    _nonempty(x, axes)
    return TensorType(_reduced_shape(x, axes, keepdim), x.dtype)


@primitive("argmax", "reduction", attrs=("axes", "keepdim"), nondifferentiable=True)
def argmax_rule(x: TensorType, axes: tuple[int, ...], keepdim: bool) -> TensorType:
    """int64 index of the first largest value along the single axis in ``axes``"""
    if len(axes) != 1:
        raise TypeRuleError("argmax reduces exactly one axis")
    _nonempty(x, axes)
    return TensorType(_reduced_shape(x, axes, keepdim), dtypes.int64)


def _expand_back(node: Node, value: Node) -> Node:
    """Broadcast a reduced value (or gradient) back over the reduced input's shape."""
    x = node.inputs[0]
    kept = _reduced_shape(x.type, node.attrs["axes"], True)
    return b.expand(b.reshape(value, kept), x.shape)


@defvjp("sum")
def sum_vjp(node: Node, g: Node) -> tuple:
    return (_expand_back(node, g),)


@defvjp("max", "min")
def extremum_vjp(node: Node, g: Node) -> tuple:
    """Ties share the gradient evenly, as torch's amax/amin and full max()/min()."""
    x = node.inputs[0]
    winners = b.compare("eq", x, _expand_back(node, node))
    count = b.emit("sum", b.cast(winners, g.dtype), axes=node.attrs["axes"], keepdim=True)
    share = b.div(_expand_back(node, g), b.expand(count, x.shape))
    return (b.where(winners, share, 0.0),)
