"""scatter_reduce (sum, prod, mean, amax, amin, with and without the input's own values),
index_reduce and scatter(reduce="multiply") against torch (graphc/frontend/scatter.py):
values and dtypes on both backends with fusion on and off, float64 gradients through ties and
zeros, one compiled function at two batch sizes, and the errors."""

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

REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")
# Along dim 0 of a [3, 4] input: duplicates, a position never written (row 1 of column 3), every row.
INDEX = np.array([[0, 2, 1, 0], [2, 2, 0, 0], [0, 1, 1, 2], [2, 0, 0, 2]])
# Ties between sources and with the input (integral values), single and double zeros at one position.
X_TIES = np.array([[2.0, 0.0, 1.0, -1.0], [3.0, 1.0, 0.0, 5.0], [1.0, -2.0, 2.0, 0.0]])
SRC_TIES = np.array([[2.0, 0.0, 1.0, 3.0], [0.0, 4.0, 2.0, -1.0], [2.0, 1.0, 2.0, 0.0], [0.0, -2.0, 0.0, 3.0]])


def every_reduction(T: Any, x: Any, i: Any, s: Any) -> list:
    return [T.scatter_reduce(x, -2, i, s, r, include_self=inc) for r in REDUCTIONS for inc in (True, False)]


def narrow_dtypes(T: Any, x: Any, i: Any, s: Any) -> list:
    """int32 and bool (and, or, and) without the sums and means, include_self alternating."""
    kinds = (("prod", True), ("amax", False), ("amin", True))
    return [t.scatter_reduce(0, i, u, r, include_self=inc ^ (t is not x)) for t, u in ((x, s), (x > 0, s > 0)) for r, inc in kinds]


def edges(T: Any, x: Any, i: Any, s: Any, nan_x: Any, nan_s: Any) -> list:
    """NaN wins a maximum and a minimum; a 0-d input; an empty index; scatter's reduce="multiply"."""
    return [
        *[nan_x.scatter_reduce(1, i[:1], nan_s, r) for r in ("amax", "amin", "prod")],
        x[0, 0].scatter_reduce(0, i[0, :2] * 0, s[0, :2], "prod"),
        x.scatter_reduce(0, i[:0], s[:0], "amax", include_self=False),
        T.scatter(x, 0, i, s, reduce="multiply"),
        x.scatter(1, i[:2], 1.5, reduce="multiply"),
    ]


def index_reductions(T: Any, x: Any, i: Any, s: Any, xi: Any, si: Any) -> list:
    """Every reduction of float32 either way; int64's product and floored mean."""
    floats = [x.index_reduce(1, i, s, r, include_self=inc) for r in ("prod", "mean", "amax", "amin") for inc in (True, False)]
    return [*floats, xi.index_reduce(1, i, si, "prod", include_self=False), T.index_reduce(xi, 1, i, si, "mean")]


CASES: dict[str, tuple[Callable[..., Any], tuple[np.ndarray, ...]]] = {
    "float64-ties-and-zeros": (every_reduction, (X_TIES, INDEX, SRC_TIES)),
    "int64": (every_reduction, (data(3, 4, dtype="int64"), INDEX, data(4, 4, dtype="int64"))),
    "int32-and-bool": (narrow_dtypes, (data(3, 4, dtype="int32"), INDEX, data(4, 4, dtype="int32"))),
    "index-smaller-than-src-and-input-view": (
        lambda T, x, i, s: [x.T.scatter_reduce(1, i.T[:2, :3], s, r, include_self=False) for r in ("prod", "amax", "mean")],
        (data(3, 4), INDEX, data(3, 4)),
    ),
    "nan-0-d-empty-multiply": (
        edges,
        (data(3, 4), INDEX, data(4, 4), np.array([[1.0, np.nan, 3.0, 0.0]], np.float32), np.array([[np.nan, 2.0, 5.0, -np.inf]], np.float32)),
    ),
    "index_reduce-float32-and-int64": (
        index_reductions,
        (data(3, 4), np.array([3, 0, 3, 1, 3]), data(3, 5), data(3, 4, dtype="int64"), data(3, 5, dtype="int64")),
    ),
}


@pytest.mark.usefixtures("fusion")
@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_torch(backend: str, name: str) -> None:
    fn, arrays = CASES[name]
    assert_matches(fn(graphc, *[graphc.tensor(a.copy()) for a in arrays]), fn(torch, *[torch.from_numpy(a.copy()) for a in arrays]))


def test_gradients_match_torch_through_ties_and_zeros(backend: str) -> None:
    """torch's rules: amax and amin share the gradient evenly among the values equal to the result,
    the input's own included; prod divides the product by the value, and a lone zero gets the
    product of the rest (two zeros at a position: zero for all). Excluding the input is compared
    where it differs from the result (see the next test for where torch's rule is wrong)."""
    s = np.array([[2.0, 0.0, 1.0, 3.0], [0.0, 4.0, 2.0, -1.0], [2.0, 1.0, 2.0, 0.0], [0.0, -2.0, 0.0, 3.0]])

    def reductions(T: Any, x: Any, i: Any, s: Any) -> list:
        kept = [T.scatter_reduce(x, 0, i, s, r) for r in REDUCTIONS]
        excluded = [T.scatter_reduce(x - 10.0, 0, i, s, r, include_self=False) for r in REDUCTIONS]
        return kept + excluded + [x.index_reduce(0, i[:, 0], s, "prod"), (x - 10.0).index_reduce(0, i[:, 1], s, "amax", include_self=False)]

    check_grads(reductions, X_TIES, INDEX, s)


