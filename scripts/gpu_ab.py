"""A/B of choices made without a GPU, timed side by side in one process (CUDA events, interleaved).

    PYTHONPATH=. python scripts/gpu_ab.py [--repeats 30] [--device cpu]

Each pair is one workload of ``graphc bench`` built twice, with a choice on and off:

- ``LSTM columns``: fusion computes values read as column slices at those columns, so each
  forward step of the LSTM is one kernel (``Fuser._by_columns``; 97 -> 70 kernels). Predicted
  to save about 27 launches of ~54 us on an H200; off, the step is what the NumPy backend runs.
- ``cross-entropy few rows``: a reduction of at most ``rt.FEW_ROWS`` long rows loops in blocks
  of ``FEW_ROWS_RBLOCK`` on 16 warps; off (``FEW_ROWS = 0``), in blocks of 1024 on 4 warps,
  which made the mean over 65536 losses 64 dependent rounds on one multiprocessor.

``--device cpu`` runs the same pairs on the NumPy backend, to check the script without a GPU
(there the first pair is alike: the NumPy backend never uses column slices).
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from graphc import benchmark
from graphc.codegen import triton_support as rt
from graphc.passes import fusion


@contextlib.contextmanager
def without_columns() -> Iterator[None]:
    original = fusion.Fuser._by_columns
    fusion.Fuser._by_columns = lambda self, node, group, chains: False
    try:
        yield
    finally:
        fusion.Fuser._by_columns = original


@contextlib.contextmanager
def without_few_rows() -> Iterator[None]:
    original = rt.FEW_ROWS
    rt.FEW_ROWS = 0
    try:
        yield
    finally:
        rt.FEW_ROWS = original


def built(workload: benchmark.Workload, switch: Callable[[], contextlib.AbstractContextManager] | None, at_run: bool) -> benchmark.Step:
    """The fused graphc step, built (and compiled: training steps compile on their second call) under ``switch``.

    ``at_run``: the choice is made at every launch (block sizes), so every step runs under it.
    """
    with switch() if switch else contextlib.nullcontext():
        step, _ = workload.graphc_step(True)
        step()
        step()

    def run() -> Any:
        with switch() if switch and at_run else contextlib.nullcontext():
            return step()

    return run


PAIRS = [("LSTM columns", "LSTM", without_columns, False), ("cross-entropy few rows", "cross-entropy", without_few_rows, True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    args = parser.parse_args()
    clock, sync = benchmark.device_timing(args.device)
    workloads = benchmark.workloads(device=args.device)
    for label, name, switch, at_run in PAIRS:
        workload = next(w for w in workloads if name.lower() in w.name.lower())
        steps = {"on": (built(workload, None, at_run), sync), "off": (built(workload, switch, at_run), sync)}
        times = benchmark.interleaved(steps, warmup=3, repeats=args.repeats, clock=clock)
        print(f"{label} ({workload.name}): on {times['on']:.3f} ms, off {times['off']:.3f} ms, on/off {times['on'] / times['off']:.2f}", flush=True)


if __name__ == "__main__":
    main()
