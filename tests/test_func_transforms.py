"""graphc.func's derivatives, functional_call, graphc.autograd.functional and graphc.utils.checkpoint against
torch.func, torch.autograd.functional and torch.utils.checkpoint on the same float64 inputs."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data

import graphc
import graphc.autograd.functional as GAF
import graphc.func as gfunc
from graphc.errors import GraphcError
from graphc.utils.checkpoint import checkpoint, checkpoint_sequential


def f64(*shape: int) -> np.ndarray:
    return data(*shape, dtype="float64")


def tensors(*arrays: np.ndarray) -> tuple[list[graphc.Tensor], list[torch.Tensor]]:
    return [graphc.tensor(a.copy()) for a in arrays], [torch.tensor(a.copy()) for a in arrays]


def assert_tree(got: Any, want: Any) -> None:
    """Same pytree structure (tuples, lists, dicts) and matching tensors at the leaves."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want)
        for key in want:
            assert_tree(got[key], want[key])
    elif isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want), (type(got), type(want))
        for g, w in zip(got, want):
            assert_tree(g, w)
    else:
        assert_matches(got, want)


def vector_fn(T: Any) -> Any:
    """Two inputs, two outputs: a pytree of results with different shapes."""
    return lambda x, y: ((x.sin() * y[0]).cumsum(0), (x[:2] @ y.reshape(2, 2)).tanh())


def test_grad_and_value_with_argnums_aux_and_dict_inputs() -> None:
    (gx, gy), (tx, ty) = tensors(f64(3), f64(3))

    def fn(T: Any) -> Any:
        return lambda p, z: (((p["w"] * z).sin() + p["b"] ** 2).sum(), {"norm": z.norm()})

    gp, tp = {"w": gx, "b": gy}, {"w": tx, "b": ty}
    assert_tree(gfunc.grad(fn(graphc), has_aux=True)(gp, gx), torch.func.grad(fn(torch), has_aux=True)(tp, tx))
    got = gfunc.grad_and_value(fn(graphc), argnums=(0, 1), has_aux=True)(gp, gx)
    assert_tree(got, torch.func.grad_and_value(fn(torch), argnums=(0, 1), has_aux=True)(tp, tx))


def test_second_and_third_derivatives_nest() -> None:
    (gx,), (tx,) = tensors(f64(4))

    def fn(x: Any) -> Any:
        return (x.exp() * x.cos()).sum()

    assert_matches(gfunc.grad(lambda x: gfunc.grad(fn)(x).sum())(gx), torch.func.grad(lambda x: torch.func.grad(fn)(x).sum())(tx))
    assert_matches(gfunc.jacrev(gfunc.jacrev(gfunc.grad(fn)))(gx), torch.func.jacrev(torch.func.jacrev(torch.func.grad(fn)))(tx))


def test_argument_also_captured_is_differentiated_on_its_own() -> None:
    (gy,), (ty,) = tensors(f64(3))
    assert_matches(gfunc.grad(lambda x: (x * gy).sum())(gy), torch.func.grad(lambda x: (x * ty).sum())(ty))


def test_vjp_and_jvp_of_pytree_outputs() -> None:
    (gx, gy, gu, gv, gt), (tx, ty, tu, tv, tt) = tensors(f64(4), f64(4), f64(4), f64(2), f64(4))
    out, pull = gfunc.vjp(vector_fn(graphc), gx, gy)
    t_out, t_pull = torch.func.vjp(vector_fn(torch), tx, ty)
    assert_tree(out, t_out)
    assert_tree(pull((gu, gv)), t_pull((tu, tv)))
    assert_tree(gfunc.jvp(vector_fn(graphc), (gx, gy), (gt, gu)), torch.func.jvp(vector_fn(torch), (tx, ty), (tt, tu)))
    with pytest.raises(GraphcError, match="Mismatch in shape"):
        pull((gu, gu))


