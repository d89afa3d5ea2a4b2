"""Symbolic sizes handed to the traced function's own code, as torch's SymInt.

Inside a ``graphc.compile`` trace with a symbolic batch, ``x.size(0)``, ``x.shape`` and
``x.numel()`` read from the function's own code give a ``SymbolicSize`` (and a
``SymbolicShape`` of them and ints) instead of stopping the trace. Arithmetic with ints and
other symbolic sizes builds a size expression (``256*B``), which graphc's ops take as a size
(``view``, ``zeros``, ``expand``, ...) or, in tensor arithmetic, as a 0-d ``size`` value
(``loss / x.size(0)``): the program stays one for every batch size.

What needs the number itself cannot be traced: ``int()``, ``range()``, NumPy, formatting,
hashing, true division, and a comparison or ``bool()`` whose answer depends on the batch size.
Those raise ``tracing.SizeRead`` and ``graphc.compile`` traces again with static sizes, as
before, so nothing is silently specialized. A comparison true or false for every batch size
the program serves (``x.size(0) == y.size(0)`` of one batch, ``x.size(0) > 0``) is answered.
"""

from __future__ import annotations

import sys
from typing import Any, SupportsIndex

import numpy as np
import sympy

from graphc.errors import GraphcError
from graphc.frontend import tracing
from graphc.ir.types import Dim, format_dim, normalize_dim

# The smallest value a symbol takes in a program: sizes 0 and 1 of the batch specialize
# (graphc.compile gives B only to sizes > 1); other symbols are positive.
_LOWEST = {"B": 2}


class SymbolicSize:
    """A size that varies between calls of one compiled program; ``expr`` is its sympy expression.

    ``origin`` says where the function read it (``Tensor.size() at model.py:12``), for the
    recompilation reason when the number itself is needed later.
    """

    __slots__ = ("expr", "origin")

    def __init__(self, expr: sympy.Expr, origin: str) -> None:
        self.expr = expr
        self.origin = origin

    # ------------------------------------------------------------ arithmetic: new size expressions

    def __add__(self, other: Any) -> Any:
        return self._combine(other, lambda a, b: a + b)

    def __radd__(self, other: Any) -> Any:
        return self._combine(other, lambda a, b: b + a)

    def __sub__(self, other: Any) -> Any:
        return self._combine(other, lambda a, b: a - b)

    def __rsub__(self, other: Any) -> Any:
        return self._combine(other, lambda a, b: b - a)

    def __mul__(self, other: Any) -> Any:
        return self._combine(other, lambda a, b: a * b)

    def __rmul__(self, other: Any) -> Any:
        return self._combine(other, lambda a, b: b * a)

    def __floordiv__(self, other: Any) -> Any:
        return self._combine(other, lambda a, b: _exact_quotient(self, a, b, "//"))

    def __rfloordiv__(self, other: Any) -> Any:
        return self._combine(other, lambda a, b: _exact_quotient(self, b, a, "//"))

    def __mod__(self, other: Any) -> Any:
        return self._combine(other, lambda a, b: a - b * _exact_quotient(self, a, b, "%"))

    def __rmod__(self, other: Any) -> Any:
        return self._combine(other, lambda a, b: b - a * _exact_quotient(self, b, a, "%"))

    def __pow__(self, other: Any) -> Any:
        if isinstance(other, (int, np.integer)) and not isinstance(other, bool) and other >= 0:
            return _sized(self.expr ** int(other), self.origin)
        return self._specialize(f"** {other!r}" if isinstance(other, (int, float)) else "**")

    def __neg__(self) -> Any:
        return _sized(-self.expr, self.origin)

    def __pos__(self) -> SymbolicSize:
        return self

    def __abs__(self) -> Any:
        return self if decide(self.expr, 0, "ge") else self._specialize("abs()")

    def _combine(self, other: Any, fn: Any) -> Any:
        """``fn`` of the two sizes' expressions; a Tensor operand is left to its own operator, a float needs the number."""
        if isinstance(other, SymbolicSize):
            value = other.expr
        elif isinstance(other, (int, np.integer)):
            value = int(other)
        elif isinstance(other, (float, np.floating)):
            return self._specialize("arithmetic with a float")
        else:
            return NotImplemented
        return _sized(fn(self.expr, value), self.origin)

    # ------------------------------------------------------------ comparisons: answered only where the batch size cannot change them

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        return self._compare(other, "eq", "==")

    def __ne__(self, other: object) -> bool:  # type: ignore[override]
        equal = self._compare(other, "eq", "!=")
        return equal if equal is NotImplemented else not equal

    def __lt__(self, other: Any) -> bool:
        return self._compare(other, "lt", "<")

    def __le__(self, other: Any) -> bool:
        return self._compare(other, "le", "<=")

    def __gt__(self, other: Any) -> bool:
        return self._compare(other, "gt", ">")

    def __ge__(self, other: Any) -> bool:
        return self._compare(other, "ge", ">=")

    def __bool__(self) -> bool:
        nonzero = decide(self.expr, 0, "eq")
        return self._specialize("bool()") if nonzero is None else not nonzero

    def _compare(self, other: Any, relation: str, what: str) -> bool:
        if isinstance(other, SymbolicSize):
            value: Any = other.expr
        elif isinstance(other, (int, float, np.integer, np.floating, sympy.Expr)):  # an Expr: a dim of graphc's own
            value = other
        else:
            return NotImplemented  # a Tensor compares elementwise (its reflected operator); None and strings are unequal
        answer = decide(self.expr, value, relation)
        return self._specialize(f"{what} {format_dim(value) if isinstance(value, sympy.Expr) else value!r}") if answer is None else answer

    # ------------------------------------------------------------ the number itself: specialize

    def __int__(self) -> int:
        return self._specialize("int()")

    def __index__(self) -> int:
        return self._specialize("an index or range()")

    def __float__(self) -> float:
        return self._specialize("float()")

    def __complex__(self) -> complex:
        return self._specialize("complex()")

    def __truediv__(self, other: Any) -> Any:
        return self._specialize("true division (/)") if _is_number(other) else NotImplemented

    def __rtruediv__(self, other: Any) -> Any:
        return self._specialize("true division (/)") if _is_number(other) else NotImplemented

    def __round__(self, ndigits: int | None = None) -> int:
        return self._specialize("round()")

    def __hash__(self) -> int:
        return self._specialize("hash() (a dict key, a set)")

    def __format__(self, spec: str) -> str:
        return self._specialize("formatting")

    def __str__(self) -> str:
        return self._specialize("str()")

    def __repr__(self) -> str:
        return self._specialize("repr()")

    def _specialize(self, what: str) -> Any:
        """The number is needed: stop the trace, so graphc.compile traces again with static sizes."""
        message = f"the function reads the symbolic size {format_dim(self.expr)} through {self.origin} and uses it as a number ({what})"
        where = _user_line()
        if where is not None:
            message += f" at {where}"
        if tracing.active() is None:
            raise GraphcError(f"{message}, outside the compiled function that read it: return sizes as numbers from a trace with static sizes")
        raise tracing.SizeRead(message)


