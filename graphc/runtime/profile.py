"""Where a compiled call's time goes: each kernel timed inside the running program.

``cm.profile(*args)`` calls the compiled function like any call (a training step trains)
with every kernel function of its generated module wrapped in a timer, and returns the
median time of each kernel beside the median of the whole call. Timing kernels inside the
real step matters: a kernel alone can run at another speed than right after its
neighbours (on the CPU, OpenBLAS's worker spins for about 100 ms after a product and
slows a threaded kernel that follows it; docs/numpy_backend.md).

On a GPU each kernel is timed from a synchronization before its launch to one after it,
so kernels no longer overlap their launches: the per-kernel times are right, the whole
call is slower than unprofiled.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from graphc.codegen.kernel_ir import Kernel
from graphc.errors import GraphcError


@dataclass
class KernelTiming:
    name: str
    kind: str
    seconds: list[float] = field(default_factory=list)
    # The program the kernel belongs to where a call runs several (a torch module's "forward" and
    # "backward", whose kernels' names repeat); "" for a compiled function's one program.
    program: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else 0.0

    @property
    def label(self) -> str:
        return f"{self.program}/{self.name}" if self.program else self.name


@dataclass
class TimedProgram:
    """A program whose kernels a profile times: its generated module, its kernels and its role."""

    module: ModuleType
    kernels: list[Kernel]
    role: str = ""


@dataclass
class Profile:
    backend: str
    kernels: list[KernelTiming]
    calls: list[float]  # seconds of each profiled call, from the caller's side

    @property
    def call_median(self) -> float:
        return statistics.median(self.calls)

    @property
    def kernel_total(self) -> float:
        """The sum of the kernels' medians: the call's time inside kernels."""
        return sum(k.median for k in self.kernels)

    def __str__(self) -> str:
        call = self.call_median
        width = max([len(k.label) for k in self.kernels] + [6])
        lines = [f"graphc profile ({self.backend} backend, median of {len(self.calls)} calls)"]
        lines.append(f"  {'kernel':<{width}}  {'kind':<10} {'ms':>9} {'share':>6}")
        for kernel in sorted(self.kernels, key=lambda k: -k.median):
            share = kernel.median / call if call else 0.0
            lines.append(f"  {kernel.label:<{width}}  {kernel.kind:<10} {kernel.median * 1e3:9.3f} {share:6.1%}")
        outside = max(call - self.kernel_total, 0.0)
        lines.append(
            f"  {len(self.kernels)} kernels {self.kernel_total * 1e3:.3f} ms of {call * 1e3:.3f} ms per call; "
            f"the other {outside * 1e3:.3f} ms is graphc's call around them (checking and binding the inputs, "
            f"the arena, writing back state), Python between kernels and the timers"
        )
        return "\n".join(lines)


def profile_calls(call: Callable[[], Any], module: ModuleType, kernels: list[Kernel], backend: str, steps: int, sync: Callable[[], None]) -> Profile:
    """Time ``steps`` calls of ``call`` with each kernel function of ``module`` wrapped in a timer."""
    return profile_programs(call, [TimedProgram(module, kernels)], backend, steps, sync)


def profile_programs(call: Callable[[], Any], programs: list[TimedProgram], backend: str, steps: int, sync: Callable[[], None]) -> Profile:
    """Time ``steps`` calls of ``call`` with each kernel function of each program's module wrapped in
    a timer: the kernels of every program a call runs (a torch module's forward and backward)."""
    if steps < 1:
        raise GraphcError(f"profile(): steps must be at least 1, got {steps}")
    timings = []
    originals: dict[tuple[int, str], tuple[ModuleType, Callable[..., Any]]] = {}
    for program in programs:
        for kernel in program.kernels:
            if (id(program.module), kernel.name) in originals:
                continue  # two programs of the same source share their module: wrapped once
            timing = KernelTiming(kernel.name, kernel.kind, program=program.role)
            function = getattr(program.module, kernel.name)
            originals[(id(program.module), kernel.name)] = (program.module, function)
            setattr(program.module, kernel.name, _timed(function, timing.seconds, sync))
            timings.append(timing)
    calls = []
    try:
        for _ in range(steps):
            sync()
            started = time.perf_counter()
            call()
            sync()
            calls.append(time.perf_counter() - started)
    finally:
        for (_, name), (module, function) in originals.items():
            setattr(module, name, function)
    if timings and not any(t.seconds for t in timings):
        raise GraphcError(
            "profile(): the calls ran none of the program's kernels; results that require grad outside "
            "the compiled function are computed lazily, later (call backward() inside the function, or "
            "profile under graphc.no_grad())"
        )
    return Profile(backend, timings, calls)


def _timed(function: Callable[..., Any], seconds: list[float], sync: Callable[[], None]) -> Callable[..., Any]:
    def timed(*args: Any) -> Any:
        sync()
        started = time.perf_counter()
        result = function(*args)
        sync()
        seconds.append(time.perf_counter() - started)
        return result

    return timed


def device_sync(backend: str, values: list[Any]) -> Callable[[], None]:
    """What waits for a call's kernels: CUDA's synchronize when a Triton program runs on a GPU."""
    if backend == "triton":
        import torch

        if any(getattr(v, "is_cuda", False) for v in values):
            return torch.cuda.synchronize
    return _nothing


def _nothing() -> None:
    return None
