"""Python indexing on tensors: ints, slices, None, Ellipsis, integer tensors and boolean masks.

Basic indexing becomes ``slice`` and ``reshape`` nodes; integer tensors
(advanced indexing) become an ``index_select`` over the indexed axes, brought
together and flattened when there are several, with the result axes placed as
PyTorch places them. A boolean mask is read first and becomes the
integer positions of its Trues (``graphc/frontend/data_dependent.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy

from graphc.errors import GraphcError
from graphc.frontend.symbolic_sizes import SymbolicSize, decide, dims
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import emit, op_error
from graphc.ir.types import Dim, TypeRuleError, broadcast_shapes, dims_equal


def _is_index_tensor(item: Any) -> bool:
    from graphc.runtime.tensor import Tensor

    return isinstance(item, (Tensor, list, np.ndarray))


def _as_index_node(x: Node, axis: int, item: Any) -> Node:
    from graphc.frontend.functional import node_of
    from graphc.runtime.tensor import Tensor

    if not isinstance(item, Tensor):
        array = np.asarray(item)
        item = Tensor._constant(array if array.size or array.dtype != np.float64 else array.astype(np.int64))
    node = node_of(item)
    if node.dtype not in (dtypes.int32, dtypes.int64):  # torch refuses int8 and int16 too (uint8 is a mask: data_dependent.py)
        raise op_error("index", [x.type, node.type], {}, f"tensors used as indices must be int64, int32, uint8 or bool tensors, got {node.dtype.name}")
    size = x.shape[axis]
    if node.data is not None and node.op == "input" and isinstance(size, int) and node.type.numel:
        values = np.asarray(node.data if isinstance(node.data, np.ndarray) else node.data.cpu().numpy())
        low, high = int(values.min()), int(values.max())
        if low < -size or high >= size:
            bad = high if high >= size else low
            raise op_error("index", [x.type, node.type], {}, f"index {bad} is out of bounds for dimension {axis} with size {size}")
    return node


def _expand_key(x: Node, key: Any, op: str = "index") -> list[Any]:
    items = list(key) if isinstance(key, tuple) else [key]
    consuming = sum(1 for k in items if k is not None and k is not Ellipsis)
    if consuming > x.type.ndim:
        raise op_error(op, [x.type], {}, f"too many indices for a tensor of dimension {x.type.ndim}")
    for k in items:
        if isinstance(k, slice) and k.step is not None and k.step <= 0:
            raise op_error(op, [x.type], {}, "slice steps must be positive (negative steps are not supported, as in torch)")
        if not (k is None or k is Ellipsis or isinstance(k, (int, np.integer, slice, SymbolicSize)) and not isinstance(k, bool) or _is_index_tensor(k)):
            raise op_error(op, [x.type], {}, f"graphc cannot index with {type(k).__name__}")
    ellipses = [i for i, k in enumerate(items) if k is Ellipsis]  # not `in`: tensors compare elementwise
    if ellipses:
        at = ellipses[0]
        items[at : at + 1] = [slice(None)] * (x.type.ndim - consuming)
    else:
        items += [slice(None)] * (x.type.ndim - consuming)
    return items


def _clamp_slice(s: slice, size: Dim) -> tuple[Dim, Dim, int]:
    step = 1 if s.step is None else s.step
    if step <= 0:
        raise GraphcError("slice steps must be positive (negative steps are not supported, as in torch)")
    read = next((b for b in (s.start, s.stop) if isinstance(b, SymbolicSize)), None)
    if read is not None:
        return (*_symbolic_bounds(s, SymbolicSize(size, read.origin) if isinstance(size, sympy.Expr) else size), step)
    if isinstance(size, int):
        start, stop, _ = s.indices(size)
        return start, max(start, stop), step
    if s.start is None and s.stop is None:
        return 0, size, step
    if any(bound is not None and decide(size, abs(bound), "ge") is not True for bound in (s.start, s.stop)):
        # A symbolic size is at least 2 (6*B at least 12): x[-3:] and x[:3] of B rows clamp at some sizes and
        # not at others (x[-3:] of 2 rows gave 1). Refusing makes graphc.compile trace this function with static sizes.
        raise GraphcError(f"slice {s.start}:{s.stop} of the symbolic size {size}: where it clamps depends on the size")
    start = 0 if s.start is None else (size + s.start if s.start < 0 else s.start)
    stop = size if s.stop is None else (size + s.stop if s.stop < 0 else s.stop)
    return start, stop, step


def _symbolic_bounds(s: slice, size: Any) -> tuple[Dim, Dim]:
    """``x[:n]``, ``z[n:]`` with the function's own symbolic size ``n`` (``x.size(0)``): clamped as Python clamps
    where that is the same for every batch size; otherwise a comparison needs the number, and the size specializes."""

    def bound(b: Any, default: Any) -> Any:
        if b is None:
            return default
        if b < 0:
            b = b + size
        return 0 if b < 0 else size if b > size else b

    start, stop = bound(s.start, 0), bound(s.stop, size)
    return dims(start), dims(stop if stop >= start else start)


def index(tensor: Any, key: Any) -> Any:
    from graphc.frontend.data_dependent import masks_as_indices
    from graphc.frontend.functional import node_of, wrap

    x, key = masks_as_indices(node_of(tensor), key)
    items = _expand_key(x, key)
    starts, stops, steps, shape_after = [], [], [], []
    advanced: list[tuple[int, Node]] = []  # (axis in the sliced tensor, index)
    axis = 0
    for item in items:
        if item is None:
            shape_after.append(("new", None))
            continue
        size = x.shape[axis]
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            i = int(item)
            if isinstance(size, int) and not -size <= i < size:
                raise op_error("index", [x.type], {}, f"index {i} is out of bounds for dimension {axis} with size {size}")
            i = i % size if isinstance(size, int) else (size + i if i < 0 else i)
            starts.append(i), stops.append(i + 1), steps.append(1)
            shape_after.append(("drop", axis))
        elif isinstance(item, SymbolicSize):  # x[x.size(0) - 1]: in bounds for every batch size, or the size specializes
            bound = SymbolicSize(size, item.origin) if isinstance(size, sympy.Expr) else size
            if not -bound <= item < bound:
                raise op_error("index", [x.type], {}, f"index {dims(item)} is out of bounds for dimension {axis} with size {size}")
            i = dims(item + bound if item < 0 else item)
            starts.append(i), stops.append(i + 1), steps.append(1)
            shape_after.append(("drop", axis))
        elif isinstance(item, slice):
            start, stop, step = _clamp_slice(item, size)
            starts.append(start), stops.append(stop), steps.append(step)
            shape_after.append(("keep", axis))
        elif _is_index_tensor(item):
            starts.append(0), stops.append(size), steps.append(1)
            advanced.append((axis, _as_index_node(x, axis, item)))
            shape_after.append(("advanced", axis))
        else:
            raise GraphcError(f"graphc cannot index with {type(item).__name__}")
        axis += 1
    if any(s != 0 for s in starts) or any(not dims_equal(z, d) for z, d in zip(stops, x.shape)) or any(s != 1 for s in steps):
        x = emit("slice", x, starts=tuple(starts), stops=tuple(stops), steps=tuple(steps))
    if advanced:
        return wrap(_advanced(x, advanced, shape_after))
    shape = []
    for kind, at in shape_after:
        if kind == "new":
            shape.append(1)
        elif kind == "keep":
            shape.append(x.shape[at])
    return wrap(b.reshape(x, shape))


def _advanced(x: Node, advanced: list[tuple[int, Node]], shape_after: list) -> Node:
    """torch's placement: ints select first, so index tensors separated only by ints are adjacent and
    their broadcast dims stand where the first one was; separated by a slice or a ``None``, they go first."""
    axes = [a for a, _ in advanced]
    index_shape: tuple = ()
    for _, idx in advanced:
        try:
            index_shape = broadcast_shapes(index_shape, idx.shape)
        except TypeRuleError as error:
            raise op_error("index", [x.type, *(i.type for _, i in advanced)], {}, f"index tensors cannot be broadcast together: {error}") from None
    shape = x.shape
    # Bring the indexed axes together where the first one is (the axes between are others, kept in order).
    before = [a for a in range(len(shape)) if a < axes[0] and a not in axes]
    after = [a for a in range(len(shape)) if a > axes[0] and a not in axes]
    perm = [*before, *axes, *after]
    if perm != list(range(len(shape))):
        x = b.permute(x, perm)
    first, count = len(before), len(axes)
    # Flatten the indexed axes into one, and the indices into one linear index.
    linear = None
    for a, idx in advanced:
        idx = b.cast(b.broadcast_to(idx, index_shape), dtypes.int64)
        size = shape[a]
        idx = b.where(b.compare("lt", idx, 0), b.add(idx, _size_node(size)), idx)
        linear = idx if linear is None else b.add(b.mul(linear, _size_node(size)), idx)
    merged: Dim = 1
    for a in axes:
        merged = merged * shape[a]
    flat = b.reshape(x, (*x.shape[:first], merged, *x.shape[first + count :]))
    selected = emit("index_select", flat, b.reshape(linear, (linear.type.numel,)), axis=first)
    result = b.reshape(selected, (*x.shape[:first], *index_shape, *x.shape[first + count :]))
    kinds = [kind for kind, _ in shape_after if kind != "drop"]
    at = [i for i, kind in enumerate(kinds) if kind == "advanced"]
    in_place = at == list(range(at[0], at[0] + len(at)))
    if not in_place and first:
        n = len(index_shape)
        result = b.permute(result, [*range(first, first + n), *range(first), *range(first + n, result.type.ndim)])
    # Apply dropped integer axes (size 1 now) and new axes around the advanced block.
    out: list = [] if in_place else list(index_shape)
    placed = not in_place
    for kind, axis in shape_after:
        if kind == "new":
            out.append(1)
        elif kind == "keep":
            out.append(shape[axis])
        elif kind == "advanced" and not placed:
            out.extend(index_shape)
            placed = True
    return b.reshape(result, out)


def _size_node(size: Dim) -> Node | int:
    if isinstance(size, int):
        return size
    from graphc.frontend.functional import wrap_size

    return wrap_size(size, dtypes.int64)


def setitem(tensor: Any, key: Any, value: Any) -> Node:
    """x[key] = value: for ints and slices, pad the value into place and select it with a mask (a boolean
    mask key: ``masked_setitem``; index tensors or ``None``: ``_setitem_positions``)."""
    from graphc.frontend.data_dependent import is_mask_key, masked_setitem
    from graphc.frontend.functional import node_of, unwrap

    if is_mask_key(key):
        return masked_setitem(tensor, key, value)
    x = node_of(tensor)
    items = _expand_key(x, key, "setitem")
    bounds = [k for item in items for k in ((item.start, item.stop) if isinstance(item, slice) else (item,))]
    read = next((k for k in bounds if isinstance(k, SymbolicSize)), None)
    if read is not None:  # the region's padding is computed with numbers
        read._specialize("an index of an assignment (x[:n] = v)")
    if any(_is_index_tensor(i) or i is None for i in items):
        return _setitem_positions(x, key, value)
    low, high, interior, region, selected = [], [], [], [], []
    for axis, item in enumerate(items):
        size = x.shape[axis]
        if isinstance(item, slice):
            start, stop, step = _clamp_slice(item, size)
        else:
            i = int(item)
            if isinstance(size, int) and not -size <= i < size:
                raise op_error("setitem", [x.type], {}, f"index {i} is out of bounds for dimension {axis} with size {size}")
            start = i % size
            stop, step = start + 1, 1
        count, after = _placed_region(start, stop, step, size)
        low.append(start)
        interior.append(step - 1)
        high.append(after)
        region.append(count)
        if isinstance(item, slice):
            selected.append(count)
    v = unwrap(value)
    v_node = b.cast(v, x.dtype) if isinstance(v, Node) else b.constant(v, x.dtype)
    # The value broadcasts against x[key], whose integer-indexed axes are gone; leading size-1 axes
    # beyond the region's rank are dropped first, as torch does (x[1] = ones(1, 4) for a [2, 4] x).
    while v_node.type.ndim > len(selected) and dims_equal(v_node.shape[0], 1):
        v_node = b.reshape(v_node, v_node.shape[1:])
    try:
        v_node = b.reshape(b.broadcast_to(v_node, selected), region)
    except GraphcError as error:
        raise op_error("setitem", [x.type, v_node.type], {}, f"cannot assign a value of shape {list(v_node.shape)} to a region of shape {selected}") from error
    placed = emit("pad", v_node, low=tuple(low), high=tuple(high), interior=tuple(interior), value=0.0)
    mask = emit("pad", b.full(region, True, dtypes.bool_), low=tuple(low), high=tuple(high), interior=tuple(interior), value=False)
    return b.where(mask, placed, x)


def _placed_region(start: Dim, stop: Dim, step: int, size: Dim) -> tuple[Dim, Dim]:
    """How many elements ``start:stop:step`` of an axis of ``size`` selects, and how many follow the last.

    On the symbolic batch (``h[1:] *= 2``) the count is a size expression when it is not negative for
    any batch size; one that is empty for some sizes only (``h[3:]``) needs the number and is refused,
    so ``graphc.compile`` traces with static sizes."""
    if all(isinstance(d, int) for d in (start, stop, size)):
        count = max(0, (stop - start + step - 1) // step)
        return count, size - (start + (count - 1) * step + 1) if count else size - start
    if step == 1 and decide(stop - start, 0, "ge"):
        return stop - start, size - stop
    raise GraphcError(f"slice {start}:{stop}:{step} of an axis of size {size}: how many elements it assigns depends on the size")


def _setitem_positions(x: Node, key: Any, value: Any) -> Node:
    """x[key] = value for a key with index tensors or ``None``: the key reads the flat positions it
    names out of an iota of x's shape, and the value is copied there (``index_copy``: a position
    named twice takes the mean of its values, graphc's rule where torch leaves it unspecified)."""
    from graphc.frontend.functional import node_of, unwrap, wrap
    from graphc.frontend.scatter import index_copy

    numel = x.type.numel
    flat_positions = emit("iota", shape=(numel,), axis=0, dtype=dtypes.int64)
    positions = node_of(index(wrap(b.reshape(flat_positions, x.shape)), key))
    v = unwrap(value)
    v_node = b.cast(v, x.dtype) if isinstance(v, Node) else b.constant(v, x.dtype)
    while v_node.type.ndim > positions.type.ndim and dims_equal(v_node.shape[0], 1):
        v_node = b.reshape(v_node, v_node.shape[1:])
    try:
        v_node = b.broadcast_to(v_node, positions.shape)
    except GraphcError as error:
        message = f"shape mismatch: value tensor of shape {list(v_node.shape)} cannot be broadcast to indexing result of shape {list(positions.shape)}"
        raise op_error("setitem", [x.type, v_node.type], {}, message) from error
    count = positions.type.numel
    flat_x = wrap(b.reshape(x, (numel,)))
    written = index_copy(flat_x, 0, wrap(b.reshape(positions, (count,))), wrap(b.reshape(v_node, (count,))))
    return b.reshape(node_of(written), x.shape)

