"""A mean over a dynamic batch divides by a ``size`` node: the batch's size as a value, no kernel of its own.

Eager code never records ``size`` (its sizes are numbers), so these compiled programs are
its differential cases (``TRACED_ONLY`` in test_primitive_coverage): values and float64
gradients against torch, on both backends, at two batch sizes of one program.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import graphc
import graphc.nn.functional as GF

# name -> a function of (functional module, x, y), the same code for torch and graphc
CASES: dict[str, Callable[[Any, Any, Any], Any]] = {
    "mean over the batch": lambda F, x, y: (x.mean(0) * y[0]).sum(),
    "mse loss": lambda F, x, y: F.mse_loss(x, y),
    "unbiased variance over the batch": lambda F, x, y: x.var(0).sum() + (x * y).mean(),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_mean_over_a_dynamic_batch_divides_by_its_size_like_torch(name: str, backend: str) -> None:
    fn = CASES[name]

    def step(x: graphc.Tensor, y: graphc.Tensor) -> tuple[graphc.Tensor, graphc.Tensor]:
        loss = fn(GF, x, y)
        loss.backward()
        return loss, x.grad

    compiled = graphc.compile(step, backend=backend)
    for rows in (5, 8):
        rng = np.random.default_rng(rows)
        xn, yn = rng.standard_normal((rows, 3)), rng.standard_normal((rows, 3))
        loss, grad = compiled(graphc.tensor(xn, requires_grad=True), graphc.tensor(yn))
        x = torch.tensor(xn, requires_grad=True)
        expected = fn(torch.nn.functional, x, torch.tensor(yn))
        expected.backward()
        np.testing.assert_allclose(float(loss), expected.item(), rtol=1e-12)
        np.testing.assert_allclose(grad.numpy(), x.grad.numpy(), rtol=1e-10, atol=1e-14)
    report = compiled.report()
    assert report.recompilations == [], report.recompilations
    assert "size" in {n.op for n in report.graph.nodes}
    assert all(kernel.inputs for kernel in report.kernels), str(report)  # no kernel computes from sizes alone


def test_check_mode_evaluates_sizes_at_the_call_s_batch() -> None:
    compiled = graphc.compile(lambda x, y: GF.mse_loss(x, y), check=True)
    for rows in (4, 7):
        xn, yn = np.ones((rows, 2)), np.zeros((rows, 2))
        np.testing.assert_allclose(float(compiled(graphc.tensor(xn), graphc.tensor(yn))), 1.0)
