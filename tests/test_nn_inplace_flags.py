"""``inplace=True`` of the activation and dropout functions and modules, against torch: the input
itself holds the result and is returned, gradients follow the new value, a leaf that requires
grad is refused; and ``vector_norm``'s gradient for ``ord=0`` and ``ord=±inf`` ties."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data
from nn_compare import compare_modules
from torch_grads import check_grads

import graphc
import graphc.nn as gnn

FUNCTIONS = [
    ("relu", ()),
    ("relu6", ()),
    ("elu", (0.7,)),
    ("celu", (0.5,)),  # torch's celu gradient rounds 1 / alpha to float32: 0.5 keeps it exact
    ("selu", ()),
    ("leaky_relu", (0.2,)),
    ("hardtanh", (-0.5, 0.8)),
    ("hardswish", ()),
    ("silu", ()),
    ("mish", ()),
    ("rrelu", (0.1, 0.3)),  # eval mode: the mean slope
    ("threshold", (0.1, -2.0)),
    ("dropout", (0.5, False)),  # not training: the input is returned untouched
]


@pytest.mark.parametrize("name, args", FUNCTIONS, ids=[n for n, _ in FUNCTIONS])
def test_inplace_flag_writes_the_input_and_returns_it_with_torchs_gradients(name: str, args: tuple) -> None:
    def fn(lib: Any, x: Any) -> Any:
        y = x * 4.0  # spans hardswish's bends at +-3
        out = getattr(lib.nn.functional, name)(y, *args, inplace=True)
        assert out is y
        return y

    check_grads(fn, data(3, 5, dtype="float64"))


def test_inplace_hardsigmoid_module_writes_the_input_with_torchs_gradient() -> None:
    """In place or not, the values and the float64 gradient (torch's float32 one sixth) are torch's."""
    x = data(3, 5, dtype="float64") * 4.0
    leaf = torch.tensor(x, requires_grad=True)
    theirs = leaf * 1.0
    expected = torch.nn.functional.hardsigmoid(theirs, inplace=True)
    (expected * torch.tensor(x)).sum().backward()
    grads = []
    for inplace in (True, False):
        w = graphc.tensor(x, requires_grad=True)
        y = w * 1.0
        out = gnn.Hardsigmoid(inplace=inplace)(y)
        assert (out is y) == inplace
        assert_matches(y if inplace else out, expected, rtol=1e-15, atol=0)
        (out * graphc.tensor(x)).sum().backward()
        grads.append(w.grad.numpy())
    np.testing.assert_array_equal(grads[0], leaf.grad.numpy())
    np.testing.assert_array_equal(grads[1], leaf.grad.numpy())
    assert 0 < np.count_nonzero(grads[0]) < grads[0].size


MODULES = [
    ("ReLU", ()),
    ("ReLU6", ()),
    ("ELU", (0.7,)),
    ("CELU", (0.5,)),
    ("SELU", ()),
    ("LeakyReLU", (0.2,)),
    ("Hardtanh", (-0.5, 0.8)),  # Hardsigmoid: test_inplace_hardsigmoid_module_...
    ("Hardswish", ()),
    ("SiLU", ()),
    ("Mish", ()),
    ("RReLU", (0.1, 0.3)),
    ("Threshold", (0.1, -2.0)),
]


@pytest.mark.parametrize("name, args", MODULES, ids=[n for n, _ in MODULES])
def test_inplace_module_after_a_linear_writes_its_input_with_torchs_gradients(name: str, args: tuple) -> None:
    ours = gnn.Sequential(gnn.Linear(4, 6), getattr(gnn, name)(*args, inplace=True))
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 6), getattr(torch.nn, name)(*args, inplace=True))
    ours.eval(), theirs.eval()  # RReLU's slope is drawn in training
    compare_modules(ours, theirs, [data(3, 4, dtype="float64") * 4])
    assert repr(ours) == repr(theirs)
    x = graphc.tensor(data(2, 6))
    assert ours[1](x) is x


def test_inplace_flag_on_each_backend(backend: str) -> None:
    x = data(2, 3)
    ours, theirs = graphc.tensor(x), torch.tensor(x)
    assert gnn.ELU(0.5, inplace=True)(ours) is ours
    torch.nn.ELU(0.5, inplace=True)(theirs)
    assert_matches(ours, theirs)
    view = ours[1]
    graphc.nn.functional.relu6(view * 8, inplace=True)  # a temporary: ours is unchanged
    graphc.nn.functional.hardswish(view, inplace=True)  # a view: ours[1] changes, as torch's
    torch.nn.functional.hardswish(theirs[1], inplace=True)
    assert_matches(ours, theirs)


@pytest.mark.parametrize("name, args", [("relu", ()), ("silu", ()), ("dropout", (0.5, True))])
def test_inplace_flag_refuses_a_leaf_that_requires_grad_as_torch(name: str, args: tuple) -> None:
    x = data(4, dtype="float64")
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        getattr(torch.nn.functional, name)(torch.tensor(x, requires_grad=True), *args, inplace=True)
    leaf = graphc.tensor(x, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf tensor that requires grad is being used in an in-place operation"):
        getattr(graphc.nn.functional, name)(leaf, *args, inplace=True)
    np.testing.assert_array_equal(leaf.detach().numpy(), x)


def test_inplace_dropout_in_eval_returns_a_leaf_untouched_as_torch() -> None:
    shapes = {"dropout": (3,), "dropout1d": (2, 3, 2), "dropout2d": (1, 2, 2, 2), "dropout3d": (1, 2, 1, 2, 2), "alpha_dropout": (3,)}
    for name in ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"):
        x = data(*shapes.get(name, (2, 3)), dtype="float64")
        theirs = torch.tensor(x, requires_grad=True)
        assert getattr(torch.nn.functional, name)(theirs, 0.5, False, True) is theirs
        ours = graphc.tensor(x, requires_grad=True)
        assert getattr(graphc.nn.functional, name)(ours, 0.5, False, True) is ours
        np.testing.assert_array_equal(ours.detach().numpy(), x)


DROPOUTS = [("Dropout", (4, 50)), ("Dropout1d", (4, 5, 6)), ("Dropout2d", (2, 6, 3, 3)), ("Dropout3d", (2, 6, 2, 2, 2))]


@pytest.mark.parametrize("name, shape", DROPOUTS, ids=[n for n, _ in DROPOUTS])
def test_inplace_dropout_in_training_writes_its_input_and_scales_the_gradient(name: str, shape: tuple) -> None:
    """torch's draws are not graphc's: each kept element is x / (1 - p) and its gradient 1 / (1 - p)
    (zero where dropped), whole channels for the Nd forms, which both libraries satisfy."""
    x = np.abs(data(*shape, dtype="float64")) + 0.5
    for lib in (graphc, torch):
        w = lib.tensor(x, requires_grad=True)
        y = w * 1.0
        assert getattr(lib.nn, name)(0.4, inplace=True)(y) is y
        y.sum().backward()
        kept = y.detach().numpy() != 0
        assert 0 < kept.sum() < kept.size
        np.testing.assert_allclose(y.detach().numpy()[kept], x[kept] / 0.6, rtol=1e-12)
        np.testing.assert_allclose(w.grad.numpy(), kept / 0.6, rtol=1e-12)
        if name != "Dropout":
            channels = kept.reshape(shape[0], shape[1], -1)
            assert (channels.all(axis=2) | ~channels.any(axis=2)).all()


def test_inplace_alpha_dropout_in_training_writes_its_input_with_an_affine_gradient() -> None:
    """Kept elements are ``a x + b`` (gradient a), dropped ones a constant (gradient 0), as torch's."""
    x = data(6, 40, dtype="float64")
    a = 1.0 / np.sqrt((1.7580993408473766**2 * 0.3 + 1) * 0.7)
    for lib in (graphc, torch):
        w = lib.tensor(x, requires_grad=True)
        y = w * 1.0
        assert lib.nn.functional.alpha_dropout(y, 0.3, True, inplace=True) is y
        y.sum().backward()
        kept = w.grad.numpy() != 0
        assert 0 < kept.sum() < kept.size
        np.testing.assert_allclose(w.grad.numpy()[kept], a, rtol=1e-12)
        shift = 1.7580993408473766 * a * 0.3
        np.testing.assert_allclose(y.detach().numpy()[kept], a * x[kept] + shift, rtol=1e-12)
        np.testing.assert_allclose(y.detach().numpy()[~kept], shift - 1.7580993408473766 * a, rtol=1e-12)


def _mlp(lib: Any) -> Any:
    return lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.ReLU(inplace=True), lib.nn.Linear(8, 2), lib.nn.Hardtanh(-0.3, 0.3, inplace=True))


