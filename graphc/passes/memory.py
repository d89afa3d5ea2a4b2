"""Memory planning: buffer lifetimes over the kernel schedule, and one arena with offsets.

Every value a kernel stores for a later kernel is a *buffer*; it lives from the
kernel that writes it to the last kernel that reads it. Buffers whose lifetimes
do not overlap may share bytes. Sizes can be symbolic, so the plan keeps the
lifetimes symbolic and assigns offsets per concrete size at run time, once per
size (``MemoryPlan.layouts``; the generated code allocates one arena per layout).
A kernel may write a value it stores over an operand that dies in that kernel (in
place) when both have the same size and the operand is read only element for
element, by nodes the stored value is computed from (``_read_before_write``).

Graph inputs belong to the caller and graph outputs are returned to it, so
neither lives in the arena.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from graphc.codegen.kernel_ir import Kernel, Program
from graphc.ir.graph import Node
from graphc.ir.registry import REGISTRY
from graphc.ir.types import Dim, evaluate_shape, shapes_equal

ALIGN = 64
# Kernels whose stored values may take an operand's bytes: those that compute at the index
# they store (elementwise nodes, reduction rows, matmul epilogues, and unfused single nodes).
IN_PLACE_KINDS = ("pointwise", "reduction", "matmul", "elementwise")
INDEXED_READS = ("gather", "index_select")


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
    # Offsets and arena size per concrete sizes: placing is quadratic in the buffers, and a
    # program is called (and reported on) at the same few sizes again and again.
    layouts: dict[tuple[tuple[str, int], ...], tuple[list[int], int]] = field(default_factory=dict, repr=False)

    def offsets(self, sizes: dict[str, int]) -> tuple[list[int], int]:
        """Byte offsets of every buffer in one arena, and the arena's size (the planned peak)."""
        key = tuple(sorted(sizes.items()))
        layout = self.layouts.get(key)
        if layout is None:
            nbytes = [_aligned(b.nbytes(sizes)) for b in self.buffers]
            layout = assign_offsets(nbytes, [(b.start, b.end) for b in self.buffers], [b.reuses for b in self.buffers])
            self.layouts[key] = layout
        return layout

    def naive_bytes(self, sizes: dict[str, int]) -> int:
        """Every buffer on its own, each aligned as the arena aligns it: so the plan never looks
        larger than the naive sum only because tiny buffers were rounded up to ``ALIGN``."""
        return sum(_aligned(b.nbytes(sizes)) for b in self.buffers)

    def peak_bytes(self, sizes: dict[str, int]) -> int:
        return self.offsets(sizes)[1]


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def assign_offsets(nbytes: list[int], lifetimes: list[tuple[int, int]], reuses: list[int | None]) -> tuple[list[int], int]:
    """Greedy by size: place the largest buffers first, each at the lowest offset that fits.

    Two buffers conflict when their lifetimes overlap, except a buffer written in place
    over the operand it reuses, which takes that operand's offset when it fits there. Only
    at that very offset: a buffer that cannot take it is placed apart from the operand
    like from any other, since a kernel reading one element while writing another of a
    partly overlapping buffer would read what it has just overwritten (C loops and Triton
    compute element by element).
    """
    offsets: dict[int, int] = {}

    def conflicts(i: int, j: int) -> bool:
        return lifetimes[j][0] <= lifetimes[i][1] and lifetimes[i][0] <= lifetimes[j][1]

    def in_place(i: int, j: int, offset: int) -> bool:
        """Whether ``i`` at ``offset`` is written in place over ``j`` (or ``j`` over ``i``)."""
        return (reuses[i] == j or reuses[j] == i) and offset == offsets[j]

    def fits(i: int, offset: int, live: list[int]) -> bool:
        """Whether ``i`` at ``offset`` overlaps none of ``live`` (the placed buffers whose lifetimes meet its own)."""
        return all(in_place(i, j, offset) or offset + nbytes[i] <= offsets[j] or offsets[j] + nbytes[j] <= offset for j in live)

    for i in sorted(range(len(nbytes)), key=lambda i: (-nbytes[i], lifetimes[i][0])):
        # Only these can be in the way: checking every placed buffer made a program of thousands of
        # buffers (a Transformer's eager backward) take seconds here.
        live = [j for j in offsets if conflicts(i, j)]
        reused = reuses[i]
        if reused is not None and reused in offsets and nbytes[i] <= nbytes[reused] and fits(i, offsets[reused], live):
            offsets[i] = offsets[reused]
            continue
        offsets[i] = _lowest_fit(i, live, offsets, nbytes, reuses, fits)
    final = [offsets[i] for i in range(len(nbytes))]
    peak = max((final[i] + nbytes[i] for i in range(len(nbytes))), default=0)
    return final, peak


