"""Writing into a tensor at indices, with torch's names: scatter (a tensor or a value),
index_add, index_fill, index_copy, masked_scatter, and their in-place twins.

``scatter_add`` is the only writing primitive. A write that replaces is built from two
additions: the number of writes each position receives and the sum of what they write; a
position written once takes that value, one never written keeps the input's. torch leaves
the result of duplicate indices unspecified (it is nondeterministic on GPUs); graphc gives
their mean, which is the value itself when the duplicates write one value
(docs/decisions.md, "Indexed writes").
"""

from __future__ import annotations

from typing import Any

from graphc.frontend.functional import _dim, node_of, scatter_add, wrap
from graphc.frontend.functional import masked_fill as masked_fill  # its in-place twin masked_fill_ is made from this module
from graphc.frontend.reductions import cumsum
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import emit, op_error
from graphc.ir.types import dims_equal
from graphc.runtime.tensor import Tensor

METHODS = "scatter index_add index_fill index_copy masked_scatter".split()
IN_PLACE = ["scatter", "scatter_add", "index_add", "index_fill", "index_copy", "masked_fill", "masked_scatter"]


def _written(op: str, input: Tensor, dim: int, index: Tensor, src: Tensor | None, value: Any) -> Tensor:
    """input with ``src`` (or ``value``) at ``index`` along ``dim``: the mean of duplicate writes, the input where none."""
    x = node_of(input)
    idx = node_of(index)
    if idx.dtype not in (dtypes.int32, dtypes.int64):
        raise op_error(op, [x.type, idx.type], {"dim": dim}, f"{op}(): Expected dtype int64 for index, got {idx.dtype.name}")
    counts = node_of(scatter_add(wrap(b.zeros_like(b.cast(x, dtypes.int64))), dim, index, wrap(b.full(idx.shape, 1, dtypes.int64))))
    hit = b.compare("gt", counts, 0)
    if src is None:
        return wrap(b.where(hit, b.constant(value, x.dtype) if not isinstance(value, Tensor) else b.cast(node_of(value), x.dtype), x))
    s = node_of(src)
    if s.dtype != x.dtype:
        raise op_error(op, [x.type, idx.type, s.type], {"dim": dim}, f"{op}(): Expected self.dtype to be equal to src.dtype ({x.dtype.name} vs {s.dtype.name})")
    exact = x.dtype if x.dtype.is_floating_point else dtypes.int64
    sums = node_of(scatter_add(wrap(b.zeros_like(b.cast(x, exact))), dim, index, wrap(b.cast(s, exact))))
    writes = b.cast(b.binary("maximum", counts, 1), exact)
    if exact.is_floating_point:
        # torch's gradient is the position's whole gradient for every write to it, duplicates too
        mean = emit("custom_vjp", b.div(sums, writes), sums, rule="write_whole_gradient")
    else:
        mean = b.binary("floor_divide", sums, writes)
    return wrap(b.where(hit, b.cast(mean, x.dtype), x))


def scatter(input: Tensor, dim: int, index: Tensor, src: Any = None, value: Any = None, *, reduce: str | None = None) -> Tensor:
    """torch.scatter: ``src`` (a tensor, or a number as ``value``) written at ``index`` along ``dim``; ``reduce="add"`` adds."""
    if isinstance(src, (bool, int, float)):
        src, value = None, src
    if src is None and value is None:
        raise op_error("scatter", [node_of(input).type], {"dim": dim}, "scatter needs src or value")
    if reduce == "add":
        return scatter_add(input, dim, index, src if src is not None else wrap(b.full(node_of(index).shape, value, node_of(input).dtype)))
    if reduce is not None:
        raise op_error("scatter", [node_of(input).type], {"reduce": reduce}, f"reduce={reduce!r} is not supported (None or 'add'; scatter_reduce is not built)")
    return _written("scatter", input, dim, index, src, value)


def _along(op: str, input: Tensor, dim: int, index: Tensor, source: Node) -> tuple[int, Node]:
    """The axis, and a 1-d ``index`` spread over ``source``'s shape along it (what scatter_add takes)."""
    x, idx = node_of(input), node_of(index)
    idx = b.reshape(idx, (idx.type.numel,))
    axis = _dim(x, dim, op=op)
    if x.type.ndim == 0:
        return axis, idx
    along = [1] * x.type.ndim
    along[axis] = idx.shape[0]
    return axis, b.expand(b.reshape(idx, along), source.shape)


