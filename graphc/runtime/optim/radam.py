"""RAdam (torch.optim.RAdam): Adam whose adaptive step is turned on gradually, as its variance estimate firms up."""

from __future__ import annotations

from typing import Any

from graphc.frontend import functional as F
from graphc.ir import dtypes
from graphc.runtime.optim.optimizer import (
    Optimizer,
    ParamGroup,
    ParamsT,
    addcmul_,
    check,
    check_betas,
    check_lr,
    decayed_grad,
    lerp_,
    lr_operand,
    not_supported,
    signed_grad,
)
from graphc.runtime.tensor import Tensor


class RAdam(Optimizer):
    """torch.optim.RAdam: the same defaults, options and update formula (its single-tensor path).

    torch chooses between the rectified adaptive step and plain momentum in Python, on
    ``rho_t > 5`` (which depends on the step count); here both are computed and
    ``where`` picks one, so a compiled step makes the same choice on every call.
    ``decoupled_weight_decay=True`` is RAdamW. ``foreach`` and ``capturable`` are accepted
    and change nothing.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        not_supported("differentiable", differentiable)
        check_lr(lr)
        check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        check_betas(type(self).__name__, betas)
        check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        defaults: dict[str, Any] = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: ParamGroup, state: dict[str, Any]) -> None:
        state["step"] = self._init_step(p)
        state["exp_avg"] = self._zeros_like(p)
        state["exp_avg_sq"] = self._zeros_like(p)

    @staticmethod
    def _update(p: Tensor, group: ParamGroup, state: dict[str, Any], device: str) -> None:
        exp_avg, exp_avg_sq, step_t = state["exp_avg"], state["exp_avg_sq"], state["step"]
        beta1 = group.scalar("betas", 0, device=device)
        beta2 = group.scalar("betas", 1, device=device)

        step_t.add_(1)
        step = F.cast(step_t, dtypes.float64)
        grad = decayed_grad(p, signed_grad(p, group), group, device)
        lerp_(exp_avg, grad, 1 - beta1, 1 - group["betas"][0])
        exp_avg_sq.mul_(beta2)
        addcmul_(exp_avg_sq, grad, grad, 1 - beta2)

        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        bias_corrected_exp_avg = exp_avg / bias_correction1
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
        # torch's ``float / tensor`` is ``tensor.reciprocal() * float``
        adaptive_lr = (exp_avg_sq.sqrt() + group.scalar("eps", device=device)).reciprocal() * bias_correction2**0.5
        lr = lr_operand(group, device)
        update = F.where(rho_t > 5.0, bias_corrected_exp_avg * lr * adaptive_lr * rect, bias_corrected_exp_avg * lr)
        p.sub_(update)
