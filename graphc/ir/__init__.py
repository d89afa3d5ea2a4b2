"""graphc's intermediate representation: typed SSA nodes, the op registry, printing and parsing."""

from graphc.ir import primitives  # noqa: F401  (registers every primitive)
from graphc.ir.dtypes import DType
from graphc.ir.graph import Graph, Node, Value
from graphc.ir.parser import parse_graph
from graphc.ir.primitives.source import source_node
from graphc.ir.printer import format_graph
from graphc.ir.registry import REGISTRY, OpDef, emit
from graphc.ir.types import TensorType
from graphc.ir.verifier import VerificationError, verify

__all__ = [
    "DType",
    "Graph",
    "Node",
    "OpDef",
    "REGISTRY",
    "TensorType",
    "Value",
    "VerificationError",
    "emit",
    "format_graph",
    "parse_graph",
    "source_node",
    "verify",
]
