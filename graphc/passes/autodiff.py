"""Reverse-mode autodiff over IR nodes.

Walk the nodes from the outputs back to the inputs; at each node, ask the
registry's VJP rule of its primitive for the gradients of its operands, and add
up the gradients of values used more than once. The rules build ordinary IR
nodes, so the backward graph is a graph like any other: it prints, simplifies,
fuses and compiles, and differentiating it again gives second derivatives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from graphc.errors import GraphcError
from graphc.ir import build as b
from graphc.ir.graph import Node, toposort
from graphc.ir.registry import REGISTRY, origin


def _reaches(order: list[Node], wrt: list[Node]) -> set[int]:
    """Ids of the nodes through which a gradient can flow back to some node of ``wrt``."""
    targets = {id(n) for n in wrt}
    relevant: set[int] = set()
    for node in order:
        if id(node) in targets or (node.requires_grad and any(id(i) in relevant for i in node.inputs)):
            relevant.add(id(node))
    return relevant


def vjp(outputs: list[Node], output_grads: list[Node], wrt: list[Node], hooks: Mapping[int, Callable[[Node, Node], Node]] | None = None) -> list[Node | None]:
    """Gradients of ``sum(output * grad)`` with respect to each node of ``wrt`` (None if unreachable).

    ``hooks`` (by node id) replace a node's gradient once it is complete, before it flows on:
    ``Tensor.register_hook`` (graphc/frontend/autograd.py)."""
    order = toposort(outputs)
    relevant = _reaches(order, wrt)
    stop = {id(n) for n in wrt if not n.inputs}
    grads: dict[int, Node] = {}
    with origin("backward"):
        for out, g in zip(outputs, output_grads):
            if id(out) in relevant:
                grads[id(out)] = b.add(grads[id(out)], g) if id(out) in grads else g
    for node in reversed(order):
        g = grads.get(id(node))
        if g is not None and hooks and id(node) in hooks:
            g = grads[id(node)] = hooks[id(node)](node, g)
        if g is None or id(node) in stop or not node.inputs:
            continue
        rule = REGISTRY[node.op].vjp
        if rule is None:
            if REGISTRY[node.op].nondifferentiable:
                continue
            raise GraphcError(f"autodiff: primitive {node.op} has no VJP rule" + (f" (at {node.loc})" if node.loc else ""))
        # Gradient nodes are tagged as backward and carry the user's line of the op they differentiate.
        with origin("backward", node.loc):
            for operand, operand_grad in zip(node.inputs, rule(node, g)):
                if operand_grad is None or id(operand) not in relevant:
                    continue
                previous = grads.get(id(operand))
                grads[id(operand)] = operand_grad if previous is None else b.add(previous, operand_grad)
    return [grads.get(id(n)) for n in wrt]
