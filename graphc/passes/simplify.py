"""Simplification: CSE, algebraic identities, and dead code (dropped by construction).

A graph holds only the nodes reachable from its outputs, so dead code vanishes
whenever a pass rebuilds it. The identities are a named rule table, tried in
order on every node after its operands have been simplified.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from graphc.ir import build
from graphc.ir.graph import Graph, Node
from graphc.ir.registry import IDENTITIES, REGISTRY, emit, origin
from graphc.ir.types import Dim, Shape, dims_equal, normalize_dim, shapes_equal
from graphc.passes.rewrite import rewrite, rewrite_read_once


def _constant_value(node: Node) -> object:
    """The scalar a node holds everywhere, if it is a constant seen through movement that keeps every value."""
    while node.op in ("expand", "reshape", "permute", "slice"):
        node = node.inputs[0]
    return node.attrs["value"] if node.op == "constant" else None


def drop_detach(node: Node) -> Node | None:
    """detach and custom_vjp only matter to autodiff, which has already run."""
    return node.inputs[0] if node.op in IDENTITIES else None


def drop_identity_movement(node: Node) -> Node | None:
    if node.op in ("reshape", "expand") and shapes_equal(node.shape, node.inputs[0].shape):
        return node.inputs[0]
    if node.op == "permute" and node.attrs["perm"] == tuple(range(len(node.shape))):
        return node.inputs[0]
    if node.op == "cast" and node.dtype == node.inputs[0].dtype:
        return node.inputs[0]
    if node.op == "pad" and not any((*node.attrs["low"], *node.attrs["high"], *node.attrs["interior"])):
        return node.inputs[0]
    return None


def drop_empty_concat_pieces(node: Node) -> Node | None:
    """A piece of length 0 adds nothing to a concat, and a code generator would read it at an index
    outside it (Triton loaded such a piece at offset -1: a crash under the interpreter)."""
    if node.op != "concat":
        return None
    axis = node.attrs["axis"]
    kept = [x for x in node.inputs if not (isinstance(x.shape[axis], int) and x.shape[axis] == 0)]
    if not kept or len(kept) == len(node.inputs):
        return None
    return kept[0] if len(kept) == 1 else emit("concat", *kept, axis=axis)


def merge_reshapes(node: Node) -> Node | None:
    """reshape(reshape(x)) is one reshape."""
    if node.op == "reshape" and node.inputs[0].op == "reshape":
        inner = node.inputs[0].inputs[0]
        return Node("reshape", (inner,), node.attrs, node.type, loc=node.loc, phase=node.phase)
    return None


def merge_permutes(node: Node) -> Node | None:
    """permute(permute(x, p), q) is one permute of x, by p[q[i]] (the identity then goes too)."""
    if node.op == "permute" and node.inputs[0].op == "permute":
        inner = node.inputs[0]
        perm = tuple(inner.attrs["perm"][i] for i in node.attrs["perm"])
        return Node("permute", inner.inputs, {"perm": perm}, node.type, loc=node.loc, phase=node.phase)
    return None


def neutral_elements(node: Node) -> Node | None:
    """x + 0, x - 0, x * 1, x / 1 are x (only when the result type is x's type)."""
    if node.op not in ("add", "sub", "mul", "div"):
        return None
    x, y = node.inputs
    neutral = 0 if node.op in ("add", "sub") else 1
    if _constant_value(y) == neutral and x.type.same_as(node.type):
        return x
    if node.op in ("add", "mul") and _constant_value(x) == neutral and y.type.same_as(node.type):
        return y
    return None


_FOLDED = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}


def fold_constants(node: Node) -> Node | None:
    """Arithmetic on constants is a constant, computed in the node's float dtype as the kernel would.

    Autodiff writes the derivative of ``x ** n`` as ``n * x ** (n - 1)``: left unfolded, the
    exponent was a full-size array and NumPy's ``power`` ran elementwise on it (batch-norm's
    backward in NumPy: most of a 140 ms step).
    """
    if node.op not in _FOLDED or node.dtype.name not in ("float32", "float64"):
        return None
    values = [_constant_value(x) for x in node.inputs]
    if any(v is None or x.dtype != node.dtype for v, x in zip(values, node.inputs)):
        return None
    scalar = np.dtype(node.dtype.name).type
    with np.errstate(all="ignore"):
        value = _FOLDED[node.op](scalar(values[0]), scalar(values[1]))
    with origin(node.phase, node.loc):
        return build.full(node.shape, float(value), node.dtype)