def _source_shape(op: str, input: Tensor, dim: int, index: Tensor, source: Node) -> None:
    """torch's rule: ``source`` is the input's shape with the index's length along ``dim``."""
    x = node_of(input)
    if node_of(index).type.ndim > 1:
        raise op_error(op, [x.type, node_of(index).type], {"dim": dim}, f"{op}(): Index is supposed to be a vector")
    axis = _dim(x, dim, op=op)
    want = list(x.shape)
    if want:
        want[axis] = node_of(index).type.numel
    if len(want) != source.type.ndim or any(not dims_equal(p, q) for p, q in zip(want, source.shape)):
        message = f"{op}(): source must have the input's shape with {node_of(index).type.numel} along dim {axis}"
        raise op_error(op, [x.type, node_of(index).type, source.type], {"dim": axis}, message)


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha: Any = 1) -> Tensor:
    """input plus alpha * the slices of ``source`` at the positions ``index`` names along ``dim`` (duplicates add up)."""
    x, s = node_of(input), node_of(source)
    if s.dtype != x.dtype:
        message = f"index_add(): self ({x.dtype.name}) and source ({s.dtype.name}) must have the same scalar type"
        raise op_error("index_add", [x.type, s.type], {"dim": dim}, message)
    _source_shape("index_add", input, dim, index, s)
    axis, spread = _along("index_add", input, dim, index, s)
    scaled = s if alpha == 1 else b.cast(b.mul(s, alpha), x.dtype)
    if x.type.ndim == 0:
        return wrap(b.add(x, b.reshape(scaled, ())))
    return scatter_add(input, axis, wrap(spread), wrap(scaled))


def index_copy(input: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """The slices of ``source`` replace those ``index`` names along ``dim`` (indices should be unique, as torch says)."""
    s = node_of(source)
    _source_shape("index_copy", input, dim, index, s)
    axis, spread = _along("index_copy", input, dim, index, s)
    return _written("index_copy", input, axis, wrap(spread), source, None)


def index_fill(input: Tensor, dim: int, index: Tensor, value: Any) -> Tensor:
    """``value`` (a number or a 0-d tensor) at the positions ``index`` names along ``dim``."""
    x, idx = node_of(input), node_of(index)
    if isinstance(value, Tensor) and node_of(value).type.ndim != 0:
        raise op_error("index_fill", [x.type, node_of(value).type], {"dim": dim}, "index_fill_ only supports a 0-dimensional value tensor")
    axis = _dim(x, dim, op="index_fill")
    size = x.shape[axis] if x.type.ndim else 1
    positions = b.reshape(idx, (idx.type.numel,))
    hits = node_of(scatter_add(wrap(b.full((size,), 0, dtypes.int64)), 0, wrap(positions), wrap(b.full(positions.shape, 1, dtypes.int64))))
    along = [size if i == axis else 1 for i in range(x.type.ndim)]
    mask = b.broadcast_to(b.reshape(b.compare("gt", hits, 0), along), x.shape)
    fill = b.cast(node_of(value), x.dtype) if isinstance(value, Tensor) else b.constant(value, x.dtype)
    return wrap(b.where(mask, fill, x))


def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """The elements of ``source``, in order, at the positions where ``mask`` is True; each True position's
    place in ``source`` is the running count of Trues before it (a ``cumsum``)."""
    x, m, s = node_of(input), node_of(mask), node_of(source)
    if m.dtype != dtypes.bool_:
        raise op_error("masked_scatter", [x.type, m.type, s.type], {}, f"masked_scatter_ only supports boolean masks, but got mask with dtype {m.dtype.name}")
    if s.dtype != x.dtype:
        message = f"masked_scatter: expected self and source to have same dtypes but got {x.dtype.name} and {s.dtype.name}"
        raise op_error("masked_scatter", [x.type, m.type, s.type], {}, message)
    shape = b.common_shape("masked_scatter", [x, m])
    x, m = b.broadcast_to(x, shape), b.broadcast_to(m, shape)
    count = x.type.numel
    flat = b.reshape(b.cast(m, dtypes.int64), (count,))
    before = b.sub(node_of(cumsum(wrap(flat), 0)), flat)
    taken = emit("index_select", b.reshape(s, (s.type.numel,)), b.where(b.reshape(m, (count,)), before, 0), axis=0)
    return wrap(b.where(m, b.reshape(taken, shape), x))

