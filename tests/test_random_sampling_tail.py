"""torch's samplers beyond rand/randn (graphc/frontend/sampling.py, random_fills.py) and the RNG state
(graphc/runtime/random.py). graphc's random stream is not torch's, so each sampler is checked against
torch by shape and dtype, and against its distribution by moments: the mean of n draws within 5 standard
errors of the true mean, the variance within 5 standard errors of the sample variance (from the fourth
central moment), which a wrong scale, offset or shape fails."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import graphc
from graphc.errors import GraphcError, InvalidValueError, NoDerivativeError

N = 20000


def assert_moments(samples: Any, mean: float, var: float, fourth: float) -> None:
    """``fourth`` is the distribution's fourth central moment, which sets the standard error of the sample variance."""
    x = np.asarray(samples, dtype=np.float64).ravel()
    n = x.size
    assert abs(x.mean() - mean) <= 5 * np.sqrt(var / n), (x.mean(), mean)
    assert abs(x.var() - var) <= 5 * np.sqrt((fourth - var**2) / n), (x.var(), var)


def same_kind(got: graphc.Tensor, expected: torch.Tensor) -> None:
    assert tuple(got.shape) == tuple(expected.shape) and got.dtype.name == str(expected.dtype).removeprefix("torch."), (got.shape, got.dtype, expected)


# --------------------------------------------------------------------------- normal


NORMAL_OVERLOADS: dict[str, Callable[[Any, Any], Any]] = {
    "tensor mean, tensor std (broadcast)": lambda T, d: T.normal(T.zeros(2, 1, dtype=d), T.ones(3)),
    "tensor mean, float std": lambda T, d: T.normal(T.zeros(4, dtype=d), 2.0),
    "float mean, tensor std": lambda T, d: T.normal(1.0, T.ones(2, 2, dtype=d)),
    "floats and size": lambda T, d: T.normal(0.0, 1.0, (3, 2)),
    "floats, size and dtype": lambda T, d: T.normal(0.0, 1.0, size=(2,), dtype=d),
}


@pytest.mark.parametrize("name", sorted(NORMAL_OVERLOADS))
def test_normal_overloads_give_torch_s_shape_and_dtype(name: str) -> None:
    for d in ("float64", "float32"):
        same_kind(NORMAL_OVERLOADS[name](graphc, getattr(graphc, d)), NORMAL_OVERLOADS[name](torch, getattr(torch, d)))


