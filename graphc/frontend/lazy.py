"""Realizing lazy values: cut the pending subgraph, compile it (once per structure), run it.

Ops on ``graphc.Tensor`` only record nodes. When a value is needed, the nodes
it depends on that have no data yet are copied into a fresh ``Graph`` whose
inputs are the realized leaves; the printed graph is the cache key, so a loop
that builds the same structure every iteration compiles once. Its source lines are
not in the key (only which of its nodes share one): each call gives the program its
own, which its errors name (``graphc.runtime.call_sites``).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

from graphc.codegen import native
from graphc.errors import GraphcError
from graphc.frontend import tracing
from graphc.ir.graph import Graph, Node, toposort
from graphc.ir.primitives.source import source_node
from graphc.ir.printer import format_graph
from graphc.ir.registry import user_location
from graphc.runtime import call_sites, config, device_errors
from graphc.runtime.executor import CompiledProgram, compile_graph

_programs: dict[tuple[str, bool, bool, str, tuple[int, ...]], CompiledProgram] = {}
compile_count = 0

# Tensors whose pending value is state updated as a side effect (BatchNorm's running
# statistics): the next realization outside a trace computes them in the same program,
# so a training loop that never reads them does not grow an ever longer pending graph.
_deferred: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()


# Values that were differentiated (``loss.backward()``): computed with the gradients even when
# nothing holds the tensor any more, so that the forward's checks (an index out of range) raise
# as torch's eager forward would, rather than the gradient alone coming out silently zero.
_kept: dict[int, Node] = {}


# Stand-ins for the inputs of a transformed function (vmap's per-example inputs), by node id: what to
# say when code asks for a value that depends on one, which exists for no single example.
placeholders: dict[int, str] = {}


def defer(tensor: Any) -> None:
    """Realize ``tensor``'s pending value together with the next realization (outside graphc.compile)."""
    _deferred[id(tensor)] = tensor


def deferred() -> list[Any]:
    """The tensors ``defer`` holds now (vmap refuses state updated from a batched value)."""
    return list(_deferred.values())


def undefer(tensor: Any) -> None:
    _deferred.pop(id(tensor), None)


def keep(node: Node) -> None:
    """Realize ``node`` together with the next realization, whether or not a tensor still holds it."""
    _kept[id(node)] = node


def pending_graph(targets: list[Node]) -> tuple[Graph, list[Node]]:
    """The graph computing ``targets`` from realized leaves, and those leaves in input order."""
    order = toposort(targets, stop={id(n) for n in realized_inputs(targets)})
    mapping: dict[int, Node] = {}
    inputs: list[Node] = []
    leaves: list[Node] = []
    for node in order:
        if node.data is not None:
            new = source_node(node.type, "parameter" if node.op == "parameter" else "input")
            inputs.append(new)
            leaves.append(node)
        elif node.op in ("input", "parameter"):
            if id(node) in placeholders:
                location = user_location()
                raise GraphcError(placeholders[id(node)] + (f"\n  at {location}" if location else ""))
            raise GraphcError(
                "cannot compute a value that depends on a traced input while graphc.compile is tracing "
                "(data-dependent Python control flow such as .item(), bool() or printing is not supported inside "
                f"a compiled function){_at(node)}"
            )
        else:
            operands = tuple(mapping[id(i)] for i in node.inputs)
            new = Node(node.op, operands, node.attrs, node.type, requires_grad=node.requires_grad, loc=node.loc, phase=node.phase)
        mapping[id(node)] = new
    return Graph(inputs, [mapping[id(n)] for n in targets]), leaves


def _at(node: Node) -> str:
    return f"\n  at {node.loc}" if node.loc else ""


def value_read_error(node: Node) -> GraphcError:
    """Reading an input's value, or a value computed from the inputs, while tracing: named at the user's line."""
    where = node.loc or user_location()
    return GraphcError(
        "graphc.compile: cannot read the value of an input, or of a tensor computed from the function's inputs, while "
        "tracing (.item(), .numpy(), bool(), print and Python control flow on tensor values need a value that only "
        "exists when the compiled program runs)" + (f"\n  at {where}" if where else "")
    )


def realized_inputs(targets: list[Node]) -> list[Node]:
    """Nodes with data reachable from ``targets`` without crossing another realized node."""
    found: list[Node] = []
    seen: set[int] = set()
    stack = list(targets)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.data is not None:
            found.append(node)
            continue
        stack.extend(node.inputs)
    return found


def get_program(graph: Graph, backend: str) -> tuple[CompiledProgram, tuple[str, ...]]:
    """The program for ``graph``'s structure, and ``graph``'s lines, which its errors are to name (``call_sites``)."""
    global compile_count
    # Eager code realizes many small one-off graphs: a C build each would cost more than it saves.
    loops = native.for_eager()
    fusion = config.default_fusion()
    locations, pattern = call_sites.location_table(graph)
    key = (backend, loops, fusion, format_graph(graph), pattern)
    program = _programs.get(key)
    if program is None:
        program = compile_graph(graph, backend=backend, fusion=fusion, loops=loops)
        _programs[key] = program
        compile_count += 1
    return program, locations


def realize(nodes: Iterable[Node], backend: str | None = None) -> None:
    """Give every node in ``nodes`` its data, running one compiled program for all of them."""
    targets: list[Node] = []
    seen: set[int] = set()
    for node in nodes:
        if node.data is None and id(node) not in seen:
            seen.add(id(node))
            targets.append(node)
    trace = tracing.active()
    if trace is None and (_deferred or _kept):
        for node in [tensor._node for tensor in list(_deferred.values())] + list(_kept.values()):
            if node.data is None and id(node) not in seen:
                seen.add(id(node))
                targets.append(node)
        _deferred.clear()
        _kept.clear()
    if not targets:
        return
    if trace is not None:
        for node in targets:
            if trace.depends_on_standins(node):
                raise value_read_error(node)
    graph, leaves = pending_graph(targets)
    program, locations = get_program(graph, _backend_for(backend or config.default_backend(), leaves))
    results = program([leaf.data for leaf in leaves], locations)
    for node, value in zip(targets, results):
        node.data = value
        forget_history(node)


def forget_history(node: Node) -> None:
    """A realized value that no gradient flows through becomes a leaf, freeing what computed it.

    This is the one place a node changes after it is built: without it, a training
    loop's parameters would hold every earlier step's graph alive.
    """
    if node.requires_grad and node.op != "detach":
        return
    node.op = "input"
    node.inputs = ()
    node.attrs = {}


def on_cuda(leaves: Iterable[Node]) -> bool:
    """Whether any leaf's data lives on a CUDA device (a torch CUDA tensor)."""
    return any(str(getattr(leaf.data, "device", "cpu")).startswith("cuda") for leaf in leaves)


def _backend_for(backend: str, leaves: list[Node]) -> str:
    """Data already on a CUDA device runs on the triton backend; backend "auto" is numpy otherwise."""
    if on_cuda(leaves):
        return "triton"
    return "numpy" if backend == "auto" else backend


def to_numpy(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.ndarray):
        return value
    device_errors.raise_pending()  # the host waits for the device here anyway
    value = value.detach().cpu()
    if str(value.dtype) == "torch.bfloat16":  # NumPy has no bfloat16: view the bits as ml_dtypes' bfloat16
        import torch

        from graphc.ir.dtypes import bfloat16

        return value.view(torch.int16).numpy().view(bfloat16.numpy)
    return value.numpy()
