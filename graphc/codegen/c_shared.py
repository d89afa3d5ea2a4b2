"""One C function for every kernel with the same loops: a program's repeated kernels compile once.

An unrolled loop (the LSTM's 28 time steps, a stack of equal layers) gives kernels whose C
differs only in names: variables named after IR node numbers (``in95``, ``v97``, ``acc12``),
the kernel's own name, and comments quoting its IR lines. GCC at -O3 takes most of a cold
compile, in proportion to the C it reads, so the module gets one function per distinct body
and the method table points every other kernel's name at the function it shares.

Two functions share when they are the same text once comments are dropped, the kernel's name is
replaced, and node numbers are renumbered by first appearance: a consistent renaming, so the
two compute the same thing from the same arguments. String literals are compared as written
(a check's message naming a node or a user's line keeps its kernel apart); the name passed to
``graphc_buffers``/``graphc_lengths`` for their argument errors is the serving kernel's.
"""

from __future__ import annotations

import re

# Identifiers that c_loops names after an IR node: buffers (in/out), values (v, with _k for a
# repeated load), accumulators (acc, acc_nan, acc_at, ...), rows and parts of a row split.
_NODE_NAMED = re.compile(r"\b(in|out|v|acc|row|part)(\d+)(?=\b|_)")
_LITERAL_OR_COMMENT = re.compile(r'"(?:\\.|[^"\\\n])*"|/\*.*?\*/', re.S)


def canonical(name: str, source: str) -> str:
    """``source`` with its comments dropped, ``name`` as KERNEL and node numbers renumbered by first appearance."""
    numbers: dict[str, str] = {}

    def renumber(code: str) -> str:
        code = re.sub(rf"\b{re.escape(name)}", "KERNEL", code)
        return _NODE_NAMED.sub(lambda m: m.group(1) + numbers.setdefault(m.group(2), str(len(numbers))), code)

    pieces, last = [], 0
    for match in _LITERAL_OR_COMMENT.finditer(source):
        pieces.append(renumber(source[last : match.start()]))
        text = match.group(0)
        if text.startswith('"'):
            pieces.append(text.replace(f'"{name}"', '"KERNEL"'))
        last = match.end()
    pieces.append(renumber(source[last:]))
    return "".join(pieces)


def share_bodies(functions: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The functions to compile, one per distinct body, and each other kernel's name -> the function serving it.

    A serving function's source starts with a comment naming the kernels it also serves (their
    IR lines are in the program's Python, beside each call).
    """
    serving: dict[str, str] = {}
    sharers: dict[str, list[str]] = {}
    aliases: dict[str, str] = {}
    for name, source in functions:
        first = serving.setdefault(canonical(name, source), name)
        if first != name:
            aliases[name] = first
        sharers.setdefault(first, []).append(name)
    distinct = []
    for name, source in functions:
        if name in aliases:
            continue
        others = sharers[name][1:]
        note = f"/* {name} also serves {', '.join(others)}: the same loops but for node numbers */\n" if others else ""
        distinct.append((name, note + source))
    return distinct, aliases
