"""The NumPy backend's C loops (graphc/codegen/c_loops.py) give the results of its NumPy kernels.

Compiled programs get C loops by default; ``loops_everywhere`` also gives them to the small
programs that eager tensor code realizes (``GRAPHC_NATIVE=all``), so the differential cases of
every primitive, with their float64 gradients, run through C. Random programs and the seed
models' training steps are compared with the NumPy kernels they replace.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import test_primitive_coverage as coverage
import torch
from helpers import adam_steps_of_a_linear, assert_matches, kernel_of, normal_tensor
from hypothesis import HealthCheck, given, settings
from random_graphs import Program, programs
from test_row_split import split_everything
from test_triton_training import MODELS, seed_training, train_three_steps

import graphc
import graphc.nn.functional as F
from graphc.codegen import c_loops, native
from graphc.frontend import lazy
from graphc.ir.printer import number_nodes
from graphc.ir.registry import REGISTRY
from graphc.runtime.executor import compile_graph


@pytest.fixture
def loops_everywhere(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """C loops for eager code's programs too; yields the names of the C functions built."""
    built: list[str] = []
    build = native.build

    def recording(functions: list[tuple[str, str]], vector_math: bool = True) -> str | None:
        built.extend(name for name, _ in functions)
        return build(functions, vector_math)

    monkeypatch.setenv("GRAPHC_NATIVE", "all")
    monkeypatch.setattr(native, "build", recording)
    monkeypatch.setattr(lazy, "_programs", {})
    with graphc.use_backend("numpy"):
        yield built


# ------------------------------------------------------------------------------ against torch and NumPy


def _first_cases_of_each_op_by_default(count: int) -> list[Any]:
    """Every case of the coverage table, with all but each primitive's first ``count`` marked slow.

    Each case is a C build of its own (about a third of a second of CPU on a cold cache; the two
    grids below were 180 s of the default suite's 1950). The default suite checks every primitive
    in C loops on its first two cases (for most, a view or broadcast in float32 and gradients in
    float64) and split by rows on its first, as splitting wraps a kernel's loops in the same
    row-block functions whatever the op; ``-m slow`` runs the rest (0-d operands, integer and
    bool inputs, promotions, Python scalars).
    """
    seen: dict[str, int] = {}
    params = []
    for op, case in coverage.ALL:
        seen[op] = seen.get(op, 0) + 1
        params.append(pytest.param(op, case, id=f"{op}-{case.label}", marks=[pytest.mark.slow] if seen[op] > count else []))
    return params


@pytest.mark.parametrize("op, case", _first_cases_of_each_op_by_default(2))
def test_primitive_matches_torch_in_c_loops(loops_everywhere: list[str], op: str, case: coverage.Case) -> None:
    coverage.test_primitive_matches_torch("numpy", op, case)
    floating = "f32" in case.label or "f64" in case.label
    if floating and REGISTRY[op].category == "elementwise" and op != "detach":
        assert loops_everywhere, f"no C loops were built for the {op} case"


@pytest.mark.parametrize("op, case", _first_cases_of_each_op_by_default(1))
def test_primitive_matches_torch_in_c_loops_split_by_rows(loops_everywhere: list[str], monkeypatch: pytest.MonkeyPatch, op: str, case: coverage.Case) -> None:
    split_everything(monkeypatch)
    coverage.test_primitive_matches_torch("numpy", op, case)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(program=programs())
def test_random_programs_in_c_loops_keep_their_results(program: Program) -> None:
    graph, leaves = lazy.pending_graph([t._node for t in program.outputs])
    got = compile_graph(graph, loops=True)([leaf.data for leaf in leaves])
    program.assert_results(got)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_seed_models_train_the_same_in_c_loops_as_in_numpy_kernels(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs, labels, initial = seed_training(name)
    monkeypatch.setenv("GRAPHC_NATIVE", "0")
    numpy_losses, numpy_state = train_three_steps(name, inputs, labels, initial, "numpy")
    monkeypatch.setenv("GRAPHC_NATIVE", "1")
    loop_losses, loop_state = train_three_steps(name, inputs, labels, initial, "numpy")
    np.testing.assert_allclose(loop_losses, numpy_losses, rtol=1e-5)
    # Adam moves a weight whose gradient is near zero by about lr whatever that gradient's last bits
    # are: C's float32 rounding differs from NumPy's, and one LeNet weight ends 2e-5 apart (lr 0.01).
    for key, value in numpy_state.items():
        np.testing.assert_allclose(loop_state[key], value, rtol=1e-4, atol=1e-4, err_msg=key)


def test_nan_wins_max_maximum_and_argmax_as_in_torch(loops_everywhere: list[str]) -> None:
    x = np.array([[1.0, np.nan, 3.0, np.nan], [2.0, 5.0, 5.0, -1.0]], dtype=np.float32)
    g, t = graphc.tensor(x), torch.from_numpy(x)
    np.testing.assert_array_equal(g.max(1).values.numpy(), t.max(1).values.numpy())
    np.testing.assert_array_equal(g.argmax(1).numpy(), t.argmax(1).numpy())
    np.testing.assert_array_equal(graphc.maximum(g, graphc.tensor(2.0)).numpy(), torch.maximum(t, torch.tensor(2.0)).numpy())
    assert loops_everywhere


def test_a_sum_over_an_empty_slice_and_its_gradient_run_in_c_loops(loops_everywhere: list[str]) -> None:
    """The merged loops over [2,0,2,2] delinearized their index by the empty axis: division by zero (fuzzer seed 7848)."""
    x = np.random.default_rng(0).standard_normal((2, 2, 2, 2))
    g, t = graphc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    total, expected = g[:, 1:0].sum(), t[:, 1:0].sum()
    total.backward()
    expected.backward()
    assert_matches(total, expected)
    assert_matches(g.grad, t.grad)
    assert loops_everywhere


def test_small_ints_compute_in_their_own_c_type_and_wrap_as_torch(loops_everywhere: list[str]) -> None:
    """Each uint8 node is a uint8_t variable, so ``(x + 100) > 50`` compares the wrapped sum; a float
    converts through int64 (truncated, then wrapped), and a uint8 sum wraps in its accumulator."""
    x, y = np.array([[200, 3, 155]] * 2, dtype=np.uint8), np.array([-5.7, 300.2, 1.0], dtype=np.float32)

    def fn(T: Any, a: Any, b: Any) -> tuple:
        return ((a + 100) > 50) & (b.to(T.uint8) < 200), (a * 3).sum(1, dtype=T.uint8), b.to(T.int8) - a.to(T.int8)

    ours = fn(graphc, graphc.tensor(x), graphc.tensor(y))
    assert_matches(list(ours), list(fn(torch, torch.from_numpy(x), torch.from_numpy(y))))
    kernel = kernel_of(*fn(graphc, graphc.tensor(x), graphc.tensor(y)))
    part = c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {})
    assert not part.prefix and "const uint8_t" in part.source and "(uint8_t)(int64_t)" in part.source and "const int8_t" in part.source


