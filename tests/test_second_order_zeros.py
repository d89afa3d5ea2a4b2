"""Second derivatives that are structurally zero: a zero tensor where torch gives one, None where torch gives None.

torch differentiates relu, leaky_relu, hardtanh, the shrinks, prelu, the max and average pools, the
reflection and replication paddings and nll_loss by backward ops of their own that read the input and
state a zero derivative for it, so a gradient penalty through them gives the input (and a bias before a
ReLU) a zero ``.grad``; ops that torch differentiates by composites (clamp, maximum, amax, where, sort)
give None. Each case is compared with eager torch in float64 (docs/decisions.md, "Second derivatives
that are structurally zero"); where torch's backward op has no derivative (hardsigmoid, the multi-margin
losses), differentiating the gradient raises, as torch's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import graphc
from graphc.errors import GraphcError

pytestmark = pytest.mark.usefixtures("fusion", "numpy_kernels")

# Away from every op's kinks (0, +-0.5, +-1, +-3, 6), where torch's first and second derivatives choose sides apart.
X = np.array([-3.7, -2.2, -0.8, -0.3, 0.2, 0.7, 1.3, 2.6, 4.1, 6.4, 7.2, -5.1])
P = np.array([0.3, 0.2, 0.45, 0.15])  # prelu's weights, one per channel
TARGET = np.where(np.arange(12) < 4, X, 0.0)  # the losses' targets: equal to x in four places


def _cases(T: Any) -> dict[str, Callable[[Any, Any], Any]]:
    """name -> f(x, p): x of 12 elements, p prelu's weights (unused elsewhere)."""
    F = T.nn.functional
    return {
        # torch's backward op reads the input: the second derivative is a zero tensor
        "relu": lambda x, p: F.relu(x),
        "relu_method": lambda x, p: x.relu(),
        "relu_inplace": lambda x, p: F.relu(x * 1, inplace=True),
        "leaky_relu": lambda x, p: F.leaky_relu(x, 0.1),
        "hardtanh": lambda x, p: F.hardtanh(x, -2.0, 2.0),
        "relu6": lambda x, p: F.relu6(x),
        "threshold": lambda x, p: F.threshold(x, 1.0, -3.0),
        "hardshrink": lambda x, p: F.hardshrink(x, 1.0),
        "softshrink": lambda x, p: F.softshrink(x, 1.0),
        "rrelu_eval": lambda x, p: F.rrelu(x, training=False),
        "prelu": lambda x, p: F.prelu(x.view(3, 4), p),
        "abs": lambda x, p: x.abs(),
        "max_pool1d": lambda x, p: F.max_pool1d(x.view(1, 2, 6), 2),
        "adaptive_max_pool1d": lambda x, p: F.adaptive_max_pool1d(x.view(1, 2, 6), 4),
        "avg_pool1d": lambda x, p: F.avg_pool1d(x.view(1, 2, 6), 2),
        "adaptive_avg_pool2d": lambda x, p: F.adaptive_avg_pool2d(x.view(1, 3, 4), (2, 3)),
        "reflect_pad": lambda x, p: F.pad(x.view(1, 2, 6), (2, 1), mode="reflect"),
        "replicate_pad": lambda x, p: F.pad(x.view(1, 2, 6), (2, 1), mode="replicate"),
        "nll_loss": lambda x, p: F.nll_loss(x.view(3, 4), T.tensor([1, 3, 0])),
        # a real second derivative
        "hardswish": lambda x, p: F.hardswish(x),
        "relu_squared": lambda x, p: F.relu(x).pow(2),
        "smooth_l1_loss": lambda x, p: F.smooth_l1_loss(x, T.tensor(TARGET), beta=1.0),  # 1 / beta where x == target
        "huber_loss": lambda x, p: F.huber_loss(x, T.tensor(TARGET), delta=1.0),
        # composites in torch: the input's second derivative is None (the gradient does not require grad)
        "clamp": lambda x, p: x.clamp(-1.0, 1.0),
        "clamp_min": lambda x, p: x.clamp_min(0.5),
        "maximum": lambda x, p: T.maximum(x, T.full_like(x, 0.5)),
        "amax": lambda x, p: x.view(3, 4).amax(1),
        "max": lambda x, p: x.max(),
        "where": lambda x, p: T.where(x > 0, x, 0.1 * x),
        "sort": lambda x, p: x.sort().values,
        "floor": lambda x, p: x.floor(),
        "circular_pad": lambda x, p: F.pad(x.view(1, 2, 6), (2, 1), mode="circular"),
        # torch's backward op has no derivative: differentiating the gradient raises
        "hardsigmoid": lambda x, p: F.hardsigmoid(x),
        "multi_margin_loss": lambda x, p: F.multi_margin_loss(x.view(3, 4), T.tensor([1, 3, 0])),
        "multilabel_margin_loss": lambda x, p: F.multilabel_margin_loss(x.view(3, 4), T.tensor([[1, 3, -1, 0], [0, 2, 1, -1], [2, -1, 0, 0]])),
    }