def test_normal_draws_from_the_mean_and_std_given(backend: str) -> None:
    graphc.manual_seed(1)
    n = N if backend == "numpy" else 2000
    mean = graphc.tensor(np.repeat([[-1.0], [3.0]], n // 2, 1))
    drawn = graphc.normal(mean, graphc.tensor([[0.5], [2.0]], dtype=graphc.float64)).numpy()
    for row, (m, s) in zip(drawn, [(-1.0, 0.5), (3.0, 2.0)]):
        assert_moments(row, m, s**2, 3 * s**4)
    assert_moments(graphc.normal(2.0, 3.0, (n,)).numpy(), 2.0, 9.0, 3 * 81.0)


def test_normal_gives_mean_and_std_a_zero_gradient_as_torch() -> None:
    results = []
    for T in (torch, graphc):
        mean = T.tensor([0.5, 1.0], dtype=T.float64, requires_grad=True)
        std = T.tensor([1.0, 2.0], dtype=T.float64, requires_grad=True)
        drawn = T.normal(mean, std)
        assert drawn.requires_grad
        (drawn * 3).sum().backward()
        results.append([np.asarray(v.grad.tolist()) for v in (mean, std)])
    np.testing.assert_array_equal(results[0], results[1])


def test_normal_refuses_a_negative_std_and_integer_tensors() -> None:
    for fn in (lambda T: T.normal(T.zeros(3), -1.0), lambda T: T.normal(T.zeros(3, dtype=T.int64), 1.0), lambda T: T.normal(0.0, -1.0, (2,))):
        with pytest.raises(RuntimeError):
            fn(torch)
        with pytest.raises(GraphcError, match="std >= 0.0|floating point"):
            fn(graphc)
    with pytest.raises(InvalidValueError, match="all elements of std >= 0.0"):
        graphc.normal(0.0, graphc.tensor([1.0, -1.0])).numpy()


# --------------------------------------------------------------------------- poisson, binomial, randint_like


def test_poisson_draws_counts_with_the_rates_given() -> None:
    graphc.manual_seed(2)
    rates = graphc.full((N,), 3.0, dtype=graphc.float64, requires_grad=True)
    drawn = graphc.poisson(rates)
    same_kind(drawn, torch.poisson(torch.full((N,), 3.0, dtype=torch.float64)))
    values = drawn.numpy()
    assert np.all(values == np.floor(values))
    assert_moments(values, 3.0, 3.0, 3.0 * (1 + 3 * 3.0))
    drawn.sum().backward()
    assert np.all(rates.grad.numpy() == 0)  # torch's zero gradient
    with pytest.raises(GraphcError, match="non-negative"):
        graphc.poisson(graphc.tensor([-1.0]))
    with pytest.raises(GraphcError, match="floating point"):
        graphc.poisson(graphc.tensor([1]))


def test_binomial_draws_successes_of_the_trials_given() -> None:
    graphc.manual_seed(3)
    count, prob = graphc.full((N, 1), 10.0), graphc.tensor([0.2, 0.5])
    drawn = graphc.binomial(count, prob)
    same_kind(drawn, torch.binomial(torch.full((N, 2), 10.0), torch.tensor([0.2, 0.5]).expand(N, 2)))
    for column, p in zip(drawn.numpy().T, (0.2, 0.5)):
        var = 10 * p * (1 - p)
        assert_moments(column, 10 * p, var, var * (1 + 3 * (10 - 2) * p * (1 - p)))
    with pytest.raises(GraphcError, match="one dtype"):
        graphc.binomial(graphc.ones(2, dtype=graphc.float64), graphc.ones(2))
    needs_grad = graphc.ones(2, requires_grad=True)
    with pytest.raises(NoDerivativeError, match="binomial"):
        graphc.binomial(needs_grad, graphc.full((2,), 0.5)).sum().backward()


def test_host_samplers_are_refused_inside_compile() -> None:
    with pytest.raises(GraphcError, match="poisson draws in eager code only"):
        graphc.compile(lambda x: graphc.poisson(x))(graphc.ones(3))


@pytest.mark.parametrize("dtype", ["float64", "int32"])
def test_randint_like_draws_in_the_input_s_shape_and_dtype(dtype: str) -> None:
    graphc.manual_seed(4)
    drawn = graphc.randint_like(graphc.zeros(N, dtype=getattr(graphc, dtype)), 3, 9)
    same_kind(drawn, torch.randint_like(torch.zeros(N, dtype=getattr(torch, dtype)), 3, 9))
    k = 6  # a discrete uniform on six values
    assert set(np.unique(drawn.numpy())) == set(range(3, 9))
    assert_moments(drawn.numpy(), 5.5, (k * k - 1) / 12, (k * k - 1) * (3 * k * k - 7) / 240)
    assert set(np.unique(graphc.randint_like(graphc.zeros(50), 2).numpy())) <= {0.0, 1.0}


# --------------------------------------------------------------------------- in-place samplers


def test_exponential_cauchy_log_normal_and_geometric_follow_their_distributions(backend: str) -> None:
    graphc.manual_seed(5)
    n = N if backend == "numpy" else 2000
    lam = 2.0
    exponential = graphc.zeros(n, dtype=graphc.float64)
    assert exponential.exponential_(lam) is exponential
    assert exponential.numpy().min() >= 0
    assert_moments(exponential.numpy(), 1 / lam, 1 / lam**2, 9 / lam**4)
    cauchy = graphc.zeros(n).cauchy_(1.0, 2.0).numpy()  # quartiles at median -/+ sigma
    for fraction, expected in (((cauchy <= 1.0).mean(), 0.5), ((np.abs(cauchy - 1.0) <= 2.0).mean(), 0.5)):
        assert abs(fraction - expected) <= 5 * np.sqrt(0.25 / n)
    log_normal = graphc.zeros(n, dtype=graphc.float64).log_normal_(0.5, 0.25).numpy()
    assert_moments(np.log(log_normal), 0.5, 0.25**2, 3 * 0.25**4)
    p = 0.3
    geometric = graphc.zeros(n, dtype=graphc.int32).geometric_(p)
    assert geometric.dtype == graphc.int32 and geometric.numpy().min() >= 1
    var = (1 - p) / p**2
    assert_moments(geometric.numpy(), 1 / p, var, var**2 * (9 + p * p / (1 - p)))


def test_random_overloads_draw_the_ranges_torch_draws() -> None:
    """random_(from, to), random_(to), and without ``to`` up to the dtype's bound (a float's 2**mantissa)."""
    graphc.manual_seed(6)
    cases = [
        ("float64", (-3, 4), (-3, 3)),
        ("int32", (5,), (0, 4)),
        ("int64", (), (0, 2**63 - 1)),
        ("int32", (), (0, 2**31 - 1)),
        ("float32", (), (0, 2**24)),
        ("float16", (), (0, 2**11)),
        ("bool", (), (0, 1)),
    ]
    for dtype, args, (low, high) in cases:
        drawn = graphc.zeros(N, dtype=getattr(graphc, dtype)).random_(*args)
        expected = torch.zeros(4, dtype=getattr(torch, dtype)).random_(*args)
        assert drawn.dtype.name == str(expected.dtype).removeprefix("torch.")
        values = drawn.numpy().astype(np.float64)
        assert values.min() >= low and values.max() <= high and np.all(values == np.floor(values)), (dtype, args)
        k = high - low + 1.0
        assert abs(values.mean() - (low + high) / 2) <= 5 * np.sqrt((k * k - 1) / 12 / N), (dtype, args, values.mean())
    small = graphc.zeros(N, dtype=graphc.int64).random_(-3, 4).numpy()
    assert set(np.unique(small)) == set(range(-3, 4))
    everything = graphc.zeros(N, dtype=graphc.int64).random_(-(2**63), None).numpy()
    assert (everything < 0).mean() > 0.45 and (everything > 0).mean() > 0.45  # the whole int64 range
    assert graphc.zeros(N, dtype=graphc.int64).random_(2**40, 2**62).numpy().min() >= 2**40


SAMPLER_REFUSALS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "random_ with from >= to": (lambda T: T.zeros(3).random_(5, 3), "from=5 >= to=3"),
    "random_ past the dtype": (lambda T: T.zeros(3, dtype=T.int32).random_(0, 2**40), "out of bounds"),
    "exponential_ of integers": (lambda T: T.zeros(3, dtype=T.int64).exponential_(), "continuous probability distribution"),
    "exponential_ with lambda <= 0": (lambda T: T.zeros(3).exponential_(-1.0), "lambda > 0.0"),
    "cauchy_ of integers": (lambda T: T.zeros(3, dtype=T.int64).cauchy_(), "continuous probability distribution"),
    "geometric_ with p outside (0, 1)": (lambda T: T.zeros(3).geometric_(1.5), "p to be in \\(0, 1\\)"),
    "log_normal_ of integers": (lambda T: T.zeros(3, dtype=T.int64).log_normal_(), "floating point"),
}


@pytest.mark.parametrize("name", sorted(SAMPLER_REFUSALS))
def test_in_place_samplers_refuse_what_torch_refuses(name: str) -> None:
    fn, message = SAMPLER_REFUSALS[name]
    with pytest.raises(RuntimeError):
        fn(torch)
    with pytest.raises(GraphcError, match=message):
        fn(graphc)


def test_in_place_samplers_draw_anew_on_every_compiled_call() -> None:
    step = graphc.compile(lambda x: (x.clone().random_(3, 10), x.clone().exponential_()))
    first, second = step(graphc.zeros(64)), step(graphc.zeros(64))
    assert not np.array_equal(first[0].numpy(), second[0].numpy())
    for ints, positives in (first, second):
        assert ints.numpy().min() >= 3 and ints.numpy().max() <= 9 and positives.numpy().min() >= 0


# --------------------------------------------------------------------------- RNG state


def test_rng_state_round_trip_reproduces_the_draws() -> None:
    graphc.manual_seed(7)
    assert graphc.initial_seed() == 7
    state = graphc.get_rng_state()
    first = (graphc.rand(5).numpy(), graphc.randn(3).numpy(), graphc.zeros(4).exponential_().numpy())
    graphc.set_rng_state(state)
    again = (graphc.rand(5).numpy(), graphc.randn(3).numpy(), graphc.zeros(4).exponential_().numpy())
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(GraphcError, match="get_state returns"):
        graphc.set_rng_state(graphc.zeros(3))
    chosen = graphc.seed()
    assert graphc.initial_seed() == chosen and 0 <= chosen < 2**63


def test_generator_mirrors_torch_s_interface() -> None:
    g = graphc.Generator()
    assert g.manual_seed(11) is g and g.initial_seed() == 11 and g.device == "cpu"
    state = g.get_state()
    first = graphc.normal(0.0, 1.0, (4,), generator=g).numpy()
    g.set_state(state)
    np.testing.assert_array_equal(graphc.normal(0.0, 1.0, (4,), generator=g).numpy(), first)
    g.manual_seed(11)
    np.testing.assert_array_equal(graphc.randn(4, generator=g).numpy(), first)
    assert graphc.manual_seed(0) is graphc.default_generator
    copied = pickle.loads(pickle.dumps(g))
    assert type(copied) is graphc.Generator and copied.initial_seed() == 11
    np.testing.assert_array_equal(copied.random(3), g.random(3))
