"""The values of torch's CPU ``linspace`` and ``logspace``, element for element.

torch fills the first half of a linspace forward from ``start`` and the second half back
from ``end`` (``start + step * i``, ``end - step * (steps - 1 - i)``), so both ends are
exact. Its kernel is compiled for AVX2/AVX-512, where the compiler fuses each multiply-add
into one rounding; ``np.linspace`` rounds twice and differs in the last place. For float32
the product is exact in float64, so one float64 add and a float32 rounding give the fused
result; float64 needs an exact product (Dekker's split). Half precision computes op by op
in its own dtype (c10::Half rounds every operation, the index included). Integer dtypes
truncate ``start``/``end``, step in float64 and truncate the values. ``logspace`` raises
``base`` to the two-sided exponents in float64, unfused (its loop is not in a vectorized
kernel), and rounds a half result through float32 as c10 converts a double.
"""

from __future__ import annotations

import math

import numpy as np

from graphc.errors import GraphcError
from graphc.ir import dtypes


def _two_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a * b == hi + lo`` exactly, in float64 (Dekker)."""
    split = 134217729.0  # 2**27 + 1: halves of a 53-bit significand
    hi = a * b
    big_a, big_b = split * a, split * b
    a_hi = big_a - (big_a - a)
    b_hi = big_b - (big_b - b)
    a_lo, b_lo = a - a_hi, b - b_hi
    lo = ((a_hi * b_hi - hi) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return hi, lo


def _fused_multiply_add(a: np.ndarray, b: np.ndarray, c: float) -> np.ndarray:
    """``a * b + c`` with (nearly always) one rounding, as a hardware FMA."""
    hi, lo = _two_product(a, b)
    total = hi + c
    c_part = total - hi
    error = (hi - (total - c_part)) + (c - c_part)
    return total + (error + lo)


def _integer_ends(op: str, start: float, end: float, dtype: dtypes.DType) -> tuple[float, float]:
    """``start`` and ``end`` truncated to the integer dtype, which must hold them (torch checks the conversion)."""
    low, high = dtype.bounds
    for value in (start, end):
        if not low <= int(value) <= high:
            message = f"{op}: value cannot be converted to type {dtype.name} without overflow (got {value}, its range is [{low}, {high}])"
            raise GraphcError(message)
    return float(int(start)), float(int(end))


def _halves(steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each index, its distance from the last index, and whether it is in the half counted from ``start``."""
    index = np.arange(steps, dtype=np.float64)
    return index, steps - 1 - index, index < steps // 2


def linspace_values(start: float, end: float, steps: int, dtype: dtypes.DType) -> np.ndarray:
    if steps <= 1:
        return np.full(steps, start).astype(dtype.numpy)
    index, from_end, first_half = _halves(steps)
    if dtype.itemsize == 2 and dtype.is_floating_point:
        half = dtype.numpy.type
        low, high = half(start), half(end)
        step = half(half(high - low) / half(steps - 1))
        forward = low + step * index.astype(dtype.numpy)
        backward = high - step * from_end.astype(dtype.numpy)
        return np.where(first_half, forward, backward).astype(dtype.numpy)
    if dtype.is_floating_point:  # the step in the dtype: its difference and its division each rounded
        low, high = (np.asarray(v).astype(dtype.numpy)[()] for v in (start, end))
        step = float((high - low) / dtype.numpy.type(steps - 1))
        low, high = float(low), float(high)
    else:
        low, high = _integer_ends("linspace", start, end, dtype)
        step = (high - low) / (steps - 1)
    if dtype == dtypes.float32:  # the float32 product is exact in float64: one rounding of the sum, then float32's
        values = np.where(first_half, low + step * index, high - step * from_end)
    else:
        values = np.where(first_half, _fused_multiply_add(np.full(steps, step), index, low), _fused_multiply_add(np.full(steps, -step), from_end, high))
    return values.astype(dtype.numpy) if dtype.is_floating_point else np.trunc(values).astype(dtype.numpy)


def logspace_values(start: float, end: float, steps: int, base: float, dtype: dtypes.DType) -> np.ndarray:
    if steps <= 1:
        return _powers(float(base), np.full(steps, float(start))).astype(dtype.numpy)
    index, from_end, first_half = _halves(steps)
    if dtype.is_floating_point:  # the difference rounded in the dtype, the step in float64
        low, high = (np.asarray(v).astype(dtype.numpy)[()] for v in (start, end))
        step = float(high - low) / (steps - 1)
        low, high = float(low), float(high)
    else:
        low, high = _integer_ends("logspace", start, end, dtype)
        step = (high - low) / (steps - 1)
    exponents = np.where(first_half, low + step * index, high - step * from_end)
    values = _powers(float(base), exponents)
    if dtype.itemsize == 2 and dtype.is_floating_point:  # c10 converts a double to half through float
        values = values.astype(np.float32)
    return values.astype(dtype.numpy) if dtype.is_floating_point else np.trunc(values).astype(dtype.numpy)


def _powers(base: float, exponents: np.ndarray) -> np.ndarray:
    """``base ** e`` by the C library's ``pow``, as torch's logspace (``std::pow``): NumPy's AVX-512 ``power``
    differs from it by an ulp in one value in twenty (seen on an AMD EPYC), and logspace is bit for bit torch's."""
    return np.fromiter((_power(base, e) for e in exponents.tolist()), np.float64, count=exponents.size)


def _power(base: float, exponent: float) -> float:
    """``math.pow``, with C's results where Python raises instead (an overflow's inf, a negative base's NaN)."""
    try:
        return math.pow(base, exponent)
    except (OverflowError, ValueError):
        with np.errstate(all="ignore"):  # torch's logspace warns of neither
            return float(np.power(base, exponent))
