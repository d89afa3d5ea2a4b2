"""Elementwise primitives: operands of one shape (and, for arithmetic, one dtype).

Broadcasting and promotion happen in ``graphc.ir.build`` before these are
emitted, so each rule here only checks that its operands already agree.
"""

from __future__ import annotations

import math

from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.dtypes import DType
from graphc.ir.graph import Node
from graphc.ir.registry import defvjp, primitive
from graphc.ir.types import TensorType, TypeRuleError, format_shape, shapes_equal


def _same_shape(*types: TensorType) -> None:
    for t in types[1:]:
        if not shapes_equal(t.shape, types[0].shape):
            raise TypeRuleError(f"operand shapes differ: {format_shape(types[0].shape)} vs {format_shape(t.shape)}")


def _same_dtype(*types: TensorType) -> None:
    for t in types[1:]:
        if t.dtype != types[0].dtype:
            raise TypeRuleError(f"operand dtypes differ: {types[0].dtype.name} vs {t.dtype.name}")


def _float_only(x: TensorType) -> None:
    if not x.dtype.is_floating_point:
        raise TypeRuleError(f"expects a floating-point operand, got {x.dtype.name}")


def _unary_same(name: str, float_only: bool, doc: str) -> None:
    def rule(x: TensorType) -> TensorType:
        if float_only:
            _float_only(x)
        if x.dtype == dtypes.bool_ and not float_only:
            raise TypeRuleError("not defined for bool tensors")
        return x

    rule.__doc__ = doc
    primitive(name, "elementwise")(rule)


def _binary_same(name: str, doc: str) -> None:
    def rule(a: TensorType, b_: TensorType) -> TensorType:
        _same_shape(a, b_)
        _same_dtype(a, b_)
        return a

    rule.__doc__ = doc
    primitive(name, "elementwise")(rule)


def _comparison(name: str, doc: str) -> None:
    def rule(a: TensorType, b_: TensorType) -> TensorType:
        _same_shape(a, b_)
        _same_dtype(a, b_)
        return TensorType(a.shape, dtypes.bool_)

    rule.__doc__ = doc
    primitive(name, "elementwise", nondifferentiable=True)(rule)


for _name, _float, _doc in [
    ("neg", False, "-x"),
    ("exp", True, "e**x"),
    ("log", True, "natural logarithm"),
    ("sqrt", True, "square root"),
    ("rsqrt", True, "1 / sqrt(x)"),
    ("sin", True, "sine"),
    ("cos", True, "cosine"),
    ("tanh", True, "hyperbolic tangent"),
    ("erf", True, "error function"),
    ("abs", False, "|x|"),
    ("sign", False, "-1, 0 or 1 by the sign of x"),
    ("reciprocal", True, "1 / x"),
    ("sigmoid", True, "1 / (1 + e**-x), a primitive so that its gradient reuses its result"),
    ("log1p", True, "log(1 + x), accurate for small x"),
    ("atan", True, "arctangent, in [-pi/2, pi/2]: no composite of exp, log and sqrt computes it for real x, and asin, acos and atan2 are built on it"),
    ("expm1", True, "e**x - 1, accurate near 0 (exp(x) - 1 cancels there) and the base of sinh, elu, celu and selu"),
    ("exp2", True, "2**x, exact at integers (exp(x * log(2)) is not, and is 200 ulps off near x = 1000)"),
    ("log2", True, "base-2 logarithm, exact at powers of two (log(x) / log(2) is not: log2(8) gave 2.9999999999999996)"),
    ("floor", True, "the largest integer <= x (an integer tensor is whole already: ``build.unary`` gives it back)"),
    ("ceil", True, "the smallest integer >= x"),
    ("round", True, "x rounded to the nearest integer, halves to even (as torch and NumPy's rint)"),
    ("trunc", True, "x rounded toward zero"),
]:
    _unary_same(_name, _float, _doc)

for _name, _doc in [
    ("add", "a + b"),
    ("sub", "a - b"),
    ("mul", "a * b"),
    ("div", "a / b (true division for floats; integer operands are promoted by the front end)"),
    ("pow", "a ** b"),
    ("maximum", "elementwise max, NaN-propagating"),
    ("minimum", "elementwise min, NaN-propagating"),
]:
    _binary_same(_name, _doc)

def _integer_division(name: str, doc: str) -> None:
    """floor_divide, remainder, fmod: integers stay integers (exact, not through float), bools are refused as by torch."""

    def rule(a: TensorType, b_: TensorType) -> TensorType:
        _same_shape(a, b_)
        _same_dtype(a, b_)
        if a.dtype == dtypes.bool_:
            raise TypeRuleError("not defined for bool tensors")
        return a

    rule.__doc__ = doc
    primitive(name, "elementwise")(rule)


for _name, _doc in [
    ("floor_divide", "a // b rounded toward -inf; for floats torch's and Python's divmod (from fmod: 1.0 // 0.1 is 9.0)"),
    ("remainder", "a - floor_divide(a, b) * b, with the sign of b (from fmod, exact)"),
    ("fmod", "C's fmod: a - trunc(a / b) * b computed exactly, with the sign of a"),
]:
    _integer_division(_name, _doc)

