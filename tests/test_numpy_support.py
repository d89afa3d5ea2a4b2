"""The NumPy backend's runtime helpers against NumPy itself (matmul through torch's BLAS, erf, where, the arena), and what its code generator writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import adam_steps_of_a_linear

from graphc.codegen import numpy_support as rt

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", [((600, 256), (256, 300)), ((256,), (256, 20000))], ids=["2d", "vector-matrix"])
def test_large_matmul_through_torch_equals_numpy(shapes: tuple, dtype: type) -> None:
    a, b = (RNG.standard_normal(s).astype(dtype) for s in shapes)
    assert a.size * b.size >= rt.SMALL_MATMUL * a.shape[-1]  # the torch path, not the small-problem one
    expected = np.matmul(a, b)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(rt.matmul(a, b), expected, rtol=tol, atol=tol)
    out = np.empty(expected.shape, dtype)
    assert rt.matmul(a, b, out=out) is out
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("shapes", [((4, 64, 128), (128, 80)), ((3, 128, 64), (3, 64, 96))], ids=["broadcast", "batched"])
def test_batched_matmul_equals_numpy(shapes: tuple) -> None:
    a, b = (RNG.standard_normal(s).astype(np.float32) for s in shapes)
    out = np.empty(np.matmul(a, b).shape, np.float32)
    np.testing.assert_allclose(rt.matmul(a, b, out=out), np.matmul(a, b), rtol=1e-5, atol=1e-5)


def test_matmul_of_transposed_and_read_only_broadcast_operands() -> None:
    a = RNG.standard_normal((256, 600)).astype(np.float32).T  # [600, 256], not contiguous
    row = RNG.standard_normal((1, 256, 512)).astype(np.float32)
    b = np.broadcast_to(row, (600, 256, 512))[0]  # read-only view
    assert a.size * b.size >= rt.SMALL_MATMUL * a.shape[-1]
    assert not b.flags.writeable
    np.testing.assert_allclose(rt.matmul(a, b), np.matmul(a, b), rtol=1e-4, atol=1e-4)


def test_small_and_integer_matmuls_stay_in_numpy() -> None:
    a, b = RNG.integers(-5, 5, (300, 200)), RNG.integers(-5, 5, (200, 300))
    result = rt.matmul(a, b)
    assert result.dtype == np.int64
    np.testing.assert_array_equal(result, a @ b)
    small = RNG.standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(rt.matmul(small, small.T), small @ small.T, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erf_matches_torch_with_and_without_out(dtype: type) -> None:
    x = RNG.standard_normal((64, 33)).astype(dtype)
    expected = torch.erf(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(rt.erf(x), expected)
    out = np.empty_like(x)
    assert rt.erf(x, out=out) is out
    np.testing.assert_array_equal(out, expected)


def test_arena_is_allocated_once_per_layout_and_sizes() -> None:
    def layout(rows: int) -> list[tuple]:
        return [((rows, 4), np.float32, 0, 1, None), ((rows,), np.int64, 1, 2, None)]

    first = rt.arena(layout, 8)
    assert rt.arena(layout, 8)[0] is first[0]
    assert first[0].shape == (8, 4) and first[1].dtype == np.int64
    assert rt.arena(layout, 16)[0].shape == (16, 4)


def _same_bits(got: np.ndarray, expected: np.ndarray) -> bool:
    return got.dtype == expected.dtype and np.array_equal(np.ascontiguousarray(got).view(np.uint8), np.ascontiguousarray(expected).view(np.uint8))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_where_as_a_bitwise_select_equals_numpy_bit_for_bit(dtype: type) -> None:
    x = RNG.standard_normal((5, 7)).astype(dtype)
    x[0, 0], x[1, 1], x[2, 2] = np.nan, -0.0, -np.inf
    y = RNG.standard_normal((7, 5)).astype(dtype).T  # a transposed view
    cond = np.broadcast_to(RNG.random((5, 1)) < 0.5, (5, 7))
    for a, b in [(x, y), (dtype(0), x), (x, dtype(-0.0)), (np.broadcast_to(x[:1], (5, 7)), y)]:
        expected = np.where(cond, a, b)
        assert _same_bits(rt.where(cond, a, b), expected)
        out = np.empty((5, 7), dtype)
        assert rt.where(cond, a, b, out=out) is out and _same_bits(out, expected)


def test_where_may_write_over_either_operand() -> None:
    x, y = RNG.standard_normal((2, 4, 6))
    cond = RNG.random((4, 6)) < 0.5
    expected = np.where(cond, x, y)
    first, second = x.copy(), y.copy()
    assert _same_bits(rt.where(cond, first, y, out=first), expected)
    assert _same_bits(rt.where(cond, x, second, out=second), expected)


def test_where_on_integers_and_0d_values_is_numpy_where() -> None:
    assert _same_bits(rt.where(np.array([True, False]), np.int64(1), np.array([5, 6])), np.array([1, 6]))
    assert rt.where(np.array(True), np.float32(1), np.float32(2)) == 1.0


def test_a_bias_is_broadcast_by_the_ufunc_not_by_a_view() -> None:
    import graphc
    import graphc.nn.functional as F

    x, w, b = (RNG.standard_normal(s) for s in [(8, 5), (3, 5), (3,)])
    compiled = graphc.compile(lambda x, w, b: F.relu(F.linear(x, w, b) + 1.0), backend="numpy")
    got = compiled(*(graphc.tensor(a) for a in (x, w, b))).numpy()
    expected = torch.relu(torch.nn.functional.linear(*(torch.from_numpy(a) for a in (x, w, b))) + 1.0)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-12)
    source = "\n".join(k.source for k in compiled.report().kernels)
    assert "expand(" in source and "np.broadcast_to" not in source  # the IR line stays, the call goes


@pytest.mark.parametrize("keepdims", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_argmax_over_a_short_axis_equals_numpy(dtype: type, keepdims: bool) -> None:
    x = RNG.integers(-3, 3, (5, 4, 7)).astype(dtype)  # many ties: the first maximum must win
    x[0, 2, 1], x[1, 1, 2], x[1, 3, 2], x[2, 0, 3] = np.nan, np.nan, np.nan, -0.0
    for axis in range(3):
        assert x.shape[axis] <= rt.SMALL_ARGMAX
        got = rt.argmax(x, axis, keepdims)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, np.argmax(x, axis=axis, keepdims=keepdims))


def test_argmax_over_a_long_axis_or_integers_is_numpy_argmax() -> None:
    x = RNG.standard_normal((3, rt.SMALL_ARGMAX + 5))
    np.testing.assert_array_equal(rt.argmax(x, 1, False), np.argmax(x, axis=1))
    ints = RNG.integers(0, 4, (6, 3))
    np.testing.assert_array_equal(rt.argmax(ints, 0, True), np.argmax(ints, axis=0, keepdims=True))


@pytest.fixture
def small_recycling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Outputs of 1 KiB or more are recycled, in a pool of its own holding up to 64 KiB."""
    monkeypatch.setattr(rt, "RECYCLE_BYTES", 1024)
    monkeypatch.setattr(rt, "RECYCLE_LIMIT", 64 * 1024)
    monkeypatch.setattr(rt, "_recycled", type(rt._recycled)())
    monkeypatch.setattr(rt, "_recycled_bytes", 0)