class SymbolicShape(tuple):
    """``x.shape``/``x.size()`` with a symbolic dim: a tuple of ints and ``SymbolicSize``, as ``torch.Size``."""

    __slots__ = ()

    def __getitem__(self, key: SupportsIndex | slice) -> Any:  # type: ignore[override]
        item = tuple.__getitem__(self, key)
        return SymbolicShape(item) if isinstance(key, slice) else item

    def __add__(self, other: Any) -> SymbolicShape:  # type: ignore[override]
        return SymbolicShape(tuple(self) + tuple(other))

    def __radd__(self, other: Any) -> SymbolicShape:
        return SymbolicShape(tuple(other) + tuple(self))

    def numel(self) -> Any:
        total: Any = 1
        for d in self:
            total = d * total
        return total


def read(value: Any, origin: str) -> Any:
    """A shape or a size read by the traced function's own code (``origin``: how and where), its symbolic dims as ``SymbolicSize``."""
    if isinstance(value, tuple):
        return SymbolicShape(_sized(d, origin) for d in value)
    return _sized(value, origin)


def dims(value: Any) -> Any:
    """``value`` with every ``SymbolicSize`` in it (alone, or in a tuple or list) as the ``Dim`` graphc's ops take."""
    if isinstance(value, SymbolicSize):
        return normalize_dim(value.expr)
    if isinstance(value, (tuple, list)) and any(isinstance(d, (SymbolicSize, tuple, list)) for d in value):
        return type(value)(dims(d) for d in value) if type(value) in (tuple, list) else tuple(dims(d) for d in value)
    return value


def _sized(expr: Any, origin: str) -> Any:
    """An int where the expression is a number, else a ``SymbolicSize``."""
    dim: Dim = normalize_dim(sympy.expand(expr)) if isinstance(expr, sympy.Basic) else expr
    return dim if isinstance(dim, int) else SymbolicSize(dim, origin)


def _user_line() -> str | None:
    """The innermost ``file:line`` of the user's code: not graphc's, nor sympy's or NumPy's, which graphc calls with the size."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_globals.get("__name__", "").split(".")[0] not in ("graphc", "sympy", "numpy"):
            return f"{frame.f_code.co_filename}:{frame.f_lineno}"
        frame = frame.f_back
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, SymbolicSize, np.integer, np.floating))


def _exact_quotient(size: SymbolicSize, a: Any, b: Any, op: str) -> Any:
    """``a // b`` where ``b`` divides ``a`` for every batch size (``(256*B) // 256``); otherwise the value
    depends on the number, and the size specializes (torch keeps a FloorDiv, graphc's sizes are polynomials)."""
    quotient = sympy.cancel(sympy.sympify(a) / sympy.sympify(b))
    symbols = sorted(quotient.free_symbols, key=str)
    try:
        exact = sympy.Poly(quotient, *symbols) if symbols else None
    except sympy.PolynomialError:
        exact = None
    if symbols and exact is not None and all(c.is_integer for c in exact.coeffs()) or not symbols and quotient.is_integer:
        return quotient
    return size._specialize(op)


def decide(a: Any, b: Any, relation: str) -> bool | None:
    """``a <relation> b`` when it holds, or fails, for every value the symbols take; None when it depends on them."""
    diff = sympy.expand(sympy.sympify(a) - sympy.sympify(b))
    lowest = {s: _lowest(s) for s in diff.free_symbols}
    if any(low is None for low in lowest.values()):
        return None
    shifted = {s: sympy.Symbol(f"_{s}", integer=True, nonnegative=True) + low for s, low in lowest.items()}
    diff = sympy.expand(diff.subs(shifted))
    facts = {"eq": (diff.is_zero, diff.is_nonzero), "lt": (diff.is_negative, diff.is_nonnegative), "le": (diff.is_nonpositive, diff.is_positive)}
    facts["gt"], facts["ge"] = facts["le"][::-1], facts["lt"][::-1]
    holds, fails = facts[relation]
    return True if holds else False if fails else None


def _lowest(symbol: sympy.Symbol) -> Any:
    if str(symbol) in _LOWEST:
        return _LOWEST[str(symbol)]
    return 1 if symbol.is_positive and symbol.is_integer else None
