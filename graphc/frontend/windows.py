"""torch's signal windows: hann, hamming, blackman, bartlett and kaiser.

A window of ``window_length`` points is computed in float64 with NumPy (torch's own formulas:
a periodic window is the symmetric one of ``window_length + 1`` points without its last) and
rounded once to the dtype asked for, the default dtype unless given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from graphc.errors import GraphcError
from graphc.ir import dtypes
from graphc.runtime.tensor import Tensor


def _window(
    name: str, window_length: int, periodic: bool, formula: Callable[[np.ndarray, int], np.ndarray], dtype: Any, device: Any, requires_grad: bool
) -> Tensor:
    from graphc.frontend.constructors import tensor

    d = dtypes.to_dtype(dtype) if dtype is not None else dtypes.DEFAULT_FLOAT
    if not d.is_floating_point:
        raise GraphcError(f"{name} expects floating point dtypes, got: {d.name}")
    if not isinstance(window_length, (int, np.integer)) or window_length < 0:
        raise GraphcError(f"{name} requires non-negative window_length, got window_length={window_length}")
    if window_length <= 1:
        values = np.ones(window_length)
    else:
        points = window_length + 1 if periodic else window_length
        values = formula(np.arange(points, dtype=np.float64), points)[:window_length]
    return tensor(values.astype(d.numpy), device=device, requires_grad=requires_grad)


def hamming_window(
    window_length: int, periodic: bool = True, alpha: float = 0.54, beta: float = 0.46, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """``alpha - beta cos(2 pi n / (N - 1))``."""
    return _window("hamming_window", window_length, periodic, lambda n, N: alpha - beta * np.cos(2 * np.pi * n / (N - 1)), dtype, device, requires_grad)


def hann_window(window_length: int, periodic: bool = True, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """``0.5 - 0.5 cos(2 pi n / (N - 1))``, torch's hamming window with alpha = beta = 0.5."""
    return _window("hann_window", window_length, periodic, lambda n, N: 0.5 - 0.5 * np.cos(2 * np.pi * n / (N - 1)), dtype, device, requires_grad)


def blackman_window(window_length: int, periodic: bool = True, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """``0.42 - 0.5 cos(2 pi n / (N - 1)) + 0.08 cos(4 pi n / (N - 1))``."""

    def formula(n: np.ndarray, N: int) -> np.ndarray:
        return 0.42 - 0.5 * np.cos(2 * np.pi * n / (N - 1)) + 0.08 * np.cos(4 * np.pi * n / (N - 1))

    return _window("blackman_window", window_length, periodic, formula, dtype, device, requires_grad)


def bartlett_window(window_length: int, periodic: bool = True, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """The triangle ``1 - |2 n / (N - 1) - 1|``."""
    return _window("bartlett_window", window_length, periodic, lambda n, N: 1 - np.abs(2 * n / (N - 1) - 1), dtype, device, requires_grad)


def kaiser_window(
    window_length: int, periodic: bool = True, beta: float = 12.0, *, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    """``I0(beta sqrt(1 - ((n - a) / a)**2)) / I0(beta)`` with ``a = (N - 1) / 2``."""

    def formula(n: np.ndarray, N: int) -> np.ndarray:
        a = (N - 1) / 2
        return np.i0(beta * np.sqrt(np.clip(1 - ((n - a) / a) ** 2, 0, None))) / np.i0(beta)

    return _window("kaiser_window", window_length, periodic, formula, dtype, device, requires_grad)
