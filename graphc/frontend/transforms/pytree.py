"""Nested tuples, lists and dicts of tensors, as torch.func's pytrees: flattened to leaves and rebuilt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Spec:
    """The shape of a pytree: ``kind`` is "leaf", "tuple", "list", "dict" (``keys`` in order) or "namedtuple" (``keys`` holds its type)."""

    kind: str
    children: tuple[Spec, ...] = ()
    keys: tuple[Any, ...] = ()

    @property
    def num_leaves(self) -> int:
        return 1 if self.kind == "leaf" else sum(c.num_leaves for c in self.children)


LEAF = Spec("leaf")


def flatten(tree: Any) -> tuple[list[Any], Spec]:
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree: Any, leaves: list[Any]) -> Spec:
    if type(tree) in (tuple, list):
        return Spec(type(tree).__name__, tuple(_flatten(t, leaves) for t in tree))
    if isinstance(tree, tuple):  # a named tuple, or max(dim)'s (values, indices): built again from its items
        return Spec("namedtuple", tuple(_flatten(t, leaves) for t in tree), (type(tree),))
    if isinstance(tree, dict):
        return Spec("dict", tuple(_flatten(v, leaves) for v in tree.values()), tuple(tree.keys()))
    leaves.append(tree)
    return LEAF


def unflatten(spec: Spec, leaves: list[Any]) -> Any:
    return _unflatten(spec, iter(leaves))


def _unflatten(spec: Spec, it: Any) -> Any:
    if spec.kind == "leaf":
        return next(it)
    values = [_unflatten(c, it) for c in spec.children]
    if spec.kind == "dict":
        return dict(zip(spec.keys, values))
    if spec.kind == "namedtuple":
        return spec.keys[0](*values)
    return values if spec.kind == "list" else tuple(values)


def broadcast_prefix(prefix: Any, spec: Spec, what: str) -> list[Any]:
    """One value per leaf of ``spec`` from ``prefix``: a tree matching ``spec`` down to some depth, a single value
    standing for a whole subtree (torch.func's in_dims/out_dims)."""
    out: list[Any] = []
    _broadcast(prefix, spec, out, what)
    return out


def _broadcast(prefix: Any, spec: Spec, out: list[Any], what: str) -> None:
    if prefix is None or isinstance(prefix, int):
        out.extend([prefix] * spec.num_leaves)
        return
    if spec.kind == "leaf":
        raise ValueError(f"{what}: expected an int or None for a tensor, got {prefix!r}")
    if isinstance(prefix, dict) != (spec.kind == "dict"):
        raise ValueError(f"{what}: the structure of {prefix!r} does not match the inputs' ({spec.kind})")
    if spec.kind == "dict":
        if set(prefix) != set(spec.keys):
            raise ValueError(f"{what}: the keys {sorted(map(str, prefix))} do not match the inputs' {sorted(map(str, spec.keys))}")
        children = [prefix[k] for k in spec.keys]
    else:
        if not isinstance(prefix, (tuple, list)) or len(prefix) != len(spec.children):
            count = len(prefix) if isinstance(prefix, (tuple, list)) else "no"
            raise ValueError(f"{what}: {prefix!r} has {count} entries, the inputs have {len(spec.children)}")
        children = list(prefix)
    for value, child in zip(children, spec.children):
        _broadcast(value, child, out, what)
