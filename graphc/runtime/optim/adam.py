"""Adam and AdamW (torch.optim.Adam, torch.optim.AdamW), with amsgrad, weight decay and maximize."""

from __future__ import annotations

from typing import Any

from graphc.frontend import functional as F
from graphc.ir import dtypes
from graphc.runtime.optim.optimizer import (
    Optimizer,
    ParamGroup,
    ParamsT,
    addcdiv_,
    addcmul_,
    check,
    check_betas,
    check_fused,
    check_lr,
    decayed_grad,
    in_lr_dtype,
    lerp_,
    lr_operand,
    not_supported,
    signed_grad,
)
from graphc.runtime.tensor import Tensor


class Adam(Optimizer):
    """torch.optim.Adam: the same defaults, options and update formula (its single-tensor path).

    The step count is a 0-d float32 tensor in the state (``state["step"]``) and the bias
    corrections ``1 - beta ** step`` are computed from it in the graph, in float64, so a
    compiled training step replays with the right step. ``decoupled_weight_decay=True`` is
    AdamW. ``foreach``, ``fused`` and ``capturable`` are accepted and change nothing.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        not_supported("differentiable", differentiable)
        check_fused(fused, foreach)
        check_lr(lr)
        check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        check_betas(type(self).__name__, betas)
        check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        defaults: dict[str, Any] = {
            "lr": lr,
            "betas": tuple(float(b) for b in betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: ParamGroup, state: dict[str, Any]) -> None:
        state["step"] = self._init_step(p)
        state["exp_avg"] = self._zeros_like(p)
        state["exp_avg_sq"] = self._zeros_like(p)
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = self._zeros_like(p)

    def _update(self, p: Tensor, group: ParamGroup, state: dict[str, Any], device: str) -> None:
        beta1_value = group["betas"][0]
        beta1 = group.scalar("betas", 0, device=device)
        beta2 = group.scalar("betas", 1, device=device)
        exp_avg, exp_avg_sq, step_t = state["exp_avg"], state["exp_avg_sq"], state["step"]

        step_t.add_(1)
        grad = decayed_grad(p, signed_grad(p, group), group, device)

        lerp_(exp_avg, grad, 1 - beta1, 1 - beta1_value)
        exp_avg_sq.mul_(beta2)
        addcmul_(exp_avg_sq, grad, grad, 1 - beta2)

        step = F.cast(step_t, dtypes.float64)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr_operand(group, device) / in_lr_dtype(group, bias_correction1)
        bias_correction2_sqrt = bias_correction2**0.5

        if group["amsgrad"]:
            max_exp_avg_sq = state["max_exp_avg_sq"]
            max_exp_avg_sq.copy_(F.maximum(max_exp_avg_sq, exp_avg_sq))
            denom = max_exp_avg_sq.sqrt() / bias_correction2_sqrt + group.scalar("eps", device=device)
        else:
            denom = exp_avg_sq.sqrt() / bias_correction2_sqrt + group.scalar("eps", device=device)
        addcdiv_(p, exp_avg, denom, -step_size)


class AdamW(Adam):
    """torch.optim.AdamW: Adam with decoupled weight decay (default 1e-2): ``p *= 1 - lr * weight_decay``."""

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )
