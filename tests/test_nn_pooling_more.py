"""AdaptiveMaxPool1d/2d, LPPool1d/2d, MaxUnpool1d/2d, Unfold and Fold (modules and functions) against torch: values and float64 gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nn_compare import compare_functions, compare_modules

import graphc
import graphc.nn.functional as F
from graphc import nn

rng = np.random.default_rng(11)


def pair(name: str, *args: object, **kwargs: object) -> tuple[nn.Module, torch.nn.Module]:
    g, t = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(g) == repr(t)
    return g, t


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize("size", [(3, 2), (None, 4), 2], ids=["uneven", "none", "tiling"])
def test_adaptive_max_pool2d_values_indices_and_first_maximum_gradient(size: object) -> None:
    # Rounded values tie inside windows: the gradient must go to the first maximum, as torch's.
    compare_modules(*pair("AdaptiveMaxPool2d", size, return_indices=True), [np.round(rng.standard_normal((2, 2, 5, 4)))])
    compare_modules(*pair("AdaptiveMaxPool2d", size), [rng.standard_normal((2, 5, 4))])


@pytest.mark.usefixtures("backend")
def test_adaptive_max_pool1d() -> None:
    compare_modules(*pair("AdaptiveMaxPool1d", 3, return_indices=True), [rng.standard_normal((2, 3, 7))])
    compare_functions(lambda v: F.adaptive_max_pool1d(v, 4), lambda v: torch.nn.functional.adaptive_max_pool1d(v, 4), [rng.standard_normal((2, 7))])


LP_CASES = [
    (2, 2),
    (1.5, (2, 3), (1, 2), True),
    (3, 3, 1),
    (float("inf"), 2),
    (-float("inf"), 2),
]


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize("args", LP_CASES, ids=lambda a: ",".join(map(str, a)))
def test_lp_pool2d_including_a_window_of_zeros(args: tuple) -> None:
    x = rng.standard_normal((2, 2, 5, 6))
    if args[0] == 1.5:
        x = np.abs(x) + 0.1  # a fractional power of a negative number is NaN in both
    x[0, 0, :3, :3] = 0.0  # torch's gradient for a window whose powers sum to zero is zero, not NaN
    compare_modules(*pair("LPPool2d", *args), [x])


@pytest.mark.usefixtures("backend")
def test_lp_pool1d() -> None:
    x = rng.standard_normal((2, 3, 7))
    x[0, 0, :3] = 0.0
    compare_modules(*pair("LPPool1d", 2, 3), [x])
    compare_modules(*pair("LPPool1d", 1, 2, 1, ceil_mode=True), [x[0]])
    with pytest.raises(ValueError, match="norm_type must be a non-zero value"):
        F.lp_pool1d(graphc.tensor(x), 0, 2)


def test_unfold_and_fold_modules() -> None:
    compare_modules(*pair("Unfold", (2, 3), dilation=2, padding=1, stride=2), [rng.standard_normal((2, 3, 6, 7))])
    compare_modules(*pair("Fold", (4, 5), 2), [rng.standard_normal((2, 12, 12))])


@pytest.mark.usefixtures("backend")
def test_max_unpool2d_puts_values_back_and_overlapping_windows_share_an_element_whole() -> None:
    """Overlapping 3x3 windows of stride 2 often pick the same element: both writes carry its
    value, and its gradient reaches each of them whole, as torch's."""
    pool, unpool = torch.nn.MaxPool2d(3, 2, 1, return_indices=True), pair("MaxUnpool2d", 3, 2, 1)

    def unpooled(module: object, T: object, x: object, size: object) -> object:
        values, indices = (F if T is graphc else torch.nn.functional).max_pool2d(x, 3, 2, 1, return_indices=True)
        return module(values, indices, output_size=size)

    g, t = unpool
    x = np.round(rng.standard_normal((2, 2, 5, 6)), 1)
    compare_functions(lambda v: unpooled(g, graphc, v, (5, 6)), lambda v: unpooled(t, torch, v, (5, 6)), [x])
    compare_functions(lambda v: unpooled(g, graphc, v, None), lambda v: unpooled(t, torch, v, None), [x[:, :, :, :5]])
    assert pool(torch.tensor(x))[1].unique().numel() < pool(torch.tensor(x))[1].numel()  # the case is there


@pytest.mark.usefixtures("backend")
def test_max_unpool1d() -> None:
    g, t = pair("MaxUnpool1d", 2)
    x = rng.standard_normal((2, 3, 8))
    values, indices = torch.nn.functional.max_pool1d(torch.tensor(x), 2, return_indices=True)
    got = g(graphc.tensor(values.numpy()), graphc.tensor(indices.numpy()))
    np.testing.assert_array_equal(got.numpy(), t(values, indices).numpy())


def test_max_unpool_errors_name_the_op() -> None:
    values, indices = F.max_pool2d(graphc.randn(1, 1, 4, 4), 2, return_indices=True)
    with pytest.raises(graphc.GraphcError, match=r"max_unpool2d.*invalid output_size \(9, 9\) \(dim size must be between 2 and 6, exclusive\)"):
        F.max_unpool2d(values, indices, 2, output_size=(9, 9))
    with pytest.raises(graphc.GraphcError, match="max_unpool2d.*same as that of the input"):
        F.max_unpool2d(values, indices[:, :, :1], 2)
