"""Compiling a Triton program's kernels before its first launch: on threads, or for a GPU not present.

Triton compiles a kernel when it is first launched, one after the other: the transformer
block's fused training step is 43 compiles (an autotuned matmul compiles each of its
configs), 35 s on one core of the CPU machine. Compiles are independent and Triton's compiler releases the
GIL, so the first call of a program at new sizes runs its launchers once without
launching (``record``: every launch is recorded with its arguments), then compiles the
recorded kernels on threads (``compile_on_device``), then runs for real, when every
launch finds its kernel compiled.

``compile_for_target`` compiles recorded launches for a GPU that is not there (sm_90 by
default), with the same specialization a launch would get. Tests use it on machines
without a GPU: Triton's interpreter runs kernels without compiling them, so it cannot see
code that the compiler rejects, nor a kernel asking for more shared memory than the GPU has.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import triton
from triton.runtime.autotuner import Autotuner


@dataclass
class Launch:
    """One launch a program's launcher made: ``kernel[grid](*args, **meta)``."""

    kernel: Any  # a JITFunction, or an Autotuner wrapping one
    grid: Any
    args: tuple
    meta: dict[str, Any]


@dataclass
class Job:
    """One compile: a JITFunction at one launch's arguments and one set of meta-parameters."""

    fn: Any
    args: tuple
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        return self.fn.fn.__name__


# While a program's launchers run under ``record``, launches land here instead of on the device.
recording: list[Launch] | None = None


def record(launch_all: Callable[..., Any], inputs: list[Any], *sizes: int) -> list[Launch]:
    """Run a program's launchers without launching: the launches they would make, in order.

    Buffers are allocated and inputs moved to the device as in a real call, but no kernel
    runs, so the outputs hold no values.
    """
    global recording
    recording = []
    try:
        launch_all(inputs, *sizes)
        return recording
    finally:
        recording = None


def jobs(launches: list[Launch]) -> list[Job]:
    """The distinct compiles of these launches: one per autotuning config of an autotuned kernel."""
    found: dict[tuple, Job] = {}
    for launch in launches:
        if isinstance(launch.kernel, Autotuner):
            metas = [launch.meta | _config_meta(config) for config in launch.kernel.configs]
            fn = launch.kernel.fn
        else:
            metas = [launch.meta]
            fn = launch.kernel
        for meta in metas:
            key = (id(fn), tuple(sorted(meta.items())), tuple(_arg_key(a) for a in launch.args))
            found.setdefault(key, Job(fn, launch.args, meta))
    return list(found.values())


def compile_on_device(launches: list[Launch], workers: int | None = None) -> tuple[int, float]:
    """Compile these launches' kernels for the current GPU on threads (Triton's ``warmup``).

    A JITFunction creates its per-device cache on first use; two threads doing that at
    once for the same function could each make one and lose the other's kernel. So the
    first compile of every function runs in a first round, the rest in a second.
    Returns (compiles, seconds).
    """
    todo = jobs(launches)
    workers = workers or compile_threads()
    started = time.perf_counter()
    firsts: dict[int, Job] = {}
    for job in todo:
        firsts.setdefault(id(job.fn), job)
    rest = [job for job in todo if firsts[id(job.fn)] is not job]
    with ThreadPoolExecutor(workers, thread_name_prefix="graphc-compile") as pool:
        for round_jobs in (list(firsts.values()), rest):
            list(pool.map(_warmup, round_jobs))
    return len(todo), time.perf_counter() - started


def compile_for_target(launches: list[Launch], target: Any = None, workers: int | None = None) -> list[tuple[Job, float, Any]]:
    """Compile these launches' kernels for ``target`` (default: an sm_90 GPU) without one present.

    Each job gets the signature, constants and alignment attributes Triton's launcher would
    give it (its own binder, so this follows Triton's internals of the installed version).
    Returns (job, seconds, compiled kernel) per distinct compile.
    """
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, make_backend
    from triton.runtime.jit import create_function_from_signature

    target = target or GPUTarget("cuda", 90, 32)
    backend = make_backend(target)

    def one(job: Job) -> tuple[Job, float, Any]:
        binder = create_function_from_signature(job.fn.signature, job.fn.params, backend)
        bound, specialization, options = binder(*job.args, **job.meta)
        options, signature, constexprs, attrs = job.fn._pack_args(backend, job.meta, bound, specialization, options)
        started = time.perf_counter()
        kernel = triton.compile(ASTSource(job.fn, signature, constexprs, attrs), target=target, options=options.__dict__)
        return job, time.perf_counter() - started, kernel

    with ThreadPoolExecutor(workers or compile_threads(), thread_name_prefix="graphc-compile") as pool:
        return list(pool.map(one, jobs(launches)))


def compile_threads() -> int:
    """``GRAPHC_COMPILE_THREADS``, or one thread per core."""
    value = os.environ.get("GRAPHC_COMPILE_THREADS", "").strip()
    return max(1, int(value)) if value else os.cpu_count() or 1


def _warmup(job: Job) -> None:
    job.fn.warmup(*job.args, grid=(1,), **job.meta)


def _config_meta(config: triton.Config) -> dict[str, Any]:
    """A config's meta-parameters and launch options exactly as the autotuner passes them to a launch,
    since they are part of the key under which Triton finds the compiled kernel."""
    return config.all_kwargs()


def _arg_key(value: Any) -> Any:
    """What of an argument Triton specializes a compile on: a tensor's dtype and 16-byte alignment,
    an integer's width, whether it is 1 and whether it divides by 16 (not its value: an offset
    argument differs in every time step of an LSTM, and one compile serves them all)."""
    if hasattr(value, "data_ptr"):
        return (str(value.dtype), value.data_ptr() % 16 == 0)
    if isinstance(value, int) and not isinstance(value, bool):
        return ("int", -(2**31) <= value < 2**31, value == 1, value % 16 == 0)
    return value
