"""Indexed writes: scatter (a tensor or a value, ``reduce="add"`` or ``"multiply"``), scatter_reduce,
index_reduce, index_put (what ``x[idx] = v``, ``index_add``, ``index_copy`` and ``index_fill`` become),
put, masked_scatter and max_unpool.

They are built as graphc's front end builds them, from ``scatter_add`` and ``scatter_reduce``: a
replacing write takes the mean of duplicate writes, which torch leaves unspecified
(docs/decisions.md, "Indexed writes").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from graphc.frontend import scatter as frontend
from graphc.frontend import view_scatter
from graphc.frontend.torch_import.lowering.frontend import call
from graphc.frontend.torch_import.lowering.indexing import _wrapped
from graphc.frontend.torch_import.lowering.table import LoweringContext, lowers
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.types import broadcast_shapes, normalize_dim

aten = torch.ops.aten
KIND = "indexing"


def _scatter_reduce_name(ctx: LoweringContext, reduce: str) -> None:
    if reduce not in ("add", "multiply"):
        raise ctx.unsupported(f"scatter with reduce={reduce!r} (torch's are 'add' and 'multiply')")


@lowers(KIND, aten.scatter.src)
def scatter_src(ctx: LoweringContext, x: Node, dim: int, index: Node, src: Node) -> Node:
    return call(frontend.scatter, x, dim, index, src)


@lowers(KIND, aten.scatter.value)
def scatter_value(ctx: LoweringContext, x: Node, dim: int, index: Node, value: Any) -> Node:
    return call(frontend.scatter, x, dim, index, value=value)


@lowers(KIND, aten.scatter.reduce)
def scatter_reduce_src(ctx: LoweringContext, x: Node, dim: int, index: Node, src: Node, reduce: str) -> Node:
    _scatter_reduce_name(ctx, reduce)
    return call(frontend.scatter, x, dim, index, src, reduce=reduce)


@lowers(KIND, aten.scatter.value_reduce)
def scatter_reduce_value(ctx: LoweringContext, x: Node, dim: int, index: Node, value: Any, reduce: str) -> Node:
    _scatter_reduce_name(ctx, reduce)
    return call(frontend.scatter, x, dim, index, value=value, reduce=reduce)


@lowers(KIND, aten.scatter_reduce.two)
def scatter_reduce(ctx: LoweringContext, x: Node, dim: int, index: Node, src: Node, reduce: str, include_self: bool = True) -> Node:
    return call(frontend.scatter_reduce, x, dim, index, src, reduce, include_self=include_self)


@lowers(KIND, aten.index_reduce.default)
def index_reduce(ctx: LoweringContext, x: Node, dim: int, index: Node, source: Node, reduce: str, include_self: bool = True) -> Node:
    return call(frontend.index_reduce, x, dim, index, source, reduce, include_self=include_self)


@lowers(KIND, aten.max_unpool2d.default)
def max_unpool2d(ctx: LoweringContext, x: Node, indices: Node, output_size: Sequence[Any]) -> Node:
    return _unpooled(ctx, x, indices, output_size)


@lowers(KIND, aten.max_unpool3d.default)
def max_unpool3d(ctx: LoweringContext, x: Node, indices: Node, output_size: Sequence[Any], stride: Any, padding: Any) -> Node:
    return _unpooled(ctx, x, indices, output_size)


def _unpooled(ctx: LoweringContext, x: Node, indices: Node, output_size: Sequence[Any]) -> Node:
    """The values written into zeros at their flat indices over the last ``len(output_size)``
    dimensions, as graphc's ``F.max_unpool2d`` writes them: a ``scatter`` (docs/decisions.md,
    "MaxUnpool1d/2d"); an index outside the output raises through its index check."""
    spatial = len(output_size)
    if x.type.ndim not in (spatial + 1, spatial + 2) or not all(isinstance(s, int) for s in output_size):
        raise ctx.unsupported(f"max_unpool of a {x.type.ndim}-d input to the size {tuple(output_size)}")
    lead = tuple(x.shape[: x.type.ndim - spatial])
    pooled = tuple(x.shape[len(lead) :])
    if not all(isinstance(s, int) for s in pooled) or tuple(indices.shape) != tuple(x.shape):
        raise ctx.unsupported(f"max_unpool with indices of shape {tuple(indices.shape)} for values of shape {tuple(x.shape)}")
    flat = (*lead, math.prod(pooled))
    written = call(frontend.scatter, b.full((*lead, math.prod(output_size)), 0, x.dtype), len(lead), b.reshape(indices, flat), b.reshape(x, flat))
    return b.reshape(written, (*lead, *output_size))


@lowers(KIND, aten.masked_scatter.default)
def masked_scatter(ctx: LoweringContext, x: Node, mask: Node, source: Node) -> Node:
    return call(frontend.masked_scatter, x, mask, source)


@lowers(KIND, aten.index_put.default)
def index_put(ctx: LoweringContext, x: Node, indices: Sequence[Node | None], values: Node, accumulate: bool = False) -> Node:
    """x with ``values`` written (or, with ``accumulate``, added) at x[indices].

    The indexed dimensions are moved to the front and merged into one, whose position is a linear
    index; the values, laid out as torch lays out x[indices], are moved the same way; then one
    write along the merged dimension, and everything moved back.
    """
    positions = [i for i, idx in enumerate(indices) if idx is not None]
    values = b.cast(values, x.dtype)
    if not positions:
        values = b.broadcast_to(values, x.shape)
        return b.add(x, values) if accumulate else values
    if any(indices[i].dtype == dtypes.bool_ for i in positions):
        return _masked_put(ctx, x, indices, values, accumulate)
    for i in positions:
        if indices[i].dtype not in (dtypes.int32, dtypes.int64):
            raise ctx.unsupported(f"index_put with a {indices[i].dtype.name} index tensor")
    sizes = [x.shape[i] for i in positions]
    if not all(isinstance(s, int) for s in sizes[1:]):
        raise ctx.unsupported("index_put into several symbolic dimensions at once")
    shape: tuple = ()
    for i in positions:
        shape = broadcast_shapes(shape, indices[i].shape)
    linear = None
    for i, size in zip(positions, sizes):
        node = b.broadcast_to(b.cast(_wrapped(indices[i], size), dtypes.int64), shape)
        linear = node if linear is None else b.add(b.mul(linear, size), node)
    rest = [i for i in range(x.type.ndim) if i not in positions]
    rest_shape = [x.shape[i] for i in rest]
    merged = 1
    for size in sizes:
        merged = merged * size
    order = positions + rest
    flat = b.reshape(b.permute(x, order), (normalize_dim(merged), *rest_shape))
    # torch's layout of x[indices]: the index shape in place of adjacent indexed dimensions, else in front.
    first, k = positions[0], len(shape)
    adjacent = positions == list(range(first, positions[-1] + 1))
    if adjacent:
        layout = (*x.shape[:first], *shape, *x.shape[positions[-1] + 1 :])
        moved = list(range(first, first + k)) + list(range(first)) + list(range(first + k, len(layout)))
    else:
        layout = (*shape, *rest_shape)
        moved = list(range(len(layout)))
    count = 1
    for size in shape:
        count = count * size
    count = normalize_dim(count)
    spread_values = b.reshape(b.permute(b.broadcast_to(values, layout), moved), (count, *rest_shape))
    line = b.reshape(linear, (count,))
    if accumulate:
        along = b.expand(b.reshape(line, (count, *[1] * len(rest))), (count, *rest_shape))
        written = b.scatter_add(flat, along, spread_values, 0)
    else:
        written = call(frontend.index_copy, flat, 0, line, spread_values)
    back = [0] * x.type.ndim
    for place, axis in enumerate(order):
        back[axis] = place
    return b.permute(b.reshape(written, tuple(x.shape[i] for i in order)), back)


@lowers(KIND, aten.put.default)
def put(ctx: LoweringContext, x: Node, index: Node, source: Node, accumulate: bool = False) -> Node:
    """``source`` written (added, with ``accumulate``) at flat positions of ``x``, as graphc's ``put``."""
    return call(view_scatter.put, x, index, source, accumulate)


def _masked_put(ctx: LoweringContext, x: Node, indices: Sequence[Node | None], values: Node, accumulate: bool) -> Node:
    """``x[mask] = v`` for one boolean mask and a single value: a ``where`` (any other boolean
    indexing writes a data-dependent number of values)."""
    positions = [i for i, idx in enumerate(indices) if idx is not None]
    mask = indices[positions[0]]
    if len(positions) != 1 or mask.dtype != dtypes.bool_ or values.type.numel != 1:
        message = "index_put with a boolean mask writes as many values as the mask has Trues (a data-dependent shape); graphc lowers only x[mask] = one value"
        raise ctx.unsupported(message)
    first = positions[0]
    trailing = x.type.ndim - first - mask.type.ndim
    full_mask = b.broadcast_to(b.reshape(mask, (*[1] * first, *mask.shape, *[1] * trailing)), x.shape)
    value = b.broadcast_to(b.reshape(values, ()), x.shape)
    if accumulate:
        return b.add(x, b.where(full_mask, value, b.zeros_like(x)))
    return b.where(full_mask, value, x)
