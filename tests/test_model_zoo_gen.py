"""Generative and RL training loops (tests/model_zoo_gen.py) run by graphc.compile and by eager torch, compared.

Each loop is built from the same source and weights in both libraries, in float64, and
trained for a few steps on fresh batches (each step's noise, timesteps and actions drawn
once with NumPy and given to both), so a stale constant in a replayed program, a wrong
gradient through a detach or a frozen model, or an optimizer or scheduler value baked
into the trace shows as a difference in the results, the gradients, the parameters and
buffers, the requires_grad flags, or the eval-mode outputs checked between the steps.

Cost: every loop compiles several programs (an eager first step, a traced one, a replayed
one, evaluations), 2-15 s each. The default suite runs two on the NumPy backend without C
loops: the VAE (noise through a reparameterization, OneCycleLR cycling Adam's beta1) and
MoCo (``.data`` writes, whose replay was wrong, and a queue buffer written at a position
read from another); the other bugs the zoo found have small regression tests of their own
(tests/test_compile_guards.py, test_ops_movement.py, test_nn_weight_norm.py). ``-m slow``
runs every loop on both backends, three without fusion, and the models torch.export can trace through the importer.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
from model_zoo_gen import CASES, Case, actor_critic, clip, dcgan, ddpm, simclr, vae

import graphc

RTOL, ATOL = 1e-10, 1e-12
DEFAULT = {"vae", "moco"}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def _c_loops_only_when_slow(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("slow") is None:
        monkeypatch.setenv("GRAPHC_NATIVE", "0")


def _as(T: Any, value: Any) -> Any:
    """A NumPy array as a ``T`` tensor; Python lists stay lists."""
    return T.from_numpy(value.copy()) if isinstance(value, np.ndarray) else value


def _models(case: Case) -> tuple[dict[str, Any], dict[str, Any]]:
    torch.manual_seed(0)
    reference = {name: m.double() for name, m in case.build(torch.nn).items()}
    models = {name: m.double() for name, m in case.build(graphc.nn).items()}
    for name, m in models.items():
        m.load_state_dict(reference[name].state_dict())
    return reference, models


def _assert_close(got: Any, expected: Any, what: str) -> None:
    if isinstance(expected, torch.Tensor):
        assert isinstance(got, graphc.Tensor), f"{what}: {type(got).__name__}"
        assert got.dtype.name == str(expected.dtype).removeprefix("torch."), f"{what}: {got.dtype} vs {expected.dtype}"
        assert tuple(got.shape) == tuple(expected.shape), f"{what}: {tuple(got.shape)} vs {tuple(expected.shape)}"
        got, expected = got.numpy(), expected.detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL, err_msg=what)


def _assert_same_state(models: dict[str, Any], reference: dict[str, Any], when: str) -> None:
    """Parameters (and their ``.grad``, None where torch's is None), buffers and ``requires_grad`` flags equal torch's."""
    for name, model in models.items():
        for (key, p), (_, q) in zip(model.named_parameters(), reference[name].named_parameters(), strict=True):
            what = f"{name}.{key} {when}"
            assert p.requires_grad == q.requires_grad, f"requires_grad of {what}"
            _assert_close(p, q, what)
            assert (p.grad is None) == (q.grad is None), f"grad of {what}: {p.grad} vs {q.grad}"
            if q.grad is not None:
                _assert_close(p.grad, q.grad, f"grad of {what}")
        for (key, b), (_, c) in zip(model.named_buffers(), reference[name].named_buffers(), strict=True):
            _assert_close(b, c, f"buffer {name}.{key} {when}")


def _evaluate(case: Case, reference: dict[str, Any], models: dict[str, Any], batch: tuple[Any, ...], evaluate: Any, what: str) -> None:
    """The eval-mode output under no_grad (graphc's through ``evaluate``), then both back in train mode."""
    for m in (*reference.values(), *models.values()):
        m.eval()
    with torch.no_grad():
        expected = case.evaluate(torch.nn, reference, *(_as(torch, x) for x in batch))
    with graphc.no_grad():
        got = evaluate(*(_as(graphc, x) for x in batch))
    _assert_close(got, expected, what)
    for m in (*reference.values(), *models.values()):
        m.train()


def train_and_compare(case: Case, backend: str = "numpy", fusion: bool = True) -> None:
    """The case's steps compiled against torch's on fresh batches, comparing everything after each and evaluating
    (eagerly, in eval mode) between them, as a validation pass does; then a compiled evaluation."""
    reference, models = _models(case)
    t_opts = case.optimizers(torch.optim, reference)
    g_opts = case.optimizers(graphc.optim, models)
    t_scheds = case.schedulers(torch.optim.lr_scheduler, t_opts)
    g_scheds = case.schedulers(graphc.optim.lr_scheduler, g_opts)
    step = graphc.compile(lambda *batch: case.step(graphc.nn, models, g_opts, *batch), backend=backend, fusion=fusion)
    rng = np.random.default_rng(7)
    traces = []
    with graphc.use_backend(backend):
        for i in range(case.steps):
            batch = case.inputs(rng)
            expected = case.step(torch.nn, reference, t_opts, *(_as(torch, x) for x in batch))
            got = step(*(_as(graphc, x) for x in batch))
            traces.append(step.trace_count)
            for k, (g, e) in enumerate(zip(got, expected, strict=True)):
                _assert_close(g, e, f"result {k} of step {i}")
            _assert_same_state(models, reference, f"after step {i}")
            for t_sched, g_sched in zip(t_scheds, g_scheds):
                t_sched.step()
                g_sched.step()
                assert g_sched.get_last_lr() == pytest.approx(t_sched.get_last_lr(), rel=1e-15)
            _evaluate(case, reference, models, case.inputs(rng), lambda *b: case.evaluate(graphc.nn, models, *b), f"eval after step {i}")
        compiled = graphc.compile(lambda *b: case.evaluate(graphc.nn, models, *b), backend=backend, fusion=fusion)
        _evaluate(case, reference, models, case.inputs(rng), compiled, "compiled eval")
    if case.replays:
        assert traces[-1] == traces[-2], f"the last step traced again: {step.recompilations}"
    if backend == "triton":
        assert step.report().backend == "triton"


def _cases(default: set[str], backend: str) -> list[Any]:
    return [pytest.param(c, id=f"{c.name}-{backend}", marks=() if c.name in default else pytest.mark.slow) for c in CASES]


@pytest.mark.parametrize("case", _cases(DEFAULT, "numpy"))
def test_compiled_training_steps_match_torch(case: Case) -> None:
    train_and_compare(case)


@pytest.mark.parametrize("case", _cases(set(), "triton"))
def test_compiled_training_steps_on_triton_match_torch(case: Case) -> None:
    """Every loop on the Triton interpreter (5-30 s each)."""
    pytest.importorskip("triton")
    train_and_compare(case, backend="triton")


UNFUSED = {"dcgan", "actor_critic", "moco"}  # each unfused program with its C loops costs 20-130 s to build


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if c.name in UNFUSED], ids=lambda c: c.name)
def test_compiled_training_steps_without_fusion_match_torch(case: Case) -> None:
    train_and_compare(case, fusion=False)


