"""Helpers for the graphc.nn tests: run a graphc module and a torch module with the same weights and inputs.

Outputs, every parameter gradient and every input gradient are compared; the loss
is a fixed random weighting of all outputs, so every output element matters.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import graphc

DTYPES = {"float64": (graphc.float64, torch.float64, np.float64), "float32": (graphc.float32, torch.float32, np.float32)}


def flatten(value: Any) -> list:
    if isinstance(value, (tuple, list)):
        return [leaf for item in value for leaf in flatten(item)]
    return [] if value is None else [value]


def to_graphc(array: np.ndarray, requires_grad: bool) -> graphc.Tensor:
    return graphc.tensor(array, requires_grad=requires_grad and array.dtype.kind == "f")


def to_torch(array: np.ndarray, requires_grad: bool) -> torch.Tensor:
    return torch.tensor(array, requires_grad=requires_grad and array.dtype.kind == "f")


def compare_modules(
    g_module: Any,
    t_module: torch.nn.Module,
    inputs: list[np.ndarray],
    dtype: str = "float64",
    rtol: float = 1e-10,
    atol: float = 1e-12,
    input_grads: bool = True,
    seed: int = 0,
) -> tuple[list, list]:
    """Load t_module's weights into g_module (both in ``dtype``) and compare outputs and gradients."""
    g_dtype, t_dtype, np_dtype = DTYPES[dtype]
    t_module.to(t_dtype)
    g_module.to(g_dtype)
    g_module.load_state_dict(t_module.state_dict())
    inputs = [x.astype(np_dtype) if x.dtype.kind == "f" else x for x in inputs]
    t_in = [to_torch(x, input_grads) for x in inputs]
    g_in = [to_graphc(x, input_grads) for x in inputs]
    t_out = flatten(t_module(*t_in))
    g_out = flatten(g_module(*g_in))
    assert len(t_out) == len(g_out)
    rng = np.random.default_rng(seed)
    t_loss, g_loss = 0, 0
    for t, g in zip(t_out, g_out):
        assert tuple(g.shape) == tuple(t.shape), (g.shape, t.shape)
        assert g.dtype == DTYPES[dtype][0] or not t.dtype.is_floating_point
        np.testing.assert_allclose(g.numpy(), t.detach().numpy(), rtol=rtol, atol=atol)
        if t.dtype.is_floating_point and t.requires_grad:
            w = rng.standard_normal(tuple(t.shape)).astype(np_dtype)
            t_loss = t_loss + (t * torch.tensor(w)).sum()
            g_loss = g_loss + (g * graphc.tensor(w)).sum()
    t_loss.backward()
    g_loss.backward()
    g_params = dict(g_module.named_parameters())
    t_params = dict(t_module.named_parameters())
    assert list(g_params) == list(t_params)
    for name, tp in t_params.items():
        gp = g_params[name]
        if tp.grad is None:
            assert gp.grad is None, name
            continue
        assert gp.grad is not None, name
        np.testing.assert_allclose(gp.grad.numpy(), tp.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"gradient of {name}")
    for i, (t, g) in enumerate(zip(t_in, g_in)):
        if t.grad is not None:
            np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")
    return g_out, t_out


def compare_functions(
    g_fn: Any, t_fn: Any, inputs: list[np.ndarray], rtol: float = 1e-10, atol: float = 1e-12, seed: int = 0, grad_mask: list[bool] | None = None
) -> None:
    """Compare a graphc function and a torch function on the same float64 inputs: outputs and input gradients."""
    mask = grad_mask or [x.dtype.kind == "f" for x in inputs]
    t_in = [to_torch(x, m) for x, m in zip(inputs, mask)]
    g_in = [to_graphc(x, m) for x, m in zip(inputs, mask)]
    t_out = flatten(t_fn(*t_in))
    g_out = flatten(g_fn(*g_in))
    rng = np.random.default_rng(seed)
    t_loss, g_loss = 0, 0
    for t, g in zip(t_out, g_out):
        assert tuple(g.shape) == tuple(t.shape), (g.shape, t.shape)
        np.testing.assert_allclose(g.numpy(), t.detach().numpy(), rtol=rtol, atol=atol)
        if t.requires_grad:
            w = rng.standard_normal(tuple(t.shape))
            t_loss = t_loss + (t * torch.tensor(w, dtype=t.dtype)).sum()
            g_loss = g_loss + (g * graphc.tensor(w, dtype=g.dtype)).sum()
    if isinstance(t_loss, torch.Tensor):
        t_loss.backward()
        g_loss.backward()
    for i, (t, g) in enumerate(zip(t_in, g_in)):
        if t.grad is not None:
            np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")
