"""torch's top-level names of functional ops (graphc/frontend/torch_aliases.py), each called with torch's
ATen signature on both libraries: values, dtypes and shapes, and float64 gradients where differentiable.
The random ones (dropouts, rrelu in training) are checked by what a draw must satisfy."""

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
from graphc.frontend.torch_aliases import TOP_LEVEL


def f64(*shape: int, positive: bool = False) -> np.ndarray:
    return data(*shape, dtype="float64", positive=positive)


def ints(*shape: int, high: int) -> np.ndarray:
    return data(*shape, dtype="int64", low=0, high=high)


# Inputs that take no gradient (running statistics, targets, a sampling grid), made inside the cases.
MEAN, VAR = f64(3), f64(3, positive=True)
SIGNS = np.where(data(5, dtype="float64") > 0, 1.0, -1.0)
COUNTS = f64(3, 4, positive=True)
PROBABILITIES = data(3, 4, dtype="float64", low=0, high=1)
GRID = np.tanh(f64(1, 3, 3, 2))


# name -> (fn(T, *tensors), inputs); float inputs require grad, so every case checks gradients too.
CASES: dict[str, tuple[Callable[..., Any], tuple[np.ndarray, ...]]] = {
    "dropout without training": (lambda T, x: T.dropout(x, 0.5, False), (f64(3, 4),)),
    "alpha_dropout without training": (lambda T, x: T.alpha_dropout(x, 0.5, False), (f64(3, 4),)),
    "feature_dropout without training": (lambda T, x: T.feature_dropout(x, 0.5, False), (f64(2, 3, 4),)),
    "feature_alpha_dropout without training": (lambda T, x: T.feature_alpha_dropout(x, 0.5, False), (f64(2, 3, 4),)),
    "embedding": (lambda T, w, i: T.embedding(w, i), (f64(5, 3), ints(2, 4, high=5))),
    "embedding with padding_idx": (lambda T, w, i: T.embedding(w, i, 1), (f64(5, 3), ints(2, 4, high=5))),
    "batch_norm training": (
        lambda T, x, w, bias: T.batch_norm(x, w, bias, T.tensor(MEAN), T.tensor(VAR), True, 0.1, 1e-5, False),
        (f64(4, 3, 2), f64(3), f64(3)),
    ),
    "batch_norm eval": (lambda T, x, w, bias: T.batch_norm(x, w, bias, T.tensor(MEAN), T.tensor(VAR), False, 0.1, 1e-5, False), (f64(4, 3), f64(3), f64(3))),
    "instance_norm": (lambda T, x, w, bias: T.instance_norm(x, w, bias, None, None, True, 0.1, 1e-5, False), (f64(2, 3, 5), f64(3), f64(3))),
    "layer_norm": (lambda T, x, w, bias: T.layer_norm(x, (4,), w, bias, 1e-5, True), (f64(2, 3, 4), f64(4), f64(4))),
    "group_norm": (lambda T, x, w, bias: T.group_norm(x, 2, w, bias), (f64(2, 4, 3), f64(4), f64(4))),
    "rms_norm": (lambda T, x, w: T.rms_norm(x, (4,), w, 1e-6), (f64(2, 4), f64(4))),
    "conv1d": (lambda T, x, w, bias: T.conv1d(x, w, bias, 2, 1), (f64(2, 3, 7), f64(4, 3, 3), f64(4))),
    "conv2d": (lambda T, x, w: T.conv2d(x, w, None, 1, 1, 1, 1), (f64(1, 2, 5, 5), f64(3, 2, 3, 3))),
    "conv3d": (lambda T, x, w: T.conv3d(x, w), (f64(1, 2, 3, 4, 4), f64(2, 2, 2, 2, 2))),
    "conv_transpose1d": (lambda T, x, w: T.conv_transpose1d(x, w, None, 2, 1, 1), (f64(1, 2, 4), f64(2, 3, 3))),
    "conv_transpose2d": (lambda T, x, w: T.conv_transpose2d(x, w, stride=2), (f64(1, 2, 3, 3), f64(2, 1, 2, 2))),
    "conv_transpose3d": (lambda T, x, w: T.conv_transpose3d(x, w), (f64(1, 2, 2, 2, 2), f64(2, 1, 2, 2, 2))),
    "max_pool1d": (lambda T, x: T.max_pool1d(x, 2), (f64(2, 3, 6),)),
    "max_pool1d_with_indices": (lambda T, x: T.max_pool1d_with_indices(x, 3, 2, 1), (f64(2, 3, 7),)),
    "max_pool2d": (lambda T, x: T.max_pool2d(x, 2, 1, 0, 1, True), (f64(1, 2, 5, 5),)),
    "max_pool3d": (lambda T, x: T.max_pool3d(x, 2), (f64(1, 1, 4, 4, 4),)),
    "avg_pool1d": (lambda T, x: T.avg_pool1d(x, 3, 2, 1, False, False), (f64(2, 3, 7),)),
    "adaptive_avg_pool1d": (lambda T, x: T.adaptive_avg_pool1d(x, 3), (f64(2, 3, 7),)),
    "adaptive_max_pool1d": (lambda T, x: T.adaptive_max_pool1d(x, 3), (f64(2, 3, 7),)),
    "constant_pad_nd": (lambda T, x: T.constant_pad_nd(x, (1, 2, 0, 1), 0.5), (f64(2, 3, 4),)),
    "pixel_shuffle": (lambda T, x: T.pixel_shuffle(x, 2), (f64(1, 8, 2, 3),)),
    "pixel_unshuffle": (lambda T, x: T.pixel_unshuffle(x, 2), (f64(1, 2, 4, 6),)),
    "channel_shuffle": (lambda T, x: T.channel_shuffle(x, 2), (f64(1, 4, 2, 2),)),
    "celu": (lambda T, x: T.celu(x, 0.5), (f64(3, 4),)),
    "selu": (lambda T, x: T.selu(x), (f64(3, 4),)),
    "rrelu without training": (lambda T, x: T.rrelu(x, 0.1, 0.3, False), (f64(3, 4),)),
    "threshold": (lambda T, x: T.threshold(x, 0.1, -2.0), (f64(3, 4),)),
    "bilinear": (lambda T, a, c, w, bias: T.bilinear(a, c, w, bias), (f64(3, 2), f64(3, 4), f64(5, 2, 4), f64(5))),
    "pdist": (lambda T, x: T.pdist(x, 3.0), (f64(4, 3),)),
    "kl_div, the top level's default reduction (none)": (lambda T, x, y: T.kl_div(x, y), (f64(3, 4), f64(3, 4, positive=True))),
    "kl_div, mean": (lambda T, x, y: T.kl_div(x, y, 1), (f64(3, 4), f64(3, 4, positive=True))),
    "kl_div, an unknown reduction (none)": (lambda T, x, y: T.kl_div(x, y, 3), (f64(3, 4), f64(3, 4, positive=True))),
    "kl_div, sum, log_target": (lambda T, x, y: T.kl_div(x, y, 2, log_target=True), (f64(3, 4), f64(3, 4))),
    "margin_ranking_loss": (lambda T, a, c: T.margin_ranking_loss(a, c, T.tensor(SIGNS[:5]), 0.2, 0), (f64(5), f64(5))),
    "hinge_embedding_loss": (lambda T, x: T.hinge_embedding_loss(x, T.tensor(SIGNS[:5]), 0.5, 2), (f64(5),)),
    "cosine_embedding_loss": (lambda T, a, c: T.cosine_embedding_loss(a, c, T.tensor(SIGNS[:4]), 0.1), (f64(4, 3), f64(4, 3))),
    "triplet_margin_loss": (lambda T, a, p, n: T.triplet_margin_loss(a, p, n, 0.5, 2.0, 1e-6, True, 1), (f64(4, 3), f64(4, 3), f64(4, 3))),
    "poisson_nll_loss": (lambda T, x: T.poisson_nll_loss(x, T.tensor(COUNTS), True, True, 1e-8, 1), (f64(3, 4),)),
    "ctc_loss": (
        lambda T, x, t: T.ctc_loss(x.log_softmax(2), t, [6, 5], [3, 2], 0, 1, False),
        (f64(6, 2, 4), np.array([[1, 2, 3], [2, 1, 0]], dtype=np.int64)),
    ),
    "binary_cross_entropy_with_logits": (
        lambda T, x: T.binary_cross_entropy_with_logits(x, T.tensor(PROBABILITIES), None, T.tensor(VAR.repeat(2)[:4]), 2),
        (f64(3, 4),),
    ),
    "lstm_cell": (
        lambda T, x, h, c, wi, wh, bi, bh: T.lstm_cell(x, (h, c), wi, wh, bi, bh),
        (f64(2, 3), f64(2, 4), f64(2, 4), f64(16, 3), f64(16, 4), f64(16), f64(16)),
    ),
    "gru_cell": (lambda T, x, h, wi, wh, bi, bh: T.gru_cell(x, h, wi, wh, bi, bh), (f64(2, 3), f64(2, 4), f64(12, 3), f64(12, 4), f64(12), f64(12))),
    "rnn_tanh_cell": (lambda T, x, h, wi, wh: T.rnn_tanh_cell(x, h, wi, wh), (f64(2, 3), f64(2, 4), f64(4, 3), f64(4, 4))),
    "rnn_relu_cell": (lambda T, x, h, wi, wh, bi: T.rnn_relu_cell(x, h, wi, wh, bi), (f64(2, 3), f64(2, 4), f64(4, 3), f64(4, 4), f64(4))),
    "frobenius_norm": (lambda T, x: T.frobenius_norm(x, (0, 1), True), (f64(3, 4, 2),)),
    "nuclear_norm": (lambda T, x: T.nuclear_norm(x), (f64(4, 3),)),
    "nuclear_norm over dims": (lambda T, x: T.nuclear_norm(x, (0, 2), True), (f64(3, 2, 4),)),
    "grid_sampler": (lambda T, x, g: T.grid_sampler(x, g.tanh(), 0, 1, False), (f64(1, 2, 4, 5), f64(1, 3, 3, 2))),
    "grid_sampler nearest, reflection": (lambda T, x: T.grid_sampler(x, T.tensor(GRID), 1, 2, True), (f64(1, 2, 4, 5),)),
    "affine_grid_generator": (lambda T, theta: T.affine_grid_generator(theta, (2, 1, 3, 4), False), (f64(2, 2, 3),)),
    "rsub of a tensor": (lambda T, x, y: T.rsub(x, y, alpha=2), (f64(3), f64(3))),
    "rsub of a number": (lambda T, x: T.rsub(x, 5.0, 2.0), (f64(3),)),
    "view_copy": (lambda T, x: T.view_copy(x, (4, 3)), (f64(3, 4),)),
    "expand_copy": (lambda T, x: T.expand_copy(x, (2, 3, 4)), (f64(3, 1),)),
    "slice_copy": (lambda T, x: T.slice_copy(x, 1, 1, None, 2), (f64(3, 5),)),
    "select_copy": (lambda T, x: T.select_copy(x, 1, -1), (f64(3, 5),)),
    "squeeze_copy": (lambda T, x: T.squeeze_copy(x, 1), (f64(3, 1, 2),)),
    "squeeze_copy of all": (lambda T, x: T.squeeze_copy(x), (f64(3, 1, 1),)),
    "unsqueeze_copy": (lambda T, x: T.unsqueeze_copy(x, 0), (f64(3),)),
    "permute_copy": (lambda T, x: T.permute_copy(x, (2, 0, 1)), (f64(2, 3, 4),)),
    "t_copy": (lambda T, x: T.t_copy(x), (f64(2, 3),)),
    "transpose_copy": (lambda T, x: T.transpose_copy(x, 0, 2), (f64(2, 3, 4),)),
    "diagonal_copy": (lambda T, x: T.diagonal_copy(x, 1, 0, 1), (f64(3, 4),)),
    "unbind_copy": (lambda T, x: T.unbind_copy(x, 1), (f64(2, 3),)),
    "split_copy": (lambda T, x: T.split_copy(x, 2, 1), (f64(2, 5),)),
    "split_with_sizes_copy": (lambda T, x: T.split_with_sizes_copy(x, [1, 3], 1), (f64(2, 4),)),
    "unfold_copy": (lambda T, x: T.unfold_copy(x, 1, 2, 1), (f64(2, 4),)),
    "alias_copy": (lambda T, x: T.alias_copy(x), (f64(3),)),
    "unsafe_chunk": (lambda T, x: T.unsafe_chunk(x, 3, 0), (f64(5, 2),)),
    "unsafe_split": (lambda T, x: T.unsafe_split(x, 2), (f64(5, 2),)),
    "unsafe_split_with_sizes": (lambda T, x: T.unsafe_split_with_sizes(x, [2, 3]), (f64(5, 2),)),
}


