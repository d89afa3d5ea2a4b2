"""``weight_norm`` / ``remove_weight_norm``: torch's hook-based weight normalization.

The weight ``w`` becomes two parameters, ``w_g`` (its norm over every dim but ``dim``)
and ``w_v`` (its direction), and a forward pre-hook sets ``module.w = w_v * w_g / ||w_v||``
before every call, as a plain tensor attribute: inside ``graphc.compile`` that is an
attribute the compiled program binds after each call, so the recomputed weight stays
visible to the caller as in eager code.
"""

from __future__ import annotations

from typing import Any

from graphc.frontend import functional as F
from graphc.frontend.linalg import vector_norm
from graphc.ir.grad_mode import grad_mode
from graphc.runtime.nn.module import Module, Parameter
from graphc.runtime.tensor import Tensor


def norm_except_dim(v: Tensor, pow: float = 2, dim: int = 0) -> Tensor:
    """torch's ``norm_except_dim``: the ``pow``-norm over every axis but ``dim``, kept as size-1 axes; ``dim=-1`` is the whole tensor's (a 0-d tensor)."""
    if dim == -1:
        return vector_norm(v, pow)
    if not -v.ndim <= dim < v.ndim:
        raise IndexError(f"weight_norm: dim {dim} is out of range for a weight of shape {list(v.shape)} (-1 normalizes the whole weight)")
    axis = dim % v.ndim
    return vector_norm(v, pow, tuple(d for d in range(v.ndim) if d != axis), keepdim=True)


def _weight_norm(v: Tensor, g: Tensor, dim: int) -> Tensor:
    return F.mul(v, F.div(g, norm_except_dim(v, 2, dim)))


class WeightNorm:
    """The forward pre-hook: one per normalized parameter, found again by ``remove_weight_norm`` through its ``name``."""

    def __init__(self, name: str, dim: int) -> None:
        self.name = name
        self.dim = dim

    def compute_weight(self, module: Module) -> Tensor:
        return _weight_norm(getattr(module, self.name + "_v"), getattr(module, self.name + "_g"), self.dim)

    @staticmethod
    def apply(module: Module, name: str, dim: int | None) -> WeightNorm:
        weight = hooked_parameter(module, WeightNorm, name, "weight_norm")
        fn = WeightNorm(name, -1 if dim is None else dim)
        with grad_mode(False):
            g = norm_except_dim(weight, 2, fn.dim)
        del module._parameters[name]
        module.register_parameter(name + "_g", Parameter(g))
        module.register_parameter(name + "_v", Parameter(weight))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module: Module) -> None:
        with grad_mode(False):
            weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Reparametrize ``module.<name>`` as ``<name>_g * <name>_v / ||<name>_v||`` (norm over every dim but ``dim``; ``dim=None``: the whole tensor)."""
    WeightNorm.apply(module, name, dim)
    return module


def hooked_parameter(module: Module, kind: type, name: str, what: str) -> Parameter:
    """``module.<name>``, about to get a reparametrization hook of type ``kind``: torch's errors for a second hook or no such parameter."""
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, kind) and hook.name == name:
            raise RuntimeError(f"Cannot register two {what} hooks on the same parameter {name}")
    weight = module._parameters.get(name)
    if weight is None:
        raise ValueError(f"{what}: module {type(module).__name__} has no parameter '{name}'")
    return weight


def remove_hook(module: Module, kind: type, name: str, what: str) -> Module:
    """Undo the reparametrization hook of type ``kind`` on ``module.<name>`` (``remove_weight_norm``, ``remove_spectral_norm``)."""
    for key, hook in module._forward_pre_hooks.items():
        if isinstance(hook, kind) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[key]
            return module
    raise ValueError(f"{what} of '{name}' not found in {module}")


def remove_weight_norm(module: Module, name: str = "weight") -> Module:
    """Undo ``weight_norm``: ``<name>`` becomes a plain parameter again, holding the current normalized weight."""
    return remove_hook(module, WeightNorm, name, "weight_norm")


__all__ = ["remove_weight_norm", "weight_norm"]
