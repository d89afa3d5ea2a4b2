"""``custom_vjp``: a value whose derivative is a stated formula, not the chain rule through its nodes.

torch differentiates some composite functions by a formula of their own, which differs from
the derivative of the nodes that compute the value where those are infinite or clamped:
``binary_cross_entropy``'s gradient stays finite where a probability saturates at exactly 0
or 1, and the chain rule through its clamped logs gives ``0 * inf = nan`` there. As JAX's
``custom_vjp``, the node carries the value (operand 0, computed as usual) and the operands
the formula reads; its VJP is the named rule of ``RULES``, built from primitives, so a
second derivative works through it. Simplify replaces the node by its value once autodiff
has run, so no backend ever computes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from graphc.errors import NoDerivativeError
from graphc.ir import build as b
from graphc.ir import composites, special
from graphc.ir.grad_mode import is_grad_enabled
from graphc.ir.graph import Node
from graphc.ir.registry import defvjp, emit, primitive
from graphc.ir.types import TensorType, TypeRuleError, format_shape, shapes_equal

# torch's clamp of x (1 - x) in binary_cross_entropy's gradient: 1e-12 rounded to float32, also
# for float64 (measured: torch 2.13's gradient at x = 1, y = 0 is 1.000000004e12, not 1e12).
EPSILON = float(np.float32(1e-12))

# Rule name -> f(node, g): the gradients of operands 1.. (operand 0, the value, gets none).
RULES: dict[str, Callable[[Node, Node], tuple]] = {}


def rule(name: str) -> Callable[[Callable[[Node, Node], tuple]], Callable[[Node, Node], tuple]]:
    def register(fn: Callable[[Node, Node], tuple]) -> Callable[[Node, Node], tuple]:
        RULES[name] = fn
        return fn

    return register


@primitive("custom_vjp", "elementwise", attrs=("rule",))
def custom_vjp_rule(value: TensorType, *operands: TensorType, rule: str) -> TensorType:
    """``value`` unchanged, differentiated with respect to ``operands`` by the formula ``RULES[rule]``"""
    if _rule_named(rule) is None:
        raise TypeRuleError(f"no custom VJP rule named {rule!r} (known: {', '.join(sorted(RULES))})")
    for t in operands:
        if not shapes_equal(t.shape, value.shape):
            raise TypeRuleError(f"operand shapes differ: {format_shape(value.shape)} vs {format_shape(t.shape)}")
    return value


@defvjp("custom_vjp")
def custom_vjp_vjp(node: Node, g: Node) -> tuple:
    """The named rule's gradients for the operands; none for the value."""
    return (None, *_rule_named(node.attrs["rule"])(node, g))


def _rule_named(name: str) -> Callable[[Node, Node], tuple] | None:
    """``RULES[name]``, and ``polygamma_<n>`` for every order n (one rule per order: the order is no operand)."""
    if name.startswith("polygamma_") and name[len("polygamma_") :].isdigit():
        order = int(name[len("polygamma_") :])
        return lambda node, g: (b.mul(g, special.polygamma(order + 1, node.inputs[1])),)
    return RULES.get(name)


@rule("binary_cross_entropy")
def binary_cross_entropy_vjp(node: Node, g: Node) -> tuple:
    """torch's: ``g (x - y) / max(x (1 - x), EPSILON)`` for the probabilities x, ``-g logit(x)`` for the targets y."""
    _, x, y = node.inputs
    gx = b.div(b.mul(g, b.sub(x, y)), b.binary("maximum", b.mul(b.sub(1.0, x), x), EPSILON))
    gy = b.mul(g, b.sub(b.unary("log1p", b.neg(x)), b.unary("log", x)))
    return (gx, gy)


@rule("zero_gradient")
def zero_gradient_vjp(node: Node, g: Node) -> tuple:
    """Zero for every operand: torch's gradient of ``div(a, b, rounding_mode="trunc")``, also where b is 0."""
    return tuple(b.zeros_like(g) for _ in node.inputs[1:])


