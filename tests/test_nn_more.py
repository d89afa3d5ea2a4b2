"""More graphc.nn layers against torch.nn: shrinkage, channel dropout, padding, shuffles, 1-d pooling, upsampling, distances.

Values, shapes, dtypes and float64 gradients on small inputs (a few elements per axis, so the
Triton interpreter stays quick); reprs and errors as torch's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from nn_compare import compare_functions, compare_modules

import graphc
import graphc.nn.functional as F
from graphc import nn

# Every test here runs on each backend (numpy, and triton under TRITON_INTERPRET=1 on a CPU).
pytestmark = pytest.mark.usefixtures("backend")

rng = np.random.default_rng(7)


def pair(name: str, *args: object, **kwargs: object) -> tuple[nn.Module, torch.nn.Module]:
    return getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)


def check(name: str, args: tuple, inputs: list[np.ndarray], **kwargs: object) -> None:
    """Values and gradients in float64, a float32 run's dtype, and the repr."""
    g, t = pair(name, *args, **kwargs)
    assert repr(g) == repr(t)
    compare_modules(g, t, inputs)
    compare_modules(*pair(name, *args, **kwargs), inputs, dtype="float32", rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- activations


@pytest.mark.usefixtures("fusion")
@pytest.mark.parametrize("name", ["Hardshrink", "Softshrink"])
@pytest.mark.parametrize("lambd", [0.5, 0.0, 1.3])
def test_shrink(name: str, lambd: float) -> None:
    x = np.array([-2.0, -1.3, -0.7, -0.5, 0.0, 0.2, 0.5, 1.3, 3.0])
    check(name, (lambd,), [x])


def test_shrink_functions_and_errors() -> None:
    x = rng.standard_normal((2, 3))
    compare_functions(lambda v: F.hardshrink(v, 0.3), lambda v: TF.hardshrink(v, 0.3), [x])
    compare_functions(lambda v: F.softshrink(v, 0.3), lambda v: TF.softshrink(v, 0.3), [x])
    with pytest.raises(Exception, match="lambda must be"):
        F.softshrink(graphc.tensor(x), -1.0)


def test_softmax2d() -> None:
    check("Softmax2d", (), [rng.standard_normal((2, 3, 2, 2))])
    check("Softmax2d", (), [rng.standard_normal((3, 2, 2))])
    with pytest.raises(ValueError, match="expected input to be 3D or 4D, got 2D"):
        nn.Softmax2d()(graphc.tensor(rng.standard_normal((2, 3))))


# ---------------------------------------------------------------- dropout


@pytest.mark.parametrize("name", ["Dropout1d", "Dropout2d", "AlphaDropout"])
def test_dropout_variants_are_identity_in_eval_and_at_p_0(name: str) -> None:
    shape = (2, 3, 2, 2) if name == "Dropout2d" else (2, 3, 4)
    x = rng.standard_normal(shape)
    g, t = pair(name, 0.4)
    assert repr(g) == repr(t)
    compare_modules(g.eval(), t.eval(), [x])
    compare_modules(*pair(name, 0.0), [x])


def test_dropout_p_out_of_range() -> None:
    for name in ("Dropout1d", "Dropout2d", "AlphaDropout"):
        with pytest.raises(ValueError, match="between 0 and 1"):
            getattr(nn, name)(1.5)


@pytest.mark.parametrize("fn, shape, spatial", [(F.dropout1d, (6, 8, 5), 1), (F.dropout1d, (8, 5), 1), (F.dropout2d, (6, 8, 3, 3), 2)])
def test_channel_dropout_zeroes_whole_channels(fn: object, shape: tuple, spatial: int) -> None:
    """Each channel is all zeros or all ``x / (1 - p)``; about p of them are zeroed; the gradient is the mask."""
    p = 0.3
    x = graphc.tensor(rng.uniform(0.5, 1.5, shape), requires_grad=True)
    out = fn(x, p, training=True)
    out.sum().backward()
    values, grads, xs = out.numpy(), x.grad.numpy(), x.detach().numpy()
    axes = tuple(range(len(shape) - spatial, len(shape)))
    kept = np.all(values != 0, axis=axes)
    dropped = np.all(values == 0, axis=axes)
    assert np.all(kept | dropped)
    assert 0 < kept.sum() < kept.size
    mask = np.expand_dims(kept, axes)
    np.testing.assert_allclose(values, np.where(mask, xs / (1 - p), 0.0), rtol=1e-12)
    np.testing.assert_allclose(grads, np.broadcast_to(np.where(mask, 1 / (1 - p), 0.0), shape), rtol=1e-12)
    assert out.dtype == graphc.float64
    assert fn(x, 1.0, training=True).numpy().max() == 0


def test_channel_dropout_rate() -> None:
    kept = F.dropout2d(graphc.ones(4000, 50, 1, 1), 0.3).numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.01


def test_channel_dropout_shape_errors_and_warnings() -> None:
    with pytest.raises(Exception, match="Expected 2D or 3D input"):
        F.dropout1d(graphc.ones(2, 3, 4, 5))
    with pytest.warns(UserWarning, match="channel-wise 1D dropout"):
        out = F.dropout2d(graphc.ones(4, 5, 6), 0.5).numpy()
    assert np.all((out == 0).all(-1) | (out != 0).all(-1))


def test_alpha_dropout_training_structure() -> None:
    """Kept elements are ``a x + b``, dropped ones the constant ``-alpha' a + b``; mean and variance stay near 0 and 1."""
    p, alpha = 0.2, 1.7580993408473766
    a = ((1 - p) * (1 + p * alpha**2)) ** -0.5
    b = a * alpha * p
    x = graphc.tensor(rng.standard_normal((200, 100)), requires_grad=True)
    out = F.alpha_dropout(x, p, training=True)
    out.sum().backward()
    values, xs, grads = out.numpy(), x.detach().numpy(), x.grad.numpy()
    kept = np.isclose(values, a * xs + b, rtol=0, atol=1e-12)
    dropped = np.isclose(values, b - alpha * a, rtol=0, atol=1e-12) & ~kept
    assert np.all(kept | dropped)
    assert abs(dropped.mean() - p) < 0.02
    np.testing.assert_allclose(grads, np.where(kept, a, 0.0), rtol=1e-12)
    assert abs(values.mean()) < 0.05 and abs(values.std() - 1) < 0.05
    # F.alpha_dropout's training defaults to False: the identity.
    np.testing.assert_array_equal(F.alpha_dropout(x, p).numpy(), xs)


# ---------------------------------------------------------------- padding


@pytest.mark.parametrize(
    "name, args, shape",
    [
        ("ZeroPad1d", (2,), (2, 3, 4)),
        ("ZeroPad1d", ((1, 0),), (3, 4)),
        ("ZeroPad2d", (1,), (1, 2, 3, 3)),
        ("ZeroPad2d", ((1, 0, 2, 1),), (2, 3, 3)),
        ("ConstantPad1d", (2, 3.5), (2, 3, 4)),
        ("ConstantPad2d", ((1, 2, 0, 1), -1.0), (1, 2, 3, 3)),
        ("ReflectionPad1d", (2,), (2, 3, 4)),
        ("ReflectionPad1d", ((3, 1),), (3, 4)),
        ("ReflectionPad2d", (1,), (1, 2, 3, 3)),
        ("ReflectionPad2d", ((2, 0, 1, 2),), (2, 3, 3)),
        ("ReplicationPad1d", (3,), (2, 3, 4)),
        ("ReplicationPad2d", ((1, 3, 2, 0),), (1, 2, 3, 3)),
    ],
)
def test_padding_modules(name: str, args: tuple, shape: tuple) -> None:
    check(name, args, [rng.standard_normal(shape)])


def test_reflection_padding_too_large_is_an_error() -> None:
    with pytest.raises(Exception, match="must be less than"):
        nn.ReflectionPad1d(4)(graphc.ones(1, 2, 4))


# ---------------------------------------------------------------- shuffles


@pytest.mark.usefixtures("fusion")
@pytest.mark.parametrize("shape, factor", [((1, 8, 2, 3), 2), ((2, 1, 9, 1, 2), 3), ((4, 2, 2), 2)])
def test_pixel_shuffle(shape: tuple, factor: int) -> None:
    x = rng.standard_normal(shape)
    check("PixelShuffle", (factor,), [x])
    shuffled = TF.pixel_shuffle(torch.tensor(x), factor).numpy()
    check("PixelUnshuffle", (factor,), [shuffled])


def test_pixel_shuffle_errors() -> None:
    with pytest.raises(Exception, match="at least 3 dimensions"):
        F.pixel_shuffle(graphc.ones(4, 4), 2)
    with pytest.raises(Exception, match="divisible by the square of upscale_factor"):
        F.pixel_shuffle(graphc.ones(1, 3, 2, 2), 2)
    with pytest.raises(Exception, match="height to be divisible by downscale_factor"):
        F.pixel_unshuffle(graphc.ones(1, 3, 3, 2), 2)


@pytest.mark.parametrize("shape, groups", [((2, 6, 2), 3), ((1, 4, 2, 2), 2), ((2, 6), 2)])
def test_channel_shuffle(shape: tuple, groups: int) -> None:
    if len(shape) < 3:
        with pytest.raises(Exception, match="at least 3 dimensions"):
            nn.ChannelShuffle(groups)(graphc.ones(*shape))
        return
    check("ChannelShuffle", (groups,), [rng.standard_normal(shape)])
    compare_functions(lambda v: F.channel_shuffle(v, groups), lambda v: TF.channel_shuffle(v, groups), [rng.standard_normal(shape)])
    with pytest.raises(Exception, match="must be divisible by groups"):
        F.channel_shuffle(graphc.ones(1, 5, 2), 2)


# ---------------------------------------------------------------- distances


@pytest.mark.parametrize("kwargs", [{}, {"dim": 0}, {"dim": -1, "eps": 1e-3}])
def test_cosine_similarity_module(kwargs: dict) -> None:
    check("CosineSimilarity", (), [rng.standard_normal((3, 4)), rng.standard_normal((3, 4))], **kwargs)


@pytest.mark.parametrize("kwargs", [{}, {"p": 1.0}, {"p": 3.0, "keepdim": True, "eps": 1e-3}])
def test_pairwise_distance_module(kwargs: dict) -> None:
    check("PairwiseDistance", (), [rng.standard_normal((3, 4)), rng.standard_normal((3, 4))], **kwargs)


# ---------------------------------------------------------------- 1-d pooling


@pytest.mark.usefixtures("fusion")
@pytest.mark.parametrize(
    "kwargs",
    [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1}, {"kernel_size": 2, "stride": 2, "ceil_mode": True}, {"kernel_size": 2, "dilation": 2}],
)
def test_max_pool1d(kwargs: dict) -> None:
    x = rng.standard_normal((2, 2, 7))
    check("MaxPool1d", (), [x], **kwargs)
    check("MaxPool1d", (), [x[0]], **kwargs)
    g_values, g_indices = F.max_pool1d(graphc.tensor(x), return_indices=True, **kwargs)
    t_values, t_indices = TF.max_pool1d(torch.tensor(x), return_indices=True, **kwargs)
    np.testing.assert_array_equal(g_values.numpy(), t_values.numpy())
    np.testing.assert_array_equal(g_indices.numpy(), t_indices.numpy())
    assert g_indices.dtype == graphc.int64


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": 2},
        {"kernel_size": 3, "stride": 2, "padding": 1},
        {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
        {"kernel_size": 2, "stride": 2, "ceil_mode": True},
    ],
)
def test_avg_pool1d(kwargs: dict) -> None:
    x = rng.standard_normal((2, 2, 7))
    check("AvgPool1d", (), [x], **kwargs)
    check("AvgPool1d", (), [x[0]], **kwargs)


