"""``graphc.nn.utils.prune``: torch's pruning, with its parameter/buffer layout and hooks.

Pruning ``module.<name>`` moves the parameter to ``<name>_orig``, registers the buffer ``<name>_mask``
(the parameter's dtype, 1 kept, 0 pruned) and a forward pre-hook that sets ``module.<name> =
<name>_mask * <name>_orig`` before every call, as a plain tensor attribute (a module attribute a
compiled program binds after each call, as ``weight_norm``'s). Pruning again combines the new mask
with the old one through a ``PruningContainer``, as torch's.

Masks are chosen once, eagerly, from the tensor's values (which entries to prune is data-dependent,
as torch's ``topk`` indices are): the methods compute on NumPy arrays and return graphc tensors.
Among equal magnitudes (equal norms, equal draws) the lowest flat indices are pruned first, where
torch's choice depends on its partial sort (docs/decisions.md, "Pruning").
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from graphc.frontend.constructors import rand, rand_like
from graphc.frontend.constructors import tensor as make_tensor
from graphc.ir.grad_mode import grad_mode
from graphc.runtime.nn.module import Module
from graphc.runtime.tensor import Tensor


def _array(value: Any) -> np.ndarray:
    return value.numpy() if isinstance(value, Tensor) else np.asarray(value)


def _like(array: np.ndarray, like: Tensor) -> Tensor:
    return make_tensor(np.ascontiguousarray(array), dtype=like.dtype, device=like.device)


class BasePruningMethod(ABC):
    """A forward pre-hook that applies a mask; subclasses say how the mask is computed (``compute_mask``)."""

    _tensor_name: str
    PRUNING_TYPE: str

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self._tensor_name, self.apply_mask(module))

    @abstractmethod
    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The new mask of ``t``, given the mask already applied (``default_mask``)."""

    def apply_mask(self, module: Module) -> Tensor:
        mask = getattr(module, self._tensor_name + "_mask")
        orig = getattr(module, self._tensor_name + "_orig")
        return mask.to(dtype=orig.dtype) * orig

    @classmethod
    def apply(cls, module: Module, name: str, *args: Any, importance_scores: Tensor | None = None, **kwargs: Any) -> BasePruningMethod:
        """Prune ``module.<name>`` with a new ``cls(*args, **kwargs)``, combined with any pruning it already has."""
        method = _composite_method(cls, module, name, *args, **kwargs)
        orig = getattr(module, name)
        if importance_scores is not None:
            if tuple(importance_scores.shape) != tuple(orig.shape):
                raise AssertionError(
                    f"importance_scores should have the same shape as parameter {name} of {module}, got {tuple(importance_scores.shape)} vs {tuple(orig.shape)}"
                )
        else:
            importance_scores = orig
        if not isinstance(method, PruningContainer):
            module.register_parameter(name + "_orig", orig)
            del module._parameters[name]
            default_mask = _like(np.ones(tuple(orig.shape)), orig)
        else:
            default_mask = _like(_array(getattr(module, name + "_mask")).copy(), orig)
        try:
            mask = method.compute_mask(importance_scores, default_mask=default_mask)
            module.register_buffer(name + "_mask", mask)
            setattr(module, name, method.apply_mask(module))
            module.register_forward_pre_hook(method)
        except Exception:
            if not isinstance(method, PruningContainer):
                orig = getattr(module, name + "_orig")
                module.register_parameter(name, orig)
                del module._parameters[name + "_orig"]
            raise
        return method

    def prune(self, t: Tensor, default_mask: Tensor | None = None, importance_scores: Tensor | None = None) -> Tensor:
        """``t`` times the mask computed from ``importance_scores`` (``t`` itself by default), without a module."""
        if importance_scores is not None:
            if tuple(importance_scores.shape) != tuple(t.shape):
                raise AssertionError(f"importance_scores should have the same shape as tensor t, got {tuple(importance_scores.shape)} vs {tuple(t.shape)}")
        else:
            importance_scores = t
        default_mask = default_mask if default_mask is not None else _like(np.ones(tuple(t.shape)), t)
        return t * self.compute_mask(importance_scores, default_mask=default_mask)

    def remove(self, module: Module) -> None:
        """Make the pruning permanent: ``<name>`` becomes a parameter holding the masked values."""
        with grad_mode(False):
            weight = self.apply_mask(module)
        if self._tensor_name in module.__dict__:
            delattr(module, self._tensor_name)
        orig = module._parameters[self._tensor_name + "_orig"]
        orig.data = weight.detach()
        del module._parameters[self._tensor_name + "_orig"]
        del module._buffers[self._tensor_name + "_mask"]
        setattr(module, self._tensor_name, orig)