@rule("undefined_gradient")
def undefined_gradient_vjp(node: Node, g: Node) -> tuple:
    """None for every operand: the result requires grad, yet torch's backward returns an undefined
    gradient (``vector_norm(x, ord=0)``: ``x.grad`` stays None, ``autograd.grad`` calls x unused)."""
    return tuple(None for _ in node.inputs[1:])


@rule("write_whole_gradient")
def write_whole_gradient_vjp(node: Node, g: Node) -> tuple:
    """``g`` itself for the operand: torch's gradient of a write, which each of several writes to one
    position receives whole, while the value graphc writes there is their mean (frontend/scatter.py)."""
    return tuple(g for _ in node.inputs[1:])


# What to use instead of an op torch gives no derivative, by the op computing the value.
_DIFFERENTIABLE_INSTEAD = {
    "floor_divide": "div(a, b, rounding_mode='floor') has a zero gradient",
    "remainder": "a tensor % a tensor has one",
}


@rule("not_differentiable")
def not_differentiable_vjp(node: Node, g: Node) -> tuple:
    """Raises: torch has no derivative for ``floor_divide`` or for a Python number % a tensor, so backward() through them fails as torch's does."""
    op = node.inputs[0].op
    where = f"\n  at {node.loc}" if node.loc else ""
    raise NoDerivativeError(f"{op}: the derivative is not implemented, as in torch ({_DIFFERENTIABLE_INSTEAD[op]}){where}")


def _no_derivative(op: str) -> Callable[[Node, Node], tuple]:
    def vjp(node: Node, g: Node) -> tuple:
        where = f"\n  at {node.loc}" if node.loc else ""
        raise NoDerivativeError(f"{op}: the derivative is not implemented, as in torch{where}")

    vjp.__doc__ = f"Raises: torch's result of ``{op}`` requires grad, but backward() through it fails."
    return vjp


# Results that torch marks as requiring grad without giving them a derivative (graphc/frontend/data_dependent.py;
# scatter with a reduce, graphc/frontend/scatter.py; nextafter, graphc/frontend/arithmetic.py; binomial, graphc/frontend/sampling.py;
# ldl_factor and ldl_solve, graphc/frontend/ldl_factorization.py).
for _op in ("unique", "unique_consecutive", "bincount", "scatter", "nextafter", "binomial", "ldl_factor", "ldl_solve"):
    RULES[f"{_op}_no_derivative"] = _no_derivative(_op)


# ----------------------------------------------------------------------------- inputs of torch's own backward ops
# (``composites.backward_reads``): operand 1 is the input; the rule gives it the gradient that reached the
# marker, and, while a backward graph is recorded (create_graph), makes that gradient depend on the input.


@rule("backward_reads")
def backward_reads_vjp(node: Node, g: Node) -> tuple:
    """``g``, plus a zero that depends on the input with derivative zero: torch's ``self: zeros_like(grad)``
    of threshold_backward and its kin. ``g`` itself reads the input only through comparisons, which carry
    no gradient, so without the zero a gradient penalty would leave the input (and the bias before a
    ReLU) with no gradient where torch gives zeros."""
    x = node.inputs[1]
    if not is_grad_enabled():
        return (g,)
    return (b.add(g, emit("custom_vjp", b.zeros_like(x), x, rule="zero_gradient")),)


@rule("backward_reads_result")
def backward_reads_result_vjp(node: Node, g: Node) -> tuple:
    """``backward_reads`` for a function whose backward op reads its result (relu's ``threshold_backward(grad,
    result, 0)``, the in-place leaky_relu_ and rrelu_): the zero reaches the result and goes through that op
    again, so every further derivative is a zero that requires grad too (``repeated_zero_gradient``)."""
    x = node.inputs[1]
    if not is_grad_enabled():
        return (g,)
    return (b.add(g, emit("custom_vjp", b.zeros_like(x), x, rule="repeated_zero_gradient")),)


