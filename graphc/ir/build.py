"""Building nodes the way PyTorch users write ops: promotion, broadcasting, scalars.

Primitives are strict (a binary op takes two operands of one shape and dtype), so
autodiff and the code generators never have to think about broadcasting. This
module is where PyTorch's conveniences are turned into explicit ``cast``,
``reshape`` and ``expand`` nodes. The front end and the VJP rules both build
through it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Union

from graphc.errors import GraphcError
from graphc.ir import dtypes
from graphc.ir.dtypes import DType
from graphc.ir.graph import Node
from graphc.ir.registry import emit, op_error
from graphc.ir.types import Shape, TypeRuleError, broadcast_shapes, dims_equal, format_shape, normalize_shape, shapes_equal

Operand = Union[Node, bool, int, float]


def constant(value: bool | int | float, dtype: DType) -> Node:
    if dtype.category == 0:
        value = bool(value)
    elif dtype.category == 1:
        value = int(value)
        if not -(2**63) <= value < 2**63:
            raise GraphcError(f"the integer {value} does not fit in int64")
        low, high = dtype.bounds  # wrap around as torch does (int32 tensor + 2**31, uint8 tensor - 1)
        value = (value - low) % (high - low + 1) + low
    else:
        value = float(value)
    return emit("constant", value=value, dtype=dtype)


def full(shape: Shape, value: bool | int | float, dtype: DType) -> Node:
    return broadcast_to(constant(value, dtype), shape)


def full_like(x: Node, value: bool | int | float) -> Node:
    return full(x.shape, value, x.dtype)


def zeros_like(x: Node) -> Node:
    return full_like(x, 0)


def cast(x: Node, dtype: DType) -> Node:
    return x if x.dtype == dtype else emit("cast", x, dtype=dtype)


def scatter_add(x: Node, index: Node, src: Node, axis: int) -> Node:
    """The scatter_add primitive; small integers add in int32 and wrap back (the same sums modulo
    their range), as Triton has no atomic add of 8- and 16-bit integers."""
    if x.dtype.is_integer and x.dtype.itemsize < 4:
        return cast(emit("scatter_add", cast(x, dtypes.int32), index, cast(src, dtypes.int32), axis=axis), x.dtype)
    return emit("scatter_add", x, index, src, axis=axis)


def reshape(x: Node, shape: Sequence[object]) -> Node:
    shape = normalize_shape(shape)
    return x if shapes_equal(x.shape, shape) else emit("reshape", x, shape=shape)


def expand(x: Node, shape: Sequence[object]) -> Node:
    shape = normalize_shape(shape)
    return x if shapes_equal(x.shape, shape) else emit("expand", x, shape=shape)


def permute(x: Node, perm: Sequence[int]) -> Node:
    perm = tuple(int(p) for p in perm)
    return x if perm == tuple(range(x.type.ndim)) else emit("permute", x, perm=perm)


def broadcast_to(x: Node, shape: Sequence[object]) -> Node:
    shape = normalize_shape(shape)
    if len(shape) < x.type.ndim:
        raise op_error("expand", [x.type], {"shape": shape}, "the target shape has fewer dimensions than the tensor")
    for i, (have, want) in enumerate(zip(x.shape, shape[len(shape) - x.type.ndim :])):
        if not (dims_equal(have, want) or (isinstance(have, int) and have == 1)):
            message = f"the expanded size {want} must match the existing size {have} at non-singleton dimension {i + len(shape) - x.type.ndim}"
            raise op_error("expand", [x.type], {"shape": shape}, message)
    aligned = reshape(x, (1,) * (len(shape) - x.type.ndim) + tuple(x.shape))
    return expand(aligned, shape)


def sum_to_shape(x: Node, shape: Shape) -> Node:
    """Undo broadcasting: sum ``x`` down to ``shape`` (the gradient of ``broadcast_to``)."""
    lead = x.type.ndim - len(shape)
    axes = list(range(lead))
    for i, d in enumerate(shape):
        if isinstance(d, int) and d == 1 and not (isinstance(x.shape[lead + i], int) and x.shape[lead + i] == 1):
            axes.append(lead + i)
    if axes:
        x = emit("sum", x, axes=tuple(axes), keepdim=True)
    return reshape(x, shape)


def result_dtype(*operands: Operand) -> DType:
    """torch's promotion; a ``size`` node is a size the function read (``x.size(0)``, a Python int
    in eager torch): a wrapped number, so ``int32_0d * x.size(0)`` stays int32, as torch's."""
    dim, zero, scalars = [], [], []
    for operand in operands:
        if isinstance(operand, Node) and operand.op == "size":
            scalars.append(operand.dtype)
        elif isinstance(operand, Node):
            (dim if operand.type.ndim > 0 else zero).append(operand.dtype)
        else:
            scalars.append(dtypes.scalar_dtype(operand))
    return dtypes.result_type(dim, zero, scalars)


