"""Reductions against torch: sum mean var std amax amin max min argmax argmin logsumexp
all any cumsum, with ``dim`` (int, negative, tuple, None) and ``keepdim``, on float,
integer and bool inputs, 0-d tensors and non-contiguous views."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import assert_matches, data, pair
from torch_grads import check_compiled_batches

import graphc

pytestmark = pytest.mark.usefixtures("fusion")  # every case with fusion on and off

DIMS = [None, 0, 1, -1, (0, 2), (-1, 0)]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin"])
def test_reduce_dims(backend: str, op: str, dim: object, keepdim: bool) -> None:
    g, t = pair(data(2, 3, 4))
    if dim is None:
        if keepdim:
            pytest.skip("dim=None with keepdim is not torch API for these ops")
        assert_matches(getattr(graphc, op)(g), getattr(torch, op)(t))
        assert_matches(getattr(g, op)(), getattr(t, op)())
        return
    assert_matches(getattr(graphc, op)(g, dim, keepdim=keepdim), getattr(torch, op)(t, dim, keepdim=keepdim))
    assert_matches(getattr(g, op)(dim=dim, keepdim=keepdim), getattr(t, op)(dim=dim, keepdim=keepdim))


@pytest.mark.parametrize("dtype", ["int32", "int64", "bool", "float16", "float64"])
def test_sum_dtypes(backend: str, dtype: str) -> None:
    g, t = pair(data(3, 5, dtype=dtype))
    assert_matches(g.sum(), t.sum())
    assert_matches(g.sum(0), t.sum(0))
    assert_matches(graphc.sum(g, -1, keepdim=True), torch.sum(t, -1, keepdim=True))
    assert_matches(g.amax(1), t.amax(1))
    assert_matches(g.amin(0), t.amin(0))


def test_sum_and_mean_with_dtype_argument(backend: str) -> None:
    g, t = pair(data(3, 4, dtype="int32"))
    assert_matches(g.sum(dtype=graphc.float64), t.sum(dtype=torch.float64))
    assert_matches(g.sum(1, dtype=torch.int32), t.sum(1, dtype=torch.int32))
    assert_matches(g.mean(dtype=graphc.float32), t.mean(dtype=torch.float32))
    gf, tf = pair(data(3, 4))
    assert_matches(gf.mean(0, dtype=torch.float64), tf.mean(0, dtype=torch.float64))


def test_mean_float16_and_float64(backend: str) -> None:
    for dtype in ("float16", "float64"):
        g, t = pair(data(4, 6, dtype=dtype))
        assert_matches(g.mean(), t.mean())
        assert_matches(g.mean(1, keepdim=True), t.mean(1, keepdim=True))


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None, 0, -1, (0, 1)], ids=str)
@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.filterwarnings("ignore:.*degrees of freedom")
def test_var_std(backend: str, op: str, dim: object, keepdim: bool) -> None:
    g, t = pair(data(3, 4, 2, dtype="float64"))
    if dim is None:
        assert_matches(getattr(g, op)(), getattr(t, op)())
        assert_matches(getattr(graphc, op)(g, unbiased=False), getattr(torch, op)(t, unbiased=False))
        return
    assert_matches(getattr(g, op)(dim, keepdim=keepdim), getattr(t, op)(dim, keepdim=keepdim))
    assert_matches(getattr(graphc, op)(g, dim, unbiased=False, keepdim=keepdim), getattr(torch, op)(t, dim, unbiased=False, keepdim=keepdim))
    assert_matches(getattr(g, op)(dim, correction=0, keepdim=keepdim), getattr(t, op)(dim, correction=0, keepdim=keepdim))
    assert_matches(getattr(g, op)(dim=dim, correction=2), getattr(t, op)(dim=dim, correction=2))


@pytest.mark.filterwarnings("ignore:.*degrees of freedom")
def test_var_std_float32_and_single_element(backend: str) -> None:
    g, t = pair(data(5, 7) * 3 + 10)
    assert_matches(g.var(1), t.var(1))
    assert_matches(g.std(0, keepdim=True), t.std(0, keepdim=True))


@pytest.mark.filterwarnings("ignore:.*degrees of freedom")
@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("unbiased", [False, True])
def test_var_std_take_a_positional_bool_as_unbiased(backend: str, op: str, unbiased: bool) -> None:
    g, t = pair(data(3, 4))
    assert_matches(getattr(g, op)(unbiased), getattr(t, op)(unbiased))
    assert_matches(getattr(graphc, op)(g, unbiased), getattr(torch, op)(t, unbiased))


@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin"])
def test_an_empty_dim_list_reduces_every_axis_like_torch(backend: str, op: str) -> None:
    g, t = pair(data(2, 3))
    assert_matches(getattr(g, op)(dim=()), getattr(t, op)(dim=()))
    assert_matches(getattr(g, op)(dim=[], keepdim=True), getattr(t, op)(dim=[], keepdim=True))


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_without_dim_keeps_every_axis_with_keepdim(backend: str, op: str) -> None:
    g, t = pair(data(2, 3))
    assert_matches(getattr(g, op)(keepdim=True), getattr(t, op)(keepdim=True))


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch warns that the degrees of freedom are <= 0
def test_var_std_with_no_degrees_of_freedom_are_nan_or_inf_like_torch(backend: str) -> None:
    g, t = pair(data(2, 3))
    assert_matches(g.var(0, correction=3), t.var(0, correction=3))  # s / 0: inf
    assert_matches(g.std(0, correction=2), t.std(0, correction=2))
    assert_matches(g[:, :0].var(1), t[:, :0].var(1))  # 0 / 0: nan


def test_var_std_of_a_single_sample(backend: str) -> None:
    g1, t1 = pair(data(1, 3))
    assert_matches(g1.var(0), t1.var(0))  # a single sample with correction 1: nan, as torch
    assert_matches(g1.std(0, unbiased=False), t1.std(0, unbiased=False))


def test_sum_keepdim_over_a_size_one_axis_broadcast_back(backend: str) -> None:
    g, t = pair(data(1, 3))
    assert_matches(g - g.sum(0, keepdim=True), t - t.sum(0, keepdim=True))


@pytest.mark.parametrize("dtype", ["float32", "int32", "int64", "float64"])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_max_min_dim_return_values_and_indices(backend: str, dim: int, keepdim: bool, dtype: str) -> None:
    x = data(4, 5, dtype=dtype, low=-2, high=3)  # ints with ties: the first index wins, as torch
    g, t = pair(x)
    for op in ("max", "min"):
        got = getattr(g, op)(dim, keepdim=keepdim)
        want = getattr(t, op)(dim, keepdim=keepdim)
        assert_matches(tuple(got), tuple(want))
        assert_matches(got.values, want.values)
        assert_matches(got.indices, want.indices)
        values, indices = getattr(graphc, op)(g, dim=dim, keepdim=keepdim)
        assert_matches(values, want.values)
        assert_matches(indices, want.indices)


def test_max_min_whole_tensor_and_elementwise(backend: str) -> None:
    (g, h), (t, u) = [list(z) for z in zip(pair(data(3, 4)), pair(data(4)))]
    assert_matches(g.max(), t.max())
    assert_matches(graphc.min(g), torch.min(t))
    assert_matches(g.max(h), t.max(u))
    assert_matches(graphc.min(g, h), torch.min(t, u))


def test_max_with_nan(backend: str) -> None:
    g, t = pair(np.array([[1.0, np.nan, 3.0], [2.0, 0.0, -1.0]], dtype=np.float32))
    assert_matches(g.max(), t.max())
    assert_matches(g.amax(1), t.amax(1))
    assert_matches(g.amin(0), t.amin(0))
    assert_matches(g.max(1).values, t.max(1).values)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_argmin(backend: str, op: str, dim: int | None, keepdim: bool) -> None:
    g, t = pair(data(3, 4, 5, dtype="int32", low=-2, high=3))  # ties
    if dim is None and keepdim:
        pytest.skip("keepdim without dim")
    assert_matches(getattr(graphc, op)(g, dim, keepdim), getattr(torch, op)(t, dim, keepdim))
    assert_matches(getattr(g, op)(dim=dim, keepdim=keepdim), getattr(t, op)(dim=dim, keepdim=keepdim))
    gf, tf = pair(data(3, 4, 5))
    assert_matches(getattr(gf, op)(dim), getattr(tf, op)(dim))


def test_argmax_of_float16(backend: str) -> None:
    g, t = pair(data(4, 6, dtype="float16"))
    assert_matches(g.argmax(0), t.argmax(0))


@pytest.mark.parametrize("dim", [0, 1, (0, 1), -1])
def test_logsumexp(backend: str, dim: object) -> None:
    g, t = pair(data(3, 4) * 30)
    assert_matches(graphc.logsumexp(g, dim), torch.logsumexp(t, dim))
    assert_matches(g.logsumexp(dim, keepdim=True), t.logsumexp(dim, keepdim=True))


@pytest.mark.parametrize("dtype", ["bool", "int64"])
def test_logsumexp_of_bools_and_integers_is_in_the_default_float(backend: str, dtype: str) -> None:
    """Found by the fuzzer (seed 249): a bool input raised "abs: not defined for bool tensors" from inside the decomposition."""
    g, t = pair(data(2, 3, dtype=dtype))
    assert_matches(g.logsumexp(1), t.logsumexp(1))
    assert_matches(graphc.logsumexp(g, (0, 1), keepdim=True), torch.logsumexp(t, (0, 1), keepdim=True))


def test_logsumexp_infinities(backend: str) -> None:
    g, t = pair(np.array([[-np.inf, -np.inf], [0.0, -np.inf], [np.inf, 1.0]], dtype=np.float64))
    assert_matches(graphc.logsumexp(g, 1), torch.logsumexp(t, 1))


def test_a_sum_over_an_empty_slice_and_its_gradient_match_torch(backend: str) -> None:
    """Code generation divided by the empty axis of [2,0,2,2] when it delinearized an index (fuzzer seeds 7848, 9767)."""
    x = np.random.default_rng(0).standard_normal((2, 2, 2, 2))
    g, t = graphc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    total, expected = g[:, 1:0].sum(), t[:, 1:0].sum()
    total.backward()
    expected.backward()
    assert_matches(total, expected)
    assert_matches(g.grad, t.grad)


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int32", "float32"])
def test_all_any(backend: str, dtype: str) -> None:
    """Of a uint8 tensor torch gives uint8 0/1, of any other bool (the fuzzer's seed 1390 found uint8 given as bool)."""
    x = data(3, 4, dtype=dtype, low=0, high=2) if dtype != "bool" else data(3, 4, dtype="bool")
    x[0] = 1
    g, t = pair(x)
    assert_matches(graphc.all(g), torch.all(t))
    assert_matches(graphc.any(g), torch.any(t))
    assert_matches(g.all(1), t.all(1))
    assert_matches(g.any(0, keepdim=True), t.any(0, keepdim=True))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int64", "int32", "bool"])
def test_cumsum(backend: str, dtype: str) -> None:
    g, t = pair(data(3, 5, dtype=dtype))
    assert_matches(graphc.cumsum(g, 1), torch.cumsum(t, 1))
    assert_matches(g.cumsum(0), t.cumsum(0))
    assert_matches(g.cumsum(-1), t.cumsum(-1))
    g0, t0 = pair(np.array(3, dtype=dtype))
    assert_matches(g0.cumsum(0), t0.cumsum(0))


def test_cumsum_of_large_integers_is_exact_and_takes_a_dtype(backend: str) -> None:
    """Integer running sums add in int64, so they stay exact beyond 2**53."""
    g, t = pair(np.array([[2**60, 1, -(2**60), 3, 2**53 + 1]], dtype=np.int64))
    assert_matches(g.cumsum(1), t.cumsum(1))
    small, small_t = pair(np.array([[3, -1, 4, 1, -5]], dtype=np.int32))
    assert_matches(graphc.cumsum(small, 1, dtype=graphc.float64), torch.cumsum(small_t, 1, dtype=torch.float64))
    h, u = pair(data(2, 4))
    h.cumsum_(1)
    u.cumsum_(1)
    assert_matches(h, u)


def test_cumsum_of_a_long_row(backend: str) -> None:
    """One pass along a row of 20000 (the triangle matmul of before needed an n x n constant).

    Positive terms: the sums are then well conditioned, so the order of the additions (in
    blocks with a carry on Triton, one by one in torch) stays within the float64 tolerance."""
    g, t = pair(np.random.default_rng(0).uniform(0.5, 1.5, (2, 20000)))
    assert_matches(g.cumsum(1), t.cumsum(1))
    # float16 adds in float32 and rounds each running sum, as torch: adding in float16 drifts by 0.75 here
    h, u = pair(np.random.default_rng(0).uniform(0, 1, (2, 300)).astype(np.float16))
    assert_matches(h.cumsum(1), u.cumsum(1))


def test_cumsum_along_the_symbolic_batch_is_one_program(backend: str) -> None:
    """The scan primitive takes any length, so a running sum over the batch keeps the symbol B."""
    rng = np.random.default_rng(1)
    check_compiled_batches(lambda T, x: (T.cumsum(x, 0), x.cumsum(1)), lambda rows: (rng.standard_normal((rows, 3)),), backend)


def test_reductions_of_zero_dim_tensors(backend: str) -> None:
    g, t = pair(np.array(2.5, dtype=np.float32))
    assert_matches(g.sum(), t.sum())
    assert_matches(g.sum(0), t.sum(0))
    assert_matches(g.mean(-1, keepdim=True), t.mean(-1, keepdim=True))
    assert_matches(g.amax(), t.amax())
    assert_matches(g.argmax(), t.argmax())
    assert_matches(g.argmax(0), t.argmax(0))
    assert_matches(g.argmin(-1, keepdim=True), t.argmin(-1, keepdim=True))
    assert_matches(g.softmax(0), t.softmax(0))
    assert_matches(g.logsumexp(0), t.logsumexp(0))
    assert_matches(tuple(g.max(0)), tuple(t.max(0)))
    assert_matches(tuple(g.min(dim=-1, keepdim=True)), tuple(t.min(dim=-1, keepdim=True)))


def test_reductions_of_non_contiguous_views(backend: str) -> None:
    g, t = pair(data(4, 6, 3))
    assert_matches(g.permute(2, 0, 1).sum(1), t.permute(2, 0, 1).sum(1))
    assert_matches(g[:, ::2].mean((0, 2)), t[:, ::2].mean((0, 2)))
    assert_matches(g.transpose(0, 2)[1:].amax(-1), t.transpose(0, 2)[1:].amax(-1))
    assert_matches(tuple(g[1:3].permute(1, 0, 2).max(0)), tuple(t[1:3].permute(1, 0, 2).max(0)))
    assert_matches(g.permute(1, 2, 0).var(2), t.permute(1, 2, 0).var(2))
    assert_matches(g.expand(2, 4, 6, 3).sum(0), t.expand(2, 4, 6, 3).sum(0))


def test_reductions_with_size_one_and_broadcast_back(backend: str) -> None:
    g, t = pair(data(3, 1, 4))
    assert_matches(g.sum(1), t.sum(1))
    assert_matches(g - g.mean(-1, keepdim=True), t - t.mean(-1, keepdim=True))
    assert_matches((g - g.amax(0)).exp().sum(0), (t - t.amax(0)).exp().sum(0))
