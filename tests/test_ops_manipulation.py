"""Tensor manipulation against torch (graphc/frontend/manipulation.py): flip, fliplr, flipud,
roll, rot90, tile, repeat_interleave, movedim/moveaxis, swapaxes/swapdims, select, take,
hstack/vstack/dstack/column_stack/row_stack, concat/concatenate, atleast_*d, meshgrid,
broadcast_tensors/broadcast_shapes, diag, diagonal, diag_embed, tril/triu, trace, narrow_copy:
values and dtypes on both backends with fusion on and off, float64 gradients, and one
compiled function at two batch sizes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data
from torch_grads import check_compiled_batches, check_grads

import graphc
from graphc.errors import GraphcError

pytestmark = pytest.mark.usefixtures("fusion")

# name -> (fn(T, *tensors), inputs): the same code for graphc and torch
CASES: dict[str, tuple[Callable[..., Any], tuple[np.ndarray, ...]]] = {
    "flip": (lambda T, x: (T.flip(x, (0, 2)), x.flip(-1), T.flip(x, [])), (data(2, 3, 4),)),
    "flip-int-view": (lambda T, x: x.transpose(0, 1).flip(0), (data(3, 4, dtype="int32"),)),
    "flip-0d": (lambda T, x: T.flip(x, (0,)), (np.array(2.5, np.float32),)),
    "fliplr-flipud": (lambda T, x: (T.fliplr(x), T.flipud(x), x.fliplr(), x.flipud()), (data(3, 4, dtype="int64"),)),
    "roll": (lambda T, x: (T.roll(x, 2), T.roll(x, -7), x.roll(1, 0), T.roll(x, (1, -2), (0, 1)), T.roll(x, 5, -1)), (data(3, 4),)),
    "roll-bool": (lambda T, x: T.roll(x, (1, 1), (0, 1)), (data(3, 4, dtype="bool"),)),
    "rot90": (lambda T, x: (T.rot90(x), T.rot90(x, 2), T.rot90(x, 3), T.rot90(x, -1, (1, 2)), T.rot90(x, 1, (2, 0)), x.rot90(4)), (data(2, 3, 4),)),
    "tile": (lambda T, x: (T.tile(x, (2,)), x.tile((2, 1, 3)), T.tile(x, (1, 1))), (data(2, 3, dtype="int64"),)),
    "repeat_interleave": (
        lambda T, x: (T.repeat_interleave(x, 2), x.repeat_interleave(3, dim=0), x.repeat_interleave(2, dim=-1), T.repeat_interleave(x, T.tensor([1, 0, 2]), 1)),
        (data(2, 3),),
    ),
    "repeat_interleave-counts": (lambda T, x: (T.repeat_interleave(T.tensor([2, 0, 3])), T.repeat_interleave(x, T.tensor(2))), (data(3, dtype="int32"),)),
    "movedim": (
        lambda T, x: (T.movedim(x, 0, -1), x.movedim((0, 1), (2, 0)), T.moveaxis(x, -1, 0), x.moveaxis([2], [1])),
        (data(2, 3, 4),),
    ),
    "swapaxes": (lambda T, x: (T.swapaxes(x, 0, 2), x.swapaxes(-1, 1), T.swapdims(x, 1, 0), x.swapdims(0, 0)), (data(2, 3, 4),)),
    "select": (lambda T, x: (T.select(x, 0, 1), x.select(-1, -2), x.select(1, 0)), (data(2, 3, 4),)),
    "take": (lambda T, x: (T.take(x, T.tensor([[0, -1], [5, 11]])), x.take(T.tensor(3))), (data(3, 4),)),
    "stacks": (
        lambda T, a, c: (
            T.hstack([a, c]), T.vstack((a, c)), T.dstack([a, c]), T.column_stack([a, c]), T.row_stack([a, c]), T.concat([a, c], 1), T.concatenate((a, c), -2),
        ),
        (data(2, 3), data(2, 3, dtype="float64")),
    ),
    "stacks-1d": (
        lambda T, a, c: (T.hstack([a, c]), T.vstack([a, c]), T.dstack([a, c]), T.column_stack([a, c, T.ones(3, 2)])),
        (data(3), data(3)),
    ),
    "atleast": (
        lambda T, s, v, m: (T.atleast_1d(s), T.atleast_2d(v), T.atleast_3d(m), T.atleast_3d(v), T.atleast_3d(s), *T.atleast_2d([s, v, m])),
        (np.array(1.5, np.float32), data(3), data(2, 3)),
    ),
    "meshgrid": (
        lambda T, a, c, d: (*T.meshgrid(a, c, indexing="ij"), *T.meshgrid([a, c, d], indexing="xy"), *T.meshgrid(a, indexing="xy")),
        (data(3), data(4), data(2)),
    ),
    "broadcast_tensors": (lambda T, a, c: T.broadcast_tensors(a, c, T.tensor(2.0)), (data(3, 1), data(4, dtype="int64"))),
    "diagonal": (
        lambda T, x: (T.diagonal(x), x.diagonal(1), x.diagonal(-1, 1, 2), T.diagonal(x, 2, -1, 0), x.diagonal(7), T.diagonal(x, 0, 2, 1)),
        (data(3, 4, 5),),
    ),
    "diag": (lambda T, v, m: (T.diag(v), T.diag(v, 1), v.diag(-2), T.diag(m), m.diag(1), T.diag(m, -1)), (data(3), data(3, 4, dtype="int64"))),
    "diag_embed": (lambda T, x: (T.diag_embed(x), x.diag_embed(1), T.diag_embed(x, -1, 0, 2), T.diag_embed(x, 0, 2, 0)), (data(2, 3),)),
    "tril-triu": (
        lambda T, x: (T.tril(x), x.tril(1), T.tril(x, -1), T.triu(x), x.triu(2), T.triu(x, -1)),
        (data(2, 3, 4),),
    ),
    "tril-triu-bool": (lambda T, x: (T.tril(x), x.triu(-1)), (data(3, 3, dtype="bool"),)),
    "trace": (lambda T, x, i: (T.trace(x), i.trace()), (data(3, 4), data(4, 3, dtype="int32"))),
    "narrow_copy": (lambda T, x: (T.narrow_copy(x, 1, 1, 2), x.narrow_copy(0, 2, 1)), (data(3, 4),)),  # torch differentiates a negative start wrongly
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_torch(backend: str, name: str) -> None:
    fn, arrays = CASES[name]
    got = fn(graphc, *[graphc.tensor(a.copy()) for a in arrays])
    expected = fn(torch, *[torch.from_numpy(a.copy()) for a in arrays])
    assert_matches(list(got) if isinstance(got, tuple) else got, list(expected) if isinstance(expected, tuple) else expected)


GRADIENTS: dict[str, tuple[Callable[..., Any], tuple[np.ndarray, ...]]] = {
    name: (fn, tuple(a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays))
    for name, (fn, arrays) in CASES.items()
    if any(a.dtype.kind == "f" for a in arrays) and name not in ("repeat_interleave-counts",)
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_match_torch(backend: str, name: str) -> None:
    fn, arrays = GRADIENTS[name]
    check_grads(fn, *arrays)


def test_in_place_triangles(backend: str) -> None:
    x, t = graphc.tensor(data(3, 4)), torch.from_numpy(data(3, 4))
    x.copy_(graphc.tensor(t.numpy()))
    assert x.tril_(1) is x
    t.tril_(1)
    assert_matches(x, t)
    assert_matches(x.triu_(-1), t.triu_(-1))


def manipulations(T: Any, x: Any) -> tuple:
    """What a batch goes through: flips and rolls along the batch too, a diagonal of each sample, triangles."""
    square = x.reshape(x.shape[0], 3, 3) if T is torch else x.reshape(-1, 3, 3)
    return (
        T.flip(x, (0, 1)),
        T.roll(x, 2, 0),
        x.roll(-1, 1),
        T.diagonal(square, 0, 1, 2),
        T.tril(square, -1),
        T.diag_embed(x[:, :3]),
        T.movedim(square, 0, 2).select(0, 1),
        T.repeat_interleave(x, 2, dim=1),
        T.rot90(square, 1, (1, 2)),
    )


def test_compiled_with_a_symbolic_batch(backend: str) -> None:
    check_compiled_batches(manipulations, lambda rows: (RNG.standard_normal((rows, 9)),), backend)


RNG = np.random.default_rng(5)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: graphc.flip(x, (0, 0)), "repeated"),
        (lambda x: graphc.roll(x, (1, 2)), "single int"),
        (lambda x: graphc.roll(x, (1, 2), 0), "align"),
        (lambda x: graphc.rot90(x, 1, (0, 0)), "different"),
        (lambda x: graphc.rot90(x, 1, (0,)), "== 2"),
        (lambda x: x.select(0, 3), "out of range"),
        (lambda x: graphc.diag(x[None]), "1D or 2D"),
        (lambda x: x.diagonal(0, 1, 1), "identical"),
        (lambda x: x[0, 0].diag_embed(), "out of range"),
        (lambda x: x[0].tril(), "at least 2"),
        (lambda x: x[0].trace(), "matrix"),
        (lambda x: graphc.take(x, graphc.tensor([0.5])), "long tensor"),
        (lambda x: x.repeat_interleave(-1), "negative"),
        (lambda x: x.repeat_interleave(graphc.tensor([1, 2]), dim=0), "same size"),
        (lambda x: graphc.movedim(x, (0, 1), 0), "same number"),
        (lambda x: graphc.meshgrid(x), "0D or 1D"),
        (lambda x: graphc.meshgrid(x[0], indexing="yx"), "indexing"),
        (lambda x: graphc.broadcast_tensors(x, x[:, :2]), "broadcast"),
        (lambda x: graphc.hstack([]), "non-empty"),
    ],
)
def test_errors_name_the_op(call: Callable[[graphc.Tensor], Any], message: str) -> None:
    with pytest.raises(GraphcError, match=message):
        call(graphc.tensor(data(3, 3)))


def test_a_tensor_of_repeats_must_be_known_when_compiled() -> None:
    compiled = graphc.compile(lambda x, r: x.repeat_interleave(r, dim=0))
    with pytest.raises(GraphcError, match="depends on its values"):
        compiled(graphc.tensor(data(2, 3)), graphc.tensor([1, 2]))


def test_broadcast_shapes() -> None:
    assert graphc.broadcast_shapes((3, 1), (4,), 1) == tuple(torch.broadcast_shapes((3, 1), (4,), 1))
    with pytest.raises(GraphcError, match="broadcast"):
        graphc.broadcast_shapes((3,), (4,))


def test_flip_and_tile_methods_take_spread_dims(backend: str) -> None:
    """``x.flip(0, 1)`` and ``x.tile(2, 3)``, as torch's methods take them (graphc raised a TypeError)."""
    x = data(2, 3)
    for call in (lambda t: t.flip(0, 1), lambda t: t.tile(2, 1, 3), lambda t: t.flip(1), lambda t: t.tile((2,))):
        assert_matches(call(graphc.tensor(x)), call(torch.from_numpy(x)))
