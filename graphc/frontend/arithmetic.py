"""torch's remaining elementwise arithmetic: copysign, fmax/fmin, logaddexp/logaddexp2, ldexp, frexp,
nextafter, gcd/lcm, addr, renorm, negative/positive, and the comparison aliases (greater, less, ...).

All are composites of existing primitives (docs/decisions.md, "The torch.Tensor long tail"):
frexp and nextafter read a float's exponent with ``log2`` and correct it by one step, which is
exact, and gcd runs Euclid's algorithm unrolled to the longest chain a dtype allows.
"""

from __future__ import annotations

import math
from typing import Any

from graphc.frontend.autocast_policy import autocast_op
from graphc.frontend.functional import (
    TensorLike,
    ge,
    gt,
    le,
    lt,
    ne,
    neg,
    node_of,
    unwrap,
    wrap,
)
from graphc.ir import build as b
from graphc.ir import composites as c
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import emit, op_error
from graphc.runtime.tensor import Tensor

METHODS = """
copysign fmax fmin logaddexp logaddexp2 ldexp frexp nextafter gcd lcm addr renorm negative positive
greater greater_equal less less_equal not_equal hardshrink prelu
""".split()
IN_PLACE = "copysign logaddexp logaddexp2 ldexp gcd lcm addr renorm negative nextafter".split()

greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne

# (significand bits, the exponent of the smallest subnormal) per float dtype, for frexp and nextafter.
_FLOAT_BITS = {
    dtypes.float16: (11, -24),
    dtypes.bfloat16: (8, -133),
    dtypes.float32: (24, -149),
    dtypes.float64: (53, -1074),
}


def _promoted(op: str, input: TensorLike, other: TensorLike) -> tuple[Node, Node]:
    """Both operands in their promoted dtype, broadcast."""
    x, y = unwrap(input), unwrap(other)
    dtype = b.result_dtype(x, y)
    left, right = b.coerce(op, [x, y], dtype)
    return left, right


def _floats_only(op: str, *nodes: Node) -> None:
    for x in nodes:
        if not x.dtype.is_floating_point:
            raise op_error(op, [n.type for n in nodes], {}, f"{op} is not implemented for {x.dtype.name} tensors (as in torch)")


def negative(input: Tensor) -> Tensor:
    """-input; torch refuses bool tensors (use logical_not)."""
    x = node_of(input)
    if x.dtype == dtypes.bool_:
        raise op_error("negative", [x.type], {}, "negation on a bool tensor is not supported; use ~ or logical_not() to invert a mask")
    return neg(input)


def positive(input: Tensor) -> Tensor:
    """input itself, as torch's (which refuses bool tensors)."""
    x = node_of(input)
    if x.dtype == dtypes.bool_:
        raise op_error("positive", [x.type], {}, "the + operator on a bool tensor is not supported")
    return input


def copysign(input: TensorLike, other: TensorLike) -> Tensor:
    """|input| with the sign of ``other`` (-0.0 counts as negative), in a float dtype; ``other`` gets no gradient, as torch's."""
    x, y = c.float_operands("copysign", unwrap(input), unwrap(other))
    magnitude = b.unary("abs", emit("detach", x))
    value = b.where(c.signbit(y), b.neg(magnitude), magnitude)
    return wrap(emit("custom_vjp", value, x, y, rule="copysign") if x.requires_grad or y.requires_grad else value)


def fmax(input: TensorLike, other: TensorLike) -> Tensor:
    """The larger of the two, ignoring a NaN (NaN only where both are); torch's gradient split by the same choice."""
    x, y = _promoted("fmax", input, other)
    return wrap(b.where(b.binary("or", c.isnan(y), b.compare("ge", x, y)), x, y))


def fmin(input: TensorLike, other: TensorLike) -> Tensor:
    """The smaller of the two, ignoring a NaN (NaN only where both are)."""
    x, y = _promoted("fmin", input, other)
    return wrap(b.where(b.binary("or", c.isnan(y), b.compare("le", x, y)), x, y))


def _logaddexp(op: str, input: TensorLike, other: TensorLike, base2: bool) -> Tensor:
    x, y = _promoted(op, input, other)
    _floats_only(op, x, y)
    return wrap(_log_add_exp(x, y, base2=base2))


@c.half_in_float32
def _log_add_exp(x: Node, y: Node, base2: bool) -> Node:
    """torch's kernel: max + log1p(exp(-|a - b|)), and the infinity itself where both are the same
    infinity; half precision in float32, rounded once."""
    top = b.binary("maximum", x, y)
    gap = b.neg(b.unary("abs", b.sub(x, y)))
    tail = b.div(b.unary("log1p", b.unary("exp2", gap)), math.log(2)) if base2 else b.unary("log1p", b.unary("exp", gap))
    same_infinity = b.binary("and", c.isinf(x), b.compare("eq", x, y))
    return b.where(same_infinity, x, b.add(top, tail))


