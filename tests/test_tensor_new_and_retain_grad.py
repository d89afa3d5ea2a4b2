"""Tensor.new_zeros/new_ones/new_full/new_empty/new_tensor and retain_grad/retains_grad, against torch.

The ``new_*`` cases run the same call on a graphc and a torch tensor of each dtype and compare shape,
dtype, values and requires_grad; the retain_grad cases compare the interior and leaf gradients in float64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data, pair

import graphc

DTYPES = ["float32", "float64", "int32", "int64", "bool"]

NEW_CASES: dict[str, Callable[[Any], Any]] = {
    "zeros_varargs": lambda x: x.new_zeros(2, 3),
    "zeros_tuple": lambda x: x.new_zeros((4,)),
    "zeros_list_0d": lambda x: x.new_zeros([]),
    "ones": lambda x: x.new_ones(3, 1),
    "ones_tuple": lambda x: x.new_ones((2, 2)),
    "full_float_value": lambda x: x.new_full((2, 3), 1.75),  # the tensor's dtype, not the value's
    "full_int_value": lambda x: x.new_full([3], 2),
    "full_bool_value": lambda x: x.new_full((2,), True),
    "tensor_floats": lambda x: x.new_tensor([[1.5, -2.25], [0.0, 3.0]]),
    "tensor_ints": lambda x: x.new_tensor([1, 0, 7]),
    "tensor_scalar": lambda x: x.new_tensor(2.5),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(NEW_CASES), ids=list(NEW_CASES))
def test_new_constructors_take_dtype_and_values_from_torch(case: str, dtype: str) -> None:
    g, t = pair(data(3, dtype=dtype))
    got, expected = NEW_CASES[case](g), NEW_CASES[case](t)
    assert_matches(got, expected)
    assert got.requires_grad is expected.requires_grad is False
    assert got.device == g.device and got.is_leaf


@pytest.mark.parametrize("dtype", DTYPES)
def test_new_empty_has_torchs_shape_and_dtype(dtype: str) -> None:
    g, t = pair(data(3, dtype=dtype))
    for size in [(2, 3), ((4, 1),), ((),)]:
        got, expected = g.new_empty(*size), t.new_empty(*size)
        assert tuple(got.shape) == tuple(expected.shape)
        assert got.dtype.name == str(expected.dtype).removeprefix("torch.")


@pytest.mark.parametrize(
    "make",
    [
        lambda x, T: x.new_zeros(2, dtype=T.float64),
        lambda x, T: x.new_ones((2, 2), dtype=T.int64),
        lambda x, T: x.new_full((3,), 2.5, dtype=T.float64),
        lambda x, T: x.new_tensor([1, 2], dtype=T.float32),
        lambda x, T: x.new_tensor([0.5, 1.5], dtype=T.bool),
    ],
)
def test_an_explicit_dtype_wins(make: Callable[[Any, Any], Any]) -> None:
    g, t = pair(data(3, dtype="int32"))
    assert_matches(make(g, graphc), make(t, torch))


def test_requires_grad_argument_and_no_history_from_self() -> None:
    g, t = pair(data(3, dtype="float64"), requires_grad=True)
    for make in (lambda x: x.new_zeros(2), lambda x: x.new_tensor([1.0, 2.0])):
        got, expected = make(g), make(t)
        assert got.requires_grad is expected.requires_grad is False  # not inherited from self, as torch
    got = g.new_ones(2, requires_grad=True)
    expected = t.new_ones(2, requires_grad=True)
    assert got.requires_grad and expected.requires_grad and got.is_leaf and expected.is_leaf
    (got * 3).sum().backward()
    (expected * 3).sum().backward()
    assert_matches(got.grad, expected.grad)
    gi, ti = pair(data(3, dtype="int64"))
    with pytest.raises(RuntimeError, match="floating point"):
        ti.new_zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        gi.new_zeros(2, requires_grad=True)


@pytest.mark.filterwarnings("ignore:To copy construct from a tensor")  # torch recommends clone()
def test_new_tensor_copies_a_tensor() -> None:
    g, t = pair(data(2, 3, dtype="float64"), requires_grad=True)
    source_g, source_t = g * 2, t * 2
    got, expected = g.new_tensor(source_g), t.new_tensor(source_t.detach())
    assert_matches(got, expected.detach())
    assert not got.requires_grad and got.is_leaf
    with graphc.no_grad():
        g.add_(1.0)
    assert_matches(got, expected.detach())  # a copy: later changes of the source do not show


# ---------------------------------------------------------------------- retain_grad


def _chain(lib: Any, x: Any) -> tuple[Any, Any, Any]:
    """``h = tanh(x @ w)`` (non-leaf, retained), ``loss = (h * h).sum() + h.mean()``; also retained: ``h2 = h * h``."""
    w = lib.tensor(W, requires_grad=True) if lib is graphc else torch.tensor(W, requires_grad=True)
    h = (x @ w).tanh()
    h.retain_grad()
    h2 = h * h
    h2.retain_grad()
    return w, h, h2


W = data(3, 4, dtype="float64")
X = data(5, 3, dtype="float64")


def test_retained_non_leaf_grads_match_torch_in_float64() -> None:
    gx, tx = pair(X, requires_grad=True)
    gw, gh, gh2 = _chain(graphc, gx)
    tw, th, th2 = _chain(torch, tx)
    (gh2.sum() + gh.mean()).backward()
    (th2.sum() + th.mean()).backward()
    assert_matches(gh.grad, th.grad)
    assert_matches(gh2.grad, th2.grad)
    assert_matches(gw.grad, tw.grad)
    assert_matches(gx.grad, tx.grad)


def test_retained_grads_accumulate_like_torch() -> None:
    gx, tx = pair(X, requires_grad=True)
    _, gh, gh2 = _chain(graphc, gx)
    _, th, th2 = _chain(torch, tx)
    gh2.sum().backward()
    th2.sum().backward(retain_graph=True)
    gh.mean().backward()
    th.mean().backward()
    assert_matches(gh.grad, th.grad)
    assert_matches(gh2.grad, th2.grad)


def test_without_retain_grad_a_non_leaf_has_no_grad() -> None:
    gx, tx = pair(X, requires_grad=True)
    gh, th = gx * 2, tx * 2
    gh.sum().backward()
    th.sum().backward()
    assert gh.grad is None
    assert not gh.retains_grad and not th.retains_grad


def test_retains_grad_property_matches_torch() -> None:
    gx, tx = pair(X, requires_grad=True)
    gh, th = gx.exp(), tx.exp()
    assert gh.retains_grad is th.retains_grad is False
    gh.retain_grad()
    th.retain_grad()
    assert gh.retains_grad is th.retains_grad is True
    gx.retain_grad()  # a leaf: no-op, and retains_grad stays False, as torch
    tx.retain_grad()
    assert gx.retains_grad is tx.retains_grad is False
    gc, tc = pair(X)
    with pytest.raises(RuntimeError, match="can't retain_grad on Tensor that has requires_grad=False"):
        tc.retain_grad()
    with pytest.raises(RuntimeError, match="can't retain_grad on Tensor that has requires_grad=False"):
        gc.retain_grad()


def test_retained_grad_with_an_explicit_gradient_and_inputs() -> None:
    gx, tx = pair(X, requires_grad=True)
    gh, th = gx.sin(), tx.sin()
    gh.retain_grad()
    th.retain_grad()
    seed = data(5, 3, dtype="float64")
    (gh * 3).backward(graphc.tensor(seed))
    (th * 3).backward(torch.from_numpy(seed))
    assert_matches(gh.grad, th.grad)
    assert_matches(gx.grad, tx.grad)
    assert np.array_equal(gh.grad.numpy(), 3 * seed)