def test_compiled_training_step_with_inplace_relu_matches_torch(backend: str) -> None:
    torch.manual_seed(0)
    theirs = _mlp(torch).double()
    ours = _mlp(graphc).double()
    ours.load_state_dict(copy.deepcopy(theirs.state_dict()))
    x, target = data(3, 4, dtype="float64"), data(3, 2, dtype="float64")
    opt_ours, opt_theirs = graphc.optim.SGD(ours.parameters(), lr=0.5), torch.optim.SGD(theirs.parameters(), lr=0.5)

    def step(inputs: graphc.Tensor, targets: graphc.Tensor) -> graphc.Tensor:
        opt_ours.zero_grad()
        loss = graphc.nn.functional.mse_loss(ours(inputs), targets)
        loss.backward()
        opt_ours.step()
        return loss

    compiled = graphc.compile(step)
    for _ in range(2):
        loss = compiled(graphc.tensor(x), graphc.tensor(target))
        opt_theirs.zero_grad()
        expected = torch.nn.functional.mse_loss(theirs(torch.tensor(x)), torch.tensor(target))
        expected.backward()
        opt_theirs.step()
        assert_matches(loss, expected, rtol=1e-12, atol=1e-14)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=name)


def test_compiled_inplace_flag_on_an_argument_writes_it_back_as_torch() -> None:
    x = data(2, 3, dtype="float64")
    ours, theirs = graphc.tensor(x), torch.tensor(x)
    compiled = graphc.compile(lambda t: graphc.nn.functional.leaky_relu(t, 0.1, inplace=True) * 2)
    assert_matches(compiled(ours), torch.nn.functional.leaky_relu(theirs, 0.1, inplace=True) * 2)
    assert_matches(ours, theirs)


