"""Statistics and sampling against torch (graphc/frontend/statistics.py, sampling.py): cov with weights,
corrcoef, mode (torch's choice among ties), nanmedian, quantile/nanquantile with every interpolation,
histogram (eager-only with a range from the data): values, dtypes and shapes on the NumPy backend,
a few on Triton, float64 gradients; multinomial and bernoulli by shape, dtype and frequencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data
from torch_grads import check_grads

import graphc
from graphc.errors import GraphcError, InvalidValueError

RNG = np.random.default_rng(47)


def with_nan(*shape: int) -> np.ndarray:
    x = RNG.standard_normal(shape)
    x[1, 2] = np.nan
    x[2, :] = np.nan if shape[0] > 3 else x[2, :]
    return x


FWEIGHTS = np.array([1, 2, 0, 3, 1])
AWEIGHTS = RNG.random(5)

CASES: dict[str, tuple[Callable[..., Any], tuple[np.ndarray, ...]]] = {
    "cov": (
        lambda T, x, f, a: (
            T.cov(x), x.cov(correction=0, fweights=f, aweights=a), T.cov(x[0], aweights=a), T.cov(x, fweights=f), T.cov(x, correction=2, aweights=a),
            T.cov(x[:, :1]), T.cov((x * 3).long()),
        ),
        (data(3, 5, dtype="float64"), FWEIGHTS, AWEIGHTS),
    ),
    "corrcoef": (lambda T, x: (T.corrcoef(x), x[0].corrcoef(), T.corrcoef(x.float())), (data(3, 5, dtype="float64"),)),
    "mode": (
        lambda T, i, x: (*T.mode(i, 1), *i.mode(0, keepdim=True), *T.mode(i[0]), *T.mode(x, 0), *T.mode(i[0, 0])),
        (np.array([[3, 1, 3, 1, 2], [5, 5, 5, 0, 0], [1, 2, 3, 4, 5], [2, 1, 1, 2, 2]]), RNG.integers(0, 3, (6, 2)).astype(np.float32)),
    ),
    "nanmedian": (
        lambda T, x: (*T.nanmedian(x, 1), T.nanmedian(x), *x.nanmedian(0, keepdim=True), T.nanmedian(x[0])),
        (np.array([[np.nan, np.nan, np.nan], [1.0, np.nan, 4.0], [3.0, 1.0, 2.0], [np.nan, 5.0, -1.0]], np.float32),),
    ),
    "quantile": (
        lambda T, x, q: (
            T.quantile(x[0], 0.3), x.quantile(q, dim=1, keepdim=True), T.quantile(x, 0.5, dim=0), T.quantile(x, q), x.quantile(0.5, keepdim=True),
            *[T.quantile(x, 0.37, dim=1, interpolation=m) for m in ("linear", "lower", "higher", "midpoint", "nearest")],
        ),
        (with_nan(3, 6), np.array([0.0, 0.25, 0.5, 1.0])),
    ),
    "nanquantile": (
        lambda T, x, q: (
            T.nanquantile(x, q, dim=1), x.nanquantile(0.4, dim=0, keepdim=True, interpolation="nearest"), T.nanquantile(x, 0.9),
            *[T.nanquantile(x, 0.62, dim=1, interpolation=m) for m in ("lower", "higher", "midpoint")],
        ),
        (with_nan(4, 5), np.array([0.1, 0.5, 1.0])),
    ),
    "histogram": (
        lambda T, x, w: (
            *T.histogram(x, 4), *x.histogram(T.tensor([-1.0, 0.0, 0.5, 2.0], dtype=T.float64), weight=w, density=True),
            *T.histogram(x, 3, range=(-1.0, 1.0), density=True), *T.histogram(x[:1] * 0 + 1, 3), *T.histogram(x.float(), 5, range=(0.0, 2.0)),
        ),
        (data(12, dtype="float64"), data(12, dtype="float64", positive=True)),
    ),
}


def _list(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _run(name: str) -> None:
    fn, arrays = CASES[name]
    got = fn(graphc, *[graphc.tensor(a.copy()) for a in arrays])
    expected = fn(torch, *[torch.from_numpy(a.copy()) for a in arrays])
    assert_matches(_list(got), _list(expected))


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_torch(name: str) -> None:
    with graphc.use_backend("numpy"):
        _run(name)


@pytest.mark.parametrize("name", ["mode", "quantile"])
def test_values_match_torch_on_triton(name: str) -> None:
    pytest.importorskip("triton")
    with graphc.use_backend("triton"):
        _run(name)


GRADIENTS: dict[str, tuple[Callable[..., Any], tuple[np.ndarray, ...]]] = {
    "cov-corrcoef": (
        lambda T, x, a: (T.cov(x, aweights=a), T.corrcoef(x), T.cov(x, correction=0)),
        (data(3, 5, dtype="float64"), RNG.random(5)),
    ),
    "quantiles-medians": (
        lambda T, x: (T.quantile(x, T.tensor([0.2, 0.7], dtype=T.float64), dim=1), T.nanquantile(x, 0.5), T.nanmedian(x, 0)[0], T.mode(x.round(), 1)[0]),
        (RNG.permutation(15).reshape(3, 5).astype(np.float64) / 7,),
    ),
    # The value's gradient goes to the index mode returns (the last of the ties), as torch's.
    "mode-ties": (lambda T, x: (T.mode(x, 1)[0], T.mode(x, 0, keepdim=True)[0]), (np.array([[1.0, 2, 1, 3, 2, 1], [0.5, 0.5, 2, 2, 3, 1]]),)),
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_match_torch(name: str) -> None:
    fn, arrays = GRADIENTS[name]
    with graphc.use_backend("numpy"):
        check_grads(fn, *arrays)


def test_histogram_from_the_data_s_range_is_refused_inside_compile() -> None:
    """The bins' edges of a range taken from the data are read eagerly, as torch reads them; a compiled program cannot."""
    with pytest.raises(GraphcError, match="pass range|histogram without range="):
        graphc.compile(lambda x: graphc.histogram(x, 3)[0])(graphc.ones(4))
    compiled = graphc.compile(lambda x: graphc.histogram(x, 3, range=(0.0, 3.0))[0])
    x = np.array([0.5, 1.5, 2.5, 3.0, 4.0], np.float32)
    assert_matches(compiled(graphc.tensor(x)), torch.histogram(torch.from_numpy(x), 3, range=(0.0, 3.0))[0])


