"""The tutorial programs in examples/ run on graphc and give the numbers the tutorials print.

Each example is imported from its file and its ``main()`` run (they are scripts, not a
package). The numbers that the PyTorch tutorials show are checked against torch itself
where torch can compute them, so a test fails if either side drifts.
"""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType

import pytest
import torch

import graphc

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", os.path.join(EXAMPLES, f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_logistic_regression_example_prints_torchs_gradients(capsys: pytest.CaptureFixture[str]) -> None:
    grad_w1, grad_b = load_example("logistic_regression").main()
    y, x1 = torch.tensor([1.0]), torch.tensor([1.1])
    w1 = torch.tensor([2.2], requires_grad=True)
    b = torch.tensor([0.0], requires_grad=True)
    loss = torch.nn.functional.binary_cross_entropy(torch.sigmoid(x1 * w1 + b), y)
    torch_w1, torch_b = torch.autograd.grad(loss, [w1, b])
    assert grad_w1 == pytest.approx(torch_w1.item(), rel=1e-6)
    assert grad_b == pytest.approx(torch_b.item(), rel=1e-6)
    assert "dL/dw1 -0.0898  dL/db -0.0817" in capsys.readouterr().out


def test_mlp_example_has_2213_parameters_and_torchs_repr(capsys: pytest.CaptureFixture[str]) -> None:
    example = load_example("mlp")
    assert example.main() == 2213
    printed = capsys.readouterr().out
    assert "Total number of trainable model parameters: 2213" in printed

    class TorchMLP(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers = [torch.nn.Linear(50, 30), torch.nn.ReLU(), torch.nn.Linear(30, 20), torch.nn.ReLU(), torch.nn.Linear(20, 3)]
            self.all_layers = torch.nn.Sequential(*layers)

    expected = repr(TorchMLP()).replace("TorchMLP", "MultilayerPerceptron")
    assert repr(example.MultilayerPerceptron()) == expected
    assert expected in printed
    assert sum(p.numel() for p in TorchMLP().parameters() if p.requires_grad) == 2213


def test_toy_dataset_example_separates_the_two_classes() -> None:
    assert load_example("toy_dataset").main() == 1.0


def test_linear_regression_example_recovers_the_line() -> None:
    weight, bias = load_example("linear_regression").main()
    assert weight == pytest.approx(3.0, abs=0.05)
    assert bias == pytest.approx(2.0, abs=0.05)


def test_lenet_example_trains_with_one_compiled_step() -> None:
    losses = load_example("lenet").main(steps=4, batch_size=4)
    assert all(loss == loss for loss in losses)  # no NaN
    assert losses[-1] < losses[0]


@pytest.mark.slow
def test_lstm_classifier_example_learns() -> None:
    """Slow because the unrolled two-layer LSTM takes seconds to compile; tests/test_nn_rnn.py checks the layer."""
    assert load_example("lstm_classifier").main() >= 0.9


@pytest.mark.slow
def test_digits_demo_reaches_95_percent() -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    graphc.manual_seed(0)
    assert load_example("digits_cnn").main() >= 0.95
