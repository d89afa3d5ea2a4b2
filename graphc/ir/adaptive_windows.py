"""The windows of torch's adaptive pooling, for ``F.adaptive_max_pool*d`` and the torch importer alike."""

from __future__ import annotations

import numpy as np


def adaptive_bounds(size: int, out: int) -> list[tuple[int, int]]:
    """Window i covers [floor(i*size/out), ceil((i+1)*size/out)), as torch's adaptive pooling."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def adaptive_table(sizes: tuple[int, ...], out: tuple[int, ...]) -> np.ndarray:
    """``[K, prod(out)]`` int64: the flat (row-major) input positions of every window, windows in row-major order.

    Windows differ in size; shorter ones repeat their last position, which changes neither the
    maximum nor which element is its first occurrence (torch's choice and gradient)."""
    windows = [[0]]
    for size, count in zip(sizes, out):
        windows = [[p * size + q for p in window for q in range(lo, hi)] for window in windows for lo, hi in adaptive_bounds(size, count)]
    longest = max(len(w) for w in windows)
    return np.array([w + [w[-1]] * (longest - len(w)) for w in windows], dtype=np.int64).T
