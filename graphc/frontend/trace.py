"""One run of a function under ``graphc.compile``: what it read, changed and created.

Arguments are replaced by stand-in tensors whose shapes may be symbolic. The
stand-ins carry the call's real data, so a call that must run eagerly (one that
creates new state, such as an optimizer's first step) can still be realized,
but any attempt to read a value inside the function is refused: its result
would be baked into the compiled program.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from graphc.errors import GraphcError
from graphc.frontend import lazy
from graphc.ir.graph import Node
from graphc.ir.registry import user_location

if TYPE_CHECKING:
    from graphc.runtime.tensor import Tensor


V = TypeVar("V")


class WeakIdentityMap(Generic[V]):
    """Values by tensor identity, holding the tensors weakly.

    Keyed by ``id()``: a WeakKeyDictionary would compare tensors with ``==``, which is elementwise.
    A dead tensor's id is soon another tensor's, so every lookup checks that the tensor stored
    under the id is the one asked about. Without that check a constant dropped during a trace
    (``graphc.tensor(x)`` of a batch) once hid an optimizer's new step count made at its address,
    which then became a constant of the program.
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[Tensor], V]] = {}

    def set(self, tensor: Tensor, value: V) -> None:
        self._entries[id(tensor)] = (weakref.ref(tensor), value)

    def __contains__(self, tensor: Tensor) -> bool:
        entry = self._entries.get(id(tensor))
        return entry is not None and entry[0]() is tensor

    def alive(self) -> list[tuple[Tensor, V]]:
        pairs = [(ref(), value) for ref, value in self._entries.values()]
        return [(tensor, value) for tensor, value in pairs if tensor is not None]


