"""Compile the benchmark's Triton programs for an H100/H200 (sm_90) on a machine without a GPU.

    TRITON_INTERPRET=0 python benchmarks/triton_compile.py [--only NAME] [--threads N] [--json FILE]

Every workload of ``graphc bench``, and a few programs reaching other dtypes and ops
(``CHECKS``), is compiled with the Triton backend; its launchers run without launching (``graphc.codegen.triton_compile.record``)
and each kernel they would launch is compiled for sm_90, autotuned matmuls once per
config. It prints, per program, the number of compiles, their seconds on one thread
and on ``--threads``, and the largest shared memory a kernel asks for (a GPU refuses
more than 227 KiB a block at launch, which compiling alone does not catch).

Triton's interpreter runs kernels without compiling them, so this finds what only the
compiler rejects; ``tests/test_triton_compile.py`` runs it on a few workloads.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from typing import Any

# sm_90's largest shared memory per block (227 KiB).
SHARED_LIMIT = 232448


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", help="workloads whose name contains this (repeatable)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="compile threads for the second timing")
    parser.add_argument("--serial", action="store_true", help="also time the compiles on one thread")
    parser.add_argument("--unfused", action="store_true", help="also compile the unfused programs")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        print("triton_compile.py: run with TRITON_INTERPRET=0 (the interpreter compiles nothing)", file=sys.stderr)
        return 2
    os.environ["TRITON_INTERPRET"] = "0"
    rows = compile_workloads(args.only, args.threads, args.serial, args.unfused)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 1 if any(row["failures"] or row["max_shared"] > SHARED_LIMIT for row in rows) else 0


def compile_workloads(only: list[str] | None, threads: int, serial: bool, unfused: bool) -> list[dict[str, Any]]:
    import graphc
    from graphc import benchmark

    rows = []
    graphc.set_backend("triton")
    steps = [(w.name, w.graphc_step) for w in benchmark.workloads(quick=True)] + list(CHECKS.items())
    for name, make_step in steps:
        if only and not any(part.lower() in name.lower() for part in only):
            continue
        for fusion in (True, False) if unfused else (True,):
            launches = _launches(make_step, fusion)
            rows.append(_compile(f"{name} ({'fused' if fusion else 'unfused'})", launches, threads, serial))
            print(_format(rows[-1]), flush=True)
    return rows


def _float64_linear_relu(fusion: bool) -> tuple[Any, Any]:
    """A float64 matmul with a bias and ReLU epilogue, forward and backward (tl.dot in float64)."""
    import numpy as np

    import graphc

    layer = graphc.nn.Linear(16, 8, dtype=graphc.float64)
    x = graphc.from_numpy(np.random.default_rng(0).standard_normal((32, 16)))

    def step() -> Any:
        loss = graphc.nn.functional.relu(layer(x)).sum()
        loss.backward()
        return loss.detach()

    compiled = graphc.compile(step, fusion=fusion)
    return compiled, compiled


def _embedding_conv_half(fusion: bool) -> tuple[Any, Any]:
    """Gathers and their scatter-add backward, a small convolution, max-pooling and float16 math."""
    import numpy as np

    import graphc

    embed = graphc.nn.Embedding(10, 8)
    conv = graphc.nn.Conv2d(1, 2, 3)
    tokens = graphc.from_numpy(np.array([[1, 2, 2, 9]]))
    images = graphc.from_numpy(np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32))

    def step() -> Any:
        pooled = graphc.nn.functional.max_pool2d(conv(images), 2)
        half = embed(tokens).half().softmax(-1).float()
        loss = pooled.sum() + half.sum()
        loss.backward()
        return loss.detach()

    compiled = graphc.compile(step, fusion=fusion)
    return compiled, compiled


def _long_rows(fusion: bool) -> tuple[Any, Any]:
    """Rows longer than a persistent block, few of them: wide looped blocks on 16 warps (``rt.reduction_blocks``)."""
    import numpy as np

    import graphc

    x = graphc.from_numpy(np.random.default_rng(0).standard_normal((4, 10000)).astype(np.float32))

    def step() -> Any:
        return x.softmax(-1), x.mean(), x.argmax(-1)

    compiled = graphc.compile(step, fusion=fusion)
    return compiled, compiled


def _recurrent_cell(fusion: bool) -> tuple[Any, Any]:
    """A small LSTM, forward and backward: products read as column slices, concats stored by parts."""
    import numpy as np

    import graphc

    lstm = graphc.nn.LSTM(4, 8, batch_first=True)
    x = graphc.from_numpy(np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32))

    def step() -> Any:
        loss = lstm(x)[0].sum()
        loss.backward()
        return loss.detach()

    compiled = graphc.compile(step, fusion=fusion)
    return compiled, compiled


def _conv_batch_norm(fusion: bool) -> tuple[Any, Any]:
    """Batch-norm over images (sums over batch, height and width) after a convolution, ReLU, max-pool's backward fold."""
    import numpy as np

    import graphc

    net = graphc.nn.Sequential(graphc.nn.Conv2d(1, 4, 3, padding=1), graphc.nn.BatchNorm2d(4), graphc.nn.ReLU(), graphc.nn.MaxPool2d(2))
    images = graphc.from_numpy(np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32))

    def step() -> Any:
        loss = (net(images) ** 2).sum()
        loss.backward()
        return loss.detach()

    compiled = graphc.compile(step, fusion=fusion)
    return compiled, compiled


