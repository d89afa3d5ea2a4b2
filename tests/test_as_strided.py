"""``as_strided`` (graphc/frontend/strided.py) against torch: values, float64 gradients, writes both ways through the
view (eagerly, on both backends, and compiled, where a returned one aliases the argument), and torch's refusals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data
from torch_grads import check_grads

import graphc
from graphc.errors import GraphcError


def windows_and_writes(T: Any, x: Any) -> Any:
    h = x * 1
    windows = h.as_strided((3, 2), (1, 1))  # overlapping: read only
    every_third = h.view(-1).as_strided((2,), (3,), 1)
    every_third.mul_(10)
    block = h[1:].as_strided((2, 2), (2, 1))  # of a view: its own elements, from its own offset 0 (torch's storage offset)
    block.add_(1)
    h.add_(0.5)
    return h, windows, every_third, block, T.as_strided(h, (2, 2), (1, 2), 2)


def test_as_strided_reads_and_writes_as_torch(backend: str) -> None:
    check_grads(windows_and_writes, data(3, 2, dtype="float64"))


def test_as_strided_under_compile_aliases_the_argument_it_views() -> None:
    compiled = graphc.compile(lambda x: (x.as_strided((2, 2), (1, 2)), windows_and_writes(graphc, x)))
    for _ in range(2):  # the trace, then the program
        array = data(3, 2)
        x, reference = graphc.tensor(array.copy()), torch.tensor(array.copy())
        (view, results), expected = compiled(x), windows_and_writes(torch, reference)
        assert_matches(results, expected)
        view.mul_(-1)
        reference.as_strided((2, 2), (1, 2)).mul_(-1)
        assert_matches(x, reference)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (((2, 2), (1,)), "mismatch in length of strides and shape"),
        (((2,), (-1,)), "Negative strides are not supported"),
        (((4,), (2,)), "requiring a storage size of 28 are out of bounds for storage of size 24"),
        (((2,), (1,), -1), "invalid storage offset -1"),
    ],
)
def test_as_strided_refuses_what_torch_refuses(args: tuple, message: str) -> None:
    with pytest.raises(RuntimeError, match=message):
        torch.arange(6.0).as_strided(*args)
    with pytest.raises(GraphcError, match=message):
        graphc.arange(6.0).as_strided(*args)


def test_an_in_place_op_writing_an_element_twice_through_as_strided_is_refused() -> None:
    """torch writes overlapping elements in its kernel's order; graphc refuses, as for unfold's windows (fill_ is allowed)."""
    x = graphc.zeros(4)
    with pytest.raises(GraphcError, match="more than one element of the written-to tensor"):
        x.as_strided((3, 2), (1, 1)).add_(1)
    x.as_strided((3, 2), (1, 1)).fill_(2.0)
    np.testing.assert_array_equal(x.numpy(), [2.0, 2.0, 2.0, 2.0])
