"""Run the fused-vs-unfused benchmark and write the table (markdown + JSON) under docs/benchmarks/.

    python benchmarks/run.py                # full sizes, CPU (NumPy backend)
    python benchmarks/run.py --quick        # small sizes, for a smoke run
    python benchmarks/run.py --only softmax # one workload
"""

from __future__ import annotations

import argparse
import datetime
import os

from graphc import benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--only", help="run the workloads whose name contains this")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "docs", "benchmarks"))
    args = parser.parse_args()
    results = benchmark.run(quick=args.quick, repeats=args.repeats, only=args.only)
    day = datetime.date.today().isoformat()
    title = f"CPU benchmark, {day}, {benchmark.machine()}"
    print(benchmark.markdown(results, title))
    if not args.only:
        os.makedirs(args.out, exist_ok=True)
        benchmark.save(results, os.path.join(args.out, f"cpu-{'quick-' if args.quick else ''}{day}"), title)


if __name__ == "__main__":
    main()