class Trace:
    def __init__(self) -> None:
        self.standins: set[int] = set()  # ids of the stand-in input nodes
        # Tensors that existed before the trace and were read: id -> (tensor, node read).
        self.reads: dict[int, tuple[Tensor, Node]] = {}
        # Tensors that existed before the trace and were given a new value: id -> (tensor, old node).
        self.assigned: dict[int, tuple[Tensor, Node]] = {}
        # Tensors whose .grad was looked at before the function set it: id -> (tensor, was None).
        # Whether it was None decides what the trace did (accumulate or not), so it is a guard.
        self.grad_reads: dict[int, tuple[Tensor, bool]] = {}
        # Tensors whose .grad was replaced: id -> (tensor, old grad).
        self.grads_set: dict[int, tuple[Tensor, Tensor | None]] = {}
        # Tensors made during the trace.
        self.created: WeakIdentityMap[None] = WeakIdentityMap()
        # Tensors made from data during the trace (graphc.tensor, zeros): outside tensors with a known
        # value, read like the others if they outlive the call (an optimizer's new state), constants
        # of the program if not (a table of indices); so their reads are held weakly.
        self.made_from_data: WeakIdentityMap[None] = WeakIdentityMap()
        self.data_reads: WeakIdentityMap[Node] = WeakIdentityMap()
        # Those of them given a new value, with their old node: state if they outlive the call (an
        # optimizer's new moments), else temporaries (a buffer filled in a loop) that nothing must guard,
        # so they are held weakly too.
        self.data_assigned: WeakIdentityMap[Node] = WeakIdentityMap()
        # Objects whose Python state the function may have branched on (a module's ``training``,
        # an optimizer's groups): id -> (object, its ``_trace_state()`` and ``_trace_version`` when first used).
        self.objects: dict[int, tuple[Any, Any, Any]] = {}
        # Objects made by the function (a loss module built in the step): each call makes its own from
        # the same code, so their state guards nothing, and a guard on one would find it freed next call.
        self.objects_created: dict[int, weakref.ref[Any]] = {}
        # Tensors from outside whose values the function read on the host (``.item()``, ``bool()``), or
        # whose values such a read was computed from: id -> (tensor, value when traced). The program
        # holds only for those values, so each is a guard.
        self.values_read: dict[int, tuple[Tensor, Any]] = {}
        # Values the function differentiated (its loss): results of the program even when the function
        # drops them, so that the forward's index checks run (lazy.keep does the same outside traces).
        self.differentiated: list[Node] = []
        # Module attributes given a new tensor: (id(owner), name) -> (owner, name, the tensor before the trace).
        # A call binds the attribute again (graphc.runtime.compiled binds the program's result).
        self.attributes_set: dict[tuple[int, str], tuple[Any, str, Any]] = {}
        # Arguments with a history outside the call: the ids of the hidden leaves their stand-ins are read
        # from, and of the leaves of that history (parameters of an encoder that made the argument), whose
        # ``.grad`` gets the part from a backward() inside only after the call (compiled._non_leaf_standin).
        self.history_standins: set[int] = set()
        self.history_leaves: dict[int, Tensor] = {}
        self.history_reached = False
        # Each such argument (by id) -> its node when the call began: where the gradient continues from.
        self.history_values: dict[int, Node] = {}
        # The caller's tensor arguments (id -> tensor, position): the function sees stand-ins, so one of them reached
        # from outside too (a parameter passed in that an optimizer holds) and changed there is refused (on_outside_change).
        self.arguments: dict[int, tuple[Tensor, int]] = {}
        # Python state the function assigned that a replay would not assign again (an optimizer's
        # ``group["lr"]`` set by a learning-rate scheduler's step): what, for the recompilation's reason.
        self.python_writes: list[str] = []

    def _is_new(self, tensor: Tensor) -> bool:
        return tensor in self.created

    def created_alive(self) -> list[Tensor]:
        return [tensor for tensor, _ in self.created.alive()]

    def on_read(self, tensor: Tensor, node: Node) -> None:
        if self._is_new(tensor) or id(tensor) in self.reads or id(tensor) in self.assigned or tensor in self.data_reads or tensor in self.data_assigned:
            return
        if tensor in self.made_from_data:
            self.data_reads.set(tensor, node)
            return
        if node.data is None and not self.depends_on_standins(node):
            # A pending value from outside: realize it now so later calls read its current value.
            lazy.realize([node])
        self.reads[id(tensor)] = (tensor, tensor._node)

    def on_outside_change(self, tensor: Tensor, what: str) -> None:
        """A tensor from outside is changed (its value or its ``.grad``): refused if it is one of the caller's arguments,
        whose stand-in the function changes apart from it (``step(w)`` with ``optimizer.zero_grad()`` inside clears the
        optimizer's ``w.grad``, and the backward adds to the stand-in's: torch's one tensor would start from None)."""
        argument = self.arguments.get(id(tensor))
        if argument is not None and argument[0] is tensor:
            raise GraphcError(
                f"graphc.compile: tensor argument {argument[1]} is also reached from outside the arguments (an optimizer or a "
                f"module holds it), and the function {what} there; inside a compiled function an argument is a tensor of its own, "
                "so the two would part. Do not pass it (the function can read it from where it is held), or pass a detached copy"
                + _at_user_line()
            )

    def on_assign(self, tensor: Tensor) -> None:
        if self._is_new(tensor) or id(tensor) in self.assigned or tensor in self.data_assigned:
            return
        self.on_outside_change(tensor, "changes its value")
        if tensor in self.made_from_data:
            self.data_assigned.set(tensor, tensor._node)
        else:
            self.assigned[id(tensor)] = (tensor, tensor._node)

    def assigned_alive(self, results: frozenset[int] = frozenset()) -> list[tuple[Tensor, Node]]:
        """Every tensor given a new value and its old node: those from before the trace, and those made
        from data during it that are still alive (after the caller's ``gc.collect()``) other than the
        function's ``results`` (ids), which only the trace's result list holds: calls return new tensors."""
        return list(self.assigned.values()) + [(t, n) for t, n in self.data_assigned.alive() if id(t) not in results]

    def on_set_grad(self, tensor: Tensor) -> None:
        if id(tensor) in self.history_standins and tensor in self.created:
            self.history_reached = True
        if not self._is_new(tensor) and id(tensor) not in self.grads_set:
            self.on_outside_change(tensor, "sets its .grad (zero_grad, backward)")
            self.grads_set[id(tensor)] = (tensor, tensor._grad)

    def on_history(self, argument: Tensor, standin_leaf: Tensor, leaves: list[Tensor]) -> None:
        self.history_standins.add(id(standin_leaf))
        self.history_leaves.update((id(t), t) for t in leaves)
        self.history_values[id(argument)] = argument._node

    def on_get_grad(self, tensor: Tensor, accumulating: bool = False) -> None:
        """A look at ``tensor.grad``; ``accumulating``: by backward(), to add to it (which commutes with the
        part of the gradient that arrives after the call, so it is no value read)."""
        if self.history_reached and not accumulating and self.history_leaves.get(id(tensor)) is tensor:
            raise GraphcError(
                "graphc.compile: the function reads the .grad of a tensor that a tensor argument was computed from "
                "outside the function, after a backward() inside reached that argument; the gradient goes on into the "
                "argument's history only when the call returns, so this .grad lacks it. Compile the step that computes "
                "the argument too, update those tensors outside the compiled function, or pass the argument detached"
                + _at_user_line()
            )
        if not self._is_new(tensor) and id(tensor) not in self.grads_set and id(tensor) not in self.grad_reads:
            if accumulating:
                self.on_outside_change(tensor, "adds to its .grad (backward)")
            self.grad_reads[id(tensor)] = (tensor, tensor._grad is None)

    def on_set_attribute(self, owner: Any, name: str, old: Any) -> None:
        self.attributes_set.setdefault((id(owner), name), (owner, name, old))

    def on_create(self, tensor: Tensor) -> None:
        self.created.set(tensor, None)

    def on_made_from_data(self, tensor: Tensor) -> None:
        self.made_from_data.set(tensor, None)

    def outside_reads(self, results: frozenset[int] = frozenset()) -> list[tuple[Tensor, Node]]:
        """Every outside tensor read and the node it had: those from before the trace, and those made
        from data during it that are still alive (after the caller's ``gc.collect()``), but for the
        function's ``results`` (as ``assigned_alive``)."""
        return list(self.reads.values()) + [(t, n) for t, n in self.data_reads.alive() if id(t) not in results]

    def on_create_object(self, obj: Any) -> None:
        self.objects_created[id(obj)] = weakref.ref(obj)

    def _made_here(self, obj: Any) -> bool:
        ref = self.objects_created.get(id(obj))  # checked against the object: a freed one's id is reused
        return ref is not None and ref() is obj

    def on_use(self, obj: Any) -> None:
        """``obj`` (a module called, an optimizer stepped) is used: its ``_trace_state()`` becomes a guard."""
        if id(obj) not in self.objects and not self._made_here(obj):
            self.objects[id(obj)] = (obj, obj._trace_state(), obj._trace_version)

    def objects_used(self) -> list[tuple[Any, Any, Any]]:
        return list(self.objects.values())

    def on_value_read(self, node: Node) -> None:
        """A value read on the host: refused if it depends on the inputs, else the outside tensors it
        was computed from become guards on their values (a module's step count branched on)."""
        if self.depends_on_standins(node):
            raise lazy.value_read_error(node)
        outside = {id(old): tensor for tensor, old in [*self.reads.values(), *self.assigned_alive()]}
        for leaf in lazy.realized_inputs([node]):
            tensor = outside.get(id(leaf))
            if tensor is not None:
                self.values_read.setdefault(id(leaf), (tensor, lazy.to_numpy(leaf.data).copy()))

    def depends_on_standins(self, node: Node) -> bool:
        stack, seen = [node], set()
        while stack:
            current = stack.pop()
            if id(current) in self.standins:
                return True
            if id(current) in seen or current.data is not None:
                continue
            seen.add(id(current))
            stack.extend(current.inputs)
        return False

    def undo(self) -> None:
        """Put back every value and gradient the function replaced (after it raised)."""
        for tensor, node in self.assigned_alive():
            tensor._node = node
        for tensor, grad in self.grads_set.values():
            tensor._grad = grad
        for owner, name, old in self.attributes_set.values():
            bind_attribute(owner, name, old)


def _at_user_line() -> str:
    location = user_location()
    return f"\n  at {location}" if location else ""


def attribute(owner: Any, name: str) -> Any:
    """A module's attribute as ``bind_attribute`` sets it: a buffer or a plain one (None if neither)."""
    buffers = owner.__dict__.get("_buffers")
    if buffers is not None and name in buffers:
        return buffers[name]
    return owner.__dict__.get(name)


def bind_attribute(owner: Any, name: str, value: Any) -> None:
    """Set a module's attribute (a buffer or a plain one) without counting it as a change of its Python state."""
    buffers = owner.__dict__.get("_buffers")
    if buffers is not None and name in buffers:
        buffers[name] = value
    else:
        owner.__dict__[name] = value
