"""linspace and logspace give torch's CPU values element for element, in every dtype
(graphc/frontend/spacing.py: torch's two-sided formula, with the fused multiply-add its
AVX2/AVX-512 kernel is compiled with)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import graphc

DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "uint8"]


def _bits(t: torch.Tensor) -> np.ndarray:
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()


def _ranges(seed: int, count: int) -> list[tuple[float, float, int]]:
    rng = np.random.default_rng(seed)
    cases = [(0.0, 1.0, 5), (-3.3, 7.1, 11), (2.0, 2.0, 4), (5.0, -5.0, 1), (1.0, 0.0, 0)]
    for i in range(count):
        low, high = rng.uniform(-60, 60, 2)
        if i % 3 == 0:
            low, high = float(int(low)), float(int(high))
        cases.append((float(low), float(high), int(rng.integers(2, 300))))
    return cases


@pytest.mark.parametrize("dtype", DTYPES)
def test_linspace_and_logspace_are_torchs_values_bit_for_bit(dtype: str) -> None:
    for low, high, steps in _ranges(0, 150):
        if dtype == "uint8":
            low, high = abs(low), abs(high)
        t, g = getattr(torch, dtype), getattr(graphc, dtype)
        got, expected = graphc.linspace(low, high, steps, dtype=g), torch.linspace(low, high, steps, dtype=t)
        assert got.dtype == g and np.array_equal(_bits(expected), got.numpy().astype(_bits(expected).dtype)), (low, high, steps)
        for base in (10.0, 2.0):
            got, expected = graphc.logspace(low / 20, high / 20, steps, base=base, dtype=g), torch.logspace(low / 20, high / 20, steps, base=base, dtype=t)
            assert np.array_equal(_bits(expected), got.numpy().astype(_bits(expected).dtype), equal_nan=True), (low, high, steps, base)


def test_linspace_takes_zero_dimensional_tensors_and_requires_grad() -> None:
    got = graphc.linspace(graphc.tensor(-1.0), graphc.tensor(2.0), 4, requires_grad=True)
    expected = torch.linspace(torch.tensor(-1.0), torch.tensor(2.0), 4, requires_grad=True)
    assert got.requires_grad and np.array_equal(got.numpy(), expected.detach().numpy())


@pytest.mark.parametrize("function", ["linspace", "logspace"])
def test_integer_ends_outside_the_dtype_are_refused_as_torch_refuses_them(function: str) -> None:
    with pytest.raises(RuntimeError, match="without overflow"):
        getattr(torch, function)(0, 300, 4, dtype=torch.uint8)
    with pytest.raises(graphc.GraphcError, match=f"{function}: value cannot be converted to type uint8 without overflow"):
        getattr(graphc, function)(0, 300, 4, dtype=graphc.uint8)
