"""Cold compile times of the benchmark training steps on the CPU backend, pass by pass.

Each workload compiles in a fresh subprocess with an empty kernel cache (``GRAPHC_CACHE_DIR`` in a
new temporary folder), so nothing a previous workload built is reused. The first call of a step
creates optimizer state eagerly, the second traces and compiles: its ``report().pass_times`` are
printed, with the time of both calls (``first calls``) and the CPU time they took in this
process and its compilers (``CPU``: less sensitive to other jobs on a shared machine, but it
counts parts compiled side by side once each), then the kernels, the C functions they call
(``C fns``), how many of those were compiled (``compiled``: one per distinct body, ``c_shared``) and
the bytes of C compiled. ``--kernels FILE`` writes every workload's kernel
list (fusion decisions), to compare two versions of the compiler: they must be identical when
only compile speed changed.

    python scripts/compile_times.py [--workloads LSTM,GPT] [--kernels kernels.json] [--warm]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, resource, sys, time
import graphc.benchmark as benchmark
from graphc.codegen import native
from graphc.codegen.c_shared import share_bodies

built = []
build = native.build


def recording(functions, vector_math=True):
    built.extend(functions)
    return build(functions, vector_math)


native.build = recording


def cpu():
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


name = sys.argv[1]
[workload] = [w for w in benchmark.workloads(quick=True) if w.name == name]
step, compiled = workload.graphc_step(True)
start, start_cpu = time.perf_counter(), cpu()
step()
step()
first, first_cpu = time.perf_counter() - start, cpu() - start_cpu
report = compiled.report()
numbers = {id(n): i for i, n in enumerate(report.graph.nodes)}
kernels = [[k.name, [f"{numbers.get(id(n))}:{n.op}" for n in k.nodes]] for k in report.kernels]
distinct = share_bodies(built)[0]
functions = {"functions": len(built), "distinct": len(distinct), "c_bytes": sum(len(source) for _, source in distinct)}
print(json.dumps({"times": report.pass_times, "first_call": first, "first_cpu": first_cpu, "kernels": kernels, **functions}))
"""


def measure(name: str, cache: str) -> dict:
    env = dict(os.environ, GRAPHC_CACHE_DIR=cache)
    done = subprocess.run([sys.executable, "-c", CHILD, name], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", default="", help="comma-separated name prefixes (default: every training step)")
    parser.add_argument("--kernels", help="write each workload's kernels here (JSON)")
    parser.add_argument("--warm", action="store_true", help="also compile each workload again with its cache filled")
    args = parser.parse_args()
    import graphc.benchmark as benchmark

    names = [w.name for w in benchmark.workloads(quick=True) if w.kind == "training step"]
    if args.workloads:
        names = [n for n in names if any(n.startswith(p) for p in args.workloads.split(","))]
    passes = ["simplify", "remat", "fusion", "memory", "codegen"]
    header = f" {'first calls':>11} {'(CPU)':>7} {'kernels':>7} {'C fns':>7} {'compiled':>8} {'C bytes':>8}"
    print(f"{'workload':45} " + " ".join(f"{p:>9}" for p in passes) + header)
    kernels = {}
    for name in names:
        with tempfile.TemporaryDirectory() as cache:
            runs = [("cold", measure(name, cache))]
            if args.warm:
                runs.append(("warm", measure(name, cache)))
        for label, result in runs:
            times = result["times"]
            cells = " ".join(f"{times[p]:9.2f}" if p in times else f"{'-':>9}" for p in passes)
            calls = f"{result['first_call']:11.2f} {result['first_cpu']:7.2f}"
            functions = f"{result['functions']:7} {result['distinct']:8} {result['c_bytes']:8}"
            print(f"{(name if label == 'cold' else '  (warm cache)')[:45]:45} {cells} {calls} {len(result['kernels']):7} {functions}")
        kernels[name] = runs[0][1]["kernels"]
    if args.kernels:
        with open(args.kernels, "w") as f:
            json.dump(kernels, f, indent=1)


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - start:.0f} s")
