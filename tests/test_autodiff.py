"""Gradients of every primitive and composite op against torch.autograd, in float64."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import graphc
from graphc.errors import GraphcError
from graphc.ir.registry import emit

# Every test here runs on each backend (numpy, and triton under TRITON_INTERPRET=1 on a CPU).
pytestmark = pytest.mark.usefixtures("backend", "fusion")

rng = np.random.default_rng(1234)


def check_grads(fn: Callable, torch_fn: Callable | None, *arrays: np.ndarray, rtol: float = 1e-9, atol: float = 1e-10) -> None:
    """Run fn on graphc and torch_fn on torch with the same float64 data and a random cotangent."""
    torch_fn = torch_fn or fn
    xs = [graphc.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    expected = torch_fn(*ts)
    assert tuple(out.shape) == tuple(expected.shape)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=rtol, atol=atol)
    cotangent = rng.standard_normal(tuple(expected.shape))
    (out * graphc.tensor(cotangent)).sum().backward()
    (expected * torch.tensor(cotangent)).sum().backward()
    for x, t in zip(xs, ts):
        assert x.grad is not None, "graphc produced no gradient"
        assert x.grad.dtype == graphc.float64
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol)


def randn(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


def positive(*shape: int) -> np.ndarray:
    return rng.uniform(0.5, 2.0, shape)


UNARY = {
    "neg": (lambda x: -x, randn),
    "exp": (lambda x: x.exp(), randn),
    "log": (lambda x: x.log(), positive),
    "log1p": (lambda x: x.log1p(), positive),
    "sqrt": (lambda x: x.sqrt(), positive),
    "rsqrt": (lambda x: x.rsqrt(), positive),
    "sin": (lambda x: x.sin(), randn),
    "cos": (lambda x: x.cos(), randn),
    "tanh": (lambda x: x.tanh(), randn),
    "erf": (lambda x: x.erf(), randn),
    "abs": (lambda x: x.abs(), randn),
    "sigmoid": (lambda x: x.sigmoid(), randn),
    "reciprocal": (lambda x: x.reciprocal(), positive),
    "relu": (lambda x: x.relu(), randn),
    "square": (lambda x: x * x, randn),
    "pow_scalar": (lambda x: x**3, randn),
    "rpow": (lambda x: 2.0**x, randn),
    "floor": (lambda x: x.floor(), randn),
    "ceil": (lambda x: x.ceil(), randn),
    "round": (lambda x: x.round(), randn),
    "round_decimals": (lambda x: x.round(decimals=1), randn),
    "trunc": (lambda x: x.trunc(), randn),
    "frac": (lambda x: x.frac(), randn),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradient_matches_torch(name: str) -> None:
    fn, make = UNARY[name]
    check_grads(fn, None, make(3, 4))


@pytest.mark.parametrize(
    "fn",
    [lambda x: x**0, lambda x: x**0.0, lambda x: x**x, lambda x: x ** (x * 0)],
    ids=["int", "float", "self", "tensor"],
)
def test_pow_gradient_is_zero_where_the_exponent_is_zero_like_torch(fn: Callable) -> None:
    """torch masks exponent 0: the formula y * x**(y - 1) is 0 * inf = nan at x = 0."""
    check_grads(fn, None, np.array([[0.0, 2.0], [-1.5, 0.0]]))


@pytest.mark.parametrize("kwargs", [{"dim": 1}, {"dim": 1, "keepdim": True, "correction": 0}, {}], ids=["dim", "keepdim", "all"])
def test_std_gradient_is_zero_where_the_deviation_is_zero_like_torch(kwargs: dict) -> None:
    rows = np.array([[1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    check_grads(lambda x: x.std(**kwargs), None, rows if kwargs else np.ones((2, 3)))


def test_relu_gradient_at_zero_is_zero_like_torch() -> None:
    check_grads(lambda x: x.relu(), None, np.array([-1.0, 0.0, 2.0]))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradient_matches_torch(approximate: str) -> None:
    from graphc.frontend import functional as F

    check_grads(lambda x: F.gelu(x, approximate), lambda t: TF.gelu(t, approximate=approximate), randn(5, 3))


def test_silu_and_softplus_gradients_match_torch() -> None:
    from graphc.frontend import functional as F

    check_grads(F.silu, TF.silu, randn(4, 3))
    check_grads(F.softplus, TF.softplus, randn(4, 3) * 10)


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "maximum": lambda a, b: a.maximum(b) if isinstance(a, graphc.Tensor) else torch.maximum(a, b),
    "minimum": lambda a, b: a.minimum(b) if isinstance(a, graphc.Tensor) else torch.minimum(a, b),
    "remainder": lambda a, b: a % b,
    "fmod": lambda a, b: a.fmod(b),
    "div_floor": lambda a, b: a.div(b, rounding_mode="floor"),
    "div_trunc": lambda a, b: a.div(b, rounding_mode="trunc"),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((), (2, 2))])
def test_binary_gradient_with_broadcasting_matches_torch(name: str, shapes: tuple) -> None:
    fn = BINARY[name]
    check_grads(fn, None, randn(*shapes[0]), positive(*shapes[1]))


def test_pow_gradient_for_base_and_exponent_matches_torch() -> None:
    check_grads(lambda a, b: a**b, None, positive(3, 4), randn(3, 4))


def test_maximum_splits_gradient_on_ties_like_torch() -> None:
    a = np.array([1.0, 2.0, 3.0])
    check_grads(lambda x, y: x.maximum(y), lambda x, y: torch.maximum(x, y), a, np.array([1.0, 0.0, 3.0]))


def test_where_and_clamp_gradients_match_torch() -> None:
    x = np.array([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0])
    check_grads(lambda t: t.clamp(-1.0, 1.0), None, x)
    check_grads(lambda t: t.clamp(min=0.0), None, x)
    cond = x > 0
    check_grads(lambda a, b: graphc.where(graphc.tensor(cond), a, b), lambda a, b: torch.where(torch.tensor(cond), a, b), randn(6), randn(6))


REDUCTIONS = {
    "sum": lambda x: x.sum(),
    "sum_dim": lambda x: x.sum(1),
    "sum_keepdim": lambda x: x.sum((0, 2), keepdim=True),
    "mean": lambda x: x.mean(-1),
    "var": lambda x: x.var(1),
    "var_biased": lambda x: x.var(0, unbiased=False),
    "std": lambda x: x.std(2, keepdim=True),
    "amax": lambda x: x.amax(1),
    "max_all": lambda x: x.max(),
    "max_dim": lambda x: x.max(1)[0],
    "min_dim_keepdim": lambda x: x.min(2, keepdim=True)[0],
    "logsumexp": lambda x: x.logsumexp(1),
    "softmax": lambda x: x.softmax(-1),
    "log_softmax": lambda x: x.log_softmax(1),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_gradient_matches_torch(name: str) -> None:
    check_grads(REDUCTIONS[name], None, randn(2, 3, 4))


def test_max_gradient_with_ties_matches_torch() -> None:
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    check_grads(lambda t: t.amax(1), None, x)
    check_grads(lambda t: t.max(), None, x)
    check_grads(lambda t: t.max(1)[0], None, x)


MOVEMENT = {
    "reshape": lambda x: x.reshape(4, -1),
    "permute": lambda x: x.permute(2, 0, 1),
    "transpose": lambda x: x.transpose(0, 2),
    "expand": lambda x: x[:, :1].expand(2, 5, 4),
    "slice_step": lambda x: x[:, 1::2, ::3],
    "index_int": lambda x: x[1, :, 2],
    "index_none_ellipsis": lambda x: x[None, ..., 1],
    "flatten": lambda x: x.flatten(1),
    "squeeze_unsqueeze": lambda x: x[:, :1].squeeze(1).unsqueeze(0),
    "split": lambda x: x.split(2, dim=1)[1],
    "chunk": lambda x: x.chunk(2, dim=2)[0],
}


@pytest.mark.parametrize("name", sorted(MOVEMENT))
def test_movement_gradient_matches_torch(name: str) -> None:
    check_grads(MOVEMENT[name], None, randn(2, 5, 4))


def test_cat_and_stack_gradients_match_torch() -> None:
    check_grads(lambda a, b: graphc.cat([a, b], 1), lambda a, b: torch.cat([a, b], 1), randn(2, 3), randn(2, 5))
    check_grads(lambda a, b: graphc.stack([a, b], 2), lambda a, b: torch.stack([a, b], 2), randn(2, 3), randn(2, 3))


def test_pad_gradient_matches_torch() -> None:
    from graphc.frontend import functional as F

    check_grads(lambda x: F.pad(x, (1, 2, 0, 1), value=0.5), lambda t: TF.pad(t, (1, 2, 0, 1), value=0.5), randn(2, 3, 4))


def test_indexing_gradients_match_torch() -> None:
    idx = np.array([[0, 2, 1], [1, 1, 0]])
    check_grads(lambda x: x.gather(1, graphc.tensor(idx)), lambda t: t.gather(1, torch.tensor(idx)), randn(2, 4))
    rows = np.array([2, 0, 2])
    check_grads(lambda x: x.index_select(0, graphc.tensor(rows)), lambda t: t.index_select(0, torch.tensor(rows)), randn(3, 4))
    check_grads(lambda x: x[graphc.tensor(rows)], lambda t: t[torch.tensor(rows)], randn(3, 4))
    src_idx = np.array([[0, 1, 0], [2, 2, 1]])
    check_grads(
        lambda x, s: x.scatter_add(0, graphc.tensor(src_idx), s),
        lambda x, s: x.scatter_add(0, torch.tensor(src_idx), s),
        randn(3, 3),
        randn(2, 3),
    )


@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((4,), (4, 2)), ((3, 4), (4,)), ((2, 1, 3, 4), (5, 4, 2))])
def test_matmul_gradient_matches_torch(shapes: tuple) -> None:
    check_grads(lambda a, b: a @ b, None, randn(*shapes[0]), randn(*shapes[1]))


def test_unfold_and_fold_gradients_match_torch() -> None:
    def unfold(x: graphc.Tensor) -> graphc.Tensor:
        node = emit("unfold", x._node, kernel_size=(2, 3), dilation=(1, 2), padding=(1, 0), stride=(2, 1), pad_value=0.0)
        return graphc.Tensor._from_node(node)

    check_grads(unfold, lambda t: TF.unfold(t, (2, 3), dilation=(1, 2), padding=(1, 0), stride=(2, 1)), randn(2, 3, 5, 7))

    def fold(x: graphc.Tensor) -> graphc.Tensor:
        node = emit("fold", x._node, output_size=(5, 7), kernel_size=(2, 3), dilation=(1, 2), padding=(1, 0), stride=(2, 1))
        return graphc.Tensor._from_node(node)

    blocks = TF.unfold(torch.zeros(2, 3, 5, 7), (2, 3), dilation=(1, 2), padding=(1, 0), stride=(2, 1)).shape[-1]
    check_grads(fold, lambda t: TF.fold(t, (5, 7), (2, 3), dilation=(1, 2), padding=(1, 0), stride=(2, 1)), randn(2, 18, blocks))


def test_cumsum_gradient_matches_torch() -> None:
    check_grads(lambda x: x.cumsum(1), None, randn(3, 5))


def test_fan_out_sums_gradients() -> None:
    check_grads(lambda x: x * x.sin() + x.exp() * x, None, randn(4))


def test_second_derivative_matches_torch() -> None:
    data = randn(5)
    x = graphc.tensor(data, requires_grad=True)
    t = torch.tensor(data, requires_grad=True)
    (gx,) = graphc.autograd.grad((x.tanh() * x).sum(), [x], create_graph=True)
    (gt,) = torch.autograd.grad((t.tanh() * t).sum(), [t], create_graph=True)
    np.testing.assert_allclose(gx.numpy(), gt.detach().numpy(), rtol=1e-12)
    (hx,) = graphc.autograd.grad(gx.sum(), [x])
    (ht,) = torch.autograd.grad(gt.sum(), [t])
    np.testing.assert_allclose(hx.numpy(), ht.numpy(), rtol=1e-10)


def test_hessian_vector_product_of_matmul_model_matches_torch() -> None:
    w0, xs, v = randn(3, 2), randn(4, 3), randn(3, 2)
    w = graphc.tensor(w0, requires_grad=True)
    tw = torch.tensor(w0, requires_grad=True)
    (g,) = graphc.autograd.grad(((graphc.tensor(xs) @ w).tanh() ** 2).sum(), [w], create_graph=True)
    (tg,) = torch.autograd.grad(((torch.tensor(xs) @ tw).tanh() ** 2).sum(), [tw], create_graph=True)
    (hv,) = graphc.autograd.grad((g * graphc.tensor(v)).sum(), [w])
    (thv,) = torch.autograd.grad((tg * torch.tensor(v)).sum(), [tw])
    np.testing.assert_allclose(hv.numpy(), thv.numpy(), rtol=1e-10)


def test_grad_accumulates_across_backward_calls() -> None:
    x = graphc.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])


def test_backward_with_explicit_gradient_and_non_scalar_error() -> None:
    x = graphc.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    with pytest.raises(GraphcError, match="scalar outputs"):
        y.backward()
    y.backward(graphc.tensor([1.0, 0.5, 0.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 1.0, 0.0])


def test_no_grad_and_detach_stop_gradients() -> None:
    x = graphc.tensor([1.0, 2.0], requires_grad=True)
    with graphc.no_grad():
        y = x * 2
    assert not y.requires_grad
    z = (x.detach() * x).sum()
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 2.0])


def test_autograd_grad_with_grad_outputs_and_unused_inputs() -> None:
    x = graphc.tensor([1.0, 2.0], requires_grad=True)
    unused = graphc.tensor([5.0], requires_grad=True)
    (g,) = graphc.autograd.grad(x * x, [x], grad_outputs=[graphc.tensor([1.0, 10.0])])
    np.testing.assert_allclose(g.numpy(), [2.0, 40.0])
    with pytest.raises(GraphcError, match="allow_unused"):
        graphc.autograd.grad((x * 2).sum(), [x, unused])
    grads = graphc.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert grads[1] is None


def test_logistic_regression_gradients_match_the_tutorial() -> None:
    """The classic autograd example (y=1, x1=1.1, w1=2.2, b=0): dL/dw1 = -0.0898 and dL/db = -0.0817."""
    y, x1 = torch.tensor([1.0]), torch.tensor([1.1])
    w1 = torch.tensor([2.2], requires_grad=True)
    b = torch.tensor([0.0], requires_grad=True)
    torch_grads = torch.autograd.grad(TF.binary_cross_entropy(torch.sigmoid(x1 * w1 + b), y), [w1, b])
    g_w1 = graphc.tensor([2.2], requires_grad=True)
    g_b = graphc.tensor([0.0], requires_grad=True)
    g_a = (graphc.tensor([1.1]) * g_w1 + g_b).sigmoid()
    g_y = graphc.tensor([1.0])
    loss = -(g_y * g_a.log() + (1 - g_y) * (1 - g_a).log()).mean()
    grads = graphc.autograd.grad(loss, [g_w1, g_b])
    for mine, theirs in zip(grads, torch_grads):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-5)
    assert round(grads[0].item(), 4) == -0.0898
    assert round(grads[1].item(), 4) == -0.0817


def test_integer_and_bool_results_do_not_require_grad() -> None:
    """Found by the fuzzer (seed 1004): a cast to int64 or bool, a comparison, max's indices and
    integer ops on them required grad when their input did (torch's do not), so a loss computed
    from them was accepted by backward() and the values disagreed with torch's requires_grad."""
    values = np.array([[1.5, -2.0], [0.25, 3.0]])
    g, t = graphc.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    cases = [lambda x: x.long(), lambda x: x.bool(), lambda x: x > 0, lambda x: x.max(0)[1], lambda x: x.long() + 1, lambda x: x.long().cumsum(0)]
    for case in cases:
        assert case(g).requires_grad is case(t).requires_grad is False
    assert (g.long() * 2.0).requires_grad is (t.long() * 2.0).requires_grad is False
    with pytest.raises(GraphcError, match="does not require grad"):
        (g.long() * 2.0).sum().backward()
