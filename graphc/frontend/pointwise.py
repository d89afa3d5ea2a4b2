"""torch's elementwise math beyond the basic set: trigonometric and hyperbolic functions and their
inverses, exp2/expm1/log10/logit/sinc, atan2/hypot/xlogy/float_power, heaviside and sign bits,
addcmul/addcdiv, clamp_min/clamp_max, nan_to_num and the float classifications, isclose/allclose/equal.

``atan``, ``expm1``, ``exp2`` and ``log2`` are primitives; the rest are composites of primitives built in
``graphc.ir.composites`` (shared with the torch importer), so autodiff, fusion and both
backends need nothing new. docs/decisions.md ("Elementwise math") says why each is what it is.
Integer and bool inputs of float functions compute in the default float, as in torch.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable

from graphc.frontend.autocast_policy import autocast_op
from graphc.frontend.functional import (  # noqa: F401  (the in-place twins of these are registered from IN_PLACE)
    Scalar,
    TensorLike,
    abs,
    clamp,
    cos,
    erf,
    exp,
    log,
    log1p,
    log2,
    neg,
    node_of,
    reciprocal,
    relu,
    rsqrt,
    sigmoid,
    sign,
    sin,
    sqrt,
    square,
    tanh,
    unwrap,
    wrap,
)
from graphc.frontend.functional import all as every
from graphc.ir import build as b
from graphc.ir import composites as c
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import op_error
from graphc.ir.types import shapes_equal
from graphc.runtime.tensor import Tensor

METHODS = """
tan asin arcsin acos arccos atan arctan atan2 arctan2 sinh cosh asinh arcsinh acosh arccosh atanh arctanh
expm1 exp2 log10 logit sinc deg2rad rad2deg hypot xlogy heaviside sgn signbit absolute float_power
addcmul addcdiv clamp_min clamp_max nan_to_num isnan isinf isfinite isposinf isneginf isclose allclose equal float_power_
""".split()
# torch's in-place twins (``x.tan_()``), also of the basic functions that had none here.
IN_PLACE = """
tan asin arcsin acos arccos atan arctan atan2 arctan2 sinh cosh asinh arcsinh acosh arccosh atanh arctanh
expm1 exp2 log10 logit sinc deg2rad rad2deg hypot xlogy heaviside sgn absolute clamp_min clamp_max nan_to_num square
neg exp log log1p log2 sqrt rsqrt sin cos tanh erf abs sign reciprocal sigmoid relu
""".split()


def _float(input: Tensor) -> Node:
    """The operand of a float function: integers and bools in the default float."""
    x = node_of(input)
    return b.cast(x, c.float_dtype(x.dtype))


def _floats(op: str, input: TensorLike, other: TensorLike) -> list[Node]:
    """Two operands promoted together as torch (Python numbers included), in a float dtype, broadcast."""
    return c.float_operands(op, unwrap(input), unwrap(other))


def _unary(build: Callable[[Node], Node]) -> Callable[[Tensor], Tensor]:
    def function(input: Tensor) -> Tensor:
        return wrap(build(_float(input)))

    function.__name__ = build.__name__
    function.__doc__ = build.__doc__
    return function


# ------------------------------------------------------------------ trigonometric and hyperbolic

tan = autocast_op(_unary(c.tan))
asin = autocast_op(_unary(c.asin))
acos = autocast_op(_unary(c.acos))
sinh = autocast_op(_unary(c.sinh))
cosh = autocast_op(_unary(c.cosh))
asinh = _unary(c.asinh)
acosh = _unary(c.acosh)
atanh = _unary(c.atanh)
sinc = _unary(c.sinc)


def atan(input: Tensor) -> Tensor:
    return wrap(b.unary("atan", node_of(input)))


@autocast_op
def atan2(input: TensorLike, other: TensorLike) -> Tensor:
    """The angle of (other, input), in [-pi, pi], with C's signed zeros and infinities."""
    return wrap(c.atan2(*_floats("atan2", input, other)))


def deg2rad(input: Tensor) -> Tensor:
    return wrap(b.mul(_float(input), math.pi / 180))


def rad2deg(input: Tensor) -> Tensor:
    return wrap(b.mul(_float(input), 180 / math.pi))


arcsin, arccos, arctan, arctan2 = asin, acos, atan, atan2
arcsinh, arccosh, arctanh = asinh, acosh, atanh


# ------------------------------------------------------------------ exponentials and logarithms

log10 = autocast_op(_unary(c.log10))


@autocast_op
def expm1(input: Tensor) -> Tensor:
    return wrap(b.unary("expm1", node_of(input)))


def exp2(input: Tensor) -> Tensor:
    return wrap(b.unary("exp2", node_of(input)))


def logit(input: Tensor, eps: float | None = None) -> Tensor:
    """log(x / (1 - x)), with x clamped to [eps, 1 - eps] first when eps is given."""
    return wrap(c.logit(_float(input), eps=eps))


def xlogy(input: TensorLike, other: TensorLike) -> Tensor:
    """input * log(other), 0 where input is 0, NaN where other is NaN."""
    return wrap(c.xlogy(*_floats("xlogy", input, other)))


def float_power(input: TensorLike, exponent: TensorLike) -> Tensor:
    """input ** exponent in float64, as torch computes it whatever the dtypes."""
    base, power = (b.cast(v, dtypes.float64) if isinstance(v, Node) else v for v in (unwrap(input), unwrap(exponent)))
    return wrap(b.binary("pow", base, power))


