"""Random sampling with torch's names: multinomial, bernoulli, normal, poisson, binomial, randint_like.

The uniform draws come from graphc's generator (graphc/runtime/random.py: NumPy's in eager code,
a ``rand`` node whose seed is redrawn on every compiled call), so the samples follow torch's
distributions but not its random stream. multinomial with replacement inverts the cumulative
weights; without replacement it keeps the k smallest of Exp(1) / weight, which draws the
categories one after another in proportion to the weights left, as torch's sequential draws do. poisson and binomial draw on the host with NumPy's samplers
(eager code only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from graphc.errors import GraphcError
from graphc.frontend import tracing
from graphc.frontend.constructors import rand
from graphc.frontend.functional import node_of, wrap
from graphc.ir import build as b
from graphc.ir import composites as c
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import emit, op_error
from graphc.runtime import random
from graphc.runtime.tensor import Tensor

METHODS = "multinomial bernoulli bernoulli_".split()


def _uniform(shape: tuple, generator: Any) -> Node:
    return node_of(rand(*shape, dtype=dtypes.float64, generator=generator))


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator: Any = None) -> Tensor:
    """``num_samples`` int64 category indices per row of non-negative weights (1-d or 2-d)."""
    return wrap(multinomial_of_draws(node_of(input), num_samples, replacement, lambda shape: _uniform(shape, generator)))


def multinomial_of_draws(x: Node, num_samples: int, replacement: bool, uniform: Callable[[tuple], Node]) -> Node:
    """multinomial from float64 uniform draws of the given shape, which the importer takes from its own
    per-call seeds (graphc's generator would give an imported program the same draws every call)."""
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
        drawn = b.mul(uniform((count, num_samples)), total)
        below = b.compare("le", b.reshape(cumulative, (count, 1, categories)), b.reshape(drawn, (count, num_samples, 1)))
        picked = b.reduce("sum", b.cast(below, dtypes.int64), -1)
        picked = b.binary("minimum", picked, categories - 1)  # a draw rounded up to the total
    else:
        keys = b.div(b.neg(b.unary("log1p", b.neg(uniform((count, categories))))), rows)
        order = emit("argsort", keys, axis=1, descending=False)
        picked = emit("slice", order, starts=(0, 0), stops=(count, num_samples), steps=(1, 1))
    return picked if x.type.ndim == 2 else b.reshape(picked, (num_samples,))


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


def _zero_gradient(value: Node, *operands: Node) -> Node:
    """torch's samplers give their parameters a zero gradient (derivatives.yaml: ``zeros_like(grad)``), not the reparameterized one."""
    differentiable = [o for o in operands if o.requires_grad]
    return emit("custom_vjp", value, *differentiable, rule="zero_gradient") if differentiable else value


def normal(mean: Any, std: Any = 1.0, size: Any = None, *, generator: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """torch.normal's four overloads: tensor mean and/or std (broadcast; the dtype of the mean, else of the std), or
    numbers with ``size`` (the default dtype)."""
    from graphc.frontend.constructors import randn

    if not isinstance(mean, Tensor) and not isinstance(std, Tensor):
        if size is None:
            raise GraphcError("normal(mean, std): with numbers for both mean and std, size= must be given")
        if std < 0:
            raise GraphcError(f"normal expects std >= 0.0, but found std {std}")
        d = dtypes.to_dtype(dtype) if dtype is not None else dtypes.DEFAULT_FLOAT
        drawn = randn(*(size if isinstance(size, (tuple, list)) else (size,)), dtype=d, device=device, generator=generator)
        result = drawn * std + mean
        return result.requires_grad_(True) if requires_grad else result
    if size is not None or dtype is not None:
        raise GraphcError("normal(mean, std): size= and dtype= are only taken with numbers for mean and std; with a tensor the shape and dtype are its own")
    reference = mean if isinstance(mean, Tensor) else std
    d = reference.dtype
    nodes = [node_of(v) for v in (mean, std) if isinstance(v, Tensor)]
    if not d.is_floating_point:
        raise op_error("normal", [n.type for n in nodes], {}, f"normal is only implemented for floating point tensors, got {d.name}")
    if isinstance(std, Tensor):
        s = b.cast(node_of(std), d)
        s = emit("check", s, b.compare("lt", s, 0), message="normal expects all elements of std >= 0.0")
    else:
        if std < 0:
            raise op_error("normal", [n.type for n in nodes], {"std": std}, f"normal expects std >= 0.0, but found std {std}")
        s = b.constant(std, d)
    m = b.cast(node_of(mean), d) if isinstance(mean, Tensor) else b.constant(mean, d)
    shape = b.common_shape("normal", [m, s])
    drawn = node_of(randn(*shape, dtype=d, generator=generator))
    value = b.add(b.mul(emit("detach", s) if s.requires_grad else s, drawn), emit("detach", m) if m.requires_grad else m)
    return wrap(_zero_gradient(value, *nodes))


def _host_draws(op: str, generator: Any) -> Any:
    """The generator for a sampler drawn on the host: NumPy has poisson and binomial samplers the graph's uniform draws lack."""
    if tracing.active() is not None or tracing.random_in_graph():
        message = "inside graphc.compile or vmap its draws would be replayed as constants; draw outside and pass the tensor in"
        raise GraphcError(f"{op} draws in eager code only: {message}")
    return generator if generator is not None else random.generator()


def poisson(input: Tensor, generator: Any = None) -> Tensor:
    """Poisson counts with the input's rates, in its float dtype; a zero gradient, as torch's."""
    x = node_of(input)
    if not x.dtype.is_floating_point:
        raise op_error("poisson", [x.type], {}, f"poisson is only implemented for floating point tensors, got {x.dtype.name}")
    draws = _host_draws("poisson", generator)
    rates = input.detach().numpy().astype(np.float64)
    if (rates < 0).any() or np.isnan(rates).any():
        raise op_error("poisson", [x.type], {}, "invalid Poisson rate, expected rate to be non-negative")
    counts = draws.poisson(rates).astype(x.dtype.numpy)
    return wrap(_zero_gradient(node_of(Tensor._constant(counts)), x))


def binomial(count: Tensor, prob: Tensor, generator: Any = None) -> Tensor:
    """Binomial successes of ``count`` trials (broadcast with ``prob``), in their float dtype; torch gives no derivative."""
    n, p = node_of(count), node_of(prob)
    if n.dtype != p.dtype:
        raise op_error("binomial", [n.type, p.type], {}, f"count and prob must have one dtype: found dtype {p.dtype.name} but expected {n.dtype.name}")
    if not n.dtype.is_floating_point:
        raise op_error("binomial", [n.type, p.type], {}, f"binomial is only implemented for floating point tensors, got {n.dtype.name}")
    draws = _host_draws("binomial", generator)
    trials, chances = count.detach().numpy().astype(np.float64), prob.detach().numpy().astype(np.float64)
    if (trials < 0).any() or (trials != np.floor(trials)).any() or not ((chances >= 0) & (chances <= 1)).all():
        raise op_error("binomial", [n.type, p.type], {}, "binomial expects whole counts >= 0 and probabilities in [0, 1]")
    shape = b.common_shape("binomial", [n, p])
    drawn = draws.binomial(trials.astype(np.int64), chances, size=tuple(shape)).astype(n.dtype.numpy)
    value = node_of(Tensor._constant(drawn))
    differentiable = [o for o in (n, p) if o.requires_grad]
    return wrap(emit("custom_vjp", value, *differentiable, rule="binomial_no_derivative") if differentiable else value)


def randint_like(
    input: Tensor, low: int = 0, high: int | None = None, *, generator: Any = None, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """Integers uniform in [low, high) in the input's shape and dtype (``randint_like(x, high)`` starts at 0)."""
    from graphc.frontend.constructors import randint

    if high is None:
        low, high = 0, low
    d = dtypes.to_dtype(dtype) if dtype is not None else input.dtype
    result = randint(low, high, tuple(input.shape), dtype=d, device=device or input.device, generator=generator)
    return result.requires_grad_(True) if requires_grad else result
