"""Movement primitives: they change which element sits where, never an element's value.

The code generators turn them into index arithmetic on loads (views), so a
permute or a broadcast costs nothing when fused with the op that reads it.
"""

from __future__ import annotations

import sympy

from graphc.ir import build as b
from graphc.ir.graph import Node
from graphc.ir.registry import defvjp, emit, primitive
from graphc.ir.types import Dim, TensorType, TypeRuleError, dims_equal, format_shape, normalize_shape, numel


@primitive("reshape", "movement", attrs=("shape",))
def reshape_rule(x: TensorType, shape: tuple) -> TensorType:
    """same elements in row-major order, new shape"""
    shape = normalize_shape(shape)
    if not dims_equal(numel(shape), x.numel):
        raise TypeRuleError(f"shape {format_shape(shape)} is invalid for input of size {x.numel}")
    return TensorType(shape, x.dtype)


@primitive("permute", "movement", attrs=("perm",))
def permute_rule(x: TensorType, perm: tuple[int, ...]) -> TensorType:
    """reorder the axes: result axis i is input axis perm[i]"""
    if sorted(perm) != list(range(x.ndim)):
        raise TypeRuleError(f"perm {perm} is not a permutation of {x.ndim} axes")
    return TensorType(tuple(x.shape[p] for p in perm), x.dtype)


@primitive("expand", "movement", attrs=("shape",))
def expand_rule(x: TensorType, shape: tuple) -> TensorType:
    """broadcast size-1 axes to ``shape`` (same rank)"""
    shape = normalize_shape(shape)
    if len(shape) != x.ndim:
        raise TypeRuleError(f"expand to {format_shape(shape)} needs rank {x.ndim}")
    for have, want in zip(x.shape, shape):
        if not (dims_equal(have, want) or (isinstance(have, int) and have == 1)):
            raise TypeRuleError(f"the expanded size {want} must match the existing size {have} at a non-singleton dimension")
    return TensorType(shape, x.dtype)


def _provably(relation: object) -> bool:
    """Whether a comparison of sizes holds for every value of its symbols (``B - 2 < 0`` does not)."""
    return relation is sympy.true or relation is True


def _slice_length(start: Dim, stop: Dim, step: int) -> Dim:
    if isinstance(start, int) and isinstance(stop, int):
        return max(0, (stop - start + step - 1) // step)
    return sympy.ceiling((sympy.sympify(stop) - start) / step) if step != 1 else sympy.sympify(stop) - start


@primitive("slice", "movement", attrs=("starts", "stops", "steps"))
def slice_rule(x: TensorType, starts: tuple, stops: tuple, steps: tuple[int, ...]) -> TensorType:
    """x[start:stop:step] on every axis (bounds already clamped, steps positive)"""
    if not len(starts) == len(stops) == len(steps) == x.ndim:
        raise TypeRuleError(f"slice needs one start, stop and step per axis ({x.ndim})")
    if any(s <= 0 for s in steps):
        raise TypeRuleError("slice steps must be positive")
    for axis, (a, z, d) in enumerate(zip(starts, stops, x.shape)):
        if _provably(sympy.sympify(a) < 0) or _provably(sympy.sympify(z) > d) or _provably(sympy.sympify(a) > z):
            raise TypeRuleError(f"slice bounds {a}:{z} of axis {axis} are not within its size {d}")
    return TensorType(tuple(_slice_length(a, z, s) for a, z, s in zip(starts, stops, steps)), x.dtype)


@primitive("pad", "movement", attrs=("low", "high", "interior", "value"))
def pad_rule(x: TensorType, low: tuple[int, ...], high: tuple[int, ...], interior: tuple[int, ...], value: float) -> TensorType:
    """pad each axis with ``low``/``high`` elements of ``value``, and ``interior`` between elements (as XLA)"""
    if not len(low) == len(high) == len(interior) == x.ndim:
        raise TypeRuleError(f"pad needs low, high and interior per axis ({x.ndim})")
    if any(_provably(sympy.sympify(p) < 0) for p in (*low, *high, *interior)):
        raise TypeRuleError("pad amounts must be non-negative")
    shape = []
    for d, lo, hi, mid in zip(x.shape, low, high, interior):
        inner = d + (d - 1) * mid if mid else d
        shape.append(lo + inner + hi)
    return TensorType(tuple(shape), x.dtype)


@primitive("concat", "movement", attrs=("axis",))
def concat_rule(*xs: TensorType, axis: int) -> TensorType:
    """join along ``axis``"""
    if not xs:
        raise TypeRuleError("concat needs at least one tensor")
    first = xs[0]
    for t in xs[1:]:
        if t.dtype != first.dtype:
            raise TypeRuleError(f"operand dtypes differ: {first.dtype.name} vs {t.dtype.name}")
        if t.ndim != first.ndim or any(i != axis and not dims_equal(p, q) for i, (p, q) in enumerate(zip(first.shape, t.shape))):
            raise TypeRuleError(f"sizes must match except in dimension {axis}: {format_shape(first.shape)} vs {format_shape(t.shape)}")
    if not 0 <= axis < first.ndim:
        raise TypeRuleError(f"axis {axis} out of range for {first.ndim}-d tensors")
    total = sum((t.shape[axis] for t in xs), start=0)
    shape = list(first.shape)
    shape[axis] = total
    return TensorType(tuple(shape), first.dtype)


@defvjp("reshape")
def reshape_vjp(node: Node, g: Node) -> tuple:
    return (b.reshape(g, node.inputs[0].shape),)


@defvjp("permute")
def permute_vjp(node: Node, g: Node) -> tuple:
    perm = node.attrs["perm"]
    inverse = [0] * len(perm)
    for i, p in enumerate(perm):
        inverse[p] = i
    return (b.permute(g, inverse),)


@defvjp("expand")
def expand_vjp(node: Node, g: Node) -> tuple:
    return (b.sum_to_shape(g, node.inputs[0].shape),)


@defvjp("slice")
def slice_vjp(node: Node, g: Node) -> tuple:
    """Scatter the slice back: pad with the gaps before, after and between the taken elements."""
    x = node.inputs[0]
    starts, steps = node.attrs["starts"], node.attrs["steps"]
    low, high, interior = [], [], []
    for size, start, step, taken in zip(x.shape, starts, steps, node.shape):
        if isinstance(taken, int) and taken == 0:
            return (b.zeros_like(x),)
        last = start + (taken - 1) * step
        low.append(start)
        high.append(size - last - 1)
        interior.append(step - 1)
    return (emit("pad", g, low=tuple(low), high=tuple(high), interior=tuple(interior), value=0.0),)


@defvjp("pad")
def pad_vjp(node: Node, g: Node) -> tuple:
    low, interior = node.attrs["low"], node.attrs["interior"]
    x = node.inputs[0]
    stops = tuple(lo + (d - 1) * (mid + 1) + 1 for lo, d, mid in zip(low, x.shape, interior))
    steps = tuple(mid + 1 for mid in interior)
    return (emit("slice", g, starts=tuple(low), stops=stops, steps=steps),)


@defvjp("concat")
def concat_vjp(node: Node, g: Node) -> tuple:
    axis = node.attrs["axis"]
    grads = []
    offset: Dim = 0
    for x in node.inputs:
        starts = tuple(offset if i == axis else 0 for i in range(x.type.ndim))
        stops = tuple(offset + x.shape[axis] if i == axis else d for i, d in enumerate(g.shape))
        grads.append(emit("slice", g, starts=starts, stops=stops, steps=(1,) * x.type.ndim))
        offset = offset + x.shape[axis]
    return tuple(grads)
