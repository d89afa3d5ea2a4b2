"""graphc.optim against torch.optim: the same weights after 20 steps, state dicts, compiled steps."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import torch

import graphc
from graphc import optim
from graphc.frontend import lazy

# Every test here runs on each backend (numpy, and triton under TRITON_INTERPRET=1 on a CPU).
pytestmark = pytest.mark.usefixtures("backend")

rng = np.random.default_rng(2024)
X = rng.standard_normal((16, 4))
Y = rng.standard_normal((16, 2))
INIT = [rng.standard_normal((4, 8)) * 0.5, rng.standard_normal(8) * 0.1, rng.standard_normal((8, 2)) * 0.5, rng.standard_normal(2) * 0.1]
STEPS = 20


def batch(i: int) -> slice:
    return slice((i % 4) * 4, (i % 4) * 4 + 4)


def mlp_loss(params: list[Any], x: Any, y: Any) -> Any:
    """The same two-layer tanh MLP and MSE loss for graphc and torch tensors."""
    w1, b1, w2, b2 = params
    hidden = (x @ w1 + b1).tanh()
    return ((hidden @ w2 + b2 - y) ** 2).mean()


def graphc_params(dtype: Any = np.float64) -> list[graphc.Tensor]:
    return [graphc.tensor(a.astype(dtype), requires_grad=True) for a in INIT]


def torch_params(dtype: Any = np.float64) -> list[torch.Tensor]:
    return [torch.tensor(a.astype(dtype), requires_grad=True) for a in INIT]


def graphc_step(params: list[graphc.Tensor], opt: optim.Optimizer, i: int, dtype: Any = np.float64) -> graphc.Tensor:
    opt.zero_grad()
    loss = mlp_loss(params, graphc.tensor(X[batch(i)].astype(dtype)), graphc.tensor(Y[batch(i)].astype(dtype)))
    loss.backward()
    opt.step()
    return loss


def torch_step(params: list[torch.Tensor], opt: torch.optim.Optimizer, i: int, dtype: Any = np.float64) -> torch.Tensor:
    opt.zero_grad()
    loss = mlp_loss(params, torch.tensor(X[batch(i)].astype(dtype)), torch.tensor(Y[batch(i)].astype(dtype)))
    loss.backward()
    opt.step()
    return loss


def assert_same_weights(gp: list[graphc.Tensor], tp: list[torch.Tensor], rtol: float = 1e-10, atol: float = 1e-12) -> None:
    for g, t in zip(gp, tp):
        np.testing.assert_allclose(g.numpy(), t.detach().numpy(), rtol=rtol, atol=atol)


CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.05}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.05, "nesterov": True, "momentum": 0.5}),
    ("SGD", {"lr": 0.01, "momentum": 0.9, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "betas": (0.3, 0.6), "eps": 1e-3, "amsgrad": True, "weight_decay": 0.1, "maximize": True}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.3, "amsgrad": True}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.7}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.3, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"lr": 0.001, "maximize": True, "eps": 1e-4}),
]


@pytest.mark.parametrize("name, options", CASES, ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in o.items()) or 'defaults'}" for n, o in CASES])
def test_matches_torch_for_20_steps_in_float64(name: str, options: dict[str, Any]) -> None:
    gp, tp = graphc_params(), torch_params()
    gopt = getattr(optim, name)(gp, **options)
    topt = getattr(torch.optim, name)(tp, **options)
    for i in range(STEPS):
        loss = graphc_step(gp, gopt, i)
        expected = torch_step(tp, topt, i)
        assert loss.item() == pytest.approx(expected.item(), rel=1e-10)
    assert_same_weights(gp, tp)
    for g, t in zip(gp, tp):
        gstate, tstate = gopt.state[g], topt.state[t]
        assert list(gstate) == list(tstate)
        for key in tstate:
            np.testing.assert_allclose(gstate[key].numpy(), tstate[key].numpy(), rtol=1e-10, atol=1e-12)
            assert gstate[key].dtype.name == str(tstate[key].dtype).removeprefix("torch.")


@pytest.mark.parametrize("name, options", [("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 0.01}), ("RMSprop", {"lr": 0.01, "centered": True})])
def test_matches_torch_in_float32(name: str, options: dict[str, Any]) -> None:
    gp, tp = graphc_params(np.float32), torch_params(np.float32)
    gopt, topt = getattr(optim, name)(gp, **options), getattr(torch.optim, name)(tp, **options)
    for i in range(STEPS):
        graphc_step(gp, gopt, i, np.float32)
        torch_step(tp, topt, i, np.float32)
    assert all(p.dtype == graphc.float32 for p in gp)
    assert_same_weights(gp, tp, rtol=1e-5, atol=1e-6)


def test_param_groups_with_their_own_options() -> None:
    gp, tp = graphc_params(), torch_params()
    gopt = optim.SGD([{"params": gp[:2]}, {"params": gp[2:], "lr": 0.02, "nesterov": True, "momentum": 0.5}], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([{"params": tp[:2]}, {"params": tp[2:], "lr": 0.02, "nesterov": True, "momentum": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in gopt.param_groups] == [0.1, 0.02]
    for i in range(STEPS):
        graphc_step(gp, gopt, i)
        torch_step(tp, topt, i)
    assert_same_weights(gp, tp)


def test_learning_rate_changed_between_steps() -> None:
    gp, tp = graphc_params(), torch_params()
    gopt, topt = optim.Adam(gp, lr=0.01), torch.optim.Adam(tp, lr=0.01)
    for i in range(10):
        for opt in (gopt, topt):
            for group in opt.param_groups:
                group["lr"] = 0.01 * 0.8**i
                group["betas"] = (0.9, 0.99 if i > 4 else 0.999)
        graphc_step(gp, gopt, i)
        torch_step(tp, topt, i)
    assert_same_weights(gp, tp)


def test_parameters_without_grad_are_skipped() -> None:
    gp = graphc_params()
    frozen = graphc.tensor(np.ones(3), requires_grad=True)
    opt = optim.Adam([*gp, frozen], lr=0.1)
    graphc_step(gp, opt, 0)
    assert frozen not in opt.state
    np.testing.assert_array_equal(frozen.numpy(), np.ones(3))
    assert len(opt.state) == 4


def test_step_realizes_parameters_state_and_gradients_together() -> None:
    gp = graphc_params()
    opt = optim.Adam(gp, lr=0.01)
    graphc_step(gp, opt, 0)
    before = lazy.compile_count
    graphc_step(gp, opt, 1)
    graphc_step(gp, opt, 2)
    assert lazy.compile_count - before <= 1  # the second step's program is reused by the third
    for p in gp:
        assert p._node.data is not None and p._node.op == "input" and p.is_leaf and p.requires_grad
        assert p.grad is not None and p.grad._node.data is not None
        assert all(v._node.data is not None for v in opt.state[p].values())


def test_zero_grad_set_to_none_false_keeps_zero_tensors() -> None:
    gp = graphc_params()
    opt = optim.SGD(gp, lr=0.1)
    graphc_step(gp, opt, 0)
    opt.zero_grad(set_to_none=False)
    for p in gp:
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(p.shape))
    opt.zero_grad()
    assert all(p.grad is None for p in gp)


def test_step_with_closure_matches_torch() -> None:
    gp, tp = graphc_params(), torch_params()
    gopt, topt = optim.SGD(gp, lr=0.1, momentum=0.9), torch.optim.SGD(tp, lr=0.1, momentum=0.9)
    for i in range(5):

        def gclosure(i: int = i) -> graphc.Tensor:
            gopt.zero_grad()
            loss = mlp_loss(gp, graphc.tensor(X[batch(i)]), graphc.tensor(Y[batch(i)]))
            loss.backward()
            return loss

        def tclosure(i: int = i) -> torch.Tensor:
            topt.zero_grad()
            loss = mlp_loss(tp, torch.tensor(X[batch(i)]), torch.tensor(Y[batch(i)]))
            loss.backward()
            return loss

        loss = gopt.step(gclosure)
        assert loss._node.data is not None
        assert loss.item() == pytest.approx(topt.step(tclosure).item(), rel=1e-12)
    assert_same_weights(gp, tp)


def test_tensor_learning_rate_as_in_torch() -> None:
    gp, tp = graphc_params(), torch_params()
    glr, tlr = graphc.tensor(0.05, dtype=graphc.float64), torch.tensor(0.05, dtype=torch.float64)
    gopt, topt = optim.SGD(gp, lr=glr), torch.optim.SGD(tp, lr=tlr)
    for i in range(4):
        graphc_step(gp, gopt, i)
        torch_step(tp, topt, i)
        glr.fill_(0.05 / (i + 2))
        tlr.fill_(0.05 / (i + 2))
    assert_same_weights(gp, tp)


# ---------------------------------------------------------------------- state dicts


def test_state_dict_has_torchs_structure() -> None:
    gp, tp = graphc_params(), torch_params()
    gopt, topt = optim.Adam(gp, lr=0.01, amsgrad=True), torch.optim.Adam(tp, lr=0.01, amsgrad=True)
    for i in range(3):
        graphc_step(gp, gopt, i)
        torch_step(tp, topt, i)
    gsd, tsd = gopt.state_dict(), topt.state_dict()
    assert set(gsd) == {"state", "param_groups"}
    assert list(gsd["state"]) == list(tsd["state"]) == [0, 1, 2, 3]
    for index, values in tsd["state"].items():
        assert list(gsd["state"][index]) == list(values)
        for key, value in values.items():
            np.testing.assert_allclose(gsd["state"][index][key].numpy(), value.numpy(), rtol=1e-10, atol=1e-12)
    (ggroup,), (tgroup,) = gsd["param_groups"], tsd["param_groups"]
    assert ggroup["params"] == tgroup["params"] == [0, 1, 2, 3]
    for key, value in ggroup.items():
        assert tgroup[key] == value, key


ROUND_TRIP_CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}),
]


@pytest.mark.parametrize("name, options", ROUND_TRIP_CASES)
def test_state_dict_round_trip_through_save_and_load(name: str, options: dict[str, Any]) -> None:
    gp = graphc_params()
    opt = getattr(optim, name)(gp, **options)
    for i in range(5):
        graphc_step(gp, opt, i)
    buffer = io.BytesIO()
    graphc.save({"params": [p for p in gp], "optim": opt.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = graphc.load(buffer)
    resumed_params = [graphc.tensor(p.numpy(), requires_grad=True) for p in checkpoint["params"]]
    resumed = getattr(optim, name)(resumed_params, lr=123.0)
    resumed.load_state_dict(checkpoint["optim"])
    assert resumed.param_groups[0]["lr"] == options["lr"]
    for i in range(5, 10):
        graphc_step(gp, opt, i)
        graphc_step(resumed_params, resumed, i)
    for a, b in zip(gp, resumed_params):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_load_state_dict_from_torch_continues_like_torch() -> None:
    gp, tp = graphc_params(), torch_params()
    topt = torch.optim.RMSprop(tp, lr=0.01, momentum=0.5, centered=True)
    for i in range(4):
        torch_step(tp, topt, i)
    gp = [graphc.tensor(t.detach().numpy(), requires_grad=True) for t in tp]
    gopt = optim.RMSprop(gp, lr=0.5)
    gopt.load_state_dict(topt.state_dict())
    assert gopt.param_groups[0]["lr"] == 0.01 and gopt.param_groups[0]["centered"]
    for i in range(4, 10):
        graphc_step(gp, gopt, i)
        torch_step(tp, topt, i)
    assert_same_weights(gp, tp)


def test_load_state_dict_checks_group_sizes() -> None:
    opt = optim.SGD(graphc_params(), lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict({"state": {}, "param_groups": [{"lr": 0.1, "params": [0]}]})
    with pytest.raises(ValueError, match="number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": []})


# ---------------------------------------------------------------------- graphc.compile


COMPILED_CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}),
]


@pytest.mark.parametrize("name, options", COMPILED_CASES, ids=[n + str(i) for i, (n, _) in enumerate(COMPILED_CASES)])
def test_compiled_training_step_matches_eager(name: str, options: dict[str, Any]) -> None:
    eager_params, compiled_params = graphc_params(), graphc_params()
    eager_opt = getattr(optim, name)(eager_params, **options)
    compiled_opt = getattr(optim, name)(compiled_params, **options)

    def train_step(x: graphc.Tensor, y: graphc.Tensor) -> graphc.Tensor:
        compiled_opt.zero_grad()
        loss = mlp_loss(compiled_params, x, y)
        loss.backward()
        compiled_opt.step()
        return loss

    compiled = graphc.compile(train_step)
    for i in range(STEPS):
        expected = graphc_step(eager_params, eager_opt, i)
        loss = compiled(graphc.tensor(X[batch(i)]), graphc.tensor(Y[batch(i)]))
        assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    assert compiled.trace_count <= 2, compiled.recompilations
    for a, b in zip(eager_params, compiled_params):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-12, atol=1e-14)
    for a, b in zip(eager_params, compiled_params):
        for key, value in eager_opt.state[a].items():
            np.testing.assert_allclose(compiled_opt.state[b][key].numpy(), value.numpy(), rtol=1e-12, atol=1e-14)


def test_compiled_step_follows_learning_rate_changes_without_retracing() -> None:
    gp, tp = graphc_params(), torch_params()
    gopt, topt = optim.Adam(gp, lr=0.01), torch.optim.Adam(tp, lr=0.01)

    def train_step(x: graphc.Tensor, y: graphc.Tensor) -> None:
        loss = mlp_loss(gp, x, y)
        loss.backward()
        gopt.step()

    compiled = graphc.compile(train_step)
    traces = []
    for i in range(8):
        lr = 0.01 * 0.7**i
        gopt.param_groups[0]["lr"] = lr
        topt.param_groups[0]["lr"] = lr
        gopt.zero_grad()
        compiled(graphc.tensor(X[batch(i)]), graphc.tensor(Y[batch(i)]))
        torch_step(tp, topt, i)
        traces.append(compiled.trace_count)
    assert traces[-1] <= 2 and traces[1:] == [traces[1]] * 7, compiled.recompilations
    assert_same_weights(gp, tp)


def test_compiled_step_after_load_state_dict_reads_the_loaded_state() -> None:
    gp, tp = graphc_params(), torch_params()
    gopt, topt = optim.SGD(gp, lr=0.1, momentum=0.9), torch.optim.SGD(tp, lr=0.1, momentum=0.9)

    def train_step(x: graphc.Tensor, y: graphc.Tensor) -> None:
        mlp_loss(gp, x, y).backward()
        gopt.step()

    compiled = graphc.compile(train_step)
    for i in range(6):
        if i == 3:  # replace the momentum buffers with torch's (equal) ones, mid-run
            gopt.load_state_dict(topt.state_dict())
        gopt.zero_grad()
        compiled(graphc.tensor(X[batch(i)]), graphc.tensor(Y[batch(i)]))
        torch_step(tp, topt, i)
    assert_same_weights(gp, tp)
    assert compiled.trace_count <= 2, compiled.recompilations


# ---------------------------------------------------------------------- argument checks


def test_invalid_arguments_are_refused_as_in_torch() -> None:
    params = graphc_params()
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.SGD(params, lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        optim.SGD(params, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        optim.Adam(params, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.RMSprop([])
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(params[0], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": params[:2]}, {"params": params[1:]}], lr=0.1)


def test_defaults_and_repr_follow_torch() -> None:
    params = graphc_params()
    for name in ("SGD", "Adam", "AdamW", "RMSprop"):
        ours = getattr(optim, name)(params).param_groups[0]
        theirs = getattr(torch.optim, name)(torch_params()).param_groups[0]
        for key, value in ours.items():
            if key != "params":
                assert theirs[key] == value, (name, key)
    assert repr(optim.SGD(params, lr=0.5)).startswith("SGD (\nParameter Group 0\n    dampening: 0\n    lr: 0.5\n")
