"""The programs compiled for an imported graph: inference, training forward and backward, check.

Training uses graphc's own autodiff: ``vjp`` builds the backward graph from the
imported forward graph. The forward program returns the model's outputs, the
new buffer values and the values the backward reads (chosen by the remat pass,
``graphc.passes.remat.saved_for_backward``); the backward program takes those and
the gradients of the outputs, recomputes what was not saved, and returns the
gradients of the inputs and parameters that require them. An output whose gradient
torch leaves out (the loss does not use it) contributes nothing, as in eager torch:
its cotangent is not replaced by zeros (``0 * inf`` would make NaN), the backward
is built for the cotangents present instead, one program per pattern of presence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sympy

from graphc.errors import NoDerivativeError
from graphc.frontend.torch_import.importer import ImportedGraph
from graphc.ir.grad_mode import grad_mode
from graphc.ir.graph import Graph, Node, toposort
from graphc.ir.primitives.source import source_node
from graphc.ir.types import free_symbols
from graphc.passes.autodiff import vjp
from graphc.passes.remat import RematStats, saved_for_backward
from graphc.passes.rewrite import with_inputs
from graphc.runtime.executor import CompiledProgram

Compile = Callable[[Graph], CompiledProgram]


@dataclass
class Backward:
    program: CompiledProgram  # saved sources + saved computed + the present output grads -> gradients
    wrt: list[int]  # source index of each result; the other sources get no gradient


@dataclass
class TrainingPrograms:
    forward: CompiledProgram  # sources -> tensor user outputs + mutations + saved computed values
    saved_sources: list[int]  # indices of the sources whose values the backward reads
    grad_outputs: list[int]  # positions among the tensor user outputs that take a gradient
    builder: _BackwardBuilder
    # Backward program by the positions in ``grad_outputs`` whose gradient is present; None: no gradient.
    backwards: dict[tuple[int, ...], Backward | None] = field(default_factory=dict)

    def backward(self, present: tuple[int, ...]) -> Backward | None:
        """The backward program for the output gradients at ``present`` (compiled on first use)."""
        if present not in self.backwards:
            self.backwards[present] = self.builder.build(present)
        return self.backwards[present]


@dataclass
class _BackwardBuilder:
    """What building a backward program needs: vjp of the forward graph for some of its outputs."""

    outputs: list[Node]  # the differentiable outputs
    cotangents: list[Node]  # a source node per output, for its gradient
    wrt: list[int]
    sources: list[Node]
    inputs: list[Node]  # the saved sources and the placeholders of the saved computed values
    placeholders: dict[int, Node]  # id of a saved computed node -> its placeholder
    compile: Compile
    remat_stats: RematStats

    def build(self, present: tuple[int, ...]) -> Backward | None:
        return self.program(present, _gradients(self.outputs, self.cotangents, self.sources, self.wrt, present))

    def program(self, present: tuple[int, ...], kept: list[tuple[int, Node]]) -> Backward | None:
        """The backward program returning the gradients ``kept`` of the outputs at ``present``."""
        if not kept:
            return None
        results = _substitute([g for _, g in kept], self.placeholders)
        program = self.compile(Graph(self.inputs + [self.cotangents[k] for k in present], results))
        program.report.remat = self.remat_stats
        return Backward(program, [i for i, _ in kept])


def tensor_outputs(imported: ImportedGraph) -> list[Node]:
    return [v for v in imported.user_outputs if isinstance(v, Node)]


def inference_graph(imported: ImportedGraph) -> Graph:
    return Graph(imported.input_nodes, tensor_outputs(imported) + [node for _, _, node in imported.mutations])


def _gradients(outputs: list[Node], cotangents: list[Node], sources: list[Node], wrt: list[int], present: tuple[int, ...]) -> list[tuple[int, Node]]:
    """(source index, gradient node) for each source of ``wrt`` that the outputs at ``present`` reach."""
    with grad_mode(True):
        grads = vjp([outputs[k] for k in present], [cotangents[k] for k in present], [sources[i] for i in wrt])
    return [(i, g) for i, g in zip(wrt, grads) if g is not None]


def build_training(imported: ImportedGraph, wrt: list[int], compile: Compile, remat: bool = True) -> TrainingPrograms | None:
    """Forward and backward programs for gradients with respect to the sources ``wrt``; None if no
    output depends differentiably on them. ``remat=False`` saves every forward value the backward reads.

    The values saved are chosen for the backward with every output gradient present; one built for
    fewer reads a subset of the forward values, so it can compute them from the same saved values."""
    outputs = tensor_outputs(imported)
    sources = imported.input_nodes
    # As in eager torch, an output takes a gradient when it depends differentiably on a tensor requiring one.
    reaching = _reaching(outputs, [sources[i] for i in wrt])
    differentiable = [i for i, out in enumerate(outputs) if out.dtype.is_floating_point and id(out) in reaching]
    if not differentiable:
        return None
    with grad_mode(True):
        cotangents = [source_node(outputs[i].type) for i in differentiable]
    every, kept = _with_derivatives([outputs[i] for i in differentiable], cotangents, sources, wrt)
    if not kept and every:
        return None
    results = [g for _, g in kept]
    saved, remat_stats = saved_for_backward([outputs[i] for i in differentiable], results, enabled=remat)
    source_index = {id(n): i for i, n in enumerate(sources)}
    saved_sources = [source_index[id(n)] for n in saved if id(n) in source_index]
    computed = [n for n in saved if id(n) not in source_index]
    # Sizes come from the saved values, not the output gradients: a backward may go without some of those.
    saved_sources += _size_carriers(sources, [sources[i] for i in saved_sources] + computed, results + cotangents, saved_sources)
    # The backward reads the computed values as inputs of its own: fresh source nodes in their place.
    placeholders = [source_node(n.type) for n in computed]
    mutations = [node for _, _, node in imported.mutations]
    forward = compile(Graph(sources, outputs + mutations + computed))
    forward.report.remat = remat_stats
    builder = _BackwardBuilder(
        [outputs[i] for i in differentiable], cotangents, wrt, sources,
        [sources[i] for i in saved_sources] + placeholders, dict(zip((id(n) for n in computed), placeholders)), compile, remat_stats,
    )
    programs = TrainingPrograms(forward, saved_sources, differentiable, builder)
    programs.backwards[every] = builder.program(every, kept)  # the usual case, compiled with the forward
    return programs


def _with_derivatives(outputs: list[Node], cotangents: list[Node], sources: list[Node], wrt: list[int]) -> tuple[tuple[int, ...], list[tuple[int, Node]]]:
    """The outputs whose gradients can be built, and those gradients: all of them, unless one goes
    through an op torch has no derivative for (``nextafter``, ``ldl_factor``). Such an output's result
    requires grad, as torch's does, and a backward that its gradient reaches raises then
    (``TrainingPrograms.backward`` builds that program), not the forward: the saved values are
    chosen for the other outputs. Where every output goes through such an op, none is buildable
    (``()``): the forward saves nothing, and every backward raises."""
    every = tuple(range(len(outputs)))
    try:
        return every, _gradients(outputs, cotangents, sources, wrt, every)
    except NoDerivativeError:
        pass
    buildable = []
    for k in every:
        try:
            _gradients(outputs, cotangents, sources, wrt, (k,))
            buildable.append(k)
        except NoDerivativeError:
            continue
    if not buildable:
        return (), []
    return tuple(buildable), _gradients(outputs, cotangents, sources, wrt, tuple(buildable))


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
