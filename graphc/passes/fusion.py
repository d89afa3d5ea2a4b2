"""Fusion: group the nodes of a graph into kernels, recording why each fusion not made was refused.

Two kinds of fusion, both chosen by the bytes they keep out of memory:

- *Vertical* (producer into consumer). The pass walks the graph from the outputs
  back (consumers before producers). A producer joins its consumers' kernel when
  every one of its uses lies in that one kernel and the kernel's shape of iteration
  can compute it; then its result never reaches memory, which saves writing it and
  reading it back. A producer read by several kernels joins the one where it saves
  the most bytes (among equals, the one with the longest chain of kernels after it,
  so the choice does not depend on the order of the graph's nodes), and is stored
  from there for the others.
- *Horizontal* (siblings). Kernels over the same iteration space with no path of
  dependencies between them become one multi-output kernel: an optimizer's updates
  of all parameters of one shape, the gradients of the gates of one LSTM step, the
  weight and bias gradients of a layer-norm. Every input both read is loaded once
  (the bytes saved), and one launch replaces several. A producer and a consumer the
  walk kept apart merge the same way when nothing runs between them. Candidates are
  tried in order of bytes saved; a pair with a kernel between them would make a
  kernel that waits for itself (a cycle), and a merge that raises the planned peak
  is refused.

In between, each returned view of a computed value (a parameter's gradient) is
stored by a kernel that has the value at hand rather than copied by its own kernel.
Each refusal is logged with its reason (``Program.fusion_log``, ``report()``).

Kernels have one of three shapes of iteration (DESIGN.md, "fusion"):

- ``pointwise``: elementwise nodes of one shape (bias + GELU + dropout + residual);
- ``reduction``: reductions over the same axes of the same input shape, with the
  elementwise nodes before them (prologue), between them through a broadcast of a
  reduced value back over the row (softmax, layer-norm), and after them (epilogue);
- ``matmul``: one matmul and the elementwise nodes applied to its result (epilogue),
  with 0-d values they broadcast computed once (a weight's Adam update, ``_scalars_over``).

Movement nodes and sources (scalar constants, sizes, iota) are not kernels of their
own: each kernel that reads through them gets its own copy, which the code generators
turn into index arithmetic on its loads; so is a 0-d value computed from constants,
sizes and 0-d inputs only (``_of_scalars``). The exceptions (``_stored_values``): a
concat or pad that several nodes read is stored once by a kernel of its own, and such a
0-d value that the caller receives (a new step count) joins a kernel reading it, like
any value computed once for all its elements. Inside a kernel, a movement node may only apply
to loaded values, except the re-broadcast of a reduced value in a reduction kernel
and reshapes that only add or drop size-1 dimensions.

The kernels are then ordered (``_schedule``) so that the bytes alive at once stay
low: among the kernels whose inputs are ready, the one that grows the live bytes
least runs first. Byte counts take every symbolic size as ``REFERENCE_SIZE``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from graphc.codegen.kernel_ir import Program, kernel_for
from graphc.codegen.templates import equal_parts
from graphc.ir.graph import Graph, Node
from graphc.ir.registry import REGISTRY, VIEWS
from graphc.ir.types import Dim, Shape, dims_equal, evaluate_shape, format_shape, free_symbols, shapes_equal, squeezed
from graphc.passes.memory import live_peak

INLINE = ("movement", "source")
ALONE = ("window", "sort", "scan", "linalg")
# Computed element by element at the kernel's index: rand draws from (seed, linear index) on
# both backends, so it gives the same numbers inside a kernel as alone.
POINTWISE = ("elementwise", "random")
# Reads at computed addresses: they fuse as loads, so what they read must be in memory.
INDEXED_READS = ("gather", "index_select")
# Scattering writes run as kernels of their own; a scatter_reduce's kernel holds only it and the
# views it reads through (its Triton template reads the sources of every position for each one).
SCATTERS = ("scatter_add", "scatter_reduce")
# Movement that builds a new value (copies on NumPy, masked loads on Triton), not a view.
COPYING = ("concat", "pad")
# Why a kernel storing a concat part by part takes no reduction: the templates over rows store
# each output over the rows' shape, and only the pointwise and matmul ones store by parts.
PARTS_STAY_POINTWISE = "a kernel storing a concat part by part stays pointwise (or a matmul epilogue)"
COLUMNS_STAY_POINTWISE = "a kernel computing values at the columns its slices read stays pointwise (or a matmul epilogue)"
# Why a pair of kernels found to share an iteration space is not merged once an earlier merge changed one's rows.
STALE_PAIR = "an earlier merge changed the rows one iterates over, so they no longer share an iteration space"
# Why a kernel storing a view that moves elements of a value it computes (a transpose) takes no rows (``Fuser._moved_view``).
MOVED_VIEW_NOT_ROWS = "one stores {view}, a view putting what it computes at other indices, and a kernel over rows has each value at its own row only"
# The value every symbolic size takes when fusion weighs bytes (a batch of a typical size).
REFERENCE_SIZE = 1024


@dataclass(eq=False)
class Group:
    kind: str  # pointwise | reduction | matmul | <category of an op that runs alone>
    shape: Shape  # the iteration space: the shape of its pointwise nodes (reduction: the input rows)
    nodes: list[Node] = field(default_factory=list)
    # Reduction groups: the reduced axes. A matmul whose epilogue broadcasts 0-d values computed
    # once (``_scalars_over``) keeps the axes they are broadcast over.
    axes: tuple[int, ...] = ()
    # Reduction groups only: the rows' results are reduced again, each to one value (a batch mean).
    totals: bool = False
    # Pointwise and matmul groups: the shape of the values computed in it that are read through
    # column slices (``_column_slice``) of its own width, e.g. an LSTM's [B,4H] gate product
    # read as four [B,H] gates. Each is computed at the columns its slices read.
    wide: Shape | None = None

    def reduced_shapes(self) -> list[Shape]:
        """The shapes of the rows' results, with and without the reduced axes."""
        keep = tuple(1 if i in self.axes else d for i, d in enumerate(self.shape))
        drop = tuple(d for i, d in enumerate(self.shape) if i not in self.axes)
        return [keep, drop]

    def total_shapes(self) -> list[Shape]:
        """The shapes of the totals (one value each), if the group has them."""
        return [(), (1,) * len(self.shape), (1,) * (len(self.shape) - len(self.axes))] if self.totals else []


def _category(node: Node) -> str:
    return REGISTRY[node.op].category


