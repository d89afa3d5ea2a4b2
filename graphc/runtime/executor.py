"""From a graph to something callable: passes, scheduling, code generation, loading.

``compile_graph`` is the one pipeline behind both lazy realization and
``graphc.compile``; it returns a ``CompiledProgram`` that binds the symbolic
sizes from its inputs' shapes and runs the generated module.
"""

from __future__ import annotations

import importlib
import logging
import time
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import Any

import numpy as np
import sympy

from graphc.codegen import native
from graphc.codegen.cache import import_source
from graphc.codegen.kernel_ir import Program, schedule_unfused
from graphc.errors import GraphcError
from graphc.ir.graph import Graph
from graphc.ir.printer import number_nodes
from graphc.ir.types import format_shape
from graphc.passes.fusion import fuse
from graphc.passes.manager import PassManager
from graphc.passes.memory import plan_memory
from graphc.passes.remat import Remat
from graphc.passes.simplify import simplify
from graphc.runtime import call_sites, dump
from graphc.runtime.config import debug_level
from graphc.runtime.report import CompileReport

log = logging.getLogger("graphc")

# Backend name -> the code generator module (emit_program, emit_kernel). Imported when first
# used: graphc.codegen.triton imports torch and chooses between the GPU and Triton's interpreter.
EMITTERS = {"numpy": "graphc.codegen.numpy", "triton": "graphc.codegen.triton"}
BACKENDS = tuple(EMITTERS)


@dataclass
class CompiledProgram:
    program: Program
    module: ModuleType
    symbols: list[str]
    report: CompileReport
    backend: str = "numpy"
    # Set while a dump of this compile waits for the first call's sizes (memory chart, report).
    dump_dir: str | None = None
    # The compiled graph's node locations (call_sites.location_table), which its error messages name.
    locations: tuple[str, ...] = ()

    def bind(self, inputs: list[Any]) -> dict[str, int]:
        """The sizes of this call's symbols, checking every input's shape against its node's."""
        bindings: dict[str, int] = {}
        for node, shape, symbolic, value in zip(self.program.graph.inputs, *self._input_shapes, inputs):
            actual = value.shape
            if not symbolic and actual == shape:  # nothing to bind (most inputs: weights)
                continue
            actual = tuple(actual)
            if len(actual) != len(node.shape):
                raise GraphcError(f"expected a {len(node.shape)}-d input of type {node.type}, got shape {list(actual)}")
            for want, have in zip(node.shape, actual):
                if isinstance(want, int):
                    if want != have:
                        raise GraphcError(f"expected an input of shape {format_shape(node.shape)}, got {list(actual)}")
                elif isinstance(want, sympy.Symbol):
                    if bindings.setdefault(want.name, have) != have:  # not str(want): sympy's printer costs 8 us
                        raise GraphcError(f"size {want} is {bindings[want.name]} in one input and {have} in another")
        return bindings

    def __call__(self, inputs: list[Any], locations: tuple[str, ...] | None = None) -> list[Any]:
        """The results; ``locations``: this call's graph's lines (``call_sites``), named by its errors instead of the compiled graph's."""
        bindings = self.bind(inputs)
        self.report.sizes = bindings
        if self.dump_dir is not None:
            folder, self.dump_dir = self.dump_dir, None
            dump.write_run(self, folder, bindings)
        if self.backend == "numpy":  # values realized by the triton backend are torch tensors
            inputs = [v if isinstance(v, np.ndarray) else _to_numpy(v) for v in inputs]
        with call_sites.calling(call_sites.renames(self.locations, locations)):
            results = _ignoring_fp_errors(self.module.run, inputs, *[bindings[s] for s in self.symbols])
        for index in self.passed_through:
            results[index] = results[index].copy() if isinstance(results[index], np.ndarray) else results[index].clone()
        return results

    @cached_property
    def _input_shapes(self) -> tuple[tuple[tuple, ...], tuple[bool, ...]]:
        """Each input's declared shape and whether it has a symbolic size: ``bind`` reads them on every call."""
        inputs = self.program.graph.inputs
        return tuple(node.shape for node in inputs), tuple(node.type.is_symbolic for node in inputs)

    @cached_property
    def symbolic_outputs(self) -> list[int]:
        """The results whose declared shape has a symbolic size: their types come from the values (``graphc.compile``'s replay)."""
        return [i for i, node in enumerate(self.program.graph.outputs) if node.type.is_symbolic]

    @cached_property
    def passed_through(self) -> list[int]:
        """Results that are an input unchanged (``x.clone()`` after simplify): copied, so that a
        result never shares its buffer with an input, as a torch op's never does."""
        graph = self.program.graph
        inputs = {id(n) for n in graph.inputs}
        return [i for i, node in enumerate(graph.outputs) if id(node) in inputs]