def logaddexp(input: TensorLike, other: TensorLike) -> Tensor:
    """log(exp(input) + exp(other)) without overflow."""
    return _logaddexp("logaddexp", input, other, base2=False)


def logaddexp2(input: TensorLike, other: TensorLike) -> Tensor:
    """log2(2**input + 2**other) without overflow."""
    return _logaddexp("logaddexp2", input, other, base2=True)


def ldexp(input: TensorLike, other: TensorLike) -> Tensor:
    """input * 2**other in the operands' promoted float dtype (float16 stays float16, as torch's)."""
    x, e = c.float_operands("ldexp", unwrap(input), unwrap(other))
    return wrap(b.mul(x, b.binary("pow", 2.0, e)))


def _times_power_of_two(x: Node, exponent: Node) -> Node:
    """x * 2**exponent exactly (an integer-valued float exponent up to twice the dtype's range): by two
    factors, neither of which over- or underflows where the product does not."""
    half = b.unary("floor", b.div(exponent, 2.0))
    return b.mul(b.mul(x, b.unary("exp2", half)), b.unary("exp2", b.sub(exponent, half)))


def _frexp(x: Node) -> tuple[Node, Node]:
    """(|x| scaled into [0.5, 1), its exponent) as floats of x's dtype, for finite nonzero x.

    ``floor(log2|x|)`` may be one off just below a power of two; the scaled value shows it, and one
    step corrects it. Scaling by a power of two is exact.
    """
    a = b.unary("abs", x)
    safe = b.where(b.binary("and", b.compare("gt", a, 0), c.isfinite(a)), a, 1.0)
    exponent = b.add(b.unary("floor", b.unary("log2", safe)), 1.0)
    scaled = _times_power_of_two(safe, b.neg(exponent))
    high = b.compare("ge", scaled, 1.0)
    low = b.compare("lt", scaled, 0.5)
    scaled = b.where(high, b.mul(scaled, 0.5), b.where(low, b.mul(scaled, 2.0), scaled))
    exponent = b.where(high, b.add(exponent, 1.0), b.where(low, b.sub(exponent, 1.0), exponent))
    return scaled, exponent


class Frexp(tuple):
    """(mantissa, exponent), readable by name as torch.return_types.frexp."""

    def __new__(cls, mantissa: Tensor, exponent: Tensor) -> Frexp:
        return super().__new__(cls, (mantissa, exponent))

    @property
    def mantissa(self) -> Tensor:
        return self[0]

    @property
    def exponent(self) -> Tensor:
        return self[1]


def frexp(input: Tensor) -> Frexp:
    """input = mantissa * 2**exponent with |mantissa| in [0.5, 1) and an int32 exponent; 0, inf and NaN
    are their own mantissa with exponent 0, as torch. The mantissa's gradient is ``g / 2**exponent``, as torch's."""
    x = node_of(input)
    _floats_only("frexp", x)
    work = b.cast(x, dtypes.float32) if x.dtype in c.HALF else x
    _, exponent = _frexp(emit("detach", work))
    special = b.binary("or", b.compare("eq", work, 0), b.unary("logical_not", c.isfinite(work)))
    mantissa = b.cast(b.where(special, work, _times_power_of_two(work, b.neg(exponent))), x.dtype)
    exponent = b.cast(b.where(special, 0.0, exponent), dtypes.int32)
    return Frexp(wrap(mantissa), wrap(exponent))


def nextafter(input: Tensor, other: Tensor) -> Tensor:
    """The next float after ``input`` towards ``other``, exactly, from frexp's exponent: a step of one
    unit in the last place (half of one below a power of two towards zero), never below the smallest
    subnormal. torch's result requires grad but has no derivative; so does this one."""
    x, y = _promoted("nextafter", input, other)
    _floats_only("nextafter", x, y)
    dtype = x.dtype
    bits, tiniest = _FLOAT_BITS[dtype]
    work_x, work_y = (b.cast(v, dtypes.float32) for v in (x, y)) if dtype in c.HALF else (x, y)
    wx, wy = emit("detach", work_x), emit("detach", work_y)
    scaled, exponent = _frexp(wx)
    towards_zero = b.compare("lt", b.mul(wx, b.sub(wy, wx)), 0)
    at_power = b.binary("and", towards_zero, b.compare("eq", scaled, 0.5))
    step_exponent = b.sub(exponent, b.where(at_power, float(bits + 1), float(bits)))
    step = _times_power_of_two(b.full_like(wx, 1.0), b.binary("maximum", step_exponent, float(tiniest)))
    direction = b.where(b.compare("gt", wy, wx), b.full_like(wx, 1.0), b.full_like(wx, -1.0))  # of x's dtype, not a scalar's
    moved = b.add(wx, b.mul(direction, step))
    top = b.full_like(wx, c.largest(dtype))
    from_zero = b.mul(direction, b.unary("exp2", b.full_like(wx, float(tiniest))))
    from_infinity = b.where(b.compare("gt", wx, 0), top, b.neg(top))
    moved = b.where(b.compare("eq", moved, 0), b.mul(wx, 0.0), moved)  # -tiny towards 0 is -0.0 (x + -x is +0.0)
    result = b.where(b.compare("eq", wx, 0), from_zero, b.where(c.isinf(wx), from_infinity, moved))
    result = b.where(b.compare("eq", wx, wy), wy, result)
    result = b.where(b.binary("or", c.isnan(wx), c.isnan(wy)), math.nan, result)
    result = b.cast(result, dtype)
    if x.requires_grad or y.requires_grad:
        result = emit("custom_vjp", result, x, y, rule="nextafter_no_derivative")
    return wrap(result)


