"""``Bernoulli(probs=... | logits=...)``: both parameterizations kept, as torch derives the other one
(``logits = log p - log1p(-p)`` of ``p`` clamped ``eps`` from 0 and 1, ``probs = sigmoid(logits)``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import graphc
from graphc.distributions.distribution import Distribution, broadcast_all, is_real
from graphc.runtime.tensor import Tensor


class Bernoulli(Distribution):
    def __init__(self, probs: Tensor | float | None = None, logits: Tensor | float | None = None, validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        given = probs if probs is not None else logits
        (param,) = broadcast_all(given)
        self._from_probs = probs is not None
        if self._from_probs:
            self.probs = param
            eps = float(np.finfo(param.dtype.numpy).eps)
            clamped = param.clamp(eps, 1 - eps)
            self.logits = clamped.log() - (-clamped).log1p()
        else:
            self.logits = param
            self.probs = graphc.sigmoid(param)
        super().__init__(tuple(param.shape) if isinstance(given, Tensor) else (), validate_args=validate_args)
        if self._from_probs:
            self._check_argument("probs", self.probs, "Interval(lower_bound=0.0, upper_bound=1.0)", lambda p: (p >= 0) & (p <= 1))
        else:
            self._check_argument("logits", self.logits, "Real()", is_real)

    def _repr_args(self) -> dict[str, Tensor]:
        return {"probs": self.probs} if self._from_probs else {"logits": self.logits}

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        mode = (self.probs >= 0.5).to(self.probs.dtype)
        return graphc.where(self.probs == 0.5, self.probs * float("nan"), mode)

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with graphc.no_grad():
            u = graphc.rand(*shape, dtype=self.probs.dtype)
            return (u < self.probs.detach().expand(*shape)).to(self.probs.dtype)

    def log_prob(self, value: Tensor) -> Tensor:
        self._validate_sample(value, "Boolean()", lambda v: (v == 0) | (v == 1))
        logits, value = broadcast_all(self.logits, value)
        return value * logits - _softplus_exact(logits)

    def entropy(self) -> Tensor:
        return _softplus_exact(self.logits) - self.probs * self.logits

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Bernoulli:
        shape = tuple(batch_shape)
        if self._from_probs:
            return Bernoulli(probs=self.probs.expand(*shape), validate_args=False)
        return Bernoulli(logits=self.logits.expand(*shape), validate_args=False)


def _softplus_exact(x: Tensor) -> Tensor:
    """``log(1 + exp(x))`` as torch's ``binary_cross_entropy_with_logits`` computes it (no threshold): ``max(x, 0) + log1p(exp(-|x|))``."""
    return x.clamp(min=0) + (-x.abs()).exp().log1p()
