"""Elementwise ATen ops: arithmetic, comparisons, math functions, activations, casts, fills.

Promotion and broadcasting follow PyTorch through ``graphc.ir.build``, so a
lowering is mostly the name of a primitive; composites (gelu, elu, expm1, ...)
are written out of primitives with torch's gradient conventions, the math functions among them
by ``graphc.ir.composites``, which the front end uses too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from graphc.frontend.torch_import.lowering.table import LoweringContext, graphc_dtype, lowers, operand
from graphc.ir import build as b
from graphc.ir import composites, dtypes, incomplete_gamma, special
from graphc.ir.graph import Node
from graphc.ir.registry import emit

aten = torch.ops.aten
KIND = "elementwise"
# Ops that torch.export would decompose into formulas whose chain rule is not torch's gradient
# (sinc's where at 0 gives NaN, xlogy's and xlog1py's give 0 for x where torch's is log(y), heaviside's
# has one where torch's raises, entr's is 0 at 0) or that lose the tails (ndtr and log_ndtr through
# erf): the exporter keeps them whole, and they are lowered below.
UNDECOMPOSED = (
    aten.sinc.default,
    aten.logit.default,
    aten.xlogy.Tensor,
    aten.xlogy.Scalar_Self,
    aten.xlogy.Scalar_Other,
    aten.heaviside.default,
    aten.special_ndtr.default,
    aten.special_log_ndtr.default,
    aten.special_xlog1py.default,
    aten.special_xlog1py.self_scalar,
    aten.special_xlog1py.other_scalar,
    aten.special_entr.default,
)


def _scaled(value: Any, alpha: Any) -> Any:
    if alpha == 1:
        return value
    return b.mul(value, alpha) if isinstance(value, Node) else value * alpha


# ------------------------------------------------------------------ arithmetic


@lowers(KIND, aten.add.Tensor, aten.add.Scalar)
def add(ctx: LoweringContext, x: Any, other: Any, alpha: Any = 1) -> Node:
    return b.add(operand(x), _scaled(operand(other), alpha))


@lowers(KIND, aten.sub.Tensor, aten.sub.Scalar)
def sub(ctx: LoweringContext, x: Any, other: Any, alpha: Any = 1) -> Node:
    return b.sub(operand(x), _scaled(operand(other), alpha))


@lowers(KIND, aten.rsub.Tensor, aten.rsub.Scalar)
def rsub(ctx: LoweringContext, x: Any, other: Any, alpha: Any = 1) -> Node:
    return b.sub(operand(other), _scaled(operand(x), alpha))


@lowers(KIND, aten.mul.Tensor, aten.mul.Scalar)
def mul(ctx: LoweringContext, x: Any, other: Any) -> Node:
    return b.mul(operand(x), operand(other))


@lowers(KIND, aten.div.Tensor, aten.div.Scalar)
def div(ctx: LoweringContext, x: Any, other: Any) -> Node:
    return b.div(operand(x), operand(other))


@lowers(KIND, aten.div.Tensor_mode, aten.div.Scalar_mode)
def div_mode(ctx: LoweringContext, x: Any, other: Any, rounding_mode: str | None = None) -> Node:
    return b.cast(b.divide(operand(x), operand(other), rounding_mode), ctx.out_dtype())


@lowers(KIND, aten.remainder.Tensor, aten.remainder.Scalar, aten.remainder.Scalar_Tensor)
def remainder(ctx: LoweringContext, x: Any, other: Any) -> Node:
    return b.binary("remainder", operand(x), operand(other))


@lowers(KIND, aten.fmod.Tensor, aten.fmod.Scalar)
def fmod(ctx: LoweringContext, x: Any, other: Any) -> Node:
    return b.binary("fmod", operand(x), operand(other))


@lowers(KIND, aten.addcmul.default)
def addcmul(ctx: LoweringContext, x: Node, t1: Node, t2: Node, value: Any = 1) -> Node:
    return composites.addcmul(x, t1, t2, value)


@lowers(KIND, aten.addcdiv.default)
def addcdiv(ctx: LoweringContext, x: Node, t1: Node, t2: Node, value: Any = 1) -> Node:
    return composites.addcdiv(x, t1, t2, value)


@lowers(KIND, aten.pow.Tensor_Scalar)
def pow_scalar(ctx: LoweringContext, x: Node, exponent: Any) -> Node:
    if exponent == 1:
        return b.cast(x, ctx.out_dtype())
    if exponent == 2:
        return b.cast(b.mul(x, x), ctx.out_dtype())
    return b.binary("pow", x, exponent)


@lowers(KIND, aten.pow.Tensor_Tensor, aten.pow.Scalar)
def pow_(ctx: LoweringContext, x: Any, exponent: Any) -> Node:
    return b.binary("pow", operand(x), operand(exponent))


@lowers(KIND, aten.maximum.default)
def maximum(ctx: LoweringContext, x: Node, other: Node) -> Node:
    return b.binary("maximum", x, other)


@lowers(KIND, aten.minimum.default)
def minimum(ctx: LoweringContext, x: Node, other: Node) -> Node:
    return b.binary("minimum", x, other)


@lowers(KIND, aten.neg.default)
def neg(ctx: LoweringContext, x: Node) -> Node:
    return b.neg(x)


# ------------------------------------------------------------------ math functions


def _unary(op: str) -> Any:
    def lower(ctx: LoweringContext, x: Node) -> Node:
        return b.unary(op, x)

    lower.__name__ = op
    return lower


for _op, _target in [
    ("exp", aten.exp.default),
    ("expm1", aten.expm1.default),
    ("exp2", aten.exp2.default),
    ("log", aten.log.default),
    ("log2", aten.log2.default),
    ("log1p", aten.log1p.default),
    ("atan", aten.atan.default),
    ("rsqrt", aten.rsqrt.default),
    ("sin", aten.sin.default),
    ("cos", aten.cos.default),
    ("tanh", aten.tanh.default),
    ("erf", aten.erf.default),
    ("abs", aten.abs.default),
    ("sign", aten.sign.default),
    ("reciprocal", aten.reciprocal.default),
    ("sigmoid", aten.sigmoid.default),
]:
    lowers(KIND, _target)(_unary(_op))


def sqrt_zero_grad(x: Node) -> Node:
    """``sqrt(x)`` with a zero gradient where ``x`` is 0, as torch's backward of ``std`` and of the
    2-norm (sqrt's own is ``inf``, and the chain through a variance then gives ``0 * inf = NaN``).
    The inner ``where`` feeds sqrt a 1 there, so neither branch's gradient is NaN."""
    zero = b.compare("eq", x, 0)
    return b.where(zero, 0.0, b.unary("sqrt", b.where(zero, 1.0, x)))


@lowers(KIND, aten.sqrt.default)
def sqrt(ctx: LoweringContext, x: Node) -> Node:
    # torch decomposes std and std_mean into var and sqrt; that sqrt keeps std's gradient convention,
    # while a sqrt the model writes itself keeps sqrt's (torch.sqrt(x.var()) has a NaN gradient in eager too).
    original = ctx.node.meta.get("original_aten") if ctx.node is not None else None
    if getattr(original, "overloadpacket", None) in (aten.std, aten.std_mean):
        return sqrt_zero_grad(x)
    return b.unary("sqrt", x)


def _float_unary(build: Any) -> Any:
    """A float function of ``graphc.ir.composites``, its operand in torch's result dtype (integers in float32)."""

    def lower(ctx: LoweringContext, x: Node) -> Node:
        return build(b.cast(x, ctx.out_dtype()))

    lower.__name__ = build.__name__
    return lower


for _build, _target in [
    (composites.log10, aten.log10.default),
    (composites.tan, aten.tan.default),
    (composites.asin, aten.asin.default),
    (composites.acos, aten.acos.default),
    (composites.sinh, aten.sinh.default),
    (composites.cosh, aten.cosh.default),
    (composites.asinh, aten.asinh.default),
    (composites.acosh, aten.acosh.default),
    (composites.atanh, aten.atanh.default),
]:
    lowers(KIND, _target)(_float_unary(_build))


@lowers(KIND, aten.atan2.default)
def atan2(ctx: LoweringContext, y: Node, x: Node) -> Node:
    return composites.atan2(*composites.float_operands("atan2", y, x))


@lowers(KIND, aten.hypot.default)
def hypot(ctx: LoweringContext, x: Node, y: Node) -> Node:
    return composites.hypot(*b.coerce("hypot", [x, y], ctx.out_dtype()))


@lowers(KIND, aten.signbit.default)
def signbit(ctx: LoweringContext, x: Node) -> Node:
    return composites.signbit(x)


@lowers(KIND, aten.sinc.default)
def sinc(ctx: LoweringContext, x: Node) -> Node:
    return composites.sinc(b.cast(x, ctx.out_dtype()))


@lowers(KIND, aten.logit.default)
def logit(ctx: LoweringContext, x: Node, eps: float | None = None) -> Node:
    return composites.logit(b.cast(x, ctx.out_dtype()), eps=eps)


@lowers(KIND, aten.xlogy.Tensor, aten.xlogy.Scalar_Self, aten.xlogy.Scalar_Other)
def xlogy(ctx: LoweringContext, x: Any, y: Any) -> Node:
    return composites.xlogy(*composites.float_operands("xlogy", operand(x), operand(y)))


# ------------------------------------------------------------------ special functions (graphc.ir.special)

for _build, _targets in [
    (special.lgamma, (aten.lgamma.default, aten.special_gammaln.default)),
    (special.digamma, (aten.digamma.default, aten.special_psi.default)),
    (special.erfc, (aten.erfc.default,)),
    (special.erfcx, (aten.special_erfcx.default,)),
    (special.erfinv, (aten.erfinv.default,)),
    (special.ndtr, (aten.special_ndtr.default,)),
    (special.ndtri, (aten.special_ndtri.default,)),
    (special.log_ndtr, (aten.special_log_ndtr.default,)),
    (special.i0, (aten.i0.default,)),
    (special.i0e, (aten.special_i0e.default,)),
    (special.i1, (aten.special_i1.default,)),
    (special.i1e, (aten.special_i1e.default,)),
    (special.entr, (aten.special_entr.default,)),
]:
    lowers(KIND, *_targets)(_float_unary(_build))


@lowers(KIND, aten.special_modified_bessel_i0.default)
def modified_bessel_i0(ctx: LoweringContext, x: Node) -> Node:
    """i0 without a gradient: torch has no derivative for modified_bessel_i0 and _i1."""
    return emit("detach", special.i0(b.cast(x, ctx.out_dtype())))


@lowers(KIND, aten.special_modified_bessel_i1.default)
def modified_bessel_i1(ctx: LoweringContext, x: Node) -> Node:
    return emit("detach", special.i1(b.cast(x, ctx.out_dtype())))


@lowers(KIND, aten.special_spherical_bessel_j0.default)
def spherical_bessel_j0(ctx: LoweringContext, x: Node) -> Node:
    return emit("detach", special.spherical_bessel_j0(b.cast(x, ctx.out_dtype())))


@lowers(KIND, aten.polygamma.default)
def polygamma(ctx: LoweringContext, n: int, x: Node) -> Node:
    return special.polygamma(n, b.cast(x, ctx.out_dtype()))


@lowers(KIND, aten.mvlgamma.default, aten.special_multigammaln.default)
def mvlgamma(ctx: LoweringContext, x: Node, p: int) -> Node:
    return special.mvlgamma(b.cast(x, ctx.out_dtype()), p)


@lowers(KIND, aten.special_xlog1py.default, aten.special_xlog1py.self_scalar, aten.special_xlog1py.other_scalar)
def xlog1py(ctx: LoweringContext, x: Any, y: Any) -> Node:
    return special.xlog1py(*composites.float_operands("xlog1py", operand(x), operand(y)))


@lowers(KIND, aten.igamma.default)
def igamma(ctx: LoweringContext, a: Node, x: Node) -> Node:
    return incomplete_gamma.igamma(*composites.float_operands("igamma", a, x))


@lowers(KIND, aten.igammac.default)
def igammac(ctx: LoweringContext, a: Node, x: Node) -> Node:
    return incomplete_gamma.igammac(*composites.float_operands("igammac", a, x))


@lowers(KIND, aten.heaviside.default)
def heaviside(ctx: LoweringContext, x: Node, values: Node) -> Node:
    return composites.heaviside(*b.coerce("heaviside", [x, values], ctx.out_dtype()))


for _op, _target in [("floor", aten.floor.default), ("ceil", aten.ceil.default), ("trunc", aten.trunc.default), ("round", aten.round.default)]:
    lowers(KIND, _target)(_unary(_op))


@lowers(KIND, aten.round.decimals)
def round_decimals(ctx: LoweringContext, x: Node, decimals: int = 0) -> Node:
    return b.round_decimals(x, decimals)


# ------------------------------------------------------------------ activations


def relu_node(x: Node) -> Node:
    """where(x > 0, x, 0): the gradient at 0 is 0, as torch's threshold_backward."""
    return b.where(b.compare("gt", x, 0), x, 0)


@lowers(KIND, aten.relu.default)
def relu(ctx: LoweringContext, x: Node) -> Node:
    return relu_node(x)


@lowers(KIND, aten.gelu.default)
def gelu(ctx: LoweringContext, x: Node, approximate: str = "none") -> Node:
    if approximate == "tanh":
        inner = b.mul(b.add(x, b.mul(b.mul(b.mul(x, x), x), 0.044715)), math.sqrt(2 / math.pi))
        return b.mul(b.mul(x, 0.5), b.add(b.unary("tanh", inner), 1.0))
    return b.mul(b.mul(x, 0.5), b.add(b.unary("erf", b.mul(x, 1 / math.sqrt(2))), 1.0))


@lowers(KIND, aten.silu.default)
def silu(ctx: LoweringContext, x: Node) -> Node:
    return b.mul(x, b.unary("sigmoid", x))


@lowers(KIND, aten.hardtanh.default)
def hardtanh(ctx: LoweringContext, x: Node, min_val: float = -1.0, max_val: float = 1.0) -> Node:
    """The gradient passes strictly inside (min, max), as torch's hardtanh_backward."""
    clipped = b.where(b.compare("le", x, min_val), min_val, x)
    return b.where(b.compare("ge", x, max_val), max_val, clipped)


@lowers(KIND, aten.leaky_relu.default)
def leaky_relu(ctx: LoweringContext, x: Node, negative_slope: float = 0.01) -> Node:
    return b.where(b.compare("gt", x, 0), x, b.mul(x, negative_slope))


@lowers(KIND, aten.elu.default)
def elu(ctx: LoweringContext, x: Node, alpha: float = 1.0, scale: float = 1.0, input_scale: float = 1.0) -> Node:
    # expm1 of min(x, 0): above 0 its overflow would make the gradient that where sends it (zero) NaN
    negative = b.mul(b.unary("expm1", composites.clamp(b.mul(x, input_scale), None, 0.0)), alpha * scale)
    return b.where(b.compare("gt", x, 0), b.mul(x, scale), negative)


@lowers(KIND, aten.softplus.default)
def softplus(ctx: LoweringContext, x: Node, beta: float = 1.0, threshold: float = 20.0) -> Node:
    scaled = b.mul(x, beta)
    soft = b.div(b.unary("log1p", b.unary("exp", b.binary("minimum", scaled, b.full_like(scaled, threshold)))), beta)
    return b.where(b.compare("gt", scaled, threshold), x, soft)


@lowers(KIND, aten.clamp.default, aten.clamp.Tensor)
def clamp(ctx: LoweringContext, x: Node, min: Any = None, max: Any = None) -> Node:
    return b.cast(composites.clamp(x, min, max), ctx.out_dtype())


@lowers(KIND, aten.clamp_min.default, aten.clamp_min.Tensor)
def clamp_min(ctx: LoweringContext, x: Node, min: Any) -> Node:
    return b.cast(composites.clamp(x, min, None), ctx.out_dtype())


@lowers(KIND, aten.clamp_max.default, aten.clamp_max.Tensor)
def clamp_max(ctx: LoweringContext, x: Node, max: Any) -> Node:
    return b.cast(composites.clamp(x, None, max), ctx.out_dtype())


# ------------------------------------------------------------------ comparisons and logic


def _compare(op: str) -> Any:
    def lower(ctx: LoweringContext, x: Any, other: Any) -> Node:
        return b.compare(op, x, other)

    lower.__name__ = op
    return lower


for _op in ("eq", "ne", "lt", "le", "gt", "ge"):
    lowers(KIND, getattr(aten, _op).Tensor, getattr(aten, _op).Scalar)(_compare(_op))


def _bool(x: Any) -> Node:
    return b.cast(x, dtypes.bool_) if isinstance(x, Node) else b.constant(bool(x), dtypes.bool_)


@lowers(KIND, aten.logical_not.default)
def logical_not(ctx: LoweringContext, x: Node) -> Node:
    return b.unary("logical_not", x)


@lowers(KIND, aten.logical_and.default)
def logical_and(ctx: LoweringContext, x: Node, other: Any) -> Node:
    return b.binary("and", _bool(x), _bool(other))


@lowers(KIND, aten.logical_or.default)
def logical_or(ctx: LoweringContext, x: Node, other: Any) -> Node:
    return b.binary("or", _bool(x), _bool(other))


@lowers(KIND, aten.logical_xor.default)
def logical_xor(ctx: LoweringContext, x: Node, other: Any) -> Node:
    return b.compare("ne", _bool(x), _bool(other))


@lowers(KIND, aten.isnan.default)
def isnan(ctx: LoweringContext, x: Node) -> Node:
    return composites.isnan(x)


@lowers(KIND, aten.isinf.default)
def isinf(ctx: LoweringContext, x: Node) -> Node:
    return composites.isinf(x)


@lowers(KIND, aten.where.self, aten.where.ScalarSelf, aten.where.ScalarOther, aten.where.Scalar)
def where(ctx: LoweringContext, condition: Any, x: Any, other: Any) -> Node:
    return b.cast(b.where(condition, operand(x), operand(other)), ctx.out_dtype())


@lowers(KIND, aten.masked_fill.Scalar, aten.masked_fill.Tensor)
def masked_fill(ctx: LoweringContext, x: Node, mask: Node, value: Any) -> Node:
    fill = b.cast(value, x.dtype) if isinstance(value, Node) else b.constant(value, x.dtype)
    return b.where(mask, fill, x)


# ------------------------------------------------------------------ casts and copies


@lowers(KIND, aten._to_copy.default)
def to_copy(ctx: LoweringContext, x: Node, dtype: torch.dtype | None = None, **_: Any) -> Node:
    return b.cast(x, graphc_dtype(dtype)) if dtype is not None else x


@lowers(KIND, aten.clone.default, aten.alias.default, aten.lift_fresh_copy.default, aten.contiguous.default)
def identity(ctx: LoweringContext, x: Node, **_: Any) -> Node:
    return x


@lowers(KIND, aten.detach.default)
def detach(ctx: LoweringContext, x: Node) -> Node:
    return emit("detach", x)


@lowers(KIND, aten.copy.default)
def copy(ctx: LoweringContext, dst: Node, src: Node, non_blocking: bool = False) -> Node:
    return b.broadcast_to(b.cast(src, dst.dtype), dst.shape)


# ------------------------------------------------------------------ creation


@lowers(KIND, aten.full.default)
def full(ctx: LoweringContext, size: Any, fill_value: Any, **_: Any) -> Node:
    return _filled(ctx, fill_value)


def _filled(ctx: LoweringContext, value: Any) -> Node:
    value = operand(value)
    if isinstance(value, Node):
        return b.broadcast_to(b.cast(value, ctx.out_dtype()), ctx.out_shape())
    return b.full(ctx.out_shape(), value, ctx.out_dtype())


@lowers(
    KIND,
    aten.zeros.default,
    aten.empty.memory_format,
    aten.empty_strided.default,
    aten.empty_permuted.default,
    aten.new_zeros.default,
    aten.new_empty.default,
)
def zeros(ctx: LoweringContext, *_: Any, **__: Any) -> Node:
    return b.full(ctx.out_shape(), 0, ctx.out_dtype())


@lowers(KIND, aten.ones.default, aten.new_ones.default)
def ones(ctx: LoweringContext, *_: Any, **__: Any) -> Node:
    return b.full(ctx.out_shape(), 1, ctx.out_dtype())


@lowers(KIND, aten.new_full.default)
def new_full(ctx: LoweringContext, x: Node, size: Any, fill_value: Any, **_: Any) -> Node:
    return _filled(ctx, fill_value)


@lowers(KIND, aten.full_like.default)
def full_like(ctx: LoweringContext, x: Node, fill_value: Any, **_: Any) -> Node:
    return _filled(ctx, fill_value)


@lowers(KIND, aten.zeros_like.default, aten.empty_like.default)
def zeros_like(ctx: LoweringContext, x: Node, **_: Any) -> Node:
    return b.full(ctx.out_shape(), 0, ctx.out_dtype())


@lowers(KIND, aten.ones_like.default)
def ones_like(ctx: LoweringContext, x: Node, **_: Any) -> Node:
    return b.full(ctx.out_shape(), 1, ctx.out_dtype())


@lowers(KIND, aten.fill.Scalar)
def fill(ctx: LoweringContext, x: Node, value: Any) -> Node:
    return _filled(ctx, value)


@lowers(KIND, aten.scalar_tensor.default)
def scalar_tensor(ctx: LoweringContext, value: Any, **_: Any) -> Node:
    return _filled(ctx, value)


@lowers(KIND, aten.arange.default, aten.arange.start, aten.arange.start_step)
def arange(ctx: LoweringContext, *args: Any, **_: Any) -> Node:
    shape = ctx.out_shape()
    dtype = ctx.out_dtype()
    if not isinstance(shape[0], int):
        # A symbolic length (tril/triu over the batch, an assignment to a row of it): computed, from ``iota``.
        start, step = (0, 1) if len(args) == 1 else (args[0], args[2] if len(args) > 2 else 1)
        if not all(isinstance(v, (int, float)) for v in (start, step)):
            raise ctx.unsupported(f"arange with a symbolic length and a symbolic start or step ({start}, {step})")
        wide = dtypes.float64 if dtype.is_floating_point else dtypes.int64  # as torch: start + step * i, then the dtype
        positions = b.cast(emit("iota", shape=shape, axis=0, dtype=dtypes.int64), wide)
        return b.cast(b.add(b.mul(positions, step), start), dtype)
    bounds = [float(a) if isinstance(a, float) else int(a) for a in args]
    start, step = (0, 1) if len(bounds) == 1 else (bounds[0], bounds[2] if len(bounds) > 2 else 1)
    values = start + step * np.arange(shape[0], dtype=np.float64 if dtype.is_floating_point else np.int64)
    return ctx.constant(values.astype(dtype.numpy))
