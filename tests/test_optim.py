"""graphc.optim against torch.optim: the same weights step after step, state dicts, compiled steps."""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np
import pytest
import torch
from helpers import dtype_name

import graphc
from graphc import optim
from graphc.errors import GraphcError
from graphc.frontend import lazy

# Every test here runs on each backend (numpy, and triton under TRITON_INTERPRET=1 on a CPU).
pytestmark = pytest.mark.usefixtures("numpy_kernels", "backend")  # C loops: the compiled steps below, and conftest.py

rng = np.random.default_rng(2024)
X = rng.standard_normal((16, 4))
Y = rng.standard_normal((16, 2))
INIT = [rng.standard_normal((4, 8)) * 0.5, rng.standard_normal(8) * 0.1, rng.standard_normal((8, 2)) * 0.5, rng.standard_normal(2) * 0.1]
STEPS = 20
# Under the Triton interpreter a step of these optimizers costs about a second (about 80 ms a kernel
# launch), and every step runs the same kernels. So Triton runs 7 steps: enough for every
# step-dependent branch the cases reach (RAdam's rho_t passes 5 at step 6; ASGD averages from
# step t0 + 1, at most 6 here).
TRITON_STEPS = 7


def steps(backend: str) -> int:
    return TRITON_STEPS if backend == "triton" else STEPS


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
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.1, "initial_accumulator_value": 0.3, "eps": 1e-3}),
    ("Adagrad", {"lr": 0.05, "weight_decay": 0.05, "maximize": True}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "betas": (0.3, 0.7), "eps": 1e-3, "weight_decay": 0.05, "maximize": True}),
    ("NAdam", {}),
    ("NAdam", {"lr": 0.01, "betas": (0.3, 0.6), "momentum_decay": 0.01, "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}),
    ("RAdam", {"lr": 0.01}),  # rho_t passes 5 at the 6th step: both of torch's branches are taken
    ("RAdam", {"lr": 0.01, "betas": (0.5, 0.7), "weight_decay": 0.1, "maximize": True}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.5, "eps": 1e-3, "weight_decay": 0.05, "maximize": True}),
    ("ASGD", {}),
    ("ASGD", {"lr": 0.05, "lambd": 0.01, "alpha": 0.5, "t0": 4, "weight_decay": 0.05, "maximize": True}),  # averaging from step 5
    ("Rprop", {}),
    ("Rprop", {"lr": 0.05, "etas": (0.3, 1.5), "step_sizes": (1e-3, 0.2), "maximize": True}),
    ("Adafactor", {}),
    ("Adafactor", {"lr": 0.05, "weight_decay": 0.1, "maximize": True}),
    ("Adafactor", {"eps": (1e-20, 1e-2), "d": 2.0, "beta2_decay": -0.5}),
]
# The optimizers graphc added to torch's original four; each test below runs them too.
NEW_OPTIMIZERS = ("Adagrad", "Adamax", "NAdam", "RAdam", "Adadelta", "ASGD", "Rprop", "Adafactor")


@pytest.mark.parametrize("name, options", CASES, ids=[f"{n}-{'-'.join(f'{k}={v}' for k, v in o.items()) or 'defaults'}" for n, o in CASES])
def test_matches_torch_step_after_step_in_float64(backend: str, name: str, options: dict[str, Any]) -> None:
    gp, tp = graphc_params(), torch_params()
    gopt = getattr(optim, name)(gp, **options)
    topt = getattr(torch.optim, name)(tp, **options)
    for i in range(steps(backend)):
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


FLOAT32_CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("Adam", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True}),
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.01}),
    ("Adamax", {}),
    ("NAdam", {"weight_decay": 0.01}),
    ("RAdam", {"lr": 0.01}),
    ("Adadelta", {}),
    ("ASGD", {"t0": 3}),  # eta and mu are float32 0-d state in either dtype
    ("Rprop", {}),
    ("Adafactor", {"lr": 0.05}),
]


@pytest.mark.parametrize("name, options", FLOAT32_CASES)
def test_matches_torch_in_float32(backend: str, name: str, options: dict[str, Any]) -> None:
    gp, tp = graphc_params(np.float32), torch_params(np.float32)
    gopt, topt = getattr(optim, name)(gp, **options), getattr(torch.optim, name)(tp, **options)
    for i in range(steps(backend)):
        graphc_step(gp, gopt, i, np.float32)
        torch_step(tp, topt, i, np.float32)
    assert all(p.dtype == graphc.float32 for p in gp)
    assert_same_weights(gp, tp, rtol=1e-5, atol=1e-6)


