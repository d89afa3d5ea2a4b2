"""The in-place samplers of torch.Tensor: random_, exponential_, cauchy_, log_normal_, geometric_.

Each transforms float64 uniform draws from ``rand`` (NumPy's generator in eager code, a ``rand``
node with a fresh seed per call inside graphc.compile), so they work in both, follow torch's
distributions and ranges, and not its random stream. Integers beyond float64's 53 bits of
mantissa are built from two draws, so ``random_()`` of an int64 tensor reaches every value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from graphc.errors import GraphcError
from graphc.frontend.functional import node_of
from graphc.ir import dtypes
from graphc.ir.registry import op_error
from graphc.runtime.tensor import Tensor

METHODS = "random_ exponential_ cauchy_ log_normal_ geometric_".split()


def _uniform(input: Tensor, generator: Any) -> Tensor:
    from graphc.frontend.constructors import rand

    return rand(*input.shape, dtype=dtypes.float64, generator=generator)


def _float_only(op: str, input: Tensor, distribution: str) -> None:
    if not input.dtype.is_floating_point:
        message = f"{distribution} distribution is a continuous probability distribution. dtype must be a floating point but you specified {input.dtype.name}"
        raise op_error(op, [node_of(input).type], {}, message)


def exponential_(input: Tensor, lambd: float = 1.0, *, generator: Any = None) -> Tensor:
    """Exp(lambd) samples: ``-log(1 - u) / lambd``."""
    _float_only("exponential_", input, "Exponential")
    if not lambd > 0:
        raise op_error("exponential_", [node_of(input).type], {"lambd": lambd}, f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    drawn = (-_uniform(input, generator)).log1p() * (-1.0 / lambd)
    return input._inplace(drawn.to(input.dtype), op="exponential_")


def cauchy_(input: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator: Any = None) -> Tensor:
    """Cauchy(median, sigma) samples: ``median + sigma tan(pi (u - 1/2))``."""
    _float_only("cauchy_", input, "Cauchy")
    if not sigma > 0:
        raise op_error("cauchy_", [node_of(input).type], {"sigma": sigma}, f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
    drawn = ((_uniform(input, generator) - 0.5) * math.pi).tan() * sigma + median
    return input._inplace(drawn.to(input.dtype), op="cauchy_")


def log_normal_(input: Tensor, mean: float = 1.0, std: float = 2.0, *, generator: Any = None) -> Tensor:
    """``exp(N(mean, std))`` samples."""
    from graphc.frontend.constructors import randn

    if not input.dtype.is_floating_point:
        raise op_error("log_normal_", [node_of(input).type], {}, f"log_normal_ is only implemented for floating point tensors, got {input.dtype.name}")
    if not std > 0:
        raise op_error("log_normal_", [node_of(input).type], {"std": std}, f"log_normal_ expects std > 0.0, but found std={std}")
    drawn = (randn(*input.shape, dtype=dtypes.float64, generator=generator) * std + mean).exp()
    return input._inplace(drawn.to(input.dtype), op="log_normal_")


def geometric_(input: Tensor, p: float, *, generator: Any = None) -> Tensor:
    """The number of Bernoulli(p) trials up to the first success (1, 2, ...), in any dtype but bool."""
    if input.dtype == dtypes.bool_ or not 0 < p < 1:
        message = f"geometric_ expects p to be in (0, 1), but got p={p}" if not 0 < p < 1 else "geometric_ is not implemented for bool"
        raise op_error("geometric_", [node_of(input).type], {"p": p}, message)
    trials = ((-_uniform(input, generator)).log1p() / math.log1p(-p)).ceil().clamp(min=1)  # u = 0 would give 0 trials
    return input._inplace(trials.to(input.dtype), op="geometric_")


def _bounds(dtype: dtypes.DType) -> tuple[int, int]:
    """The values random_ may draw: an integer dtype's range, or for floats the integers every one of which is exact."""
    if dtype == dtypes.bool_:
        return 0, 1
    if dtype.is_floating_point:
        import ml_dtypes

        exact = 2 ** (int(ml_dtypes.finfo(dtype.numpy).nmant) + 1)
        return -exact, exact
    info = np.iinfo(dtype.numpy)
    return int(info.min), int(info.max)


def _range_args(input: Tensor, args: tuple, kwargs: dict) -> tuple[int, int]:
    """torch's overloads random_(), random_(to), random_(from, to) with to=None meaning the dtype's bound (inclusive)."""
    names = ("from", "to")
    given = dict(zip(names, args)) if len(args) != 1 else {"to": args[0]}
    if len(args) > 2 or set(kwargs) - set(names) or set(kwargs) & set(given):
        raise GraphcError(f"random_ takes (), (to) or (from, to), got {len(args)} positional and {sorted(kwargs)} keyword arguments")
    given |= kwargs
    low = int(given.get("from", 0))
    low_bound, bound = _bounds(input.dtype)
    high = bound + 1 if given.get("to") is None else int(given["to"])
    type_ = node_of(input).type
    if low >= high:
        raise op_error("random_", [type_], {"from": low, "to": high}, f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    if high - 1 > bound or low < low_bound:
        message = f"random_: [{low}, {high - 1}] is out of bounds for {input.dtype.name} (its range is [{low_bound}, {bound}])"
        raise op_error("random_", [type_], {"from": low, "to": high}, message)
    return low, high


def random_(input: Tensor, *args: Any, generator: Any = None, **kwargs: Any) -> Tensor:
    """Integers uniform in [from, to): without ``to``, up to the dtype's largest (a float's largest exact integer, 2**24 for float32)."""
    low, high = _range_args(input, args, kwargs)
    span = high - low
    if span <= 2**53:  # one float64 draw resolves every value; the minimum guards a product rounded up to span
        offset = (_uniform(input, generator) * span).floor().clamp(max=span - 1).to(dtypes.int64)
    else:  # 63 random bits from two draws, then one more for the sign when the span is all of int64
        high_bits = (_uniform(input, generator) * 2**31).floor().to(dtypes.int64)
        low_bits = (_uniform(input, generator) * 2**32).floor().to(dtypes.int64)
        bits = high_bits * 2**32 + low_bits
        if span > 2**63:
            sign = (_uniform(input, generator) < 0.5).to(dtypes.int64) * -(2**63)
            return input._inplace(bits + sign, op="random_")
        offset = bits % span if span < 2**63 else bits
    return input._inplace((offset + low).to(input.dtype), op="random_")
