"""graphc.distributions.MultivariateNormal against torch.distributions: log_prob, entropy, moments and the three
parametrizations (covariance, precision, scale_tril) with broadcast batches, kl_divergence between two, float64
gradients in every parameter, rsample's gradient for the noise it drew, argument errors with torch's messages,
samples' shapes and moments, and the same code inside graphc.compile on both backends."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches
from torch_grads import check_grads

import graphc
import graphc.distributions as D

RNG = np.random.default_rng(31)


def spd(*shape: int) -> Any:
    def make(T: Any, a: Any) -> Any:
        return a @ a.mT + shape[-1] * T.eye(shape[-1], dtype=a.dtype)

    return make


def lower_factor(T: Any, a: Any) -> Any:
    """A lower-triangular factor with a positive diagonal, differentiable in every entry of a's lower triangle."""
    return a.tril(-1) + T.diag_embed(a.diagonal(dim1=-2, dim2=-1).exp())


def mvn_family(T: Any, loc: Any, a: Any, b: Any, value: Any) -> tuple:
    """loc [2, 3], a [3, 3] (a covariance shared by the batch), b [2, 3, 3], value [4, 2, 3]."""
    cov = a @ a.mT + 3 * T.eye(3, dtype=a.dtype)
    by_cov = T.distributions.MultivariateNormal(loc, covariance_matrix=cov)
    by_precision = T.distributions.MultivariateNormal(loc[0], precision_matrix=b @ b.mT + 3 * T.eye(3, dtype=b.dtype))
    by_tril = T.distributions.MultivariateNormal(loc, scale_tril=lower_factor(T, b))
    return (
        by_cov.log_prob(value),
        by_cov.entropy(),
        by_cov.variance,
        by_cov.scale_tril,
        by_cov.precision_matrix,
        by_precision.log_prob(value),
        by_precision.entropy(),
        by_precision.scale_tril,
        by_precision.covariance_matrix,
        by_tril.log_prob(value[0]),
        by_tril.entropy(),
        by_tril.covariance_matrix,
        by_tril.mean,
        T.distributions.kl_divergence(by_cov, by_tril),
        T.distributions.kl_divergence(by_tril, by_precision),
        by_cov.expand((3, 2)).log_prob(value[0]),
    )


def mvn_inputs() -> tuple[np.ndarray, ...]:
    return RNG.standard_normal((2, 3)), RNG.standard_normal((3, 3)), RNG.standard_normal((2, 3, 3)), RNG.standard_normal((4, 2, 3))


def test_multivariate_normal_matches_torch_with_gradients() -> None:
    check_grads(mvn_family, *mvn_inputs(), rtol=1e-8, atol=1e-10)


def test_compiled_log_prob_entropy_and_kl_match_torch(backend: str) -> None:
    def step(T: Any, loc: Any, a: Any, b: Any, value: Any) -> tuple:
        p = T.distributions.MultivariateNormal(loc, covariance_matrix=a @ a.mT + 3 * T.eye(3, dtype=a.dtype))
        q = T.distributions.MultivariateNormal(loc[0], scale_tril=lower_factor(T, b))
        return p.log_prob(value), p.entropy(), T.distributions.kl_divergence(p, q)

    arrays = mvn_inputs()
    got = graphc.compile(lambda *xs: step(graphc, *xs), backend=backend)(*[graphc.tensor(x) for x in arrays])
    assert_matches(list(got), list(step(torch, *[torch.tensor(x) for x in arrays])), 1e-10, 1e-12)


def test_rsample_gradient_is_torchs_for_the_same_noise() -> None:
    loc, a, weights = RNG.standard_normal(3), RNG.standard_normal((3, 3)), RNG.standard_normal((5, 3))
    ours_loc, ours_a = graphc.tensor(loc, requires_grad=True), graphc.tensor(a, requires_grad=True)
    ours = D.MultivariateNormal(ours_loc, covariance_matrix=spd(3)(graphc, ours_a))
    sample = ours.rsample((5,))
    (sample * graphc.tensor(weights)).sum().backward()
    lower = np.linalg.cholesky(a @ a.T + 3 * np.eye(3))
    eps = np.linalg.solve(lower, (sample.detach().numpy() - loc).T).T
    theirs_loc, theirs_a = torch.tensor(loc, requires_grad=True), torch.tensor(a, requires_grad=True)
    theirs = torch.distributions.MultivariateNormal(theirs_loc, covariance_matrix=spd(3)(torch, theirs_a))
    (theirs.loc + torch.tensor(eps) @ theirs.scale_tril.mT).mul(torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(ours_loc.grad.numpy(), theirs_loc.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours_a.grad.numpy(), theirs_a.grad.numpy(), rtol=1e-8, atol=1e-10)


def test_samples_have_the_covariance_asked_for() -> None:
    graphc.manual_seed(0)
    cov = np.array([[2.0, 0.6], [0.6, 1.0]])
    d = D.MultivariateNormal(graphc.tensor([1.0, -1.0], dtype=graphc.float64), covariance_matrix=graphc.tensor(cov))
    draws = d.sample((20000,))
    assert tuple(draws.shape) == (20000, 2) and draws.dtype == graphc.float64 and not draws.requires_grad
    np.testing.assert_allclose(draws.numpy().mean(0), [1.0, -1.0], atol=0.05)
    np.testing.assert_allclose(np.cov(draws.numpy().T), cov, atol=0.06)


@pytest.mark.parametrize(
    "make",
    [
        lambda T: T.distributions.MultivariateNormal(T.zeros(()), covariance_matrix=T.eye(2)),
        lambda T: T.distributions.MultivariateNormal(T.zeros(2)),
        lambda T: T.distributions.MultivariateNormal(T.zeros(2), covariance_matrix=T.eye(2), scale_tril=T.eye(2)),
        lambda T: T.distributions.MultivariateNormal(T.zeros(2), scale_tril=T.ones(2)),
        lambda T: T.distributions.MultivariateNormal(T.zeros(2), covariance_matrix=-T.eye(2)),
        lambda T: T.distributions.MultivariateNormal(T.zeros(2), covariance_matrix=T.tensor([[1.0, 0.5], [0.0, 1.0]])),
        lambda T: T.distributions.MultivariateNormal(T.zeros(2), scale_tril=T.ones(2, 2)),
        lambda T: T.distributions.MultivariateNormal(T.zeros(2), covariance_matrix=T.eye(2)).log_prob(T.zeros(3)),
        lambda T: T.distributions.kl_divergence(
            T.distributions.MultivariateNormal(T.zeros(2), covariance_matrix=T.eye(2)),
            T.distributions.MultivariateNormal(T.zeros(3), covariance_matrix=T.eye(3)),
        ),
    ],
)
def test_bad_arguments_raise_torchs_errors(make: Any) -> None:
    with pytest.raises(ValueError) as expected:
        make(torch)
    first = " ".join(str(expected.value).splitlines()[0].split())  # torch's KL message has a run of spaces from its source
    with pytest.raises(ValueError) as got:
        make(graphc)
    assert str(got.value).splitlines()[0] == first
