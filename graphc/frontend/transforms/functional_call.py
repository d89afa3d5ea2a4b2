"""``functional_call``: run a module with other tensors in place of its parameters and buffers.

The module's own tensors are put back when the call returns (or raises), so the module is
unchanged; what the call computes is a function of the given tensors, which is what
``grad`` and ``vmap`` need to differentiate or batch with respect to weights.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from graphc.frontend.functional import stack
from graphc.runtime.nn.module import Module
from graphc.runtime.tensor import Tensor


def functional_call(
    module: Module,
    parameter_and_buffer_dicts: Mapping[str, Tensor] | Sequence[Mapping[str, Tensor]],
    args: Any = None,
    kwargs: dict[str, Any] | None = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
) -> Any:
    """torch.func.functional_call: ``module(*args, **kwargs)`` with the named tensors substituted."""
    values = _merged(parameter_and_buffer_dicts)
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _reparametrized(module, values, tie_weights, strict):
        return module(*args, **(kwargs or {}))


def _merged(dicts: Mapping[str, Tensor] | Sequence[Mapping[str, Tensor]]) -> dict[str, Tensor]:
    if isinstance(dicts, Mapping):
        return dict(dicts)
    if not isinstance(dicts, (tuple, list)) or not all(isinstance(d, Mapping) for d in dicts):
        raise ValueError(f"Expected parameter_and_buffer_dicts to be a dict, or a list/tuple of dicts, but got {type(dicts).__name__}")
    merged: dict[str, Tensor] = {}
    repeated = []
    for d in dicts:
        for key, value in d.items():
            if key in merged:
                repeated.append(key)
            merged[key] = value
    if repeated:
        raise ValueError(f"{repeated} appeared in multiple dictionaries; behavior of functional call is ambiguous")
    return merged


def _tied(module: Module, values: dict[str, Tensor]) -> dict[str, Tensor]:
    """Every name of a tensor the module holds under several names gets the value given for one of them."""
    names_of: dict[int, list[str]] = {}
    for name, tensor in [*module.named_parameters(remove_duplicate=False), *module.named_buffers(remove_duplicate=False)]:
        names_of.setdefault(id(tensor), []).append(name)
    result = dict(values)
    for names in names_of.values():
        given = [n for n in names if n in values]
        if len(names) < 2 or not given:
            continue
        if len({id(values[n]) for n in given}) > 1:
            raise ValueError(f"functional_call got multiple values for keys {sorted(given)}, which are tied. Consider using tie_weights=False")
        for name in names:
            result[name] = values[given[0]]
    return result


@contextmanager
def _reparametrized(module: Module, values: dict[str, Tensor], tie_weights: bool, strict: bool) -> Iterator[None]:
    if tie_weights:
        values = _tied(module, values)
    known = {name for name, _ in module.named_parameters(remove_duplicate=False)} | {name for name, _ in module.named_buffers(remove_duplicate=False)}
    if strict:
        missing, unexpected = sorted(known - set(values)), sorted(set(values) - known)
        if missing or unexpected:
            problems = ([f"Unexpected key(s): {', '.join(repr(k) for k in unexpected)}."] if unexpected else []) + (
                [f"Missing key(s): {', '.join(repr(k) for k in missing)}."] if missing else []
            )
            raise RuntimeError(f"Error(s) in reparametrizing for {type(module).__name__}:\n\t" + "\n\t".join(problems))
    undo: list[tuple[dict, str, Any, bool]] = []
    try:
        for name, value in values.items():
            path, _, leaf = name.rpartition(".")
            owner = module.get_submodule(path)
            store = owner._parameters if leaf in owner._parameters else owner._buffers if leaf in owner._buffers else owner.__dict__
            undo.append((store, leaf, store.get(leaf), leaf in store))
            store[leaf] = value
        yield
    finally:
        for store, leaf, old, present in reversed(undo):
            if present:
                store[leaf] = old
            else:
                del store[leaf]


def stack_module_state(models: Sequence[Module]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """torch.func.stack_module_state: the parameters and buffers of ``models`` stacked along a new first axis, by name,
    for ensembling with ``vmap(functional_call)``; the stacked parameters are new leaves (requiring a gradient where
    the first model's do), unrelated to the models' own."""
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or not any(m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same training/eval mode.")
    if len({type(m) for m in models}) != 1:
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    params = {
        name: stack([dict(m.named_parameters())[name].detach() for m in models]).requires_grad_(p.requires_grad)
        for name, p in models[0].named_parameters()
    }
    buffers = {name: stack([dict(m.named_buffers())[name] for m in models]) for name, _ in models[0].named_buffers()}
    return params, buffers
