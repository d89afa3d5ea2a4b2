"""Muon (torch.optim.Muon): momentum whose update is orthogonalized by Newton–Schulz iterations in bfloat16."""

from __future__ import annotations

import math
from typing import Any

from graphc.frontend import functional as F
from graphc.ir import dtypes
from graphc.runtime.optim.optimizer import (
    Optimizer,
    ParamGroup,
    ParamsT,
    check,
    check_lr,
    decay_weights_,
    lerp_by_tensor_,
    lr_operand,
)
from graphc.runtime.tensor import Tensor

# torch's defaults (Keller Jordan's constants).
EPS = 1e-7
DEFAULT_A = 3.4445
DEFAULT_B = -4.7750
DEFAULT_C = 2.0315
DEFAULT_NS_STEPS = 5


def _bf16(x: Tensor) -> Tensor:
    """A float32 result rounded to bfloat16 and widened again: torch's bfloat16 kernels compute in
    float32 and round once per op, so each op here is float32 arithmetic ending in this rounding."""
    return F.cast(F.cast(x, dtypes.bfloat16), dtypes.float32)


def _scalar32(group: ParamGroup, key: str, index: int | None, device: str) -> Tensor:
    """An option as torch's kernels take a Python number next to float32 values: rounded to float32."""
    return F.cast(group.scalar(key, index, device=device), dtypes.float32)


def zeropower_via_newtonschulz(grad: Tensor, group: ParamGroup, device: str) -> Tensor:
    """torch's ``_zeropower_via_newtonschulz``, op for op, with its roundings to bfloat16.

    torch computes it on bfloat16 tensors: every matmul and ``addmm`` accumulates in float32 and
    rounds its result once, ``norm`` reduces in float32 and rounds, ``clamp`` compares with the
    bfloat16 ``eps``. Here the same values are float32 tensors rounded where torch rounds, so the
    iteration runs as fused float32 kernels (``addmm``'s ``beta * C + alpha * A @ B`` included)
    on every backend. The result is bfloat16, as torch's.
    """
    ns_steps = group["ns_steps"]
    if ns_steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if len(grad.shape) != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    if len(group["ns_coefficients"]) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    a, b, c = (_scalar32(group, "ns_coefficients", i, device) for i in range(3))
    tall = grad.shape[0] > grad.shape[1]
    ortho = _bf16(F.cast(grad, dtypes.float32))
    if tall:
        ortho = ortho.T
    norm = _bf16((ortho * ortho).sum().sqrt())
    eps = _bf16(_scalar32(group, "eps", None, device))
    ortho = _bf16(ortho / F.maximum(norm, eps))
    for _ in range(ns_steps):
        gram = _bf16(ortho @ ortho.T)
        gram_update = _bf16(b * gram + c * (gram @ gram))
        ortho = _bf16(a * ortho + gram_update @ ortho)
    if tall:
        ortho = ortho.T
    return F.cast(ortho, dtypes.bfloat16)


def adjust_lr_ratio(adjust_lr_fn: str | None, shape: tuple[int, ...]) -> float:
    """torch's ``_adjust_lr`` factor: ``sqrt(max(1, A / B))`` ("original", the default), ``0.2 * sqrt(max(A, B))``
    ("match_rms_adamw"), and 1 for any other value (one assigned to the group after construction)."""
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return math.sqrt(max(1, rows / cols))
    if adjust_lr_fn == "match_rms_adamw":
        return 0.2 * math.sqrt(max(rows, cols))
    return 1.0


class Muon(Optimizer):
    """torch.optim.Muon: the same defaults, argument errors, state and update (its single-tensor path).

    Only 2-d parameters are accepted, as torch. ``ns_steps`` unrolls the Newton–Schulz loop, so a
    compiled step guards its value (changing it traces again); ``ns_coefficients``, ``eps``,
    ``momentum``, ``lr`` and ``weight_decay`` reach the step through mirrors like other options.
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = (DEFAULT_A, DEFAULT_B, DEFAULT_C),
        eps: float = EPS,
        ns_steps: int = DEFAULT_NS_STEPS,
        adjust_lr_fn: str | None = None,
    ) -> None:
        check_lr(lr, "Learning rate should be >= 0 but is: {}")
        check(momentum >= 0.0, f"momentum should be >= 0 but is: {momentum}")
        check(weight_decay >= 0.0, f"weight decay should be >= 0 but is: {weight_decay}")
        check(adjust_lr_fn in (None, "original", "match_rms_adamw"), f"Adjust learning rate function {adjust_lr_fn} is not supported")
        defaults: dict[str, Any] = {
            "lr": lr,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "nesterov": nesterov,
            "ns_coefficients": ns_coefficients,
            "eps": eps,
            "ns_steps": ns_steps,
            "adjust_lr_fn": adjust_lr_fn,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(f"Muon only supports 2D parameters whereas we found a parameter with size: {_torch_size(p)}")

    def _trace_state(self) -> tuple:
        """The base guard, and each group's ``ns_steps`` by value: it is the number of unrolled iterations."""
        return (*super()._trace_state(), ("ns_steps", tuple(group["ns_steps"] for group in self.param_groups)))

    def _init_state(self, p: Tensor, group: ParamGroup, state: dict[str, Any]) -> None:
        state["momentum_buffer"] = self._zeros_like(p)

    @staticmethod
    def _update(p: Tensor, group: ParamGroup, state: dict[str, Any], device: str) -> None:
        grad = p.grad
        if len(grad.shape) != 2:
            raise ValueError("Param gradient must be a 2D matrix")
        momentum = group.scalar("momentum", device=device)
        buf = lerp_by_tensor_(state["momentum_buffer"], grad, 1 - momentum)
        update = lerp_by_tensor_(grad.detach().clone(), buf, momentum) if group["nesterov"] else buf
        update = zeropower_via_newtonschulz(update, group, device)
        adjusted_lr = lr_operand(group, device) * adjust_lr_ratio(group["adjust_lr_fn"], tuple(p.shape))
        decay_weights_(p, group, device)
        p.add_(-F.cast(adjusted_lr, dtypes.float64) * F.cast(update, p.dtype))


def _torch_size(p: Tensor) -> str:
    """A shape as torch prints it in the message (``torch.Size([3])``)."""
    return f"torch.Size({list(p.shape)})"
