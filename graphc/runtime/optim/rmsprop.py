"""RMSprop (torch.optim.RMSprop), with momentum, centering, weight decay and maximize."""

from __future__ import annotations

from typing import Any

from graphc.runtime.optim.optimizer import Optimizer, ParamGroup, ParamsT, addcdiv_, addcmul_, check, check_lr, lerp_, not_supported
from graphc.runtime.tensor import Tensor


class RMSprop(Optimizer):
    """torch.optim.RMSprop: the same defaults, options and update formula (its single-tensor path).

    ``foreach`` and ``capturable`` are accepted and change nothing.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        not_supported("differentiable", differentiable)
        check_lr(lr)
        check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        check(momentum >= 0.0, f"Invalid momentum value: {momentum}")
        check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        check(alpha >= 0.0, f"Invalid alpha value: {alpha}")
        defaults: dict[str, Any] = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: ParamGroup, state: dict[str, Any]) -> None:
        state["step"] = self._init_step(p)
        state["square_avg"] = self._zeros_like(p)
        if group["momentum"] > 0:
            state["momentum_buffer"] = self._zeros_like(p)
        if group["centered"]:
            state["grad_avg"] = self._zeros_like(p)

    def _update(self, p: Tensor, group: ParamGroup, state: dict[str, Any], device: str) -> None:
        alpha = group.scalar("alpha", device=device)
        grad = p.grad if not group["maximize"] else -p.grad
        square_avg = state["square_avg"]

        state["step"].add_(1)
        if group["weight_decay"] != 0:
            grad = grad + group.scalar("weight_decay", device=device) * p

        square_avg.mul_(alpha)
        addcmul_(square_avg, grad, grad, 1 - alpha)
        if group["centered"]:
            grad_avg = state["grad_avg"]
            lerp_(grad_avg, grad, 1 - alpha, 1 - group["alpha"])
            avg = (square_avg + -1 * grad_avg * grad_avg).sqrt()
        else:
            avg = square_avg.sqrt()
        avg = avg + group.scalar("eps", device=device)

        lr = group.scalar("lr", device=device)
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf.mul_(group.scalar("momentum", device=device))
            addcdiv_(buf, grad, avg)
            p.add_(-lr * buf)
        else:
            addcdiv_(p, grad, avg, -lr)
