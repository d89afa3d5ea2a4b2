"""Errors graphc raises at the user's line, before anything runs."""

from __future__ import annotations


class GraphcError(RuntimeError):
    """A bad program: wrong shapes, dtypes or arguments, reported where the user wrote it."""


class NoDerivativeError(GraphcError):
    """A gradient reached an op torch has no derivative for (``nextafter``, ``heaviside``, ``//``):
    raised by its VJP rule, so only a backward that goes through the op fails, as in torch."""


class CheckError(GraphcError):
    """Check mode (``graphc.compile(..., check=True)``): graphc's value of a node differs from eager PyTorch's."""


class DivisionByZeroError(GraphcError, ZeroDivisionError):
    """An integer divided by zero (``//``, ``%``, ``fmod``, ``div`` with a rounding mode).

    torch raises a ``RuntimeError`` saying ZeroDivisionError; this is both, so code written
    for either catches it.
    """


class InvalidValueError(GraphcError, ValueError):
    """A value outside what a function takes (``binary_cross_entropy``'s input outside [0, 1]),
    found when the program runs: torch raises a ``RuntimeError``; this is also a ``ValueError``."""