def power_of_one(node: Node) -> Node | None:
    """x ** 1 is x (the derivative of x ** 2, once its exponent 2 - 1 is folded)."""
    if node.op == "pow" and _constant_value(node.inputs[1]) == 1 and node.inputs[0].type.same_as(node.type):
        return node.inputs[0]
    return None


def double_negation(node: Node) -> Node | None:
    if node.op == "neg" and node.inputs[0].op == "neg":
        return node.inputs[0].inputs[0]
    return None


def reduction_of_broadcast(node: Node) -> Node | None:
    """A sum, max or min over axes along which its operand is only broadcast: ``count * x`` or ``x``, no reduction.

    The gradient of ``mean()`` is ``1/N`` broadcast over every element, and a bias's gradient
    sums it back over the batch: a kernel adding B copies of one number. Folded, the value is
    a 0-d expression of sizes that each kernel reading it computes (fusion's ``_of_scalars``),
    and the kernel goes. The product rounds once, where torch's sum of the copies rounds B times.
    Float sums only (an integer or bool sum promotes); never over an axis of size 0 (an empty
    sum is 0 where ``0 * inf`` is not, and an empty max raises).
    """
    if node.op not in ("sum", "max", "min") or node.inputs[0].op != "expand":
        return None
    source = node.inputs[0].inputs[0]
    axes = node.attrs["axes"]
    if source.type.ndim != node.inputs[0].type.ndim or not all(source.shape[a] == 1 for a in axes):
        return None
    reduced = [node.inputs[0].shape[a] for a in axes]
    if any(isinstance(d, int) and d == 0 for d in reduced):
        return None
    if node.op == "sum" and (node.dtype.name not in ("float32", "float64") or source.dtype != node.dtype):
        return None
    kept = source.shape if node.attrs["keepdim"] else tuple(d for i, d in enumerate(source.shape) if i not in axes)
    value = source
    while value.op == "reshape" and all(d == 1 for d in value.shape):
        value = value.inputs[0]  # one number: multiplied as a 0-d value, which fusion computes in its readers
    if value.type.ndim:
        value = source
    with origin(node.phase, node.loc):
        if node.op == "sum":
            count: Dim = 1
            for d in reduced:
                count = count * d
            value = build.mul(value, float(count) if isinstance(count, int) else emit("size", value=normalize_dim(count), dtype=node.dtype))
        return build.expand(build.reshape(value, kept), node.shape)


def _window_in_pad(start: object, stop: object, step: int, low: int, size: object) -> str | None:
    """Where x[start:stop:step] of a padded axis falls: "inside" x, all "padding", or None (both or unknown)."""
    if low == 0 and start == 0 and stop == size:
        return "inside"  # an axis the pad leaves alone and the slice takes whole (sizes may be symbolic)
    if not all(isinstance(v, int) for v in (start, stop, size)) or stop <= start:
        return None
    last = start + (stop - 1 - start) // step * step
    if last < low or start >= low + size:
        return "padding"
    if start >= low and last < low + size:
        return "inside"
    return None


def slice_of_pad(node: Node) -> Node | None:
    """A slice that reads only x's part of pad(x) is a slice of x; one that reads only padding is a constant.

    The VJP of slicing is a pad and the VJP of concatenation slices: an LSTM's gradient
    through its stacked outputs is pads sliced back apart, mostly into pure zeros.
    """
    if node.op != "slice" or node.inputs[0].op != "pad":
        return None
    pad = node.inputs[0]
    x = pad.inputs[0]
    if any(pad.attrs["interior"]):
        return None
    windows = []
    for start, stop, step, low, size in zip(node.attrs["starts"], node.attrs["stops"], node.attrs["steps"], pad.attrs["low"], x.shape):
        windows.append(_window_in_pad(start, stop, step, low, size))
    with origin(node.phase, node.loc):
        if "padding" in windows:
            return build.full(node.shape, pad.attrs["value"], node.dtype)
        if all(w == "inside" for w in windows):
            starts = tuple(s - lo for s, lo in zip(node.attrs["starts"], pad.attrs["low"]))
            stops = tuple(s - lo for s, lo in zip(node.attrs["stops"], pad.attrs["low"]))
            return emit("slice", x, starts=starts, stops=stops, steps=node.attrs["steps"])
    return None


