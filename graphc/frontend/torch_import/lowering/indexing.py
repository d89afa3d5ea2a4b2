"""Indexing: embedding, gather, scatter_add, index_select, flip, Tensor.unfold and advanced indexing with integer tensors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from graphc.frontend import manipulation
from graphc.frontend.torch_import.lowering.frontend import call
from graphc.frontend.torch_import.lowering.table import LoweringContext, lowers
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import emit
from graphc.ir.types import broadcast_shapes, dims_equal

aten = torch.ops.aten
KIND = "indexing"


def _wrapped(index: Node, size: Any) -> Node:
    """Negative indices count from the end, as in torch (when the size is known)."""
    if not isinstance(size, int):
        return index
    return b.where(b.compare("lt", index, 0), b.add(index, size), index)


def _select_rows(x: Node, index: Node, axis: int) -> Node:
    """x's slices along ``axis`` at every element of ``index`` (any shape): shape x[:axis] + index + x[axis+1:]."""
    flat = b.reshape(index, (index.type.numel,))
    picked = emit("index_select", x, flat, axis=axis)
    return b.reshape(picked, (*x.shape[:axis], *index.shape, *x.shape[axis + 1 :]))


@lowers(KIND, aten.embedding.default)
def embedding(ctx: LoweringContext, weight: Node, indices: Node, padding_idx: int = -1, scale_grad_by_freq: bool = False, sparse: bool = False) -> Node:
    if scale_grad_by_freq:
        raise ctx.unsupported("embedding with scale_grad_by_freq=True")
    rows = _select_rows(weight, indices, 0)
    if padding_idx is not None and padding_idx >= 0:
        # The padding row gets no gradient, as in torch: same value, detached where the index is padding_idx.
        is_padding = b.broadcast_to(b.reshape(b.compare("eq", indices, padding_idx), (*indices.shape, 1)), rows.shape)
        rows = b.where(is_padding, emit("detach", rows), rows)
    return rows


@lowers(KIND, aten.index_select.default)
def index_select(ctx: LoweringContext, x: Node, dim: int, index: Node) -> Node:
    if index.type.ndim == 0:
        index = b.reshape(index, (1,))
    axis = dim % max(x.type.ndim, 1)
    return emit("index_select", x, _wrapped(index, x.shape[axis]), axis=axis)


@lowers(KIND, aten.flip.default)
def flip(ctx: LoweringContext, x: Node, dims: Sequence[int]) -> Node:
    """graphc's flip: an ``index_select`` with a reversed ``iota`` (a bidirectional RNN flips the sequence;
    ``flipud``/``rot90`` flip the batch, whose size is symbolic), whose gradient flips back."""
    return call(manipulation.flip, x, list(dims))


@lowers(KIND, aten.unfold.default)
def unfold(ctx: LoweringContext, x: Node, dimension: int, size: int, step: int) -> Node:
    """``Tensor.unfold``: the windows of ``size`` every ``step`` along ``dimension``, as a new last axis:
    one ``index_select`` with a constant table of window positions (whose gradient adds overlaps back)."""
    if x.type.ndim == 0:
        raise ctx.unsupported("unfold of a 0-d tensor")
    axis = dimension % x.type.ndim
    length = x.shape[axis]
    if not isinstance(length, int):
        raise ctx.unsupported(f"unfold along the symbolic dimension {length} (the batch)")
    count = (length - size) // step + 1
    table = (np.arange(count)[:, None] * step + np.arange(size)[None, :]).reshape(-1)
    picked = emit("index_select", x, ctx.constant(table.astype(np.int64)), axis=axis)
    windows = b.reshape(picked, (*x.shape[:axis], count, size, *x.shape[axis + 1 :]))
    order = [i for i in range(x.type.ndim + 1) if i != axis + 1] + [axis + 1]
    return b.permute(windows, order)


@lowers(KIND, aten.gather.default)
def gather(ctx: LoweringContext, x: Node, dim: int, index: Node, sparse_grad: bool = False) -> Node:
    axis = dim % max(x.type.ndim, 1)
    if not all(dims_equal(p, q) for i, (p, q) in enumerate(zip(x.shape, index.shape)) if i != axis):
        stops = tuple(x.shape[i] if i == axis else index.shape[i] for i in range(x.type.ndim))
        x = emit("slice", x, starts=(0,) * x.type.ndim, stops=stops, steps=(1,) * x.type.ndim)
    return emit("gather", x, _wrapped(index, x.shape[axis]), axis=axis)


@lowers(KIND, aten.scatter_add.default)
def scatter_add(ctx: LoweringContext, x: Node, dim: int, index: Node, src: Node) -> Node:
    axis = dim % max(x.type.ndim, 1)
    if not all(dims_equal(p, q) for p, q in zip(src.shape, index.shape)):
        src = emit("slice", src, starts=(0,) * src.type.ndim, stops=tuple(index.shape), steps=(1,) * src.type.ndim)
    return b.scatter_add(x, _wrapped(index, x.shape[axis]), src, axis)


@lowers(KIND, aten.index.Tensor)
def index(ctx: LoweringContext, x: Node, indices: Sequence[Node | None]) -> Node:
    """x[..., i, j, ...] with integer index tensors (broadcast together), as torch's advanced indexing."""
    positions = [i for i, idx in enumerate(indices) if idx is not None]
    if not positions:
        return x
    for i in positions:
        if indices[i].dtype not in (dtypes.int32, dtypes.int64):
            raise ctx.unsupported(f"indexing with a {indices[i].dtype.name} tensor (boolean masks have data-dependent shapes)")
    adjacent = positions == list(range(positions[0], positions[-1] + 1))
    if not adjacent:  # torch puts the indexed dimensions first; so does moving them to the front
        rest = [i for i in range(x.type.ndim) if i not in positions]
        x = b.permute(x, positions + rest)
        indices = [indices[i] for i in positions]
        positions = list(range(len(positions)))
    first = positions[0]
    nodes = [_wrapped(indices[i], x.shape[i]) for i in positions]
    if len(nodes) == 1:
        return _select_rows(x, nodes[0], first)
    sizes = [x.shape[i] for i in positions]
    if not all(isinstance(s, int) for s in sizes[1:]):
        raise ctx.unsupported("indexing several symbolic dimensions at once")
    shape: tuple = ()
    for node in nodes:
        shape = broadcast_shapes(shape, node.shape)
    linear = None
    for node, size in zip(nodes, sizes):
        node = b.broadcast_to(b.cast(node, dtypes.int64), shape)
        linear = node if linear is None else b.add(b.mul(linear, size), node)
    merged = 1
    for size in sizes:
        merged = merged * size
    flat = b.reshape(x, (*x.shape[:first], merged, *x.shape[positions[-1] + 1 :]))
    return _select_rows(flat, linear, first)
