"""What Triton's interpreter computes one way and an NVIDIA GPU another, pinned down (docs/decisions.md,
"The Triton backend on a GPU and in the interpreter").

Under the interpreter (``TRITON_INTERPRET=1``, the CPU) these check the generated code and what
the interpreter can show; ``scripts/gpu_check.sh`` runs the same file on a lent GPU, where the
value checks are the ones that would fail without the fixes: a float32 division that is not IEEE
rounded, a batch past 65535 programs on a grid's second axis, a bool atomic.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import triton
import triton.language as tl

import graphc
from graphc.codegen import triton as triton_codegen  # noqa: F401 - chooses GPU or interpreter before triton_support
from graphc.codegen import triton_support as rt
from graphc.errors import GraphcError


def on_triton(fn, *arrays: np.ndarray) -> tuple[object, list[str]]:
    """``fn`` compiled for the triton backend and run on ``arrays``: its results as NumPy arrays, and its kernels' sources."""
    compiled = graphc.compile(fn, backend="triton")
    out = compiled(*[graphc.tensor(a) for a in arrays])
    results = out if isinstance(out, tuple) else (out,)
    return [r.numpy() for r in results], [k.source for k in compiled.report().kernels]


def test_float32_divisions_are_ieee_rounded_as_torchs_and_float64_ones_plain() -> None:
    """Triton's float32 ``/`` is div.full.f32 on a GPU, up to 2 ulp off: 4.6875 / 0.9375 gave 5.0000005."""
    x = np.array([4.6875, 1.0, 7.0, -3.0], np.float32)
    y = np.array([0.9375, 3.0, 0.1, 7.0], np.float32)
    (quotient, inverse, logistic, root), sources = on_triton(lambda a, c: (a / c, c.reciprocal(), a.sigmoid(), c.abs().rsqrt()), x, y)
    code = "\n".join(sources)
    assert "tl.div_rn(" in code and " / " not in "\n".join(line for line in code.splitlines() if "tl.load" not in line and "#" not in line)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    assert quotient[0] == 5.0  # bit-exact, as torch's: the GPU's approximate division gave one ulp more
    np.testing.assert_array_equal(quotient, (tx / ty).numpy())
    np.testing.assert_array_equal(inverse, ty.reciprocal().numpy())
    np.testing.assert_allclose(logistic, tx.sigmoid().numpy(), rtol=1e-6)  # float32 tl.exp is a few ulp off on a GPU
    np.testing.assert_allclose(root, ty.abs().rsqrt().numpy(), rtol=2.5e-7)
    (quotient64,), sources64 = on_triton(lambda a, c: a / c, x.astype(np.float64), y.astype(np.float64))
    assert "tl.div_rn" not in "\n".join(sources64)
    np.testing.assert_array_equal(quotient64, (tx.double() / ty.double()).numpy())


