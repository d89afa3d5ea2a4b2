"""grad, vjp, jvp, jacrev, jacfwd and hessian as torch.func's, on graphc's symbolic reverse mode.

Each differentiated argument enters the function through an *alias*: a fresh identity node
(a reshape to its own shape) that tracks gradients, so gradients are taken with respect to
this call's argument and nothing else, even when the same tensor is also captured by the
function or differentiated by an enclosing transform (torch.func's levels). Every gradient
is built by the registry's VJP rules with gradient recording on, so transforms nest: a
gradient is a graph that can be differentiated or batched again.

Forward mode is the transpose of reverse mode: ``u -> vjp(u)`` is linear in the cotangent
``u``, so differentiating ``<vjp(u), t>`` with respect to ``u`` gives ``J t`` exactly (the
"double-vjp" trick), with no forward-mode rules to maintain beside the VJP rules.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from graphc.errors import GraphcError
from graphc.frontend import tracing
from graphc.frontend.transforms.pytree import Spec, flatten, unflatten
from graphc.frontend.transforms.vmap import vmap
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.grad_mode import grad_mode
from graphc.ir.graph import Node, toposort
from graphc.ir.registry import emit
from graphc.ir.types import shapes_equal
from graphc.passes import autodiff
from graphc.runtime.tensor import Tensor

# The aliases of the transforms running now, innermost last: an enclosing transform differentiates
# its results with respect to its aliases, so a result that depends on one stays differentiable.
_active: list[set[int]] = []


def _alias(node: Node) -> Node:
    return Node("reshape", (node,), {"shape": tuple(node.shape)}, node.type, requires_grad=True, loc=node.loc, phase=node.phase)


@dataclass
class Traced:
    """One run of the function on aliases of its differentiated arguments."""

    outputs: list[Node]  # the flat tensor results
    out_spec: Spec
    aliases: list[Node]  # the flat differentiated inputs
    primal_spec: Spec  # how the gradients are grouped: one argument's pytree, or a tuple of them
    aux: Any
    own: set[int]  # ids of this call's aliases (and forward mode's cotangent variables)

    def pull(self, seeds: Sequence[Node]) -> list[Node | None]:
        """The vector-Jacobian products with respect to the aliases (None where no path leads)."""
        with grad_mode(True):
            return autodiff.vjp(self.outputs, list(seeds), self.aliases)

    def pull_filled(self, seeds: Sequence[Node]) -> list[Node]:
        return [g if g is not None else b.zeros_like(a) for g, a in zip(self.pull(seeds), self.aliases)]

    def finish(self, nodes: list[Node]) -> list[Tensor]:
        """Nodes as the caller sees them: still differentiable only if they depend on something outside this call."""
        outside = _outside(nodes, self.own)
        return [Tensor._from_node(n if not n.requires_grad or id(n) in outside else emit("detach", n)) for n in nodes]

    def results(self, tree: Any) -> Any:
        leaves, spec = flatten(tree)
        tensors = [i for i, leaf in enumerate(leaves) if isinstance(leaf, Tensor)]
        for i, done in zip(tensors, self.finish([tracing.read(leaves[i]) for i in tensors])):
            leaves[i] = done
        return unflatten(spec, leaves)


def _outside(nodes: list[Node], own: set[int]) -> set[int]:
    """Ids of the nodes from which a gradient path leads to a leaf tracking gradients or to an enclosing
    transform's alias (the aliases of inner transforms that have returned are passed through, like any node)."""
    enclosing = set().union(*(ids for ids in _active if ids is not own)) if _active else set()
    reaches: set[int] = set()
    for n in toposort([n for n in nodes if n.requires_grad]):
        if n.requires_grad and (not n.inputs or id(n) in enclosing or any(id(i) in reaches for i in n.inputs)):
            reaches.add(id(n))
    return reaches


def normalize_argnums(argnums: int | tuple[int, ...], count: int, where: str) -> tuple[tuple[int, ...], bool]:
    """The argument positions, and whether ``argnums`` was a single int (results not wrapped in a tuple)."""
    single = isinstance(argnums, int)
    nums = (argnums,) if single else argnums
    if not isinstance(nums, tuple) or not nums or any(not isinstance(n, int) or isinstance(n, bool) for n in nums):
        raise GraphcError(f"{where}: argnums must be an int or a non-empty tuple of ints, got {argnums!r}")
    for n in nums:
        if not -count <= n < count:
            raise GraphcError(f"{where}: Got argnums={argnums!r}, but only {count} positional inputs")
    normalized = tuple(n % count for n in nums)
    if len(set(normalized)) != len(normalized):
        raise GraphcError(f"{where}: argnums must be unique, got {argnums!r}")
    return normalized, single


