"""Instance, 3-d batch and local response norms, RReLU, 3-d and feature-alpha dropout, 3-d and circular padding against torch.nn.

Values, dtypes and float64 gradients on tiny inputs, on both backends (errors and warnings
on the default one); running statistics
after training steps; state_dict keys and shapes as torch's; random layers by their
distributions (graphc's generator is not torch's).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from nn_compare import compare_functions, compare_modules

import graphc
import graphc.nn.functional as F
from graphc import nn

rng = np.random.default_rng(11)


def pair(name: str, *args: object, **kwargs: object) -> tuple[nn.Module, torch.nn.Module]:
    return getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)


def check(name: str, args: tuple, inputs: list[np.ndarray], **kwargs: object) -> tuple[nn.Module, torch.nn.Module]:
    """Repr, float64 values and gradients, and a float32 run's dtype; returns the float64 pair."""
    g, t = pair(name, *args, **kwargs)
    assert repr(g) == repr(t)
    compare_modules(g, t, inputs)
    compare_modules(*pair(name, *args, **kwargs), inputs, dtype="float32", rtol=1e-5, atol=1e-5)
    return g, t


def assert_same_state(g: nn.Module, t: torch.nn.Module) -> None:
    g_state, t_state = g.state_dict(), t.state_dict()
    assert list(g_state) == list(t_state)
    for key, value in t_state.items():
        np.testing.assert_allclose(g_state[key].numpy(), value.numpy(), rtol=1e-10, atol=1e-12, err_msg=key)


# ---------------------------------------------------------------- normalization


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize(
    "name, shape, kwargs",
    [
        ("InstanceNorm1d", (2, 3, 4), {}),
        ("InstanceNorm1d", (3, 4), {"affine": True}),
        ("InstanceNorm2d", (2, 3, 2, 3), {"affine": True, "track_running_stats": True}),
        ("InstanceNorm3d", (1, 2, 2, 2, 2), {"track_running_stats": True, "momentum": None}),
    ],
)
def test_instance_norm_train_and_eval(name: str, shape: tuple, kwargs: dict) -> None:
    """Training normalizes by each instance and moves the running statistics as torch's; eval with them normalizes by them."""
    x = rng.standard_normal(shape)
    unbatched = len(shape) == int(name[-2]) + 1
    g, t = check(name, (shape[0] if unbatched else shape[1],), [x], **kwargs)
    assert_same_state(g, t)
    if kwargs.get("track_running_stats"):
        compare_modules(g.eval(), t.eval(), [x])


def test_instance_norm_running_stats_move_on_every_compiled_call() -> None:
    g, t = pair("InstanceNorm1d", 3, track_running_stats=True, momentum=0.2)
    g.double()
    t.double()
    step = graphc.compile(lambda v: g(v).sum())
    for i in range(3):
        x = rng.standard_normal((2, 3, 4)) * (i + 1) + i
        np.testing.assert_allclose(step(graphc.tensor(x)).item(), t(torch.tensor(x)).sum().item(), atol=1e-10)
        assert_same_state(g, t)


def test_instance_norm_errors_and_warning() -> None:
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.InstanceNorm1d(3)(graphc.ones(1, 3, 2, 2))
    with pytest.raises(ValueError, match="to match num_features"):
        nn.InstanceNorm2d(4, affine=True)(graphc.ones(1, 3, 2, 2))
    with pytest.warns(UserWarning, match="does not match num_features"):
        nn.InstanceNorm2d(4)(graphc.ones(1, 3, 2, 2))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm(graphc.ones(2, 3, 1))


