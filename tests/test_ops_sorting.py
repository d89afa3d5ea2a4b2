"""Sorting against torch (graphc/frontend/sorting.py): sort, argsort, msort, topk, kthvalue, median:
values, indices (stable order, NaN as the largest) and dtypes on both backends with fusion on and
off, float64 gradients, compiled functions at two batch sizes (the batch sorted too), rows longer
than a kernel's block, and a row of 100k elements. torch's indices of tied
values are unspecified except with stable=True, so the other cases use distinct values."""

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

RNG = np.random.default_rng(17)


def distinct(*shape: int, dtype: str = "float32") -> np.ndarray:
    return RNG.permutation(int(np.prod(shape))).reshape(shape).astype(dtype) - 4


def tied(*shape: int) -> np.ndarray:
    """Few values (many ties), and NaN in row 0."""
    x = RNG.integers(-2, 3, shape).astype(np.float32)
    x[0, 1] = x[0, 3] = np.nan
    return x


CASES: dict[str, tuple[Callable[..., Any], tuple[np.ndarray, ...]]] = {
    "sort-stable": (
        lambda T, x: (
            *T.sort(x, dim=1, stable=True), *x.sort(dim=0, descending=True, stable=True),
            T.argsort(x, dim=1, stable=True), x.argsort(dim=0, descending=True, stable=True),
        ),
        (tied(4, 6),),
    ),
    "sort": (lambda T, x: (*T.sort(x), *x.sort(0), *T.sort(x, 1, True), T.argsort(x), x.argsort(descending=True), T.msort(x)), (distinct(3, 5),)),
    "sort-int-bool": (
        lambda T, i, m: (*T.sort(i, dim=1, stable=True), *m.sort(dim=0, stable=True)),
        (data(3, 5, dtype="int64", low=-2, high=2), data(4, 3, dtype="bool")),
    ),
    "sort-0d": (lambda T, x: (*T.sort(x), T.argsort(x, 0)), (np.array(1.5, np.float32),)),
    "sort-float16": (lambda T, x: (*T.sort(x.half(), dim=1, descending=True, stable=True), x.half().argsort(dim=0, stable=True)), (tied(3, 5),)),
    "sort-int32-descending": (
        lambda T, i: (*T.sort(i, dim=1, descending=True, stable=True), i.argsort(dim=0, descending=True, stable=True)),
        (data(4, 6, dtype="int32", low=-2, high=2),),
    ),
    "topk": (lambda T, x: (*T.topk(x, 2), *x.topk(3, 0, largest=False), *T.topk(x, 0), *x.topk(5, -1)), (distinct(4, 5),)),
    "kthvalue": (lambda T, x: (*T.kthvalue(x, 1), *x.kthvalue(3, 0, True), *T.kthvalue(x, 5, -1)), (distinct(4, 5),)),
    "median": (
        lambda T, x, i: (*T.median(x, 1), *x.median(0, keepdim=True), T.median(x), *i.median(1), i.median()),
        (distinct(4, 6), data(3, 5, dtype="int32")),
    ),
    "median-nan": (lambda T, x: (*T.median(x, 1), T.median(x), T.median(x[1:])), (tied(3, 5),)),
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
    if name in ("sort", "topk", "kthvalue", "median")
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_match_torch(backend: str, name: str) -> None:
    fn, arrays = GRADIENTS[name]
    check_grads(fn, *arrays)


def test_named_results(backend: str) -> None:
    x = distinct(3, 4)
    ours, theirs = graphc.tensor(x), torch.from_numpy(x)
    assert_matches(
        [ours.sort().values, ours.topk(2).indices, ours.kthvalue(2).values, ours.median(1).indices],
        [theirs.sort().values, theirs.topk(2).indices, theirs.kthvalue(2).values, theirs.median(1).indices],
    )


def ordered(T: Any, x: Any) -> tuple:
    """Rows of a batch sorted, their top two, and their medians."""
    return (*T.sort(x, 1), *T.topk(x, 2, 1), *T.median(x, 1), T.kthvalue(x, 2, 1)[0])


def test_compiled_with_a_symbolic_batch(backend: str) -> None:
    check_compiled_batches(ordered, lambda rows: (RNG.permutation(rows * 5).reshape(rows, 5).astype(np.float64),), backend)


def test_compiled_sort_along_the_symbolic_batch_axis(backend: str) -> None:
    """The sorted axis itself has the symbolic size B: ties kept in order, descending too."""
    check_compiled_batches(
        lambda T, x: (*T.sort(x, dim=0, descending=True, stable=True), T.argsort(x, dim=0, stable=True), T.msort(x)),
        lambda rows: (RNG.integers(-2, 3, (rows, 4)).astype(np.float64),),
        backend,
    )


def test_long_rows_with_ties_and_nan_cross_the_kernel_blocks(backend: str) -> None:
    """Rows longer than a Triton sort kernel's block of the row (1024 under the interpreter), many ties and NaN."""
    x = RNG.integers(0, 40, (1, 1100)).astype(np.float32)
    x[0, 7] = x[0, 1099] = x[0, 3] = np.nan
    ours, theirs = graphc.tensor(x), torch.from_numpy(x)
    for descending in (False, True):
        got = graphc.sort(ours, descending=descending, stable=True)
        assert_matches(list(got), list(torch.sort(theirs, descending=descending, stable=True)))


def test_a_row_of_100k_elements_sorts_on_the_numpy_backend() -> None:
    """n log n: the rank count this replaced compared every pair, 10^10 comparisons for this row."""
    x = RNG.integers(0, 1000, (1, 100_000)).astype(np.float32)
    x[0, ::997] = np.nan
    distinct_values = RNG.permutation(100_000).astype(np.float64)  # torch's order of tied top-k is unspecified
    with graphc.use_backend("numpy"):
        values, indices = graphc.sort(graphc.tensor(x), descending=True, stable=True)
        top = graphc.topk(graphc.tensor(distinct_values), 3, largest=False)
    assert_matches([values, indices], list(torch.sort(torch.from_numpy(x), descending=True, stable=True)))
    assert_matches(list(top), list(torch.topk(torch.from_numpy(distinct_values), 3, largest=False)))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: x.topk(4), "out of range"),
        (lambda x: x.kthvalue(0), "out of range"),
        (lambda x: x[:, :0].median(1), "empty"),
        (lambda x: x.sort(2), "out of range"),
    ],
)
def test_errors_name_the_op(call: Callable[[graphc.Tensor], Any], message: str) -> None:
    with pytest.raises(GraphcError, match=message):
        call(graphc.tensor(data(3, 3)))
