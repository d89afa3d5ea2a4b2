"""Ops whose result's shape depends on values: boolean masks (read and written through), nonzero, unique, bincount.

Eager tensors are lazy, and reading a value realizes it, a host sync as in torch (whose
``x[mask]`` and ``unique`` wait for the device too). These ops read only what decides the
shape (the mask, the values to deduplicate), find the positions with NumPy, and build the
result from graph ops on the lazy input, an ``index_select`` at a constant int64 index, so
gradients flow as torch's (``x[mask]``'s scatters back). Integer results (positions,
inverse indices, counts) are constants on the input's device. A compiled program's shapes
are fixed when it is traced, so inside ``graphc.compile`` these ops are refused.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from graphc.frontend import lazy, tracing
from graphc.frontend.functional import _dim, node_of, unwrap, wrap
from graphc.frontend.functional import scatter_add as _scatter_add
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.primitives.source import source_node
from graphc.ir.registry import emit, op_error
from graphc.ir.types import TensorType, dims_equal
from graphc.runtime.tensor import Tensor

METHODS = "nonzero argwhere masked_select unique unique_consecutive bincount".split()

_KEEP_THE_SHAPE = "keep the shape with graphc.where(mask, x, 0) or x.masked_fill(~mask, 0) (e.g. a masked sum divided by mask.sum())"


def refuse_in_trace(op: str, types: list[TensorType], attrs: dict[str, Any], what: str, call: str = "") -> None:
    """Inside ``graphc.compile`` the values are not known until the program runs, and its shapes are fixed."""
    if tracing.active() is None:
        return
    message = (
        f"the length of its result depends on the values of {what}, which graphc.compile cannot trace "
        f"(a compiled program's shapes are fixed when it is traced; outside graphc.compile {call or op} works); {_KEEP_THE_SHAPE}"
    )
    raise op_error(op, types, attrs, message)


def _values(x: Node) -> np.ndarray:
    """``x``'s values on the host, realizing it (and only what it depends on) if it is pending."""
    lazy.realize([x])
    return lazy.to_numpy(x.data)


def _host_result(array: np.ndarray, like: Node) -> Tensor:
    """A constant holding ``array`` (positions, counts) on the device of ``like``'s realized data, as torch's results are."""
    data = like.data
    if data is not None and not isinstance(data, np.ndarray) and str(data.device).startswith("cuda"):
        import torch

        return Tensor._from_node(source_node(TensorType(array.shape, dtypes.to_dtype(array.dtype)), data=torch.from_numpy(array).to(data.device)))
    return Tensor._constant(array)


def _positions(positions: np.ndarray) -> Node:
    return Tensor._constant(np.ascontiguousarray(positions, dtype=np.int64))._node


def _no_derivative(node: Node, op: str) -> Node:
    """``node``, whose backward() raises: torch's result requires grad but has no derivative."""
    if not node.requires_grad:
        return node
    return emit("custom_vjp", node, node, rule=f"{op}_no_derivative")


# ------------------------------------------------------------------ boolean masks in indexing


def _is_mask(item: Any) -> bool:
    if isinstance(item, (bool, np.bool_)):
        return True
    if isinstance(item, Tensor):
        return item.dtype == dtypes.bool_
    if isinstance(item, np.ndarray):
        return item.dtype == np.bool_
    return isinstance(item, list) and np.asarray(item).dtype == np.bool_


def _is_byte_mask(item: Any) -> bool:
    """A uint8 tensor or array as an index: torch still reads it as a boolean mask (with a deprecation warning)."""
    return isinstance(item, Tensor) and item.dtype == dtypes.uint8 or isinstance(item, np.ndarray) and item.dtype == np.uint8


def _mask_shape(item: Any) -> tuple:
    return tuple(item.shape) if isinstance(item, (Tensor, np.ndarray)) else np.shape(item)


