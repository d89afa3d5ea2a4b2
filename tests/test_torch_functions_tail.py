"""torch's top-level tail against eager torch: signal windows, logspace, range, scalar_tensor, asarray,
tril/triu_indices, unravel_index, isin, gradient (values and float64 gradients), inference_mode, cond
and while_loop, and torch.vmap's alias."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data
from torch_grads import check_grads

import graphc
from graphc.errors import GraphcError

WINDOWS = ["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"]


@pytest.mark.parametrize("name", WINDOWS)
def test_windows_match_torch(name: str) -> None:
    for length in (0, 1, 2, 7, 8):
        for periodic in (True, False):
            assert_matches(getattr(graphc, name)(length, periodic), getattr(torch, name)(length, periodic))
            assert_matches(getattr(graphc, name)(length, periodic, dtype=graphc.float64), getattr(torch, name)(length, periodic, dtype=torch.float64))
    assert_matches(graphc.hamming_window(6, True, 0.5, 0.3), torch.hamming_window(6, True, 0.5, 0.3))
    assert_matches(graphc.kaiser_window(6, False, 5.0), torch.kaiser_window(6, False, 5.0))
    with pytest.raises(RuntimeError):
        getattr(torch, name)(3, dtype=torch.int64)
    with pytest.raises(GraphcError, match="floating point"):
        getattr(graphc, name)(3, dtype=graphc.int64)


CONSTRUCTORS: dict[str, Callable[[Any], Any]] = {
    "logspace": lambda T: T.logspace(-1, 2, 7),
    "logspace base 2 int64": lambda T: T.logspace(0, 4, 5, base=2, dtype=T.int64),
    "logspace float64": lambda T: T.logspace(0, 1, 4, dtype=T.float64),
    "range with a float step": lambda T: T.range(0, 2, 0.5),
    "range of ints": lambda T: T.range(1, 4),
    "range descending int64": lambda T: T.range(5, 1, -2, dtype=T.int64),
    "scalar_tensor of an int": lambda T: T.scalar_tensor(3),
    "scalar_tensor int64": lambda T: T.scalar_tensor(3, dtype=T.int64),
    "asarray of a list": lambda T: T.asarray([[1.0, 2.0]]),
    "asarray of ints as float64": lambda T: T.asarray([1, 2], dtype=T.float64),
    "asarray of a float64 array": lambda T: T.asarray(np.array([1.5, 2.5])),
    "tril_indices": lambda T: T.tril_indices(3, 4, 1),
    "tril_indices below": lambda T: T.tril_indices(4, 3, -1),
    "triu_indices": lambda T: T.triu_indices(3, 3),
    "triu_indices int32": lambda T: T.triu_indices(3, 5, 2, dtype=T.int32),
    "tril_indices empty": lambda T: T.tril_indices(0, 3),
}


@pytest.mark.parametrize("name", sorted(CONSTRUCTORS))
def test_constructors_match_torch(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # range is deprecated in both
        assert_matches(CONSTRUCTORS[name](graphc), CONSTRUCTORS[name](torch))


def test_range_warns_and_asarray_shares_a_graphc_tensor() -> None:
    with pytest.warns(UserWarning, match="deprecated"):
        graphc.range(0, 1)
    x = graphc.tensor([1.0, 2.0])
    assert graphc.asarray(x) is x
    copied = graphc.asarray(x, copy=True)
    assert copied is not x and np.array_equal(copied.numpy(), x.numpy())
    assert graphc.asarray(x, dtype=graphc.float64).dtype == graphc.float64
    with pytest.raises(GraphcError, match="copy=False"):
        graphc.asarray(x, dtype=graphc.int64, copy=False)


def test_unravel_index_matches_torch() -> None:
    for indices, shape in (([0, 5, 7, -1], (2, 3)), ([[4, 11], [23, 0]], (2, 3, 4)), (5, (6,)), (0, ())):
        got = graphc.unravel_index(graphc.tensor(indices), shape)
        expected = torch.unravel_index(torch.tensor(indices), shape)
        assert_matches(list(got), list(expected))
    narrow = [T.unravel_index(T.tensor([5], dtype=T.int32), (2, 3)) for T in (graphc, torch)]
    assert_matches(list(narrow[0]), list(narrow[1]))
    with pytest.raises(GraphcError, match="integer dtype"):
        graphc.unravel_index(graphc.tensor([1.0]), (2, 3))
    with pytest.raises(GraphcError, match="negative"):
        graphc.unravel_index(graphc.tensor([1]), (2, -3))


ISIN: dict[str, Callable[[Any], Any]] = {
    "ints": lambda T: T.isin(T.tensor([[4, 1], [2, 9]]), T.tensor([9, 1, 1, 7])),
    "inverted": lambda T: T.isin(T.tensor([[4, 1], [2, 9]]), T.tensor([9, 1]), invert=True),
    "assume_unique": lambda T: T.isin(T.tensor([3, 1, 2]), T.tensor([2, 3]), assume_unique=True),
    "a scalar test element": lambda T: T.isin(T.tensor([1, 2, 3]), 2),
    "a scalar element": lambda T: T.isin(2, T.tensor([1, 2])),
    "floats against ints": lambda T: T.isin(T.tensor([1.5, 2.0]), T.tensor([2])),
    "NaN is in nothing": lambda T: T.isin(T.tensor([float("nan"), 1.0]), T.tensor([float("nan"), 1.0])),
    "infinities among NaN": lambda T: T.isin(T.tensor([float("inf"), -float("inf"), 3.0]), T.tensor([float("nan"), float("inf"), 3.0])),
    "empty test elements": lambda T: T.isin(T.tensor([1, 2]), T.tensor([], dtype=T.int64)),
    "empty test elements inverted": lambda T: T.isin(T.tensor([1, 2]), T.tensor([], dtype=T.int64), invert=True),
    "2-d test elements": lambda T: T.isin(T.tensor([0, 5, 8]), T.tensor([[8, 2], [5, 5]])),
}


@pytest.mark.parametrize("name", sorted(ISIN))
def test_isin_matches_torch(name: str) -> None:
    assert_matches(ISIN[name](graphc), ISIN[name](torch))


def test_isin_inside_compile(backend: str) -> None:
    fn = graphc.compile(lambda x, t: graphc.isin(x, t))
    elements, tests = data(6, dtype="int64"), data(3, dtype="int64")
    assert_matches(fn(graphc.tensor(elements), graphc.tensor(tests)), torch.isin(torch.tensor(elements), torch.tensor(tests)))


GRADIENT: dict[str, tuple[Callable[..., Any], tuple[int, ...]]] = {
    "default spacing": (lambda T, y: T.gradient(y), (5,)),
    "a scalar spacing, edge order 2": (lambda T, y: T.gradient(y, spacing=2.0, edge_order=2), (6,)),
    "per-dimension spacings": (lambda T, y: T.gradient(y, spacing=[2.0, 0.5]), (3, 4)),
    "one dim": (lambda T, y: T.gradient(y, dim=1), (3, 4)),
    "dims as a tuple with a scalar spacing": (lambda T, y: T.gradient(y, spacing=3.0, dim=(0,)), (4, 3)),
    "coordinates": (lambda T, y: T.gradient(y, spacing=[T.tensor([0.0, 1.0, 3.0, 4.5, 7.0], dtype=T.float64)]), (5,)),
    "coordinates, edge order 2": (lambda T, y: T.gradient(y, spacing=[T.tensor([0.0, 1.0, 3.0, 4.5, 7.0], dtype=T.float64)], edge_order=2), (5,)),
    "coordinates per dimension": (
        lambda T, y: T.gradient(y, spacing=[T.tensor([0.0, 2.0, 2.5], dtype=T.float64), T.tensor([1.0, 2.0, 4.0, 8.0], dtype=T.float64)], edge_order=2),
        (3, 4),
    ),
}


@pytest.mark.parametrize("name", sorted(GRADIENT))
def test_gradient_values_and_gradients_match_torch(name: str) -> None:
    fn, shape = GRADIENT[name]
    check_grads(fn, data(*shape, dtype="float64"))


def test_gradient_of_float32_and_int_tensors_and_its_refusals() -> None:
    y = data(3, 5)
    assert_matches(list(graphc.gradient(graphc.tensor(y), spacing=0.5)), list(torch.gradient(torch.tensor(y), spacing=0.5)))
    ints = np.array([[1, 2, 4], [3, 5, 9]])
    got, expected = (T.gradient(T.tensor(ints), spacing=[T.tensor([0.0, 2.0]), T.tensor([0, 1, 3])]) for T in (graphc, torch))
    assert_matches(list(got), list(expected))
    for fn, message in (
        (lambda T: T.gradient(T.ones(2, 4), edge_order=2), "at least edge_order\\+1"),
        (lambda T: T.gradient(T.ones(4), spacing=[T.tensor(2.0)]), "one dimension"),
        (lambda T: T.gradient(T.ones(4, 4), spacing=[1.0, 2.0, 3.0]), "list of length 2"),
        (lambda T: T.gradient(T.ones(4), edge_order=3), "edge_order=1 and edge_order=2"),
    ):
        with pytest.raises(RuntimeError):
            fn(torch)
        with pytest.raises(GraphcError, match=message):
            fn(graphc)


def test_gradient_inside_compile(backend: str) -> None:
    fn = graphc.compile(lambda y: graphc.gradient(y, spacing=2.0, edge_order=2)[0])
    y = data(6, dtype="float64")
    assert_matches(fn(graphc.tensor(y)), torch.gradient(torch.tensor(y), spacing=2.0, edge_order=2)[0])


def test_inference_mode_turns_gradients_off_as_a_context_and_a_decorator() -> None:
    x = graphc.ones(2, requires_grad=True)
    with graphc.inference_mode():
        assert graphc.is_inference_mode_enabled() and not graphc.is_grad_enabled()
        assert not (x * 2).requires_grad
    assert not graphc.is_inference_mode_enabled() and graphc.is_grad_enabled() and (x * 2).requires_grad

    @graphc.inference_mode
    def bare() -> tuple[bool, bool]:
        return graphc.is_inference_mode_enabled(), (x * 2).requires_grad

    @graphc.inference_mode(False)
    def switched_off() -> tuple[bool, bool]:
        return graphc.is_inference_mode_enabled(), (x * 2).requires_grad

    assert bare() == (True, False) and switched_off() == (False, True)


def test_cond_selects_a_branch_with_its_gradient() -> None:
    x = data(3, dtype="float64")
    for flag in (True, False):

        def fn(T: Any, v: Any, flag: bool = flag) -> Any:
            if T is torch:  # the branch torch.cond takes, run directly: torch.cond itself compiles with dynamo
                return (v.sin() * 2) if flag else (v.cos() + v)
            return graphc.cond(graphc.tensor(flag), lambda u: u.sin() * 2, lambda u: u.cos() + u, (v,))

        check_grads(fn, x)
    compiled = graphc.compile(lambda p, v: graphc.cond(p.sum() > 0, lambda u: (u * 2, u.sum()), lambda u: (u - 1, u.mean()), (v,)))
    doubled, total = compiled(graphc.tensor([1.0]), graphc.tensor(x))
    np.testing.assert_allclose(doubled.numpy(), x * 2) and np.testing.assert_allclose(total.numpy(), x.sum())
    shifted, mean = compiled(graphc.tensor([-1.0]), graphc.tensor(x))
    np.testing.assert_allclose(shifted.numpy(), x - 1) and np.testing.assert_allclose(mean.numpy(), x.mean())
    assert graphc.cond(False, lambda: 1, lambda: 2) == 2
    with pytest.raises(GraphcError, match="one shape and dtype"):
        graphc.cond(graphc.tensor(True), lambda: graphc.ones(2), lambda: graphc.ones(3))


def test_while_loop_runs_eagerly_and_is_refused_inside_compile() -> None:
    count, value = graphc.while_loop(lambda i, v: i < 5, lambda i, v: (i + 1, v * 2), (graphc.tensor(0), graphc.tensor(1.0)))
    assert int(count) == 5 and float(value) == 32.0
    with pytest.raises(GraphcError, match="while_loop inside graphc.compile"):
        graphc.compile(lambda v: graphc.while_loop(lambda u: u.sum() < 5, lambda u: (u + 1,), (v,)))(graphc.ones(2))


def test_vmap_is_graphc_func_vmap() -> None:
    assert graphc.vmap is graphc.func.vmap
