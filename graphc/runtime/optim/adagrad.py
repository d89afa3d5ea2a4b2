"""Adagrad (torch.optim.Adagrad), with lr decay, an initial accumulator, weight decay and maximize."""

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
    check_fused,
    check_lr,
    decayed_grad,
    in_lr_dtype,
    lr_operand,
    not_supported,
    signed_grad,
)
from graphc.runtime.tensor import Tensor


class Adagrad(Optimizer):
    """torch.optim.Adagrad: the same defaults, options and update formula (its single-tensor path).

    As in torch, every parameter's state (``step``, ``sum``) exists from construction, filled
    with the constructor's ``initial_accumulator_value`` (a group's own value is not read, in
    torch either), so ``state_dict()`` has torch's entries before the first step.
    ``foreach`` and ``fused`` are accepted and change nothing.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        not_supported("differentiable", differentiable)
        check_lr(lr)
        check(lr_decay >= 0.0, f"Invalid lr_decay value: {lr_decay}")
        check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        check(initial_accumulator_value >= 0.0, f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        defaults: dict[str, Any] = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "maximize": maximize,
        }
        super().__init__(params, defaults)
        check_fused(fused, foreach)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group, self.state[p])

    def _init_state(self, p: Tensor, group: ParamGroup, state: dict[str, Any]) -> None:
        """At construction, as torch; a parameter of a group added later gets it at its first step.
        The accumulator starts at the optimizer's ``initial_accumulator_value``, not the group's (torch's quirk)."""
        state["step"] = self._init_step(p)
        state["sum"] = self._filled(p, tuple(p.shape), self.defaults["initial_accumulator_value"], p.dtype)

    def _update(self, p: Tensor, group: ParamGroup, state: dict[str, Any], device: str) -> None:
        state_sum, step_t = state["sum"], state["step"]

        step_t.add_(1)
        step = F.cast(step_t, dtypes.float64)
        grad = decayed_grad(p, signed_grad(p, group), group, device)
        decay = 1 + (step - 1) * group.scalar("lr_decay", device=device)
        clr = lr_operand(group, device) / in_lr_dtype(group, decay)

        addcmul_(state_sum, grad, grad, 1)
        std = state_sum.sqrt() + group.scalar("eps", device=device)
        addcdiv_(p, grad, std, -clr)
