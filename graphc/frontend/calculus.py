"""Finite differences and the trapezoidal rule: diff, gradient, trapezoid/trapz, cumulative_trapezoid.

Each follows torch's own formula (aten's Integration.cpp and ``diff``'s repeated narrowing), so
results round as torch's do: ``trapezoid`` with a scalar ``dx`` is ``(y.sum(dim) - (first +
last) / 2) * dx``, with sample points ``((left + right) * dx).sum(dim) / 2``. All are slices,
sums and cumulative sums, so they are differentiable and run on both backends unchanged.
"""

from __future__ import annotations

from typing import Any

from graphc.frontend.functional import _dim, cat, narrow, node_of, sum, wrap
from graphc.frontend.reductions import cumsum
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.registry import op_error
from graphc.ir.types import dims_equal
from graphc.runtime.tensor import Tensor

METHODS = ["diff"]


def _static_length(op: str, x: Tensor, axis: int) -> int:
    size = x.shape[axis]
    if not isinstance(size, int):
        raise op_error(op, [node_of(x).type], {"dim": axis}, f"{op} needs a static size along dimension {axis}, got the symbolic size {size}")
    return size


def _check_edge(x: Tensor, other: Tensor, axis: int, what: str) -> None:
    if other.ndim != x.ndim:
        raise op_error("diff", [node_of(x).type, node_of(other).type], {}, f"diff expects {what} to be the same dimension as input")
    for i, (p, q) in enumerate(zip(x.shape, other.shape)):
        if i != axis and isinstance(p, int) and isinstance(q, int) and p != q:
            raise op_error("diff", [node_of(x).type, node_of(other).type], {}, f"diff expects the shape of {what} to match input's except along dim {axis}")


def diff(input: Tensor, n: int = 1, dim: int = -1, prepend: Tensor | None = None, append: Tensor | None = None) -> Tensor:
    """torch.diff: the n-th forward difference along ``dim``, after joining ``prepend`` and ``append``; bool tensors use ``!=``."""
    x = input
    if node_of(x).type.ndim == 0:
        raise op_error("diff", [node_of(x).type], {"n": n, "dim": dim}, "diff expects input to be at least one-dimensional")
    if n < 0:
        raise op_error("diff", [node_of(x).type], {"n": n, "dim": dim}, f"order must be non-negative but got {n}")
    axis = _dim(node_of(x), dim, op="diff")
    parts = []
    for edge, what in ((prepend, "prepend"), (None, ""), (append, "append")):
        if edge is None and what:
            continue
        if edge is not None:
            _check_edge(x, edge, axis, what)
        parts.append(x if edge is None else edge)
    if len(parts) > 1:
        x = cat(parts, axis)
    for _ in range(n):
        length = _static_length("diff", x, axis)
        if length == 0:
            break
        later, earlier = narrow(x, axis, 1, length - 1), narrow(x, axis, 0, length - 1)
        x = later != earlier if x.dtype == dtypes.bool_ else later - earlier
    return x


def _samples(op: str, y: Tensor, dim: int) -> int:
    node = node_of(y)
    if node.dtype == dtypes.bool_:
        raise op_error(op, [node.type], {"dim": dim}, f"{op}: received a bool input for `y`, but bool is not supported")
    return _dim(node, dim, op=op)


def _spacing(op: str, y: Tensor, x: Tensor, axis: int) -> Tensor:
    """The differences of the sample points, shaped to broadcast against ``y``'s (torch's view of a 1-d or shorter ``x``)."""
    node = node_of(x)
    if node.dtype == dtypes.bool_:
        raise op_error(op, [node_of(y).type, node.type], {"dim": axis}, f"{op}: received a bool input for `x`, but bool is not supported")
    if x.ndim == 1:
        if not dims_equal(x.shape[0], y.shape[axis]):
            raise op_error(op, [node_of(y).type, node.type], {"dim": axis}, f"{op}: There must be one `x` value for each sample point")
        x = x.reshape(*[x.shape[0] if i == axis else 1 for i in range(y.ndim)])
    elif x.ndim < y.ndim:
        x = x.reshape(*([1] * (y.ndim - x.ndim)), *x.shape)
    length = _static_length(op, x, axis)
    return narrow(x, axis, 1, length - 1) - narrow(x, axis, 0, length - 1)


