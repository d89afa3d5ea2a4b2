"""From a graph to something callable: passes, scheduling, code generation, loading.

``compile_graph`` is the one pipeline behind both lazy realization and
``graphc.compile``; it returns a ``CompiledProgram`` that binds the symbolic
sizes from its inputs' shapes and runs the generated module.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import sympy

from graphc.codegen import numpy as numpy_codegen
from graphc.codegen.cache import import_source
from graphc.codegen.kernel_ir import Program, schedule_unfused
from graphc.errors import GraphcError
from graphc.ir.graph import Graph
from graphc.ir.types import format_shape
from graphc.passes.fusion import fuse
from graphc.passes.manager import PassManager
from graphc.passes.memory import plan_memory
from graphc.passes.simplify import simplify
from graphc.runtime.report import CompileReport

log = logging.getLogger("graphc")

BACKENDS = ("numpy",)


@dataclass
class CompiledProgram:
    program: Program
    module: ModuleType
    symbols: list[str]
    report: CompileReport

    def bind(self, inputs: list[Any]) -> dict[str, int]:
        bindings: dict[str, int] = {}
        for node, value in zip(self.program.graph.inputs, inputs):
            actual = tuple(value.shape)
            if len(actual) != len(node.shape):
                raise GraphcError(f"expected a {len(node.shape)}-d input of type {node.type}, got shape {list(actual)}")
            for want, have in zip(node.shape, actual):
                if isinstance(want, int):
                    if want != have:
                        raise GraphcError(f"expected an input of shape {format_shape(node.shape)}, got {list(actual)}")
                elif isinstance(want, sympy.Symbol):
                    if bindings.setdefault(str(want), have) != have:
                        raise GraphcError(f"size {want} is {bindings[str(want)]} in one input and {have} in another")
        return bindings

    def __call__(self, inputs: list[Any]) -> list[Any]:
        bindings = self.bind(inputs)
        self.report.sizes = bindings
        with np.errstate(all="ignore"):
            return self.module.run(inputs, *[bindings[s] for s in self.symbols])


def compile_graph(graph: Graph, backend: str = "numpy", fusion: bool = True) -> CompiledProgram:
    if backend not in BACKENDS:
        raise GraphcError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    manager = PassManager([("simplify", simplify)], dump_dir=os.environ.get("GRAPHC_DUMP_DIR"))
    graph = manager.run(graph)
    start = time.perf_counter()
    program = fuse(graph) if fusion else schedule_unfused(graph)
    fusion_seconds = time.perf_counter() - start
    start = time.perf_counter()
    plan = plan_memory(program)
    pass_times_extra = {"fusion": fusion_seconds, "memory": time.perf_counter() - start}
    source = numpy_codegen.emit_program(program, plan)
    module = import_source("program", source)
    for kernel in program.kernels:
        kernel.path = module.__file__ or ""
        kernel.source = numpy_codegen.emit_kernel(kernel, _names(graph), frozenset(id(b.node) for b in plan.buffers))
    symbols = sorted({str(s) for n in graph.inputs for s in n.type.shape if isinstance(s, sympy.Symbol)})
    pass_times = {r.name: r.seconds for r in manager.records} | pass_times_extra
    report = CompileReport(graph, program.kernels, plan, pass_times, backend, program.fusion_log)
    if os.environ.get("GRAPHC_DEBUG", "0") >= "1":
        log.warning("graphc: compiled %d nodes into %d kernels (%s)", len(graph.nodes), len(program.kernels), module.__file__)
    if os.environ.get("GRAPHC_DEBUG", "0") >= "2":
        log.warning("%s", source)
    return CompiledProgram(program, module, symbols, report)


def _names(graph: Graph) -> dict[int, str]:
    from graphc.ir.printer import number_nodes

    return number_nodes(graph.nodes)
