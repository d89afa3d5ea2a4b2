"""Runs the named passes in order, timing each, verifying and dumping when asked."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from graphc.ir.graph import Graph
from graphc.ir.printer import format_graph
from graphc.ir.verifier import verify

Pass = Callable[[Graph], Graph]


@dataclass
class PassRecord:
    name: str
    seconds: float


@dataclass
class PassManager:
    passes: list[tuple[str, Pass]]
    verify_each: bool = field(default_factory=lambda: os.environ.get("GRAPHC_VERIFY", "") not in ("", "0"))
    dump_dir: str | None = None
    records: list[PassRecord] = field(default_factory=list)

    def run(self, graph: Graph) -> Graph:
        self._dump(0, "traced", graph)
        for index, (name, fn) in enumerate(self.passes, start=1):
            start = time.perf_counter()
            graph = fn(graph)
            self.records.append(PassRecord(name, time.perf_counter() - start))
            if self.verify_each:
                verify(graph)
            self._dump(index, name, graph)
        return graph

    def _dump(self, index: int, name: str, graph: Graph) -> None:
        if self.dump_dir is None:
            return
        os.makedirs(self.dump_dir, exist_ok=True)
        with open(os.path.join(self.dump_dir, f"{index:02d}_{name}.txt"), "w") as f:
            f.write(format_graph(graph, with_locations=True) + "\n")
