"""Tensor manipulation with torch's names: flips and rolls, tiling, moving and swapping axes,
stacking, grids, diagonals and triangles.

Everything here is a composite of movement primitives (``slice``, ``pad``, ``concat``,
``permute``, ``reshape``, ``expand``), ``index_select`` with a computed index, or a ``where``
over an ``iota`` mask, so autodiff, fusion and both backends need nothing new.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc.errors import GraphcError
from graphc.frontend import lazy, tracing
from graphc.frontend.autocast_policy import autocast_op
from graphc.frontend.functional import _dim, _sizes, cat, clone, narrow, node_of, repeat, reshape, wrap
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import emit, op_error
from graphc.ir.types import Dim, TypeRuleError, dims_equal, normalize_dim
from graphc.ir.types import broadcast_shapes as broadcast_pair
from graphc.runtime import views
from graphc.runtime.tensor import Tensor

METHODS = """
flip fliplr flipud roll rot90 tile repeat_interleave movedim moveaxis swapaxes swapdims select take
diag diagonal diag_embed tril triu trace narrow_copy
""".split()
IN_PLACE = ["tril", "triu"]


def _static(op: str, x: Node, axis: int, dim: int) -> int:
    """The size of ``axis``, refused when symbolic (the batch): ``op`` needs it as a number."""
    size = x.shape[axis]
    if not isinstance(size, int):
        raise op_error(op, [x.type], {"dim": dim}, f"{op} needs a static size along dimension {dim}, got the symbolic size {size} (compile with dynamic=False)")
    return size


def _dims(dims: int | Sequence[int]) -> tuple[int, ...]:
    return (dims,) if isinstance(dims, int) else tuple(dims)


# ------------------------------------------------------------------ flips and rolls


def _reversed_index(size: Dim) -> Node:
    """size-1, ..., 1, 0 as an int64 vector; ``size`` may be symbolic (a flip along the batch)."""
    positions = emit("iota", shape=(size,), axis=0, dtype=dtypes.int64)
    last = size - 1 if isinstance(size, int) else emit("size", value=normalize_dim(size - 1), dtype=dtypes.int64)
    return b.sub(last, positions)


def flip(input: Tensor, dims: int | Sequence[int]) -> Tensor:
    """Reverse the order along ``dims``: an ``index_select`` with a reversed ``iota``, whose gradient flips back."""
    x = node_of(input)
    axes = [_dim(x, d, op="flip") for d in _dims(dims)]
    if len(set(axes)) != len(axes):
        raise op_error("flip", [x.type], {"dims": dims}, "dims has a repeated dimension")
    for axis in axes:
        if x.type.ndim:
            x = emit("index_select", x, _reversed_index(x.shape[axis]), axis=axis)
    return wrap(x)


def flip_method(input: Tensor, *dims: Any, **kwargs: Any) -> Tensor:
    """``Tensor.flip`` also takes the dims spread out (``x.flip(0, 1)``), as torch's method does."""
    return flip(input, *((dims,) if len(dims) > 1 else dims), **kwargs)


def fliplr(input: Tensor) -> Tensor:
    if node_of(input).type.ndim < 2:
        raise op_error("fliplr", [node_of(input).type], {}, "input must be >= 2-d")
    return flip(input, 1)


def flipud(input: Tensor) -> Tensor:
    if node_of(input).type.ndim < 1:
        raise op_error("flipud", [node_of(input).type], {}, "input must be >= 1-d")
    return flip(input, 0)


def _roll_axis(x: Node, axis: int, shift: int) -> Node:
    """The last ``shift`` elements moved to the front: two slices joined (views, no index arithmetic)."""
    size = x.shape[axis]
    if isinstance(size, int):
        if size == 0 or shift % size == 0:
            return x
        cut = size - shift % size
        tail = emit("slice", x, starts=_at(x, axis, cut), stops=tuple(x.shape), steps=(1,) * x.type.ndim)
        head = emit("slice", x, starts=(0,) * x.type.ndim, stops=_at(x, axis, cut, tuple(x.shape)), steps=(1,) * x.type.ndim)
        return emit("concat", tail, head, axis=axis)
    # a symbolic size: the index (i - shift) mod size, computed by the program
    positions = emit("iota", shape=(size,), axis=0, dtype=dtypes.int64)
    index = b.binary("remainder", b.sub(positions, shift), emit("size", value=size, dtype=dtypes.int64))
    return emit("index_select", x, index, axis=axis)


