"""The user's lines a program's runtime errors name, given per call rather than fixed at compile time.

A program's error messages (an index out of range, a failed value check, an integer division
by zero) are built when it is compiled, from its nodes' ``loc``: the lines of the graph it was
compiled for. Eager code reuses one program for every graph of the same structure (the lazy
runtime's cache), so a later call built at other lines would be reported at the first call's
lines. Each call therefore passes its own graph's lines (``locations``), in the order the
program recorded its own, and the program's error boundary (``CompiledProgram.__call__``, and
an error a GPU flags and the host reads later) puts this call's lines in the message.

The lines themselves stay out of the cache key, which would end reuse across call sites; what
goes in (``location_pattern``) is which nodes share a line, so that each recorded line stands
for the same nodes in every graph the program serves and maps to exactly one line of the call.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from typing import Any

from graphc.ir.graph import Graph

Renames = dict[str, str]

_AT = re.compile(r"^(  at )(.+)$", re.MULTILINE)


class _Current(threading.local):
    """Per thread: the lines of the program call under way (the class attribute: none)."""

    lines: Renames = {}  # never changed in place: calling() rebinds it


_current = _Current()


def location_table(graph: Graph) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The graph's distinct node locations in order of first use, and for each node the index of
    its location there (-1 for none): the lines a call supplies, and the pattern the cache keys on."""
    index: dict[str, int] = {}
    pattern = []
    for node in graph.nodes:
        pattern.append(-1 if node.loc is None else index.setdefault(node.loc, len(index)))
    return tuple(index), tuple(pattern)


def renames(compiled: tuple[str, ...], call: tuple[str, ...] | None) -> Renames:
    """Each line of the compiled graph that this call's graph has elsewhere, with its line there."""
    if call is None:
        return {}
    return {old: new for old, new in zip(compiled, call) if old != new}


def relocate(error: BaseException, lines: Renames) -> None:
    """Name this call's lines in ``error``'s message (its ``  at file:line`` lines), in place."""
    if not lines or not error.args or not isinstance(error.args[0], str):
        return
    message = _AT.sub(lambda m: m.group(1) + lines.get(m.group(2), m.group(2)), error.args[0])
    error.args = (message, *error.args[1:])


class calling:  # noqa: N801 - used as a function, in a with statement
    """Inside: a program call whose messages get ``lines``; an error it raises is relocated.

    A class rather than a generator under ``contextmanager``: it is entered on every call of a
    compiled program, and the generator's machinery cost about 3 us of a 2-row softmax's call.
    """

    __slots__ = ("lines", "previous")

    def __init__(self, lines: Renames) -> None:
        self.lines = lines
        self.previous: Renames = {}

    def __enter__(self) -> None:
        self.previous = _current.lines
        _current.lines = self.lines

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: Any) -> None:
        _current.lines = self.previous
        if isinstance(error, Exception):
            relocate(error, self.lines)


def deferred(check: Callable[[], Any]) -> Callable[[], Any]:
    """``check`` (an error a GPU flagged, raised when the host reads a value) relocated as the call that ran it."""
    lines = _current.lines
    return functools.partial(_run_relocated, check, lines) if lines else check


def _run_relocated(check: Callable[[], Any], lines: Renames) -> Any:
    try:
        return check()
    except Exception as error:
        relocate(error, lines)
        raise
