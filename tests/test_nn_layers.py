"""graphc.nn layers against torch.nn with the same weights and inputs: outputs, parameter and input gradients (float64)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from nn_compare import compare_functions, compare_modules

import graphc
import graphc.nn.functional as F
from graphc import nn
from graphc.errors import GraphcError

# Every test here runs on each backend (numpy, and triton under TRITON_INTERPRET=1 on a CPU).
pytestmark = pytest.mark.usefixtures("backend", "fusion")

rng = np.random.default_rng(0)


def randomize(module: torch.nn.Module) -> torch.nn.Module:
    """Non-default parameter values (norm layers start at ones and zeros, which would hide mistakes)."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


def pair(name: str, *args: object, **kwargs: object) -> tuple[nn.Module, torch.nn.Module]:
    return getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)


# ---------------------------------------------------------------- linear and convolution


@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias: bool) -> None:
    compare_modules(*pair("Linear", 5, 3, bias=bias), [rng.standard_normal((2, 4, 5))])


def test_linear_over_leading_axes_is_one_two_dimensional_product() -> None:
    """As torch computes it: [4,2,5] rows are one [8,5] x [5,3] product, not one small product per leading index."""
    from graphc.frontend import lazy

    out = F.linear(graphc.tensor(rng.standard_normal((4, 2, 5))), graphc.tensor(rng.standard_normal((3, 5))))
    graph, _ = lazy.pending_graph([out._node])
    (product,) = [n for n in graph.nodes if n.op == "matmul"]
    assert [tuple(i.shape) for i in product.inputs] == [(8, 5), (5, 3)] and tuple(out.shape) == (4, 2, 3)


def test_linear_float32_smoke() -> None:
    compare_modules(*pair("Linear", 6, 4), [rng.standard_normal((8, 6))], dtype="float32", rtol=1e-5, atol=1e-6)


def test_bilinear() -> None:
    compare_modules(*pair("Bilinear", 3, 4, 2), [rng.standard_normal((5, 3)), rng.standard_normal((5, 4))])


CONV_CASES = [
    dict(in_channels=3, out_channels=4, kernel_size=3),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=1, bias=False),
    dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2),
    dict(in_channels=2, out_channels=3, kernel_size=4, padding="same"),  # asymmetric: one extra row/column at the end
    dict(in_channels=2, out_channels=3, kernel_size=3, padding="same", dilation=2),
    dict(in_channels=2, out_channels=3, kernel_size=3, padding="valid", stride=2),
    dict(in_channels=4, out_channels=4, kernel_size=3, groups=4, padding=1),  # depthwise
    dict(in_channels=2, out_channels=3, kernel_size=3, padding=2, padding_mode="reflect"),
    dict(in_channels=2, out_channels=3, kernel_size=3, padding=1, padding_mode="replicate"),
    dict(in_channels=2, out_channels=3, kernel_size=3, padding=1, padding_mode="circular"),
]


@pytest.mark.parametrize("kwargs", CONV_CASES, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_conv2d(kwargs: dict) -> None:
    g, t = pair("Conv2d", **kwargs)
    assert repr(g) == repr(t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about padding='same' with even kernels
        compare_modules(g, t, [rng.standard_normal((2, kwargs["in_channels"], 7, 6))])


def test_conv2d_unbatched_and_float32() -> None:
    compare_modules(*pair("Conv2d", 3, 2, 3, padding=1), [rng.standard_normal((3, 5, 5))])
    compare_modules(*pair("Conv2d", 3, 8, 3, stride=2), [rng.standard_normal((4, 3, 9, 9))], dtype="float32", rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=3), dict(kernel_size=2, stride=2, padding=1, groups=2, bias=False), dict(kernel_size=3, padding="same")])
def test_conv1d(kwargs: dict) -> None:
    g, t = pair("Conv1d", 4, 6, **kwargs)
    assert repr(g) == repr(t)
    compare_modules(g, t, [rng.standard_normal((2, 4, 9))])