@pytest.mark.usefixtures("backend")
def test_instance_norm_functional_with_running_stats() -> None:
    x = rng.standard_normal((2, 3, 5))
    g_mean, g_var = graphc.zeros(3, dtype=graphc.float64), graphc.ones(3, dtype=graphc.float64)
    t_mean, t_var = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    compare_functions(lambda v: F.instance_norm(v, g_mean, g_var, momentum=0.3), lambda v: TF.instance_norm(v, t_mean, t_var, momentum=0.3), [x])
    np.testing.assert_allclose(g_mean.numpy(), t_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(g_var.numpy(), t_var.numpy(), rtol=1e-12)
    compare_functions(
        lambda v: F.instance_norm(v, g_mean, g_var, use_input_stats=False), lambda v: TF.instance_norm(v, t_mean, t_var, use_input_stats=False), [x]
    )


@pytest.mark.usefixtures("backend")
def test_batch_norm_3d_train_eval_and_state() -> None:
    x = rng.standard_normal((2, 3, 2, 2, 2))
    g, t = check("BatchNorm3d", (3,), [x], momentum=0.2)
    assert_same_state(g, t)
    compare_modules(g.eval(), t.eval(), [x])
    with pytest.raises(ValueError, match="expected 5D input"):
        g(graphc.ones(2, 3, 2, 2))


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize("size, shape", [(2, (2, 5, 3)), (4, (1, 3, 2, 1, 2))])
def test_local_response_norm(size: int, shape: tuple) -> None:
    check("LocalResponseNorm", (size,), [rng.standard_normal(shape) * 3], alpha=0.5, beta=0.6, k=1.5)


def test_local_response_norm_needs_three_dimensions() -> None:
    with pytest.raises(ValueError, match="Expected 3D or higher"):
        F.local_response_norm(graphc.ones(2, 3), 2)


# ---------------------------------------------------------------- RReLU and dropout


@pytest.mark.usefixtures("backend")
def test_rrelu_eval_is_torch_leaky_relu() -> None:
    x = np.array([-2.0, -0.5, 0.0, 0.3, 4.0])
    g, t = pair("RReLU", 0.1, 0.3)
    assert repr(g) == repr(t)
    compare_modules(g.eval(), t.eval(), [x])
    compare_functions(lambda v: F.rrelu(v, 0.2, 0.4), lambda v: TF.rrelu(v, 0.2, 0.4), [x])
    with pytest.raises(Exception, match="Lower bound should be less than or equal"):
        F.rrelu(graphc.tensor(x), 0.5, 0.1)


@pytest.mark.usefixtures("backend")
def test_rrelu_training_slopes_are_uniform_and_are_the_gradient() -> None:
    lower, upper = 0.1, 0.3
    x = graphc.tensor(np.concatenate([-rng.uniform(0.5, 2.0, 4000), rng.uniform(0.5, 2.0, 100)]), requires_grad=True)
    out = nn.RReLU(lower, upper)(x)
    out.sum().backward()
    xs, values, grads = x.detach().numpy(), out.numpy(), x.grad.numpy()
    assert out.dtype == graphc.float64 and out.shape == x.shape
    slopes = values[:4000] / xs[:4000]
    assert lower <= slopes.min() and slopes.max() < upper
    assert abs(slopes.mean() - (lower + upper) / 2) < 0.005 and abs(slopes.var() - (upper - lower) ** 2 / 12) < 0.0005
    assert len(np.unique(slopes)) > 3900
    np.testing.assert_allclose(grads[:4000], slopes, rtol=1e-12)
    np.testing.assert_array_equal(values[4000:], xs[4000:])
    np.testing.assert_array_equal(grads[4000:], 1.0)


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize("shape", [(5, 6, 2, 1, 2), (40, 2, 2, 1)])
def test_dropout3d_zeroes_whole_channels(shape: tuple) -> None:
    p = 0.4
    x = graphc.tensor(rng.uniform(0.5, 1.5, shape), requires_grad=True)
    out = F.dropout3d(x, p)
    out.sum().backward()
    values, grads, xs = out.numpy(), x.grad.numpy(), x.detach().numpy()
    kept = np.all(values != 0, axis=(-3, -2, -1))
    assert np.all(kept | np.all(values == 0, axis=(-3, -2, -1))) and 0 < kept.sum() < kept.size
    mask = kept[..., None, None, None]
    np.testing.assert_allclose(values, np.where(mask, xs / (1 - p), 0.0), rtol=1e-12)
    np.testing.assert_allclose(grads, np.broadcast_to(np.where(mask, 1 / (1 - p), 0.0), shape), rtol=1e-12)
    g, t = pair("Dropout3d", p)
    assert repr(g) == repr(t)
    compare_modules(g.eval(), t.eval(), [xs])
    with pytest.warns(UserWarning, match="Received a 3-D input to dropout3d"):
        F.dropout3d(graphc.ones(2, 3, 4))


@pytest.mark.usefixtures("backend")
def test_feature_alpha_dropout_drops_channels_to_selu_saturation() -> None:
    p, alpha = 0.3, 1.7580993408473766
    a = ((1 - p) * (1 + p * alpha**2)) ** -0.5
    b = a * alpha * p
    x = graphc.tensor(rng.standard_normal((40, 30, 2, 2)), requires_grad=True)
    out = nn.FeatureAlphaDropout(p)(x)
    out.sum().backward()
    values, xs, grads = out.numpy(), x.detach().numpy(), x.grad.numpy()
    kept = np.all(np.isclose(values, a * xs + b, rtol=0, atol=1e-12), axis=(2, 3))
    dropped = np.all(np.isclose(values, b - alpha * a, rtol=0, atol=1e-12), axis=(2, 3))
    assert np.all(kept ^ dropped) and abs(dropped.mean() - p) < 0.05
    np.testing.assert_allclose(grads, np.broadcast_to(np.where(kept, a, 0.0)[..., None, None], xs.shape), rtol=1e-12)
    g, t = pair("FeatureAlphaDropout", p)
    assert repr(g) == repr(t)
    compare_modules(g.eval(), t.eval(), [xs])
    np.testing.assert_array_equal(F.feature_alpha_dropout(x, p).numpy(), xs)  # training defaults to False, as torch's
    with pytest.raises(Exception, match="at least 2 dimensions"):
        F.feature_alpha_dropout(graphc.ones(3), p, training=True)


# ---------------------------------------------------------------- padding


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize(
    "name, args, shape",
    [
        ("ZeroPad3d", (1,), (1, 2, 2, 2)),
        ("ConstantPad3d", ((1, 0, 0, 2, 1, 1), -2.0), (1, 1, 2, 2, 2)),
        ("ReflectionPad3d", ((1, 0, 1, 1, 0, 1),), (1, 1, 2, 3, 2)),
        ("ReplicationPad3d", ((0, 1, 2, 0, 1, 1),), (1, 2, 2, 2)),
        ("CircularPad1d", ((-1, 2),), (1, 2, 4)),
        ("CircularPad2d", ((1, 0, 2, 1),), (1, 2, 3, 3)),
        ("CircularPad3d", ((1, 1, 0, 2, 1, 0),), (1, 2, 2, 2)),
    ],
)
def test_padding_modules_3d_and_circular(name: str, args: tuple, shape: tuple) -> None:
    g, t = pair(name, *args)
    assert repr(g) == repr(t)
    compare_modules(g, t, [rng.standard_normal(shape)])


def test_circular_padding_wrapping_twice_is_an_error() -> None:
    with pytest.raises(Exception, match="at most the size"):
        nn.CircularPad1d(5)(graphc.ones(1, 2, 4))
