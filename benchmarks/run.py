"""Run the fused-vs-unfused benchmark and write the table (markdown + JSON) under docs/benchmarks/.

    python benchmarks/run.py                # full sizes, CPU (NumPy backend)
    python benchmarks/run.py --quick        # small sizes, for a smoke run
    python benchmarks/run.py --only softmax # one workload, nothing written

The same as ``graphc bench``.
"""

import sys
from pathlib import Path

# The checkout's graphc, not whichever one pip installed last (an editable install of another
# clone made a session's comparison measure the same code twice).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphc import benchmark  # noqa: E402

if __name__ == "__main__":
    sys.exit(benchmark.main())
