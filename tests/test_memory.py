"""The memory plan: no two buffers that are alive at once share bytes; peak below naive."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from random_graphs import Program, programs

import graphc
from graphc.benchmark import workloads
from graphc.frontend import lazy
from graphc.passes.memory import MemoryPlan, assign_offsets, plan_memory
from graphc.runtime.executor import compile_graph

pytestmark = pytest.mark.usefixtures("numpy_kernels")  # C loops have their own tests (conftest.py)


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4096), st.integers(0, 20), st.integers(0, 6)), min_size=1, max_size=25), st.data())
def test_live_buffers_never_share_bytes(specs: list[tuple[int, int, int]], data: st.DataObject) -> None:
    nbytes = [n for n, _, _ in specs]
    lifetimes = [(start, start + length) for _, start, length in specs]
    reuses: list[int | None] = []
    for i, (start, _) in enumerate(lifetimes):
        dying = [j for j in range(len(lifetimes)) if j != i and lifetimes[j][1] == start and nbytes[j] >= nbytes[i]]
        reuses.append(data.draw(st.sampled_from([None, *dying])))
    offsets, peak = assign_offsets(nbytes, lifetimes, reuses)
    for i in range(len(nbytes)):
        assert offsets[i] >= 0 and offsets[i] + nbytes[i] <= peak
        for j in range(i):
            in_place = (reuses[i] == j or reuses[j] == i) and offsets[i] == offsets[j]  # a pair written in place shares its start, or nothing
            if overlaps(lifetimes[i], lifetimes[j]) and not in_place:
                assert offsets[i] + nbytes[i] <= offsets[j] or offsets[j] + nbytes[j] <= offsets[i]
    assert peak <= sum(nbytes)


def test_training_graph_plan_reuses_memory() -> None:
    rng = np.random.default_rng(0)
    x = graphc.tensor(rng.standard_normal((64, 32)).astype(np.float32))
    weights = [graphc.tensor(rng.standard_normal((32, 32)).astype(np.float32), requires_grad=True) for _ in range(6)]
    h = x
    for w in weights:
        h = (h @ w).tanh()
    h.sum().backward()
    graph, leaves = lazy.pending_graph([w.grad._node for w in weights])
    program = compile_graph(graph)
    program([leaf.data for leaf in leaves])
    memory = program.report.memory
    assert memory.peak_bytes < memory.naive_bytes
    plan = plan_memory(program.program)
    offsets, _ = plan.offsets({})
    for i, a in enumerate(plan.buffers):
        for j, b in enumerate(plan.buffers[:i]):
            in_place = (a.reuses == j or b.reuses == i) and offsets[i] == offsets[j]
            if overlaps((a.start, a.end), (b.start, b.end)) and not in_place:
                size_a, size_b = a.nbytes({}), b.nbytes({})
                assert offsets[i] + size_a <= offsets[j] or offsets[j] + size_b <= offsets[i]


def _check_no_overlap(plan: MemoryPlan, sizes: dict[str, int]) -> None:
    offsets, peak = plan.offsets(sizes)
    for i, a in enumerate(plan.buffers):
        assert offsets[i] + a.nbytes(sizes) <= peak
        for j, b in enumerate(plan.buffers[:i]):
            in_place = (a.reuses == j or b.reuses == i) and offsets[i] == offsets[j]
            if overlaps((a.start, a.end), (b.start, b.end)) and not in_place:
                assert offsets[i] + a.nbytes(sizes) <= offsets[j] or offsets[j] + b.nbytes(sizes) <= offsets[i], (a, b)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), st.booleans())
def test_random_programs_keep_live_buffers_apart_and_their_results(program: Program, fusion: bool) -> None:
    """Over random graphs: buffers alive at once never share bytes, and writing in place never changes a result."""
    graph, leaves = lazy.pending_graph([t._node for t in program.outputs])
    compiled = compile_graph(graph, fusion=fusion)
    got = compiled([leaf.data for leaf in leaves])
    _check_no_overlap(compiled.report.plan, {})
    program.assert_results(got, rtol=1e-10)


def test_offsets_are_planned_once_per_concrete_size() -> None:
    """Sizes are symbolic: the arena is laid out per batch size when the program runs, and cached."""

    def step(x: graphc.Tensor) -> graphc.Tensor:
        h = (x @ x.T).tanh()
        return (h * h.sum(1, keepdim=True)).softmax(1).sum()

    compiled = graphc.compile(step)
    rng = np.random.default_rng(0)
    peaks = {}
    for batch in (8, 32, 8):
        compiled(graphc.tensor(rng.standard_normal((batch, 5))))
        report = compiled.report()
        peaks.setdefault(batch, report.memory.peak_bytes)
        assert report.memory.sizes == {"B": batch} and report.memory.peak_bytes == peaks[batch]
    plan = report.plan
    assert plan.offsets({"B": 8}) is plan.offsets({"B": 8})
    assert peaks[32] > peaks[8]
    assert set(plan.layouts) == {(("B", 8),), (("B", 32),)}


@pytest.mark.parametrize("name", [w.name for w in workloads(quick=True) if w.kind == "training step"])
def test_planned_peak_is_at_most_half_of_naive_on_the_training_workloads(name: str) -> None:
    workload = next(w for w in workloads(quick=True) if w.name == name)
    step, compiled = workload.graphc_step(True)
    step()
    memory = compiled.report().memory
    assert memory.peak_bytes <= memory.naive_bytes / 2, (name, memory)
    _check_no_overlap(compiled.report().plan, memory.sizes)


def test_a_matmul_result_read_by_its_epilogue_is_planned_and_its_epilogue_writes_over_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The NumPy backend stores a product before its epilogue reads it: arena bytes for that kernel, then reused in place."""
    monkeypatch.setenv("GRAPHC_NATIVE", "1")  # the C loops' kernel, whose epilogue reads the stored product
    rng = np.random.default_rng(0)
    x, w, b, v = (graphc.tensor(rng.standard_normal(shape)) for shape in ((64, 32), (32, 48), (48,), (48, 8)))
    graph, leaves = lazy.pending_graph([((x @ w + b).tanh() @ v)._node])
    compiled = compile_graph(graph)
    (got,) = compiled([leaf.data for leaf in leaves])
    np.testing.assert_allclose(got, np.tanh(x.numpy() @ w.numpy() + b.numpy()) @ v.numpy(), rtol=1e-12)
    plan = compiled.report.plan
    (product,) = [i for i, buffer in enumerate(plan.buffers) if buffer.node.op == "matmul"]
    assert plan.buffers[product].start == plan.buffers[product].end
    assert any(buffer.reuses == product for buffer in plan.buffers)
    assert "np.matmul(" in compiled.program.kernels[0].source and ", out=out_" in compiled.program.kernels[0].source