@pytest.mark.parametrize("transform", ["jacrev", "jacfwd"])
def test_jacobians_of_vector_functions(transform: str) -> None:
    (gx, gy), (tx, ty) = tensors(f64(4), f64(4))
    mine, theirs = getattr(gfunc, transform), getattr(torch.func, transform)
    assert_tree(mine(vector_fn(graphc), argnums=(0, 1))(gx, gy), theirs(vector_fn(torch), argnums=(0, 1))(tx, ty))
    assert_tree(mine(lambda m: (m @ m).sin())(gx.reshape(2, 2)), theirs(lambda m: (m @ m).sin())(tx.reshape(2, 2)))

    def with_aux(p: dict) -> Any:
        return (p["w"].sin() * p["b"]).cumsum(0), {"total": p["w"].sum()}

    assert_tree(mine(with_aux, has_aux=True)({"w": gx, "b": gy}), theirs(with_aux, has_aux=True)({"w": tx, "b": ty}))


def test_hessian_matches_torch_and_stays_differentiable(backend: str) -> None:
    (gx,), (tx,) = tensors(f64(3))
    gx.requires_grad_(True)
    tx.requires_grad_(True)

    def fn(x: Any) -> Any:
        return (x.sin() * x.roll(1)).sum() + x.prod()

    got, want = gfunc.hessian(fn)(gx), torch.func.hessian(fn)(tx)
    assert_matches(got, want)
    (got * got).sum().backward()
    (want * want).sum().backward()
    assert_matches(gx.grad, tx.grad)
    assert not gfunc.hessian(fn)(gx.detach()).requires_grad


def test_transforms_compose_in_any_order() -> None:
    (gx,), (tx,) = tensors(f64(3, 4))

    def scalar(v: Any) -> Any:
        return (v.sin() * v.cumsum(0)).sum()

    def vector(v: Any) -> Any:
        return v.exp() * v[0]

    for build in (
        lambda F: F.vmap(F.hessian(scalar)),
        lambda F: F.vmap(F.jacrev(vector)),
        lambda F: F.jacfwd(F.vmap(vector)),
        lambda F: F.grad(lambda v: F.vmap(scalar)(v).sum()),
    ):
        assert_matches(build(gfunc)(gx), build(torch.func)(tx))


def test_gradient_errors_are_torchs() -> None:
    x = graphc.ones(3)
    with pytest.raises(GraphcError, match="Expected f\\(\\*args\\) to return a scalar Tensor"):
        gfunc.grad(lambda x: x * 2)(x)
    with pytest.raises(GraphcError, match="argnums"):
        gfunc.grad(lambda x: x.sum(), argnums=1)(x)
    with pytest.raises(GraphcError, match="floating point"):
        gfunc.grad(lambda x: x.sum())(graphc.ones(3, dtype=graphc.int64))


def _modules() -> tuple[graphc.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2)).double().eval()
    gm = graphc.nn.Sequential(graphc.nn.Linear(3, 4), graphc.nn.BatchNorm1d(4), graphc.nn.Linear(4, 2)).double().eval()
    gm.load_state_dict(tm.state_dict())
    return gm, tm


def test_functional_call_substitutes_parameters_and_buffers_without_changing_the_module() -> None:
    gm, tm = _modules()
    (gx,), (tx,) = tensors(f64(5, 3))
    replaced = {"0.weight": f64(4, 3), "1.running_mean": f64(4), "2.bias": f64(2)}
    got = gfunc.functional_call(gm, {k: graphc.tensor(v) for k, v in replaced.items()}, (gx,))
    want = torch.func.functional_call(tm, {k: torch.tensor(v) for k, v in replaced.items()}, (tx,))
    assert_matches(got, want)
    assert_matches(gm(gx), tm(tx))
    assert graphc.nn.utils.stateless.functional_call is gfunc.functional_call
    with pytest.raises(RuntimeError, match="Missing key"):
        gfunc.functional_call(gm, {"0.weight": graphc.tensor(replaced["0.weight"])}, gx, strict=True)