def hypot(input: Tensor, other: Tensor) -> Tensor:
    """sqrt(input**2 + other**2) without overflow or underflow of the squares."""
    x, y = node_of(input), node_of(other)
    if not b.result_dtype(x, y).is_floating_point:
        raise op_error("hypot", [x.type, y.type], {}, f"hypot is not implemented for {b.result_dtype(x, y).name} tensors (as in torch)")
    return wrap(c.hypot(*b.coerce("hypot", [x, y], b.result_dtype(x, y))))


# ------------------------------------------------------------------ signs and steps


def sgn(input: Tensor) -> Tensor:
    """sign for real tensors (torch's sgn differs only for complex ones)."""
    return sign(input)


def signbit(input: Tensor) -> Tensor:
    """True where the sign bit is set: x < 0 and -0.0 (a NaN reads as positive)."""
    return wrap(c.signbit(node_of(input)))


def heaviside(input: Tensor, values: Tensor) -> Tensor:
    """0 below 0, ``values`` at 0, 1 above; torch wants one dtype for both and has no derivative for it."""
    x, v = node_of(input), node_of(values)
    if x.dtype != v.dtype:
        raise op_error("heaviside", [x.type, v.type], {}, "heaviside is not yet implemented for tensors with different dtypes")
    shape = b.common_shape("heaviside", [x, v])
    return wrap(c.heaviside(b.broadcast_to(x, shape), b.broadcast_to(v, shape)))


absolute = abs


# ------------------------------------------------------------------ fused multiply-adds and clamps


def _addc(op: str, input: Tensor, tensor1: Tensor, tensor2: Tensor, value: Scalar) -> tuple[Node, Node, Node]:
    """The operands, with torch's refusals: a bool value or tensors, and (addcdiv) integer division."""
    x, t1, t2 = node_of(input), node_of(tensor1), node_of(tensor2)
    if builtins.any(n.dtype == dtypes.bool_ for n in (x, t1, t2)):
        raise op_error(op, [x.type, t1.type, t2.type], {"value": value}, f"{op} is not implemented for bool tensors (as in torch)")
    if op == "addcdiv" and not (t1.dtype.is_floating_point or t2.dtype.is_floating_point):
        message = "integer division with addcdiv is no longer supported (as in torch): use input + value * trunc(tensor1 / tensor2)"
        raise op_error(op, [x.type, t1.type, t2.type], {"value": value}, message)
    return x, t1, t2


@autocast_op
def addcmul(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Scalar = 1) -> Tensor:
    """input + value * tensor1 * tensor2."""
    return wrap(c.addcmul(*_addc("addcmul", input, tensor1, tensor2, value), value))


@autocast_op
def addcdiv(input: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: Scalar = 1) -> Tensor:
    """input + value * tensor1 / tensor2."""
    return wrap(c.addcdiv(*_addc("addcdiv", input, tensor1, tensor2, value), value))


def clamp_min(input: Tensor, min: TensorLike) -> Tensor:
    return clamp(input, min=min)


def clamp_max(input: Tensor, max: TensorLike) -> Tensor:
    return clamp(input, max=max)


# ------------------------------------------------------------------ classification


def nan_to_num(input: Tensor, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Tensor:
    """NaN, inf and -inf replaced by ``nan`` and by the dtype's largest and lowest values unless given; integers unchanged."""
    return wrap(c.nan_to_num(node_of(input), nan, posinf, neginf))


def isnan(input: Tensor) -> Tensor:
    return wrap(c.isnan(node_of(input)))


def isinf(input: Tensor) -> Tensor:
    return wrap(c.isinf(node_of(input)))


def isfinite(input: Tensor) -> Tensor:
    return wrap(c.isfinite(node_of(input)))


def isposinf(input: Tensor) -> Tensor:
    return wrap(c.isposinf(node_of(input)))


def isneginf(input: Tensor) -> Tensor:
    return wrap(c.isneginf(node_of(input)))


def isclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """|input - other| <= atol + rtol * |other|, elementwise; one dtype for both, as torch."""
    return wrap(c.isclose(node_of(input), node_of(other), rtol, atol, equal_nan))


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """Whether isclose holds everywhere: a Python bool, so the values are computed now."""
    return bool(every(isclose(input, other, rtol, atol, equal_nan)))


def equal(input: Tensor, other: Tensor) -> bool:
    """Same shape and equal values (dtypes promoted, NaN unequal), as a Python bool computed now."""
    x, y = node_of(input), node_of(other)
    return shapes_equal(x.shape, y.shape) and bool(every(wrap(b.compare("eq", x, y))))


def square_(input: Tensor) -> Tensor:
    """torch.square_: the tensor squared in place."""
    return input._inplace(square(input), op="square_")


def _refuse_in_place(name: str, input: Tensor, result: Tensor) -> None:
    """float_power_ keeps float64 only (torch refuses to round its result into a float32 tensor)."""
    if input.dtype != result.dtype:
        message = f"the base given to {name} has dtype {input.dtype.name} but the operation's result requires dtype {result.dtype.name}"
        raise op_error(name, [node_of(input).type], {}, message)


def float_power_(input: Tensor, exponent: TensorLike) -> Tensor:
    result = float_power(input, exponent)
    _refuse_in_place("float_power_", input, result)
    return input._inplace(result, op="float_power_")
