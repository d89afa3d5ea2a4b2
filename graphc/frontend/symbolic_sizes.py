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
        return self._combine(other, lambda a, b: _floor_quotient(self, a, b, "//"))

    def __rfloordiv__(self, other: Any) -> Any:
        return self._combine(other, lambda a, b: _floor_quotient(self, b, a, "//"))

    def __mod__(self, other: Any) -> Any:
        return self._combine(other, lambda a, b: _remainder(self, a, b))

    def __rmod__(self, other: Any) -> Any:
        return self._combine(other, lambda a, b: _remainder(self, b, a))

    def __divmod__(self, other: Any) -> Any:
        return (self // other, self % other) if _is_number(other) else NotImplemented

    def __rdivmod__(self, other: Any) -> Any:
        return (other // self, other % self) if _is_number(other) else NotImplemented

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
        return self._specialize(f"{what} {format_dim(value) if isinstance(value, sympy.Expr) else repr(value)}") if answer is None else answer

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

    # The text of a size is its number in this call (torch.compile breaks the graph and prints it): see docs/decisions.md.
    def __format__(self, spec: str) -> str:
        return self._specialize("formatting: an f-string or format() shows the number")

    def __str__(self) -> str:
        return self._specialize("str(): print() or a string shows the number")

    def __repr__(self) -> str:
        return self._specialize("repr(): print() of a shape shows the number")

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


def _floor_quotient(size: SymbolicSize, a: Any, b: Any, op: str) -> Any:
    """``a // b`` as Python's floor division, as a size expression (``floor(B/3)``), or the size specializes.

    The generated code computes it with integer division, which truncates toward zero in C:
    the numerator is kept non-negative (``-B // 8`` is ``-floor((B + 7)/8)``) and the divisor
    positive, for every batch size, or the number is needed (a sign that depends on the size).
    """
    a, b = sympy.sympify(a), sympy.sympify(b)
    if b == 0:
        raise ZeroDivisionError("integer division or modulo by zero")
    if decide(b, 0, "gt") is not True:
        return size._specialize(f"{op} by {format_dim(normalize_dim(b))}, not positive for every batch size")
    if decide(a, 0, "ge"):
        quotient = sympy.floor(a / b)
    elif decide(a, 0, "le"):
        quotient = -sympy.floor((b - 1 - a) / b)
    else:
        return size._specialize(f"{op} of {format_dim(normalize_dim(a))}, whose sign depends on the batch size")
    return quotient if _computable(quotient) else size._specialize(f"{op}: integer division cannot compute {format_dim(normalize_dim(quotient))}")


def _remainder(size: SymbolicSize, a: Any, b: Any) -> Any:
    """``a % b`` as Python's (the sign of ``b``): ``Mod(B, 3)`` (sympy writes ``-B % 8`` as ``Mod(7*B, 8)``), else ``a - b * (a // b)``."""
    quotient = _floor_quotient(size, a, b, "%")
    remainder = sympy.Mod(a, b)
    return remainder if _computable(remainder) else a - b * quotient


def _computable(expr: sympy.Expr) -> bool:
    """Whether every floor and Mod in ``expr`` divides a non-negative numerator by a positive divisor, which integer division computes exactly."""
    return all(
        decide(numerator, 0, "ge") is True and decide(divisor, 0, "gt") is True
        for numerator, divisor in map(_division, sympy.expand(expr).atoms(sympy.floor, sympy.ceiling, sympy.Mod))
    )


def decide(a: Any, b: Any, relation: str) -> bool | None:
    """``a <relation> b`` when it holds, or fails, for every value the symbols take; None when it depends on them."""
    cases = _without_remainders(sympy.expand(sympy.sympify(a) - sympy.sympify(b)), _CASES)
    answers = {None} if cases is None else {_decide_polynomial(diff, relation) for diff in cases}
    return answers.pop() if len(answers) == 1 else None


# At most this many cases of remainders (floor(B/8) has up to 16) before a comparison of sizes gives up (needs the number).
_CASES = 256


def _without_remainders(diff: sympy.Expr, budget: int) -> list[sympy.Expr] | None:
    """``diff`` without floors and Mods: cases for each remainder ``r`` < ``q`` of an innermost
    ``floor(n/q)`` or ``Mod(n, q)`` (``q`` a positive int), which become ``k`` and ``r``; None past ``budget`` cases.

    Where ``n`` is ``c*B + d`` (``c`` > 0), ``B`` is written as ``(q*k + r - d)/c``: ``k`` is the quotient
    at the lowest ``B``, for each ``r`` that gives a whole ``B`` from the lowest up there, or a new
    integer above it. Otherwise the floor is ``(n - r)/q`` with ``B`` as it was. Either way the cases
    cover every batch size (and more), so what holds, or fails, in all of them holds, or fails, for every batch size.
    """
    for part in sympy.preorder_traversal(diff):
        if not isinstance(part, (sympy.floor, sympy.ceiling, sympy.Mod)) or part.args[0].atoms(sympy.floor, sympy.ceiling, sympy.Mod):
            continue
        numerator, divisor = _division(part)
        if not (divisor.is_Integer and 0 < 2 * divisor <= budget):
            return None
        same = {p for p in diff.atoms(sympy.floor, sympy.ceiling, sympy.Mod) if _division(p) == (numerator, divisor)}
        line = _line(numerator)
        cases: list[sympy.Expr] = []
        for r in range(int(divisor)):
            if line is None:
                options = [((numerator - r) / divisor, {})]
            else:
                symbol, slope, offset = line
                lowest = _lowest(symbol)
                low = sympy.floor(numerator.subs(symbol, lowest) / divisor)
                at = (divisor * low + r - offset) / slope
                above = sympy.Dummy("k", integer=True, nonnegative=True) + low + 1
                options = [(above, {symbol: (divisor * above + r - offset) / slope})]
                options += [(low, {symbol: at})] if at.is_integer and at >= lowest else []
            for quotient, solved in options:
                case = diff.xreplace({p: sympy.Integer(r) if isinstance(p, sympy.Mod) else quotient for p in same}).subs(solved)
                done = _without_remainders(sympy.expand(case), budget // (2 * int(divisor)))
                if done is None:
                    return None
                cases += done
        return cases
    return [diff]


def _line(numerator: sympy.Expr) -> tuple[sympy.Symbol, sympy.Expr, sympy.Expr] | None:
    """(B, c, d) of a numerator ``c*B + d`` with ``c`` > 0 and a lowest ``B``, else None."""
    if len(numerator.free_symbols) != 1:
        return None
    (symbol,) = numerator.free_symbols
    slope, offset = numerator.as_independent(symbol, as_Add=True)[::-1]
    slope = sympy.expand(slope / symbol)
    return (symbol, slope, offset) if slope.is_number and slope > 0 and _lowest(symbol) is not None else None


def _division(part: sympy.Expr) -> tuple[sympy.Expr, sympy.Expr]:
    """(n, q) of ``floor(n/q)``, ``Mod(n, q)`` and ``ceiling(m/q)`` (``floor((m + q - 1)/q)``)."""
    if isinstance(part, sympy.Mod):
        return part.args[0], part.args[1]
    numerator, divisor = sympy.fraction(sympy.together(part.args[0]))
    return sympy.expand(numerator + divisor - 1 if isinstance(part, sympy.ceiling) else numerator), divisor


def _decide_polynomial(diff: sympy.Expr, relation: str) -> bool | None:
    lowest = {s: _lowest(s) for s in diff.free_symbols}
    if any(low is None for low in lowest.values()):
        return None
    shifted = {s: sympy.Dummy(f"_{s}", integer=True, nonnegative=True) + low for s, low in lowest.items()}  # Dummy: two k's stay apart
    diff = sympy.expand(diff.subs(shifted))
    facts = {"eq": (diff.is_zero, diff.is_nonzero), "lt": (diff.is_negative, diff.is_nonnegative), "le": (diff.is_nonpositive, diff.is_positive)}
    facts["gt"], facts["ge"] = facts["le"][::-1], facts["lt"][::-1]
    holds, fails = facts[relation]
    return True if holds else False if fails else None


def _lowest(symbol: sympy.Symbol) -> Any:
    if str(symbol) in _LOWEST:
        return _LOWEST[str(symbol)]
    if symbol.is_integer and symbol.is_nonnegative:
        return 1 if symbol.is_positive else 0
    return None
