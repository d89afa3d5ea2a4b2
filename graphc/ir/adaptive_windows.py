"""The windows of torch's adaptive pooling, for ``F.adaptive_max_pool*d`` and the torch importer alike."""

from __future__ import annotations

import numpy as np


def adaptive_bounds(size: int, out: int) -> list[tuple[int, int]]:
    """Window i covers [floor(i*size/out), ceil((i+1)*size/out)), as torch's adaptive pooling."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def adaptive_table(height: int, width: int, out: tuple[int, int]) -> np.ndarray:
    """``[K, out_h*out_w]`` int64: the flat input positions of every window, in row-major order.

    Windows differ in size; shorter ones repeat their last position, which changes neither the
    maximum nor which element is its first occurrence (torch's choice and gradient)."""
    rows, cols = adaptive_bounds(height, out[0]), adaptive_bounds(width, out[1])
    windows = [[r * width + c for r in range(r0, r1) for c in range(c0, c1)] for r0, r1 in rows for c0, c1 in cols]
    longest = max(len(w) for w in windows)
    return np.array([w + [w[-1]] * (longest - len(w)) for w in windows], dtype=np.int64).T
