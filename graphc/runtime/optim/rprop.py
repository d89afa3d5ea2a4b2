"""Rprop (torch.optim.Rprop): per-element step sizes grown or shrunk by the sign agreement of successive gradients."""

from __future__ import annotations

from typing import Any

from graphc.frontend import functional as F
from graphc.runtime.optim.optimizer import Optimizer, ParamGroup, ParamsT, check_lr, not_supported, signed_grad
from graphc.runtime.tensor import Tensor


class Rprop(Optimizer):
    """torch.optim.Rprop: the same defaults, options and update formula (its single-tensor path).

    torch's masked assignments (``sign[sign.gt(0)] = etaplus``, ...) are ``where``s, so a NaN
    sign stays NaN as in torch. ``foreach`` and ``capturable`` are accepted and change nothing.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        not_supported("differentiable", differentiable)
        check_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults: dict[str, Any] = {"lr": lr, "etas": etas, "step_sizes": step_sizes, "maximize": maximize}
        super().__init__(params, defaults)

    def _init_state(self, p: Tensor, group: ParamGroup, state: dict[str, Any]) -> None:
        state["step"] = self._init_step(p)
        state["prev"] = self._zeros_like(p)
        state["step_size"] = self._filled(p, tuple(p.shape), group["lr"], p.dtype)

    @staticmethod
    def _update(p: Tensor, group: ParamGroup, state: dict[str, Any], device: str) -> None:
        prev, step_size = state["prev"], state["step_size"]
        dtype = step_size.dtype

        def option(key: str, index: int) -> Tensor:
            """A Python float as torch's masked assignments and clamp meet it: rounded to the tensor's dtype."""
            return F.cast(group.scalar(key, index, device=device), dtype)

        state["step"].add_(1)
        grad = signed_grad(p, group)
        sign = (grad * prev).sign()
        factor = F.where(sign > 0, option("etas", 1), F.where(sign < 0, option("etas", 0), F.where(sign == 0, F.cast(1, dtype), sign)))
        step_size.copy_(F.clamp(step_size * factor, option("step_sizes", 0), option("step_sizes", 1)))
        grad = F.where(sign < 0, F.cast(0, grad.dtype), grad)
        p.add_(-1 * grad.sign() * step_size)
        prev.copy_(grad)
