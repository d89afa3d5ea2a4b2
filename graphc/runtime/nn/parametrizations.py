"""``graphc.nn.utils.parametrizations``: torch's ready-made parametrizations (``weight_norm``, ``spectral_norm``, and ``orthogonal`` in orthogonal.py).

``weight_norm`` and ``spectral_norm`` here are torch's newer forms of ``graphc.nn.utils.weight_norm``
and ``spectral_norm``: the same numbers, with ``g`` and ``v`` kept as ``parametrizations.<name>.original0``
and ``original1``, and the power iteration's vectors as the parametrization's buffers ``_u`` and ``_v``.
"""

from __future__ import annotations

from graphc.frontend import functional as F
from graphc.frontend.constructors import randn
from graphc.frontend.linalg import mv
from graphc.ir.grad_mode import grad_mode
from graphc.runtime.nn.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from graphc.runtime.nn.functional import normalize
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


class _SpectralNorm(Module):
    """torch's ``_SpectralNorm``: the weight over its largest singular value, estimated by power iteration.

    Every training-mode evaluation (each access of ``module.<name>``) first runs ``n_power_iterations``
    steps that write ``_u`` and ``_v`` in place without gradient, as torch's ``out=`` does; inside
    ``graphc.compile`` those writes are state the program writes back. ``__init__`` runs 15 steps from
    graphc's random draws (torch's from its own), so tests copy torch's buffers.
    """

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError(f"Expected n_power_iterations to be positive, but got n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            with grad_mode(False):
                matrix = self._reshape_weight_to_matrix(weight)
                height, width = matrix.shape
                self.register_buffer("_u", normalize(randn(height, dtype=weight.dtype), dim=0, eps=eps))
                self.register_buffer("_v", normalize(randn(width, dtype=weight.dtype), dim=0, eps=eps))
                self._power_method(matrix, 15)

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        if self.dim != 0:
            weight = F.permute(weight, self.dim, *[d for d in range(weight.ndim) if d != self.dim])
        return F.flatten(weight, 1)

    def _power_method(self, matrix: Tensor, n_power_iterations: int) -> None:
        with grad_mode(False):
            for _ in range(n_power_iterations):
                self._u.copy_(normalize(mv(matrix, self._v), dim=0, eps=self.eps))
                self._v.copy_(normalize(mv(F.transpose(matrix, 0, 1), self._u), dim=0, eps=self.eps))

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return normalize(weight, dim=0, eps=self.eps)
        matrix = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(matrix, self.n_power_iterations)
        sigma = F.dot(self._u, mv(matrix, self._v))
        return F.div(weight, sigma)

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12, dim: int | None = None) -> Module:
    """``module.<name>`` divided by its spectral norm on every access; ``dim`` defaults to 1 for ConvTranspose, else 0 (torch's)."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0
    register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


__all__ = ["orthogonal", "spectral_norm", "weight_norm"]
