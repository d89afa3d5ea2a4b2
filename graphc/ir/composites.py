"""torch's math functions built from primitives, for the front end and the torch importer alike.

Each builder takes nodes that already have the function's dtype (``float_operands`` promotes
them as torch does) and returns its result. The formulas avoid the cancellations of the
textbook ones (sinh near 0, asinh of large negative x, acos near 1, logit near 1/2, sin(pi x)
near integers, hypot's squares) and keep torch's values at zeros, infinities and NaN. Where
torch's derivative is a formula of its own, the value carries it (``custom_vjp``, rules in
``primitives/custom.py``): the gradient is then torch's also where a ``where`` branch that
was not taken is infinite, and no chain rule runs through the range reductions' tricks.
docs/decisions.md ("Elementwise math") says which function is a primitive and why.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.build import Operand
from graphc.ir.dtypes import DType
from graphc.ir.grad_mode import is_grad_enabled
from graphc.ir.graph import Node
from graphc.ir.registry import emit, op_error

HALF = (dtypes.float16, dtypes.bfloat16)
# Beyond this |x|, x * x + 1 == x * x in float64, and asinh(x) = log(2|x|), acosh(x) = log(2x).
_SQUARE_SWAMPS_ONE = 2.0**28


def float_dtype(dtype: DType) -> DType:
    """Integers and bools compute in the default float, as torch's float functions do."""
    return dtype if dtype.is_floating_point else dtypes.DEFAULT_FLOAT


def float_operands(op: str, *operands: Operand) -> list[Node]:
    """The operands promoted together (tensors, 0-d tensors, Python numbers), then made float, and broadcast."""
    return b.coerce(op, operands, float_dtype(b.result_dtype(*operands)))


def _stated(value: Node, rule: str, *operands: Node) -> Node:
    """``value`` differentiated by torch's formula ``rule`` of ``operands`` (``custom_vjp``) when a gradient is wanted
    (also when the value's own nodes carry none: heaviside's comparisons)."""
    wanted = is_grad_enabled() and any(x.requires_grad for x in operands)
    return emit("custom_vjp", value, *operands, rule=rule) if wanted else value


def backward_reads(x: Node, rule: str = "backward_reads") -> Node:
    """``x`` as the input of a function that torch differentiates by a backward op of its own that reads x
    (threshold_backward for relu, leaky_relu_backward, hardtanh_backward, max_pool2d_with_indices_backward,
    avg_pool2d_backward, reflection_pad1d_backward, nll_loss_backward...).

    That op states a derivative for x (``self: zeros_like(grad)``), so a second derivative through it
    is a zero tensor, not None: x's gradient requires grad while a backward graph is recorded, also
    where its value reads x only through comparisons (a piecewise linear function) or not at all (a
    linear one). The marker, a ``custom_vjp`` (dropped with the others once autodiff has run), adds
    such a zero to x's gradient (custom.py's rule of the same name). Functions that torch
    differentiates by composites (clamp, maximum, where, amax, sort) are not marked: there, as in
    torch, the input's second derivative is None. Where torch's backward op has no derivative,
    ``rule`` names the marker that makes differentiating the gradient raise (``hardsigmoid_backward_reads``).
    """
    wanted = is_grad_enabled() and x.requires_grad
    return emit("custom_vjp", x, x, rule=rule) if wanted else x


def half_in_float32(build: Callable[..., Node]) -> Callable[..., Node]:
    """Half precision computed in float32 and rounded once, as torch's kernels do: rounding every
    step of a composite to float16 would cost several of its ulps."""

    @functools.wraps(build)
    def wrapper(*operands: Node, **options: object) -> Node:
        dtype = operands[0].dtype
        if dtype not in HALF:
            return build(*operands, **options)
        return b.cast(build(*(b.cast(x, dtypes.float32) if isinstance(x, Node) else x for x in operands), **options), dtype)

    return wrapper


def _odd(magnitude: Node, x: Node) -> Node:
    """An odd function's value at x from its value at |x|: -0.0 stays -0.0 and NaN stays NaN."""
    return b.where(b.compare("lt", x, 0), b.neg(magnitude), b.where(b.compare("eq", x, 0), x, magnitude))


# ------------------------------------------------------------------ exponentials and logarithms


@half_in_float32
def log10(x: Node) -> Node:
    """log2(x) * log10(2): exact at powers of two, and 1 ulp from log10 in float64 (log(x) / log(10) is 2)."""
    return b.mul(b.unary("log2", x), math.log10(2))


