"""graphc.nn losses (modules and functions) against torch: values and input gradients in float64."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from nn_compare import compare_functions, compare_modules

import graphc
import graphc.nn.functional as F
from graphc import nn

# Every test here runs on each backend (numpy, and triton under TRITON_INTERPRET=1 on a CPU).
pytestmark = pytest.mark.usefixtures("backend", "fusion")

rng = np.random.default_rng(2)
REDUCTIONS = ["mean", "sum", "none"]

logits = rng.standard_normal((6, 5)) * 2
targets = np.array([0, 4, -100, 1, 1, 3])
class_weight = rng.random(5) + 0.5
logits_4d = rng.standard_normal((3, 5, 2, 2))
targets_3d = rng.integers(0, 5, (3, 2, 2))
probabilities = rng.random((6, 5))
probabilities /= probabilities.sum(1, keepdims=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cross_entropy_class_indices(reduction: str, label_smoothing: float) -> None:
    kw = dict(reduction=reduction, label_smoothing=label_smoothing)
    compare_functions(
        lambda x, t, w: F.cross_entropy(x, t, weight=w, **kw),
        lambda x, t, w: TF.cross_entropy(x, t, weight=w, **kw),
        [logits, targets, class_weight],
        grad_mask=[True, False, False],
    )
    compare_functions(
        lambda x, t: F.cross_entropy(x, t, ignore_index=3, **kw), lambda x, t: TF.cross_entropy(x, t, ignore_index=3, **kw), [logits_4d, targets_3d]
    )
    compare_functions(lambda x, t: F.cross_entropy(x, t, **kw), lambda x, t: TF.cross_entropy(x, t, **kw), [logits[1], np.array(2)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_class_probabilities(reduction: str) -> None:
    for kw in (dict(reduction=reduction), dict(reduction=reduction, label_smoothing=0.3)):
        compare_functions(
            lambda x, t, w: F.cross_entropy(x, t, weight=w, **kw),
            lambda x, t, w: TF.cross_entropy(x, t, weight=w, **kw),
            [logits, probabilities, class_weight],
            grad_mask=[True, True, False],
        )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss(reduction: str) -> None:
    logp = TF.log_softmax(torch.tensor(logits), 1).numpy()
    compare_functions(
        lambda x, t, w: F.nll_loss(x, t, weight=w, reduction=reduction),
        lambda x, t, w: TF.nll_loss(x, t, weight=w, reduction=reduction),
        [logp, targets, class_weight],
        grad_mask=[True, False, False],
    )
    compare_functions(
        lambda x, t: F.nll_loss(x, t, reduction=reduction, ignore_index=2),
        lambda x, t: TF.nll_loss(x, t, reduction=reduction, ignore_index=2),
        [logits_4d, targets_3d],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(reduction: str) -> None:
    p = 1 / (1 + np.exp(-logits))
    y = rng.random(p.shape)
    compare_functions(
        lambda x, t, w: F.binary_cross_entropy(x, t, weight=w, reduction=reduction),
        lambda x, t, w: TF.binary_cross_entropy(x, t, weight=w, reduction=reduction),
        [p, y, class_weight],
        grad_mask=[True, True, False],
    )


def test_binary_cross_entropy_clamps_logs_at_minus_100() -> None:
    p = np.array([0.0, 1.0, 1e-50, 0.5])
    y = np.array([0.3, 0.6, 1.0, 0.0])
    expected = TF.binary_cross_entropy(torch.tensor(p), torch.tensor(y), reduction="none").numpy()
    actual = F.binary_cross_entropy(graphc.tensor(p), graphc.tensor(y), reduction="none").numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-12)
    assert np.all(np.isfinite(actual))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_gradient_is_torchs_where_probabilities_saturate(reduction: str) -> None:
    """At p = 0 or 1 the clamped logs' derivative is 0 * inf; torch's formula stays finite, and so must graphc's."""
    p = np.array([0.0, 1.0, 1.0, 0.0, 0.3, 0.9])
    y = np.array([0.0, 1.0, 0.0, 1.0, 0.2, 0.5])
    compare_functions(
        lambda x, t: F.binary_cross_entropy(x, t, reduction=reduction),
        lambda x, t: TF.binary_cross_entropy(x, t, reduction=reduction),
        [p, y],
        grad_mask=[True, False],
        rtol=1e-14,
    )


