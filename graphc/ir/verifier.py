"""Checks a graph's invariants; tests run it after every pass."""

from __future__ import annotations

from graphc.errors import GraphcError
from graphc.ir.graph import Graph
from graphc.ir.registry import REGISTRY
from graphc.ir.types import TypeRuleError


class VerificationError(GraphcError):
    """The graph breaks an IR invariant: a pass (not the user) has a bug."""


def verify(graph: Graph) -> None:
    """SSA (each node defined once, before its uses), types consistent, no dangling operands."""
    defined: set[int] = set()
    input_ids = {id(n) for n in graph.inputs}
    for node in graph.inputs:
        if node.op not in ("input", "parameter"):
            raise VerificationError(f"graph input is a {node.op} node, not an input or parameter")
    for node in graph.nodes:
        if id(node) in defined:
            raise VerificationError(f"node {node!r} is defined twice")
        if node.op not in REGISTRY:
            raise VerificationError(f"unknown primitive {node.op!r}")
        if node.op in ("input", "parameter"):
            if id(node) not in input_ids:
                raise VerificationError(f"{node.op} node of type {node.type} is not among the graph's inputs")
        else:
            for operand in node.inputs:
                if id(operand) not in defined:
                    raise VerificationError(f"{node.op} uses a value that is not defined before it (dangling use)")
            try:
                inferred = REGISTRY[node.op].type_rule(*[o.type for o in node.inputs], **node.attrs)
            except TypeRuleError as error:
                raise VerificationError(f"{node.op} has ill-typed operands: {error}") from None
            except TypeError as error:
                raise VerificationError(f"{node.op} has malformed attributes {node.attrs}: {error}") from None
            if not inferred.same_as(node.type):
                raise VerificationError(f"{node.op} is typed {node.type} but its operands give {inferred}")
        defined.add(id(node))
    for out in graph.outputs:
        if id(out) not in defined:
            raise VerificationError("a graph output is not defined in the graph")
