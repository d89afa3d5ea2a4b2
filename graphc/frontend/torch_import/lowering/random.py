"""Random numbers, dropout, rrelu and multinomial, through graphc's counter-based ``rand`` primitive.

Every random op gets its own seed input, redrawn on each call, so a compiled
dropout draws a fresh mask every step; the backward receives the same seed and
recomputes the same mask. The streams are graphc's, not torch's.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from graphc.frontend import sampling
from graphc.frontend.torch_import.lowering.table import LoweringContext, lowers
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import emit

aten = torch.ops.aten
KIND = "random"


def uniform(ctx: LoweringContext, shape: tuple, dtype: dtypes.DType) -> Node:
    return emit("rand", ctx.seed(), shape=tuple(shape), dtype=dtype)


@lowers(KIND, aten.native_dropout.default)
def native_dropout(ctx: LoweringContext, x: Node, p: float, train: bool | None) -> tuple[Node, Node]:
    """(x * mask / (1 - p), mask) with mask = u >= p, or (x, all true) outside training."""
    if train is False:
        return x, b.full(x.shape, True, dtypes.bool_)
    if p >= 1.0:
        return b.zeros_like(x), b.full(x.shape, False, dtypes.bool_)
    keep = b.compare("ge", uniform(ctx, x.shape, x.dtype if x.dtype.is_floating_point else dtypes.float32), p)
    return b.where(keep, b.mul(x, 1.0 / (1.0 - p)), 0.0), keep


@lowers(KIND, aten.rand.default, aten.rand_like.default)
def rand(ctx: LoweringContext, *_: Any, **__: Any) -> Node:
    return uniform(ctx, ctx.out_shape(), ctx.out_dtype())


@lowers(KIND, aten.randn.default, aten.randn_like.default)
def randn(ctx: LoweringContext, *_: Any, **__: Any) -> Node:
    """Box-Muller: sqrt(-2 log(1 - u)) * cos(2 pi v)."""
    shape, dtype = ctx.out_shape(), ctx.out_dtype()
    radius = b.unary("sqrt", b.mul(b.unary("log", b.sub(1.0, uniform(ctx, shape, dtype))), -2.0))
    return b.mul(radius, b.unary("cos", b.mul(uniform(ctx, shape, dtype), 2 * math.pi)))


@lowers(KIND, aten.bernoulli.p)
def bernoulli(ctx: LoweringContext, x: Node, p: float = 0.5, generator: Any = None) -> Node:
    return b.cast(b.compare("lt", uniform(ctx, x.shape, ctx.out_dtype()), p), ctx.out_dtype())


@lowers(KIND, aten.multinomial.default)
def multinomial(ctx: LoweringContext, x: Node, num_samples: int, replacement: bool = False, *, generator: Any = None) -> Node:
    """graphc's multinomial (graphc/frontend/sampling.py) on this program's own uniform draws."""
    return sampling.multinomial_of_draws(x, num_samples, replacement, lambda shape: uniform(ctx, shape, dtypes.float64))


@lowers(KIND, aten.rrelu_with_noise_functional.default)
def rrelu_with_noise(
    ctx: LoweringContext, x: Node, noise: Node, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False, generator: Any = None
) -> tuple[Node, Node]:
    """(output, noise): in training each element not above 0 is scaled by its own slope drawn from
    ``[lower, upper)``, which the noise records (1 elsewhere) and which is its gradient, as torch's; in
    eval the slope is ``(lower + upper) / 2`` and the noise comes back unchanged."""
    positive = b.compare("gt", x, 0)
    if not training:
        return b.where(positive, x, b.mul(x, (lower + upper) / 2)), noise
    slope = b.add(b.mul(uniform(ctx, x.shape, x.dtype), upper - lower), lower)
    return b.where(positive, x, b.mul(x, slope)), b.where(positive, b.full_like(slope, 1.0), slope)