# ------------------------------------------------------------------ vector_norm's gradient


def test_vector_norm_ord_0_requires_grad_and_leaves_x_without_a_gradient_as_torch(backend: str) -> None:
    """torch's result has a grad_fn whose backward gives x an undefined gradient (None), not zeros."""
    x = np.array([[1.5, 0.0, -2.0], [0.0, 0.0, 3.0]])
    for dim in (None, 1):
        ours, theirs = graphc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        got, expected = graphc.linalg.vector_norm(ours, 0, dim), torch.linalg.vector_norm(theirs, 0, dim)
        assert_matches(got, expected)
        assert got.requires_grad and expected.requires_grad
        got.sum().backward()
        expected.sum().backward()
        assert ours.grad is None and theirs.grad is None
    ours = graphc.tensor(x, requires_grad=True)
    with pytest.raises(RuntimeError, match="not have been used in the graph"):
        graphc.autograd.grad(graphc.linalg.vector_norm(ours, 0), ours)
    assert graphc.autograd.grad(graphc.linalg.vector_norm(ours, 0), ours, allow_unused=True) == (None,)
    check_grads(lambda lib, t: lib.linalg.vector_norm(t * 2, 0, 1) * t.sum(1), x)  # another path to x: torch's gradient


@pytest.mark.parametrize("ord", [float("inf"), float("-inf")], ids=["inf", "-inf"])
def test_vector_norm_inf_splits_the_gradient_among_ties_as_torch(ord: float) -> None:
    x = np.array([[3.0, -3.0, 1.0, 2.0], [-0.5, 2.0, 0.5, -2.0], [1.0, 1.0, -1.0, 1.0]])
    check_grads(lambda lib, t: lib.linalg.vector_norm(t, ord, 1), x)
    check_grads(lambda lib, t: lib.linalg.vector_norm(t, ord), x)


# ------------------------------------------------------------------ TransformerEncoder's enable_nested_tensor


def _encoders(enable_nested_tensor: bool, mask_check: bool = True) -> tuple:
    torch.manual_seed(0)
    options = {"dim_feedforward": 8, "dropout": 0.0, "batch_first": True}
    theirs = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(4, 2, **options), 2, enable_nested_tensor=enable_nested_tensor, mask_check=mask_check)
    ours = gnn.TransformerEncoder(gnn.TransformerEncoderLayer(4, 2, **options), 2, enable_nested_tensor=enable_nested_tensor, mask_check=mask_check)
    theirs.double().eval()
    ours.double().eval()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