def _column_slice(node: Node, width: Dim) -> bool:
    """A slice of some columns (the last axis, step 1, ``width`` of them) keeping every other axis whole."""
    if node.op != "slice" or not node.type.ndim:
        return False
    starts, stops, steps = node.attrs["starts"], node.attrs["stops"], node.attrs["steps"]
    full = node.inputs[0].shape
    whole = all(a == 0 and z == d and k == 1 for a, z, d, k in zip(starts[:-1], stops[:-1], full[:-1], steps[:-1]))
    return whole and steps[-1] == 1 and isinstance(starts[-1], int) and dims_equal(node.shape[-1], width)


def _has_parts(group: Group) -> bool:
    """Whether ``group`` stores a concat part by part (over its parts' shape, not its own)."""
    return any(n.op == "concat" and not _same(n.shape, group.shape) for n in group.nodes)


def _is_inline(node: Node, stored: frozenset[int]) -> bool:
    if node.op in ("input", "parameter") or id(node) in stored:
        return False
    return _category(node) in INLINE or _of_scalars(node, stored)


def _of_scalars(node: Node, stored: frozenset[int], seen: dict[int, bool] | None = None) -> bool:
    """A 0-d elementwise value computed from constants, sizes and 0-d inputs only (a mean's 2/N, Adam's 1 - beta1).

    Like a constant, each kernel reading it computes it: as a kernel of its own it would be
    one launch for one number, and computed by one kernel it would make every other kernel
    reading it wait for that one (Adam's updates of a bias could not join the sum computing
    its gradient). One the caller receives (a new step count) is stored (``_stored_values``)
    and is not rebuilt from. ``seen`` remembers the nodes already judged: a 0-d expression
    reuses its subexpressions (erfinv's polynomials of one value), and walking every path
    of that DAG took exponential time.
    """
    seen = {} if seen is None else seen
    if id(node) not in seen:
        seen[id(node)] = (
            node.type.ndim == 0
            and _category(node) == "elementwise"
            and all(_is_scalar_source(i) or (id(i) not in stored and _of_scalars(i, stored, seen)) for i in node.inputs)
        )
    return seen[id(node)]


def _is_scalar_source(node: Node) -> bool:
    return node.op in ("constant", "size") or (node.op in ("input", "parameter") and node.type.ndim == 0)


def _stored_values(graph: Graph, users: dict[int, list[Node]]) -> frozenset[int]:
    """What would be rebuilt in each kernel reading it but is stored: copies read several times, and returned 0-d values.

    A copying movement node (concat, pad) that several computing nodes read, inlined in
    each, would be rebuilt by each: a NumPy kernel copies it again, a Triton kernel loads
    every piece under masks. An LSTM's backward concatenates 28 steps of gate gradients that
    three kernels read (the bias gradient, the weight gradients), and rebuilt in each the
    fused step ran slower than the unfused one. Such a node is stored once, by a kernel of
    its own. A 0-d value of scalars (``_of_scalars``) that the caller receives must be
    stored by some kernel anyway; it joins a kernel like any elementwise node.
    """
    stored: set[int] = set()
    for node in reversed(graph.nodes):  # readers first: a concat of concats counts its readers once
        if node.op in COPYING and len(_consumers(node, users, frozenset(stored))) > 1:
            stored.add(id(node))
    for out in graph.outputs:
        if _of_scalars(out, frozenset()):
            stored.add(id(out))
    return frozenset(stored)


def _consumers(node: Node, users: dict[int, list[Node]], stored: frozenset[int]) -> list[tuple[Node, list[Node]]]:
    """The computing nodes reading ``node``, each with the movement chain the value passes through."""
    found: list[tuple[Node, list[Node]]] = []
    stack: list[tuple[Node, list[Node]]] = [(u, []) for u in users.get(id(node), [])]
    while stack:
        user, chain = stack.pop()
        if _is_inline(user, stored):
            stack.extend((u, chain + [user]) for u in users.get(id(user), []))
        else:
            found.append((user, chain))
    return found


def _same(a: Shape, b: Shape) -> bool:
    return len(a) == len(b) and shapes_equal(a, b)


def _is_rebroadcast(chain: list[Node], group: Group) -> bool:
    """reshape(s) between reduced shapes, then expand back over the rows: a reduced value re-used."""
    reduced = group.reduced_shapes()
    for i, node in enumerate(chain):
        last = i == len(chain) - 1
        if node.op == "reshape" and any(_same(node.shape, r) for r in reduced):
            continue
        if node.op == "expand" and last and _same(node.shape, group.shape):
            continue
        return False
    return True


def _is_relabel(chain: list[Node], group: Group) -> bool:
    """Only reshapes that add or drop the size-1 reduced axes (a value at the reduced level, or a total)."""
    reduced = group.reduced_shapes() + group.total_shapes()
    return all(n.op == "reshape" and any(_same(n.shape, r) for r in reduced) for n in chain)


def _row_group(group: Group, chains: list[list[Node]]) -> Group | None:
    """If the chains broadcast a value over some axes of the kernel's shape, the row-wise view of it."""
    for chain in chains:
        if chain and chain[-1].op == "expand" and _same(chain[-1].shape, group.shape):
            source = chain[-1].inputs[0].shape
            axes = tuple(i for i, (a, b) in enumerate(zip(source, group.shape)) if a == 1 and not (isinstance(b, int) and b == 1))
            if axes:
                return Group("reduction", group.shape, axes=axes)
    return None


def _scalars_over(group: Group) -> bool:
    """A kernel that became row-wise only to broadcast 0-d values over its elements (an Adam update's bias corrections).

    It reduces nothing, so it is pointwise with some values computed once: a matmul can
    still take it as its epilogue (a weight's update in the kernel computing its gradient).
    """
    if group.kind != "reduction" or group.totals or any(_category(n) == "reduction" for n in group.nodes):
        return False
    return all(_same(n.shape, group.shape) or all(d == 1 for d in n.shape) for n in group.nodes)


def _one_value_broadcast(chain: list[Node]) -> bool:
    """Only reshapes between shapes of one element and expands: one value read at every index."""
    return all(n.op == "expand" or (n.op == "reshape" and all(d == 1 for d in n.shape)) for n in chain)


def _reduces_all(node: Node) -> bool:
    """A sum, max or min of every element of a value with more than one (argmax has no total: it is a position)."""
    x = node.inputs[0]
    if node.op not in ("sum", "max", "min") or not squeezed(x.shape):
        return False
    return all(i in node.attrs["axes"] or (isinstance(d, int) and d == 1) for i, d in enumerate(x.shape))


