"""Margin, embedding and likelihood losses against torch: values, shapes, dtypes and float64 gradients of every input.

Each loss runs as a function and as a module, with every reduction, on small inputs (a few
elements per axis, so the Triton interpreter stays quick); errors as torch's.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from nn_compare import compare_functions, compare_modules

import graphc
import graphc.nn.functional as F
from graphc import nn

# Every test here runs on each backend (numpy, and triton under TRITON_INTERPRET=1 on a CPU).
pytestmark = pytest.mark.usefixtures("backend")

rng = np.random.default_rng(11)
REDUCTIONS = ["mean", "sum", "none"]

x1, x2, x3 = rng.standard_normal((3, 4, 3))
signs = np.array([1.0, -1.0, -1.0, 1.0])
logits = rng.standard_normal((4, 3)) * 2
labels = np.array([0, 2, 1, 2])


def both(name: str, fn: str, args: list[np.ndarray], reduction: str, grad_mask: list[bool] | None = None, **kwargs: object) -> None:
    """The function and the module (float64: values and the gradients of the inputs in ``grad_mask``), then the module in float32."""
    kw = dict(kwargs, reduction=reduction)
    compare_functions(lambda *a: getattr(F, fn)(*a, **kw), lambda *a: getattr(TF, fn)(*a, **kw), args, grad_mask=grad_mask)
    g, t = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert repr(g) == repr(t)
    compare_functions(g, t, args, grad_mask=grad_mask)
    single = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in args]
    g_out = g(*[graphc.tensor(a) for a in single])
    t_out = t(*[torch.tensor(a) for a in single])
    assert g_out.dtype == graphc.float32 and tuple(g_out.shape) == tuple(t_out.shape)
    np.testing.assert_allclose(g_out.numpy(), t_out.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.usefixtures("fusion")
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.5])
def test_margin_ranking_loss(reduction: str, margin: float) -> None:
    both("MarginRankingLoss", "margin_ranking_loss", [x1[:, 0], x2[:, 0], signs], reduction, margin=margin)


def test_margin_ranking_loss_rank_mismatch() -> None:
    with pytest.raises(Exception, match="same dimension"):
        F.margin_ranking_loss(graphc.tensor(x1), graphc.tensor(x2[:, 0]), graphc.tensor(signs))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [1.0, 0.3])
def test_hinge_embedding_loss(reduction: str, margin: float) -> None:
    target = np.array([[1.0, -1.0, -1.0], [1.0, 1.0, -1.0], [-1.0, -1.0, 1.0], [1.0, -1.0, 1.0]])
    both("HingeEmbeddingLoss", "hinge_embedding_loss", [x1, target], reduction, margin=margin)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin_loss(reduction: str) -> None:
    both("SoftMarginLoss", "soft_margin_loss", [x1, np.sign(x2)], reduction, grad_mask=[True, False])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.4])
def test_cosine_embedding_loss(reduction: str, margin: float) -> None:
    both("CosineEmbeddingLoss", "cosine_embedding_loss", [x1, x2, signs], reduction, margin=margin)
    kw = dict(margin=margin, reduction=reduction)
    for target in (np.array(1.0), np.array(-1.0)):
        compare_functions(
            lambda a, b, t: F.cosine_embedding_loss(a, b, t, **kw), lambda a, b, t: TF.cosine_embedding_loss(a, b, t, **kw), [x1[0], x2[0], target]
        )


def test_cosine_embedding_loss_shape_errors() -> None:
    with pytest.raises(Exception, match="1D target tensor expects 2D input tensors"):
        F.cosine_embedding_loss(graphc.tensor(x1[0]), graphc.tensor(x2[0]), graphc.tensor(signs[:3]))
    with pytest.raises(Exception, match="0D or 1D target tensor expected"):
        F.cosine_embedding_loss(graphc.tensor(x1), graphc.tensor(x2), graphc.tensor(x3))


@pytest.mark.usefixtures("fusion")
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kwargs", [{}, {"margin": 0.5, "p": 1.0, "swap": True}, {"p": 3.0, "eps": 1e-3, "swap": True}])
def test_triplet_margin_loss(reduction: str, kwargs: dict) -> None:
    both("TripletMarginLoss", "triplet_margin_loss", [x1, x2 * 0.5, x3], reduction, **kwargs)


def test_triplet_margin_loss_errors() -> None:
    with pytest.raises(ValueError, match="expected margin to be greater than 0"):
        nn.TripletMarginLoss(margin=0.0)
    with pytest.raises(Exception, match="same number of dimensions"):
        F.triplet_margin_loss(graphc.tensor(x1), graphc.tensor(x2[0]), graphc.tensor(x3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kwargs", [{}, {"log_input": False}, {"full": True}, {"log_input": False, "full": True, "eps": 1e-3}])
def test_poisson_nll_loss(reduction: str, kwargs: dict) -> None:
    target = np.array([[0.0, 1.0, 2.0], [3.0, 0.5, 7.0], [1.5, 4.0, 0.0], [2.0, 2.0, 9.0]])
    x = np.abs(x1) + 0.1 if kwargs.get("log_input") is False else x1
    # With full=True torch's target gradient is NaN at a target of 0 (the log before the mask); graphc's is finite.
    mask = [True, not kwargs.get("full", False)]
    both("PoissonNLLLoss", "poisson_nll_loss", [x, target], reduction, grad_mask=mask, **kwargs)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("var_shape", [(4, 3), (4,), (4, 1), (1, 3)])
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll_loss(reduction: str, var_shape: tuple, full: bool) -> None:
    var = rng.uniform(0.1, 2.0, var_shape)
    var.flat[0] = 1e-8  # below eps: clamped in value, the gradient still reaches it
    both("GaussianNLLLoss", "gaussian_nll_loss", [x1, x2, var], reduction, full=full, eps=1e-6)


def test_gaussian_nll_loss_float_variance_and_errors() -> None:
    kw = dict(reduction="sum")
    compare_functions(lambda a, b: F.gaussian_nll_loss(a, b, 0.7, **kw), lambda a, b: TF.gaussian_nll_loss(a, b, 0.7, **kw), [x1, x2])
    with pytest.raises(ValueError, match="var is of incorrect size"):
        F.gaussian_nll_loss(graphc.tensor(x1), graphc.tensor(x2), graphc.ones(3, 4))
    with pytest.raises(ValueError, match="var has negative entry"):
        F.gaussian_nll_loss(graphc.tensor(x1), graphc.tensor(x2), graphc.tensor(-np.ones((4, 3))))
    with pytest.raises(ValueError, match="is not valid"):
        F.gaussian_nll_loss(graphc.tensor(x1), graphc.tensor(x2), graphc.ones(4, 3), reduction="max")


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_soft_margin_loss(reduction: str) -> None:
    target = (rng.random((4, 3)) > 0.5).astype(np.float64)
    both("MultiLabelSoftMarginLoss", "multilabel_soft_margin_loss", [logits, target], reduction)
    weight = rng.uniform(0.5, 1.5, 3)
    kw = dict(reduction=reduction)
    compare_functions(
        lambda a, t, w: F.multilabel_soft_margin_loss(a, t, weight=w, **kw),
        lambda a, t, w: TF.multilabel_soft_margin_loss(a, t, weight=w, **kw),
        [logits, target, weight],
    )
    compare_modules(nn.MultiLabelSoftMarginLoss(graphc.tensor(weight), **kw), torch.nn.MultiLabelSoftMarginLoss(torch.tensor(weight), **kw), [logits, target])


@pytest.mark.usefixtures("fusion")
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p, margin", [(1, 1.0), (2, 1.0), (1, 0.3), (2, 2.5)])
def test_multi_margin_loss(reduction: str, p: int, margin: float) -> None:
    kw = dict(p=p, margin=margin, reduction=reduction)
    both("MultiMarginLoss", "multi_margin_loss", [logits, labels], reduction, p=p, margin=margin)
    weight = rng.uniform(0.5, 1.5, 3)
    compare_functions(
        lambda a, t, w: F.multi_margin_loss(a, t, weight=w, **kw),
        lambda a, t, w: TF.multi_margin_loss(a, t, weight=w, **kw),
        [logits, labels, weight],
        grad_mask=[True, False, False],
    )
    compare_modules(nn.MultiMarginLoss(weight=graphc.tensor(weight), **kw), torch.nn.MultiMarginLoss(weight=torch.tensor(weight), **kw), [logits, labels])
    compare_functions(lambda a, t: F.multi_margin_loss(a, t, **kw), lambda a, t: TF.multi_margin_loss(a, t, **kw), [logits[1], np.array(2)])


def test_multi_margin_loss_errors() -> None:
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        F.multi_margin_loss(graphc.tensor(logits), graphc.tensor(labels), p=3)
    with pytest.raises(ValueError, match="expected weight to be None or 1D"):
        nn.MultiMarginLoss(weight=graphc.ones(3, 1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_loss(reduction: str) -> None:
    """Targets end at the first -1 (later entries ignored); a repeated target counts twice, as in torch's kernel."""
    target = np.array([[2, -1, 0], [0, 1, -1], [1, 1, 2], [-1, 0, 1]])
    both("MultiLabelMarginLoss", "multilabel_margin_loss", [logits, target], reduction)
    kw = dict(reduction=reduction)
    compare_functions(lambda a, t: F.multilabel_margin_loss(a, t, **kw), lambda a, t: TF.multilabel_margin_loss(a, t, **kw), [logits[0], target[1]])