def _composite_method(cls: type, module: Module, name: str, *args: Any, **kwargs: Any) -> BasePruningMethod:
    """The new method, or the container of it and the hook already on ``name`` (which it replaces)."""
    old, keys = None, []
    for key, hook in module._forward_pre_hooks.items():
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            old = hook
            keys.append(key)
    if len(keys) > 1:
        raise AssertionError(f"Avoid adding multiple pruning hooks to the same tensor {name} of module {module}. Use a PruningContainer.")
    for key in keys:
        del module._forward_pre_hooks[key]
    method = cls(*args, **kwargs)
    method._tensor_name = name
    if isinstance(old, PruningContainer):
        old.add_pruning_method(method)
        return old
    if old is not None:
        container = PruningContainer(old)
        container.add_pruning_method(method)
        return container
    return method


class PruningContainer(BasePruningMethod):
    """The pruning methods applied in turn to one tensor: the last one prunes what the others kept."""

    def __init__(self, *args: Any) -> None:
        self._pruning_methods: tuple[BasePruningMethod, ...] = ()
        if len(args) == 1:
            self._tensor_name = args[0]._tensor_name
            self.add_pruning_method(args[0])
        else:
            for method in args:
                self.add_pruning_method(method)

    def add_pruning_method(self, method: BasePruningMethod | None) -> None:
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise TypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if method is not None and self._tensor_name != method._tensor_name:
            raise ValueError(
                f"Can only add pruning methods acting on the parameter named '{self._tensor_name}' to PruningContainer {self}. Found '{method._tensor_name}'"
            )
        self._pruning_methods += (method,)  # type: ignore[operator]

    def __len__(self) -> int:
        return len(self._pruning_methods)

    def __iter__(self) -> Any:
        return iter(self._pruning_methods)

    def __getitem__(self, idx: int) -> BasePruningMethod:
        return self._pruning_methods[idx]

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The last method's mask, computed on the entries (unstructured) or channels (structured) still kept."""
        method = self._pruning_methods[-1]
        values, mask = _array(t), _array(default_mask).astype(_array(t).dtype)
        if method.PRUNING_TYPE == "unstructured":
            slc: Any = mask == 1
        elif method.PRUNING_TYPE == "structured":
            if not hasattr(method, "dim"):
                raise AttributeError('Pruning methods of PRUNING_TYPE "structured" need to have the attribute `dim` defined.')
            dim = method.dim + values.ndim if method.dim < 0 else method.dim
            if dim < 0:
                raise IndexError(f"Index is out of bounds for tensor with dimensions {values.ndim}")
            keep = mask.sum(axis=tuple(d for d in range(values.ndim) if d != dim)) != 0
            slc = tuple(keep if d == dim else slice(None) for d in range(values.ndim))
        elif method.PRUNING_TYPE == "global":
            slc = tuple(slice(None) for _ in range(values.ndim))
        else:
            raise ValueError(f"Unrecognized PRUNING_TYPE {method.PRUNING_TYPE}")
        like = t if isinstance(t, Tensor) else make_tensor(values)
        partial = method.compute_mask(_like(values[slc], like), default_mask=_like(mask[slc], like))
        mask[slc] = _array(partial)
        return _like(mask, like)


class Identity(BasePruningMethod):
    """Prunes nothing: a mask of ones, for code that expects a pruned module's layout."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        return default_mask

    @classmethod
    def apply(cls, module: Module, name: str) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name)


class RandomUnstructured(BasePruningMethod):
    """Prunes ``amount`` entries (a count, or a fraction rounded) at random among those still kept."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount: float) -> None:
        _validate_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        return _prune_largest(self.amount, t, default_mask, lambda: rand_like(t).numpy().reshape(-1))

    @classmethod
    def apply(cls, module: Module, name: str, amount: float) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name, amount=amount)


