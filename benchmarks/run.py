"""Run the fused-vs-unfused benchmark and write the table (markdown + JSON) under docs/benchmarks/.

    python benchmarks/run.py                # full sizes, CPU (NumPy backend)
    python benchmarks/run.py --quick        # small sizes, for a smoke run
    python benchmarks/run.py --only softmax # one workload, nothing written

The same as ``graphc bench``.
"""

import sys

from graphc import benchmark

if __name__ == "__main__":
    sys.exit(benchmark.main())
