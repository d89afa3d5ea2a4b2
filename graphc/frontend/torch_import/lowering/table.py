"""The lowering table: one small function per ATen overload, building graphc IR nodes.

A lowering receives a ``LoweringContext`` and the FX node's arguments with every
FX node replaced by what it was lowered to (an IR ``Node``, a tuple of them, a
Python number or a symbolic size), and returns the IR value of the ATen op: a
``Node``, a tuple of ``Node``s for ops with several results, or None.

The context knows the FX node being lowered, so a lowering can read the result
type torch inferred (``ctx.out_shape()``, ``ctx.out_dtype()``) instead of
re-deriving shapes that torch already resolved (``view(x, [-1, 16])``), and it
creates the extra graph inputs a lowering may need (tensor constants, seeds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy
import torch

from graphc.errors import GraphcError
from graphc.ir import dtypes
from graphc.ir.dtypes import DType
from graphc.ir.graph import Node
from graphc.ir.primitives.source import source_node
from graphc.ir.types import Dim, Shape, TensorType, normalize_dim

Lowering = Callable[..., Any]

# ATen OpOverload (or a Python operator) -> its lowering.
LOWERINGS: dict[Any, Lowering] = {}
# The kind each lowering was registered under (elementwise, reduction, ...): docs and error messages.
KINDS: dict[Any, str] = {}


def lowers(kind: str, *targets: Any) -> Callable[[Lowering], Lowering]:
    """Register the decorated function as the lowering of every overload in ``targets``."""

    def register(fn: Lowering) -> Lowering:
        for target in targets:
            LOWERINGS[target] = fn
            KINDS[target] = kind
        return fn

    return register


def operand(value: Any) -> Any:
    """A symbolic size used as a number in arithmetic (``x / x.size(0)``) as an int64 0-d node."""
    if isinstance(value, sympy.Basic) and not value.is_Number:
        from graphc.ir import build as b

        return b.reduce("sum", b.full((value,), 1, dtypes.int64))
    if isinstance(value, sympy.Basic):
        return int(value) if value.is_Integer else float(value)
    return value


def op_name(target: Any) -> str:
    """``aten.add.Tensor`` for an OpOverload, ``operator.mul`` for a Python operator."""
    if isinstance(target, torch._ops.OpOverload):
        return str(target)
    module = getattr(target, "__module__", None) or "builtins"
    return f"{'operator' if module in ('_operator', 'operator') else module}.{getattr(target, '__name__', target)}"


@dataclass
class Source:
    """A graph input and where its value comes from on each call.

    kind: "user" (key = position among the flattened call arguments), "parameter" or
    "buffer" (key = its name in the module), "constant" (value = the array), "attribute" (a
    constant that is a plain tensor attribute of the module, key = its name: read on every
    call), "seed" (a fresh random seed on every call).
    """

    kind: str
    key: Any
    node: Node
    value: Any = None


def graphc_dtype(dtype: torch.dtype) -> DType:
    try:
        return dtypes.to_dtype(dtype)
    except TypeError:
        raise GraphcError(f"{missing_dtype(dtype)}; use int32/int64 or a float dtype instead") from None


def missing_dtype(dtype: torch.dtype) -> str:
    """Why a torch dtype cannot be imported, listing the dtypes graphc has."""
    return f"graphc has no dtype for {dtype} (it has {', '.join(d.name for d in dtypes.ALL_DTYPES)})"


_TORCH_SYMPY = {
    "FloorDiv": lambda a, b: sympy.floor(a / b),
    "CleanDiv": lambda a, b: a / b,
    "IntTrueDiv": lambda a, b: a / b,
    "CeilDiv": lambda a, b: sympy.ceiling(a / b),
    "PythonMod": sympy.Mod,
    "Mod": sympy.Mod,
}


def _plain_sympy(expr: sympy.Basic) -> sympy.Basic:
    """Rewrite torch's own sympy functions (FloorDiv, ...) in a size expression as plain sympy."""
    if not expr.args:
        return expr
    args = [_plain_sympy(a) for a in expr.args]
    rule = _TORCH_SYMPY.get(type(expr).__name__)
    return rule(*args) if rule is not None else expr.func(*args)


class LoweringContext:
    """State shared by the lowerings of one exported program."""

    def __init__(self, symbols: dict[sympy.Symbol, sympy.Expr]) -> None:
        # torch's size symbols (s0, s77, ...) -> graphc's (B, ...).
        self.symbols = symbols
        # The FX node being lowered.
        self.node: torch.fx.Node | None = None
        # Inputs created by lowerings (constants and seeds), appended to the program's inputs.
        self.extra_sources: list[Source] = []

    # ------------------------------------------------------------------ sizes

    def expr(self, value: Any) -> Any:
        """A torch SymInt, sympy expression or int as graphc's dimension (an int or a sympy expression)."""
        if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
            value = value.node.expr
        if isinstance(value, bool):
            return value
        if isinstance(value, sympy.Basic):
            converted = _plain_sympy(value.xreplace(self.symbols))
            if converted.is_Boolean:
                return bool(converted) if converted in (sympy.true, sympy.false) else converted
            return normalize_dim(converted) if converted.is_Integer else converted
        return value

    def dim(self, value: Any) -> Dim:
        return normalize_dim(self.expr(value))

    def shape_of(self, value: Any) -> Shape:
        return tuple(self.dim(d) for d in value.shape)

    # ------------------------------------------------------------------ the node being lowered

    def out_meta(self, index: int | None = None) -> Any:
        assert self.node is not None
        value = self.node.meta.get("val")
        if index is not None:
            value = value[index]
        if not isinstance(value, torch.Tensor):
            raise GraphcError(f"{op_name(self.node.target)}: torch recorded no tensor result to take the type from")
        return value

    def out_shape(self, index: int | None = None) -> Shape:
        return self.shape_of(self.out_meta(index))

    def out_dtype(self, index: int | None = None) -> DType:
        return graphc_dtype(self.out_meta(index).dtype)

    def unsupported(self, message: str) -> GraphcError:
        """An error for a form of an op graphc does not lower (the op itself is in the table)."""
        name = op_name(self.node.target) if self.node is not None else "?"
        return GraphcError(f"{name}: {message}")

    # ------------------------------------------------------------------ extra inputs

    def constant(self, array: np.ndarray) -> Node:
        """A tensor constant, fed to the program as an input (graphc constants are 0-d)."""
        array = np.ascontiguousarray(array)
        node = source_node(TensorType(array.shape, dtypes.to_dtype(array.dtype)))
        self.extra_sources.append(Source("constant", len(self.extra_sources), node, array))
        return node

    def feed_constant(self, node: Node) -> None:
        """Feed an input node that carries its array (a front-end function's constant) as a constant."""
        self.extra_sources.append(Source("constant", len(self.extra_sources), node, np.ascontiguousarray(node.data)))

    def seed(self) -> Node:
        """An int64 seed for a ``rand`` node, redrawn on every call."""
        node = source_node(TensorType((), dtypes.int64))
        self.extra_sources.append(Source("seed", len(self.extra_sources), node))
        return node