def test_param_groups_with_their_own_options(backend: str) -> None:
    gp, tp = graphc_params(), torch_params()
    gopt = optim.SGD([{"params": gp[:2]}, {"params": gp[2:], "lr": 0.02, "nesterov": True, "momentum": 0.5}], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([{"params": tp[:2]}, {"params": tp[2:], "lr": 0.02, "nesterov": True, "momentum": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in gopt.param_groups] == [0.1, 0.02]
    for i in range(steps(backend)):
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


def test_compiled_step_reads_a_tensor_lr_put_in_place_of_another() -> None:
    """A compiled step read the group's lr tensor of its trace for ever: an lr tensor assigned in its place
    (or loaded with a state dict) was not seen, and the step kept the old lr. The tensor's identity is now
    part of the guard; a tensor changed in place (a scheduler's ``fill_``) still needs no new trace."""
    gp, tp = graphc_params(), torch_params()
    gopt = optim.Adam(gp, lr=graphc.tensor(0.01, dtype=graphc.float64))
    topt = torch.optim.Adam(tp, lr=torch.tensor(0.01, dtype=torch.float64))

    def train_step(x: graphc.Tensor, y: graphc.Tensor) -> None:
        gopt.zero_grad()
        mlp_loss(gp, x, y).backward()
        gopt.step()

    compiled = graphc.compile(train_step)
    for i in range(8):
        if i == 2:
            gopt.param_groups[0]["lr"].fill_(0.02)
            topt.param_groups[0]["lr"].fill_(0.02)
        if i == 4:
            gopt.param_groups[0]["lr"] = graphc.tensor(0.005, dtype=graphc.float64)
            topt.param_groups[0]["lr"] = torch.tensor(0.005, dtype=torch.float64)
        if i == 6:
            saved = optim.Adam(graphc_params(), lr=graphc.tensor(0.001, dtype=graphc.float64)).state_dict()
            gopt.load_state_dict({"state": gopt.state_dict()["state"], "param_groups": saved["param_groups"]})
            topt.param_groups[0]["lr"] = torch.tensor(0.001, dtype=torch.float64)
        compiled(graphc.tensor(X[batch(i)]), graphc.tensor(Y[batch(i)]))
        torch_step(tp, topt, i)
    assert_same_weights(gp, tp)
    assert compiled.trace_count <= 3, compiled.recompilations  # the first trace, then one per lr tensor put in place


def _hooked(opt: Any, calls: list[str]) -> list[Any]:
    """The same hooks on a graphc or torch optimizer: clip gradients before a step, count steps,
    tag and untag state dicts; returns the handles."""

    def clip(optimizer: Any, args: tuple, kwargs: dict) -> None:
        calls.append("pre")
        for group in optimizer.param_groups:
            for p in group["params"]:
                p.grad.mul_(0.5)

    def add_tag(optimizer: Any, state_dict: dict) -> dict:
        return {**state_dict, "tag": len(calls)}

    def drop_tag(optimizer: Any, state_dict: dict) -> dict:
        calls.append(f"load {state_dict.pop('tag')}")
        return state_dict

    return [
        opt.register_step_pre_hook(clip),
        opt.register_step_post_hook(lambda optimizer, args, kwargs: calls.append("post")),
        opt.register_state_dict_pre_hook(lambda optimizer: calls.append("save")),
        opt.register_state_dict_post_hook(add_tag),
        opt.register_load_state_dict_pre_hook(drop_tag),
        opt.register_load_state_dict_post_hook(lambda optimizer: calls.append("loaded"), prepend=True),
    ]


def test_step_and_state_dict_hooks_as_torch() -> None:
    """torch's optimizer hooks (graphc had none): a pre-hook's gradient clipping is part of the update,
    post-hooks and state dict hooks see and change what torch's do, and the handles remove them."""
    gp, tp = graphc_params(), torch_params()
    gopt, topt = optim.Adam(gp, lr=0.01), torch.optim.Adam(tp, lr=0.01)
    gcalls: list[str] = []
    tcalls: list[str] = []
    handles = _hooked(gopt, gcalls) + _hooked(topt, tcalls)
    for i in range(3):
        graphc_step(gp, gopt, i)
        torch_step(tp, topt, i)
    gopt.load_state_dict(gopt.state_dict())
    topt.load_state_dict(topt.state_dict())
    assert gcalls == tcalls == ["pre", "post"] * 3 + ["save", "load 7", "loaded"]
    assert_same_weights(gp, tp)
    for handle in handles:
        handle.remove()
    for i in range(3, 5):
        graphc_step(gp, gopt, i)
        torch_step(tp, topt, i)
    assert "tag" not in gopt.state_dict() and len(gcalls) == 9
    assert_same_weights(gp, tp)


def test_a_step_pre_hook_is_part_of_a_compiled_step() -> None:
    gp, tp = graphc_params(), torch_params()
    gopt, topt = optim.SGD(gp, lr=0.1, momentum=0.9), torch.optim.SGD(tp, lr=0.1, momentum=0.9)

    def scale_gradients(optimizer: Any, args: tuple, kwargs: dict) -> None:
        for group in optimizer.param_groups:
            for p in group["params"]:
                p.grad.mul_(0.25)

    gopt.register_step_pre_hook(scale_gradients)
    topt.register_step_pre_hook(scale_gradients)

    def train_step(x: graphc.Tensor, y: graphc.Tensor) -> None:
        gopt.zero_grad()
        mlp_loss(gp, x, y).backward()
        gopt.step()

    compiled = graphc.compile(train_step)
    for i in range(6):
        compiled(graphc.tensor(X[batch(i)]), graphc.tensor(Y[batch(i)]))
        torch_step(tp, topt, i)
    assert_same_weights(gp, tp)
    assert compiled.trace_count <= 2, compiled.recompilations


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
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.01}),
    ("RAdam", {"lr": 0.01}),
    ("ASGD", {"lr": 0.05, "t0": 2}),
    ("Rprop", {"lr": 0.01}),
]  # not NAdam: loading casts its float32 mu_product to float64 (as torch's does), so it resumes on other roundings


