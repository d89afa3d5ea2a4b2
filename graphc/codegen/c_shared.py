"""One C function for every kernel with the same loops: a program's repeated kernels compile once.

An unrolled loop (the LSTM's 28 time steps, a stack of equal layers) gives kernels whose C
differs only in names: variables named after IR node numbers (``in95``, ``v97``, ``acc12``),
the kernel's own name, and comments quoting its IR lines. GCC at -O3 takes most of a cold
compile, in proportion to the C it reads, so the module gets one function per distinct body
and the method table points every other kernel's name at the function it shares.

Two functions share when they are the same text once comments are dropped, the kernel's name is
replaced, and node numbers are renumbered by first appearance: a consistent renaming, so the
two compute the same thing from the same arguments. String literals are compared as written
(a check's message naming a node or a user's line keeps its kernel apart). The same canonical
text names the function's compiled object across programs (``content_key``, ``native``): its
symbol is ``graphc_fn_<key>``, and its argument errors quote the kernel called (each kernel's
method has its name as ``self``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

# Identifiers that c_loops names after an IR node: buffers (in/out), values (v, with _k for a
# repeated load), accumulators (acc, acc_nan, acc_at, ...), rows and parts of a row split, and a
# gather's or scatter's checked index (at).
_NODE_NAMED = re.compile(r"\b(in|out|v|acc|row|part|at)(\d+)(?=\b|_)")
_LITERAL_OR_COMMENT = re.compile(r'"(?:\\.|[^"\\\n])*"|/\*.*?\*/', re.S)


def _rewrite(name: str, source: str, code: Callable[[str], str], new: str | None) -> str:
    """``source`` with ``code`` applied outside comments and string literals, the literal ``"name"`` as
    ``"new"``, and comments kept (``new`` given) or dropped (None)."""
    pieces, last = [], 0
    for match in _LITERAL_OR_COMMENT.finditer(source):
        pieces.append(code(source[last : match.start()]))
        text = match.group(0)
        if text.startswith('"'):
            pieces.append(text.replace(f'"{name}"', f'"{new or "KERNEL"}"'))
        elif new is not None:
            pieces.append(text)
        last = match.end()
    pieces.append(code(source[last:]))
    return "".join(pieces)


def canonical(name: str, source: str) -> str:
    """``source`` with its comments dropped, ``name`` as KERNEL and node numbers renumbered by first appearance."""
    numbers: dict[str, str] = {}

    def renumber(code: str) -> str:
        code = re.sub(rf"\b{re.escape(name)}", "KERNEL", code)
        return _NODE_NAMED.sub(lambda m: m.group(1) + numbers.setdefault(m.group(2), str(len(numbers))), code)

    return _rewrite(name, source, renumber, None)


def content_key(name: str, source: str) -> str:
    """The hash naming a function's compiled object (``native``): equal for kernels that share."""
    return hashlib.sha256(canonical(name, source).encode()).hexdigest()[:16]


def renamed(name: str, new: str, source: str) -> str:
    """``source`` defining ``new`` instead of ``name`` (its helpers and its error messages too); comments kept."""
    return _rewrite(name, source, lambda code: re.sub(rf"\b{re.escape(name)}", new, code), new)


def share_bodies(functions: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The functions to compile, one per distinct body, and each other kernel's name -> the function serving it."""
    serving: dict[str, str] = {}
    aliases: dict[str, str] = {}
    distinct = []
    for name, source in functions:
        first = serving.setdefault(canonical(name, source), name)
        if first != name:
            aliases[name] = first
        else:
            distinct.append((name, source))
    return distinct, aliases
