"""Whole CNNs (tests/model_zoo_cnn.py) through graphc against eager torch, in float64.

Three paths per model: a compiled graphc.nn training step (forward, cross-entropy,
backward, optimizer step in one ``graphc.compile``) against torch's training loop, then
the trained models in eval mode; ``graphc.compile(torch_module)`` against eager in train
and eval mode, and in train mode on channels-last tensors (outputs, parameter and input
gradients, BN running statistics); and one tiny ResNet on the Triton backend.

Cost: compiling a whole model's training step takes seconds, and its C loops a C build of
another 5-25 s on a cold cache. The default suite runs the cases in DEFAULT, without the
C loops (the NumPy code they would replace is what runs); ``-m slow`` runs every model
on every path with the C loops on, as a user's compile has them.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
from model_zoo_cnn import SEGMENTATION, ZOO, build, same_weights

import graphc

RTOL, ATOL = 1e-10, 1e-12
CLASSES = {name: 3 if name in SEGMENTATION else 10 for name in ZOO}
# SGD with momentum where a BN's shift feeds a conv and a BN with no nonlinearity between
# (MobileNetV2's and EfficientNet's projections): the next BN removes any constant, so that
# shift's gradient is rounding noise, which Adam's normalization would blow up to a step of
# lr whose sign is the noise's. AdamW for the models without such a path.
OPTIMIZERS: dict[str, tuple[str, dict]] = {
    "resnet": ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4}),
    "mobilenet_v2": ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4}),
    "efficientnet": ("SGD", {"lr": 0.1, "momentum": 0.9}),
    "densenet": ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    "unet": ("AdamW", {"lr": 1e-2}),
    "vgg": ("AdamW", {"lr": 1e-3, "weight_decay": 1e-2}),
}


# The cases of the default suite (test id suffixes), chosen to cover every model once and
# the paths that found bugs: the importer's 1x1 conv after pooling or upsampling (U-Net,
# EfficientNet's squeeze-excitation) and the as_strided of a channels-last flatten.
DEFAULT = {"resnet", "mobilenet_v2", "efficientnet", "densenet", "vgg", "unet-train", "efficientnet-channels_last"}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread(one_torch_thread: None) -> None:
    """Eager torch on one thread: the machine's cores are shared."""