def _weights(T: Any, like: Any) -> Any:
    """A weighting of every element, so that each one matters."""
    return T.tensor(np.linspace(0.5, 2.0, like.numel())).view(tuple(like.shape))


def _second_order(T: Any, case: str) -> tuple[Any, ...]:
    """The gradients (x, p) of a weighted sum of f, then those of a penalty on them (None where unused), or the error raised."""
    x = T.tensor(X.copy(), requires_grad=True)
    p = T.tensor(P.copy(), requires_grad=True)
    y = _cases(T)[case](x, p)
    first = T.autograd.grad((y * _weights(T, y)).sum(), (x, p), create_graph=True, allow_unused=True)
    tracked = [g for g in first if g is not None and g.requires_grad]
    if not tracked:
        return first, None
    penalty = sum((g * _weights(T, g)).sum().pow(2) for g in tracked)
    try:
        return first, T.autograd.grad(penalty, (x, p), allow_unused=True)
    except (RuntimeError, GraphcError) as error:
        return first, error


def _array(t: Any) -> np.ndarray:
    if not isinstance(t, torch.Tensor):
        return t.numpy()
    # torch's second derivative of abs is an unmaterialized ZeroTensor, which has no storage to read
    return np.zeros(tuple(t.shape)) if t._is_zerotensor() else t.detach().numpy()


@pytest.mark.parametrize("case", list(_cases(torch)))
def test_second_derivative_is_a_zero_tensor_or_none_as_torch(backend: str, case: str) -> None:
    theirs_first, theirs = _second_order(torch, case)
    ours_first, ours = _second_order(graphc, case)
    for g, t in zip(ours_first, theirs_first):
        assert (g is None) == (t is None)
        if t is not None:
            assert g.requires_grad == t.requires_grad, "the gradient's requires_grad differs from torch's"
            np.testing.assert_allclose(_array(g), _array(t), rtol=1e-12, atol=1e-12)
    if isinstance(theirs, Exception):
        backward_op = str(theirs).split("aten::")[1].split()[0]  # "derivative for aten::hardsigmoid_backward is not implemented"
        assert isinstance(ours, GraphcError) and f"{backward_op}: the derivative is not implemented" in str(ours), ours
        return
    assert (ours is None) == (theirs is None)
    for g, t in zip(ours or (), theirs or ()):
        assert (g is None) == (t is None), "a second derivative is None on one side only"
        if t is not None:
            np.testing.assert_allclose(_array(g), _array(t), rtol=1e-10, atol=1e-12)


KINKS = np.array([-1.0, -0.0, 0.0, 1.0, 2.0, -2.0])  # elu's and prelu's kink at exactly 0 (both signs)


