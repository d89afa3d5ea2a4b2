"""Splits and sliding windows with torch's names: tensor_split, hsplit, vsplit, dsplit,
split_with_sizes, and ``Tensor.unfold(dimension, size, step)`` (the windows of one axis, not
``nn.functional.unfold``'s image patches).

Every piece is a ``slice`` of the input, and the windows an ``index_select`` of their positions,
so gradients flow back as torch's (overlapping windows add up).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy

from graphc.frontend.functional import _dim, _slice_axis, node_of, split, wrap
from graphc.frontend.manipulation import _static
from graphc.frontend.symbolic_sizes import SymbolicSize, dims
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import emit, op_error
from graphc.runtime import views
from graphc.runtime.tensor import Tensor

METHODS = "tensor_split hsplit vsplit dsplit split_with_sizes unfold".split()


def _split_points(op: str, x: Node, indices_or_sections: Any) -> int | list[int]:
    """A number of sections, or the indices to split at; a tensor's values are read (a 0-d one is a number of sections)."""
    if isinstance(indices_or_sections, Tensor):
        from graphc.frontend.data_dependent import refuse_in_trace

        given = node_of(indices_or_sections)
        if not given.dtype.is_integer or given.type.ndim > 1:
            message = f"tensor_split expects indices_or_sections to be a 0-d or 1-d integer tensor, got {given.type.ndim}-d {given.dtype.name}"
            raise op_error(op, [x.type, given.type], {}, message)
        refuse_in_trace(op, [x.type, given.type], {}, "indices_or_sections", call=f"{op} with a tensor of split points")
        values = indices_or_sections.tolist()
        return values if given.type.ndim == 1 else int(values)
    if isinstance(indices_or_sections, (int, np.integer)):
        return int(indices_or_sections)
    return [int(i) for i in indices_or_sections]


def _pieces(input: Tensor, x: Node, axis: int, bounds: list[tuple[int, int]]) -> tuple[Tensor, ...]:
    return tuple(views.sliced(input, wrap(_slice_axis(x, axis, start, stop)), axis, start, stop) for start, stop in bounds)


