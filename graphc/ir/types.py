"""Tensor types: a dtype and a shape whose dimensions are ints or sympy expressions.

A dimension is symbolic when it varies between calls (``B`` for a batch), so one
compiled program serves every batch size. Concrete dimensions are always plain
``int`` (never ``sympy.Integer``) so that the common case stays cheap to compare.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache, reduce
from typing import Any, Union

import sympy

from graphc.ir.dtypes import DType

Dim = Union[int, sympy.Expr]
Shape = tuple[Dim, ...]


class TypeRuleError(TypeError):
    """A type rule rejected its operands; the registry adds the op, types and user line."""


def normalize_dim(d: object) -> Dim:
    if isinstance(d, bool):
        raise TypeRuleError(f"dimension must be an int, got {d!r}")
    if isinstance(d, int):
        return d
    if isinstance(d, sympy.Symbol):
        return d
    if hasattr(d, "__index__") and not isinstance(d, sympy.Basic):
        return int(d)  # type: ignore[arg-type]
    if isinstance(d, sympy.Basic):
        expr = sympy.sympify(d)
        if expr.is_Integer:
            return int(expr)
        return expr
    raise TypeRuleError(f"dimension must be an int or a symbolic size, got {d!r}")


def normalize_shape(shape: Iterable[object]) -> Shape:
    shape = tuple(shape)
    if all(type(d) is int or type(d) is sympy.Symbol for d in shape):  # the common cases (a compiled call types its arguments by them)
        return shape
    return tuple(normalize_dim(d) for d in shape)


def dims_equal(a: Dim, b: Dim) -> bool:
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if a == b:
        return True
    # Sizes are mostly polynomials in the symbols, where expand() decides equality; simplify() is slow.
    diff = sympy.expand(sympy.sympify(a) - sympy.sympify(b))
    if diff == 0:
        return True
    if diff.is_polynomial():
        return False
    # A floor or Mod of sizes (x.size(0) // 3): sizes that differ at some value of the symbols differ, found fast.
    if any(diff.subs({s: value for s in diff.free_symbols}) != 0 for value in (2, 3, 5, 7)):
        return False
    return sympy.simplify(diff) == 0


def shapes_equal(a: Shape, b: Shape) -> bool:
    return len(a) == len(b) and all(dims_equal(x, y) for x, y in zip(a, b))


def squeezed(shape: Shape) -> Shape:
    """``shape`` without its axes of size 1: what stays when only the elements' order matters."""
    return tuple(d for d in shape if not (isinstance(d, int) and d == 1))


def numel(shape: Shape) -> Dim:
    return normalize_dim(reduce(lambda x, y: x * y, shape, 1)) if shape else 1


def format_dim(d: Dim) -> str:
    return str(d) if isinstance(d, int) else _format_symbolic(d)


@lru_cache(maxsize=4096)
def _format_symbolic(d: sympy.Expr) -> str:
    """Printing a sympy expression is slow, and a replayed compiled call prints its input types."""
    return str(d).replace(" ", "")


def format_shape(shape: Shape) -> str:
    return "[" + ",".join(format_dim(d) for d in shape) + "]"


def broadcast_shapes(a: Shape, b: Shape) -> Shape:
    """NumPy/PyTorch broadcasting; symbolic dims broadcast only against 1 or themselves."""
    rank = max(len(a), len(b))
    a = (1,) * (rank - len(a)) + tuple(a)
    b = (1,) * (rank - len(b)) + tuple(b)
    out: list[Dim] = []
    for x, y in zip(a, b):
        if isinstance(x, int) and x == 1:
            out.append(y)
        elif isinstance(y, int) and y == 1 or dims_equal(x, y):
            out.append(x)
        else:
            raise TypeRuleError(f"shapes {format_shape(a)} and {format_shape(b)} cannot be broadcast (dimension {x} vs {y})")
    return tuple(out)


def free_symbols(shape: Shape) -> set[sympy.Symbol]:
    symbols: set[sympy.Symbol] = set()
    for d in shape:
        if isinstance(d, sympy.Basic):
            symbols |= d.free_symbols  # type: ignore[arg-type]
    return symbols


def evaluate_shape(shape: Shape, bindings: dict[str, int]) -> tuple[int, ...]:
    """Concrete sizes for a shape, given values for its symbols."""
    out = []
    for d in shape:
        if isinstance(d, int):
            out.append(d)
        else:
            out.append(int(d.subs({s: bindings[str(s)] for s in d.free_symbols})))  # by name: assumptions vary
    return tuple(out)


def evaluate_sizes(value: Any, bindings: dict[str, int]) -> Any:
    """An attribute (a size, a tuple of them, anything else) with its symbolic sizes given values."""
    if isinstance(value, tuple):
        return tuple(evaluate_sizes(v, bindings) for v in value)
    if isinstance(value, sympy.Basic):
        return int(value.subs({s: bindings[str(s)] for s in value.free_symbols}))
    return value


@dataclass(frozen=True)
class TensorType:
    shape: Shape
    dtype: DType

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", normalize_shape(self.shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> Dim:
        return numel(self.shape)

    @cached_property
    def is_symbolic(self) -> bool:
        """Cached: a compiled call asks it of every input (cached_property writes the instance
        dict directly, so it works on a frozen dataclass and stays out of its fields)."""
        return any(not isinstance(d, int) for d in self.shape)

    def same_as(self, other: TensorType) -> bool:
        return self.dtype == other.dtype and shapes_equal(self.shape, other.shape)

    def __str__(self) -> str:
        return f"{self.dtype.short}{format_shape(self.shape)}"
