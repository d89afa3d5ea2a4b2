"""torch.cond and torch.while_loop.

``cond`` with a tensor predicate runs both branches and selects between their results with
``where``: torch requires both branches to be pure functions returning tensors of one structure,
shape and dtype, and under those rules selecting is the same value, and the same gradient (the
unselected branch receives zeros), as running one branch; it is an ordinary graph, so it works
in eager code and inside graphc.compile alike. ``while_loop``'s trip count depends on values,
which a compiled program cannot (it is a fixed graph), so it runs in eager code only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphc.errors import GraphcError
from graphc.frontend import tracing
from graphc.frontend.functional import where
from graphc.runtime.tensor import Tensor


def _flatten(tree: Any) -> tuple[list[Tensor], Callable[[list[Tensor]], Any]]:
    """The tensors of a tuple/list/dict structure and a function rebuilding it from replacements."""
    if isinstance(tree, Tensor):
        return [tree], lambda leaves: leaves[0]
    if isinstance(tree, (tuple, list)):
        parts = [_flatten(item) for item in tree]
        counts = [len(leaves) for leaves, _ in parts]

        def rebuild_sequence(leaves: list[Tensor]) -> Any:
            items, start = [], 0
            for (_, rebuild), count in zip(parts, counts):
                items.append(rebuild(leaves[start : start + count]))
                start += count
            return type(tree)(items)

        return [leaf for leaves, _ in parts for leaf in leaves], rebuild_sequence
    if isinstance(tree, dict):
        keys = list(tree)
        values, rebuild_values = _flatten([tree[k] for k in keys])
        return values, lambda leaves: dict(zip(keys, rebuild_values(leaves)))
    raise GraphcError(f"cond: branches must return tensors (or tuples, lists, dicts of them), got {type(tree).__name__}")


def cond(pred: Any, true_fn: Callable[..., Any], false_fn: Callable[..., Any], operands: tuple | list = ()) -> Any:
    """``true_fn(*operands)`` if ``pred`` else ``false_fn(*operands)``; with a one-element tensor ``pred`` both run and ``where`` selects."""
    if not isinstance(pred, Tensor):
        return true_fn(*operands) if pred else false_fn(*operands)
    if pred.numel() != 1:
        raise GraphcError(f"cond: expected the predicate to be a tensor with one element, got shape {tuple(pred.shape)}")
    chosen, other = _flatten(true_fn(*operands)), _flatten(false_fn(*operands))
    if len(chosen[0]) != len(other[0]):
        raise GraphcError(f"cond: the branches return different structures ({len(chosen[0])} and {len(other[0])} tensors)")
    for a, b in zip(chosen[0], other[0]):
        if tuple(a.shape) != tuple(b.shape) or a.dtype != b.dtype:
            got = f"{a.dtype.name}{list(a.shape)} and {b.dtype.name}{list(b.shape)}"
            raise GraphcError(f"cond: the branches must return tensors of one shape and dtype, got {got}")
    flag = pred.reshape(()).bool()
    return chosen[1]([where(flag, a, b) for a, b in zip(chosen[0], other[0])])


def while_loop(cond_fn: Callable[..., Any], body_fn: Callable[..., Any], carried_inputs: tuple | list) -> tuple:
    """``carried = body_fn(*carried)`` while ``cond_fn(*carried)`` is true; the final carried values."""
    if tracing.active() is not None:
        raise GraphcError("while_loop inside graphc.compile: its trip count depends on tensor values, which a compiled program cannot; call it in eager code")
    carried = tuple(carried_inputs)
    while bool(cond_fn(*carried)):
        result = body_fn(*carried)
        result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
        if len(result) != len(carried):
            raise GraphcError(f"while_loop: body_fn returned {len(result)} values for {len(carried)} carried inputs")
        carried = result
    return carried
