"""Views and movement: reshapes, permutes, broadcasts, slices, concatenation, splits, padding, and the
writes into a slice or a diagonal (slice_scatter, diagonal_scatter).

Shapes that torch already resolved (``-1`` in a view, squeezes, broadcasts) are
taken from the node's recorded result type rather than recomputed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from graphc.frontend import manipulation, view_scatter
from graphc.frontend.torch_import.lowering.frontend import call
from graphc.frontend.torch_import.lowering.table import LoweringContext, lowers
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import emit
from graphc.ir.types import Dim, dims_equal, normalize_dim

aten = torch.ops.aten
KIND = "view"

# Slice ends at or past this are torch's "to the end" (sys.maxsize).
_TO_END = 2**62


@lowers(
    KIND,
    aten.view.default,
    aten._unsafe_view.default,
    aten.reshape.default,
    aten.view_copy.default,
    aten.squeeze.default,
    aten.squeeze.dim,
    aten.squeeze.dims,
    aten.unsqueeze.default,
    aten.flatten.using_ints,
    aten.unflatten.int,
)
def reshape(ctx: LoweringContext, x: Node, *_: Any, **__: Any) -> Node:
    return b.reshape(x, ctx.out_shape())


@lowers(KIND, aten.as_strided.default, aten.as_strided_copy.default)
def as_strided(ctx: LoweringContext, x: Node, size: Sequence[Any], stride: Sequence[Any], storage_offset: Any = None) -> Node:
    """A gather of the elements the strides address, by where each sits in the input's memory.

    torch.export emits it for a flatten of a channels-last tensor whose restride is the identity
    (``flatten`` after adaptive pooling in a ``channels_last`` model). graphc's tensors have no
    strides: the input's recorded strides say which of its elements each address holds; an
    address outside the input, or an input whose elements share addresses, is refused.
    """
    source = ctx.node.args[0].meta["val"]
    offset = source.storage_offset() if storage_offset is None else storage_offset
    out_shape = ctx.out_shape()
    if _same_layout(ctx, source, size, stride, offset):
        return b.reshape(x, out_shape)
    try:
        in_sizes, in_strides, sizes, strides = (tuple(int(v) for v in values) for values in (source.shape, source.stride(), size, stride))
        in_offset, start = int(source.storage_offset()), int(offset)
    except TypeError:
        raise ctx.unsupported("as_strided over symbolic sizes unless it keeps the input's layout (compile with dynamic=False)") from None
    addresses = _addresses(in_sizes, in_strides, in_offset)
    index = np.full(int(addresses.max(initial=-1)) + 1, -1, dtype=np.int64)  # address -> the input's flat position
    index[addresses] = np.arange(addresses.size)
    if np.count_nonzero(index >= 0) != addresses.size:
        raise ctx.unsupported(f"as_strided of an input whose elements overlap in memory (sizes {list(in_sizes)}, strides {list(in_strides)})")
    wanted = _addresses(sizes, strides, start)
    inside = (wanted >= 0) & (wanted < index.size)
    picked = np.where(inside, index[np.clip(wanted, 0, max(index.size - 1, 0))], -1) if index.size else np.full(wanted.shape, -1)
    if np.any(picked < 0):
        raise ctx.unsupported(f"as_strided reading memory outside its input (sizes {list(sizes)}, strides {list(strides)}, offset {start})")
    flat = b.reshape(x, (addresses.size,))
    return b.reshape(emit("index_select", flat, ctx.constant(picked), axis=0), out_shape)


def _addresses(sizes: tuple[int, ...], strides: tuple[int, ...], offset: int) -> np.ndarray:
    """The memory address of each element of a strided tensor, in row-major order."""
    grid = np.indices(sizes, dtype=np.int64).reshape(len(sizes), math.prod(sizes))
    return offset + np.asarray(strides, dtype=np.int64) @ grid


def _same_layout(ctx: LoweringContext, source: torch.Tensor, size: Sequence[Any], stride: Sequence[Any], offset: Any) -> bool:
    """Whether as_strided reads the input's elements in their own order: same sizes, offset, and strides wherever a size is not 1."""
    same = ctx.dim(offset) == ctx.dim(source.storage_offset()) and len(size) == source.dim()
    for n, s, m, t in zip(size, stride, source.shape, source.stride()):
        same = same and dims_equal(ctx.dim(n), ctx.dim(m)) and (ctx.dim(n) == 1 or dims_equal(ctx.dim(s), ctx.dim(t)))
    return bool(same)


@lowers(KIND, aten.expand.default, aten.expand_copy.default)
def expand(ctx: LoweringContext, x: Node, *_: Any, **__: Any) -> Node:
    return b.broadcast_to(x, ctx.out_shape())


