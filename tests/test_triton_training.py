"""The seed models train on the Triton backend (interpreter on a CPU) exactly as on the NumPy backend."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import graphc
from graphc import nn, optim

RNG = np.random.default_rng(7)


class LSTMClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(6, 8, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x: graphc.Tensor) -> graphc.Tensor:
        output, _ = self.lstm(x)
        return self.head(output[:, -1, :])


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(50, 30), nn.ReLU(), nn.Linear(30, 20), nn.ReLU(), nn.Linear(20, 3))


def lenet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 3),
    )  # fmt: skip


MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "mlp": (mlp, (8, 50)),
    "lenet": (lenet, (2, 1, 28, 28)),
    "lstm": (LSTMClassifier, (4, 5, 6)),
}


def seed_training(name: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """Inputs, labels and initial weights of a seed model: the same in every test comparing two ways to train it."""
    build, shape = MODELS[name]
    rng = np.random.default_rng(3)
    inputs, labels = rng.standard_normal(shape).astype(np.float32), rng.integers(0, 3, shape[0])
    graphc.manual_seed(0)
    return inputs, labels, build().state_dict()


def train_three_steps(name: str, inputs: np.ndarray, labels: np.ndarray, initial: dict, backend: str) -> tuple[list[float], dict[str, np.ndarray]]:
    """Three compiled Adam steps of a seed model from ``initial``: the losses and the trained weights."""
    model = MODELS[name][0]()
    model.load_state_dict(initial)
    opt = optim.Adam(model.parameters(), lr=0.01)
    criterion = nn.CrossEntropyLoss()

    def step(x: graphc.Tensor, y: graphc.Tensor) -> graphc.Tensor:
        opt.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        return loss

    compiled = graphc.compile(step, backend=backend)
    losses = [compiled(graphc.tensor(inputs), graphc.tensor(labels)).item() for _ in range(3)]
    assert compiled.report().backend == backend
    return losses, {k: v.numpy().copy() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_seed_model_trains_the_same_on_triton_and_numpy(name: str) -> None:
    build, shape = MODELS[name]
    inputs = RNG.standard_normal(shape).astype(np.float32)
    labels = RNG.integers(0, 3, shape[0])
    graphc.manual_seed(0)
    initial = build().state_dict()
    triton_losses, triton_state = train_three_steps(name, inputs, labels, initial, "triton")
    numpy_losses, numpy_state = train_three_steps(name, inputs, labels, initial, "numpy")
    np.testing.assert_allclose(triton_losses, numpy_losses, rtol=1e-5)
    assert triton_losses[-1] < triton_losses[0]
    for key, value in numpy_state.items():
        np.testing.assert_allclose(triton_state[key], value, rtol=1e-4, atol=1e-5, err_msg=key)


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs CUDA data")
def test_an_argumentless_adam_step_over_cuda_parameters_runs_on_the_gpu() -> None:
    """The step's only data are the parameters and moments it reads: they are on CUDA, so the
    program is Triton's and they stay there (compiled for NumPy they moved to the CPU)."""
    import torch

    start, grad = RNG.standard_normal(1000).astype(np.float32), RNG.standard_normal(1000).astype(np.float32)
    param = nn.Parameter(graphc.from_numpy(start).to("cuda"))
    grad_on_gpu = graphc.from_numpy(grad).to("cuda")
    opt = optim.Adam([param], lr=1e-2)
    reference = torch.nn.Parameter(torch.from_numpy(start).cuda())
    reference.grad = torch.from_numpy(grad).cuda()
    torch_opt = torch.optim.Adam([reference], lr=1e-2)

    def update() -> None:
        param.grad = grad_on_gpu
        opt.step()

    compiled = graphc.compile(update)
    for _ in range(4):
        compiled()
        torch_opt.step()
    assert compiled.report().backend == "triton"
    assert param.device == "cuda" and all(t.device == "cuda" for t in opt.state[param].values())
    np.testing.assert_allclose(param.numpy(), reference.detach().cpu().numpy(), rtol=1e-5, atol=1e-6)