def test_an_output_is_written_again_only_once_nothing_else_holds_it(small_recycling: None) -> None:
    site = ("program", "v1")
    first = rt.output((512,), np.float32, site)
    second = rt.output((512,), np.float32, site)  # the caller still holds the first
    assert second is not first
    view = first[10:]
    del first
    third = rt.output((512,), np.float32, site)  # the first lives on in its view, the second in the caller
    assert not np.shares_memory(third, view) and not np.shares_memory(third, second)
    address = second.__array_interface__["data"][0]
    del second
    assert rt.output((512,), np.float32, site).__array_interface__["data"][0] == address
    small = rt.output((8,), np.float32, site)
    assert rt.output((8,), np.float32, site) is not small  # below RECYCLE_BYTES: always new


def test_a_let_go_output_is_reused_and_torch_views_count_as_holders(small_recycling: None) -> None:
    site = ("program", "v2")
    a = rt.output((512,), np.float32, site)
    address = a.__array_interface__["data"][0]
    shared = torch.from_numpy(a)
    del a
    assert rt.output((512,), np.float32, site).__array_interface__["data"][0] != address  # torch still holds it
    del shared
    reused = rt.output((512,), np.float32, site)
    assert reused.__array_interface__["data"][0] == address


def test_the_pool_forgets_the_outputs_used_longest_ago_beyond_its_limit(small_recycling: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rt, "RECYCLE_LIMIT", 16 * 1024)
    for i in range(6):  # six sites of 4 KiB each against a 16 KiB pool
        rt.output((1024,), np.float32, ("program", f"v{i}"))
    assert [key[0][1] for key in rt._recycled] == ["v2", "v3", "v4", "v5"]
    assert rt._recycled_bytes == 16 * 1024
    big = rt.output((8192,), np.float32, ("program", "huge"))  # larger than the whole pool: not kept
    assert big.nbytes > rt.RECYCLE_LIMIT and rt._recycled_bytes <= rt.RECYCLE_LIMIT


