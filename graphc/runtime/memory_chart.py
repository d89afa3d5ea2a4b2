"""The memory plan as a picture: every buffer's lifetime over the kernel schedule, and its place in the arena.

The chart takes plain records, ``BufferRecord(name, start, end, offset, size)``:
``start`` is the index of the kernel that writes the buffer, ``end`` the index of
the last kernel that reads it, ``offset`` its byte offset in the arena (None when
a plan has no offsets: every buffer then gets its own allocation) and ``size``
its bytes. ``records_from_plan`` makes them from a ``MemoryPlan``; anything that
plans memory differently only has to produce the same records.

Two views come out of the same records:

- ``memory_svg``: an SVG written directly (no Graphviz needed) with a Gantt chart
  (one row per buffer, a bar from its first to its last kernel, labelled with its
  size) above the arena (time across, byte offset down, one rectangle per buffer);
- ``memory_text``: the same as a table with one character per kernel, for terminals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from graphc.ir.printer import number_nodes

PALETTE = ["#5c8fc4", "#5b9e5f", "#c9a227", "#9a5fa8", "#3f9aa6", "#c47a5c", "#7fa34a", "#7262a8", "#b05577", "#4f7f8f"]


@dataclass
class BufferRecord:
    name: str  # how the chart labels it: the printed name of the value it holds, e.g. "%12"
    start: int  # index of the kernel that writes it
    end: int  # index of the last kernel that reads it
    offset: int | None  # byte offset in the arena, None when not planned
    size: int  # bytes
    detail: str = ""  # extra text for the label and tooltip (its type, what it reuses)


def records_from_plan(plan, sizes: dict[str, int], graph=None) -> list[BufferRecord]:  # noqa: ANN001 - MemoryPlan, Graph
    """Records of every buffer of ``plan`` at the concrete ``sizes`` of the symbolic dimensions."""
    names = number_nodes(graph.nodes) if graph is not None else {}
    offsets, _ = plan.offsets(sizes)
    records = []
    for i, buffer in enumerate(plan.buffers):
        name = names.get(id(buffer.node), f"buf{i}")
        detail = str(buffer.node.type)
        if buffer.reuses is not None:
            detail += f", in place over {names.get(id(plan.buffers[buffer.reuses].node), f'buf{buffer.reuses}')}"
        records.append(BufferRecord(name, buffer.start, buffer.end, offsets[i], buffer.nbytes(sizes), detail))
    return records


def format_bytes(n: int, exact: bool = False) -> str:
    """``1.5 KiB``; with ``exact``, followed by the count of bytes when that is rounded (``1.5 KiB (1536 B)``)."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}" + (f" ({n} B)" if exact else "")
    return f"{n} B"


def _peak(records: Sequence[BufferRecord], arena_bytes: int | None = None) -> int:
    """The arena's size when given (it includes alignment), else the highest byte any buffer reaches."""
    if arena_bytes is not None:
        return arena_bytes
    if all(r.offset is not None for r in records):
        return max((r.offset + r.size for r in records), default=0)  # type: ignore[operator]
    return max((sum(r.size for r in records if r.start <= k <= r.end) for k in _kernel_range(records)), default=0)


def _kernel_range(records: Sequence[BufferRecord]) -> range:
    return range(0, max((r.end for r in records), default=-1) + 1)


def summary(records: Sequence[BufferRecord], sizes: dict[str, int] | None = None, arena_bytes: int | None = None) -> str:
    naive = sum(r.size for r in records)
    planned = "planned peak" if all(r.offset is not None for r in records) else "peak of live buffers"
    at = f" at {', '.join(f'{k}={v}' for k, v in sizes.items())}" if sizes else ""
    peak = _peak(records, arena_bytes)
    return f"{len(records)} buffers{at}: naive {format_bytes(naive, True)}, {planned} {format_bytes(peak, True)}"


