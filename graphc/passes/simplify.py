"""Simplification: CSE, algebraic identities, and dead code (dropped by construction).

A graph holds only the nodes reachable from its outputs, so dead code vanishes
whenever a pass rebuilds it. The identities are a named rule table, tried in
order on every node after its operands have been simplified.
"""

from __future__ import annotations

from collections.abc import Callable

from graphc.ir.graph import Graph, Node
from graphc.ir.types import shapes_equal
from graphc.passes.rewrite import rewrite


def _constant_value(node: Node) -> object:
    """The scalar a node holds everywhere, if it is a (broadcast) constant."""
    while node.op in ("expand", "reshape"):
        node = node.inputs[0]
    return node.attrs["value"] if node.op == "constant" else None


def drop_detach(node: Node) -> Node | None:
    """detach only matters to autodiff, which has already run."""
    return node.inputs[0] if node.op == "detach" else None


def drop_identity_movement(node: Node) -> Node | None:
    if node.op in ("reshape", "expand") and shapes_equal(node.shape, node.inputs[0].shape):
        return node.inputs[0]
    if node.op == "permute" and node.attrs["perm"] == tuple(range(len(node.shape))):
        return node.inputs[0]
    if node.op == "cast" and node.dtype == node.inputs[0].dtype:
        return node.inputs[0]
    return None


def merge_reshapes(node: Node) -> Node | None:
    """reshape(reshape(x)) is one reshape."""
    if node.op == "reshape" and node.inputs[0].op == "reshape":
        inner = node.inputs[0].inputs[0]
        return Node("reshape", (inner,), node.attrs, node.type, loc=node.loc, phase=node.phase)
    return None


def neutral_elements(node: Node) -> Node | None:
    """x + 0, x - 0, x * 1, x / 1 are x (only when the result type is x's type)."""
    if node.op not in ("add", "sub", "mul", "div"):
        return None
    x, y = node.inputs
    neutral = 0 if node.op in ("add", "sub") else 1
    if _constant_value(y) == neutral and x.type.same_as(node.type):
        return x
    if node.op in ("add", "mul") and _constant_value(x) == neutral and y.type.same_as(node.type):
        return y
    return None


def double_negation(node: Node) -> Node | None:
    if node.op == "neg" and node.inputs[0].op == "neg":
        return node.inputs[0].inputs[0]
    return None


RULES: list[Callable[[Node], Node | None]] = [
    drop_detach,
    drop_identity_movement,
    merge_reshapes,
    neutral_elements,
    double_negation,
]


def _cse_key(node: Node) -> tuple:
    return (node.op, tuple(id(i) for i in node.inputs), repr(sorted(node.attrs.items())), str(node.type))


def simplify(graph: Graph) -> Graph:
    seen: dict[tuple, Node] = {}

    def rule(node: Node) -> Node | None:
        if node.op in ("input", "parameter"):
            return None
        current = node
        changed = True
        while changed and current.op not in ("input", "parameter"):
            changed = False
            for identity in RULES:
                replacement = identity(current)
                if replacement is not None:
                    current = replacement
                    changed = True
                    break
        if current.op in ("input", "parameter"):
            return current  # inputs are distinct values even when their types are equal
        key = _cse_key(current)
        if key in seen:
            return seen[key]
        seen[key] = current
        return current

    return rewrite(graph, rule)