@pytest.mark.parametrize("size", [1, 3, 7, 4])
def test_adaptive_avg_pool1d(size: int) -> None:
    check("AdaptiveAvgPool1d", (size,), [rng.standard_normal((2, 2, 7))])
    compare_functions(lambda v: F.adaptive_avg_pool1d(v, size), lambda v: TF.adaptive_avg_pool1d(v, size), [rng.standard_normal((2, 5))])


def test_pool1d_rejects_4d_input() -> None:
    for fn in (F.max_pool1d, F.avg_pool1d):
        with pytest.raises(Exception, match="Expected 2D or 3D"):
            fn(graphc.ones(1, 2, 3, 4), 2)


# ---------------------------------------------------------------- upsampling


@pytest.mark.parametrize(
    "shape, kwargs",
    [
        ((1, 2, 3), {"scale_factor": 2}),
        ((1, 2, 3), {"size": 5}),
        ((1, 2, 5), {"size": 3}),
        ((1, 2, 2, 3), {"scale_factor": 2}),
        ((1, 1, 2, 3), {"scale_factor": (1.5, 2.5)}),
        ((1, 1, 3, 3), {"size": (4, 2)}),
        ((1, 1, 3, 3), {"scale_factor": 1.7, "recompute_scale_factor": True}),
        ((1, 1, 3, 2), {"scale_factor": 1.5, "mode": "bilinear"}),
        ((1, 1, 3, 2), {"size": (4, 5), "mode": "bilinear", "align_corners": True}),
        ((1, 1, 3, 2), {"size": (2, 5), "mode": "bilinear", "align_corners": False}),
        ((2, 1, 4), {"scale_factor": 0.6, "mode": "linear", "align_corners": False}),
        ((2, 1, 4), {"size": 1, "mode": "linear", "align_corners": True}),
    ],
)
def test_upsample_and_interpolate(shape: tuple, kwargs: dict) -> None:
    x = rng.standard_normal(shape)
    check("Upsample", (), [x], **kwargs)
    compare_functions(lambda v: F.interpolate(v, **kwargs), lambda v: TF.interpolate(v, **kwargs), [x])


def test_interpolate_errors() -> None:
    x = graphc.ones(1, 1, 2, 2)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(NotImplementedError):
        F.interpolate(x, scale_factor=2, mode="bicubic")


def test_new_modules_compile() -> None:
    """A small network of the new layers under graphc.compile gives eager graphc's result."""
    model = nn.Sequential(nn.ReflectionPad2d(1), nn.PixelUnshuffle(2), nn.ChannelShuffle(2), nn.Softshrink(0.1), nn.Upsample(scale_factor=2))
    x = graphc.tensor(rng.standard_normal((1, 2, 2, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = graphc.compile(model)
    np.testing.assert_allclose(compiled(x).numpy(), model(x).numpy(), rtol=1e-12)
