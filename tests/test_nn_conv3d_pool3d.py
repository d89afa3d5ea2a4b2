"""Conv3d, ConvTranspose3d and the 3-d pools against torch: values, float64 gradients (input, weight, bias),
dtypes, parameters, reprs and errors, on both backends, through the rank-generic ``unfold``/``fold``.

The Triton backend runs under its interpreter, so its shapes are tiny.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from nn_compare import compare_functions, compare_modules
from torch_grads import check_compiled_batches

import graphc
import graphc.nn.functional as F
from graphc import nn
from graphc.errors import GraphcError

rng = np.random.default_rng(7)


def _image(backend: str, channels: int = 2) -> np.ndarray:
    """[N, C, D, H, W]: [2, C, 4, 5, 5], or [1, C, 3, 4, 4] under the Triton interpreter."""
    return rng.standard_normal((2, channels, 4, 5, 5) if backend == "numpy" else (1, channels, 3, 4, 4))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(kernel_size=(2, 3, 2), stride=(1, 2, 1), padding=(1, 0, 1), dilation=(2, 1, 1), groups=2),
        dict(kernel_size=2, padding="same", dilation=(1, 1, 2), bias=False, padding_mode="reflect"),
    ],
    ids=["grouped-strided-dilated", "same-reflect"],
)
@pytest.mark.usefixtures("fusion")
def test_conv3d_matches_torch(backend: str, kwargs: dict) -> None:
    g, t = nn.Conv3d(2, 4, **kwargs), torch.nn.Conv3d(2, 4, **kwargs)
    assert repr(g) == repr(t)
    assert {n: tuple(p.shape) for n, p in g.named_parameters()} == {n: tuple(p.shape) for n, p in t.named_parameters()}
    compare_modules(g, t, [_image(backend)])


def test_conv_transpose3d_matches_torch(backend: str) -> None:
    kwargs = dict(kernel_size=(2, 2, 3), stride=(2, 1, 2), padding=(0, 1, 1), output_padding=(1, 0, 1), groups=2, dilation=(1, 2, 1))
    g, t = nn.ConvTranspose3d(2, 4, **kwargs), torch.nn.ConvTranspose3d(2, 4, **kwargs)
    assert repr(g) == repr(t)
    x = rng.standard_normal((1, 2, 2, 3, 2)) if backend == "triton" else _image(backend)
    compare_modules(g, t, [x])


def test_max_pool3d_with_indices_ceil_mode_padding_and_dilation_match_torch(backend: str) -> None:
    kwargs = dict(kernel_size=2, stride=(1, 2, 2), padding=1, dilation=(1, 2, 1), ceil_mode=True, return_indices=True)
    g, t = nn.MaxPool3d(**kwargs), torch.nn.MaxPool3d(**kwargs)
    assert repr(g) == repr(t)
    x = _image(backend)
    x[..., 1, 1] = x[..., 1, 2]  # ties: the gradient goes to the first maximum, as torch's
    values, indices = compare_modules(g, t, [x])[0]
    assert indices.dtype == graphc.int64


def test_avg_pool3d_divisors_match_torch(backend: str) -> None:
    x = _image(backend)
    for kwargs in (dict(kernel_size=(2, 3, 2), stride=2, padding=1, ceil_mode=True, count_include_pad=False), dict(kernel_size=2, divisor_override=3)):
        g, t = nn.AvgPool3d(**kwargs), torch.nn.AvgPool3d(**kwargs)
        assert repr(g) == repr(t)
        compare_modules(g, t, [x])


def test_adaptive_pools_3d_match_torch(backend: str) -> None:
    x = _image(backend)
    for size in ((3, None, 2), (2, 2, 3)) if backend == "triton" else ((3, None, 2), 1, (2, 2, 3)):
        compare_modules(nn.AdaptiveAvgPool3d(size), torch.nn.AdaptiveAvgPool3d(size), [x])
        compare_modules(nn.AdaptiveMaxPool3d(size, return_indices=True), torch.nn.AdaptiveMaxPool3d(size, return_indices=True), [x])


def test_max_unpool3d_inverts_max_pool3d_as_torch(backend: str) -> None:
    def unpool(functional: object, x: object) -> object:
        values, indices = functional.max_pool3d(x, 2, return_indices=True)
        return functional.max_unpool3d(values, indices, 2, output_size=x.shape[-3:])

    compare_functions(lambda x: unpool(F, x), lambda x: unpool(torch.nn.functional, x), [_image(backend)])
    g, t = nn.MaxUnpool3d((1, 2, 2)), torch.nn.MaxUnpool3d((1, 2, 2))
    assert repr(g) == repr(t)


def test_unbatched_and_float32_inputs_keep_torchs_shapes_and_dtypes() -> None:
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    conv, t_conv = nn.Conv3d(2, 3, 2, stride=(1, 2, 1)), torch.nn.Conv3d(2, 3, 2, stride=(1, 2, 1))
    compare_modules(conv, t_conv, [x], dtype="float32", rtol=1e-5, atol=1e-6)
    for g, t in (
        (nn.ConvTranspose3d(2, 3, 2, stride=2), torch.nn.ConvTranspose3d(2, 3, 2, stride=2)),
        (nn.MaxPool3d(2, return_indices=True), torch.nn.MaxPool3d(2, return_indices=True)),
        (nn.AvgPool3d(2, ceil_mode=True), torch.nn.AvgPool3d(2, ceil_mode=True)),
        (nn.AdaptiveAvgPool3d((2, 3, 3)), torch.nn.AdaptiveAvgPool3d((2, 3, 3))),
        (nn.AdaptiveMaxPool3d(3), torch.nn.AdaptiveMaxPool3d(3)),
    ):
        compare_modules(g, t, [x], dtype="float32", rtol=1e-5, atol=1e-6)


def test_functional_conv3d_takes_torchs_arguments_and_weight_init() -> None:
    x, w, b = rng.standard_normal((1, 4, 3, 4, 5)), rng.standard_normal((2, 2, 1, 2, 3)), rng.standard_normal(2)
    compare_functions(lambda *a: F.conv3d(*a, 1, (0, 1, 1), 1, 2), lambda *a: torch.nn.functional.conv3d(*a, 1, (0, 1, 1), 1, 2), [x, w, b])
    compare_functions(
        lambda *a: F.conv_transpose3d(*a, 2, 0, 1, 2), lambda *a: torch.nn.functional.conv_transpose3d(*a, 2, 0, 1, 2), [x, w.reshape(4, 1, 1, 2, 3), b]
    )
    conv = nn.Conv3d(4, 8, (3, 2, 2), groups=2)
    bound = 1 / math.sqrt(2 * 3 * 2 * 2)  # kaiming_uniform(a=sqrt(5)) over the fan-in, as torch's
    assert np.abs(conv.weight.numpy()).max() <= bound and np.abs(conv.weight.numpy()).max() > 0.8 * bound
    assert np.abs(conv.bias.numpy()).max() <= bound
    assert conv.weight.shape == (8, 2, 3, 2, 2) and nn.ConvTranspose3d(4, 6, 2, groups=2).weight.shape == (4, 3, 2, 2, 2)


def test_conv3d_and_max_pool3d_compile_for_a_symbolic_batch() -> None:
    def fn(T: object, x: object, w: object) -> object:
        return T.nn.functional.max_pool3d(T.nn.functional.conv3d(x, w, padding=1, groups=2), 2, ceil_mode=True)

    weight = rng.standard_normal((4, 1, 2, 2, 2))
    check_compiled_batches(fn, lambda rows: (rng.standard_normal((rows, 2, 3, 4, 4)), weight), "numpy")


def test_bad_3d_arguments_are_clear_errors() -> None:
    x = graphc.randn(1, 2, 3, 4, 4)
    with pytest.raises(GraphcError, match=r"conv3d: .*weight must be 5-d \[out_channels, in_channels/groups, kD, kH, kW\], got 4-d"):
        F.conv3d(x, graphc.randn(2, 2, 2, 2))
    with pytest.raises(GraphcError, match=r"conv3d: .*weight of size \[4, 1, 2, 2, 2\] expects the input to have 3 channels, got 2"):
        F.conv3d(x, graphc.randn(4, 1, 2, 2, 2), groups=3)
    with pytest.raises(GraphcError, match=r"conv3d: .*the kernel \(4x2x2, dilation \(1, 1, 1\)\) is larger than the padded input \(3x4x4\)"):
        F.conv3d(x, graphc.randn(2, 2, 4, 2, 2))
    with pytest.raises(GraphcError, match=r"conv3d: .*input \(float32\), weight \(float64\)"):
        F.conv3d(x, graphc.randn(2, 2, 2, 2, 2, dtype=graphc.float64))
    with pytest.raises(GraphcError, match=r"conv3d: expected a 4-d \(unbatched\) or 5-d \(batched\) input, got 3-d"):
        F.conv3d(graphc.randn(2, 4, 4), graphc.randn(2, 2, 2, 2, 2))
    with pytest.raises(GraphcError, match="max_pool3d: .*pad should be at most half of effective kernel size"):
        F.max_pool3d(x, 2, padding=(0, 2, 0))
    with pytest.raises(GraphcError, match=r"avg_pool3d: .*the output size \(0, 2, 2\) is too small"):
        F.avg_pool3d(x, (4, 2, 2))
    with pytest.raises(GraphcError, match=r"kernel_size must be an int or a 3-tuple of ints, got \(2, 2\)"):
        F.max_pool3d(x, (2, 2))
    with pytest.raises(GraphcError, match="adaptive_max_pool3d: .*output_size must be an int or 3 ints"):
        F.adaptive_max_pool3d(x, (2, 2))
    with pytest.raises(GraphcError, match=r"conv_transpose3d: .*weight must be 5-d \[in_channels, out_channels/groups, kD, kH, kW\]"):
        F.conv_transpose3d(x, graphc.randn(2, 2, 2, 2))
    with pytest.raises(GraphcError, match="test_nn_conv3d_pool3d.py"):  # the user's line
        F.avg_pool3d(x, (4, 2, 2))
