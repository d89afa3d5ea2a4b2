"""graphc.optim.swa_utils against torch.optim.swa_utils with the same weights over several steps:
AveragedModel (SWA by default, EMA, avg_fn and multi_avg_fn, use_buffers), SWALR's schedules and
update_bn's recomputed batch-norm statistics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.optim.swa_utils as tswa
from helpers import assert_matches, data

import graphc
import graphc.optim.swa_utils as gswa


def _model_pair() -> tuple[graphc.nn.Module, torch.nn.Module]:
    """The same float64 weights in both: a batch norm over 5 rows amplifies float32's summation-order
    differences past float32 tolerances within three steps, depending on the weights drawn."""
    torch.manual_seed(0)
    t = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2)).double()
    g = graphc.nn.Sequential(graphc.nn.Linear(3, 4), graphc.nn.BatchNorm1d(4), graphc.nn.Linear(4, 2)).double()
    g.load_state_dict(t.state_dict())
    return g, t


def _batch(*shape: int) -> np.ndarray:
    return data(*shape, dtype="float64")


def _train_step(model: Any, lib: Any, x: np.ndarray) -> None:
    """One SGD-like change of the weights and the batch norm's statistics (a forward in training mode)."""
    out = model(lib.tensor(x))
    out.sum().backward()
    with lib.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
            p.grad = None


AVERAGES = {
    "swa_default": ({}, {}),
    "ema_multi": ({"multi_avg_fn": gswa.get_ema_multi_avg_fn(0.9)}, {"multi_avg_fn": tswa.get_ema_multi_avg_fn(0.9)}),
    "swa_multi": ({"multi_avg_fn": gswa.get_swa_multi_avg_fn()}, {"multi_avg_fn": tswa.get_swa_multi_avg_fn()}),
    "ema_avg_fn": ({"avg_fn": gswa.get_ema_avg_fn(0.8)}, {"avg_fn": tswa.get_ema_avg_fn(0.8)}),
    "swa_avg_fn_buffers": ({"avg_fn": gswa.get_swa_avg_fn(), "use_buffers": True}, {"avg_fn": tswa.get_swa_avg_fn(), "use_buffers": True}),
    "ema_multi_buffers": (
        {"multi_avg_fn": gswa.get_ema_multi_avg_fn(0.5), "use_buffers": True},
        {"multi_avg_fn": tswa.get_ema_multi_avg_fn(0.5), "use_buffers": True},
    ),
}


@pytest.mark.parametrize("name", list(AVERAGES))
def test_averaged_model_follows_torch_over_several_updates(name: str) -> None:
    g_kwargs, t_kwargs = AVERAGES[name]
    g_model, t_model = _model_pair()
    g_avg, t_avg = gswa.AveragedModel(g_model, **g_kwargs), tswa.AveragedModel(t_model, **t_kwargs)
    for _ in range(3):
        x = _batch(5, 3)
        _train_step(g_model, graphc, x)
        _train_step(t_model, torch, x)
        g_avg.update_parameters(g_model)
        t_avg.update_parameters(t_model)
    assert list(g_avg.state_dict()) == list(t_avg.state_dict())
    for key, value in t_avg.state_dict().items():
        assert_matches(g_avg.state_dict()[key], value)
    x = _batch(2, 3)
    assert_matches(g_avg.eval()(graphc.tensor(x)), t_avg.eval()(torch.from_numpy(x)))


def test_averaged_model_updates_inside_graphc_compile(backend: str) -> None:
    """The first update copies and later ones average, chosen by the count in the graph: one trace serves all."""
    g_model, t_model = _model_pair()
    g_avg = gswa.AveragedModel(g_model, multi_avg_fn=gswa.get_ema_multi_avg_fn(0.75), use_buffers=True)
    t_avg = tswa.AveragedModel(t_model, multi_avg_fn=tswa.get_ema_multi_avg_fn(0.75), use_buffers=True)
    update = graphc.compile(lambda: g_avg.update_parameters(g_model))
    for _ in range(3):
        x = _batch(5, 3)
        _train_step(g_model, graphc, x)
        _train_step(t_model, torch, x)
        update()
        t_avg.update_parameters(t_model)
    for key, value in t_avg.state_dict().items():
        assert_matches(g_avg.state_dict()[key], value)
    assert update.trace_count == 1