def test_an_excluded_input_equal_to_the_maximum_takes_no_share(backend: str) -> None:
    """torch (2.13) counts the excluded input among the tied maxima and gives the only maximum
    source half its gradient; graphc gives it all (docs/decisions.md, "scatter_reduce")."""
    x = graphc.tensor([3.0, 5.0], requires_grad=True)
    s = graphc.tensor([3.0, 1.0], requires_grad=True)
    x.scatter_reduce(0, graphc.tensor([0, 0]), s, "amax", include_self=False).sum().backward()
    assert s.grad.tolist() == [1.0, 0.0]
    assert x.grad.tolist() == [0.0, 1.0]


def test_in_place_twins(backend: str) -> None:
    x, s = data(3, 4), data(4, 4)
    ours, theirs = graphc.tensor(x.copy()), torch.from_numpy(x.copy())
    for T, t in ((graphc, ours), (torch, theirs)):
        assert t.scatter_reduce_(0, T.tensor(INDEX), T.tensor(s), "amax") is t
        t.index_reduce_(1, T.tensor([2, 0]), T.tensor(s[:3, :2]), "prod", include_self=False)
        t.scatter_(0, T.tensor(INDEX), T.tensor(s), reduce="multiply")
    assert_matches(ours, theirs)


def batch_reductions(T: Any, x: Any, s: Any, i: Any) -> tuple:
    """A batch reduced into along its rows, and rows of the batch reduced into."""
    return (
        T.scatter_reduce(x, 1, i, s, "prod"),
        x.scatter_reduce(1, i, s, "amin", include_self=False),
        # The first three rows by index: x[:3] clamps at a batch under 3, so it makes the trace static.
        x.index_reduce(0, T.tensor([1, 0, 1]), (x * s[:, :1]).index_select(0, T.tensor([0, 1, 2])), "amax"),
    )


def test_compiled_with_a_symbolic_batch(backend: str) -> None:
    rng = np.random.default_rng(5)
    make = lambda rows: (rng.standard_normal((rows, 4)), rng.standard_normal((rows, 3)), rng.integers(0, 4, (rows, 3)))  # noqa: E731
    check_compiled_batches(batch_reductions, make, backend)


@pytest.mark.parametrize("index", [[0, 3], [-1, 0]], ids=["past-the-end", "negative"])
def test_an_index_out_of_range_raises(backend: str, index: list[int]) -> None:
    x = graphc.tensor(data(3, 2))
    with pytest.raises(IndexError, match="scatter_reduce: an index is out of range for axis 0 of size 3"):
        x.scatter_reduce(0, graphc.tensor([index, [0, 0]]), graphc.tensor(data(2, 2)), "amax").numpy()
    with pytest.raises(IndexError, match="out of range"):
        x.index_reduce(0, graphc.tensor(index), graphc.tensor(data(2, 2)), "prod").numpy()


def test_scatter_with_multiply_has_no_derivative_as_in_torch(backend: str) -> None:
    x = graphc.tensor(data(3, 4), requires_grad=True)
    y = x.scatter(0, graphc.tensor(INDEX), 2.0, reduce="multiply")
    with pytest.raises(GraphcError, match="scatter: the derivative is not implemented, as in torch"):
        y.sum().backward()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x, i: x.scatter_reduce(0, i, x, "max"), "reduce argument must be one of sum, prod, mean, amax, amin"),
        (lambda x, i: x.scatter_reduce(0, i.float(), x, "amax"), "int64 for index"),
        (lambda x, i: x.scatter_reduce(0, i, x.double(), "prod"), "self.dtype to be equal to src.dtype"),
        (lambda x, i: x.scatter_reduce(2, i, x, "amin"), "dimension 2 is out of range"),
        (lambda x, i: x.scatter_reduce(0, i[:, :1], x[:1, :1], "prod"), "index is larger than src"),
        (lambda x, i: x.index_reduce(0, i[0], x, "sum"), "one of prod, mean, amax or amin"),
        (lambda x, i: x.index_reduce(0, i[0], x[:2], "amax"), "source must have"),
        (lambda x, i: x.scatter(0, i, x, reduce="max"), "either add or multiply"),
    ],
)
def test_errors_name_the_op(call: Callable[[graphc.Tensor, graphc.Tensor], Any], message: str) -> None:
    with pytest.raises(GraphcError, match=message):
        call(graphc.tensor(data(3, 3)), graphc.tensor([[0, 1, 2], [2, 2, 0], [1, 0, 0]]))
