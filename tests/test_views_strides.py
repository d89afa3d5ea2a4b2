"""Strides that are not row-major, as torch's decide ``view`` and ``reshape`` by them (graphc/runtime/views.py
``root_layout``): a compiled function's stand-in of a transposed argument, a tensor after ``t_()``, ``_base`` as
torch's root base, and ``set_``/``as_strided_``/``as_strided_scatter``. Each case runs on graphc and torch, eagerly and
compiled, and compares values, aliasing both ways and float64 gradients."""

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

VIEW_ERROR = "view size is not compatible with input tensor's size and stride"

# Arguments as the caller passes them: contiguous, transposed, a column slice, expanded.
ARGUMENTS: dict[str, Callable[[Any], Any]] = {
    "contiguous": lambda x: x,
    "transposed": lambda x: x.t(),
    "columns": lambda x: x[:, 1:],
    "expanded": lambda x: x[:1].expand(3, -1),
}


def _flat(a: Any) -> Any:
    return a.view(-1) * 2


def _raises_as_torch(fn: Callable[[Any], Any], ours: Any, theirs: Any) -> None:
    """``fn`` raises torch's error on both, or gives torch's values."""
    try:
        expected = fn(theirs)
    except RuntimeError as error:
        assert VIEW_ERROR in str(error)
        with pytest.raises(GraphcError, match=VIEW_ERROR) as raised:
            fn(ours)
        assert __file__ in str(raised.value), "the error names the user's line"
        return
    assert_matches(fn(ours), expected)


@pytest.mark.parametrize("kind", sorted(ARGUMENTS))
def test_view_of_a_compiled_function_s_argument_follows_the_argument_s_strides(kind: str, backend: str) -> None:
    compiled = graphc.compile(_flat, backend=backend)
    for _ in range(2):  # the trace, then the program
        array = data(3, 4)
        x, reference = graphc.tensor(array.copy()), torch.tensor(array.copy())
        _raises_as_torch(compiled, ARGUMENTS[kind](x), ARGUMENTS[kind](reference))


def test_a_contiguous_and_a_transposed_argument_of_one_shape_get_programs_of_their_own() -> None:
    compiled = graphc.compile(lambda a: a.reshape(-1).mul_(2), dynamic=False)  # views a contiguous argument, copies a transposed one
    for make in (lambda t: t, lambda t: t.t(), lambda t: t):
        array = data(3, 3)
        x, reference = graphc.tensor(array.copy()), torch.tensor(array.copy())
        assert_matches(compiled(make(x)), make(reference).reshape(-1).mul_(2))
        assert_matches(x, reference)  # written through where torch's reshape viewed, untouched where it copied
    assert compiled.trace_count == 2
    assert "argument 0 is strides (1, 3), and was contiguous when traced" in compiled.recompilations[0]
    with pytest.raises(GraphcError, match=VIEW_ERROR):
        graphc.compile(_flat)(graphc.tensor(data(3, 3)).t())


def test_a_transposed_argument_keeps_a_symbolic_batch_for_the_others() -> None:
    compiled = graphc.compile(lambda a, b: (a.reshape(-1), b.view(-1) + 1))
    for batch in (3, 5):
        arrays = data(4, batch), data(batch, 2)
        ours, theirs = [graphc.tensor(a.copy()) for a in arrays], [torch.tensor(a.copy()) for a in arrays]
        assert_matches(compiled(ours[0].t(), ours[1]), (theirs[0].t().reshape(-1), theirs[1].view(-1) + 1))


def test_writes_through_views_of_a_transposed_argument_reach_the_caller(backend: str) -> None:
    def fn(T: Any, a: Any) -> Any:
        a[1:].unfold(0, 1, 1).mul_(3)  # written back by positions in the argument's storage
        a.view(3, 1, 4)[0].add_(1) if a.is_contiguous() else a.unsqueeze(1)[0].add_(1)
        return a * 1

    compiled = graphc.compile(lambda a: fn(graphc, a), backend=backend)
    for _ in range(2):
        array = data(4, 3)
        x, reference = graphc.tensor(array.copy()), torch.tensor(array.copy())
        assert_matches(compiled(x.t()), fn(torch, reference.t()))
        assert_matches(x, reference)


def test_an_in_place_op_on_an_expanded_argument_is_refused_as_torch() -> None:
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        torch.zeros(1, 4).expand(3, -1).add_(1)
    compiled = graphc.compile(lambda a: a.add_(1))
    with pytest.raises(GraphcError, match="more than one element of the written-to tensor"):
        compiled(graphc.zeros(1, 4).expand(3, -1))