# ------------------------------------------------------------------------------ what the loops compute


def test_softmax_is_one_c_function_with_a_pass_per_dependent_reduction() -> None:
    kernel = kernel_of(F.softmax(normal_tensor(6, 8), -1))
    part = c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {})
    assert not part.prefix
    assert part.source.count("for (int64_t r1 = 0; r1 < 8; r1++)") == 3  # max, sum, then the outputs
    assert "#pragma omp simd reduction(+:" in part.source


def test_softmax_keeps_its_exponentials_in_a_row_buffer_and_layer_norm_keeps_nothing() -> None:
    kernel = kernel_of(F.softmax(normal_tensor(6, 8), -1))
    source = c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {}).source
    assert source.count("expf(") == 1 and "malloc(" in source  # computed once, read back by the last pass
    kernel = kernel_of(F.layer_norm(normal_tensor(6, 8), (8,)))
    assert "malloc(" not in c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {}).source


@pytest.mark.parametrize("width", [300, 1000])
def test_long_float32_row_sums_add_chunks_in_float_and_stay_accurate(width: int, loops_everywhere: list[str]) -> None:
    data = np.random.default_rng(2).standard_normal((5, width)).astype(np.float32) + 3  # an offset makes rounding show
    kernel = kernel_of(graphc.tensor(data).sum(1))
    assert "_c += 256" in c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {}).source
    x, expected = graphc.tensor(data), torch.from_numpy(data)
    np.testing.assert_allclose(x.sum(1).numpy(), data.astype(np.float64).sum(1), rtol=1e-6)
    np.testing.assert_allclose(F.layer_norm(x, (width,)).numpy(), torch.nn.functional.layer_norm(expected, (width,)).numpy(), rtol=1.3e-5, atol=1e-6)
    np.testing.assert_allclose(F.softmax(x, -1).numpy(), torch.softmax(expected, -1).numpy(), rtol=1.3e-5, atol=1e-6)
    assert loops_everywhere


def test_later_passes_over_a_row_add_four_streams_per_chunk_and_stay_accurate(loops_everywhere: list[str]) -> None:
    """Layer-norm's variance pass reads its row from cache: four partial sums per chunk instead of one
    accumulator whose additions it waits on. Its mean's pass, the first (reading memory), keeps one."""
    data = np.random.default_rng(3).standard_normal((5, 512)).astype(np.float32) + 3  # an offset makes rounding show
    kernel = kernel_of(F.layer_norm(graphc.tensor(data), (512,)))
    source = c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {}).source
    assert source.count("_3 = 0;") == 1 and source.count("_end = ") == 1
    x, expected = graphc.tensor(data), torch.from_numpy(data)
    np.testing.assert_allclose(F.layer_norm(x, (512,)).numpy(), torch.nn.functional.layer_norm(expected, (512,)).numpy(), rtol=1.3e-5, atol=1e-6)
    np.testing.assert_allclose(F.softmax(x, -1).numpy(), torch.softmax(expected, -1).numpy(), rtol=1.3e-5, atol=1e-9)
    assert loops_everywhere


def test_streamed_passes_reading_kept_rows_give_torchs_softmax_and_layer_norm_gradients() -> None:
    """A training step's kernel reads its kept exp(x - max) back in a streamed pass: each stream at its own index."""
    rng = np.random.default_rng(4)
    x, g, w = (rng.standard_normal(shape).astype(np.float32) for shape in ((3, 512), (3, 512), (512,)))
    cases = [
        (lambda x, w: F.softmax(x, -1) * w, lambda x, w: torch.softmax(x, -1) * w),
        (lambda x, w: F.layer_norm(x, (512,), w), lambda x, w: torch.nn.functional.layer_norm(x, (512,), w)),
    ]
    for graphc_fn, torch_fn in cases:
        gx, gw = graphc.tensor(x, requires_grad=True), graphc.tensor(w, requires_grad=True)
        tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)

        def step(x: graphc.Tensor, w: graphc.Tensor, f: Any = graphc_fn) -> graphc.Tensor:
            y = f(x, w)
            (y * graphc.tensor(g)).sum().backward()
            return y

        compiled = graphc.compile(step)
        y = compiled(gx, gw)
        expected = torch_fn(tx, tw)
        (expected * torch.from_numpy(g)).sum().backward()
        assert "_s = " in _c_source_of(compiled)  # a stream's index
        np.testing.assert_allclose(y.numpy(), expected.detach().numpy(), rtol=2e-5, atol=2e-6)
        np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=2e-4, atol=2e-5)
        np.testing.assert_allclose(gw.grad.numpy(), tw.grad.numpy(), rtol=2e-4, atol=2e-5)


