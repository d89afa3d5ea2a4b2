"""Views alias their base both ways, as torch's (graphc/runtime/views.py): an in-place op on a view writes
its base, and an in-place change of the base is seen by its views; views of views compose.

Each case is one function ``fn(T, x)`` written for ``T`` = graphc and torch, compared on values and
float64 gradients eagerly and under graphc.compile.
"""

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

RNG = np.random.default_rng(7)


def view_and_view_of_view(T: Any, x: Any) -> Any:
    h = x * 1
    flat = h.view(-1)
    flat[2:5].mul_(3)
    h.add_(1)
    return h, flat


def reshape_views_a_contiguous_tensor(T: Any, x: Any) -> Any:
    h = x * 1
    r = h.reshape(3, 8)
    r[1].sub_(r[0])
    h.mul_(2)
    return h, r


def reshape_copies_a_transposed_tensor(T: Any, x: Any) -> Any:
    h = x * 1
    r = h.t().reshape(-1)
    r.add_(1)
    c = h.t().contiguous()
    c.mul_(2)
    return h, r, c


def transposes_and_permutes(T: Any, x: Any) -> Any:
    h = x * 1
    h.t()[0].copy_(h[:, 1] * 2)
    h.T[2].mul_(-1)
    m = h.view(2, 2, 6).mT
    m[0, 1].add_(5)
    p = h.view(2, 2, 6).permute(2, 0, 1)
    s = h.swapaxes(0, 1)
    s[0].add_(s[1])
    h.mul_(0.5)
    return h, m, p, s


def squeeze_unsqueeze_flatten(T: Any, x: Any) -> Any:
    h = x * 1
    u = h.unsqueeze(1)
    u.squeeze(1)[0].add_(1)
    f = h.view(2, 2, 6).flatten(1)
    f[:, 3].mul_(2)
    g = h.unflatten(1, (2, 3))
    g[..., 0].mul_(-3)
    a = h.view_as(x.new_zeros(24))
    a[::5].mul_(-1)
    h.add_(0.5)
    return h, u, f, g, a


def split_chunk_unbind_narrow_select(T: Any, x: Any) -> Any:
    h = x * 1
    p = x.detach() * 1  # split's pieces of a tensor that requires grad refuse in-place ops, as torch's
    a, b = p.chunk(2)
    a.mul_(2)
    b.sub_(a)
    first, _ = p.split([1, 3])
    first.add_(10)
    columns = p.unbind(1)
    columns[2].mul_(columns[3])
    left, right = h.tensor_split(2, dim=1)
    left.add_(right)
    n = h.narrow(1, 2, 3)
    n.mul_(0.5)
    s = h.select(1, -1)
    s.add_(n[:, 0])
    h.sub_(1)
    p.add_(h.detach())
    return h, p, a, b, columns[0], left, n, s


def diagonals_and_movedim(T: Any, x: Any) -> Any:
    h = x * 1
    d = h.diagonal(1)
    d.mul_(3)
    e = h.view(4, 2, 3).diagonal(0, 1, 2)
    e.add_(1)
    m = h.view(2, 2, 6).movedim(2, 0)
    m[1].mul_(3)
    h.mul_(2)
    return h, d, e, m


def expand_unfold_and_iteration(T: Any, x: Any) -> Any:
    h = x * 1
    e = h[0].expand(3, 6)
    h[2:].unsqueeze(0).expand(1, 2, 6).mul_(2)
    w = h.unfold(1, 2, 3)
    w[:, :, 0].mul_(2)
    for i, row in enumerate(h.detach()):
        row.mul_(i + 1)
    return h, e, w


def detach_and_data_share_values(T: Any, x: Any) -> Any:
    h = x * 1
    h.detach()[0].zero_()
    h.data[1].add_(1)
    d = h.detach()
    h.mul_(2)
    return h, d * 1