def test_binary_cross_entropy_second_derivative_matches_torch() -> None:
    p, y = rng.uniform(0.05, 0.95, 6), rng.random(6)
    tp, gp = torch.tensor(p, requires_grad=True), graphc.tensor(p, requires_grad=True)
    (tg,) = torch.autograd.grad(TF.binary_cross_entropy(tp, torch.tensor(y)), [tp], create_graph=True)
    (gg,) = graphc.autograd.grad(F.binary_cross_entropy(gp, graphc.tensor(y)), [gp], create_graph=True)
    (tgg,) = torch.autograd.grad(tg.pow(2).sum(), [tp])
    (ggg,) = graphc.autograd.grad(gg.pow(2).sum(), [gp])
    # graphc's is the exact derivative of torch's first-derivative formula (x - y) / (x (1 - x)) / n ...
    first = (p - y) / (p * (1 - p)) / len(p)
    exact = 2 * first * (p * p - 2 * p * y + y) / (p * p * (1 - p) ** 2) / len(p)
    np.testing.assert_allclose(ggg.numpy(), exact, rtol=1e-13)
    # ... torch's double backward divides by (x + 1e-12)^2 (1 - x + 1e-12)^2 instead, about 1e-11 from it.
    np.testing.assert_allclose(ggg.numpy(), tgg.numpy(), rtol=1e-9)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_of_only_ignored_targets_is_nan_with_zero_gradient(label_smoothing: float) -> None:
    compare_functions(
        lambda x, t: F.cross_entropy(x, t, label_smoothing=label_smoothing),
        lambda x, t: TF.cross_entropy(x, t, label_smoothing=label_smoothing),
        [logits[:3], np.array([-100, -100, -100])],
        grad_mask=[True, False],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits(reduction: str) -> None:
    big = logits * 40  # |x| up to ~200: the naive formula would overflow
    y = rng.random(big.shape)
    pos_weight = rng.random(5) * 3
    compare_functions(
        lambda x, t, w, pw: F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, reduction=reduction),
        lambda x, t, w, pw: TF.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, reduction=reduction),
        [big, y, class_weight, pos_weight],
        grad_mask=[True, True, False, False],
    )
    compare_functions(
        lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=reduction),
        lambda x, t: TF.binary_cross_entropy_with_logits(x, t, reduction=reduction),
        [big, y],
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses(reduction: str) -> None:
    x, y = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    for name in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"):
        compare_functions(lambda a, b, n=name: getattr(F, n)(a, b, reduction=reduction), lambda a, b, n=name: getattr(TF, n)(a, b, reduction=reduction), [x, y])
    compare_functions(
        lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=0.5), lambda a, b: TF.smooth_l1_loss(a, b, reduction=reduction, beta=0.5), [x, y]
    )
    compare_functions(lambda a, b: F.huber_loss(a, b, reduction=reduction, delta=0.3), lambda a, b: TF.huber_loss(a, b, reduction=reduction, delta=0.3), [x, y])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
def test_kl_div(reduction: str) -> None:
    logp = TF.log_softmax(torch.tensor(logits), 1).numpy()
    q = probabilities.copy()
    q[0, 0] = 0.0  # 0 * log 0 = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that "mean" is not the mathematical KL divergence
        # torch's gradient with respect to a zero target is NaN; compare the input gradient only.
        compare_functions(
            lambda a, b: F.kl_div(a, b, reduction=reduction), lambda a, b: TF.kl_div(a, b, reduction=reduction), [logp, q], grad_mask=[True, False]
        )
        compare_functions(
            lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=True),
            lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=True),
            [logp, logp[::-1].copy()],
        )



def test_kl_div_batchmean_under_compile_divides_by_each_calls_batch_size() -> None:
    """A compiled function's batch size is symbolic; ``batchmean`` returned the sum undivided there (fuzzer: twice
    torch's value at batch 2). One program, batch sizes 2, 3 and 6 (rows and a 1-d input), values and gradients."""
    def loss_of(F_, a, b):  # noqa: ANN001, ANN202 - torch's or graphc's functional module and tensors
        return F_.kl_div(a, b, reduction="batchmean")

    def step(a: graphc.Tensor, b: graphc.Tensor) -> tuple:
        a.requires_grad_(True)
        loss = loss_of(F, a, b)
        loss.backward()
        return loss.detach(), a.grad

    compiled = graphc.compile(step)
    for rows in (2, 3, 6):
        for a, b in ((logits[:rows], probabilities[:rows]), (logits[:rows, 0], probabilities[:rows, 0])):
            got_loss, got_grad = compiled(graphc.tensor(a.copy()), graphc.tensor(b.copy()))
            ta = torch.tensor(a, requires_grad=True)
            expected = loss_of(TF, ta, torch.tensor(b))
            expected.backward()
            np.testing.assert_allclose(float(got_loss), expected.item(), rtol=1e-12)
            np.testing.assert_allclose(got_grad.numpy(), ta.grad.numpy(), rtol=1e-12)