def _at(x: Node, axis: int, value: Dim, base: tuple | None = None) -> tuple:
    """``base`` (zeros by default) with ``value`` at ``axis``: slice bounds along one axis."""
    return tuple(value if i == axis else (0 if base is None else base[i]) for i in range(x.type.ndim))


def roll(input: Tensor, shifts: int | Sequence[int], dims: int | Sequence[int] | None = None) -> Tensor:
    """torch.roll: without ``dims`` the flattened tensor is rolled and reshaped back."""
    x = node_of(input)
    shift_list = _dims(shifts)
    if dims is None:
        if len(shift_list) != 1:
            raise op_error("roll", [x.type], {"shifts": shifts}, "without dims, shifts must be a single int")
        flat = b.reshape(x, (x.type.numel,))
        return wrap(b.reshape(_roll_axis(flat, 0, shift_list[0]), x.shape))
    dim_list = _dims(dims)
    if len(shift_list) != len(dim_list):
        raise op_error("roll", [x.type], {"shifts": shifts, "dims": dims}, f"shifts and dimensions must align: {len(shift_list)} shifts, {len(dim_list)} dims")
    for shift, dim in zip(shift_list, dim_list):
        x = _roll_axis(x, _dim(x, dim, op="roll"), shift)
    return wrap(x)


