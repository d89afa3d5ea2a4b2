"""Writing out everything a compilation did, into one folder a person can read.

A dump folder holds:

- ``00_traced.txt``, ``01_simplify.txt``, ...: the printed IR after every pass (the
  ``PassManager`` writes these as the passes run), then ``NN_fusion.txt``: the final
  graph listed kernel by kernel (``# kernel`` comment lines; it parses back like the others);
- ``graph.dot`` and ``graph.svg``/``graph.png``: the final graph with its kernels as
  clusters and the backward pass drawn apart (``graphc.ir.dot``); ``graph.txt`` with
  ``format="text"``;
- ``kernels/``: each kernel's source as ``<kernel name>.py`` (and its C loops as
  ``<kernel name>.c``, NumPy backend) and a copy of every generated module file the
  kernels live in;
- ``memory.svg`` and ``memory.txt``: the memory plan over the kernel schedule
  (``graphc.runtime.memory_chart``), written at the program's first run, when the
  symbolic sizes have values;
- ``report.txt``: ``str(report)``, rewritten at the first run with the sizes.

Dumps are requested in one of two ways, both read by ``compile_graph`` (the one
pipeline every compile goes through): the ``GRAPHC_DUMP_DIR`` environment variable
(every compile gets its own numbered folder under it; ``GRAPHC_DUMP_FORMAT`` picks
the picture's format, svg by default), or the ``dumping(directory)`` context
manager that ``graphc dump`` uses (the first compile inside writes into the folder
itself, any further one into ``compile_0002`` and so on below it).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from graphc.ir.dot import RENDER_FORMATS, program_to_dot, render
from graphc.ir.graph import Node
from graphc.ir.printer import format_comment, format_node, number_nodes
from graphc.runtime.memory_chart import memory_svg, memory_text, records_from_plan

if TYPE_CHECKING:
    from graphc.codegen.kernel_ir import Program
    from graphc.runtime.executor import CompiledProgram

log = logging.getLogger("graphc")

FORMATS = (*RENDER_FORMATS, "dot", "text")


@dataclass
class DumpRequest:
    root: str
    fmt: str = "svg"
    per_compile_folders: bool = False  # True: every compile in a numbered folder below root
    folders: list[str] = field(default_factory=list)  # the folders written so far
    messages: list[str] = field(default_factory=list)  # what could not be done (no Graphviz, ...)


_requests: list[DumpRequest] = []
_next_number: dict[str, int] = {}
_hinted = False


@contextmanager
def dumping(directory: str, fmt: str = "svg") -> Iterator[DumpRequest]:
    """Dump every compile that happens inside, the first into ``directory`` itself."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown dump format {fmt!r}; choose one of {', '.join(FORMATS)}")
    request = DumpRequest(os.path.abspath(directory), fmt)
    _requests.append(request)
    try:
        yield request
    finally:
        _requests.remove(request)


def _env_request() -> DumpRequest | None:
    root = os.environ.get("GRAPHC_DUMP_DIR")
    if not root:
        return None
    fmt = os.environ.get("GRAPHC_DUMP_FORMAT", "svg")
    return DumpRequest(os.path.abspath(root), fmt if fmt in FORMATS else "svg", per_compile_folders=True)


def begin_compile() -> tuple[str, DumpRequest] | None:
    """The folder for the compile that is starting (created), or None when no dump is asked for."""
    request = _requests[-1] if _requests else _env_request()
    if request is None:
        return None
    if not request.per_compile_folders and not request.folders:
        folder = request.root
        os.makedirs(folder, exist_ok=True)
    else:
        os.makedirs(request.root, exist_ok=True)
        number = max(len(request.folders) + 1, _next_number.get(request.root, 1))
        while True:  # mkdir is atomic, so processes sharing GRAPHC_DUMP_DIR never share a folder
            folder = os.path.join(request.root, f"compile_{number:04d}")
            try:
                os.mkdir(folder)
                break
            except FileExistsError:
                number += 1
        _next_number[request.root] = number + 1
    request.folders.append(folder)
    return folder, request


