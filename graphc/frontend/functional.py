"""The tensor operations of graphc, with PyTorch's names, arguments and dtype rules.

Every function here records nodes (through ``graphc.ir.build``) and returns lazy
``Tensor``s; nothing computes until a value is needed. Composite operations
(softmax, var, gelu, ...) are written in terms of the primitives, so autodiff,
fusion and the code generators never see them.
"""

from __future__ import annotations

import builtins
import functools
import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy

from graphc.errors import DivisionByZeroError, GraphcError
from graphc.frontend import symbolic_sizes, tracing
from graphc.frontend.autocast_policy import autocast_op
from graphc.ir import build as b
from graphc.ir import composites, dtypes
from graphc.ir.dtypes import DType
from graphc.ir.graph import Node
from graphc.ir.registry import emit, op_error
from graphc.ir.types import Dim, dims_equal, format_shape, normalize_dim, shapes_equal
from graphc.runtime import views
from graphc.runtime.tensor import Tensor

Scalar = bool | int | float
TensorLike = Tensor | Scalar


def wrap(node: Node) -> Tensor:
    return Tensor._from_node(node)


def unwrap(x: TensorLike) -> Node | Scalar:
    """A Tensor's node (noting the read for graphc.compile), or a Python number as it is."""
    if isinstance(x, Tensor):
        if x._uninitialized:
            raise ValueError(
                f"Attempted to use an uninitialized parameter or buffer ({type(x).__name__}). This error happens when you are "
                "using a lazy module (LazyLinear, ...) before its first call: call it with a sample batch to initialize its "
                "parameters first"
            )
        return tracing.read(x)
    if isinstance(x, (bool, int, float)):
        return x
    if isinstance(x, (np.generic,)):
        return x.item()
    if isinstance(x, symbolic_sizes.SymbolicSize):  # loss / x.size(0): the size as a 0-d value, promoted as a Python int is
        return wrap_size(symbolic_sizes.dims(x), dtypes.int64)
    raise GraphcError(f"expected a graphc.Tensor or a Python number, got {type(x).__name__}")


def node_of(x: TensorLike) -> Node:
    value = unwrap(x)
    if isinstance(value, Node):
        return value
    return b.constant(value, dtypes.scalar_dtype(value))


# ------------------------------------------------------------------ elementwise


def _binary(op: str, a: TensorLike, other: TensorLike) -> Tensor:
    return wrap(b.binary(op, unwrap(a), unwrap(other)))


def _scaled(other: TensorLike, alpha: Scalar) -> TensorLike:
    """``alpha * other`` for add/sub: in Python when ``other`` is a number (as torch, which takes it as a scalar)."""
    if alpha == 1:
        return other
    return other * alpha if isinstance(other, (int, float)) else mul(other, alpha)


def add(input: TensorLike, other: TensorLike, alpha: Scalar = 1) -> Tensor:
    return _binary("add", input, _scaled(other, alpha))


def sub(input: TensorLike, other: TensorLike, alpha: Scalar = 1) -> Tensor:
    x, y = unwrap(input), unwrap(other)
    if builtins.any(isinstance(v, bool) or isinstance(v, Node) and v.dtype == dtypes.bool_ for v in (x, y)):
        types = [v.type if isinstance(v, Node) else b.constant(v, dtypes.scalar_dtype(v)).type for v in (x, y)]
        raise op_error("sub", types, {}, "subtraction, the `-` operator, with a bool tensor is not supported; to invert a mask use `~` or logical_not()")
    return _binary("sub", input, _scaled(other, alpha))


def mul(input: TensorLike, other: TensorLike) -> Tensor:
    return _binary("mul", input, other)


def div(input: TensorLike, other: TensorLike, *, rounding_mode: str | None = None) -> Tensor:
    """True division; with ``rounding_mode`` "floor" or "trunc", rounded (integers stay integers) with a zero gradient, as torch."""
    x, y = unwrap(input), unwrap(other)
    if rounding_mode is not None:
        _refuse_known_zero("div", x, y)
    return wrap(b.divide(x, y, rounding_mode))


def true_divide(input: TensorLike, other: TensorLike) -> Tensor:
    return _binary("div", input, other)


@autocast_op
def pow(input: TensorLike, exponent: TensorLike) -> Tensor:
    if isinstance(input, Tensor) and isinstance(exponent, int) and not isinstance(exponent, bool) and exponent < 0:
        x = node_of(input)
        if not x.dtype.is_floating_point:
            raise op_error("pow", [x.type], {"exponent": exponent}, "integers to negative integer powers are not allowed")
    return _binary("pow", input, exponent)


def maximum(input: Tensor, other: Tensor) -> Tensor:
    return _binary("maximum", input, other)


def minimum(input: Tensor, other: Tensor) -> Tensor:
    return _binary("minimum", input, other)


def _compare(op: str, a: TensorLike, other: TensorLike) -> Tensor:
    return wrap(b.compare(op, unwrap(a), unwrap(other)))


def eq(input: TensorLike, other: TensorLike) -> Tensor:
    return _compare("eq", input, other)


def ne(input: TensorLike, other: TensorLike) -> Tensor:
    return _compare("ne", input, other)


def lt(input: TensorLike, other: TensorLike) -> Tensor:
    return _compare("lt", input, other)


def le(input: TensorLike, other: TensorLike) -> Tensor:
    return _compare("le", input, other)


def gt(input: TensorLike, other: TensorLike) -> Tensor:
    return _compare("gt", input, other)


def ge(input: TensorLike, other: TensorLike) -> Tensor:
    return _compare("ge", input, other)


def _truth_values(a: TensorLike, other: TensorLike) -> tuple[Node, Node]:
    """The operands of torch's logical_* functions: any dtype, nonzero (and NaN) being True."""
    x, y = node_of(a), node_of(other)
    return b.cast(x, dtypes.bool_), b.cast(y, dtypes.bool_)


def logical_and(input: TensorLike, other: TensorLike) -> Tensor:
    return wrap(b.binary("and", *_truth_values(input, other)))


def logical_or(input: TensorLike, other: TensorLike) -> Tensor:
    return wrap(b.binary("or", *_truth_values(input, other)))


def logical_not(input: Tensor) -> Tensor:
    return wrap(b.unary("logical_not", node_of(input)))


def logical_xor(input: TensorLike, other: TensorLike) -> Tensor:
    return wrap(b.compare("ne", *_truth_values(input, other)))