def _euclid_steps(dtype: dtypes.DType) -> int:
    """The longest run of Euclid's algorithm within a dtype: n - 1 for the first Fibonacci number F(n)
    past its largest value (consecutive Fibonacci numbers take longest: 46 steps for int32, 92 for int64)."""
    n, previous, current = 1, 0, 1
    while current <= dtype.bounds[1]:
        n, previous, current = n + 1, current, previous + current
    return n - 1


def _integers_only(op: str, x: Node, y: Node) -> None:
    for v in (x, y):
        if not v.dtype.is_integer:
            raise op_error(op, [x.type, y.type], {}, f"{op} is not implemented for {v.dtype.name} tensors (integers only, as in torch)")


def _gcd(x: Node, y: Node) -> Node:
    a, r = b.unary("abs", x), b.unary("abs", y)
    for _ in range(_euclid_steps(x.dtype)):
        done = b.compare("eq", r, 0)
        remainder = b.binary("remainder", a, b.where(done, 1, r))
        a, r = b.where(done, a, r), b.where(done, r, remainder)
    return a


def gcd(input: Tensor, other: Tensor) -> Tensor:
    """The non-negative greatest common divisor of integers (gcd(0, 0) = 0)."""
    x, y = _promoted("gcd", input, other)
    _integers_only("gcd", x, y)
    return wrap(_gcd(x, y))


def lcm(input: Tensor, other: Tensor) -> Tensor:
    """|input / gcd * other|, 0 where either is 0, as torch's kernel."""
    x, y = _promoted("lcm", input, other)
    _integers_only("lcm", x, y)
    divisor = _gcd(x, y)
    zero = b.compare("eq", divisor, 0)
    quotient = b.divide(x, b.where(zero, 1, divisor), rounding_mode="trunc")
    return wrap(b.where(zero, 0, b.unary("abs", b.mul(quotient, y))))


@autocast_op
def addr(input: Tensor, vec1: Tensor, vec2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """beta * input + alpha * outer(vec1, vec2); with beta == 0 the input is ignored (NaN too)."""
    from graphc.frontend.functional import outer
    from graphc.frontend.linalg import _scaled_sum

    u, v = node_of(vec1), node_of(vec2)
    if u.type.ndim != 1 or v.type.ndim != 1:
        raise op_error("addr", [u.type, v.type], {}, f"addr needs 1-d vectors, got {u.type.ndim}-d and {v.type.ndim}-d")
    return _scaled_sum("addr", input, outer(vec1, vec2), beta, alpha)


@autocast_op
def renorm(input: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    """Each slice along ``dim`` whose p-norm exceeds ``maxnorm`` scaled down to it: torch's factor
    ``maxnorm / (norm + 1e-7)``, differentiated through the norm as torch's."""
    from graphc.frontend.functional import _dim
    from graphc.frontend.linalg import vector_norm

    x = node_of(input)
    _floats_only("renorm", x)
    if p <= 0:
        raise op_error("renorm", [x.type], {"p": p}, f"non-positive norm {p} is not supported")
    if maxnorm < 0:
        raise op_error("renorm", [x.type], {"maxnorm": maxnorm}, f"maxnorm must be non-negative, got {maxnorm}")
    axis = _dim(x, dim, op="renorm")
    others = [i for i in range(x.type.ndim) if i != axis]
    norm = node_of(vector_norm(input, p, others, keepdim=True)) if others else b.unary("abs", x)
    factor = b.where(b.compare("gt", norm, maxnorm), b.div(maxnorm, b.add(norm, 1e-7)), 1.0)
    return wrap(b.mul(x, b.cast(factor, x.dtype)))


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    from graphc.runtime.nn.functional import hardshrink as shrink

    return shrink(input, lambd)


@autocast_op
def prelu(input: Tensor, weight: Tensor) -> Tensor:
    from graphc.runtime.nn.functional import prelu as parametric

    return parametric(input, weight)

