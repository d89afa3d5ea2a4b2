"""torch's remaining elementwise arithmetic as graphc's front end builds it (graphc/frontend/arithmetic.py,
bitwise.py): copysign, fmax/fmin, ldexp, frexp, nextafter, gcd/lcm and the bit shifts of integers.

These are composites whose exactness and gradients are graphc's front end's (bit-exact frexp and
nextafter, copysign's gradient only to its input, gcd unrolled), so each lowering calls the function
of the same name. logaddexp, renorm, addr, hardshrink and prelu reach the importer already decomposed.
"""

from __future__ import annotations

from typing import Any

import torch

from graphc.frontend import arithmetic, bitwise
from graphc.frontend.torch_import.lowering.frontend import call
from graphc.frontend.torch_import.lowering.table import LoweringContext, lowers, operand
from graphc.ir.graph import Node

aten = torch.ops.aten
KIND = "elementwise"


@lowers(KIND, aten.copysign.Tensor, aten.copysign.Scalar)
def copysign(ctx: LoweringContext, x: Node, other: Any) -> Node:
    return call(arithmetic.copysign, x, operand(other))


@lowers(KIND, aten.fmax.default)
def fmax(ctx: LoweringContext, x: Node, other: Node) -> Node:
    return call(arithmetic.fmax, x, other)


@lowers(KIND, aten.fmin.default)
def fmin(ctx: LoweringContext, x: Node, other: Node) -> Node:
    return call(arithmetic.fmin, x, other)


@lowers(KIND, aten.ldexp.Tensor)
def ldexp(ctx: LoweringContext, x: Node, other: Node) -> Node:
    return call(arithmetic.ldexp, x, other)


@lowers(KIND, aten.frexp.Tensor)
def frexp(ctx: LoweringContext, x: Node) -> tuple[Node, Node]:
    return call(arithmetic.frexp, x)


@lowers(KIND, aten.nextafter.default)
def nextafter(ctx: LoweringContext, x: Node, other: Node) -> Node:
    return call(arithmetic.nextafter, x, other)


@lowers(KIND, aten.gcd.default)
def gcd(ctx: LoweringContext, x: Node, other: Node) -> Node:
    return call(arithmetic.gcd, x, other)


@lowers(KIND, aten.lcm.default)
def lcm(ctx: LoweringContext, x: Node, other: Node) -> Node:
    return call(arithmetic.lcm, x, other)


@lowers(KIND, aten.bitwise_not.default)
def bitwise_not(ctx: LoweringContext, x: Node) -> Node:
    """``~``: logical not of bools, ``-x - 1`` of integers."""
    return call(bitwise.bitwise_not, x)


@lowers(
    KIND,
    aten.bitwise_left_shift.Tensor,
    aten.bitwise_left_shift.Tensor_Scalar,
    aten.bitwise_left_shift.Scalar_Tensor,
    aten.__lshift__.Tensor,
    aten.__lshift__.Scalar,
)
def left_shift(ctx: LoweringContext, x: Any, other: Any) -> Node:
    return call(bitwise.bitwise_left_shift, operand(x), operand(other))


@lowers(
    KIND,
    aten.bitwise_right_shift.Tensor,
    aten.bitwise_right_shift.Tensor_Scalar,
    aten.bitwise_right_shift.Scalar_Tensor,
    aten.__rshift__.Tensor,
    aten.__rshift__.Scalar,
)
def right_shift(ctx: LoweringContext, x: Any, other: Any) -> Node:
    return call(bitwise.bitwise_right_shift, operand(x), operand(other))