LOSS_MODULES = [
    ("MSELoss", {}, "regression"),
    ("L1Loss", {"reduction": "sum"}, "regression"),
    ("SmoothL1Loss", {"beta": 0.5}, "regression"),
    ("HuberLoss", {"delta": 2.0}, "regression"),
    ("CrossEntropyLoss", {}, "classes"),
    ("CrossEntropyLoss", {"ignore_index": 1, "label_smoothing": 0.1, "reduction": "sum"}, "classes"),
    ("CrossEntropyLoss", {"weight": class_weight}, "classes"),
    ("NLLLoss", {"weight": class_weight, "reduction": "none"}, "classes"),
    ("BCELoss", {}, "probabilities"),
    ("BCEWithLogitsLoss", {"pos_weight": rng.random(5) + 0.5}, "logits"),
]


@pytest.mark.parametrize("name,kwargs,kind", LOSS_MODULES, ids=[f"{n}{k}" for n, k, _ in LOSS_MODULES])
def test_loss_modules(name: str, kwargs: dict, kind: str) -> None:
    g_kwargs = {k: graphc.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    t_kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    g, t = getattr(nn, name)(**g_kwargs), getattr(torch.nn, name)(**t_kwargs)
    assert repr(g) == repr(t)
    assert list(g.state_dict()) == list(t.state_dict())
    if kind == "regression":
        inputs = [rng.standard_normal((4, 5)), rng.standard_normal((4, 5))]
    elif kind == "classes":
        inputs = [logits, targets.clip(0)]
    elif kind == "probabilities":
        inputs = [1 / (1 + np.exp(-logits)), rng.random(logits.shape)]
    else:
        inputs = [logits, rng.random(logits.shape)]
    compare_modules(g, t, inputs)


def test_loss_in_a_float32_model_smoke() -> None:
    model_g = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    model_t = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))

    class Wrap(torch.nn.Module):
        def __init__(self, m: torch.nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return TF.cross_entropy(self.m(x), y)

    class GWrap(nn.Module):
        def __init__(self, m: nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, x: graphc.Tensor, y: graphc.Tensor) -> graphc.Tensor:
            return F.cross_entropy(self.m(x), y)

    compare_modules(GWrap(model_g), Wrap(model_t), [rng.standard_normal((16, 5)), rng.integers(0, 3, 16)], dtype="float32", rtol=1e-5, atol=1e-6)


def test_bad_reduction_and_shapes_raise() -> None:
    x = graphc.randn(3, 4)
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="different to the input size"):
        F.binary_cross_entropy(x.sigmoid(), graphc.rand(3, 1))
    with pytest.raises(graphc.GraphcError, match="expected target of shape"):
        F.cross_entropy(x, graphc.tensor([0, 1]))


def test_binary_cross_entropy_raises_for_an_input_outside_0_1_as_torch() -> None:
    """The check runs in the program (a flagged value on Triton, a C test in the loops), eagerly and
    compiled, also when only the gradient is read; NaN is outside too, as torch's check says."""
    target = graphc.tensor([0.0, 1.0, 1.0])
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        TF.binary_cross_entropy(torch.tensor([0.5, 1.5, 0.2]), torch.tensor([0.0, 1.0, 1.0]))
    compiled = graphc.compile(lambda x, y: F.binary_cross_entropy(x, y))

    def gradient_only(x: graphc.Tensor, y: graphc.Tensor) -> graphc.Tensor:
        x = x.detach().requires_grad_()
        F.binary_cross_entropy(x, y).backward()
        return x.grad

    gradient = graphc.compile(gradient_only)
    for bad in (1.5, -0.5, float("nan")):
        x = graphc.tensor([0.5, bad, 0.2])
        for run in (lambda x, y: F.binary_cross_entropy(x, y, reduction="none"), compiled, gradient):
            with pytest.raises(graphc.InvalidValueError, match="binary_cross_entropy: all elements of input should be between 0 and 1\n  at .*test_nn_loss.py"):
                run(x, target).numpy()
    good = graphc.tensor([0.5, 1.0, 0.0])
    expected = TF.binary_cross_entropy(torch.tensor([0.5, 1.0, 0.0]), torch.tensor([0.0, 1.0, 1.0]))
    np.testing.assert_allclose(compiled(good, target).numpy(), expected.numpy(), rtol=1e-6)
