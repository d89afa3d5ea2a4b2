"""torch's special functions (lgamma, digamma, polygamma, mvlgamma, erfc, erfinv, i0, igamma, igammac
and the ``torch.special`` ones beyond), computed by the composites of ``graphc.ir.special``; the
``graphc.special`` namespace gathers them with its aliases. Integer and bool inputs compute in the
default float, as in torch. docs/decisions.md ("Special functions") has the choices.
"""

from __future__ import annotations

from graphc.frontend.autocast_policy import autocast_op
from graphc.frontend.functional import TensorLike, unwrap, wrap
from graphc.frontend.pointwise import _float, _unary
from graphc.ir import composites as c
from graphc.ir import incomplete_gamma as ig
from graphc.ir import special as s
from graphc.ir.graph import Node
from graphc.ir.registry import op_error
from graphc.runtime.tensor import Tensor

METHODS = "lgamma digamma mvlgamma erfc erfinv i0 igamma igammac".split()
IN_PLACE = METHODS


lgamma = _unary(s.lgamma)
digamma = _unary(s.digamma)
erfc = _unary(s.erfc)
erfcx = _unary(s.erfcx)
erfinv = autocast_op(_unary(s.erfinv))
ndtr = _unary(s.ndtr)
ndtri = _unary(s.ndtri)
log_ndtr = _unary(s.log_ndtr)
i0 = _unary(s.i0)
i0e = _unary(s.i0e)
i1 = _unary(s.i1)
i1e = _unary(s.i1e)
entr = _unary(s.entr)
spherical_bessel_j0 = _unary(s.spherical_bessel_j0)


def _order(op: str, x: Node, name: str, value: object, least: int, message: str) -> int:
    """An integer argument (polygamma's n, mvlgamma's p) checked as torch checks it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise op_error(op, [x.type], {name: value}, f"{name} must be an int, not {type(value).__name__}")
    if value < least:
        raise op_error(op, [x.type], {name: value}, message)
    return value


def polygamma(n: int, input: Tensor) -> Tensor:
    """The n-th derivative of digamma (n >= 0)."""
    x = _float(input)
    return wrap(s.polygamma(_order("polygamma", x, "n", n, 0, "polygamma(n, x) does not support negative n (as torch)"), x))


def polygamma_method(self: Tensor, n: int) -> Tensor:
    """``x.polygamma(n)``: torch's method takes n after the tensor."""
    return polygamma(n, self)


def polygamma_in_place(self: Tensor, n: int) -> Tensor:
    return self._inplace(polygamma(n, self), op="polygamma_")


def mvlgamma(input: Tensor, p: int) -> Tensor:
    """The multivariate log-gamma function of dimension p (p >= 1)."""
    x = _float(input)
    return wrap(s.mvlgamma(x, _order("mvlgamma", x, "p", p, 1, "p has to be greater than or equal to 1 (as torch)")))


def xlog1py(input: TensorLike, other: TensorLike) -> Tensor:
    """input * log1p(other), 0 where input is 0, NaN where other is NaN."""
    return wrap(s.xlog1py(*c.float_operands("xlog1py", unwrap(input), unwrap(other))))


def _incomplete_gamma_operands(op: str, input: object, other: object) -> list[Node]:
    """Two tensors, promoted together and broadcast; torch refuses Python numbers and two integer tensors."""
    if not isinstance(input, Tensor) or not isinstance(other, Tensor):
        given = " and ".join(type(v).__name__ for v in (input, other))
        types = [v.type for v in (unwrap(input), unwrap(other)) if isinstance(v, Node)]
        raise op_error(op, types, {}, f"expected two tensors (as torch), got {given}")
    if not (input.dtype.is_floating_point or other.dtype.is_floating_point):
        raise op_error(op, [unwrap(input).type, unwrap(other).type], {}, "not implemented for integer or bool tensors (as torch): pass a float tensor")
    return c.float_operands(op, unwrap(input), unwrap(other))


def igamma(input: Tensor, other: Tensor) -> Tensor:
    """The regularized lower incomplete gamma function P(input, other) = gammainc; differentiable in other only."""
    return wrap(ig.igamma(*_incomplete_gamma_operands("igamma", input, other)))


def igammac(input: Tensor, other: Tensor) -> Tensor:
    """The regularized upper incomplete gamma function Q(input, other) = 1 - P(input, other) = gammaincc."""
    return wrap(ig.igammac(*_incomplete_gamma_operands("igammac", input, other)))


def multigammaln(input: Tensor, p: int) -> Tensor:
    return mvlgamma(input, p)
