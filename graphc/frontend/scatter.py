"""Writing into a tensor at indices, with torch's names: scatter (a tensor or a value),
scatter_reduce, index_add, index_reduce, index_fill, index_copy, masked_scatter, and their
in-place twins.

``scatter_add`` writes, and ``scatter_reduce`` for products, maxima and minima (docs/decisions.md,
"scatter_reduce: prod, amax and amin"). A write that replaces is built from two
additions: the number of writes each position receives and the sum of what they write; a
position written once takes that value, one never written keeps the input's. torch leaves
the result of duplicate indices unspecified (it is nondeterministic on GPUs); graphc gives
their mean, which is the value itself when the duplicates write one value
(docs/decisions.md, "Indexed writes").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from graphc.errors import GraphcError
from graphc.frontend.autocast_policy import autocast_op
from graphc.frontend.functional import _dim, node_of, scatter_add, wrap
from graphc.frontend.functional import masked_fill as masked_fill  # its in-place twin masked_fill_ is made from this module
from graphc.frontend.reductions import cumsum
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import emit, op_error
from graphc.ir.types import dims_equal
from graphc.runtime.tensor import Tensor

METHODS = "scatter scatter_reduce index_add index_reduce index_fill index_copy masked_scatter".split()
IN_PLACE = ["scatter", "scatter_add", "scatter_reduce", "index_add", "index_reduce", "index_fill", "index_copy", "masked_fill", "masked_scatter"]
SCATTER_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


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
    if reduce is None:
        return _written("scatter", input, dim, index, src, value)
    if reduce not in ("add", "multiply"):
        raise op_error("scatter", [node_of(input).type], {"reduce": reduce}, f"scatter(): reduce argument must be either add or multiply, got {reduce!r}")
    source = src if src is not None else wrap(b.full(node_of(index).shape, value, node_of(input).dtype))
    if reduce == "add":
        return scatter_add(input, dim, index, source)
    product = node_of(scatter_reduce(input, dim, index, source, "prod"))
    # torch has no derivative for scatter with a reduce: backward() through it raises, as torch's
    return wrap(emit("custom_vjp", product, product, rule="scatter_no_derivative"))


def scatter_reduce(input: Tensor, dim: int, index: Tensor, src: Tensor, reduce: str, *, include_self: bool = True) -> Tensor:
    """torch.scatter_reduce: each position combines the ``src`` values written to it (and its own
    value with ``include_self``) by ``reduce``; one nothing is written to keeps the input's.

    "sum" and "mean" are sums and counts from ``scatter_add``; "prod", "amax" and "amin" are
    the ``scatter_reduce`` primitive, which always includes the input: without ``include_self``
    the written positions hold the reduction's identity first.
    """
    x, idx, s = node_of(input), node_of(index), node_of(src)

    def refuse(message: str) -> GraphcError:
        return op_error("scatter_reduce", [x.type, idx.type, s.type], {"dim": dim, "reduce": reduce}, f"scatter_reduce(): {message}")

    if reduce not in SCATTER_REDUCTIONS:
        raise refuse(f"reduce argument must be one of {', '.join(SCATTER_REDUCTIONS)}, got {reduce!r}")
    if idx.dtype not in (dtypes.int32, dtypes.int64):
        raise refuse(f"Expected dtype int64 for index, got {idx.dtype.name}")
    if s.dtype != x.dtype:
        raise refuse(f"Expected self.dtype to be equal to src.dtype ({x.dtype.name} vs {s.dtype.name})")
    axis = _dim(x, dim, op="scatter_reduce")
    if x.type.ndim == 0:  # torch takes a 0-d input with a 1-d index: one position
        line, flat = wrap(b.reshape(idx, (idx.type.numel,))), wrap(b.reshape(s, (s.type.numel,)))
        return wrap(b.reshape(node_of(scatter_reduce(wrap(b.reshape(x, (1,))), 0, line, flat, reduce, include_self=include_self)), ()))
    if x.dtype == dtypes.bool_ and reduce in ("prod", "amax", "amin"):  # and, or, and: exact in integers
        reduced = scatter_reduce(wrap(b.cast(x, dtypes.int32)), axis, index, wrap(b.cast(s, dtypes.int32)), reduce, include_self=include_self)
        return wrap(b.cast(node_of(reduced), dtypes.bool_))
    s = _cut_to_index("scatter_reduce", x, idx, s, axis)
    if reduce == "sum" and include_self:
        return scatter_add(input, axis, index, wrap(s))
    counts = node_of(scatter_add(wrap(b.zeros_like(b.cast(x, dtypes.int64))), axis, index, wrap(b.full(idx.shape, 1, dtypes.int64))))
    hit = b.compare("gt", counts, 0)
    if reduce in ("sum", "mean"):
        total = b.where(hit, node_of(scatter_add(wrap(x if include_self else b.zeros_like(x)), axis, index, wrap(s))), x)
        if reduce == "sum":
            return wrap(total)
        divisor = b.cast(b.binary("maximum", b.add(counts, 1) if include_self else counts, 1), x.dtype)
        return wrap(b.div(total, divisor) if x.dtype.is_floating_point else b.binary("floor_divide", total, divisor))
    compute = dtypes.float32 if x.dtype in (dtypes.float16, dtypes.bfloat16) else x.dtype
    xc, sc = b.cast(x, compute), b.cast(s, compute)
    base = xc if include_self else b.where(hit, _identity(reduce, compute), xc)
    return wrap(b.cast(_in_corner(base, idx, axis, lambda part: emit("scatter_reduce", part, idx, sc, axis=axis, reduce=reduce)), x.dtype))


def _identity(reduce: str, dtype: dtypes.DType) -> Node:
    """What combines with any value to that value: 1, or the lowest (highest) value of the dtype."""
    if reduce == "prod":
        return b.constant(1, dtype)
    if dtype.is_floating_point:
        return b.constant(-np.inf if reduce == "amax" else np.inf, dtype)
    limits = np.iinfo(dtype.numpy)
    return b.constant(int(limits.min if reduce == "amax" else limits.max), dtype)


def _cut_to_index(op: str, x: Node, idx: Node, src: Node, axis: int) -> Node:
    """``src`` cut to the index's shape: torch lets it be larger, as it lets ``x`` be larger off ``axis``."""
    ndim = x.type.ndim
    if not idx.type.ndim == src.type.ndim == ndim:
        raise op_error(op, [x.type, idx.type, src.type], {"dim": axis}, "index, src and input must have the same number of dimensions")
    for i, n in enumerate(idx.shape):
        for what, size in (("src", src.shape[i]), ("input", None if i == axis else x.shape[i])):
            if isinstance(n, int) and isinstance(size, int) and n > size:
                raise op_error(op, [x.type, idx.type, src.type], {"dim": axis}, f"index is larger than {what} along dimension {i} ({n} > {size})")
    if all(dims_equal(p, q) for p, q in zip(src.shape, idx.shape)):
        return src
    return emit("slice", src, starts=(0,) * ndim, stops=tuple(idx.shape), steps=(1,) * ndim)


