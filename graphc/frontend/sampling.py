"""Random sampling with torch's names: multinomial and bernoulli.

The uniform draws come from graphc's generator (graphc/runtime/random.py: NumPy's in eager code,
a ``rand`` node whose seed is redrawn on every compiled call), so the samples follow torch's
distributions but not its random stream. multinomial with replacement inverts the cumulative
weights; without replacement it keeps the k smallest of Exp(1) / weight, which draws the
categories one after another in proportion to the weights left, as torch's sequential draws do.
"""

from __future__ import annotations

from typing import Any

from graphc.frontend.constructors import rand
from graphc.frontend.functional import node_of, wrap
from graphc.ir import build as b
from graphc.ir import composites as c
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import emit, op_error
from graphc.runtime.tensor import Tensor

METHODS = "multinomial bernoulli bernoulli_".split()


def _uniform(shape: tuple, generator: Any) -> Node:
    return node_of(rand(*shape, dtype=dtypes.float64, generator=generator))


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator: Any = None) -> Tensor:
    """``num_samples`` int64 category indices per row of non-negative weights (1-d or 2-d)."""
    x = node_of(input)
    attrs = {"num_samples": num_samples, "replacement": replacement}
    if x.type.ndim not in (1, 2):
        raise op_error("multinomial", [x.type], attrs, f"prob_dist must be 1 or 2 dim, got {x.type.ndim}")
    if not x.dtype.is_floating_point:
        raise op_error("multinomial", [x.type], attrs, f"multinomial only supports floating-point dtypes for input, got: {x.dtype.name}")
    categories = x.shape[-1]
    if num_samples <= 0:
        raise op_error("multinomial", [x.type], attrs, "cannot sample n_sample <= 0 samples")
    if not replacement and isinstance(categories, int) and num_samples > categories:
        message = f"cannot sample n_sample > prob_dist.size(-1) samples without replacement ({num_samples} > {categories})"
        raise op_error("multinomial", [x.type], attrs, message)
    weights = b.cast(x, dtypes.float64)
    bad = b.binary("or", b.binary("or", c.isnan(weights), c.isinf(weights)), b.compare("lt", weights, 0))
    weights = emit("check", weights, bad, message="multinomial: probability tensor contains either inf, nan or element < 0")
    rows = weights if x.type.ndim == 2 else b.reshape(weights, (1, categories))
    total = b.reduce("sum", rows, -1, True)
    empty = b.broadcast_to(b.compare("le", total, 0), rows.shape)
    rows = emit("check", rows, empty, message="multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
    count = rows.shape[0]
    if replacement:
        cumulative = emit("cumsum", rows, axis=1, reverse=False)
        drawn = b.mul(_uniform((count, num_samples), generator), total)
        below = b.compare("le", b.reshape(cumulative, (count, 1, categories)), b.reshape(drawn, (count, num_samples, 1)))
        picked = b.reduce("sum", b.cast(below, dtypes.int64), -1)
        picked = b.binary("minimum", picked, categories - 1)  # a draw rounded up to the total
    else:
        keys = b.div(b.neg(b.unary("log1p", b.neg(_uniform((count, categories), generator)))), rows)
        order = emit("argsort", keys, axis=1, descending=False)
        picked = emit("slice", order, starts=(0, 0), stops=(count, num_samples), steps=(1, 1))
    return wrap(picked if x.type.ndim == 2 else b.reshape(picked, (num_samples,)))


def bernoulli(input: Tensor, p: float | None = None, *, generator: Any = None) -> Tensor:
    """1 with probability ``p`` (the input's values without it), else 0, in the input's dtype."""
    x = node_of(input)
    if not x.dtype.is_floating_point:
        raise op_error("bernoulli", [x.type], {}, f"bernoulli is only implemented for floating point tensors, got {x.dtype.name}")
    if p is not None and not 0 <= p <= 1:
        raise op_error("bernoulli", [x.type], {"p": p}, f"bernoulli expects p to be in [0, 1], but got p={p}")
    probability = b.full_like(x, p) if p is not None else emit("detach", x)
    outside = b.binary("or", b.compare("lt", probability, 0), b.compare("gt", probability, 1))
    outside = b.binary("or", outside, c.isnan(probability))
    probability = emit("check", probability, outside, message="bernoulli: all elements of input should be between 0 and 1")
    drawn = _uniform(tuple(x.shape), generator)
    return wrap(b.cast(b.compare("lt", drawn, b.cast(probability, dtypes.float64)), x.dtype))


def bernoulli_(input: Tensor, p: float | Tensor = 0.5, *, generator: Any = None) -> Tensor:
    """Fill ``input`` in place with 1 with probability ``p`` (a number, or a tensor broadcast to the input), else 0."""
    x = node_of(input)
    if isinstance(p, Tensor):
        probability = b.broadcast_to(b.cast(node_of(p), dtypes.float64), x.shape)
        drawn = bernoulli(wrap(probability), generator=generator)
    else:
        drawn = bernoulli(wrap(b.full(x.shape, 0.0, dtypes.float64)), p, generator=generator)
    return input._inplace(wrap(b.cast(node_of(drawn), x.dtype)), op="bernoulli_")