# The state dict is host bookkeeping, and the updates it resumes are the kernels the tests above run
# on every backend: these two run on NumPy only.
@pytest.mark.parametrize("backend", ["numpy"], indirect=True)
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


@pytest.mark.parametrize("backend", ["numpy"], indirect=True)
@pytest.mark.parametrize(
    "name, options",
    [
        ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
        ("Adagrad", {"lr": 0.05, "lr_decay": 0.01}),
        ("NAdam", {"lr": 0.01}),
        ("ASGD", {"lr": 0.05, "t0": 2}),
        ("Rprop", {"lr": 0.01}),
    ],
)
def test_load_state_dict_from_torch_continues_like_torch(name: str, options: dict[str, Any]) -> None:
    """Like a torch optimizer that loads the same dict: both cast the state to the parameters' dtype
    (NAdam's mu_product, ASGD's eta and mu become float64, and ASGD still rounds new etas to float32)."""
    tp = torch_params()
    topt = getattr(torch.optim, name)(tp, **options)
    for i in range(4):
        torch_step(tp, topt, i)
    gp = [graphc.tensor(t.detach().numpy(), requires_grad=True) for t in tp]
    resumed = [t.detach().clone().requires_grad_() for t in tp]
    gopt, ropt = getattr(optim, name)(gp, lr=0.5), getattr(torch.optim, name)(resumed, lr=0.5)
    gopt.load_state_dict(topt.state_dict())
    ropt.load_state_dict(topt.state_dict())
    assert gopt.param_groups[0]["lr"] == options["lr"]
    assert all(gopt.param_groups[0][key] == value for key, value in ropt.param_groups[0].items() if key != "params")
    for g, t in zip(gp, resumed):
        assert {k: v.dtype.name for k, v in gopt.state[g].items()} == {k: dtype_name(v.dtype) for k, v in ropt.state[t].items()}
    for i in range(4, 10):
        graphc_step(gp, gopt, i)
        torch_step(resumed, ropt, i)
    assert_same_weights(gp, resumed)