def masks_as_indices(x: Node, key: Any) -> tuple[Node, Any]:
    """``key`` with each boolean mask replaced by the int64 positions of its Trues, one index per dimension it covers.

    This is torch's own reading of ``x[mask]`` (a k-d mask is ``mask.nonzero()``'s k columns), so
    mixed keys (``x[mask, 1:]``, ``x[:, mask]``, ``x[mask, idx]``) follow the advanced-indexing rules.
    A 0-d mask (``x[True]``) adds a dimension of size 1 or 0, as torch's. Masks given as Python or
    NumPy values are known while tracing; a tensor mask is read, and refused inside graphc.compile.
    """
    items = list(key) if isinstance(key, tuple) else [key]
    masks = [_is_mask(item) or _is_byte_mask(item) for item in items]
    if not any(masks):
        return x, key
    if any(_is_byte_mask(item) for item in items):
        warnings.warn("indexing with dtype uint8 is now deprecated, please use a dtype bool instead (as torch)", UserWarning, stacklevel=5)
    covered = [len(_mask_shape(item)) if mask else int(item is not None and item is not Ellipsis) for item, mask in zip(items, masks)]
    if sum(covered) > x.type.ndim:
        raise op_error("index", [x.type], {}, f"too many indices for a tensor of dimension {x.type.ndim}")
    ellipses = [i for i, item in enumerate(items) if item is Ellipsis and not masks[i]]
    if ellipses:
        at = ellipses[0]
        fill = x.type.ndim - sum(covered)
        items[at : at + 1], masks[at : at + 1] = [slice(None)] * fill, [False] * fill
    key_out: list[Any] = []
    axis = 0
    for item, mask in zip(items, masks):
        if not mask:
            key_out.append(item)
            axis += int(item is not None and item is not Ellipsis)
            continue
        shape = _mask_shape(item)
        for j, size in enumerate(shape):
            if not dims_equal(size, x.shape[axis + j]):
                message = f"The shape of the mask {list(shape)} at index {j} does not match the shape of the indexed tensor {list(x.shape)} at index {axis + j}"
                raise op_error("index", [x.type, TensorType(shape, dtypes.bool_)], {}, message)
        if isinstance(item, Tensor):
            m = node_of(item)
            refuse_in_trace("index", [x.type, m.type], {}, "a boolean mask (as many elements as it has Trues)", "x[mask]")
            values = _values(m).astype(np.bool_)
        else:
            values = np.asarray(item, dtype=np.bool_)
        if values.ndim == 0:
            x = b.reshape(x, (*x.shape[:axis], 1, *x.shape[axis:]))
            key_out.append(np.arange(int(values), dtype=np.int64))
            axis += 1
        else:
            key_out.extend(p.astype(np.int64) for p in np.nonzero(values))
            axis += values.ndim
    return x, tuple(key_out)


def is_mask_key(key: Any) -> bool:
    """``x[mask] = value``'s key: one boolean mask, alone or in a 1-tuple."""
    items = key if isinstance(key, tuple) else (key,)
    return len(items) == 1 and _is_mask(items[0])


def masked_setitem(tensor: Tensor, key: Any, value: Any) -> Node:
    """``x[mask] = value``: a ``where`` when the value broadcasts over each selected element (or slice),
    else one value per True in order, a ``masked_scatter`` (the mask is read to check the count, as torch's)."""
    from graphc.frontend.scatter import masked_scatter

    x = node_of(tensor)
    item = key[0] if isinstance(key, tuple) else key
    m = node_of(item) if isinstance(item, Tensor) else Tensor._constant(np.asarray(item, dtype=np.bool_))._node
    k = m.type.ndim
    if k > x.type.ndim:
        raise op_error("setitem", [x.type, m.type], {}, f"too many indices for a tensor of dimension {x.type.ndim}")
    for j, size in enumerate(m.shape):
        if not dims_equal(size, x.shape[j]):
            message = f"The shape of the mask {list(m.shape)} at index {j} does not match the shape of the indexed tensor {list(x.shape)} at index {j}"
            raise op_error("setitem", [x.type, m.type], {}, message)
    rest = tuple(x.shape[k:])
    mask = b.broadcast_to(b.reshape(m, (*m.shape, *(1,) * len(rest))), x.shape)
    v = unwrap(value)
    v_node = b.cast(v, x.dtype) if isinstance(v, Node) else b.constant(v, x.dtype)
    each = v_node
    while each.type.ndim > len(rest) and dims_equal(each.shape[0], 1):
        each = b.reshape(each, each.shape[1:])
    if each.type.ndim <= len(rest) and _broadcasts(each.shape, rest):
        return b.where(mask, b.broadcast_to(each, x.shape), x)
    refuse_in_trace("setitem", [x.type, m.type, v_node.type], {}, "the mask (a value for each of its Trues)", "x[mask] = values")
    count = int(np.count_nonzero(_values(m)))
    if not _broadcasts(v_node.shape, (count, *rest)):
        message = f"shape mismatch: value tensor of shape {list(v_node.shape)} cannot be broadcast to indexing result of shape {[count, *rest]}"
        raise op_error("setitem", [x.type, m.type, v_node.type], {}, message)
    return node_of(masked_scatter(wrap(x), wrap(mask), wrap(b.broadcast_to(v_node, (count, *rest)))))


