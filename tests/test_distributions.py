"""graphc.distributions against torch.distributions: log_prob, entropy, moments, cdf/icdf and KL values with
float64 gradients in the parameters (broadcast parameters and values), on both backends; argument errors with
torch's messages; samples by shape, dtype and moments; rsample's gradient from the noise it drew; and the same
code inside graphc.compile, where validation is skipped (docs/decisions.md, "Distributions")."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import torch
from torch_grads import check_grads

import graphc
import graphc.distributions as D

RNG = np.random.default_rng(20261130)


def _positive(*shape: int) -> np.ndarray:
    return RNG.uniform(0.5, 2.0, shape)


def test_normal_matches_torch_with_broadcast_parameters_and_values(backend: str) -> None:
    def fn(T: Any, loc: Any, scale: Any, value: Any, q: Any) -> tuple:
        d = T.distributions.Normal(loc, scale)
        return d.log_prob(value), d.entropy(), d.mean, d.variance, d.stddev, d.cdf(value), d.icdf(q)

    check_grads(fn, RNG.standard_normal((2, 1)), _positive(3), RNG.standard_normal((2, 3)), RNG.uniform(0.05, 0.95, (3,)))


def test_icdf_of_one_number_matches_torch() -> None:
    """A 0-d erfinv is an inline expression sharing its subexpressions; fusion once walked its every path (minutes)."""
    ours = D.Normal(0.5, 2.0).icdf(graphc.tensor(0.3))
    np.testing.assert_allclose(ours.numpy(), torch.distributions.Normal(0.5, 2.0).icdf(torch.tensor(0.3)).numpy(), rtol=1e-6)


def test_bernoulli_matches_torch_from_probs_and_from_logits(backend: str) -> None:
    value = RNG.integers(0, 2, (2, 3)).astype(np.float64)

    def from_probs(T: Any, probs: Any, v: Any) -> tuple:
        d = T.distributions.Bernoulli(probs=probs)
        return d.log_prob(v), d.entropy(), d.mean, d.variance, d.logits

    def from_logits(T: Any, logits: Any, v: Any) -> tuple:
        d = T.distributions.Bernoulli(logits=logits)
        return d.log_prob(v), d.entropy(), d.mean, d.variance, d.probs

    check_grads(from_probs, RNG.uniform(0.05, 0.95, (3,)), value)
    check_grads(from_logits, RNG.uniform(-3, 3, (3,)), value)


def test_categorical_matches_torch_from_probs_and_from_logits(backend: str) -> None:
    value = RNG.integers(0, 4, (2, 3))

    def from_probs(T: Any, probs: Any, v: Any) -> tuple:
        d = T.distributions.Categorical(probs=probs)
        return d.log_prob(v), d.entropy(), d.probs, d.logits

    def from_logits(T: Any, logits: Any, v: Any) -> tuple:
        d = T.distributions.Categorical(logits=logits)
        return d.log_prob(v), d.entropy(), d.probs, d.logits

    check_grads(from_probs, RNG.uniform(0.1, 1.0, (3, 4)), value)
    check_grads(from_logits, RNG.standard_normal((3, 4)), value)
    d = D.Categorical(logits=graphc.tensor(RNG.standard_normal((3, 4))))
    assert d.batch_shape == (3,) and d.event_shape == ()
    assert np.isnan(d.mean.numpy()).all() and tuple(d.variance.shape) == (3,)


def test_uniform_and_exponential_match_torch(backend: str) -> None:
    def uniform(T: Any, low: Any, width: Any, q: Any) -> tuple:
        d = T.distributions.Uniform(low, low + width)
        value = low + width * q
        return d.log_prob(value), d.entropy(), d.mean, d.variance, d.stddev, d.cdf(value), d.icdf(q)

    def exponential(T: Any, rate: Any, value: Any, q: Any) -> tuple:
        d = T.distributions.Exponential(rate)
        return d.log_prob(value), d.entropy(), d.mean, d.variance, d.stddev, d.cdf(value), d.icdf(q)

    check_grads(uniform, RNG.standard_normal((2, 1)), _positive(3), RNG.uniform(0.05, 0.95, (2, 3)))
    check_grads(exponential, _positive(3), _positive(2, 3), RNG.uniform(0.05, 0.95, (3,)))


def test_independent_sums_log_prob_and_entropy_over_reinterpreted_axes(backend: str) -> None:
    def fn(T: Any, loc: Any, scale: Any, value: Any) -> tuple:
        d = T.distributions.Independent(T.distributions.Normal(loc, scale), 1)
        return d.log_prob(value), d.entropy()

    check_grads(fn, RNG.standard_normal((2, 3)), _positive(2, 3), RNG.standard_normal((2, 3)))
    d = D.Independent(D.Normal(graphc.zeros(2, 3), graphc.ones(2, 3)), 1)
    assert d.batch_shape == (2,) and d.event_shape == (3,)


def test_kl_divergence_matches_torch(backend: str) -> None:
    def normal(T: Any, a: Any, b: Any, c: Any, d: Any) -> Any:
        return T.distributions.kl_divergence(T.distributions.Normal(a, b), T.distributions.Normal(c, d))

    def bernoulli(T: Any, p: Any, q: Any) -> Any:
        return T.distributions.kl_divergence(T.distributions.Bernoulli(probs=p), T.distributions.Bernoulli(logits=q))

    def categorical(T: Any, p: Any, q: Any) -> Any:
        return T.distributions.kl_divergence(T.distributions.Categorical(logits=p), T.distributions.Categorical(probs=q))

    check_grads(normal, RNG.standard_normal(3), _positive(3), RNG.standard_normal((2, 1)), _positive(2, 1))
    check_grads(bernoulli, RNG.uniform(0.05, 0.95, 3), RNG.standard_normal(3))  # torch's masks need equal shapes
    check_grads(categorical, RNG.standard_normal((2, 4)), RNG.uniform(0.1, 1.0, 4))


def test_kl_divergence_is_infinite_where_q_excludes_what_p_allows() -> None:
    p, q = [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]], [[0.5, 0.0, 0.5], [0.3, 0.3, 0.4]]
    ours = D.kl_divergence(D.Categorical(probs=graphc.tensor(p)), D.Categorical(probs=graphc.tensor(q)))
    theirs = torch.distributions.kl_divergence(torch.distributions.Categorical(probs=torch.tensor(p)), torch.distributions.Categorical(probs=torch.tensor(q)))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    bp, bq = [0.0, 1.0, 0.3], [0.5, 0.5, 1.0]
    ours = D.kl_divergence(D.Bernoulli(probs=graphc.tensor(bp)), D.Bernoulli(probs=graphc.tensor(bq)))
    theirs = torch.distributions.kl_divergence(torch.distributions.Bernoulli(probs=torch.tensor(bp)), torch.distributions.Bernoulli(probs=torch.tensor(bq)))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: D.Normal(graphc.tensor([0.0, 1.0]), graphc.tensor([1.0, -1.0])),
            re.escape(
                "Expected parameter scale (Tensor of shape (2,)) of distribution Normal(loc: torch.Size([2]), scale: torch.Size([2])) "
                "to satisfy the constraint GreaterThan(lower_bound=0.0)"
            ),
        ),
        (
            lambda: D.Uniform(1.0, 0.0),
            re.escape("Expected parameter low (Tensor of shape ()) of distribution Uniform(low: 1.0, high: 0.0) "
                "to satisfy the constraint LessThan(upper_bound=0.0)"),
        ),
        (lambda: D.Bernoulli(probs=0.3, logits=0.2), "Either `probs` or `logits` must be specified, but not both."),
        (lambda: D.Bernoulli(probs=graphc.tensor([1.5])), r"constraint Interval\(lower_bound=0.0, upper_bound=1.0\)"),
        (lambda: D.Categorical(probs=graphc.tensor(0.3)), "`probs` parameter must be at least one-dimensional."),
        (lambda: D.Categorical(probs=graphc.tensor([0.3, -1.0])), r"constraint Simplex\(\)"),
        (lambda: D.Exponential(graphc.tensor([-1.0])), r"constraint GreaterThan\(lower_bound=0.0\)"),
        (
            lambda: D.Normal(0.0, 1.0).log_prob(graphc.tensor([float("nan")])),
            re.escape("to be within the support (Real()) of the distribution Normal(loc: 0.0, scale: 1.0)"),
        ),
        (lambda: D.Categorical(logits=graphc.zeros(3)).log_prob(graphc.tensor([3])), r"support \(IntegerInterval\(lower_bound=0, upper_bound=2\)\)"),
        (lambda: D.Normal(graphc.zeros(3), 1.0).log_prob(graphc.zeros(2)), "Value is not broadcastable with batch_shape"),
    ],
)
def test_bad_arguments_raise_torchs_errors(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_kl_divergence_of_an_unregistered_pair_raises() -> None:
    with pytest.raises(NotImplementedError, match="No KL"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Uniform(0.0, 1.0))


def test_validate_args_false_accepts_invalid_parameters() -> None:
    d = D.Normal(graphc.tensor([0.0]), graphc.tensor([-1.0]), validate_args=False)
    assert np.isnan(d.log_prob(graphc.tensor([0.0])).numpy()).all()


def test_expand_broadcasts_the_parameters_as_torchs() -> None:
    loc, probs = RNG.standard_normal(3), RNG.uniform(0.1, 1.0, 4)
    pairs = [
        (D.Normal(graphc.tensor(loc), 1.0), torch.distributions.Normal(torch.tensor(loc), 1.0), (2, 3)),
        (D.Uniform(graphc.tensor(loc), 5.0), torch.distributions.Uniform(torch.tensor(loc), 5.0), (2, 3)),
        (D.Exponential(graphc.tensor(probs)), torch.distributions.Exponential(torch.tensor(probs)), (2, 4)),
        (D.Bernoulli(probs=graphc.tensor(probs)), torch.distributions.Bernoulli(probs=torch.tensor(probs)), (2, 4)),
        (D.Bernoulli(logits=graphc.tensor(loc)), torch.distributions.Bernoulli(logits=torch.tensor(loc)), (2, 3)),
        (D.Categorical(probs=graphc.tensor(probs)), torch.distributions.Categorical(probs=torch.tensor(probs)), (2,)),
        (D.Categorical(logits=graphc.tensor(probs)), torch.distributions.Categorical(logits=torch.tensor(probs)), (2,)),
    ]
    for ours, theirs, shape in pairs:
        ours, theirs = ours.expand(shape), theirs.expand(shape)
        assert ours.batch_shape == tuple(theirs.batch_shape), type(ours).__name__
        np.testing.assert_allclose(ours.entropy().numpy(), theirs.entropy().numpy(), rtol=1e-12)


def test_set_default_validate_args_turns_checks_off_and_on() -> None:
    D.Distribution.set_default_validate_args(False)
    try:
        assert np.isnan(D.Exponential(graphc.tensor([-1.0])).entropy().numpy()).all()  # 1 - log(-1), constructed without a check
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError, match="GreaterThan"):
        D.Exponential(graphc.tensor([-1.0]))


def test_samples_have_torchs_shapes_and_dtypes(backend: str) -> None:
    loc = graphc.zeros(2, 1, dtype=graphc.float64)
    cases = [
        (D.Normal(loc, graphc.ones(3, dtype=graphc.float64)), (4, 2, 3), graphc.float64),
        (D.Bernoulli(probs=graphc.full((3,), 0.5)), (4, 3), graphc.float32),
        (D.Categorical(logits=graphc.zeros(2, 5)), (4, 2), graphc.int64),
        (D.Uniform(0.0, 1.0), (4,), graphc.float32),
        (D.Exponential(graphc.ones(3)), (4, 3), graphc.float32),
    ]
    for d, shape, dtype in cases:
        sample = d.sample((4,))
        assert tuple(sample.shape) == shape and sample.dtype == dtype and not sample.requires_grad, type(d).__name__


def test_sample_moments_over_many_draws() -> None:
    graphc.manual_seed(0)
    n = 20000
    normal = D.Normal(graphc.tensor([1.0, -2.0]), graphc.tensor([0.5, 2.0])).sample((n,)).numpy()
    np.testing.assert_allclose(normal.mean(0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(normal.std(0), [0.5, 2.0], rtol=0.03)
    bernoulli = D.Bernoulli(probs=graphc.tensor([0.2, 0.7])).sample((n,)).numpy()
    assert set(np.unique(bernoulli)) <= {0.0, 1.0}
    np.testing.assert_allclose(bernoulli.mean(0), [0.2, 0.7], atol=0.02)
    counts = np.bincount(D.Categorical(probs=graphc.tensor([0.1, 0.0, 0.6, 0.3])).sample((n,)).numpy(), minlength=4) / n
    np.testing.assert_allclose(counts, [0.1, 0.0, 0.6, 0.3], atol=0.02)
    assert counts[1] == 0
    uniform = D.Uniform(-1.0, 3.0).sample((n,)).numpy()
    assert uniform.min() >= -1.0 and uniform.max() < 3.0
    np.testing.assert_allclose([uniform.mean(), uniform.var()], [1.0, 16 / 12], rtol=0.03)
    exponential = D.Exponential(graphc.tensor([2.0])).sample((n,)).numpy()
    np.testing.assert_allclose([exponential.mean(), exponential.var()], [0.5, 0.25], rtol=0.05)


def test_normal_rsample_gradient_is_torchs_for_the_same_noise(backend: str) -> None:
    loc, scale = RNG.standard_normal(3), _positive(3)
    weights = RNG.standard_normal((2, 3))
    ours_loc, ours_scale = graphc.tensor(loc, requires_grad=True), graphc.tensor(scale, requires_grad=True)
    sample = D.Normal(ours_loc, ours_scale).rsample((2,))
    (sample * graphc.tensor(weights)).sum().backward()
    eps = (sample.detach().numpy() - loc) / scale
    theirs_loc, theirs_scale = torch.tensor(loc, requires_grad=True), torch.tensor(scale, requires_grad=True)
    (torch.distributions.Normal(theirs_loc, theirs_scale).loc + torch.tensor(eps) * theirs_scale).mul(torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(ours_loc.grad.numpy(), theirs_loc.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours_scale.grad.numpy(), theirs_scale.grad.numpy(), rtol=1e-9)


def test_compiled_distributions_match_torch_and_skip_validation(backend: str) -> None:
    def step(loc: graphc.Tensor, scale: graphc.Tensor, value: graphc.Tensor, logits: graphc.Tensor) -> tuple:
        normal = D.Normal(loc, scale)
        categorical = D.Categorical(logits=logits)
        loss = normal.log_prob(value).sum() + categorical.entropy().sum() + normal.rsample((2,)).sum() * 0
        loss.backward()
        return normal.log_prob(value), categorical.sample((3,)), loc.grad, logits.grad

    arrays = RNG.standard_normal(3), _positive(3), RNG.standard_normal(3), RNG.standard_normal((2, 4))
    compiled = graphc.compile(step, backend=backend)
    ours = [graphc.tensor(a, requires_grad=i != 2) for i, a in enumerate(arrays)]
    log_prob, sample, loc_grad, logits_grad = compiled(*ours)
    theirs = [torch.tensor(a, requires_grad=i != 2) for i, a in enumerate(arrays)]
    normal, categorical = torch.distributions.Normal(theirs[0], theirs[1]), torch.distributions.Categorical(logits=theirs[3])
    (normal.log_prob(theirs[2]).sum() + categorical.entropy().sum()).backward()
    np.testing.assert_allclose(log_prob.numpy(), normal.log_prob(theirs[2]).detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(loc_grad.numpy(), theirs[0].grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(logits_grad.numpy(), theirs[3].grad.numpy(), rtol=1e-9, atol=1e-12)
    assert tuple(sample.shape) == (3, 2) and sample.dtype == graphc.int64 and ((sample.numpy() >= 0) & (sample.numpy() < 4)).all()
    negative = [graphc.tensor(arrays[0]), graphc.tensor(-arrays[1]), graphc.tensor(arrays[2]), graphc.tensor(arrays[3])]
    assert np.isnan(graphc.compile(lambda loc, scale, v: D.Normal(loc, scale).log_prob(v), backend=backend)(*negative[:3]).numpy()).all()


def test_compiled_sampling_draws_afresh_on_every_call(backend: str) -> None:
    compiled = graphc.compile(lambda loc, scale: D.Normal(loc, scale).sample((4,)), backend=backend)
    loc, scale = graphc.zeros(2), graphc.ones(2)
    first, second = compiled(loc, scale).numpy(), compiled(loc, scale).numpy()
    assert first.shape == (4, 2) and not np.array_equal(first, second)
