"""The programs compiled for an imported graph: inference, training forward and backward, check.

Training uses graphc's own autodiff: ``vjp`` builds the backward graph from the
imported forward graph. The forward program returns the model's outputs, the
new buffer values and the values the backward reads (chosen by the remat pass,
``graphc.passes.remat.saved_for_backward``); the backward program takes those and
the gradients of the outputs, recomputes what was not saved, and returns the
gradients of the inputs and parameters that require them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy

from graphc.frontend.torch_import.importer import ImportedGraph
from graphc.ir.grad_mode import grad_mode
from graphc.ir.graph import Graph, Node, toposort
from graphc.ir.primitives.source import source_node
from graphc.ir.types import free_symbols
from graphc.passes.autodiff import vjp
from graphc.passes.remat import saved_for_backward
from graphc.passes.rewrite import with_inputs
from graphc.runtime.executor import CompiledProgram

Compile = Callable[[Graph], CompiledProgram]


@dataclass
class TrainingPrograms:
    forward: CompiledProgram  # sources -> tensor user outputs + mutations + saved computed values
    backward: CompiledProgram  # saved sources + saved computed + output grads -> grads of ``wrt``
    saved_sources: list[int]  # indices of the sources whose values the backward reads
    num_saved_computed: int
    grad_outputs: list[int]  # positions among the tensor user outputs that take a gradient
    wrt: list[int]  # source index of each backward result


def tensor_outputs(imported: ImportedGraph) -> list[Node]:
    return [v for v in imported.user_outputs if isinstance(v, Node)]


def inference_graph(imported: ImportedGraph) -> Graph:
    return Graph(imported.input_nodes, tensor_outputs(imported) + [node for _, _, node in imported.mutations])


def build_training(imported: ImportedGraph, wrt: list[int], compile: Compile, remat: bool = True) -> TrainingPrograms | None:
    """Forward and backward programs for gradients with respect to the sources ``wrt``; None if no
    output depends differentiably on them. ``remat=False`` saves every forward value the backward reads."""
    outputs = tensor_outputs(imported)
    sources = imported.input_nodes
    # As in eager torch, an output takes a gradient when it depends differentiably on a tensor requiring one.
    reaching = _reaching(outputs, [sources[i] for i in wrt])
    differentiable = [i for i, out in enumerate(outputs) if out.dtype.is_floating_point and id(out) in reaching]
    if not differentiable:
        return None
    with grad_mode(True):
        cotangents = [source_node(outputs[i].type) for i in differentiable]
        grads = vjp([outputs[i] for i in differentiable], cotangents, [sources[i] for i in wrt])
    kept = [(i, g) for i, g in zip(wrt, grads) if g is not None]
    if not kept:
        return None
    results = [g for _, g in kept]
    saved, remat_stats = saved_for_backward([outputs[i] for i in differentiable], results, enabled=remat)
    source_index = {id(n): i for i, n in enumerate(sources)}
    saved_sources = [source_index[id(n)] for n in saved if id(n) in source_index]
    computed = [n for n in saved if id(n) not in source_index]
    saved_sources += _size_carriers(sources, [sources[i] for i in saved_sources] + computed + cotangents, results, saved_sources)
    # The backward reads the computed values as inputs of its own: fresh source nodes in their place.
    placeholders = [source_node(n.type) for n in computed]
    results = _substitute(results, dict(zip((id(n) for n in computed), placeholders)))
    backward_inputs = [sources[i] for i in saved_sources] + placeholders + cotangents
    mutations = [node for _, _, node in imported.mutations]
    forward = compile(Graph(sources, outputs + mutations + computed))
    backward = compile(Graph(backward_inputs, results))
    forward.report.remat = backward.report.remat = remat_stats
    return TrainingPrograms(forward, backward, saved_sources, len(computed), differentiable, [i for i, _ in kept])


def _reaching(outputs: list[Node], wrt: list[Node]) -> set[int]:
    """Ids of the nodes that depend differentiably on a node of ``wrt``."""
    reached = {id(n) for n in wrt}
    for node in toposort(outputs):
        if node.requires_grad and any(id(i) in reached for i in node.inputs):
            reached.add(id(node))
    return reached


def _substitute(results: list[Node], replacements: dict[int, Node]) -> list[Node]:
    """``results`` rebuilt with the nodes in ``replacements`` (by id) replaced."""
    mapping = dict(replacements)
    for node in toposort(results, stop=set(replacements)):
        if id(node) not in mapping:
            mapping[id(node)] = with_inputs(node, tuple(mapping[id(i)] for i in node.inputs))
    return [mapping[id(n)] for n in results]


def _size_carriers(sources: list[Node], inputs: list[Node], results: list[Node], taken: list[int]) -> list[int]:
    """Sources to pass to the backward only for their sizes: a symbol that the backward graph uses
    must appear as a dimension of one of its inputs, where the program reads its value."""
    bound = {s for n in inputs for s in n.shape if isinstance(s, sympy.Symbol)}
    needed: set = set()
    for node in toposort(results, stop={id(n) for n in inputs}):
        needed |= free_symbols(node.shape)
    extra = []
    for symbol in needed - bound:
        for i, node in enumerate(sources):
            if i not in taken and i not in extra and symbol in node.shape:
                extra.append(i)
                break
    return extra