def test_load_state_dict_replaces_the_groups_options_as_torch() -> None:
    """torch's load_state_dict replaces each group's options by the saved ones. graphc only assigned the saved
    keys, so a scheduler's ``initial_lr`` from before the load stayed, and a scheduler made after the load
    started from that stale lr instead of the checkpoint's."""
    gopt, topt = optim.SGD(graphc_params(), lr=0.1), torch.optim.SGD(torch_params(), lr=0.1)
    graphc.optim.lr_scheduler.StepLR(gopt, 2)
    torch.optim.lr_scheduler.StepLR(topt, 2)
    gopt.load_state_dict(optim.SGD(graphc_params(), lr=0.2, momentum=0.5).state_dict())
    topt.load_state_dict(torch.optim.SGD(torch_params(), lr=0.2, momentum=0.5).state_dict())
    assert "initial_lr" not in gopt.param_groups[0] and "initial_lr" not in topt.param_groups[0]
    assert all(topt.param_groups[0][key] == value for key, value in gopt.param_groups[0].items() if key != "params")
    gs, ts = graphc.optim.lr_scheduler.StepLR(gopt, 2, 0.5), torch.optim.lr_scheduler.StepLR(topt, 2, 0.5)
    assert gs.base_lrs == ts.base_lrs == [0.2]
    # An option this optimizer has and the checkpoint lacks (an older torch's) takes its default, as torch's __setstate__ gives.
    old_group = {"lr": 0.3, "momentum": 0.0, "dampening": 0, "weight_decay": 0, "nesterov": False, "params": [0, 1, 2, 3]}
    gopt.load_state_dict({"state": {}, "param_groups": [old_group]})
    assert gopt.param_groups[0]["maximize"] is False and gopt.param_groups[0]["lr"] == 0.3
    # The parameters' names stay when the checkpoint has none; a tensor lr is copied, not shared with the source.
    named = optim.SGD([(f"p{i}", p) for i, p in enumerate(graphc_params())], lr=0.1)
    source = optim.SGD(graphc_params(), lr=graphc.tensor(0.2, dtype=graphc.float64))
    named.load_state_dict(source.state_dict())
    assert named.param_groups[0]["param_names"] == ["p0", "p1", "p2", "p3"]
    assert named.param_groups[0]["lr"] is not source.param_groups[0]["lr"] and named.param_groups[0]["lr"].item() == 0.2


@pytest.mark.parametrize("name", ["Adam", "AdamW", "NAdam", "Adamax", "Adagrad"])
def test_float32_tensor_learning_rate_rounds_the_step_as_torch(name: str) -> None:
    """torch computes a tensor lr's step size (``lr / bias_correction``, AdamW's ``1 - lr * weight_decay``)
    in the lr's dtype, so a float32 lr rounds it to float32. graphc computed it in float64: Adam's
    float64 weights were 1e-7 off torch's after six steps."""
    gp, tp = graphc_params(), torch_params()
    gopt, topt = getattr(optim, name)(gp, lr=graphc.tensor(0.01)), getattr(torch.optim, name)(tp, lr=torch.tensor(0.01))
    assert gopt.param_groups[0]["lr"].dtype == graphc.float32
    for i in range(6):
        graphc_step(gp, gopt, i)
        torch_step(tp, topt, i)
    assert_same_weights(gp, tp, rtol=1e-13, atol=1e-15)


def test_adagrad_state_exists_from_construction_as_in_torch() -> None:
    gp, tp = graphc_params(), torch_params()
    gopt, topt = optim.Adagrad(gp, initial_accumulator_value=0.25), torch.optim.Adagrad(tp, initial_accumulator_value=0.25)
    gsd, tsd = gopt.state_dict(), topt.state_dict()
    assert list(gsd["state"]) == list(tsd["state"]) == [0, 1, 2, 3]
    for index, values in tsd["state"].items():
        for key, value in values.items():
            np.testing.assert_array_equal(gsd["state"][index][key].numpy(), value.numpy())


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
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.01, "weight_decay": 0.01}),
    ("Adamax", {"lr": 0.01}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"lr": 0.01}),
    ("Adadelta", {"weight_decay": 0.01}),
    ("ASGD", {"lr": 0.05, "t0": 5}),
    ("Rprop", {"lr": 0.01}),
    ("Adafactor", {"lr": 0.05, "weight_decay": 0.01}),
]