@contextmanager
def trace(func: Callable[..., Any], args: Sequence[Any], kwargs: dict, argnums: int | tuple[int, ...], has_aux: bool, where: str) -> Iterator[Traced]:
    """Run ``func`` on aliases of its ``argnums`` arguments; the aliases count as an enclosing transform's until the block ends."""
    own: set[int] = set()
    _active.append(own)
    try:
        yield _trace(func, args, kwargs, argnums, has_aux, where, own)
    finally:
        _active.pop()


def _trace(func: Callable[..., Any], args: Sequence[Any], kwargs: dict, argnums: int | tuple[int, ...], has_aux: bool, where: str, own: set[int]) -> Traced:
    nums, single = normalize_argnums(argnums, len(args), where)
    new_args = list(args)
    aliases: list[Node] = []
    specs: list[Spec] = []
    for n in nums:
        leaves, spec = flatten(args[n])
        made = []
        for leaf in leaves:
            if not isinstance(leaf, Tensor):
                raise GraphcError(f"{where}: expected argument {n} to be a Tensor or a pytree of Tensors, got {type(leaf).__name__}")
            node = tracing.read(leaf)
            if not node.dtype.is_floating_point:
                raise GraphcError(f"{where}: only Tensors of floating point dtype can require gradients; argument {n} is {node.dtype.name}")
            made.append(_alias(node))
        own.update(id(a) for a in made)
        aliases += made
        specs.append(spec)
        new_args[n] = unflatten(spec, [Tensor._from_node(a) for a in made])
    with grad_mode(True):
        result = func(*new_args, **kwargs)
    aux = None
    if has_aux:
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise GraphcError(f"{where}(f, ...)(*args): output of function f should be a tuple: (output, aux) if has_aux is True")
        result, aux = result
    leaves, out_spec = flatten(result)
    for leaf in leaves:
        if not isinstance(leaf, Tensor):
            raise GraphcError(f"{where}: the function must return Tensors (or pytrees of them), got {type(leaf).__name__}")
    primal_spec = specs[0] if single else Spec("tuple", tuple(specs))
    return Traced([tracing.read(t) for t in leaves], out_spec, aliases, primal_spec, aux, own)