def _lowest_fit(i: int, live: list[int], offsets: dict[int, int], nbytes: list[int], reuses: list[int | None], fits: Callable[..., bool]) -> int:
    """The lowest offset, 0 or the end of a live buffer, at which ``i`` fits.

    Apart from in-place partners, the lowest gap is found in one sweep over the live buffers
    in address order; a partner's own offset, where ``i`` may overlap it, is tried on its own.
    """
    cursor = 0
    for start, end in sorted((offsets[j], offsets[j] + nbytes[j]) for j in live):
        if start >= cursor + nbytes[i]:
            break
        cursor = max(cursor, end)
    ends = {0} | {offsets[j] + nbytes[j] for j in live}
    partners = [offsets[j] for j in live if (reuses[i] == j or reuses[j] == i) and offsets[j] < cursor and offsets[j] in ends]
    return min([cursor] + [c for c in partners if fits(i, c, live)])


def arena_layout(buffers: list[tuple], itemsize: list[int]) -> tuple[list[int], list[int], int]:
    """(byte offset, byte size) of each buffer of a generated program's ``buffers()``, and the arena's size.

    Both backends' runtimes allocate their arena from this: ``buffers`` lists (shape, dtype,
    first kernel, last kernel, reused buffer) at concrete sizes, ``itemsize`` the bytes of
    each buffer's dtype.
    """
    nbytes = [math.prod(int(d) for d in shape) * size for (shape, *_), size in zip(buffers, itemsize)]
    aligned = [(n + ALIGN - 1) // ALIGN * ALIGN for n in nbytes]
    offsets, peak = assign_offsets(aligned, [(start, end) for _, _, start, end, _ in buffers], [r for *_, r in buffers])
    return offsets, nbytes, max(peak, 1)


def plan_memory(program: Program, materialized: Callable[[Kernel], list[Node]] | None = None) -> MemoryPlan:
    """Buffers for what kernels store for later kernels, and for what a backend stores inside one.

    ``materialized`` names, per kernel, the values the backend's code for it puts in memory
    although no other kernel reads them: the NumPy backend's matmul result, which its
    epilogue then reads (BLAS cannot apply one). Each is a buffer living for that kernel
    only, which an output of the kernel may take over in place.
    """
    graph = program.graph
    external = {id(n) for n in graph.inputs} | {id(n) for n in graph.outputs}
    index_of: dict[int, int] = {}
    buffers: list[Buffer] = []
    inside: list[list[Node]] = []
    for k, kernel in enumerate(program.kernels):
        inside.append(materialized(kernel) if materialized else [])
        for out in kernel.outputs + inside[k]:
            if id(out) not in external and id(out) not in index_of:
                index_of[id(out)] = len(buffers)
                buffers.append(Buffer(out, k, k))
    for k, kernel in enumerate(program.kernels):
        for value in kernel.inputs:
            if id(value) in index_of:
                buffer = buffers[index_of[id(value)]]
                buffer.end = max(buffer.end, k)
    for k, kernel in enumerate(program.kernels):
        if kernel.kind in IN_PLACE_KINDS:
            _write_in_place(kernel, k, buffers, index_of, inside[k])
    return MemoryPlan(buffers)


def live_peak(reads: list[Iterable[int]], writes: list[Iterable[int]], nbytes: dict[int, int]) -> int:
    """The most bytes alive at once when kernels run in this order (index = step).

    A value lives from the kernel writing it to the last kernel reading it, as buffers
    do in ``plan_memory``; values missing from ``nbytes`` (the caller's inputs and
    outputs) are not counted. This is the lower bound the arena reaches when no buffer
    is written in place, and what fusion compares before and after a candidate: it is
    linear in the schedule, where assigning offsets is quadratic in the buffers.
    """
    start: dict[int, int] = {}
    end: dict[int, int] = {}
    for step, values in enumerate(writes):
        for value in values:
            if value in nbytes:
                start[value] = end[value] = step
    for step, values in enumerate(reads):
        for value in values:
            if value in start:
                end[value] = max(end[value], step)
    change = [0] * (len(writes) + 1)
    for value, first in start.items():
        change[first] += nbytes[value]
        change[end[value] + 1] -= nbytes[value]
    live = peak = 0
    for delta in change:
        live += delta
        peak = max(peak, live)
    return peak


def _write_in_place(kernel: Kernel, k: int, buffers: list[Buffer], index_of: dict[int, int], inside: list[Node]) -> None:
    """Let each output the kernel stores take the bytes of an operand that dies in it, where that is safe.

    The values the backend materializes inside the kernel (``inside``) die in it too.
    """
    claimed: set[int] = set()
    for out in kernel.outputs:
        if id(out) not in index_of:
            continue
        needs = computed_from([out], kernel.nodes)
        for value in kernel.inputs + inside:
            i = index_of.get(id(value))
            if i is None or i in claimed or buffers[i].end != k:
                continue
            same_size = value.type.numel == out.type.numel and value.dtype.itemsize == out.dtype.itemsize
            if same_size and _read_before_write(kernel.nodes, value, out, needs):
                buffers[index_of[id(out)]].reuses = i
                claimed.add(i)
                break


def computed_from(values: list[Node], nodes: list[Node]) -> set[int]:
    """``values`` and every node of ``nodes`` (a kernel's) they are computed from."""
    inside = {id(n) for n in nodes}
    found = {id(v) for v in values}
    stack = list(values)
    while stack:
        for operand in stack.pop().inputs:
            if id(operand) in inside and id(operand) not in found:
                found.add(id(operand))
                stack.append(operand)
    return found


def _read_before_write(nodes: list[Node], value: Node, out: Node, needs: set[int]) -> bool:
    """Every read of ``value`` in the kernel happens, at the index ``out`` is written at, before that write.

    That holds when each reader is an elementwise node of ``out``'s shape (same index) that
    ``out`` is computed from: both backends compute a stored value's operands before the
    store (NumPy node by node, Triton per block of indices), so no read of ``value`` can
    follow the write over it. A view, a reduction or a matmul reading it reads other
    indices, and a reader ``out`` does not need may run after the write. A gather of
    ``out``'s shape is allowed: NumPy gathers into a temporary, and the Triton emitter
    drops any reuse whose loads are not all at the address written (``emit_program``).
    """
    readers = [n for n in nodes if any(o is value for o in n.inputs)]
    return bool(readers) and all(
        (REGISTRY[n.op].category == "elementwise" or n.op in INDEXED_READS) and id(n) in needs and shapes_equal(n.shape, out.shape)
        for n in readers
    )


def symbolic_naive_bytes(plan: MemoryPlan) -> Dim:
    total: Dim = 0
    for b in plan.buffers:
        nbytes = b.node.type.numel * b.node.dtype.itemsize
        total = total + (_aligned(nbytes) if isinstance(nbytes, int) else nbytes)
    return total
