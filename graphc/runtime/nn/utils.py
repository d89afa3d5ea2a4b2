"""``graphc.nn.utils``: gradient clipping and flattening parameters, as ``torch.nn.utils``.

Clipping scales the gradients with graph ops (no value is read), so it works
inside a ``graphc.compile``d training step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from graphc.frontend import functional as F
from graphc.frontend import tracing
from graphc.frontend.pointwise import isfinite
from graphc.ir.grad_mode import grad_mode
from graphc.ir.registry import emit, user_location
from graphc.runtime.tensor import Tensor


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in params if p.grad is not None]


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach: bool | None = None
) -> Tensor:
    """Scale all gradients so that their joint ``norm_type``-norm is at most ``max_norm``; returns the norm before."""
    grads = _grads(parameters)
    if not grads:
        return Tensor(0.0)
    with grad_mode(False):
        if norm_type == math.inf:
            norms = [F.amax(F.abs(g)) for g in grads]
            total = norms[0] if len(norms) == 1 else F.amax(F.stack(norms))
        else:
            norms = [F.pow(F.sum(F.pow(F.abs(g), norm_type)), 1.0 / norm_type) for g in grads]
            total = F.pow(F.sum(F.pow(F.stack(norms), norm_type)), 1.0 / norm_type)
        if error_if_nonfinite:
            total = _finite(total, norm_type)
        coef = F.clamp(F.div(max_norm, F.add(total, 1e-6)), max=1.0)
        for g in grads:
            g.mul_(F.cast(coef, g.dtype))
    return total


def _finite(total: Tensor, norm_type: float) -> Tensor:
    """``total``, refused if it is not finite, as torch's ``error_if_nonfinite``: at once in eager code, where the
    value can be read (a program raising later would leave the gradients and the step's updates pending on it),
    with torch's ``RuntimeError`` and the user's line; inside ``graphc.compile``, where it cannot, by a check of the
    program (``InvalidValueError``), which raises before the call writes back any gradient or update."""
    message = (
        f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so it cannot be clipped. "
        "To disable this error and scale the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
    )
    if tracing.active() is None:
        if not math.isfinite(total.item()):
            location = user_location()
            raise RuntimeError(f"clip_grad_norm_: {message}" + (f"\n  at {location}" if location else ""))
        return total
    return F.wrap(emit("check", F.node_of(total), F.node_of(F.logical_not(isfinite(total))), message=f"clip_grad_norm_: {message}"))


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None) -> None:
    with grad_mode(False):
        for g in _grads(parameters):
            g.clamp_(-clip_value, clip_value)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    return F.cat([F.reshape(p, -1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    offset = 0
    with grad_mode(False):
        for p in parameters:
            n = p.numel()
            p.copy_(F.reshape(vec[offset : offset + n], p.shape))
            offset += n


__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]
