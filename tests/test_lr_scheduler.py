"""graphc.optim.lr_scheduler against torch.optim.lr_scheduler: the same lrs, momenta and state dicts, step by step."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch

import graphc
import graphc.nn.functional as F
from graphc import nn, optim
from graphc.optim import lr_scheduler

# torch's nested SequentialLR warns that its inner scheduler steps before the optimizer: its first step is at construction.
pytestmark = [pytest.mark.filterwarnings("ignore:Detected call of"), pytest.mark.usefixtures("numpy_kernels")]  # C loops: conftest.py

GROUP_LRS = (0.1, 0.05, 0.3)
STEPS = 30
# Options compared with torch's in every group after every step (those a group has).
COMPARED_KEYS = ("lr", "initial_lr", "momentum", "betas", "max_lr", "min_lr", "max_momentum", "base_momentum")

Factory = Callable[[ModuleType, Any], Any]


class Decay:
    """A stateful ``lr_lambda``: torch keeps a callable object's ``__dict__`` in the scheduler's state dict."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, epoch: int) -> float:
        self.calls += 1
        return 0.9**self.calls

CASES: dict[str, tuple[str, dict[str, Any], Factory]] = {
    "StepLR": ("SGD", {}, lambda m, o: m.StepLR(o, step_size=3, gamma=0.5)),
    "MultiStepLR": ("SGD", {}, lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3)),
    "ExponentialLR": ("SGD", {}, lambda m, o: m.ExponentialLR(o, gamma=0.93)),
    "CosineAnnealingLR": ("SGD", {}, lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.001)),
    "CosineAnnealingLR-eta0": ("SGD", {}, lambda m, o: m.CosineAnnealingLR(o, T_max=4)),
    "LambdaLR": ("SGD", {}, lambda m, o: m.LambdaLR(o, [lambda e: 0.95**e, Decay(), lambda e: math.sqrt(e + 2)])),
    "MultiplicativeLR": ("SGD", {}, lambda m, o: m.MultiplicativeLR(o, lambda e: 0.9 + 0.003 * e)),
    "LinearLR": ("SGD", {}, lambda m, o: m.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=6)),
    "ConstantLR": ("SGD", {}, lambda m, o: m.ConstantLR(o, factor=0.45, total_iters=4)),
    "OneCycleLR-SGD": ("SGD", {"momentum": 0.9}, lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.5, 0.2], total_steps=STEPS)),
    "OneCycleLR-Adam-linear-3phase": (
        "Adam",
        {},
        lambda m, o: m.OneCycleLR(o, max_lr=0.01, epochs=3, steps_per_epoch=10, anneal_strategy="linear", three_phase=True),
    ),
    "OneCycleLR-no-momentum": (
        "RMSprop",
        {},
        lambda m, o: m.OneCycleLR(o, max_lr=0.02, total_steps=STEPS + 5, pct_start=0.25, cycle_momentum=False, div_factor=10.0),
    ),
    "SequentialLR": (
        "SGD",
        {},
        lambda m, o: m.SequentialLR(
            o, [m.LinearLR(o, start_factor=0.1, total_iters=3), m.ExponentialLR(o, 0.9), m.CosineAnnealingLR(o, T_max=6)], [3, 11]
        ),
    ),
    "PolynomialLR": ("SGD", {}, lambda m, o: m.PolynomialLR(o, total_iters=17, power=0.9)),
    "PolynomialLR-power2": ("Adam", {}, lambda m, o: m.PolynomialLR(o, total_iters=8, power=2.0)),
    "CyclicLR-triangular-SGD": ("SGD", {"momentum": 0.9}, lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=[0.1, 0.2, 0.3], step_size_up=4)),
    "CyclicLR-triangular2-Adam": (
        "Adam",
        {},
        lambda m, o: m.CyclicLR(o, 0.001, 0.01, step_size_up=3, step_size_down=5, mode="triangular2", base_momentum=0.7, max_momentum=[0.95, 0.9, 0.85]),
    ),
    "CyclicLR-exp_range-RMSprop": (
        "RMSprop",
        {"momentum": 0.5},
        lambda m, o: m.CyclicLR(o, [0.01, 0.02, 0.03], 0.1, step_size_up=5, step_size_down=2, mode="exp_range", gamma=0.97),
    ),
    "CyclicLR-scale_fn-cycle": (
        "SGD",
        {},
        lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=3, scale_fn=lambda x: 0.5 ** (x - 1), cycle_momentum=False),
    ),
    "CyclicLR-scale_fn-iterations-stateful": (
        "AdamW",
        {},
        lambda m, o: m.CyclicLR(o, 0.01, 0.1, step_size_up=2, step_size_down=4, scale_fn=Decay(), scale_mode="iterations"),
    ),
    "CosineAnnealingWarmRestarts": ("SGD", {}, lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=4, eta_min=0.001)),
    "CosineAnnealingWarmRestarts-T_mult": ("Adam", {}, lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=3)),
    "ChainedScheduler": (
        "SGD",
        {},
        lambda m, o: m.ChainedScheduler([m.ConstantLR(o, factor=0.1, total_iters=5), m.ExponentialLR(o, gamma=0.9)]),
    ),
    "ChainedScheduler-with-optimizer": (
        "SGD",
        {"momentum": 0.9},
        lambda m, o: m.ChainedScheduler([m.LinearLR(o, 0.5, total_iters=4), m.CosineAnnealingLR(o, T_max=5), m.PolynomialLR(o, 20)], optimizer=o),
    ),
    "SequentialLR-of-new-schedulers": (
        "SGD",
        {"momentum": 0.8},
        lambda m, o: m.SequentialLR(
            o, [m.PolynomialLR(o, total_iters=4, power=0.5), m.CosineAnnealingWarmRestarts(o, 3, 2), m.CyclicLR(o, 0.01, 0.05, 2)], [5, 16]
        ),
    ),
    "SequentialLR-nested": (
        "SGD",
        {},
        lambda m, o: m.SequentialLR(
            o,
            [m.SequentialLR(o, [m.ConstantLR(o, factor=0.5, total_iters=2), m.MultiplicativeLR(o, lambda e: 0.8)], [3]), m.StepLR(o, 2)],
            [6],
        ),
    ),
}


