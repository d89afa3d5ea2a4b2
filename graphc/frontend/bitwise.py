"""torch's bit operations on integers that arithmetic computes exactly: bitwise_not (``~``),
bitwise_left_shift (``<<``) and bitwise_right_shift (``>>``).

They need no bit primitive (``&``, ``|`` and ``^`` have theirs): in two's complement
``~x == -x - 1``, ``x << n == x * 2**n`` (wrapping, as the multiplication does) and
``x >> n == floor(x / 2**n)`` (arithmetic shift).
Shifts by a negative amount or by the width of the dtype or more give torch's results:
0 for a left shift, 0 or -1 (by the sign) for a right shift.
"""

from __future__ import annotations

from graphc.frontend.functional import TensorLike, logical_not, node_of, unwrap, wrap
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import op_error
from graphc.runtime.tensor import Tensor

METHODS = "bitwise_not bitwise_left_shift bitwise_right_shift".split()
IN_PLACE = METHODS


def bitwise_not(input: Tensor) -> Tensor:
    """~x: the logical not of bools, -x - 1 for integers."""
    x = node_of(input)
    if x.dtype == dtypes.bool_:
        return logical_not(input)
    if not x.dtype.is_integer:
        raise op_error("bitwise_not", [x.type], {}, f"bitwise_not (~) is only implemented on integer and bool tensors, got {x.dtype.name}")
    return wrap(b.sub(b.neg(x), 1))


def _shift_operands(op: str, input: TensorLike, other: TensorLike) -> tuple[Node, Node, int]:
    """Both operands in their promoted integer dtype, broadcast, and the dtype's width in bits."""
    x, y = unwrap(input), unwrap(other)
    dtype = b.result_dtype(x, y)
    if not dtype.is_integer:
        types = [v.type for v in (x, y) if isinstance(v, Node)]
        raise op_error(op, types, {}, f"{op} is only implemented on integer tensors, not {dtype.name}")
    value, amount = b.coerce(op, [x, y], dtype)
    return value, amount, 8 * dtype.itemsize


def _power_of_two(amount: Node, largest: int) -> Node:
    """2**amount as an integer of amount's dtype, for amount clamped to [0, largest] (exact through float64)."""
    clamped = b.binary("minimum", b.binary("maximum", amount, 0), largest)
    return b.cast(b.unary("exp2", b.cast(clamped, dtypes.float64)), amount.dtype)


def bitwise_left_shift(input: TensorLike, other: TensorLike) -> Tensor:
    """input << other: input * 2**other, wrapping as torch's; 0 for shifts out of [0, bits)."""
    x, n, bits = _shift_operands("bitwise_left_shift", input, other)
    shifted = b.mul(x, _power_of_two(n, bits - 2))
    shifted = b.where(b.compare("eq", n, bits - 1), b.mul(shifted, 2), shifted)  # 2**(bits - 1) is no integer of the dtype
    outside = b.binary("or", b.compare("lt", n, 0), b.compare("ge", n, bits))
    return wrap(b.where(outside, 0, shifted))


def bitwise_right_shift(input: TensorLike, other: TensorLike) -> Tensor:
    """input >> other: floor(input / 2**other); longer shifts give 0 or -1 by the sign, as torch's.

    A signed dtype's largest power of two is 2**(bits - 2) (a shift by bits - 1 leaves the sign);
    uint8's is 2**(bits - 1), and 200 >> 7 is 1.
    """
    x, n, bits = _shift_operands("bitwise_right_shift", input, other)
    largest = bits - 2 if x.dtype.is_signed else bits - 1
    shifted = b.divide(x, _power_of_two(n, largest), rounding_mode="floor")
    outside = b.binary("or", b.compare("lt", n, 0), b.compare("gt", n, largest))
    sign = b.where(b.compare("lt", x, 0), b.full_like(x, -1), b.full_like(x, 0))  # of x's dtype, not a scalar's
    return wrap(b.where(outside, sign, shifted))
