"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay (torch.optim.SGD)."""

from __future__ import annotations

from typing import Any

from graphc.runtime.optim.optimizer import Optimizer, ParamGroup, ParamsT, check, check_fused, check_lr, not_supported
from graphc.runtime.tensor import Tensor


class SGD(Optimizer):
    """torch.optim.SGD: the same defaults, options and update formula (its single-tensor path).

    ``foreach`` and ``fused`` are accepted for compatibility and change nothing: graphc always
    records the updates of all parameters as one graph and fuses them.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        not_supported("differentiable", differentiable)
        check_fused(fused, foreach)
        check_lr(lr)
        check(momentum >= 0.0, f"Invalid momentum value: {momentum}")
        check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults: dict[str, Any] = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _update_group(self, group: ParamGroup) -> None:
        momentum = group["momentum"]
        for p in group["params"]:
            if p.grad is None:
                continue
            device = p.device
            grad = p.grad if not group["maximize"] else -p.grad
            if group["weight_decay"] != 0:
                grad = grad + group.scalar("weight_decay", device=device) * p
            if momentum != 0:
                state = self.state[p]
                buf = state.get("momentum_buffer")
                if buf is None:
                    buf = grad.detach().clone()
                    state["momentum_buffer"] = buf
                else:
                    buf.mul_(group.scalar("momentum", device=device))
                    buf.add_((1 - group.scalar("dampening", device=device)) * grad)
                if group["nesterov"]:
                    grad = grad + group.scalar("momentum", device=device) * buf
                else:
                    grad = buf
            p.add_(-group.scalar("lr", device=device) * grad)
