"""What a compilation did, for people: ``cm.report()`` returns a CompileReport."""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.codegen.kernel_ir import Kernel, Program
from graphc.ir.graph import Graph
from graphc.ir.types import Dim, numel


@dataclass
class MemoryReport:
    naive_bytes: Dim  # every intermediate buffer allocated separately
    peak_bytes: Dim  # the planned arena (equal to naive until the memory planner runs)

    def __str__(self) -> str:
        return f"memory: naive {self.naive_bytes} B, planned peak {self.peak_bytes} B"


@dataclass
class CompileReport:
    graph: Graph
    kernels: list[Kernel]
    memory: MemoryReport
    pass_times: dict[str, float]
    backend: str
    fusion_log: list[str] = field(default_factory=list)
    recompilations: list[str] = field(default_factory=list)

    @property
    def num_kernels(self) -> int:
        return len(self.kernels)

    def __str__(self) -> str:
        lines = [f"graphc compile report ({self.backend} backend)"]
        lines.append(f"  graph: {len(self.graph.nodes)} nodes, {len(self.graph.inputs)} inputs, {len(self.graph.outputs)} outputs")
        lines.append(f"  kernels: {self.num_kernels}")
        for kernel in self.kernels:
            lines.append(f"    {kernel.name} [{kernel.kind}] {kernel.path}")
        lines.append("  " + str(self.memory))
        times = ", ".join(f"{k} {v * 1000:.2f} ms" for k, v in self.pass_times.items())
        lines.append(f"  pass times: {times}")
        if self.fusion_log:
            lines.append("  fusions not made:")
            lines.extend(f"    {reason}" for reason in self.fusion_log)
        lines.append(f"  recompilations: {len(self.recompilations)}")
        lines.extend(f"    {reason}" for reason in self.recompilations)
        return "\n".join(lines)


def naive_memory(program: Program) -> MemoryReport:
    total: Dim = 0
    for kernel in program.kernels:
        for out in kernel.outputs:
            total = total + numel(out.shape) * out.dtype.itemsize
    return MemoryReport(total, total)
