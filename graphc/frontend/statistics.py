"""Statistics with torch's names and formulas: cov, corrcoef, mode, nanmedian, quantile, nanquantile,
histogram.

The order statistics sort (graphc/frontend/sorting.py: stable, NaN as the largest) and gather,
so the gradient goes to the elements picked, as torch's; quantile interpolates with torch's lerp.
``histogram`` with a range taken from the data reads it, as ``histc`` does (refused inside
graphc.compile). docs/decisions.md, "The torch.Tensor long tail", says where graphc differs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from graphc.frontend.autocast_policy import autocast_op
from graphc.frontend.functional import _dim, lerp, node_of, wrap
from graphc.frontend.manipulation import _static
from graphc.frontend.sorting import ValuesIndices, _order_size
from graphc.frontend.symbolic_sizes import dims
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import emit, op_error
from graphc.runtime.tensor import Tensor

METHODS = "cov corrcoef mode nanmedian quantile nanquantile histogram".split()


# ------------------------------------------------------------------ covariance


def cov(input: Tensor, *, correction: int = 1, fweights: Tensor | None = None, aweights: Tensor | None = None) -> Tensor:
    """The covariance of the rows (variables) over the columns (observations), torch's formula:
    frequency and accuracy weights multiply, the normalization ``w_sum - correction * sum(w * a) / w_sum``
    clamped at 0 (the result is then inf or NaN, as torch's)."""
    x = node_of(input)
    if x.type.ndim > 2:
        raise op_error("cov", [x.type], {}, f"cov(): expected input to have two or fewer dimensions but got an input with {x.type.ndim} dimensions")
    if x.type.ndim < 2:
        x = b.reshape(x, (1, x.type.numel))
    if not x.dtype.is_floating_point:
        x = b.cast(x, dtypes.DEFAULT_FLOAT)
    observations = x.shape[1]
    weights = None
    for name, given in (("fweights", fweights), ("aweights", aweights)):
        if given is None:
            continue
        w = node_of(given)
        if w.type.ndim > 1 or not (w.type.ndim == 0 or w.shape[0] == observations):
            message = f"cov(): expected {name} to have one or fewer dimensions and as many elements as observations ({observations}), got {list(w.shape)}"
            raise op_error("cov", [x.type, w.type], {}, message)
        if name == "fweights" and not w.dtype.is_integer:
            raise op_error("cov", [x.type, w.type], {}, f"cov(): expected fweights to have integral dtype but got fweights with {w.dtype.name} dtype")
        if name == "aweights" and not w.dtype.is_floating_point:
            raise op_error("cov", [x.type, w.type], {}, f"cov(): expected aweights to have floating point dtype but got aweights with {w.dtype.name} dtype")
        weights = w if weights is None else b.mul(weights, w)
    if weights is None:
        total: Node | int = observations
        mean = b.div(b.reduce("sum", x, 1, True), observations)
        norm = b.constant(observations - correction, x.dtype)
    else:
        weights = b.broadcast_to(weights, (observations,))
        total = b.reduce("sum", weights)
        mean = b.div(b.reduce("sum", b.mul(x, weights), 1, True), total)
        if correction == 0 or aweights is None:
            norm = b.sub(total, correction)
        else:
            norm = b.sub(total, b.div(b.mul(b.reduce("sum", b.mul(weights, node_of(aweights))), correction), total))
    norm = b.cast(b.where(b.compare("le", norm, 0), 0, norm), x.dtype)
    centered = b.sub(x, mean)
    weighted = centered if weights is None else b.mul(centered, weights)
    product = b.matmul(centered, b.permute(b.cast(weighted, x.dtype), (1, 0)))
    result = b.div(product, norm)
    return wrap(b.reshape(result, ()) if result.shape[0] == 1 else result)


def corrcoef(input: Tensor) -> Tensor:
    """Pearson's correlation of the rows: the covariance divided by both standard deviations, clipped to [-1, 1]."""
    c = node_of(cov(input))
    if c.type.ndim == 0:
        return wrap(b.div(c, c))
    spread = b.unary("sqrt", node_of(wrap(c).diagonal()))
    n = c.shape[0]
    c = b.div(b.div(c, b.reshape(spread, (n, 1))), b.reshape(spread, (1, n)))
    return wrap(b.binary("minimum", b.binary("maximum", c, -1.0), 1.0))


# ------------------------------------------------------------------ order statistics


def _sorted(op: str, input: Tensor, dim: int | None) -> tuple[Node, Node, Node, int]:
    """(the input, made 1-d without ``dim``), its values and indices sorted along the axis, and the axis."""
    x = node_of(input)
    if dim is None or x.type.ndim == 0:
        if dim is not None:
            _dim(x, dim, op=op)
        x = b.reshape(x, (x.type.numel,))
        dim = 0
    axis = _dim(x, dim, op=op)
    indices = emit("argsort", x, axis=axis, descending=False)
    return x, emit("gather", x, indices, axis=axis), indices, axis


def _at(values: Node, position: Node, axis: int) -> Node:
    """values[..., position, ...] along ``axis`` for a position per row (``position`` with size 1 there)."""
    return emit("gather", values, b.cast(position, dtypes.int64), axis=axis)


def _drop(x: Node, axis: int, keepdim: bool) -> Node:
    return x if keepdim else b.reshape(x, [d for i, d in enumerate(x.shape) if i != axis])


def nanmedian(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor | ValuesIndices:
    """The lower median of the values that are not NaN (NaN, at index 0, where a row has none), as torch."""
    x = node_of(input)
    whole, values, indices, axis = _sorted("nanmedian", input, dim)
    if _order_size("nanmedian", whole, axis, axis) == 0:
        raise op_error("nanmedian", [x.type], {"dim": dim}, "nanmedian() of an empty dimension is not defined")
    count = b.reduce("sum", b.cast(b.compare("eq", whole, whole), dtypes.int64), axis, True)
    position = b.divide(b.binary("maximum", b.sub(count, 1), 0), 2, rounding_mode="floor")
    value, index = _at(values, position, axis), _at(indices, position, axis)
    if dim is None:
        return wrap(b.reshape(value, ()))
    keep = x.type.ndim == 0 or keepdim
    return ValuesIndices(wrap(_drop(value, axis, keep)), wrap(_drop(index, axis, keep)))


def mode(input: Tensor, dim: int = -1, keepdim: bool = False) -> ValuesIndices:
    """The most frequent value along ``dim`` (the smallest of several) and the index of its last occurrence,
    as torch's CPU kernel: every pair compared, O(n^2) along ``dim``. The value's gradient goes to that
    index, as torch's."""
    x = node_of(input)
    if x.type.ndim == 0:
        _dim(x, dim, op="mode")
        return ValuesIndices(wrap(x), wrap(b.constant(0, dtypes.int64)))
    axis = _dim(x, dim, op="mode")
    n = _static("mode", x, axis, dim)
    if n == 0:
        raise op_error("mode", [x.type], {"dim": dim}, "mode() of an empty dimension is not defined")
    moved = b.permute(x, [*[i for i in range(x.type.ndim) if i != axis], axis])
    rows, cols = b.reshape(moved, (*moved.shape, 1)), b.reshape(moved, (*moved.shape[:-1], 1, n))
    counts = b.reduce("sum", b.cast(b.compare("eq", rows, cols), dtypes.int64), -1)
    most = b.reduce("max", counts, -1, True)
    candidates = b.where(b.compare("eq", counts, most), moved, node_of(_largest_of(x.dtype, moved)))
    value = b.reduce("min", candidates, -1, True)
    positions = emit("iota", shape=tuple(moved.shape), axis=moved.type.ndim - 1, dtype=dtypes.int64)
    index = b.reduce("max", b.where(b.compare("eq", moved, value), positions, -1), -1, True)
    # The value read at its index (-1 only in a row of NaNs), so the gradient goes there alone, as torch's.
    value = emit("gather", moved, b.binary("maximum", index, 0), axis=moved.type.ndim - 1)
    restore = [*range(axis), moved.type.ndim - 1, *range(axis, moved.type.ndim - 1)]
    value, index = b.permute(value, restore), b.permute(index, restore)
    return ValuesIndices(wrap(_drop(value, axis, keepdim)), wrap(_drop(index, axis, keepdim)))


def _largest_of(dtype: dtypes.DType, like: Node) -> Tensor:
    """A stand-in that no minimum picks: inf for floats, the largest integer, True."""
    if dtype.is_floating_point:
        value: Any = math.inf
    elif dtype == dtypes.bool_:
        value = True
    else:
        value = int(np.iinfo(dtype.numpy).max)
    return wrap(b.full_like(like, value))


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(op: str, input: Tensor, q: Any, dim: int | None, keepdim: bool, interpolation: str, ignore_nan: bool) -> Tensor:
    """torch's algorithm: sort (NaN last), rank = q (n - 1) with n the count of values (of those not NaN
    for nanquantile), the values at floor and ceil of the rank combined by ``interpolation``."""
    x = node_of(input)
    if not x.dtype.is_floating_point:
        raise op_error(op, [x.type], {}, f"{op}() input tensor must be either float or double dtype, got {x.dtype.name}")
    if interpolation not in _INTERPOLATIONS:
        raise op_error(op, [x.type], {"interpolation": interpolation}, f"{op}() interpolation must be one of {', '.join(_INTERPOLATIONS)}. Got {interpolation}")
    if isinstance(q, Tensor):
        qs = node_of(q)
        if qs.type.ndim > 1 or qs.dtype != x.dtype:
            raise op_error(op, [x.type, qs.type], {}, f"{op}() q must be a scalar or 1D tensor of the input's dtype ({x.dtype.name}), got {qs.type}")
        qs = emit("check", qs, b.binary("or", b.compare("lt", qs, 0), b.compare("gt", qs, 1)), message=f"{op}() q values must be in the range [0, 1]")
    else:
        if not 0 <= q <= 1:
            raise op_error(op, [x.type], {"q": q}, f"{op}() q must be in the range [0, 1] but got {q}")
        qs = b.constant(float(q), x.dtype)
    whole, values, _, axis = _sorted(op, input, dim)
    size = _order_size(op, whole, axis, axis)
    if size == 0:
        raise op_error(op, [x.type], {"dim": dim}, f"{op}() input tensor must be non-empty")
    # A symbolic size (the batch) is the program's 0-d ``size`` value, computed per call.
    n = b.constant(size, dtypes.int64) if isinstance(size, int) else emit("size", value=dims(size), dtype=dtypes.int64)
    last_rank: float | Node = float(size - 1) if isinstance(size, int) else b.cast(b.sub(n, 1), x.dtype)
    valid = b.compare("eq", whole, whole)
    nan_count = b.reduce("sum", b.cast(b.unary("logical_not", valid), dtypes.int64), axis, True)
    count = b.sub(n, nan_count) if ignore_nan else b.broadcast_to(n, nan_count.shape)
    # Each q as a leading axis of the rank: [len(q), ...rows with size 1 along axis].
    q_count = qs.shape[0] if qs.type.ndim == 1 else None
    ranks_shape = (q_count, *count.shape) if q_count is not None else tuple(count.shape)
    q_spread = b.broadcast_to(b.reshape(qs, (q_count,) + (1,) * count.type.ndim) if q_count is not None else qs, ranks_shape)
    last = b.cast(b.sub(count, 1), x.dtype)
    ranks = b.mul(q_spread, last)
    if ignore_nan:
        ranks = b.where(b.broadcast_to(b.compare("lt", last, 0), ranks_shape), last_rank, ranks)  # no values: NaN, as torch
    else:
        ranks = b.where(b.broadcast_to(b.compare("gt", nan_count, 0), ranks_shape), last_rank, ranks)  # a NaN: NaN, as torch
    if interpolation == "lower":
        ranks = b.unary("floor", ranks)
    elif interpolation == "higher":
        ranks = b.unary("ceil", ranks)
    elif interpolation == "nearest":
        ranks = b.unary("round", ranks)
    below, above = b.unary("floor", ranks), b.unary("ceil", ranks)
    spread_values = b.broadcast_to(values, (q_count, *values.shape)) if q_count is not None else values
    shift = 1 if q_count is not None else 0
    low, high = _at(spread_values, below, axis + shift), _at(spread_values, above, axis + shift)
    if interpolation in ("linear", "midpoint"):
        weight = b.sub(ranks, below) if interpolation == "linear" else b.full_like(ranks, 0.5)
        result = node_of(lerp(wrap(low), wrap(high), wrap(weight)))
    else:
        result = low
    if dim is None:
        if keepdim:
            result = b.reshape(result, ((q_count,) if q_count is not None else ()) + (1,) * x.type.ndim)
        else:
            result = b.reshape(result, (q_count,) if q_count is not None else ())
        return wrap(result)
    keep = keepdim and x.type.ndim > 0
    if not keep:
        result = _drop(result, axis + shift, False) if x.type.ndim > 0 else b.reshape(result, (q_count,) if q_count is not None else ())
    return wrap(result)


@autocast_op
def quantile(input: Tensor, q: Any, dim: int | None = None, keepdim: bool = False, *, interpolation: str = "linear") -> Tensor:
    """The q-th quantiles along ``dim`` (of all values without it); NaN where the values hold a NaN."""
    return _quantile("quantile", input, q, dim, keepdim, interpolation, ignore_nan=False)


@autocast_op
def nanquantile(input: Tensor, q: Any, dim: int | None = None, keepdim: bool = False, *, interpolation: str = "linear") -> Tensor:
    """quantile of the values that are not NaN (NaN where there are none)."""
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, ignore_nan=True)


# ------------------------------------------------------------------ histogram


class Histogram(tuple):
    """(hist, bin_edges), readable by name as torch.return_types.histogram."""

    def __new__(cls, hist: Tensor, bin_edges: Tensor) -> Histogram:
        return super().__new__(cls, (hist, bin_edges))

    @property
    def hist(self) -> Tensor:
        return self[0]

    @property
    def bin_edges(self) -> Tensor:
        return self[1]


def _edges(x: Node, bins: int, range: tuple[float, float] | None) -> Node:
    """``bins + 1`` edges from torch's linspace over ``range``, or over the data's (read, as torch reads it)."""
    from graphc.frontend.constructors import linspace
    from graphc.frontend.data_dependent import _values, refuse_in_trace

    if range is None:
        refuse_in_trace("histogram", [x.type], {"bins": bins}, "input (the range of the bins)", call="histogram without range=")
        data = _values(x)
        low, high = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    else:
        low, high = (float(v) for v in range)
        if low > high:
            raise op_error("histogram", [x.type], {"range": range}, f"histogram(): min should not exceed max, but got min {low} max {high}")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise op_error("histogram", [x.type], {"range": range}, f"histogram(): range of [{low}, {high}] is not finite")
    if low == high:
        low, high = low - 0.5, high + 0.5
    return node_of(linspace(low, high, bins + 1, dtype=x.dtype))


def histogram(
    input: Tensor, bins: int | Tensor = 100, *, range: tuple[float, float] | None = None, weight: Tensor | None = None, density: bool = False
) -> Histogram:
    """Counts (or summed weights) of the values in each bin, the last bin closed, values outside the edges
    and NaN not counted. A value's bin is found against the edges themselves (what torch's search settles on)."""
    x = node_of(input)
    if not x.dtype.is_floating_point:
        raise op_error("histogram", [x.type], {}, f"torch.histogram: input tensor and bins tensors should have the same dtype (a float), got {x.dtype.name}")
    if isinstance(bins, Tensor):
        edges = node_of(bins)
        if edges.type.ndim != 1 or edges.dtype != x.dtype or _static("histogram", edges, 0, 0) < 1:
            raise op_error("histogram", [x.type, edges.type], {}, "torch.histogram: bins must be a 1-d tensor of at least one edge, of the input's dtype")
    else:
        if bins <= 0:
            raise op_error("histogram", [x.type], {"bins": bins}, f"torch.histogram(): bins must be > 0, but got {bins}")
        edges = _edges(x, int(bins), range)
    count = edges.shape[0] - 1
    flat = b.reshape(x, (x.type.numel, 1))
    left = b.reshape(emit("slice", edges, starts=(0,), stops=(count,), steps=(1,)), (1, count))
    right = b.reshape(emit("slice", edges, starts=(1,), stops=(count + 1,), steps=(1,)), (1, count))
    last = b.full((1, count), False, dtypes.bool_)
    if count:
        last = b.compare("eq", emit("iota", shape=(1, count), axis=1, dtype=dtypes.int64), count - 1)
    inside = b.binary("and", b.compare("ge", flat, left), b.binary("or", b.compare("lt", flat, right), b.binary("and", last, b.compare("eq", flat, right))))
    hits = b.cast(inside, x.dtype)
    if weight is not None:
        w = node_of(weight)
        if tuple(w.shape) != tuple(x.shape) or w.dtype != x.dtype:
            raise op_error("histogram", [x.type, w.type], {}, "torch.histogram: weight should have the same shape and dtype as input")
        hits = b.mul(hits, b.reshape(w, (x.type.numel, 1)))
    hist = b.reshape(b.reduce("sum", hits, 0), (count,))
    if density:
        widths = b.sub(b.reshape(right, (count,)), b.reshape(left, (count,)))
        hist = b.div(hist, b.mul(b.reduce("sum", hist), widths))
    return Histogram(wrap(hist), wrap(edges))