def make_optimizers(name: str, options: dict[str, Any], lrs: tuple[float, ...] = GROUP_LRS) -> tuple[optim.Optimizer, torch.optim.Optimizer]:
    """The same optimizer in graphc and torch, with one parameter group per lr."""
    g_groups = [{"params": [graphc.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    t_groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return getattr(optim, name)(g_groups, **options), getattr(torch.optim, name)(t_groups, **options)


def assert_same_groups(gopt: optim.Optimizer, topt: torch.optim.Optimizer) -> None:
    for g_group, t_group in zip(gopt.param_groups, topt.param_groups, strict=True):
        for key in COMPARED_KEYS:
            if key in t_group:
                assert g_group[key] == t_group[key], key


def assert_same_state(g_state: dict[str, Any], t_state: dict[str, Any]) -> None:
    """torch's keys and values (torch also records a flag of its warnings, which graphc does not give)."""
    t_state = {k: v for k, v in t_state.items() if k != "_get_lr_called_within_step"}
    assert g_state.keys() == t_state.keys()
    for key, value in t_state.items():
        if key == "_schedulers":
            for g_inner, t_inner in zip(g_state[key], value, strict=True):
                assert_same_state(g_inner, t_inner)
        else:
            assert g_state[key] == value, key


def step_both(gs: Any, ts: Any, topt: torch.optim.Optimizer) -> None:
    topt.step()  # torch warns when a scheduler steps before its optimizer ever did
    gs.step()
    ts.step()
    assert gs.get_last_lr() == ts.get_last_lr()


@pytest.mark.parametrize("case", list(CASES))
def test_matches_torch_step_by_step(case: str) -> None:
    name, options, factory = CASES[case]
    gopt, topt = make_optimizers(name, options)
    gs, ts = factory(lr_scheduler, gopt), factory(torch.optim.lr_scheduler, topt)
    assert gs.get_last_lr() == ts.get_last_lr()
    assert_same_groups(gopt, topt)
    lrs = set()
    for _ in range(STEPS):
        step_both(gs, ts, topt)
        assert_same_groups(gopt, topt)
        lrs.add(tuple(gs.get_last_lr()))
    assert len(lrs) >= 2  # the schedule did move
    assert_same_state(gs.state_dict(), ts.state_dict())


@pytest.mark.parametrize("case", list(CASES))
def test_state_dict_round_trip_and_torch_checkpoint_resume(case: str) -> None:
    name, options, factory = CASES[case]
    gopt, topt = make_optimizers(name, options)
    gs, ts = factory(lr_scheduler, gopt), factory(torch.optim.lr_scheduler, topt)
    for _ in range(STEPS // 2):
        step_both(gs, ts, topt)
    # A run resumed from graphc's checkpoint, and one resumed from torch's.
    resumed = []
    for opt_state, sched_state in ((gopt.state_dict(), gs.state_dict()), (topt.state_dict(), ts.state_dict())):
        ropt, _ = make_optimizers(name, options, lrs=(1.0, 2.0, 3.0))
        rs = factory(lr_scheduler, ropt)
        ropt.load_state_dict(opt_state)
        rs.load_state_dict(sched_state)
        assert rs.get_last_lr() == ts.get_last_lr()
        resumed.append((ropt, rs))
    for _ in range(STEPS // 2 - 1):
        step_both(gs, ts, topt)
        for ropt, rs in resumed:
            rs.step()
            assert rs.get_last_lr() == ts.get_last_lr()
            assert_same_groups(ropt, topt)


@pytest.mark.parametrize(
    "options",
    [
        {"patience": 2},
        {"mode": "max", "factor": 0.5, "patience": 1, "threshold": 0.05, "cooldown": 2},
        {"threshold_mode": "abs", "threshold": 0.3, "patience": 0, "min_lr": [0.01, 0.02, 0.2]},
        {"mode": "max", "threshold_mode": "abs", "factor": 0.2, "patience": 1, "min_lr": 0.004, "eps": 1e-3},
    ],
)
def test_reduce_lr_on_plateau_matches_torch(options: dict[str, Any]) -> None:
    gopt, topt = make_optimizers("SGD", {"momentum": 0.5})
    gs = lr_scheduler.ReduceLROnPlateau(gopt, **options)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **options)
    metrics = [5.0, 4.0, 4.0, 3.9, 3.95, 4.1, 2.0, 2.0, 2.0, 2.0, 1.9, 1.99, 3.0, 3.0, 3.0, 3.0, 3.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    lrs = set()
    for i, metric in enumerate(metrics):
        gs.step(graphc.tensor(metric) if i % 2 else metric)  # a 0-d tensor metric works too
        ts.step(metric)
        assert gs.get_last_lr() == ts.get_last_lr()
        assert_same_groups(gopt, topt)
        lrs.add(tuple(gs.get_last_lr()))
        if i == len(metrics) // 2:
            assert_same_state(gs.state_dict(), ts.state_dict())
            restored = lr_scheduler.ReduceLROnPlateau(make_optimizers("SGD", {})[0])
            restored.load_state_dict(ts.state_dict())
            assert_same_state(restored.state_dict(), ts.state_dict())
    assert len(lrs) >= 2


def test_closed_form_step_with_epoch_matches_torch() -> None:
    for factory in (
        lambda m, o: m.StepLR(o, 4, 0.5),
        lambda m, o: m.MultiStepLR(o, [1, 3, 3]),
        lambda m, o: m.ConstantLR(o, 0.5, 3),
        lambda m, o: m.LinearLR(o, 0.3, 0.7, 7),
        lambda m, o: m.ExponentialLR(o, 0.9),
        lambda m, o: m.CosineAnnealingLR(o, 10, 0.01),
        lambda m, o: m.LambdaLR(o, lambda e: 1 / (e + 1)),
        lambda m, o: m.PolynomialLR(o, 9, 1.5),
    ):
        gopt, topt = make_optimizers("SGD", {})
        gs, ts = factory(lr_scheduler, gopt), factory(torch.optim.lr_scheduler, topt)
        topt.step()
        for epoch in (6, 1, 4, 12):
            with pytest.warns(UserWarning, match="epoch parameter"):
                gs.step(epoch)
            with pytest.warns(UserWarning, match="epoch parameter"):
                ts.step(epoch)
            assert gs.get_last_lr() == ts.get_last_lr()
        step_both(gs, ts, topt)  # the chainable form continues from there, with torch's first-step rule


def test_resuming_at_last_epoch_matches_torch() -> None:
    for factory in (
        lambda m, o: m.CosineAnnealingLR(o, T_max=6, eta_min=0.01, last_epoch=4),
        lambda m, o: m.StepLR(o, 3, last_epoch=4),
        lambda m, o: m.LinearLR(o, 0.3, 0.7, 7, last_epoch=4),
        lambda m, o: m.PolynomialLR(o, 9, 0.5, last_epoch=4),
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001, last_epoch=4),
        lambda m, o: m.CyclicLR(o, 0.01, 0.1, 3, last_epoch=4),
    ):
        gopt, topt = make_optimizers("SGD", {})
        for opt in (gopt, topt):
            for group in opt.param_groups:
                group["initial_lr"] = group["lr"] * 2
        gs, ts = factory(lr_scheduler, gopt), factory(torch.optim.lr_scheduler, topt)
        assert gs.get_last_lr() == ts.get_last_lr()
        with pytest.warns(UserWarning, match="get_last_lr"):
            expected = ts.get_lr()
        assert gs.get_lr() == expected  # CosineAnnealingLR: the closed form, before the first step after resuming
        for _ in range(10):
            step_both(gs, ts, topt)
            assert_same_groups(gopt, topt)


@pytest.mark.parametrize(
    "epochs",
    [
        [0.25 * i for i in range(40)],  # per batch, as torch's docs: epoch + i / iters
        [0, 1, 2, 3.5, 26, 3, 7.75, 100.125, 0.5, 61, 62.5, 5],  # jumps back and forth, into later periods
    ],
)
@pytest.mark.parametrize("T_mult", [1, 2, 3])
def test_cosine_annealing_warm_restarts_step_with_fractional_epoch_matches_torch(epochs: list[float], T_mult: int) -> None:
    gopt, topt = make_optimizers("SGD", {"momentum": 0.9})
    gs = lr_scheduler.CosineAnnealingWarmRestarts(gopt, T_0=3, T_mult=T_mult, eta_min=0.01)
    ts = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=3, T_mult=T_mult, eta_min=0.01)
    topt.step()
    for i, epoch in enumerate(epochs):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no deprecation warning: per-batch epochs are this scheduler's documented use
            gs.step(epoch)
        ts.step(epoch)
        assert gs.get_last_lr() == ts.get_last_lr()
        assert (gs.T_cur, gs.T_i, gs.last_epoch) == (ts.T_cur, ts.T_i, ts.last_epoch)
        if i % 3 == 2:  # interleaved with plain steps, which continue from the epoch reached
            step_both(gs, ts, topt)
        assert_same_groups(gopt, topt)
    assert_same_state(gs.state_dict(), ts.state_dict())


@pytest.mark.parametrize(
    "factory",
    [lambda m, o: m.ExponentialLR(o, 0.9), lambda m, o: m.CyclicLR(o, 0.01, 0.1, 2, cycle_momentum=False)],
    ids=["ExponentialLR", "CyclicLR"],
)
def test_tensor_learning_rate_is_updated_in_place_as_in_torch(factory: Factory) -> None:
    glr, tlr = graphc.tensor(0.1, dtype=graphc.float64), torch.tensor(0.1, dtype=torch.float64)
    gopt = optim.SGD([graphc.zeros(2, requires_grad=True)], lr=glr)
    topt = torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=tlr)
    gs, ts = factory(lr_scheduler, gopt), factory(torch.optim.lr_scheduler, topt)
    for _ in range(5):
        topt.step()
        gs.step()
        ts.step()
        assert gopt.param_groups[0]["lr"] is glr
        assert glr.item() == tlr.item()
        (last,) = gs.get_last_lr()
        assert isinstance(last, graphc.Tensor) and last.item() == ts.get_last_lr()[0].item()
    assert [float(lr) for lr in gs.base_lrs] == [float(lr) for lr in ts.base_lrs]


def test_interface_and_errors_as_in_torch() -> None:
    from graphc.optim.lr_scheduler import StepLR

    assert graphc.optim.lr_scheduler.StepLR is StepLR
    assert issubclass(StepLR, lr_scheduler.LRScheduler) and issubclass(lr_scheduler.ReduceLROnPlateau, lr_scheduler.LRScheduler)
    gopt, _ = make_optimizers("SGD", {})
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(torch.optim.SGD([torch.zeros(1)]), 2)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(gopt, 2, last_epoch=3)
    with pytest.raises(ValueError, match="Expected 3 lr_lambdas"):
        lr_scheduler.LambdaLR(gopt, [lambda e: 1.0])
    with pytest.raises(ValueError, match="max_lr must have the same length"):
        lr_scheduler.OneCycleLR(gopt, max_lr=[0.1], total_steps=5)
    with pytest.raises(ValueError, match="support momentum or beta1"):
        lr_scheduler.OneCycleLR(_NoMomentum(), 0.1, 5)
    with pytest.raises(ValueError, match="mode is invalid and scale_fn is None.*CyclicLR"):
        lr_scheduler.CyclicLR(gopt, 0.01, 0.1, mode="triangle")
    with pytest.raises(ValueError, match="base_momentum must have the same length"):
        lr_scheduler.CyclicLR(gopt, 0.01, 0.1, base_momentum=[0.8, 0.8])
    with pytest.raises(ValueError, match="support momentum or beta1.*CyclicLR"):
        lr_scheduler.CyclicLR(_NoMomentum(), 0.01, 0.1)
    for bad, message in (({"T_0": 0}, "positive integer T_0"), ({"T_0": 2.5}, "positive integer T_0"), ({"T_0": 2, "T_mult": 0}, "T_mult >= 1")):
        with pytest.raises(ValueError, match=message + ".*CosineAnnealingWarmRestarts"):
            lr_scheduler.CosineAnnealingWarmRestarts(gopt, **bad)
    with pytest.raises(ValueError, match="eta_min"):
        lr_scheduler.CosineAnnealingWarmRestarts(gopt, 2, eta_min="0")
    with pytest.raises(ValueError, match="non-negative epoch"):
        lr_scheduler.CosineAnnealingWarmRestarts(gopt, 2).step(-1)
    with pytest.raises(ValueError, match="ChainedScheduler expects at least one scheduler"):
        lr_scheduler.ChainedScheduler([])
    other, _ = make_optimizers("SGD", {})
    with pytest.raises(ValueError, match="ChainedScheduler expects all schedulers to belong to the same optimizer"):
        lr_scheduler.ChainedScheduler([lr_scheduler.StepLR(gopt, 2), lr_scheduler.StepLR(other, 2)])
    with pytest.raises(ValueError, match="ChainedScheduler does not support `ReduceLROnPlateau`"):
        lr_scheduler.ChainedScheduler([lr_scheduler.ReduceLROnPlateau(gopt)])
    assert issubclass(lr_scheduler._LRScheduler, lr_scheduler.LRScheduler)  # torch's old name, which older code subclasses
    one_cycle = lr_scheduler.OneCycleLR(gopt, max_lr=0.1, total_steps=2)
    one_cycle.step()
    one_cycle.step()
    with pytest.raises(ValueError, match="Tried to step 3 times"):
        one_cycle.step()


class _NoMomentum(optim.Optimizer):
    """An optimizer without momentum or betas, which OneCycleLR cannot cycle."""

    def __init__(self) -> None:
        super().__init__([graphc.zeros(1, requires_grad=True)], {"lr": 0.1})


# ---------------------------------------------------------------------- graphc.compile

COMPILED_CASES: dict[str, tuple[str, dict[str, Any], Factory]] = {
    "SGD-CyclicLR": ("SGD", {"lr": 0.1, "momentum": 0.9}, lambda m, o: m.CyclicLR(o, 0.01, 0.2, step_size_up=2, mode="triangular2")),
    "Adam-CyclicLR-exp_range": ("Adam", {"lr": 0.01, "amsgrad": True}, lambda m, o: m.CyclicLR(o, 1e-3, 0.05, 2, 1, "exp_range", gamma=0.9)),
    "RMSprop-CosineAnnealingWarmRestarts": ("RMSprop", {"lr": 0.01, "centered": True}, lambda m, o: m.CosineAnnealingWarmRestarts(o, 2, 2)),
    "NAdam-CyclicLR": ("NAdam", {"lr": 0.01}, lambda m, o: m.CyclicLR(o, 1e-3, 0.02, step_size_up=3, base_momentum=0.85, max_momentum=0.95)),
    "Adagrad-OneCycleLR": ("Adagrad", {"lr": 0.05}, lambda m, o: m.OneCycleLR(o, max_lr=0.1, total_steps=8, cycle_momentum=False)),
    "RAdam-PolynomialLR": ("RAdam", {"lr": 0.01}, lambda m, o: m.PolynomialLR(o, total_iters=5, power=0.5)),
    "SGD-ChainedScheduler-PolynomialLR": (
        "SGD",
        {"lr": 0.1, "weight_decay": 0.01},
        lambda m, o: m.ChainedScheduler([m.PolynomialLR(o, total_iters=4, power=2.0), m.ExponentialLR(o, 0.8)]),
    ),
    "SGD-OneCycleLR": ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=8)),
    "Adam-OneCycleLR": ("Adam", {"lr": 0.01}, lambda m, o: m.OneCycleLR(o, max_lr=0.05, total_steps=7, three_phase=True)),
    "AdamW-SequentialLR": (
        "AdamW",
        {"lr": 0.02, "weight_decay": 0.1},
        lambda m, o: m.SequentialLR(o, [m.LinearLR(o, 0.2, total_iters=2), m.CosineAnnealingLR(o, T_max=3, eta_min=1e-3)], [2]),
    ),
}


