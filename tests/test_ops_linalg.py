"""matmul / mm / bmm / @ / dot / outer against torch (1-d operands, batched broadcasting,
transposed operands, integer and float64 dtypes), and the window primitives ``unfold``
and ``fold`` against ``torch.nn.functional.unfold``/``fold``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import assert_matches, data, pair, pairs

import graphc
from graphc.frontend.functional import node_of, wrap
from graphc.ir.registry import emit

pytestmark = pytest.mark.usefixtures("fusion")  # every case with fusion on and off

MATMUL_SHAPES = [
    ((4,), (4,)),
    ((4,), (4, 3)),
    ((2, 4), (4,)),
    ((2, 4), (4, 3)),
    ((5, 2, 4), (4, 3)),
    ((2, 4), (5, 4, 3)),
    ((5, 2, 4), (5, 4, 3)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)),
    ((1, 4), (4, 1)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=lambda s: f"{list(s[0])}@{list(s[1])}")
def test_matmul_shapes(backend: str, shapes: tuple) -> None:
    (ga, gb), (ta, tb) = pairs(data(*shapes[0]), data(*shapes[1]))
    assert_matches(graphc.matmul(ga, gb), torch.matmul(ta, tb))
    assert_matches(ga @ gb, ta @ tb)
    assert_matches(ga.matmul(gb), ta.matmul(tb))


@pytest.mark.parametrize("dtype", ["float64", "int64", "int32", "float16"])
def test_matmul_dtypes(backend: str, dtype: str) -> None:
    (ga, gb), (ta, tb) = pairs(data(3, 5, dtype=dtype), data(5, 2, dtype=dtype))
    assert_matches(ga @ gb, ta @ tb)
    (ga, gb), (ta, tb) = pairs(data(2, 3, 5, dtype=dtype), data(5, dtype=dtype))
    assert_matches(ga @ gb, ta @ tb)


def test_matmul_of_transposed_and_sliced_operands(backend: str) -> None:
    (ga, gb), (ta, tb) = pairs(data(5, 3), data(4, 5))
    assert_matches(ga.T @ gb.T, ta.T @ tb.T)
    assert_matches(ga[::2].T @ gb[:, ::2].T, ta[::2].T @ tb[:, ::2].T)
    (g3,), (t3,) = pairs(data(2, 4, 3))
    assert_matches(g3.transpose(1, 2) @ g3, t3.transpose(1, 2) @ t3)
    assert_matches(g3.permute(2, 0, 1) @ gb[:, ::2], t3.permute(2, 0, 1) @ tb[:, ::2])
    assert_matches(g3 @ ga[:3, :1].expand(3, 2), t3 @ ta[:3, :1].expand(3, 2))


def test_matmul_epilogue(backend: str) -> None:
    (gx, gw, gb), (tx, tw, tb) = pairs(data(4, 6), data(3, 6), data(3))
    assert_matches((gx @ gw.T + gb).relu(), (tx @ tw.T + tb).relu())
    assert_matches((gx @ gw.T).softmax(-1), (tx @ tw.T).softmax(-1))


def test_mm_bmm_dot_outer(backend: str) -> None:
    (ga, gb), (ta, tb) = pairs(data(3, 4), data(4, 2))
    assert_matches(graphc.mm(ga, gb), torch.mm(ta, tb))
    assert_matches(ga.mm(gb), ta.mm(tb))
    (ga, gb), (ta, tb) = pairs(data(2, 3, 4), data(2, 4, 5))
    assert_matches(graphc.bmm(ga, gb), torch.bmm(ta, tb))
    assert_matches(ga.bmm(gb), ta.bmm(tb))
    (gu, gv), (tu, tv) = pairs(data(5), data(5))
    assert_matches(graphc.dot(gu, gv), torch.dot(tu, tv))
    assert_matches(gu.dot(gv), tu.dot(tv))
    (gw,), (tw,) = pairs(data(3))
    assert_matches(graphc.outer(gu, gw), torch.outer(tu, tw))
    assert_matches(gu.outer(gw), tu.outer(tw))


def test_matmul_with_zero_dim_results_and_size_one(backend: str) -> None:
    (ga, gb), (ta, tb) = pairs(data(1), data(1))
    assert_matches(ga @ gb, ta @ tb)
    (ga, gb), (ta, tb) = pairs(data(1, 1, 3), data(3, 1))
    assert_matches(ga @ gb, ta @ tb)


# ----------------------------------------------------------------------------- unfold / fold

WINDOWS = [
    dict(kernel_size=(2, 2), dilation=(1, 1), padding=(0, 0), stride=(1, 1)),
    dict(kernel_size=(3, 2), dilation=(1, 1), padding=(1, 0), stride=(2, 1)),
    dict(kernel_size=(2, 3), dilation=(2, 1), padding=(1, 2), stride=(1, 2)),
    dict(kernel_size=(1, 1), dilation=(1, 1), padding=(0, 0), stride=(2, 2)),
    dict(kernel_size=(3, 3), dilation=(1, 2), padding=(2, 1), stride=(3, 2)),
]


@pytest.mark.parametrize("window", WINDOWS, ids=lambda w: "k{kernel_size}d{dilation}p{padding}s{stride}".format(**w).replace(" ", ""))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unfold(backend: str, window: dict, dtype: str) -> None:
    g, t = pair(data(2, 3, 5, 6, dtype=dtype))
    got = wrap(emit("unfold", node_of(g), pad_value=0.0, **window))
    assert_matches(got, TF.unfold(t, **window))


@pytest.mark.parametrize("window", WINDOWS, ids=lambda w: "k{kernel_size}d{dilation}p{padding}s{stride}".format(**w).replace(" ", ""))
def test_fold(backend: str, window: dict) -> None:
    output_size = (5, 6)
    blocks = TF.unfold(torch.zeros(1, 1, *output_size), **window).shape[-1]
    kh, kw = window["kernel_size"]
    g, t = pair(data(2, 3 * kh * kw, blocks, dtype="float64"))
    got = wrap(emit("fold", node_of(g), output_size=output_size, **window))
    assert_matches(got, TF.fold(t, output_size, **window))


def test_unfold_pad_value_and_non_contiguous_input(backend: str) -> None:
    window = dict(kernel_size=(2, 2), dilation=(1, 1), padding=(1, 1), stride=(1, 1))
    g, t = pair(data(1, 2, 3, 4))
    got = wrap(emit("unfold", node_of(g), pad_value=-np.inf, **window))
    want = TF.unfold(TF.pad(t, (1, 1, 1, 1), value=-np.inf), kernel_size=(2, 2))
    assert_matches(got, want)
    gp, tp = g.permute(0, 1, 3, 2), t.permute(0, 1, 3, 2)
    assert_matches(wrap(emit("unfold", node_of(gp), pad_value=0.0, **window)), TF.unfold(tp, **window))


def test_conv_as_unfold_matmul(backend: str) -> None:
    """conv2d = weight @ unfold(x), the decomposition graphc's Conv2d uses."""
    (gx, gw), (tx, tw) = pairs(data(2, 3, 6, 5), data(4, 3, 3, 3))
    window = dict(kernel_size=(3, 3), dilation=(1, 1), padding=(1, 1), stride=(2, 2))
    cols = wrap(emit("unfold", node_of(gx), pad_value=0.0, **window))
    out = (gw.reshape(4, -1) @ cols).reshape(2, 4, 3, 3)
    assert_matches(out, TF.conv2d(tx, tw, stride=2, padding=1))
