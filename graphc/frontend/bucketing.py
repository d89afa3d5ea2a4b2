"""Finding where values fall among boundaries: searchsorted, bucketize, histc.

``searchsorted`` runs torch's own binary search, vectorized: a fixed number of halving steps
(one per bit of the sequence's length), each a ``gather`` of the midpoints and a ``where``
moving the bounds of every value at once. It is O(n log m) like torch's, and it gives torch's
answer also where a plain count of smaller boundaries would not (NaN boundaries, unsorted
sequences). ``histc`` computes each element's bin with torch's linear formula and counts the
bins by comparison with an ``iota``, O(n * bins). All results are integers or counts, with no
gradient, as in torch.
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

from graphc.frontend import tracing
from graphc.frontend.functional import node_of, reshape, wrap
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import emit, op_error
from graphc.ir.types import dims_equal
from graphc.runtime.tensor import Tensor

METHODS = ["histc"]


def _as_values(values: Any, like: Node) -> Node | bool | int | float:
    if isinstance(values, Tensor):
        return node_of(values)
    if isinstance(values, (bool, int, float, np.generic)):
        return values.item() if isinstance(values, np.generic) else values
    raise op_error("searchsorted", [like.type], {}, f"values must be a graphc.Tensor or a Python number, got {type(values).__name__}")


def _compared(seq: Node, values: Node | bool | int | float) -> tuple[Node, Node]:
    """Both in their promoted dtype, as torch compares them (int boundaries and 2.5 compare as floats); a number is a 0-d tensor."""
    dtype = b.result_dtype(seq, values)
    vals = b.cast(values, dtype) if isinstance(values, Node) else b.constant(values, dtype)
    return b.cast(seq, dtype), vals


def _side(right: bool, side: str | None) -> bool:
    if side is None:
        return right
    if side not in ("left", "right"):
        raise op_error("searchsorted", [], {"side": side}, f"side can only be 'left' or 'right', got {side!r}")
    if right and side == "left":
        raise op_error("searchsorted", [], {"side": side, "right": right}, "side and right can't be set to opposites, got side of left while right was True")
    return side == "right"


def _check_shapes(seq: Node, vals: Node, sorter: Node | None) -> None:
    attrs: dict[str, Any] = {}
    if seq.type.ndim == 0:
        raise op_error("searchsorted", [seq.type, vals.type], attrs, "boundaries tensor should have at least 1 dimension, got a 0-d tensor")
    if seq.type.ndim > 1 and (vals.type.ndim != seq.type.ndim or any(not dims_equal(p, q) for p, q in zip(seq.shape[:-1], vals.shape[:-1]))):
        message = (
            "boundaries tensor should be 1 dimension or the first N-1 dimensions of boundaries tensor and input value tensor must match, "
            f"but we got boundaries tensor {list(seq.shape)} and input value tensor {list(vals.shape)}"
        )
        raise op_error("searchsorted", [seq.type, vals.type], attrs, message)
    if dtypes.bool_ in (seq.dtype, vals.dtype):
        raise op_error("searchsorted", [seq.type, vals.type], attrs, "searchsorted is not defined for bool tensors")
    if sorter is not None:
        if sorter.dtype != dtypes.int64 or tuple(sorter.shape) != tuple(seq.shape):
            raise op_error("searchsorted", [seq.type, sorter.type], attrs, "sorter must be an int64 tensor of the boundaries' shape")


def _search(seq: Node, vals: Node, right: bool, index_dtype: dtypes.DType) -> Node:
    """torch's lower/upper bound, halving ``[start, end)`` for all values at once until every range is empty."""
    length = seq.shape[-1]
    if not isinstance(length, int):
        raise op_error("searchsorted", [seq.type, vals.type], {}, f"the boundaries need a static length, got the symbolic size {length}")
    one_d = seq.type.ndim == 1
    start = b.full(vals.shape, 0, dtypes.int64)
    end = b.full(vals.shape, length, dtypes.int64)
    for _ in range(length.bit_length()):
        active = b.compare("lt", start, end)
        mid = b.add(start, b.divide(b.sub(end, start), 2, "floor"))
        at = b.where(active, mid, 0)
        if one_d:
            found = b.reshape(emit("index_select", seq, node_of(reshape(wrap(at), (-1,))), axis=0), vals.shape)
        else:
            found = emit("gather", seq, at, axis=seq.type.ndim - 1)
        # left: move right past boundaries that are not >= the value; right: past those not > it (NaN-aware as torch's)
        before = b.unary("logical_not", b.compare("gt" if right else "ge", found, vals))
        start = b.where(b.binary("and", active, before), b.add(mid, 1), start)
        end = b.where(b.binary("and", active, b.unary("logical_not", before)), mid, end)
    return b.cast(start, index_dtype)