def _zeros_without(y: Tensor, axis: int) -> Tensor:
    """torch's answer for zero samples: zeros of ``y``'s dtype, ``dim`` removed (NumPy's convention)."""
    node = node_of(y)
    return wrap(b.full(tuple(s for i, s in enumerate(node.shape) if i != axis), 0, node.dtype))


def _neighbours(y: Tensor, axis: int, op: str) -> tuple[Tensor, Tensor]:
    length = _static_length(op, y, axis)
    return narrow(y, axis, 0, length - 1), narrow(y, axis, 1, length - 1)


def trapezoid(y: Tensor, x: Tensor | None = None, *, dx: float | None = None, dim: int = -1) -> Tensor:
    """torch.trapezoid: the trapezoidal rule along ``dim``, at sample points ``x`` or with the constant spacing ``dx`` (default 1)."""
    axis = _samples("trapezoid", y, dim)
    if x is not None and dx is not None:
        raise op_error("trapezoid", [node_of(y).type], {"dim": dim}, "trapezoid takes either sample points x or a spacing dx, not both")
    if _static_length("trapezoid", y, axis) == 0:
        return _zeros_without(y, axis)
    if x is not None:
        left, right = _neighbours(y, axis, "trapezoid")
        return sum((left + right) * _spacing("trapezoid", y, x, axis), axis) / 2.0
    step = 1.0 if dx is None else float(dx)
    return (sum(y, axis) - (y.select(axis, 0) + y.select(axis, -1)) * 0.5) * step


