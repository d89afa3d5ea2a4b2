"""Where a CUDA step's time goes: graphc's fused step of a benchmark workload under torch.profiler.

    PYTHONPATH=. python scripts/gpu_profile.py "Adam step" [--steps 5]

Prints the first call's seconds (tracing, graphc's passes and Triton's compiles), then a
table of the GPU kernels and the CPU calls (copies, synchronizations) of ``--steps``
profiled steps, the device time against the wall time of one step, and graphc's own
``cm.profile()`` of the step (each kernel launch timed between synchronizations). Written for the
Adam step over 100M parameters, which took 26x eager's time in the first GPU run while
its one kernel should be bound by memory (docs/benchmarks/cuda-2026-11-29.md).
"""

from __future__ import annotations

import argparse
import time

from torch.profiler import ProfilerActivity, profile

from graphc import benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", help="a substring of the workload's name, as for graphc bench --only")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu: the NumPy backend, CPU activity only")
    args = parser.parse_args()
    cuda = args.device == "cuda"
    sync = benchmark.device_timing(args.device)[1]
    workload = next(w for w in benchmark.workloads(device=args.device) if args.workload.lower() in w.name.lower())
    step, compiled = workload.graphc_step(True)
    started = time.perf_counter()
    sync(step())
    print(f"{workload.name}: first call {time.perf_counter() - started:.2f} s")
    for _ in range(3):
        sync(step())
    started = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
        for _ in range(args.steps):
            sync(step())
    wall = (time.perf_counter() - started) / args.steps
    events = prof.key_averages()
    print(events.table(sort_by="self_cuda_time_total", row_limit=12))
    print(events.table(sort_by="self_cpu_time_total", row_limit=12))
    device = sum(e.self_device_time_total for e in events) / args.steps / 1e3
    print(f"per step: {wall * 1e3:.3f} ms wall, {device:.3f} ms of device time")
    print(compiled.profile(*step.args, steps=args.steps))  # each graphc kernel between synchronizations


if __name__ == "__main__":
    main()
