"""EmbeddingBag and TripletMarginWithDistanceLoss against torch.nn.

Values and float64 gradients (to the weight and to per-sample weights) on both backends;
the bags' offsets are data, so one compiled program serves any offsets.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from nn_compare import compare_functions, compare_modules

import graphc
import graphc.nn.functional as F
from graphc import nn

rng = np.random.default_rng(5)

INDICES = np.array([1, 4, 4, 0, 2, 3, 1, 4], dtype=np.int64)


def pair(*args: object, **kwargs: object) -> tuple[nn.EmbeddingBag, torch.nn.EmbeddingBag]:
    g, t = nn.EmbeddingBag(*args, **kwargs), torch.nn.EmbeddingBag(*args, **kwargs)
    assert repr(g) == repr(t)
    return g, t


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize(
    "kwargs, offsets",
    [
        ({"mode": "sum"}, [0, 3, 3, 6]),  # the second bag is empty
        ({"mode": "mean", "padding_idx": 4}, [0, 2, 5]),  # the first bag holds only padding
        ({"mode": "max"}, [0, 4, 5]),
        ({"mode": "max", "include_last_offset": True, "padding_idx": 1}, [0, 1, 4, 8]),
    ],
)
def test_embedding_bag_with_offsets(kwargs: dict, offsets: list) -> None:
    g, t = pair(5, 3, **kwargs)
    compare_modules(g, t, [INDICES, np.array(offsets, dtype=np.int64)])


@pytest.mark.usefixtures("backend")
def test_embedding_bag_per_sample_weights_and_2d_input() -> None:
    """The gradient reaches the per-sample weights as well as the table; a 2-d input is one bag per row."""
    weights = rng.standard_normal(8)
    compare_modules(*pair(5, 3, mode="sum", padding_idx=0), [INDICES, np.array([0, 2, 6], dtype=np.int64), weights])
    compare_modules(*pair(5, 3, mode="sum"), [INDICES.reshape(2, 4)])
    compare_modules(*pair(5, 3, mode="mean"), [INDICES.reshape(4, 2)], dtype="float32", rtol=1e-6, atol=1e-6)


def test_embedding_bag_functional_max_norm_and_state_dict() -> None:
    table = rng.standard_normal((5, 3)) * 2
    g_weight, t_weight = graphc.tensor(table.copy()), torch.tensor(table.copy())
    offsets = np.array([0, 3], dtype=np.int64)
    got = F.embedding_bag(graphc.tensor(INDICES), g_weight, graphc.tensor(offsets), max_norm=1.5, mode="sum")
    expected = TF.embedding_bag(torch.tensor(INDICES), t_weight, torch.tensor(offsets), max_norm=1.5, mode="sum")
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12)
    np.testing.assert_allclose(g_weight.numpy(), t_weight.numpy(), rtol=1e-12)
    g, t = pair(6, 2, mode="max", padding_idx=-2)
    assert {k: tuple(v.shape) for k, v in g.state_dict().items()} == {k: tuple(v.shape) for k, v in t.state_dict().items()}
    assert g.padding_idx == t.padding_idx == 4 and np.all(g.weight.numpy()[4] == 0)
    frozen = nn.EmbeddingBag.from_pretrained(graphc.tensor(table), mode="sum")
    assert not frozen.weight.requires_grad and frozen.mode == "sum"


def test_embedding_bag_offsets_are_data_in_a_compiled_program() -> None:
    g, t = pair(5, 3, mode="mean")
    g.load_state_dict(t.state_dict())
    step = graphc.compile(lambda i, o: g(i, o))
    for offsets in ([0, 2, 5], [0, 6, 7], [0, 0, 1]):
        o = np.array(offsets, dtype=np.int64)
        expected = t(torch.tensor(INDICES), torch.tensor(o)).detach().numpy()
        np.testing.assert_allclose(step(graphc.tensor(INDICES), graphc.tensor(o)).numpy(), expected, rtol=1e-6)


def test_embedding_bag_errors() -> None:
    weight = graphc.ones(5, 3)
    indices = graphc.tensor(INDICES)
    with pytest.raises(NotImplementedError, match="only supported for mode='sum'"):
        F.embedding_bag(indices, weight, graphc.tensor([0, 4]), mode="mean", per_sample_weights=graphc.ones(8))
    with pytest.raises(ValueError, match="offsets has to be None"):
        F.embedding_bag(indices.reshape(2, 4), weight, graphc.tensor([0, 1]))
    with pytest.raises(ValueError, match="offsets has to be a 1D Tensor but got None"):
        F.embedding_bag(indices, weight)
    with pytest.raises(ValueError, match="mode has to be one of"):
        F.embedding_bag(indices, weight, graphc.tensor([0]), mode="min")
    with pytest.raises(ValueError, match="must have the same shape as the input"):
        F.embedding_bag(indices, weight, graphc.tensor([0]), mode="sum", per_sample_weights=graphc.ones(3))


# ---------------------------------------------------------------- losses


@pytest.mark.usefixtures("backend")
@pytest.mark.parametrize("swap, reduction", [(True, "none")])
def test_triplet_margin_with_distance_loss(swap: bool, reduction: str) -> None:
    a, p, n = (rng.standard_normal((4, 3)) for _ in range(3))
    g = nn.TripletMarginWithDistanceLoss(margin=0.7, swap=swap, reduction=reduction)
    t = torch.nn.TripletMarginWithDistanceLoss(margin=0.7, swap=swap, reduction=reduction)
    assert repr(g) == repr(t)
    compare_modules(g, t, [a, p, n])

    def cosine(F_: object) -> object:
        return lambda x, y: 1.0 - F_.cosine_similarity(x, y)

    compare_functions(
        lambda *v: F.triplet_margin_with_distance_loss(*v, distance_function=cosine(F), swap=swap, reduction="sum"),
        lambda *v: TF.triplet_margin_with_distance_loss(*v, distance_function=cosine(TF), swap=swap, reduction="sum"),
        [a, p, n],
    )


def test_triplet_margin_with_distance_loss_errors() -> None:
    x = graphc.ones(2, 3)
    with pytest.raises(ValueError, match="expected margin to be greater than 0"):
        nn.TripletMarginWithDistanceLoss(margin=0.0)
    with pytest.raises(Exception, match="same number of dimensions"):
        F.triplet_margin_with_distance_loss(x, x, graphc.ones(3))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.triplet_margin_with_distance_loss(x, x, x, reduction="avg")