@half_in_float32
def logit(x: Node, eps: float | None = None) -> Node:
    """log(x / (1 - x)), x first clamped to [eps, 1 - eps] when eps is given.

    Within 1/4 of 1/2 it is ``log1p((2x - 1) / (1 - x))`` (both differences exact): torch's
    ``log(x / (1 - x))`` loses digits there (7e-5 relative at 0.4999999999996148 in float64).
    """
    z = x if eps is None else clamp(x, eps, 1.0 - eps)
    one_minus = b.sub(1.0, z)
    middle = b.unary("log1p", b.div(b.sub(b.mul(z, 2.0), 1.0), one_minus))
    outer = b.unary("log", b.div(z, one_minus))
    value = b.where(b.compare("le", b.unary("abs", b.sub(z, 0.5)), 0.25), middle, outer)
    if eps is None:
        return _stated(value, "logit", x)
    return _stated(value, "logit_clamped", x, b.full_like(x, eps), b.full_like(x, 1.0 - eps))


@half_in_float32
def xlogy(x: Node, y: Node) -> Node:
    """x * log(y), 0 where x is 0 (even where log(y) is -inf), NaN where y is NaN, as torch."""
    value = b.where(b.compare("eq", x, 0), 0.0, b.mul(x, b.unary("log", y)))
    return _stated(b.where(isnan(y), math.nan, value), "xlogy", x, y)


# ------------------------------------------------------------------ trigonometric


@half_in_float32
def tan(x: Node) -> Node:
    return _stated(b.div(b.unary("sin", x), b.unary("cos", x)), "tan", x)


@half_in_float32
def asin(x: Node) -> Node:
    """atan(x / sqrt((1 - x)(1 + x))): both factors are exact near |x| = 1, where 1 - x * x is not."""
    root = b.unary("sqrt", b.mul(b.sub(1.0, x), b.add(x, 1.0)))
    return _stated(b.unary("atan", b.div(x, root)), "asin", x)


@half_in_float32
def acos(x: Node) -> Node:
    """2 atan(sqrt((1 - x) / (1 + x))): accurate near 1, where pi/2 - asin(x) cancels."""
    ratio = b.div(b.sub(1.0, x), b.add(x, 1.0))
    return _stated(b.mul(b.unary("atan", b.unary("sqrt", ratio)), 2.0), "acos", x)


@half_in_float32
def atan2(y: Node, x: Node) -> Node:
    """The angle of (x, y) in [-pi, pi], from atan(|y| / |x|) and the quadrant.

    C's special cases: signed zeros choose the half-plane (atan2(0.0, -0.0) is pi, atan2(-0.0, 1)
    is -0.0) and two infinities give odd multiples of pi/4.
    """
    ay, ax = b.unary("abs", y), b.unary("abs", x)
    both_infinite = b.binary("and", b.compare("eq", ay, math.inf), b.compare("eq", ax, math.inf))
    both_zero = b.binary("and", b.compare("eq", ay, 0), b.compare("eq", ax, 0))
    ratio = b.where(both_infinite, 1.0, b.where(both_zero, 0.0, b.div(ay, ax)))
    angle = b.unary("atan", ratio)
    angle = b.where(signbit(x), b.sub(math.pi, angle), angle)
    return _stated(b.where(signbit(y), b.neg(angle), angle), "atan2", y, x)


def _sin_pi(x: Node) -> Node:
    """sin(pi x) from x's distance r to the nearest integer n, which is exact: (-1)**n sin(pi r).

    sin(fl(pi x)) is off by the rounding of pi x, which near a zero of sin is the whole value
    (torch's float32 sinc is 130 ulps off near integers, and 0 nowhere but at 0)."""
    n = b.unary("round", x)
    odd = b.sub(n, b.mul(b.unary("floor", b.mul(n, 0.5)), 2.0))
    return b.mul(b.unary("sin", b.mul(b.sub(x, n), math.pi)), b.sub(1.0, b.mul(odd, 2.0)))


@half_in_float32
def sinc(x: Node) -> Node:
    """sin(pi x) / (pi x), and 1 at 0, with sin(pi x) computed exactly at integers (``_sin_pi``)."""
    value = b.where(b.compare("eq", x, 0), 1.0, b.div(_sin_pi(x), b.mul(x, math.pi)))
    return _stated(value, "sinc", x)


# ------------------------------------------------------------------ hyperbolic


def _half_exp(a: Node) -> Node:
    """e**a / 2 for a >= 0; where e**a overflows, (e**(a/2) / 2) e**(a/2), finite up to where sinh and
    cosh overflow (710.47 in float64, not 709.78)."""
    whole = b.unary("exp", a)
    root = b.unary("exp", b.mul(a, 0.5))
    return b.where(b.compare("lt", whole, math.inf), b.mul(whole, 0.5), b.mul(b.mul(root, 0.5), root))


