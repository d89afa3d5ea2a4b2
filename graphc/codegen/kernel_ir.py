"""The Kernel IR: what fusion produces and both code generators consume.

A ``Kernel`` is a group of IR nodes computed by one generated function: it
reads the buffers of its ``inputs`` (values produced by earlier kernels or given
to the program), computes its ``nodes`` in order, and writes the buffers of its
``outputs``. Values inside a kernel that are not outputs never reach memory.
Movement nodes inside a kernel (expand, permute, slice, reshape) are views: the
emitters turn them into index arithmetic on the loads that read through them.

Fusion only changes how nodes are grouped; the unfused program is one kernel
per computing node.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.ir.graph import Graph, Node
from graphc.ir.registry import REGISTRY


@dataclass
class Kernel:
    name: str
    kind: str  # the category of its main node: elementwise, reduction, matmul, movement, ...
    nodes: list[Node]
    inputs: list[Node]
    outputs: list[Node]
    source: str = ""
    path: str = ""
    c_source: str = ""  # the NumPy backend's C loops for this kernel, if any (graphc.codegen.c_loops)


@dataclass
class Program:
    """A graph scheduled into kernels, in execution order."""

    graph: Graph
    kernels: list[Kernel]
    # Why candidate fusions were not made, for report(); empty when fusion is off.
    fusion_log: list[str] = field(default_factory=list)


def kernel_name(index: int, nodes: list[Node]) -> str:
    ops = []
    for node in nodes:
        if REGISTRY[node.op].category not in ("movement", "source") and node.op not in ops:
            ops.append(node.op)
    label = "_".join(ops[:4]) or nodes[-1].op
    return f"k{index}_{label}"


def kernel_for(index: int, nodes: list[Node], outputs: list[Node]) -> Kernel:
    """A kernel computing ``nodes``: its inputs are the operands produced outside it."""
    inside = {id(n) for n in nodes}
    inputs: list[Node] = []
    for node in nodes:
        for operand in node.inputs:
            if id(operand) not in inside and all(operand is not i for i in inputs):
                inputs.append(operand)
    main = next((n for n in reversed(nodes) if REGISTRY[n.op].category != "movement"), nodes[-1])
    return Kernel(kernel_name(index, nodes), REGISTRY[main.op].category, nodes, inputs, outputs)


def schedule_unfused(graph: Graph) -> Program:
    """One kernel per node that computes something (sources are buffers, not kernels)."""
    kernels = []
    for node in graph.nodes:
        if node.op in ("input", "parameter"):
            continue
        kernels.append(kernel_for(len(kernels), [node], [node]))
    return Program(graph, kernels)
