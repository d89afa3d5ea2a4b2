"""``Tensor.backward`` and ``graphc.autograd.grad`` on top of the autodiff pass.

The gradients are lazy tensors like any other: ``backward()`` records the
backward graph and accumulates it into ``.grad``; nothing runs until a value is
read or an optimizer steps, so forward, backward and update realize together.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable, Iterable, Sequence

from graphc.errors import GraphcError
from graphc.frontend import lazy, tracing
from graphc.ir import build as b
from graphc.ir.grad_mode import grad_mode
from graphc.ir.graph import Node, toposort
from graphc.ir.registry import origin
from graphc.ir.types import shapes_equal
from graphc.passes.autodiff import vjp
from graphc.runtime.tensor import Tensor


def _is_leaf(node: Node) -> bool:
    return node.requires_grad and node.is_leaf


# Non-leaf tensors whose gradient backward() keeps in .grad (Tensor.retain_grad), by id so
# that a lookup never compares tensors with == (which is elementwise).
_retained: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()


def retain_grad(tensor: Tensor) -> None:
    _retained[id(tensor)] = tensor


def retains_grad(tensor: Tensor) -> bool:
    return _retained.get(id(tensor)) is tensor and not tensor.is_leaf


def _retained_in(order: list[Node]) -> list[Tensor]:
    """The retained tensors whose current node is one the backward pass goes through."""
    ids = {id(n) for n in order}
    return [t for t in list(_retained.values()) if id(t._node) in ids and not t._node.is_leaf]


# Tensor.register_hook: the hooks of each tensor by id (held weakly, as _retained), in registration order.
_hooked: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()
_hooks: dict[int, dict[int, Callable[[Tensor], Tensor | None]]] = {}
_next_handle = itertools.count()
# How many hooks were ever registered: a compiled function whose traced backward() ran before a registration
# traces again (its program never runs the new hook; the trace refuses one its backward reaches).
_registrations = 0


def hook_registrations() -> int:
    return _registrations


class RemovableHandle:
    """What ``register_hook`` returns: ``remove()`` unregisters the hook (again: nothing)."""

    def __init__(self, owner: int, key: int) -> None:
        self.id = key
        self._owner = owner

    def remove(self) -> None:
        _hooks.get(self._owner, {}).pop(self.id, None)


def register_hook(tensor: Tensor, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
    if not tensor.requires_grad:
        raise GraphcError("cannot register a hook on a tensor that doesn't require gradient")
    if tracing.active() is not None:
        raise GraphcError(_HOOKS_NOT_TRACED)
    owner = id(tensor)
    if _hooked.get(owner) is not tensor:
        _hooked[owner] = tensor
        _hooks[owner] = {}
        weakref.finalize(tensor, _hooks.pop, owner, None)
    key = next(_next_handle)
    _hooks[owner][key] = hook
    global _registrations
    _registrations += 1
    return RemovableHandle(owner, key)


_HOOKS_NOT_TRACED = (
    "tensor hooks (register_hook) run in eager code only: inside graphc.compile a hook would run once, "
    "while tracing, and its Python effects would not happen on later calls; "
    "write the change to the gradient as tensor code in the compiled function, or remove the hook"
)


def _hooks_in(order: list[Node]) -> dict[int, Callable[[Node, Node], Node]]:
    """The hooks of the tensors whose current node the backward pass goes through, as vjp takes them."""
    ids = {id(n) for n in order}
    found = {}
    for owner, tensor in list(_hooked.items()):
        hooks = list(_hooks.get(owner, {}).values())
        if hooks and id(tensor._node) in ids:
            if tracing.active() is not None:
                raise GraphcError(_HOOKS_NOT_TRACED)
            found[id(tensor._node)] = _applying(hooks)
    return found


def _applying(hooks: list[Callable[[Tensor], Tensor | None]]) -> Callable[[Node, Node], Node]:
    def apply(node: Node, grad: Node) -> Node:
        for hook in hooks:
            result = hook(Tensor._from_node(grad))
            if result is None:
                continue
            new = tracing.read(result)
            if not shapes_equal(new.shape, grad.shape) or new.dtype != grad.dtype:
                raise GraphcError(f"hook {getattr(hook, '__name__', hook)!r} has changed the type of value: {grad.type} to {new.type}")
            grad = new
        return grad

    return apply


def _seed_grads(outputs: Sequence[Tensor], grad_outputs: Sequence[Tensor | None] | None) -> tuple[list[Node], list[Node]]:
    nodes, grads = [], []
    for i, out in enumerate(outputs):
        node = tracing.read(out)
        if not node.requires_grad:
            raise GraphcError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        given = None if grad_outputs is None else grad_outputs[i]
        if given is None and node.type.numel != 1:
            raise GraphcError(f"grad can be implicitly created only for scalar outputs (got shape {list(node.shape)})")
        with origin("backward"):
            grads.append(b.full_like(node, 1.0) if given is None else b.cast(tracing.read(given), node.dtype))
        nodes.append(node)
    return nodes, grads


def backward(
    tensors: Sequence[Tensor],
    grad_tensors: Sequence[Tensor | None] | None = None,
    create_graph: bool = False,
    inputs: Sequence[Tensor] | None = None,
) -> None:
    outputs, seeds = _seed_grads(tensors, grad_tensors)
    order = toposort(outputs)
    hooks = _hooks_in(order)
    if inputs is not None:
        leaves = [tracing.read(t) for t in inputs]
        owners = list(inputs)
    else:
        leaves = [n for n in order if _is_leaf(n)]
        owners = [tracing.leaf_owner(n) for n in leaves]
        retained = _retained_in(order)  # gradients of interior nodes: vjp computes them on the way to the leaves
        leaves += [t._node for t in retained]
        owners += retained
    with grad_mode(create_graph):
        grads = vjp(outputs, seeds, leaves, hooks)
        totals = []
        for owner, grad in zip(owners, grads):
            if owner is None or grad is None:
                continue
            previous = tracing.get_grad(owner, accumulating=True)
            with origin("backward"):
                total = grad if previous is None else b.add(tracing.read(previous), grad)
            if previous is not None and not create_graph:
                tracing.assign(previous, total)
            else:
                owner.grad = Tensor._from_node(total)
            totals.append(total)
    _keep_outputs(tensors)
    if tracing.active() is None and not create_graph:
        # All gradients in one program, as torch computes them all in backward(): reading them one
        # by one (a check, a log of each parameter's gradient) ran the backward once per gradient.
        for total in totals:
            lazy.keep(total)


def _keep_outputs(outputs: Sequence[Tensor]) -> None:
    """Compute the differentiated values in the same program as the gradients.

    A loop reads its loss after ``optimizer.step()`` (``loss.item()``); the step's program
    computes the forward anyway, but without this the loss would not be among its results
    and reading it would compile and run the forward a second time. And a gradient alone
    skips checks of the forward: cross-entropy's gradient compares each position with the
    target, so an out-of-range target only raises where the loss itself is computed.
    Inside a graphc.compile trace the values become results of the program that the call drops.
    """
    trace = tracing.active()
    for tensor in outputs:
        if trace is not None:
            trace.differentiated.append(tensor._node)
        elif tensor._node.data is None:
            lazy.keep(tensor._node)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Tensor | Sequence[Tensor | None] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
) -> tuple[Tensor | None, ...]:
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    nodes, seeds = _seed_grads(outs, grad_outputs)
    hooks = _hooks_in(toposort(nodes))
    with grad_mode(create_graph):
        grads = vjp(nodes, seeds, [tracing.read(t) for t in ins], hooks)
    _keep_outputs(outs)
    result: list[Tensor | None] = []
    for g in grads:
        if g is None:
            if not allow_unused:
                raise GraphcError("one of the differentiated tensors appears to not have been used in the graph (pass allow_unused=True)")
            result.append(None)
        else:
            result.append(Tensor._from_node(g))
    return tuple(result)


def zero_grads(params: Iterable[Tensor], set_to_none: bool = True) -> None:
    """``Module.zero_grad`` and ``Optimizer.zero_grad``: reset the ``.grad`` of every parameter.

    With ``set_to_none`` every ``.grad`` is set to None without looking at it first: inside
    ``graphc.compile`` a look at ``.grad`` makes "was it None" a guard of the trace, and a
    step that starts with ``zero_grad()`` would then trace a second time on its second call.
    """
    for p in params:
        if set_to_none:
            p.grad = None
        elif p.grad is not None:
            if p.grad.requires_grad:
                p.grad.detach_()
            p.grad.zero_()