@half_in_float32
def sinh(x: Node) -> Node:
    """(u + u / (u + 1)) / 2 with u = expm1(|x|) below 1 (no cancellation), e**|x|/2 - e**-|x|/2 above."""
    a = b.unary("abs", x)
    u = b.unary("expm1", a)
    near_zero = b.mul(b.add(u, b.div(u, b.add(u, 1.0))), 0.5)
    half = _half_exp(a)
    far = b.sub(half, b.div(0.25, half))
    return _stated(_odd(b.where(b.compare("lt", a, 1.0), near_zero, far), x), "sinh", x)


@half_in_float32
def cosh(x: Node) -> Node:
    """e**|x|/2 + e**-|x|/2, both terms positive."""
    half = _half_exp(b.unary("abs", x))
    return _stated(b.add(half, b.div(0.25, half)), "cosh", x)


@half_in_float32
def asinh(x: Node) -> Node:
    """log1p(|x| + x**2 / (1 + sqrt(1 + x**2))) with the sign of x (log(x + sqrt(x**2 + 1)) cancels for
    negative x and loses small ones); log(2|x|) where x**2 swamps 1."""
    a = b.unary("abs", x)
    square = b.mul(a, a)
    near = b.unary("log1p", b.add(a, b.div(square, b.add(b.unary("sqrt", b.add(square, 1.0)), 1.0))))
    far = b.add(b.unary("log", a), math.log(2))
    return _stated(_odd(b.where(b.compare("gt", a, _SQUARE_SWAMPS_ONE), far, near), x), "asinh", x)


@half_in_float32
def acosh(x: Node) -> Node:
    """log1p(t + sqrt(t (t + 2))) with t = x - 1, exact near 1 where log(x + sqrt(x**2 - 1)) is not;
    log(2x) far out; NaN below 1 (where t (t + 2) can be positive, even inf)."""
    t = b.sub(x, 1.0)
    near = b.unary("log1p", b.add(t, b.unary("sqrt", b.mul(t, b.add(t, 2.0)))))
    far = b.add(b.unary("log", x), math.log(2))
    value = b.where(b.compare("lt", x, 1.0), math.nan, b.where(b.compare("gt", x, _SQUARE_SWAMPS_ONE), far, near))
    return _stated(value, "acosh", x)


@half_in_float32
def atanh(x: Node) -> Node:
    """log1p(2|x| / (1 - |x|)) / 2 with the sign of x: 1 - |x| is exact near 1, log1p accurate near 0."""
    a = b.unary("abs", x)
    magnitude = b.mul(b.unary("log1p", b.div(b.mul(a, 2.0), b.sub(1.0, a))), 0.5)
    return _stated(_odd(magnitude, x), "atanh", x)


# ------------------------------------------------------------------ two-operand functions


@half_in_float32
def hypot(x: Node, y: Node) -> Node:
    """sqrt(x**2 + y**2) as m sqrt(1 + (n / m)**2), m and n the larger and smaller magnitude:
    no overflow or underflow of the squares (hypot(1e200, 1e200), hypot(1e-200, 1e-200)). An
    infinite operand gives inf even beside a NaN, as C's hypot."""
    ax, ay = b.unary("abs", x), b.unary("abs", y)
    large, small = b.binary("maximum", ax, ay), b.binary("minimum", ax, ay)
    ratio = b.div(small, b.where(b.compare("eq", large, 0), 1.0, large))
    value = b.mul(large, b.unary("sqrt", b.add(b.mul(ratio, ratio), 1.0)))
    infinite = b.binary("or", b.compare("eq", ax, math.inf), b.compare("eq", ay, math.inf))
    return _stated(b.where(infinite, math.inf, value), "hypot", x, y)


def heaviside(x: Node, values: Node) -> Node:
    """0 below 0, ``values`` at 0, 1 above (NaN gives 0, as torch); torch has no derivative for it."""
    value = b.where(b.compare("eq", x, 0), values, b.cast(b.compare("gt", x, 0), x.dtype))
    return _stated(value, "heaviside", x, values)


@half_in_float32
def lerp(start: Node, end: Node, weight: Operand) -> Node:
    """torch's two-sided formula: start + w (end - start) for |w| < 1/2, end - (end - start)(1 - w)
    from there, so that w = 1 gives end exactly. A number weight picks its side here. Half
    precision computes in float32 and rounds once, as torch's kernel."""
    difference = b.sub(end, start)
    if not isinstance(weight, Node):
        return b.add(start, b.mul(difference, weight)) if abs(weight) < 0.5 else b.sub(end, b.mul(difference, 1 - weight))
    low = b.add(start, b.mul(weight, difference))
    high = b.sub(end, b.mul(difference, b.sub(1.0, weight)))
    return b.where(b.compare("lt", b.unary("abs", weight), 0.5), low, high)