def _axis(x: Node, dim: int) -> int:
    return dim % max(x.type.ndim, 1)


@lowers(KIND, aten.permute.default, aten.permute_copy.default)
def permute(ctx: LoweringContext, x: Node, dims: Sequence[int]) -> Node:
    return b.permute(x, [_axis(x, d) for d in dims])


@lowers(KIND, aten.transpose.int)
def transpose(ctx: LoweringContext, x: Node, dim0: int, dim1: int) -> Node:
    perm = list(range(x.type.ndim))
    a, c = _axis(x, dim0), _axis(x, dim1)
    perm[a], perm[c] = perm[c], perm[a]
    return b.permute(x, perm)


@lowers(KIND, aten.t.default)
def t(ctx: LoweringContext, x: Node) -> Node:
    return x if x.type.ndim < 2 else b.transpose_last(x)


def _bound(value: Any, size: Dim, default: Dim) -> Dim:
    """A slice bound as torch clamps it: None is the default, negatives count from the end."""
    if value is None:
        return default
    value = normalize_dim(value)
    if isinstance(value, int):
        if value >= _TO_END:
            return size
        if value < 0:
            value = size + value
            if isinstance(size, int):
                value = max(value, 0)
        elif isinstance(size, int):
            value = min(value, size)
    return normalize_dim(value)


def slice_axis(x: Node, axis: int, start: Dim, stop: Dim, step: int = 1) -> Node:
    if start == 0 and dims_equal(stop, x.shape[axis]) and step == 1:
        return x
    starts = tuple(start if i == axis else 0 for i in range(x.type.ndim))
    stops = tuple(stop if i == axis else d for i, d in enumerate(x.shape))
    steps = tuple(step if i == axis else 1 for i in range(x.type.ndim))
    return emit("slice", x, starts=starts, stops=stops, steps=steps)


@lowers(KIND, aten.slice.Tensor, aten.slice_copy.Tensor)
def slice_(ctx: LoweringContext, x: Node, dim: int = 0, start: Any = None, end: Any = None, step: int = 1) -> Node:
    axis = _axis(x, dim)
    size = x.shape[axis]
    if step <= 0:
        raise ctx.unsupported("slices with a non-positive step")
    begin, stop = _bound(start, size, 0), _bound(end, size, size)
    if isinstance(begin, int) and isinstance(stop, int) and stop < begin:
        stop = begin
    out = slice_axis(x, axis, begin, stop, step)
    return b.reshape(out, ctx.out_shape())


@lowers(KIND, aten.select.int, aten.select_copy.int)
def select(ctx: LoweringContext, x: Node, dim: int, index: Any) -> Node:
    axis = _axis(x, dim)
    index = normalize_dim(index)
    if isinstance(index, int) and index < 0:
        index = normalize_dim(x.shape[axis] + index)
    return b.reshape(slice_axis(x, axis, index, normalize_dim(index + 1)), ctx.out_shape())


@lowers(KIND, aten.slice_scatter.default)
def slice_scatter(ctx: LoweringContext, x: Node, src: Node, dim: int = 0, start: Any = None, end: Any = None, step: int = 1) -> Node:
    """``x`` with ``x[start:end:step]`` along ``dim`` replaced by ``src`` (torch's functional form of an
    assignment to a slice, ``y[:, 1:3] = z``): ``src`` padded into place, as slice's gradient is, and
    picked where a mask padded the same way is set. The gradient of each part is then its own."""
    axis = _axis(x, dim)
    size, length = x.shape[axis], src.shape[axis]
    src = b.cast(src, x.dtype)
    if isinstance(length, int) and length == 0:
        return x
    begin = _bound(start, size, 0)
    if begin == 0 and dims_equal(length, size):  # the whole axis (step 1)
        return src
    low = tuple(begin if i == axis else 0 for i in range(x.type.ndim))
    high = tuple(normalize_dim(size - begin - (length - 1) * step - 1) if i == axis else 0 for i in range(x.type.ndim))
    interior = tuple(step - 1 if i == axis else 0 for i in range(x.type.ndim))
    placed = emit("pad", src, low=low, high=high, interior=interior, value=0.0)
    along = tuple(length if i == axis else 1 for i in range(x.type.ndim))
    ones = b.full(along, 1.0, dtypes.float32)
    mask = emit("pad", ones, low=low, high=high, interior=interior, value=0.0)
    return b.where(b.compare("gt", mask, 0.5), placed, x)


