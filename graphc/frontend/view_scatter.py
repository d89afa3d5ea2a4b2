"""torch's functional writes into a view of a tensor: slice_scatter, select_scatter, diagonal_scatter,
and the writes at index tensors, index_put and put (their in-place twins ``index_put_``/``put_`` too).

The view writes are ``x[key] = src`` on a copy (graphc/frontend/indexing.py's pad-and-select), or a
``where`` between the input and the source gathered onto the diagonal; index_put and put write
into the flattened input with ``index_copy``/``index_add`` (graphc/frontend/scatter.py), so
duplicates add up with ``accumulate=True`` and gradients flow as torch's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc.frontend.functional import _dim, node_of, wrap
from graphc.frontend.indexing import setitem
from graphc.frontend.manipulation import _static, diagonal, select
from graphc.frontend.scatter import index_add, index_copy
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import emit, op_error
from graphc.ir.types import TypeRuleError, broadcast_shapes, shapes_equal
from graphc.runtime.tensor import Tensor

METHODS = "slice_scatter select_scatter diagonal_scatter index_put put".split()
IN_PLACE = "index_put put".split()


def _same_shape(op: str, x: Node, src: Node, want: Any, what: str) -> None:
    if not shapes_equal(src.shape, want):
        message = f"src must have the shape of {what}, {list(want)}, got {list(src.shape)}"
        raise op_error(op, [x.type, src.type], {}, message)


def slice_scatter(input: Tensor, src: Tensor, dim: int = 0, start: int | None = None, end: int | None = None, step: int = 1) -> Tensor:
    """A copy of input with ``input[..., start:end:step, ...]`` (along ``dim``) replaced by ``src``."""
    x, s = node_of(input), node_of(src)
    axis = _dim(x, dim, op="slice_scatter")
    key = (slice(None),) * axis + (slice(start, end, step),)
    _same_shape("slice_scatter", x, s, node_of(input[key]).shape, f"input[{', '.join([':'] * axis + [f'{start}:{end}:{step}'])}]")
    return wrap(setitem(input, key, src))


def select_scatter(input: Tensor, src: Tensor, dim: int, index: int) -> Tensor:
    """A copy of input with ``input.select(dim, index)`` replaced by ``src``."""
    x, s = node_of(input), node_of(src)
    _same_shape("select_scatter", x, s, node_of(select(input, dim, index)).shape, f"input.select({dim}, {index})")
    axis = _dim(x, dim, op="select_scatter")
    return wrap(setitem(input, (slice(None),) * axis + (index,), src))


def diagonal_scatter(input: Tensor, src: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """A copy of input with ``input.diagonal(offset, dim1, dim2)`` replaced by ``src`` (the diagonal as its last axis)."""
    x, s = node_of(input), node_of(src)
    _same_shape("diagonal_scatter", x, s, node_of(diagonal(input, offset, dim1, dim2)).shape, f"input.diagonal({offset}, {dim1}, {dim2})")
    first, second = _dim(x, dim1, op="diagonal_scatter"), _dim(x, dim2, op="diagonal_scatter")
    n, m = _static("diagonal_scatter", x, first, dim1), _static("diagonal_scatter", x, second, dim2)
    length = s.shape[-1]
    if length == 0:
        return wrap(x)
    row0 = max(-offset, 0)
    rows, cols = np.arange(n)[:, None], np.arange(m)[None, :]
    on_diagonal = (cols - rows == offset) & (rows - row0 < length) & (rows >= row0)
    # Row i of the (dim1, dim2) plane holds diagonal element i - row0 (clipped where it holds none).
    element = np.clip(np.arange(n) - row0, 0, length - 1).astype(np.int64)
    per_row = emit("index_select", b.cast(s, x.dtype), Tensor._constant(element)._node, axis=s.type.ndim - 1)
    others = [d for d in range(x.type.ndim) if d not in (first, second)]
    batch = [x.shape[d] for d in others]
    plane = b.expand(b.reshape(per_row, (*batch, n, 1)), (*batch, n, m))
    order = [*others, first, second]
    inverse = [order.index(i) for i in range(x.type.ndim)]
    placed = b.permute(plane, inverse)
    mask_shape = [n if i == first else m if i == second else 1 for i in range(x.type.ndim)]
    mask = np.transpose(on_diagonal, (0, 1) if first < second else (1, 0)).reshape(mask_shape)
    return wrap(b.where(Tensor._constant(mask)._node, placed, x))


def _flat_positions(op: str, x: Node, indices: Sequence[Tensor]) -> tuple[Node, tuple]:
    """The positions in the flattened leading axes that integer index tensors for them name
    (negative ones counting from the end), and their broadcast shape."""
    nodes = [b.cast(node_of(i), dtypes.int64) for i in indices]
    shape: tuple = ()
    try:
        for i in nodes:
            shape = broadcast_shapes(shape, i.shape)
    except TypeRuleError as error:
        raise op_error(op, [x.type, *[i.type for i in nodes]], {}, f"shape mismatch: indices could not be broadcast together ({error})") from error
    flat = None
    for axis, i in enumerate(nodes):
        size = _static(op, x, axis, axis)
        wrapped = b.where(b.compare("lt", i, 0), b.add(i, size), i)
        position = b.broadcast_to(wrapped, shape)
        flat = position if flat is None else b.add(b.mul(flat, size), position)
    return flat, shape


def index_put(input: Tensor, indices: Sequence[Tensor], values: Any, accumulate: bool = False) -> Tensor:
    """A copy of input with ``values`` written at ``input[indices]`` (added there with ``accumulate``, duplicates
    adding up). ``indices`` index the leading axes with integer tensors; one boolean mask is ``x[mask] = values``."""
    x = node_of(input)
    indices = tuple(indices)
    if len(indices) == 1 and node_of(indices[0]).dtype == dtypes.bool_ and not accumulate:
        return wrap(setitem(input, indices[0], values))
    for i in indices:
        if not node_of(i).dtype.is_integer:
            message = f"index_put takes integer index tensors (and one boolean mask without accumulate), got {node_of(i).dtype.name}"
            raise op_error("index_put", [x.type, node_of(i).type], {"accumulate": accumulate}, message)
    if len(indices) > x.type.ndim or not indices:
        message = f"too many indices for a tensor of dimension {x.type.ndim}" if indices else "index_put needs at least one index"
        raise op_error("index_put", [x.type], {}, message)
    positions, shape = _flat_positions("index_put", x, indices)
    lead = [_static("index_put", x, i, i) for i in range(len(indices))]
    rest = list(x.shape[len(indices) :])
    flat_x = b.reshape(x, (int(np.prod(lead)), *rest))
    v = node_of(values) if isinstance(values, Tensor) else b.constant(values, x.dtype)
    if v.dtype != x.dtype:
        message = f"index_put requires the source and destination dtypes match, got {x.dtype.name} for the destination and {v.dtype.name} for the source"
        raise op_error("index_put", [x.type, v.type], {}, message)
    try:
        v = b.broadcast_to(v, (*shape, *rest))
    except Exception as error:
        message = f"shape mismatch: value tensor of shape {list(v.shape)} cannot be broadcast to indexing result of shape {[*shape, *rest]}"
        raise op_error("index_put", [x.type, v.type], {}, message) from error
    count = int(np.prod([d for d in shape]))
    flat_v = b.reshape(v, (count, *rest))
    flat_positions = wrap(b.reshape(positions, (count,)))
    write = index_add if accumulate else index_copy
    return wrap(b.reshape(node_of(write(wrap(flat_x), 0, flat_positions, wrap(flat_v))), x.shape))


def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """A copy of input with ``source`` written at the positions ``index`` names in the flattened input
    (negative ones from the end; added there with ``accumulate``)."""
    x, idx, s = node_of(input), node_of(index), node_of(source)
    if not idx.dtype.is_integer:
        raise op_error("put", [x.type, idx.type], {}, f"put(): Expected a long tensor for index, but got {idx.dtype.name}")
    if idx.type.numel != s.type.numel:
        message = (
            "put(): Expected source and index to have the same number of elements, "
            f"but got source.numel() = {s.type.numel}, index.numel() = {idx.type.numel}"
        )
        raise op_error("put", [x.type, idx.type, s.type], {}, message)
    if s.dtype != x.dtype:
        raise op_error("put", [x.type, s.type], {}, f"put(): self ({x.dtype.name}) and source ({s.dtype.name}) must have the same scalar type")
    flat = wrap(b.reshape(x, (x.type.numel,)))
    return index_put(flat, (wrap(b.reshape(idx, (idx.type.numel,))),), wrap(b.reshape(s, (s.type.numel,))), accumulate).reshape(x.shape)
