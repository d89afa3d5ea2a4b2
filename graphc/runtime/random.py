"""The global random generator behind rand/randn/dropout, reset by ``graphc.manual_seed``.

graphc draws from NumPy's PCG64, so seeded runs are reproducible within graphc
but do not reproduce torch's random streams (tests copy weights instead).
"""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    global _generator
    _generator = np.random.default_rng(int(seed))
    return _generator


def generator() -> np.random.Generator:
    return _generator


def next_seed() -> int:
    """A fresh 63-bit key for one ``rand`` node."""
    return int(_generator.integers(0, 2**63 - 1))