@rule("repeated_zero_gradient")
def repeated_zero_gradient_vjp(node: Node, g: Node) -> tuple:
    """A zero for the operand that, while a backward graph is recorded, is again such a zero."""
    x = node.inputs[1]
    if not is_grad_enabled():
        return (b.zeros_like(g),)
    return (emit("custom_vjp", b.zeros_like(g), x, rule="repeated_zero_gradient"),)


@rule("backward_reads_undefined")
def backward_reads_undefined_vjp(node: Node, g: Node) -> tuple:
    """``g``, which, while a backward graph is recorded, requires grad with no derivative for the input:
    torch's grid_sampler_2d_backward reads the input, yet its double backward gives the input none."""
    x = node.inputs[1]
    if not is_grad_enabled():
        return (g,)
    return (emit("custom_vjp", g, g, x, rule="first_only"),)


@rule("first_only")
def first_only_vjp(node: Node, g: Node) -> tuple:
    """``g`` for operand 1, None for the others: a value that depends on the others only as torch's
    backward ops do, with no derivative for them (prelu's gradient at 0, ``backward_reads_undefined``)."""
    return (g, *(None for _ in node.inputs[2:]))


@rule("slope")
def slope_vjp(node: Node, g: Node) -> tuple:
    """``g * slope`` for x (operands x, slope): the slope is built so that its own derivative is torch's
    double backward (elu's ``elu_double_backward`` masks it with x < 0, where its first derivative takes
    x <= 0)."""
    return (b.mul(g, node.inputs[2]), None)


@rule("prelu")
def prelu_vjp(node: Node, g: Node) -> tuple:
    """torch's ``_prelu_kernel_backward``: ``g`` above 0 and ``w g`` at and below for x, ``x g`` at and below
    for w (operands x and w broadcast to x's shape). Its double backward masks with x >= 0, so at x = 0
    the values are these and their derivatives the positive side's: ``g`` passes to the incoming
    gradient, nothing to w or x."""
    _, x, w = node.inputs
    positive, negative = b.compare("gt", x, 0), b.compare("lt", x, 0)
    scaled = b.mul(w, g)
    gx = b.where(positive, g, b.where(negative, scaled, emit("custom_vjp", scaled, g, rule="first_only")))
    product = b.mul(x, g)
    gw = b.where(positive, 0.0, b.where(negative, product, emit("detach", product)))
    return (gx, gw)


@rule("elu_result")
def elu_result_vjp(node: Node, g: Node) -> tuple:
    """torch's ``elu_backward`` of an in-place elu, celu or selu, which reads the result r (this node):
    ``g * input_scale * (r + negcoef)`` at and below 0, ``g * poscoef`` above (operands x and the three
    constants). Its derivative reads r again, masked with r < 0, so every order goes through this rule,
    as torch's does through its backward op (celu's input_scale, 1 / alpha rounded to float32, each time)."""
    _, x, negcoef, poscoef, input_scale = node.inputs
    below = b.where(b.compare("lt", node, 0), node, 0.0)
    slope = b.where(b.compare("le", node, 0), b.mul(b.add(below, negcoef), input_scale), poscoef)
    return (b.mul(g, slope), None, None, None)


def _reads_without_derivative(backward: str) -> Callable[[Node, Node], tuple]:
    def vjp(node: Node, g: Node) -> tuple:
        x = node.inputs[1]
        if not is_grad_enabled():
            return (g,)
        return (emit("custom_vjp", g, g, x, rule=f"{backward}_no_derivative"),)

    vjp.__doc__ = f"""``g``, which, while a backward graph is recorded, requires grad and raises when differentiated:
    torch's {backward} has no derivative, for its input nor for the gradient it receives."""
    return vjp


