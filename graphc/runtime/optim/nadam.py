"""NAdam (torch.optim.NAdam): Adam with Nesterov momentum and a momentum schedule (``momentum_decay``)."""

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
    check_lr,
    decayed_grad,
    in_lr_dtype,
    lerp_,
    lr_operand,
    not_supported,
    scalar_dtype,
    signed_grad,
)
from graphc.runtime.tensor import Tensor


class NAdam(Optimizer):
    """torch.optim.NAdam: the same defaults, options and update formula (its single-tensor path).

    The running product of the momentum coefficients, ``state["mu_product"]``, is a 0-d
    float32 tensor as in torch (a loaded one has the parameter's dtype, as torch's
    ``load_state_dict`` casts it), multiplied in its own dtype: torch rounds each factor to it
    first. ``decoupled_weight_decay=True`` is NAdamW. ``foreach`` and ``capturable`` are
    accepted and change nothing.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
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
        check(momentum_decay >= 0.0, f"Invalid momentum_decay value: {momentum_decay}")
        defaults: dict[str, Any] = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: ParamGroup, state: dict[str, Any]) -> None:
        state["step"] = self._init_step(p)
        state["mu_product"] = self._filled(p, (), 1.0, scalar_dtype())
        state["exp_avg"] = self._zeros_like(p)
        state["exp_avg_sq"] = self._zeros_like(p)

    @staticmethod
    def _update(p: Tensor, group: ParamGroup, state: dict[str, Any], device: str) -> None:
        exp_avg, exp_avg_sq, mu_product, step_t = state["exp_avg"], state["exp_avg_sq"], state["mu_product"], state["step"]
        beta1 = group.scalar("betas", 0, device=device)
        beta2 = group.scalar("betas", 1, device=device)
        momentum_decay = group.scalar("momentum_decay", device=device)

        step_t.add_(1)
        step = F.cast(step_t, dtypes.float64)
        bias_correction2 = 1 - beta2**step
        grad = decayed_grad(p, signed_grad(p, group), group, device)
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        mu_product.copy_(mu_product * F.cast(mu, mu_product.dtype))

        lerp_(exp_avg, grad, 1 - beta1, 1 - group["betas"][0])
        exp_avg_sq.mul_(beta2)
        addcmul_(exp_avg_sq, grad, grad, 1 - beta2)
        denom = (exp_avg_sq / bias_correction2).sqrt() + group.scalar("eps", device=device)

        lr = lr_operand(group, device)
        product = F.cast(mu_product, dtypes.float64)
        product_next = product * mu_next
        addcdiv_(p, grad, denom, -lr * in_lr_dtype(group, 1.0 - mu) / in_lr_dtype(group, 1.0 - product))
        addcdiv_(p, exp_avg, denom, -lr * in_lr_dtype(group, mu_next) / in_lr_dtype(group, 1.0 - product_next))