def slice_through_permute(node: Node) -> Node | None:
    """slice(permute(pad(x))) becomes permute(slice(pad(x))) when that inner slice simplifies."""
    if node.op != "slice" or node.inputs[0].op != "permute" or node.inputs[0].inputs[0].op != "pad":
        return None
    permute = node.inputs[0]
    perm = permute.attrs["perm"]
    inverse = [perm.index(axis) for axis in range(len(perm))]
    attrs = {name: tuple(node.attrs[name][i] for i in inverse) for name in ("starts", "stops", "steps")}
    with origin(node.phase, node.loc):
        inner = slice_of_pad(emit("slice", permute.inputs[0], **attrs))
        return None if inner is None else emit("permute", inner, perm=perm)


def _zero_pad_on_one_axis(node: Node) -> tuple[int, int, int] | None:
    """(axis, low, high) of a zero pad that only grows one axis, where that axis has a static size."""
    if node.op != "pad" or node.attrs["value"] != 0 or any(node.attrs["interior"]):
        return None
    grown = [i for i, (lo, hi) in enumerate(zip(node.attrs["low"], node.attrs["high"])) if lo or hi]
    if len(grown) != 1 or not isinstance(node.shape[grown[0]], int):
        return None
    axis = grown[0]
    return axis, node.attrs["low"][axis], node.attrs["high"][axis]


def _concat_pieces(node: Node, axis: int) -> list[Node]:
    """The operands to concatenate for ``node``: a concat along the same axis is spliced in."""
    if node.op == "concat" and node.attrs["axis"] == axis:
        return list(node.inputs)
    return [node]


def add_of_disjoint_pads(node: Node) -> Node | None:
    """pad(a) + pad(b) that cover different ranges of one axis are one pad of a concat.

    The backward of slicing a sequence step by step (an RNN reading its precomputed input
    projection at each step) sums one zero-padded gradient per step; as a concat it is a
    single copy instead of a full-size tensor allocated and added per step.
    """
    if node.op != "add":
        return None
    first, second = node.inputs
    pads = _zero_pad_on_one_axis(first), _zero_pad_on_one_axis(second)
    if pads[0] is None or pads[1] is None or pads[0][0] != pads[1][0]:
        return _into_zero_piece(node, first, second) or _into_zero_piece(node, second, first)
    axis, size = pads[0][0], node.shape[pads[0][0]]
    (start_a, stop_a), (start_b, stop_b) = [(low, size - high) for _, low, high in pads]
    if start_a > start_b:
        first, second = second, first
        (start_a, stop_a), (start_b, stop_b) = (start_b, stop_b), (start_a, stop_a)
    if stop_a > start_b:
        return _into_zero_piece(node, first, second) or _into_zero_piece(node, second, first)
    with origin(node.phase, node.loc):
        pieces = _concat_pieces(first.inputs[0], axis)
        if start_b > stop_a:
            gap = tuple(start_b - stop_a if i == axis else d for i, d in enumerate(node.shape))
            pieces.append(build.full(gap, 0, node.dtype))
        pieces += _concat_pieces(second.inputs[0], axis)
        joined = emit("concat", *pieces, axis=axis)
        low = tuple(start_a if i == axis else 0 for i in range(len(node.shape)))
        high = tuple(size - stop_b if i == axis else 0 for i in range(len(node.shape)))
        return emit("pad", joined, low=low, high=high, interior=(0,) * len(node.shape), value=first.attrs["value"])


