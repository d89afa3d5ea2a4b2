"""``Exponential(rate)``, reparameterized as ``E / rate`` with ``E`` graphc's standard exponential noise (``-log1p(-u)``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphc.distributions.distribution import Distribution, broadcast_all
from graphc.runtime.nn.gumbel import exponential_noise
from graphc.runtime.tensor import Tensor


class Exponential(Distribution):
    has_rsample = True

    def __init__(self, rate: Tensor | float, validate_args: bool | None = None) -> None:
        (self.rate,) = broadcast_all(rate)
        super().__init__(tuple(self.rate.shape) if isinstance(rate, Tensor) else (), validate_args=validate_args)
        self._check_argument("rate", self.rate, "GreaterThan(lower_bound=0.0)", lambda r: r > 0)

    def _repr_args(self) -> dict[str, Tensor]:
        return {"rate": self.rate}

    @property
    def mean(self) -> Tensor:
        return self.rate.reciprocal()

    @property
    def mode(self) -> Tensor:
        return self.rate * 0

    @property
    def stddev(self) -> Tensor:
        return self.rate.reciprocal()

    @property
    def variance(self) -> Tensor:
        return self.rate.pow(-2)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        return exponential_noise(self._extended_shape(sample_shape), self.rate.dtype) / self.rate

    def log_prob(self, value: Tensor) -> Tensor:
        self._validate_sample(value, "GreaterThanEq(lower_bound=0.0)", lambda v: v >= 0)
        return self.rate.log() - self.rate * value

    def cdf(self, value: Tensor) -> Tensor:
        self._validate_sample(value, "GreaterThanEq(lower_bound=0.0)", lambda v: v >= 0)
        return 1 - (-self.rate * value).exp()

    def icdf(self, value: Tensor) -> Tensor:
        return -(-value).log1p() / self.rate

    def entropy(self) -> Tensor:
        return 1.0 - self.rate.log()

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Exponential:
        return Exponential(self.rate.expand(*tuple(batch_shape)), validate_args=False)