def grad_and_value(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable[..., Any]:
    """torch.func.grad_and_value: ``(gradients, value)``, or ``(gradients, (value, aux))`` with ``has_aux``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with trace(func, args, kwargs, argnums, has_aux, "grad_and_value") as t:
            return _gradient_and_value(t, has_aux)

    return wrapper


def _gradient_and_value(t: Traced, has_aux: bool) -> Any:
    if len(t.outputs) != 1 or t.out_spec.kind != "leaf":
        raise GraphcError("grad_and_value(f)(*args): Expected f(*args) to return a Tensor, got a pytree of several")
    out = t.outputs[0]
    if out.type.ndim != 0:
        raise GraphcError(
            f"grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got tensor with {out.type.ndim} dims. "
            "Maybe you wanted to use the vjp or jacrev APIs instead?"
        )
    grads = t.pull_filled([b.full_like(out, 1.0)])
    *gradients, value = t.finish([*grads, out])
    gradients = unflatten(t.primal_spec, gradients)
    return (gradients, (value, t.results(t.aux))) if has_aux else (gradients, value)


def grad(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable[..., Any]:
    """torch.func.grad: the gradient of a scalar function with respect to the ``argnums`` arguments."""
    with_value = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        gradients, value = with_value(*args, **kwargs)
        return (gradients, value[1]) if has_aux else gradients

    return wrapper


def vjp(func: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple:
    """torch.func.vjp: ``(output, vjp_fn)`` (and ``aux``); ``vjp_fn(cotangents)`` gives one gradient per primal."""
    with trace(func, primals, {}, tuple(range(len(primals))), has_aux, "vjp") as t:
        output = unflatten(t.out_spec, t.finish(t.outputs))
        aux = t.results(t.aux)
    everything = Spec("tuple", t.primal_spec.children)

    def vjp_fn(cotangents: Any) -> tuple:
        seeds = _match(cotangents, t.outputs, t.out_spec, "vjp_fn", "cotangents", "outputs")
        return unflatten(everything, t.finish(t.pull_filled(seeds)))

    return (output, vjp_fn, aux) if has_aux else (output, vjp_fn)


def _match(tree: Any, like: list[Node], spec: Spec, where: str, what: str, whose: str) -> list[Node]:
    """The nodes of ``tree``, which must have the structure ``spec`` and the shapes of ``like`` (cast to their dtypes)."""
    leaves, given = flatten(tree)
    if given != spec:
        raise GraphcError(f"{where}: Expected pytree structure of {what} to be the same as pytree structure of {whose}")
    nodes = []
    for leaf, ref in zip(leaves, like):
        if not isinstance(leaf, Tensor):
            raise GraphcError(f"{where}: expected {what} to be Tensors, got {type(leaf).__name__}")
        node = tracing.read(leaf)
        if not shapes_equal(node.shape, ref.shape):
            raise GraphcError(f"{where}: Mismatch in shape: {what} has shape {list(node.shape)} and the corresponding {whose[:-1]} has shape {list(ref.shape)}")
        nodes.append(b.cast(node, ref.dtype))
    return nodes


def jvp(func: Callable[..., Any], primals: Any, tangents: Any, *, has_aux: bool = False) -> tuple:
    """torch.func.jvp: ``(output, J @ tangents)`` (and ``aux``), as the derivative of a vjp in its cotangent."""
    for name, value in (("primals", primals), ("tangents", tangents)):
        if not isinstance(value, tuple):
            raise GraphcError(f"jvp(f, primals, tangents): Expected {name} to be a tuple. E.g. it should be valid to call f(*{name}).")
    if len(primals) != len(tangents):
        raise GraphcError(f"jvp(f, primals, tangents): Expected primals and tangents to have the same length, got {len(primals)} and {len(tangents)}")
    with trace(func, primals, {}, tuple(range(len(primals))), has_aux, "jvp") as t:
        return _forward(t, tangents, has_aux)


def _forward(t: Traced, tangents: tuple, has_aux: bool) -> tuple:
    directions = _match(tangents, t.aliases, Spec("tuple", t.primal_spec.children), "jvp", "tangents", "primals")
    with grad_mode(True):
        cotangents = [_alias(b.zeros_like(o)) for o in t.outputs]
        t.own |= {id(c) for c in cotangents}
        total = None
        for g, direction in zip(t.pull(cotangents), directions):
            if g is not None:
                term = b.reduce("sum", b.mul(g, direction))
                total = term if total is None else b.add(total, term)
        pushed = [None] * len(t.outputs) if total is None else autodiff.vjp([total], [b.full_like(total, 1.0)], cotangents)
    tangents_out = [p if p is not None else b.zeros_like(o) for p, o in zip(pushed, t.outputs)]
    finished = t.finish([*t.outputs, *tangents_out])
    output = unflatten(t.out_spec, finished[: len(t.outputs)])
    derivative = unflatten(t.out_spec, finished[len(t.outputs) :])
    return (output, derivative, t.results(t.aux)) if has_aux else (output, derivative)


def linearize(func: Callable[..., Any], *primals: Any) -> tuple[Any, Callable[..., Any]]:
    """torch.func.linearize: ``(func(*primals), jvp_fn)`` with ``jvp_fn(*tangents)`` the jvp at ``primals``."""
    output = func(*primals)

    def jvp_fn(*tangents: Any) -> Any:
        return jvp(func, primals, tangents)[1]

    return output, jvp_fn


def _eye_columns(sizes: list[int], like: list[Node]) -> list[Tensor]:
    """The identity matrix of ``sum(sizes)`` rows, cut into one block of columns per tensor of ``like``, each
    reshaped to [rows, *that tensor's shape]: the basis a Jacobian is computed on, one row per vmap example."""
    total = sum(sizes)
    rows = emit("iota", shape=(total, total), axis=0, dtype=dtypes.int64)
    cols = emit("iota", shape=(total, total), axis=1, dtype=dtypes.int64)
    eye = b.compare("eq", rows, cols)
    blocks, offset = [], 0
    for size, node in zip(sizes, like):
        block = emit("slice", eye, starts=(0, offset), stops=(total, offset + size), steps=(1, 1))
        blocks.append(Tensor._from_node(b.reshape(b.cast(block, node.dtype), (total, *node.shape))))
        offset += size
    return blocks


def _numels(nodes: list[Node], where: str) -> list[int]:
    sizes = []
    for node in nodes:
        n = node.type.numel
        if not isinstance(n, int):
            raise GraphcError(f"{where}: the Jacobian needs static sizes, got a tensor of shape {list(node.shape)}")
        sizes.append(n)
    return sizes


def _split_rows(batched: Node, sizes: list[int]) -> list[Node]:
    pieces, offset = [], 0
    rest = tuple(batched.shape[1:])
    for size in sizes:
        starts = (offset,) + (0,) * len(rest)
        stops = (offset + size, *rest)
        pieces.append(emit("slice", batched, starts=starts, stops=stops, steps=(1,) * (len(rest) + 1)))
        offset += size
    return pieces


def jacrev(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0, *, has_aux: bool = False, chunk_size: int | None = None) -> Callable[..., Any]:
    """torch.func.jacrev: a vmap of the vjp over the rows of the identity (one reverse pass for all outputs)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with trace(func, args, kwargs, argnums, has_aux, "jacrev") as t:
            return _reverse_jacobian(t, has_aux, chunk_size)

    return wrapper


def _reverse_jacobian(t: Traced, has_aux: bool, chunk_size: int | None) -> Any:
    out_sizes = _numels(t.outputs, "jacrev")
    basis = _eye_columns(out_sizes, t.outputs)

    def pulled(*cotangents: Tensor) -> list[Tensor]:
        return [Tensor._from_node(g) for g in t.pull_filled([c._node for c in cotangents])]

    rows = vmap(pulled, chunk_size=chunk_size)(*basis)
    per_input = [_split_rows(r._node, out_sizes) for r in rows]
    blocks = [b.reshape(per_input[j][i], (*out.shape, *a.shape)) for i, out in enumerate(t.outputs) for j, a in enumerate(t.aliases)]
    finished = t.finish(blocks)
    count = len(t.aliases)
    jacobians = [unflatten(t.primal_spec, finished[i * count : (i + 1) * count]) for i in range(len(t.outputs))]
    result = unflatten(t.out_spec, jacobians)
    return (result, t.results(t.aux)) if has_aux else result


def jacfwd(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0, has_aux: bool = False, *, randomness: str = "error") -> Callable[..., Any]:
    """torch.func.jacfwd: a vmap of the jvp over the columns of the identity (one forward pass per input element, batched)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums, single = normalize_argnums(argnums, len(args), "jacfwd")
        trees = [flatten(args[n]) for n in nums]
        inputs = [tracing.read(leaf) for leaves, _ in trees for leaf in leaves]
        in_sizes = _numels(inputs, "jacfwd")
        basis = _eye_columns(in_sizes, inputs)
        out_info: dict[str, Spec] = {}

        def selected(*primals: Any) -> Any:
            full = list(args)
            for n, p in zip(nums, primals):
                full[n] = p
            return func(*full, **kwargs)

        def pushed(*directions: Tensor) -> Any:
            tangents, k = [], 0
            for leaves, spec in trees:
                tangents.append(unflatten(spec, list(directions[k : k + len(leaves)])))
                k += len(leaves)
            results = jvp(selected, tuple(args[n] for n in nums), tuple(tangents), has_aux=has_aux)
            out_info["spec"] = flatten(results[1])[1]
            return (flatten(results[1])[0], results[2]) if has_aux else flatten(results[1])[0]

        batched = vmap(pushed, out_dims=(0, None) if has_aux else 0, randomness=randomness)(*basis)
        columns, aux = batched if has_aux else (batched, None)
        primal_spec = trees[0][1] if single else Spec("tuple", tuple(spec for _, spec in trees))
        jacobians = []
        for column in columns:
            node = column._node
            out_shape = tuple(node.shape[1:])
            blocks = []
            for piece, x in zip(_split_rows(node, in_sizes), inputs):
                moved = b.permute(piece, (*range(1, piece.type.ndim), 0))
                blocks.append(Tensor._from_node(b.reshape(moved, (*out_shape, *x.shape))))
            jacobians.append(unflatten(primal_spec, blocks))
        result = unflatten(out_info["spec"], jacobians)
        return (result, aux) if has_aux else result

    return wrapper


def hessian(func: Callable[..., Any], argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """torch.func.hessian: ``jacfwd(jacrev(func, argnums), argnums)``."""
    return jacfwd(jacrev(func, argnums), argnums)
