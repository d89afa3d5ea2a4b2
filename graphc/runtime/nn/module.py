"""``Module``, ``Parameter`` and the containers, with ``torch.nn``'s interface.

A ``Parameter`` is a leaf ``graphc.Tensor`` whose node is a ``parameter`` source
holding its data, with ``requires_grad=True``. A ``Module`` keeps parameters,
buffers and submodules in three ordered dicts, as torch does, so names,
``state_dict`` keys and ``repr`` strings are torch's.

Changing a tensor's value from here (``load_state_dict``, ``to``, the ``init``
functions) gives it a new source node holding the new data: the tensor object
stays the same, so an optimizer built earlier keeps updating the right one.
"""

from __future__ import annotations

import functools
import itertools
import operator
import types
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from graphc.errors import GraphcError
from graphc.frontend import lazy, tracing
from graphc.frontend.autograd import zero_grads
from graphc.frontend.constructors import as_array
from graphc.ir import dtypes
from graphc.ir.grad_mode import grad_mode
from graphc.ir.primitives.source import source_node
from graphc.ir.types import TensorType
from graphc.runtime import views
from graphc.runtime.tensor import Tensor

_PLAIN = (bool, int, float, str, type(None))
# Functions a module may hold as instance attributes and call (``m.forward = other``, ``self.act = F.relu``):
# a compiled function's guard names them by identity, as a replay runs the traced one.
_FUNCTIONS = (types.FunctionType, types.MethodType, types.BuiltinFunctionType, functools.partial)


def _plain(value: Any) -> bool:
    """A Python value (or a tuple of them) that module code may branch on, not a tensor or a container of modules."""
    if isinstance(value, tuple):
        return all(isinstance(v, _PLAIN) for v in value)
    return isinstance(value, _PLAIN)


class Parameter(Tensor):
    """A trainable tensor: a leaf with ``requires_grad=True`` that ``Module`` registers when assigned."""

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        array = _to_array(np.zeros((0,), dtype=dtypes.DEFAULT_FLOAT.numpy) if data is None else data)
        if requires_grad and array.dtype.kind not in "fV" and array.dtype.name != "bfloat16":
            raise GraphcError(f"only tensors of floating point dtype can require gradients, got {array.dtype.name}")
        self._view = None
        self._writes = 0
        self._node = source_node(TensorType(array.shape, dtypes.to_dtype(array.dtype)), op="parameter", requires_grad=requires_grad, data=array)
        self._grad = None
        if requires_grad:
            tracing.register_leaf(self)
        if isinstance(data, Tensor) and data.device == "cuda":
            replace(self, array, self.dtype, "cuda")

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __reduce_ex__(self, protocol: Any) -> Any:
        return (_rebuild_parameter, (self.numpy(), self.requires_grad))

    def __deepcopy__(self, memo: dict) -> Parameter:
        copy = Parameter(np.array(self.numpy()), self.requires_grad)
        if self._grad is not None:
            copy._grad = Tensor(np.array(self._grad.numpy()))
        memo[id(self)] = copy
        return copy


def _rebuild_parameter(array: np.ndarray, requires_grad: bool) -> Parameter:
    return Parameter(array, requires_grad)


def _to_array(value: Any) -> np.ndarray:
    """A NumPy array from a graphc tensor, a torch tensor, a NumPy array or Python data."""
    if isinstance(value, Tensor):
        return np.array(value.numpy(), copy=True)
    return as_array(value)


def set_data(tensor: Tensor, value: Any) -> None:
    """Give ``tensor`` a new value as a fresh source node (same dtype, device and requires_grad).

    ``value`` may be a graphc tensor, a torch tensor, a NumPy array or Python data of the
    tensor's shape; it is cast to the tensor's dtype and moved to its device.
    """
    array = _to_array(value)
    if tuple(array.shape) != tuple(tensor.shape):
        raise GraphcError(f"cannot set a tensor of shape {list(tensor.shape)} to a value of shape {list(array.shape)}")
    replace(tensor, array.astype(tensor.dtype.numpy, copy=False), tensor.dtype, tensor.device)


