"""The printed form of a graph: one node a line, ``%7: f32[B,30] = add(%5, %6)``.

The form is stable (numbering follows the topological order, attributes follow
the order the registry declares) so it doubles as the cache key of a compiled
graph and as a file format that ``graphc.ir.parser`` reads back.
"""

from __future__ import annotations

import sympy

from graphc.ir.dtypes import DType
from graphc.ir.graph import Graph, Node
from graphc.ir.registry import REGISTRY
from graphc.ir.types import format_dim


def format_value(value: object) -> str:
    if isinstance(value, DType):
        return value.short
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, sympy.Basic):
        return format_dim(value)
    if isinstance(value, tuple):
        inner = ", ".join(format_value(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, str):
        return repr(value)
    raise TypeError(f"cannot print attribute value {value!r}")


def format_attrs(node: Node) -> list[str]:
    order = REGISTRY[node.op].attrs
    names = [k for k in order if k in node.attrs] + sorted(k for k in node.attrs if k not in order)
    return [f"{k}={format_value(node.attrs[k])}" for k in names]


def format_node(node: Node, names: dict[int, str]) -> str:
    args = [names[id(i)] for i in node.inputs] + format_attrs(node)
    return f"{names[id(node)]}: {node.type} = {node.op}({', '.join(args)})"


def format_comment(node: Node) -> str:
    """``  # [backward] file:line``: where the node came from, which ``parse_graph`` reads back."""
    parts = ([f"[{node.phase}]"] if node.phase != "forward" else []) + ([node.loc] if node.loc else [])
    return f"  # {' '.join(parts)}" if parts else ""


def number_nodes(nodes: list[Node]) -> dict[int, str]:
    return {id(n): f"%{i}" for i, n in enumerate(nodes)}


def format_graph(graph: Graph, with_locations: bool = False) -> str:
    nodes = graph.nodes
    names = number_nodes(nodes)
    lines = []
    for node in nodes:
        line = format_node(node, names)
        if with_locations:
            line += format_comment(node)
        lines.append(line)
    lines.append("return (" + ", ".join(names[id(n)] for n in graph.outputs) + ")")
    return "\n".join(lines)
