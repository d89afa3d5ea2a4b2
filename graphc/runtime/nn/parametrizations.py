"""``graphc.nn.utils.parametrizations``: torch's ready-made parametrizations (``weight_norm``, and ``orthogonal`` in orthogonal.py).

``weight_norm`` here is torch's newer form of ``graphc.nn.utils.weight_norm``: the same
numbers, with ``g`` and ``v`` kept as ``parametrizations.<name>.original0`` and ``original1``.
"""

from __future__ import annotations

from graphc.runtime.nn.module import Module
from graphc.runtime.nn.orthogonal import orthogonal
from graphc.runtime.nn.parametrize import register_parametrization
from graphc.runtime.nn.weight_norm import _weight_norm, norm_except_dim
from graphc.runtime.tensor import Tensor


class _WeightNorm(Module):
    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        return norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """``module.<name>`` computed as ``original0 * original1 / ||original1||`` (norm over every dim but ``dim``; ``None``: all)."""
    register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


__all__ = ["orthogonal", "weight_norm"]