def _into_zero_piece(node: Node, joined: Node, other: Node) -> Node | None:
    """pad(concat(.., zeros, ..)) + pad(b) where b's range lies in the zeros: b takes their place.

    Gradients of the gates of an LSTM step arrive one by one; once two that are not
    neighbours are joined with zeros between them, the one that belongs there fills the gap.
    """
    other_axis, other_low, other_high = _zero_pad_on_one_axis(other) or (None, 0, 0)
    if joined.op == "concat":  # a pad of nothing has been dropped: the concat spans the axis
        axis, low, inner = other_axis, 0, joined
    else:
        axis, low, _ = _zero_pad_on_one_axis(joined) or (None, 0, 0)
        inner = joined.inputs[0] if joined.op == "pad" else joined
    if axis is None or axis != other_axis or inner.op != "concat" or inner.attrs["axis"] != axis:
        return None
    start, stop = other_low, node.shape[axis] - other_high
    if not all(isinstance(v, int) for v in (start, stop, low)):
        return None  # a symbolic axis (the batch): whether b fits is not known for every size
    offset = low
    for i, piece in enumerate(inner.inputs):
        size = piece.shape[axis]
        if not isinstance(size, int):
            return None
        if offset <= start and stop <= offset + size and _constant_value(piece) == 0:
            with origin(node.phase, node.loc):
                pieces = list(inner.inputs[:i])
                for gap in (start - offset, None, offset + size - stop):
                    if gap is None:
                        pieces.append(other.inputs[0])
                    elif gap:
                        pieces.append(build.full(tuple(gap if j == axis else d for j, d in enumerate(piece.shape)), 0, node.dtype))
                pieces += inner.inputs[i + 1 :]
                filled = emit("concat", *pieces, axis=axis)
                return filled if joined is inner else emit("pad", filled, **joined.attrs)
        offset += size
    return None


def _gathered(x: Node, index: Node, axis: int, done: dict[int, Node]) -> Node:
    """gather(x, index, axis), moved through x's elementwise nodes down to what is in memory."""
    if id(x) in done:
        return done[id(x)]
    if x.op == "expand" and x.inputs[0].type.ndim == x.type.ndim:
        row = x.inputs[0]
        if row.shape[axis] == 1 and all(d == 1 or shapes_equal((d,), (i,)) for d, i in zip(row.shape, index.shape)):
            done[id(x)] = build.expand(row, index.shape)  # one value along the axis: every index reads it
            return done[id(x)]
    if REGISTRY[x.op].category == "elementwise" and x.op != "detach":
        operands = [_gathered(operand, index, axis, done) for operand in x.inputs]
        done[id(x)] = emit(x.op, *operands, **x.attrs)
    else:
        done[id(x)] = emit("gather", x, index, axis=axis)
    return done[id(x)]


def gather_through_pointwise(node: Node) -> Node | None:
    """gather(f(x, r), i) is f(gather(x, i), r) when f is elementwise and r is one value per row.

    Cross-entropy gathers the target's entry of log-softmax(x): a [B,C] value computed from
    x and the rows' max and log-sum. Gathered from x instead, only x must be in memory, so
    the kernel computing the rows also takes the loss and log-softmax is never stored. Only
    gathers that read fewer elements than their source are moved (each moved node then
    computes fewer elements too).
    """
    if node.op != "gather" or REGISTRY[node.inputs[0].op].category != "elementwise":
        return None
    source, index = node.inputs
    axis = node.attrs["axis"]
    taken, whole = index.shape[axis], source.shape[axis]
    if not (isinstance(taken, int) and isinstance(whole, int) and taken < whole):
        return None
    with origin(node.phase, node.loc):
        return _gathered(source, index, axis, {})


def _reshape_groups(source: Shape, target: Shape) -> list[tuple[list[int], list[int]]] | None:
    """The axes of ``source`` and of ``target`` that a reshape turns into each other, group by group.

    [B,6,784] -> [B,6,28,28] is ([0],[0]), ([1],[1]), ([2],[2,3]). None when the sizes do not
    pair up so: symbolic sizes that differ ([2*B] against [B,2]), or size-1 axes left over at
    the end of one shape.
    """
    groups: list[tuple[list[int], list[int]]] = []
    i = j = 0
    while i < len(source) and j < len(target):
        left, right = [i], [j]
        a, b = source[i], target[j]
        while not dims_equal(a, b):
            if not (isinstance(a, int) and isinstance(b, int)):
                return None
            if a < b and i + 1 < len(source):
                i += 1
                left.append(i)
                a *= source[i]
            elif b < a and j + 1 < len(target):
                j += 1
                right.append(j)
                b *= target[j]
            else:
                return None
        groups.append((left, right))
        i, j = i + 1, j + 1
    return groups if i == len(source) and j == len(target) else None