def trapz(y: Tensor, x: Tensor | None = None, *, dx: float | None = None, dim: int = -1) -> Tensor:
    """torch.trapz, the older name of ``trapezoid``."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y: Tensor, x: Tensor | None = None, *, dx: float | None = None, dim: int = -1) -> Tensor:
    """torch.cumulative_trapezoid: the running trapezoidal rule, one value fewer than the samples along ``dim``."""
    axis = _samples("cumulative_trapezoid", y, dim)
    if x is not None and dx is not None:
        raise op_error("cumulative_trapezoid", [node_of(y).type], {"dim": dim}, "cumulative_trapezoid takes either sample points x or a spacing dx, not both")
    if _static_length("cumulative_trapezoid", y, axis) == 0:
        return y
    left, right = _neighbours(y, axis, "cumulative_trapezoid")
    if x is not None:
        return cumsum(_spacing("cumulative_trapezoid", y, x, axis) / 2.0 * (left + right), axis)
    step = 1.0 if dx is None else float(dx)
    return cumsum(step / 2.0 * (left + right), axis)



def _gradient_dims(input: Tensor, dim: int | list[int] | tuple[int, ...] | None) -> list[int]:
    node = node_of(input)
    dims = list(range(input.ndim)) if dim is None else [dim] if isinstance(dim, int) else list(dim)
    return [_dim(node, d, op="gradient") for d in dims]


def _gradient_spacings(input: Tensor, spacing: Any, count: int) -> list[Any]:
    """One spacing per differentiated dimension: a number (uniform) or a 1-d tensor of coordinates."""
    if isinstance(spacing, (int, float)) and not isinstance(spacing, bool):
        return [spacing] * count
    if isinstance(spacing, Tensor) and spacing.ndim == 0:
        return [spacing.item()] * count
    items = list(spacing)
    if len(items) != count:
        message = f"torch.gradient expected spacing to be unspecified, a scalar or a list of length {count}, but got a list of length {len(items)}"
        raise op_error("gradient", [node_of(input).type], {}, message)
    for item in items:
        if isinstance(item, Tensor) and item.ndim != 1:
            message = f"torch.gradient expected each element of spacing to have one dimension, but got an element with {item.ndim} dimensions!"
            raise op_error("gradient", [node_of(input).type, node_of(item).type], {}, message)
    return items


def _along(x: Tensor, axis: int, start: int, stop: int | None = None) -> Tensor:
    """``x`` sliced along ``axis`` as Python slices it (negative bounds from the end)."""
    length = x.shape[axis]
    begin = start % length if start < 0 else start
    end = length if stop is None else stop % length if stop < 0 else stop
    return narrow(x, axis, begin, end - begin)


def _uniform_gradient(y: Tensor, axis: int, h: float, edge_order: int) -> Tensor:
    center = (_along(y, axis, 2) - _along(y, axis, 0, -2)) / h
    if edge_order == 1:
        first = (_along(y, axis, 1, 2) - _along(y, axis, 0, 1)) / h
        last = (_along(y, axis, -1) - _along(y, axis, -2, -1)) / h
    else:
        first = (_along(y, axis, 0, 1) * -1.5 + _along(y, axis, 1, 2) * 2 - _along(y, axis, 2, 3) * 0.5) / h
        last = (_along(y, axis, -3, -2) * 0.5 - _along(y, axis, -2, -1) * 2 + _along(y, axis, -1) * 1.5) / h
    return cat([first, center / 2, last], axis)


def _coordinate_gradient(y: Tensor, axis: int, coordinates: Tensor, edge_order: int) -> Tensor:
    if not dims_equal(coordinates.shape[0], y.shape[axis]):
        message = f"torch.gradient expected each tensor in spacing to be as long as dimension {axis} of the input ({y.shape[axis]}), got {coordinates.shape[0]}"
        raise op_error("gradient", [node_of(y).type, node_of(coordinates).type], {"dim": axis}, message)
    dx = diff(coordinates)
    shape = [-1 if i == axis else 1 for i in range(y.ndim)]
    dx1, dx2 = _along(dx, 0, 0, -1), _along(dx, 0, 1)
    a = (-dx2 / (dx1 * (dx1 + dx2))).reshape(*shape)
    b_ = ((dx2 - dx1) / (dx1 * dx2)).reshape(*shape)
    c = (dx1 / (dx2 * (dx1 + dx2))).reshape(*shape)
    center = a * _along(y, axis, 0, -2) + b_ * _along(y, axis, 1, -1) + c * _along(y, axis, 2)
    h0, h1, hl, hm = dx[0], dx[1] if dx.shape[0] > 1 else dx[0], dx[-1], dx[-2] if dx.shape[0] > 1 else dx[-1]
    if edge_order == 1:
        first = (_along(y, axis, 1, 2) - _along(y, axis, 0, 1)) / h0
        last = (_along(y, axis, -1) - _along(y, axis, -2, -1)) / hl
    else:
        first = (
            _along(y, axis, 0, 1) * (-(2.0 * h0 + h1) / (h0 * (h0 + h1)))
            + _along(y, axis, 1, 2) * ((h0 + h1) / (h0 * h1))
            + _along(y, axis, 2, 3) * (-h0 / (h1 * (h0 + h1)))
        )
        last = (
            _along(y, axis, -3, -2) * (hl / (hm * (hl + hm)))
            + _along(y, axis, -2, -1) * (-(hl + hm) / (hl * hm))
            + _along(y, axis, -1) * ((2 * hl + hm) / (hl * (hl + hm)))
        )
    return cat([first, center, last], axis)


def gradient(input: Tensor, *, spacing: Any = 1, dim: int | list[int] | tuple[int, ...] | None = None, edge_order: int = 1) -> tuple[Tensor, ...]:
    """torch.gradient: central differences inside, one-sided ones of ``edge_order`` (1 or 2) at the edges, per dimension;
    ``spacing`` is one number, one per dimension, or one 1-d tensor of coordinates per dimension (torch's formulas)."""
    node = node_of(input)
    if edge_order not in (1, 2):
        raise op_error("gradient", [node.type], {"edge_order": edge_order}, f"torch.gradient only supports edge_order=1 and edge_order=2, got {edge_order}")
    axes = _gradient_dims(input, dim)
    spacings = _gradient_spacings(input, spacing, len(axes))
    results = []
    for axis, step in zip(axes, spacings):
        if _static_length("gradient", input, axis) < edge_order + 1:
            raise op_error("gradient", [node.type], {"edge_order": edge_order}, "torch.gradient expected each dimension size to be at least edge_order+1")
        if isinstance(step, Tensor):
            results.append(_coordinate_gradient(input, axis, step, edge_order))
        else:
            results.append(_uniform_gradient(input, axis, float(step) if not isinstance(step, int) else step, edge_order))
    return tuple(results)