def _is_total(node: Node, group: Group) -> bool:
    """A reduction of ``group``'s per-row results to one value (a batch mean over per-row losses)."""
    return _reduces_all(node) and any(_same(node.inputs[0].shape, r) for r in group.reduced_shapes())


def _rows_for(node: Node) -> Group:
    return Group("reduction", node.inputs[0].shape, axes=node.attrs["axes"])


class Fuser:
    def __init__(self, graph: Graph, columns: bool = True) -> None:
        self.graph = graph
        self.columns = columns
        self.nodes = graph.nodes
        self.position = {id(n): i for i, n in enumerate(self.nodes)}
        self.node_of = {id(n): n for n in self.nodes}
        self.users = graph.users()
        self.stored = _stored_values(graph, self.users)
        self.group_of: dict[int, Group] = {}
        self.groups: list[Group] = []
        # During the walk (run): the kernels that must run after each kernel, one step away (``_reaches``).
        self.after: dict[int, set[int]] = {}
        self.log: list[str] = []
        self.graph_outputs = {id(n) for n in graph.outputs}
        self.external = {id(n) for n in graph.inputs} | self.graph_outputs
        self.reference = {str(s): REFERENCE_SIZE for n in graph.inputs for s in free_symbols(n.shape)}
        self._nbytes: dict[int, int] = {}

    def nbytes(self, node: Node) -> int:
        """The size of ``node``'s value with every symbolic size at ``REFERENCE_SIZE``."""
        found = self._nbytes.get(id(node))
        if found is None:
            count = 1
            for d in evaluate_shape(node.shape, self.reference):
                count *= d
            found = self._nbytes[id(node)] = count * node.dtype.itemsize
        return found

    def run(self) -> list[Group]:
        for node in reversed(self.nodes):
            if node.op in ("input", "parameter") or _is_inline(node, self.stored):
                continue
            target = self._target(node)
            if target is None:
                self._start(node)
            else:
                self._join(node, target)
        return self.groups

    def _start(self, node: Node) -> None:
        category = _category(node)
        parts = equal_parts(node)
        if category in POINTWISE or node.op in INDEXED_READS:
            group = Group("pointwise", node.shape)
        elif parts is not None:  # a stored concat of equal parts: stored part by part, its parts computed with it
            group = Group("pointwise", parts)
        elif category == "reduction":
            group = Group("reduction", node.inputs[0].shape, axes=node.attrs["axes"])
        else:
            group = Group(category, node.shape)
        self.after[id(group)] = set()
        self._add(node, group)
        self.groups.append(group)

    def _join(self, node: Node, group: Group) -> None:
        category = _category(node)
        chains = [chain for _, chain in _consumers(node, self.users, self.stored)]
        rows = _row_group(group, chains) if category in POINTWISE and group.kind == "pointwise" else None
        if rows is not None:
            group.kind, group.axes = "reduction", rows.axes
        elif category == "reduction" and (group.kind == "pointwise" or _scalars_over(group)):
            group.kind, group.shape, group.axes = "reduction", node.inputs[0].shape, node.attrs["axes"]
        elif category == "reduction" and _is_total(node, group):
            group.totals = True
        elif category == "reduction" and not _same(node.inputs[0].shape, group.shape):
            group.shape, group.axes, group.totals = node.inputs[0].shape, node.attrs["axes"], True  # its reductions become totals
        elif category == "matmul":
            group.kind = "matmul"  # keeps the axes its 0-d values are broadcast over (``_scalars_over``)
        if group.kind in ("pointwise", "matmul") and not group.axes and self._by_columns(node, group, chains):
            group.wide = node.shape
        self._add(node, group)

    def _add(self, node: Node, group: Group) -> None:
        """Put ``node`` in ``group``: the kernels reading it, directly or through inline nodes, now run after ``group``.

        Its readers come later in the program, so the walk placed them already and they stay
        where they are until it ends (inline nodes stay in no kernel): what a node adds to its
        kernel's successors is known once, when it joins.
        """
        group.nodes.append(node)
        self.group_of[id(node)] = group
        after = self.after[id(group)]
        seen: set[int] = set()
        stack = [node]
        while stack:
            for user in self.users.get(id(stack.pop()), []):
                reader = self.group_of.get(id(user))
                if reader is not None:
                    after.add(id(reader))
                elif id(user) not in seen:
                    seen.add(id(user))
                    stack.append(user)

    def _refuse(self, node: Node, reason: str) -> None:
        self.log.append(f"{_describe(node)}: {reason}")

    def _target(self, node: Node) -> Group | None:
        """The kernel ``node`` joins, or None (with the reason logged).

        With readers in several kernels, the node joins one of them and is stored from
        there for the others, provided none of the others runs before that kernel can.
        """
        consumers = _consumers(node, self.users, self.stored)
        if not consumers:
            return None
        by_group: dict[int, tuple[Group, list[Node], list[list[Node]]]] = {}
        for consumer, chain in consumers:
            group = self.group_of[id(consumer)]
            entry = by_group.setdefault(id(group), (group, [], []))
            entry[1].append(consumer)
            entry[2].append(chain)
        reasons = []
        # Try the kernels in order of the bytes joining them saves (``_preference``).
        candidates = sorted(by_group.values(), key=self._preference(list(by_group.values())))
        for group, readers, chains in candidates:
            inside = len(by_group) == 1 and id(node) not in self.external and not _views_returned(node, self.users, self.graph_outputs, self.stored)
            reason = self._incompatibility(node, group, chains, readers, inside)
            if reason is None and len(by_group) > 1:
                others = [g for g, _, _ in by_group.values() if g is not group]
                if any(self._reaches(other, group) for other in others):
                    reason = "another kernel reading it must run first"
            if reason is None:
                return group
            reasons.append(f"into {group.kind} kernel of {format_shape(group.shape)}: {reason}")
        self._refuse(node, "; ".join(reasons))
        return None

    def _incompatibility(self, node: Node, group: Group, chains: list[list[Node]], consumers: list[Node], inside: bool) -> str | None:
        """Why ``node`` cannot be computed inside ``group`` (None when it can).

        ``inside``: every reader is in ``group`` and the caller does not receive it, so it is
        never stored from there; then it may also be read through reshapes that only add or
        drop size-1 dimensions (the same index under another name), e.g. a column of targets.
        """
        category = _category(node)
        if node.op in COPYING and id(node) in self.stored:
            return f"{node.op} read by {len(consumers)} nodes is stored once, not rebuilt in each kernel reading it"
        if inside and self._by_columns(node, group, chains):
            return self._column_incompatibility(node, group, consumers)
        if category in ALONE or group.kind in ALONE or node.op in SCATTERS or group.nodes[0].op == "scatter_reduce":
            return f"{node.op} and {group.kind} kernels are not fused (scatters, windows, sorts, scans and linear algebra run alone)"
        if any(c.op in INDEXED_READS and c.inputs[0] is (chain[-1] if chain else node) for c, chain in zip(consumers, chains)):
            return "a gather reads its source at computed addresses, so the source must be in memory"
        if category in POINTWISE and group.axes and _of_scalars(node, frozenset()) and all(_one_value_broadcast(c) for c in chains):
            return None  # the same value at every index (a returned step count's bias correction): the kernel computes it once
        level = [group.shape] + (group.reduced_shapes() + group.total_shapes() if group.axes else [])
        relabeled = (
            inside
            and (category in POINTWISE or node.op in INDEXED_READS)
            and group.kind in ("pointwise", "reduction")
            and all(_unit_reshapes(c) for c in chains)
        )
        if relabeled:
            if any(_same(squeezed(node.shape), squeezed(s)) for s in level):
                return None
            return f"shape {format_shape(node.shape)} differs from the kernel's {format_shape(group.shape)}"
        if node.op in INDEXED_READS:
            if any(chains) and not (group.kind == "reduction" and all(_is_relabel(c, group) for c in chains)):
                return "a view of a gathered value cannot become index arithmetic"
            if not any(_same(node.shape, shape) for shape in level):
                return f"shape {format_shape(node.shape)} differs from the kernel's {format_shape(group.shape)}"
            return None
        if category in POINTWISE:
            if any(chains):
                if group.axes and all(_is_relabel(c, group) or _is_rebroadcast(c, group) for c in chains):
                    return None
                rows = _row_group(group, chains)
                if group.kind == "pointwise" and rows is not None and _has_parts(group):
                    return PARTS_STAY_POINTWISE
                if group.kind == "pointwise" and rows is not None and group.wide is not None:
                    return COLUMNS_STAY_POINTWISE
                if group.kind == "pointwise" and rows is not None and all(_is_rebroadcast(c, rows) for c in chains if c):
                    return None  # a per-row value broadcast over the rows: the kernel becomes row-wise
                return "a view of a computed value cannot become index arithmetic (only of loaded values)"
            if not any(_same(node.shape, s) for s in level):
                return f"shape {format_shape(node.shape)} differs from the kernel's {format_shape(group.shape)}"
            if group.kind == "matmul" and any(c.op == "matmul" for c in consumers):
                return "matmul operands are not fused into the matmul (only its epilogue is)"
            return None
        if category == "reduction":
            if _has_parts(group):
                return PARTS_STAY_POINTWISE
            if group.wide is not None:
                return COLUMNS_STAY_POINTWISE
            if group.kind == "matmul":
                return "a reduction does not fuse into a matmul epilogue"
            if group.kind == "reduction" and _is_total(node, group):
                if not all(_is_relabel(c, group) for c in chains):
                    return "a total of the rows' results is used through a view other than a relabel"
                return self._total_read_back([*group.nodes, node], group)
            if group.kind == "reduction" and self._totals_only(group) and any(_same(group.shape, r) for r in _rows_for(node).reduced_shapes()):
                if not all(_is_relabel(c, _rows_for(node)) for c in chains):
                    return "the reduced value is used through a view other than a relabel"
                return self._total_read_back([*group.nodes, node], _rows_for(node))  # its reductions become this one's totals
            if _scalars_over(group):
                candidate = _rows_for(node)
                if any(_same(group.shape, r) for r in candidate.reduced_shapes()) and all(_is_relabel(c, candidate) for c in chains):
                    return None  # the kernel becomes the epilogue of the rows' results (a bias's update after its gradient's sum)
            if group.kind == "reduction":
                if not (_same(node.inputs[0].shape, group.shape) and node.attrs["axes"] == group.axes):
                    return "reductions over different rows or axes do not share a kernel"
                if all(_is_rebroadcast(c, group) or _is_relabel(c, group) for c in chains):
                    return None
                return "the reduced value is used through a view other than a re-broadcast"
            # Joining a pointwise kernel: as the source of its epilogue, or re-broadcast over its rows.
            candidate = Group("reduction", node.inputs[0].shape, axes=node.attrs["axes"])
            if _same(group.shape, candidate.shape) and all(_is_rebroadcast(c, candidate) for c in chains):
                return None
            if any(_same(group.shape, r) for r in candidate.reduced_shapes()) and all(_is_relabel(c, candidate) for c in chains):
                return None
            return f"the pointwise kernel's shape {format_shape(group.shape)} is neither the reduced rows nor their result"
        if category == "matmul":
            epilogue = group.kind == "pointwise" or _scalars_over(group)
            if not epilogue or any(chains) or not _same(node.shape, group.shape):
                return f"a matmul takes only a pointwise epilogue of its own shape (kernel is {group.kind})"
            return None
        return f"{category} nodes are not fused"

    def _by_columns(self, node: Node, group: Group, chains: list[list[Node]]) -> bool:
        """Whether ``node`` is read in ``group`` only through column slices of the group's width,
        or directly by nodes of its own shape that are (so it is a value of the group's ``wide`` shape)."""
        shape = group.shape
        if not self.columns or not shape or len(node.shape) != len(shape) or _same(node.shape, shape):
            return False
        if not _same(node.shape[:-1], shape[:-1]) or (group.wide is not None and not _same(node.shape, group.wide)):
            return False
        sliced = [c for c in chains if c]
        if not sliced and group.wide is None:
            return False
        return all(len(c) == 1 and _column_slice(c[0], shape[-1]) for c in sliced)

    def _column_incompatibility(self, node: Node, group: Group, consumers: list[Node]) -> str | None:
        """Why ``node``, read through column slices, cannot be computed in ``group`` at those columns (or None)."""
        category = _category(node)
        if group.kind not in ("pointwise", "matmul") or group.axes or _has_parts(group):
            return COLUMNS_STAY_POINTWISE
        if any(c.op == "matmul" for c in consumers):
            return "matmul operands are not fused into the matmul (only its epilogue is)"
        if category in POINTWISE:
            return None
        if category == "matmul":
            if group.kind == "matmul":
                return "a kernel has one matmul"
            return None
        return f"{category} nodes are not computed at the columns a slice reads"

    def _totals_only(self, group: Group) -> bool:
        """Whether every reduction of ``group`` reduces all of its iteration space, and nothing is computed from them but values of one element.

        Such a kernel can become the totals of a kernel of rows whose per-row results it
        reduces: cross-entropy's mean over the batch of the rows' losses.
        """
        if group.kind != "reduction" or group.totals:
            return False
        reductions = [n for n in group.nodes if _category(n) == "reduction"]
        if not reductions or not all(_reduces_all(r) and _same(r.inputs[0].shape, group.shape) for r in reductions):
            return False
        members = {id(n) for n in group.nodes}
        after = {id(r) for r in reductions}
        for node in reversed(group.nodes):  # the walk added consumers first: reversed is program order
            if id(node) in members and any(id(v) in after for v in _loaded(node, self.stored)):
                after.add(id(node))
        return all(not squeezed(n.shape) for n in group.nodes if id(n) in after and _category(n) != "reduction")

    def _preference(self, entries: list[tuple[Group, list[Node], list[list[Node]]]]) -> Callable[[tuple[Group, list[Node], list[list[Node]]]], tuple[int, int]]:
        """The order in which a value tries the kernels reading it: most readers there first (each is one load less).

        Among kernels with as many readers, the one with the longest chain of kernels after it
        comes first. The kernel a value joins runs before every other kernel reading it; one
        that must run early anyway gains no new constraint, while a kernel at the end of the
        program, made to run first, ties kernels that were independent (a layer-norm's weight
        gradient, a column sum, made to run before the row-wise input gradient, which a later
        column sum reads, cannot join that column sum). Graph order, the tie before, is the
        order the user listed parameters in, and made the kernels depend on it.
        """
        tied = Counter(len(readers) for _, readers, _ in entries)
        memo: dict[int, int] = {}

        def key(entry: tuple[Group, list[Node], list[list[Node]]]) -> tuple[int, int]:
            group, readers, _ = entry
            return -len(readers), -self._depth(group, memo) if tied[len(readers)] > 1 else 0

        return key

    def _depth(self, group: Group, memo: dict[int, int]) -> int:
        """The longest chain of kernels that must run after ``group`` (during the walk)."""
        if id(group) not in memo:
            memo[id(group)] = 0
            stack = [(id(group), iter(self.after[id(group)]))]
            while stack:
                key, successors = stack[-1]
                successor = next(successors, None)
                if successor is None:
                    stack.pop()
                    memo[key] = max((memo[g] + 1 for g in self.after[key] if g != key), default=0)
                elif successor not in memo and successor != key:
                    memo[successor] = 0
                    stack.append((successor, iter(self.after[successor])))
        return memo[id(group)]

    def _reaches(self, source: Group, target: Group) -> bool:
        """Whether kernel ``target`` must run after kernel ``source`` (during the walk).

        Dependencies are between kernels, not only between nodes: a kernel runs after every
        kernel producing something it reads, so reaching any node of a kernel reaches all of
        them (a node placed in a kernel for its other readers makes those readers wait for it).
        So the search is over kernels, by the successors ``_add`` collected, not over nodes.
        """
        seen = {id(source)}
        stack = [id(source)]
        while stack:
            for group in self.after[stack.pop()]:
                if group == id(target):
                    return True
                if group not in seen:
                    seen.add(group)
                    stack.append(group)
        return False

    # ------------------------------------------------------------------ horizontal fusion

    def merge_siblings(self) -> None:
        """Merge kernels over one iteration space, best bytes saved first, unless that makes a cycle or raises the peak.

        Two kernels merge when neither waits for the other (siblings), or when one reads
        what the other stores, directly and at the same index, with no third kernel on a
        path between them (a producer and its consumer that the walk from the outputs kept
        apart, e.g. because the producer has other readers).
        """
        sketches = {id(g): self.sketch(g) for g in self.groups}
        views = [self.view_sketch(out) for out in self.returned_views()]
        reach = _Reach(self.groups, sketches)
        peak = self.peak([sketches[id(g)] for g in self.groups] + views)
        for _, a, b in self.sibling_candidates(sketches):
            a, b = reach.find(a), reach.find(b)
            if a is b:
                continue
            relation = reach.relation(a, b)
            if relation == "indirect":
                continue  # a kernel between them waits for one and feeds the other: merged, it would wait for itself
            # The pairs were found before any merge; a kernel that has merged since may iterate over other rows.
            space = self._shared_space(a, b)
            reason = STALE_PAIR if space is None else self._unmergeable(a, b, relation, space)
            if reason is None:
                undo = self._absorb(a, b, space)
                merged = self.sketch(a)
                after = self.peak([merged if g is a else sketches[id(g)] for g in self.groups] + views)
                if after <= peak:
                    sketches[id(a)], peak = merged, after
                    reach.merge(a, b)
                    continue
                undo()
                reason = f"it raises the planned peak from {peak} to {after} bytes"
            self._refuse_pair(a, b, reason)

    def _unmergeable(self, a: Group, b: Group, relation: str, space: str) -> str | None:
        """Why kernels ``a`` and ``b`` (over one iteration space) cannot be one kernel, or None."""
        if "reduction" in (a.kind, b.kind):
            moved = self._moved_view(a.nodes + b.nodes)
            if moved is not None:
                return MOVED_VIEW_NOT_ROWS.format(view=_describe(moved))
        if (_has_parts(a) or _has_parts(b)) and not a.kind == b.kind == "pointwise":
            return PARTS_STAY_POINTWISE
        if (a.wide is not None or b.wide is not None) and not a.kind == b.kind == "pointwise":
            return COLUMNS_STAY_POINTWISE
        if a.wide is not None and b.wide is not None and not _same(a.wide, b.wide):
            return "they read values of different widths through column slices"
        if relation == "direct":
            producer, consumer = (a, b) if any(self.group_of.get(id(v)) is a for n in b.nodes for v in _loaded(n, self.stored)) else (b, a)
            if self._totals_only(producer) and not self._totals_only(consumer):
                return "the rows read what the totals compute, and a kernel's totals come after its rows"
            rows = (a if a.kind == "reduction" else b) if space == "same" else (a if self._totals_only(b) else b)
            if rows.kind == "reduction":
                reason = self._total_read_back(a.nodes + b.nodes, rows)
                if reason is not None:
                    return reason
            rows = a if a.kind == "reduction" and not self._totals_only(a) else b
            if not self._reads_in_place(consumer, producer, rows):
                return "one reads the other's results through a view or at computed addresses, which needs them in memory"
        return None

    def _total_read_back(self, nodes: list[Node], rows: Group) -> str | None:
        """Why ``nodes``, one kernel over ``rows``, cannot be: a value of more than one element computed from a total (or None).

        A total (``_is_total``) is finished only after the last row, so both code generators
        compute what follows from it after the rows (``templates.split_totals``); that must be
        of one element (a batch mean). A value over the rows computed from it, or a second
        total of such a value, would need the total inside the rows. Checked on the whole
        kernel: the total reaches the value through nodes that joined it before.
        """
        reduced = rows.reduced_shapes()
        after = {id(n) for n in nodes if _category(n) == "reduction" and _reduces_all(n) and any(_same(n.inputs[0].shape, r) for r in reduced)}
        if not after:
            return None
        for node in sorted(nodes, key=lambda n: self.position[id(n)]):
            if id(node) not in after and any(id(v) in after for v in _loaded(node, self.stored)):
                after.add(id(node))
                if squeezed(node.shape):
                    return f"{_describe(node)} of more than one element is computed from a total, and a kernel's totals come after its rows"
        return None

    def _moved_view(self, nodes: list[Node]) -> Node | None:
        """A returned view among ``nodes`` of a value computed among them, at an index other than the value's own.

        A pointwise kernel may store one (a transpose of what it computes): it computes any
        element at any index, so it evaluates the value at the view's index. A kernel over
        rows cannot: what it computes from a row's reductions exists at that row's index
        only, so the view's element at row ``i`` would need row ``j``'s reductions. Equal
        shapes do not make equal indices: an ``[n,n]`` value and its transpose have both.
        """
        members = {id(n) for n in nodes}
        for node in nodes:
            if node.op in VIEWS and _is_inline(node, self.stored):
                source = _view_source(node, self.stored)
                if source is not None and id(source) in members and not _drops_unit_dims(node, source):
                    return node
        return None

    def _reads_in_place(self, consumer: Group, producer: Group, rows: Group) -> bool:
        """Whether ``consumer`` reads what ``producer`` computes where one kernel over ``rows`` has it at hand.

        That is at the index it is computed at, or (a kernel over rows) a per-row value
        broadcast back over the row; not at computed addresses (a gather's source).
        """
        for node in consumer.nodes:
            for k, operand in enumerate(node.inputs):
                if self.group_of.get(id(operand)) is producer:
                    if node.op in INDEXED_READS and k == 0:
                        return False
                elif _is_inline(operand, self.stored) and any(self.group_of.get(id(v)) is producer for v in _loaded(operand, self.stored)):
                    chain = _view_chain(operand, self.stored)
                    if chain is None or node.op in INDEXED_READS and k == 0:
                        return False
                    if not (rows.kind == "reduction" and (_is_rebroadcast(chain, rows) or _is_relabel(chain, rows))):
                        return False
        return True

    def _shared_space(self, a: Group, b: Group) -> str | None:
        """How kernels ``a`` and ``b`` share an iteration space, if they do.

        ``"same"``: one shape, and for two reductions the same axes (the same rows);
        ``"totals"``: one is a kernel of rows and the other reduces the rows' results, each
        to one value (``_totals_only``), so it becomes the rows' totals. A kernel that reduces
        all of its own shape is totals of another kernel's rows only where that shape is the
        rows' results; over the same shape it reduces the same rows.
        """
        if a.kind not in ("pointwise", "reduction") or b.kind not in ("pointwise", "reduction"):
            return None
        if _same(a.shape, b.shape) and not (a.kind == b.kind == "reduction" and a.axes != b.axes):
            return "same"
        for rows, totals in ((a, b), (b, a)):
            if rows.kind == "reduction" and not self._totals_only(rows) and self._totals_only(totals):
                if any(_same(totals.shape, r) for r in rows.reduced_shapes()):
                    return "totals"
        return None

    def sibling_candidates(self, sketches: dict[int, Sketch]) -> list[tuple[int, Group, Group]]:
        """Pairs of kernels over the same iteration space, most bytes saved first.

        Merged, a kernel loads once what both read, and loads nothing of what one stores for the other.
        """
        spaces: dict[str, list[Group]] = {}
        for group in self.groups:
            if group.kind in ("pointwise", "reduction"):
                spaces.setdefault(format_shape(group.shape), []).append(group)
        pairs = []
        for members in spaces.values():
            for i, a in enumerate(members):
                for b in members[i + 1 :]:
                    if not (a.kind == b.kind == "reduction" and a.axes != b.axes):  # else different rows: not one iteration space
                        pairs.append((a, b))
        totals = [g for g in self.groups if self._totals_only(g)]
        for rows in self.groups:  # a kernel of rows and one reducing their results to totals
            if rows.kind == "reduction" and not self._totals_only(rows):
                pairs += [(rows, t) for t in totals if any(_same(t.shape, r) for r in rows.reduced_shapes())]
        candidates = []
        for a, b in pairs:
            sa, sb = sketches[id(a)], sketches[id(b)]
            saved = (sa.reads & sb.reads) | (sa.writes & sb.reads) | (sb.writes & sa.reads)
            candidates.append((sum(self.nbytes(self.node_of[v]) for v in saved), a, b))
        candidates.sort(key=lambda c: (-c[0], sketches[id(c[1])].first, sketches[id(c[2])].first))
        return candidates

    def _absorb(self, group: Group, other: Group, space: str) -> Callable[[], None]:
        """``group`` takes over ``other``'s nodes (``space`` as ``_shared_space`` gives it); returns the undo.

        Over the same space a reduction's axes win over a pointwise kernel's none; rows and
        their totals give the rows' shape and axes, with totals.
        """
        kind, shape, axes, totals, nodes, index = group.kind, group.shape, group.axes, group.totals, list(group.nodes), self.groups.index(other)
        if space == "same":
            if other.kind == "reduction":
                group.kind, group.axes = "reduction", other.axes
            group.totals = group.totals or other.totals
        elif self._totals_only(other):
            group.totals = True
        else:
            group.shape, group.axes, group.totals = other.shape, other.axes, True
        group.nodes.extend(other.nodes)
        for node in other.nodes:
            self.group_of[id(node)] = group
        self.groups.remove(other)

        def undo() -> None:
            group.kind, group.shape, group.axes, group.totals, group.nodes = kind, shape, axes, totals, nodes
            for node in other.nodes:
                self.group_of[id(node)] = other
            self.groups.insert(index, other)

        return undo

    def _refuse_pair(self, a: Group, b: Group, reason: str) -> None:
        message = f"sibling kernels of {_describe(a.nodes[0])} and {_describe(b.nodes[0])}: {reason}"
        if message not in self.log:  # kernels merged since may meet the same partner again
            self.log.append(message)

    # ------------------------------------------------------------------ what kernels read and write

    def outputs(self, group: Group) -> list[Node]:
        """The group's nodes that reach memory: read by other kernels or returned (also as a view)."""
        members = {id(n) for n in group.nodes}
        graph_outputs = {id(n) for n in self.graph.outputs}
        return [
            n
            for n in group.nodes
            if id(n) in graph_outputs
            or any(self.group_of.get(id(v)) is not group for v in _views_returned(n, self.users, graph_outputs, self.stored))
            or any(id(c) not in members for c, _ in _consumers(n, self.users, self.stored))
        ]

    def sketch(self, group: Group) -> Sketch:
        members = {id(n) for n in group.nodes}
        reads = {id(v) for n in group.nodes for v in _loaded(n, self.stored) if id(v) not in members}
        first = min(self.position[id(n)] for n in group.nodes)
        return Sketch(frozenset(reads), frozenset(id(n) for n in self.outputs(group)), first)

    def place_returned_views(self) -> None:
        """Store each returned view from a kernel that has its source at hand, not from a copy kernel of its own.

        The kernel computing the source stores the view when its template can (then the source
        itself needs no buffer unless others read it); otherwise a kernel loading the source
        does, which reads it anyway. The gradients of parameters are such views (a bias's
        gradient is a reshape of a column sum, a weight's the transpose of a matmul). A view of
        a value each kernel computes for itself (a 0-d value of sizes broadcast: the gradient of
        a bias under ``mean()``, once simplify folds its sum) is stored by a kernel reading that value.
        """
        for out in self.returned_views():
            source = _view_source(out, self.stored)
            if source is None:
                root = _view_root(out)
                if root.op in ("input", "parameter"):
                    continue
                computing, source = None, root
            else:
                computing = self.group_of[id(source)]
            readers = [self.group_of[id(c)] for c, _ in _consumers(source, self.users, self.stored)]
            if computing is not None and computing.kind == "reduction" and not _drops_unit_dims(out, source):
                computing = None  # a reduction kernel has its results at its rows' index only
            for home in [computing, *readers]:
                if home is not None and _stores_at_its_level(home, out):
                    home.nodes.append(out)
                    self.group_of[id(out)] = home
                    break

    def returned_views(self) -> list[Node]:
        """Views and constants the caller receives that no kernel computes: each is copied by a kernel of its own."""
        placed = {id(n) for g in self.groups for n in g.nodes}
        found: dict[int, Node] = {}
        for out in self.graph.outputs:
            if _is_inline(out, self.stored) and id(out) not in placed:
                found.setdefault(id(out), out)
        return list(found.values())

    def view_sketch(self, out: Node) -> Sketch:
        return Sketch(frozenset(id(v) for v in _loaded(out, self.stored)), frozenset({id(out)}), self.position[id(out)])

    def peak(self, sketches: list[Sketch]) -> int:
        """The planned peak (bytes alive at once) of these kernels in the order ``_schedule`` gives them."""
        weights = self.weights(sketches)
        order = _schedule(sketches, weights)
        return live_peak([sketches[i].reads for i in order], [sketches[i].writes for i in order], weights)

    def weights(self, sketches: list[Sketch]) -> dict[int, int]:
        """Bytes of every value a kernel stores for another one (what the memory plan places)."""
        return {v: self.nbytes(self.node_of[v]) for s in sketches for v in s.writes if v not in self.external}