@lowers(KIND, aten.diagonal_scatter.default)
def diagonal_scatter(ctx: LoweringContext, x: Node, src: Node, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Node:
    """``x`` with its diagonal replaced by ``src``, as graphc's front end writes it (a ``where``)."""
    return call(view_scatter.diagonal_scatter, x, src, offset, dim1, dim2)


@lowers(KIND, aten.cat.default)
def cat(ctx: LoweringContext, tensors: Sequence[Node], dim: int = 0) -> Node:
    nodes = [n for n in tensors if not (n.type.ndim == 1 and n.shape[0] == 0)] or list(tensors[:1])
    dtype = ctx.out_dtype()
    nodes = [b.cast(n, dtype) for n in nodes]
    if len(nodes) == 1:
        return nodes[0]
    return emit("concat", *nodes, axis=_axis(nodes[0], dim))


@lowers(KIND, aten.stack.default)
def stack(ctx: LoweringContext, tensors: Sequence[Node], dim: int = 0) -> Node:
    first = tensors[0]
    axis = dim % (first.type.ndim + 1)
    expanded = [b.reshape(t, (*t.shape[:axis], 1, *t.shape[axis:])) for t in tensors]
    return cat(ctx, expanded, axis)


def _split(x: Node, axis: int, sizes: Sequence[Dim]) -> tuple[Node, ...]:
    out = []
    offset: Dim = 0
    for length in sizes:
        out.append(slice_axis(x, axis, offset, normalize_dim(offset + length)))
        offset = normalize_dim(offset + length)
    return tuple(out)


@lowers(KIND, aten.split_with_sizes.default, aten.split_with_sizes_copy.default)
def split_with_sizes(ctx: LoweringContext, x: Node, split_sizes: Sequence[Any], dim: int = 0) -> tuple[Node, ...]:
    return _split(x, _axis(x, dim), [normalize_dim(s) for s in split_sizes])


@lowers(KIND, aten.split.Tensor, aten.split_copy.Tensor)
def split(ctx: LoweringContext, x: Node, split_size: Any, dim: int = 0) -> tuple[Node, ...]:
    axis = _axis(x, dim)
    sizes = [ctx.dim(t.shape[axis]) for t in ctx.node.meta["val"]]
    return _split(x, axis, sizes)


@lowers(KIND, aten.unbind.int, aten.unbind_copy.int)
def unbind(ctx: LoweringContext, x: Node, dim: int = 0) -> tuple[Node, ...]:
    axis = _axis(x, dim)
    size = x.shape[axis]
    if not isinstance(size, int):
        raise ctx.unsupported("unbind along a symbolic dimension")
    parts = _split(x, axis, [1] * size)
    return tuple(b.reshape(p, (*x.shape[:axis], *x.shape[axis + 1 :])) for p in parts)


@lowers(KIND, aten.constant_pad_nd.default)
def constant_pad_nd(ctx: LoweringContext, x: Node, pad: Sequence[int], value: float = 0.0) -> Node:
    """Pairs of (before, after) from the last dimension backwards; negative amounts crop."""
    ndim = x.type.ndim
    low, high = [0] * ndim, [0] * ndim
    for i in range(len(pad) // 2):
        low[ndim - 1 - i], high[ndim - 1 - i] = int(pad[2 * i]), int(pad[2 * i + 1])
    if any(v < 0 for v in low + high):
        starts = tuple(max(0, -lo) for lo in low)
        stops = tuple(normalize_dim(d - max(0, -hi)) for d, hi in zip(x.shape, high))
        x = emit("slice", x, starts=starts, stops=stops, steps=(1,) * ndim)
    low, high = [max(0, v) for v in low], [max(0, v) for v in high]
    if not any(low + high):
        return x
    return emit("pad", x, low=tuple(low), high=tuple(high), interior=(0,) * ndim, value=float(value))


@lowers(KIND, aten.repeat.default)
def repeat(ctx: LoweringContext, x: Node, repeats: Sequence[Any]) -> Node:
    reps = [normalize_dim(r) for r in repeats]
    x = b.reshape(x, (1,) * (len(reps) - x.type.ndim) + tuple(x.shape))
    interleaved = b.reshape(x, [v for d in x.shape for v in (1, d)])
    tiled = b.expand(interleaved, [v for r, d in zip(reps, x.shape) for v in (r, d)])
    return b.reshape(tiled, ctx.out_shape())


@lowers(KIND, aten.diagonal.default, aten.diagonal_copy.default)
def diagonal(ctx: LoweringContext, x: Node, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Node:
    """The diagonal of the (dim1, dim2) planes, last: a strided slice of the flattened planes (static sizes)."""
    return call(manipulation.diagonal, x, offset, dim1, dim2)


@lowers(KIND, aten.narrow_copy.default)
def narrow_copy(ctx: LoweringContext, x: Node, dim: int, start: int, length: int) -> Node:
    return call(manipulation.narrow_copy, x, dim, start, length)
