"""torch's remaining elementwise arithmetic as graphc's front end builds it (graphc/frontend/arithmetic.py,
bitwise.py): copysign, fmax/fmin, ldexp, frexp, nextafter, gcd/lcm and the bit operations of integers.

These are composites whose exactness and gradients are graphc's front end's (bit-exact frexp and
nextafter, copysign's gradient only to its input, gcd unrolled), so each lowering calls the function
of the same name. logaddexp, renorm, addr, hardshrink and prelu reach the importer already decomposed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from graphc.frontend import arithmetic, bitwise, functional
from graphc.frontend.torch_import.lowering.frontend import call
from graphc.frontend.torch_import.lowering.table import Lowering, LoweringContext, lowers, operand

aten = torch.ops.aten
KIND = "elementwise"


def _same_function(fn: Callable[..., Any]) -> Lowering:
    """The lowering of an op whose aten arguments are those of graphc's function ``fn`` (numbers kept as numbers)."""

    def lower(ctx: LoweringContext, *args: Any) -> Any:
        return call(fn, *(operand(a) for a in args))

    lower.__name__ = fn.__name__
    return lower


for _fn, _targets in [
    (arithmetic.copysign, (aten.copysign.Tensor, aten.copysign.Scalar)),
    (arithmetic.fmax, (aten.fmax.default,)),
    (arithmetic.fmin, (aten.fmin.default,)),
    (arithmetic.ldexp, (aten.ldexp.Tensor,)),
    (arithmetic.frexp, (aten.frexp.Tensor,)),
    (arithmetic.nextafter, (aten.nextafter.default,)),
    (arithmetic.gcd, (aten.gcd.default,)),
    (arithmetic.lcm, (aten.lcm.default,)),
    (functional.bitwise_and, (aten.bitwise_and.Tensor, aten.bitwise_and.Scalar, aten.bitwise_and.Scalar_Tensor, aten.__and__.Tensor, aten.__and__.Scalar)),
    (functional.bitwise_or, (aten.bitwise_or.Tensor, aten.bitwise_or.Scalar, aten.bitwise_or.Scalar_Tensor, aten.__or__.Tensor, aten.__or__.Scalar)),
    (functional.bitwise_xor, (aten.bitwise_xor.Tensor, aten.bitwise_xor.Scalar, aten.bitwise_xor.Scalar_Tensor, aten.__xor__.Tensor, aten.__xor__.Scalar)),
    (bitwise.bitwise_not, (aten.bitwise_not.default,)),  # ``~``: logical not of bools, ``-x - 1`` of integers
    (
        bitwise.bitwise_left_shift,
        (aten.bitwise_left_shift.Tensor, aten.bitwise_left_shift.Tensor_Scalar, aten.bitwise_left_shift.Scalar_Tensor)
        + (aten.__lshift__.Tensor, aten.__lshift__.Scalar),
    ),
    (
        bitwise.bitwise_right_shift,
        (aten.bitwise_right_shift.Tensor, aten.bitwise_right_shift.Tensor_Scalar, aten.bitwise_right_shift.Scalar_Tensor)
        + (aten.__rshift__.Tensor, aten.__rshift__.Scalar),
    ),
]:
    lowers(KIND, *_targets)(_same_function(_fn))
