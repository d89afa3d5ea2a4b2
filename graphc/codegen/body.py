"""The lines of a generated function, in nested loop scopes: what both code generators write into.

A value is emitted at the loop depth of what it depends on, so a line may go to an outer
scope than the one being written (a bias loaded once per row, not per element). Each scope
caches what was computed in it (``get``/``put``), which is how a node computed at an index
is reused instead of recomputed, and forgets it when it closes. The Triton emitter closes a
scope as an indented Python block, the C emitter as a braced one (``CBody``).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Scope:
    indent: int
    header: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    cache: dict = field(default_factory=dict)


class Body:
    """Python blocks: a header line ending in ``:``, its lines indented (``pass`` if none)."""

    def __init__(self) -> None:
        self.scopes = [Scope(indent=1)]
        self.taken: set[str] = set()

    @property
    def depth(self) -> int:
        return len(self.scopes) - 1

    def line(self, text: str, depth: int | None = None) -> None:
        scope = self.scopes[self.depth if depth is None else min(depth, self.depth)]
        scope.lines.append("    " * scope.indent + text)

    def open(self, *header: str) -> int:
        """A nested scope under ``header`` (its last line is the loop; earlier ones are pragmas); its depth."""
        parent = self.scopes[-1]
        self.scopes.append(Scope(indent=parent.indent + 1, header=["    " * parent.indent + h for h in header]))
        return self.depth

    def close(self) -> None:
        scope = self.scopes.pop()
        self.scopes[-1].lines.extend(self.rendered(scope))

    def rendered(self, scope: Scope) -> list[str]:
        return scope.header + (scope.lines or ["    " * scope.indent + "pass"])

    def get(self, key: object) -> object:
        for scope in reversed(self.scopes):
            if key in scope.cache:
                return scope.cache[key]
        return None

    def put(self, key: object, value: object, depth: int) -> None:
        self.scopes[min(depth, self.depth)].cache[key] = value

    def fresh(self, base: str) -> str:
        name, i = base, 0
        while name in self.taken:
            i += 1
            name = f"{base}_{i}"
        self.taken.add(name)
        return name

    def text(self) -> str:
        assert len(self.scopes) == 1
        return "\n".join(self.scopes[0].lines)


class CBody(Body):
    """C blocks: the header's last line opens a brace, closed after the scope's lines."""

    def rendered(self, scope: Scope) -> list[str]:
        closing = "    " * (scope.indent - 1) + "}"
        return scope.header[:-1] + [scope.header[-1] + " {"] + scope.lines + [closing]