def test_a_value_computed_twice_in_a_kernel_is_computed_once() -> None:
    """A training step's softmax kernel holds the backward's copy of exp(x - max) beside the forward's: one is computed."""
    x = normal_tensor(6, 8)
    kernel = kernel_of(x.exp() + 1, x.exp() * 2)
    assert c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {}).source.count("expf(") == 1
    np.testing.assert_allclose((x.exp() * 2 - x.exp()).numpy(), np.exp(x.numpy()), rtol=1e-6)


def test_float32_erf_is_graphcs_rational_within_6_ulp_of_erf_in_float64(loops_everywhere: list[str]) -> None:
    # Every 997th float from 0 to 8 (past erf's rounding to 1 at 3.92), both signs, the special values.
    positive = np.arange(0, np.float32(8.0).view(np.int32), 997, dtype=np.int32).view(np.float32)
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 3.92, 4.0, 100.0], dtype=np.float32)
    data = np.concatenate([positive, -positive, special])
    kernel = kernel_of(graphc.tensor(data).erf())
    assert "graphc_erff(" in c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {}).source
    result = graphc.tensor(data).erf().numpy()
    exact = torch.erf(torch.from_numpy(data).double()).float().numpy()
    ulps = np.abs(result.view(np.int32).astype(np.int64) - exact.view(np.int32).astype(np.int64))
    finite = ~np.isnan(data)
    assert ulps[finite].max() <= 6
    assert np.mean(ulps[finite] <= 1) > 0.98
    assert np.isnan(result[~finite]).all()
    assert np.signbit(result[data.size - 4])  # erf(-0.0) is -0.0
    assert loops_everywhere


def test_dividing_by_a_row_statistic_multiplies_by_its_reciprocal_and_a_plain_division_stays() -> None:
    kernel = kernel_of(F.softmax(normal_tensor(6, 8), -1))
    source = c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {}).source
    assert "rcp = 1.0f / " in source and " * rcp;" in source
    kernel = kernel_of(normal_tensor(6, 8) / normal_tensor(6, 1))
    source = c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {}).source
    assert "rcp" not in source and " / " in source


def test_a_reshaped_buffer_is_read_at_its_own_offsets_without_divisions() -> None:
    """A reshape keeps a C-contiguous buffer's offsets: rows of [7*B, 8] read the [B,7,8] input directly."""
    compiled = graphc.compile(lambda x: x.reshape(-1, 8).sum(0))
    x = normal_tensor(4, 7, 8)
    np.testing.assert_allclose(compiled(x).numpy(), x.numpy().reshape(-1, 8).sum(0), rtol=1e-5)
    source = _c_source_of(compiled)
    assert "in0[i0 * 8 + i1]" in source
    assert not re.search(r"int64_t ix\w* = [^;]*[/%]", source)  # no index taken apart by division


def _c_source_of(compiled: object) -> str:
    """The C functions of the program's kernels, as ``c_loops`` wrote them."""
    return "\n\n".join(k.c_source for k in compiled.report().kernels)  # type: ignore[attr-defined]


def _source_of(compiled: object) -> str:
    with open(re.search(r"source in (\S+)", str(compiled.report())).group(1)) as file:  # type: ignore[attr-defined]
        return file.read()


@pytest.mark.parametrize("split", [False, True])
def test_a_large_matmul_epilogue_runs_on_the_calling_thread_right_after_the_blas_call(split: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not by blocks on threads, even where every other kernel would split: OpenBLAS's worker spins after a product."""
    if split:
        split_everything(monkeypatch)  # one-row blocks on two threads, even at this size
    x, w, b = normal_tensor(8, 256), normal_tensor(256, 1024), normal_tensor(1024)
    compiled = graphc.compile(lambda x, w, b: F.gelu(x @ w + b))  # [B,1024]: 8 MiB read and written at B=1024
    expected = torch.nn.functional.gelu(torch.from_numpy(x.numpy()) @ torch.from_numpy(w.numpy()) + torch.from_numpy(b.numpy()))
    np.testing.assert_allclose(compiled(x, w, b).numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    source = _source_of(compiled)
    assert source.count("np.matmul(") == 1 and "rt.by_rows" not in source and "_epilogue" not in source


def test_an_adam_update_in_a_weight_gradients_epilogue_matches_torch_with_every_other_kernel_split(monkeypatch: pytest.MonkeyPatch) -> None:
    split_everything(monkeypatch)
    weight = np.random.default_rng(1).standard_normal((512, 512)) / 512**0.5  # tanh not saturated: no gradient near 0
    ours, theirs, compiled = adam_steps_of_a_linear(weight, None, np.random.default_rng(2).standard_normal((8, 512)), lr=0.01)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10)
    source = _source_of(compiled)
    assert "blocks=rt.row_blocks(" in source  # the other kernels split
    assert re.search(r"_c\.k\d+_\w*matmul\w*\(", source) and "_epilogue" not in source


def test_a_small_matmul_epilogue_stays_in_the_matmul_kernels_function() -> None:
    small = graphc.compile(lambda x, w, b: F.gelu(x @ w + b), dynamic=False)
    small(normal_tensor(4, 8), normal_tensor(8, 16), normal_tensor(16))
    assert "_epilogue" not in _source_of(small)  # 4x16: the extra calls would cost more than threads save


def test_a_matmul_runs_in_numpy_and_its_epilogue_in_c() -> None:
    kernel = kernel_of(F.gelu(normal_tensor(4, 3) @ normal_tensor(3, 5) + normal_tensor(5)))
    part = c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {})
    assert [n.op for n in part.prefix] == ["matmul"]
    assert "erf" in {n.op for n in part.nodes}
    assert any(n.op == "matmul" for n in part.reads)