def _higher_cases(T: Any) -> dict[str, Callable[[Any, Any], Any]]:
    """name -> f(x, p): x the six KINKS, p prelu's two weights."""
    F = T.nn.functional
    return {
        # torch's backward op reads the result: every further derivative is a zero that requires grad
        "relu": lambda x, p: F.relu(x),
        "relu_inplace": lambda x, p: F.relu(x * 1, inplace=True),
        "leaky_relu_inplace": lambda x, p: F.leaky_relu(x * 1, 0.1, inplace=True),
        "rrelu_eval_inplace": lambda x, p: F.rrelu(x * 1, training=False, inplace=True),
        # it reads the input: the second derivative is a zero that does not require grad
        "leaky_relu": lambda x, p: F.leaky_relu(x, 0.1),
        # elu_double_backward masks with x < 0, the first derivative takes x <= 0
        "elu": lambda x, p: F.elu(x, 1.5),
        "elu_inplace": lambda x, p: F.elu(x * 1, 1.5, inplace=True),
        "celu": lambda x, p: F.celu(x, 0.7),  # 1 / alpha from alpha in float32, as torch's
        "celu_inplace": lambda x, p: F.celu(x * 1, 0.7, inplace=True),
        "selu": lambda x, p: F.selu(x),
        "selu_inplace": lambda x, p: F.selu(x * 1, inplace=True),
        # prelu's double backward masks with x >= 0, its first derivative with x > 0
        "prelu": lambda x, p: F.prelu(x.view(3, 2), p),
    }


def _orders(T: Any, case: str, count: int = 3) -> list[tuple[Any, ...]]:
    """The gradients (x, p) of a weighted sum of f, then those of a penalty on the ones that require grad, ``count`` times."""
    x = T.tensor(KINKS.copy(), requires_grad=True)
    p = T.tensor(P[:2].copy(), requires_grad=True)
    y = _higher_cases(T)[case](x, p)
    out, orders = (y * _weights(T, y)).sum(), []
    for _ in range(count):
        orders.append(T.autograd.grad(out, (x, p), create_graph=True, allow_unused=True))
        tracked = [g for g in orders[-1] if g is not None and g.requires_grad]
        if not tracked:
            break
        out = sum((g * _weights(T, g)).sum().pow(2) for g in tracked)
    return orders


@pytest.mark.parametrize("case", list(_higher_cases(torch)))
def test_higher_derivatives_at_the_kinks_are_torchs_values_and_zero_tensors(backend: str, case: str) -> None:
    theirs, ours = _orders(torch, case), _orders(graphc, case)
    assert len(ours) == len(theirs), "a derivative requires grad on one side only"
    for order, (mine, expected) in enumerate(zip(ours, theirs), start=1):
        for g, t in zip(mine, expected):
            assert (g is None) == (t is None), f"order {order}: None on one side only"
            if t is not None:
                assert g.requires_grad == t.requires_grad, f"order {order}: requires_grad differs from torch's"
                np.testing.assert_allclose(_array(g), _array(t), rtol=1e-12, atol=1e-12, err_msg=f"order {order}")


_IMAGE = np.random.default_rng(5).standard_normal((1, 2, 3, 4))
_GRID = np.random.default_rng(6).uniform(-1.1, 1.1, (1, 2, 3, 2))


def _grid_sample_second_order(T: Any, mode: str, penalized: str, grid_requires_grad: bool) -> tuple[Any, ...]:
    """Whether each first gradient requires grad, then the second derivatives of a penalty on the chosen ones."""
    x = T.tensor(_IMAGE.copy(), requires_grad=True)
    grid = T.tensor(_GRID.copy(), requires_grad=grid_requires_grad)
    y = T.nn.functional.grid_sample(x, grid, mode=mode, align_corners=False)
    wrt = (x, grid) if grid_requires_grad else (x,)
    first = T.autograd.grad((y * y).sum(), wrt, create_graph=True)  # the incoming gradient 2y reads x too
    penalty = sum((g * g).sum() for g, name in zip(first, "xg") if name in penalized)
    return (*(g.requires_grad for g in first), *T.autograd.grad(penalty, wrt, allow_unused=True))


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_grid_sample_gradients_require_grad_and_give_none_or_zeros_as_torch(backend: str, mode: str) -> None:
    """torch's grid_sampler_2d_backward reads input and grid: its results require grad, with no derivative for
    the input (only the incoming gradient, here 2y, reaches it) and, in nearest mode, zeros for the grid."""
    for penalized, grid_requires_grad in (("x", False), ("x", True), ("g", True), ("xg", True)):
        ours = _grid_sample_second_order(graphc, mode, penalized, grid_requires_grad)
        theirs = _grid_sample_second_order(torch, mode, penalized, grid_requires_grad)
        for g, t in zip(ours, theirs):
            if isinstance(t, bool) or t is None:
                assert g == t if isinstance(t, bool) else g is None, (penalized, grid_requires_grad)
            else:
                assert g is not None, (penalized, grid_requires_grad)
                np.testing.assert_allclose(_array(g), _array(t), rtol=1e-10, atol=1e-12)