@dataclass(frozen=True)
class Sketch:
    """What ordering a kernel needs: the values it loads and stores, and where it starts in program order."""

    reads: frozenset[int]
    writes: frozenset[int]
    first: int


class _Reach:
    """Which kernels wait for which, kept up to date as kernels merge.

    Each kernel has a bit; ``below[k]`` holds the bits of every kernel that runs after
    ``k`` because of what it reads, directly or not, and ``readers[k]`` the kernels reading
    what ``k`` stores. Merging ``b`` into ``a`` gives ``a`` both sets of bits, and
    everything above either of them now also waits for all below the merge.
    """

    def __init__(self, groups: list[Group], sketches: dict[int, Sketch]) -> None:
        self.bit = {id(g): 1 << i for i, g in enumerate(groups)}
        self.rep: dict[int, Group] = {id(g): g for g in groups}
        producer = {v: g for g in groups for v in sketches[id(g)].writes}
        self.readers: dict[int, set[int]] = {id(g): set() for g in groups}
        for g in groups:
            for v in sketches[id(g)].reads:
                source = producer.get(v)
                if source is not None and source is not g:
                    self.readers[id(source)].add(id(g))
        self.below: dict[int, int] = {}
        for g in _topological(groups, self.readers)[::-1]:
            mask = 0
            for r in self.readers[id(g)]:
                mask |= self.bit[r] | self.below[r]
            self.below[id(g)] = mask

    def find(self, group: Group) -> Group:
        while self.rep[id(group)] is not group:
            group = self.rep[id(group)]
        return group

    def relation(self, a: Group, b: Group) -> str:
        """``independent``; ``direct`` when one reads the other and no path runs through a third kernel; else ``indirect``."""
        for first, second in ((a, b), (b, a)):
            if self.below[id(first)] & self.bit[id(second)]:
                others = [r for r in self.readers[id(first)] if r != id(second)]
                through = any(self.below[r] & self.bit[id(second)] for r in others)
                return "indirect" if through or id(second) not in self.readers[id(first)] else "direct"
        return "independent"

    def merge(self, a: Group, b: Group) -> None:
        self.rep[id(b)] = a
        bits = self.bit[id(a)] | self.bit[id(b)]
        below = (self.below[id(a)] | self.below[id(b)]) & ~bits
        self.bit[id(a)], self.below[id(a)] = bits, below
        self.readers[id(a)] = (self.readers[id(a)] | self.readers.pop(id(b))) - {id(a), id(b)}
        for key, mask in self.below.items():
            if mask & bits:
                self.below[key] = mask | below | bits
        for readers in self.readers.values():
            if id(b) in readers:
                readers.discard(id(b))
                readers.add(id(a))
        self.below.pop(id(b))


