"""``spectral_norm`` / ``remove_spectral_norm``: torch's hook-based spectral normalization.

The weight ``w`` becomes the parameter ``w_orig`` and two buffers ``w_u``, ``w_v``
(estimates of its first singular vectors). A forward pre-hook sets ``module.w =
w_orig / sigma`` before every call, ``sigma = u . (W v)`` with ``W`` the weight as a
matrix; in training mode it first runs ``n_power_iterations`` steps of power iteration,
writing the new ``u`` and ``v`` into the buffers in place, without gradient. Inside
``graphc.compile`` those in-place writes are values the program writes back after each
call, and the recomputed weight an attribute it binds, so a compiled training step
updates the buffers exactly as eager code does.
"""

from __future__ import annotations

from typing import Any

from graphc.frontend import functional as F
from graphc.frontend.constructors import randn
from graphc.frontend.linalg import mv
from graphc.ir.grad_mode import grad_mode
from graphc.runtime.nn.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from graphc.runtime.nn.functional import normalize
from graphc.runtime.nn.module import Module, Parameter
from graphc.runtime.nn.weight_norm import hooked_parameter, remove_hook
from graphc.runtime.tensor import Tensor


class SpectralNorm:
    """The forward pre-hook: one per normalized parameter, found again by ``remove_spectral_norm`` through its ``name``."""

    def __init__(self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12) -> None:
        if n_power_iterations <= 0:
            raise ValueError(f"Expected n_power_iterations to be positive, but got n_power_iterations={n_power_iterations}")
        self.name = name
        self.dim = dim
        self.n_power_iterations = n_power_iterations
        self.eps = eps

    def reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        """``dim`` first, the rest flattened: the matrix whose largest singular value is taken."""
        matrix = weight
        if self.dim != 0:
            matrix = F.permute(matrix, self.dim, *[d for d in range(matrix.ndim) if d != self.dim])
        return F.reshape(matrix, matrix.shape[0], -1)

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        matrix = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            with grad_mode(False):
                for _ in range(self.n_power_iterations):
                    v.copy_(normalize(mv(F.transpose(matrix, 0, 1), u), dim=0, eps=self.eps))
                    u.copy_(normalize(mv(matrix, v), dim=0, eps=self.eps))
        sigma = F.dot(u, mv(matrix, v))
        return F.div(weight, sigma)

    @staticmethod
    def apply(module: Module, name: str, n_power_iterations: int, dim: int, eps: float) -> SpectralNorm:
        weight = hooked_parameter(module, SpectralNorm, name, "spectral_norm")
        if not -weight.ndim <= dim < weight.ndim:
            raise IndexError(f"spectral_norm: dim {dim} is out of range for parameter '{name}' of shape {list(weight.shape)}")
        fn = SpectralNorm(name, n_power_iterations, dim % weight.ndim, eps)
        with grad_mode(False):
            height, width = fn.reshape_weight_to_matrix(weight).shape
            u = normalize(randn(height, dtype=weight.dtype, device=weight.device), dim=0, eps=eps)
            v = normalize(randn(width, dtype=weight.dtype, device=weight.device), dim=0, eps=eps)
        delattr(module, name)
        module.register_parameter(name + "_orig", weight)
        # ``module.<name>`` still exists (code that initializes weights reads it), as a plain tensor.
        setattr(module, name, weight.detach())
        module.register_buffer(name + "_u", u)
        module.register_buffer(name + "_v", v)
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module: Module) -> None:
        with grad_mode(False):
            weight = self.compute_weight(module, do_power_iteration=False)
        delattr(module, self.name)
        delattr(module, self.name + "_u")
        delattr(module, self.name + "_v")
        delattr(module, self.name + "_orig")
        module.register_parameter(self.name, Parameter(weight))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1, eps: float = 1e-12, dim: int | None = None) -> Module:
    """Divide ``module.<name>`` by its spectral norm, estimated by power iteration; ``dim`` defaults to 1 for ConvTranspose, else 0 (torch's)."""
    if dim is None:
        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Undo ``spectral_norm``: ``<name>`` becomes a plain parameter again, ``<name>_orig / sigma`` with the current ``u``, ``v``."""
    return remove_hook(module, SpectralNorm, name, "spectral_norm")


__all__ = ["remove_spectral_norm", "spectral_norm"]