# ------------------------------------------------------------------ a tensor after t_()


def after_t_(T: Any, x: Any) -> Any:
    h = x * 1
    before = h[0]
    h.t_()
    flat = h.reshape(-1)  # torch copies: h's strides are (1, 4)
    flat.add_(100)
    row = h[1]  # a view taken after: h's storage order, as torch's
    row.mul_(2)
    column = h.unsqueeze(0)[:, :, 0]
    column.sub_(1)
    square = h.t().view(2, 6)  # transposed back: row-major again, so it views
    square[1].mul_(-1)
    before.add_(0.5)
    h.add_(h.contiguous().view(-1).view(4, 3))
    return h, flat, row, column, square, before


def test_views_taken_after_t_follow_torch_s_strides(backend: str) -> None:
    check_grads(after_t_, data(3, 4, dtype="float64"))


def test_views_taken_after_t_follow_torch_s_strides_compiled(backend: str) -> None:
    compiled = graphc.compile(lambda x: after_t_(graphc, x), backend=backend)
    for _ in range(2):
        array = data(3, 4)
        assert_matches(compiled(graphc.tensor(array)), after_t_(torch, torch.tensor(array)))


@pytest.mark.parametrize(
    "change",
    [lambda h: h.t_(), lambda h: h.transpose_(0, 1).unsqueeze_(0), lambda h: h.unsqueeze_(1).swapaxes_(0, 2).squeeze_(1)],
    ids=["t_", "transpose_unsqueeze_", "unsqueeze_swapaxes_squeeze_"],
)
def test_view_after_an_in_place_transpose_raises_as_torch(change: Callable[[Any], Any]) -> None:
    array = data(3, 4)
    ours, theirs = graphc.tensor(array.copy()), torch.tensor(array.copy())
    change(ours)
    change(theirs)
    _raises_as_torch(lambda h: h.view(-1), ours, theirs)
    assert_matches(ours.reshape(-1), theirs.reshape(-1))
    compiled = graphc.compile(lambda h: change(h * 1).view(-1))
    with pytest.raises(GraphcError, match=VIEW_ERROR):
        compiled(graphc.tensor(array))


def test_a_view_of_an_unfold_taken_before_t_is_written_after_it_as_torch() -> None:
    def fn(T: Any, x: Any) -> Any:
        h = x * 1
        windows = h.unfold(1, 2, 2)  # written back by positions: they stay valid across t_()
        h.t_()
        windows.mul_(10)
        h[0].add_(1)
        return h, windows

    check_grads(fn, data(3, 4, dtype="float64"))


# ------------------------------------------------------------------ _base


def test_base_is_the_root_base_as_torch_s() -> None:
    for T in (graphc, torch):
        x = T.zeros(3, 4)
        assert x._base is None
        assert x[0][1:]._base is x
        assert x.view(12)[2:].view(2, 5)._base is x
        assert x.t()[1]._base is x
        detached = x.detach()
        assert detached._base is None and x.data._base is None
        assert detached[0]._base is detached
    compiled = graphc.compile(lambda a: a.t()[1:])
    x = graphc.zeros(3, 4)
    assert compiled(x)._base is x


def test_an_argument_transposed_in_place_by_a_compiled_function_keeps_torch_s_strides() -> None:
    compiled = graphc.compile(lambda a: a.t_().mul_(2))
    for _ in range(3):
        array = data(2, 3)
        x, reference = graphc.tensor(array.copy()), torch.tensor(array.copy())
        compiled(x)
        reference.t_().mul_(2)
        assert_matches(x, reference)
        _raises_as_torch(lambda h: h.view(-1), x, reference)
        assert_matches(x.reshape(-1), reference.reshape(-1))


# ------------------------------------------------------------------ set_, as_strided_, as_strided_scatter


def shares_by_set_(T: Any, x: Any) -> Any:
    h = x * 1
    before = h[1:]  # keeps the old elements, as torch's keep the old storage
    alias = T.zeros(4, dtype=x.dtype)
    alias.set_(h.detach())
    alias[0].fill_(7.0)  # writes h, unrecorded by autograd, as torch's
    strided = T.zeros(1, dtype=x.dtype)
    strided.set_(alias, 1, (2, 2), (1, 2))
    strided.mul_(-1)
    h.detach().add_(1)
    empty = T.ones(3, dtype=x.dtype)
    empty.set_()
    return h * x, alias, strided, before, empty