def _topological(groups: list[Group], readers: dict[int, set[int]]) -> list[Group]:
    by_id = {id(g): g for g in groups}
    waiting = Counter(r for g in groups for r in readers[id(g)])
    ready = [g for g in groups if not waiting[id(g)]]
    order = []
    while ready:
        g = ready.pop()
        order.append(g)
        for r in readers[id(g)]:
            waiting[r] -= 1
            if not waiting[r]:
                ready.append(by_id[r])
    return order


def _loaded(node: Node, stored: frozenset[int]) -> list[Node]:
    """The values ``node`` reads from memory: its operands, looking through movement and constants.

    Each operand once: inline 0-d expressions share subexpressions, and following every path repeated them exponentially."""
    found = []
    stack = list(node.inputs)
    visited: set[int] = set()
    while stack:
        operand = stack.pop()
        if id(operand) in visited:
            continue
        visited.add(id(operand))
        if _is_inline(operand, stored):
            stack.extend(operand.inputs)
        else:
            found.append(operand)
    return found


def _describe(node: Node) -> str:
    phase = "" if node.phase == "forward" else f" ({node.phase})"
    return f"{node.op}{format_shape(node.shape)}{phase} at {node.loc or '?'}"


def _with_inline(group: Group, nodes_in_order: list[Node], stored: frozenset[int]) -> list[Node]:
    """The group's nodes plus the movement/constant chains feeding them, in topological order."""
    members = {id(n) for n in group.nodes}
    stack = list(group.nodes)
    while stack:
        node = stack.pop()
        for operand in node.inputs:
            if _is_inline(operand, stored) and id(operand) not in members:
                members.add(id(operand))
                stack.append(operand)
    return [n for n in nodes_in_order if id(n) in members]


