"""What a compiled torch module's programs depend on besides the call's arguments: the module's Python values.

torch.export runs ``forward`` once and bakes into the program every Python value it read: a
``self.scale = 2.0``, a ``self.use_gate`` flag, each layer's ``training`` flag, ``Dropout.p``, the
shapes and dtypes of tensor attributes (whose values the program reads on every call). Eager
torch reads them on every call, so a program may serve a call only while they are unchanged:
``ModuleState.snapshot()`` is part of the program cache's key.

Which values forward reads cannot be known without running it, so every plain attribute of
every submodule is watched. Comparing them costs about 13 us per call for 60 modules: each
module's values are taken with one ``operator.itemgetter`` (C) and the tuples compared, rather
than walking ``named_modules()`` and its dictionaries in Python (about 400 us).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

# Values that torch.export bakes into a program and that compare by value.
_PLAIN = (bool, int, float, complex, str, bytes, type(None), torch.dtype, torch.device)


def _plain(value: Any) -> bool:
    """A number, string, flag, None, dtype or device, or a tuple of them (a kernel size)."""
    if isinstance(value, _PLAIN):
        return True
    return type(value) is tuple and all(_plain(v) for v in value)


def _no_values(attributes: dict) -> tuple:
    return ()


@dataclass
class _Watched:
    """One module of the tree: its attribute dictionary and which of its entries are watched."""

    path: str  # the module's name in the tree ("" for the root)
    attributes: dict  # the module's __dict__
    size: int  # its number of entries when watched: one added or removed means the tree changed
    names: tuple[str, ...]  # the plain attributes
    values: Callable[[dict], Any]  # their values, in one C call
    tensors: tuple[str, ...]  # the tensor attributes (torch.export lifts them as constants)


class ModuleState:
    """The Python values of a module tree that a program was exported with."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.watched: list[_Watched] = []
        self.last: tuple | None = None

    def snapshot(self) -> tuple:
        """The watched values now; the modules and attributes are listed anew when any changed
        (a submodule replaced, an attribute added), since a new module has values of its own."""
        values = self._values()
        if values is None or values != self.last:
            self._watch()
            values = self._values()
            self.last = values
        assert values is not None  # just listed
        return values

    def readable(self) -> dict[str, Any]:
        """The watched values by ``module.attribute`` name, for saying what changed."""
        found: dict[str, Any] = {}
        for watched in self.watched:
            prefix = f"{watched.path}." if watched.path else ""
            for name in watched.names:
                found[prefix + name] = watched.attributes.get(name)
            for name in watched.tensors:
                tensor = watched.attributes.get(name)
                found[prefix + name] = f"a tensor {_tensor_type(tensor)}"
        return found

    def _watch(self) -> None:
        self.watched = []
        for path, module in self.model.named_modules():
            attributes = module.__dict__
            names = tuple(k for k, v in attributes.items() if _plain(v))
            tensors = tuple(k for k, v in attributes.items() if isinstance(v, torch.Tensor))
            values = operator.itemgetter(*names) if names else _no_values
            self.watched.append(_Watched(path, attributes, len(attributes), names, values, tensors))

    def _values(self) -> tuple | None:
        """Per module: its plain values, its submodules (by identity) and its tensor attributes'
        types; None where an attribute was added or removed since the modules were listed."""
        found = []
        for watched in self.watched:
            attributes = watched.attributes
            if len(attributes) != watched.size:
                return None
            try:
                tensors = tuple(_tensor_type(attributes[name]) for name in watched.tensors) if watched.tensors else ()
                found.append((watched.values(attributes), tuple(attributes["_modules"].values()), tensors))
            except (KeyError, AttributeError):  # an attribute replaced by one of another kind
                return None
        return tuple(found)


def _tensor_type(tensor: torch.Tensor) -> tuple:
    return (tensor.dtype, tuple(tensor.shape), tensor.device.type)


def changes(before: dict[str, Any], after: dict[str, Any], limit: int = 3) -> str:
    """The first ``limit`` values that differ between two ``readable()`` forms, as ``name: old -> new``."""
    names = list(dict.fromkeys([*before, *after]))
    differ = [name for name in names if before.get(name, "(none)") != after.get(name, "(none)")]
    shown = [f"{name}: {before.get(name, '(none)')!r} -> {after.get(name, '(none)')!r}" for name in differ[:limit]]
    more = f" and {len(differ) - limit} more" if len(differ) > limit else ""
    return ", ".join(shown) + more if shown else "a submodule was replaced"


def tensor_attribute(model: torch.nn.Module, path: Any) -> torch.Tensor | None:
    """The tensor at ``path`` ("inner.mask") among the module tree's plain attributes, if there is one
    (a constant graphc made itself has a number for its key)."""
    if not isinstance(path, str):
        return None
    owner: Any = model
    *modules, name = path.split(".")
    for part in modules:
        owner = owner._modules.get(part) if isinstance(owner, torch.nn.Module) else None
        if owner is None:
            return None
    value = owner.__dict__.get(name)
    return value if isinstance(value, torch.Tensor) and not isinstance(value, torch.nn.Parameter) else None