@pytest.mark.parametrize("name, options", COMPILED_CASES, ids=[n + str(i) for i, (n, _) in enumerate(COMPILED_CASES)])
def test_compiled_training_step_matches_eager(backend: str, name: str, options: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHC_NATIVE", "1")  # every optimizer's update in C loops (on the NumPy backend)
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
    for i in range(steps(backend)):
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


@pytest.mark.parametrize("name", NEW_OPTIMIZERS)
def test_update_of_parameters_of_one_shape_fuses_and_traces_once(name: str) -> None:
    """Like Adam's: the update is elementwise graph ops that fuse, and its state is made from data
    (Rprop's step sizes, ASGD's eta, NAdam's mu_product included), so the first call traces.
    Adafactor's norms and factor means are reductions: a few kernels per parameter."""
    rng = np.random.default_rng(0)
    params = [graphc.tensor(rng.standard_normal((8, 5)), requires_grad=True) for _ in range(4)]
    grads = [graphc.tensor(rng.standard_normal((8, 5))) for _ in range(4)]
    opt = getattr(optim, name)(params)

    def step() -> None:
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()

    update = graphc.compile(step)
    for _ in range(3):
        update()
    assert update.trace_count == 1, update.recompilations
    assert update.report().num_kernels <= (5 * len(params) if name == "Adafactor" else 2), str(update.report())


def _grouped(params: list[Any], name: str) -> list[dict[str, Any]]:
    """Two groups of different options (Rprop has no ``maximize`` to vary with a group's own options)."""
    second = {"lr": 0.003, "etas": (0.4, 1.1)} if name == "Rprop" else {"lr": 0.003, "maximize": True}
    return [{"params": params[:2]}, {"params": params[2:], **second}]


@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
@pytest.mark.parametrize("name", NEW_OPTIMIZERS)
def test_groups_unused_parameters_and_zeroed_gradients_as_torch(name: str, compiled: bool) -> None:
    """Param groups of their own options; a parameter without a gradient (skipped, no state but Adagrad's,
    made at construction, as torch's); ``zero_grad(set_to_none=False)``; then a group added mid-training."""
    unused = rng.standard_normal(3)
    gp, tp = [*graphc_params(), graphc.tensor(unused, requires_grad=True)], [*torch_params(), torch.tensor(unused, requires_grad=True)]
    gopt, topt = getattr(optim, name)(_grouped(gp[:4], name)), getattr(torch.optim, name)(_grouped(tp[:4], name))

    def step(x: graphc.Tensor, y: graphc.Tensor) -> graphc.Tensor:
        gopt.zero_grad(set_to_none=False)
        loss = mlp_loss(gp[:4], x, y)
        loss.backward()
        gopt.step()
        return loss

    run = graphc.compile(step) if compiled else step
    for i in range(8):
        if i == 4:
            gopt.add_param_group({"params": [gp[4]], "lr": 0.02})
            topt.add_param_group({"params": [tp[4]], "lr": 0.02})
        run(graphc.tensor(X[batch(i)]), graphc.tensor(Y[batch(i)]))
        topt.zero_grad(set_to_none=False)
        mlp_loss(tp[:4], torch.tensor(X[batch(i)]), torch.tensor(Y[batch(i)])).backward()
        topt.step()
    assert_same_weights(gp, tp)
    assert gp[4].grad is None and tp[4].grad is None
    assert [gopt.state_dict()["state"].keys()] == [topt.state_dict()["state"].keys()]
    if compiled:
        assert run.trace_count <= 3, run.recompilations  # .grad None on the first call only; once more for the new group


@pytest.mark.parametrize("shape", [(3, 4, 5), (), (7,)], ids=["batch-of-matrices", "0-d", "vector"])
def test_adafactor_factors_as_torch_for_every_rank(shape: tuple[int, ...]) -> None:
    """Row and column factors over the last two axes of a parameter of rank 2 or more, a full variance below."""
    values = np.random.default_rng(1)
    start, grads = values.standard_normal(shape), [values.standard_normal(shape) for _ in range(6)]
    gp, tp = graphc.tensor(start, requires_grad=True), torch.tensor(start, requires_grad=True)
    gopt, topt = optim.Adafactor([gp], lr=0.05), torch.optim.Adafactor([tp], lr=0.05)
    for grad in grads:
        gp.grad, tp.grad = graphc.tensor(grad), torch.tensor(grad)
        gopt.step()
        topt.step()
    assert_same_weights([gp], [tp])
    assert {k: tuple(v.shape) for k, v in gopt.state[gp].items()} == {k: tuple(v.shape) for k, v in topt.state[tp].items()}


def test_a_none_in_a_tuple_option_is_guarded_by_a_compiled_step() -> None:
    """Adafactor's ``eps[0]`` of None means the dtype's epsilon, a formula: a compiled step traces again
    when it becomes a number (tuple options counted as plain mirrored numbers before), and a number
    changing to another reaches the step through its mirror without a new trace."""
    gp, tp = graphc_params(), torch_params()
    gopt, topt = optim.Adafactor(gp, lr=0.05), torch.optim.Adafactor(tp, lr=0.05)

    def train_step(x: graphc.Tensor, y: graphc.Tensor) -> None:
        gopt.zero_grad()
        mlp_loss(gp, x, y).backward()
        gopt.step()

    compiled = graphc.compile(train_step)
    for i in range(8):
        if i in (3, 5):
            for opt in (gopt, topt):
                opt.param_groups[0]["eps"] = (0.05 * (i - 2), 1e-3)  # large enough to clamp this model's moments
        compiled(graphc.tensor(X[batch(i)]), graphc.tensor(Y[batch(i)]))
        torch_step(tp, topt, i)
    assert_same_weights(gp, tp)
    assert compiled.trace_count == 2, compiled.recompilations


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


BAD_ARGUMENTS = [
    ("SGD", {"lr": -1.0}),
    ("SGD", {"fused": True, "foreach": True}),
    ("Adam", {"lr": "two elements"}),
    ("Adam", {"fused": True, "foreach": True}),
    ("AdamW", {"eps": -1.0}),
    ("RMSprop", {"lr": "two elements"}),
    ("Adagrad", {"lr_decay": -0.1}),
    ("Adagrad", {"initial_accumulator_value": -0.1}),
    ("Adagrad", {"eps": -1.0}),
    ("Adagrad", {"fused": True, "foreach": True}),
    ("Adamax", {"betas": (1.0, 0.9)}),
    ("Adamax", {"weight_decay": -0.1}),
    ("NAdam", {"momentum_decay": -0.1}),
    ("NAdam", {"betas": (0.9, 1.0)}),
    ("RAdam", {"eps": -1.0}),
    ("RAdam", {"lr": "two elements"}),
    ("Adadelta", {"rho": 1.5}),
    ("Adadelta", {"lr": -1.0}),
    ("ASGD", {"weight_decay": -0.1}),
    ("Rprop", {"etas": (1.2, 0.5)}),
    ("Rprop", {"etas": (0.5, 1.0)}),
    ("Adafactor", {"lr": -1.0}),
    ("Adafactor", {"beta2_decay": 0.5}),
    ("Adafactor", {"eps": (-1.0, 1e-3)}),
    ("Adafactor", {"eps": (None, -1.0)}),
    ("Adafactor", {"d": 0.5}),
]


@pytest.mark.parametrize("name, options", BAD_ARGUMENTS, ids=[f"{n}-{next(iter(o))}" for n, o in BAD_ARGUMENTS])
def test_bad_arguments_raise_torchs_error(name: str, options: dict[str, Any]) -> None:
    def made(library: Any) -> dict[str, Any]:
        return {key: library.tensor([0.1, 0.2]) if value == "two elements" else value for key, value in options.items()}

    with pytest.raises(Exception) as theirs:
        getattr(torch.optim, name)(torch_params(), **made(torch))
    with pytest.raises(type(theirs.value), match=re.escape(str(theirs.value))):
        getattr(optim, name)(graphc_params(), **made(graphc))


@pytest.mark.parametrize("name", ["Adam", "AdamW", "Adamax", "NAdam", "RAdam"])
def test_tensor_betas_are_refused_not_read_once(name: str) -> None:
    """torch reads tensor betas on every step; graphc took their values once, at construction, so changing
    them in place silently changed nothing. They are refused, naming the optimizer (numbers assigned to
    ``group["betas"]`` reach a compiled step without a new trace)."""
    betas = (graphc.tensor(0.9, dtype=graphc.float64), graphc.tensor(0.99, dtype=graphc.float64))
    with pytest.raises(GraphcError, match=f"{name}: betas must be Python numbers"):
        getattr(optim, name)(graphc_params(), betas=betas)
    with pytest.raises(GraphcError, match="not tensors"):
        getattr(optim, name)(graphc_params(), betas=(torch.tensor(0.9), 0.99))


def test_defaults_and_repr_follow_torch() -> None:
    params = graphc_params()
    for name in ("SGD", "Adam", "AdamW", "RMSprop", *NEW_OPTIMIZERS):
        ours = getattr(optim, name)(params).param_groups[0]
        theirs = getattr(torch.optim, name)(torch_params()).param_groups[0]
        for key, value in ours.items():
            if key != "params":
                assert theirs[key] == value, (name, key)
    assert repr(optim.SGD(params, lr=0.5)).startswith("SGD (\nParameter Group 0\n    dampening: 0\n    lr: 0.5\n")