def _in_source_shape(operand: Node, source: Shape, groups: list[tuple[list[int], list[int]]]) -> Node | None:
    """``operand`` (of the reshape's target shape) as a value of its source shape, without copying a full tensor.

    A reshape of a value of the source shape is that value; a broadcast of a small value
    (a bias over the rows, a constant) is the same broadcast in the source shape, where
    each group of axes is broadcast whole or not at all.
    """
    if operand.op == "reshape" and shapes_equal(operand.inputs[0].shape, source):
        return operand.inputs[0]
    if operand.op != "expand" or operand.inputs[0].type.ndim != operand.type.ndim:
        return None
    small = operand.inputs[0]
    shape: list[Dim] = []
    for left, right in groups:
        sizes = [small.shape[k] for k in right]
        if all(isinstance(d, int) and d == 1 for d in sizes):
            shape += [1] * len(left)
        elif all(shapes_equal((d,), (operand.shape[k],)) for d, k in zip(sizes, right)):
            shape += [source[k] for k in left]
        else:
            return None
    return build.expand(build.reshape(small, shape), source)


def _computed_by_matmul(node: Node, depth: int = 8) -> bool:
    """A matmul, or elementwise nodes applied to one: what a matmul kernel can compute as its epilogue."""
    if node.op == "matmul":
        return True
    if depth == 0 or REGISTRY[node.op].category != "elementwise":
        return False
    return any(_computed_by_matmul(i, depth - 1) for i in node.inputs)


def elementwise_before_reshape(node: Node) -> Node | None:
    """f(reshape(m), b) is reshape(f(m, b')) when m is a matmul's result and b a broadcast.

    A convolution is a matmul whose [B,C,H*W] result is reshaped to [B,C,H,W]; its bias and
    activation come after the reshape, where a matmul kernel cannot take them as its
    epilogue (a view of a computed value). Computed in the matmul's shape instead, they
    are its epilogue and the reshape is a view of what it stores. Only operands that are
    the same reshape or a broadcast of a small value move along, so nothing is copied.

    A small value computed by a reduction (a batch-norm's mean) does not move: the
    reduction runs over [B,C,H,W], and what is computed from it belongs in its kernel,
    in its shape. Moved, batch-norm's `x - mean` and its backward's values were in the
    matmul's shape and its sums in the image's, and fusion could not join them: a small
    CNN with two batch-norms took 43 kernels and 12.3 ms, and 34 kernels and 9.3–10.3 ms
    without the move.
    """
    if REGISTRY[node.op].category != "elementwise" or node.op == "detach":
        return None
    reshaped = next((i for i in node.inputs if i.op == "reshape" and _computed_by_matmul(i.inputs[0])), None)
    if reshaped is None:
        return None
    source = reshaped.inputs[0].shape
    groups = _reshape_groups(source, node.shape)
    if groups is None:
        return None
    if any(i.op == "expand" and _reduced(i.inputs[0]) for i in node.inputs):
        return None
    operands = [_in_source_shape(i, source, groups) for i in node.inputs]
    if any(o is None for o in operands):
        return None
    with origin(node.phase, node.loc):
        return build.reshape(emit(node.op, *operands, **node.attrs), node.shape)


def _reduced(node: Node, depth: int = 8) -> bool:
    """Whether a reduction computes ``node`` (through elementwise nodes and views)."""
    if REGISTRY[node.op].category == "reduction":
        return True
    if depth == 0 or node.op in ("input", "parameter"):
        return False
    return any(_reduced(i, depth - 1) for i in node.inputs)


