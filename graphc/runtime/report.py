"""What a compilation did, for people: ``cm.report()`` returns a CompileReport (a ProgramsReport for a
compiled torch module, which runs several programs)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from graphc.codegen.kernel_ir import Kernel
from graphc.ir.graph import Graph
from graphc.ir.printer import number_nodes
from graphc.ir.registry import REGISTRY
from graphc.ir.types import Dim, free_symbols
from graphc.passes.memory import MemoryPlan, symbolic_naive_bytes
from graphc.passes.remat import RematStats


@dataclass
class MemoryReport:
    naive_bytes: Dim  # every intermediate buffer allocated separately
    peak_bytes: int | None  # the size of the planned arena; None until a call gives the symbolic sizes
    sizes: dict[str, int]  # the symbolic sizes the numbers are for (those of the last call)

    def __str__(self) -> str:
        at = f" at {', '.join(f'{k}={v}' for k, v in self.sizes.items())}" if self.sizes else ""
        peak = f"{self.peak_bytes} B" if self.peak_bytes is not None else "unknown until a call gives the sizes"
        return f"memory{at}: naive {self.naive_bytes} B, planned peak {peak}"


@dataclass
class CompileReport:
    graph: Graph
    kernels: list[Kernel]
    plan: MemoryPlan
    pass_times: dict[str, float]
    backend: str
    fusion_log: list[str] = field(default_factory=list)
    recompilations: list[str] = field(default_factory=list)
    # Values of the symbolic sizes at the last call, set by the executor.
    sizes: dict[str, int] = field(default_factory=dict)
    fusion: bool = True  # False: the unfused program, one kernel per computing node
    # What the remat pass kept for the backward and recomputed; None when it did not run.
    remat: RematStats | None = None

    @property
    def memory(self) -> MemoryReport:
        symbols = {str(s) for b in self.plan.buffers for s in free_symbols(b.node.shape)}
        if not symbols <= set(self.sizes):
            return MemoryReport(symbolic_naive_bytes(self.plan), None, {})
        return MemoryReport(self.plan.naive_bytes(self.sizes), self.plan.peak_bytes(self.sizes), dict(self.sizes))

    @property
    def num_kernels(self) -> int:
        return len(self.kernels)

    def __str__(self) -> str:
        lines = [f"graphc compile report ({self.backend} backend)"]
        lines.extend(f"  {line}" for line in self.program_lines())
        lines.extend(f"  {line}" for line in recompilation_lines(self.recompilations))
        return "\n".join(lines)

    def program_lines(self) -> list[str]:
        """What this program is (graph, passes, kernels, fusions, remat, memory), one item a line;
        without the recompilations, which belong to the compiled function or module, not to one program."""
        names = number_nodes(self.graph.nodes)
        phases = Counter(n.phase for n in self.graph.nodes if n.op not in ("input", "parameter"))
        split = f" ({', '.join(f'{count} {phase}' for phase, count in sorted(phases.items(), key=lambda p: p[0] != 'forward'))})" if phases else ""
        lines = [f"graph: {len(self.graph.nodes)} nodes{split}, {len(self.graph.inputs)} inputs, {len(self.graph.outputs)} outputs"]
        times = ", ".join(f"{k} {v * 1000:.2f} ms" for k, v in self.pass_times.items())
        lines.append(f"pass times: {times}")
        paths = list(dict.fromkeys(k.path for k in self.kernels))
        lines.append(f"kernels: {self.num_kernels}" + (f", source in {paths[0] or '(not saved)'}" if len(paths) == 1 else ""))
        for kernel in self.kernels:
            computed = [n for n in kernel.nodes if REGISTRY[n.op].category not in ("movement", "source")] or kernel.nodes
            shown = ", ".join(f"{names.get(id(n), '?')} {n.op}" for n in computed[:8]) + (f", +{len(computed) - 8} more" if len(computed) > 8 else "")
            where = f"  {kernel.path}" if len(paths) > 1 else ""
            lines.append(f"  {kernel.name} [{kernel.kind}]: {shown}{where}")
        if not self.fusion:
            lines.append("fusion: off (one kernel per computing node)")
        elif self.fusion_log:
            lines.append(f"fusions not made ({len(self.fusion_log)}):")
            lines.extend(f"  {reason}" for reason in self.fusion_log)
        else:
            lines.append("fusions not made: none")
        lines.append(self.remat.describe(self.sizes) if self.remat is not None else "remat: off")
        lines.append(str(self.memory))
        return lines


def recompilation_lines(recompilations: list[str]) -> list[str]:
    return [f"recompilations: {len(recompilations)}"] + [f"  {reason}" for reason in recompilations]


@dataclass
class ProgramsReport:
    """The report of a compiled torch module: every program it ran, by role, and why it exported again.

    A module runs several programs (a training call's forward, its backward, one backward per
    pattern of output gradients present, inference in eval mode, one set per export), so one
    CompileReport cannot describe it; each program's is in ``programs``.
    """

    name: str  # the module's class
    programs: dict[str, CompileReport]  # by role: "forward", "backward", "inference", "export 2: forward", ...
    recompilations: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        """What else a CompileReport has (``graph``, ``memory``, ``pass_times``, ``remat``, ``sizes``, ...)
        is the first program's, the forward: the contract's ``cm.report().graph`` works for every ``cm``."""
        if name.startswith("__") or name == "programs":
            raise AttributeError(name)
        first = next(iter(self.programs.values()), None)
        if first is None:
            raise AttributeError(f"{name}: the compiled module has run no program yet")
        return getattr(first, name)

    @property
    def kernels(self) -> list[Kernel]:
        """Every program's kernels, program after program."""
        return [kernel for report in self.programs.values() for kernel in report.kernels]

    @property
    def num_kernels(self) -> int:
        return len(self.kernels)

    def __str__(self) -> str:
        backends = ", ".join(dict.fromkeys(r.backend for r in self.programs.values()))
        count = len(self.programs)
        lines = [f"graphc compile report of {self.name} ({backends} backend): {count} program{'s' if count != 1 else ''}"]
        for role, report in self.programs.items():
            lines.append(f"  program {role}:")
            lines.extend(f"    {line}" for line in report.program_lines())
        lines.extend(f"  {line}" for line in recompilation_lines(self.recompilations))
        return "\n".join(lines)
