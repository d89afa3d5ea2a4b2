"""graphc.optim.Muon against torch.optim.Muon: the same weights step after step (its bfloat16 Newton–Schulz
iterations included), compiled steps, state dicts and argument errors."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
import torch

import graphc
from graphc import optim

rng = np.random.default_rng(2024)
X = rng.standard_normal((16, 4))
Y = rng.standard_normal((16, 2))
# A wide and a tall matrix: torch orthogonalizes the tall one's transpose.
INIT = [rng.standard_normal((4, 8)) * 0.5, rng.standard_normal((8, 2)) * 0.5]


def batch(i: int) -> slice:
    return slice((i % 4) * 4, (i % 4) * 4 + 4)


def loss_of(params: list[Any], x: Any, y: Any) -> Any:
    """A bias-free two-layer tanh network and its MSE loss, for graphc and torch tensors (Muon takes matrices only)."""
    w1, w2 = params
    return (((x @ w1).tanh() @ w2 - y) ** 2).mean()


def make_params(lib: Any, dtype: Any = np.float64) -> list[Any]:
    return [lib.tensor(a.astype(dtype), requires_grad=True) for a in INIT]


def step(lib: Any, params: list[Any], opt: Any, i: int, dtype: Any = np.float64) -> None:
    opt.zero_grad()
    loss_of(params, lib.tensor(X[batch(i)].astype(dtype)), lib.tensor(Y[batch(i)].astype(dtype))).backward()
    opt.step()


def assert_same(gp: list[graphc.Tensor], tp: list[torch.Tensor], rtol: float = 1e-12, atol: float = 1e-14) -> None:
    for g, t in zip(gp, tp):
        np.testing.assert_allclose(g.numpy(), t.detach().numpy(), rtol=rtol, atol=atol)


CASES = [
    {"lr": 0.02},
    {"lr": 0.02, "nesterov": False, "weight_decay": 0.0},
    {"lr": 0.05, "momentum": 0.3, "adjust_lr_fn": "match_rms_adamw"},
    {"lr": 0.02, "momentum": 0.0, "ns_steps": 2, "ns_coefficients": (2.0, -1.5, 0.5), "eps": 1e-3, "adjust_lr_fn": "original"},
]


@pytest.mark.parametrize("options", CASES, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_matches_torch_step_after_step_in_float64(options: dict[str, Any]) -> None:
    """torch rounds the Newton–Schulz iterates to bfloat16 after each op; graphc rounds at the same points,
    so the weights agree to float64 rounding (a bfloat16 rounding in another place would be off by ~1e-3)."""
    gp, tp = make_params(graphc), make_params(torch)
    gopt, topt = optim.Muon(gp, **options), torch.optim.Muon(tp, **options)
    for i in range(6):
        step(graphc, gp, gopt, i)
        step(torch, tp, topt, i)
    assert_same(gp, tp)
    for g, t in zip(gp, tp):
        (key,) = topt.state[t]
        assert list(gopt.state[g]) == [key] == ["momentum_buffer"]
        np.testing.assert_allclose(gopt.state[g][key].numpy(), topt.state[t][key].numpy(), rtol=1e-12, atol=1e-14)
        assert gopt.state[g][key].dtype == graphc.float64


def test_matches_torch_in_float32_with_a_tensor_lr() -> None:
    gp, tp = make_params(graphc, np.float32), make_params(torch, np.float32)
    gopt = optim.Muon(gp, lr=graphc.tensor(0.03, dtype=graphc.float32))
    topt = torch.optim.Muon(tp, lr=torch.tensor(0.03, dtype=torch.float32))
    for i in range(4):
        step(graphc, gp, gopt, i, np.float32)
        step(torch, tp, topt, i, np.float32)
    assert all(p.dtype == graphc.float32 for p in gp)
    assert_same(gp, tp, rtol=1e-6, atol=1e-7)


@pytest.mark.usefixtures("backend")
def test_compiled_step_matches_torch_and_traces_once(backend: str) -> None:
    """The update, Newton–Schulz loop included, is part of the compiled program; a new lr needs no new trace.
    Under the Triton interpreter too (its float32 -> bfloat16 rounding is done in the bits: it truncated)."""
    gp, tp = make_params(graphc), make_params(torch)
    gopt, topt = optim.Muon(gp, lr=0.02), torch.optim.Muon(tp, lr=0.02)

    def train_step(x: graphc.Tensor, y: graphc.Tensor) -> None:
        gopt.zero_grad()
        loss_of(gp, x, y).backward()
        gopt.step()

    compiled = graphc.compile(train_step)
    for i in range(3):
        if i == 2:
            gopt.param_groups[0]["lr"] = topt.param_groups[0]["lr"] = 0.01
        compiled(graphc.tensor(X[batch(i)]), graphc.tensor(Y[batch(i)]))
        step(torch, tp, topt, i)
    assert_same(gp, tp)
    assert compiled.trace_count <= 2, compiled.recompilations  # the first call creates the state eagerly


def test_compiled_step_traces_again_for_new_ns_steps() -> None:
    """``ns_steps`` is the number of unrolled iterations: a compiled step guards it, unlike a mirrored number."""
    gp, tp = make_params(graphc), make_params(torch)
    gopt, topt = optim.Muon(gp, lr=0.02), torch.optim.Muon(tp, lr=0.02)

    def train_step(x: graphc.Tensor, y: graphc.Tensor) -> None:
        gopt.zero_grad()
        loss_of(gp, x, y).backward()
        gopt.step()

    compiled = graphc.compile(train_step)
    traces = []
    for i in range(4):
        if i == 2:
            gopt.param_groups[0]["ns_steps"] = topt.param_groups[0]["ns_steps"] = 3
        compiled(graphc.tensor(X[batch(i)]), graphc.tensor(Y[batch(i)]))
        step(torch, tp, topt, i)
        traces.append(compiled.trace_count)
    assert_same(gp, tp)
    assert traces[2] == traces[1] + 1 and traces[3] == traces[2], compiled.recompilations


def test_state_dict_moves_to_and_from_torch_and_through_save() -> None:
    gp, tp = make_params(graphc), make_params(torch)
    gopt, topt = optim.Muon(gp, lr=0.02, momentum=0.9), torch.optim.Muon(tp, lr=0.02, momentum=0.9)
    for i in range(2):
        step(graphc, gp, gopt, i)
        step(torch, tp, topt, i)
    tsd, gsd = topt.state_dict(), gopt.state_dict()
    assert gsd["param_groups"] == tsd["param_groups"]
    buffer = io.BytesIO()
    graphc.save(gsd, buffer)
    buffer.seek(0)
    from_graphc = optim.Muon([graphc.tensor(p.numpy(), requires_grad=True) for p in gp], lr=1.0)
    from_graphc.load_state_dict(graphc.load(buffer))
    resumed = from_graphc.param_groups[0]["params"]
    from_torch = make_params(graphc)
    for p, t in zip(from_torch, tp):
        p.data = graphc.tensor(t.detach().numpy())
    torch_loaded = optim.Muon(from_torch, lr=1.0)
    torch_loaded.load_state_dict(tsd)
    back_in_torch = torch.optim.Muon([torch.tensor(p.numpy(), requires_grad=True) for p in gp], lr=1.0)
    back_in_torch.load_state_dict(gsd_as_torch(gopt.state_dict()))
    torch_resumed = back_in_torch.param_groups[0]["params"]
    for i in range(2, 4):
        step(torch, tp, topt, i)
        for lib, params, opt in ((graphc, resumed, from_graphc), (graphc, from_torch, torch_loaded), (torch, torch_resumed, back_in_torch)):
            step(lib, params, opt, i)
    for params in (resumed, from_torch):
        assert_same(params, tp)
    assert_same([graphc.tensor(p.detach().numpy()) for p in torch_resumed], tp)


def gsd_as_torch(state_dict: dict[str, Any]) -> dict[str, Any]:
    """graphc's optimizer state dict with torch tensors, for ``torch.optim``'s ``load_state_dict``."""
    state = {i: {k: torch.tensor(v.numpy()) for k, v in values.items()} for i, values in state_dict["state"].items()}
    return {"state": state, "param_groups": state_dict["param_groups"]}


@pytest.mark.parametrize(
    "kwargs",
    [{"lr": -1.0}, {"momentum": -0.1}, {"weight_decay": -0.1}, {"adjust_lr_fn": "sqrt"}],
    ids=["lr", "momentum", "weight_decay", "adjust_lr_fn"],
)
def test_invalid_options_are_refused_as_in_torch(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as expected:
        torch.optim.Muon(make_params(torch), **kwargs)
    with pytest.raises(ValueError, match=f"^{expected.value}$"):
        optim.Muon(make_params(graphc), **kwargs)


def test_only_matrices_and_torchs_step_errors() -> None:
    """torch refuses other ranks at construction, and an iteration count of 100 or coefficients other than
    three at the step (the group may change them)."""
    vector = graphc.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match=r"^Muon only supports 2D parameters whereas we found a parameter with size: torch.Size\(\[3\]\)$"):
        optim.Muon([vector])
    for option, value, message in [
        ("ns_steps", 100, "Number of steps must be less than 100 for computational efficiency"),
        ("ns_coefficients", (1.0, 2.0), "Coefficients must be a tuple of exactly 3 values"),
    ]:
        gp, tp = make_params(graphc), make_params(torch)
        gopt, topt = optim.Muon(gp), torch.optim.Muon(tp)
        gopt.param_groups[0][option] = topt.param_groups[0][option] = value
        with pytest.raises(ValueError, match=f"^{message}$"):
            step(torch, tp, topt, 0)
        with pytest.raises(ValueError, match=f"^{message}$"):
            step(graphc, gp, gopt, 0)
    gopt = optim.Muon(make_params(graphc))
    gopt.add_param_group({"params": [vector]})
    vector.grad = graphc.tensor(np.ones(3))
    with pytest.raises(ValueError, match="^Param gradient must be a 2D matrix$"):
        gopt.step()