def test_adam_steps_with_recycled_outputs_match_torch_and_leave_held_arrays_alone(small_recycling: None) -> None:
    """Weights and Adam's moments of 4 KiB are recycled step after step; arrays a caller took stay as they were."""
    weight, bias, x = RNG.standard_normal((32, 16)), RNG.standard_normal(32), RNG.standard_normal((8, 16))
    ours, theirs, compiled = adam_steps_of_a_linear(weight, bias, x, lr=0.01, backend="numpy")
    for got, expected in zip(ours, theirs):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    held = [a.copy() for a in ours]
    for _ in range(3):
        compiled()
    for array, copy in zip(ours, held):
        np.testing.assert_array_equal(array, copy)
    # The weight and its two moments are held from one step to the next: two arrays each, reused in turn.
    recycled = [len(arrays) for (site, shape, dtype), arrays in rt._recycled.items() if shape == (32, 16)]
    assert recycled.count(2) >= 3, recycled


@pytest.mark.parametrize("shape", [(2, 4, 1, 1), (1, 3, 4, 4)])
def test_unfold_with_a_1x1_window_returns_its_own_array(shape: tuple) -> None:
    # The memory plan reuses the input's buffer after a window kernel, so the columns must not alias it.
    x = np.random.default_rng(0).standard_normal(shape)
    cols = rt.unfold(x, (1, 1), (1, 1), (0, 0), (1, 1), 0.0)
    assert not np.may_share_memory(cols, x)
    np.testing.assert_array_equal(cols, x.reshape(shape[0], shape[1], -1))


def test_weight_gradient_of_a_1x1_conv_after_a_global_average_pool_is_torchs(monkeypatch: pytest.MonkeyPatch) -> None:
    # The importer's 1x1 conv unfolds the pooled map; its saved columns were a view of a buffer
    # the forward program's next kernel overwrote (squeeze-excitation, a U-Net's upsampling path).
    # Without C loops: the program they build for this model happens not to reuse that buffer.
    monkeypatch.setenv("GRAPHC_NATIVE", "0")
    import copy

    import graphc

    torch.manual_seed(0)
    eager = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Conv2d(4, 3, 1)).double()
    mine = copy.deepcopy(eager)
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64)
    eager(x).sum().backward()
    graphc.compile(mine, backend="numpy")(x).sum().backward()
    torch.testing.assert_close(mine[1].weight.grad, eager[1].weight.grad, rtol=1e-12, atol=1e-14)