class L1Unstructured(BasePruningMethod):
    """Prunes the ``amount`` entries of smallest magnitude."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount: float) -> None:
        _validate_amount_init(amount)
        self.amount = amount

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        return _prune_largest(self.amount, t, default_mask, lambda: -np.abs(_array(t).reshape(-1)))

    @classmethod
    def apply(cls, module: Module, name: str, amount: float, importance_scores: Tensor | None = None) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


class RandomStructured(BasePruningMethod):
    """Prunes ``amount`` channels along ``dim`` at random."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount: float, dim: int = -1) -> None:
        _validate_amount_init(amount)
        self.amount = amount
        self.dim = dim

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        _validate_structured(t, self.dim)
        channels = t.shape[self.dim]
        count = _count(self.amount, channels)
        _validate_amount(count, channels)
        if count == 0:
            return default_mask
        draws = rand(channels).numpy()
        keep = draws > np.sort(draws, kind="stable")[count - 1]  # torch: prob > kthvalue(prob, k)
        return _like(_channel_mask(t, self.dim, keep) * _array(default_mask), default_mask)

    @classmethod
    def apply(cls, module: Module, name: str, amount: float, dim: int = -1) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name, amount=amount, dim=dim)


class LnStructured(BasePruningMethod):
    """Prunes the ``amount`` channels along ``dim`` of smallest ``n``-norm."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount: float, n: Any, dim: int = -1) -> None:
        _validate_amount_init(amount)
        self.amount = amount
        self.n = n
        self.dim = dim

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        _validate_structured(t, self.dim)
        channels = t.shape[self.dim]
        count = _count(self.amount, channels)
        _validate_amount(count, channels)
        if count == 0:
            return default_mask
        norms = _norms(t, self.n, self.dim)
        keep = np.zeros(channels, dtype=bool)
        keep[_largest(norms, channels - count)] = True
        return _like(_channel_mask(t, self.dim, keep) * _array(default_mask), default_mask)

    @classmethod
    def apply(cls, module: Module, name: str, amount: float, n: Any, dim: int, importance_scores: Tensor | None = None) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores)


class CustomFromMask(BasePruningMethod):
    """Applies a given mask (on top of any mask already applied)."""

    PRUNING_TYPE = "global"

    def __init__(self, mask: Any) -> None:
        self.mask = mask

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        mask = _array(self.mask)
        if tuple(default_mask.shape) != mask.shape:
            raise AssertionError(f"default_mask shape {tuple(default_mask.shape)} must match self.mask shape {mask.shape}")
        return _like(_array(default_mask) * mask.astype(_array(default_mask).dtype), default_mask)

    @classmethod
    def apply(cls, module: Module, name: str, mask: Any) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name, mask=mask)


def identity(module: Module, name: str) -> Module:
    Identity.apply(module, name)
    return module


def random_unstructured(module: Module, name: str, amount: float) -> Module:
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(module: Module, name: str, amount: float, importance_scores: Tensor | None = None) -> Module:
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module: Module, name: str, amount: float, dim: int) -> Module:
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(module: Module, name: str, amount: float, n: Any, dim: int, importance_scores: Tensor | None = None) -> Module:
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def custom_from_mask(module: Module, name: str, mask: Any) -> Module:
    CustomFromMask.apply(module, name, mask)
    return module


def global_unstructured(parameters: Iterable[tuple[Module, str]], pruning_method: type, importance_scores: dict | None = None, **kwargs: Any) -> None:
    """Prune the given ``(module, name)`` tensors together: ``pruning_method`` chooses among all their entries at once."""
    if not isinstance(parameters, Iterable):
        raise TypeError("global_unstructured(): parameters is not an Iterable")
    parameters = list(parameters)
    importance_scores = importance_scores if importance_scores is not None else {}
    if not isinstance(importance_scores, dict):
        raise TypeError("global_unstructured(): importance_scores must be of type dict")
    scores = np.concatenate([_array(importance_scores.get((m, n), getattr(m, n))).reshape(-1) for m, n in parameters])
    masks = [getattr(m, n + "_mask") if hasattr(m, n + "_mask") else np.ones(_numel(getattr(m, n))) for m, n in parameters]
    default = np.concatenate([_array(mask).reshape(-1) for mask in masks])
    container = PruningContainer()
    container._tensor_name = "temp"
    method = pruning_method(**kwargs)
    method._tensor_name = "temp"
    if method.PRUNING_TYPE != "unstructured":
        raise TypeError(f'Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. Found method {pruning_method} of type {method.PRUNING_TYPE}')
    container.add_pruning_method(method)
    first = getattr(*parameters[0])
    final = _array(container.compute_mask(_like(scores, first), _like(default.astype(scores.dtype), first)))
    pointer = 0
    for module, name in parameters:
        param = getattr(module, name)
        size = _numel(param)
        custom_from_mask(module, name, mask=final[pointer : pointer + size].reshape(tuple(param.shape)))
        pointer += size


def remove(module: Module, name: str) -> Module:
    """Make the pruning of ``module.<name>`` permanent and drop its hook, ``_orig`` and ``_mask``."""
    for key, hook in module._forward_pre_hooks.items():
        if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
            hook.remove(module)
            del module._forward_pre_hooks[key]
            return module
    raise ValueError(f"Parameter '{name}' of module {module} has to be pruned before pruning can be removed")


def is_pruned(module: Module) -> bool:
    """Whether ``module`` or a submodule has a pruning hook."""
    return any(isinstance(hook, BasePruningMethod) for _, sub in module.named_modules() for hook in sub._forward_pre_hooks.values())


def _numel(t: Tensor) -> int:
    return int(np.prod(tuple(t.shape)))


def _prune_largest(amount: float, t: Tensor, default_mask: Tensor, scores: Callable[[], np.ndarray]) -> Tensor:
    """``default_mask`` with the ``amount`` entries of largest score (flat) set to 0; the scores are
    computed only when something is pruned (a random draw advances the generator, as torch's)."""
    size = _numel(t)
    count = _count(amount, size)
    _validate_amount(count, size)
    mask = _array(default_mask).copy()
    if count:
        mask.reshape(-1)[_largest(scores(), count)] = 0
    return _like(mask, default_mask)


def _largest(values: np.ndarray, count: int) -> np.ndarray:
    """The flat indices of the ``count`` largest values; among equal ones, the lowest indices."""
    return np.argsort(-values, kind="stable")[:count]


def _channel_mask(t: Tensor, dim: int, keep: np.ndarray) -> np.ndarray:
    shape = [1] * len(t.shape)
    shape[dim] = len(keep)
    return np.broadcast_to(keep.reshape(shape), tuple(t.shape)).astype(np.float64)


def _norms(t: Tensor, n: Any, dim: int) -> np.ndarray:
    """torch.norm(t, p=n) over every dim but ``dim`` (``n`` a number, inf, -inf or "fro"), in double: it only ranks channels."""
    values = _array(t).astype(np.float64)
    axis = dim % values.ndim
    flat = np.moveaxis(values, axis, 0).reshape(values.shape[axis], -1)
    return np.linalg.norm(flat, ord=2 if n == "fro" else n, axis=1)


def _validate_amount_init(amount: Any) -> None:
    if not isinstance(amount, numbers.Real):
        raise TypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    if (isinstance(amount, numbers.Integral) and amount < 0) or (not isinstance(amount, numbers.Integral) and (float(amount) > 1.0 or float(amount) < 0.0)):
        raise ValueError(f"amount={amount} should either be a float in the range [0, 1] or a non-negative integer")


def _validate_amount(amount: int, size: int) -> None:
    if amount > size:
        raise ValueError(f"amount={amount} should be smaller than the number of parameters to prune={size}")


def _validate_structured(t: Tensor, dim: int) -> None:
    if len(t.shape) <= 1:
        raise ValueError(f"Structured pruning can only be applied to multidimensional tensors. Found tensor of shape {tuple(t.shape)} with {len(t.shape)} dims")
    if dim >= len(t.shape):
        raise IndexError(f"Invalid index {dim} for tensor of size {tuple(t.shape)}")


def _count(amount: float, size: int) -> int:
    return int(amount) if isinstance(amount, numbers.Integral) else round(amount * size)


__all__ = [
    "BasePruningMethod",
    "CustomFromMask",
    "Identity",
    "L1Unstructured",
    "LnStructured",
    "PruningContainer",
    "RandomStructured",
    "RandomUnstructured",
    "custom_from_mask",
    "global_unstructured",
    "identity",
    "is_pruned",
    "l1_unstructured",
    "ln_structured",
    "random_structured",
    "random_unstructured",
    "remove",
]