def _in_corner(x: Node, idx: Node, axis: int, write: Callable[[Node], Node]) -> Node:
    """``write`` applied to the corner of ``x`` the index spans off ``axis`` (usually all of it),
    the rest of ``x`` joined back around the result."""
    ndim = x.type.ndim
    corner = tuple(x.shape[i] if i == axis else idx.shape[i] for i in range(ndim))
    if all(dims_equal(p, q) for p, q in zip(corner, x.shape)):
        return write(x)
    done = write(emit("slice", x, starts=(0,) * ndim, stops=corner, steps=(1,) * ndim))
    for i in range(ndim):
        if dims_equal(corner[i], x.shape[i]):
            continue
        stops = tuple(x.shape[k] if k <= i else corner[k] for k in range(ndim))
        starts = tuple(corner[i] if k == i else 0 for k in range(ndim))
        rest = emit("slice", x, starts=starts, stops=stops, steps=(1,) * ndim)
        done = emit("concat", done, rest, axis=i)
    return done


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


def index_reduce(input: Tensor, dim: int, index: Tensor, source: Tensor, reduce: str, *, include_self: bool = True) -> Tensor:
    """torch.index_reduce: the slices of ``source`` combined by ``reduce`` into those ``index`` names
    along ``dim``: a scatter_reduce with the index spread over the source, as index_add is a scatter_add."""
    x, s = node_of(input), node_of(source)
    if reduce not in ("prod", "mean", "amax", "amin"):
        message = f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}."
        raise op_error("index_reduce", [x.type, node_of(index).type, s.type], {"reduce": reduce}, message)
    if s.dtype != x.dtype:
        message = f"index_reduce(): self ({x.dtype.name}) and source ({s.dtype.name}) must have the same scalar type"
        raise op_error("index_reduce", [x.type, s.type], {"dim": dim}, message)
    _source_shape("index_reduce", input, dim, index, s)
    axis, spread = _along("index_reduce", input, dim, index, s)
    if x.type.ndim == 0:
        return scatter_reduce(input, 0, wrap(spread), wrap(b.reshape(s, (s.type.numel,))), reduce, include_self=include_self)
    return scatter_reduce(input, axis, wrap(spread), source, reduce, include_self=include_self)


@autocast_op
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
    place in ``source`` is the running count of Trues before it (a ``cumsum``).

    Every position gathers, so the False ones read a zero put in front of ``source``: an empty
    source (an all-False mask, as ``x[mask] = x[mask] + 1`` gives) has no element they could
    read. More Trues than source elements is torch's error, raised by a ``check`` (those
    positions read the zero too, so no gather goes out of range).
    """
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
    chosen = b.reshape(m, (count,))
    before = b.sub(node_of(cumsum(wrap(flat), 0)), flat)
    available = s.type.numel
    size = b.constant(available, dtypes.int64) if isinstance(available, int) else emit("size", value=available, dtype=dtypes.int64)
    padded = emit("concat", b.full((1,), 0, s.dtype), b.reshape(s, (available,)), axis=0)
    short = b.binary("and", chosen, b.compare("ge", before, size))
    inside = b.binary("and", chosen, b.unary("logical_not", short))
    taken = emit("index_select", padded, b.where(inside, b.add(before, 1), 0), axis=0)
    taken = emit("check", taken, short, message="masked_scatter: Number of elements of source < number of ones in mask")
    return wrap(b.where(m, b.reshape(taken, shape), x))
