"""torch.einsum: the equation parsed, repeated labels taken as diagonals, labels only one operand
has summed away, and the operands contracted left to right, each pair as one batched ``matmul``.

A pair's labels sort into batch (both operands, still needed), contracted (both, not needed),
and each side's own; the operands are permuted and reshaped to [batch, own, contracted] and
[batch, contracted, own], so a contraction costs a matmul, not a broadcast product the size of
every label together. Sizes of 1 broadcast against the other operand's size, as in torch.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from graphc.errors import GraphcError
from graphc.frontend.autocast_policy import autocast_op
from graphc.frontend.functional import node_of, wrap
from graphc.frontend.manipulation import diagonal
from graphc.ir import build as b
from graphc.ir.graph import Node
from graphc.ir.registry import op_error
from graphc.ir.types import Dim, dims_equal, normalize_dim
from graphc.runtime.tensor import Tensor

Labels = list[str]


@autocast_op
def einsum(equation: str, *operands: Any) -> Tensor:
    """Sum of products over the labels the output leaves out, e.g. ``einsum("bij,bjk->bik", a, c)``."""
    tensors = list(operands[0]) if len(operands) == 1 and isinstance(operands[0], (list, tuple)) else list(operands)
    nodes = [node_of(t) for t in tensors]
    inputs, output = _parse(equation, nodes)
    terms = [_distinct(n, labels) for n, labels in zip(nodes, inputs)]
    sizes = _sizes(equation, terms, nodes)
    squeeze = len(terms) > 1
    terms = [_sum_alone(i, terms, output, squeeze) for i in range(len(terms))]
    node, labels = terms[0]
    for i, (other, other_labels) in enumerate(terms[1:], start=1):
        later = {label for _, ls in terms[i + 1 :] for label in ls} | set(output)
        node, labels = _contract(node, labels, other, other_labels, later, sizes)
    node, labels = _sum_out(node, labels, set(output), squeeze)
    return wrap(b.permute(node, [labels.index(label) for label in output]))


def _parse(equation: str, nodes: list[Node]) -> tuple[list[Labels], Labels]:
    """Each operand's labels and the output's, with ``...`` replaced by labels of its own per broadcast axis."""
    text = equation.replace(" ", "")
    left, arrow, right = text.partition("->")
    parts = left.split(",")
    if len(parts) != len(nodes):
        raise GraphcError(f"einsum(): {len(parts)} operands in the equation {equation!r}, {len(nodes)} given")
    for part in [*parts, right]:
        if builtins.any(not (c.isalpha() or c == ".") for c in part) or part.replace("...", "").count(".") or part.count("...") > 1:
            raise GraphcError(f"einsum(): invalid subscripts {part!r} in the equation {equation!r} (letters and one '...' per operand)")
    spans = [n.type.ndim - len(p.replace("...", "")) for p, n in zip(parts, nodes)]
    for part, span, n in zip(parts, spans, nodes):
        if span < 0 or (span > 0 and "..." not in part):
            raise op_error("einsum", [m.type for m in nodes], {"equation": equation}, f"the subscripts {part!r} do not match a {n.type.ndim}-d operand")
    width = builtins.max(spans + [0])
    ellipsis = [f"...{i}" for i in range(width)]
    inputs = [_expand(part, ellipsis[width - span :]) for part, span in zip(parts, spans)]
    if arrow:
        output = _expand(right, ellipsis)
        if len(set(output)) != len(output) or builtins.any(label not in {x for ls in inputs for x in ls} for label in output):
            raise GraphcError(f"einsum(): the output subscripts of {equation!r} must be distinct and appear in an operand")
    else:
        counts = [label for labels in inputs for label in labels if not label.startswith("...")]
        output = ellipsis + sorted(label for label in set(counts) if counts.count(label) == 1)
    return inputs, output


def _expand(part: str, ellipsis: Labels) -> Labels:
    head, dots, tail = part.partition("...")
    return list(head) + (ellipsis if dots else []) + list(tail)


def _distinct(x: Node, labels: Labels) -> tuple[Node, Labels]:
    """A label repeated within one operand takes the diagonal of those axes (``ii->i``)."""
    labels = list(labels)
    for label in dict.fromkeys(labels):
        while labels.count(label) > 1:
            first = labels.index(label)
            second = labels.index(label, first + 1)
            x = node_of(diagonal(wrap(x), 0, first, second))
            labels = [lb for i, lb in enumerate(labels) if i not in (first, second)] + [label]
    return x, labels


def _sizes(equation: str, terms: list[tuple[Node, Labels]], nodes: list[Node]) -> dict[str, Dim]:
    """Each label's size; a 1 broadcasts against another size, different sizes are an error."""
    sizes: dict[str, Dim] = {}
    for x, labels in terms:
        for label, size in zip(labels, x.shape):
            known = sizes.get(label, 1)
            if isinstance(known, int) and known == 1:
                sizes[label] = size
            elif not (isinstance(size, int) and size == 1) and not dims_equal(known, size):
                name = "..." if label.startswith("...") else label
                message = f"subscript {name} has size {size} in one operand and {known} in another"
                raise op_error("einsum", [n.type for n in nodes], {"equation": equation}, message)
    return sizes