def test_conv2d_wrong_channels_is_a_clear_error() -> None:
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(GraphcError, match="conv2d.*3 channels, got 5"):
        conv(graphc.randn(1, 5, 6, 6))


def test_unfold_and_fold_functional() -> None:
    x = rng.standard_normal((2, 3, 6, 5))
    compare_functions(
        lambda a: F.unfold(a, (2, 3), dilation=(2, 1), padding=1, stride=(1, 2)),
        lambda a: torch.nn.functional.unfold(a, (2, 3), dilation=(2, 1), padding=1, stride=(1, 2)),
        [x],
    )
    cols = rng.standard_normal((2, 12, 16))
    compare_functions(
        lambda c: F.fold(c, (6, 7), 2, padding=1, stride=(2, 2)), lambda c: torch.nn.functional.fold(c, (6, 7), 2, padding=1, stride=(2, 2)), [cols]
    )


# ---------------------------------------------------------------- pooling

MAX_POOL_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 1), dilation=(1, 2)),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=2, stride=3, ceil_mode=True),
]


@pytest.mark.parametrize("kwargs", MAX_POOL_CASES, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_max_pool2d(kwargs: dict) -> None:
    g, t = pair("MaxPool2d", **kwargs)
    assert repr(g) == repr(t)
    compare_modules(g, t, [rng.standard_normal((2, 3, 8, 7))])


def test_max_pool2d_return_indices_and_ties() -> None:
    g, t = pair("MaxPool2d", 3, 2, 1, return_indices=True, ceil_mode=True)
    compare_modules(g, t, [rng.standard_normal((2, 2, 8, 8))])
    # Ties: the whole gradient goes to the first maximal element of each window, as in torch.
    x = np.round(rng.standard_normal((1, 2, 6, 6)), 0)
    compare_modules(*pair("MaxPool2d", 2), [x])
    compare_modules(*pair("MaxPool2d", 3, 1, 1), [np.zeros((1, 1, 4, 4))])


AVG_POOL_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(2, 3), stride=(1, 2), divisor_override=4),
]


@pytest.mark.parametrize("kwargs", AVG_POOL_CASES, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_avg_pool2d(kwargs: dict) -> None:
    g, t = pair("AvgPool2d", **kwargs)
    assert repr(g) == repr(t)
    compare_modules(g, t, [rng.standard_normal((2, 3, 8, 7))])


@pytest.mark.parametrize("size", [1, (3, 2), (None, 4)])
def test_adaptive_avg_pool2d(size: object) -> None:
    compare_modules(*pair("AdaptiveAvgPool2d", size), [rng.standard_normal((2, 3, 7, 5))])


# ---------------------------------------------------------------- activations

ACTIVATIONS = [
    ("ReLU", ()),
    ("ReLU6", ()),
    ("LeakyReLU", (0.2,)),
    ("PReLU", ()),
    ("ELU", (0.7,)),
    ("CELU", (0.5,)),
    ("SELU", ()),
    ("GELU", ()),
    ("GELU", ("tanh",)),
    ("SiLU", ()),
    ("Mish", ()),
    ("Sigmoid", ()),
    ("LogSigmoid", ()),
    ("Tanh", ()),
    ("Tanhshrink", ()),
    ("Softsign", ()),
    ("Softplus", ()),
    ("Softplus", (2.0, 3.0)),
    ("Hardtanh", (-0.5, 2.0)),
    ("Hardswish", ()),
    ("Threshold", (0.1, 2.0)),
    ("GLU", (1,)),
    ("Softmax", (1,)),
    ("LogSoftmax", (-1,)),
    ("Softmin", (0,)),
    ("Identity", ()),
    ("Flatten", ()),
    ("Flatten", (0, 1)),
    ("Unflatten", (1, (2, 2))),
]


@pytest.mark.parametrize("name,args", ACTIVATIONS, ids=[f"{n}{a}" for n, a in ACTIVATIONS])
def test_activation(name: str, args: tuple) -> None:
    g, t = pair(name, *args)
    assert repr(g) == repr(t)
    x = rng.standard_normal((3, 4, 5)) * 3
    x[0, 0, :3] = [0.0, 3.0, -3.0]  # kinks: the gradient there must also be torch's
    compare_modules(g, t, [x])


@pytest.mark.parametrize("name", ["ReLU", "ReLU6", "LeakyReLU", "ELU", "CELU", "SELU", "SiLU", "Mish", "Hardtanh", "Hardsigmoid", "Hardswish"])
def test_inplace_activations_repr_and_write_their_input_like_torch(name: str) -> None:
    g, t = pair(name, inplace=True)
    assert repr(g) == repr(t)
    x, y = graphc.tensor([-4.0, -1.0, 0.5, 2.0, 4.0]), torch.tensor([-4.0, -1.0, 0.5, 2.0, 4.0])
    assert g(x) is x and t(y) is y
    np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-6)


