"""The ``unfold``/``fold`` primitives over 1 and 3 spatial dimensions (2 is torch's ``F.unfold``, tested in
test_triton_primitives), on both backends: unfold against windows read element by element, fold as its adjoint."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import graphc
from graphc.errors import GraphcError
from graphc.frontend.functional import node_of, wrap
from graphc.ir.registry import emit

rng = np.random.default_rng(11)

CASES = [
    dict(kernel_size=(3,), dilation=(2,), padding=(2,), stride=(2,)),
    dict(kernel_size=(2, 2, 3), dilation=(1, 2, 1), padding=(1, 0, 1), stride=(2, 1, 2)),
]


def _windows_by_hand(x: np.ndarray, kernel_size: tuple, dilation: tuple, padding: tuple, stride: tuple, pad_value: float) -> np.ndarray:
    """Column (c, kernel offset) of window l, read one element at a time (row-major offsets and windows)."""
    n, c, *sizes = x.shape
    counts = [(s + 2 * p - d * (k - 1) - 1) // st + 1 for s, k, d, p, st in zip(sizes, kernel_size, dilation, padding, stride)]
    out = np.full((n, c, *kernel_size, *counts), pad_value)
    for offset in itertools.product(*(range(k) for k in kernel_size)):
        for block in itertools.product(*(range(count) for count in counts)):
            at = [b * st + o * d - p for b, o, st, d, p in zip(block, offset, stride, dilation, padding)]
            if all(0 <= a < s for a, s in zip(at, sizes)):
                out[(slice(None), slice(None), *offset, *block)] = x[(slice(None), slice(None), *at)]
    return out.reshape(n, c * math.prod(kernel_size), math.prod(counts))


@pytest.mark.parametrize("window", CASES, ids=["1-d", "3-d"])
def test_unfold_reads_every_window_and_fold_is_its_adjoint(backend: str, window: dict) -> None:
    shape = (2, 2, 7) if len(window["kernel_size"]) == 1 else (1, 2, 3, 4, 5)
    x = rng.standard_normal(shape)
    cols = wrap(emit("unfold", node_of(graphc.tensor(x)), pad_value=-1.5, **window)).numpy()
    np.testing.assert_array_equal(cols, _windows_by_hand(x, pad_value=-1.5, **window))
    zero_padded = wrap(emit("unfold", node_of(graphc.tensor(x)), pad_value=0.0, **window)).numpy()
    c = rng.standard_normal(cols.shape)
    folded = wrap(emit("fold", node_of(graphc.tensor(c)), output_size=shape[2:], **window)).numpy()
    assert folded.shape == shape
    np.testing.assert_allclose(np.vdot(folded, x), np.vdot(c, zero_padded), rtol=1e-12)


def test_window_attributes_need_one_int_per_spatial_dimension() -> None:
    x = node_of(graphc.randn(1, 2, 3, 4, 5))
    with pytest.raises(GraphcError, match=r"unfold: .*kernel_size must be a tuple of 3 ints \(one per spatial dimension\), got \(2, 2\)"):
        emit("unfold", x, kernel_size=(2, 2), dilation=(1, 1, 1), padding=(0, 0, 0), stride=(1, 1, 1), pad_value=0.0)
    with pytest.raises(GraphcError, match=r"fold: .*expected 8 blocks for output size \(3, 4, 5\), got 5"):
        emit("fold", node_of(graphc.randn(1, 8, 5)), output_size=(3, 4, 5), kernel_size=(2, 2, 2), dilation=(1, 1, 1), padding=(0, 0, 0), stride=(1, 2, 2))
