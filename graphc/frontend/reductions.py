"""Reductions and scans torch has beyond sum/mean/var: prod, cumsum, cumprod, cummax, cummin,
logcumsumexp, var_mean, std_mean, nansum, nanmean, count_nonzero, aminmax.

Products are exact composites of ``mul``, not a primitive and not ``exp(sum(log))`` (which is
inexact and wrong for zeros and negative numbers): ``prod`` multiplies halves in a tree of
log2(n) levels, and the scans (``cumprod``, ``cummax``, ``logcumsumexp``) combine each position
with the one 1, 2, 4, ... places before it (Hillis-Steele), log2(n) elementwise levels.
``cumsum`` is a primitive of its own (``graphc/ir/primitives/scan.py``): one pass.
The chain rule through those multiplications is torch's gradient, zeros included. Both need the
reduced axis to have a static size (docs/decisions.md, "Reductions and scans").
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence

from graphc.frontend.autocast_policy import autocast_op
from graphc.frontend.functional import MinMax, _axes, _floating, amax, amin, in_float32, mean, node_of, std, sum, var, wrap
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.dtypes import DType
from graphc.ir.graph import Node
from graphc.ir.registry import emit, op_error
from graphc.runtime.tensor import Tensor

METHODS = "prod cumsum cumprod cummax cummin logcumsumexp nansum nanmean count_nonzero aminmax".split()
IN_PLACE = ["cumsum", "cumprod"]


def _accumulating(x: Node, dtype: DType | None) -> Node:
    """torch's accumulation dtype: ``dtype`` when given, integers and bools in int64, floats as they are."""
    if dtype is not None:
        return b.cast(x, dtypes.to_dtype(dtype))
    return x if x.dtype.is_floating_point else b.cast(x, dtypes.int64)


def _static_axis(op: str, x: Node, dim: int) -> tuple[int, int]:
    """The axis ``dim`` names and its size, which the tree or scan needs as a number."""
    try:
        dim = operator.index(dim)
    except TypeError:
        raise op_error(op, [x.type], {"dim": dim}, f"{op} takes one dimension (an int), got {dim!r}") from None
    (axis,) = _axes(x, dim, op=op)
    size = x.shape[axis]
    if not isinstance(size, int):
        raise op_error(op, [x.type], {"dim": dim}, f"{op} needs a static size along dimension {dim}, got the symbolic size {size} (compile with dynamic=False)")
    return axis, size


def _halves(x: Node, axis: int, size: int) -> tuple[Node, Node]:
    """The first and second half of an even-sized ``axis``."""
    ndim = x.type.ndim
    half = size // 2
    starts = tuple(half if i == axis else 0 for i in range(ndim))
    stops = tuple(half if i == axis else d for i, d in enumerate(x.shape))
    first = emit("slice", x, starts=(0,) * ndim, stops=stops, steps=(1,) * ndim)
    second = emit("slice", x, starts=starts, stops=tuple(x.shape), steps=(1,) * ndim)
    return first, second


def _product(x: Node, axis: int, size: int) -> Node:
    """The product along ``axis`` (kept as size 1): halves multiplied until one element is left, odd sizes padded with a 1."""
    if size == 0:
        return b.full(tuple(1 if i == axis else d for i, d in enumerate(x.shape)), 1, x.dtype)
    ndim = x.type.ndim
    while size > 1:
        if size % 2:
            high = tuple(1 if i == axis else 0 for i in range(ndim))
            x = emit("pad", x, low=(0,) * ndim, high=high, interior=(0,) * ndim, value=1.0)
            size += 1
        first, second = _halves(x, axis, size)
        x, size = b.mul(first, second), size // 2
    return x