def tensor_split(input: Tensor, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """``n`` pieces as equal as can be (the first ``size % n`` one longer), or the pieces between the
    given indices (clamped to the axis, so some may be empty)."""
    x = node_of(input)
    if x.type.ndim == 0:
        raise op_error("tensor_split", [x.type], {}, "tensor_split expects at least a 1-dimensional tensor, but got a tensor with 0 dims")
    axis = _dim(x, dim, op="tensor_split")
    size = _static("tensor_split", x, axis, dim)
    points = _split_points("tensor_split", x, indices_or_sections)
    if isinstance(points, int):
        if points <= 0:
            raise op_error("tensor_split", [x.type], {"sections": points}, f"number of sections must be larger than 0, got {points}")
        small, extra = divmod(size, points)
        lengths = [small + 1 if i < extra else small for i in range(points)]
        starts = np.concatenate([[0], np.cumsum(lengths)]).tolist()
        return _pieces(input, x, axis, list(zip(starts[:-1], starts[1:])))
    edges = [min(max(i if i >= 0 else i + size, 0), size) for i in points]
    starts, stops = [0, *edges], [*edges, size]
    return _pieces(input, x, axis, [(start, max(start, stop)) for start, stop in zip(starts, stops)])


def _directional(op: str, input: Tensor, indices_or_sections: Any, axis: int, rank: int) -> tuple[Tensor, ...]:
    """hsplit/vsplit/dsplit: tensor_split along ``axis``, a number of sections having to divide the axis."""
    x = node_of(input)
    if x.type.ndim < rank:
        raise op_error(op, [x.type], {}, f"torch.{op} requires a tensor with at least {rank} dimension, but got a tensor with {x.type.ndim} dimensions!")
    points = _split_points(op, x, indices_or_sections)
    if isinstance(points, int):
        size = _static(op, x, axis, axis)
        if points == 0 or size % points:
            message = f"torch.{op} attempted to split along dimension {axis}, but the size of the dimension {size} is not divisible by the split_size {points}!"
            raise op_error(op, [x.type], {"sections": points}, message)
    return tensor_split(input, points, axis)


def hsplit(input: Tensor, indices_or_sections: Any) -> tuple[Tensor, ...]:
    """Split the columns (axis 1; axis 0 of a 1-d tensor)."""
    return _directional("hsplit", input, indices_or_sections, 1 if node_of(input).type.ndim > 1 else 0, 1)


def vsplit(input: Tensor, indices_or_sections: Any) -> tuple[Tensor, ...]:
    return _directional("vsplit", input, indices_or_sections, 0, 2)


def dsplit(input: Tensor, indices_or_sections: Any) -> tuple[Tensor, ...]:
    return _directional("dsplit", input, indices_or_sections, 2, 3)


def split_with_sizes(input: Tensor, split_sizes: Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of the given lengths, which must sum to the axis's size."""
    return split(input, list(split_sizes), dim)


def unfold(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """Every window of ``size`` elements ``step`` apart along ``dimension``: that axis becomes the windows'
    count and a new last axis holds each window, as torch's view (overlaps share elements, so their gradients add)."""
    x = node_of(input)
    if x.type.ndim == 0:  # torch's windows of a 0-d tensor: itself as the one window of size 1
        _dim(x, dimension, op="unfold")
        if size > 1 or step <= 0:
            raise op_error("unfold", [x.type], {"size": size, "step": step}, f"size {size} and step {step} must be 1 or 0 and > 0 for a 0-d tensor")
        return wrap(b.reshape(x, (1,)) if size else b.reshape(emit("slice", b.reshape(x, (1,)), starts=(0,), stops=(0,), steps=(1,)), (0,)))
    axis = _dim(x, dimension, op="unfold")
    if not all(isinstance(v, int) for v in (x.shape[axis], size, step)):
        return _symbolic_windows(input, x, dimension, axis, size, step)
    length = _static("unfold", x, axis, dimension)
    attrs = {"dimension": dimension, "size": size, "step": step}
    if size > length or size < 0:
        raise op_error("unfold", [x.type], attrs, f"maximum size for tensor at dimension {axis} is {length} but size is {size}")
    if step <= 0:
        raise op_error("unfold", [x.type], attrs, f"step is {step} but must be > 0")
    count = (length - size) // step + 1
    positions = (np.arange(count)[:, None] * step + np.arange(size)[None, :]).reshape(-1).astype(np.int64)
    taken = emit("index_select", x, Tensor._constant(positions)._node, axis=axis)
    shape = list(x.shape)
    windows = b.reshape(taken, [*shape[:axis], count, size, *shape[axis + 1 :]])
    order = [i for i in range(len(shape) + 1) if i != axis + 1] + [axis + 1]
    return views.unfolded(input, wrap(b.permute(windows, order)), axis, size, step)


def _symbolic_windows(input: Tensor, x: Node, dimension: int, axis: int, size: Any, step: Any) -> Tensor:
    """``unfold`` where the dimension, the window or the step is a symbolic size (``x.unfold(0, 2, 1)`` of
    the batch, ``x.unfold(1, x.size(0), 1)``): the windows' count ``(length - size) // step + 1`` and
    their positions are computed by the program. A check whose answer depends on the batch size
    (a window of 3 of B rows) needs the number: the size specializes, as a size read does."""
    origin = next((v.origin for v in (size, step) if isinstance(v, SymbolicSize)), f"unfold's dimension {dimension}")
    length, size, step = (SymbolicSize(v, origin) if isinstance(v, sympy.Expr) else v for v in (x.shape[axis], size, step))
    attrs = {"dimension": dimension, "size": dims(size), "step": dims(step)}
    if size > length or size < 0:
        raise op_error("unfold", [x.type], attrs, f"maximum size for tensor at dimension {axis} is {dims(length)} but size is {dims(size)}")
    if step <= 0:
        raise op_error("unfold", [x.type], attrs, f"step is {dims(step)} but must be > 0")
    count, size, step = dims((length - size) // step + 1), dims(size), dims(step)
    spacing = step if isinstance(step, int) else emit("size", value=step, dtype=dtypes.int64)
    starts = b.mul(emit("iota", shape=(count, size), axis=0, dtype=dtypes.int64), spacing)
    positions = b.add(starts, emit("iota", shape=(count, size), axis=1, dtype=dtypes.int64))
    taken = emit("index_select", x, b.reshape(positions, (count * size,)), axis=axis)
    shape = list(x.shape)
    windows = b.reshape(taken, [*shape[:axis], count, size, *shape[axis + 1 :]])
    order = [i for i in range(len(shape) + 1) if i != axis + 1] + [axis + 1]
    return views.unfolded(input, wrap(b.permute(windows, order)), axis, size, step)