def replace(tensor: Tensor, array: np.ndarray, dtype: dtypes.DType, device: str) -> None:
    """Point ``tensor`` at a new leaf holding ``array`` (as ``dtype``, on ``device``), keeping the tensor object."""
    if tensor._view is not None:  # a view (an alias from state_dict()): write through to the tensor it views
        with grad_mode(False):
            tensor.copy_(Tensor(array.astype(dtype.numpy, copy=False)))
        return
    node = tensor._node
    requires_grad = node.requires_grad and node.is_leaf
    data: Any = np.array(array, dtype=dtype.numpy, order="C")  # a copy: the caller's array may change later
    if device == "cuda":
        from graphc.runtime.devices import move

        data = move(Tensor(data), "cuda")._node.data
    op = "parameter" if isinstance(tensor, Parameter) else "input"
    tracing.assign(tensor, source_node(TensorType(array.shape, dtype), op=op, requires_grad=requires_grad, data=data))
    if requires_grad:
        tracing.register_leaf(tensor)


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class _Registry(OrderedDict):
    """A module's parameters, child modules or forward hooks: every change bumps the module's trace version
    (``versions``, a one-element list the module shares), so a compiled function's guard compares the module's
    ``_trace_state()``, which names them, and traces again after a child or a parameter was replaced or a hook
    registered or removed (the replay ran the old ones). A shared list rather than the module itself, so
    ``copy.deepcopy`` and pickling give a copy's registries its own list (they keep shared references)."""

    def __init__(self, versions: list[int] | None = None) -> None:
        super().__init__()
        self.versions = versions

    def _changed(self) -> None:
        versions = self.__dict__.get("versions")  # absent while pickle restores the items, before the attributes
        if versions is not None:
            versions[0] += 1

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._changed()

    def pop(self, *args: Any) -> Any:
        value = super().pop(*args)
        self._changed()
        return value

    def popitem(self, last: bool = True) -> tuple[Any, Any]:
        item = super().popitem(last)
        self._changed()
        return item

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self) -> None:
        super().clear()
        self._changed()

    def move_to_end(self, key: Any, last: bool = True) -> None:
        super().move_to_end(key, last)
        self._changed()


class RemovableHandle:
    """Returned by ``register_forward_hook``/``register_forward_pre_hook``; ``remove()`` unregisters."""

    _ids = itertools.count()

    def __init__(self, hooks: dict[int, Callable]) -> None:
        self.hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *args: Any) -> None:
        self.remove()


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    first = lines.pop(0)
    return first + "\n" + "\n".join((spaces * " ") + line if line.strip() else "" for line in lines)