def fuse(graph: Graph, horizontal: bool = True, columns: bool = True) -> Program:
    """Group ``graph`` into kernels; ``horizontal=False`` leaves siblings in kernels of their own.

    ``columns=False`` keeps values read as column slices in memory (``Fuser._by_columns``):
    the NumPy backend asks for that, since its BLAS product costs the same either way and
    the LSTM step measured 5-14% slower with the gates in the product's epilogue, while on
    a GPU the step is bound by its launches.
    """
    fuser = Fuser(graph, columns)
    fuser.run()
    fuser.place_returned_views()
    if horizontal:
        fuser.merge_siblings()
    nodes_in_order = graph.nodes
    planned: list[tuple[list[Node], list[Node], str]] = []
    sketches: list[Sketch] = []
    for group in fuser.groups:
        planned.append((_with_inline(group, nodes_in_order, fuser.stored), _in_order(fuser.outputs(group), fuser.position), group.kind))
        sketches.append(fuser.sketch(group))
    for out in fuser.returned_views():
        planned.append((_with_inline(Group("movement", out.shape, [out]), nodes_in_order, fuser.stored), [out], "movement"))
        sketches.append(fuser.view_sketch(out))
    kernels = []
    for index, i in enumerate(_schedule(sketches, fuser.weights(sketches))):
        nodes, outputs, kind = planned[i]
        kernel = kernel_for(index, nodes, outputs)
        kernel.kind = kind
        kernels.append(kernel)
    return Program(graph, kernels, fusion_log=fuser.log)