@triton.jit
def _raw_integer_division(a_ptr, b_ptr, quotient_ptr, rest_ptr):
    lanes = tl.arange(0, 4)
    a = tl.load(a_ptr + lanes)
    b = tl.load(b_ptr + lanes)
    tl.store(quotient_ptr + lanes, a // b)
    tl.store(rest_ptr + lanes, a % b)


def test_tritons_own_integer_division_truncates_in_the_interpreter_as_on_a_gpu() -> None:
    """Triton's ``//`` and ``%`` on integers are C's (toward zero) on a GPU; the interpreter computes
    them with ``np.fmod`` to match, so the exact tests of torch's flooring division
    (tests/test_triton_primitives.py) exercise the helpers' fix-up as a GPU runs it."""
    a = torch.tensor([-7, 7, -7, 7], dtype=torch.int32, device=rt.device())
    b = torch.tensor([2, -2, -2, 2], dtype=torch.int32, device=rt.device())
    quotient, rest = torch.empty_like(a), torch.empty_like(a)
    _raw_integer_division[(1,)](a, b, quotient, rest)
    assert quotient.tolist() == [-3, -3, 3, 3] and rest.tolist() == [-1, 1, -1, 1]


def test_float32_floor_division_of_large_quotients_matches_torch_exactly() -> None:
    """Past 2**24 one ulp of the quotient is a whole number or more: an approximate division there
    gave another integer than torch's floor_divide (whose (a - fmod) / b is IEEE rounded)."""
    a = np.array([2.0**30 + 64, -(2.0**29) - 96, 3.0e9, 1.0e7, -7.5], np.float32)
    b = np.array([3.0, 7.0, -11.0, 0.3, 2.0], np.float32)
    (got,), sources = on_triton(lambda x, y: x // y, a, b)
    assert "floor_divide(" in "\n".join(sources)
    np.testing.assert_array_equal(got, torch.floor_divide(torch.from_numpy(a), torch.from_numpy(b)).numpy())


def test_a_batched_product_puts_its_batch_on_grid_axis_0() -> None:
    """A GPU's grid axes 1 and 2 stop at 65535 programs; axis 0 takes every tile of every matrix."""
    assert rt.matmul_grid(40, 40, 100_000)({"BLOCK_M": 32, "BLOCK_N": 32}) == (400_000,)
    rng = np.random.default_rng(1)
    a, c = rng.standard_normal((3, 40, 8)).astype(np.float32), rng.standard_normal((3, 8, 40)).astype(np.float32)
    (got,), sources = on_triton(lambda x, y: x @ y, a, c)
    assert "tl.program_id(1)" not in "\n".join(sources)
    np.testing.assert_allclose(got, (torch.from_numpy(a) @ torch.from_numpy(c)).numpy(), rtol=1e-5, atol=1e-5)


def test_launches_past_32_bit_indexing_are_refused_with_a_clear_error() -> None:
    """Offsets are int32: a tensor of 2**31 elements would wrap them (an illegal address on a GPU)."""
    huge = torch.zeros(1).expand(2**31)  # a view: nothing of that size is allocated
    with pytest.raises(GraphcError, match=r"input of shape \(2147483648,\).*32-bit index arithmetic"):
        rt.prepare(huge)
    with pytest.raises(GraphcError, match="reduction of 1 rows of 2147483648"):
        rt.reduction_blocks(1, 2**31)
    with pytest.raises(GraphcError, match="pointwise kernel spans 2147483648"):
        rt.pointwise_blocks(2**31)
    with pytest.raises(GraphcError, match="product of 2 matrices"):
        rt.matmul_grid(2**15, 2**15, 2)
    small = graphc.tensor(np.ones(4, np.float32))
    with pytest.raises(GraphcError, match="32-bit index arithmetic"):
        graphc.compile(lambda x: x.expand(2**29, 4).sum(), backend="triton")(small)


def test_a_bool_scatter_add_is_a_logical_or_without_atomics() -> None:
    """Triton has no atomic add of int1 (nor of bytes): True sources store True instead."""
    index = np.array([[0, 0, 2, 1], [1, 1, 1, 3]])
    src = np.array([[True, False, True, False], [False, True, False, False]])
    start = np.zeros((2, 4), bool)
    start[1, 3] = True
    (got,), sources = on_triton(lambda x, i, s: x.scatter_add(1, i, s), start, index, src)
    assert "tl.atomic_add" not in "\n".join(sources)
    expected = torch.from_numpy(start).scatter_add(1, torch.from_numpy(index), torch.from_numpy(src))
    np.testing.assert_array_equal(got, expected.numpy())


@pytest.mark.parametrize("shape", [(3, 0), (2, 0, 3)])
def test_complete_factors_of_matrices_without_rows_or_columns_are_identities(shape: tuple[int, ...]) -> None:
    """qr(mode="complete") and svd(full_matrices=True) of a 3x0 matrix have a 3x3 Q (U); the kernels
    counted no matrices (m * n == 0) and left them as uninitialized memory."""
    a = np.zeros(shape, np.float32)
    t = torch.from_numpy(a)
    got, _ = on_triton(lambda x: (*graphc.linalg.qr(x, mode="complete"), *graphc.linalg.svd(x, full_matrices=True)), a)
    expected = (*torch.linalg.qr(t, mode="complete"), *torch.linalg.svd(t, full_matrices=True))
    for g, e in zip(got, expected):
        assert g.shape == tuple(e.shape)
        np.testing.assert_array_equal(g, e.numpy())


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_scatter_add_adds_in_its_dtype_with_atomics(dtype: str) -> None:
    """float16 and bfloat16 atomic adds (sm_90 has both; the interpreter has no bfloat16 one, and refuses
    it: tests/test_triton_interpreter_bf16_scatter.py). Whole numbers, so every order of the adds is exact."""
    if dtype == "bfloat16" and triton_codegen._interpreted():
        pytest.skip("Triton's interpreter has no bfloat16 atomic add")
    index = np.array([[0, 0, 2, 1, 0], [1, 1, 1, 3, 3]])
    src = np.arange(10, dtype=np.float32).reshape(2, 5) - 4
    start = np.ones((2, 4), np.float32)
    half = getattr(graphc, dtype)
    (got,), sources = on_triton(lambda x, i, s: x.to(half).scatter_add(1, i, s.to(half)).float(), start, index, src)
    assert "tl.atomic_add" in "\n".join(sources)
    half_torch = getattr(torch, dtype)
    expected = torch.from_numpy(start).to(half_torch).scatter_add(1, torch.from_numpy(index), torch.from_numpy(src).to(half_torch)).float()
    np.testing.assert_array_equal(got, expected.numpy())


def test_float32_subnormals_are_kept_as_torch_keeps_them() -> None:
    """Triton links libdevice with FTZ on by default: on a GPU floor(-1e-40) was -0.0 and log(1e-40)
    -inf. Launches turn it off (``rt.LAUNCH_OPTIONS``) where Triton has the option; torch keeps subnormals."""
    if not triton_codegen._interpreted():
        from triton.backends.nvidia.compiler import CUDAOptions

        assert ("enable_reflect_ftz" in CUDAOptions.__dataclass_fields__) == (rt.LAUNCH_OPTIONS == {"enable_reflect_ftz": False})
    x = np.array([-1e-40, 1e-40, 3e-39, -2.5], np.float32)
    (down, up, logs), _ = on_triton(lambda t: (t.floor(), t.ceil(), t.abs().log()), x)
    tx = torch.from_numpy(x)
    np.testing.assert_array_equal(down, tx.floor().numpy())
    np.testing.assert_array_equal(up, tx.ceil().numpy())
    np.testing.assert_allclose(logs, tx.abs().log().numpy(), rtol=2e-7)
