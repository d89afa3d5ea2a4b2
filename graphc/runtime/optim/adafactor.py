"""Adafactor (torch.optim.Adafactor): second moments kept as row and column factors for matrices, a relative step size."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from graphc.frontend import functional as F
from graphc.ir import dtypes
from graphc.runtime.optim.optimizer import (
    Optimizer,
    ParamGroup,
    ParamsT,
    check,
    check_lr,
    decay_weights_,
    lerp_by_tensor_,
    signed_grad,
)
from graphc.runtime.tensor import Tensor


def _rms(x: Tensor) -> Tensor:
    """``x.norm(2).item() / numel ** 0.5`` as torch computes it, in float64 after the norm."""
    return F.cast((x * x).sum().sqrt(), dtypes.float64) / math.sqrt(x.numel())


def _eps1(p: Tensor, group: ParamGroup, device: str) -> Tensor:
    """``eps[0]``, or the machine epsilon of the parameter's dtype when it is None (a formula choice the
    compiled step's guard sees); a number reaches the step through its mirror, as other options."""
    if group["eps"][0] is None:
        return F.cast(float(np.finfo(p.dtype.numpy).eps), dtypes.float64)
    return group.scalar("eps", 0, device=device)


def _mean_square(grad: Tensor, dim: int) -> Tensor:
    """torch's ``norm(grad, dim=dim, keepdim=True).square_().div_(grad.size(dim))``: a root, then its square."""
    return (grad * grad).sum(dim, keepdim=True).sqrt().square() / grad.shape[dim]


class Adafactor(Optimizer):
    """torch.optim.Adafactor: the same defaults, options and update formula (its single-tensor path).

    torch reads the parameter's and the update's norms with ``item()`` and takes Python
    ``min``/``max`` of them; here they stay 0-d tensors in the graph, so a compiled step
    traces once. ``eps[0]`` of None means the parameter dtype's machine epsilon, as torch.
    ``foreach`` is accepted and changes nothing.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        check_lr(lr, "Learning rate should be >= 0 but is: {}")
        check(beta2_decay <= 0.0, f"beta2_decay should be <= 0 but is: {beta2_decay}")
        check(eps[0] is None or eps[0] >= 0.0, f"epsilon1 should be >= 0 but is: {eps[0]}")
        check(eps[1] >= 0.0, f"epsilon2 should be >= 0 but is: {eps[1]}")
        check(d >= 1.0, f"Clipping threshold d should be >= 1 but is: {d}")
        check(weight_decay >= 0.0, f"weight_decay should be >= 0 but is: {weight_decay}")
        defaults: dict[str, Any] = {"lr": lr, "beta2_decay": beta2_decay, "eps": eps, "d": d, "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: ParamGroup, state: dict[str, Any]) -> None:
        """A step count; the row and column factors of the second moments for a matrix (or a batch of them), else all of them."""
        state["step"] = self._init_step(p)
        shape = tuple(p.shape)
        if len(shape) > 1:
            state["row_var"] = self._filled(p, (*shape[:-1], 1), 0.0, p.dtype)
            state["col_var"] = self._filled(p, (*shape[:-2], 1, shape[-1]), 0.0, p.dtype)
        else:
            state["variance"] = self._zeros_like(p)

    @staticmethod
    def _update(p: Tensor, group: ParamGroup, state: dict[str, Any], device: str) -> None:
        eps1 = _eps1(p, group, device)
        grad = signed_grad(p, group)
        step_t = state["step"]

        step_t.add_(1)
        step = F.cast(step_t, dtypes.float64)
        one_minus_beta2_t = step ** group.scalar("beta2_decay", device=device)
        rho_t = F.minimum(group.scalar("lr", device=device), 1 / step**0.5)
        alpha = F.maximum(group.scalar("eps", 1, device=device), _rms(p)) * rho_t
        if group["weight_decay"] != 0:
            decay_weights_(p, group, device)

        if len(grad.shape) > 1:
            row_var, col_var = state["row_var"], state["col_var"]
            lerp_by_tensor_(row_var, _mean_square(grad, -1), one_minus_beta2_t)
            lerp_by_tensor_(col_var, _mean_square(grad, -2), one_minus_beta2_t)
            var_estimate = (row_var @ col_var) / row_var.mean(dim=-2, keepdim=True).clamp(min=F.cast(eps1, p.dtype))
        else:
            var_estimate = lerp_by_tensor_(state["variance"], grad * grad, one_minus_beta2_t)
        update = var_estimate.clamp(min=F.cast(eps1 * eps1, p.dtype)).rsqrt() * grad
        denom = F.maximum(F.cast(1.0, dtypes.float64), _rms(update) / group.scalar("d", device=device))
        p.add_(-alpha / denom * update)
