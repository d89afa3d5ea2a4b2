"""The NumPy backend runs row-independent kernels by blocks of rows on threads, with unchanged results.

Test tensors are far below the size at which a kernel is split, so ``every_kernel_split``
lowers the thresholds (read when a kernel is generated and when it runs) until every
splittable kernel runs one row per block, on two threads; the differential cases, random
programs and training steps then run split.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import test_primitive_coverage as coverage
import torch
from helpers import kernel_of, normal_tensor
from hypothesis import HealthCheck, given, settings
from random_graphs import Program, programs
from test_triton_training import MODELS, seed_training, train_three_steps

import graphc
import graphc.nn.functional as F
from graphc import nn, optim
from graphc.codegen import numpy_support as rt
from graphc.codegen.row_split import ROWS, split_rows
from graphc.frontend import lazy
from graphc.runtime.executor import compile_graph


def split_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thresholds at which every splittable kernel runs one row per block, on two threads."""
    monkeypatch.setattr(rt, "SPLIT_BYTES", 0)
    monkeypatch.setattr(rt, "LOOP_SPLIT_BYTES", 0)
    monkeypatch.setattr(rt, "BLOCK_BYTES", 1)
    monkeypatch.setattr(rt, "THREADS", 2)


@pytest.fixture
def every_kernel_split(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Split every splittable kernel into one-row blocks on two threads; yields the block counts chosen.

    ``rt.row_blocks`` chooses the count for both pools: ``rt.by_rows`` (NumPy kernels, Python
    threads) and C loops running their blocks on the C pool.
    """
    blocks: list[int] = []
    row_blocks = rt.row_blocks

    def counting(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        count = row_blocks(*args, **kwargs)
        blocks.append(count)
        return count

    split_everything(monkeypatch)
    monkeypatch.setattr(rt, "row_blocks", counting)
    monkeypatch.setattr(lazy, "_programs", {})  # programs compiled before were generated unsplit
    with graphc.use_backend("numpy"):
        yield blocks


# ------------------------------------------------------------------------------ which kernels split


def test_softmax_over_the_last_axis_splits_by_rows() -> None:
    split = split_rows(kernel_of(F.softmax(normal_tensor(6, 8), -1)))
    assert split is not None and split.extent == 6 and split.input_axes == [0]
    assert all(n.shape[0] == ROWS for n in split.kernel.outputs)


def test_a_broadcast_bias_is_read_whole_by_every_block() -> None:
    kernel = kernel_of(normal_tensor(6, 8) + normal_tensor(8))
    split = split_rows(kernel)
    assert split is not None
    assert {n.shape: axis for n, axis in zip(kernel.inputs, split.input_axes)} == {(6, 8): 0, (8,): None}


def test_rows_reached_through_a_transpose_are_split_on_the_operand_axis() -> None:
    split = split_rows(kernel_of(normal_tensor(8, 6).T.exp()))
    assert split is not None and split.input_axes == [1]


@pytest.mark.parametrize(
    "build, why",
    [
        (lambda: normal_tensor(6, 8) @ normal_tensor(8, 4), "a matmul"),
        (lambda: normal_tensor(6, 8).reshape(12, 4).exp(), "a reshape that moves the rows"),
        (lambda: normal_tensor(6, 8)[1:].exp(), "a slice of the rows"),
        (lambda: graphc.cat([normal_tensor(6, 8), normal_tensor(6, 8)], 0).exp(), "a concat along the rows"),
        (lambda: normal_tensor(6, 8).sum().exp(), "math on a reduction over the rows"),
        (lambda: normal_tensor(1, 8).exp(), "a single row"),
        (lambda: normal_tensor(6, 8).cumsum(0), "a running sum along the rows"),
    ],
)
def test_kernels_that_mix_rows_are_not_split(build, why: str) -> None:  # noqa: ANN001
    assert split_rows(kernel_of(build())) is None, why


def test_a_running_sum_along_each_row_splits_by_rows() -> None:
    assert split_rows(kernel_of(normal_tensor(6, 8).cumsum(1))) is not None


def test_reductions_over_the_rows_are_combined_from_partial_results_per_block() -> None:
    x = normal_tensor(6, 8)
    y = x.tanh()
    split = split_rows(kernel_of(y, y.sum(0), y.amax(0).reshape(2, 4), x.sum()))
    assert split is not None and split.output_kinds == ["rows", "sum", "max", "sum"]


def test_a_small_reduction_over_the_rows_of_another_input_is_recomputed_by_every_block() -> None:
    x, y = normal_tensor(6, 8), normal_tensor(6, 8)
    split = split_rows(kernel_of(x.sum(0, keepdim=True) + y))
    assert split is not None and split.input_axes == [None, 0]  # inputs in order of first use: x, then y


def test_a_value_read_both_whole_and_by_rows_prevents_the_split() -> None:
    x = normal_tensor(6, 8)
    assert split_rows(kernel_of(x.sum(0, keepdim=True) + x)) is None


def test_a_large_value_read_whole_by_every_block_prevents_the_split() -> None:
    x, y = normal_tensor(1 << 17, 2), normal_tensor(1 << 17, 2)
    assert split_rows(kernel_of(x.sum(0, keepdim=True) + y)) is None


@pytest.mark.parametrize("native", ["1", "0"])
def test_split_programs_name_the_block_function_and_the_split_in_their_source(native: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """NumPy kernels go by blocks through rt.by_rows; C loops whose outputs are all rows run their blocks in C."""
    monkeypatch.setenv("GRAPHC_NATIVE", native)
    x = normal_tensor(6, 8)
    compiled = graphc.compile(lambda x: F.layer_norm(x, (8,)))
    compiled(x)
    source = compiled.report().kernels[0].source
    assert "_rows(v0, out_" in source and "f32[rows,8]" in source
    if native == "1":
        assert "blocks=rt.row_blocks(" in source and "rt.by_rows(" not in source
    else:
        assert "rt.by_rows(" in source and "blocks=" not in source


# ------------------------------------------------------------------------------ results do not change


@pytest.mark.parametrize("op, case", coverage.ALL, ids=[f"{op}-{case.label}" for op, case in coverage.ALL])
def test_primitive_matches_torch_with_every_kernel_split(every_kernel_split: list[int], op: str, case: coverage.Case) -> None:
    coverage.test_primitive_matches_torch("numpy", op, case)


def test_split_kernels_run_one_block_per_row(every_kernel_split: list[int]) -> None:
    x = np.random.default_rng(1).standard_normal((5, 7))
    got = F.log_softmax(graphc.tensor(x), -1).numpy()
    np.testing.assert_allclose(got, torch.log_softmax(torch.from_numpy(x), -1).numpy(), rtol=1e-12)
    assert every_kernel_split == [5]


def test_partial_reductions_over_the_rows_combine_to_the_whole_result(every_kernel_split: list[int]) -> None:
    x = np.random.default_rng(2).standard_normal((7, 5))
    y = graphc.tensor(x).tanh()
    results = [y, y.sum(0), y.amax(0).reshape(5, 1), y.amin(0), y.sum()]
    graph, leaves = lazy.pending_graph([t._node for t in results])
    got = compile_graph(graph)([leaf.data for leaf in leaves])
    t = np.tanh(x)
    for value, expected in zip(got, [t, t.sum(0), t.max(0).reshape(5, 1), t.min(0), t.sum()]):
        np.testing.assert_allclose(value, expected, rtol=1e-12)
    assert every_kernel_split and min(every_kernel_split) > 1  # every kernel ran in blocks


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(program=programs())
def test_random_programs_split_by_rows_keep_their_results(every_kernel_split: list[int], program: Program) -> None:
    graph, leaves = lazy.pending_graph([t._node for t in program.outputs])
    got = compile_graph(graph)([leaf.data for leaf in leaves])
    program.assert_results(got)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_seed_models_train_the_same_with_every_kernel_split(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs, labels, initial = seed_training(name)
    whole_losses, whole_state = train_three_steps(name, inputs, labels, initial, "numpy")
    split_everything(monkeypatch)
    split_losses, split_state = train_three_steps(name, inputs, labels, initial, "numpy")
    np.testing.assert_allclose(split_losses, whole_losses, rtol=1e-6)
    for key, value in whole_state.items():
        np.testing.assert_allclose(split_state[key], value, rtol=1e-5, atol=1e-7, err_msg=key)


# ------------------------------------------------------------------------------ when a call stays whole


def test_an_output_aliasing_its_input_row_for_row_still_splits() -> None:
    x = np.arange(12.0).reshape(6, 2)
    assert rt._rows_independent((x,), (0,), (x,))


def test_an_output_aliasing_a_transposed_input_runs_as_one_call() -> None:
    x = np.arange(36.0).reshape(6, 6)
    assert not rt._rows_independent((x.T,), (1,), (x,))
    assert not rt._rows_independent((x,), (None,), (x,))


def test_small_calls_run_as_one_call() -> None:
    calls: list[int] = []

    def kernel(x: np.ndarray, out: np.ndarray, rows: int) -> tuple:
        calls.append(rows)
        np.exp(x, out=out)
        return (out,)

    x = np.ones((64, 4))
    (out,) = rt.by_rows(kernel, 64, (x,), (0,), (np.empty_like(x),))
    assert calls == [64] and np.allclose(out, np.e)


def _adding_one(calls: list[int]):  # noqa: ANN202
    """A row kernel adding 1 that records how many rows each call got."""

    def kernel(x: np.ndarray, out: np.ndarray, rows: int) -> tuple:
        calls.append(rows)
        np.add(x, 1.0, out=out)
        return (out,)

    return kernel


def test_large_calls_run_in_blocks_covering_every_row_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rt, "THREADS", 2)
    calls: list[int] = []
    kernel = _adding_one(calls)
    x = np.arange(rt.SPLIT_BYTES // 8 * 2, dtype=np.float64).reshape(-1, 16)
    (out,) = rt.by_rows(kernel, x.shape[0], (x,), (0,), (np.empty_like(x),))
    assert len(calls) >= 2 and sum(calls) == x.shape[0]
    np.testing.assert_array_equal(out, x + 1.0)


def test_blocks_come_in_a_multiple_of_the_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """3 blocks on 2 threads take as long as 4: the count is rounded up so the threads finish together."""
    monkeypatch.setattr(rt, "THREADS", 2)
    calls: list[int] = []
    kernel = _adding_one(calls)
    x = np.zeros((4096, 192), dtype=np.float64)  # 6 MiB in, 6 out: 3 blocks of BLOCK_BYTES, rounded up to 4
    rt.by_rows(kernel, x.shape[0], (x,), (0,), (np.empty_like(x),))
    assert len(calls) == 4 and sum(calls) == x.shape[0]


def test_the_calling_thread_runs_blocks_too_and_a_blocks_error_reaches_it(monkeypatch: pytest.MonkeyPatch) -> None:
    split_everything(monkeypatch)
    threads: list[str] = []

    def kernel(x: np.ndarray, out: np.ndarray, rows: int) -> tuple:
        threads.append(threading.current_thread().name)
        time.sleep(0.001)  # long enough that both threads take blocks
        if x[0, 0] == 5.0:
            raise IndexError("block of row 5")
        np.add(x, 1.0, out=out)
        return (out,)

    x = np.arange(32, dtype=np.float64).reshape(8, 4)
    (out,) = rt.by_rows(kernel, 8, (x,), (0,), (np.empty_like(x),))
    np.testing.assert_array_equal(out, x + 1.0)
    assert threading.current_thread().name in threads and len(set(threads)) == 2
    with pytest.raises(IndexError, match="block of row 5"):
        rt.by_rows(kernel, 8, (np.arange(8.0).reshape(8, 1),), (0,), (np.empty((8, 1)),))


def test_adam_updates_split_by_rows_while_every_block_computes_the_step_count(every_kernel_split: list[int]) -> None:
    """On the C pool (C loops) or the Python pool: each block computes the step count into a part of its own, block 0's is stored."""
    start, grads = np.random.default_rng(4).standard_normal((2, 3, 16))
    param = nn.Parameter(graphc.tensor(start[0].copy()))
    reference = torch.nn.Parameter(torch.from_numpy(start[0].copy()))
    opt, torch_opt = optim.Adam([param], lr=0.1), torch.optim.Adam([reference], lr=0.1)

    def update(grad: graphc.Tensor) -> None:
        param.grad = grad
        opt.step()

    compiled = graphc.compile(update, dynamic=False)
    for g in grads:
        compiled(graphc.tensor(g.copy()))
        reference.grad = torch.from_numpy(g.copy())
        torch_opt.step()
    np.testing.assert_allclose(param.numpy(), reference.detach().numpy(), rtol=1e-12)
    assert max(every_kernel_split) == 16  # the update ran one block per element
