"""What both code generators decide alike about a kernel's reductions, whatever syntax they write.

The Triton and C emitters share their templates' logic: which reductions form one row
template, in how many passes, where each output sits relative to the reduced shape, and
which values a template computes from which. Written once here, used by both.
"""

from __future__ import annotations

from collections.abc import Callable

from graphc.codegen.index_exprs import Dim, Lin
from graphc.errors import DivisionByZeroError, InvalidValueError
from graphc.ir.graph import Node
from graphc.ir.registry import VIEWS
from graphc.ir.types import shapes_equal, squeezed


def equal_parts(node: Node) -> tuple[Dim, ...] | None:
    """The one shape of a concat's parts (two or more), or None: not a concat, or parts of several shapes."""
    if node.op != "concat" or len(node.inputs) < 2:
        return None
    first = node.inputs[0].shape
    if all(len(p.shape) == len(first) and shapes_equal(p.shape, first) for p in node.inputs[1:]):
        return first
    return None


def stored_by_parts(node: Node, outputs: list[Node]) -> bool:
    """Whether a pointwise template stores output ``node`` part by part: a loop over one part's
    elements storing each part's element at its place in the concat.

    An LSTM's backward concatenates the four gate gradients a kernel computes; stored by parts,
    the concat needs no kernel of its own (``graphc.passes.fusion`` gives it its parts' shape).
    A concat returned beside outputs of its own shape is stored over that shape, with them.
    """
    if equal_parts(node) is None:
        return False
    return not any(o is not node and o.op != "concat" and len(o.shape) == len(node.shape) and shapes_equal(o.shape, node.shape) for o in outputs)


def store_groups(outputs: list[Node], shape: Callable[[Node], tuple[Dim, ...]]) -> tuple[list[tuple[tuple[Dim, ...], list[Node]]], frozenset[int]]:
    """A pointwise template's outputs grouped by the shape it loops over to store them (one
    function or loop nest each), and the ids of the concats among them stored by parts."""
    by_parts = frozenset(id(o) for o in outputs if stored_by_parts(o, outputs))
    groups: list[tuple[tuple[Dim, ...], list[Node]]] = []
    for out in outputs:
        over = shape(out.inputs[0]) if id(out) in by_parts else shape(out)
        for seen, group in groups:
            if len(seen) == len(over) and shapes_equal(seen, over):
                group.append(out)
                break
        else:
            groups.append((over, [out]))
    return groups, by_parts


def parts_at(node: Node, index: tuple[Lin, ...], shape: Callable[[Node], tuple[Dim, ...]]) -> list[tuple[Node, tuple[Lin, ...]]]:
    """Each part of concat ``node`` with the concat's index of that part's element at ``index``."""
    axis = node.attrs["axis"]
    placed = []
    offset: Dim = 0
    for part in node.inputs:
        placed.append((part, tuple(e + offset if i == axis else e for i, e in enumerate(index))))
        offset = offset + shape(part)[axis]
    return placed


def trivial_reduction(node: Node) -> bool:
    """A reduction over no axes, over axes of size 1 only, or of a 0-d tensor: the identity (argmax: 0)."""
    x = node.inputs[0]
    return x.type.ndim == 0 or all(x.shape[a] == 1 for a in node.attrs["axes"])


def unreduced_index(node: Node, index: tuple[Lin, ...]) -> tuple[Lin, ...]:
    """The operand's index of a trivial reduction's element: 0 on each reduced (size-1) axis."""
    x = node.inputs[0]
    if x.type.ndim == 0:
        return ()
    if node.attrs["keepdim"]:
        return index
    kept = iter(index)
    return tuple(Lin() if axis in node.attrs["axes"] else next(kept) for axis in range(x.type.ndim))


def same_rows(a: Node, b: Node) -> bool:
    """Reductions over the same axes of the same shape share one reduction template."""
    x, y = a.inputs[0], b.inputs[0]
    return len(x.shape) == len(y.shape) and shapes_equal(x.shape, y.shape) and sorted(a.attrs["axes"]) == sorted(b.attrs["axes"])


def _reduces_all(node: Node) -> bool:
    x = node.inputs[0]
    if node.op not in ("sum", "max", "min") or all(d == 1 for d in x.shape):
        return False
    return all(i in node.attrs["axes"] or d == 1 for i, d in enumerate(x.shape))


def split_totals(reductions: list[Node]) -> tuple[list[Node], list[Node]]:
    """(rows, totals): the reductions of the row template, and those reducing the rows' results to one value each.

    Fusion puts a total into a kernel of rows when it reduces the whole of a per-row result
    (cross-entropy's mean over the batch of the rows' losses); such a total's operand has
    the shape of the rows' results, with or without the reduced axes.
    """
    rows = [r for r in reductions if not _reduces_all(r)]
    if not rows:
        return reductions, []
    full, axes = rows[-1].inputs[0].shape, rows[-1].attrs["axes"]
    keep = tuple(1 if i in axes else d for i, d in enumerate(full))
    drop = tuple(d for i, d in enumerate(full) if i not in axes)
    totals = [r for r in reductions if _reduces_all(r) and any(len(r.inputs[0].shape) == len(s) and shapes_equal(r.inputs[0].shape, s) for s in (keep, drop))]
    return [r for r in reductions if all(r is not t for t in totals)], totals