def test_prelu_per_channel() -> None:
    g, t = pair("PReLU", 4)
    compare_modules(g, t, [rng.standard_normal((2, 4, 3))])


@pytest.mark.parametrize("shape", [(), (5,), (2, 3)])
def test_prelu_with_one_weight_keeps_the_inputs_shape(shape: tuple[int, ...]) -> None:
    """A [1] weight broadcast a 0-d input to [1] (fuzzer seed 9025); torch keeps the input's shape. Weight gradient included."""
    x = rng.standard_normal(shape) * 3
    compare_functions(F.prelu, torch.nn.functional.prelu, [x, np.array([0.25])])


def test_hardsigmoid_values_and_float64_gradient_match_torch() -> None:
    """torch's hardsigmoid backward multiplies by one sixth held as a float32, also in float64: graphc's gradient
    is torch's to the last bit (it was the exact 1/6, 3e-8 off)."""
    x = rng.standard_normal((4, 5)) * 4
    xg, xt = graphc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = nn.Hardsigmoid()(xg), torch.nn.Hardsigmoid()(xt)
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-12)
    (out * graphc.tensor(x)).sum().backward()
    (expected * torch.tensor(x)).sum().backward()
    assert 0 < np.count_nonzero(xt.grad.numpy()) < x.size
    np.testing.assert_array_equal(xg.grad.numpy(), xt.grad.numpy())
    assert repr(nn.Hardsigmoid()) == repr(torch.nn.Hardsigmoid())