def _times(value: Operand, x: Operand) -> Operand:
    return x if not isinstance(value, Node) and value == 1 else b.mul(value, x)


def addcmul(x: Operand, tensor1: Operand, tensor2: Operand, value: Operand = 1) -> Node:
    """x + value * tensor1 * tensor2, multiplied left to right as torch's kernel."""
    return b.add(x, b.mul(_times(value, tensor1), tensor2))


def addcdiv(x: Operand, tensor1: Operand, tensor2: Operand, value: Operand = 1) -> Node:
    """x + value * tensor1 / tensor2, left to right as torch's kernel."""
    return b.add(x, b.div(_times(value, tensor1), tensor2))


# ------------------------------------------------------------------ clamping and classification


def clamp(x: Node, low: Operand | None, high: Operand | None) -> Node:
    """The gradient passes where low <= x <= high (a tie goes to x), as torch's clamp, clamp_min and clamp_max."""
    if low is not None:
        x = b.where(b.compare("lt", x, low), low, x)
    if high is not None:
        x = b.where(b.compare("gt", x, high), high, x)
    return x


def _all(x: Node, value: bool) -> Node:
    return b.full(x.shape, value, dtypes.bool_)


def isnan(x: Node) -> Node:
    return b.compare("ne", x, x) if x.dtype.is_floating_point else _all(x, False)


def isinf(x: Node) -> Node:
    return b.compare("eq", b.unary("abs", x), math.inf) if x.dtype.is_floating_point else _all(x, False)


def isfinite(x: Node) -> Node:
    """|x| < inf, false for NaN too."""
    return b.compare("lt", b.unary("abs", x), math.inf) if x.dtype.is_floating_point else _all(x, True)


def isposinf(x: Node) -> Node:
    return b.compare("eq", x, math.inf) if x.dtype.is_floating_point else _all(x, False)


def isneginf(x: Node) -> Node:
    return b.compare("eq", x, -math.inf) if x.dtype.is_floating_point else _all(x, False)


def signbit(x: Node) -> Node:
    """x < 0, and -0.0 (whose reciprocal is -inf). NaN reads as positive: no primitive reads its sign bit."""
    if x.dtype == dtypes.bool_:
        return _all(x, False)
    if not x.dtype.is_floating_point:
        return b.compare("lt", x, 0)
    negative_zero = b.binary("and", b.compare("eq", x, 0), b.compare("lt", b.unary("reciprocal", x), 0))
    return b.binary("or", b.compare("lt", x, 0), negative_zero)


def largest(dtype: DType) -> float:
    """The largest finite value of a float dtype (nan_to_num's default for inf)."""
    import ml_dtypes

    return float(ml_dtypes.finfo(dtype.numpy).max)


def nan_to_num(x: Node, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None) -> Node:
    """NaN, inf and -inf replaced (by 0 and the dtype's extremes unless given); the gradient passes where x is finite."""
    if not x.dtype.is_floating_point:
        return x
    top = largest(x.dtype)
    high = b.constant(top if posinf is None else posinf, x.dtype)
    low = b.constant(-top if neginf is None else neginf, x.dtype)
    x = b.where(isposinf(x), high, b.where(isneginf(x), low, x))
    return b.where(isnan(x), b.constant(nan, x.dtype), x)


def isclose(a: Node, other: Node, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Node:
    """torch's closeness: equal, or |a - other| <= atol + |rtol * other| and finite (NaN never, unless equal_nan)."""
    if a.dtype != other.dtype:
        raise op_error("isclose", [a.type, other.type], {}, f"{a.dtype.name} did not match {other.dtype.name}")
    if rtol < 0 or atol < 0:
        which, value = ("rtol", rtol) if rtol < 0 else ("atol", atol)
        raise op_error("isclose", [a.type, other.type], {which: value}, f"{which} must be greater than or equal to zero, but got {value}")
    close = b.compare("eq", a, other)
    if equal_nan and a.dtype.is_floating_point:
        close = b.binary("or", close, b.binary("and", isnan(a), isnan(other)))
    if rtol == 0 and atol == 0:
        return close
    x, y = (b.cast(v, dtypes.DEFAULT_FLOAT) if v.dtype == dtypes.bool_ else v for v in (a, other))
    allowed = b.add(b.unary("abs", b.mul(y, rtol)), atol)
    actual = b.unary("abs", b.sub(x, y))
    within = b.binary("and", isfinite(actual), b.compare("le", actual, allowed))
    return b.binary("or", close, within)
