"""ConvTranspose1d/2d and F.conv_transpose1d/2d against torch: values, float64 gradients, parameters, errors, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from nn_compare import compare_functions, compare_modules

import graphc
import graphc.nn.functional as F
from graphc import nn, optim
from graphc.errors import GraphcError

rng = np.random.default_rng(5)

CASES_2D = [
    dict(in_channels=2, out_channels=3, kernel_size=3, stride=2, padding=1, output_padding=1, bias=False),
    dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=(2, 3), padding=(1, 0), output_padding=(0, 2), groups=2, dilation=(2, 1)),
    # output_padding >= stride, which torch allows below the dilation: more rows than fold's windows count.
    dict(in_channels=2, out_channels=2, kernel_size=2, stride=1, padding=(2, 0), output_padding=(2, 1), dilation=3),
]


@pytest.mark.usefixtures("backend", "fusion")
@pytest.mark.parametrize("kwargs", CASES_2D, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_conv_transpose2d_matches_torch(kwargs: dict) -> None:
    g, t = nn.ConvTranspose2d(**kwargs), torch.nn.ConvTranspose2d(**kwargs)
    assert repr(g) == repr(t)
    assert {n: tuple(p.shape) for n, p in g.named_parameters()} == {n: tuple(p.shape) for n, p in t.named_parameters()}
    compare_modules(g, t, [rng.standard_normal((2, kwargs["in_channels"], 3, 4))])


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize(
    "kwargs",
    [dict(kernel_size=3, stride=2, padding=1, output_padding=1), dict(kernel_size=2, stride=3, groups=2, dilation=2, bias=False)],
    ids=["padded", "grouped"],
)
def test_conv_transpose1d_matches_torch_batched_and_unbatched(kwargs: dict) -> None:
    g, t = nn.ConvTranspose1d(4, 2, **kwargs), torch.nn.ConvTranspose1d(4, 2, **kwargs)
    assert repr(g) == repr(t)
    compare_modules(g, t, [rng.standard_normal((2, 4, 5))])
    compare_modules(g, t, [rng.standard_normal((4, 3))])


def test_functional_forms_take_torchs_argument_order() -> None:
    """stride, padding, output_padding, groups, dilation: groups comes before dilation."""
    x, w, b = rng.standard_normal((1, 4, 3, 3)), rng.standard_normal((4, 1, 2, 3)), rng.standard_normal(2)
    compare_functions(lambda *a: F.conv_transpose2d(*a, 2, 1, 1, 2, 2), lambda *a: torch.nn.functional.conv_transpose2d(*a, 2, 1, 1, 2, 2), [x, w, b])
    compare_functions(
        lambda *a: F.conv_transpose1d(*a, stride=2, output_padding=1), lambda *a: torch.nn.functional.conv_transpose1d(*a, stride=2, output_padding=1),
        [x[:, :, 0], w[:, :, 0]],
    )


def test_output_size_picks_the_output_padding_as_torch() -> None:
    g, t = nn.ConvTranspose2d(2, 3, 3, stride=(2, 3), padding=1), torch.nn.ConvTranspose2d(2, 3, 3, stride=(2, 3), padding=1)
    g.load_state_dict(t.state_dict())
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    for size in ([8, 11], [1, 3, 7, 12]):
        np.testing.assert_allclose(
            g(graphc.tensor(x), output_size=size).numpy(), t(torch.tensor(x), output_size=size).detach().numpy(), rtol=1e-5, atol=1e-6
        )
    with pytest.raises(ValueError, match=r"valid sizes range from \[7, 10\] to \[8, 12\]"):
        g(graphc.tensor(x), output_size=[9, 9])
    one = nn.ConvTranspose1d(2, 2, 3, stride=2)
    with pytest.raises(ValueError, match="output_size must have 1 or 3 elements"):
        one(graphc.randn(1, 2, 4), output_size=[1, 2, 3, 4])


def test_bad_shapes_channels_and_groups_are_clear_errors() -> None:
    conv = nn.ConvTranspose2d(4, 2, 3)
    with pytest.raises(GraphcError, match=r"conv_transpose2d.*\[4, 2, 3, 3\] expects the input to have 4 channels, got 3"):
        conv(graphc.randn(1, 3, 5, 5))
    with pytest.raises(GraphcError, match="conv_transpose2d.*output padding must be smaller than either stride or dilation"):
        F.conv_transpose2d(graphc.randn(1, 4, 5, 5), conv.weight, output_padding=1)
    with pytest.raises(GraphcError, match=r"conv_transpose2d.*groups=3.*divisible by groups"):
        F.conv_transpose2d(graphc.randn(1, 4, 5, 5), conv.weight, groups=3)
    with pytest.raises(GraphcError, match=r"conv_transpose1d.*output size per channel \(-3,\) of input size \(1,\) is too small"):
        F.conv_transpose1d(graphc.randn(1, 4, 1), graphc.randn(4, 2, 3), padding=3)
    with pytest.raises(GraphcError, match=r"conv_transpose2d.*expects a bias of size \[2\], got \[3\]"):
        F.conv_transpose2d(graphc.randn(1, 4, 5, 5), conv.weight, graphc.randn(3))
    with pytest.raises(ValueError, match='Only "zeros" padding mode'):
        nn.ConvTranspose2d(4, 2, 3, padding_mode="reflect")


def test_compiled_training_step_with_conv_transpose2d_matches_torch() -> None:
    def make(m: object) -> object:
        return m.Sequential(m.ConvTranspose2d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2), m.Tanh(), m.Conv2d(4, 1, 2, stride=2))

    g, t = make(nn).double(), make(torch.nn).double()
    g.load_state_dict(t.state_dict())
    g_opt, t_opt = optim.SGD(g.parameters(), lr=0.1, momentum=0.9), torch.optim.SGD(t.parameters(), lr=0.1, momentum=0.9)

    @graphc.compile
    def train_step(x: graphc.Tensor, y: graphc.Tensor) -> graphc.Tensor:
        loss = F.mse_loss(g(x), y)
        g_opt.zero_grad()
        loss.backward()
        g_opt.step()
        return loss

    for batch in (2, 3):  # the first call runs eagerly (it creates the optimizer state), the second compiled
        x, y = rng.standard_normal((batch, 2, 3, 3)), rng.standard_normal((batch, 1, 3, 3))
        loss = train_step(graphc.tensor(x), graphc.tensor(y))
        t_loss = torch.nn.functional.mse_loss(t(torch.tensor(x)), torch.tensor(y))
        t_opt.zero_grad()
        t_loss.backward()
        t_opt.step()
        assert loss.item() == pytest.approx(t_loss.item(), rel=1e-10)
    for name, value in t.state_dict().items():
        np.testing.assert_allclose(g.state_dict()[name].numpy(), value.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