def test_functional_call_ties_weights_as_torch() -> None:
    g_lin, t_lin = graphc.nn.Linear(2, 2, bias=False).double(), torch.nn.Linear(2, 2, bias=False).double()
    g_tied, t_tied = graphc.nn.Sequential(g_lin, g_lin), torch.nn.Sequential(t_lin, t_lin)
    w = f64(2, 2)
    (gx,), (tx,) = tensors(f64(3, 2))
    assert_matches(gfunc.functional_call(g_tied, {"0.weight": graphc.tensor(w)}, gx), torch.func.functional_call(t_tied, {"0.weight": torch.tensor(w)}, tx))
    with pytest.raises(ValueError, match="which are tied"):
        gfunc.functional_call(g_tied, {"0.weight": graphc.tensor(w), "1.weight": graphc.tensor(w * 2)}, gx)


def test_an_ensemble_runs_as_one_vmap_over_stacked_module_state() -> None:
    torch.manual_seed(0)
    t_models = [torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)).double().eval() for _ in range(3)]
    g_models = [graphc.nn.Sequential(graphc.nn.Linear(3, 4), graphc.nn.BatchNorm1d(4)).double().eval() for _ in range(3)]
    for g, t in zip(g_models, t_models):
        g.load_state_dict(t.state_dict())
    (gx,), (tx,) = tensors(f64(5, 3))
    results = []
    for func, models, x in ((gfunc, g_models, gx), (torch.func, t_models, tx)):
        params, buffers = func.stack_module_state(models)
        assert params["0.weight"].is_leaf and params["0.weight"].requires_grad
        results.append(func.vmap(lambda p, b, d, m=models[0], f=func: f.functional_call(m, (p, b), (d,)), in_dims=(0, 0, None))(params, buffers, x))
    assert_matches(*results)


def test_linearize_gives_the_jvp_at_the_primals() -> None:
    (gx, gt), (tx, tt) = tensors(f64(2, 3), f64(2, 3))
    g_out, g_jvp = gfunc.linearize(lambda v: v.sin() * v.sum(0), gx)
    t_out, t_jvp = torch.func.linearize(lambda v: v.sin() * v.sum(0), tx)
    assert_tree([g_out, g_jvp(gt)], [t_out, t_jvp(tt)])


def _scalar(T: Any) -> Any:
    return lambda x, y: (x.exp() * y.sin()).sum() + (x * x * y).sum()


def test_autograd_functional_jacobian_and_hessian_structures() -> None:
    (gx, gy), (tx, ty) = tensors(f64(4), f64(4))
    TAF = torch.autograd.functional
    assert_tree(GAF.jacobian(vector_fn(graphc), (gx, gy)), TAF.jacobian(vector_fn(torch), (tx, ty)))
    assert_tree(GAF.jacobian(lambda x: x.sin() * 2, gx), TAF.jacobian(lambda x: x.sin() * 2, tx))
    assert_tree(
        GAF.jacobian(lambda x: (x.exp(), x[:2]), gx, vectorize=True, strategy="forward-mode"),
        TAF.jacobian(lambda x: (x.exp(), x[:2]), tx, vectorize=True, strategy="forward-mode"),
    )
    assert_tree(GAF.hessian(_scalar(graphc), (gx, gy)), TAF.hessian(_scalar(torch), (tx, ty)))
    assert_tree(GAF.hessian(lambda x: _scalar(graphc)(x, gy), gx), TAF.hessian(lambda x: _scalar(torch)(x, ty), tx))
    with pytest.raises(NotImplementedError, match="vectorize=True"):
        GAF.jacobian(vector_fn(graphc), (gx, gy), strategy="forward-mode")