def _critics(seed: int = 0) -> tuple[Any, torch.nn.Module]:
    torch.manual_seed(seed)
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 1)).double()
    ours = graphc.nn.Sequential(graphc.nn.Linear(3, 5), graphc.nn.ReLU(), graphc.nn.Linear(5, 1)).double()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def _penalty(T: Any, critic: Any, x: Any) -> Any:
    """WGAN-GP's: ``(|d critic / dx| - 1)**2``, averaged over the batch."""
    grad = T.autograd.grad(critic(x).sum(), x, create_graph=True)[0]
    return (grad.norm(2, dim=1) - 1).pow(2).mean()


def test_gradient_penalty_through_a_relu_gives_the_input_and_first_bias_zero_grads(backend: str) -> None:
    ours, theirs = _critics()
    data = np.random.default_rng(1).standard_normal((4, 3))
    x, tx = graphc.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    _penalty(graphc, ours, x).backward()
    _penalty(torch, theirs, tx).backward()
    assert tx.grad is not None and not tx.grad.any() and x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        assert (p.grad is None) == (q.grad is None), name  # the last bias is not in the penalty: None in both
        if q.grad is not None:
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    assert not theirs[0].bias.grad.any() and theirs[0].weight.grad.any()


def test_compiled_step_with_a_gradient_penalty_and_sgd_momentum_matches_torch(backend: str) -> None:
    """StyleGAN2's lazy R1 step, the penalty alone: momentum and weight decay move the first bias, whose gradient
    is a zero tensor in torch (a None would leave it still), and leave the last one, whose gradient is None in both."""
    ours, theirs = _critics(seed=2)
    rng = np.random.default_rng(3)
    batches = [rng.standard_normal((4, 3)) for _ in range(3)]
    opt = graphc.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    topt = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)

    def step(T: Any, critic: Any, optimizer: Any, data: Any) -> Any:
        optimizer.zero_grad()
        x = data.detach().requires_grad_(True)
        loss = 10.0 * _penalty(T, critic, x)
        loss.backward()
        optimizer.step()
        return loss

    compiled = graphc.compile(lambda data: step(graphc, ours, opt, data))
    for data in batches:
        loss = compiled(graphc.tensor(data))
        expected = step(torch, theirs, topt, torch.tensor(data))
        np.testing.assert_allclose(loss.numpy(), expected.detach().numpy(), rtol=1e-10)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


def test_first_order_gradients_of_comparisons_and_relu_are_unchanged(backend: str) -> None:
    x, tx = graphc.tensor(X.copy(), requires_grad=True), torch.tensor(X.copy(), requires_grad=True)
    with pytest.raises(RuntimeError):
        (tx > 0).double().sum().backward()
    with pytest.raises(GraphcError, match="does not require grad"):
        (x > 0).double().sum().backward()
    assert not (x > 0).requires_grad
    g = graphc.autograd.grad(graphc.nn.functional.relu(x).sum(), x)[0]  # no create_graph: a plain value, as torch's
    t = torch.autograd.grad(torch.nn.functional.relu(tx).sum(), tx)[0]
    assert not g.requires_grad and not t.requires_grad
    np.testing.assert_array_equal(g.numpy(), t.numpy())
    graphc.nn.functional.leaky_relu(x, 0.2).sum().backward()
    torch.nn.functional.leaky_relu(tx, 0.2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