def format_program(program: Program) -> str:
    """The final graph kernel by kernel: a ``# kernel`` line, then the nodes it computes first.

    Node names are those of the printed graph (and of the comments in the generated
    code). A movement or constant node that several kernels read through is listed
    under the first; the text parses back with ``graphc.ir.parse_graph``.
    """
    graph = program.graph
    names = number_nodes(graph.nodes)
    lines: list[str] = []
    printed: set[int] = set()

    def emit(node: Node) -> None:
        if id(node) in printed:
            return
        for operand in node.inputs:
            emit(operand)
        printed.add(id(node))
        lines.append(format_node(node, names) + format_comment(node))

    lines.append("# inputs")
    for node in graph.inputs:
        emit(node)
    for kernel in program.kernels:
        reads = ", ".join(names.get(id(n), "?") for n in kernel.inputs) or "nothing"
        writes = ", ".join(names.get(id(n), "?") for n in kernel.outputs)
        lines.append(f"# kernel {kernel.name} ({kernel.kind}): reads {reads}; writes {writes}")
        for node in kernel.nodes:
            emit(node)
    rest = [n for n in graph.nodes if id(n) not in printed]
    if rest:
        lines.append("# not computed by any kernel")
        for node in rest:
            emit(node)
    if program.fusion_log:
        lines.append("# fusions not made:")
        lines.extend(f"#   {reason}" for reason in program.fusion_log)
    lines.append("return (" + ", ".join(names[id(n)] for n in graph.outputs) + ")")
    return "\n".join(lines) + "\n"


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def write_compile(compiled: CompiledProgram, folder: str, request: DumpRequest, first_index: int) -> None:
    """What is known once the program is generated: the kernel listing, picture, kernels, report."""
    global _hinted
    program = compiled.program
    _write(os.path.join(folder, f"{first_index:02d}_fusion.txt"), format_program(program))
    title = f"{len(program.graph.nodes)} nodes in {len(program.kernels)} kernels ({compiled.report.backend} backend)"
    if request.fmt == "text":
        _write(os.path.join(folder, "graph.txt"), format_program(program))
    else:
        dot_path = os.path.join(folder, "graph.dot")
        _write(dot_path, program_to_dot(program, title=title))
        if request.fmt in RENDER_FORMATS:
            picture, message = render(dot_path, request.fmt)
            if picture is None:
                request.messages.append(message)
                if not _hinted:
                    _hinted = True
                    log.warning("graphc: %s", message)
    kernels_dir = os.path.join(folder, "kernels")
    os.makedirs(kernels_dir, exist_ok=True)
    for kernel in program.kernels:
        if kernel.source:
            origin = f"# kernel {kernel.name} ({kernel.kind}) of {kernel.path or 'an unsaved module'}\n"
            _write(os.path.join(kernels_dir, f"{kernel.name}.py"), origin + kernel.source.rstrip() + "\n")
        if kernel.c_source:
            header = f"/* C loops of kernel {kernel.name}, called from {kernel.name}.py */\n"
            _write(os.path.join(kernels_dir, f"{kernel.name}.c"), header + kernel.c_source.rstrip() + "\n")
    for path in sorted({k.path for k in program.kernels if k.path}):
        if os.path.isfile(path):
            shutil.copyfile(path, os.path.join(kernels_dir, os.path.basename(path)))
    _write(os.path.join(folder, "report.txt"), str(compiled.report) + "\n")


def write_run(compiled: CompiledProgram, folder: str, sizes: dict[str, int]) -> None:
    """What needs the sizes of a call: the memory chart, and the report with concrete bytes."""
    program = compiled.program
    records = records_from_plan(compiled.report.plan, sizes, program.graph)
    names = [k.name for k in program.kernels]
    arena = compiled.report.plan.peak_bytes(sizes)
    title = "memory plan: buffers over the kernel schedule"
    _write(os.path.join(folder, "memory.svg"), memory_svg(records, names, title=title, sizes=sizes, arena_bytes=arena))
    _write(os.path.join(folder, "memory.txt"), memory_text(records, names, sizes=sizes, arena_bytes=arena))
    _write(os.path.join(folder, "report.txt"), str(compiled.report) + "\n")
