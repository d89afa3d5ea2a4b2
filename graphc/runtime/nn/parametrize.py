"""``graphc.nn.utils.parametrize``: torch's parametrizations, a tensor of a module computed from others.

``register_parametrization(module, "weight", p)`` moves the tensor into
``module.parametrizations.weight`` (a ``ParametrizationList``) as ``original`` (or
``original0``, ``original1``, ... when ``p.right_inverse`` returns a tuple) and swaps the
module's class for a subclass whose ``weight`` property calls ``p`` on them at every access,
as torch does. So the state_dict keys are torch's, and under ``graphc.compile`` the
parametrized tensor is plain graph ops on the originals: no state changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphc.errors import GraphcError
from graphc.ir.grad_mode import grad_mode
from graphc.runtime.nn.module import Module, ModuleDict, ModuleList, Parameter
from graphc.runtime.tensor import Tensor


def _register_parameter_or_buffer(module: Module, name: str, tensor: Tensor) -> None:
    if isinstance(tensor, Parameter):
        module.register_parameter(name, tensor)
    else:
        module.register_buffer(name, tensor)


def _set_value(target: Tensor, value: Tensor) -> None:
    """torch's ``original.set_(value)``: the same tensor object (an optimizer holding it keeps working) takes the new value."""
    if not isinstance(value, Tensor):
        raise TypeError(f"'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). Got {type(value).__name__}")
    if tuple(value.shape) == tuple(target.shape) and value.dtype == target.dtype:
        with grad_mode(False):
            target.copy_(value)
    else:
        raise GraphcError(
            f"a parametrization's right_inverse gave a tensor of shape {list(value.shape)} and dtype {value.dtype.name} "
            f"for an original of shape {list(target.shape)} and dtype {target.dtype.name}: graphc cannot change an original's shape or dtype"
        )


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, applied in order, and the original tensor(s) they start from."""

    def __init__(self, modules: Sequence[Module], original: Tensor, unsafe: bool = False) -> None:
        if len(modules) == 0:
            raise ValueError("ParametrizationList requires one or more modules.")
        super().__init__(modules)
        self.unsafe = unsafe
        with grad_mode(False):
            new: Any = original
            for module in reversed(list(self)):
                if hasattr(module, "right_inverse"):
                    new = module.right_inverse(new)
        self.is_tensor = isinstance(new, Tensor)
        if self.is_tensor:
            self.ntensors = 1
            if new is not original:
                _set_value(original, new)
            _register_parameter_or_buffer(self, "original", original)
        else:
            self._register_originals(new, original)
        if not unsafe:
            self._check(original)

    def _register_originals(self, new: Any, original: Tensor) -> None:
        """``original0``, ``original1``, ...: parameters if the original was one (to be added to an optimizer, as in torch)."""
        if not isinstance(new, Sequence):
            raise ValueError(f"'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). Got {type(new).__name__}")
        self.ntensors = len(new)
        for i, value in enumerate(new):
            if not isinstance(value, Tensor):
                raise ValueError(f"'right_inverse' must return a Sequence of tensors; element {i} is a {type(value).__name__}")
            if isinstance(original, Parameter):
                _register_parameter_or_buffer(self, f"original{i}", Parameter(value, original.requires_grad))
            else:
                _register_parameter_or_buffer(self, f"original{i}", value.detach().requires_grad_(original.requires_grad))

    def _check(self, original: Tensor) -> None:
        """torch's consistency check: the parametrized tensor keeps the original's shape and dtype."""
        with grad_mode(False):
            value = self()
        if tuple(value.shape) != tuple(original.shape) or value.dtype != original.dtype:
            raise ValueError(
                "Registering a parametrization may not change the shape or the dtype of the tensor, unless `unsafe` flag is enabled.\n"
                f"unparametrized dtype: {original.dtype.name}\nparametrized dtype: {value.dtype.name}\n"
                f"unparametrized shape: {list(original.shape)}\nparametrized shape: {list(value.shape)}"
            )

    def right_inverse(self, value: Tensor) -> None:
        """Set the originals so that the parametrized tensor is ``value`` (``module.weight = value``)."""
        with grad_mode(False):
            for module in reversed(list(self)):
                if not hasattr(module, "right_inverse"):
                    raise RuntimeError(f"parametrization {type(module).__name__} does not implement right_inverse.")
                value = module.right_inverse(value)
            if self.is_tensor:
                _set_value(self.original, value)
                return
            if not isinstance(value, Sequence) or len(value) != self.ntensors:
                raise ValueError(f"'right_inverse' must return a sequence of {self.ntensors} tensors, got {type(value).__name__}")
            for i, item in enumerate(value):
                _set_value(getattr(self, f"original{i}"), item)

    def forward(self) -> Tensor:
        modules = list(self)
        if self.is_tensor:
            x = modules[0](self.original)
        else:
            x = modules[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for module in modules[1:]:
            x = module(x)
        return x


def _inject_new_class(module: Module) -> None:
    """Give ``module`` a class of its own (``ParametrizedLinear``), so properties added to it touch no other module."""
    cls = module.__class__
    module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), {})


def _inject_property(module: Module, tensor_name: str) -> None:
    def get_parametrized(self: Module) -> Tensor:
        return self.parametrizations[tensor_name]()

    def set_original(self: Module, value: Tensor) -> None:
        self.parametrizations[tensor_name].right_inverse(value)

    setattr(module.__class__, tensor_name, property(get_parametrized, set_original))


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    parametrizations = module.__dict__["_modules"].get("parametrizations")
    if not isinstance(parametrizations, ModuleDict):
        return False
    return len(parametrizations) > 0 if tensor_name is None else tensor_name in parametrizations


def register_parametrization(module: Module, tensor_name: str, parametrization: Module, *, unsafe: bool = False) -> Module:
    """Compute ``module.<tensor_name>`` as ``parametrization(original)`` on every access; a second call chains another."""
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        parametrizations = module.parametrizations[tensor_name]
        if not unsafe:
            before = getattr(module, tensor_name)
            with grad_mode(False):
                after = parametrization(before)
            if not isinstance(after, Tensor) or tuple(after.shape) != tuple(before.shape) or after.dtype != before.dtype:
                message = f"Registering a parametrization may not change the shape or the dtype of the tensor '{tensor_name}'"
                raise ValueError(message + ", unless `unsafe` flag is enabled.")
        parametrizations.append(parametrization)
        parametrizations.unsafe |= unsafe
        return module
    if tensor_name not in module._buffers and tensor_name not in module._parameters:
        raise ValueError(f"Module '{module}' does not have a parameter, a buffer, or a parametrized element with name '{tensor_name}'")
    original = getattr(module, tensor_name)
    parametrizations = ParametrizationList([parametrization], original, unsafe=unsafe)
    delattr(module, tensor_name)
    if not is_parametrized(module):
        _inject_new_class(module)
        module.parametrizations = ModuleDict()
    module.parametrizations[tensor_name] = parametrizations
    _inject_property(module, tensor_name)
    return module


def remove_parametrizations(module: Module, tensor_name: str, leave_parametrized: bool = True) -> Module:
    """Make ``<tensor_name>`` a plain parameter (or buffer) again: its parametrized value, or its original with ``leave_parametrized=False``."""
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    parametrizations = module.parametrizations[tensor_name]
    if parametrizations.is_tensor:
        original = parametrizations.original
        if leave_parametrized:
            with grad_mode(False):
                _set_value(original, getattr(module, tensor_name))
    else:
        if not leave_parametrized:
            raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is parametrized in terms of a sequence of tensors.")
        with grad_mode(False):
            value = getattr(module, tensor_name)
        first = parametrizations.original0
        original = Parameter(value, first.requires_grad) if isinstance(first, Parameter) else value.detach().requires_grad_(first.requires_grad)
    delattr(module.__class__, tensor_name)
    del module.parametrizations[tensor_name]
    _register_parameter_or_buffer(module, tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = module.__class__.__bases__[0]
    return module


__all__ = ["ParametrizationList", "is_parametrized", "register_parametrization", "remove_parametrizations"]