class Module:
    """Base class of every layer and model, as ``torch.nn.Module``."""

    training: bool
    _version: int = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments (Module.__init__ takes none)")
        versions = [0]
        object.__setattr__(self, "_versions", versions)
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", _Registry(versions))
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", _Registry(versions))
        object.__setattr__(self, "_forward_hooks", _Registry(versions))
        object.__setattr__(self, "_forward_pre_hooks", _Registry(versions))
        tracing.on_create_object(self)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracing.use(self)
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    @property
    def _trace_version(self) -> int:
        """Bumped by every assignment of a plain attribute and every change of the parameters, children and
        forward hooks (``_Registry``): a compiled function's guard compares ``_trace_state()`` only when this
        changed (comparing every module's attributes on every call took 13 of the MLP step's 150 us)."""
        versions = self.__dict__.get("_versions")
        return versions[0] if versions is not None else 0

    def _bump_trace_version(self) -> None:
        versions = self.__dict__.get("_versions")
        if versions is not None:
            versions[0] += 1

    def _trace_state(self) -> tuple:
        """The plain attributes a compiled forward may have branched on (``training``, a dropout's ``p``, ...),
        which functions it holds as attributes (``m.forward = other``), and which parameters, children and forward
        hooks it ran or read: a replay reads the traced ones.

        A call of a compiled function whose modules' state differs from the trace's traces again.
        Buffers are not named: a forward may rebind one on every call (they are read through the attribute).
        """
        plain = tuple((name, value) for name, value in self.__dict__.items() if _plain(value))
        return (
            *plain,
            ("functions", tuple((name, value) for name, value in self.__dict__.items() if isinstance(value, _FUNCTIONS))),
            ("parameters", tuple((name, id(p)) for name, p in self._parameters.items())),
            ("children", tuple((name, id(m)) for name, m in self._modules.items())),
            ("forward hooks", tuple(self._forward_pre_hooks), tuple(self._forward_hooks)),
        )

    def register_forward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------------ registration

    def __getattr__(self, name: str) -> Any:
        if "_parameters" in self.__dict__:
            for store in ("_parameters", "_buffers", "_modules"):
                values = self.__dict__[store]
                if name in values:
                    if store != "_buffers":  # a child read without being called (lambda x: model.fc.weight @ x): guarded too
                        tracing.use(self)
                    return values[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._remove_from(name, self.__dict__, self._buffers, self._modules)
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' (graphc.nn.Parameter or None expected)")
            self.register_parameter(name, value)
            return
        modules = self.__dict__.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._remove_from(name, self.__dict__, self._parameters, self._buffers)
            modules[name] = value
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module '{name}' (graphc.nn.Module or None expected)")
            modules[name] = value
            return
        buffers = self.__dict__.get("_buffers")
        if buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' (graphc.Tensor or None expected)")
            if isinstance(value, Tensor):
                tracing.set_attribute(self, name, buffers[name])
            buffers[name] = value
            return
        if isinstance(value, Tensor):
            tracing.set_attribute(self, name, self.__dict__.get(name))
        object.__setattr__(self, name, value)
        self._bump_trace_version()

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)
        self._bump_trace_version()

    @staticmethod
    def _remove_from(name: str, *stores: dict) -> None:
        for store in stores:
            if name in store:
                del store[name]

    def __dir__(self) -> list[str]:
        return sorted(set(dir(type(self))) | set(self.__dict__) | set(self._parameters) | set(self._buffers) | set(self._modules))

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter '{name}' (graphc.nn.Parameter or None required)")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' (graphc.Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    @staticmethod
    def _check_name(name: str, kind: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain "."')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')

    def get_submodule(self, target: str) -> Module:
        module = self
        if target == "":
            return module
        for item in target.split("."):
            if item not in module._modules or module._modules[item] is None:
                raise AttributeError(f"{module._get_name()} has no attribute `{item}`")
            module = module._modules[item]
        return module

    def get_parameter(self, target: str) -> Parameter:
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if name not in module._parameters:
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return module._parameters[name]

    def get_buffer(self, target: str) -> Tensor:
        path, _, name = target.rpartition(".")
        module = self.get_submodule(path)
        if name not in module._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return module._buffers[name]

    # ------------------------------------------------------------------ iteration

    def _named_members(
        self, get: Callable[[Module], Iterable[tuple[str, Any]]], prefix: str, recurse: bool, remove_duplicate: bool
    ) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in get(module):
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                if remove_duplicate:
                    seen.add(id(value))
                yield (module_prefix + ("." if module_prefix else "") + name, value)

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        return self._named_members(lambda m: m._parameters.items(), prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and gradients

    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter (``graphc.frontend.autograd.zero_grads``)."""
        zero_grads(self.parameters(), set_to_none)

    # ------------------------------------------------------------------ dtype and device

    def _apply_to_tensors(self, dtype: dtypes.DType | None, device: str | None) -> Module:
        done: set[int] = set()
        for module in self.modules():
            for store in (module._parameters, module._buffers):
                for t in store.values():
                    if t is None or id(t) in done:
                        continue
                    done.add(id(t))
                    _convert(t, dtype, device)
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        dtype, device = kwargs.get("dtype"), kwargs.get("device")
        for arg in args:
            if isinstance(arg, Tensor):
                dtype, device = arg.dtype, arg.device
            elif isinstance(arg, str) or type(arg).__name__ == "device":
                device = str(arg)
            else:
                dtype = arg
        if dtype is not None:
            dtype = dtypes.to_dtype(dtype)
            if not dtype.is_floating_point:
                raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dtype.name}")
        return self._apply_to_tensors(dtype, None if device is None else str(device).split(":")[0])

    def type(self, dst_type: Any) -> Module:
        return self._apply_to_tensors(dtypes.to_dtype(dst_type), None)

    def float(self) -> Module:
        return self._apply_to_tensors(dtypes.float32, None)

    def double(self) -> Module:
        return self._apply_to_tensors(dtypes.float64, None)

    def half(self) -> Module:
        return self._apply_to_tensors(dtypes.float16, None)

    def bfloat16(self) -> Module:
        return self._apply_to_tensors(dtypes.bfloat16, None)

    def cpu(self) -> Module:
        return self._apply_to_tensors(None, "cpu")

    def cuda(self, device: Any = None) -> Module:
        return self._apply_to_tensors(None, "cuda")

    # ------------------------------------------------------------------ state dicts

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        for name, param in self._parameters.items():
            if param is not None:
                destination[prefix + name] = param if keep_vars else _alias(param)
        for name, buf in self._buffers.items():
            if buf is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = buf if keep_vars else _alias(buf)

    def state_dict(self, *, destination: Any = None, prefix: str = "", keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """Parameters and persistent buffers by dotted name, in torch's order (each module's own, then its children)."""
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(
        self, state_dict: Mapping[str, Any], prefix: str, assign: bool, missing: list[str], unexpected: list[str], errors: list[str]
    ) -> None:
        local = [(n, p) for n, p in self._parameters.items() if p is not None]
        local += [(n, b) for n, b in self._buffers.items() if b is not None and n not in self._non_persistent_buffers_set]
        names = {n for n, _ in local}
        for name, target in local:
            key = prefix + name
            if key not in state_dict:
                missing.append(key)
                continue
            value = state_dict[key]
            try:
                array = _to_array(value)
            except Exception as error:  # noqa: BLE001  (reported like torch, with the key)
                errors.append(f'While copying the parameter named "{key}", an exception occurred : {error}.')
                continue
            if tuple(array.shape) != tuple(target.shape):
                errors.append(
                    f"size mismatch for {key}: copying a param with shape {list(array.shape)} from checkpoint, "
                    f"the shape in current model is {list(target.shape)}."
                )
                continue
            dtype = dtypes.to_dtype(array.dtype) if assign else target.dtype
            replace(target, array, dtype, target.device)
        for key in state_dict:
            if key.startswith(prefix):
                head = key[len(prefix) :].split(".", 1)
                if len(head) > 1:
                    if head[0] not in self._modules:
                        unexpected.append(key)
                elif head[0] not in names:
                    unexpected.append(key)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> _IncompatibleKeys:
        """Copy parameters and buffers from ``state_dict`` (graphc tensors, torch tensors or NumPy arrays)."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing: list[str] = []
        unexpected: list[str] = []
        errors: list[str] = []

        def load(module: Module, local: Mapping[str, Any], prefix: str) -> None:
            module._load_from_state_dict(local, prefix, assign, missing, unexpected, errors)
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    load(child, {k: v for k, v in local.items() if k.startswith(child_prefix)}, child_prefix)

        load(self, state_dict, "")
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in unexpected)))
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in missing)))
        if errors:
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(type(self).__name__, "\n\t".join(errors)))
        return _IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ printing

    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = ["(" + key + "): " + _addindent(repr(module), 2) for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


def _alias(t: Tensor) -> Tensor:
    """The tensor's value as a new tensor without history that views ``t``, as torch's detach(): writing to it
    writes to ``t``, and it follows ``t``'s later in-place changes (an optimizer's steps)."""
    node = t._node
    if node.data is None:
        return t.detach()
    return views.detached(t, Tensor._from_node(source_node(node.type, data=node.data)))


def _convert(t: Tensor, dtype: dtypes.DType | None, device: str | None) -> None:
    new_dtype = dtype if dtype is not None and t.dtype.is_floating_point else t.dtype
    new_device = device or t.device
    if new_dtype == t.dtype and new_device == t.device:
        return
    lazy.realize([t._node])
    replace(t, np.asarray(t.numpy()), new_dtype, new_device)
    grad = t._grad
    if grad is not None:
        converted = Tensor(np.asarray(grad.numpy()).astype(new_dtype.numpy))
        t._grad = converted if new_device == "cpu" else converted.to(new_device)


# ---------------------------------------------------------------------- containers


class _ModuleSequence(Module):
    """What Sequential and ModuleList share: submodules in order, renumbered 0, 1, ... when one is inserted or deleted."""

    def _key(self, index: int) -> str:
        size = len(self)
        if not -size <= index < size:
            raise IndexError(f"index {index} is out of range")
        return list(self._modules.keys())[index % size]

    def _renumber(self, modules: list[Module]) -> None:
        self._modules.clear()
        for i, module in enumerate(modules):
            self.add_module(str(i), module)

    def __setitem__(self, index: int, module: Module) -> None:
        self.add_module(self._key(index), module)

    def __delitem__(self, index: int | slice) -> None:
        keys = list(self._modules.keys())
        for key in keys[index] if isinstance(index, slice) else [self._key(index)]:
            del self._modules[key]
        self._renumber(list(self._modules.values()))

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> Any:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> Any:
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._renumber(modules)


class Sequential(_ModuleSequence):
    """Modules called in order: ``Sequential(a, b, c)(x) == c(b(a(x)))``; also built from an OrderedDict."""

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for index, module in enumerate(args):
                self.add_module(str(index), module)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return type(self)(OrderedDict(list(self._modules.items())[index]))
        return self._modules[self._key(index)]

    def insert(self, index: int, module: Module) -> Sequential:
        super().insert(index, module)
        return self  # torch's Sequential.insert returns the container; ModuleList's returns None

    def forward(self, input: Any) -> Any:
        for module in self:
            input = module(input)
        return input


class ModuleList(_ModuleSequence):
    """A list of submodules, registered (and indexed) as ``0``, ``1``, ..."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return type(self)(list(self._modules.values())[index])
        return self._modules[self._key(index)]

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __repr__(self) -> str:
        reprs = [repr(m) for m in self]
        if not reprs:
            return self._get_name() + "()"
        blocks: list[list[Any]] = []
        for i, r in enumerate(reprs):
            if blocks and blocks[-1][2] == r:
                blocks[-1][1] = i
            else:
                blocks.append([i, i, r])
        lines = []
        for start, end, r in blocks:
            local = f"({start}): {r}" if start == end else f"({start}-{end}): {end - start + 1} x {r}"
            lines.append(_addindent(local, 2))
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """Submodules by name, in insertion order."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def pop(self, key: str) -> Module:
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        self._modules.clear()

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        items = modules.items() if isinstance(modules, Mapping) else modules
        for key, module in items:
            self[key] = module


def _as_parameter(value: Any) -> Any:
    """What a parameter container stores: a plain tensor becomes a Parameter (as torch's containers do), anything else stays."""
    if isinstance(value, Tensor) and not isinstance(value, Parameter):
        return Parameter(value)
    return value


def _describe_item(key: Any, value: Any) -> str:
    """One line of a parameter container's repr, as torch writes it: ``(key): Parameter containing: [graphc.float32 of size 2x3]``.

    torch names the type by dtype (``torch.float32``) in a ParameterList and by legacy type name
    (``torch.FloatTensor``) in a ParameterDict; graphc has one name for both, ``Tensor.type()``.
    """
    if not isinstance(value, Tensor):
        return f"  ({key}): Object of type: {type(value).__name__}"
    size = "x".join(str(s) for s in value.shape)
    device = f" ({value.device})" if value.device != "cpu" else ""
    kind = "Parameter" if isinstance(value, Parameter) else "Tensor"
    return f"  ({key}): {kind} containing: [{value.type()} of size {size}{device}]"


class ParameterList(Module):
    """A list of parameters registered as ``0``, ``1``, ..., so ``parameters()`` and ``state_dict()`` see them, as torch's.

    Tensors are turned into Parameters when stored; other objects are kept as plain
    attributes (as in torch). Items can be replaced but not deleted, as in torch.
    """

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        self._size = 0
        if values is not None:
            self += values

    def _absolute_key(self, index: Any) -> str:
        index = operator.index(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} is out of range")
        return str(index % len(self))

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            out = type(self)()
            for i in range(*index.indices(len(self))):
                out.append(self[i])
            return out
        return getattr(self, self._absolute_key(index))

    def __setitem__(self, index: int, value: Any) -> None:
        setattr(self, self._absolute_key(index), _as_parameter(value))

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Any]:
        return iter([self[i] for i in range(len(self))])

    def __iadd__(self, values: Iterable[Any]) -> ParameterList:
        return self.extend(values)

    def __dir__(self) -> list[str]:
        return [key for key in super().__dir__() if not key.isdigit()]

    def append(self, value: Any) -> ParameterList:
        self._size += 1
        self[len(self) - 1] = value
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        if not isinstance(values, Iterable) or isinstance(values, Tensor):
            raise TypeError("ParameterList.extend should be called with an iterable, but got " + type(values).__name__)
        for value in values:
            self.append(value)
        return self

    def extra_repr(self) -> str:
        return "\n".join(_describe_item(i, p) for i, p in enumerate(self))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ParameterList should not be called.")