REFUSALS: dict[str, tuple[Callable[..., Any], str]] = {
    "cov of 3-d": (lambda T: T.cov(T.ones(2, 2, 2)), "two or fewer dimensions"),
    "cov float fweights": (lambda T: T.cov(T.ones(2, 3), fweights=T.ones(3)), "integral dtype"),
    "quantile of integers": (lambda T: T.quantile(T.tensor([1, 2]), 0.5), "float or double"),
    "quantile q out of range": (lambda T: T.quantile(T.ones(3), 1.5), "in the range \\[0, 1\\]"),
    "quantile bad interpolation": (lambda T: T.quantile(T.ones(3), 0.5, interpolation="cubic"), "interpolation must be one of"),
    "multinomial of 3-d": (lambda T: T.multinomial(T.ones(2, 2, 2), 1), "1 or 2 dim"),
    "multinomial too many without replacement": (lambda T: T.multinomial(T.ones(3), 4), "cannot sample n_sample > prob_dist.size"),
    "bernoulli p out of range": (lambda T: T.ones(3).bernoulli(1.5), "p to be in \\[0, 1\\]|bernoulli_"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_bad_input_is_refused_as_by_torch(name: str) -> None:
    fn, message = REFUSALS[name]
    with pytest.raises((RuntimeError, ValueError)):
        fn(torch)
    with pytest.raises(GraphcError, match=message):
        fn(graphc)


def test_multinomial_with_replacement_draws_in_proportion(backend: str) -> None:
    """4000 draws per row: each category's frequency within 4.5 standard deviations of its probability, none of a zero weight."""
    graphc.manual_seed(3)
    weights = np.array([[0.0, 1.0, 3.0, 4.0], [2.0, 2.0, 0.0, 0.0]], np.float32)
    samples = graphc.multinomial(graphc.tensor(weights), 4000, replacement=True)
    assert samples.shape == (2, 4000) and samples.dtype == graphc.int64
    for row, drawn in zip(weights, samples.numpy()):
        p = row / row.sum()
        frequency = np.bincount(drawn, minlength=4) / 4000
        assert np.all(np.abs(frequency - p) <= 4.5 * np.sqrt(p * (1 - p) / 4000) + 1e-12), (frequency, p)


def test_multinomial_without_replacement_draws_distinct_categories_in_proportion() -> None:
    """Each row distinct; the first draw's frequencies are the weights', the zero weight never drawn while others remain."""
    graphc.manual_seed(5)
    weights = np.array([0.0, 1.0, 2.0, 5.0])
    draws = graphc.multinomial(graphc.tensor(np.tile(weights, (3000, 1))), 3).numpy()
    assert draws.shape == (3000, 3)
    assert all(len(set(r)) == 3 for r in draws) and not (draws == 0).any()
    p = weights / weights.sum()
    frequency = np.bincount(draws[:, 0], minlength=4) / 3000
    assert np.all(np.abs(frequency - p) <= 4.5 * np.sqrt(p * (1 - p) / 3000) + 1e-12), (frequency, p)
    one = graphc.multinomial(graphc.tensor([1.0, 3.0]), 1)
    assert one.shape == (1,) and one.dtype == graphc.int64


def test_multinomial_checks_the_weights_when_it_runs() -> None:
    with pytest.raises(InvalidValueError, match="probability tensor contains either inf, nan or element < 0"):
        graphc.multinomial(graphc.tensor([1.0, -1.0]), 1).numpy()
    with pytest.raises(InvalidValueError, match="sum of probabilities <= 0"):
        graphc.multinomial(graphc.tensor([0.0, 0.0]), 1).numpy()


def test_bernoulli_draws_ones_in_proportion(backend: str) -> None:
    graphc.manual_seed(7)
    p = np.repeat(np.array([[0.0, 0.2, 0.9, 1.0]]), 2000, 0).astype(np.float64)
    drawn = graphc.bernoulli(graphc.tensor(p))
    assert drawn.shape == p.shape and drawn.dtype == graphc.float64
    values = drawn.numpy()
    assert set(np.unique(values)) <= {0.0, 1.0}
    frequency = values.mean(0)
    assert frequency[0] == 0.0 and frequency[3] == 1.0
    assert np.all(np.abs(frequency[1:3] - [0.2, 0.9]) <= 4.5 * np.sqrt(np.array([0.16, 0.09]) / 2000))
    fixed = graphc.ones(4000, dtype=graphc.float16).bernoulli(0.3)
    assert fixed.dtype == graphc.float16 and abs(float(fixed.float().mean()) - 0.3) <= 4.5 * np.sqrt(0.21 / 4000)
    with pytest.raises(InvalidValueError, match="between 0 and 1"):
        graphc.bernoulli(graphc.tensor([1.5])).numpy()


def test_bernoulli_in_place_fills_with_the_probability_given() -> None:
    """A number or a broadcast tensor of probabilities; an integer tensor keeps its dtype, as torch's."""
    graphc.manual_seed(11)
    counts = graphc.zeros(4000, dtype=graphc.int64)
    assert counts.bernoulli_(0.25) is counts and counts.dtype == graphc.int64
    assert abs(float(counts.float().mean()) - 0.25) <= 4.5 * np.sqrt(0.1875 / 4000)
    rows = graphc.zeros(2, 2000).bernoulli_(graphc.tensor([[0.1], [0.8]])).numpy()
    assert np.all(np.abs(rows.mean(1) - [0.1, 0.8]) <= 4.5 * np.sqrt(np.array([0.09, 0.16]) / 2000))