for _name, _doc in [("eq", "a == b"), ("ne", "a != b"), ("lt", "a < b"), ("le", "a <= b"), ("gt", "a > b"), ("ge", "a >= b")]:
    _comparison(_name, _doc)


def _logical(name: str, doc: str) -> None:
    def rule(a: TensorType, *rest: TensorType) -> TensorType:
        _same_shape(a, *rest)
        for t in (a, *rest):
            if t.dtype != dtypes.bool_:
                raise TypeRuleError(f"expects bool operands, got {t.dtype.name}")
        return a

    rule.__doc__ = doc
    primitive(name, "elementwise", nondifferentiable=True)(rule)


for _name, _doc in [("and", "logical and of bools"), ("or", "logical or of bools"), ("logical_not", "logical not of a bool")]:
    _logical(_name, _doc)


def _bitwise(name: str, doc: str) -> None:
    """Two's-complement bit operations: no composite of arithmetic computes them cheaply; of bools, the logical ones."""

    def rule(a: TensorType, b_: TensorType) -> TensorType:
        _same_shape(a, b_)
        _same_dtype(a, b_)
        if a.dtype.is_floating_point:
            raise TypeRuleError(f"expects integer or bool operands, got {a.dtype.name}")
        return a

    rule.__doc__ = doc
    primitive(name, "elementwise", nondifferentiable=True)(rule)


for _name, _doc in [
    ("bitwise_and", "a & b, bit by bit in two's complement (integers and bools)"),
    ("bitwise_or", "a | b, bit by bit in two's complement (integers and bools)"),
    ("bitwise_xor", "a ^ b, bit by bit in two's complement (integers and bools)"),
]:
    _bitwise(_name, _doc)


@primitive("where", "elementwise")
def where_rule(cond: TensorType, a: TensorType, b_: TensorType) -> TensorType:
    """cond ? a : b, with a bool condition"""
    if cond.dtype != dtypes.bool_:
        raise TypeRuleError(f"the condition must be bool, got {cond.dtype.name}")
    _same_shape(cond, a, b_)
    _same_dtype(a, b_)
    return a


@primitive("check", "elementwise", attrs=("message",))
def check_rule(x: TensorType, bad: TensorType, message: str) -> TensorType:
    """``x`` unchanged; the program raises ``InvalidValueError(message)`` if ``bad`` is True anywhere (a value check, as binary_cross_entropy's range)"""
    if bad.dtype != dtypes.bool_:
        raise TypeRuleError(f"the tested condition must be bool, got {bad.dtype.name}")
    _same_shape(x, bad)
    if not isinstance(message, str):
        raise TypeRuleError(f"message must be a str, got {message!r}")
    return x


@defvjp("check")
def check_vjp(node: Node, g: Node) -> tuple:
    """The value passes through unchanged; the test has no gradient."""
    return (g, None)


@primitive("cast", "elementwise", attrs=("dtype",))
def cast_rule(x: TensorType, dtype: DType) -> TensorType:
    """convert to ``dtype`` (float to int truncates toward zero, as in torch)"""
    if not isinstance(dtype, DType):
        raise TypeRuleError(f"dtype must be a graphc dtype, got {dtype!r}")
    return TensorType(x.shape, dtype)


# ----------------------------------------------------------------------------- VJP rules


@defvjp("neg")
def neg_vjp(node: Node, g: Node) -> tuple:
    return (b.neg(g),)


@defvjp("exp")
def exp_vjp(node: Node, g: Node) -> tuple:
    return (b.mul(g, node),)


@defvjp("log")
def log_vjp(node: Node, g: Node) -> tuple:
    return (b.div(g, node.inputs[0]),)


@defvjp("sqrt")
def sqrt_vjp(node: Node, g: Node) -> tuple:
    return (b.div(g, b.mul(node, 2.0)),)


@defvjp("rsqrt")
def rsqrt_vjp(node: Node, g: Node) -> tuple:
    cube = b.mul(b.mul(node, node), node)
    return (b.mul(b.mul(g, cube), -0.5),)


@defvjp("sin")
def sin_vjp(node: Node, g: Node) -> tuple:
    return (b.mul(g, b.unary("cos", node.inputs[0])),)


@defvjp("cos")
def cos_vjp(node: Node, g: Node) -> tuple:
    return (b.neg(b.mul(g, b.unary("sin", node.inputs[0]))),)


@defvjp("tanh")
def tanh_vjp(node: Node, g: Node) -> tuple:
    return (b.mul(g, b.sub(1.0, b.mul(node, node))),)


@defvjp("erf")
def erf_vjp(node: Node, g: Node) -> tuple:
    x = node.inputs[0]
    slope = b.mul(b.unary("exp", b.neg(b.mul(x, x))), 2.0 / math.sqrt(math.pi))
    return (b.mul(g, slope),)


@defvjp("abs")
def abs_vjp(node: Node, g: Node) -> tuple:
    return (b.mul(g, b.unary("sign", node.inputs[0])),)