def compile_graph(graph: Graph, backend: str = "numpy", fusion: bool = True, remat: bool = True, loops: bool | None = None) -> CompiledProgram:
    """Passes, kernels, memory plan and generated code for ``graph``.

    ``remat`` recomputes cheap forward values inside the backward's kernels; it needs fusion
    (unfused, a recomputed value is a kernel of its own, which runs in the forward anyway).
    ``loops`` (NumPy backend) compiles kernels' arithmetic to C loops; None: as ``GRAPHC_NATIVE``
    says (on by default where a C compiler works).
    """
    if backend not in BACKENDS:
        raise GraphcError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    started = time.perf_counter()
    dumping = dump.begin_compile()  # GRAPHC_DUMP_DIR or `graphc dump`: the one place dumps are hooked in
    remat_pass = Remat() if remat and fusion else None
    passes = [("simplify", simplify)] + ([("remat", remat_pass)] if remat_pass else [])
    manager = PassManager(passes, dump_dir=dumping[0] if dumping else None)
    locations, _ = call_sites.location_table(graph)  # before the passes: the lines of the graph callers pass
    graph = manager.run(graph)
    start = time.perf_counter()
    program = fuse(graph, columns=backend != "numpy") if fusion else schedule_unfused(graph)
    fusion_seconds = time.perf_counter() - start
    codegen = importlib.import_module(EMITTERS[backend])
    start = time.perf_counter()
    # What the backend's kernels put in memory inside themselves (the NumPy backend's matmul results) is planned too.
    plan = plan_memory(program, getattr(codegen, "materialized", None))
    pass_times_extra = {"fusion": fusion_seconds, "memory": time.perf_counter() - start}
    start = time.perf_counter()
    if backend == "numpy":
        source = codegen.emit_program(program, plan, loops=native.enabled() if loops is None else loops and native.enabled())
    else:
        source = codegen.emit_program(program, plan)
    module = import_source("program" if backend == "numpy" else f"{backend}_program", source)
    names = number_nodes(graph.nodes)
    planned = frozenset(id(b.node) for b in plan.buffers)
    for kernel in program.kernels:
        kernel.path = module.__file__ or ""
        kernel.source = codegen.emit_kernel(kernel, names, planned)
    symbols = sorted({str(s) for n in graph.inputs for s in n.type.shape if isinstance(s, sympy.Symbol)})
    pass_times = {r.name: r.seconds for r in manager.records} | pass_times_extra | {"codegen": time.perf_counter() - start}
    remat_stats = remat_pass.stats if remat_pass else None
    report = CompileReport(graph, program.kernels, plan, pass_times, backend, program.fusion_log, fusion=fusion, remat=remat_stats)
    compiled = CompiledProgram(program, module, symbols, report, backend, locations=locations)
    if dumping:
        dump.write_compile(compiled, dumping[0], dumping[1], first_index=len(manager.passes) + 1)
        compiled.dump_dir = dumping[0]
    if debug_level() >= 1:
        where = f"; dump in {dumping[0]}" if dumping else ""
        log.warning(
            "graphc: compiled %d nodes into %d kernels in %.1f ms (%s backend): %s%s",
            len(graph.nodes), len(program.kernels), (time.perf_counter() - started) * 1000, backend, module.__file__, where,
        )
    if debug_level() >= 2:
        log.warning("graphc: generated code %s\n%s", module.__file__, source)
    return compiled


@np.errstate(all="ignore")
def _ignoring_fp_errors(run: Any, *args: Any) -> Any:
    """``run(*args)`` with NumPy's floating-point warnings off (a program's overflow to inf is a value, as in torch).

    The decorator form: ``with np.errstate(...)`` builds a new errstate object on every call,
    about 2 us of a 2-row softmax's call; the decorator sets numpy's context variable only.
    """
    return run(*args)


def _to_numpy(value: Any) -> Any:
    from graphc.frontend.lazy import to_numpy

    return to_numpy(value)
