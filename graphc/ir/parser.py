"""Reads the printed form back into a ``Graph`` (the inverse of ``graphc.ir.printer``).

Comments are allowed: a line starting with ``#`` is skipped, and the comment after a
node (``  # [backward] file:line``, written by ``format_graph(with_locations=True)``)
gives the node back its phase and source location.
"""

from __future__ import annotations

import ast
import re

import sympy

from graphc.errors import GraphcError
from graphc.ir.dtypes import BY_NAME
from graphc.ir.graph import Graph, Node
from graphc.ir.primitives.source import source_node
from graphc.ir.registry import REGISTRY, infer_type
from graphc.ir.types import TensorType

_LINE = re.compile(r"^(%\d+): (\w+)\[([^\]]*)\] = (\w+)\((.*)\)$")
_RETURN = re.compile(r"^return \((.*)\)$")
_REF = re.compile(r"%(\d+)")
_COMMENT = re.compile(r"^(?:\[(\w+)\])?\s*(.*)$")


def parse_type(dtype_name: str, dims: str) -> TensorType:
    shape = [] if not dims else [_parse_dim(d) for d in dims.split(",")]
    return TensorType(tuple(shape), BY_NAME[dtype_name])


def _parse_dim(text: str) -> int | sympy.Expr:
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else sympy.sympify(text)


def _attr_value(tree: ast.AST) -> object:
    if isinstance(tree, ast.Constant):
        return tree.value
    if isinstance(tree, ast.Tuple):
        return tuple(_attr_value(e) for e in tree.elts)
    if isinstance(tree, ast.Name):
        if tree.id in ("inf", "nan"):
            return float(tree.id)
        if tree.id in BY_NAME:
            return BY_NAME[tree.id]
        return sympy.Symbol(tree.id)
    if isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.USub):
        inner = _attr_value(tree.operand)
        return -inner  # type: ignore[operator]
    return sympy.sympify(ast.unparse(tree))


def _value(values: dict[str, Node], name: str, number: int) -> Node:
    if name not in values:
        raise GraphcError(f"line {number}: {name} is used before it is defined")
    return values[name]


def parse_graph(text: str) -> Graph:
    values: dict[str, Node] = {}
    inputs: list[Node] = []
    outputs: list[Node] | None = None
    for number, raw in enumerate(text.strip().splitlines(), start=1):
        line, _, comment = raw.partition("  #")
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        returned = _RETURN.match(line)
        if returned:
            outputs = [_value(values, name.strip(), number) for name in returned.group(1).split(",") if name.strip()]
            continue
        match = _LINE.match(line)
        if not match:
            raise GraphcError(f"line {number}: cannot parse {raw!r}")
        name, dtype_name, dims, op, args = match.groups()
        declared = parse_type(dtype_name, dims)
        if op not in REGISTRY:
            raise GraphcError(f"line {number}: unknown primitive {op!r}")
        renamed = _REF.sub(r"_v\1", args)
        call = ast.parse(f"f({renamed})", mode="eval").body
        assert isinstance(call, ast.Call)
        operands = [_value(values, "%" + a.id[2:], number) for a in call.args if isinstance(a, ast.Name)]
        attrs = {kw.arg: _attr_value(kw.value) for kw in call.keywords if kw.arg is not None}
        if op in ("input", "parameter"):
            node = source_node(declared, op)
            inputs.append(node)
        else:
            inferred = infer_type(op, [o.type for o in operands], attrs)
            if not inferred.same_as(declared):
                raise GraphcError(f"line {number}: declared type {declared} but {op} gives {inferred}")
            node = Node(op, tuple(operands), attrs, inferred)
        phase, loc = _COMMENT.match(comment.strip()).groups()  # type: ignore[union-attr]
        node.phase = phase or "forward"
        node.loc = loc or None
        values[name] = node
    if outputs is None:
        raise GraphcError("the graph has no return line")
    return Graph(inputs, outputs)