def test_im2col_col2im_and_scatter_are_c_loops_with_windows_as_nested_loops() -> None:
    x = normal_tensor(2, 3, 6, 6)
    cols = F.unfold(x, 3, padding=1)
    for tensor in (cols, F.fold(cols, (6, 6), 3, padding=1)):
        kernel = kernel_of(tensor)
        part = c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {})
        assert not part.prefix
    kernel = kernel_of(cols)
    source = c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {}).source
    assert "i2_0 < 6" in source and "i2_1 < 6" in source  # 36 windows as 6 rows of 6: no division per element
    scattered = graphc.zeros(2, 5).scatter_add(1, graphc.tensor([[0, 4], [1, 1]]), normal_tensor(2, 2))
    kernel = kernel_of(scattered)
    assert not c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {}).prefix


def test_a_scattered_index_out_of_range_raises() -> None:
    compiled = graphc.compile(lambda x, i, s: x.scatter_add(1, i, s), backend="numpy")
    x, s = normal_tensor(2, 5), normal_tensor(2, 2)
    expected = torch.from_numpy(x.numpy()).scatter_add(1, torch.tensor([[0, 4], [1, 1]]), torch.from_numpy(s.numpy()))
    np.testing.assert_allclose(compiled(x, graphc.tensor([[0, 4], [1, 1]]), s).numpy(), expected.numpy(), rtol=1e-6)
    with pytest.raises(IndexError, match="scatter_add: an index is out of range for axis 1 of size 5"):
        compiled(x, graphc.tensor([[0, 5], [1, 1]]), s)


def test_column_sums_add_into_a_row_of_sums_in_memory_order(loops_everywhere: list[str]) -> None:
    x = normal_tensor(6, 5, 8)
    kernel = kernel_of((x * 2).sum((0, 1)))
    source = c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {}).source
    assert "calloc(8 + 1, sizeof(double))" in source
    t = torch.from_numpy(x.numpy())
    y, s = F.gelu(x), (F.gelu(x) * 3).sum(0, keepdim=True)  # a full-size output beside the column sum
    np.testing.assert_allclose(s.numpy(), (torch.nn.functional.gelu(t) * 3).sum(0, keepdim=True).numpy(), rtol=1e-5)
    # atol: below x = -2 both compute 1 + erf(x / sqrt 2) by cancelling float32 digits, so an ulp of either erf
    # near -1 is about |x| * 6e-8 of gelu (measured: 2.8e-7 apart at x = -2.9, each 1e-3 relative off float64).
    np.testing.assert_allclose(y.numpy(), torch.nn.functional.gelu(t).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["amax", "amin", "argmax"])
def test_max_min_argmax_over_a_kept_innermost_axis_are_c_columns_with_torchs_nans_and_ties(op: str, loops_everywhere: list[str]) -> None:
    data = np.random.default_rng(4).integers(-3, 3, (2, 3, 4, 5)).astype(np.float32)  # ties
    data[0, 1, 2, 3] = np.nan
    data[1, 2, 1, 0] = data[1, 2, 3, 0] = np.nan  # the first NaN wins an argmax
    x, t = graphc.tensor(data), torch.from_numpy(data)
    kernel = kernel_of(getattr(x * 2, op)(2, keepdim=True))
    part = c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {})
    assert not part.prefix
    assert "calloc(5 + 1," in part.source  # the columns of one image and channel, reused by each (the kept axes before)
    got = getattr(x * 2, op)(2, keepdim=True).numpy()
    expected = getattr(t * 2, op)(2, keepdim=True).numpy()
    np.testing.assert_array_equal(got, expected)
    assert loops_everywhere


@pytest.mark.parametrize("keepdim", [True, False])
@pytest.mark.parametrize("axis", [1, 2])  # the rows template, the columns template
def test_max_values_at_the_argmax_are_its_accumulator_not_a_second_read(axis: int, keepdim: bool, loops_everywhere: list[str]) -> None:
    data = np.random.default_rng(5).integers(-3, 3, (2, 4, 3)).astype(np.float32)  # ties
    data[0, 1, 2] = data[1, 3, 0] = data[1, 1, 0] = np.nan  # the first NaN wins, its value is NaN
    x, t = graphc.tensor(data), torch.from_numpy(data)
    values, indices = (x * 2).max(axis, keepdim=keepdim)
    kernel = kernel_of(values, indices)
    source = c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {}).source
    loops = source[source.index("Py_BEGIN_ALLOW_THREADS") :]
    assert loops.count("in0[") == 1, loops  # the values are not gathered from the input again
    expected = (t * 2).max(axis, keepdim=keepdim)
    np.testing.assert_array_equal(values.numpy(), expected.values.numpy())
    np.testing.assert_array_equal(indices.numpy(), expected.indices.numpy())
    assert loops_everywhere