def _bitwise(op: str, input: TensorLike, other: TensorLike) -> Tensor:
    """``&``, ``|``, ``^``: bit by bit on integers and bools in their promoted dtype, as torch (which refuses floats)."""
    x, y = unwrap(input), unwrap(other)
    dtype = b.result_dtype(x, y)
    if dtype.is_floating_point:
        raise op_error(op, b.operand_types([x, y]), {}, f"{op} is only implemented on integer and bool tensors, not {dtype.name}")
    return wrap(emit(op, *b.coerce(op, [x, y], dtype)))


def bitwise_and(input: TensorLike, other: TensorLike) -> Tensor:
    return _bitwise("bitwise_and", input, other)


def bitwise_or(input: TensorLike, other: TensorLike) -> Tensor:
    return _bitwise("bitwise_or", input, other)


def bitwise_xor(input: TensorLike, other: TensorLike) -> Tensor:
    return _bitwise("bitwise_xor", input, other)


def _unary(op: str, x: Tensor) -> Tensor:
    return wrap(b.unary(op, node_of(x)))


def neg(input: Tensor) -> Tensor:
    return _unary("neg", input)


@autocast_op
def exp(input: Tensor) -> Tensor:
    return _unary("exp", input)


@autocast_op
def log(input: Tensor) -> Tensor:
    return _unary("log", input)


@autocast_op
def log1p(input: Tensor) -> Tensor:
    return _unary("log1p", input)


@autocast_op
def log2(input: Tensor) -> Tensor:
    return _unary("log2", input)


def sqrt(input: Tensor) -> Tensor:
    return _unary("sqrt", input)


@autocast_op
def rsqrt(input: Tensor) -> Tensor:
    return _unary("rsqrt", input)


def sin(input: Tensor) -> Tensor:
    return _unary("sin", input)


def cos(input: Tensor) -> Tensor:
    return _unary("cos", input)


def tanh(input: Tensor) -> Tensor:
    return _unary("tanh", input)


def erf(input: Tensor) -> Tensor:
    return _unary("erf", input)


def abs(input: Tensor) -> Tensor:
    return _unary("abs", input)


def sign(input: Tensor) -> Tensor:
    x = node_of(input)
    if x.dtype == dtypes.bool_:
        return wrap(x)
    return _unary("sign", input)


@autocast_op
def reciprocal(input: Tensor) -> Tensor:
    return _unary("reciprocal", input)


def sigmoid(input: Tensor) -> Tensor:
    return _unary("sigmoid", input)


def square(input: Tensor) -> Tensor:
    """x * x; a bool tensor squares to int64, as torch's (its pow promotes bools)."""
    x = node_of(input)
    x = b.cast(x, dtypes.int64) if x.dtype == dtypes.bool_ else x
    return wrap(b.mul(x, x))


def relu(input: Tensor) -> Tensor:
    """where(x <= 0, 0, x): the gradient at 0 is 0 and NaN propagates, as torch's relu; the input is
    marked as that of threshold_backward, which reads relu's result, for higher derivatives
    (``composites.backward_reads``)."""
    x = composites.backward_reads(node_of(input), "backward_reads_result")
    return wrap(b.where(b.compare("le", x, 0), 0, x))


def backward_reads(input: Tensor, rule: str = "backward_reads") -> Tensor:
    """``composites.backward_reads`` for Tensors: graphc.nn.functional's activations, poolings and paddings mark their input with it."""
    return wrap(composites.backward_reads(node_of(input), rule))


