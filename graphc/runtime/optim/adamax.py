"""Adamax (torch.optim.Adamax): Adam with the infinity norm of past gradients in place of their mean square."""

from __future__ import annotations

from typing import Any

from graphc.frontend import functional as F
from graphc.ir import dtypes
from graphc.runtime.optim.optimizer import (
    Optimizer,
    ParamGroup,
    ParamsT,
    addcdiv_,
    check,
    check_betas,
    check_lr,
    decayed_grad,
    in_lr_dtype,
    lerp_,
    lr_operand,
    not_supported,
    signed_grad,
)
from graphc.runtime.tensor import Tensor


class Adamax(Optimizer):
    """torch.optim.Adamax: the same defaults, options and update formula (its single-tensor path).

    ``foreach`` and ``capturable`` are accepted and change nothing.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        not_supported("differentiable", differentiable)
        check_lr(lr)
        check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        check_betas(type(self).__name__, betas)
        check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        defaults: dict[str, Any] = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: ParamGroup, state: dict[str, Any]) -> None:
        state["step"] = self._init_step(p)
        state["exp_avg"] = self._zeros_like(p)
        state["exp_inf"] = self._zeros_like(p)

    def _update(self, p: Tensor, group: ParamGroup, state: dict[str, Any], device: str) -> None:
        exp_avg, exp_inf, step_t = state["exp_avg"], state["exp_inf"], state["step"]
        beta1 = group.scalar("betas", 0, device=device)

        step_t.add_(1)
        grad = decayed_grad(p, signed_grad(p, group), group, device)
        lerp_(exp_avg, grad, 1 - beta1, 1 - group["betas"][0])
        norm = grad.abs() + group.scalar("eps", device=device)
        exp_inf.copy_(F.maximum(exp_inf * group.scalar("betas", 1, device=device), norm))

        bias_correction = 1 - beta1 ** F.cast(step_t, dtypes.float64)
        clr = lr_operand(group, device) / in_lr_dtype(group, bias_correction)
        addcdiv_(p, exp_avg, exp_inf, -clr)