def test_set_shares_the_source_s_elements_as_torch_s(backend: str) -> None:
    check_grads(shares_by_set_, data(6, dtype="float64"))


def test_set_shares_the_source_s_elements_as_torch_s_compiled(backend: str) -> None:
    compiled = graphc.compile(lambda x: shares_by_set_(graphc, x), backend=backend)
    for _ in range(2):
        array = data(6)
        assert_matches(compiled(graphc.tensor(array)), shares_by_set_(torch, torch.tensor(array)))


def test_set_s_base_and_strides_are_torch_s() -> None:
    for T in (graphc, torch):
        x, source = T.zeros(2), T.arange(6.0)
        x.set_(source, 0, (2, 3), (1, 2))
        assert x._base is None
        with pytest.raises((RuntimeError, GraphcError), match=VIEW_ERROR):
            x.view(-1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda T: T.zeros(3).set_(T.ones(3, dtype=T.float64)), "Could not set tensor of type"),
        (lambda T: T.zeros(3, requires_grad=True).set_(T.ones(3)), "a leaf Variable that requires grad is being used in an in-place operation"),
    ],
)
def test_set_refuses_what_torch_refuses(call: Callable[[Any], Any], message: str) -> None:
    with pytest.raises(RuntimeError, match=message):
        call(torch)
    with pytest.raises(GraphcError, match=message) as raised:
        call(graphc)
    assert "set_" in str(raised.value) and __file__ in str(raised.value)


def test_set_refuses_to_address_elements_past_the_source_s() -> None:
    """torch grows the source's storage with uninitialised memory there; graphc has no storage to grow."""
    with pytest.raises(GraphcError, match="out of bounds for storage of size 24"):
        graphc.zeros(3).set_(graphc.arange(6.0), 1, (4, 2), (1, 2))


def test_set_refuses_a_source_that_requires_grad_and_a_compiled_function_s_argument() -> None:
    with pytest.raises(GraphcError, match="set_ of a tensor that requires grad with grad mode on"):
        graphc.zeros(3).set_(graphc.ones(3, requires_grad=True) * 2)
    with pytest.raises(GraphcError, match="set_ of a tensor from outside the compiled function"):
        graphc.compile(lambda a, b: a.set_(b))(graphc.zeros(3), graphc.ones(3))
    leaf = graphc.zeros(3, requires_grad=True)
    with graphc.no_grad():
        leaf.set_(graphc.ones(3))  # allowed under no_grad, as torch's: it stays a leaf that requires grad
    assert leaf.is_leaf and leaf.requires_grad
    np.testing.assert_array_equal(leaf.detach().numpy(), [1.0, 1.0, 1.0])


def restrided_in_place(T: Any, x: Any) -> Any:
    h = x * 1
    h.as_strided_((3, 2), (1, 3))  # a transpose by strides: view(-1) would raise, reshape copies
    flat = h.reshape(-1)
    row = h[1]
    row.mul_(3)
    g = x * 2
    inner = g.view(-1)  # a view from offset 0 of a contiguous tensor: its elements are torch's storage
    inner.as_strided_((2, 2), (1, 2), 1)  # restrided in place: still written through to g
    inner.add_(10)
    return h, flat, row, g, inner


def test_as_strided_in_place_takes_the_strides_as_torch_s(backend: str) -> None:
    check_grads(restrided_in_place, data(2, 3, dtype="float64"))


def test_as_strided_in_place_takes_the_strides_as_torch_s_compiled(backend: str) -> None:
    compiled = graphc.compile(lambda x: restrided_in_place(graphc, x), backend=backend)
    for _ in range(2):
        array = data(2, 3)
        assert_matches(compiled(graphc.tensor(array)), restrided_in_place(torch, torch.tensor(array)))


def test_as_strided_in_place_of_an_argument_reaches_the_caller_with_its_strides() -> None:
    compiled = graphc.compile(lambda a: a.as_strided_((3, 2), (1, 3)))
    for _ in range(2):
        array = data(2, 3)
        x, reference = graphc.tensor(array.copy()), torch.tensor(array.copy())
        compiled(x)
        reference.as_strided_((3, 2), (1, 3))
        assert_matches(x, reference)
        _raises_as_torch(lambda h: h.view(-1), x, reference)


