"""Reductions: sums and means, extrema and their indices, variance, norms, softmax and logsumexp."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from graphc.frontend import linalg
from graphc.frontend.torch_import.lowering.elementwise import sqrt_zero_grad
from graphc.frontend.torch_import.lowering.frontend import call
from graphc.frontend.torch_import.lowering.table import LoweringContext, graphc_dtype, lowers
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.dtypes import DType
from graphc.ir.graph import Node
from graphc.ir.registry import emit
from graphc.ir.types import Dim, normalize_dim

aten = torch.ops.aten
KIND = "reduction"


def axes_of(x: Node, dim: int | Sequence[int] | None) -> tuple[int, ...]:
    """torch's dims (None or [] meaning all) as sorted, non-negative axes."""
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return tuple(range(x.type.ndim))
    return b.normalize_axes(x, dim)


def count(x: Node, axes: tuple[int, ...], dtype: DType) -> Node | float:
    """The number of elements reduced over ``axes``: a float, or a node when the size is symbolic."""
    total: Dim = 1
    for axis in axes:
        total = total * x.shape[axis]
    total = normalize_dim(total)
    if isinstance(total, int):
        return float(total)
    return emit("cast", b.reduce("sum", b.full((total,), 1, dtypes.int64)), dtype=dtype)


def mean_node(x: Node, axes: tuple[int, ...], keepdim: bool) -> Node:
    return b.div(b.reduce("sum", x, axes, keepdim), count(x, axes, x.dtype))


@lowers(KIND, aten.sum.dim_IntList)
def sum_dim(ctx: LoweringContext, x: Node, dim: Any = None, keepdim: bool = False, dtype: torch.dtype | None = None) -> Node:
    if dtype is not None:
        x = b.cast(x, graphc_dtype(dtype))
    return b.reduce("sum", x, axes_of(x, dim), keepdim)


@lowers(KIND, aten.sum.default)
def sum_all(ctx: LoweringContext, x: Node, dtype: torch.dtype | None = None) -> Node:
    return sum_dim(ctx, x, None, False, dtype)


@lowers(KIND, aten.mean.dim)
def mean_dim(ctx: LoweringContext, x: Node, dim: Any = None, keepdim: bool = False, dtype: torch.dtype | None = None) -> Node:
    x = b.cast(x, ctx.out_dtype())
    return mean_node(x, axes_of(x, dim), keepdim)


@lowers(KIND, aten.mean.default)
def mean_all(ctx: LoweringContext, x: Node, dtype: torch.dtype | None = None) -> Node:
    return mean_dim(ctx, x, None, False, dtype)


@lowers(KIND, aten.amax.default)
def amax(ctx: LoweringContext, x: Node, dim: Any = (), keepdim: bool = False) -> Node:
    return b.reduce("max", x, axes_of(x, dim), keepdim)


@lowers(KIND, aten.amin.default)
def amin(ctx: LoweringContext, x: Node, dim: Any = (), keepdim: bool = False) -> Node:
    return b.reduce("min", x, axes_of(x, dim), keepdim)


@lowers(KIND, aten.max.default)
def max_all(ctx: LoweringContext, x: Node) -> Node:
    return b.reduce("max", x, None, False)


@lowers(KIND, aten.min.default)
def min_all(ctx: LoweringContext, x: Node) -> Node:
    return b.reduce("min", x, None, False)


def _flipped(x: Node) -> Node:
    """A tensor whose argmax is x's argmin."""
    return b.unary("logical_not", x) if x.dtype == dtypes.bool_ else b.neg(x)


def _argmax(x: Node, dim: int | None, keepdim: bool) -> Node:
    if dim is None:
        flat = b.reshape(x, (x.type.numel,))
        index = b.reduce("argmax", flat, 0, False)
        return b.reshape(index, (1,) * x.type.ndim) if keepdim else index
    return b.reduce("argmax", x, dim, keepdim)


@lowers(KIND, aten.argmax.default)
def argmax(ctx: LoweringContext, x: Node, dim: int | None = None, keepdim: bool = False) -> Node:
    return _argmax(x, dim, keepdim)


@lowers(KIND, aten.argmin.default)
def argmin(ctx: LoweringContext, x: Node, dim: int | None = None, keepdim: bool = False) -> Node:
    return _argmax(_flipped(x), dim, keepdim)


def _values_at(x: Node, index: Node, axis: int, keepdim: bool) -> Node:
    """x at ``index`` along ``axis``: the gradient goes to the selected element, as torch's max(dim)."""
    kept = index if keepdim else b.reshape(index, tuple(1 if i == axis else d for i, d in enumerate(x.shape)))
    values = emit("gather", x, kept, axis=axis)
    return values if keepdim else b.reshape(values, index.shape)


@lowers(KIND, aten.max.dim)
def max_dim(ctx: LoweringContext, x: Node, dim: int, keepdim: bool = False) -> tuple[Node, Node]:
    (axis,) = axes_of(x, dim)
    index = b.reduce("argmax", x, axis, keepdim)
    return _values_at(x, index, axis, keepdim), index