def _in_order(nodes: list[Node], position: dict[int, int]) -> list[Node]:
    return sorted(nodes, key=lambda n: position[id(n)])


def _views_returned(node: Node, users: dict[int, list[Node]], graph_outputs: set[int], stored: frozenset[int]) -> list[Node]:
    """The views of ``node`` that are graph outputs (a kernel storing one reads ``node``)."""
    found = []
    stack = [u for u in users.get(id(node), []) if _is_inline(u, stored)]
    while stack:
        view = stack.pop()
        if id(view) in graph_outputs:
            found.append(view)
        stack.extend(u for u in users.get(id(view), []) if _is_inline(u, stored))
    return found


def _unit_reshapes(chain: list[Node]) -> bool:
    """Only reshapes that add or drop size-1 dimensions: each index keeps its meaning."""
    return all(n.op == "reshape" and _same(squeezed(n.shape), squeezed(n.inputs[0].shape)) for n in chain)


def _stores_at_its_level(group: Group, node: Node) -> bool:
    """Whether ``group``'s template can store ``node``: at its iteration space, or a reduction's rows or results."""
    if group.kind == "pointwise":
        return _same(node.shape, group.shape)
    return group.kind == "reduction" and any(_same(node.shape, s) for s in [group.shape, *group.reduced_shapes(), *group.total_shapes()])