def searchsorted(
    sorted_sequence: Tensor, input: Any, *, out_int32: bool = False, right: bool = False, side: str | None = None, sorter: Tensor | None = None
) -> Tensor:
    """torch.searchsorted: for each value, the index at which inserting it keeps the innermost dimension sorted."""
    seq, values = node_of(sorted_sequence), _as_values(input, node_of(sorted_sequence))
    sort_index = None if sorter is None else node_of(sorter)
    _check_shapes(seq, values if isinstance(values, Node) else b.constant(values, dtypes.scalar_dtype(values)), sort_index)
    seq, vals = _compared(seq, values)
    if sort_index is not None:
        seq = emit("gather", seq, sort_index, axis=seq.type.ndim - 1)
    return wrap(_search(seq, vals, _side(right, side), dtypes.int32 if out_int32 else dtypes.int64))


def bucketize(input: Any, boundaries: Tensor, *, out_int32: bool = False, right: bool = False) -> Tensor:
    """torch.bucketize: ``searchsorted`` of ``input`` in the 1-d ``boundaries``."""
    edges = node_of(boundaries)
    if edges.type.ndim != 1:
        raise op_error("bucketize", [edges.type], {}, f"boundaries tensor must be 1 dimension, but got dim({edges.type.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def _data_range(x: Node) -> tuple[float, float]:
    """min=max=0 asks for the data's range: the values decide it, so it is read (and refused inside graphc.compile)."""
    from graphc.frontend.data_dependent import _values

    if tracing.active() is not None:
        message = "with min=max the range is the data's minimum and maximum, values graphc.compile cannot read while tracing; pass min and max explicitly"
        raise op_error("histc", [x.type], {"min": 0, "max": 0}, message)
    values = _values(x)
    if values.size == 0:
        return 0.0, 0.0
    return builtins.float(values.min()), builtins.float(values.max())


def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
    """torch.histc: counts in ``bins`` equal bins of ``[min, max]``, as ``input``'s dtype; values outside (and NaN) are not counted."""
    x = node_of(input)
    attrs = {"bins": bins, "min": min, "max": max}
    if not x.dtype.is_floating_point:
        raise op_error("histc", [x.type], attrs, f"histc needs a floating-point tensor, got {x.dtype.name}")
    if bins <= 0:
        raise op_error("histc", [x.type], attrs, f"bins must be > 0, but got {bins}")
    low, high = (_data_range(x) if min == max else (builtins.float(min), builtins.float(max)))
    low, high = (np.asarray(v, x.dtype.numpy).item() for v in (low, high))
    if low == high:
        low, high = low - 1, high + 1
    if not (math.isfinite(low) and math.isfinite(high)):
        raise op_error("histc", [x.type], attrs, f"range of [{low}, {high}] is not finite")
    if low > high:
        raise op_error("histc", [x.type], attrs, "max must be larger than min")
    flat = node_of(reshape(wrap(x), (-1,)))
    inside = b.binary("and", b.compare("ge", flat, low), b.compare("le", flat, high))
    width = (np.asarray(high, x.dtype.numpy) - np.asarray(low, x.dtype.numpy)).item()  # in the input's dtype, as torch's
    position = b.div(b.mul(b.sub(flat, low), builtins.float(bins)), width)
    bin_of = b.cast(b.where(inside, position, -1.0), dtypes.int64)
    bin_of = b.where(b.compare("eq", bin_of, bins), bins - 1, bin_of)
    bin_of = b.where(inside, bin_of, -1)
    ids = emit("iota", shape=(1, bins), axis=1, dtype=dtypes.int64)
    hits = b.cast(b.compare("eq", b.reshape(bin_of, (flat.shape[0], 1)), ids), x.dtype)
    return wrap(b.reduce("sum", hits, 0))