for _op in ("hardsigmoid", "multi_margin_loss", "multilabel_margin_loss"):
    RULES[f"{_op}_backward_no_derivative"] = _no_derivative(f"{_op}_backward")
    RULES[f"{_op}_backward_reads"] = _reads_without_derivative(f"{_op}_backward")


# ----------------------------------------------------------------------------- torch's derivatives of the math composites
# (graphc.ir.composites): the operands are the function's inputs, ``node`` is its value.


@rule("tan")
def tan_vjp(node: Node, g: Node) -> tuple:
    return (b.mul(g, b.add(b.mul(node, node), 1.0)),)


def _one_minus_square_rsqrt(x: Node) -> Node:
    return b.unary("rsqrt", b.sub(1.0, b.mul(x, x)))


@rule("asin")
def asin_vjp(node: Node, g: Node) -> tuple:
    return (b.mul(g, _one_minus_square_rsqrt(node.inputs[1])),)


@rule("acos")
def acos_vjp(node: Node, g: Node) -> tuple:
    return (b.neg(b.mul(g, _one_minus_square_rsqrt(node.inputs[1]))),)


@rule("atan2")
def atan2_vjp(node: Node, g: Node) -> tuple:
    """``g x / (x**2 + y**2)`` for y and ``-g y / (x**2 + y**2)`` for x; 0 where x**2 + y**2 is 0, as torch."""
    _, y, x = node.inputs
    squares = b.add(b.mul(y, y), b.mul(x, x))
    inverse = b.where(b.compare("eq", squares, 0), 0.0, b.unary("reciprocal", squares))
    return (b.mul(b.mul(g, x), inverse), b.mul(b.mul(g, b.neg(y)), inverse))


@rule("sinc")
def sinc_vjp(node: Node, g: Node) -> tuple:
    """torch's ``g (pi x cos(pi x) - sin(pi x)) / (pi x**2)``, 0 where pi x**2 is 0."""
    x = node.inputs[1]
    product = b.mul(x, math.pi)
    squared = b.mul(b.mul(x, x), math.pi)
    slope = b.div(b.mul(g, b.sub(b.mul(product, b.unary("cos", product)), b.unary("sin", product))), squared)
    return (b.where(b.compare("eq", squared, 0), 0.0, slope),)


@rule("sinh")
def sinh_vjp(node: Node, g: Node) -> tuple:
    return (b.mul(g, composites.cosh(node.inputs[1])),)


@rule("cosh")
def cosh_vjp(node: Node, g: Node) -> tuple:
    return (b.mul(g, composites.sinh(node.inputs[1])),)


@rule("asinh")
def asinh_vjp(node: Node, g: Node) -> tuple:
    x = node.inputs[1]
    return (b.mul(g, b.unary("rsqrt", b.add(b.mul(x, x), 1.0))),)


@rule("acosh")
def acosh_vjp(node: Node, g: Node) -> tuple:
    x = node.inputs[1]
    return (b.mul(g, b.unary("rsqrt", b.sub(b.mul(x, x), 1.0))),)


@rule("atanh")
def atanh_vjp(node: Node, g: Node) -> tuple:
    x = node.inputs[1]
    return (b.div(g, b.sub(1.0, b.mul(x, x))),)


def _logit_slope(x: Node, g: Node) -> Node:
    """``g / (x (1 - x))``; ``g * inf`` at 0 and 1, also at -0.0 (hence |x (1 - x)|, which is x (1 - x) in [0, 1])."""
    return b.div(g, b.unary("abs", b.mul(x, b.sub(1.0, x))))


@rule("logit")
def logit_vjp(node: Node, g: Node) -> tuple:
    """``g / (x (1 - x))``, NaN outside [0, 1], as torch."""
    x = node.inputs[1]
    outside = b.binary("or", b.compare("lt", x, 0), b.compare("gt", x, 1))
    return (b.where(outside, math.nan, _logit_slope(x, g)),)