def _sum_alone(index: int, terms: list[tuple[Node, Labels]], output: Labels, squeeze: bool) -> tuple[Node, Labels]:
    """Labels only operand ``index`` has and the output drops are summed at once."""
    elsewhere = {label for i, (_, ls) in enumerate(terms) if i != index for label in ls}
    x, labels = terms[index]
    return _sum_out(x, labels, set(output) | elsewhere, squeeze)


def _sum_out(x: Node, labels: Labels, keep: set[str], squeeze: bool) -> tuple[Node, Labels]:
    """With several operands, axes of size 1 are squeezed rather than summed, as torch's einsum: its
    sum makes an integer int64, so ``a,z->z`` of int16 is int16 for one ``a`` and int64 for several
    (graphc said int64). One operand's are summed, as torch's (``ab->`` of int8 [1, 1] is int64)."""
    axes = tuple(i for i, label in enumerate(labels) if label not in keep)
    if not axes:
        return x, labels
    summed = tuple(i for i in axes if not (squeeze and dims_equal(x.shape[i], 1)))
    if summed:
        x = b.reduce("sum", x, summed, True)
    return b.reshape(x, [d for i, d in enumerate(x.shape) if i not in axes]), [label for label in labels if label in keep]


def _contract(x: Node, xl: Labels, y: Node, yl: Labels, later: set[str], sizes: dict[str, Dim]) -> tuple[Node, Labels]:
    """One pair as a batched matmul: [batch, x's own, contracted] @ [batch, contracted, y's own]."""
    batch = [label for label in xl if label in yl and label in later]
    inner = [label for label in xl if label in yl and label not in later]
    own_x = [label for label in xl if label not in yl]
    own_y = [label for label in yl if label not in xl]
    shape = [sizes[label] for label in batch]
    # torch multiplies a pair that shares no summed label but labels of size 1 (``ab,bz->`` with b of 1),
    # promoting the dtypes; a matmul takes one dtype.
    if x.dtype != y.dtype and builtins.all(dims_equal(sizes[label], 1) for label in inner):
        left = b.reshape(_arrange(x, xl, batch + own_x + inner, sizes), shape + [sizes[label] for label in own_x] + [1] * len(own_y))
        right = b.reshape(_arrange(y, yl, batch + inner + own_y, sizes), shape + [1] * len(own_x) + [sizes[label] for label in own_y])
        return b.mul(left, right), batch + own_x + own_y
    left = _arrange(x, xl, batch + own_x + inner, sizes)
    right = _arrange(y, yl, batch + inner + own_y, sizes)
    left = b.reshape(left, shape + [_product(own_x, sizes), _product(inner, sizes)])
    right = b.reshape(right, shape + [_product(inner, sizes), _product(own_y, sizes)])
    product = b.reshape(b.matmul(left, right), shape + [sizes[label] for label in own_x + own_y])
    return product, batch + own_x + own_y


def _arrange(x: Node, labels: Labels, order: Labels, sizes: dict[str, Dim]) -> Node:
    """x's axes in ``order``, its size-1 axes broadcast to the label's size."""
    moved = b.permute(x, [labels.index(label) for label in order])
    return b.broadcast_to(moved, [sizes[label] for label in order])


def _product(labels: Sequence[str], sizes: dict[str, Dim]) -> Dim:
    total: Dim = 1
    for label in labels:
        total = total * sizes[label]
    return normalize_dim(total)