CASES: dict[str, Callable[[Any, Any], Any]] = {
    f.__name__: f
    for f in (
        view_and_view_of_view,
        reshape_views_a_contiguous_tensor,
        reshape_copies_a_transposed_tensor,
        transposes_and_permutes,
        squeeze_unsqueeze_flatten,
        split_chunk_unbind_narrow_select,
        diagonals_and_movedim,
        expand_unfold_and_iteration,
        detach_and_data_share_values,
    )
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_views_write_and_read_their_base_as_torch(name: str) -> None:
    check_grads(CASES[name], data(4, 6, dtype="float64"))


def test_views_eagerly_on_triton() -> None:
    pytest.importorskip("triton")
    with graphc.use_backend("triton"):
        check_grads(transposes_and_permutes, data(4, 6, dtype="float64"))


def _compiled_against_torch(fn: Callable[[Any, Any], Any], array: np.ndarray, backend: str, rtol: float, atol: float) -> None:
    """``fn`` under graphc.compile with a backward inside, twice (the trace, then the program), as torch."""
    outputs = fn(torch, torch.tensor(array))
    weights = [RNG.standard_normal(tuple(o.shape)).astype(array.dtype) for o in outputs]

    def step(x: graphc.Tensor) -> Any:
        results = fn(graphc, x)
        sum((r * graphc.tensor(w)).sum() for r, w in zip(results, weights)).backward()
        return results

    compiled = graphc.compile(step, backend=backend, dynamic=False)
    for _ in range(2):
        ours, theirs = graphc.tensor(array.copy(), requires_grad=True), torch.tensor(array.copy(), requires_grad=True)
        got, expected = compiled(ours), fn(torch, theirs)
        sum((e * torch.tensor(w)).sum() for e, w in zip(expected, weights)).backward()
        assert_matches(got, expected, rtol, atol)
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", sorted(CASES))
def test_views_under_compile_as_torch(name: str) -> None:
    _compiled_against_torch(CASES[name], data(4, 6, dtype="float64"), "numpy", 1e-9, 1e-10)


def test_views_under_compile_with_a_symbolic_batch() -> None:
    def fn(T: Any, x: Any) -> Any:
        h = x * 1
        flat = h.view(-1)
        h.t()[0].add_(1)
        a, b = h.chunk(2, dim=1)
        a.mul_(3)
        h.unsqueeze(0).flatten(1).add_(1)
        flat.mul_(2)
        return h, flat, b, h.detach()

    compiled = graphc.compile(lambda x: fn(graphc, x))
    for batch in (3, 5):
        array = data(batch, 6, dtype="float64")
        assert_matches(compiled(graphc.tensor(array)), fn(torch, torch.tensor(array)))
    assert compiled.trace_count == 1, compiled.recompilations


def test_in_place_ops_on_slices_of_the_symbolic_batch_keep_one_program() -> None:
    """``h[1:] *= 2`` on the batch: its count of rows, ``B - 1``, is a size expression (setitem's
    ``max(0, B - 1)`` asked sympy for a truth value, and the function was traced again per batch size);
    ``h[2:]`` is empty at a batch of 2, as in torch."""

    def fn(T: Any, x: Any) -> Any:
        h = x * 1
        h[1:].mul_(2)
        h[:-1] += 1
        h[2:] = 0.5
        return (h,)

    compiled = graphc.compile(lambda x: fn(graphc, x))
    for batch in (2, 3, 5):
        array = data(batch, 4, dtype="float64")
        assert_matches(compiled(graphc.tensor(array)), fn(torch, torch.tensor(array)))
    assert compiled.trace_count == 1, compiled.recompilations


@pytest.mark.parametrize("name", ["transposes_and_permutes", "split_chunk_unbind_narrow_select"])
def test_views_under_compile_on_triton(name: str) -> None:
    pytest.importorskip("triton")
    _compiled_against_torch(CASES[name], data(4, 6), "triton", 1e-5, 1e-5)


def writes_through_expand(T: Any, x: Any) -> Any:
    """Writes through a broadcast view, whose backward torch cannot take: values only."""
    h = x * 1
    e = h[0].expand(2, 6)
    h[1].expand(2, 6).fill_(0.5)
    h[3].expand(2, 6)[1].add_(1)
    e.zero_()
    return h, e


def test_writes_through_an_expanded_view_as_torch() -> None:
    array = data(4, 6)
    assert_matches(writes_through_expand(graphc, graphc.tensor(array)), writes_through_expand(torch, torch.tensor(array)))
    compiled = graphc.compile(lambda x: writes_through_expand(graphc, x), dynamic=False)
    for _ in range(2):
        assert_matches(compiled(graphc.tensor(array)), writes_through_expand(torch, torch.tensor(array)))


def test_a_compiled_function_s_writes_reach_the_views_and_the_base_of_its_arguments() -> None:
    def change_base(T: Any, x: Any) -> None:
        x.t()[1].add_(1)

    def change_view(T: Any, flat: Any) -> None:
        flat[::4].mul_(10)

    base_changer = graphc.compile(lambda x: change_base(graphc, x), dynamic=False)
    view_changer = graphc.compile(lambda flat: change_view(graphc, flat), dynamic=False)
    array = data(2, 3)
    ours, theirs = graphc.tensor(array.copy()), torch.tensor(array.copy())
    ours_flat, their_flat = ours.view(-1), theirs.view(-1)
    for _ in range(2):
        base_changer(ours)
        change_base(torch, theirs)
        assert_matches(ours_flat, their_flat)
        view_changer(ours_flat)
        change_view(torch, their_flat)
        assert_matches(ours, theirs)


def test_a_compiled_function_refuses_to_write_arguments_that_view_one_tensor() -> None:
    compiled = graphc.compile(lambda x, flat: (x.add_(1), flat.sum()))
    x = graphc.zeros(2, 3)
    with pytest.raises(GraphcError, match="view of the same tensor as another argument"):
        compiled(x, x.view(-1))
    assert_matches(x, torch.zeros(2, 3))
    assert_matches(compiled(x, graphc.ones(6))[1], torch.tensor(6.0))


def test_a_view_of_a_leaf_that_requires_grad_refuses_in_place_ops_outside_no_grad() -> None:
    leaf, reference = graphc.ones(2, 3, requires_grad=True), torch.ones(2, 3, requires_grad=True)
    for T, w in ((torch, reference), (graphc, leaf)):
        with pytest.raises((RuntimeError, GraphcError), match="view of a leaf"):
            w.view(-1).add_(1)
        with pytest.raises((RuntimeError, GraphcError), match="view of a leaf"):
            w.t()[0].zero_()
        with T.no_grad():
            w.view(-1)[::2].mul_(3)
    assert_matches(leaf, reference)
    assert leaf.is_leaf and leaf.requires_grad
    (leaf * 2).sum().backward()
    assert_matches(leaf.grad, torch.full((2, 3), 2.0))


def test_in_place_refusals_match_torch() -> None:
    for T, error in ((torch, RuntimeError), (graphc, GraphcError)):
        with pytest.raises(error, match="single memory location"):
            T.zeros(3).expand(2, 3).add_(1)
        with pytest.raises(error, match="view size is not compatible"):
            T.zeros(2, 3).t().view(-1)
        with pytest.raises(error, match="no_grad mode"):
            h = T.ones(3, requires_grad=True) * 1
            with T.no_grad():
                v = h.view(-1)
            v.mul_(2)
        with pytest.raises(error, match="detach views in-place"):
            T.zeros(2, 3).t().detach_()
        with pytest.raises(error, match="returns multiple views"):
            (T.ones(4, 3, requires_grad=True) * 1).chunk(2)[0].view(-1).mul_(2)
        with pytest.raises(error, match="returns multiple views"):
            (T.ones(4, 3, requires_grad=True) * 1).unbind(1)[0].add_(1)
    with pytest.raises(GraphcError, match="single memory location"):  # torch writes overlapping windows in its kernel's order
        graphc.zeros(4).unfold(0, 2, 1).add_(1)


def test_a_view_modified_under_no_grad_keeps_its_gradient_path() -> None:
    def fn(T: Any, x: Any) -> Any:
        h = x * 2
        v = h.view(-1)
        with T.no_grad():
            v.mul_(3)
        return (v * v).sum()

    ours, theirs = graphc.tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 2.0], requires_grad=True)
    fn(graphc, ours).backward()
    fn(torch, theirs).backward()
    assert_matches(ours.grad, theirs.grad)
