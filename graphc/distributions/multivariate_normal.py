"""``MultivariateNormal(loc, covariance_matrix | precision_matrix | scale_tril)``, torch's formulas on graphc's
linear algebra: everything goes through the lower Cholesky factor of the covariance (``scale_tril``), as torch's.

torch flattens the batches around ``solve_triangular`` in its Mahalanobis distance
(``_batch_mahalanobis``) to avoid broadcasting the factor over the sample dimensions; here the
factor is broadcast (a view) and solved against each difference as a column: the same solve
of each vector, so the same values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import graphc
from graphc.distributions.distribution import Distribution, is_real
from graphc.runtime.tensor import Tensor


def _real_vector(x: Tensor) -> Tensor:
    return is_real(x).all(-1)


def _positive_definite(x: Tensor) -> Tensor:
    """torch's ``constraints.positive_definite``: symmetric (to 1e-6) and a Cholesky factorization that succeeds."""
    symmetric = graphc.isclose(x, x.mT, atol=1e-6).all(-1).all(-1)
    return symmetric & (graphc.linalg.cholesky_ex(x).info == 0)


def _lower_cholesky(x: Tensor) -> Tensor:
    """torch's ``constraints.lower_cholesky``: lower triangular with a positive diagonal."""
    lower = (x.tril() == x).reshape(*x.shape[:-2], -1).all(-1)
    return lower & (x.diagonal(dim1=-2, dim2=-1) > 0).all(-1)


def _precision_to_scale_tril(precision: Tensor) -> Tensor:
    """torch's: the lower factor of P^-1 from the Cholesky factor of P with its rows and columns reversed."""
    flipped = graphc.linalg.cholesky(graphc.flip(precision, (-2, -1)))
    inverse_lower = graphc.transpose(graphc.flip(flipped, (-2, -1)), -2, -1)
    eye = graphc.eye(precision.shape[-1], dtype=precision.dtype)
    return graphc.linalg.solve_triangular(inverse_lower, eye, upper=False)


def _mahalanobis(lower: Tensor, diff: Tensor) -> Tensor:
    """|L^-1 x|^2 for each vector x of ``diff``, L broadcast over its batch."""
    shape = graphc.broadcast_shapes(tuple(lower.shape[:-2]), tuple(diff.shape[:-1]))
    n = diff.shape[-1]
    solved = graphc.linalg.solve_triangular(lower.expand(*shape, n, n), diff.expand(*shape, n).unsqueeze(-1), upper=False)
    return solved.squeeze(-1).pow(2).sum(-1)


def _half_log_det(lower: Tensor) -> Tensor:
    return lower.diagonal(dim1=-2, dim2=-1).log().sum(-1)


class MultivariateNormal(Distribution):
    has_rsample = True

    def __init__(
        self,
        loc: Tensor,
        covariance_matrix: Tensor | None = None,
        precision_matrix: Tensor | None = None,
        scale_tril: Tensor | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        options = (("covariance_matrix", covariance_matrix), ("precision_matrix", precision_matrix), ("scale_tril", scale_tril))
        given = [(name, m) for name, m in options if m is not None]
        if len(given) != 1:
            raise ValueError("Exactly one of covariance_matrix or precision_matrix or scale_tril may be specified.")
        name, matrix = given[0]
        if matrix.dim() < 2:
            what = "scale_tril matrix" if name == "scale_tril" else name
            raise ValueError(f"{what} must be at least two-dimensional, with optional leading batch dimensions")
        batch = tuple(graphc.broadcast_shapes(tuple(matrix.shape[:-2]), tuple(loc.shape[:-1])))
        n = matrix.shape[-1]
        self.loc = loc.expand(*batch, loc.shape[-1])
        self._given = {name: matrix.expand(*batch, n, n)}
        super().__init__(batch, tuple(self.loc.shape[-1:]), validate_args=validate_args)
        self._check_argument("loc", self.loc, "IndependentConstraint(Real(), 1)", _real_vector)
        if name == "scale_tril":
            self._check_argument(name, self._given[name], "LowerCholesky()", _lower_cholesky)
            self._unbroadcasted_scale_tril = matrix
        else:
            self._check_argument(name, self._given[name], "PositiveDefinite()", _positive_definite)
            self._unbroadcasted_scale_tril = graphc.linalg.cholesky(matrix) if name == "covariance_matrix" else _precision_to_scale_tril(matrix)

    def _repr_args(self) -> dict[str, Tensor]:
        return {"loc": self.loc, **self._given}

    def _full(self, matrix: Tensor) -> Tensor:
        return matrix.expand(*self._batch_shape, *self._event_shape, *self._event_shape)

    @property
    def scale_tril(self) -> Tensor:
        return self._given.get("scale_tril", self._full(self._unbroadcasted_scale_tril))

    @property
    def covariance_matrix(self) -> Tensor:
        lower = self._unbroadcasted_scale_tril
        return self._given.get("covariance_matrix", self._full(graphc.matmul(lower, lower.mT)))

    @property
    def precision_matrix(self) -> Tensor:
        return self._given.get("precision_matrix", self._full(graphc.cholesky_inverse(self._unbroadcasted_scale_tril)))

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return self._unbroadcasted_scale_tril.pow(2).sum(-1).expand(*self._batch_shape, *self._event_shape)

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        eps = graphc.randn(*self._extended_shape(sample_shape), dtype=self.loc.dtype)
        return self.loc + graphc.matmul(self._unbroadcasted_scale_tril, eps.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, value: Tensor) -> Tensor:
        self._validate_sample(value, "IndependentConstraint(Real(), 1)", _real_vector)
        lower = self._unbroadcasted_scale_tril
        m = _mahalanobis(lower, value - self.loc)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + m) - _half_log_det(lower)

    def entropy(self) -> Tensor:
        h = 0.5 * self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + _half_log_det(self._unbroadcasted_scale_tril)
        return h if not self._batch_shape else h.expand(*self._batch_shape)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> MultivariateNormal:
        shape = tuple(batch_shape)
        n = self._event_shape[0]
        new = MultivariateNormal.__new__(MultivariateNormal)
        new.loc = self.loc.expand(*shape, n)
        new._given = {name: m.expand(*shape, n, n) for name, m in self._given.items()}
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril
        Distribution.__init__(new, shape, self._event_shape, validate_args=False)
        return new


def kl_multivariate_normal(p: MultivariateNormal, q: MultivariateNormal) -> Tensor:
    """torch's KL(p || q): log|L_q|/|L_p| + (|L_q^-1 L_p|_F^2 + |L_q^-1 (mu_q - mu_p)|^2 - n) / 2."""
    if p.event_shape != q.event_shape:
        raise ValueError("KL-divergence between two Multivariate Normals with different event shapes cannot be computed")
    p_lower, q_lower = p._unbroadcasted_scale_tril, q._unbroadcasted_scale_tril
    half_term1 = _half_log_det(q_lower) - _half_log_det(p_lower)
    batch = tuple(graphc.broadcast_shapes(tuple(q_lower.shape[:-2]), tuple(p_lower.shape[:-2])))
    n = p.event_shape[0]
    term2 = graphc.linalg.solve_triangular(q_lower.expand(*batch, n, n), p_lower.expand(*batch, n, n), upper=False).pow(2).sum((-2, -1))
    term3 = _mahalanobis(q_lower, q.loc - p.loc)
    return half_term1 + 0.5 * (term2 + term3 - n)
