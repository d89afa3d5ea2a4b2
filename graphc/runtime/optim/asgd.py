"""ASGD (torch.optim.ASGD): SGD with a decaying step and a running average of the parameters (``state["ax"]``)."""

from __future__ import annotations

from typing import Any

from graphc.frontend import functional as F
from graphc.ir import dtypes
from graphc.runtime.optim.optimizer import (
    Optimizer,
    ParamGroup,
    ParamsT,
    check,
    check_lr,
    decayed_grad,
    in_lr_dtype,
    lr_operand,
    not_supported,
    scalar_dtype,
    signed_grad,
)
from graphc.runtime.tensor import Tensor


class ASGD(Optimizer):
    """torch.optim.ASGD: the same defaults, options and update formula (its single-tensor path).

    ``eta`` (the step) and ``mu`` (the averaging weight) are 0-d float32 tensors in the state,
    as torch's, computed in float64 and rounded into them. torch copies the parameter into
    the average while ``mu`` is 1 (before step ``t0``), a Python branch on a value; here
    ``where`` makes it, so a compiled step needs no new trace at ``t0``. ``foreach`` and
    ``capturable`` are accepted and change nothing.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        not_supported("differentiable", differentiable)
        check_lr(lr)
        check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        defaults: dict[str, Any] = {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0, "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: ParamGroup, state: dict[str, Any]) -> None:
        state["step"] = self._init_step(p)
        state["eta"] = self._filled(p, (), group["lr"], scalar_dtype())
        state["mu"] = self._filled(p, (), 1.0, scalar_dtype())
        state["ax"] = self._zeros_like(p)

    @staticmethod
    def _update(p: Tensor, group: ParamGroup, state: dict[str, Any], device: str) -> None:
        eta, mu, ax, step_t = state["eta"], state["mu"], state["ax"], state["step"]
        lambd = group.scalar("lambd", device=device)

        step_t.add_(1)
        grad = decayed_grad(p, signed_grad(p, group), group, device)
        eta_value = F.cast(eta, dtypes.float64)
        p.mul_(1 - lambd * eta_value)
        p.add_(-eta_value * grad)
        ax.copy_(F.where(mu != 1, ax + (p - ax) * mu, p))

        step = F.cast(step_t, dtypes.float64)
        lr = lr_operand(group, device)
        decay = (1 + in_lr_dtype(group, lambd) * lr * in_lr_dtype(group, step)) ** in_lr_dtype(group, group.scalar("alpha", device=device))
        # torch.as_tensor of the new values: the default dtype from a Python float (kept so in a float64 state loaded
        # from a checkpoint), the lr's dtype from a tensor lr
        eta.copy_(F.cast(lr / decay, lr.dtype if isinstance(group["lr"], Tensor) else dtypes.DEFAULT_FLOAT))
        mu.copy_(F.cast(1 / F.maximum(step - group.scalar("t0", device=device), F.cast(1, dtypes.float64)), dtypes.DEFAULT_FLOAT))