def _first(outputs: Any) -> Any:
    return outputs[0]


# The models whose forward torch.export traces (RealNVP's ActNorm branches on a buffer's value, which it cannot),
# each with its inputs and a function of its outputs to differentiate.
IMPORTED = {
    "vae": (lambda: vae(torch.nn)["vae"], lambda rng: (rng.uniform(size=(4, 12)), rng.standard_normal((4, 4))), _first),
    "dcgan_generator": (lambda: dcgan(torch.nn)["G"], lambda rng: (rng.standard_normal((3, 4, 1, 1)),), None),
    "dcgan_discriminator": (lambda: dcgan(torch.nn)["D"], lambda rng: (rng.standard_normal((3, 1, 8, 8)),), None),
    "ddpm": (
        lambda: ddpm(torch.nn)["diffusion"],
        lambda rng: (rng.uniform(-1, 1, size=(3, 1, 6, 6)), rng.integers(0, 20, size=(3,)), rng.standard_normal((3, 1, 6, 6))),
        None,
    ),
    "actor_critic": (lambda: actor_critic(torch.nn)["ac"], lambda rng: (rng.standard_normal((6, 4)),), lambda o: o[0] + 2 * o[1] + o[2][:, None]),
    "simclr": (lambda: simclr(torch.nn)["simclr"], lambda rng: (rng.standard_normal((4, 10)),), None),
    "clip": (lambda: clip(torch.nn)["clip"], lambda rng: (rng.standard_normal((4, 10)), rng.standard_normal((4, 6))), lambda o: o[2] * o[0] @ o[1].T),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(IMPORTED))
def test_imported_torch_model_matches_eager_values_and_gradients(name: str) -> None:
    make, inputs, output = IMPORTED[name]
    output = output or (lambda o: o)
    torch.manual_seed(0)
    reference = make().double()
    imported_source = copy.deepcopy(reference)
    compiled = graphc.compile(imported_source)
    rng = np.random.default_rng(3)
    batch = [torch.from_numpy(x) for x in inputs(rng)]
    expected, got = output(reference(*batch)), output(compiled(*batch))
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=RTOL, atol=ATOL)
    weights = torch.from_numpy(rng.standard_normal(tuple(expected.shape)))
    (expected * weights).sum().backward()
    (got * weights).sum().backward()
    for (key, p), q in zip(imported_source.named_parameters(), reference.parameters(), strict=True):
        assert (p.grad is None) == (q.grad is None), key
        if q.grad is not None:
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg=key)
