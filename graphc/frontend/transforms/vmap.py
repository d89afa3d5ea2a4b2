"""``vmap``: a function of one example run on a batch, by batching rules, not a loop.

The function runs once, on per-example stand-ins (input nodes without data, one per batched
input), which records its per-example graph lazily, inner transforms included (a ``grad``
inside records its backward nodes, a ``vmap`` inside has already batched its own). Then the
recorded nodes are built again from the real batched inputs, node by node, through the
batching rules of ``graphc.ir.batching``: every node that depends on a batched value becomes
its batched twin; the others (constants, captured weights) are kept and shared. The result
is one ordinary lazy graph for the whole batch, which the usual passes fuse and compile.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from graphc.errors import GraphcError
from graphc.frontend import lazy, tracing
from graphc.frontend.functional import cat
from graphc.frontend.transforms.pytree import Spec, broadcast_prefix, flatten, unflatten
from graphc.ir.batching import BATCHING, NOT_BATCHED, Batched, batch_node, move_axis
from graphc.ir.graph import Node, toposort
from graphc.ir.primitives.source import source_node
from graphc.ir.registry import emit, origin, user_location
from graphc.ir.types import Dim, TensorType, dims_equal
from graphc.runtime import random
from graphc.runtime.tensor import Tensor

RANDOMNESS = ("error", "different", "same")

DATA_DEPENDENT = (
    "vmap: the function asked for the value of a batched tensor (.item(), .tolist(), .numpy(), bool(), printing, "
    "Python control flow on a tensor, or an op whose result's shape depends on values: nonzero, masked_select, "
    "boolean-mask indexing, unique); vmap records the function once for the whole batch, where no single "
    "example's value exists: write it with tensor ops (graphc.where, masks multiplied in)"
)

ESCAPED = (
    "vmap: a tensor outside the vmapped function was given a value computed from a batched input (an in-place "
    "update of a captured tensor, or a module's state such as BatchNorm's running statistics in training mode); "
    "vmap hands batched values out through its results only: return the new value, or use the module in eval mode"
)

RANDOM_ERROR = (
    "vmap: called random operation while in randomness error mode. Please either use the 'same' or 'different' "
    "randomness flags on vmap or perform the randomness operation out of vmap"
)


def vmap(
    func: Callable[..., Any],
    in_dims: Any = 0,
    out_dims: Any = 0,
    randomness: str = "error",
    *,
    chunk_size: int | None = None,
) -> Callable[..., Any]:
    """torch.func.vmap: ``func`` mapped over the ``in_dims`` axis of its inputs, results stacked at ``out_dims``."""
    if randomness not in RANDOMNESS:
        raise ValueError(f"vmap: randomness must be one of {RANDOMNESS}, got {randomness!r}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"vmap: chunk_size should be None or greater than 0, got {chunk_size!r}")

    @functools.wraps(func)
    def batched(*args: Any, **kwargs: Any) -> Any:
        return _call(func, args, kwargs, in_dims, out_dims, randomness, chunk_size)

    return batched


def _name(func: Callable[..., Any]) -> str:
    return getattr(func, "__name__", type(func).__name__)


def _in_dims(func: Callable[..., Any], args: tuple, in_dims: Any) -> tuple[list[Any], Spec, list[int | None]]:
    flat, spec = flatten(args)
    where = f"vmap({_name(func)}, in_dims={in_dims!r}, ...)(<inputs>)"
    if isinstance(in_dims, int) or in_dims is None:
        dims = [in_dims] * len(flat)
    elif isinstance(in_dims, tuple):
        if len(in_dims) != len(args):
            raise ValueError(f"{where}: in_dims is not compatible with the structure of `inputs`: in_dims has {len(in_dims)} entries, the inputs {len(args)}")
        dims = broadcast_prefix(in_dims, spec, where)
    else:
        raise ValueError(f"{where}: expected `in_dims` to be int or a (potentially nested) tuple matching the structure of inputs, got {in_dims!r}")
    normalized: list[int | None] = []
    for leaf, d in zip(flat, dims):
        if d is None:
            normalized.append(None)
            continue
        if not isinstance(leaf, Tensor):
            raise ValueError(
                f"{where}: Got in_dim={d} for an input but the input is of type {type(leaf).__name__}. "
                "We cannot vmap over non-Tensor arguments, please use None as the respective in_dim"
            )
        ndim = leaf._node.type.ndim
        if not -ndim <= d < ndim:
            raise ValueError(
                f"{where}: Got in_dim={d} for some input, but that input is a Tensor of dimensionality {ndim} "
                f"so expected in_dim to satisfy -{ndim} <= in_dim < {ndim}."
            )
        normalized.append(d % ndim)
    return flat, spec, normalized


def _batch_size(func: Callable[..., Any], flat: list[Any], dims: list[int | None], in_dims: Any) -> Dim:
    sizes = [leaf._node.shape[d] for leaf, d in zip(flat, dims) if d is not None]
    where = f"vmap({_name(func)}, in_dims={in_dims!r}, ...)(<inputs>)"
    if not sizes:
        raise ValueError(f"{where}: at least one input must be batched: every in_dim is None or no input is a Tensor")
    if any(not dims_equal(s, sizes[0]) for s in sizes):
        got = [str(s) for s in sizes]
        raise ValueError(f"{where}: Expected all tensors to have the same size in the mapped dimension, got sizes {got} for the mapped dimension")
    return sizes[0]


def _call(func: Callable[..., Any], args: tuple, kwargs: dict, in_dims: Any, out_dims: Any, randomness: str, chunk_size: int | None) -> Any:
    flat, spec, dims = _in_dims(func, args, in_dims)
    size = _batch_size(func, flat, dims, in_dims)
    if chunk_size is None or not isinstance(size, int) or size <= chunk_size:
        return _run(func, flat, spec, dims, size, kwargs, out_dims, randomness)
    chunks = []
    for start in range(0, size, chunk_size):
        length = min(chunk_size, size - start)
        part = [leaf if d is None else leaf.narrow(d, start, length) for leaf, d in zip(flat, dims)]
        chunks.append(_run(func, part, spec, dims, length, kwargs, out_dims, randomness))
    return _join_chunks(chunks, out_dims)


def _join_chunks(chunks: list[Any], out_dims: Any) -> Any:
    leaves = [flatten(c)[0] for c in chunks]
    out_spec = flatten(chunks[0])[1]
    odims = broadcast_prefix(out_dims, out_spec, "vmap: out_dims")
    joined = []
    for i, d in enumerate(odims):
        joined.append(leaves[0][i] if d is None else cat([row[i] for row in leaves], dim=d))
    return unflatten(out_spec, joined)


@contextmanager
def _stand_ins(nodes: list[Node]) -> Iterator[None]:
    """While the function runs: reading a stand-in's value raises, and random constructors draw in the graph.

    A stand-in still reachable afterwards was kept by a tensor outside the function: reading that
    raises ``ESCAPED`` for as long as the stand-in lives.
    """
    for node in nodes:
        lazy.placeholders[id(node)] = DATA_DEPENDENT
        weakref.finalize(node, lazy.placeholders.pop, id(node), None)
    tracing.set_random_in_graph(1)
    try:
        yield
    finally:
        tracing.set_random_in_graph(-1)
        for node in nodes:
            lazy.placeholders[id(node)] = ESCAPED


def _refuse_escaped(nodes: list[Node]) -> None:
    """Module state the function updated from a batched value (BatchNorm's running statistics) raises now, as torch's."""
    ids = {id(n) for n in nodes}
    escaped = [tensor for tensor in lazy.deferred() if _depends_on(tensor._node, ids)]
    for tensor in escaped:
        lazy.undefer(tensor)  # reading it raises; computing it with an unrelated value must not
    if escaped:
        location = user_location()
        raise GraphcError(ESCAPED + (f"\n  at {location}" if location else ""))


def _depends_on(node: Node, ids: set[int]) -> bool:
    """Whether an unrealized path leads from ``node`` to a node whose id is in ``ids``."""
    stack, seen = [node], set()
    while stack:
        n = stack.pop()
        if id(n) in ids:
            return True
        if id(n) not in seen and n.data is None:
            seen.add(id(n))
            stack.extend(n.inputs)
    return False


def _run(func: Callable[..., Any], flat: list[Any], spec: Spec, dims: list[int | None], size: Dim, kwargs: dict, out_dims: Any, randomness: str) -> Any:
    batched: dict[int, Batched] = {}
    examples: list[Any] = []
    stand_ins: list[Node] = []
    for leaf, d in zip(flat, dims):
        if d is None:
            examples.append(leaf)
            continue
        node = tracing.read(leaf)
        shape = tuple(s for i, s in enumerate(node.shape) if i != d)
        stand_in = source_node(TensorType(shape, node.dtype), requires_grad=node.requires_grad)
        batched[id(stand_in)] = (node, d)
        stand_ins.append(stand_in)
        examples.append(Tensor._from_node(stand_in))
    seeds_before = random.live_seeds()
    with _stand_ins(stand_ins):
        out = func(*unflatten(spec, examples), **kwargs)
    _refuse_escaped(stand_ins)
    flat_out, out_spec = flatten(out)
    for leaf in flat_out:
        if not isinstance(leaf, Tensor):
            raise ValueError(f"vmap({_name(func)}, ...): `{_name(func)}` must only return Tensors, got type {type(leaf).__name__}")
    odims = broadcast_prefix(out_dims, out_spec, f"vmap({_name(func)}, ..., out_dims={out_dims!r})")
    results = rebuild([tracing.read(t) for t in flat_out], batched, size, randomness, {id(s) for s in seeds_before})
    final = []
    for (node, axis), od in zip(results, odims):
        if od is None:
            if axis is not None:
                raise ValueError(f"vmap({_name(func)}, ..., out_dims={out_dims!r}): a result that depends on the batched inputs cannot have out_dim None")
            final.append(Tensor._from_node(node))
            continue
        ndim = node.type.ndim + (0 if axis is not None else 1)
        if not -ndim <= od < ndim:
            raise ValueError(f"vmap({_name(func)}, ..., out_dims={out_dims!r}): out_dim {od} is out of range for a {ndim}-d batched result")
        final.append(Tensor._from_node(move_axis((node, axis), od % ndim, size)))
    return unflatten(out_spec, final)


def rebuild(outputs: list[Node], batched: dict[int, Batched], size: Dim, randomness: str, seeds_before: set[int]) -> list[Batched]:
    """The batched twins of ``outputs``, given those of the stand-ins in ``batched`` (by node id)."""
    stop = {id(n) for n in lazy.realized_inputs(outputs)} | set(batched)  # shared values stay as they are
    done: dict[int, Batched] = dict(batched)
    for node in toposort(outputs, stop=stop):
        if id(node) in done or id(node) in stop or not node.inputs:
            continue
        args = [done.get(id(i), (i, None)) for i in node.inputs]
        with origin(node.phase, node.loc):
            if node.op == "rand":
                result = _random(node, size, randomness, seeds_before)
            elif all(axis is None for _, axis in args):
                changed = any(new is not old for (new, _), old in zip(args, node.inputs))
                result = (emit(node.op, *(n for n, _ in args), **node.attrs) if changed else node), None
            elif node.op in BATCHING:
                result = batch_node(node, args, size)
            else:
                reason = NOT_BATCHED.get(node.op, "no batching rule is registered (graphc/ir/batching.py)")
                raise GraphcError(f"vmap: cannot batch the primitive {node.op}: {reason}" + (f"\n  at {node.loc}" if node.loc else ""))
        done[id(node)] = result
    return [done.get(id(n), (n, None)) for n in outputs]



def _random(node: Node, size: Dim, randomness: str, seeds_before: set[int]) -> Batched:
    """A random op made inside the function follows ``randomness``; one made before it is a shared value."""
    seed = node.inputs[0]
    if id(seed) in seeds_before or randomness == "same":
        return node, None
    if randomness == "error":
        raise GraphcError(RANDOM_ERROR + (f"\n  at {node.loc}" if node.loc else ""))
    return emit("rand", seed, shape=(size, *node.attrs["shape"]), dtype=node.attrs["dtype"]), 0