def test_the_planned_peak_never_exceeds_the_naive_sum_of_tiny_buffers() -> None:
    """Both count buffers aligned as the arena aligns them, so rounding alone cannot make the plan look worse."""
    compiled = graphc.compile(lambda x: x[1:].sum(0) + x[:-2].mean(0))
    compiled(graphc.randn(6, 3))
    memory = compiled.report().memory
    assert 0 < memory.peak_bytes <= memory.naive_bytes


def test_the_peak_is_unknown_until_a_call_gives_the_symbolic_sizes() -> None:
    from graphc.runtime.executor import compile_graph

    graph = graphc.compile(lambda x: (x @ x.T).softmax(1) @ x)  # buffers between kernels, sized by B
    graph(graphc.randn(4, 3))
    report = compile_graph(graph.report().graph).report  # compiled again, never called
    assert report.memory.peak_bytes is None
    assert "unknown until a call" in str(report.memory)


@pytest.mark.parametrize("fusion", [False, True], ids=["unfused", "fused"])
def test_a_result_that_is_its_operands_array_is_not_overwritten_by_later_kernels(fusion: bool) -> None:
    """Found by the fuzzer (seed 70271): unfused, the mean of a 0-d value is its operand's array, which
    the NumPy program returned as it was, arena bytes a later kernel of the same call overwrote
    (the result read 4.2, the other result's value, instead of -6.9). Such results are copied, as views are."""
    import torch

    def f(T, x, index, k, y):  # noqa: ANN001, ANN202
        scaled = x.index_select(0, index) * k
        return (k * -2.3).mean(), T.where(scaled <= 0.5, y, scaled * 2)

    args = [np.array([0.7], dtype=np.float32), np.array([0, 0, 0]), np.array(3), np.array([0.1, -0.2, 0.3], dtype=np.float32)]
    step = graphc.compile(lambda *a: f(graphc, *a), backend="numpy", fusion=fusion)
    want = f(torch, *[torch.tensor(a) for a in args])
    for _ in range(2):
        got = step(*[graphc.tensor(a) for a in args])
        for g, w in zip(got, want):
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6)