@pytest.mark.filterwarnings("ignore:.*(frobenius|nuclear)_norm is deprecated")
@pytest.mark.parametrize("name", sorted(CASES))
def test_top_level_functional_ops_match_torch(name: str) -> None:
    fn, inputs = CASES[name]
    check_grads(fn, *inputs)


def test_every_top_level_name_is_tested_and_torch_has_it() -> None:
    with open(__file__) as file:
        source = file.read()
    assert [name for name in TOP_LEVEL if f".{name}(" not in source] == []
    assert [name for name in TOP_LEVEL if not hasattr(torch, name)] == []


def test_random_ones_draw_as_torch_s() -> None:
    """Dropouts keep or zero (whole channels for the feature ones) and rescale; alpha dropout keeps the mean and variance."""
    graphc.manual_seed(0)
    x = graphc.ones(200, 50, dtype=graphc.float64)
    dropped = graphc.dropout(x, 0.25, True).numpy()
    assert set(np.unique(dropped)) == {0.0, 1 / 0.75} and abs((dropped == 0).mean() - 0.25) < 5 * np.sqrt(0.25 * 0.75 / dropped.size)
    channels = graphc.feature_dropout(graphc.ones(40, 30, 6, dtype=graphc.float64), 0.5, True).numpy()
    assert np.all(channels == channels[:, :, :1]) and set(np.unique(channels)) == {0.0, 2.0}
    assert graphc.feature_dropout(x, 1.0, True).numpy().max() == 0.0
    normal = graphc.randn(400, 100, dtype=graphc.float64)
    for alpha in (graphc.alpha_dropout(normal, 0.2, True), graphc.feature_alpha_dropout(normal.reshape(400, 100, 1), 0.2, True)):
        values = alpha.numpy().ravel()
        assert abs(values.mean()) < 5 / np.sqrt(values.size) * 2 and abs(values.var() - 1) < 0.1
    leaky = graphc.rrelu(graphc.full((1000,), -1.0, dtype=graphc.float64), 0.1, 0.3, True).numpy()
    assert leaky.min() >= -0.3 and leaky.max() <= -0.1 and abs(leaky.mean() + 0.2) < 5 * 0.2 / np.sqrt(12 * 1000)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        graphc.feature_dropout(graphc.ones(3), 0.5, True)