def test_softmax_without_dim_uses_torchs_legacy_choice() -> None:
    x = rng.standard_normal((2, 3))
    with pytest.warns(UserWarning, match="Implicit dimension"):
        out = nn.Softmax()(graphc.tensor(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = torch.nn.Softmax()(torch.tensor(x))
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-12)


def test_functional_activations_and_helpers() -> None:
    x = rng.standard_normal((3, 6))
    tf = torch.nn.functional
    compare_functions(lambda a: F.normalize(a, dim=1), lambda a: tf.normalize(a, dim=1), [x])
    compare_functions(lambda a: F.normalize(a, p=1.0, dim=0), lambda a: tf.normalize(a, p=1.0, dim=0), [x])
    compare_functions(lambda a: F.relu(a), lambda a: tf.relu(a), [x])
    compare_functions(lambda a: F.log_softmax(a, dim=1), lambda a: tf.log_softmax(a, dim=1), [x])
    compare_functions(lambda a: F.gelu(a, approximate="tanh"), lambda a: tf.gelu(a, approximate="tanh"), [x])
    idx = np.array([[0, 2], [3, 1]])
    np.testing.assert_array_equal(F.one_hot(graphc.tensor(idx), 5).numpy(), tf.one_hot(torch.tensor(idx), 5).numpy())
    np.testing.assert_array_equal(F.one_hot(graphc.tensor(idx)).numpy(), tf.one_hot(torch.tensor(idx)).numpy())


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_modes(mode: str) -> None:
    x = rng.standard_normal((2, 3, 4, 5))
    pads = [2, 1, 1, 3] if mode != "constant" else [2, -1, 1, 3]
    compare_functions(lambda a: F.pad(a, pads, mode=mode), lambda a: torch.nn.functional.pad(a, pads, mode=mode), [x])
    compare_functions(lambda a: F.pad(a, [1, 2], mode=mode), lambda a: torch.nn.functional.pad(a, [1, 2], mode=mode), [x[0]])


# ---------------------------------------------------------------- normalization and embeddings


@pytest.mark.parametrize(
    "name,args,kwargs,shape",
    [
        ("LayerNorm", (5,), {}, (3, 4, 5)),
        ("LayerNorm", ((4, 5),), {"eps": 1e-3}, (3, 4, 5)),
        ("LayerNorm", (5,), {"elementwise_affine": False}, (2, 5)),
        ("LayerNorm", (5,), {"bias": False}, (2, 5)),
        ("GroupNorm", (2, 4), {}, (3, 4, 5)),
        ("GroupNorm", (1, 4), {"affine": False}, (2, 4, 3, 2)),
        ("RMSNorm", (5,), {}, (3, 4, 5)),
    ],
)
def test_norms(name: str, args: tuple, kwargs: dict, shape: tuple) -> None:
    g, t = pair(name, *args, **kwargs)
    assert repr(g) == repr(t)
    compare_modules(g, randomize(t), [rng.standard_normal(shape) * 2 + 1])


def test_layer_norm_float32_smoke() -> None:
    compare_modules(*pair("LayerNorm", 16), [rng.standard_normal((4, 16))], dtype="float32", rtol=1e-5, atol=1e-5)


def test_embedding() -> None:
    idx = rng.integers(0, 10, (3, 4))
    g, t = pair("Embedding", 10, 3)
    assert repr(g) == repr(t)
    compare_modules(g, t, [idx], input_grads=False)


def test_embedding_padding_idx_gets_no_gradient() -> None:
    idx = np.array([[1, 2, 2], [0, 2, 5]])
    g, t = pair("Embedding", 6, 3, padding_idx=2)
    assert repr(g) == repr(t)
    np.testing.assert_array_equal(g.weight.numpy()[2], 0.0)
    compare_modules(g, randomize(t), [idx], input_grads=False)
    assert np.all(g.weight.grad.numpy()[2] == 0.0)


def test_embedding_max_norm_renormalizes_used_rows() -> None:
    idx = np.array([[1, 3], [3, 4]])
    g, t = pair("Embedding", 6, 4, max_norm=1.0)
    compare_modules(g, t, [idx], input_grads=False)
    np.testing.assert_allclose(g.weight.numpy(), t.weight.detach().numpy(), rtol=1e-12)  # rows 1, 3, 4 rescaled in place


def test_embedding_from_pretrained() -> None:
    weights = rng.standard_normal((4, 2))
    g = nn.Embedding.from_pretrained(graphc.tensor(weights))
    assert not g.weight.requires_grad
    np.testing.assert_allclose(g(graphc.tensor([3, 0])).numpy(), weights[[3, 0]])


def test_functional_embedding_and_norms() -> None:
    w, idx = rng.standard_normal((7, 3)), rng.integers(0, 7, (2, 5))
    compare_functions(lambda a, i: F.embedding(i, a, padding_idx=1), lambda a, i: torch.nn.functional.embedding(i, a, padding_idx=1), [w, idx])
    x, weight, bias = rng.standard_normal((4, 6)), rng.standard_normal(6), rng.standard_normal(6)
    compare_functions(lambda a, b, c: F.layer_norm(a, (6,), b, c, 1e-3), lambda a, b, c: torch.nn.functional.layer_norm(a, (6,), b, c, 1e-3), [x, weight, bias])
    x3 = rng.standard_normal((2, 4, 5))
    compare_functions(lambda a: F.instance_norm(a), lambda a: torch.nn.functional.instance_norm(a), [x3])