@pytest.mark.parametrize(
    "fn, args",
    [
        (F.margin_ranking_loss, lambda: [x1[:, 0], x2[:, 0], signs]),
        (F.hinge_embedding_loss, lambda: [x1, np.sign(x2)]),
        (F.soft_margin_loss, lambda: [x1, np.sign(x2)]),
        (F.multi_margin_loss, lambda: [logits, labels]),
    ],
)
def test_invalid_reduction(fn: Callable, args: Callable) -> None:
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        fn(*[graphc.tensor(a) for a in args()], reduction="max")


def test_losses_compile() -> None:
    """A compiled training loss of a margin loss gives eager graphc's value and gradients."""
    loss_fn = nn.MultiMarginLoss(p=2)
    x = graphc.tensor(logits, requires_grad=True)
    target = graphc.tensor(labels)

    def step(a: graphc.Tensor, t: graphc.Tensor) -> graphc.Tensor:
        return loss_fn(a, t) + F.triplet_margin_loss(a, a * 0.5, a.flip(0))

    eager = step(x, target)
    eager.backward()
    expected = x.grad.numpy().copy()
    x.grad = None
    compiled = graphc.compile(step)(x, target)
    compiled.backward()
    np.testing.assert_allclose(compiled.numpy(), eager.numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12)
