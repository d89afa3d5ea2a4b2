"""A program reused for a later graph of the same structure names that graph's lines in its runtime errors.

Eager code compiles one program per graph structure (``graphc.frontend.lazy``); its error
messages were fixed from the first graph's lines, so a bad value at a later call was reported
at the line of the first (graphc.runtime.call_sites).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import graphc
from graphc.frontend import lazy

HERE = os.path.basename(__file__)


@pytest.fixture(autouse=True)
def _nothing_pending() -> None:
    """Realize what earlier tests left deferred: the next realization takes it into its graph, which
    then differs from the second call's and compiles a program of its own."""
    lazy.realize([])


def _line(offset: int) -> str:
    """``file:line`` of the line ``offset`` lines below the caller's."""
    import sys

    return f"{HERE}:{sys._getframe(1).f_lineno + offset}"


def test_an_index_out_of_range_names_the_line_of_the_call_that_reused_the_program(backend: str) -> None:
    x = graphc.randn(3, 2)
    first = _line(1)
    x.index_select(0, graphc.tensor([0, 1])).numpy()
    compiled = lazy.compile_count
    second = _line(2)
    with pytest.raises(IndexError) as info:
        x.index_select(0, graphc.tensor([0, 7])).numpy()
    assert lazy.compile_count == compiled  # the same program ran
    message = str(info.value)
    assert "index_select: an index is out of range for axis 0 of size 3" in message
    assert second in message and first not in message, message


def test_a_failed_value_check_names_the_line_of_the_call_that_reused_the_program(backend: str) -> None:
    positive = np.array([[2.0, 1.0], [1.0, 2.0]])
    first = _line(1)
    graphc.linalg.cholesky(graphc.tensor(positive)).numpy()
    compiled = lazy.compile_count
    second = _line(2)
    with pytest.raises(graphc.InvalidValueError) as info:
        graphc.linalg.cholesky(graphc.tensor(-positive)).numpy()
    assert lazy.compile_count == compiled
    message = str(info.value)
    assert "linalg.cholesky" in message and "not positive-definite" in message
    assert second in message and first not in message, message


def test_an_integer_division_by_zero_names_the_line_of_the_call_that_reused_the_program(backend: str) -> None:
    a, zeros = graphc.tensor([4, 5]), graphc.zeros(2, dtype=graphc.int64)
    first = _line(1)
    (a // (graphc.tensor([1, 1]) + zeros)).numpy()  # a computed divisor: checked by the program
    second = _line(2)
    with pytest.raises(graphc.errors.DivisionByZeroError) as info:
        (a // (graphc.tensor([1, 0]) + zeros)).numpy()
    assert "floor_divide: integer division by zero" in str(info.value)
    assert second in str(info.value) and first not in str(info.value), str(info.value)


def test_a_c_loop_program_names_the_line_of_the_call_that_reused_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHC_NATIVE", "all")  # eager programs in C loops too, which raise from C
    x = graphc.randn(3, 2)
    first = _line(1)
    x.index_select(0, graphc.tensor([0, 1])).numpy()
    second = _line(2)
    with pytest.raises(IndexError) as info:
        x.index_select(0, graphc.tensor([0, 7])).numpy()
    assert second in str(info.value) and first not in str(info.value), str(info.value)


def test_ops_on_one_line_then_on_two_get_a_program_of_their_own_and_each_op_its_line() -> None:
    """Which nodes share a line is part of the cache key (not the lines): with the first program, the
    two index_selects' errors would carry one line, and which of the later two it stood for is unknown."""
    x = graphc.randn(3, 2)
    x.index_select(0, graphc.tensor([0, 1])).index_select(0, graphc.tensor([1, 0])).numpy()
    compiled = lazy.compile_count
    picked = x.index_select(0, graphc.tensor([0, 1]))
    outer = _line(2)
    with pytest.raises(IndexError) as info:
        picked.index_select(0, graphc.tensor([1, 5])).numpy()
    assert lazy.compile_count == compiled + 1
    assert outer in str(info.value), str(info.value)
    picked = x.index_select(0, graphc.tensor([0, 1]))
    again = _line(2)
    with pytest.raises(IndexError) as info:
        picked.index_select(0, graphc.tensor([1, 6])).numpy()
    assert lazy.compile_count == compiled + 1  # the same pattern of lines at other lines: reused
    assert again in str(info.value) and outer not in str(info.value), str(info.value)


def test_on_a_gpu_a_flagged_index_read_later_names_the_line_of_the_call_that_ran(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("triton")
    from graphc.codegen import triton_support

    monkeypatch.setattr(triton_support, "read_flags_at_once", lambda flags: False)
    with graphc.use_backend("triton"):
        x, zeros = graphc.randn(3, 4), graphc.zeros(3, 1, dtype=graphc.int64)
        first = _line(1)
        x.gather(1, graphc.tensor([[0], [1], [2]]) + zeros).numpy()  # computed indices: checked by the program
        second = _line(1)
        picked = x.gather(1, graphc.tensor([[0], [1], [4]]) + zeros)
        picked.realize()  # the program ran and flagged the index; the error waits for a read
        with pytest.raises(IndexError) as info:
            picked.numpy()
    assert second in str(info.value) and first not in str(info.value), str(info.value)


def test_a_compiled_function_names_its_ops_line_whichever_line_calls_it(backend: str) -> None:
    """graphc.compile traces each function itself: its programs are not shared with other code, and an
    error names the line of the op inside the function (the caller's line is in the traceback)."""

    def pick(x: graphc.Tensor, i: graphc.Tensor) -> graphc.Tensor:
        return x[i]

    compiled = graphc.compile(pick)
    compiled(graphc.randn(3, 2), graphc.tensor([0, 1]))
    with pytest.raises(IndexError) as info:
        compiled(graphc.randn(3, 2), graphc.tensor([0, 4]))
    assert f"{HERE}:{pick.__code__.co_firstlineno + 1}" in str(info.value), str(info.value)
