"""Rebuilding a graph node by node, the mechanism every rewriting pass shares.

Nodes are immutable, so a pass maps each old node to a new one in topological
order: a rule sees the node with its operands already rewritten and returns a
replacement, or None to keep the node (copied only if an operand changed).
"""

from __future__ import annotations

from collections.abc import Callable

from graphc.ir.graph import Graph, Node

Rule = Callable[[Node], "Node | None"]


def with_inputs(node: Node, inputs: tuple[Node, ...]) -> Node:
    if all(a is b for a, b in zip(inputs, node.inputs)):
        return node
    return Node(node.op, inputs, node.attrs, node.type, requires_grad=node.requires_grad, loc=node.loc, phase=node.phase)


def rewrite(graph: Graph, rule: Rule) -> Graph:
    mapping: dict[int, Node] = {}
    for node in graph.nodes:
        rebuilt = with_inputs(node, tuple(mapping[id(i)] for i in node.inputs))
        replacement = rule(rebuilt)
        mapping[id(node)] = rebuilt if replacement is None else replacement
    return Graph([mapping[id(n)] for n in graph.inputs], [mapping[id(n)] for n in graph.outputs])


def rewrite_read_once(graph: Graph, rule: Callable[[Node, Callable[[Node], bool]], Node | None]) -> Graph:
    """``rewrite`` with a rule that can ask whether a node (as rewritten so far) is read exactly once.

    Rules that fuse a value into its only reader need that count; a rewritten node is a new
    object, so the count follows it (and whatever replaces it) from the original node.
    """
    uses: dict[int, int] = {}
    for node in graph.nodes:
        for operand in node.inputs:
            uses[id(operand)] = uses.get(id(operand), 0) + 1
    for node in graph.outputs:
        uses[id(node)] = uses.get(id(node), 0) + 1
    once: set[int] = set()
    mapping: dict[int, Node] = {}
    for node in graph.nodes:
        rebuilt = with_inputs(node, tuple(mapping[id(i)] for i in node.inputs))
        if uses.get(id(node)) == 1:
            once.add(id(rebuilt))
        replacement = rule(rebuilt, lambda n: id(n) in once)
        if replacement is not None and id(rebuilt) in once:
            once.add(id(replacement))
        mapping[id(node)] = rebuilt if replacement is None else replacement
    return Graph([mapping[id(n)] for n in graph.inputs], [mapping[id(n)] for n in graph.outputs])
