"""The one node type of graphc, and graphs as sets of nodes between inputs and outputs.

Every primitive has exactly one result, so a ``Node`` is also the SSA value it
defines (``Value`` is an alias kept for readers coming from other IRs). Nodes
are immutable once built and point at their operands, so a lazy ``graphc.Tensor``
and a compiled ``Graph`` share one representation: a graph is just the nodes
reachable from its outputs, numbered in topological order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from graphc.ir.types import TensorType

SOURCE_OPS = frozenset({"input", "parameter", "constant", "iota", "size"})


class Node:
    __slots__ = ("op", "inputs", "attrs", "type", "requires_grad", "loc", "data", "phase", "__weakref__")

    def __init__(
        self,
        op: str,
        inputs: tuple[Node, ...],
        attrs: dict[str, Any],
        type: TensorType,
        requires_grad: bool = False,
        loc: str | None = None,
        data: Any = None,
        phase: str = "forward",
    ) -> None:
        self.op = op
        self.inputs = inputs
        self.attrs = attrs
        self.type = type
        self.requires_grad = requires_grad
        # The user's file:line that created the node, for error messages and dumps.
        self.loc = loc
        # A realized value (numpy array or torch tensor); lazy nodes have None.
        self.data = data
        # Which part of the program built it: "forward", or "backward" for nodes built by
        # autodiff (graphc.ir.registry.origin). Only dumps and pictures read it; passes keep it.
        self.phase = phase

    @property
    def is_leaf(self) -> bool:
        """No gradient flows past this node: it tracks none, has no operands, or is a detach."""
        return not self.requires_grad or not self.inputs or self.op == "detach"

    @property
    def shape(self) -> tuple:
        return self.type.shape

    @property
    def dtype(self):  # noqa: ANN201
        return self.type.dtype

    def __repr__(self) -> str:
        args = ", ".join(f"#{id(i) % 10000}" for i in self.inputs)
        return f"<Node {self.type} = {self.op}({args})>"


Value = Node


def toposort(outputs: Iterable[Node], stop: set[int] | None = None) -> list[Node]:
    """Nodes reachable from ``outputs`` with operands first; ``stop`` holds ids not to look behind."""
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(n, False) for n in reversed(list(outputs))]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        if stop is not None and id(node) in stop:
            continue
        for operand in reversed(node.inputs):
            if id(operand) not in seen:
                stack.append((operand, False))
    return order


class Graph:
    """Nodes between explicit ``inputs`` (input/parameter nodes) and ``outputs``."""

    def __init__(self, inputs: list[Node], outputs: list[Node]) -> None:
        self.inputs = list(inputs)
        self.outputs = list(outputs)

    @property
    def nodes(self) -> list[Node]:
        """Inputs first, in their declared order (the order callers pass values), then the body."""
        input_ids = {id(n) for n in self.inputs}
        body = toposort(self.outputs, stop=input_ids)
        return list(self.inputs) + [n for n in body if id(n) not in input_ids]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def users(self) -> dict[int, list[Node]]:
        """Map from a node's id to the nodes that read it."""
        result: dict[int, list[Node]] = {}
        for node in self.nodes:
            for operand in node.inputs:
                result.setdefault(id(operand), []).append(node)
        return result

    def __str__(self) -> str:
        from graphc.ir.printer import format_graph

        return format_graph(self)

    def print(self) -> None:
        print(str(self))

    def to_dot(self) -> str:
        from graphc.ir.dot import graph_to_dot

        return graph_to_dot(self)

    def save(self, path: str) -> None:
        """Write the printed form, with each node's source line and phase as comments (``load`` reads both)."""
        from graphc.ir.printer import format_graph

        with open(path, "w") as f:
            f.write(format_graph(self, with_locations=True) + "\n")

    @staticmethod
    def load(path: str) -> Graph:
        from graphc.ir.parser import parse_graph

        with open(path) as f:
            return parse_graph(f.read())
