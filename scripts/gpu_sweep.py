"""Launch-time block sizes of graphc's memory-bound Triton kernels, swept on a GPU.

    PYTHONPATH=. python scripts/gpu_sweep.py [--repeats 20] [--device cpu]

The single kernels of ``graphc bench`` reached 66% (softmax, layer-norm) and 76% (bias+GELU+
residual) of the copy bandwidth on an H200 with block sizes chosen without a GPU, where
``torch.compile`` reached 72/71/84% (docs/benchmarks/cuda-2026-11-29-run2.md). Block sizes
and warps are chosen at launch from constants of ``graphc.codegen.triton_support``: this
times graphc's fused kernel of each workload under every setting of them, in turns in one
process (CUDA events), and prints each setting's ms and GB/s of the bytes the kernel must
move, best first, with the default marked and the copy bandwidth measured alongside.
The constants to commit are the best settings across the workloads of a kind.

``--device cpu`` runs it on the NumPy backend, to check the script without a GPU (there every
setting is alike: block sizes are the Triton backend's).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from graphc import benchmark
from graphc.codegen import triton_support as rt

# Each kind of kernel, the constants deciding its launch, and the values tried (defaults included).
SWEEPS: dict[str, dict[str, tuple[int, ...]]] = {
    "reduction": {"REDUCTION_ELEMENTS": (1024, 4096, 16384), "REDUCTION_WARPS": (4, 8, 16)},
    "pointwise": {"POINTWISE_BLOCK": (512, 1024, 2048, 4096), "POINTWISE_WARPS": (4, 8)},
}
WORKLOADS = [("softmax", "reduction"), ("layer-norm", "reduction"), ("cross-entropy", "reduction"), ("GELU", "pointwise")]


def settings(kind: str) -> list[dict[str, int]]:
    """Every combination of the values tried, the constants' current values among them."""
    names = list(SWEEPS[kind])
    values = [sorted({*SWEEPS[kind][name], getattr(rt, name)}) for name in names]
    return [dict(zip(names, combination)) for combination in itertools.product(*values)]


@contextlib.contextmanager
def launching_with(setting: dict[str, int]) -> Iterator[None]:
    previous = {name: getattr(rt, name) for name in setting}
    for name, value in setting.items():
        setattr(rt, name, value)
    try:
        yield
    finally:
        for name, value in previous.items():
            setattr(rt, name, value)


def under(step: benchmark.Step, setting: dict[str, int]) -> Callable[[], Any]:
    def run() -> Any:
        with launching_with(setting):
            return step()

    return run


def label(setting: dict[str, int]) -> str:
    return " ".join(f"{name}={value}" for name, value in setting.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    args = parser.parse_args()
    clock, sync = benchmark.device_timing(args.device)
    if args.device == "cuda":
        print(f"copy bandwidth {benchmark.copy_bandwidth():.0f} GB/s", flush=True)
    workloads = benchmark.workloads(device=args.device)
    for name, kind in WORKLOADS:
        workload = next(w for w in workloads if name.lower() in w.name.lower())
        step, _ = workload.graphc_step(True)
        candidates = {label(s): (under(step, s), sync) for s in settings(kind)}
        times = benchmark.interleaved(candidates, warmup=2, repeats=args.repeats, clock=clock)
        defaults = label({constant: getattr(rt, constant) for constant in SWEEPS[kind]})
        print(f"{workload.name} ({kind}):", flush=True)
        for setting, ms in sorted(times.items(), key=lambda item: item[1]):
            rate = workload.min_bytes / (ms / 1000) / 1e9
            print(f"  {setting:45s} {ms:8.3f} ms {rate:8.0f} GB/s{'  (default)' if setting == defaults else ''}", flush=True)


if __name__ == "__main__":
    main()