def test_as_strided_in_place_refuses_a_tensor_with_views_and_a_leaf_that_requires_grad() -> None:
    x = graphc.arange(6.0)
    view = x[1:]
    with pytest.raises(GraphcError, match="as_strided_ of a tensor that has views"):
        x.as_strided_((2,), (2,))
    del view
    x.as_strided_((2,), (2,), 1)
    np.testing.assert_array_equal(x.numpy(), [1.0, 3.0])
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        torch.arange(6.0, requires_grad=True).as_strided_((2,), (2,))
    with pytest.raises(GraphcError, match="a leaf tensor that requires grad is being used in an in-place operation"):
        graphc.arange(6.0, requires_grad=True).as_strided_((2,), (2,))


def _scatter(T: Any, x: Any, src: Any, *args: Any) -> Any:
    if T is torch:  # torch 2.13's as_strided_scatter backward gives input the complement of its gradient (gradcheck fails):
        out = x.clone()  # the same function as in-place writes, whose gradients pass gradcheck
        out.as_strided(*args).copy_(src)
        return out
    return x.as_strided_scatter(src, *args) if len(args) == 2 else T.as_strided_scatter(x, src, *args)


def scattered_by_strides(T: Any, x: Any, src: Any) -> Any:
    return _scatter(T, x, src * 3, (2, 2), (1, 3), 1), _scatter(T, x, src[0], (2,), (2,))


def test_as_strided_scatter_writes_and_differentiates_as_torch(backend: str) -> None:
    array, src = data(2, 3, dtype="float64"), data(2, 2, dtype="float64")
    expected = torch.as_strided_scatter(torch.tensor(array), torch.tensor(src) * 3, (2, 2), (1, 3), 1)
    assert_matches(graphc.as_strided_scatter(graphc.tensor(array), graphc.tensor(src) * 3, (2, 2), (1, 3), 1), expected)
    check_grads(scattered_by_strides, array, src)


def test_as_strided_scatter_compiled_with_a_symbolic_batch(backend: str) -> None:
    compiled = graphc.compile(lambda x, s: graphc.as_strided_scatter(x * 2, s, (2,), (3,), 1), backend=backend)
    for batch in (3, 4):
        array, src = data(batch, 3), data(2)
        expected = torch.as_strided_scatter(torch.tensor(array) * 2, torch.tensor(src), (2,), (3,), 1)
        assert_matches(compiled(graphc.tensor(array), graphc.tensor(src)), expected)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (((3,), (2, 2), (1, 2), 1), "expected src to have a size equal to the slice of self"),
        (((2, 2), (4, 2), (1, 2), 1), "out of bounds for storage of size 24"),
        (((2, 2), (2, 2), (1, 2), -1), "invalid storage offset -1"),
    ],
)
def test_as_strided_scatter_refuses_what_torch_refuses(args: tuple, message: str) -> None:
    src, size, stride, offset = args
    with pytest.raises(RuntimeError, match=message):
        torch.as_strided_scatter(torch.zeros(6), torch.ones(src), size, stride, offset)
    with pytest.raises(GraphcError, match=message) as raised:
        graphc.as_strided_scatter(graphc.zeros(6), graphc.ones(src), size, stride, offset)
    assert "as_strided_scatter" in str(raised.value) and __file__ in str(raised.value)


def test_as_strided_scatter_refuses_to_write_an_element_twice() -> None:
    with pytest.raises(GraphcError, match="address an element more than once"):
        graphc.as_strided_scatter(graphc.zeros(6), graphc.ones(2, 2), (2, 2), (1, 1))


def test_resize_after_t_keeps_the_storage_s_order_and_its_views_as_torch_s() -> None:
    def fn(T: Any, x: Any) -> Any:
        h = x * 1
        row, windows = h[0], h.unfold(1, 1, 1)
        h.t_()
        h.resize_(6)  # torch keeps its storage's order: x's rows, not the transpose's
        row.add_(100)
        windows.mul_(2)
        h.sub_(1)
        return h, row, windows

    array = data(2, 3)
    assert_matches(fn(graphc, graphc.tensor(array)), fn(torch, torch.tensor(array)))


def test_resize_refuses_a_tensor_whose_strides_leave_gaps_in_its_storage() -> None:
    x = graphc.arange(6.0)
    x.as_strided_((2,), (2,), 1)
    with pytest.raises(GraphcError, match="resize_ of a tensor whose strides leave gaps in its storage"):
        x.resize_(3)