@rule("logit_clamped")
def logit_clamped_vjp(node: Node, g: Node) -> tuple:
    """logit(x, eps): ``g / (x (1 - x))`` inside [eps, 1 - eps] (the bounds are operands 2 and 3), 0 where the clamp held x."""
    _, x, low, high = node.inputs
    outside = b.binary("or", b.compare("lt", x, low), b.compare("gt", x, high))
    return (b.where(outside, 0.0, _logit_slope(x, g)), None, None)


@rule("xlogy")
def xlogy_vjp(node: Node, g: Node) -> tuple:
    """torch's: ``xlogy(g, y)`` for x, but 0 where x is 0 and y <= 0; ``g x / y`` for y."""
    _, x, y = node.inputs
    zero = b.binary("and", b.compare("eq", x, 0), b.compare("le", y, 0))
    return (b.where(zero, 0.0, composites.xlogy(g, y)), b.div(b.mul(g, x), y))


@rule("copysign")
def copysign_vjp(node: Node, g: Node) -> tuple:
    """torch's: ``g * copysign(x, y) / x`` for x (0 where x is 0), zero for y."""
    value, x, y = node.inputs
    ratio = b.where(b.compare("eq", x, 0), 0.0, b.div(value, x))
    return (b.mul(g, ratio), b.zeros_like(y))


@rule("hypot")
def hypot_vjp(node: Node, g: Node) -> tuple:
    _, x, y = node.inputs
    return (b.div(b.mul(g, x), node), b.div(b.mul(g, y), node))


@rule("heaviside")
def heaviside_vjp(node: Node, g: Node) -> tuple:
    """Raises: torch has no derivative for heaviside (its step is not even a zero gradient there)."""
    where = f"\n  at {node.loc}" if node.loc else ""
    raise NoDerivativeError(f"heaviside: the derivative is not implemented, as in torch{where}")


# ----------------------------------------------------------------------------- torch's derivatives of the special functions
# (graphc.ir.special): the operands are the function's inputs, ``node`` is its value.

_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2 * math.pi)


@rule("lgamma")
def lgamma_vjp(node: Node, g: Node) -> tuple:
    return (b.mul(g, special.digamma(node.inputs[1])),)


@rule("digamma")
def digamma_vjp(node: Node, g: Node) -> tuple:
    return (b.mul(g, special.polygamma(1, node.inputs[1])),)


@rule("erfc")
def erfc_vjp(node: Node, g: Node) -> tuple:
    x = node.inputs[1]
    return (b.mul(g, b.mul(b.unary("exp", b.neg(b.mul(x, x))), -_TWO_OVER_SQRT_PI)),)


@rule("erfcx")
def erfcx_vjp(node: Node, g: Node) -> tuple:
    """torch's ``g (2 x erfcx(x) - 2 / sqrt(pi))``."""
    x = node.inputs[1]
    return (b.mul(g, b.sub(b.mul(b.mul(x, node), 2.0), _TWO_OVER_SQRT_PI)),)


@rule("erfinv")
def erfinv_vjp(node: Node, g: Node) -> tuple:
    """torch's ``g sqrt(pi) / 2 exp(erfinv(x)**2)``."""
    return (b.mul(g, b.mul(b.unary("exp", b.mul(node, node)), math.sqrt(math.pi) / 2)),)


@rule("ndtr")
def ndtr_vjp(node: Node, g: Node) -> tuple:
    x = node.inputs[1]
    return (b.mul(g, b.div(b.unary("exp", b.mul(b.mul(x, x), -0.5)), _SQRT_2PI)),)


@rule("ndtri")
def ndtri_vjp(node: Node, g: Node) -> tuple:
    """torch's ``g sqrt(2 pi) exp(ndtri(p)**2 / 2)``."""
    return (b.mul(g, b.mul(b.unary("exp", b.mul(b.mul(node, node), 0.5)), _SQRT_2PI)),)