def test_a_sum_over_batch_height_and_width_is_a_row_per_channel_with_one_loop_per_image() -> None:
    x = normal_tensor(2, 3, 4, 5)
    kernel = kernel_of((x * 2).sum((0, 2, 3)))  # a convolution's bias gradient
    part = c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {})
    assert not part.prefix
    assert "for (int64_t x1 = 0; x1 < 3; x1++)" in part.source  # the channels
    assert "for (int64_t r2 = 0; r2 < 20; r2++)" in part.source  # height and width as one loop
    assert " / " not in part.source and " % " not in part.source  # its index folds back into the address
    expected = (x.numpy().astype(np.float64) * 2).sum((0, 2, 3))  # graphc adds float32 in double
    np.testing.assert_allclose((x * 2).sum((0, 2, 3)).numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("axes", [(0, 2, 3), (0, 2), (1, 3), (0, 1, 3), (2, 3), (0, 1, 2, 3)])
def test_reductions_over_several_axes_of_views_match_numpy_in_float64(axes: tuple[int, ...]) -> None:
    """Rows that are not contiguous, loops merged where the axes allow, through permuted views, with a NaN."""
    data = np.random.default_rng(8).standard_normal((3, 4, 5, 6))
    data[1, 2, 3, 4] = np.nan

    def reductions(x, keep: str, high: str, low: str):  # noqa: ANN001, ANN202 - graphc or NumPy arrays and their names
        centred = x - x.mean(axes, **{keep: True})
        return [x.sum(axes), getattr(x, high)(axes), getattr(x, low)(axes), (centred * centred).sum(axes), centred * 2]

    compiled = graphc.compile(lambda x: reductions(x.permute(0, 2, 1, 3), "keepdim", "amax", "amin"), backend="numpy")
    got = compiled(graphc.tensor(data))
    expected = reductions(data.transpose(0, 2, 1, 3), "keepdims", "max", "min")
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-12, atol=1e-12, equal_nan=True)
    assert "NumPy, not C loops" not in _program_source(compiled)


def _program_source(compiled) -> str:  # noqa: ANN001
    with open(re.search(r"source in (\S+)", str(compiled.report())).group(1)) as file:
        return file.read()


def test_a_channel_broadcast_keeps_its_own_loop_in_a_sum_over_everything() -> None:
    """Batch and channel as one loop would cost a division per element to find the channel's scale."""
    x, scale = normal_tensor(2, 3, 4, 5), normal_tensor(1, 3, 1, 1)
    kernel = kernel_of((x * scale).sum())
    source = c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {}).source
    assert "r1 < 3;" in source and "r2 < 20;" in source and " / " not in source, source


def test_an_in_place_write_over_an_operand_read_elsewhere_is_refused() -> None:
    x = normal_tensor(4, 4)
    kernel = kernel_of(x + x.T)
    with pytest.raises(c_loops.Unsupported, match="in place"):
        c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {id(kernel.outputs[0]): kernel.inputs[0]})


def test_a_row_per_channel_may_be_written_in_place_over_what_its_passes_read() -> None:
    """Each channel's passes read its elements before its last pass writes them: legal in place.

    The sum's pass runs its 300 elements per image in chunks (a loop one level deeper), the
    last pass not: the same elements all the same.
    """
    data = np.random.default_rng(3).standard_normal((2, 3, 15, 20)).astype(np.float32)
    x = graphc.tensor(data)
    kernel = kernel_of(x - x.mean((0, 2, 3), keepdim=True))
    part = c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {id(kernel.outputs[0]): kernel.inputs[0]})
    assert "_c += 256" in part.source
    path = native.build([(part.name, part.source)])
    assert path is not None
    buffer = data.copy()
    getattr(native.load(path), part.name)(buffer, buffer, *map(int, part.lengths))  # static shapes: the lengths are numbers
    expected = data.astype(np.float64) - data.astype(np.float64).mean((0, 2, 3), keepdims=True)
    np.testing.assert_allclose(buffer, expected, rtol=1e-5, atol=1e-6)


def test_a_fold_of_disjoint_windows_reads_one_element_and_an_overlapping_one_unrolls_its_kernel() -> None:
    disjoint = kernel_of(F.fold(normal_tensor(1, 8, 6) * 2, (4, 6), 2, stride=2))  # a max-pool's backward
    source = c_loops.plan(disjoint, number_nodes(disjoint.inputs + disjoint.nodes), {}).source
    assert "for (int64_t ki" not in source and "acc" not in source, source
    overlapping = kernel_of(F.fold(normal_tensor(1, 8, 4) * 2, (3, 3), 2))
    source = c_loops.plan(overlapping, number_nodes(overlapping.inputs + overlapping.nodes), {}).source
    assert "#pragma GCC unroll 2\n" in source and "for (int64_t ki" in source, source


def test_a_later_nest_reads_an_earlier_nests_output_back_instead_of_what_it_overwrote() -> None:
    """Batch-norm's scale per channel, written over the variance, then the images scaled by it.

    Computing the scale again in the images' nest would read the variance after its buffer
    was overwritten; it is read back from the scale's buffer instead.
    """
    rng = np.random.default_rng(4)
    variance, images = rng.random((1, 3, 1, 1)).astype(np.float32) + 0.5, rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    v, x = graphc.tensor(variance), graphc.tensor(images)
    scale = (v + 1e-5).rsqrt()
    kernel = kernel_of(scale, x * scale)
    names = number_nodes(kernel.inputs + kernel.nodes)
    part = c_loops.plan(kernel, names, {id(kernel.outputs[0]): kernel.inputs[0]})
    assert len(part.reads) == 2, part.source  # the variance and the images; the scale is read through its output
    path = native.build([(part.name, part.source)])
    assert path is not None
    buffer, scaled = variance.copy(), np.empty_like(images)
    arguments = {id(part.reads[0]): buffer, id(part.reads[1]): images, id(kernel.outputs[0]): buffer, id(kernel.outputs[1]): scaled}
    getattr(native.load(path), part.name)(*(arguments[id(n)] for n in part.reads + part.writes), *map(int, part.lengths))
    expected = 1 / np.sqrt(variance.astype(np.float64) + 1e-5)
    np.testing.assert_allclose(buffer, expected, rtol=1e-6)
    np.testing.assert_allclose(scaled, images * expected, rtol=1e-6)


