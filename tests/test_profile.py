"""``cm.profile()``: each kernel timed inside real calls of the compiled function, on both backends."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.nn.functional as F
from graphc import benchmark, nn, optim
from graphc.cli import main
from graphc.errors import GraphcError
from graphc.runtime.compiled import CompiledFunction


def _training_step() -> tuple[CompiledFunction, nn.Module, optim.Adam, list[graphc.Tensor]]:
    graphc.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    optimizer = optim.Adam(model.parameters(), lr=0.01)

    def step(x: graphc.Tensor, y: graphc.Tensor) -> graphc.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss

    rng = np.random.default_rng(0)
    args = [graphc.tensor(rng.standard_normal((4, 6)).astype(np.float32)), graphc.tensor(np.array([0, 2, 1, 2]))]
    return graphc.compile(step), model, optimizer, args


def test_profile_times_every_kernel_inside_each_real_call(backend: str) -> None:
    compiled, model, optimizer, args = _training_step()
    profile = compiled.profile(*args, steps=3)
    assert [k.name for k in profile.kernels] == [k.name for k in compiled.report().kernels]
    assert all(len(k.seconds) == 3 and min(k.seconds) > 0 for k in profile.kernels)
    assert len(profile.calls) == 3
    assert sum(sum(k.seconds) for k in profile.kernels) <= sum(profile.calls)  # kernels run inside the calls
    steps = {int(state["step"]) for state in optimizer.state.values()}
    assert steps == {5}  # two untimed calls and three timed ones, each a real step


def test_profile_table_lists_kernels_by_time_and_what_is_outside_them() -> None:
    compiled, _, _, args = _training_step()
    profile = compiled.profile(*args, steps=2)
    table = str(profile)
    rows = [line.split() for line in table.splitlines()[2:-1]]
    assert [row[0] for row in rows] == [k.name for k in sorted(profile.kernels, key=lambda k: -k.median)]
    assert f"{len(profile.kernels)} kernels" in table.splitlines()[-1] and "per call" in table


def test_profile_of_results_computed_lazily_says_why_no_kernel_ran() -> None:
    weight = graphc.tensor(np.ones((3, 3), dtype=np.float32), requires_grad=True)
    compiled = graphc.compile(lambda x: (x @ weight).relu())
    with pytest.raises(GraphcError, match="ran none of the program's kernels.*no_grad"):
        compiled.profile(graphc.tensor(np.ones((2, 3), dtype=np.float32)), steps=1)
    with graphc.no_grad():
        assert compiled.profile(graphc.tensor(np.ones((2, 3), dtype=np.float32)), steps=1).kernels


def test_profile_needs_at_least_one_step() -> None:
    compiled = graphc.compile(lambda x: x * 2)
    with pytest.raises(GraphcError, match="steps must be at least 1, got 0"):
        compiled.profile(graphc.tensor([1.0, 2.0]), steps=0)


def test_graphc_bench_profile_prints_each_workloads_kernels(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--profile", "--quick", "--repeats", "2", "--only", "layer-norm"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("layer-norm") and "graphc profile (numpy backend, median of 2 calls)" in out
    assert "1 kernels" in out  # layer-norm is one kernel


def test_benchmark_steps_expose_their_arguments_for_profiling() -> None:
    workload = next(w for w in benchmark.workloads(quick=True) if w.name.startswith("softmax"))
    step, compiled = workload.graphc_step(True)
    assert step.args and compiled.profile(*step.args, steps=1).kernels


# ------------------------------------------------------------------ a compiled torch.nn.Module


def _torch_module() -> tuple[object, object, object]:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    return torch, model, graphc.compile(model, backend="numpy")


def test_torch_module_profile_times_the_forward_and_the_backward_kernels() -> None:
    torch, model, compiled = _torch_module()
    x = torch.randn(4, 6)
    profile = compiled.profile(x, steps=3)
    programs = compiled.report().programs
    assert list(programs) == ["forward", "backward"]
    expected = [(role, k.name) for role, report in programs.items() for k in report.kernels]
    assert [(k.program, k.name) for k in profile.kernels] == expected
    assert all(len(k.seconds) == 3 and min(k.seconds) > 0 for k in profile.kernels)
    assert sum(sum(k.seconds) for k in profile.kernels) <= sum(profile.calls)
    rows = [line.split()[0] for line in str(profile).splitlines()[2:-1]]
    assert sorted(rows) == sorted(f"{role}/{name}" for role, name in expected)
    # Real calls (batch norm counts them), but gradients taken without touching .grad.
    assert int(model[1].num_batches_tracked) == 5
    assert all(p.grad is None for p in model.parameters())


def test_torch_module_profile_without_gradients_times_the_inference_program() -> None:
    torch, model, compiled = _torch_module()
    compiled.eval()
    with torch.no_grad():
        profile = compiled.profile(torch.randn(4, 6), steps=2)
    assert {k.program for k in profile.kernels} == {"inference"}
    assert [k.name for k in profile.kernels] == [k.name for k in compiled.report().programs["inference"].kernels]
    with pytest.raises(GraphcError, match="steps must be at least 1"):
        compiled.profile(torch.randn(4, 6), steps=0)
