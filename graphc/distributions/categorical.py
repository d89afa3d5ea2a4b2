"""``Categorical(probs=... | logits=...)`` over the last axis: probabilities normalized to sum to 1, logits
normalized by their ``logsumexp``, and samples drawn by inverse CDF (a uniform against the cumulative sums),
which graphc's ``rand`` and ``cumsum`` give on both backends and inside ``graphc.compile``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import graphc
from graphc.distributions.distribution import Distribution, is_real
from graphc.runtime.tensor import Tensor


class Categorical(Distribution):
    def __init__(self, probs: Tensor | None = None, logits: Tensor | None = None, validate_args: bool | None = None) -> None:
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        self._from_probs = probs is not None
        given = probs if probs is not None else logits
        name = "probs" if self._from_probs else "logits"
        if not isinstance(given, Tensor):
            raise ValueError(f"`{name}` must be a graphc.Tensor, got {type(given).__name__}")
        if given.dim() < 1:
            raise ValueError(f"`{name}` parameter must be at least one-dimensional.")
        if self._from_probs:
            self.probs = given / given.sum(-1, keepdim=True)
            eps = float(np.finfo(given.dtype.numpy).eps)
            self.logits = self.probs.clamp(eps, 1 - eps).log()
        else:
            self.logits = given - given.logsumexp(-1, keepdim=True)
            self.probs = graphc.softmax(self.logits, -1)
        self._num_events = int(given.shape[-1])
        super().__init__(tuple(given.shape[:-1]), validate_args=validate_args)
        if self._from_probs:
            self._check_argument("probs", self.probs, "Simplex()", _on_simplex)
        else:
            self._check_argument("logits", self.logits, "IndependentConstraint(Real(), 1)", is_real)

    def _repr_args(self) -> dict[str, Tensor]:
        return {"probs": self.probs} if self._from_probs else {"logits": self.logits}

    @property
    def param_shape(self) -> tuple:
        return tuple(self.probs.shape)

    @property
    def mean(self) -> Tensor:
        return graphc.full(self._extended_shape(), float("nan"), dtype=self.probs.dtype)

    @property
    def mode(self) -> Tensor:
        return self.probs.argmax(-1)

    @property
    def variance(self) -> Tensor:
        return graphc.full(self._extended_shape(), float("nan"), dtype=self.probs.dtype)

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        """The count of cumulative probabilities at or below a uniform draw: category k where cdf[k-1] <= u < cdf[k]."""
        shape = self._extended_shape(sample_shape)
        with graphc.no_grad():
            cdf = self.probs.detach().cumsum(-1)
            u = graphc.rand(*shape, 1, dtype=self.probs.dtype)
            return (cdf <= u).sum(-1).clamp(max=self._num_events - 1).to(graphc.int64)

    def log_prob(self, value: Tensor) -> Tensor:
        last = self._num_events - 1
        self._validate_sample(value, f"IntegerInterval(lower_bound=0, upper_bound={last})", lambda v: (v >= 0) & (v <= last) & (v % 1 == 0))
        index = value.long().unsqueeze(-1)
        index, log_pmf = graphc.broadcast_tensors(index, self.logits)
        return log_pmf.gather(-1, index[..., :1]).squeeze(-1)

    def entropy(self) -> Tensor:
        logits = self.logits.clamp(min=float(np.finfo(self.logits.dtype.numpy).min))
        return -(logits * self.probs).sum(-1)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Categorical:
        shape = (*tuple(batch_shape), self._num_events)
        if self._from_probs:
            return Categorical(probs=self.probs.expand(*shape), validate_args=False)
        return Categorical(logits=self.logits.expand(*shape), validate_args=False)


def _on_simplex(p: Tensor) -> Tensor:
    """torch's ``constraints.simplex``: non-negative, summing to 1 within 1e-6."""
    return (p >= 0).all(-1) & ((p.sum(-1) - 1).abs() < 1e-6)