def test_compiled_programs_call_their_c_functions() -> None:
    compiled = graphc.compile(lambda x: F.softmax(x * 2, -1), backend="numpy")
    x = normal_tensor(5, 7)
    np.testing.assert_allclose(compiled(x).numpy(), torch.softmax(torch.from_numpy(x.numpy()) * 2, -1).numpy(), rtol=1e-6)
    kernel = compiled.report().kernels[0]
    assert "_c.k" in kernel.source and "PyObject *k" in kernel.c_source


# ------------------------------------------------------------------------------ calling convention and failures


def _softmax_function() -> tuple[object, str, list[str]]:
    kernel = kernel_of(F.softmax(normal_tensor(3, 4), -1))
    part = c_loops.plan(kernel, number_nodes(kernel.inputs + kernel.nodes), {})
    path = native.build([(part.name, part.source)])
    assert path is not None
    return getattr(native.load(path), part.name), part.name, part.lengths


def test_a_non_contiguous_input_is_copied_and_a_wrong_dtype_or_size_is_refused() -> None:
    function, name, lengths = _softmax_function()
    assert lengths == ["48"]  # the bytes of a 3x4 float32 buffer, the input's and the output's alike
    x = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32).T  # a transposed view
    out = np.empty((3, 4), dtype=np.float32)
    function(x, out, 48)
    np.testing.assert_allclose(out, torch.softmax(torch.from_numpy(np.ascontiguousarray(x)), -1).numpy(), rtol=1e-6)
    with pytest.raises(TypeError, match=f"{name}: argument 0 has 8-byte elements, expected 4"):
        function(x.astype(np.float64), out, 48)
    with pytest.raises(TypeError, match="takes 3 arguments"):
        function(x, 48)
    with pytest.raises(ValueError, match=f"{name}: argument 0 holds 32 bytes, its shape needs 48"):
        function(x[:2], out, 48)


def test_a_gathered_index_out_of_range_raises_instead_of_reading_memory() -> None:
    compiled = graphc.compile(lambda x, i: x.gather(1, i) * 2, backend="numpy")
    x = normal_tensor(2, 4)
    np.testing.assert_allclose(compiled(x, graphc.tensor([[3], [0]])).numpy(), x.numpy()[[0, 1], [3, 0]][:, None] * 2)
    with pytest.raises(IndexError, match="gather: an index is out of range for axis 1 of size 4") as info:
        compiled(x, graphc.tensor([[4], [0]]))
    assert "test_c_loops.py" in str(info.value)  # the user's line


def test_a_scatter_of_one_element_builds_and_checks_its_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """No loop is opened for one element, so the index check cannot ``continue``: it was invalid C,
    the build failed, and every later program of the process lost its C loops."""
    monkeypatch.setattr(native, "_failed", False)

    def gradient(x: graphc.Tensor, i: graphc.Tensor) -> graphc.Tensor:
        x = x.detach().requires_grad_()
        (x.index_select(0, i) * 3).sum().backward()
        return x.grad

    compiled = graphc.compile(gradient, backend="numpy")
    np.testing.assert_array_equal(compiled(graphc.zeros(4), graphc.tensor([2])).numpy(), [0, 0, 3, 0])
    with pytest.raises(IndexError, match="scatter_add: an index is out of range for axis 0 of size 4"):
        compiled(graphc.zeros(4), graphc.tensor([7]))
    assert native.enabled() and "_c." in "".join(k.source for k in compiled.report().kernels)


