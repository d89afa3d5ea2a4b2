"""Fusion: group the nodes of a graph into kernels, recording why each fusion not made was refused.

The pass walks the graph from the outputs back (consumers before producers). A
producer joins its consumers' kernel when every one of its uses lies in that one
kernel and the kernel's shape of iteration can compute it; then its result never
reaches memory, which saves writing it and reading it back. Because a node joins
only when *all* its users are inside, no kernel ever depends on itself through
another kernel (no cycles), and no buffer lives longer than before.

Kernels have one of three shapes of iteration (DESIGN.md, "fusion"):

- ``pointwise``: elementwise nodes of one shape (bias + GELU + dropout + residual);
- ``reduction``: reductions over the same axes of the same input shape, with the
  elementwise nodes before them (prologue), between them through a broadcast of a
  reduced value back over the row (softmax, layer-norm), and after them (epilogue);
- ``matmul``: one matmul and the elementwise nodes applied to its result (epilogue).

Movement nodes and scalar constants are not kernels of their own: each kernel
that reads through them gets its own copy, which the code generators turn into
index arithmetic on its loads. Inside a kernel, a movement node may only apply
to loaded values, except the re-broadcast of a reduced value in a reduction kernel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.codegen.kernel_ir import Program, kernel_for
from graphc.ir.graph import Graph, Node
from graphc.ir.registry import REGISTRY
from graphc.ir.types import Shape, format_shape, shapes_equal

INLINE = ("movement", "source")
ALONE = ("window", "random")
# Reads at computed addresses: they fuse as loads, so what they read must be in memory.
INDEXED_READS = ("gather", "index_select")


@dataclass(eq=False)
class Group:
    kind: str  # pointwise | reduction | matmul | <category of an op that runs alone>
    shape: Shape  # the iteration space: the shape of its pointwise nodes (reduction: the input rows)
    nodes: list[Node] = field(default_factory=list)
    axes: tuple[int, ...] = ()  # reduced axes (reduction groups)

    def reduced_shapes(self) -> list[Shape]:
        keep = tuple(1 if i in self.axes else d for i, d in enumerate(self.shape))
        drop = tuple(d for i, d in enumerate(self.shape) if i not in self.axes)
        return [keep, drop]


def _category(node: Node) -> str:
    return REGISTRY[node.op].category


def _is_inline(node: Node) -> bool:
    return _category(node) in INLINE and node.op not in ("input", "parameter")


def _consumers(node: Node, users: dict[int, list[Node]]) -> list[tuple[Node, list[Node]]]:
    """The computing nodes reading ``node``, each with the movement chain the value passes through."""
    found: list[tuple[Node, list[Node]]] = []
    stack: list[tuple[Node, list[Node]]] = [(u, []) for u in users.get(id(node), [])]
    while stack:
        user, chain = stack.pop()
        if _is_inline(user):
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
    """Only reshapes that add or drop the size-1 reduced axes (a value at the reduced level)."""
    reduced = group.reduced_shapes()
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


class Fuser:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.nodes = graph.nodes
        self.position = {id(n): i for i, n in enumerate(self.nodes)}
        self.users = graph.users()
        self.group_of: dict[int, Group] = {}
        self.groups: list[Group] = []
        self.log: list[str] = []

    def run(self) -> list[Group]:
        for node in reversed(self.nodes):
            if node.op in ("input", "parameter") or _is_inline(node):
                continue
            target = self._target(node)
            if target is None:
                self._start(node)
            else:
                self._join(node, target)
        return self.groups

    def _start(self, node: Node) -> None:
        category = _category(node)
        if category == "elementwise" or node.op in INDEXED_READS:
            group = Group("pointwise", node.shape)
        elif category == "reduction":
            group = Group("reduction", node.inputs[0].shape, axes=node.attrs["axes"])
        else:
            group = Group(category, node.shape)
        group.nodes.append(node)
        self.group_of[id(node)] = group
        self.groups.append(group)

    def _join(self, node: Node, group: Group) -> None:
        category = _category(node)
        chains = [chain for _, chain in _consumers(node, self.users)]
        rows = _row_group(group, chains) if category == "elementwise" and group.kind == "pointwise" else None
        if rows is not None:
            group.kind, group.axes = "reduction", rows.axes
        elif category == "reduction" and group.kind == "pointwise":
            group.kind, group.shape, group.axes = "reduction", node.inputs[0].shape, node.attrs["axes"]
        elif category == "matmul":
            group.kind = "matmul"
        group.nodes.append(node)
        self.group_of[id(node)] = group

    def _refuse(self, node: Node, reason: str) -> None:
        phase = "" if node.phase == "forward" else f" ({node.phase})"
        self.log.append(f"{node.op}{format_shape(node.shape)}{phase} at {node.loc or '?'}: {reason}")

    def _target(self, node: Node) -> Group | None:
        """The kernel ``node`` joins, or None (with the reason logged).

        With readers in several kernels, the node joins one of them and is stored from
        there for the others, provided none of the others runs before that kernel can.
        """
        consumers = _consumers(node, self.users)
        if not consumers:
            return None
        by_group: dict[int, tuple[Group, list[Node], list[list[Node]]]] = {}
        for consumer, chain in consumers:
            group = self.group_of[id(consumer)]
            entry = by_group.setdefault(id(group), (group, [], []))
            entry[1].append(consumer)
            entry[2].append(chain)
        reasons = []
        # Prefer the kernel that reads the value most often: it saves the most loads.
        for group, readers, chains in sorted(by_group.values(), key=lambda e: -len(e[1])):
            reason = self._incompatibility(node, group, chains, readers)
            if reason is None and len(by_group) > 1:
                others = [g for g, _, _ in by_group.values() if g is not group]
                if any(self._reaches(other, group) for other in others):
                    reason = "another kernel reading it must run first"
            if reason is None:
                return group
            reasons.append(f"into {group.kind} kernel of {format_shape(group.shape)}: {reason}")
        self._refuse(node, "; ".join(reasons))
        return None

    def _incompatibility(self, node: Node, group: Group, chains: list[list[Node]], consumers: list[Node]) -> str | None:
        """Why ``node`` cannot be computed inside ``group`` (None when it can)."""
        category = _category(node)
        if category in ALONE or group.kind in ALONE or node.op == "scatter_add":
            return f"{node.op} and {group.kind} kernels are not fused (scatter, windows and random numbers run alone)"
        if any(c.op in INDEXED_READS for c in consumers):
            return "a gather reads its source at computed addresses, so the source must be in memory"
        if node.op in INDEXED_READS:
            level = [group.shape] + (group.reduced_shapes() if group.kind == "reduction" else [])
            if any(chains) and not (group.kind == "reduction" and all(_is_relabel(c, group) for c in chains)):
                return "a view of a gathered value cannot become index arithmetic"
            if not any(_same(node.shape, shape) for shape in level):
                return f"shape {format_shape(node.shape)} differs from the kernel's {format_shape(group.shape)}"
            return None
        if category == "elementwise":
            if any(chains):
                if group.kind == "reduction" and all(_is_relabel(c, group) or _is_rebroadcast(c, group) for c in chains):
                    return None
                rows = _row_group(group, chains)
                if group.kind == "pointwise" and rows is not None and all(_is_rebroadcast(c, rows) for c in chains if c):
                    return None  # a per-row value broadcast over the rows: the kernel becomes row-wise
                return "a view of a computed value cannot become index arithmetic (only of loaded values)"
            level = [group.shape] + (group.reduced_shapes() if group.kind == "reduction" else [])
            if not any(_same(node.shape, s) for s in level):
                return f"shape {format_shape(node.shape)} differs from the kernel's {format_shape(group.shape)}"
            if group.kind == "matmul" and any(c.op == "matmul" for c in consumers):
                return "matmul operands are not fused into the matmul (only its epilogue is)"
            return None
        if category == "reduction":
            if group.kind == "matmul":
                return "a reduction does not fuse into a matmul epilogue"
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
            if group.kind != "pointwise" or any(chains) or not _same(node.shape, group.shape):
                return f"a matmul takes only a pointwise epilogue of its own shape (kernel is {group.kind})"
            return None
        return f"{category} nodes are not fused"

    def _reaches(self, source: Group, target: Group) -> bool:
        """Whether kernel ``target`` must run after kernel ``source``.

        Dependencies are between kernels, not only between nodes: a kernel runs after every
        kernel producing something it reads, so reaching any node of a kernel reaches all of
        them (a node placed in a kernel for its other readers makes those readers wait for it).
        """
        stack = list(source.nodes)
        seen_nodes: set[int] = set()
        seen_groups = {id(source)}
        while stack:
            node = stack.pop()
            for user in self.users.get(id(node), []):
                group = self.group_of.get(id(user))
                if group is target:
                    return True
                if group is None:
                    if id(user) not in seen_nodes:
                        seen_nodes.add(id(user))
                        stack.append(user)
                elif id(group) not in seen_groups:
                    seen_groups.add(id(group))
                    stack.extend(group.nodes)
        return False

def _with_inline(group: Group, nodes_in_order: list[Node]) -> list[Node]:
    """The group's nodes plus the movement/constant chains feeding them, in topological order."""
    members = {id(n) for n in group.nodes}
    stack = list(group.nodes)
    while stack:
        node = stack.pop()
        for operand in node.inputs:
            if _is_inline(operand) and id(operand) not in members:
                members.add(id(operand))
                stack.append(operand)
    return [n for n in nodes_in_order if id(n) in members]


