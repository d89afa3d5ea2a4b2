"""A kernel of rows that also reduces the rows' results to totals (a batch mean of per-row losses).

Fusion puts the total into the rows' kernel; the C loops accumulate it across the row loop,
the Triton backend runs the rows and then the totals as two launches, and NumPy computes it
node by node. Every case is compared with torch, values and float64 gradients, on both
backends, and the C loops are also run split into blocks of rows on threads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from helpers import kernel_of
from test_c_loops import loops_everywhere  # noqa: F401 - a fixture
from test_row_split import every_kernel_split, split_everything  # noqa: F401 - a fixture

import graphc
from graphc.codegen import c_loops
from graphc.codegen.triton import emit_kernel
from graphc.frontend import lazy
from graphc.ir.printer import number_nodes
from graphc.passes.fusion import Fuser, Group

# name -> (the function, works on torch and graphc alike; the kernels graphc compiles it to)
# name -> (a function of (functional module, x, targets), the kernels of its forward)
CASES: dict[str, tuple[Callable[[Any, Any, Any], Any], int]] = {
    "cross-entropy": (lambda F, x, t: F.cross_entropy(x, t), 1),
    "mean of row maxima": (lambda F, x, t: x.amax(1).mean(), 1),
    "max of log-sum-exp, keepdim rows": (lambda F, x, t: x.logsumexp(1, keepdim=True).max(), 1),
    "min and sum of the row sums": (lambda F, x, t: x.sum(1).min() * x.sum(1).sum(), 1),
    # the rows read the total back: it must be computed first, in a kernel of its own
    "row sums centred on their mean": (lambda F, x, t: ((x.sum(1) - x.sum(1).mean()) ** 2).sum(), 2),
}

TARGETS = np.array([3, 0, 9, -100, 2, 2, 7, 1, 5, 4, 0])


def _check(name: str, backend: str, rows: int = 11) -> graphc.compile:
    fn, _ = CASES[name]
    data = np.random.default_rng(5).standard_normal((rows, 10))
    targets = TARGETS[:rows]
    expected_x = torch.tensor(data, requires_grad=True)
    expected = fn(torch.nn.functional, expected_x, torch.tensor(targets))
    expected.backward()

    import graphc.nn.functional as GF

    def step(x: graphc.Tensor, t: graphc.Tensor) -> tuple[graphc.Tensor, graphc.Tensor]:
        loss = fn(GF, x, t)
        loss.backward()
        return loss, x.grad

    x, t = graphc.tensor(data, requires_grad=True), graphc.tensor(targets)
    compiled = graphc.compile(step, backend=backend)
    loss, grad = compiled(x, t)
    np.testing.assert_allclose(float(loss), expected.item(), rtol=1e-12)
    np.testing.assert_allclose(grad.numpy(), expected_x.grad.numpy(), rtol=1e-10, atol=1e-13)
    forward = graphc.compile(lambda x, t: fn(GF, x, t), backend=backend)
    np.testing.assert_allclose(float(forward(graphc.tensor(data), t)), expected.item(), rtol=1e-12)
    return forward


@pytest.mark.parametrize("name", sorted(CASES))
def test_totals_of_rows_match_torch_with_float64_gradients(name: str, backend: str) -> None:
    forward = _check(name, backend)
    assert forward.report().num_kernels == CASES[name][1], str(forward.report())


@pytest.mark.parametrize("name", sorted(CASES))
def test_totals_of_rows_match_torch_in_c_loops_split_by_rows(name: str, loops_everywhere: list[str], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    split_everything(monkeypatch)
    _check(name, "numpy", rows=9)


def test_a_total_read_by_its_rows_is_refused_with_a_reason() -> None:
    fn, _ = CASES["row sums centred on their mean"]
    import graphc.nn.functional as GF

    forward = graphc.compile(lambda x: fn(GF, x, None))
    forward(graphc.tensor(np.ones((4, 3))))
    assert any("reductions over different rows" in line for line in forward.report().fusion_log), str(forward.report())


def test_a_kernel_that_a_merge_gives_other_rows_is_no_longer_the_totals_of_its_old_partner(backend: str) -> None:
    """Triton seed 8108: sibling candidates are found before any merge. A kernel reducing all of
    a [B,1,5] value was the candidate totals of the argmin's [B,2,5] rows; merged first with
    another reduction of all of [B,1,5] (the amax's), it reads that total back over its
    elements, and the stale pair then gave a [B,2,5] kernel the axes (0, 1, 2). The pair is
    re-checked when its turn comes, and refused with a reason. (Since later changes to the
    graph this program no longer meets that pair; ``test_a_merge_over_the_same_rows_ends_a_pair_of_rows_and_totals``
    checks the re-check itself.)"""
    rng = np.random.default_rng(0)
    a, s, w, ws = rng.standard_normal((4, 2, 5)), rng.standard_normal(()), rng.standard_normal((4, 1, 5)), rng.standard_normal(())

    def run(T: Any, a: Any, s: Any, w: Any, ws: Any) -> tuple:
        picked = T.gather(a, 1, a.argmin(1, keepdim=True))
        out = T.maximum(T.rsqrt(T.amax(picked, dim=[0, 1, 2]).abs() + 0.5), picked)
        half = s / 0.5
        loss = (half * ws).sum() + (out * w).sum()
        return (out.detach(), half.detach(), *T.autograd.grad(loss, [a, s]))

    # The weights are arguments, so the batch stays symbolic (the merges are weighed at REFERENCE_SIZE).
    step = graphc.compile(lambda *args: run(graphc, *args), backend=backend)
    got = step(graphc.tensor(a, requires_grad=True), graphc.tensor(s, requires_grad=True), graphc.tensor(w), graphc.tensor(ws))
    want = run(torch, torch.tensor(a, requires_grad=True), torch.tensor(s, requires_grad=True), torch.tensor(w), torch.tensor(ws))
    for g, e in zip(got, want):
        np.testing.assert_allclose(g.numpy(), e.detach().numpy(), rtol=1e-12, atol=1e-13)


def test_a_merge_over_the_same_rows_ends_a_pair_of_rows_and_totals() -> None:
    """The re-check of seed 8108's stale pair, on kernels built by hand: a kernel reducing all of
    the [4,1,5] row maxima is the totals of the [4,2,5] rows; merged with a kernel over the
    same [4,1,5] that reads its own max back (a two-pass reduction), it reduces those rows
    itself, so it is neither marked totals nor still a partner of the [4,2,5] rows."""
    x = graphc.tensor(np.random.default_rng(0).standard_normal((4, 2, 5)))
    row_max = x.amax(1, keepdim=True)
    total = (row_max * 2.0).sum()
    count = (row_max == row_max.amax()).double().sum()
    graph, _ = lazy.pending_graph([total._node, count._node])
    fuser = Fuser(graph)

    def kernel(shape: tuple, axes: tuple, ops: tuple[str, ...], after: Any) -> Group:
        nodes = [n for n in graph.nodes if n.op in ops and graph.nodes.index(n) > graph.nodes.index(after)]
        group = Group("reduction", shape, nodes, axes=axes)
        fuser.group_of.update({id(n): group for n in nodes})
        fuser.groups.append(group)
        return group

    rows = kernel((4, 2, 5), (1,), ("max",), graph.nodes[0])
    rows.nodes = rows.nodes[:1]
    scaled = next(n for n in graph.nodes if n.op == "mul")
    totals = Group("reduction", (4, 1, 5), [scaled, fuser.users[id(scaled)][0]], axes=(0, 1, 2))
    fuser.group_of.update({id(n): totals for n in totals.nodes})
    fuser.groups.append(totals)
    two_pass = kernel((4, 1, 5), (0, 1, 2), ("max", "eq", "cast", "sum"), totals.nodes[-1])
    assert fuser._shared_space(rows, totals) == "totals"
    assert fuser._shared_space(totals, two_pass) == "same"
    fuser._absorb(totals, two_pass, "same")
    assert (totals.shape, totals.axes, totals.totals) == ((4, 1, 5), (0, 1, 2), False)
    assert fuser._shared_space(rows, totals) is None


def test_a_value_over_the_rows_computed_from_a_total_is_not_merged_into_the_rows(backend: str) -> None:
    """Triton seed 9268: ``where(mask, rows.amin(all), y)`` over [B,2,1] beside the rows' kernel
    (``amax`` over axis 1): merged, the total would be needed inside the rows it is computed
    after, and the Triton code generator refused the kernel. The merge is refused with a reason."""
    rng = np.random.default_rng(0)
    x, mask, y = rng.standard_normal((3, 2, 1)), rng.random((1, 2, 1)) < 0.5, rng.standard_normal((3, 2, 1))

    def run(T: Any, x: Any, mask: Any, y: Any) -> Any:
        rows = T.amax(x, dim=[1], keepdim=True)
        return T.where(mask, rows.amin([0, 1], keepdim=True), y) + rows

    step = graphc.compile(lambda *a: run(graphc, *a), backend=backend)
    got = step(graphc.tensor(x), graphc.tensor(mask), graphc.tensor(y))
    np.testing.assert_allclose(got.numpy(), run(torch, torch.tensor(x), torch.tensor(mask), torch.tensor(y)).numpy(), rtol=1e-15)
    assert any("is computed from a total, and a kernel's totals come after its rows" in line for line in step.report().fusion_log), str(step.report())


def _cross_entropy_kernel() -> tuple[Any, dict[int, str]]:
    import graphc.nn.functional as GF

    x = graphc.tensor(np.random.default_rng(0).standard_normal((6, 10)).astype(np.float32))
    loss = GF.cross_entropy(x, graphc.tensor(TARGETS[:6]))
    kernel = kernel_of(loss)
    return kernel, number_nodes(kernel.inputs + kernel.nodes)


def test_c_loops_accumulate_the_totals_across_the_row_loop() -> None:
    kernel, names = _cross_entropy_kernel()
    loop = c_loops.plan(kernel, names, {})
    assert not loop.prefix  # nothing left to NumPy
    text = loop.source
    row_loop = text.index("for (int64_t x0")
    assert text.index("double acc") < row_loop  # the totals' accumulators start before the rows
    after_rows = text[text.index("\n    }\n", row_loop) :]
    assert re.search(r"/\* %\d+: f32\[\] = div", after_rows), text  # the mean is taken once, after the row loop


def test_triton_runs_the_rows_then_the_totals() -> None:
    kernel, names = _cross_entropy_kernel()
    source = emit_kernel(kernel, names)
    assert "_rows_" in source and "_totals_" in source
    assert source.index("_rows_persistent, grid") < source.index("_totals_persistent, grid")


def test_numpy_runs_the_rows_and_totals_by_blocks_on_the_c_pool_then_the_mean_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import graphc.nn.functional as GF

    split_everything(monkeypatch)
    forward = graphc.compile(lambda x, t: GF.cross_entropy(x, t))
    data = np.random.default_rng(1).standard_normal((9, 10))
    loss = forward(graphc.tensor(data), graphc.tensor(TARGETS[:9]))
    expected = torch.nn.functional.cross_entropy(torch.tensor(data), torch.tensor(TARGETS[:9]))
    np.testing.assert_allclose(float(loss), expected.item(), rtol=1e-12)
    with open(re.search(r"source in (\S+)", str(forward.report())).group(1)) as file:
        source = file.read()
    # the rows' totals by blocks on the C pool, each block summing its rows apart
    assert re.search(r"return k0_\w+_totals1_rows\(.*blocks=rt\.row_blocks\(", source), source
    assert re.search(r"= k0_\w+_totals1\(", source), source


# ------------------------------------------------------------------------------ full-size results computed from totals


def _source_of(compiled: Any) -> str:
    with open(re.search(r"source in (\S+)", str(compiled.report())).group(1)) as file:
        return file.read()


def test_rows_centred_on_their_column_means_run_as_c_loops_cut_at_the_means() -> None:
    """C loops cannot compute a full-size result from column sums in one nest; cut there, both parts can.

    The second part recomputes ``exp(x)`` from ``x`` rather than receiving it: only the
    column sums pass between the parts.
    """
    x = np.random.default_rng(4).standard_normal((9, 5))
    compiled = graphc.compile(lambda x: (x.exp() - x.exp().mean(0)) * 3, backend="numpy")
    np.testing.assert_allclose(compiled(graphc.tensor(x)).numpy(), (np.exp(x) - np.exp(x).mean(0)) * 3, rtol=1e-12)
    source = _source_of(compiled)
    assert "_after1(" in source and "NumPy, not C loops" not in source, source
    received = re.search(r"\n    (.*) = k\d+\w*_totals1\(", source)
    assert received and received.group(1) == "v2,", source  # one value passed on: the column sums


def _batch_norm_step(backend: str, dims: int) -> Any:
    """A training step of ``BatchNorm{dims}d(7)`` in float64, checked against torch; returns the compiled step."""
    shape = (12, 7) if dims == 1 else (4, 7, 3, 5)
    x = np.random.default_rng(6).standard_normal(shape) * 2 + 1
    weight, bias = np.random.default_rng(7).standard_normal((2, 7))
    norm = (graphc.nn.BatchNorm1d if dims == 1 else graphc.nn.BatchNorm2d)(7).double()
    reference = (torch.nn.BatchNorm1d if dims == 1 else torch.nn.BatchNorm2d)(7).double()
    norm.weight.data, norm.bias.data = graphc.tensor(weight.copy()), graphc.tensor(bias.copy())
    reference.weight.data, reference.bias.data = torch.tensor(weight), torch.tensor(bias)
    scale = np.arange(7.0).reshape((7,) + (1,) * (dims - 1) * 2)  # a different gradient per channel

    def step(x: graphc.Tensor) -> tuple[graphc.Tensor, graphc.Tensor]:
        x.requires_grad_(True)
        loss = (norm(x) ** 2 * graphc.tensor(scale)).sum()
        loss.backward()
        return loss.detach(), x.grad

    compiled = graphc.compile(step, backend=backend)
    loss, grad = compiled(graphc.tensor(x))
    tx = torch.tensor(x, requires_grad=True)
    expected = (reference(tx) ** 2 * torch.tensor(scale)).sum()
    expected.backward()
    np.testing.assert_allclose(float(loss), expected.item(), rtol=1e-12)
    np.testing.assert_allclose(grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(norm.running_mean.numpy(), reference.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(norm.running_var.numpy(), reference.running_var.numpy(), rtol=1e-12)
    np.testing.assert_allclose(norm.weight.grad.numpy(), reference.weight.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(norm.bias.grad.numpy(), reference.bias.grad.numpy(), rtol=1e-10, atol=1e-12)
    return compiled


# What C loops make of batch-norm's training step: over rows, cut at each column sum into
# C functions (the second cut is `_after2`); over images, one function with a row per channel.
BATCH_NORM_IN_C: dict[int, Callable[[str], bool]] = {
    1: lambda source: "_after2(" in source,
    2: lambda source: "_after1(" not in source and "np.sum(" not in source,
}


@pytest.mark.parametrize("dims", [1, 2], ids=["over-rows", "over-images"])
@pytest.mark.parametrize("backend, native", [("numpy", "1"), ("numpy", "0"), ("triton", "1")])
def test_a_batch_norm_training_step_matches_torch_in_float64(dims: int, backend: str, native: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHC_NATIVE", native)
    compiled = _batch_norm_step(backend, dims)
    if backend == "numpy" and native == "1":
        source = _source_of(compiled)
        assert BATCH_NORM_IN_C[dims](source) and "NumPy, not C loops" not in source, source


@pytest.mark.parametrize("dims", [1, 2], ids=["over-rows", "over-images"])
def test_a_batch_norm_training_step_split_into_blocks_of_rows_matches_torch(dims: int, every_kernel_split: list[int]) -> None:  # noqa: F811
    """Blocks of rows may not split the sums every row needs: only kernels whose blocks compute apart are split."""
    _batch_norm_step("numpy", dims)
    assert any(count > 1 for count in every_kernel_split)  # some kernels did run by blocks
