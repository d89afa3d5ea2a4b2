"""Reductions and scans against torch (graphc/frontend/reductions.py): prod, cumprod, cummax,
cummin, logcumsumexp, var_mean, std_mean, nansum, nanmean, count_nonzero, aminmax: values,
dtypes and indices on both backends with fusion on and off, float64 gradients (zeros in a
product included), and one compiled function at two batch sizes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data
from torch_grads import check_compiled_batches, check_grads

import graphc
from graphc.errors import GraphcError

pytestmark = pytest.mark.usefixtures("fusion")


def with_zeros(*shape: int) -> np.ndarray:
    """Normal values with one zero in row 0 and two in row 1: torch's special cases of prod's gradient."""
    x = data(*shape, dtype="float64")
    x[0, 1] = 0.0
    x[1, 0] = x[1, -1] = 0.0
    return x


def with_nans(*shape: int, whole_row: bool = True) -> np.ndarray:
    x = data(*shape, dtype="float64")
    x[0, 1] = x[1, 0] = np.nan
    if whole_row:
        x[2] = np.nan
    return x


def ties(*shape: int) -> np.ndarray:
    return data(*shape, dtype="int64", low=-2, high=3)


CASES: dict[str, tuple[Callable[..., Any], tuple[np.ndarray, ...]]] = {
    "prod": (lambda T, x: (T.prod(x), x.prod(1), T.prod(x, 0, keepdim=True), x.prod(-1, True), T.prod(x, 1, dtype=T.float64)), (data(3, 7),)),
    "prod-zeros": (lambda T, x: (x.prod(1), x.prod(0), x.prod()), (with_zeros(3, 5),)),
    "prod-int-bool": (lambda T, i, m: (T.prod(i), i.prod(0), T.prod(m, 1), i.prod(1, dtype=T.float32)), (data(4, 3, dtype="int32"), data(3, 4, dtype="bool"))),
    "prod-sizes": (lambda T, x: (x[:, :1].prod(1), x[:, :0].prod(1), x[:, :2].prod(1), x[:, :6].prod(1), T.prod(x[0, 0])), (data(2, 9),)),
    "cumprod": (lambda T, x: (T.cumprod(x, 1), x.cumprod(0), x.cumprod(-1, dtype=T.float64)), (with_zeros(3, 6),)),
    "cumprod-int": (lambda T, i: (T.cumprod(i, 1), i.cumprod(0)), (data(3, 5, dtype="int32", low=-3, high=4),)),
    "cummax-cummin": (lambda T, x: (*T.cummax(x, 1), *x.cummin(0), *T.cummax(x, -1)), (data(4, 6),)),
    "cummax-ties": (lambda T, i: (*T.cummax(i, 1), *i.cummin(1), *i.cummax(0)), (ties(5, 7),)),
    "cummax-nan": (lambda T, x: (*T.cummax(x, 1), *x.cummin(1)), (with_nans(3, 5),)),
    "logcumsumexp": (lambda T, x: (T.logcumsumexp(x, 1), x.logcumsumexp(0)), (data(3, 6),)),
    "logcumsumexp-extremes": (lambda T, x: (T.logcumsumexp(x * 1000, 1), T.logcumsumexp(T.log(x.abs() * 0), 1)), (data(3, 5, dtype="float64"),)),
    "var_mean": (
        lambda T, x: (*T.var_mean(x), *T.var_mean(x, 1), *T.var_mean(x, (0, 1), keepdim=True), *T.var_mean(x, 0, correction=0), *T.var_mean(x, False)),
        (data(3, 4),),
    ),
    "std_mean": (lambda T, x: (*T.std_mean(x), *T.std_mean(x, -1, keepdim=True), *T.std_mean(x, 0, unbiased=False)), (data(3, 4),)),
    "nansum-nanmean": (lambda T, x: (T.nansum(x), x.nansum(1), T.nanmean(x, 0), x.nanmean(1, True), T.nanmean(x)), (with_nans(4, 3),)),
    "nansum-int": (lambda T, i: (T.nansum(i), i.nansum(0)), (data(3, 4, dtype="int32"),)),
    "count_nonzero": (lambda T, x, i: (T.count_nonzero(x), x.count_nonzero(1), T.count_nonzero(i, (0, 1)), i.count_nonzero(0)), (with_zeros(3, 4), ties(3, 4))),
    "aminmax": (lambda T, x: (*T.aminmax(x), *x.aminmax(dim=1), *T.aminmax(x, dim=0, keepdim=True)), (data(3, 4),)),
}


def _list(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_torch(backend: str, name: str) -> None:
    fn, arrays = CASES[name]
    got = fn(graphc, *[graphc.tensor(a.copy()) for a in arrays])
    expected = fn(torch, *[torch.from_numpy(a.copy()) for a in arrays])
    assert_matches(_list(got), _list(expected))


GRADIENTS = {
    name: (fn, tuple(a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays))
    for name, (fn, arrays) in CASES.items()
    if any(a.dtype.kind == "f" for a in arrays) and name not in ("logcumsumexp-extremes", "count_nonzero")
}


# torch's nanmean gradient of an all-NaN row is NaN (0 * (g / 0)); graphc's is 0 (docs/decisions.md)
GRADIENTS["nansum-nanmean"] = (CASES["nansum-nanmean"][0], (with_nans(4, 3, whole_row=False),))


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_match_torch(backend: str, name: str) -> None:
    fn, arrays = GRADIENTS[name]
    check_grads(fn, *arrays)


def test_second_derivative_of_prod_with_a_zero(backend: str) -> None:
    a = with_zeros(3, 4)
    x, t = graphc.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (g,) = graphc.autograd.grad(x.prod(1).sum(), [x], create_graph=True)
    (e,) = torch.autograd.grad(t.prod(1).sum(), [t], create_graph=True)
    (g * g).sum().backward()
    (e * e).sum().backward()
    assert_matches(g, e.detach())
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10)


def test_named_results(backend: str) -> None:
    x = graphc.tensor(data(2, 3))
    assert_matches(graphc.aminmax(x).max, torch.aminmax(torch.from_numpy(x.numpy())).max)
    assert_matches(x.cummax(1).indices, torch.from_numpy(x.numpy()).cummax(1).indices)


def statistics(T: Any, x: Any) -> tuple:
    """A batch through products, scans and NaN-skipping means along its rows, and statistics over the batch."""
    return (x.prod(1), T.cumprod(x, 1), T.cummax(x, 1)[0], T.logcumsumexp(x, 1), *T.var_mean(x, 0), T.nansum(x, 0), T.nanmean(x, 1), T.count_nonzero(x, 1))


def test_compiled_with_a_symbolic_batch(backend: str) -> None:
    check_compiled_batches(statistics, lambda rows: (RNG.standard_normal((rows, 5)),), backend)


RNG = np.random.default_rng(7)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: graphc.prod(x, (0, 1)), "dim"),
        (lambda x: x.logcumsumexp(0).long().logcumsumexp(0), "floating-point"),
        (lambda x: x.cumprod(2), "out of range"),
        (lambda x: graphc.aminmax(x[:0]), "empty"),
        (lambda x: x.long().nanmean(), "floating-point"),
    ],
)
def test_errors_name_the_op(call: Callable[[graphc.Tensor], Any], message: str) -> None:
    with pytest.raises((GraphcError, TypeError), match=message):
        call(graphc.tensor(data(3, 3)))


def test_a_product_along_the_batch_needs_static_sizes() -> None:
    compiled = graphc.compile(lambda x: x.prod(0))
    for rows in (3, 4):
        x = data(rows, 2)
        assert_matches(compiled(graphc.tensor(x)), torch.from_numpy(x).prod(0))
    assert compiled.report().recompilations, "prod over B should make the function static"
