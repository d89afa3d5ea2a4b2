"""The op registry: one entry per primitive, holding its type rule and its VJP rule.

As in JAX's ``lax``, a primitive is declared once, in ``graphc/ir/primitives/``,
with the function that infers its result type and the function that builds its
vector-Jacobian product out of other primitives. Everything downstream (autodiff,
fusion, both code generators, the printer and the docs) reads this table.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from graphc.errors import GraphcError
from graphc.ir.grad_mode import is_grad_enabled
from graphc.ir.graph import Node
from graphc.ir.types import TensorType, TypeRuleError

TypeRule = Callable[..., TensorType]
VJPRule = Callable[..., tuple]

CATEGORIES = ("source", "elementwise", "reduction", "movement", "indexing", "matmul", "window", "sort", "scan", "random", "linalg")
# The movement ops that map each index of the result to one index of the operand: views, which
# the code generators turn into index arithmetic (Triton) or NumPy views, never copies.
VIEWS = frozenset({"reshape", "permute", "expand", "slice"})
# The ops whose value is their first operand: they only matter to autodiff (simplify drops them after
# it), and a code generator given one reads the operand.
IDENTITIES = frozenset({"detach", "custom_vjp"})
# The ops whose kernels raise on bad values: an index out of range, an integer division by zero, a failed check.
CHECKED = frozenset({"gather", "index_select", "scatter_add", "scatter_reduce", "floor_divide", "remainder", "fmod", "check"})


@dataclass
class OpDef:
    name: str
    category: str
    type_rule: TypeRule
    doc: str
    vjp: VJPRule | None = None
    # Attributes the op takes, in printing order.
    attrs: tuple[str, ...] = field(default_factory=tuple)
    # True when the op's result carries no gradient at all (comparisons, argmax).
    nondifferentiable: bool = False


REGISTRY: dict[str, OpDef] = {}


def primitive(name: str, category: str, attrs: tuple[str, ...] = (), nondifferentiable: bool = False) -> Callable[[TypeRule], TypeRule]:
    """Register ``name`` with the decorated function as its type rule (its docstring documents the op)."""
    assert category in CATEGORIES, category

    def register(type_rule: TypeRule) -> TypeRule:
        assert name not in REGISTRY, f"primitive {name} registered twice"
        doc = (type_rule.__doc__ or "").strip()
        REGISTRY[name] = OpDef(name, category, type_rule, doc, attrs=attrs, nondifferentiable=nondifferentiable)
        return type_rule

    return register


def defvjp(*names: str) -> Callable[[VJPRule], VJPRule]:
    """Register the decorated function as the VJP rule of ``names``.

    A VJP rule receives the node and the gradient of its result and returns one
    gradient (a Node, or None for 'no gradient') per operand.
    """

    def register(rule: VJPRule) -> VJPRule:
        for name in names:
            REGISTRY[name].vjp = rule
        return rule

    return register


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


_inside_graphc: dict[str, bool] = {}


def _is_internal(filename: str) -> bool:
    known = _inside_graphc.get(filename)
    if known is None:
        known = filename.startswith("<frozen") or os.path.abspath(filename).startswith(_PACKAGE_DIR)
        _inside_graphc[filename] = known
    return known


def user_location() -> str | None:
    """The innermost ``file:line`` outside the graphc package: where the user wrote the op."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _is_internal(filename):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return None


def user_stacklevel() -> int:
    """The ``stacklevel`` with which the caller's ``warnings.warn`` points at the user's line, however many
    graphc frames (helpers, the autocast wrapper of an op) lie between them."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and _is_internal(frame.f_code.co_filename):
        frame = frame.f_back
        level += 1
    return level


def describe(op: str, types: list[TensorType], attrs: dict[str, Any]) -> str:
    operands = ", ".join(str(t) for t in types)
    extra = ", ".join(f"{k}={v}" for k, v in attrs.items() if v is not None)
    return f"{op}({operands}{', ' if operands and extra else ''}{extra})"


def op_error(op: str, types: list[TensorType], attrs: dict[str, Any], message: str) -> GraphcError:
    location = user_location()
    where = f"\n  at {location}" if location else ""
    return GraphcError(f"{op}: {message}\n  in {describe(op, types, attrs)}{where}")


def infer_type(op: str, in_types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
    if op not in REGISTRY:
        raise GraphcError(f"unknown primitive {op!r}")
    try:
        return REGISTRY[op].type_rule(*in_types, **attrs)
    except TypeRuleError as error:
        raise op_error(op, in_types, attrs, str(error)) from None


class _Origin(threading.local):
    """Per thread; ``value`` (the class attribute: None) until an ``origin`` block sets it. A getattr
    default raised and caught an AttributeError on every emitted node of a thread that never set it."""

    value: tuple[str, str | None] | None = None


_origin = _Origin()


@contextmanager
def origin(phase: str, loc: str | None = None) -> Iterator[None]:
    """Nodes emitted inside are tagged ``phase`` (``Node.phase``) and, when ``loc`` is given, carry it.

    Autodiff builds every gradient node inside ``origin("backward", forward_node.loc)``, so
    the backward graph is marked (dumps and pictures draw it apart) and each gradient node
    points at the user's line of the forward op it differentiates.
    """
    previous = _origin.value
    _origin.value = (phase, loc)
    try:
        yield
    finally:
        _origin.value = previous


def emit(op: str, *inputs: Node, **attrs: Any) -> Node:
    """Record one primitive: infer its type (raising at the user's line) and build its node."""
    out_type = infer_type(op, [n.type for n in inputs], attrs)
    opdef = REGISTRY[op]
    # As torch: only floating-point results track gradients (a cast to int64 or a comparison ends the chain).
    requires_grad = is_grad_enabled() and not opdef.nondifferentiable and out_type.dtype.is_floating_point and any(n.requires_grad for n in inputs)
    tagged = _origin.value
    if tagged is None:
        return Node(op, tuple(inputs), attrs, out_type, requires_grad=requires_grad, loc=user_location())
    phase, loc = tagged
    return Node(op, tuple(inputs), attrs, out_type, requires_grad=requires_grad, loc=loc or user_location(), phase=phase)
