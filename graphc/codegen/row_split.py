"""Splitting a kernel into blocks of rows, so the NumPy backend can run it tile by tile on threads.

A fused NumPy kernel is a chain of whole-array calls: every intermediate makes a full trip
through memory, and the chain runs on one core. When no op of the kernel mixes the rows of
its outputs, the kernel can run on a block of rows at a time: a block's temporaries stay in
cache, and blocks run on separate threads, because NumPy releases the GIL inside its loops.

``split_rows`` decides whether a kernel can be split, and rewrites it with its row count as
the symbol ``rows``. "Rows" are axis 0 of every output. Walking back from the outputs, each
value is given the axis that holds those rows (its *row axis*), or ``None`` when it is read
whole by every block (a bias, a scale, a constant). An output that reduces over the rows (a
bias gradient's column sum) is computed per block and the blocks' partial results are
combined. A value asked for two different axes, an op that mixes rows (a matmul, a gather
along the rows, a reshape that moves them, math on a reduction over them) or a large value
read whole makes the kernel unsplittable, and it runs as one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from graphc.codegen.kernel_ir import Kernel
from graphc.ir.graph import Node
from graphc.ir.registry import IDENTITIES, REGISTRY, VIEWS
from graphc.ir.types import Dim, TensorType, dims_equal

ROWS = sympy.Symbol("rows", integer=True, positive=True)

# A value every block reads whole is recomputed by every block: keep that to small values.
MAX_WHOLE_ELEMENTS = 1 << 16

_VIEWS = VIEWS | IDENTITIES  # free to redo: NumPy views

RowAxis = int | None  # the axis holding the rows, or None for a value read whole
# A reduction over the rows, or a view of one: each block computes a partial result and
# rt.by_rows combines the blocks' results (a bias gradient's column sum).
PARTIAL = "partial"


class _Unsplittable(Exception):
    """Raised by a rule when the kernel cannot run by blocks of rows."""


@dataclass
class RowSplit:
    kernel: Kernel  # the same computation, its row count written as ``ROWS``
    extent: Dim  # the row count of the original kernel
    input_axes: list[RowAxis]  # per input of the original kernel: where its rows are, None if read whole
    # Per output: "rows" (axis 0), "same" (0-d, every block computes it alike), or the
    # reduction ("sum", "max", "min") that combines the blocks' partial results.
    output_kinds: list[str]


def split_rows(kernel: Kernel) -> RowSplit | None:
    """The kernel rewritten to compute ``ROWS`` rows, or None when it cannot run by blocks.

    Outputs come in three kinds. Most hold rows on axis 0. A 0-d output beside them (an
    optimizer's step count) is computed alike by every block. A reduction over the rows
    (or a view of one) is computed per block and the partial results are combined.
    """
    inside = {id(n) for n in kernel.nodes}
    kinds = [output_kind(out, inside) for out in kernel.outputs]
    sizes = [_rows_of(out, kind, inside) for out, kind in zip(kernel.outputs, kinds) if kind != "same"]
    if not sizes or isinstance(sizes[0], int) and sizes[0] < 2 or not all(dims_equal(size, sizes[0]) for size in sizes):
        return None
    try:
        axes = _row_axes(kernel, kinds)
    except _Unsplittable:
        return None
    inputs = [axes.get(id(n)) for n in kernel.inputs]
    if PARTIAL in inputs:
        return None
    return RowSplit(_with_symbolic_rows(kernel, axes), sizes[0], inputs, kinds)


def output_kind(out: Node, inside: set[int]) -> str:
    """How blocks of rows produce an output of the kernel whose nodes are ``inside``: "rows"
    (its axis 0), "same" (0-d, alike in every block), or the reduction over the rows that
    combines the blocks' partial results ("sum", "max", "min")."""
    root = _partial_root(out, inside)
    if root is not None:
        return root.op
    return "rows" if out.type.ndim else "same"


def _rows_of(out: Node, kind: str, inside: set[int]) -> Dim:
    """The row count an output of this kind is computed over."""
    if kind == "rows":
        return out.shape[0]
    root = _partial_root(out, inside)
    assert root is not None
    return root.inputs[0].shape[0]


def _partial_root(node: Node, inside: set[int]) -> Node | None:
    """The reduction over axis 0 that ``node`` is (a view of), when it is computed in the kernel."""
    while node.op in _VIEWS and id(node) in inside:
        node = node.inputs[0]
    reduces_rows = node.op in ("sum", "max", "min") and 0 in node.attrs["axes"] and node.inputs[0].type.ndim > 0
    return node if reduces_rows and id(node) in inside else None


def _row_axes(kernel: Kernel, kinds: list[str]) -> dict[int, RowAxis | str]:
    """Each value's row axis, found from the outputs back to the inputs."""
    axes: dict[int, RowAxis | str] = {}
    for out, kind in zip(kernel.outputs, kinds):
        _ask(axes, out, {"rows": 0, "same": None}.get(kind, PARTIAL))
    for node in reversed(kernel.nodes):
        if id(node) not in axes:
            continue  # nothing in the kernel reads it
        axis = axes[id(node)]
        if axis is None:
            _check_whole(node)
            for operand in node.inputs:
                _ask(axes, operand, None)
            continue
        if axis == PARTIAL:
            _ask(axes, node.inputs[0], PARTIAL if node.op in _VIEWS else 0)  # a view of, or the reduction itself
            continue
        rule = RULES.get(node.op) or RULES.get(REGISTRY[node.op].category)
        if rule is None:
            raise _Unsplittable(node.op)
        for operand, operand_axis in zip(node.inputs, rule(node, axis)):
            _ask(axes, operand, operand_axis)
    return axes


def _ask(axes: dict[int, RowAxis | str], node: Node, axis: RowAxis | str) -> None:
    if id(node) in axes and axes[id(node)] != axis:
        raise _Unsplittable(f"{node.op} read with rows on two axes")
    axes[id(node)] = axis


def _check_whole(node: Node) -> None:
    """A value read whole is computed by every block: allowed when what it reads is small."""
    if node.op in _VIEWS:
        return
    for operand in node.inputs:
        size = operand.type.numel
        if not isinstance(size, int) or size > MAX_WHOLE_ELEMENTS:
            raise _Unsplittable(f"{node.op} of {operand.type} would be recomputed by every block")


# ------------------------------------------------------------------ rules: a node's row axis -> its operands'


def _broadcast_axis(operand: Node, node: Node, axis: int) -> RowAxis:
    """Where ``node``'s row axis falls in an operand that broadcasts against it (aligned from the right)."""
    operand_axis = axis - (node.type.ndim - operand.type.ndim)
    if operand_axis < 0:
        return None
    size = operand.shape[operand_axis]
    if dims_equal(size, node.shape[axis]):
        return operand_axis
    if size == 1:
        return None
    raise _Unsplittable(f"{node.op} broadcasts {operand.type} to {node.type}")


def _elementwise(node: Node, axis: int) -> list[RowAxis]:
    return [_broadcast_axis(operand, node, axis) for operand in node.inputs]


def _reduction(node: Node, axis: int) -> list[RowAxis]:
    reduced = node.attrs["axes"]
    if node.attrs["keepdim"]:
        if axis in reduced:
            raise _Unsplittable(f"{node.op} reduces over the rows")
        return [axis]
    kept = [i for i in range(node.inputs[0].type.ndim) if i not in reduced]
    return [kept[axis]]


def _permute(node: Node, axis: int) -> list[RowAxis]:
    return [node.attrs["perm"][axis]]


def _reshape(node: Node, axis: int) -> list[RowAxis]:
    """Row-major reshapes keep each row's elements together only when axis 0 keeps its size."""
    source = node.inputs[0]
    if axis != 0 or source.type.ndim == 0 or not dims_equal(source.shape[0], node.shape[0]):
        raise _Unsplittable("reshape moves the rows")
    return [0]


def _slice(node: Node, axis: int) -> list[RowAxis]:
    source = node.inputs[0]
    whole = node.attrs["starts"][axis] == 0 and node.attrs["steps"][axis] == 1 and dims_equal(node.attrs["stops"][axis], source.shape[axis])
    if not whole:
        raise _Unsplittable("slice of the rows")
    return [axis]


def _concat(node: Node, axis: int) -> list[RowAxis]:
    if node.attrs["axis"] == axis:
        raise _Unsplittable("concat along the rows")
    return [axis] * len(node.inputs)


def _gather(node: Node, axis: int) -> list[RowAxis]:
    """A gather along another axis reads each row's own elements, at its own indices."""
    if axis == node.attrs["axis"]:
        raise _Unsplittable("gather along the rows")
    return [axis, axis]


def _along_axis(node: Node, axis: int) -> list[RowAxis]:
    """Each row sorts (or scans) on its own, unless the op runs along the rows."""
    if axis == node.attrs["axis"]:
        raise _Unsplittable(f"{node.op} along the rows")
    return [axis]


def _iota(node: Node, axis: int) -> list[RowAxis]:
    """Indices along the rows would restart at 0 in every block; along another axis they are the same in each."""
    if axis == node.attrs["axis"]:
        raise _Unsplittable("iota along the rows")
    return []


RULES = {
    "argsort": _along_axis,
    "cumsum": _along_axis,
    "gather": _gather,
    "iota": _iota,
    "elementwise": _elementwise,
    "expand": _elementwise,
    "sum": _reduction,
    "max": _reduction,
    "min": _reduction,
    "argmax": _reduction,
    "permute": _permute,
    "reshape": _reshape,
    "slice": _slice,
    "concat": _concat,
}


# ------------------------------------------------------------------ the kernel with a symbolic row count


def _with_symbolic_rows(kernel: Kernel, axes: dict[int, RowAxis | str]) -> Kernel:
    """A copy of the kernel whose row axes have ``ROWS`` elements: one function serves every block."""
    copies: dict[int, Node] = {}

    def resized(node: Node) -> TensorType:
        axis = axes.get(id(node))
        if not isinstance(axis, int):
            return node.type
        shape = list(node.shape)
        shape[axis] = ROWS
        return TensorType(tuple(shape), node.dtype)

    for node in kernel.inputs:
        copies[id(node)] = Node("input", (), {}, resized(node), loc=node.loc)
    for node in kernel.nodes:
        operands = tuple(copies[id(i)] for i in node.inputs)
        copies[id(node)] = Node(node.op, operands, _resized_attrs(node, axes.get(id(node))), resized(node), loc=node.loc, phase=node.phase)
    return Kernel(
        f"{kernel.name}_rows",
        kernel.kind,
        [copies[id(n)] for n in kernel.nodes],
        [copies[id(n)] for n in kernel.inputs],
        [copies[id(n)] for n in kernel.outputs],
    )


def _resized_attrs(node: Node, axis: RowAxis | str) -> dict:
    """Attributes that spell out a size along the row axis, with ``ROWS`` there instead."""
    attrs = dict(node.attrs)
    if not isinstance(axis, int):
        return attrs
    if node.op in ("reshape", "expand", "iota"):
        shape = list(attrs["shape"])
        shape[axis] = ROWS
        attrs["shape"] = tuple(shape)
    elif node.op == "slice":
        stops = list(attrs["stops"])
        stops[axis] = ROWS
        attrs["stops"] = tuple(stops)
    return attrs