def _rounding(fusion: bool) -> tuple[Any, Any]:
    """Rounding and integer division: the exact fmod's loops in float32, float64 and float16, and int32/int64 division."""
    import numpy as np

    import graphc

    rng = np.random.default_rng(0)
    x = graphc.from_numpy(rng.standard_normal((4, 8)))
    y = graphc.from_numpy(rng.standard_normal((4, 8)))
    i = graphc.from_numpy(rng.integers(-50, 50, (4, 8)))
    j = graphc.from_numpy(rng.integers(1, 5, (4, 8)).astype(np.int32))

    def step() -> Any:
        x32, y32 = x.float(), y.float()
        floats = (x32 // y32 + x32 % y32 + graphc.fmod(x32, y32)).round() + x32.floor() + x32.ceil() + x32.trunc()
        doubles = x // y + x % y + graphc.fmod(x, y) + graphc.div(x, y, rounding_mode="trunc") + x.round(decimals=2)
        halves = x.half() // y.half() + x.half() % y.half()
        integers = i // j + i % j + graphc.fmod(i, j) + j // j + j % j
        return floats, doubles, halves, integers

    compiled = graphc.compile(step, fusion=fusion)
    return compiled, compiled


# Programs beyond the benchmark's: the dtypes and ops its workloads do not reach.
CHECKS = {
    "recurrent cell: gate columns of one product, concats by parts": _recurrent_cell,
    "float64 linear+ReLU, backward": _float64_linear_relu,
    "embedding, conv, max-pool, float16 softmax, backward": _embedding_conv_half,
    "long rows: softmax, mean, argmax": _long_rows,
    "conv, batch-norm over images, ReLU, max-pool, backward": _conv_batch_norm,
    "rounding and integer division: float32, float64, float16, int32, int64": _rounding,
}


def _launches(make_step: Any, fusion: bool) -> list[Any]:
    """The launches of a compiled step's second call (the first creates optimizer state)."""
    from graphc.codegen import triton_compile
    from graphc.codegen import triton_support as rt

    launches: list[Any] = []

    def record(launch_all: Any, inputs: list[Any], *sizes: int) -> None:
        launches.extend(triton_compile.record(launch_all, inputs, *sizes))

    # Nothing can run without a GPU: a launch is recorded or skipped, and results hold no values.
    original = rt.compile_ahead, rt.launch

    def launch(kernel: Any, grid: Any, *args: Any, **meta: Any) -> None:
        if triton_compile.recording is not None:
            original[1](kernel, grid, *args, **meta)

    rt.compile_ahead, rt.launch = record, launch
    try:
        step, _ = make_step(fusion)
        step()
        launches.clear()
        step()
    finally:
        rt.compile_ahead, rt.launch = original
    return launches


def _compile(name: str, launches: list[Any], threads: int, serial: bool) -> dict[str, Any]:
    from graphc.codegen import triton_compile

    row: dict[str, Any] = {"program": name, "compiles": len(triton_compile.jobs(launches)), "threads": threads, "failures": []}
    timings = ([("seconds_serial", 1)] if serial else []) + [("seconds_threads", threads)]
    for key, workers in timings:
        _fresh_triton_cache()
        failures: list[str] = []
        started = time.perf_counter()
        results = _each(launches, workers, failures)
        row[key] = round(time.perf_counter() - started, 2)
        row["failures"] = failures
    row["max_shared"] = max((kernel.metadata.shared for _, _, kernel in results), default=0)
    row["largest_shared_kernel"] = max(results, key=lambda r: r[2].metadata.shared)[0].name if results else None
    return row


def _each(launches: list[Any], workers: int, failures: list[str]) -> list[Any]:
    """Compile every job, recording the ones that fail (with the kernel's name) instead of stopping."""
    from graphc.codegen import triton_compile

    try:
        return triton_compile.compile_for_target(launches, workers=workers)
    except Exception:
        pass
    results = []
    for job in triton_compile.jobs(launches):
        try:
            results.extend(triton_compile.compile_for_target([_launch_of(job)], workers=1))
        except Exception as error:
            last = traceback.format_exception_only(type(error), error)[-1].strip()
            failures.append(f"{job.name} {job.meta}: {last[:300]}")
    return results


def _launch_of(job: Any) -> Any:
    from graphc.codegen.triton_compile import Launch

    return Launch(job.fn, (1,), job.args, job.meta)


def _fresh_triton_cache() -> None:
    """A new, empty Triton cache, so each timing compiles everything."""
    import tempfile

    from triton import knobs

    knobs.cache.dir = tempfile.mkdtemp(prefix="graphc-triton-cache-")


def _format(row: dict[str, Any]) -> str:
    times = ", ".join(f"{key.split('_')[1]} {row[key]:.1f} s" for key in ("seconds_serial", "seconds_threads") if key in row)
    failures = f"; {len(row['failures'])} FAILED: " + " | ".join(row["failures"]) if row["failures"] else ""
    shared = f"max shared {row['max_shared'] / 1024:.0f} KiB ({row['largest_shared_kernel']})"
    return f"{row['program']}: {row['compiles']} compiles, {times} ({row['threads']} threads), {shared}{failures}"


if __name__ == "__main__":
    sys.exit(main())