def test_autograd_functional_products() -> None:
    (gx, gy, gu, gv), (tx, ty, tu, tv) = tensors(f64(3), f64(3), f64(3), f64(3))
    TAF = torch.autograd.functional
    for name in ("vhp", "hvp"):
        assert_tree(getattr(GAF, name)(_scalar(graphc), (gx, gy), (gu, gv)), getattr(TAF, name)(_scalar(torch), (tx, ty), (tu, tv)))
    assert_tree(GAF.vjp(lambda x: x.sin() * x, gx, gu), TAF.vjp(lambda x: x.sin() * x, tx, tu))
    assert_tree(GAF.jvp(lambda x, y: (x * y, y.exp()), (gx, gy), (gu, gv)), TAF.jvp(lambda x, y: (x * y, y.exp()), (tx, ty), (tu, tv)))
    out, vjp = GAF.vjp(lambda x: x.sin().sum(), gx.requires_grad_(True))
    assert not out.requires_grad and not vjp.requires_grad
    _, vjp = GAF.vjp(lambda x: x.sin().sum(), gx, create_graph=True)
    assert vjp.requires_grad
    with pytest.raises(RuntimeError, match="independent of input 1"):
        GAF.jacobian(lambda x, y: x * 2, (gx, gy), strict=True)


def _checkpointed_grads(T: Any, nn: Any, cp: Any, cps: Any, model: Any, x: Any) -> list:
    first = cp(lambda h: T.tanh(model[0](h)), x, use_reentrant=False)
    out = cps(nn.Sequential(model[1], model[2]), 2, first, use_reentrant=False)
    (out**2).sum().backward()
    return [x.grad] + [p.grad for p in model.parameters()]


def test_checkpoint_gives_torchs_values_and_gradients() -> None:
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 4), torch.nn.Linear(4, 2)).double()
    gm = graphc.nn.Sequential(graphc.nn.Linear(3, 4), graphc.nn.Linear(4, 4), graphc.nn.Linear(4, 2)).double()
    gm.load_state_dict(tm.state_dict())
    x = f64(5, 3)
    gx, tx = graphc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    got = _checkpointed_grads(graphc, graphc.nn, checkpoint, checkpoint_sequential, gm, gx)
    want = _checkpointed_grads(torch, torch.nn, torch.utils.checkpoint.checkpoint, torch.utils.checkpoint.checkpoint_sequential, tm, tx)
    assert_tree(got, want)


def test_checkpointed_layers_are_recomputed_in_the_backward_and_keep_fewer_bytes() -> None:
    graphc.manual_seed(0)
    model = graphc.nn.Sequential(*[layer for _ in range(4) for layer in (graphc.nn.Linear(16, 16), graphc.nn.Tanh())])

    def step(x: graphc.Tensor, segments: int) -> list:
        h = checkpoint_sequential(model, segments, x, use_reentrant=False) if segments else model(x)
        (h**2).sum().backward()
        grads = [p.grad for p in model.parameters()]
        model.zero_grad()
        return grads

    x = graphc.tensor(f64(64, 16).astype(np.float32))
    kept = []
    for segments in (0, 2):
        compiled = graphc.compile(lambda x, s=segments: step(x, s))
        grads = compiled(x)
        report = compiled.report()
        kept.append((report.remat.at(report.sizes)[1], report.remat.recomputed, grads))
    (plain_bytes, plain_recomputed, plain), (checkpointed_bytes, recomputed, grads) = kept
    # As torch: the first segment's inner activation (64 x 16 float32) is recomputed, its output kept.
    assert checkpointed_bytes == plain_bytes - 64 * 16 * 4 and recomputed > plain_recomputed
    for got, want in zip(grads, plain):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6)


def test_reentrant_checkpoint_without_grad_inputs_gives_no_gradient_as_torch() -> None:
    g_lin = graphc.nn.Linear(2, 2).double()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = checkpoint(g_lin, graphc.tensor(f64(3, 2)), use_reentrant=True)
    assert not out.requires_grad
    with pytest.raises(ValueError, match="Unexpected keyword arguments"):
        checkpoint(lambda x, scale: x * scale, graphc.ones(2), use_reentrant=True, scale=2.0)
