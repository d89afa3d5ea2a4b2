"""``Normal(loc, scale)``, reparameterized as ``loc + scale * eps`` with graphc's standard-normal ``randn``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import graphc
from graphc.distributions.distribution import Distribution, broadcast_all, is_real
from graphc.runtime.tensor import Tensor


class Normal(Distribution):
    has_rsample = True

    def __init__(self, loc: Tensor | float, scale: Tensor | float, validate_args: bool | None = None) -> None:
        self.loc, self.scale = broadcast_all(loc, scale)
        batch = () if not isinstance(loc, Tensor) and not isinstance(scale, Tensor) else tuple(self.loc.shape)
        super().__init__(batch, validate_args=validate_args)
        self._check_argument("loc", self.loc, "Real()", is_real)
        self._check_argument("scale", self.scale, "GreaterThan(lower_bound=0.0)", lambda s: s > 0)

    def _repr_args(self) -> dict[str, Tensor]:
        return {"loc": self.loc, "scale": self.scale}

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return self.scale.pow(2)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        eps = graphc.randn(*self._extended_shape(sample_shape), dtype=self.loc.dtype)
        return self.loc + eps * self.scale

    def log_prob(self, value: Tensor) -> Tensor:
        self._validate_sample(value, "Real()", is_real)
        return -((value - self.loc) ** 2) / (2 * self.variance) - self.scale.log() - math.log(math.sqrt(2 * math.pi))

    def cdf(self, value: Tensor) -> Tensor:
        self._validate_sample(value, "Real()", is_real)
        return 0.5 * (1 + graphc.erf((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)))

    def icdf(self, value: Tensor) -> Tensor:
        return self.loc + self.scale * graphc.erfinv(2 * value - 1) * math.sqrt(2)

    def entropy(self) -> Tensor:
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Normal:
        shape = tuple(batch_shape)
        return Normal(self.loc.expand(*shape), self.scale.expand(*shape), validate_args=False)