def _drops_unit_dims(view: Node, source: Node) -> bool:
    """Whether ``view`` is ``source`` with size-1 dimensions added or removed (the same index, relabeled)."""
    chain = []
    while view is not source:
        chain.append(view)
        view = view.inputs[0]
    return _unit_reshapes(chain)


def _view_chain(view: Node, stored: frozenset[int]) -> list[Node] | None:
    """The movement nodes from a computed value up to ``view`` (one operand each), or None."""
    chain = []
    while _is_inline(view, stored) and view.op in VIEWS:
        chain.append(view)
        view = view.inputs[0]
    return chain[::-1] if not _is_inline(view, stored) else None


def _view_root(out: Node) -> Node:
    """What ``out`` is a view of, through reshape, permute, expand and slice."""
    node = out
    while node.op in VIEWS:
        node = node.inputs[0]
    return node


def _view_source(out: Node, stored: frozenset[int]) -> Node | None:
    """The computed value ``out`` is a view of, if any (not an input, nor a value each kernel computes)."""
    node = _view_root(out)
    return None if _is_inline(node, stored) or node.op in ("input", "parameter") else node


def _schedule(sketches: list[Sketch], weights: dict[int, int]) -> list[int]:
    """An order of the kernels (indices) in which each runs after those producing what it reads.

    List scheduling: of the kernels whose inputs are ready, run the one that adds the
    fewest bytes to what is alive (bytes it stores, less the bytes of the values it
    is the last to read), the earliest in program order among equals. Running
    whatever frees memory first keeps the planned peak low; program order keeps the
    schedule close to the one the user wrote.
    """
    producer = {v: i for i, s in enumerate(sketches) for v in s.writes}
    readers_left = Counter(v for s in sketches for v in s.reads if v in weights)
    waiting = []
    dependents: list[list[int]] = [[] for _ in sketches]
    for i, s in enumerate(sketches):
        needs = {producer[v] for v in s.reads if v in producer} - {i}
        waiting.append(len(needs))
        for j in needs:
            dependents[j].append(i)

    def growth(i: int) -> tuple[int, int]:
        s = sketches[i]
        stored = sum(weights.get(v, 0) for v in s.writes)
        freed = sum(weights[v] for v in s.reads if v in weights and readers_left[v] == 1)
        return stored - freed, s.first

    ready = [i for i in range(len(sketches)) if not waiting[i]]
    order = []
    while ready:
        best = min(ready, key=growth)
        ready.remove(best)
        order.append(best)
        for v in sketches[best].reads:
            if v in readers_left:
                readers_left[v] -= 1
        for j in dependents[best]:
            waiting[j] -= 1
            if not waiting[j]:
                ready.append(j)
    assert len(order) == len(sketches), "fusion produced a cycle between kernels"
    return order