class ParameterDict(Module):
    """Parameters by (string) name, in insertion order, registered under their names as torch's.

    Tensors are turned into Parameters when stored; other objects are kept as plain
    attributes. ``update`` from a plain ``dict`` inserts in sorted key order, from an
    ``OrderedDict``, a ParameterDict or a sequence of pairs in their order (torch's rule).
    """

    def __init__(self, parameters: Any = None) -> None:
        super().__init__()
        self._keys: dict[str, None] = {}
        if parameters is not None:
            self.update(parameters)

    @staticmethod
    def _key_to_attr(key: Any) -> str:
        if not isinstance(key, str):
            raise TypeError(
                "Index given to ParameterDict cannot be used as a key as it is "
                f"not a string (type is '{type(key).__name__}'). Open an issue on "
                "github if you need non-string keys."
            )
        return key

    def __getitem__(self, key: str) -> Any:
        return getattr(self, self._key_to_attr(key))

    def __setitem__(self, key: str, value: Any) -> None:
        attr = self._key_to_attr(key)
        setattr(self, attr, _as_parameter(value))
        self._keys[key] = None

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        delattr(self, self._key_to_attr(key))

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __reversed__(self) -> Iterator[str]:
        return reversed(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def copy(self) -> ParameterDict:
        return ParameterDict(OrderedDict((k, self[k]) for k in self._keys))

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self) -> None:
        for key in list(self._keys):
            del self[key]

    def pop(self, key: str) -> Any:
        value = self[key]
        del self[key]
        return value

    def popitem(self) -> tuple[str, Any]:
        if not self._keys:
            raise KeyError("popitem(): dictionary is empty")
        key = next(reversed(self._keys))
        return key, self.pop(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default  # noqa: SIM401  (self.get is this method)

    def fromkeys(self, keys: Iterable[str], default: Any = None) -> ParameterDict:
        return ParameterDict((k, default) for k in keys)

    def keys(self) -> Iterable[str]:
        return self._keys.keys()

    def items(self) -> Iterable[tuple[str, Any]]:
        return ((k, self[k]) for k in self._keys)

    def values(self) -> Iterable[Any]:
        return (self[k] for k in self._keys)

    def update(self, parameters: Any) -> None:
        if not isinstance(parameters, Iterable):
            raise TypeError("ParametersDict.update should be called with an iterable of key/value pairs, but got " + type(parameters).__name__)
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            items: Iterable[Any] = list(parameters.items())
        elif isinstance(parameters, Mapping):
            items = sorted(parameters.items())
        else:
            items = []
            for j, pair in enumerate(parameters):
                if not isinstance(pair, Iterable):
                    raise TypeError(f"ParameterDict update sequence element #{j} should be Iterable; is{type(pair).__name__}")
                pair = list(pair)
                if len(pair) != 2:
                    raise ValueError(f"ParameterDict update sequence element #{j} has length {len(pair)}; 2 is required")
                items.append(pair)
        for key, value in items:
            self[key] = value

    def extra_repr(self) -> str:
        return "\n".join(_describe_item(k, p) for k, p in self.items())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ParameterDict should not be called.")

    def __or__(self, other: ParameterDict) -> ParameterDict:
        copy = self.copy()
        copy.update(other)
        return copy

    def __ror__(self, other: ParameterDict) -> ParameterDict:
        copy = other.copy()
        copy.update(self)
        return copy

    def __ior__(self, other: ParameterDict) -> ParameterDict:
        self.update(other)
        return self
