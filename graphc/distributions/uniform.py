"""``Uniform(low, high)`` on ``[low, high)``, reparameterized as ``low + (high - low) * u`` with graphc's ``rand``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import graphc
from graphc.distributions.distribution import Distribution, broadcast_all
from graphc.runtime.tensor import Tensor


class Uniform(Distribution):
    has_rsample = True

    def __init__(self, low: Tensor | float, high: Tensor | float, validate_args: bool | None = None) -> None:
        self.low, self.high = broadcast_all(low, high)
        batch = () if not isinstance(low, Tensor) and not isinstance(high, Tensor) else tuple(self.low.shape)
        super().__init__(batch, validate_args=validate_args)
        self._check_argument("low", self.low, lambda: f"LessThan(upper_bound={_bound_text(self.high)})", lambda v: v < self.high)
        self._check_argument("high", self.high, lambda: f"GreaterThan(lower_bound={_bound_text(self.low)})", lambda v: v > self.low)

    def _repr_args(self) -> dict[str, Tensor]:
        return {"low": self.low, "high": self.high}

    @property
    def mean(self) -> Tensor:
        return (self.high + self.low) / 2

    @property
    def mode(self) -> Tensor:
        return self.high * float("nan")

    @property
    def stddev(self) -> Tensor:
        return (self.high - self.low) / 12**0.5

    @property
    def variance(self) -> Tensor:
        return (self.high - self.low).pow(2) / 12

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        u = graphc.rand(*self._extended_shape(sample_shape), dtype=self.low.dtype)
        return self.low + u * (self.high - self.low)

    def _support(self) -> str:
        return f"Interval(lower_bound={_bound_text(self.low)}, upper_bound={_bound_text(self.high)})"

    def log_prob(self, value: Tensor) -> Tensor:
        self._validate_sample(value, self._support, lambda v: (v >= self.low) & (v <= self.high))
        inside = (self.low <= value).to(self.low.dtype) * (self.high > value).to(self.low.dtype)
        return inside.log() - (self.high - self.low).log()

    def cdf(self, value: Tensor) -> Tensor:
        self._validate_sample(value, self._support, lambda v: (v >= self.low) & (v <= self.high))
        return ((value - self.low) / (self.high - self.low)).clamp(0, 1)

    def icdf(self, value: Tensor) -> Tensor:
        return value * (self.high - self.low) + self.low

    def entropy(self) -> Tensor:
        return (self.high - self.low).log()

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Uniform:
        shape = tuple(batch_shape)
        return Uniform(self.low.expand(*shape), self.high.expand(*shape), validate_args=False)


def _bound_text(bound: Tensor) -> str:
    """torch prints a constraint's bound as the number when it is one value, else as the tensor."""
    values = bound.numpy()
    return str(float(values)) if values.ndim == 0 else str(values)