@pytest.mark.parametrize("case", list(COMPILED_CASES))
def test_compiled_training_step_driven_by_a_scheduler_trains_like_torch(case: str) -> None:
    name, options, factory = COMPILED_CASES[case]
    torch.manual_seed(0)
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    gmodel = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    gmodel.load_state_dict(tmodel.state_dict())
    gopt, topt = getattr(optim, name)(gmodel.parameters(), **options), getattr(torch.optim, name)(tmodel.parameters(), **options)
    gs, ts = factory(lr_scheduler, gopt), factory(torch.optim.lr_scheduler, topt)

    def train_step(x: graphc.Tensor, y: graphc.Tensor) -> graphc.Tensor:
        gopt.zero_grad()
        loss = F.mse_loss(gmodel(x), y)
        loss.backward()
        gopt.step()
        return loss

    compiled = graphc.compile(train_step)
    rng = np.random.default_rng(0)
    for _ in range(6):
        x, y = rng.standard_normal((16, 4)), rng.standard_normal((16, 1))
        loss = compiled(graphc.tensor(x), graphc.tensor(y))
        topt.zero_grad()
        expected = torch.nn.functional.mse_loss(tmodel(torch.tensor(x)), torch.tensor(y))
        expected.backward()
        topt.step()
        assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
        gs.step()
        ts.step()
        assert gs.get_last_lr() == ts.get_last_lr()
        assert_same_groups(gopt, topt)
    assert compiled.trace_count <= 2, compiled.recompilations  # six lrs (and momenta), no new trace for them
    for key, value in tmodel.state_dict().items():
        np.testing.assert_allclose(gmodel.state_dict()[key].numpy(), value.numpy(), rtol=1e-12, atol=1e-14, err_msg=key)