def in_float32(function: Any) -> Any:
    """A half-precision input computed in float32 and the result rounded once, as torch's CPU kernels
    compute an activation or a statistic (their "opmath"): rounding every step of the composite lost
    ulps in a third of the elements, gelu's far negative tail rounded to -0 where torch gives -1e-4,
    and a mean's sum overflowed to inf. An explicit ``dtype=`` is the caller's choice and is kept."""

    @functools.wraps(function)
    def computed(input: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        x = node_of(input)
        if x.dtype not in (dtypes.float16, dtypes.bfloat16) or kwargs.get("dtype") is not None:
            return function(input, *args, **kwargs)
        return wrap(b.cast(node_of(function(wrap(b.cast(x, dtypes.float32)), *args, **kwargs)), x.dtype))

    return computed


@in_float32
def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    x = node_of(input)
    if approximate == "tanh":
        inner = b.mul(b.add(x, b.mul(b.mul(b.mul(x, x), x), 0.044715)), math.sqrt(2 / math.pi))
        return wrap(b.mul(b.mul(x, 0.5), b.add(b.unary("tanh", inner), 1.0)))
    if approximate != "none":
        raise op_error("gelu", [x.type], {}, f"approximate must be 'none' or 'tanh', got {approximate!r}")
    return wrap(b.mul(b.mul(x, 0.5), b.add(b.unary("erf", b.mul(x, 1 / math.sqrt(2))), 1.0)))


@in_float32
def silu(input: Tensor) -> Tensor:
    return mul(input, sigmoid(input))


@autocast_op
@in_float32
def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    x = node_of(input)
    scaled = b.mul(x, beta)
    soft = b.div(b.unary("log1p", b.unary("exp", b.binary("minimum", scaled, b.full_like(scaled, threshold)))), beta)
    return wrap(b.where(b.compare("gt", scaled, threshold), x, soft))


def clamp(input: Tensor, min: TensorLike | None = None, max: TensorLike | None = None) -> Tensor:
    """Gradient passes where min <= x <= max, as torch's clamp."""
    if min is None and max is None:
        raise op_error("clamp", [node_of(input).type], {}, "at least one of min and max must be given")
    return wrap(composites.clamp(node_of(input), None if min is None else unwrap(min), None if max is None else unwrap(max)))


def _bool_mask(op: str, mask: Node, other: Node, what: str) -> None:
    """torch refuses a non-bool condition or mask (rather than reading it as truth values); so does graphc."""
    if mask.dtype != dtypes.bool_:
        raise op_error(op, [mask.type, other.type], {}, f"expected {what} to be a bool tensor, got {mask.dtype.name} (compare it, e.g. `x != 0`)")


def where(condition: Tensor, input: TensorLike | None = None, other: TensorLike | None = None) -> Tensor | tuple[Tensor, ...]:
    """``input`` where ``condition`` holds, else ``other``; ``where(condition)`` alone is ``nonzero(condition, as_tuple=True)``, as torch's."""
    if input is None and other is None:
        from graphc.frontend.data_dependent import nonzero

        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise op_error("where", [node_of(condition).type], {}, "where() takes a condition alone, or a condition, an input and an other")
    cond, x = node_of(condition), unwrap(input)
    _bool_mask("where", cond, x if isinstance(x, Node) else cond, "the condition")
    return wrap(b.where(cond, x, unwrap(other)))


def masked_fill(input: Tensor, mask: Tensor, value: TensorLike) -> Tensor:
    x = node_of(input)
    _bool_mask("masked_fill", node_of(mask), x, "the mask")
    fill = unwrap(value)
    fill_node = b.cast(fill, x.dtype) if isinstance(fill, Node) else b.constant(fill, x.dtype)
    return wrap(b.where(node_of(mask), fill_node, x))


def lerp(input: Tensor, end: Tensor, weight: TensorLike) -> Tensor:
    """torch's two-sided formula (``composites.lerp``): a weight of 1 gives ``end`` exactly."""
    x, stop, w = node_of(input), node_of(end), unwrap(weight)
    _floating("lerp", x)
    dtype = b.result_dtype(x, stop, w)
    if not isinstance(w, Node):
        return wrap(composites.lerp(*b.coerce("lerp", [x, stop], dtype), w))
    return wrap(composites.lerp(*b.coerce("lerp", [x, stop, w], dtype)))


def _floating(op: str, x: Node, hint: str = "") -> None:
    """Ops torch defines for floating-point tensors only are refused on others, not computed after a silent cast."""
    if not x.dtype.is_floating_point:
        raise op_error(op, [x.type], {}, f"{op} needs a floating-point tensor, got {x.dtype.name}{hint}")


# ------------------------------------------------------------------ rounding and integer division


def _rounding(op: str, input: Tensor) -> Tensor:
    """floor, ceil, round, trunc: integer tensors come back as they are (``build.unary``); bools are refused, as by torch."""
    x = node_of(input)
    if x.dtype == dtypes.bool_:
        raise op_error(op, [x.type], {}, "not defined for bool tensors")
    return wrap(b.unary(op, x))


def floor(input: Tensor) -> Tensor:
    return _rounding("floor", input)


def ceil(input: Tensor) -> Tensor:
    return _rounding("ceil", input)


def trunc(input: Tensor) -> Tensor:
    return _rounding("trunc", input)


def fix(input: Tensor) -> Tensor:
    return _rounding("trunc", input)


def round(input: Tensor, *, decimals: int | None = None) -> Tensor:
    """Halves to even. ``decimals`` given, even 0, refuses integer tensors, as torch's ``round.decimals`` does."""
    if decimals is None:
        return _rounding("round", input)
    x = node_of(input)
    _floating("round", x, " (with decimals)")
    return wrap(b.round_decimals(x, decimals))


def frac(input: Tensor) -> Tensor:
    """x - trunc(x): its gradient passes unchanged, as torch's."""
    x = node_of(input)
    _floating("frac", x)
    return wrap(b.sub(x, b.unary("trunc", x)))


def _known_zero(value: Node | Scalar) -> bool:
    """Whether a divisor is a zero number, or a tensor whose values are known (a realized leaf) and hold a zero.

    Inside a ``graphc.compile`` trace a tensor's values are one call's: the program checks each call's.
    """
    if not isinstance(value, Node):
        return value == 0
    if value.data is None or value.op != "input" or not value.type.numel or tracing.active() is not None:
        return False
    return not np.asarray(value.data if isinstance(value.data, np.ndarray) else value.data.cpu().numpy()).all()


def _refuse_known_zero(op: str, x: Node | Scalar, y: Node | Scalar) -> None:
    """An integer division by a zero known now raises at the user's line, as torch's does.

    A divisor computed by the program is checked when it runs: NumPy's helpers raise
    (``numpy_support.floor_divide``), Triton kernels flag it and the program raises (``KernelEmitter.flag``).
    """
    if b.result_dtype(x, y).is_floating_point or not _known_zero(y):
        return
    types = [v.type if isinstance(v, Node) else b.constant(v, dtypes.scalar_dtype(v)).type for v in (x, y)]
    raise DivisionByZeroError(str(op_error(op, types, {}, "integer division by zero")))


def _integer_division(op: str, input: TensorLike, other: TensorLike) -> Node:
    x, y = unwrap(input), unwrap(other)
    _refuse_known_zero(op, x, y)
    return b.binary(op, x, y)


def _without_derivative(node: Node) -> Node:
    """``node``, whose gradient raises at ``backward()``: torch has no derivative for it."""
    if not node.requires_grad:
        return node
    return emit("custom_vjp", node, *node.inputs, rule="not_differentiable")


def floor_divide(input: TensorLike, other: TensorLike) -> Tensor:
    """``//``: rounded toward -inf, exact for integers. As torch, it has no derivative (``div(..., rounding_mode="floor")`` has a zero one)."""
    return wrap(_without_derivative(_integer_division("floor_divide", input, other)))


def remainder(input: TensorLike, other: TensorLike) -> Tensor:
    """``%``: the sign of the divisor. A Python number % a tensor has no derivative, as in torch."""
    node = _integer_division("remainder", input, other)
    return wrap(node if isinstance(input, Tensor) else _without_derivative(node))


def fmod(input: TensorLike, other: TensorLike) -> Tensor:
    """C's fmod: the sign of the dividend."""
    return wrap(_integer_division("fmod", input, other))


# ------------------------------------------------------------------ reductions


def _axes(x: Node, dim: int | Sequence[int] | None, op: str = "reduce") -> tuple[int, ...]:
    """The reduced axes; an empty ``dim`` (``sum(dim=())``) means all of them, as in torch."""
    if dim is not None and not isinstance(dim, int) and len(tuple(dim)) == 0:
        dim = None
    return b.normalize_axes(x, dim, op)


@autocast_op
def sum(input: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False, dtype: DType | None = None) -> Tensor:
    x = node_of(input)
    if dtype is not None:  # the sum is computed in ``dtype`` (no promotion of integers to int64)
        x = b.cast(x, dtypes.to_dtype(dtype))
        return wrap(emit("sum", x, axes=_axes(x, dim, op="sum"), keepdim=keepdim))
    return wrap(b.reduce("sum", x, _axes(x, dim, op="sum"), keepdim))


@in_float32
def mean(input: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False, dtype: DType | None = None) -> Tensor:
    x = node_of(input)
    if dtype is not None:
        x = b.cast(x, dtypes.to_dtype(dtype))
    if not x.dtype.is_floating_point:
        raise op_error("mean", [x.type], {"dim": dim}, f"mean needs a floating-point input, got {x.dtype.name}")
    axes = _axes(x, dim, op="mean")
    count = _count(x, axes)
    return wrap(b.div(b.reduce("sum", x, axes, keepdim), count))


def _count(x: Node, axes: tuple[int, ...]) -> Node | float:
    total: Dim = 1
    for a in axes:
        total = total * x.shape[a]
    total = normalize_dim(total)
    if isinstance(total, int):
        return float(total)
    return wrap_size(total, x.dtype)


def wrap_size(size: Dim, dtype: DType) -> Node:
    """A symbolic size as a 0-d tensor (for means over a dynamic batch)."""
    return emit("size", value=size, dtype=dtype)


@in_float32
def var(input: Tensor, dim: int | Sequence[int] | None = None, unbiased: bool | None = None, keepdim: bool = False, *, correction: int | None = None) -> Tensor:
    x = node_of(input)
    _floating("var", x)
    if isinstance(dim, bool):  # torch's overload var(unbiased): x.var(False) is not a reduction over dim 0
        dim, unbiased = None, dim
    if correction is None:
        correction = 0 if unbiased is False else 1
    axes = _axes(x, dim, op="var")
    centered = b.sub(x, b.div(b.reduce("sum", x, axes, True), _count(x, axes)))
    squares = b.reduce("sum", b.mul(centered, centered), axes, keepdim)
    count = _count(x, axes)
    # torch's degrees of freedom, max(0, n - correction): 0 / 0 is NaN, s / 0 inf
    denominator = builtins.max(count - correction, 0.0) if isinstance(count, float) else b.binary("maximum", b.sub(count, correction), 0.0)
    return wrap(b.div(squares, denominator))


@in_float32
def std(input: Tensor, dim: int | Sequence[int] | None = None, unbiased: bool | None = None, keepdim: bool = False, *, correction: int | None = None) -> Tensor:
    """``sqrt(var)``, with torch's gradient of 0 where the deviation is 0 (a constant row).

    sqrt's derivative there is infinite; both ``where``s are needed, so that neither the
    result's nor the square root's derivative sees 0 * inf.
    """
    _floating("std", node_of(input))
    if isinstance(dim, bool):  # torch's overload std(unbiased)
        dim, unbiased = None, dim
    variance = node_of(var(input, dim, unbiased, keepdim, correction=correction))
    zero = b.compare("eq", variance, 0)
    return wrap(b.where(zero, 0.0, b.unary("sqrt", b.where(zero, 1.0, variance))))


def amax(input: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    x = node_of(input)
    return wrap(b.reduce("max", x, _axes(x, dim, op="amax"), keepdim))


def amin(input: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    x = node_of(input)
    return wrap(b.reduce("min", x, _axes(x, dim, op="amin"), keepdim))


def _no_bool(op: str, x: Node) -> None:
    if x.dtype == dtypes.bool_:
        raise op_error(op, [x.type], {}, f"{op} does not support bool input (as in torch); cast it first, e.g. `.long()`")


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    _no_bool("argmax", node_of(input))
    return wrap(_argmax(node_of(input), dim, keepdim))


def _argmax(x: Node, dim: int | None, keepdim: bool) -> Node:
    if x.type.ndim == 0 and dim is not None:
        _axes(x, dim, op="argmax")  # dim must be 0 or -1; the index is 0, as torch
        return b.constant(0, dtypes.int64)
    if dim is None:  # over the flattened tensor; keepdim keeps every axis as size 1, as torch
        ones = (1,) * x.type.ndim
        index = b.reduce("argmax", b.reshape(x, (x.type.numel,)), 0, False)
        return b.reshape(index, ones) if keepdim else index
    return b.reduce("argmax", x, dim, keepdim)


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    _no_bool("argmin", node_of(input))
    return wrap(_argmin(node_of(input), dim, keepdim))


def _argmin(x: Node, dim: int | None, keepdim: bool) -> Node:
    """The argmax of the flipped values (min(dim) of a bool tensor, which torch allows, comes here too)."""
    flipped = b.neg(x) if x.dtype != dtypes.bool_ else b.unary("logical_not", x)
    return _argmax(flipped, dim, keepdim)


def _values_at(x: Node, index: Node, dim: int, keepdim: bool) -> Node:
    """x's values at ``index`` along dim: the gradient goes to that one element, as torch's max(dim)."""
    kept = index if keepdim else b.reshape(index, _keep_shape(x, dim))
    values = emit("gather", x, kept, axis=dim)
    return values if keepdim else b.reshape(values, index.shape)


def _one_axis(x: Node, dim: object, op: str) -> int:
    """The one axis of max(dim)/min(dim); several are torch's amax/amin, which return no indices."""
    try:
        one = operator.index(dim)
    except TypeError:
        raise op_error(op, [x.type], {"dim": dim}, f"{op}(dim) takes one dimension (an int), got {dim!r}; amax/amin reduce several") from None
    (axis,) = _axes(x, one, op=op)
    return axis


def _keep_shape(x: Node, dim: int) -> tuple:
    return tuple(1 if i == dim else d for i, d in enumerate(x.shape))


def max(input: Tensor, dim: int | Tensor | None = None, keepdim: bool = False) -> Any:
    """max() of all elements, max(dim) -> (values, indices), or max(other) elementwise."""
    if isinstance(dim, Tensor):
        return maximum(input, dim)
    if dim is None:
        return amax(input)
    x = node_of(input)
    if x.type.ndim == 0:
        return _zero_dim_extremum(x, dim)
    axis = _one_axis(x, dim, "max")
    indices = b.reduce("argmax", x, axis, keepdim)
    return MinMax(wrap(_values_at(x, indices, axis, keepdim)), wrap(indices))


def min(input: Tensor, dim: int | Tensor | None = None, keepdim: bool = False) -> Any:
    if isinstance(dim, Tensor):
        return minimum(input, dim)
    if dim is None:
        return amin(input)
    x = node_of(input)
    if x.type.ndim == 0:
        return _zero_dim_extremum(x, dim)
    axis = _one_axis(x, dim, "min")
    indices = _argmin(x, axis, keepdim)
    return MinMax(wrap(_values_at(x, indices, axis, keepdim)), indices=wrap(indices))


def _zero_dim_extremum(x: Node, dim: int) -> MinMax:
    """max/min(dim) of a 0-d tensor: the value itself and index 0, as torch."""
    _axes(x, dim, op="max")  # checks that dim is 0 or -1
    return MinMax(wrap(x), wrap(b.constant(0, dtypes.int64)))


class MinMax(tuple):
    """(values, indices), readable by name as torch.return_types.max."""

    def __new__(cls, values: Tensor, indices: Tensor) -> MinMax:
        return super().__new__(cls, (values, indices))

    @property
    def values(self) -> Tensor:
        return self[0]

    @property
    def indices(self) -> Tensor:
        return self[1]


def logsumexp(input: Tensor, dim: int | Sequence[int], keepdim: bool = False) -> Tensor:
    x = node_of(input)
    if not x.dtype.is_floating_point:
        x = b.cast(x, dtypes.DEFAULT_FLOAT)  # as torch: bools and integers in the default float dtype
    axes = _axes(x, dim, op="logsumexp")
    peak = emit("detach", b.reduce("max", x, axes, True))
    peak = b.where(b.compare("eq", b.unary("abs", peak), math.inf), 0.0, peak)
    shifted = b.unary("exp", b.sub(x, b.expand(peak, x.shape)))
    total = b.add(b.unary("log", b.reduce("sum", shifted, axes, True)), peak)
    return wrap(total if keepdim else b.reshape(total, b.reduce("sum", x, axes, False).shape))


_SOFTMAX_HINT = " (pass dtype=graphc.float32 to compute it in floating point)"


@autocast_op
def softmax(input: Tensor, dim: int, dtype: DType | None = None) -> Tensor:
    x = node_of(input)
    if dtype is not None:
        x = b.cast(x, dtypes.to_dtype(dtype))
    _floating("softmax", x, _SOFTMAX_HINT)
    axes = _axes(x, dim, op="softmax")
    return _rounded_once(x, lambda x: _softmax(x, axes))


def _softmax(x: Node, axes: tuple[int, ...]) -> Node:
    peak = emit("detach", b.reduce("max", x, axes, True))
    e = b.unary("exp", b.sub(x, b.expand(peak, x.shape)))
    return b.div(e, b.expand(b.reduce("sum", e, axes, True), x.shape))


def _rounded_once(x: Node, compute: Any) -> Tensor:
    """``compute(x)`` in float32 for a half-precision ``x``, rounded once at the end, as torch's kernels."""
    if x.dtype not in (dtypes.float16, dtypes.bfloat16):
        return wrap(compute(x))
    return wrap(b.cast(compute(b.cast(x, dtypes.float32)), x.dtype))


@autocast_op
def log_softmax(input: Tensor, dim: int, dtype: DType | None = None) -> Tensor:
    x = node_of(input)
    if dtype is not None:
        x = b.cast(x, dtypes.to_dtype(dtype))
    _floating("log_softmax", x, _SOFTMAX_HINT)
    # (x - max) - log(sum(exp(x - max))), as torch: subtracting the full logsumexp from x
    # would lose the low bits of values far from 0.
    axes = _axes(x, dim, op="log_softmax")
    return _rounded_once(x, lambda x: _log_softmax(x, axes))


def _log_softmax(x: Node, axes: tuple[int, ...]) -> Node:
    peak = emit("detach", b.reduce("max", x, axes, True))
    peak = b.where(b.compare("eq", b.unary("abs", peak), math.inf), 0.0, peak)
    shifted = b.sub(x, b.expand(peak, x.shape))
    total = b.unary("log", b.reduce("sum", b.unary("exp", shifted), axes, True))
    return b.sub(shifted, b.expand(total, x.shape))


def all(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    x = b.cast(node_of(input), dtypes.bool_)
    return _truth_as(input, eq(wrap(b.reduce("sum", b.unary("logical_not", x), dim, keepdim)), 0))


def any(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    x = b.cast(node_of(input), dtypes.bool_)
    return _truth_as(input, gt(wrap(b.reduce("sum", x, dim, keepdim)), 0))


def _truth_as(input: Tensor, found: Tensor) -> Tensor:
    """torch's any/all of a uint8 tensor give uint8 0/1 (its older boolean type); of any other, bool."""
    if node_of(input).dtype == dtypes.uint8:
        return wrap(b.cast(node_of(found), dtypes.uint8))
    return found


# ------------------------------------------------------------------ linear algebra


@autocast_op
def matmul(input: Tensor, other: Tensor) -> Tensor:
    return wrap(b.matmul(node_of(input), node_of(other)))


@autocast_op
def mm(input: Tensor, mat2: Tensor) -> Tensor:
    x, y = node_of(input), node_of(mat2)
    if x.type.ndim != 2 or y.type.ndim != 2:
        raise op_error("mm", [x.type, y.type], {}, "mm expects two 2-d tensors")
    return wrap(b.matmul(x, y))


@autocast_op
def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    x, y = node_of(input), node_of(mat2)
    if x.type.ndim != 3 or y.type.ndim != 3:
        raise op_error("bmm", [x.type, y.type], {}, "bmm expects two 3-d tensors")
    if not dims_equal(x.shape[0], y.shape[0]):
        raise op_error("bmm", [x.type, y.type], {}, f"batch sizes differ: {x.shape[0]} vs {y.shape[0]}")
    return wrap(b.matmul(x, y))


@autocast_op
def dot(input: Tensor, other: Tensor) -> Tensor:
    return matmul(input, other)


def outer(input: Tensor, vec2: Tensor) -> Tensor:
    return mul(unsqueeze(input, 1), unsqueeze(vec2, 0))


# ------------------------------------------------------------------ shapes


def _dim(x: Node, dim: int, extra: int = 0, op: str = "dim") -> int:
    ndim = x.type.ndim + extra
    limit = builtins.max(ndim, 1)
    if not -limit <= dim < limit:
        raise op_error(op, [x.type], {"dim": dim}, f"dimension {dim} is out of range (expected to be in [{-limit}, {limit - 1}])")
    return dim % limit


def _sizes(args: tuple) -> tuple:
    """Sizes given one by one or as one sequence; the function's own symbolic sizes (``x.size(0)``) as graphc's."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(symbolic_sizes.dims(tuple(args[0])))
    return tuple(symbolic_sizes.dims(args))


def reshape(input: Tensor, *shape: Any) -> Tensor:
    """A view of the input where torch's would be one (graphc/runtime/views.py), else a copy."""
    return _reshape(input, shape, None)


def view(input: Tensor, *shape: Any) -> Tensor:
    """A view of the input; refused where torch's layout of the input cannot give one, as torch."""
    return _reshape(input, shape, "view")


def _reshape(input: Tensor, shape: tuple, strict: str | None) -> Tensor:
    x = node_of(input)
    wanted = list(_sizes(shape))
    for d in wanted:
        if isinstance(d, bool) or not isinstance(d, (int, sympy.Expr)):
            raise op_error("reshape", [x.type], {"shape": tuple(wanted)}, f"sizes must be integers, got {d!r}")
    if wanted.count(-1) > 1:
        raise op_error("reshape", [x.type], {"shape": tuple(wanted)}, "only one dimension can be inferred")
    if -1 in wanted:
        known: Dim = 1
        for d in wanted:
            if not (isinstance(d, int) and d == -1):
                known = known * d
        total = x.type.numel
        if isinstance(known, int) and isinstance(total, int) and (known == 0 or total % known):
            raise op_error("reshape", [x.type], {"shape": tuple(wanted)}, f"shape {format_shape(tuple(wanted))} is invalid for input of size {total}")
        inferred = normalize_dim(total // known if isinstance(total, int) and isinstance(known, int) else total / known)
        if not _is_integer_size(inferred):
            message = f"cannot infer dimension -1: the symbolic size {total} is not a multiple of {known} (compile with dynamic=False)"
            raise op_error("reshape", [x.type], {"shape": tuple(wanted)}, message)
        wanted[wanted.index(-1)] = inferred
    return views.reshaped(input, wrap(b.reshape(x, wanted)), strict)


def _is_integer_size(size: Dim) -> bool:
    """False for a symbolic size with fractional coefficients (3*B/2, (B + Mod(3*B, 4))/4), which is whole only for some B.

    A floor or Mod in it is a whole number, so one more variable of the polynomial.
    """
    if isinstance(size, int):
        return True
    variables = size.atoms(sympy.floor, sympy.ceiling, sympy.Mod) | size.free_symbols
    try:
        return builtins.all(c.is_integer for c in sympy.Poly(size, *sorted(variables, key=sympy.default_sort_key)).coeffs())
    except sympy.PolynomialError:
        return False


def permute(input: Tensor, *dims: int) -> Tensor:
    x = node_of(input)
    perm = [_dim(x, d, op="permute") for d in _sizes(dims)]
    return views.permuted(input, wrap(emit("permute", x, perm=tuple(perm)) if perm != list(range(x.type.ndim)) else x), perm)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    x = node_of(input)
    perm = list(range(x.type.ndim))
    a, c = _dim(x, dim0, op="transpose"), _dim(x, dim1, op="transpose")
    perm[a], perm[c] = perm[c], perm[a]
    return views.permuted(input, wrap(b.permute(x, perm)), perm)


def t(input: Tensor) -> Tensor:
    x = node_of(input)
    if x.type.ndim > 2:
        raise op_error("t", [x.type], {}, "t() expects a tensor with <= 2 dimensions")
    return views.permuted(input, wrap(x), list(range(x.type.ndim))) if x.type.ndim < 2 else transpose(input, 0, 1)


def squeeze(input: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    x = node_of(input)
    if dim is None:
        dims = {i for i, d in enumerate(x.shape) if isinstance(d, int) and d == 1}
    else:
        dims = {_dim(x, d, op="squeeze") for d in ((dim,) if isinstance(dim, int) else dim)}
        dims = {d for d in dims if d < x.type.ndim and isinstance(x.shape[d], int) and x.shape[d] == 1}  # a 0-d x: dim 0 is its own
    return views.reshaped(input, wrap(b.reshape(x, [d for i, d in enumerate(x.shape) if i not in dims])), "squeeze")


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    x = node_of(input)
    axis = _dim(x, dim, extra=1, op="unsqueeze")
    shape = list(x.shape)
    shape.insert(axis, 1)
    return views.reshaped(input, wrap(b.reshape(x, shape)), "unsqueeze")


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    x = node_of(input)
    if x.type.ndim == 0:
        return views.reshaped(input, wrap(b.reshape(x, (1,))))
    start, end = _dim(x, start_dim, op="flatten"), _dim(x, end_dim, op="flatten")
    merged: Dim = 1
    for d in x.shape[start : end + 1]:
        merged = merged * d
    return views.reshaped(input, wrap(b.reshape(x, (*x.shape[:start], normalize_dim(merged), *x.shape[end + 1 :]))))


def unflatten(input: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    x = node_of(input)
    axis = _dim(x, dim, op="unflatten")
    return reshape(input, (*x.shape[:axis], *sizes, *x.shape[axis + 1 :]))


def expand(input: Tensor, *sizes: Any) -> Tensor:
    x = node_of(input)
    wanted = list(_sizes(sizes))
    offset = len(wanted) - x.type.ndim
    for i in range(x.type.ndim):
        if isinstance(wanted[offset + i], int) and wanted[offset + i] == -1:
            wanted[offset + i] = x.shape[i]
    return views.expanded(input, wrap(b.broadcast_to(x, wanted)))


def broadcast_to(input: Tensor, shape: Sequence[Any]) -> Tensor:
    return expand(input, tuple(shape))


def repeat(input: Tensor, *sizes: int) -> Tensor:
    x = node_of(input)
    reps = _sizes(sizes)
    x = b.reshape(x, (1,) * (len(reps) - x.type.ndim) + tuple(x.shape))
    tiled = b.expand(b.reshape(x, [v for d in x.shape for v in (1, d)]), [v for r, d in zip(reps, x.shape) for v in (r, d)])
    return wrap(b.reshape(tiled, [r * d for r, d in zip(reps, x.shape)]))


@autocast_op
def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    nodes = [node_of(t) for t in tensors]
    if not nodes:
        raise op_error("cat", [], {"dim": dim}, "expected a non-empty list of tensors")
    dtype = b.result_dtype(*nodes)  # empty tensors take part in the promotion, as in torch
    nodes = [n for n in nodes if not (n.type.ndim == 1 and n.shape[0] == 0)] or nodes[:1]
    nodes = [b.cast(n, dtype) for n in nodes]
    axis = _dim(nodes[0], dim, op="cat")
    first = nodes[0]
    for n in nodes[1:]:
        if n.type.ndim != first.type.ndim or not builtins.all(i == axis or dims_equal(p, q) for i, (p, q) in enumerate(zip(first.shape, n.shape))):
            raise op_error(
                "cat", [node_of(t).type for t in tensors], {"dim": dim},
                f"sizes of tensors must match except in dimension {axis}: {format_shape(first.shape)} vs {format_shape(n.shape)}",
            )
    return wrap(nodes[0] if len(nodes) == 1 else emit("concat", *nodes, axis=axis))


@autocast_op
def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    if not tensors:
        raise op_error("stack", [], {"dim": dim}, "expected a non-empty list of tensors")
    first = node_of(tensors[0])
    axis = _dim(first, dim, extra=1, op="stack")
    for t in tensors[1:]:
        if not shapes_equal(node_of(t).shape, first.shape):
            raise op_error("stack", [node_of(t).type for t in tensors], {"dim": dim}, "stack expects each tensor to be equal size")
    return cat([unsqueeze(t, axis) for t in tensors], axis)


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """torch.narrow: ``start`` may count from the end; the slice must lie within the axis."""
    x = node_of(input)
    axis = _dim(x, dim, op="narrow")
    size = x.shape[axis]
    if isinstance(start, int) and start < 0 and isinstance(size, int):
        start += size
    if length < 0 or start < 0 or (isinstance(size, int) and start + length > size):
        message = f"start ({start}) + length ({length}) exceeds dimension size ({size}), or is negative"
        raise op_error("narrow", [x.type], {"dim": dim, "start": start, "length": length}, message)
    start, length = symbolic_sizes.dims(start), symbolic_sizes.dims(length)
    return views.sliced(input, wrap(_slice_axis(x, axis, start, start + length)), axis, start, start + length)


def _slice_axis(x: Node, axis: int, start: Dim, stop: Dim, step: int = 1) -> Node:
    starts = tuple(start if i == axis else 0 for i in range(x.type.ndim))
    stops = tuple(stop if i == axis else d for i, d in enumerate(x.shape))
    steps = tuple(step if i == axis else 1 for i in range(x.type.ndim))
    if starts == (0,) * x.type.ndim and builtins.all(dims_equal(s, d) for s, d in zip(stops, x.shape)) and step == 1:
        return x
    return emit("slice", x, starts=starts, stops=stops, steps=steps)


def split(input: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    x = node_of(input)
    axis = _dim(x, dim, op="split")
    size = x.shape[axis]
    if isinstance(split_size_or_sections, symbolic_sizes.SymbolicSize):
        split_size_or_sections._specialize("split's split_size: the number of pieces")
    if isinstance(split_size_or_sections, int):
        if not isinstance(size, int):
            raise op_error("split", [x.type], {"dim": dim}, "split needs a static size along dim")
        step = split_size_or_sections
        if step < 0 or step == 0 and size != 0:
            raise op_error("split", [x.type], {"dim": dim}, f"split_size must be positive (it can only be 0 if the dimension size is 0), got {step}")
        sections = [builtins.min(step, size - s) for s in range(0, size, step)] or [0]
    else:
        sections = list(split_size_or_sections)
        if builtins.any(n < 0 for n in sections) or not dims_equal(symbolic_sizes.dims(builtins.sum(sections)), size):
            raise op_error("split", [x.type], {"dim": dim}, f"split sizes {sections} must be non-negative and sum exactly to {size}")
        sections = symbolic_sizes.dims(sections)
    out, offset = [], 0
    for length in sections:
        out.append(views.sliced(input, wrap(_slice_axis(x, axis, offset, offset + length)), axis, offset, offset + length, "split"))
        offset += length
    return tuple(out)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    x = node_of(input)
    size = x.shape[_dim(x, dim, op="chunk")]
    if chunks <= 0:
        raise op_error("chunk", [x.type], {"chunks": chunks}, f"chunks must be greater than 0, got {chunks}")
    if not isinstance(size, int):
        # A symbolic size splits only into equal parts it is known to divide into (2*B into two of B).
        part = sympy.cancel(size / chunks)
        if not part.is_integer:
            raise op_error("chunk", [x.type], {"chunks": chunks, "dim": dim}, f"chunk needs a static size along dim, or one that {chunks} divides")
        return split(input, [part] * chunks, dim)
    return split(input, -(-size // chunks), dim)


def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    return tuple(squeeze(part, dim) for part in split(input, 1, dim))


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """torch.nn.functional.pad (constant mode): pairs from the last dimension backwards."""
    if mode != "constant":
        raise op_error("pad", [node_of(input).type], {"pad": tuple(pad)}, f"only mode='constant' is supported, got {mode!r}")
    x = node_of(input)
    low, high = [0] * x.type.ndim, [0] * x.type.ndim
    for i in range(len(pad) // 2):
        low[x.type.ndim - 1 - i], high[x.type.ndim - 1 - i] = pad[2 * i], pad[2 * i + 1]
    amounts = [(_pad_and_crop(lo), _pad_and_crop(hi)) for lo, hi in zip(low, high)]
    for d, (lo, hi) in zip(x.shape, amounts):
        read = next((c for c in (lo[1], hi[1]) if isinstance(c, symbolic_sizes.SymbolicSize)), None)
        if read is not None and not symbolic_sizes.SymbolicSize(sympy.sympify(d), read.origin) >= lo[1] + hi[1]:
            raise op_error("pad", [x.type], {"pad": symbolic_sizes.dims(tuple(pad))}, f"the negative padding crops more than the size {d}")
    if builtins.any(not (isinstance(c, int) and c == 0) for pair in amounts for _, c in pair):
        starts = tuple(symbolic_sizes.dims(lo[1]) for lo, _ in amounts)
        stops = tuple(normalize_dim(d - symbolic_sizes.dims(hi[1])) for d, (_, hi) in zip(x.shape, amounts))
        x = emit("slice", x, starts=starts, stops=stops, steps=(1,) * x.type.ndim)
    low, high = symbolic_sizes.dims(tuple(lo[0] for lo, _ in amounts)), symbolic_sizes.dims(tuple(hi[0] for _, hi in amounts))
    return wrap(emit("pad", x, low=low, high=high, interior=(0,) * x.type.ndim, value=float(value)))


def _pad_and_crop(amount: Any) -> tuple[Any, Any]:
    """(max(0, amount), max(0, -amount)): a negative amount crops. A symbolic one (``-x.size(0) % 4``,
    ``2 - x.size(0)``) must be >= 0, or <= 0, for every batch size (both hold at 0), or it specializes."""
    if not isinstance(amount, symbolic_sizes.SymbolicSize):
        return max_(0, amount), max_(0, -amount)
    if symbolic_sizes.decide(amount.expr, 0, "ge"):
        return amount, 0
    if symbolic_sizes.decide(amount.expr, 0, "le"):
        return 0, -amount
    return amount._specialize("a padding, which crops where it is negative")


max_ = builtins.max


# ------------------------------------------------------------------ indexing


def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:
    x, idx = node_of(input), node_of(index)
    axis = _dim(x, dim, op="gather")
    if idx.type.ndim != x.type.ndim:
        raise op_error("gather", [x.type, idx.type], {"dim": dim}, "index must have as many dimensions as input")
    for i, (p, q) in enumerate(zip(x.shape, idx.shape)):
        if i != axis and isinstance(p, int) and isinstance(q, int) and q > p:
            raise op_error("gather", [x.type, idx.type], {"dim": dim}, f"index is larger than input along dimension {i} ({q} > {p})")
    if not builtins.all(dims_equal(p, q) for i, (p, q) in enumerate(zip(x.shape, idx.shape)) if i != axis):
        stops = tuple(x.shape[i] if i == axis else idx.shape[i] for i in range(x.type.ndim))
        x = emit("slice", x, starts=(0,) * x.type.ndim, stops=stops, steps=(1,) * x.type.ndim)
    return wrap(emit("gather", x, idx, axis=axis))


@autocast_op
def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """torch.scatter_add: the index may be smaller than ``src`` (which is cut to it) and than ``input``
    off ``dim`` (only that corner receives additions); the primitive wants one shape for all three."""
    x, idx, s = node_of(input), node_of(index), node_of(src)
    axis = _dim(x, dim, op="scatter_add")
    ndim = x.type.ndim

    def refuse(message: str) -> GraphcError:
        return op_error("scatter_add", [x.type, idx.type, s.type], {"dim": dim}, message)

    if not idx.type.ndim == s.type.ndim == ndim:
        raise refuse("index, src and input must have the same number of dimensions")
    for i, n in enumerate(idx.shape):
        if isinstance(n, int) and isinstance(s.shape[i], int) and n > s.shape[i]:
            raise refuse(f"index is larger than src along dimension {i} ({n} > {s.shape[i]})")
        if i != axis and isinstance(n, int) and isinstance(x.shape[i], int) and n > x.shape[i]:
            raise refuse(f"index is larger than input along dimension {i} ({n} > {x.shape[i]})")
    zeros = (0,) * ndim
    if not builtins.all(dims_equal(p, q) for p, q in zip(s.shape, idx.shape)):
        s = emit("slice", s, starts=zeros, stops=tuple(idx.shape), steps=(1,) * ndim)
    corner = tuple(x.shape[i] if i == axis else idx.shape[i] for i in range(ndim))
    if builtins.all(dims_equal(p, q) for p, q in zip(corner, x.shape)):
        return wrap(b.scatter_add(x, idx, s, axis))
    added = b.scatter_add(b.full(corner, 0, x.dtype), idx, s, axis)
    high = tuple(full - part for full, part in zip(x.shape, corner))
    spread = emit("pad", added, low=zeros, high=high, interior=zeros, value=0.0)
    return wrap(b.binary("or" if x.dtype == dtypes.bool_ else "add", x, spread))


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    x, idx = node_of(input), node_of(index)
    if idx.type.ndim == 0:
        idx = b.reshape(idx, (1,))
    return wrap(emit("index_select", x, idx, axis=_dim(x, dim, op="index_select")))


def one_hot(tensor: Tensor, num_classes: int) -> Tensor:
    idx = node_of(tensor)
    if idx.dtype not in (dtypes.int32, dtypes.int64):
        raise op_error("one_hot", [idx.type], {"num_classes": num_classes}, "one_hot is only applicable to index tensor of type LongTensor.")
    classes = emit("iota", shape=(*idx.shape, num_classes), axis=idx.type.ndim, dtype=idx.dtype)
    return wrap(b.cast(b.compare("eq", b.reshape(idx, (*idx.shape, 1)), classes), dtypes.int64))


def getitem(input: Tensor, key: Any) -> Tensor:
    from graphc.frontend.indexing import index

    return index(input, key)


def clone(input: Tensor) -> Tensor:
    """A new value, as torch's: not the input's node, so it is not a leaf, and its buffer is its own.

    Multiplying by a one of the input's dtype is exact for every value (NaN, -0.0, bools)."""
    x = node_of(input)
    return wrap(b.binary("mul", x, b.constant(1, x.dtype)))


def detach(input: Tensor) -> Tensor:
    """The input's values without history; torch's shares the input's storage, so writes to it reach the input (unrecorded)."""
    x = node_of(input)
    return views.detached(input, wrap(x if x.data is not None and not x.requires_grad else emit("detach", x)))


def rand_uniform(shape: Sequence[Any], dtype: DType = dtypes.float32) -> Tensor:
    """Uniform [0, 1) samples as a graph op (a ``rand`` node whose seed is redrawn on every compiled call)."""
    from graphc.runtime.random import seed_node

    return wrap(emit("rand", seed_node(), shape=tuple(shape), dtype=dtype))


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    if not 0.0 <= p <= 1.0:
        raise GraphcError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    x = node_of(input)
    if p == 1.0:  # torch's input * 0: a zero gradient (zeros_like had none), NaN where the input is infinite
        return wrap(b.mul(x, 0.0))
    keep = b.compare("ge", node_of(rand_uniform(x.shape, x.dtype)), p)
    return wrap(b.where(keep, b.mul(x, 1.0 / (1.0 - p)), 0.0))


def cast(input: Tensor, dtype: DType) -> Tensor:
    return wrap(b.cast(node_of(input), dtype))
