"""graphc.optim.LBFGS against torch.optim.LBFGS (and SparseAdam's refusal): the same closure calls, weights and state after
several steps in float64, with and without the strong-Wolfe line search; state dicts both ways;
refused inside graphc.compile. (float32 is not compared: graphc sums dot products in another order
than torch's BLAS, and L-BFGS amplifies those roundings within a few iterations.)"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from test_optim import X, Y, assert_same_weights, graphc_params, mlp_loss, torch_params

import graphc
from graphc import optim
from graphc.errors import GraphcError

# Stopping by max_iter, then by tolerance_change (3rd step); by max_eval; by tolerance_grad (2nd step), then at once (3rd).
CASES = [
    {"history_size": 4, "lr": 0.5, "tolerance_change": 1e-3},
    {"line_search_fn": "strong_wolfe", "history_size": 3, "max_iter": 6, "max_eval": 7},
    {"line_search_fn": "strong_wolfe", "history_size": 4, "tolerance_grad": 3e-2},
]


def closure_for(params: list[Any], opt: Any, lib: Any, calls: list[int]) -> Callable[[], Any]:
    """The full-batch MLP loss, counting its calls: L-BFGS decides how often to evaluate it."""
    x, y = lib.tensor(X), lib.tensor(Y)

    def closure() -> Any:
        calls.append(1)
        opt.zero_grad()
        loss = mlp_loss(params, x, y)
        loss.backward()
        return loss

    return closure


@pytest.mark.parametrize("options", CASES, ids=["fixed-step", "strong-wolfe-max-eval", "strong-wolfe-tolerance-grad"])
def test_lbfgs_matches_torch_for_3_steps_in_float64(options: dict[str, Any]) -> None:
    gp, tp = graphc_params(), torch_params()
    gopt, topt = optim.LBFGS(gp, **options), torch.optim.LBFGS(tp, **options)
    gcalls: list[int] = []
    tcalls: list[int] = []
    gclosure, tclosure = closure_for(gp, gopt, graphc, gcalls), closure_for(tp, topt, torch, tcalls)
    for _ in range(3):
        gloss, tloss = gopt.step(gclosure), topt.step(tclosure)
        assert len(gcalls) == len(tcalls)  # the same path: as many evaluations, step by step
        np.testing.assert_allclose(float(gloss), tloss.item(), rtol=1e-10)
    assert_same_weights(gp, tp, rtol=1e-9, atol=1e-11)
    gstate, tstate = gopt.state[gp[0]], topt.state[tp[0]]
    assert set(gstate) == set(tstate)
    assert (gstate["func_evals"], gstate["n_iter"]) == (tstate["func_evals"], tstate["n_iter"])
    assert len(gstate["old_dirs"]) == len(tstate["old_dirs"]) <= options.get("history_size", 100)
    for g, t in zip([gstate["d"], gstate["prev_flat_grad"], *gstate["old_stps"]], [tstate["d"], tstate["prev_flat_grad"], *tstate["old_stps"]]):
        np.testing.assert_allclose(g.numpy(), t.numpy(), rtol=1e-8, atol=1e-11)


def test_lbfgs_runs_on_each_backend(backend: str) -> None:
    gp, tp = graphc_params(), torch_params()
    options = {"line_search_fn": "strong_wolfe", "history_size": 2, "max_iter": 3}
    gopt, topt = optim.LBFGS(gp, **options), torch.optim.LBFGS(tp, **options)
    gopt.step(closure_for(gp, gopt, graphc, []))
    topt.step(closure_for(tp, topt, torch, []))
    assert_same_weights(gp, tp, rtol=1e-9, atol=1e-11)


def test_lbfgs_state_dict_round_trip_through_save_and_load() -> None:
    options = {"line_search_fn": "strong_wolfe", "history_size": 3, "max_iter": 4}
    gp = graphc_params()
    opt = optim.LBFGS(gp, **options)
    closure = closure_for(gp, opt, graphc, [])
    opt.step(closure)
    opt.step(closure)
    buffer = io.BytesIO()
    graphc.save({"params": list(gp), "optim": opt.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = graphc.load(buffer)
    resumed_params = [graphc.tensor(p.numpy(), requires_grad=True) for p in checkpoint["params"]]
    resumed = optim.LBFGS(resumed_params, lr=0.5, **{k: v for k, v in options.items() if k != "lr"})
    resumed.load_state_dict(checkpoint["optim"])
    assert resumed.param_groups[0]["lr"] == 1
    opt.step(closure)
    resumed.step(closure_for(resumed_params, resumed, graphc, []))
    for a, b in zip(gp, resumed_params):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_lbfgs_load_state_dict_from_torch_continues_like_torch() -> None:
    options = {"history_size": 3, "max_iter": 5, "lr": 0.8}
    tp = torch_params()
    topt = torch.optim.LBFGS(tp, **options)
    topt.step(closure_for(tp, topt, torch, []))
    gp = [graphc.tensor(t.detach().numpy(), requires_grad=True) for t in tp]
    gopt = optim.LBFGS(gp, **options)
    gopt.load_state_dict(topt.state_dict())
    assert gopt.state[gp[0]]["n_iter"] == 5 and len(gopt.state[gp[0]]["old_dirs"]) == 3
    gopt.step(closure_for(gp, gopt, graphc, []))
    topt.step(closure_for(tp, topt, torch, []))
    assert_same_weights(gp, tp, rtol=1e-9, atol=1e-11)


def test_lbfgs_refuses_to_run_inside_graphc_compile_but_takes_a_compiled_closure() -> None:
    gp = graphc_params()
    opt = optim.LBFGS(gp, history_size=2, max_iter=3)

    def loss_and_grads(x: graphc.Tensor, y: graphc.Tensor) -> graphc.Tensor:
        opt.zero_grad()
        loss = mlp_loss(gp, x, y)
        loss.backward()
        return loss

    x, y = graphc.tensor(X), graphc.tensor(Y)
    with pytest.raises(GraphcError, match="LBFGS cannot run inside graphc.compile: each iteration reads the loss and gradient values") as error:
        graphc.compile(lambda x, y: opt.step(lambda: loss_and_grads(x, y)))(x, y)
    assert "test_optim_lbfgs.py:" in str(error.value)  # the line that called step
    compiled = graphc.compile(loss_and_grads)
    eager_params = graphc_params()
    eager = optim.LBFGS(eager_params, history_size=2, max_iter=3)
    opt.step(lambda: compiled(x, y))
    eager.step(closure_for(eager_params, eager, graphc, []))
    for a, b in zip(gp, eager_params):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)


def test_lbfgs_arguments_as_torch() -> None:
    gp = graphc_params()
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        optim.LBFGS([{"params": gp[:2]}, {"params": gp[2:]}])
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        optim.LBFGS(gp, lr=-1)
    opt = optim.LBFGS(gp, max_iter=8)
    assert opt.defaults == torch.optim.LBFGS(torch_params(), max_iter=8).defaults
    with pytest.raises(GraphcError, match="LBFGS.step needs a closure"):
        opt.step()
    bad = optim.LBFGS(gp, line_search_fn="backtracking")
    with pytest.raises(RuntimeError, match="only 'strong_wolfe' is supported"):
        bad.step(closure_for(gp, bad, graphc, []))


def test_sparse_adam_is_refused_with_the_reason() -> None:
    """graphc's gradients are dense, which torch's SparseAdam refuses: a clear error at construction, not a missing name."""
    with pytest.raises(GraphcError, match="SparseAdam is not supported: it updates the rows named by sparse gradients, and graphc's gradients are dense"):
        optim.SparseAdam(graphc_params(), lr=0.01)