@pytest.fixture(autouse=True)
def _c_loops_only_when_slow(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if request.node.get_closest_marker("slow") is None:
        monkeypatch.setenv("GRAPHC_NATIVE", "0")


def slow_unless_default(case: str) -> tuple:
    return () if case in DEFAULT else (pytest.mark.slow,)


def batch(name: str, size: int = 2, side: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and class labels (per pixel for a segmentation model)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((size, 3, side, side))
    label_shape = (size, side, side) if name in SEGMENTATION else (size,)
    return x, rng.integers(0, CLASSES[name], label_shape)


def assert_close(got: Any, want: torch.Tensor, what: str) -> None:
    got = got.numpy() if isinstance(got, graphc.Tensor) else got.detach().numpy()
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg=what)


def assert_same_state(g_model: Any, t_model: torch.nn.Module) -> None:
    """Every parameter and buffer (BN running statistics, batch counts) equals torch's."""
    g_state = g_model.state_dict()
    assert list(g_state) == list(t_model.state_dict())
    for key, value in t_model.state_dict().items():
        if value.dtype.is_floating_point:
            assert_close(g_state[key], value, key)
        else:
            np.testing.assert_array_equal(g_state[key].numpy(), value.numpy(), err_msg=key)


def set_dropout(model: Any, nn: Any, p: float) -> None:
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = p


TRAINING_CASES = [pytest.param(name, True, id=name, marks=slow_unless_default(name)) for name in ZOO]
TRAINING_CASES.append(pytest.param("resnet", False, id="resnet-unfused", marks=pytest.mark.slow))
IMPORT_CASES = [
    pytest.param(name, mode, id=f"{name}-{mode}", marks=slow_unless_default(f"{name}-{mode}")) for name in ZOO for mode in ("train", "eval", "channels_last")
]


@pytest.mark.parametrize(("name", "fusion"), TRAINING_CASES)
def test_compiled_training_steps_match_torch_then_eval(name: str, fusion: bool) -> None:
    # Dropout off while training (torch and graphc draw different masks), on again for eval, where it is the identity.
    t_model, g_model = same_weights(name, dropout=0.0)
    kind, options = OPTIMIZERS[name]
    t_opt = getattr(torch.optim, kind)(t_model.parameters(), **options)
    g_opt = getattr(graphc.optim, kind)(g_model.parameters(), **options)
    criterion = graphc.nn.functional.cross_entropy

    def train_step(x: graphc.Tensor, y: graphc.Tensor) -> graphc.Tensor:
        g_opt.zero_grad(set_to_none=True)
        loss = criterion(g_model(x), y)
        loss.backward()
        g_opt.step()
        return loss

    step = graphc.compile(train_step, fusion=fusion)
    x, y = batch(name)
    # A call that creates the optimizer's state runs eagerly; three steps make the last two run one compiled program.
    traces = []
    for i in range(3):
        t_opt.zero_grad(set_to_none=True)
        expected = torch.nn.functional.cross_entropy(t_model(torch.tensor(x)), torch.tensor(y))
        expected.backward()
        t_opt.step()
        assert_close(step(graphc.tensor(x), graphc.tensor(y)), expected, f"loss of step {i}")
        traces.append(step.trace_count)
    assert traces[1] == traces[2], step.recompilations
    assert_same_state(g_model, t_model)

    t_model.eval()
    g_model.eval()
    set_dropout(t_model, torch.nn, 0.5)
    set_dropout(g_model, graphc.nn, 0.5)
    with torch.no_grad():
        expected = t_model(torch.tensor(x))
    assert_close(graphc.compile(g_model, fusion=fusion)(graphc.tensor(x)), expected, "eval output")


@pytest.mark.parametrize(("name", "mode"), IMPORT_CASES)
def test_imported_torch_model_matches_eager(name: str, mode: str) -> None:
    # channels_last: the train-mode model and its input in that memory format (torch.export then emits as_strided).
    training = mode != "eval"
    layout = torch.channels_last if mode == "channels_last" else torch.contiguous_format
    torch.manual_seed(0)
    eager = build(name, torch.nn, dropout=0.0 if training else None).double().train(training).to(memory_format=layout)
    mine = copy.deepcopy(eager)
    compiled = graphc.compile(mine)
    x, _ = batch(name)
    inputs = [torch.tensor(x).to(memory_format=layout).requires_grad_(True) for _ in range(2)]
    outputs = [model(t) for model, t in zip((eager, compiled), inputs)]
    assert_close(outputs[1], outputs[0], "output")
    weights = torch.tensor(np.random.default_rng(6).standard_normal(tuple(outputs[0].shape)))
    for out in outputs:
        (out * weights).sum().backward()
    assert_close(inputs[1].grad, inputs[0].grad, "input gradient")
    for (key, p), (_, q) in zip(mine.named_parameters(), eager.named_parameters()):
        assert_close(p.grad, q.grad, f"gradient of {key}")
    for (key, b), (_, c) in zip(mine.named_buffers(), eager.named_buffers()):
        if c.dtype.is_floating_point:
            assert_close(b, c, key)
        else:
            assert torch.equal(b, c), key


def test_tiny_resnet_forward_and_backward_on_triton() -> None:
    pytest.importorskip("triton")
    t_model, g_model = same_weights("resnet")
    x, y = batch("resnet", size=1, side=8)
    t_x = torch.tensor(x, requires_grad=True)
    g_x = graphc.tensor(x, requires_grad=True)
    weights = np.random.default_rng(6).standard_normal((1, 10))

    def forward_backward(data: graphc.Tensor, w: graphc.Tensor) -> graphc.Tensor:
        out = g_model(data)
        (out * w).sum().backward()
        return out

    t_out = t_model(t_x)
    (t_out * torch.tensor(weights)).sum().backward()
    g_out = graphc.compile(forward_backward, backend="triton")(g_x, graphc.tensor(weights))
    assert_close(g_out, t_out, "output")
    assert_close(g_x.grad, t_x.grad, "input gradient")
    for (key, p), (_, q) in zip(g_model.named_parameters(), t_model.named_parameters()):
        assert_close(p.grad, q.grad, f"gradient of {key}")
    assert_same_state(g_model, t_model)