def _broadcasts(shape: Any, target: tuple) -> bool:
    if len(shape) > len(target):
        return False
    return all(dims_equal(n, 1) or dims_equal(n, t) for n, t in zip(reversed(tuple(shape)), reversed(target)))


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The elements where ``mask`` (broadcast with ``input``) is True, as a 1-d tensor in row-major order."""
    x, m = node_of(input), node_of(mask)
    if m.dtype != dtypes.bool_:
        raise op_error("masked_select", [x.type, m.type], {}, f"expected BoolTensor for mask, got {m.dtype.name}")
    shape = b.common_shape("masked_select", [x, m])
    refuse_in_trace("masked_select", [x.type, m.type], {}, "the mask (as many elements as it has Trues)")
    chosen = np.flatnonzero(np.broadcast_to(_values(m), shape))
    flat = b.reshape(b.broadcast_to(x, shape), (int(np.prod(shape, dtype=np.int64)),))
    return wrap(emit("index_select", flat, _positions(chosen), axis=0))


# ------------------------------------------------------------------ nonzero


def _nonzero_of(op: str, input: Tensor, as_tuple: bool) -> tuple[Node, np.ndarray, list[np.ndarray]]:
    """The positions of the nonzero (and NaN) elements, one vector per dimension; a 0-d input counts as 1-d, as torch's."""
    x = node_of(input)
    refuse_in_trace(op, [x.type], {"as_tuple": as_tuple} if as_tuple else {}, "its input (one row per nonzero element)")
    found = _values(x) != 0
    if found.ndim == 0:
        return x, found, [np.arange(int(found), dtype=np.int64)]
    return x, found, [p.astype(np.int64) for p in np.nonzero(found)]


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Tensor | tuple[Tensor, ...]:
    """The int64 positions of the nonzero (and NaN) elements: [n, ndim], or one vector per dimension with ``as_tuple``."""
    x, found, positions = _nonzero_of("nonzero", input, as_tuple)
    if as_tuple:
        return tuple(_host_result(p, x) for p in positions)
    return _rows(x, found, positions)


def argwhere(input: Tensor) -> Tensor:
    """``nonzero(input)``: the [n, ndim] positions of the nonzero elements."""
    return _rows(*_nonzero_of("argwhere", input, False))


def _rows(x: Node, found: np.ndarray, positions: list[np.ndarray]) -> Tensor:
    """One row per nonzero element; a 0-d input gives its 0 or 1 rows of no columns, as torch's."""
    if found.ndim == 0:
        return _host_result(np.zeros((positions[0].size, 0), dtype=np.int64), x)
    return _host_result(np.stack(positions, axis=1), x)


# ------------------------------------------------------------------ unique


def _keys(values: np.ndarray) -> np.ndarray:
    """Values NumPy orders and compares exactly: half-precision floats (bfloat16 is ml_dtypes') as float64."""
    return values.astype(np.float64) if values.dtype.name in ("float16", "bfloat16", "float32") else values


def _groups(op: str, input: Tensor, dim: int | None, sort: bool) -> tuple[Node, np.ndarray, np.ndarray, tuple[int, ...], int | None]:
    """The elements (or slices along ``dim``) in order, and where each run of equal ones starts.

    Returns the input, the order, the run starts (bool, in that order), the input's values'
    shape for the inverse, and the axis. NaN differs from everything, itself included, so
    every NaN is a run of its own, as in torch; NumPy sorts NaN last, as torch does.
    """
    x = node_of(input)
    refuse_in_trace(op, [x.type], {"dim": dim}, "its input (the number of distinct values)")
    if dim is None:
        keys = _keys(_values(x)).reshape(-1)
        order = np.argsort(keys, kind="stable") if sort else np.arange(keys.size)
        ranked = keys[order]
        starts = np.ones(ranked.size, dtype=bool)
        starts[1:] = ranked[1:] != ranked[:-1]
        return x, order, starts, tuple(int(n) for n in x.shape), None
    if x.type.ndim == 0:
        raise op_error(op, [x.type], {"dim": dim}, f"Dimension specified as {dim} but tensor has no dimensions")
    axis = _dim(x, dim, op=op)
    empty = [i for i, n in enumerate(x.shape) if n == 0]
    if len(empty) > 1:
        raise op_error(op, [x.type], {"dim": dim}, "Number of zero sized dimensions is more than one, so unique cannot be applied")
    if empty and empty[0] != axis:
        raise op_error(op, [x.type], {"dim": dim}, "There are 0 sized dimensions, and they aren't selected, so unique cannot be applied")
    rows = np.moveaxis(_keys(_values(x)), axis, 0)
    rows = rows.reshape(rows.shape[0], -1)
    order = np.lexsort(rows.T[::-1]) if sort and rows.shape[1] else np.arange(rows.shape[0])
    ranked = rows[order]
    starts = np.ones(ranked.shape[0], dtype=bool)
    starts[1:] = (ranked[1:] != ranked[:-1]).any(axis=1)
    return x, order, starts, (ranked.shape[0],), axis