def fuse(graph: Graph) -> Program:
    fuser = Fuser(graph)
    groups = fuser.run()
    nodes_in_order = graph.nodes
    graph_outputs = {id(n) for n in graph.outputs}
    users = fuser.users
    planned: list[tuple[list[Node], list[Node], str]] = []
    for group in groups:
        members = {id(n) for n in group.nodes}
        nodes = _with_inline(group, nodes_in_order)
        outputs = [
            n
            for n in nodes
            if id(n) in members
            and (id(n) in graph_outputs or _views_returned(n, users, graph_outputs) or any(id(c) not in members for c, _ in _consumers(n, users)))
        ]
        planned.append((nodes, outputs, group.kind))
    placed = {id(n) for g in groups for n in g.nodes}
    for out in graph.outputs:
        if _is_inline(out) and id(out) not in placed:
            # A view or constant that the caller receives is materialized by a kernel of its own.
            planned.append((_with_inline(Group("movement", out.shape, [out]), nodes_in_order), [out], "movement"))
            placed.add(id(out))
    kernels = []
    for index, (nodes, outputs, kind) in enumerate(_schedule(planned)):
        kernel = kernel_for(index, nodes, outputs)
        kernel.kind = kind
        kernels.append(kernel)
    return Program(graph, kernels, fusion_log=fuser.log)


