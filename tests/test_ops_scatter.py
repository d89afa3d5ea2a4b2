"""Indexed writes against torch (graphc/frontend/scatter.py): scatter (src, value, reduce="add"),
index_add, index_copy, index_fill, masked_scatter, their in-place twins and masked_fill_
(masked_select is in test_ops_data_dependent.py): values and dtypes on both backends with fusion on and off, float64
gradients, and one compiled function at two batch sizes. torch leaves duplicate indices of a
replacing write unspecified, so those cases use unique indices."""

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

RNG = np.random.default_rng(3)


def unique_rows(rows: int, size: int, columns: int) -> np.ndarray:
    """An index of ``rows`` x ``columns`` whose every column names distinct positions in 0..size-1."""
    return np.stack([RNG.permutation(size)[:rows] for _ in range(columns)], axis=1).astype(np.int64)


CASES: dict[str, tuple[Callable[..., Any], tuple[np.ndarray, ...]]] = {
    "scatter": (
        lambda T, x, s, i: (T.scatter(x, 0, i, s), T.scatter(x, -2, i, 1.5), x.scatter(0, i, value=-2.0)),
        (data(4, 5), data(3, 5), unique_rows(3, 4, 5)),
    ),
    # torch has no derivative for scatter(reduce=) and fails on an index smaller than src: values only
    "scatter-values-only": (
        lambda T, x, s, i: (T.scatter(x, 0, i, s, reduce="add"), x.scatter(0, i, 2.0, reduce="add"), x.scatter(0, i[:2, :3], s)),
        (data(4, 5), data(3, 5), unique_rows(3, 4, 5)),
    ),
    "scatter-dim1-int": (
        lambda T, x, s, i: (T.scatter(x, 1, i.T, s), x.scatter(1, i.T, 7)),
        (data(5, 4, dtype="int32"), data(5, 3, dtype="int32"), unique_rows(3, 4, 5)),
    ),
    "index_add": (
        lambda T, x, s, i: (T.index_add(x, 0, i, s), x.index_add(0, i, s, alpha=-2), T.index_add(x.T, 1, i, s.T)),
        (data(4, 3), data(5, 3), np.array([0, 2, 0, 3, 2])),
    ),
    "index_add-int": (lambda T, x, s, i: T.index_add(x, 1, i, s), (data(2, 4, dtype="int64"), data(2, 3, dtype="int64"), np.array([3, 3, 1]))),
    "index_copy": (lambda T, x, s, i: (T.index_copy(x, 0, i, s), x.index_copy(1, i[:2], s[:2].T)), (data(4, 4), data(3, 4), np.array([2, 0, 3]))),
    "index_fill": (
        lambda T, x, i, v: (T.index_fill(x, 1, i, -1.0), x.index_fill(0, i[1:2], v), T.index_fill(x, -1, i, 2)),
        (data(3, 4), np.array([3, 1, 3]), np.array(0.5, np.float32)),
    ),
    "masked_scatter": (
        lambda T, x, m, s: (T.masked_scatter(x, m, s), x.masked_scatter(m[0], s), T.masked_scatter(x, m & False, s)),
        (data(3, 4), data(3, 4, dtype="bool"), data(12)),
    ),
    # No True, so no source element: the positions gather a padding zero, never out of range
    "masked_scatter-empty-source": (lambda T, x, m, s: T.masked_scatter(x, m & False, s), (data(3, 4), data(3, 4, dtype="bool"), data(0))),
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
    if arrays[0].dtype.kind == "f" and name != "scatter-values-only"
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_match_torch(backend: str, name: str) -> None:
    fn, arrays = GRADIENTS[name]
    check_grads(fn, *arrays)


def test_duplicate_indices_write_their_mean_and_one_value_exactly(backend: str) -> None:
    x = graphc.zeros(3)
    index = graphc.tensor([1, 1, 2])
    assert x.scatter(0, index, graphc.tensor([2.0, 4.0, 5.0])).tolist() == [0.0, 3.0, 5.0]
    assert x.scatter(0, index, 7.0).tolist() == [0.0, 7.0, 7.0]
    assert x.index_add(0, index, graphc.tensor([2.0, 4.0, 5.0])).tolist() == [0.0, 6.0, 5.0]


def test_duplicate_writes_each_get_their_positions_whole_gradient(backend: str) -> None:
    """torch's gradient of a write: every write to a position gets that position's gradient, not a share.

    The written values agree (equal source rows), so torch's unspecified choice among
    duplicates and graphc's mean are the same value and check_grads compares them too."""
    rows = np.repeat(data(1, 3).astype(np.float64), 3, axis=0)
    index = np.array([[1, 1, 1], [1, 0, 2], [3, 0, 2]])
    check_grads(lambda T, x, s, i: (T.scatter(x, 0, i, s), T.index_copy(x, 0, i[:, 0], s)), data(4, 3).astype(np.float64), rows, index)


def test_in_place_writes(backend: str) -> None:
    x, s, i, ones, fill = data(4, 5), data(3, 5), unique_rows(3, 4, 5), np.ones((4, 2), np.float32), data(20)
    mask = x > 0
    ours, theirs = graphc.tensor(x.copy()), torch.from_numpy(x.copy())
    for T, t in ((graphc, ours), (torch, theirs)):
        assert t.scatter_(0, T.tensor(i), T.tensor(s)) is t
        t.scatter_add_(0, T.tensor(i), T.tensor(s))
        t.index_add_(1, T.tensor([4, 0]), T.tensor(ones))
        t.index_fill_(0, T.tensor([1]), 3.0)
        t.index_copy_(0, T.tensor([3]), T.tensor(s[:1]))
        t.masked_fill_(T.tensor(mask), -1.0)
        t.masked_scatter_(T.tensor(~mask), T.tensor(fill))
    assert_matches(ours, theirs)


def writes(T: Any, x: Any, s: Any, i: Any) -> tuple:
    """A batch written into along its rows: scatter of a source and of a value, index_add, index_fill, index_copy, masked_scatter."""
    return (
        T.scatter(x, 1, i, s),
        x.scatter(1, i[:, :1], 0.5),
        T.index_add(x, 1, T.tensor([2, 0]), s[:, :2]),
        x.index_fill(1, T.tensor([1]), -3.0),
        T.index_copy(x, 1, T.tensor([3, 1]), s[:, 1:]),
        x.masked_scatter(x > 0, s.repeat(1, 2)),
    )


def test_compiled_with_a_symbolic_batch(backend: str) -> None:
    check_compiled_batches(writes, lambda rows: (RNG.standard_normal((rows, 4)), RNG.standard_normal((rows, 3)), unique_rows(3, 4, rows).T.copy()), backend)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: graphc.scatter(x, 0, graphc.tensor([[0]])), "src or value"),
        (lambda x: graphc.scatter(x, 0, graphc.tensor([[0]]), 1.0, reduce="max"), "either add or multiply"),
        (lambda x: graphc.scatter(x, 0, graphc.tensor([[0.0]]), x), "int64"),
        (lambda x: graphc.scatter(x, 0, graphc.tensor([[0]]), x.double()), "dtype"),
        (lambda x: graphc.index_add(x, 0, graphc.tensor([0]), x.double()[:1]), "same scalar type"),
        (lambda x: graphc.index_add(x, 0, graphc.tensor([0, 1]), x[:1]), "source must have"),
        (lambda x: graphc.index_add(x, 0, graphc.tensor([[0]]), x[:1]), "vector"),
        (lambda x: graphc.index_fill(x, 0, graphc.tensor([0]), x[0]), "0-dimensional"),
        (lambda x: graphc.masked_scatter(x, x, x), "boolean"),
    ],
)
def test_errors_name_the_op(call: Callable[[graphc.Tensor], Any], message: str) -> None:
    with pytest.raises(GraphcError, match=message):
        call(graphc.tensor(data(3, 3)))


def test_masked_scatter_with_fewer_source_elements_than_trues_raises_torchs_error(backend: str) -> None:
    mask = graphc.tensor([[True, False, True], [True, True, False]])
    with pytest.raises(graphc.InvalidValueError, match="Number of elements of source < number of ones in mask"):
        graphc.zeros(2, 3).masked_scatter(mask, graphc.ones(3)).numpy()
    assert graphc.zeros(2, 3).masked_scatter(mask, graphc.arange(4.0)).numpy().tolist() == [[0.0, 0.0, 1.0], [2.0, 3.0, 0.0]]
