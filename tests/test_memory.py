"""The memory plan: no two buffers that are alive at once share bytes; peak below naive."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc
from graphc.frontend import lazy
from graphc.passes.memory import assign_offsets, plan_memory
from graphc.runtime.executor import compile_graph


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
            if overlaps(lifetimes[i], lifetimes[j]) and reuses[i] != j and reuses[j] != i:
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
            if overlaps((a.start, a.end), (b.start, b.end)) and a.reuses != j and b.reuses != i:
                size_a, size_b = a.nbytes({}), b.nbytes({})
                assert offsets[i] + size_a <= offsets[j] or offsets[j] + size_b <= offsets[i]
