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
