"""Adadelta (torch.optim.Adadelta): steps scaled by the ratio of running RMS of updates and of gradients."""

from __future__ import annotations

from typing import Any

from graphc.runtime.optim.optimizer import (
    Optimizer,
    ParamGroup,
    ParamsT,
    addcmul_,
    check,
    check_lr,
    decayed_grad,
    lr_operand,
    not_supported,
    signed_grad,
)
from graphc.runtime.tensor import Tensor


class Adadelta(Optimizer):
    """torch.optim.Adadelta: the same defaults, options and update formula (its single-tensor path).

    ``foreach`` and ``capturable`` are accepted and change nothing.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        not_supported("differentiable", differentiable)
        check_lr(lr)
        check(0.0 <= rho <= 1.0, f"Invalid rho value: {rho}")
        check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        defaults: dict[str, Any] = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: ParamGroup, state: dict[str, Any]) -> None:
        state["step"] = self._init_step(p)
        state["square_avg"] = self._zeros_like(p)
        state["acc_delta"] = self._zeros_like(p)

    def _update(self, p: Tensor, group: ParamGroup, state: dict[str, Any], device: str) -> None:
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        rho = group.scalar("rho", device=device)
        eps = group.scalar("eps", device=device)

        state["step"].add_(1)
        grad = decayed_grad(p, signed_grad(p, group), group, device)
        square_avg.mul_(rho)
        addcmul_(square_avg, grad, grad, 1 - rho)
        std = (square_avg + eps).sqrt()
        delta = (acc_delta + eps).sqrt() / std * grad
        acc_delta.mul_(rho)
        addcmul_(acc_delta, delta, delta, 1 - rho)
        p.add_(-lr_operand(group, device) * delta)