def test_ops_without_a_derivative_match_torch_s_values() -> None:
    """rsub of integers, detach_copy (torch has no derivative for it) and native_channel_shuffle (none either; graphc gives one)."""
    counts, x = data(3, dtype="int64"), data(1, 4, 2, 1, dtype="float64")
    assert_matches(graphc.rsub(graphc.tensor(counts), 5, alpha=2), torch.rsub(torch.tensor(counts), 5, alpha=2))
    assert_matches(graphc.native_channel_shuffle(graphc.tensor(x), 2), torch.native_channel_shuffle(torch.tensor(x), 2))
    copied = graphc.detach_copy(graphc.tensor(x, requires_grad=True))
    assert_matches(copied, torch.detach_copy(torch.tensor(x, requires_grad=True)))
    assert not copied.requires_grad
    with pytest.raises(GraphcError, match="reinterpreting a tensor's bits"):
        graphc.view_copy(graphc.ones(2), graphc.int32)


def test_embedding_and_batch_norm_keep_torch_s_argument_order_and_updates() -> None:
    weight = data(5, 3, dtype="float64")
    indices = np.array([[0, 1, 1, 4]])
    assert_matches(graphc.embedding(graphc.tensor(weight), graphc.tensor(indices), -1), torch.embedding(torch.tensor(weight), torch.tensor(indices), -1))
    stats, batch = [], data(4, 3, dtype="float64")
    for T in (graphc, torch):
        mean, var = T.zeros(3, dtype=T.float64), T.ones(3, dtype=T.float64)
        T.batch_norm(T.tensor(batch), None, None, mean, var, True, 0.3, 1e-5, False)
        stats.append((mean, var))
    assert_matches(list(stats[0]), list(stats[1]))