def _deduplicated(op: str, input: Tensor, dim: int | None, sort: bool, return_inverse: bool, return_counts: bool) -> Tensor | tuple[Tensor, ...]:
    x, order, starts, inverse_shape, axis = _groups(op, input, dim, sort)
    firsts = order[starts]
    if axis is None:
        picked = emit("index_select", b.reshape(x, (x.type.numel,)), _positions(firsts), axis=0)
    else:
        picked = emit("index_select", x, _positions(firsts), axis=axis)
    results: list[Tensor] = [wrap(_no_derivative(picked, op))]
    if return_inverse:
        inverse = np.empty(order.size, dtype=np.int64)
        inverse[order] = np.cumsum(starts) - 1
        results.append(_host_result(inverse.reshape(inverse_shape), x))
    if return_counts:
        results.append(_host_result(np.diff(np.append(np.flatnonzero(starts), order.size)).astype(np.int64), x))
    return results[0] if len(results) == 1 else tuple(results)


def unique(
    input: Tensor, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False, dim: int | None = None
) -> Tensor | tuple[Tensor, ...]:
    """The distinct values (or slices along ``dim``) in ascending order, each NaN apart, as torch's.

    ``sorted=False`` sorts too, as torch's CPU and CUDA kernels do (docs/decisions.md).
    """
    return _deduplicated("unique", input, dim, True, return_inverse, return_counts)


def unique_consecutive(input: Tensor, return_inverse: bool = False, return_counts: bool = False, dim: int | None = None) -> Tensor | tuple[Tensor, ...]:
    """One element (or slice along ``dim``) of each run of equal consecutive ones."""
    return _deduplicated("unique_consecutive", input, dim, False, return_inverse, return_counts)


# ------------------------------------------------------------------ bincount


def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """How often each value of a 1-d non-negative integer tensor occurs, or the sum of its ``weights``.

    With weights, a ``scatter_add`` of them (float32 stays float32, anything else sums in float64,
    as torch); its result requires grad where the weights do, but has no derivative, as torch's.
    """
    x = node_of(input)
    w = node_of(weights) if weights is not None else None
    types = [x.type] + ([w.type] if w is not None else [])
    if x.type.ndim != 1 or not x.dtype.is_integer:
        raise op_error("bincount", types, {"minlength": minlength}, f"bincount only supports 1-d non-negative integral inputs, got {x.dtype.name}")
    if minlength < 0:
        raise op_error("bincount", types, {"minlength": minlength}, "minlength should be >= 0")
    if w is not None and (w.type.ndim != 1 or not dims_equal(w.shape[0], x.shape[0])):
        raise op_error("bincount", types, {"minlength": minlength}, "weights should be 1-d and have the same length as input")
    refuse_in_trace("bincount", types, {"minlength": minlength}, "its input (one bin per value up to the largest)")
    values = _values(x).astype(np.int64)
    if values.size and values.min() < 0:
        raise op_error("bincount", types, {"minlength": minlength}, "bincount only supports 1-d non-negative integral inputs")
    length = max(int(values.max()) + 1 if values.size else 0, minlength)
    if w is None:
        return _host_result(np.bincount(values, minlength=length).astype(np.int64), x)
    dtype = dtypes.float32 if w.dtype == dtypes.float32 else dtypes.float64
    sums = _scatter_add(wrap(b.full((length,), 0, dtype)), 0, wrap(_positions(values)), wrap(b.cast(w, dtype)))
    return wrap(_no_derivative(node_of(sums), "bincount"))