@defvjp("sign")
def sign_vjp(node: Node, g: Node) -> tuple:
    """Zero, not "no gradient": as in torch, ``x.sign().sum().backward()`` gives ``x.grad`` of zeros."""
    return (b.zeros_like(g),)


@defvjp("reciprocal")
def reciprocal_vjp(node: Node, g: Node) -> tuple:
    return (b.neg(b.mul(g, b.mul(node, node))),)


@defvjp("sigmoid")
def sigmoid_vjp(node: Node, g: Node) -> tuple:
    return (b.mul(g, b.mul(node, b.sub(1.0, node))),)


@defvjp("log1p")
def log1p_vjp(node: Node, g: Node) -> tuple:
    return (b.div(g, b.add(node.inputs[0], 1.0)),)


@defvjp("atan")
def atan_vjp(node: Node, g: Node) -> tuple:
    """torch's: ``g / (x * x + 1)``."""
    x = node.inputs[0]
    return (b.div(g, b.add(b.mul(x, x), 1.0)),)


@defvjp("expm1")
def expm1_vjp(node: Node, g: Node) -> tuple:
    """torch's: ``g * (result + 1)``."""
    return (b.mul(g, b.add(node, 1.0)),)


@defvjp("exp2")
def exp2_vjp(node: Node, g: Node) -> tuple:
    return (b.mul(g, b.mul(node, math.log(2))),)


@defvjp("log2")
def log2_vjp(node: Node, g: Node) -> tuple:
    return (b.div(g, b.mul(node.inputs[0], math.log(2))),)


@defvjp("floor", "ceil", "round", "trunc")
def rounding_vjp(node: Node, g: Node) -> tuple:
    """Zero, as torch: the result is piecewise constant."""
    return (b.zeros_like(g),)


@defvjp("add")
def add_vjp(node: Node, g: Node) -> tuple:
    return (g, g)


@defvjp("sub")
def sub_vjp(node: Node, g: Node) -> tuple:
    return (g, b.neg(g))


@defvjp("mul")
def mul_vjp(node: Node, g: Node) -> tuple:
    x, y = node.inputs
    return (b.mul(g, y), b.mul(g, x))


@defvjp("div")
def div_vjp(node: Node, g: Node) -> tuple:
    x, y = node.inputs
    gx = b.div(g, y)
    return (gx, b.neg(b.mul(gx, node)))


@defvjp("pow")
def pow_vjp(node: Node, g: Node) -> tuple:
    x, y = node.inputs
    # As torch: 0 where the exponent is 0 (x**0 is constant), not 0 * 0**-1 = nan at x = 0.
    gx = b.where(b.compare("eq", y, 0), 0.0, b.mul(g, b.mul(y, b.binary("pow", x, b.sub(y, 1)))))
    # As torch: the exponent's gradient is 0 where the base is 0 and the exponent non-negative.
    log_term = b.mul(node, b.unary("log", x))
    zero_base = b.binary("and", b.compare("eq", x, 0), b.compare("ge", y, 0))
    gy = b.mul(g, b.where(zero_base, 0.0, log_term))
    return (gx, gy)


@defvjp("floor_divide")
def floor_divide_vjp(node: Node, g: Node) -> tuple:
    """Zero for both operands, as torch's ``div(a, b, rounding_mode="floor")`` (``torch.floor_divide`` has none: see ``frontend.functional``)."""
    return (b.zeros_like(g), b.zeros_like(g))


@defvjp("remainder")
def remainder_vjp(node: Node, g: Node) -> tuple:
    """torch's: ``g`` for a, ``-g * floor_divide(a, b)`` for b."""
    x, y = node.inputs
    return (g, b.neg(b.mul(g, b.binary("floor_divide", x, y))))


@defvjp("fmod")
def fmod_vjp(node: Node, g: Node) -> tuple:
    """torch's: ``g`` for a, ``-g * trunc(a / b)`` for b."""
    x, y = node.inputs
    return (g, b.neg(b.mul(g, b.unary("trunc", b.div(x, y)))))


def _select_vjp(node: Node, g: Node, wins: str) -> tuple:
    """maximum/minimum: the winner takes the gradient, ties split it in half (as torch)."""
    x, y = node.inputs
    half = b.div(g, 2.0)
    tie = b.compare("eq", x, y)
    x_wins = b.compare(wins, x, y)
    y_wins = b.compare(wins, y, x)
    gx = b.where(tie, half, b.where(x_wins, g, 0.0))
    gy = b.where(tie, half, b.where(y_wins, g, 0.0))
    return (gx, gy)


@defvjp("maximum")
def maximum_vjp(node: Node, g: Node) -> tuple:
    return _select_vjp(node, g, "gt")


@defvjp("minimum")
def minimum_vjp(node: Node, g: Node) -> tuple:
    return _select_vjp(node, g, "lt")


@defvjp("where")
def where_vjp(node: Node, g: Node) -> tuple:
    cond = node.inputs[0]
    return (None, b.where(cond, g, 0.0), b.where(cond, 0.0, g))


@defvjp("cast")
def cast_vjp(node: Node, g: Node) -> tuple:
    x = node.inputs[0]
    if not x.dtype.is_floating_point:
        return (None,)
    return (b.cast(g, x.dtype),)