def operand_types(operands: Sequence[Operand]) -> list:
    from graphc.ir.types import TensorType

    return [o.type if isinstance(o, Node) else TensorType((), dtypes.scalar_dtype(o)) for o in operands]


def common_shape(op: str, operands: Sequence[Operand]) -> Shape:
    shape: Shape = ()
    for operand in operands:
        if isinstance(operand, Node):
            try:
                shape = broadcast_shapes(shape, operand.shape)
            except TypeRuleError as error:
                raise op_error(op, operand_types(operands), {}, str(error)) from None
    return shape


def coerce(op: str, operands: Sequence[Operand], dtype: DType) -> list[Node]:
    """Cast every operand to ``dtype`` and broadcast them to their common shape."""
    shape = common_shape(op, operands)
    nodes = []
    for operand in operands:
        node = cast(operand, dtype) if isinstance(operand, Node) else constant(operand, dtype)
        nodes.append(broadcast_to(node, shape))
    return nodes


def _float_dtype(dtype: DType) -> DType:
    return dtype if dtype.is_floating_point else dtypes.DEFAULT_FLOAT


def binary(op: str, a: Operand, b: Operand) -> Node:
    """An arithmetic binary op with PyTorch promotion; true division always gives floats."""
    if not isinstance(a, Node) and not isinstance(b, Node):
        raise GraphcError(f"{op}: at least one operand must be a tensor")
    dtype = result_dtype(a, b)
    if op == "div":
        dtype = _float_dtype(dtype)
    if op in ("and", "or"):
        dtype = dtypes.bool_
    if dtype == dtypes.bool_ and op in ("add", "mul"):
        op = "or" if op == "add" else "and"  # torch's bool add/mul; an integer add of bools would wrap
    if dtype in (dtypes.float16, dtypes.bfloat16) and _number_kept_in_float32(op, a, b):
        x, y = coerce(op, [a, b], dtypes.float32)
        return cast(emit(op, x, y), dtype)
    x, y = coerce(op, [a, b], dtype)
    return emit(op, x, y)


def _number_kept_in_float32(op: str, a: Operand, b: Operand) -> bool:
    """Whether torch computes this half-precision op with its Python number unrounded.

    torch multiplies by a number, and divides by one, with the number in float32 (its
    "opmath" scalar), so ``bf16 * 0.998`` is ``bf16(float32(x) * 0.998)``; its add, sub and
    comparisons round the number to the tensor's dtype first, as graphc's constants are.
    """
    if op == "mul":
        return not isinstance(a, Node) or not isinstance(b, Node)
    return op == "div" and not isinstance(b, Node)


def compare(op: str, a: Operand, b: Operand) -> Node:
    dtype = result_dtype(a, b)
    x, y = coerce(op, [a, b], dtype)
    return emit(op, x, y)


FLOAT_UNARY = frozenset({"exp", "log", "sqrt", "rsqrt", "sin", "cos", "tanh", "erf", "reciprocal", "sigmoid", "log1p", "atan", "expm1", "exp2", "log2"})
# Integers are whole already: rounding one is the value itself, as in torch (which refuses bools).
ROUNDING = frozenset({"floor", "ceil", "round", "trunc"})


def unary(op: str, x: Node) -> Node:
    if op in FLOAT_UNARY:
        x = cast(x, _float_dtype(x.dtype))
    if op == "logical_not":
        x = cast(x, dtypes.bool_)
    if op in ROUNDING and x.dtype.is_integer:
        return x
    return emit(op, x)


def round_decimals(x: Node, decimals: int) -> Node:
    """torch.round(x, decimals=d): rint(x * 10**d) / 10**d, or rint(x / 10**-d) * 10**-d for d < 0.

    As torch, half precision is computed in float32 and rounded once at the end, and the
    power of ten is a double rounded to the computing dtype.
    """
    if decimals == 0:
        return unary("round", x)
    computing = x.dtype if x.dtype in (dtypes.float32, dtypes.float64) else dtypes.float32
    scale = float(10 ** abs(decimals)) if abs(decimals) <= 308 else float("inf")
    y = cast(x, computing)
    if decimals > 0:
        rounded = div(unary("round", mul(y, scale)), scale)
    else:
        rounded = mul(unary("round", div(y, scale)), scale)
    return cast(rounded, x.dtype)


