"""Indexing primitives: gather and scatter along one axis, and index_select.

They are the adjoint pairs autodiff needs: the gradient of a gather is a
scatter_add into zeros, and the gradient of a scatter_add is a gather.
``scatter_reduce`` scatters by a product, maximum or minimum, which no composite of
additions gives (docs/decisions.md, "scatter_reduce: prod, amax and amin").
"""

from __future__ import annotations

from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import defvjp, emit, primitive
from graphc.ir.types import TensorType, TypeRuleError, dims_equal, format_shape


def _check_index(index: TensorType) -> None:
    if index.dtype not in (dtypes.int32, dtypes.int64):
        raise TypeRuleError(f"index must be int32 or int64, got {index.dtype.name}")


def _check_axis(x: TensorType, axis: int) -> None:
    if not 0 <= axis < max(x.ndim, 1):
        raise TypeRuleError(f"axis {axis} out of range for a {x.ndim}-d tensor")


def _same_except(x: TensorType, index: TensorType, axis: int) -> None:
    if index.ndim != x.ndim or any(i != axis and not dims_equal(p, q) for i, (p, q) in enumerate(zip(x.shape, index.shape))):
        raise TypeRuleError(f"index shape {format_shape(index.shape)} must match {format_shape(x.shape)} except along axis {axis}")


@primitive("gather", "indexing", attrs=("axis",))
def gather_rule(x: TensorType, index: TensorType, axis: int) -> TensorType:
    """out[..i..] = x[..index[..i..]..] along ``axis`` (torch.gather with a full-size index)"""
    _check_index(index)
    _check_axis(x, axis)
    _same_except(x, index, axis)
    return TensorType(index.shape, x.dtype)


@primitive("scatter_add", "indexing", attrs=("axis",))
def scatter_add_rule(x: TensorType, index: TensorType, src: TensorType, axis: int) -> TensorType:
    """x with src[..i..] added at x[..index[..i..]..] along ``axis``"""
    _check_index(index)
    _check_axis(x, axis)
    _same_except(x, index, axis)
    if not dims_equal(index.numel, src.numel) or index.ndim != src.ndim:
        raise TypeRuleError(f"src shape {format_shape(src.shape)} must equal index shape {format_shape(index.shape)}")
    if src.dtype != x.dtype:
        raise TypeRuleError(f"src dtype {src.dtype.name} must equal the destination's {x.dtype.name}")
    return x


SCATTER_REDUCTIONS = ("prod", "amax", "amin")


@primitive("scatter_reduce", "indexing", attrs=("axis", "reduce"))
def scatter_reduce_rule(x: TensorType, index: TensorType, src: TensorType, axis: int, reduce: str) -> TensorType:
    """x with src[..i..] combined into x[..index[..i..]..] along ``axis`` by ``reduce`` ("prod", "amax" or "amin"; NaN wins a max or min)"""
    if reduce not in SCATTER_REDUCTIONS:
        raise TypeRuleError(f"reduce must be one of {', '.join(SCATTER_REDUCTIONS)}, got {reduce!r}")
    scatter_add_rule(x, index, src, axis)
    return x


@primitive("index_select", "indexing", attrs=("axis",))
def index_select_rule(x: TensorType, index: TensorType, axis: int) -> TensorType:
    """the slices of ``x`` along ``axis`` named by the 1-d ``index``"""
    _check_index(index)
    _check_axis(x, axis)
    if index.ndim != 1:
        raise TypeRuleError(f"index must be 1-d, got {format_shape(index.shape)}")
    shape = list(x.shape)
    shape[axis] = index.shape[0]
    return TensorType(tuple(shape), x.dtype)


@defvjp("gather")
def gather_vjp(node: Node, g: Node) -> tuple:
    """Scatter the gradient back; with one index per row (cross-entropy's target), that is a one-hot.

    A one-hot is elementwise (the index compared with each position), so it fuses into the
    kernel computing the rest of the gradient, where a scatter_add runs as a kernel of its
    own. The forward gather has already checked the indices are in range.
    """
    x, index = node.inputs
    axis = node.attrs["axis"]
    if isinstance(index.shape[axis], int) and index.shape[axis] == 1:
        positions = emit("iota", shape=x.shape, axis=axis, dtype=index.dtype)
        hot = b.compare("eq", positions, b.broadcast_to(index, x.shape))
        return (b.where(hot, b.broadcast_to(g, x.shape), b.zeros_like(x)), None)
    return (emit("scatter_add", b.zeros_like(x), index, g, axis=axis), None)


@defvjp("scatter_add")
def scatter_add_vjp(node: Node, g: Node) -> tuple:
    _, index, _ = node.inputs
    return (g, None, emit("gather", g, index, axis=node.attrs["axis"]))


@defvjp("index_select")
def index_select_vjp(node: Node, g: Node) -> tuple:
    x, index = node.inputs
    axis = node.attrs["axis"]
    along = [1] * x.type.ndim
    along[axis] = index.shape[0]
    full_index = b.expand(b.reshape(index, along), g.shape)
    return (emit("scatter_add", b.zeros_like(x), full_index, g, axis=axis), None)


@defvjp("scatter_reduce")
def scatter_reduce_vjp(node: Node, g: Node) -> tuple:
    """torch's scatter_reduce_backward with include_self (graphc/frontend/scatter.py puts the
    reduction's identity in place of x where include_self=False)."""
    x, index, src = node.inputs
    axis, reduce = node.attrs["axis"], node.attrs["reduce"]
    if reduce == "prod":
        return _product_gradients(node, g)
    # A maximum or minimum shares the gradient evenly among the values equal to it, x's own too.
    value = emit("gather", node, index, axis=axis)
    x_ties, src_ties = b.cast(b.compare("eq", x, node), x.dtype), b.cast(b.compare("eq", src, value), x.dtype)
    share = b.div(g, emit("scatter_add", x_ties, index, src_ties, axis=axis))
    return (b.mul(x_ties, share), None, b.mul(src_ties, emit("gather", share, index, axis=axis)))


def _product_gradients(node: Node, g: Node) -> tuple:
    """The product of the others: the product divided by the value, with torch's case for a zero.

    A lone zero among a position's sources gets the product of the rest, computed again with a
    1 in its place; where two or more are zero every source's gradient is 0 (the product over
    the division is 0).
    """
    x, index, src = node.inputs
    axis = node.attrs["axis"]
    x_nonzero = b.where(b.compare("eq", x, 0), 1.0, x)
    without_x = emit("scatter_reduce", x_nonzero, index, src, axis=axis, reduce="prod")
    src_zero = b.compare("eq", src, 0)
    zeros_there = emit("gather", emit("scatter_add", b.zeros_like(x), index, b.cast(src_zero, x.dtype), axis=axis), index, axis=axis)
    lone_zero = b.binary("and", src_zero, b.compare("eq", zeros_there, 1))
    without_zero = emit("scatter_reduce", x, index, b.where(lone_zero, 1.0, src), axis=axis, reduce="prod")
    divided = b.div(emit("gather", b.mul(g, node), index, axis=axis), b.where(src_zero, 1.0, src))
    g_src = b.where(lone_zero, emit("gather", b.mul(g, without_zero), index, axis=axis), divided)
    return (b.div(b.mul(g, without_x), x_nonzero), None, g_src)