def _views_returned(node: Node, users: dict[int, list[Node]], graph_outputs: set[int]) -> bool:
    """Whether a view of ``node`` is itself a graph output (so ``node`` must be stored)."""
    stack = [u for u in users.get(id(node), []) if _is_inline(u)]
    while stack:
        view = stack.pop()
        if id(view) in graph_outputs:
            return True
        stack.extend(u for u in users.get(id(view), []) if _is_inline(u))
    return False


def _schedule(planned: list[tuple[list[Node], list[Node], str]]) -> list[tuple[list[Node], list[Node], str]]:
    """Order kernels so each runs after the kernels producing what it reads (Kahn's algorithm)."""
    producer = {id(out): i for i, (_, outputs, _) in enumerate(planned) for out in outputs}
    needs: list[set[int]] = []
    for i, (nodes, _, _) in enumerate(planned):
        inside = {id(n) for n in nodes}
        deps = {producer[id(o)] for n in nodes for o in n.inputs if id(o) not in inside and id(o) in producer}
        needs.append(deps - {i})
    done: set[int] = set()
    order = []
    while len(order) < len(planned):
        ready = [i for i in range(len(planned)) if i not in done and needs[i] <= done]
        assert ready, "fusion produced a cycle between kernels"
        for i in ready:
            done.add(i)
            order.append(planned[i])
    return order
