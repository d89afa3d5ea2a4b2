"""CTCLoss / F.ctc_loss against torch in float64 on tiny sizes.

graphc's gradient is the loss's derivative in ``log_probs``; torch's assumes ``log_probs`` came
from a log-softmax (it adds ``exp(log_probs)``, which that backward cancels), so gradients are
compared on the logits before a log-softmax, where both are exact.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import graphc
import graphc.nn.functional as F
from graphc import nn

rng = np.random.default_rng(3)

LOGITS = rng.standard_normal((5, 3, 4))
PADDED = np.array([[1, 2, 2], [3, 1, 0], [2, 0, 0]], dtype=np.int64)  # a repeated label needs a blank between
INPUT_LENGTHS = np.array([5, 4, 3], dtype=np.int64)
TARGET_LENGTHS = np.array([3, 2, 1], dtype=np.int64)


def run_both(targets: np.ndarray, input_lengths: object, target_lengths: object, logits: np.ndarray = LOGITS, **kwargs: object) -> None:
    """Loss values and the logits' gradient, with a fixed random weighting of the losses."""
    t_x = torch.tensor(logits, requires_grad=True)
    g_x = graphc.tensor(logits, requires_grad=True)
    as_torch = (lambda v: torch.tensor(v)) if isinstance(input_lengths, np.ndarray) else (lambda v: v)
    as_graphc = (lambda v: graphc.tensor(v)) if isinstance(input_lengths, np.ndarray) else (lambda v: v)
    t_loss = TF.ctc_loss(t_x.log_softmax(-1), torch.tensor(targets), as_torch(input_lengths), as_torch(target_lengths), **kwargs)
    g_loss = F.ctc_loss(g_x.log_softmax(-1), graphc.tensor(targets), as_graphc(input_lengths), as_graphc(target_lengths), **kwargs)
    assert tuple(g_loss.shape) == tuple(t_loss.shape) and g_loss.dtype == graphc.float64
    np.testing.assert_allclose(g_loss.numpy(), t_loss.detach().numpy(), rtol=1e-10)
    w = rng.standard_normal(tuple(t_loss.shape))
    (t_loss * torch.tensor(w)).sum().backward()
    (g_loss * graphc.tensor(w)).sum().backward()
    np.testing.assert_allclose(g_x.grad.numpy(), t_x.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_ctc_loss_padded_targets_and_tensor_lengths() -> None:
    run_both(PADDED, INPUT_LENGTHS, TARGET_LENGTHS, reduction="none")


@pytest.mark.slow
def test_ctc_loss_on_the_triton_backend() -> None:
    pytest.importorskip("triton")
    with graphc.use_backend("triton"):
        run_both(PADDED, INPUT_LENGTHS, TARGET_LENGTHS, reduction="none")


@pytest.mark.parametrize("reduction", ["mean", pytest.param("sum", marks=pytest.mark.slow)])
def test_ctc_loss_concatenated_targets_list_lengths_and_blank(reduction: str) -> None:
    concatenated = np.concatenate([row[:n] for row, n in zip(PADDED, TARGET_LENGTHS)])
    run_both(concatenated, INPUT_LENGTHS, TARGET_LENGTHS, reduction=reduction)
    run_both(np.where(PADDED == 3, 0, PADDED), [5, 5, 2], [3, 2, 1], reduction=reduction, blank=3)


def test_ctc_loss_unbatched_and_module() -> None:
    run_both(np.array([1, 1]), [5], [2], logits=LOGITS[:, 0])
    g, t = nn.CTCLoss(blank=1, zero_infinity=True), torch.nn.CTCLoss(blank=1, zero_infinity=True)
    assert repr(g) == repr(t)
    lp = torch.tensor(LOGITS).log_softmax(-1)
    targets = np.array([[2, 3], [0, 0], [3, 3]])
    expected = t(lp, torch.tensor(targets), [5, 5, 2], [2, 1, 2])  # the last is impossible: 3 steps for two 3s in 2
    got = g(graphc.tensor(lp.numpy()), graphc.tensor(targets), [5, 5, 2], [2, 1, 2])
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-10)


def test_ctc_loss_impossible_alignment() -> None:
    """An infinite loss stays infinite (torch's gradient is then NaN, graphc's zero); zero_infinity makes both zero."""
    targets, lengths = np.array([[1, 1, 1], [2, 0, 0]]), ([4, 3], [3, 1])
    logits = LOGITS[:4, :2]
    for zero_infinity in (False, True):
        lp = graphc.tensor(logits, requires_grad=True)
        loss = F.ctc_loss(lp.log_softmax(-1), graphc.tensor(targets), *lengths, reduction="none", zero_infinity=zero_infinity)
        expected = TF.ctc_loss(torch.tensor(logits).log_softmax(-1), torch.tensor(targets), *lengths, reduction="none", zero_infinity=zero_infinity)
        np.testing.assert_allclose(loss.numpy(), expected.numpy(), rtol=1e-10)
        loss[0].backward()
        np.testing.assert_array_equal(lp.grad.numpy(), 0.0)
    run_both(targets, *lengths, logits=logits, reduction="sum", zero_infinity=True)


def test_ctc_loss_errors() -> None:
    lp = graphc.zeros(4, 2, 3)
    with pytest.raises(Exception, match="blank must be in label range"):
        F.ctc_loss(lp, graphc.tensor([[1]] * 2), [4, 4], [1, 1], blank=3)
    with pytest.raises(Exception, match="one entry per batch element"):
        F.ctc_loss(lp, graphc.tensor([[1]] * 2), [4], [1, 1])
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.ctc_loss(lp, graphc.tensor([[1]] * 2), [4, 4], [1, 1], reduction="avg")