def test_without_a_working_compiler_programs_keep_numpy_kernels(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: ANN001
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CC", "false")
    monkeypatch.setattr(native, "_failed", False)
    compiled = graphc.compile(lambda x: (x * 3).exp(), backend="numpy")
    x = normal_tensor(3, 2)
    np.testing.assert_allclose(compiled(x).numpy(), np.exp(x.numpy() * 3), rtol=1e-6)
    assert "_c." not in compiled.report().kernels[0].source
    assert not native.enabled()


def test_a_program_whose_c_loops_fail_to_build_alone_keeps_numpy_kernels(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: ANN001
    """A build that fails while a module without kernels builds is that program's fault (a graphc
    bug): the program runs NumPy kernels and later programs keep their C loops."""
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(native, "_failed", False)
    real_source = native.function_source

    def broken_kernels(symbol: str, name: str, source: str) -> str:
        return real_source(symbol, name, source) + "\n#error a bad kernel\n"

    monkeypatch.setattr(native, "function_source", broken_kernels)
    compiled = graphc.compile(lambda x: (x * 3).exp(), backend="numpy")
    x = normal_tensor(3, 2)
    np.testing.assert_allclose(compiled(x).numpy(), np.exp(x.numpy() * 3), rtol=1e-6)
    assert "_c." not in compiled.report().kernels[0].source
    assert native.enabled()
    monkeypatch.setattr(native, "function_source", real_source)
    for bad in tmp_path.glob("*/graphc_fn_*.c"):  # the function's file, written by the first program needing it
        bad.unlink()
    later = graphc.compile(lambda x: (x * 3).exp(), backend="numpy")
    np.testing.assert_allclose(later(x).numpy(), np.exp(x.numpy() * 3), rtol=1e-6)
    assert "_c." in later.report().kernels[0].source


def test_with_c_loops_every_matmul_goes_to_numpys_blas() -> None:
    """One thread pool: torch computes nothing else in such a program, so its BLAS would only compete."""
    compiled = graphc.compile(lambda a, b: (a @ b).relu(), backend="numpy")
    a, b = normal_tensor(512, 512), normal_tensor(512, 512)
    np.testing.assert_allclose(compiled(a, b).numpy(), np.maximum(a.numpy() @ b.numpy(), 0), rtol=1e-4, atol=1e-4)
    source = "\n".join(k.source for k in compiled.report().kernels)
    assert "np.matmul(" in source and "rt.matmul(" not in source


def test_a_dump_holds_each_kernels_c_loops_beside_its_python(tmp_path) -> None:  # noqa: ANN001
    from graphc.runtime.dump import dumping

    with dumping(str(tmp_path), fmt="text"):
        compiled = graphc.compile(lambda x: F.softmax(x * 2, -1), backend="numpy")
        compiled(normal_tensor(4, 6))
    c_files = sorted((tmp_path / "kernels").glob("*.c"))
    assert c_files and "PyObject *k" in c_files[0].read_text()
    assert (tmp_path / "kernels" / (c_files[0].stem + ".py")).exists()


def test_a_size_named_like_a_loop_counter_keeps_its_own_name() -> None:
    from graphc.ir.parser import parse_graph

    graph = parse_graph("%0: f32[i0,3] = input()\n%1: f32[i0,3] = exp(%0)\nreturn (%1)")
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_allclose(compile_graph(graph, loops=True)([x])[0], np.exp(x), rtol=1e-6)


def test_a_second_program_compiles_only_the_c_functions_no_program_had(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # noqa: ANN001
    """Each function is an object of its own in the cache, which a later module links again."""
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    x, y = normal_tensor(4, 6), normal_tensor(5, 3)
    first = graphc.compile(lambda x: F.softmax(x, -1) * 2, backend="numpy")
    np.testing.assert_allclose(first(x).numpy(), torch.softmax(torch.from_numpy(x.numpy()), -1).numpy() * 2, rtol=1e-6)
    [softmax] = tmp_path.glob("*/graphc_fn_*.o")
    compiled_once = softmax.stat().st_ino
    second = graphc.compile(lambda x, y: (F.softmax(x, -1) * 2, (y.exp() + 1).sum(0)), backend="numpy")
    a, b = second(x, y)
    np.testing.assert_allclose(a.numpy(), torch.softmax(torch.from_numpy(x.numpy()), -1).numpy() * 2, rtol=1e-6)
    np.testing.assert_allclose(b.numpy(), (np.exp(y.numpy()) + 1).sum(0), rtol=1e-6)
    assert len(list(tmp_path.glob("*/graphc_fn_*.o"))) == 2 and len(list(tmp_path.glob("*/graphc_c_*.so"))) == 2
    assert softmax.stat().st_ino == compiled_once  # linked again, not compiled again


# ------------------------------------------------------------------------------ the C pool


def test_c_loops_whose_outputs_are_all_rows_run_their_blocks_on_the_c_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    split_everything(monkeypatch)  # one row per block
    x, w, b = normal_tensor(37, 33), normal_tensor(33), normal_tensor(33)
    compiled = graphc.compile(lambda x, w, b: (F.layer_norm(x, (33,), w, b), F.softmax(x, -1)))
    ours = compiled(x, w, b)
    tx, tw, tb = (torch.from_numpy(t.numpy()) for t in (x, w, b))
    np.testing.assert_allclose(ours[0].numpy(), torch.nn.functional.layer_norm(tx, (33,), tw, tb).numpy(), rtol=1.3e-5, atol=1e-6)
    np.testing.assert_allclose(ours[1].numpy(), torch.softmax(tx, -1).numpy(), rtol=1.3e-5, atol=1e-6)
    assert "blocks=rt.row_blocks(" in _source_of(compiled) and "rt.by_rows(" not in _source_of(compiled)
    source = _c_source_of(compiled)
    assert "_block(void *ctx, int64_t block)" in source and "graphc_parallel(" in source


def test_reductions_over_the_rows_on_the_c_pool_combine_each_blocks_part(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each block writes its partial sum, max or min apart; the parts are combined in block order, keeping NaN."""
    split_everything(monkeypatch)  # one row per block
    x = np.random.default_rng(5).standard_normal((13, 6)).astype(np.float32)
    x[7, 2] = np.nan  # one block's part of column 2 is NaN
    n = np.arange(13 * 6, dtype=np.int64).reshape(13, 6) - 30

    def f(x: graphc.Tensor, n: graphc.Tensor) -> tuple:
        y = x.tanh()
        return y * 2, y.sum(0), y.amax(0), y.amin(0, keepdim=True), (n * 3).sum(0), y.sum()

    compiled = graphc.compile(f, backend="numpy")
    ours = compiled(graphc.tensor(x), graphc.tensor(n))
    theirs = f(torch.from_numpy(x), torch.from_numpy(n))
    for got, expected in zip(ours, theirs):
        assert got.dtype.name == str(expected.dtype).removeprefix("torch.")
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    assert np.isnan(ours[2].numpy()[2]) and np.isnan(ours[3].numpy()[0, 2])
    assert "blocks=rt.row_blocks(" in _source_of(compiled) and "rt.by_rows(" not in _source_of(compiled)
    assert "the blocks' parts combined (max)" in _c_source_of(compiled)


def test_an_index_out_of_range_in_one_block_of_the_c_pool_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    split_everything(monkeypatch)
    compiled = graphc.compile(lambda x, i: x.gather(1, i) * 2, backend="numpy")
    x = normal_tensor(9, 4)
    good = graphc.tensor([[3], [0], [1], [2], [3], [0], [1], [2], [3]])
    np.testing.assert_allclose(compiled(x, good).numpy(), np.take_along_axis(x.numpy(), good.numpy(), 1) * 2)
    assert "blocks=rt.row_blocks(" in _source_of(compiled)
    with pytest.raises(IndexError, match="gather: an index is out of range for axis 1 of size 4"):
        compiled(x, graphc.tensor([[3], [0], [1], [2], [4], [0], [1], [2], [3]]))  # row 4 of 9, in a block of its own


def test_callers_on_several_threads_share_the_c_pool_and_get_their_own_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller finding the pool busy with another's blocks runs its own blocks alone."""
    split_everything(monkeypatch)
    compiled = graphc.compile(lambda x: F.softmax(x * 3, -1), backend="numpy")
    inputs = [graphc.tensor(np.random.default_rng(k).standard_normal((50, 20)).astype(np.float32)) for k in range(8)]
    compiled(inputs[0])
    expected = [torch.softmax(torch.from_numpy(x.numpy()) * 3, -1).numpy() for x in inputs]

    def run(k: int) -> bool:
        return all(np.allclose(compiled(inputs[k]).numpy(), expected[k], rtol=1e-5, atol=1e-6) for _ in range(20))

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(run, range(8)))


def test_a_forked_child_runs_c_pool_kernels_after_its_parent_started_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child of fork() has none of its parent's pool threads (DataLoader workers are forked).

    Its caller would run every block itself anyway; the pool's fork handler also resets the
    pool's lock, which a parent's thread may hold at the fork, and lets the child start threads.
    """
    split_everything(monkeypatch)
    compiled = graphc.compile(lambda x: F.softmax(x * 2, -1), backend="numpy")
    x = graphc.tensor(np.random.default_rng(3).standard_normal((40, 16)).astype(np.float32))
    expected = torch.softmax(torch.from_numpy(x.numpy()) * 2, -1).numpy()
    np.testing.assert_allclose(compiled(x).numpy(), expected, rtol=1e-5, atol=1e-6)  # the parent's pool has started
    child = os.fork()
    if child == 0:
        ok = np.allclose(compiled(x).numpy(), expected, rtol=1e-5, atol=1e-6)
        os._exit(0 if ok else 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(child, 9)
    pytest.fail("the forked child hung on the C pool")


def test_gradient_through_where_of_a_cat_of_a_cumsum_with_c_loops() -> None:
    """GCC 12.2 with -fno-trapping-math at -O3 for AVX2 stored 0 for some elements of `c ? 0.0 : v`
    in a loop with three results (the where's gradient here; fuzzer seed 100247) after unrolling its
    10-iteration innermost loop; graphc's flags keep that unrolling off (graphc/codegen/native.py)."""
    import torch

    if not native.enabled():
        pytest.skip("no C compiler")
    rng = np.random.default_rng(0)

    def f(T: Any, x: Any) -> list:
        joined = T.cat([T.cumsum(x.clamp(min=-1.44), dim=-1), x], dim=2)
        return [joined.floor(), T.where(joined <= 0, -0.55, joined * 2).flatten()]

    a = rng.standard_normal((4, 4, 5))
    t = torch.tensor(a, requires_grad=True)
    outs = f(torch, t)
    w = [rng.standard_normal(tuple(o.shape)) for o in outs]
    sum((o * torch.tensor(wi)).sum() for o, wi in zip(outs, w)).backward()

    def step(x: graphc.Tensor, w0: graphc.Tensor, w1: graphc.Tensor) -> list:
        outs = f(graphc, x)
        ((outs[0] * w0).sum() + (outs[1] * w1).sum()).backward()
        return [o.detach() for o in outs]

    x = graphc.tensor(a, requires_grad=True)
    graphc.compile(step, backend="numpy")(x, *[graphc.tensor(wi) for wi in w])
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_gradient_through_nested_wheres_of_two_clamps_over_a_slice_with_c_loops() -> None:
    """The second loop GCC 12.2 miscompiled in fuzzer seed 100247's program (with -fno-tree-sink, or
    its first loop with -fno-trapping-math): clamp's gradient, a where nested in a where, added to a
    slice of the cat's gradient, in 4x4x5 loops whose innermost GCC unrolled before vectorizing the
    loop around it. graphc's flags keep that unrolling off (graphc/codegen/native.py)."""
    import torch

    if not native.enabled():
        pytest.skip("no C compiler")
    rng = np.random.default_rng(3)

    def f(T: Any, x: Any) -> list:
        clamped = x.clamp(min=-1.44)
        joined = T.cat([T.cumsum(clamped, dim=-1), x], dim=2)
        return [joined.floor(), clamped.clamp(min=0.69), T.where(joined <= 0, -0.55, joined * 2).flatten()]

    a = rng.standard_normal((4, 4, 5))
    t = torch.tensor(a, requires_grad=True)
    outs = f(torch, t)
    w = [rng.standard_normal(tuple(o.shape)) for o in outs]
    sum((o * torch.tensor(wi)).sum() for o, wi in zip(outs, w)).backward()

    def step(x: graphc.Tensor, *ws: graphc.Tensor) -> list:
        outs = f(graphc, x)
        sum((o * wi).sum() for o, wi in zip(outs, ws)).backward()
        return [o.detach() for o in outs]

    x = graphc.tensor(a, requires_grad=True)
    graphc.compile(step, backend="numpy")(x, *[graphc.tensor(wi) for wi in w])
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_an_equality_mask_against_a_max_of_a_libm_value_finds_the_max_in_c_loops(loops_everywhere: list[str]) -> None:
    """``s == s.amax(0)`` with ``s`` from ``exp``: the max's pass and the mask's pass each compute ``s``,
    and libmvec's vectorized exp differs in the last bit from libm's scalar one, so columns lost
    their max (most 5x3 draws did). A program comparing floats for equality gets graphc's own exp,
    which has the same bits in every loop (tests/test_c_math.py)."""
    import torch

    def f(T: Any, x: Any) -> Any:
        s = x.exp() * 1.3
        return (s == s.amax(0, keepdim=True)).sum(0)

    step = graphc.compile(lambda x: f(graphc, x), backend="numpy")
    for seed in range(4):
        x = np.random.default_rng(seed).standard_normal((5, 3))
        np.testing.assert_array_equal(step(graphc.tensor(x)).numpy(), f(torch, torch.tensor(x)).numpy())
    assert loops_everywhere