@rule("log_ndtr")
def log_ndtr_vjp(node: Node, g: Node) -> tuple:
    """torch's ``g / sqrt(2 pi) exp(-(log_ndtr(x) + x**2 / 2))``: finite far in the left tail, where ndtr underflows."""
    x = node.inputs[1]
    exponent = b.neg(b.add(node, b.mul(b.mul(x, x), 0.5)))
    return (b.div(b.mul(g, b.unary("exp", exponent)), _SQRT_2PI),)


@rule("i0")
def i0_vjp(node: Node, g: Node) -> tuple:
    return (b.mul(g, special.i1(node.inputs[1])),)


@rule("i0e")
def i0e_vjp(node: Node, g: Node) -> tuple:
    """torch's ``g (i1e(x) - sgn(x) i0e(x))``."""
    x = node.inputs[1]
    return (b.mul(g, b.sub(special.i1e(x), b.mul(b.unary("sign", x), node))),)


def _bessel_i1_slope(node: Node, g: Node, unscaled: Node) -> Node:
    """torch's ``g (f0(x) - i1(x) / x)``-style formulas, 1/2 where |x| <= eps (the limit at 0)."""
    x = node.inputs[1]
    eps = float(np.finfo(x.dtype.numpy).eps)
    not_tiny = b.compare("gt", b.unary("abs", x), eps)
    return b.mul(g, b.where(not_tiny, unscaled, 0.5))


@rule("i1")
def i1_vjp(node: Node, g: Node) -> tuple:
    x = node.inputs[1]
    return (_bessel_i1_slope(node, g, b.sub(special.i0(x), b.div(node, x))),)


@rule("i1e")
def i1e_vjp(node: Node, g: Node) -> tuple:
    """torch's ``g (i0e(x) - i1e(x) (sgn(x) + 1 / x))``."""
    x = node.inputs[1]
    return (_bessel_i1_slope(node, g, b.sub(special.i0e(x), b.mul(node, b.add(b.unary("sign", x), b.unary("reciprocal", x))))),)


def _incomplete_gamma_vjp(sign: float) -> Callable[[Node, Node], tuple]:
    def vjp(node: Node, g: Node) -> tuple:
        _, a, x = node.inputs
        density = b.unary("exp", b.sub(b.sub(b.mul(b.sub(a, 1.0), b.unary("log", x)), x), special.lgamma(a)))
        return (g, b.mul(g, density) if sign > 0 else b.neg(b.mul(g, density)))

    vjp.__doc__ = f"""torch's: ``{"" if sign > 0 else "-"}g exp((a - 1) log(x) - x - lgamma(a))`` for x; for a, ``g`` reaches
    the marker ``{"igamma" if sign > 0 else "igammac"}_input_no_derivative``, which raises (torch has no derivative for a)."""
    return vjp


RULES["igamma"], RULES["igammac"] = _incomplete_gamma_vjp(1.0), _incomplete_gamma_vjp(-1.0)
RULES["igamma_input_no_derivative"] = _no_derivative("igamma with respect to its first argument (input)")
RULES["igammac_input_no_derivative"] = _no_derivative("igammac with respect to its first argument (input)")


@rule("xlog1py")
def xlog1py_vjp(node: Node, g: Node) -> tuple:
    """torch's: ``xlog1py(g, y)`` for x, but 0 where x is 0 and y <= -1; ``g x / (1 + y)`` for y."""
    _, x, y = node.inputs
    zero = b.binary("and", b.compare("eq", x, 0), b.compare("le", y, -1))
    return (b.where(zero, 0.0, special.xlog1py(g, y)), b.div(b.mul(g, x), b.add(y, 1.0)))


@rule("entr")
def entr_vjp(node: Node, g: Node) -> tuple:
    """torch's ``-g (1 + log(x))``: inf at 0, NaN below."""
    x = node.inputs[1]
    return (b.neg(b.mul(g, b.add(b.unary("log", x), 1.0))),)
