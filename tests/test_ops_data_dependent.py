"""Ops whose result's shape depends on values, in eager code, against torch on both backends:
boolean-mask indexing and assignment, masked_select, nonzero/argwhere/where(cond), unique, unique_consecutive,
bincount and repeat_interleave with computed repeats; their refusal inside graphc.compile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data, pair
from torch_grads import check_grads

import graphc
from graphc.errors import GraphcError

NAN = float("nan")


@pytest.mark.parametrize(
    "fn, shape",
    [
        (lambda T, x: x[x > 0].sin() * 2, (3, 4)),
        (lambda T, x: x[x.sum(-1) > 0], (3, 2, 2)),
        (lambda T, x: x[:, x[0] > 0], (3, 4)),
        (lambda T, x: x[x[:, 0] > 0, 1:], (4, 3)),
        (lambda T, x: x[..., x[0, 0] > 0], (2, 2, 4)),
        (lambda T, x: x[x[:, :, 0] > 0, T.tensor([1])], (3, 2, 2)),
        (lambda T, x: x[None, [True, False, True]], (3, 2)),
        (lambda T, x: (x[T.tensor(True)], x[True, 1], x[T.tensor(False)]), (2, 3)),
        (lambda T, x: x[x > 100].exp(), (3, 4)),
        (lambda T, x: x[x != 0], ()),
    ],
    ids=["full", "leading-dims", "second-dim", "with-slice", "after-ellipsis", "with-index", "list", "0-d-masks", "all-false", "0-d"],
)
def test_mask_indexing_values_and_gradients_match_torch(backend: str, fn: Callable[..., Any], shape: tuple[int, ...]) -> None:
    check_grads(fn, data(*shape, dtype="float64"))


@pytest.mark.parametrize(
    "fn, x_shape, m_shape",
    [
        (lambda T, x, m: T.masked_select(x, m), (3, 4), (3, 4)),
        (lambda T, x, m: x.masked_select(m).cumsum(0), (4,), (3, 4)),
        (lambda T, x, m: T.masked_select(x, m) * 3, (3, 1), (4,)),
        (lambda T, x, m: T.masked_select(x, m & False), (2, 2), (2, 2)),
    ],
    ids=["same-shape", "input-broadcast", "both-broadcast", "all-false"],
)
def test_masked_select_broadcasts_and_differentiates_as_torch(backend: str, fn: Callable[..., Any], x_shape: tuple, m_shape: tuple) -> None:
    check_grads(fn, data(*x_shape, dtype="float64"), data(*m_shape, dtype="bool"))


def _assigned(T: Any, x: Any, key: Callable[[Any], Any], value: Callable[[Any, Any], Any]) -> Any:
    z = x * 1  # torch refuses in-place writes to a leaf that requires grad
    z[key(z)] = value(T, z)
    return z


@pytest.mark.parametrize(
    "key, value",
    [
        (lambda z: z < 0, lambda T, z: 0.0),
        (lambda z: z[:, 0] > 0, lambda T, z: T.arange(3.0, dtype=z.dtype) * z[0]),
        (lambda z: z > 0, lambda T, z: z[z > 0].exp()),
        (lambda z: z[:, 0] > 0, lambda T, z: z[z[:, 0] > 0] + 1),
        (lambda z: z[0, 0] > 100, lambda T, z: 2.0),
    ],
    ids=["scalar", "row-broadcast", "one-per-true", "rows-per-true", "0-d-mask"],
)
def test_assignment_through_a_mask_matches_torch(backend: str, key: Callable[[Any], Any], value: Callable[..., Any]) -> None:
    check_grads(lambda T, x: _assigned(T, x, key, value), data(4, 3, dtype="float64"))


def test_assignment_of_one_value_through_a_mask_compiles() -> None:
    def clamp_negatives(x: graphc.Tensor) -> graphc.Tensor:
        x = x * 2
        x[x < 0] = 0.0
        return x

    array = data(3, 4)
    assert_matches(graphc.compile(clamp_negatives)(graphc.tensor(array)), torch.from_numpy(array * 2).clamp(min=0))


def test_indexing_with_a_mask_gives_ints_and_bools_as_torch(backend: str) -> None:
    for array in (data(3, 4, dtype="int32"), data(5, dtype="bool")):
        (g, mask_g), (t, mask_t) = zip(pair(array), pair(data(*array.shape, dtype="bool")))
        assert_matches(g[mask_g], t[mask_t])


def test_nonzero_argwhere_and_where_give_int64_positions_as_torch(backend: str) -> None:
    values = np.array([[0.0, -0.0, NAN], [1.5, 0.0, -2.0]], dtype=np.float32)
    for array in (values, data(2, 3, dtype="int64"), data(4, dtype="bool"), np.zeros((2, 2)), np.array(0.0), np.array(3)):
        g, t = pair(array)
        assert_matches(g.nonzero(), t.nonzero())
        assert_matches(graphc.nonzero(g, as_tuple=True), torch.nonzero(t, as_tuple=True))
        assert_matches(graphc.argwhere(g), torch.argwhere(t))
        assert_matches(g.argwhere(), t.argwhere())
        assert_matches(graphc.where(g != 0), torch.where(t != 0))


def test_unique_sorts_counts_and_keeps_each_nan_apart_as_torch(backend: str) -> None:
    g, t = pair(np.array([[2.0, NAN, 1.0], [NAN, 2.0, 1.0]], dtype=np.float32))
    assert_matches(g.unique(), t.unique())
    assert_matches(graphc.unique(g, return_inverse=True, return_counts=True), torch.unique(t, return_inverse=True, return_counts=True))
    assert_matches(g.unique(sorted=False, return_counts=True), t.unique(sorted=False, return_counts=True))
    for array in (data(7, dtype="int32"), data(6, dtype="bool"), np.array(5.0), np.zeros(0)):
        g, t = pair(array)
        assert_matches(g.unique(return_inverse=True, return_counts=True), t.unique(return_inverse=True, return_counts=True))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_unique_along_a_dim_matches_torch(dim: int) -> None:
    g, t = pair(np.array([[1, 2, 1, 2], [0, 3, 0, 3], [1, 2, 1, 2]], dtype=np.int64))
    assert_matches(g.unique(dim=dim, return_inverse=True, return_counts=True), t.unique(dim=dim, return_inverse=True, return_counts=True))
    assert_matches(g.unique_consecutive(dim=dim, return_inverse=True), t.unique_consecutive(dim=dim, return_inverse=True))


def test_unique_consecutive_matches_torch(backend: str) -> None:
    g, t = pair(np.array([1.0, NAN, NAN, 2.0, 2.0, 1.0]))
    assert_matches(g.unique_consecutive(), t.unique_consecutive())
    assert_matches(
        graphc.unique_consecutive(g, return_inverse=True, return_counts=True), torch.unique_consecutive(t, return_inverse=True, return_counts=True)
    )
    g, t = pair(np.array(3))
    assert_matches(g.unique_consecutive(return_inverse=True, return_counts=True), t.unique_consecutive(return_inverse=True, return_counts=True))


@pytest.mark.parametrize(
    "fn",
    [lambda x: x.unique(), lambda x: x.unique(dim=0), lambda x: x.unique_consecutive(), lambda x: graphc.bincount(graphc.tensor([0, 2, 0]), weights=x[0])],
    ids=["unique", "unique-dim", "unique_consecutive", "bincount"],
)
def test_results_without_a_derivative_require_grad_and_refuse_backward_as_torch(fn: Callable[..., Any]) -> None:
    x = graphc.tensor(data(3, 3, dtype="float64"), requires_grad=True)
    result = fn(x)
    assert result.requires_grad
    with pytest.raises(GraphcError, match="derivative is not implemented"):
        result.sum().backward()


def test_bincount_matches_torch(backend: str) -> None:
    g, t = pair(np.array([1, 4, 1, 0], dtype=np.int32))
    assert_matches(g.bincount(), t.bincount())
    assert_matches(graphc.bincount(g, minlength=7), torch.bincount(t, minlength=7))
    for weights in (data(4), data(4, dtype="float64"), data(4, dtype="int64")):
        w_g, w_t = pair(weights)
        assert_matches(g.bincount(weights=w_g * 2), t.bincount(weights=w_t * 2))
    empty_g, empty_t = pair(np.zeros(0, dtype=np.int64))
    assert_matches(graphc.bincount(empty_g, minlength=2), torch.bincount(empty_t, minlength=2))


def test_repeat_interleave_reads_computed_repeats(backend: str) -> None:
    check_grads(lambda T, x: T.repeat_interleave(x, (x > 0).sum(1), dim=0), data(3, 2, dtype="float64"))
    g, t = pair(np.array([1, 0, 2]))
    assert_matches(graphc.repeat_interleave(g + 1), torch.repeat_interleave(t + 1))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: x[graphc.ones(2, dtype=graphc.bool)], r"The shape of the mask \[2\] at index 0 does not match .* tensor \[3, 4\] at index 0"),
        (lambda x: x[:, x[:, 0] > 0], r"mask \[3\] at index 0 does not match .* \[3, 4\] at index 1"),
        (lambda x: x[graphc.ones(3, 4, 1, dtype=graphc.bool)], "too many indices"),
        (lambda x: graphc.masked_select(x, x), "expected BoolTensor for mask"),
        (lambda x: graphc.masked_select(x, graphc.ones(3, dtype=graphc.bool)), "masked_select"),
        (lambda x: graphc.unique(x[0, 0], dim=0), "has no dimensions"),
        (lambda x: graphc.unique(x[:0, :0], dim=0), "more than one"),
        (lambda x: graphc.unique(x[:, :0], dim=0), "aren't selected"),
        (lambda x: graphc.bincount(graphc.tensor([1, -1])), "non-negative"),
        (lambda x: graphc.bincount(graphc.tensor([1.0])), "integral"),
        (lambda x: graphc.bincount(graphc.tensor([1]), weights=x[0]), "same length"),
        (lambda x: graphc.bincount(graphc.tensor([1]), minlength=-1), "minlength"),
        (lambda x: graphc.where(x > 0, x), "condition alone"),
        (lambda x: x.__setitem__(x[:, 0] > 0, graphc.ones(2, 2)), r"value tensor of shape \[2, 2\] cannot be broadcast"),
    ],
)
def test_errors_name_the_op_as_torch(call: Callable[[graphc.Tensor], Any], message: str) -> None:
    with pytest.raises(GraphcError, match=message):
        call(graphc.tensor(data(3, 4)))


@pytest.mark.parametrize(
    "fn, op",
    [
        (lambda x: x[x > 0], r"index: .*x\[mask\] works"),
        (lambda x: x.masked_select(x > 0), "masked_select: "),
        (lambda x: x.nonzero(), "nonzero: "),
        (lambda x: graphc.argwhere(x), "argwhere: "),
        (lambda x: graphc.where(x > 0)[0], "nonzero: "),
        (lambda x: x.unique(), "unique: "),
        (lambda x: x.unique_consecutive(dim=0), "unique_consecutive: "),
        (lambda x: x.long().abs().flatten().bincount(), "bincount: "),
        (lambda x: x.repeat_interleave(x.long().abs().flatten(), dim=None), "repeat_interleave: "),
        (lambda x: x.__setitem__(x > 0, x.flatten()[:2]), r"setitem: .*x\[mask\] = values works"),
    ],
    ids=["index", "masked_select", "nonzero", "argwhere", "where", "unique", "unique_consecutive", "bincount", "repeat_interleave", "setitem"],
)
def test_compile_refuses_at_the_users_line_suggesting_where(fn: Callable[..., Any], op: str) -> None:
    compiled = graphc.compile(fn)
    with pytest.raises(GraphcError, match=op) as caught:
        compiled(graphc.tensor(data(2, 2)))
    message = str(caught.value)
    assert "depends on its values" in message or ("depends on the values" in message and "graphc.where" in message)
    assert "test_ops_data_dependent.py" in message
