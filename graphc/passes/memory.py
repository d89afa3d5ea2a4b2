"""Memory planning: buffer lifetimes over the kernel schedule, and one arena with offsets.

Every value a kernel stores for a later kernel is a *buffer*; it lives from the
kernel that writes it to the last kernel that reads it. Buffers whose lifetimes
do not overlap may share bytes. Sizes can be symbolic, so the plan keeps the
lifetimes symbolic and assigns offsets per concrete size at run time (cached by
the generated code). A pointwise kernel may write its result over an operand
that dies in that kernel (in place) when both have the same size and the
operand is read directly, element for element.

Graph inputs belong to the caller and graph outputs are returned to it, so
neither lives in the arena.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphc.codegen.kernel_ir import Program
from graphc.ir.graph import Node
from graphc.ir.types import Dim, evaluate_shape

ALIGN = 64


@dataclass
class Buffer:
    node: Node
    start: int  # index of the kernel that writes it
    end: int  # index of the last kernel that reads it
    # Index of a buffer this one may overwrite in place (it dies where this one is written).
    reuses: int | None = None

    def nbytes(self, sizes: dict[str, int]) -> int:
        count = 1
        for d in evaluate_shape(self.node.shape, sizes):
            count *= d
        return count * self.node.dtype.itemsize


@dataclass
class MemoryPlan:
    buffers: list[Buffer]

    def offsets(self, sizes: dict[str, int]) -> tuple[list[int], int]:
        """Byte offsets of every buffer in one arena, and the arena's size (the planned peak)."""
        nbytes = [_aligned(b.nbytes(sizes)) for b in self.buffers]
        return assign_offsets(nbytes, [(b.start, b.end) for b in self.buffers], [b.reuses for b in self.buffers])

    def naive_bytes(self, sizes: dict[str, int]) -> int:
        return sum(b.nbytes(sizes) for b in self.buffers)

    def peak_bytes(self, sizes: dict[str, int]) -> int:
        return self.offsets(sizes)[1]


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def assign_offsets(nbytes: list[int], lifetimes: list[tuple[int, int]], reuses: list[int | None]) -> tuple[list[int], int]:
    """Greedy by size: place the largest buffers first, each at the lowest offset that fits.

    Two buffers conflict when their lifetimes overlap, except a buffer written in place
    over the operand it reuses, which takes that operand's offset when it fits there.
    """
    offsets: dict[int, int] = {}

    def conflicts(i: int, j: int) -> bool:
        overlap = lifetimes[j][0] <= lifetimes[i][1] and lifetimes[i][0] <= lifetimes[j][1]
        return overlap and reuses[i] != j and reuses[j] != i

    def fits(i: int, offset: int) -> bool:
        return all(not conflicts(i, j) or offset + nbytes[i] <= offsets[j] or offsets[j] + nbytes[j] <= offset for j in offsets)

    for i in sorted(range(len(nbytes)), key=lambda i: (-nbytes[i], lifetimes[i][0])):
        reused = reuses[i]
        if reused is not None and reused in offsets and nbytes[i] <= nbytes[reused] and fits(i, offsets[reused]):
            offsets[i] = offsets[reused]
            continue
        candidates = [0] + sorted(offsets[j] + nbytes[j] for j in offsets if conflicts(i, j))
        offsets[i] = next(c for c in candidates if fits(i, c))
    final = [offsets[i] for i in range(len(nbytes))]
    peak = max((final[i] + nbytes[i] for i in range(len(nbytes))), default=0)
    return final, peak


def plan_memory(program: Program) -> MemoryPlan:
    graph = program.graph
    external = {id(n) for n in graph.inputs} | {id(n) for n in graph.outputs}
    index_of: dict[int, int] = {}
    buffers: list[Buffer] = []
    for k, kernel in enumerate(program.kernels):
        for out in kernel.outputs:
            if id(out) not in external and id(out) not in index_of:
                index_of[id(out)] = len(buffers)
                buffers.append(Buffer(out, k, k))
    for k, kernel in enumerate(program.kernels):
        for value in kernel.inputs:
            if id(value) in index_of:
                buffer = buffers[index_of[id(value)]]
                buffer.end = max(buffer.end, k)
    for k, kernel in enumerate(program.kernels):
        if kernel.kind != "pointwise" or len(kernel.outputs) != 1 or id(kernel.outputs[0]) not in index_of:
            continue
        out = buffers[index_of[id(kernel.outputs[0])]]
        direct = {id(o) for n in kernel.nodes for o in n.inputs}
        for value in kernel.inputs:
            i = index_of.get(id(value))
            if i is None or buffers[i].end != k or id(value) not in direct or buffers[i].reuses is not None:
                continue
            same_size = value.type.numel == out.node.type.numel and value.dtype.itemsize == out.node.dtype.itemsize
            if same_size and _read_elementwise(kernel.nodes, value, out.node):
                out.reuses = i
                break
    return MemoryPlan(buffers)


def _read_elementwise(nodes: list[Node], value: Node, result: Node) -> bool:
    """``value`` is read only by elementwise nodes of the result's shape (same index as the write)."""
    for node in nodes:
        if any(o is value for o in node.inputs) and (node.shape != result.shape or node.op in ("reshape", "permute", "expand", "slice", "pad", "concat")):
            return False
    return True


def symbolic_naive_bytes(plan: MemoryPlan) -> Dim:
    total: Dim = 0
    for b in plan.buffers:
        total = total + b.node.type.numel * b.node.dtype.itemsize
    return total