def split_after(nodes: list[Node], anchors: list[Node], with_anchors: bool) -> tuple[list[Node], list[Node]]:
    """(before, after): what is computed from ``anchors`` goes after, with the views and sources only it reads.

    The Triton backend runs a kernel with totals in two parts, the rows then the totals
    (``with_anchors``: the totals go after). The NumPy backend cuts its kernels at totals
    its own way (``numpy._totals_epilogue``: recomputing row values, cutting again).
    """
    after = {id(a) for a in anchors}
    for node in nodes:
        if any(id(i) in after for i in node.inputs):
            after.add(id(node))
    if not with_anchors:
        after -= {id(a) for a in anchors}
    for node in reversed(nodes):
        readers = [n for n in nodes if any(i is node for i in n.inputs)]
        if (node.op in VIEWS or node.op in ("constant", "iota", "size")) and readers and all(id(r) in after for r in readers):
            after.add(id(node))
    return [n for n in nodes if id(n) not in after], [n for n in nodes if id(n) in after]


def reduction_passes(reductions: list[Node], inside: set[int]) -> list[list[Node]]:
    """Reductions grouped so each pass only needs the results of earlier passes (softmax: max, then sum)."""
    ids = {id(r) for r in reductions}
    memo: dict[int, int] = {}

    def level(node: Node) -> int:
        if id(node) not in inside:
            return 0
        if id(node) not in memo:
            below = max((level(i) for i in node.inputs), default=0)
            memo[id(node)] = below + 1 if id(node) in ids else below
        return memo[id(node)]

    levels = [level(r) for r in reductions]
    return [[r for r, lv in zip(reductions, levels) if lv == p] for p in range(1, max(levels) + 1)]


def output_levels(
    full: tuple[Dim, ...],
    axes: tuple[int, ...],
    outputs: list[Node],
    shape: Callable[[Node], tuple[Dim, ...]],
    totals: bool = False,
    other_ranks: bool = False,
) -> dict[int, str]:
    """Each output's place in a reduction of ``full`` over ``axes``.

    That is "full", the reduced shape with ("keep") or without ("drop") the axes, or one
    value computed from the totals ("total"). With ``other_ranks``, an output whose shape is
    ``full``'s but for axes of size 1 is "full" too, and one that is the reduced shape but for
    axes of size 1 is "drop" (a ``reshape(())`` of a ``[1, 1]`` result); the caller stores
    them through ``index_in``.
    """
    keep = tuple(1 if i in axes else d for i, d in enumerate(full))
    drop = tuple(d for i, d in enumerate(full) if i not in axes)
    levels: dict[int, str] = {}
    for out in outputs:
        s = shape(out)
        if (len(s) == len(full) and shapes_equal(s, full)) or (other_ranks and shapes_equal(squeezed(s), squeezed(full))):
            levels[id(out)] = "full"
        elif len(s) == len(full) and shapes_equal(s, keep):
            levels[id(out)] = "keep"
        elif (len(s) == len(drop) and shapes_equal(s, drop)) or (other_ranks and shapes_equal(squeezed(s), squeezed(drop))):
            levels[id(out)] = "drop"
        elif totals and all(d == 1 for d in s):
            levels[id(out)] = "total"
    return levels


def index_in(shape: tuple[Dim, ...], full: tuple[Dim, ...], index: tuple, zero: object) -> tuple:
    """``index`` over ``full`` as an index of ``shape``, which has the same axes but those of size 1
    (``output_levels``' outputs of another rank): each size-1 axis of ``shape`` is at ``zero``."""
    if len(shape) == len(full):
        return index
    kept = iter(i for d, i in zip(full, index) if d != 1)
    return tuple(zero if d == 1 else next(kept) for d in shape)


def depends_on(node: Node, targets: list[Node], computed: Callable[[Node], bool]) -> bool:
    """Whether ``node`` is computed from any of ``targets`` through values the kernel ``computed`` (not read from memory)."""
    wanted = {id(t) for t in targets}
    stack, seen = [node], set()
    while stack:
        n = stack.pop()
        if id(n) in wanted:
            return True
        if id(n) in seen or not computed(n):
            continue
        seen.add(id(n))
        stack.extend(n.inputs)
    return False


def constant_value(node: Node, inside: set[int]) -> float | None:
    """The value of a broadcast constant computed inside the kernel, if ``node`` is one."""
    while id(node) in inside and node.op in ("expand", "reshape"):
        node = node.inputs[0]
    if id(node) in inside and node.op == "constant":
        return float(node.attrs["value"])
    return None


SIZE_SLOT = "{size}"
"""Where ``index_error``'s message takes the axis's size, known only when the kernel runs."""


def index_error(node: Node) -> str:
    """What an out-of-range index of a gather, index_select or scatter_add raises: the op, the axis and its size, the user's line.

    The size is left as ``SIZE_SLOT`` because the message is fixed when the program is built,
    when a size may still be the symbol ``B``; the kernel fills in the size it ran with.
    """
    where = f"\n  at {node.loc}" if node.loc else ""
    return f"{node.op}: an index is out of range for axis {node.attrs['axis']} of size {SIZE_SLOT}{where}"


def division_error(node: Node) -> str:
    """What an integer floor_divide, remainder or fmod by zero raises (``DivisionByZeroError``): the op and the user's line."""
    where = f"\n  at {node.loc}" if node.loc else ""
    return f"{node.op}: integer division by zero{where}"


def check_error(node: Node) -> str:
    """What a ``check`` that finds a bad value raises (``InvalidValueError``): its message and the user's line."""
    where = f"\n  at {node.loc}" if node.loc else ""
    return f"{node.attrs['message']}{where}"


def flagged_error(kind: str, message: str, size: int) -> Exception:
    """The exception for an error a kernel flagged, by its kind: "index" (``index_error``'s message, its
    size filled in), "division" (``division_error``'s) or "value" (``check_error``'s)."""
    if kind == "index":
        return IndexError(message.replace(SIZE_SLOT, str(size), 1))
    if kind == "division":
        return DivisionByZeroError(message)
    return InvalidValueError(message)
