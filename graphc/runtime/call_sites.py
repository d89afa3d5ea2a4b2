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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from graphc.ir.graph import Graph

Renames = dict[str, str]

_AT = re.compile(r"^(  at )(.+)$", re.MULTILINE)
_current = threading.local()


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


@contextmanager
def calling(lines: Renames) -> Iterator[None]:
    """Inside: a program call whose messages get ``lines``; an error it raises is relocated."""
    previous = getattr(_current, "lines", {})
    _current.lines = lines
    try:
        yield
    except Exception as error:
        relocate(error, lines)
        raise
    finally:
        _current.lines = previous


def deferred(check: Callable[[], Any]) -> Callable[[], Any]:
    """``check`` (an error a GPU flagged, raised when the host reads a value) relocated as the call that ran it."""
    lines = getattr(_current, "lines", {})
    return functools.partial(_run_relocated, check, lines) if lines else check


def _run_relocated(check: Callable[[], Any], lines: Renames) -> Any:
    try:
        return check()
    except Exception as error:
        relocate(error, lines)
        raise