@autocast_op
def prod(input: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype: DType | None = None) -> Tensor:
    """The product of all elements, or along ``dim``; integers and bools multiply in int64, as torch."""
    x = _accumulating(node_of(input), dtype)
    if x.type.ndim == 0:
        _axes(x, dim, op="prod")
        return wrap(x)
    if dim is None:
        flat = b.reshape(x, (x.type.numel,))
        _, size = _static_axis("prod", flat, 0)
        return wrap(b.reshape(_product(flat, 0, size), ()))
    axis, size = _static_axis("prod", x, dim)
    kept = _product(x, axis, size)
    return wrap(kept if keepdim else b.reshape(kept, [d for i, d in enumerate(x.shape) if i != axis]))


# ------------------------------------------------------------------ scans


def _shifted(x: Node, axis: int, size: int, step: int, value: float) -> Node:
    """x moved ``step`` places along ``axis`` (position j holds x[j - step]); the first ``step`` places hold ``value``."""
    ndim = x.type.ndim
    stops = tuple(size - step if i == axis else d for i, d in enumerate(x.shape))
    kept = emit("slice", x, starts=(0,) * ndim, stops=stops, steps=(1,) * ndim)
    low = tuple(step if i == axis else 0 for i in range(ndim))
    return emit("pad", kept, low=low, high=(0,) * ndim, interior=(0,) * ndim, value=value)


def _scan(x: Node, axis: int, size: int, combine: Callable[[Node, Node], Node], identity: float) -> Node:
    """Inclusive scan of an associative ``combine`` (earlier, later) with ``identity`` before the start."""
    step = 1
    while step < size:
        x = combine(_shifted(x, axis, size, step, identity), x)
        step *= 2
    return x


def _scan_input(op: str, input: Tensor, dim: int, dtype: DType | None = None) -> tuple[Node, int, int]:
    x = _accumulating(node_of(input), dtype) if op == "cumprod" else node_of(input)
    if x.type.ndim == 0:
        _axes(x, dim, op=op)
        return b.reshape(x, (1,)), 0, 1
    axis, size = _static_axis(op, x, dim)
    return x, axis, size


@autocast_op
@in_float32
def cumsum(input: Tensor, dim: int, *, dtype: DType | None = None) -> Tensor:
    """Running sums along ``dim`` (integers and bools in int64, exactly): the ``cumsum`` primitive,
    one pass on every backend, any size along ``dim`` (symbolic too)."""
    x = _accumulating(node_of(input), dtype)
    if x.type.ndim == 0:
        _axes(x, dim, op="cumsum")
        return wrap(x)
    try:
        dim = operator.index(dim)
    except TypeError:
        raise op_error("cumsum", [x.type], {"dim": dim}, f"cumsum takes one dimension (an int), got {dim!r}") from None
    (axis,) = _axes(x, dim, op="cumsum")
    return wrap(emit("cumsum", x, axis=axis, reverse=False))


@autocast_op
@in_float32
def cumprod(input: Tensor, dim: int, *, dtype: DType | None = None) -> Tensor:
    """Running products along ``dim`` (integers in int64): a scan of exact multiplications."""
    x, axis, size = _scan_input("cumprod", input, dim, dtype)
    return wrap(b.reshape(_scan(x, axis, size, b.mul, 1.0), node_of(input).shape))


@in_float32
def logcumsumexp(input: Tensor, dim: int) -> Tensor:
    """log(cumsum(exp(x))) without overflow or underflow: a scan of pairwise log-add-exp."""
    _floating("logcumsumexp", node_of(input))
    x, axis, size = _scan_input("logcumsumexp", input, dim)
    return wrap(b.reshape(_scan(x, axis, size, _log_add_exp, -math.inf), node_of(input).shape))


def _log_add_exp(a: Node, c: Node) -> Node:
    """log(exp(a) + exp(c)) about their (detached) maximum, which an infinite maximum replaces by 0."""
    peak = emit("detach", b.binary("maximum", a, c))
    peak = b.where(b.compare("eq", b.unary("abs", peak), math.inf), 0.0, peak)
    total = b.add(b.unary("exp", b.sub(a, peak)), b.unary("exp", b.sub(c, peak)))
    return b.add(b.unary("log", total), peak)