@lowers(KIND, aten.min.dim)
def min_dim(ctx: LoweringContext, x: Node, dim: int, keepdim: bool = False) -> tuple[Node, Node]:
    (axis,) = axes_of(x, dim)
    index = b.reduce("argmax", _flipped(x), axis, keepdim)
    return _values_at(x, index, axis, keepdim), index


def var_node(x: Node, axes: tuple[int, ...], correction: float, keepdim: bool) -> Node:
    centered = b.sub(x, b.expand(mean_node(x, axes, True), x.shape))
    squares = b.reduce("sum", b.mul(centered, centered), axes, keepdim)
    n = count(x, axes, x.dtype)
    return b.div(squares, n - correction if isinstance(n, float) else b.sub(n, correction))


@lowers(KIND, aten.var.correction)
def var(ctx: LoweringContext, x: Node, dim: Any = None, correction: Any = None, keepdim: bool = False) -> Node:
    return var_node(x, axes_of(x, dim), 1 if correction is None else correction, keepdim)


@lowers(KIND, aten.var_mean.correction)
def var_mean(ctx: LoweringContext, x: Node, dim: Any = None, correction: Any = None, keepdim: bool = False) -> tuple[Node, Node]:
    axes = axes_of(x, dim)
    return var_node(x, axes, 1 if correction is None else correction, keepdim), mean_node(x, axes, keepdim)


@lowers(KIND, aten.std.correction)
def std(ctx: LoweringContext, x: Node, dim: Any = None, correction: Any = None, keepdim: bool = False) -> Node:
    return sqrt_zero_grad(var(ctx, x, dim, correction, keepdim))


@lowers(KIND, aten.any.default, aten.any.dim, aten.any.dims)
def any_(ctx: LoweringContext, x: Node, dim: Any = None, keepdim: bool = False) -> Node:
    return b.compare("gt", b.reduce("sum", b.cast(x, dtypes.bool_), axes_of(x, dim), keepdim), 0)


@lowers(KIND, aten.all.default, aten.all.dim, aten.all.dims)
def all_(ctx: LoweringContext, x: Node, dim: Any = None, keepdim: bool = False) -> Node:
    missing = b.unary("logical_not", b.cast(x, dtypes.bool_))
    return b.compare("eq", b.reduce("sum", missing, axes_of(x, dim), keepdim), 0)


@lowers(KIND, aten.linalg_vector_norm.default)
def vector_norm(ctx: LoweringContext, x: Node, ord: float = 2, dim: Any = None, keepdim: bool = False, dtype: torch.dtype | None = None) -> Node:
    """graphc's vector_norm: every order (0 counts nonzeros, -inf is the least |x|), and a zero
    gradient where the norm is 0 for p > 1, as torch's norm backward."""
    x = b.cast(x, ctx.out_dtype())
    if ord == 0:
        # The count of nonzeros (NaN counts), summed from ``sign`` so that, as in torch, it takes a (zero) gradient.
        nonzero = b.unary("sign", b.where(b.compare("ne", x, x), 1.0, b.unary("abs", x)))
        return b.reduce("sum", nonzero, axes_of(x, dim), keepdim)
    return call(linalg.vector_norm, x, ord, dim, keepdim)


# ------------------------------------------------------------------ softmax family


def _peak(x: Node, axes: tuple[int, ...]) -> Node:
    """The detached maximum over ``axes`` (kept), 0 where it is infinite: the usual stabilizer."""
    peak = emit("detach", b.reduce("max", x, axes, True))
    return b.where(b.compare("eq", b.unary("abs", peak), math.inf), 0.0, peak)


def logsumexp_node(x: Node, axes: tuple[int, ...], keepdim: bool) -> Node:
    peak = _peak(x, axes)
    shifted = b.unary("exp", b.sub(x, b.expand(peak, x.shape)))
    total = b.add(b.unary("log", b.reduce("sum", shifted, axes, True)), peak)
    return total if keepdim else b.reshape(total, tuple(d for i, d in enumerate(x.shape) if i not in axes))


def _float_input(ctx: LoweringContext, x: Node, half_to_float: bool) -> Node:
    return b.cast(x, ctx.out_dtype()) if half_to_float else x


@lowers(KIND, aten._softmax.default)
def softmax(ctx: LoweringContext, x: Node, dim: int, half_to_float: bool = False) -> Node:
    x = _float_input(ctx, x, half_to_float)
    axes = axes_of(x, dim)
    e = b.unary("exp", b.sub(x, b.expand(_peak(x, axes), x.shape)))
    return b.div(e, b.expand(b.reduce("sum", e, axes, True), x.shape))


@lowers(KIND, aten._log_softmax.default)
def log_softmax(ctx: LoweringContext, x: Node, dim: int, half_to_float: bool = False) -> Node:
    x = _float_input(ctx, x, half_to_float)
    axes = axes_of(x, dim)
    return b.sub(x, b.expand(logsumexp_node(x, axes, True), x.shape))


@lowers(KIND, aten.logsumexp.default)
def logsumexp(ctx: LoweringContext, x: Node, dim: Any, keepdim: bool = False) -> Node:
    return logsumexp_node(b.cast(x, ctx.out_dtype()), axes_of(x, dim), keepdim)
