"""Aliasing that outlives one call or one shape, as torch's: a compiled function's results that are (or view) its
arguments are the caller's tensors or views of them (graphc/runtime/compiled.py ``_result_aliases``); views keep their
elements when their base changes its shape in place (``views.follow_shape_change``); and ``view`` of a layout that the
symbolic batch hides is decided with static sizes, where torch's rule refuses what torch refuses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data
from torch_grads import check_grads

import graphc
from graphc.errors import GraphcError

RESULTS: dict[str, Callable[[Any], Any]] = {
    "slice": lambda x: x[1:],
    "row_of_transpose": lambda x: x.t()[1],
    "flat": lambda x: x.view(-1),
    "written_then_viewed": lambda x: x.mul_(2).unsqueeze(0)[:, 1:],
    "itself_written": lambda x: x.add_(1),
    "detached": lambda x: x.detach(),
    "pieces": lambda x: x.chunk(2, dim=1),
    "view_of_a_computed_value": lambda x: (x * 2)[1:],
}


def _alias(result: Any, x: Any) -> bool:
    if isinstance(result, torch.Tensor):
        return result.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    while result is not x and result._view is not None:  # detach() shares the storage too: no _base, as torch's
        result = result._view.base
    return result is x


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_compiled_results_that_view_an_argument_alias_it_as_torch(name: str, backend: str) -> None:
    fn = RESULTS[name]
    compiled = graphc.compile(fn, backend=backend)
    for batch in (3, 4):
        array = data(batch, 4)
        x, reference = graphc.tensor(array.copy()), torch.tensor(array.copy())
        got, expected = compiled(x), fn(reference)
        assert_matches(got, expected)
        for ours, theirs in zip(*((r if isinstance(r, tuple) else (r,)) for r in (got, expected))):
            assert _alias(ours, x) == _alias(theirs, reference)
            assert (ours is x) == (theirs is reference)
            ours.mul_(3)
            theirs.mul_(3)
            x.sub_(1)
            reference.sub_(1)
            assert_matches(ours, theirs)
            assert_matches(x, reference)
    assert compiled.trace_count == 1, compiled.recompilations


def _through_a_returned_view(T: Any, w: Any, fn: Callable[[Any], Any]) -> Any:
    h = w * 1
    y = fn(h)
    y.mul_(y * 1)  # recorded as torch's CopySlices: the gradient reaches h through the view
    h.add_(0.5)
    return h, y


@pytest.mark.parametrize("name", ["slice", "row_of_transpose", "flat"])
def test_gradients_flow_through_a_returned_view_as_torch(name: str, backend: str) -> None:
    compiled = graphc.compile(RESULTS[name], backend=backend)
    for batch in (3, 4):
        array = data(batch, 4, dtype="float64")
        w, reference = graphc.tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)
        got, expected = _through_a_returned_view(graphc, w, compiled), _through_a_returned_view(torch, reference, RESULTS[name])
        assert_matches(got, expected, 1e-12, 1e-12)
        sum((r * r * r).sum() for r in got).backward()
        sum((r * r * r).sum() for r in expected).backward()
        np.testing.assert_allclose(w.grad.numpy(), reference.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert compiled.trace_count == 1, compiled.recompilations


def test_a_returned_view_of_a_leaf_keeps_its_gradient_path_and_torch_s_refusal() -> None:
    compiled = graphc.compile(lambda x: x.t()[0])
    array = data(2, 3, dtype="float64")
    w, reference = graphc.tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)
    (compiled(w) * graphc.tensor([1.0, 2.0])).sum().backward()
    (reference.t()[0] * torch.tensor([1.0, 2.0])).sum().backward()
    assert_matches(w.grad, reference.grad)
    with pytest.raises(GraphcError, match="view of a leaf"):
        compiled(w).add_(1)


def test_a_returned_view_of_a_parameter_and_of_an_argument_of_a_call_that_runs_eagerly_alias_them() -> None:
    ours, theirs = graphc.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.detach().numpy()))
    transposed = graphc.compile(lambda: ours.weight.t())
    kept: list = []
    keeps_state = graphc.compile(lambda x: (kept.append(x * 1), x[:, 1])[1])  # new state: the call runs eagerly
    array = data(2, 3)
    x, reference = graphc.tensor(array.copy()), torch.tensor(array.copy())
    with graphc.no_grad(), torch.no_grad():
        for _ in range(2):
            transposed()[0].zero_()
            theirs.weight.t()[0].zero_()
            keeps_state(x).mul_(-1)
            reference[:, 1].mul_(-1)
    assert_matches(ours.weight, theirs.weight)
    assert_matches(x, reference)
    itself = graphc.compile(lambda: ours.weight)
    assert itself() is ours.weight and itself() is ours.weight  # as torch.compile's: the tensor, not a copy
    assert any("ran eagerly" in reason for reason in keeps_state.recompilations), keeps_state.recompilations


def views_follow_their_base_s_shape_changes(T: Any, x: Any) -> Any:
    h = x * 1
    row, flat, square = h[1], h.view(-1), h[:, :4] * 1
    corner = square[0]
    square.t_()  # same shape, other elements: corner keeps the old row 0
    square.add_(1)
    h.t_()
    h[0].add_(10)
    row.mul_(2)
    h.unsqueeze_(0)
    column = h[0, :, 2]
    h.squeeze_(0).transpose_(0, 1)
    column.sub_(1)
    flat[::7].mul_(3)
    return h, row, flat, column, square, corner


def test_views_keep_their_elements_when_their_base_changes_shape_in_place(backend: str) -> None:
    check_grads(views_follow_their_base_s_shape_changes, data(4, 6, dtype="float64"))


def resize_grows_under_a_view(T: Any) -> Any:
    x = T.arange(6.0) * 1
    middle = x[2:5].view(3, 1)
    x.resize_(3, 3)
    x.view(-1)[:6].add_(1)
    middle.mul_(2)
    return x.view(-1)[:6], middle  # torch's new elements are uninitialized: only the old six are compared


def test_resize_keeps_views_of_the_elements_it_keeps_and_refuses_to_drop_viewed_ones() -> None:
    assert_matches(resize_grows_under_a_view(graphc), resize_grows_under_a_view(torch))
    viewed = graphc.arange(6.0) * 1
    kept = viewed[1:]
    with pytest.raises(GraphcError, match=r"resize_ to 2 elements of a tensor of 6 that has views(.|\n)*at .*test_views_aliasing.py"):
        viewed.resize_(2)
    del kept
    assert_matches(viewed.resize_(2), torch.tensor([0.0, 1.0]))


@pytest.mark.parametrize(
    ("name", "fn", "programs"),
    [
        ("transposed", lambda T, x: (x * 1).t().view(-1), 0),
        ("column_slice", lambda T, x: (x * 1)[:, 1:].view(-1), 0),
        ("transposed_split", lambda T, x: (x * 1).t().view(4, 1, -1), 1),
        ("split_piece_as_heads", lambda T, x: (x * 1).split(2, dim=1)[1].view(-1, 2, 1), 1),
        ("batch_columns_split", lambda T, x: (x * 1).t().unsqueeze(0).view(2, 2, -1), 1),
        ("expanded_rows_as_pairs", lambda T, x: (x * 1)[:, None].expand(-1, 2, -1).view(-1, 2, 2, 2), 1),
        ("every_other_row_as_pairs", lambda T, x: (x * 1)[::2, None].expand(-1, 2, -1).view(-1, 2, 2, 2), 1),
        ("row_slice", lambda T, x: (x * 1)[1:].view(-1), 1),
        ("made_contiguous", lambda T, x: (x * 1).t().contiguous().view(4, -1), 1),
    ],
)
def test_view_under_a_symbolic_batch_is_refused_where_torch_s_is(name: str, fn: Callable[[Any, Any], Any], programs: int) -> None:
    """With the batch symbolic a view's strides are size expressions: ``view`` of a tensor not surely row-major is decided
    for every batch size by torch's computeStride on them (one program where it views for all), and with static sizes
    where it fails for some, so it raises torch's error where torch's does."""
    compiled = graphc.compile(lambda x: fn(graphc, x))
    for batch in (3, 5):
        array = data(batch, 4)
        if programs:
            assert_matches(compiled(graphc.tensor(array)), fn(torch, torch.tensor(array)))
            continue
        with pytest.raises(RuntimeError, match="view size is not compatible"):
            fn(torch, torch.tensor(array))
        with pytest.raises(GraphcError, match="view size is not compatible"):
            compiled(graphc.tensor(array))
    if programs:
        assert len(compiled.entries) == programs, compiled.recompilations


def test_view_of_every_eighth_row_is_decided_for_every_batch_size_not_at_samples() -> None:
    """``x[::8]`` has one row up to batch 8 and two from 9, so torch's ``view(-1)`` views below 9 and raises from 9 on:
    batch sizes 2, 3, 5 and 7 all view, and a decision sampled there gave a program that viewed at 9 as well."""
    fn: Callable[[Any, Any], Any] = lambda T, x: (x * 1)[::8].view(-1)  # noqa: E731
    compiled = graphc.compile(lambda x: fn(graphc, x))
    array = data(3, 4)
    assert_matches(compiled(graphc.tensor(array)), fn(torch, torch.tensor(array)))
    array = data(9, 4)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        fn(torch, torch.tensor(array))
    with pytest.raises(GraphcError, match="view size is not compatible"):
        compiled(graphc.tensor(array))


def test_a_compiled_function_refuses_to_change_the_shape_of_an_argument_the_caller_views() -> None:
    """The program returns the argument's new value, not the change, so the caller's views could not keep their elements
    (after a square ``t_`` they would silently read others): refused, at the trace and at a replay, before anything is written."""
    for first_call_has_a_view in (True, False):
        compiled = graphc.compile(lambda x: x.t_(), dynamic=False)
        x = graphc.tensor([[1.0, 2.0], [3.0, 4.0]])
        if not first_call_has_a_view:
            assert compiled(x) is x
            assert_matches(x, torch.tensor([[1.0, 3.0], [2.0, 4.0]]))
        row = x[0]
        before = x.numpy().copy()
        with pytest.raises(GraphcError, match="changes the shape of tensor argument 0 in place"):
            compiled(x)
        np.testing.assert_array_equal(x.numpy(), before)
        np.testing.assert_array_equal(row.numpy(), before[0])


def data_assignment_keeps_views_on_the_old_values(T: Any) -> Any:
    x = T.zeros(3) * 1
    tail, detached = x[1:], x.detach()
    last = tail[1:]
    x.data = T.ones(3)
    tail.add_(5)
    last.mul_(2)
    grown = T.zeros(2, 3) * 1
    row = grown[0]
    grown.data = T.ones(4)
    row.add_(1)
    base = T.zeros(4) * 1
    head = base[:2]
    second = head[1:]
    head.data = T.ones(2)  # a view given data of its own stops viewing its base; its views still do
    head.add_(1)
    second.add_(3)
    return x, tail, detached, last, grown, row, base, head, second


def test_data_assignment_gives_the_tensor_a_storage_of_its_own_as_torch_s() -> None:
    assert_matches(data_assignment_keeps_views_on_the_old_values(graphc), data_assignment_keeps_views_on_the_old_values(torch))


def test_a_returned_tensor_the_function_rebinds_is_the_one_of_each_call() -> None:
    """A module attribute the function rebinds is another tensor on each call: returning the old one (or a view of it)
    gives that call's, not the one seen while tracing."""

    class Decay(graphc.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.state = graphc.zeros(2)

        def forward(self, x: graphc.Tensor) -> Any:
            old = self.state
            self.state = old * 0.5 + x
            return old, old[1:]

    compiled, expected = graphc.compile(Decay()), torch.zeros(2)
    for step in range(4):
        old, tail = compiled(graphc.full((2,), float(step)))
        assert_matches(old, expected)
        assert_matches(tail, expected[1:])
        expected = expected * 0.5 + step