def _running_extremum(op: str, input: Tensor, dim: int, better: str) -> MinMax:
    """(values, indices) of the running max or min; a later element wins ties and NaN wins everything, as torch."""
    x, axis, size = _scan_input(op, input, dim)
    values, indices = x, emit("iota", shape=x.shape, axis=axis, dtype=dtypes.int64)
    positions = indices
    step = 1
    while step < size:
        earlier = _shifted(values, axis, size, step, 0.0)
        earlier_index = _shifted(indices, axis, size, step, 0.0)
        later_wins = b.binary("or", b.compare(better, values, earlier), b.compare("ne", values, values))
        keep = b.binary("or", later_wins, b.compare("lt", positions, step))
        values, indices = b.where(keep, values, earlier), b.where(keep, indices, earlier_index)
        step *= 2
    shape = node_of(input).shape
    return MinMax(wrap(b.reshape(values, shape)), wrap(b.reshape(indices, shape)))


def cummax(input: Tensor, dim: int) -> MinMax:
    return _running_extremum("cummax", input, dim, "ge")


def cummin(input: Tensor, dim: int) -> MinMax:
    return _running_extremum("cummin", input, dim, "le")


# ------------------------------------------------------------------ statistics and NaN-skipping sums


def var_mean(
    input: Tensor, dim: int | Sequence[int] | None = None, unbiased: bool | None = None, keepdim: bool = False, *, correction: int | None = None
) -> tuple[Tensor, Tensor]:
    """(var, mean) in one call, as torch.var_mean (same arguments as ``var``)."""
    if isinstance(dim, bool):  # var_mean(x, False): the unbiased flag, not a dimension
        dim, unbiased = None, dim
    return var(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


def std_mean(
    input: Tensor, dim: int | Sequence[int] | None = None, unbiased: bool | None = None, keepdim: bool = False, *, correction: int | None = None
) -> tuple[Tensor, Tensor]:
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    return std(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


def _is_nan(x: Node) -> Node:
    return b.compare("ne", x, x)


def nansum(input: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False, *, dtype: DType | None = None) -> Tensor:
    """The sum with NaNs counted as zero (and no gradient to them), as torch."""
    x = node_of(input)
    if x.dtype.is_floating_point:
        x = b.where(_is_nan(x), b.zeros_like(x), x)
    return sum(wrap(x), dim, keepdim, dtype=dtype)


def nanmean(input: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False, *, dtype: DType | None = None) -> Tensor:
    """The mean of the non-NaN elements (NaN where there are none, as torch)."""
    x = node_of(input)
    if dtype is not None:
        x = b.cast(x, dtypes.to_dtype(dtype))
    _floating("nanmean", x)
    present = b.cast(b.unary("logical_not", _is_nan(x)), x.dtype)
    return wrap(b.div(node_of(nansum(wrap(x), dim, keepdim)), node_of(sum(wrap(present), dim, keepdim))))


def count_nonzero(input: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    """The number of nonzero elements (int64), over all or the given dimensions."""
    x = node_of(input)
    return sum(wrap(b.cast(x, dtypes.bool_)), dim)


class AminMax(tuple):
    """(min, max), readable by name as torch.return_types.aminmax."""

    def __new__(cls, min: Tensor, max: Tensor) -> AminMax:
        return super().__new__(cls, (min, max))

    @property
    def min(self) -> Tensor:
        return self[0]

    @property
    def max(self) -> Tensor:
        return self[1]


def aminmax(input: Tensor, *, dim: int | None = None, keepdim: bool = False) -> AminMax:
    x = node_of(input)
    if x.type.numel == 0:
        raise op_error("aminmax", [x.type], {"dim": dim}, "cannot compute aminmax of an empty tensor")
    return AminMax(amin(input, dim, keepdim), amax(input, dim, keepdim))