def test_averaged_model_refuses_two_averaging_functions_and_bad_decays() -> None:
    with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn"):
        gswa.AveragedModel(graphc.nn.Linear(2, 2), avg_fn=gswa.get_swa_avg_fn(), multi_avg_fn=gswa.get_swa_multi_avg_fn())
    with pytest.raises(ValueError, match="Invalid decay value"):
        gswa.get_ema_multi_avg_fn(1.5)


@pytest.mark.filterwarnings("ignore:Detected call of")  # no optimizer steps: the schedule alone (torch's first step costs seconds)
@pytest.mark.parametrize("strategy, anneal_epochs", [("cos", 3), ("linear", 4), ("cos", 0)])
def test_swalr_schedules_like_torch(strategy: str, anneal_epochs: int) -> None:
    g_opt = graphc.optim.SGD([graphc.nn.Parameter(graphc.zeros(2))], lr=0.5)
    t_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.5)
    g_sched = gswa.SWALR(g_opt, swa_lr=0.05, anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    t_sched = tswa.SWALR(t_opt, swa_lr=0.05, anneal_epochs=anneal_epochs, anneal_strategy=strategy)
    g_lrs, t_lrs = [g_opt.param_groups[0]["lr"]], [t_opt.param_groups[0]["lr"]]
    for _ in range(6):
        g_sched.step()
        t_sched.step()
        g_lrs.append(g_opt.param_groups[0]["lr"])
        t_lrs.append(t_opt.param_groups[0]["lr"])
    assert g_lrs == t_lrs
    assert g_sched.get_last_lr() == t_sched.get_last_lr()
    state = g_sched.state_dict()
    assert set(state) == set(t_sched.state_dict()) - {"_get_lr_called_within_step"}
    restored = gswa.SWALR(graphc.optim.SGD([graphc.nn.Parameter(graphc.zeros(2))], lr=0.5), swa_lr=1.0, anneal_strategy="linear")
    restored.load_state_dict(state)
    assert restored.anneal_func(0.5) == g_sched.anneal_func(0.5)


def test_swalr_refuses_bad_arguments() -> None:
    opt = graphc.optim.SGD([graphc.nn.Parameter(graphc.zeros(2))], lr=0.5)
    with pytest.raises(ValueError, match="anneal_strategy"):
        gswa.SWALR(opt, swa_lr=0.1, anneal_strategy="exp")
    with pytest.raises(ValueError, match="anneal_epochs"):
        gswa.SWALR(opt, swa_lr=0.1, anneal_epochs=-1)


def test_update_bn_recomputes_running_statistics_like_torch() -> None:
    g_model, t_model = _model_pair()
    for _ in range(2):  # running statistics away from their initial values, and a momentum to restore
        x = _batch(5, 3)
        _train_step(g_model, graphc, x)
        _train_step(t_model, torch, x)
    batches = [_batch(4, 3) for _ in range(3)]
    g_model.eval()
    t_model.eval()
    gswa.update_bn([(graphc.tensor(b), 0) for b in batches], g_model)
    tswa.update_bn([(torch.from_numpy(b), 0) for b in batches], t_model)
    assert not g_model.training and g_model[1].momentum == t_model[1].momentum == 0.1
    for key, value in t_model.state_dict().items():
        assert_matches(g_model.state_dict()[key], value)
    norm = graphc.nn.InstanceNorm1d(3, track_running_stats=True)
    gswa.update_bn([graphc.tensor(data(2, 3, 4))], norm)  # torch's instance norms are no _BatchNorm: left alone
    assert norm.num_batches_tracked.item() == 0
