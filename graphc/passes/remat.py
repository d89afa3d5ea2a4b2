"""Rematerialization: which forward values the backward keeps, and which it computes again.

The backward of a training step reads values of the forward: a linear layer's input, an
activation, the normalized rows of a layer-norm. Each value it reads stays in memory from
the moment the forward computes it until the backward uses it, so these *saved* values set
the memory peak of training. Many of them are cheap pointwise functions of fewer values:
GELU's backward reads ``0.5*h``, ``h/√2`` and ``erf(h/√2)+1``, three functions of ``h``, the
linear layer's output. Keeping ``h`` alone and computing the three again inside the backward
kernel that reads them keeps one tensor alive instead of three, for a few flops in a kernel
that loads ``h`` anyway.

The choice is a minimum cut, as in the min-cut partitioner of PyTorch's AOTAutograd
(simplified). Each forward value the backward needs (directly, or through values it
recomputes) is an edge whose capacity is its size in bytes; the backward's reads are joined
to the sink, and the values the backward may not compute again are joined to the source.
Then a minimum cut is a set of values to keep whose total size is the least that lets the
backward compute everything else it needs from them, from the graph's inputs and from
constants. Among cuts of equal size the one nearest the backward is taken, so nothing is
recomputed that would not make the saved bytes smaller. The saved bytes never grow: keeping
every value the backward reads is itself a cut.

What may be recomputed:

- never ``matmul`` or a reduction (but inside a checkpoint, below): a matmul is the expensive
  op, and a reduction's small result is cheaper to keep than the large value it reads;
- never a value the backward compares for equality (``eq``/``ne``: max's and min's gradient
  masks ``x == max(x)``): the comparison needs the very bits the forward reduced, and a value
  computed again may differ in its last bit (the C loops' vectorized ``exp`` is libmvec's, a
  scalar loop's is libm's), which empties the mask and zeroes the gradient;
- in one joint program (``remat``, the pass of ``compile_graph``), only pointwise nodes and
  views, and only those that every backward reader fuses into its own kernel (a pointwise or
  reduction reader, loading it directly or through a reshape/broadcast). Fusion's
  schedule does not promise to run a kernel of its own late, so a recomputed value left in one
  could run in the forward and stay alive until the backward anyway;
- nodes computed inside ``graphc.utils.checkpoint`` (phase ``"checkpoint"``), whatever their op:
  the user asked for their recomputation, and the cut recomputes them where that saves bytes;
- with a separate backward program (``saved_for_backward``, for imported torch modules), any
  other node too (views, ``unfold``, gathers, ``rand`` from its seed): that program runs later,
  so whatever it computes lives only while it runs.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import sympy

from graphc.ir.graph import SOURCE_OPS, Graph, Node, toposort
from graphc.ir.registry import REGISTRY
from graphc.ir.types import Dim
from graphc.passes.rewrite import with_inputs

# Symbolic sizes take this value when the sizes of candidate values are compared (a batch of
# 1024 rows: large enough that per-example values outweigh fixed-size ones, as in training).
STAND_IN_SIZE = 1024
# Never recomputed: the expensive ops, and small results of large reads.
ALWAYS_SAVED = ("matmul", "sort", "scan", "reduction", "linalg")
# Backward readers that need the forward's own bits of a value compared with another (``_compared_bitwise``).
BITWISE_READERS = ("eq", "ne")
# The views a pointwise or reduction kernel reads a value through: a broadcast of it over rows.
FUSED_VIEWS = ("reshape", "expand")
INFINITE = 1 << 62
# The phase of nodes computed inside ``graphc.utils.checkpoint``: the user allowed their recomputation,
# so any of them may be recomputed (matmuls too), if that keeps fewer bytes for the backward.
CHECKPOINTED = "checkpoint"


@dataclass
class Read:
    """The backward reading a forward value: the reader and the views in between (reader's side first)."""

    reader: Node
    views: tuple[Node, ...]


@dataclass
class RematStats:
    """What remat changed: bytes of forward values kept for the backward, before and after."""

    saved_bytes_before: Dim  # every forward value the backward read, each kept until then
    saved_bytes_after: Dim  # the values it keeps now
    recomputed: int  # forward nodes the backward now computes again
    saved: list[Node] = field(default_factory=list)  # the forward values the backward reads now

    def at(self, sizes: dict[str, int]) -> tuple[Dim, Dim]:
        """Both byte counts at concrete sizes (left symbolic when a size is unknown)."""
        return _evaluate(self.saved_bytes_before, sizes), _evaluate(self.saved_bytes_after, sizes)

    def describe(self, sizes: dict[str, int]) -> str:
        before, after = self.at(sizes)
        at = f" at {', '.join(f'{k}={v}' for k, v in sizes.items())}" if sizes else ""
        kept = f"{len(self.saved)} value{'s' if len(self.saved) != 1 else ''}"
        return f"remat{at}: the backward keeps {kept} of the forward, {after} B ({before} B without remat); {self.recomputed} nodes recomputed"


def _evaluate(value: Dim, sizes: dict[str, int]) -> Dim:
    if isinstance(value, int):
        return value
    symbols = {s: sizes[str(s)] for s in value.free_symbols if str(s) in sizes}
    result = value.subs(symbols)
    return int(result) if result.is_Integer else result


# ------------------------------------------------------------------ the boundary between forward and backward


def _is_view(node: Node) -> bool:
    return REGISTRY[node.op].category == "movement"


def backward_region(nodes: list[Node]) -> set[int]:
    """Ids of the nodes that run in the backward: built by autodiff, or computed from such a node
    (an optimizer's update of a parameter from its gradient)."""
    region: set[int] = set()
    for node in nodes:
        if node.phase == "backward" or any(id(i) in region for i in node.inputs):
            region.add(id(node))
    return region


@dataclass
class Boundary:
    """The computed forward values a backward reads, each with its readers."""

    values: dict[int, Node] = field(default_factory=dict)
    reads: dict[int, list[Read]] = field(default_factory=dict)

    def kept(self, free: set[int]) -> list[Node]:
        """The values that stay in memory for the backward: all but those the caller holds anyway."""
        return [n for i, n in self.values.items() if i not in free]


def boundary(nodes: list[Node], backward: set[int], outputs: list[Node]) -> Boundary:
    """What the ``backward`` nodes among ``nodes`` read of the others, views looked through.

    A view is index arithmetic on its source, so reading a view reads the value behind it. A
    view the caller receives is copied out by a kernel of its own: it counts as a reader.
    """
    readers = [n for n in nodes if id(n) in backward and not _is_view(n)]
    readers += [n for n in outputs if id(n) in backward and _is_view(n)]
    found = Boundary()
    for reader in readers:
        views: tuple[Node, ...] = (reader,) if _is_view(reader) else ()
        stack = [(operand, views) for operand in reader.inputs]
        while stack:
            value, views = stack.pop()
            if _is_view(value):
                stack.extend((operand, (*views, value)) for operand in value.inputs)
            elif id(value) not in backward and value.op not in SOURCE_OPS:
                found.values[id(value)] = value
                found.reads.setdefault(id(value), []).append(Read(reader, views))
    return found


def _fuses(read: Read) -> bool:
    """Whether graphc's fusion would compute a recomputed value inside this reader's kernel."""
    category = REGISTRY[read.reader.op].category
    return category in ("elementwise", "reduction") and all(v.op in FUSED_VIEWS for v in read.views)


def _is_constant(node: Node) -> bool:
    """A constant, seen through the views that broadcast it."""
    while node.op in FUSED_VIEWS:
        node = node.inputs[0]
    return node.op == "constant"


def _compared_bitwise(read: Read) -> bool:
    """The backward tests the value for equality with another computed value (max's gradient mask).

    Recomputed, in another kernel or another loop, a float may differ from the forward's in its
    last bit, and the mask would lose its max. A test against a constant (pow's gradient asks
    ``y == 0``) is as robust as ``y > 0``, so it does not pin the value.
    """
    reader = read.reader
    return reader.op in BITWISE_READERS and not any(_is_constant(i) for i in reader.inputs)


def _never_recomputed(node: Node, reads: list[Read], joint: bool) -> bool:
    if any(_compared_bitwise(r) for r in reads):
        return True
    if node.phase == CHECKPOINTED:
        return False
    category = REGISTRY[node.op].category
    if category in ALWAYS_SAVED:
        return True
    if not joint:
        return False
    return category not in ("elementwise", "movement") or not all(_fuses(r) for r in reads)


# ------------------------------------------------------------------ the minimum cut


class _FlowNetwork:
    """Vertices 0..n-1 and edges with capacities; the reverse of edge ``e`` is ``e ^ 1``."""

    def __init__(self, size: int) -> None:
        self.edges_of: list[list[int]] = [[] for _ in range(size)]
        self.head: list[int] = []
        self.capacity: list[int] = []

    def add(self, tail: int, head: int, capacity: int) -> None:
        for a, b, c in ((tail, head, capacity), (head, tail, 0)):
            self.edges_of[a].append(len(self.head))
            self.head.append(b)
            self.capacity.append(c)

    def max_flow(self, source: int, sink: int) -> None:
        """Push a maximum flow (Edmonds–Karp: shortest augmenting paths), leaving residual capacities."""
        while True:
            via = {source: -1}
            queue = deque([source])
            while queue and sink not in via:
                vertex = queue.popleft()
                for e in self.edges_of[vertex]:
                    if self.capacity[e] > 0 and self.head[e] not in via:
                        via[self.head[e]] = e
                        queue.append(self.head[e])
            if sink not in via:
                return
            path = []
            vertex = sink
            while vertex != source:
                path.append(via[vertex])
                vertex = self.head[via[vertex] ^ 1]
            pushed = min(self.capacity[e] for e in path)
            for e in path:
                self.capacity[e] -= pushed
                self.capacity[e ^ 1] += pushed

    def reaching(self, sink: int) -> set[int]:
        """Vertices with a residual path to ``sink``: the sink's side of the cut nearest to it."""
        seen = {sink}
        queue = deque([sink])
        while queue:
            vertex = queue.popleft()
            for e in self.edges_of[vertex]:
                tail = self.head[e]
                if self.capacity[e ^ 1] > 0 and tail not in seen:
                    seen.add(tail)
                    queue.append(tail)
        return seen


def _cost(node: Node) -> int:
    """Bytes of a value, symbolic sizes at ``STAND_IN_SIZE``."""
    count = node.type.numel
    if not isinstance(count, int):
        count = int(count.subs({s: STAND_IN_SIZE for s in count.free_symbols}))
    return count * node.dtype.itemsize


def choose_saved(read: Boundary, free: set[int], joint: bool) -> set[int]:
    """Ids of the forward values to keep for the backward: a minimum cut, nearest the backward.

    ``free`` holds values the backward may read at no cost (returned to the caller anyway).
    Vertex ``2i`` is where value ``i`` is computed and ``2i+1`` where it is read; the edge
    between them costs its bytes (views cost nothing to recompute, so cutting one is never
    better than cutting its source).
    """
    candidates = [n for n in toposort(read.kept(free), stop=free) if n.op not in SOURCE_OPS and id(n) not in free]
    index = {id(n): i for i, n in enumerate(candidates)}
    source, sink = 2 * len(candidates), 2 * len(candidates) + 1
    network = _FlowNetwork(sink + 1)
    for i, node in enumerate(candidates):
        network.add(2 * i, 2 * i + 1, INFINITE if _is_view(node) else _cost(node))
        if _never_recomputed(node, read.reads.get(id(node), []), joint):
            network.add(source, 2 * i, INFINITE)
        if id(node) in read.values:
            network.add(2 * i + 1, sink, INFINITE)
        for operand in node.inputs:
            if id(operand) in index:
                network.add(2 * index[id(operand)] + 1, 2 * i, INFINITE)
    network.max_flow(source, sink)
    sink_side = network.reaching(sink)
    return {id(n) for i, n in enumerate(candidates) if 2 * i not in sink_side and 2 * i + 1 in sink_side}


def saved_bytes(values: list[Node]) -> Dim:
    total: Dim = 0
    for node in values:
        total = total + node.type.numel * node.dtype.itemsize
    return sympy.expand(total) if isinstance(total, sympy.Basic) else total


# ------------------------------------------------------------------ one joint program


def _joint_boundary(graph: Graph) -> tuple[Boundary, set[int], set[int]]:
    """What a joint graph's backward reads of its forward, the values it reads for free (the
    forward's results, which the caller holds anyway), and the backward region."""
    nodes = graph.nodes
    backward = backward_region(nodes)
    free = {id(n) for n in graph.outputs if id(n) not in backward}
    return boundary(nodes, backward, graph.outputs), free, backward


def _recompute(graph: Graph, backward: set[int], keep: set[int]) -> tuple[Graph, list[tuple[Node, Node]]]:
    """The graph with the backward reading only ``keep`` (and inputs and constants) of the
    forward: every other forward value it uses is cloned into the backward, the clones tagged
    ``backward`` so that fusion puts them into the backward's kernels."""
    nodes = graph.nodes
    operands = [i for n in nodes if id(n) in backward for i in n.inputs if id(i) not in backward]
    needed = {id(n) for n in toposort(operands, stop=keep)} - keep
    mapping: dict[int, Node] = {}
    clones: list[tuple[Node, Node]] = []
    for node in nodes:
        inputs = tuple(mapping.get(id(i), i) for i in node.inputs)
        if id(node) in backward:
            mapping[id(node)] = with_inputs(node, inputs)
        elif id(node) in needed and node.op not in SOURCE_OPS and not (_is_view(node) and inputs == node.inputs):
            clone = Node(node.op, inputs, node.attrs, node.type, requires_grad=node.requires_grad, loc=node.loc, phase="backward")
            mapping[id(node)] = clone
            clones.append((node, clone))
    return Graph(graph.inputs, [mapping.get(id(n), n) for n in graph.outputs]), clones


def remat(graph: Graph) -> tuple[Graph, RematStats]:
    """Recompute cheap forward values in the backward of a joint forward+backward graph."""
    read, free, backward = _joint_boundary(graph)
    kept_before = read.kept(free)
    if not kept_before:
        return graph, RematStats(0, 0, 0)
    keep = choose_saved(read, free, joint=True) | free
    result, clones = _recompute(graph, backward, keep)
    read_after, free_after, _ = _joint_boundary(result)
    kept_after = read_after.kept(free_after)
    live = {id(n) for n in result.nodes}
    recomputed = sum(1 for original, _ in clones if not _is_view(original) and id(original) in live)
    return result, RematStats(saved_bytes(kept_before), saved_bytes(kept_after), recomputed, kept_after)


class Remat:
    """The pass as the ``PassManager`` runs it (Graph -> Graph), keeping its statistics for the report."""

    def __init__(self) -> None:
        self.stats: RematStats | None = None

    def __call__(self, graph: Graph) -> Graph:
        graph, self.stats = remat(graph)
        return graph


# ------------------------------------------------------------------ separate forward and backward programs


def saved_for_backward(forward_outputs: list[Node], grads: list[Node], enabled: bool = True) -> tuple[list[Node], RematStats]:
    """The forward nodes a separate backward program takes as inputs, computing ``grads``.

    Inputs and parameters it reads are among them (kept by reference, at no cost); of the
    computed values, a minimum cut (everything it reads when ``enabled`` is False). The
    backward program recomputes the rest from them.
    """
    forward_nodes = toposort(forward_outputs)
    forward = {id(n) for n in forward_nodes}
    nodes = toposort(grads, stop=forward)
    backward = {id(n) for n in nodes if id(n) not in forward}
    read = boundary(nodes, backward, grads)
    chosen = choose_saved(read, set(), joint=False) if enabled else set(read.values)
    keep = chosen | {id(n) for n in forward_nodes if n.op in ("input", "parameter")}
    program = toposort(grads, stop=keep)  # the backward program, from its inputs
    saved = [n for n in program if id(n) in keep]
    recomputed = [n for n in program if id(n) in forward and id(n) not in keep and not _is_view(n) and n.op not in SOURCE_OPS]
    computed = [n for n in saved if n.op not in SOURCE_OPS]
    return saved, RematStats(saved_bytes(read.kept(set())), saved_bytes(computed), len(recomputed), computed)