def rot90(input: Tensor, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:
    """Rotate by 90 degrees ``k`` times from the first towards the second of ``dims``, as torch: flips and a transpose."""
    x = node_of(input)
    if len(dims) != 2:
        raise op_error("rot90", [x.type], {"dims": tuple(dims)}, f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if x.type.ndim < 2:
        raise op_error("rot90", [x.type], {"dims": tuple(dims)}, f"expected total dims >= 2, but got total dims = {x.type.ndim}")
    first, second = (_dim(x, d, op="rot90") for d in dims)
    if first == second:
        raise op_error("rot90", [x.type], {"dims": tuple(dims)}, f"expected rotation dims to be different, but got dim0 = {dims[0]} and dim1 = {dims[1]}")
    turns = k % 4
    if turns == 1:
        return swapaxes(flip(input, second), first, second)
    if turns == 2:
        return flip(input, (first, second))
    if turns == 3:
        return flip(swapaxes(input, first, second), second)
    return clone(input)


# ------------------------------------------------------------------ repeating


def tile(input: Tensor, dims: Sequence[int]) -> Tensor:
    """torch.tile: ``repeat`` after padding ``dims`` with leading ones to the input's rank."""
    reps = tuple(_sizes(tuple(dims) if not isinstance(dims, int) else (dims,)))
    missing = node_of(input).type.ndim - len(reps)
    return repeat(input, (1,) * builtins.max(missing, 0) + reps)


def tile_method(input: Tensor, *dims: Any, **kwargs: Any) -> Tensor:
    """``Tensor.tile`` also takes the sizes spread out (``x.tile(2, 3)``), as torch's method does."""
    return tile(input, *((dims,) if len(dims) > 1 else dims), **kwargs)


def _repeats_of(x: Node, repeats: Tensor | int, op: str) -> int | np.ndarray:
    """An int, or the values of a tensor of repeats (they decide the result's shape), read as torch reads them.

    Outside ``graphc.compile`` a computed tensor is realized; inside, its values only exist when the program runs.
    """
    if not isinstance(repeats, Tensor):
        if repeats < 0:
            raise op_error(op, [x.type], {"repeats": repeats}, "repeats can not be negative")
        return int(repeats)
    r = node_of(repeats)
    if r.dtype not in (dtypes.int32, dtypes.int64) or r.type.ndim > 1:
        raise op_error(op, [x.type, r.type], {}, "repeats must be a 0-d or 1-d integer tensor")
    if tracing.active() is not None:
        message = (
            "a tensor of repeats gives a shape that depends on its values, which graphc.compile cannot trace "
            "(a compiled program's shapes are fixed when it is traced; outside graphc.compile it works); pass an int"
        )
        raise op_error(op, [x.type, r.type], {}, message)
    lazy.realize([r])
    values = lazy.to_numpy(r.data)
    if (values < 0).any():
        raise op_error(op, [x.type, r.type], {}, "repeats can not be negative")
    return int(values.reshape(())) if r.type.ndim == 0 else values.astype(np.int64)


def repeat_interleave(input: Tensor, repeats: Tensor | int | None = None, dim: int | None = None, *, output_size: int | None = None) -> Tensor:
    """Each element (or slice along ``dim``) repeated ``repeats`` times; an int repeats is a broadcast, a known tensor an ``index_select``."""
    if repeats is None:  # torch.repeat_interleave(repeats): each index i repeated repeats[i] times
        counts = _repeats_of(node_of(input), input, "repeat_interleave")
        return wrap(b.cast(Tensor._constant(np.repeat(np.arange(np.size(counts)), counts))._node, node_of(input).dtype))
    x = node_of(input)
    if dim is None:
        x, axis = b.reshape(x, (x.type.numel,)), 0
    else:
        axis = _dim(x, dim, op="repeat_interleave")
    if x.type.ndim == 0:
        x = b.reshape(x, (1,))
    counts = _repeats_of(x, repeats, "repeat_interleave")
    if isinstance(counts, int) or counts.size == 1:
        result = _repeat_each(x, axis, int(np.asarray(counts).reshape(-1)[0]))
    else:
        size = _static("repeat_interleave", x, axis, axis)
        if counts.size != size:
            raise op_error("repeat_interleave", [x.type], {"dim": dim}, f"repeats must have the same size as input along dim ({counts.size} vs {size})")
        result = emit("index_select", x, Tensor._constant(np.repeat(np.arange(size), counts))._node, axis=axis)
    if output_size is not None and not dims_equal(result.shape[axis], output_size):
        message = f"output_size {output_size} does not match the result's size {result.shape[axis]}"
        raise op_error("repeat_interleave", [x.type], {"output_size": output_size}, message)
    return wrap(result)


def _repeat_each(x: Node, axis: int, count: int) -> Node:
    """[.., n, ..] -> [.., n, count, ..] broadcast -> [.., n * count, ..]."""
    shape = list(x.shape)
    spread = b.expand(b.reshape(x, shape[: axis + 1] + [1] + shape[axis + 1 :]), shape[: axis + 1] + [count] + shape[axis + 1 :])
    shape[axis] = normalize_dim(shape[axis] * count)
    return b.reshape(spread, shape)


# ------------------------------------------------------------------ axes


def movedim(input: Tensor, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """The ``source`` axes moved to ``destination``; the others keep their order, as torch."""
    x = node_of(input)
    sources = [_dim(x, d, op="movedim") for d in _dims(source)]
    targets = [_dim(x, d, op="movedim") for d in _dims(destination)]
    if len(sources) != len(targets):
        message = f"source ({list(_dims(source))}) and destination ({list(_dims(destination))}) must contain the same number of dims"
        raise op_error("movedim", [x.type], {}, message)
    if len(set(sources)) != len(sources) or len(set(targets)) != len(targets):
        raise op_error("movedim", [x.type], {}, "repeated dim in source or destination")
    rest = iter(d for d in range(x.type.ndim) if d not in sources)
    placed = dict(zip(targets, sources))
    perm = [placed[i] if i in placed else next(rest) for i in range(x.type.ndim)]
    return views.permuted(input, wrap(b.permute(x, perm)), perm)


moveaxis = movedim


def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:
    x = node_of(input)
    perm = list(range(x.type.ndim))
    first, second = _dim(x, axis0, op="swapaxes"), _dim(x, axis1, op="swapaxes")
    perm[first], perm[second] = perm[second], perm[first]
    return views.permuted(input, wrap(b.permute(x, perm)), perm)


def swapdims(input: Tensor, dim0: int, dim1: int) -> Tensor:
    return swapaxes(input, dim0, dim1)


def select(input: Tensor, dim: int, index: int) -> Tensor:
    """input[..., index, ...] along ``dim``: a slice whose axis is then dropped; a negative index counts from the end."""
    x = node_of(input)
    if x.type.ndim == 0:
        raise op_error("select", [x.type], {"dim": dim}, "select() cannot be applied to a 0-dim tensor")
    axis = _dim(x, dim, op="select")
    size = x.shape[axis]
    if isinstance(size, int) and not -size <= index < size:
        raise op_error("select", [x.type], {"dim": dim, "index": index}, f"index {index} out of range for tensor of size {size} at dimension {axis}")
    start = index + size if index < 0 else index
    taken = emit("slice", x, starts=_at(x, axis, start), stops=_at(x, axis, start + 1, tuple(x.shape)), steps=(1,) * x.type.ndim)
    return views.selected(input, wrap(b.reshape(taken, [d for i, d in enumerate(x.shape) if i != axis])), axis, start)


def narrow_copy(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    return clone(narrow(input, dim, start, length))


# ------------------------------------------------------------------ joining


def concat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    return cat(tensors, dim)


concatenate = concat


def atleast_1d(*tensors: Any) -> Any:
    return _atleast(tensors, 1)


def atleast_2d(*tensors: Any) -> Any:
    return _atleast(tensors, 2)


def atleast_3d(*tensors: Any) -> Any:
    return _atleast(tensors, 3)


def _atleast(tensors: tuple, rank: int) -> Any:
    """One tensor for one argument, a tuple for several or for a list, as torch's atleast_*d."""
    items = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors
    shaped = tuple(wrap(_to_rank(node_of(t), rank)) for t in items)
    return shaped[0] if len(tensors) == 1 and not isinstance(tensors[0], (list, tuple)) else shaped


def _to_rank(x: Node, rank: int) -> Node:
    """torch's atleast_*d shapes: () -> (1,), (n,) -> (1, n) and (1, n, 1), (m, n) -> (m, n, 1)."""
    shape = tuple(x.shape)
    if len(shape) >= rank:
        return x
    if rank == 3 and len(shape) == 2:
        return b.reshape(x, (*shape, 1))
    if rank == 3 and len(shape) == 1:
        return b.reshape(x, (1, *shape, 1))
    return b.reshape(x, (1,) * (rank - len(shape)) + shape)


def _check_list(op: str, tensors: Sequence[Tensor]) -> None:
    if not isinstance(tensors, (list, tuple)) or not tensors:
        raise GraphcError(f"{op} expects a non-empty list or tuple of tensors")


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    _check_list("hstack", tensors)
    shaped = atleast_1d(list(tensors))
    return cat(shaped, 0 if shaped[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    _check_list("vstack", tensors)
    return cat(atleast_2d(list(tensors)), 0)


row_stack = vstack


def dstack(tensors: Sequence[Tensor]) -> Tensor:
    _check_list("dstack", tensors)
    return cat(atleast_3d(list(tensors)), 2)


def column_stack(tensors: Sequence[Tensor]) -> Tensor:
    """0-d and 1-d tensors become columns (n, 1); others join along dimension 1 as they are."""
    _check_list("column_stack", tensors)
    columns = [reshape(t, (node_of(t).type.numel, 1)) if node_of(t).type.ndim <= 1 else t for t in tensors]
    return cat(columns, 1)


# ------------------------------------------------------------------ broadcasting and grids


def broadcast_shapes(*shapes: Any) -> tuple:
    """The broadcast of several shapes (ints or sequences), as torch.broadcast_shapes."""
    result: tuple = ()
    for shape in shapes:
        try:
            result = broadcast_pair(result, (shape,) if isinstance(shape, int) else tuple(shape))
        except TypeRuleError as error:
            raise GraphcError(f"broadcast_shapes: {error}") from None
    return tuple(result)


def broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    nodes = [node_of(t) for t in tensors]
    shape: tuple = ()
    for n in nodes:
        try:
            shape = broadcast_pair(shape, n.shape)
        except TypeRuleError as error:
            raise op_error("broadcast_tensors", [m.type for m in nodes], {}, str(error)) from None
    return tuple(wrap(b.broadcast_to(n, shape)) for n in nodes)


def meshgrid(*tensors: Any, indexing: str | None = None) -> tuple[Tensor, ...]:
    """Coordinate grids of 0-d or 1-d tensors; ``indexing="xy"`` swaps the first two grid axes (torch's default is "ij")."""
    items = tensors[0] if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)) else tensors
    nodes = [node_of(t) for t in items]
    if indexing not in (None, "ij", "xy"):
        raise GraphcError(f"torch.meshgrid: indexing must be one of \"xy\" or \"ij\", but received: {indexing}")
    if not nodes:
        raise GraphcError("meshgrid expects a non-empty list of tensors")
    if builtins.any(n.type.ndim > 1 for n in nodes):
        raise op_error("meshgrid", [n.type for n in nodes], {}, "expects 0D or 1D tensors")
    if builtins.any(n.dtype != nodes[0].dtype for n in nodes):
        raise op_error("meshgrid", [n.type for n in nodes], {}, "expects all tensors to have the same dtype")
    vectors = [b.reshape(n, (n.type.numel,)) for n in nodes]
    axes = list(range(len(vectors)))
    if indexing == "xy" and len(vectors) >= 2:
        axes[0], axes[1] = 1, 0
    shape = [None] * len(vectors)
    for v, axis in zip(vectors, axes):
        shape[axis] = v.shape[0]
    return tuple(wrap(b.expand(b.reshape(v, _at_shape(len(vectors), axis, v.shape[0])), shape)) for v, axis in zip(vectors, axes))


def _at_shape(rank: int, axis: int, size: Dim) -> tuple:
    return tuple(size if i == axis else 1 for i in range(rank))


def take(input: Tensor, index: Tensor) -> Tensor:
    """Elements of the flattened input at ``index`` (negative counts from the end), in the index's shape."""
    x, idx = node_of(input), node_of(index)
    if idx.dtype not in (dtypes.int32, dtypes.int64):
        raise op_error("take", [x.type, idx.type], {}, f"take(): Expected a long tensor for index, but got {idx.dtype.name}")
    flat = b.reshape(x, (x.type.numel,))
    positions = b.reshape(b.cast(idx, dtypes.int64), (idx.type.numel,))
    count = x.type.numel if isinstance(x.type.numel, int) else emit("size", value=x.type.numel, dtype=dtypes.int64)
    wrapped = b.where(b.compare("lt", positions, 0), b.add(positions, count), positions)
    return wrap(b.reshape(emit("index_select", flat, wrapped, axis=0), idx.shape))


# ------------------------------------------------------------------ diagonals and triangles


def _diagonal_length(n: int, m: int, offset: int) -> int:
    return builtins.max(0, builtins.min(n, m - offset) if offset >= 0 else builtins.min(n + offset, m))


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of the (dim1, dim2) planes as the last axis: the planes flattened and sliced with step m + 1."""
    x = node_of(input)
    first, second = _dim(x, dim1, op="diagonal"), _dim(x, dim2, op="diagonal")
    if first == second:
        raise op_error("diagonal", [x.type], {"dim1": dim1, "dim2": dim2}, f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    n, m = _static("diagonal", x, first, dim1), _static("diagonal", x, second, dim2)
    others = [d for d in range(x.type.ndim) if d not in (first, second)]
    batch = [x.shape[d] for d in others]
    planes = b.reshape(b.permute(x, [*others, first, second]), (*batch, n * m))
    length = _diagonal_length(n, m, offset)
    start = offset if offset >= 0 else -offset * m
    last = len(batch)
    if length == 0:
        taken = b.reshape(emit("slice", planes, starts=(0,) * (last + 1), stops=(*batch, 0), steps=(1,) * (last + 1)), (*batch, 0))
    else:
        stop = start + (length - 1) * (m + 1) + 1
        taken = emit("slice", planes, starts=(0,) * last + (start,), stops=(*batch, stop), steps=(1,) * last + (m + 1,))
    return views.diagonal_of(input, wrap(taken), offset, first, second)


def diag_embed(input: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices with the last axis on their ``offset`` diagonal: a ``pad`` with interior gaps of n, reshaped to n x n and moved to (dim1, dim2)."""
    x = node_of(input)
    rows, cols = _dim(x, dim1, extra=1, op="diag_embed"), _dim(x, dim2, extra=1, op="diag_embed")
    if rows == cols:
        raise op_error("diag_embed", [x.type], {"dim1": dim1, "dim2": dim2}, f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    length = _static("diag_embed", x, x.type.ndim - 1, -1)
    n = length + builtins.abs(offset)
    batch = list(x.shape[:-1])
    last = len(batch)
    low = offset if offset >= 0 else -offset * n
    high = n * n - low - ((length - 1) * (n + 1) + 1 if length else 0)
    zeros = (0,) * last
    spread = emit("pad", x, low=(*zeros, low), high=(*zeros, high), interior=(*zeros, n), value=0.0)
    matrices = b.reshape(spread, (*batch, n, n))
    rest = iter(range(last))
    perm = [last if i == rows else last + 1 if i == cols else next(rest) for i in range(last + 2)]
    return wrap(b.permute(matrices, perm))


_diagonal_of = diagonal  # diag's argument is named ``diagonal`` too, as in torch


def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """A 1-d input as the ``diagonal`` of a square matrix, or a 2-d input's ``diagonal`` as a vector."""
    x = node_of(input)
    if x.type.ndim == 1:
        return diag_embed(input, diagonal, 0, 1)
    if x.type.ndim == 2:
        return _diagonal_of(input, diagonal)
    raise op_error("diag", [x.type], {"diagonal": diagonal}, f"diag(): Supports 1D or 2D tensors. Got {x.type.ndim}D")


def _triangle(op: str, input: Tensor, diagonal: int, keep: str) -> Tensor:
    """x where (column - row) compares with ``diagonal`` as ``keep`` says, else 0: an ``iota`` mask, elementwise and fused."""
    x = node_of(input)
    if x.type.ndim < 2:
        raise op_error(op, [x.type], {"diagonal": diagonal}, f"{op}: input tensor must have at least 2 dimensions")
    plane = tuple(x.shape[-2:])
    rows = emit("iota", shape=plane, axis=0, dtype=dtypes.int64)
    cols = emit("iota", shape=plane, axis=1, dtype=dtypes.int64)
    mask = b.compare(keep, b.sub(cols, rows), diagonal)
    return wrap(b.where(b.broadcast_to(mask, x.shape), x, b.zeros_like(x)))


def tril(input: Tensor, diagonal: int = 0) -> Tensor:
    return _triangle("tril", input, diagonal, "le")


def triu(input: Tensor, diagonal: int = 0) -> Tensor:
    return _triangle("triu", input, diagonal, "ge")


@autocast_op
def trace(input: Tensor) -> Tensor:
    """The sum of the main diagonal of a 2-d tensor (integers sum in int64, as torch)."""
    x = node_of(input)
    if x.type.ndim != 2:
        raise op_error("trace", [x.type], {}, f"trace: expected a matrix, but got tensor with dim {x.type.ndim}")
    return wrap(b.reduce("sum", node_of(diagonal(input)), None, False))

