"""What graphc.compile needs to see while a function runs: which tensors it reads and changes.

Tensors hand their node out through ``read`` and take a new one through
``assign``. Outside a trace these are plain attribute accesses; inside one, the
active ``Trace`` records every tensor whose value came from outside the
function (to feed the compiled program on later calls) and every tensor whose
value the function replaced (to write back after each call).
"""

from __future__ import annotations

import sys
import threading
import weakref
from typing import TYPE_CHECKING, Any

import sympy

from graphc.ir.graph import Node

if TYPE_CHECKING:
    from graphc.frontend.trace import Trace
    from graphc.runtime.tensor import Tensor


class _Local(threading.local):
    """Per thread; the class attributes are the defaults of a thread that never set them (cheaper to
    read than a getattr default, which raises and catches an AttributeError on every call)."""

    trace: Trace | None = None
    random_in_graph = 0


_local = _Local()


def active() -> Trace | None:
    return _local.trace


def set_active(trace: Trace | None) -> None:
    _local.trace = trace


def random_in_graph() -> bool:
    """Whether random constructors (rand, randn, ...) draw in the graph although no graphc.compile trace is active:
    while vmap records a function, whose draws its ``randomness`` argument governs."""
    return _local.random_in_graph > 0


def set_random_in_graph(change: int) -> None:
    _local.random_in_graph += change


def read(tensor: Tensor) -> Node:
    node = tensor._node
    trace = active()
    if trace is not None:
        trace.on_read(tensor, node)
    return node


def read_value(tensor: Tensor) -> None:
    """The function is about to read ``tensor``'s value on the host (``.item()``, ``bool()``, ``.numpy()``)."""
    trace = active()
    if trace is not None:
        trace.on_value_read(read(tensor))


def assign(tensor: Tensor, node: Node) -> None:
    trace = active()
    if trace is not None:
        trace.on_assign(tensor)
    tensor._node = node


def get_grad(tensor: Tensor, accumulating: bool = False) -> Any:
    """``tensor.grad``; ``accumulating``: read by backward() to add a gradient to it."""
    trace = active()
    if trace is not None:
        trace.on_get_grad(tensor, accumulating)
    return tensor._grad


def set_grad(tensor: Tensor, grad: Any) -> None:
    trace = active()
    if trace is not None:
        trace.on_set_grad(tensor)
    tensor._grad = grad


class SizeRead(BaseException):
    """Code outside graphc needs the number of a symbolic size (the batch ``B``) while a function is traced.

    What it does with the number (``if x.shape[0] == 8``, ``range(len(x))``, ``int(x.size(0))``)
    is Python, invisible to the trace, so the trace stops and ``graphc.compile`` traces again
    with static sizes. A BaseException, so a ``try: ... except Exception`` in the traced
    function cannot swallow it.
    """


def sizes_read(value: Any, what: str) -> Any:
    """``value`` (a shape or a size) handed to the code that called a Tensor's ``what`` (``shape``, ``size()``, ...).

    Graphc's own code works with symbolic sizes. The function's own code gets them as
    ``SymbolicSize`` (graphc/frontend/symbolic_sizes.py), which stops the trace only where the
    number itself is needed; ``len()``, which must return an int, stops it at once.
    """
    if active() is None:
        return value
    dims = value if isinstance(value, tuple) else (value,)
    if not any(isinstance(d, sympy.Basic) and d.free_symbols for d in dims):
        return value
    frame = sys._getframe(2)
    if frame.f_globals.get("__name__", "").startswith("graphc."):
        return value
    origin = f"{what} at {frame.f_code.co_filename}:{frame.f_lineno}"
    if what == "len()":
        raise SizeRead(f"the function reads a symbolic size through {origin}")
    from graphc.frontend.symbolic_sizes import read

    return read(value, origin)


def python_state_written(what: str) -> None:
    """Python state that a program cannot carry was assigned (``group["lr"] = ...`` by a scheduler's step): under a
    trace, that call runs eagerly and the next traces again, so the Python code runs on every call (compiled.py)."""
    trace = active()
    if trace is not None:
        trace.python_writes.append(what)


def set_attribute(owner: Any, name: str, old: Any) -> None:
    """A module attribute holding a tensor is given a new one (``self.ema = 0.9 * self.ema + ...``)."""
    trace = active()
    if trace is not None:
        trace.on_set_attribute(owner, name, old)


def use(obj: Any) -> None:
    """A module or optimizer is used: under a trace, its Python state is guarded (``Trace.on_use``)."""
    trace = active()
    if trace is not None:
        trace.on_use(obj)


def on_create_object(obj: Any) -> None:
    """A module is made: under a trace, it is the function's own (``Trace.on_create_object``)."""
    trace = active()
    if trace is not None:
        trace.on_create_object(obj)


def on_made_from_data(tensor: Tensor) -> None:
    trace = active()
    if trace is not None:
        trace.on_made_from_data(tensor)


def on_create(tensor: Tensor) -> None:
    trace = active()
    if trace is not None:
        trace.on_create(tensor)


# Leaf nodes and the tensors that own them, so backward() knows whose .grad to set.
_owners: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()


def register_leaf(tensor: Tensor) -> None:
    _owners[id(tensor._node)] = tensor


def leaf_owner(node: Node) -> Tensor | None:
    tensor = _owners.get(id(node))
    return tensor if tensor is not None and tensor._node is node else None
