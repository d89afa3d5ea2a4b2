"""Batching rules: how each primitive runs on a batch of its operands at once (what ``vmap`` applies).

As JAX's ``batching.primitive_batchers``, one rule per primitive, keyed by its name. A rule gets
the per-example node (for its attributes and operand types), the batched operands as
``(node, axis)`` pairs (``axis`` None for an operand shared by every example) and the batch
size, and returns the batched result and its batch axis. Most rules move the batch axis of
each batched operand to the front (a permute: a view, index arithmetic in the kernel that
reads it), broadcast the unbatched ones (an expand: a view too), and emit the primitive once
with its axis attributes shifted by one; reshapes fold the batch into a leading axis where a
primitive has one of its own (``unfold``'s N). A primitive without a rule is listed in
``NOT_BATCHED`` with the reason; ``tests/test_vmap.py`` fails for one in neither.
"""

from __future__ import annotations

from collections.abc import Callable

from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import REGISTRY, emit
from graphc.ir.types import Dim

Batched = tuple[Node, "int | None"]
BatchRule = Callable[[Node, list[Batched], Dim], Batched]

BATCHING: dict[str, BatchRule] = {}

# Primitives with no batching rule, and why none is needed.
NOT_BATCHED: dict[str, str] = {
    **{
        name: "a source has no operands, so it never depends on a batched value"
        for name in ("input", "parameter", "constant", "iota", "size")
    },
    "rand": "its one operand, the seed, is never batched: vmap's randomness argument decides (error, the same draw for every "
    "example, or a draw of batch-times the shape), graphc/frontend/transforms/vmap.py",
}


def batch_rule(*names: str) -> Callable[[BatchRule], BatchRule]:
    def register(rule: BatchRule) -> BatchRule:
        for name in names:
            assert name in REGISTRY, name
            BATCHING[name] = rule
        return rule

    return register


def to_front(x: Batched, size: Dim) -> Node:
    """The value with its batch axis first; a shared value is broadcast along a new first axis."""
    node, axis = x
    if axis is None:
        return b.expand(b.reshape(node, (1, *node.shape)), (size, *node.shape))
    perm = [axis] + [i for i in range(node.type.ndim) if i != axis]
    return b.permute(node, perm)


def move_axis(x: Batched, to: int, size: Dim) -> Node:
    """The value with its batch axis at ``to`` (broadcast there when shared)."""
    front = to_front(x, size)
    perm = list(range(1, front.type.ndim))
    perm.insert(to, 0)
    return b.permute(front, perm)


def _same_op(node: Node, operands: list[Node], **changed: object) -> Node:
    return emit(node.op, *operands, **{**node.attrs, **changed})


def _all_front(node: Node, args: list[Batched], size: Dim, **changed: object) -> Batched:
    return _same_op(node, [to_front(a, size) for a in args], **changed), 0


ELEMENTWISE = [name for name, op in REGISTRY.items() if op.category == "elementwise"]


@batch_rule(*ELEMENTWISE)
def elementwise_batch(node: Node, args: list[Batched], size: Dim) -> Batched:
    """Operands of one shape stay of one shape with the batch first: the op runs unchanged."""
    return _all_front(node, args, size)


@batch_rule("sum", "max", "min", "argmax")
def reduction_batch(node: Node, args: list[Batched], size: Dim) -> Batched:
    x = to_front(args[0], size)
    if node.inputs[0].type.ndim == 0:  # a 0-d example reduces to itself (argmax: to index 0)
        return (b.full((size,), 0, dtypes.int64) if node.op == "argmax" else x), 0
    return _same_op(node, [x], axes=tuple(a + 1 for a in node.attrs["axes"])), 0


@batch_rule("cumsum", "argsort", "concat", "gather", "scatter_add", "scatter_reduce")
def along_axis_batch(node: Node, args: list[Batched], size: Dim) -> Batched:
    """One axis attribute, shifted past the batch axis; every operand batched alike."""
    return _all_front(node, args, size, axis=node.attrs["axis"] + 1)


@batch_rule("reshape", "expand")
def shape_batch(node: Node, args: list[Batched], size: Dim) -> Batched:
    return _all_front(node, args, size, shape=(size, *node.attrs["shape"]))


@batch_rule("permute")
def permute_batch(node: Node, args: list[Batched], size: Dim) -> Batched:
    return _all_front(node, args, size, perm=(0, *(p + 1 for p in node.attrs["perm"])))


@batch_rule("slice")
def slice_batch(node: Node, args: list[Batched], size: Dim) -> Batched:
    a = node.attrs
    return _all_front(node, args, size, starts=(0, *a["starts"]), stops=(size, *a["stops"]), steps=(1, *a["steps"]))


@batch_rule("pad")
def pad_batch(node: Node, args: list[Batched], size: Dim) -> Batched:
    a = node.attrs
    return _all_front(node, args, size, low=(0, *a["low"]), high=(0, *a["high"]), interior=(0, *a["interior"]))


@batch_rule("matmul")
def matmul_batch(node: Node, args: list[Batched], size: Dim) -> Batched:
    """A batch of matrices times one shared matrix is one taller matrix product; otherwise batch both."""
    y, y_axis = args[1]
    if y_axis is None and node.inputs[1].type.ndim == 2:
        rows = to_front(args[0], size)
        count: Dim = 1
        for d in rows.shape[:-1]:
            count = count * d
        out = emit("matmul", b.reshape(rows, (count, y.shape[0])), y, **node.attrs)
        return b.reshape(out, (*rows.shape[:-1], y.shape[1])), 0
    return _all_front(node, args, size)


@batch_rule("index_select")
def index_select_batch(node: Node, args: list[Batched], size: Dim) -> Batched:
    """A shared index selects along the shifted axis; a batched one becomes a gather of a broadcast index."""
    x = to_front(args[0], size)
    axis = node.attrs["axis"] + 1
    if args[1][1] is None:
        return emit("index_select", x, args[1][0], axis=axis), 0
    index = to_front(args[1], size)
    along = [1] * x.type.ndim
    along[0], along[axis] = size, index.shape[1]
    wanted = list(x.shape)
    wanted[axis] = index.shape[1]
    return emit("gather", x, b.expand(b.reshape(index, along), wanted), axis=axis), 0


@batch_rule("unfold", "fold")
def window_batch(node: Node, args: list[Batched], size: Dim) -> Batched:
    """The windows' own batch axis N takes the vmap batch too: [B, N, ...] -> [B*N, ...] and back."""
    x = to_front(args[0], size)
    merged = b.reshape(x, (size * x.shape[1], *x.shape[2:]))
    out = _same_op(node, [merged])
    return b.reshape(out, (size, x.shape[1], *out.shape[1:])), 0


@batch_rule("solve", "solve_triangular", "cholesky", "slogdet", "eigh", "svd", "qr", "matrix_exp", "lu", "ldl_factor", "ldl_solve")
def linalg_batch(node: Node, args: list[Batched], size: Dim) -> Batched:
    """Each takes batches of matrices [..., m, n]: the vmap batch is one more leading axis."""
    return _all_front(node, args, size)


def batch_node(node: Node, args: list[Batched], size: Dim) -> Batched:
    """``node``'s primitive applied to the batched operands ``args`` (at least one batched)."""
    return BATCHING[node.op](node, args, size)