RULES: list[Callable[[Node], Node | None]] = [
    drop_detach,
    drop_identity_movement,
    drop_empty_concat_pieces,
    merge_reshapes,
    merge_permutes,
    neutral_elements,
    fold_constants,
    reduction_of_broadcast,
    power_of_one,
    double_negation,
    slice_of_pad,
    slice_through_permute,
    add_of_disjoint_pads,
    gather_through_pointwise,
    elementwise_before_reshape,
]


def matmul_transposes(node: Node, read_once: Callable[[Node], bool]) -> Node | None:
    """transpose(a @ b) is transpose(b) @ transpose(a), when nothing else reads a @ b.

    A linear layer's weight gradient is such a transpose: the product comes out in the
    layout of the transposed weight and the optimizer's kernel read it column by column
    (one strided load per element: 0.9 ms per Adam kernel of the transformer block, not
    vectorizable). Both backends read transposed operands as strided views, so the swap
    costs nothing and the product lands in the layout its readers want.
    """
    if node.op != "permute" or node.inputs[0].op != "matmul" or node.type.ndim < 2:
        return None
    product = node.inputs[0]
    swapped = (*range(node.type.ndim - 2), node.type.ndim - 1, node.type.ndim - 2)
    a, b = product.inputs
    if node.attrs["perm"] != swapped or not read_once(product) or a.type.ndim != node.type.ndim or b.type.ndim != node.type.ndim:
        return None
    with origin(product.phase, product.loc):
        return emit("matmul", emit("permute", b, perm=swapped), emit("permute", a, perm=swapped), **product.attrs)


def summed_products(node: Node, read_once: Callable[[Node], bool]) -> Node | None:
    """a1 @ b1 + a2 @ b2 is concat(a1, a2) @ concat(b1, b2): one matmul instead of one per term.

    A recurrent weight's gradient is a sum of one product per time step: the LSTM's step
    made 28 small [256,64]x[64,64] matmuls (about 25 us each, mostly call and thread-pool
    overhead) where one [256,1792]x[1792,64] does the same multiply-adds. Only products
    read by nothing but the sum are merged, so no product is computed twice.
    """
    if node.op != "add" or node.inputs[0].dtype != node.inputs[1].dtype:
        return None
    for x in node.inputs:
        if x.op != "matmul" or not read_once(x) or any(i.type.ndim != 2 for i in x.inputs):
            return None
    (a1, b1), (a2, b2) = (x.inputs for x in node.inputs)
    if a1.dtype != a2.dtype or node.inputs[0].attrs != node.inputs[1].attrs:
        return None

    def pieces(x: Node, axis: int) -> list[Node]:
        return list(x.inputs) if x.op == "concat" and x.attrs["axis"] == axis else [x]

    with origin(node.phase, node.loc):
        rows, columns = emit("concat", *pieces(a1, 1), *pieces(a2, 1), axis=1), emit("concat", *pieces(b1, 0), *pieces(b2, 0), axis=0)
        return emit("matmul", rows, columns, **node.inputs[0].attrs)


# Rules that need to know a value has no other reader (``rewrite_read_once``): run after RULES.
READ_ONCE_RULES: list[Callable[[Node, Callable[[Node], bool]], Node | None]] = [matmul_transposes, summed_products]


def _cse_key(node: Node) -> tuple:
    return (node.op, tuple(id(i) for i in node.inputs), repr(sorted(node.attrs.items())), str(node.type))


def simplify(graph: Graph) -> Graph:
    seen: dict[tuple, Node] = {}

    def rule(node: Node) -> Node | None:
        if node.op in ("input", "parameter"):
            return None
        current = node
        changed = True
        while changed and current.op not in ("input", "parameter"):
            changed = False
            for identity in RULES:
                replacement = identity(current)
                if replacement is not None:
                    current = replacement
                    changed = True
                    break
        if current.op in ("input", "parameter"):
            return current  # inputs are distinct values even when their types are equal
        key = _cse_key(current)
        if key in seen:
            return seen[key]
        seen[key] = current
        return current

    graph = rewrite(graph, rule)
    for read_once_rule in READ_ONCE_RULES:
        graph = rewrite_read_once(graph, read_once_rule)
    return graph