def memory_svg(
    records: Sequence[BufferRecord],
    kernel_names: Sequence[str] = (),
    title: str = "memory plan",
    sizes: dict[str, int] | None = None,
    arena_bytes: int | None = None,
) -> str:
    """An SVG chart of ``records`` over ``len(kernel_names)`` kernels (or as many as the records span).

    ``sizes`` (the symbolic sizes the bytes are for) and ``arena_bytes`` (the planned arena,
    alignment included) only label the chart.
    """
    num_kernels = max(len(kernel_names), len(_kernel_range(records)), 1)
    left, right, top = 230, 30, 64
    col = max(12.0, min(40.0, 900.0 / num_kernels))
    width = left + col * num_kernels + right
    row = 16
    ordered = sorted(records, key=lambda r: (r.start, r.end, r.name))
    gantt_height = row * max(len(ordered), 1)
    arena_top = top + gantt_height + 50
    arena_height = 260 if records else 0
    label_height = 6 * max((len(n) for n in kernel_names), default=4) + 20
    height = arena_top + arena_height + label_height + 10
    peak = _peak(records, arena_bytes)
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" font-family="Helvetica, Arial, sans-serif" font-size="11">',
        f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="white"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<text x="10" y="38">{escape(summary(records, sizes, arena_bytes))}</text>',
    ]

    def x(k: float) -> float:
        return left + col * k

    # Kernel columns: alternate shading, index ticks, names written downwards at the bottom.
    bottom = arena_top + arena_height
    for k in range(num_kernels):
        if k % 2 == 0:
            out.append(f'<rect x="{x(k):.1f}" y="{top - 14}" width="{col:.1f}" height="{bottom - top + 14}" fill="#f4f4f4"/>')
        out.append(f'<text x="{x(k) + col / 2:.1f}" y="{top - 3}" font-size="8" text-anchor="middle" fill="#777">{k}</text>')
        if k < len(kernel_names):
            tx, ty = x(k) + col / 2 + 3, bottom + 8
            out.append(f'<text x="{tx:.1f}" y="{ty}" font-size="9" transform="rotate(90 {tx:.1f} {ty})">{escape(kernel_names[k])}</text>')
    out.append(f'<text x="{left - 6}" y="{top - 3}" font-size="9" text-anchor="end" fill="#777">kernel</text>')
    if not records:
        out.append(f'<text x="{left}" y="{top + 12}">no intermediate buffers: every value is an input, an output, or stays inside a kernel</text>')
    # Gantt: one row per buffer.
    for i, r in enumerate(ordered):
        y = top + i * row
        color = PALETTE[i % len(PALETTE)]
        tip = escape(f"{r.name} {r.detail}: {r.size} B, kernels {r.start}..{r.end}" + (f", offset {r.offset}" if r.offset is not None else ""))
        label = f"{r.name} {r.detail.split(', ')[0]} {format_bytes(r.size)}"
        out.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{escape(label)}</text>')
        bar = f'x="{x(r.start) + 1:.1f}" y="{y + 2}" width="{col * (r.end - r.start + 1) - 2:.1f}" height="{row - 4}"'
        out.append(f'<rect {bar} fill="{color}" rx="3"><title>{tip}</title></rect>')
    # Arena: time across, offset down (only when the plan assigned offsets).
    if records and all(r.offset is not None for r in records) and peak > 0:
        out.append(f'<text x="10" y="{arena_top - 10}" font-weight="bold">arena ({escape(format_bytes(peak))})</text>')
        out.append(f'<text x="{left - 6}" y="{arena_top + 10}" text-anchor="end" font-size="9" fill="#777">offset 0</text>')
        out.append(f'<text x="{left - 6}" y="{bottom}" text-anchor="end" font-size="9" fill="#777">{peak} B</text>')
        out.append(f'<rect x="{left}" y="{arena_top}" width="{col * num_kernels:.1f}" height="{arena_height}" fill="none" stroke="#999"/>')
        for i, r in enumerate(ordered):
            assert r.offset is not None
            y0 = arena_top + arena_height * r.offset / peak
            h = max(arena_height * r.size / peak, 1.0)
            tip = escape(f"{r.name} {r.detail}: bytes {r.offset}..{r.offset + r.size}, kernels {r.start}..{r.end}")
            out.append(
                f'<rect x="{x(r.start) + 1:.1f}" y="{y0:.1f}" width="{col * (r.end - r.start + 1) - 2:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[i % len(PALETTE)]}" fill-opacity="0.75" stroke="white" stroke-width="0.5"><title>{tip}</title></rect>'
            )
            if h >= 11 and col * (r.end - r.start + 1) >= 30:
                out.append(f'<text x="{x(r.start) + 4:.1f}" y="{y0 + 10:.1f}" font-size="9" fill="white">{escape(r.name)}</text>')
    elif records:
        out.append(f'<text x="10" y="{arena_top - 10}">no arena offsets in this plan: each buffer is its own allocation</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def memory_text(records: Sequence[BufferRecord], kernel_names: Sequence[str] = (), sizes: dict[str, int] | None = None, arena_bytes: int | None = None) -> str:
    """A table of the records with a bar of ``#`` over the kernels each buffer lives across."""
    num_kernels = max(len(kernel_names), len(_kernel_range(records)), 1)
    scale = max(1, -(-num_kernels // 100))  # kernels per character, so a bar stays within 100 characters
    lines = [summary(records, sizes, arena_bytes), ""]
    if kernel_names:
        lines.append("kernels: " + ", ".join(f"{k}={name}" for k, name in enumerate(kernel_names)))
        lines.append("")
    header = f"{'buffer':>8} {'bytes':>12} {'offset':>12} {'kernels':>9}  lifetime ({scale} kernel{'s' if scale > 1 else ''} a column)"
    lines.append(header)
    for r in sorted(records, key=lambda r: (r.start, r.end, r.name)):
        bar = "".join("#" if r.start // scale <= c <= r.end // scale else "." for c in range(-(-num_kernels // scale)))
        offset = "-" if r.offset is None else str(r.offset)
        lines.append(f"{r.name:>8} {r.size:>12} {offset:>12} {f'{r.start}..{r.end}':>9}  {bar}  {r.detail}")
    return "\n".join(lines) + "\n"