@pytest.mark.parametrize("enable_nested_tensor, mask_check", [(True, True), (False, True), (True, False)])
def test_transformer_encoder_zeroes_padded_outputs_where_torchs_nested_tensor_path_does(enable_nested_tensor: bool, mask_check: bool) -> None:
    """torch's inference fast path (eval, no grad, batch_first, a padding mask) gives 0 at padded positions
    (and with ``mask_check=False`` takes an unaligned mask as if it were left aligned)."""
    ours, theirs = _encoders(enable_nested_tensor, mask_check)
    x = data(2, 3, 4, dtype="float64")
    aligned = np.array([[False, False, True], [False, False, False]])
    scattered = np.array([[True, False, False], [False, False, False]])  # not left aligned: mask_check refuses the path
    for padding in (aligned, scattered):
        with torch.no_grad():
            expected = theirs(torch.tensor(x), src_key_padding_mask=torch.tensor(padding))
        with graphc.no_grad():
            got = ours(graphc.tensor(x), src_key_padding_mask=graphc.tensor(padding))
        assert_matches(got, expected, rtol=1e-6, atol=1e-6)  # torch's fused fast-path kernels round differently
        nested = enable_nested_tensor and (padding is aligned or not mask_check)
        # the nested tensor keeps each row's first n positions, n its count of unpadded ones, even where unaligned
        left_aligned = np.arange(3) >= (~padding).sum(1, keepdims=True)
        np.testing.assert_array_equal((expected.numpy() == 0).all(-1), left_aligned if nested else np.zeros_like(padding))
    with_grad = ours(graphc.tensor(x), src_key_padding_mask=graphc.tensor(aligned))  # parameters require grad: no fast path
    assert_matches(with_grad, theirs(torch.tensor(x), src_key_padding_mask=torch.tensor(aligned)), rtol=1e-10, atol=1e-12)
    assert not (with_grad.detach().numpy()[aligned] == 0).any()


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
def test_compiled_transformer_encoder_takes_torchs_nested_tensor_path_without_a_mask_check() -> None:
    """Under graphc.compile the mask's values are not read: with ``mask_check=False`` the path needs none."""
    ours, theirs = _encoders(True, mask_check=False)
    x, padding = data(2, 3, 4, dtype="float64"), np.array([[False, True, True], [False, False, False]])
    with torch.no_grad():
        expected = theirs(torch.tensor(x), src_key_padding_mask=torch.tensor(padding))
    with graphc.no_grad():
        got = graphc.compile(lambda t, m: ours(t, src_key_padding_mask=m))(graphc.tensor(x), graphc.tensor(padding))
    assert_matches(got, expected, rtol=1e-6, atol=1e-6)
    assert (expected.numpy()[padding] == 0).all()


# ------------------------------------------------------------------ device= and requires_grad= arguments


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal of CUDA where there is none")
def test_device_arguments_place_prelu_lazy_placeholders_and_masks_as_linear_does() -> None:
    """``device="cuda"`` was dropped by these (a CPU tensor); it is refused on a machine without CUDA, as for ``Linear``."""
    for make in (
        lambda: gnn.Linear(2, 2, device="cuda"),
        lambda: gnn.PReLU(device="cuda"),
        lambda: gnn.UninitializedParameter(device="cuda"),
        lambda: gnn.UninitializedBuffer(device="cuda"),
        lambda: gnn.Transformer.generate_square_subsequent_mask(3, device="cuda"),
    ):
        with pytest.raises(graphc.GraphcError, match="CUDA is not available"):
            make()
    assert_matches(gnn.Transformer.generate_square_subsequent_mask(3, device="cpu"), torch.nn.Transformer.generate_square_subsequent_mask(3, device="cpu"))
    compare_modules(gnn.PReLU(3, 0.1, device="cpu"), torch.nn.PReLU(3, 0.1, device="cpu"), [data(2, 3, 4, dtype="float64")])


def test_uninitialized_buffer_keeps_requires_grad_as_torch() -> None:
    for lib in (graphc, torch):
        buffer = lib.nn.UninitializedBuffer(requires_grad=True)
        buffer.materialize((2, 3))
        assert buffer.requires_grad and tuple(buffer.shape) == (2, 3)


def test_dropout_with_p_1_is_the_input_times_zero_with_a_zero_gradient_as_torch() -> None:
    x = np.array([1.5, -2.0, np.inf, 0.0])
    check_grads(lambda lib, t: lib.nn.functional.dropout(t, 1.0), x)
    check_grads(lambda lib, t: lib.nn.functional.dropout(t * 1.0, 1.0, inplace=True), x)
