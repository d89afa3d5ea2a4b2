"""Adversarial programs for views and symbolic size reads, compared with eager torch: the cases that
found bugs, and patterns the feature tests (test_views_inplace.py, test_symbolic_size_reads.py) miss.

A leaf changed in place under ``no_grad`` inside a compiled function (a forward clamping its weight)
gave a result whose backward outside never reached the leaf: the rebuilt graph's new leaf and the
tensor's new value were two nodes (graphc/runtime/compiled.py ``_inline``). With a symbolic batch,
``h.t().reshape(-1).add_(1)`` wrote into ``h`` where torch's reshape copies, and ``h[1:].contiguous().add_(1)``
missed ``h`` (graphc/runtime/views.py).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data

import graphc


def _linear_pair() -> tuple[graphc.nn.Linear, torch.nn.Linear]:
    ours, theirs = graphc.nn.Linear(3, 2).double(), torch.nn.Linear(3, 2).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.numpy()))
        theirs.bias.copy_(torch.tensor(ours.bias.numpy()))
    return ours, theirs


def test_a_parameter_clamped_under_no_grad_in_a_compiled_forward_gets_its_gradient_outside() -> None:
    def forward(model: Any, T: Any, x: Any) -> Any:
        with T.no_grad():
            model.weight.clamp_(-0.3, 0.3)
        return (model(x) ** 2).sum()

    ours, theirs = _linear_pair()
    compiled = graphc.compile(lambda x: forward(ours, graphc, x), dynamic=False)
    array = data(4, 3, dtype="float64")
    for _ in range(3):  # the trace, then the program, twice: .grad accumulates as torch's
        got, expected = compiled(graphc.tensor(array)), forward(theirs, torch, torch.tensor(array))
        got.backward()
        expected.backward()
        assert_matches(got, expected.detach())
        assert ours.weight.is_leaf and ours.weight.requires_grad
        for mine, reference in ((ours.weight, theirs.weight), (ours.bias, theirs.bias)):
            assert_matches(mine.detach(), reference.detach())
            np.testing.assert_allclose(mine.grad.numpy(), reference.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_an_argument_leaf_written_through_a_view_under_no_grad_gets_its_gradient_outside() -> None:
    def fn(T: Any, p: Any, x: Any) -> Any:
        with T.no_grad():
            p.view(-1)[::2].mul_(0.5)
            p.t()[0].add_(1)
        return (p * x).sum()

    compiled = graphc.compile(lambda p, x: fn(graphc, p, x), dynamic=False)
    array = data(2, 3, dtype="float64")
    ours, theirs = graphc.tensor(array.copy(), requires_grad=True), torch.tensor(array.copy(), requires_grad=True)
    for _ in range(3):
        got, expected = compiled(ours, graphc.tensor(array)), fn(torch, theirs, torch.tensor(array))
        got.backward()
        expected.backward()
        assert_matches(got, expected.detach())
        assert_matches(ours.detach(), theirs.detach())
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_views_held_by_user_code_follow_compiled_optimizer_steps_as_torch() -> None:
    """``w = model.weight.view(-1)`` and ``state_dict()`` taken before training see every step."""
    ours, theirs = _linear_pair()
    views = [(ours.weight.view(-1), theirs.weight.view(-1)), (ours.weight.t()[1], theirs.weight.t()[1])]
    ours_state, their_state = ours.state_dict(), theirs.state_dict()
    ours_opt = graphc.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    their_opt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)

    def step(model: Any, optimizer: Any, x: Any) -> None:
        optimizer.zero_grad()
        (model(x) ** 2).sum().backward()
        optimizer.step()

    compiled = graphc.compile(lambda x: step(ours, ours_opt, x), dynamic=False)
    array = data(5, 3, dtype="float64")
    for _ in range(3):
        compiled(graphc.tensor(array))
        step(theirs, their_opt, torch.tensor(array))
        for mine, reference in views:
            assert_matches(mine, reference.detach())
        for key in ("weight", "bias"):
            assert_matches(ours_state[key], their_state[key])


def test_a_compiled_function_writes_through_transposed_and_strided_view_arguments() -> None:
    def fn(T: Any, v: Any) -> Any:
        v[0].mul_(3)
        return v.sum()

    compiled = graphc.compile(lambda v: fn(graphc, v), dynamic=False)
    array = data(4, 6, dtype="float64")
    ours, theirs = graphc.tensor(array.copy()), torch.tensor(array.copy())
    for _ in range(2):
        assert_matches(compiled(ours.t()), fn(torch, theirs.t()))
        assert_matches(ours, theirs)
        assert_matches(compiled(ours[:, ::2]), fn(torch, theirs[:, ::2]))
        assert_matches(ours, theirs)


@pytest.mark.usefixtures("numpy_kernels")
def test_numel_and_negative_size_bounds_keep_one_program_at_batch_sizes_two_three_and_seven() -> None:
    def fn(T: Any, x: Any) -> Any:
        n, m = x.size(0), x.numel()
        doubled = T.cat([x, x])
        return (
            x.view(-1)[: m - n],
            x[: -n + 1],
            x[n - 2 :: 1],
            doubled[doubled.size(0) // 2 :],
            x.view(n * 3, 2)[n:],
            T.ones(m - n, dtype=T.float64) * n,
        )

    compiled = graphc.compile(lambda x: fn(graphc, x))
    for batch in (2, 3, 7, 2):
        array = data(batch, 6, dtype="float64")
        assert_matches(compiled(graphc.tensor(array)), fn(torch, torch.tensor(array)))
    assert compiled.trace_count == 1, compiled.recompilations


def test_a_size_divided_into_an_int_tensor_builds_its_c_loops(caplog: pytest.LogCaptureFixture) -> None:
    """``(i // n, i / n)`` with ``n = x.size(0)``: the fused kernel's C said ``(int64_t)(B)`` without
    taking ``B`` as an argument (a ``size`` node computed inline was not among the values whose sizes
    the function takes); the build failed and the program fell back to NumPy kernels (right values)."""

    def fn(T: Any, x: Any, i: Any) -> Any:
        return i // x.size(0), T.true_divide(i, x.size(0))

    compiled = graphc.compile(lambda x, i: fn(graphc, x, i))
    with caplog.at_level(logging.WARNING):
        for batch in (2, 3):
            x, i = data(batch, 6, dtype="float64"), data(batch, 6, dtype="int32")
            assert_matches(compiled(graphc.tensor(x), graphc.tensor(i)), fn(torch, torch.tensor(x), torch.tensor(i)))
    assert "did not build" not in caplog.text


def _reshape_copies_a_transposed_batch(T: Any, x: Any) -> Any:
    h = x * 1
    r = h.t().reshape(-1)  # torch copies: a transposed layout cannot be viewed flat
    r.add_(1)
    p = h.view(-1, 2, 3).permute(0, 2, 1).reshape(-1, 6)
    p.mul_(2)
    return h, r, p


@pytest.mark.usefixtures("numpy_kernels")
def test_an_in_place_op_through_a_reshape_of_a_transposed_batch_specializes_and_matches_torch() -> None:
    """With a symbolic batch the layout is unknown, and the reshape of a transposed view was a view
    (the write reached ``h`` where torch's copy does not): such a write now needs static sizes."""
    compiled = graphc.compile(lambda x: _reshape_copies_a_transposed_batch(graphc, x))
    for batch in (2, 3, 7):
        array = data(batch, 6, dtype="float64")
        assert_matches(compiled(graphc.tensor(array)), _reshape_copies_a_transposed_batch(torch, torch.tensor(array)))
    assert "add_ through a reshape" in compiled.recompilations[0]


@pytest.mark.usefixtures("numpy_kernels")
def test_a_reshape_of_a_transposed_batch_read_only_keeps_one_program() -> None:
    def fn(T: Any, x: Any) -> Any:
        b = x.size(0)
        return (x.view(b, 2, 3).transpose(1, 2).reshape(b, 6) * 2,)

    compiled = graphc.compile(lambda x: fn(graphc, x))
    for batch in (2, 3, 7):
        array = data(batch, 6, dtype="float64")
        assert_matches(compiled(graphc.tensor(array)), fn(torch, torch.tensor(array)))
    assert compiled.trace_count == 1, compiled.recompilations


def _contiguous_views_and_base_writes_of_a_batch(T: Any, x: Any) -> Any:
    h = x * 1
    c = h[1:].contiguous()  # torch's is h[1:] itself: the write reaches h
    c.add_(1)
    r = h.t().reshape(-1)  # torch's is a copy: h's write below does not reach it
    h.mul_(2)
    return h, c, r


@pytest.mark.usefixtures("numpy_kernels")
def test_contiguous_of_a_batch_slice_and_a_reshape_read_after_its_base_changed_match_torch() -> None:
    """With a symbolic batch ``contiguous()`` of a view copied (a write to it was lost), and a reshape of
    a transposed batch read after its base changed raised after the trace; both now retrace with static sizes."""
    compiled = graphc.compile(lambda x: _contiguous_views_and_base_writes_of_a_batch(graphc, x))
    for batch in (2, 3, 7):
        array = data(batch, 6, dtype="float64")
        assert_matches(compiled(graphc.tensor(array)), _contiguous_views_and_base_writes_of_a_batch(torch, torch.tensor(array)))


@pytest.mark.usefixtures("numpy_kernels")
def test_a_constant_slice_of_a_multiple_of_the_batch_keeps_one_program() -> None:
    """``x.reshape(-1)[:3]`` of 6*B elements clamps at no batch size (6*B >= 12); only bounds past 2
    were taken as depending on the size, and such a function was traced per batch size. ``x[:3]`` of
    B rows still specializes (2 rows clamp)."""

    def fn(T: Any, x: Any) -> Any:
        flat = x.reshape(-1)
        flat[:3].fill_(9.0)
        return x, flat[-7:] * 1, flat[5:11] + 0

    compiled = graphc.compile(lambda x: fn(graphc, x))
    for batch in (2, 3, 7):
        array = data(batch, 6, dtype="float64")
        assert_matches(compiled(graphc.tensor(array)), fn(torch, torch.tensor(array)))
    assert compiled.trace_count == 1, compiled.recompilations
    rows = graphc.compile(lambda x: x[:3] * 1)
    for batch in (2, 5):
        array = data(batch, 6, dtype="float64")
        assert_matches(rows(graphc.tensor(array)), torch.tensor(array)[:3])
    assert "where it clamps depends on the size" in rows.recompilations[0]


@pytest.mark.usefixtures("numpy_kernels")
def test_a_size_used_by_itself_in_tensor_arithmetic_traces_again_with_static_sizes() -> None:
    """``graphc.ones(()) * x.size(0)`` reads no input, so nothing bound ``B`` when the program ran
    (NameError); such a program now traces again with static sizes, with torch's dtypes."""

    def fn(T: Any, x: Any) -> Any:
        return T.ones((), dtype=T.float16) * x.size(0), T.ones((), dtype=T.int32) * x.size(0)

    compiled = graphc.compile(lambda x: fn(graphc, x))
    for batch in (2, 3, 7):
        array = data(batch, 6, dtype="float64")
        assert_matches(compiled(graphc.tensor(array)), fn(torch, torch.tensor(array)))
    assert "is no size of an input it reads" in compiled.recompilations[0]
