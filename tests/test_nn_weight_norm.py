"""graphc.nn.utils.weight_norm / spectral_norm and their remove_*, against torch.nn.utils on the same weights and buffers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import graphc
from graphc import nn, optim

rng = np.random.default_rng(0)


def twin(make: str, *args: int, **kwargs: object) -> tuple[nn.Module, torch.nn.Module]:
    """The same float64 layer from graphc.nn and torch.nn, graphc's holding torch's initial weights."""
    t = getattr(torch.nn, make)(*args, **kwargs).double()
    g = getattr(nn, make)(*args, **kwargs).double()
    g.load_state_dict(t.state_dict())
    return g, t


def torch_weight_norm(module: torch.nn.Module, **kwargs: object) -> torch.nn.Module:
    with warnings.catch_warnings():  # torch deprecates the hook-based API for torch.nn.utils.parametrizations
        warnings.simplefilter("ignore", FutureWarning)
        return torch.nn.utils.weight_norm(module, **kwargs)


def assert_state_equal(g: nn.Module, t: torch.nn.Module, rtol: float = 1e-12) -> None:
    t_state = t.state_dict()
    assert list(g.state_dict()) == list(t_state)
    for key, value in g.state_dict().items():
        np.testing.assert_allclose(value.numpy(), t_state[key].numpy(), rtol=rtol, atol=1e-14, err_msg=key)


def run_both(g: nn.Module, t: torch.nn.Module, shape: tuple[int, ...]) -> None:
    """One forward and backward of ``sum(out * out)``; outputs compared, gradients left on the parameters."""
    x = rng.standard_normal(shape)
    out, t_out = g(graphc.tensor(x)), t(torch.tensor(x))
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-12)
    (out * out).sum().backward()
    (t_out * t_out).sum().backward()


def assert_grads_equal(g: nn.Module, t: torch.nn.Module) -> None:
    t_params = dict(t.named_parameters())
    assert [name for name, _ in g.named_parameters()] == list(t_params)
    for name, p in g.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), t_params[name].grad.numpy(), rtol=1e-11, err_msg=name)


@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_matches_torch_values_shapes_and_gradients(backend: str, dim: int | None) -> None:
    g, t = twin("Linear", 3, 2)
    nn.utils.weight_norm(g, dim=dim)
    torch_weight_norm(t, dim=dim)
    assert g.weight_g.shape == tuple(t.weight_g.shape) and g.weight_v.shape == tuple(t.weight_v.shape)
    assert_state_equal(g, t)
    run_both(g, t, (4, 3))
    assert_grads_equal(g, t)
    np.testing.assert_allclose(g.weight.numpy(), t.weight.detach().numpy(), rtol=1e-12)


def test_weight_norm_of_a_conv_along_its_last_dim_and_load_state_dict_from_torch(backend: str) -> None:
    g, t = twin("Conv1d", 2, 3, 2)
    nn.utils.weight_norm(g, dim=2)
    torch_weight_norm(t, dim=2)
    with torch.no_grad():
        t.weight_g.mul_(1.5)  # a state no fresh weight_norm has: load_state_dict must carry it over
    assert g.load_state_dict(t.state_dict()).missing_keys == []
    run_both(g, t, (1, 2, 4))
    assert_grads_equal(g, t)


def test_remove_weight_norm_leaves_a_plain_parameter_with_torchs_value() -> None:
    g, t = twin("Linear", 3, 2)
    nn.utils.weight_norm(g)
    torch_weight_norm(t)
    with torch.no_grad():
        t.weight_g.mul_(2.0)
    g.load_state_dict(t.state_dict())
    nn.utils.remove_weight_norm(g)
    torch.nn.utils.remove_weight_norm(t)
    assert isinstance(g.weight, nn.Parameter) and not g._forward_pre_hooks
    assert_state_equal(g, t)
    run_both(g, t, (2, 3))
    assert_grads_equal(g, t)


def test_weight_norm_refuses_a_second_hook_and_removing_a_missing_one() -> None:
    g = nn.utils.weight_norm(nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="two weight_norm hooks"):
        nn.utils.weight_norm(g)
    with pytest.raises(ValueError, match="weight_norm of 'bias' not found"):
        nn.utils.remove_weight_norm(g, "bias")
    with pytest.raises(ValueError, match="no parameter 'scale'"):
        nn.utils.weight_norm(nn.Linear(3, 2), name="scale")


def spectral_twins(make: str, *args: int, **kwargs: object) -> tuple[nn.Module, torch.nn.Module]:
    g, t = twin(make, *args)
    nn.utils.spectral_norm(g, **kwargs)
    torch.nn.utils.spectral_norm(t, **kwargs)
    g.load_state_dict(t.state_dict())  # torch's random u and v
    return g, t


def test_spectral_norm_power_iteration_updates_u_v_in_training_mode_as_torch(backend: str) -> None:
    g, t = spectral_twins("Linear", 3, 4, n_power_iterations=2)
    for _ in range(2):
        g.zero_grad()
        t.zero_grad()
        run_both(g, t, (2, 3))
        assert_state_equal(g, t)
        assert_grads_equal(g, t)
    np.testing.assert_allclose(g.weight.numpy(), t.weight.detach().numpy(), rtol=1e-12)


def test_spectral_norm_in_eval_mode_leaves_u_v_unchanged(backend: str) -> None:
    g, t = spectral_twins("Linear", 3, 2)
    g.eval()
    t.eval()
    u, v = g.weight_u.numpy().copy(), g.weight_v.numpy().copy()
    for _ in range(2):
        run_both(g, t, (2, 3))
    np.testing.assert_array_equal(g.weight_u.numpy(), u)
    np.testing.assert_array_equal(g.weight_v.numpy(), v)
    assert_grads_equal(g, t)


def test_spectral_norm_of_a_conv_transpose_takes_dim_1(backend: str) -> None:
    g, t = spectral_twins("ConvTranspose1d", 2, 3, 2)
    assert g.weight_u.shape == (3,) and g.weight_v.shape == (4,)
    run_both(g, t, (1, 2, 3))
    assert_state_equal(g, t)
    assert_grads_equal(g, t)


def test_remove_spectral_norm_leaves_a_plain_parameter_with_torchs_value() -> None:
    g, t = spectral_twins("Linear", 3, 2)
    run_both(g, t, (2, 3))
    nn.utils.remove_spectral_norm(g)
    torch.nn.utils.remove_spectral_norm(t)
    assert isinstance(g.weight, nn.Parameter) and not g._forward_pre_hooks
    assert_state_equal(g, t)


def test_spectral_norm_refuses_a_second_hook_and_bad_arguments() -> None:
    g = nn.utils.spectral_norm(nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="two spectral_norm hooks"):
        nn.utils.spectral_norm(g)
    with pytest.raises(ValueError, match="spectral_norm of 'bias' not found"):
        nn.utils.remove_spectral_norm(g, "bias")
    with pytest.raises(ValueError, match="n_power_iterations"):
        nn.utils.spectral_norm(nn.Linear(3, 2), n_power_iterations=0)


def test_compiled_training_step_with_every_normalization_matches_torch(backend: str) -> None:
    def make(m: object) -> object:
        return m.Sequential(m.Linear(3, 4), m.Tanh(), m.Linear(4, 3), m.Tanh(), m.Linear(3, 2))  # type: ignore[attr-defined]

    g, t = make(nn).double(), make(torch.nn).double()
    nn.utils.weight_norm(g[0])
    torch_weight_norm(t[0])
    nn.utils.spectral_norm(g[2])
    torch.nn.utils.spectral_norm(t[2])
    nn.utils.parametrizations.weight_norm(g[4])
    torch.nn.utils.parametrizations.weight_norm(t[4])
    g.load_state_dict(t.state_dict())
    g_opt = optim.SGD(g.parameters(), lr=0.1, momentum=0.9)
    t_opt = torch.optim.SGD(t.parameters(), lr=0.1, momentum=0.9)

    @graphc.compile
    def train_step(x: graphc.Tensor) -> graphc.Tensor:
        loss = g(x).pow(2).mean()
        g_opt.zero_grad()
        loss.backward()
        g_opt.step()
        return loss

    for _ in range(3):  # an eager first call, then the compiled program twice
        x = rng.standard_normal((3, 3))
        loss = train_step(graphc.tensor(x))
        t_loss = t(torch.tensor(x)).pow(2).mean()
        t_opt.zero_grad()
        t_loss.backward()
        t_opt.step()
        assert loss.item() == pytest.approx(t_loss.item(), rel=1e-11)
        assert_state_equal(g, t, rtol=1e-11)
    assert train_step.trace_count == 2  # the first call creates the optimizer's state and runs eagerly
    np.testing.assert_allclose(g[2].weight.numpy(), t[2].weight.detach().numpy(), rtol=1e-11)


def test_compiled_forward_keeps_the_recomputed_weights_history_for_a_backward_outside(backend: str) -> None:
    g, t = twin("Linear", 3, 2)
    nn.utils.weight_norm(g)
    torch_weight_norm(t)
    compiled = graphc.compile(g)
    for _ in range(2):
        x = rng.standard_normal((2, 3))
        out, t_out = compiled(graphc.tensor(x)), t(torch.tensor(x))
        np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-12)
        (out.sum() + g.weight.pow(2).sum()).backward()  # the bound weight, as eager torch's, has history
        (t_out.sum() + t.weight.pow(2).sum()).backward()
    assert_grads_equal(g, t)
    assert compiled.trace_count == 1


# ---------------------------------------------------------------- torch's newer API: parametrize and parametrizations


def test_parametrizations_weight_norm_matches_torch_keys_values_gradients_and_removal(backend: str) -> None:
    g, t = twin("Linear", 3, 2)
    nn.utils.parametrizations.weight_norm(g, dim=1)
    torch.nn.utils.parametrizations.weight_norm(t, dim=1)
    with torch.no_grad():
        t.parametrizations.weight.original0.mul_(1.5)
    g.load_state_dict(t.state_dict())
    assert type(g).__name__ == "ParametrizedLinear" and nn.utils.parametrize.is_parametrized(g, "weight")
    assert not nn.utils.parametrize.is_parametrized(g, "bias")
    run_both(g, t, (2, 3))
    assert_state_equal(g, t)
    assert_grads_equal(g, t)
    nn.utils.parametrize.remove_parametrizations(g, "weight")
    torch.nn.utils.parametrize.remove_parametrizations(t, "weight")
    assert type(g) is nn.Linear and isinstance(g.weight, nn.Parameter)
    assert_state_equal(g, t)


class Symmetric:
    """The upper triangle mirrored, from graphc.nn or torch.nn (torch's parametrize tutorial)."""

    def __new__(cls, m: object) -> object:
        class Sym(m.Module):  # type: ignore[attr-defined, name-defined]
            def forward(self, x: object) -> object:
                return x.triu() + x.triu(1).transpose(0, 1)

            def right_inverse(self, x: object) -> object:
                return x.triu()

        return Sym()


class Doubled:
    def __new__(cls, m: object) -> object:
        class Double(m.Module):  # type: ignore[attr-defined, name-defined]
            def forward(self, x: object) -> object:
                return 2 * x

            def right_inverse(self, x: object) -> object:
                return x / 2

        return Double()


def test_register_parametrization_chains_assigns_through_right_inverse_and_removes_as_torch() -> None:
    g, t = twin("Linear", 3, 3)
    for m, module in ((nn, g), (torch.nn, t)):
        m.utils.parametrize.register_parametrization(module, "weight", Symmetric(m))
        m.utils.parametrize.register_parametrization(module, "weight", Doubled(m))
    assert_state_equal(g, t)
    run_both(g, t, (2, 3))
    assert_grads_equal(g, t)
    value = rng.standard_normal((3, 3))
    g.weight = graphc.tensor(value)
    t.weight = torch.tensor(value)
    assert_state_equal(g, t)
    np.testing.assert_allclose(g.weight.numpy(), t.weight.detach().numpy(), rtol=1e-12)
    nn.utils.parametrize.remove_parametrizations(g, "weight", leave_parametrized=False)
    torch.nn.utils.parametrize.remove_parametrizations(t, "weight", leave_parametrized=False)
    assert type(g) is nn.Linear and not hasattr(g, "parametrizations")
    assert_state_equal(g, t)


def test_register_parametrization_refuses_what_torch_refuses() -> None:
    g = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a parametrized element with name 'scale'"):
        nn.utils.parametrize.register_parametrization(g, "scale", Doubled(nn))
    with pytest.raises(ValueError, match="does not have a parametrization on weight"):
        nn.utils.parametrize.remove_parametrizations(g, "weight")
    with pytest.raises(ValueError, match="may not change the shape"):
        nn.utils.parametrize.register_parametrization(g, "weight", nn.Flatten(0))
    nn.utils.parametrize.register_parametrization(g, "bias", nn.Tanh())
    with pytest.raises(RuntimeError, match="Tanh does not implement right_inverse"):
        g.bias = graphc.zeros(2)
    nn.utils.parametrizations.weight_norm(g)
    with pytest.raises(ValueError, match="Cannot leave unparametrized"):
        nn.utils.parametrize.remove_parametrizations(g, "weight", leave_parametrized=False)


@pytest.mark.parametrize(("make", "args", "shape"), [("ConvTranspose1d", (2, 3, 2), (1, 2, 3)), ("Conv2d", (2, 3, 2), (1, 2, 3, 3))])
def test_parametrized_spectral_norm_matches_torch_and_updates_u_v_only_in_training(make: str, args: tuple[int, ...], shape: tuple[int, ...]) -> None:
    """parametrizations.spectral_norm (refused before: graphc had only the hook form): values, gradients, ``_u``/``_v`` as torch's.
    On the NumPy backend: the compiled step below runs it on Triton, whose eager kernels cost seconds a layer."""
    g, t = twin(make, *args)
    nn.utils.parametrizations.spectral_norm(g, n_power_iterations=2)
    torch.nn.utils.parametrizations.spectral_norm(t, n_power_iterations=2)
    g.load_state_dict(t.state_dict())  # torch's random u and v
    for _ in range(2):
        g.zero_grad()
        t.zero_grad()
        run_both(g, t, shape)
        assert_state_equal(g, t)
        assert_grads_equal(g, t)
    g.eval()
    t.eval()
    u = g.parametrizations.weight[0]._u.numpy().copy()
    run_both(g, t, shape)
    np.testing.assert_array_equal(g.parametrizations.weight[0]._u.numpy(), u)


def test_compiled_training_step_with_parametrized_spectral_norm_matches_torch(backend: str) -> None:
    g, t = twin("Linear", 3, 2)
    nn.utils.parametrizations.spectral_norm(g)
    torch.nn.utils.parametrizations.spectral_norm(t)
    g.load_state_dict(t.state_dict())
    g_opt, t_opt = optim.SGD(g.parameters(), lr=0.5), torch.optim.SGD(t.parameters(), lr=0.5)

    @graphc.compile
    def train_step(x: graphc.Tensor) -> graphc.Tensor:
        g_opt.zero_grad()
        loss = g(x).pow(2).mean()
        loss.backward()
        g_opt.step()
        return loss

    for _ in range(3):
        x = rng.standard_normal((2, 3))
        t_opt.zero_grad()
        t_loss = t(torch.tensor(x)).pow(2).mean()
        t_loss.backward()
        t_opt.step()
        assert train_step(graphc.tensor(x)).item() == pytest.approx(t_loss.item(), rel=1e-11)
        assert_state_equal(g, t, rtol=1e-11)


def test_parametrized_spectral_norm_refuses_what_torch_refuses() -> None:
    with pytest.raises(ValueError, match="n_power_iterations"):
        nn.utils.parametrizations.spectral_norm(nn.Linear(3, 2), n_power_iterations=0)
    with pytest.raises(IndexError, match="Dimension out of range"):
        nn.utils.parametrizations.spectral_norm(nn.Linear(3, 2), dim=2)
    with pytest.raises(ValueError, match="has no parameter or buffer with name 'scale'"):
        nn.utils.parametrizations.spectral_norm(nn.Linear(3, 2), name="scale")
