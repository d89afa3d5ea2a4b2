"""The parts of a generated program module that both backends write alike.

A program module is: kernel functions, ``buffers(*sizes)`` listing the planned buffers
(which ``rt.arena`` turns into views of one arena), and ``run(inputs, *sizes)`` calling
the kernels in order. The backends differ in how a shape or dtype is spelled, how inputs
are prepared and what is returned; the skeleton is here once.
"""

from __future__ import annotations

from collections.abc import Callable

from graphc.ir.graph import Graph, Node
from graphc.ir.types import free_symbols
from graphc.passes.memory import MemoryPlan


def size_names(graph: Graph) -> list[str]:
    """The symbolic sizes of the program's inputs: ``run`` and ``buffers`` take them in this order."""
    return sorted({str(s) for n in graph.inputs for s in free_symbols(n.shape)})


def buffers_function(plan: MemoryPlan, sizes: list[str], spell: Callable[[Node], tuple[str, str]], reuses: list[int | None]) -> list[str]:
    """``def buffers(...)``: per planned buffer its shape, dtype, first and last kernel and the buffer it reuses."""
    lines = [
        f"def buffers({', '.join(sizes)}):",
        '    """The planned buffers (shape, dtype, first and last kernel, buffer reused in place) at these sizes."""',
        "    return [",
    ]
    for b, reused in zip(plan.buffers, reuses):
        shape, dtype = spell(b.node)
        lines.append(f"        ({shape}, {dtype}, {b.start}, {b.end}, {reused}),")
    lines.append("    ]")
    return lines


def run_header(graph: Graph, plan: MemoryPlan, var: dict[int, str], buffer_var: dict[int, str], sizes: list[str], unpack: str, name: str = "run") -> list[str]:
    """``def run(...)`` (or ``name``): its inputs unpacked (``unpack`` is the expression giving them) and its arena views."""
    lines = [f"def {name}(inputs{''.join(', ' + s for s in sizes)}):"]
    if graph.inputs:
        lines.append(f"    {', '.join(var[id(n)] for n in graph.inputs)}{',' if len(graph.inputs) == 1 else ''} = {unpack}")
    if plan.buffers:
        names = ", ".join(buffer_var[id(b.node)] for b in plan.buffers)
        lines.append(f"    {names}{',' if len(plan.buffers) == 1 else ''} = rt.arena(buffers{''.join(', ' + s for s in sizes)})")
    return lines


def kernel_call(kernel_name: str, outputs: list[Node], args: list[str], var: dict[int, str]) -> str:
    outs = ", ".join(var[id(n)] for n in outputs)
    return f"    {outs}{',' if len(outputs) == 1 else ''} = {kernel_name}({', '.join(args)})"
