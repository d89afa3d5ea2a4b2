"""torch.Tensor's in-place tail (graphc/frontend/tensor_in_place.py) against eager torch: comparisons written
back, in-place shape changes (with gradients through them), clip_/divide_/multiply_/subtract_, fill_diagonal_,
resize_/resize_as_, new, apply_/map_, is_nonzero, is_inference, nonzero_static and the unsafe splits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data
from torch_grads import check_grads

import graphc
from graphc.errors import GraphcError

COMPARISONS = "eq_ ne_ lt_ le_ gt_ ge_ greater_ greater_equal_ less_ less_equal_ not_equal_".split()


@pytest.mark.parametrize("name", COMPARISONS)
def test_comparisons_in_place_keep_the_tensor_s_dtype(name: str) -> None:
    floats, other, ints = data(3, 4), data(3, 4), data(3, 4, dtype="int64")
    for left, right in ((floats, other), (floats, other[:1]), (floats, 0.25), (ints, 1.5), (ints, ints[::-1].copy())):
        got, expected = graphc.tensor(left), torch.tensor(left)
        result = getattr(got, name)(graphc.tensor(right) if isinstance(right, np.ndarray) else right)
        assert result is got
        assert_matches(got, getattr(expected, name)(torch.tensor(right) if isinstance(right, np.ndarray) else right))
    with pytest.raises(RuntimeError):
        getattr(torch.ones(2), name)(torch.ones(2, 2))
    with pytest.raises(GraphcError, match="doesn't match the broadcast shape"):
        getattr(graphc.ones(2), name)(graphc.ones(2, 2))


SHAPE_CHANGES: dict[str, Callable[[Any], Any]] = {
    "squeeze_": lambda x: x.squeeze_(),
    "squeeze_ of a dim": lambda x: x.squeeze_(1),
    "unsqueeze_": lambda x: x.unsqueeze_(-1),
    "transpose_": lambda x: x.transpose_(0, 2),
    "t_": lambda x: x.squeeze_().t_(),
    "swapaxes_": lambda x: x.swapaxes_(0, 1),
    "swapdims_": lambda x: x.swapdims_(2, 0),
}


@pytest.mark.parametrize("name", sorted(SHAPE_CHANGES))
def test_shape_changes_in_place_with_their_gradients(name: str) -> None:
    change = SHAPE_CHANGES[name]

    def fn(T: Any, x: Any) -> Any:
        y = x * 2  # not a leaf: torch lets its view change
        assert change(y) is y
        return y * y

    check_grads(fn, data(3, 1, 2, dtype="float64"))
    with pytest.raises(RuntimeError):
        change(torch.ones(3, 1, 2, requires_grad=True))
    with pytest.raises(GraphcError, match="leaf tensor that requires grad"):
        change(graphc.ones(3, 1, 2, requires_grad=True))
    leaf = graphc.ones(3, 1, 2, requires_grad=True)
    with graphc.no_grad():
        change(leaf)
    assert leaf.requires_grad and leaf.is_leaf and tuple(leaf.shape) == tuple(change(torch.ones(3, 1, 2)).shape)


def test_a_view_changed_in_shape_in_place_still_views_its_base() -> None:
    def fn(T: Any, base: Any) -> Any:
        row = base[0]
        row.unsqueeze_(0)
        row.add_(T.ones(1, 3))
        base.mul_(2)
        return base, row

    got, expected = fn(graphc, graphc.zeros(2, 3)), fn(torch, torch.zeros(2, 3))
    assert_matches(got, expected)


ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "clip_": lambda T, x: x.clip_(-0.5, 0.5),
    "clip_ with a min only": lambda T, x: x.clip_(min=0.0),
    "divide_": lambda T, x: x.divide_(T.tensor([2.0, -3.0, 4.0])),
    "divide_ with floor": lambda T, x: x.divide_(0.3, rounding_mode="floor"),
    "multiply_": lambda T, x: x.multiply_(3),
    "subtract_ with alpha": lambda T, x: x.subtract_(T.tensor([1.0, 2.0, 3.0]), alpha=2),
}


@pytest.mark.parametrize("name", sorted(ARITHMETIC))
def test_arithmetic_aliases_in_place(name: str) -> None:
    array = data(2, 3)
    got, expected = graphc.tensor(array), torch.tensor(array)
    assert ARITHMETIC[name](graphc, got) is got
    assert_matches(got, ARITHMETIC[name](torch, expected))


FILL_DIAGONAL: dict[str, Callable[[Any], Any]] = {
    "square": lambda T: T.zeros(3, 3).fill_diagonal_(5),
    "wide": lambda T: T.zeros(3, 5).fill_diagonal_(2.5),
    "tall": lambda T: T.zeros(7, 3).fill_diagonal_(1),
    "tall, wrapped": lambda T: T.zeros(7, 3).fill_diagonal_(1, wrap=True),
    "tall by one, wrapped": lambda T: T.zeros(4, 3).fill_diagonal_(1, wrap=True),
    "cube": lambda T: T.zeros(3, 3, 3).fill_diagonal_(-1),
    "ints with a float value": lambda T: T.zeros(3, 3, dtype=T.int64).fill_diagonal_(2.7),
    "a value in a tensor": lambda T: T.zeros(2, 2).fill_diagonal_(T.tensor(4.0)),
}


@pytest.mark.parametrize("name", sorted(FILL_DIAGONAL))
def test_fill_diagonal_matches_torch(name: str) -> None:
    assert_matches(FILL_DIAGONAL[name](graphc), FILL_DIAGONAL[name](torch))


def test_fill_diagonal_gradient_and_refusals() -> None:
    check_grads(lambda T, x: (x * 1).fill_diagonal_(0.5), data(3, 4, dtype="float64"))
    for fn, message in ((lambda T: T.zeros(3).fill_diagonal_(1), "larger than 1"), (lambda T: T.zeros(2, 3, 3).fill_diagonal_(1), "equal length")):
        with pytest.raises(RuntimeError):
            fn(torch)
        with pytest.raises(GraphcError, match=message):
            fn(graphc)


def test_resize_keeps_the_leading_elements_and_zeroes_new_ones() -> None:
    array = data(2, 3)
    got, expected = graphc.tensor(array), torch.tensor(array)
    assert_matches(got.resize_(3, 2), expected.resize_(3, 2))
    assert_matches(got.resize_(4), expected.resize_(4))
    grown = got.resize_(2, 4)
    assert tuple(grown.shape) == (2, 4) and grown is got
    np.testing.assert_array_equal(grown.numpy().ravel(), np.concatenate([array.ravel()[:4], np.zeros(4, np.float32)]))
    assert_matches(graphc.tensor(array).resize_as_(graphc.zeros(6, 1)), torch.tensor(array).resize_as_(torch.zeros(6, 1)))
    with pytest.raises(RuntimeError):
        torch.ones(3, requires_grad=True).resize_(3)
    with pytest.raises(GraphcError, match="cannot resize variables that require grad"):
        graphc.ones(3, requires_grad=True).resize_(3)


NEW: dict[str, Callable[[Any], Any]] = {
    "nothing": lambda T: T.tensor([1.0, 2.0]).new(),
    "sizes": lambda T: T.tensor([1, 2]).new(2, 3),
    "data": lambda T: T.tensor([1.0], dtype=T.float64).new([1, 2]),
    "torch.Size": lambda T: T.tensor([1.0]).new(torch.Size([2, 2])),
}


@pytest.mark.parametrize("name", sorted(NEW))
def test_new_matches_torch_s_legacy_constructor(name: str) -> None:
    got, expected = NEW[name](graphc), NEW[name](torch)
    assert tuple(got.shape) == tuple(expected.shape) and got.dtype.name == str(expected.dtype).removeprefix("torch.")
    if name == "data":
        assert_matches(got, expected)
    with pytest.raises(GraphcError, match="tuple"):
        graphc.ones(2).new((2, 3))


def test_apply_and_map_call_python_on_every_element_in_eager_code() -> None:
    array = data(2, 3)
    for T in (graphc, torch):
        x = T.tensor(array)
        assert x.apply_(lambda v: v * 10 + 1) is x
    assert_matches(graphc.tensor(array).apply_(lambda v: v * 10 + 1), torch.tensor(array).apply_(lambda v: v * 10 + 1))
    other = data(3)
    assert_matches(
        graphc.tensor(array).map_(graphc.tensor(other), lambda a, b: max(a, b)), torch.tensor(array).map_(torch.tensor(other), lambda a, b: max(a, b))
    )
    assert_matches(graphc.tensor([1, 2]).apply_(lambda v: v / 3), torch.tensor([1, 2]).apply_(lambda v: v / 3))
    second = data(2, 1)
    got, expected = (
        T.tensor(array).map2_(T.tensor(other), T.tensor(second), lambda a, b, c: a + b * c) for T in (graphc, torch)
    )
    assert_matches(got, expected)
    with pytest.raises(GraphcError, match="apply_ calls a Python function"):
        graphc.compile(lambda x: x.clone().apply_(abs))(graphc.ones(2))


def test_is_nonzero_and_is_inference() -> None:
    for value in ([0.5], [0], [[False]], 3.0):
        assert graphc.tensor(value).is_nonzero() == torch.tensor(value).is_nonzero() == graphc.is_nonzero(graphc.tensor(value))
    for bad, message in (([], "no values"), ([1, 2], "more than one value")):
        with pytest.raises(RuntimeError):
            torch.tensor(bad).is_nonzero()
        with pytest.raises(GraphcError, match=message):
            graphc.tensor(bad).is_nonzero()
    with graphc.inference_mode():
        made, computed = graphc.ones(2), graphc.tensor([1.0]) * 2
    assert made.is_inference() and computed.is_inference() and graphc.is_inference(made)
    assert not graphc.ones(1).is_inference() and not (made * 2).is_inference()


NONZERO_STATIC: dict[str, Callable[[Any], Any]] = {
    "padded": lambda T: T.tensor([3.0, 1.0, 0.0, 2.0]).nonzero_static(size=6),
    "truncated": lambda T: T.tensor([[3.0, 0.0], [0.0, 2.0], [1.0, 1.0]]).nonzero_static(size=2),
    "a fill value": lambda T: T.tensor([[0, 1], [1, 0]]).nonzero_static(size=3, fill_value=7),
    "bools, none nonzero": lambda T: T.zeros(2, 3, dtype=T.bool).nonzero_static(size=2),
    "size 0": lambda T: T.ones(3).nonzero_static(size=0),
    "0-d": lambda T: T.tensor(2.0).nonzero_static(size=2),
    "3-d": lambda T: (T.arange(24).reshape(2, 3, 4) % 5 == 0).nonzero_static(size=6),
}


@pytest.mark.parametrize("name", sorted(NONZERO_STATIC))
def test_nonzero_static_matches_torch(name: str) -> None:
    assert_matches(NONZERO_STATIC[name](graphc), NONZERO_STATIC[name](torch))


def test_nonzero_static_runs_inside_compile(backend: str) -> None:
    array = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    compiled = graphc.compile(lambda x: x.nonzero_static(size=4, fill_value=-2))
    assert_matches(compiled(graphc.tensor(array)), torch.tensor(array).nonzero_static(size=4, fill_value=-2))


def test_top_level_clip_and_resize_as() -> None:
    array = data(4)
    assert_matches(graphc.clip_(graphc.tensor(array), -0.5, 0.5), torch.clip_(torch.tensor(array), -0.5, 0.5))
    assert_matches(graphc.resize_as_(graphc.tensor(array), graphc.ones(2, 2)), torch.resize_as_(torch.tensor(array), torch.ones(2, 2)))


def test_unsafe_splits_are_the_splits() -> None:
    array = data(5, 2)
    for name, args in (("unsafe_chunk", (2,)), ("unsafe_split", (2, 0)), ("unsafe_split_with_sizes", ([1, 4],))):
        assert_matches(list(getattr(graphc.tensor(array), name)(*args)), list(getattr(torch.tensor(array), name)(*args)))


@pytest.mark.parametrize("change", [lambda x: x.squeeze_(), lambda x: x.add_(1)], ids=["squeeze_", "add_"])
def test_a_compiled_in_place_change_of_a_leaf_that_requires_grad_is_refused_as_in_eager(change: Any) -> None:
    step = graphc.compile(lambda x: change(x) * 2)
    with pytest.raises(GraphcError, match=r"(squeeze_|add_).*leaf tensor that requires grad"):
        step(graphc.ones(3, 1, 2, requires_grad=True))


def test_a_tensor_that_requires_grad_keeps_requiring_it_when_filled_in_place() -> None:
    """``w.zero_()``, ``fill_``, ``copy_`` of a constant, directly or through a view: torch records the op, so
    the tensor requires grad and its history gets zeros, where graphc's constant value had dropped both
    (fuzz seed 1009, once the fuzzer drew in-place ops through views)."""

    def fn(T: Any, a: Any) -> Any:
        h = T.tanh(a)
        w, v, u, c = h + 0, h * 1, h - 0, h / 1
        w.zero_()
        v.view_as(v).fill_(2.0)
        u.t()[1:].zero_()
        c.copy_(T.ones(3, dtype=a.dtype))
        return [w, v, u, c]

    array = data(3, dtype="float64")
    ours, theirs = graphc.tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)
    got, expected = fn(graphc, ours), fn(torch, theirs)
    assert [g.requires_grad for g in got] == [e.requires_grad for e in expected] == [True] * 4
    sum((g * (i + 1)).sum() for i, g in enumerate(got)).backward()
    sum((e * (i + 1)).sum() for i, e in enumerate(expected)).backward()
    assert_matches(got, expected)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)