def divide(a: Operand, b: Operand, rounding_mode: str | None = None) -> Node:
    """torch.div(a, b, rounding_mode=...): true division, or rounded ("floor", "trunc") with a zero gradient.

    "floor" is the ``floor_divide`` primitive. "trunc" is ``trunc(a / b)`` for floats, as
    torch computes it, with a zero gradient stated (``custom_vjp``): through ``div`` it would
    be ``0 / 0`` where b is 0. Integers divide exactly, never through float:
    ``floor_divide(a - fmod(a, b), b)``, the numerator being a multiple of b.
    """
    if rounding_mode is None:
        return div(a, b)
    if rounding_mode not in ("floor", "trunc"):
        message = f"expected rounding_mode to be one of None, 'trunc', or 'floor' but found {rounding_mode!r}"
        raise op_error("div", operand_types([a, b]), {"rounding_mode": rounding_mode}, message)
    if rounding_mode == "floor":
        return binary("floor_divide", a, b)
    dtype = result_dtype(a, b)
    if dtype == dtypes.bool_:
        raise op_error("div", operand_types([a, b]), {"rounding_mode": rounding_mode}, "rounding division is not defined for bool tensors")
    x, y = coerce("div", [a, b], dtype)
    if not dtype.is_floating_point:
        return emit("floor_divide", emit("sub", x, emit("fmod", x, y)), y)
    quotient = unary("trunc", emit("div", x, y))
    return emit("custom_vjp", quotient, x, y, rule="zero_gradient") if quotient.requires_grad else quotient


def add(a: Operand, b: Operand) -> Node:
    return binary("add", a, b)


def sub(a: Operand, b: Operand) -> Node:
    return binary("sub", a, b)


def mul(a: Operand, b: Operand) -> Node:
    return binary("mul", a, b)


def div(a: Operand, b: Operand) -> Node:
    return binary("div", a, b)


def neg(x: Node) -> Node:
    return emit("neg", x)


def where(condition: Operand, a: Operand, b: Operand) -> Node:
    dtype = result_dtype(a, b)
    shape = common_shape("where", [condition, a, b])
    cond = condition if isinstance(condition, Node) else constant(bool(condition), dtypes.bool_)
    cond = broadcast_to(cast(cond, dtypes.bool_), shape)
    x, y = coerce("where", [a, b], dtype)
    return emit("where", cond, broadcast_to(x, shape), broadcast_to(y, shape))


def normalize_axes(x: Node, dim: int | Sequence[int] | None, op: str = "reduce") -> tuple[int, ...]:
    ndim = x.type.ndim
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        limit = max(ndim, 1)
        if not -limit <= d < limit:
            raise op_error(op, [x.type], {"dim": dim}, f"dimension {d} is out of range for a {ndim}-d tensor")
        out.append(d % limit if ndim else 0)
    return tuple(sorted(set(out))) if ndim else ()


def reduce(op: str, x: Node, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Node:
    axes = normalize_axes(x, dim, op)
    if op == "sum" and x.dtype.category < 2:
        x = cast(x, dtypes.int64)
    return emit(op, x, axes=axes, keepdim=keepdim)


def matmul_then(a: Node, b: Node, epilogue: Callable[[Node], Node]) -> Node:
    """``epilogue(a @ b)`` (a bias add, addmm's scaling): half operands keep the product's float32
    accumulator through the epilogue and round once, as torch's linear and addmm (rounding the
    product first put 29% of a bfloat16 linear's elements an ulp off torch's)."""
    if a.dtype in (dtypes.float16, dtypes.bfloat16):
        return cast(epilogue(matmul(a, b, out_dtype=dtypes.float32)), a.dtype)
    return epilogue(matmul(a, b))


def matmul(a: Node, b: Node, out_dtype: DType | None = None) -> Node:
    """torch.matmul: 1-d operands are promoted and squeezed, batch dimensions broadcast."""
    if a.type.ndim == 0 or b.type.ndim == 0:
        raise op_error("matmul", [a.type, b.type], {}, "both arguments to matmul need at least 1 dimension")
    if a.dtype != b.dtype:
        raise op_error("matmul", [a.type, b.type], {}, f"expected both operands to have the same dtype, got {a.dtype.name} and {b.dtype.name}")
    inner_b = b.shape[0] if b.type.ndim == 1 else b.shape[-2]
    if not dims_equal(a.shape[-1], inner_b):
        raise op_error(
            "matmul", [a.type, b.type], {},
            f"shapes cannot be multiplied ({format_shape(a.shape)} and {format_shape(b.shape)}): inner dimensions {a.shape[-1]} and {inner_b} differ",
        )
    squeeze_rows = a.type.ndim == 1
    squeeze_cols = b.type.ndim == 1
    if squeeze_rows:
        a = reshape(a, (1, a.shape[0]))
    if squeeze_cols:
        b = reshape(b, (b.shape[0], 1))
    try:
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except TypeRuleError as error:
        raise op_error("matmul", [a.type, b.type], {}, str(error)) from None
    a = broadcast_to(a, batch + tuple(a.shape[-2:]))
    b = broadcast_to(b, batch + tuple(b.shape[-2:]))
    out = emit("matmul", a, b, **({"out_dtype": out_dtype} if out_dtype is not None else {}))
    shape = list(out.shape)
    if squeeze_cols:
        shape.pop(-1)
    if squeeze_rows:
        shape.pop(-2 if not squeeze_cols else -1)
    return reshape(out, shape)


def transpose_last(x: Node) -> Node:
    perm = list(range(x.type.ndim))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return permute(x, perm)
