"""Composites of existing ops against torch: searchsorted, bucketize, histc (graphc/frontend/bucketing.py),
diff, trapezoid/trapz, cumulative_trapezoid (calculus.py), cartesian_prod, combinations, block_diag,
vander (combinatorics.py), linalg.cross/cross, linalg.multi_dot, chain_matmul, linalg.matrix_power
(matrix_chains.py), F.gumbel_softmax (runtime/nn/gumbel.py), F.upsample/upsample_nearest/upsample_bilinear and
nn.UpsamplingNearest2d/UpsamplingBilinear2d (runtime/nn/upsampling.py): values and dtypes on both backends, float64 gradients, errors, and
the data-dependent histc refused inside graphc.compile."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data
from torch_grads import check_compiled_batches, check_grads

import graphc
from graphc.errors import GraphcError

pytestmark = pytest.mark.filterwarnings("ignore:torch.chain_matmul is deprecated", "ignore:Using torch.cross without specifying the dim")

NAN = float("nan")
SEQUENCE = np.array([1.0, 2.0, 2.0, 3.0, NAN], np.float32)
SEARCHED = np.array([[NAN, 5.0, 2.0, 0.0], [1.0, 2.0, 3.0, 2.5]], np.float32)
UNSORTED = np.array([0.3, -1.2, 2.5, 0.0, 1.1], np.float64)
ON_EDGES = np.array([0.0, 1.0, 2.0, 3.0, NAN, 0.75, 2.9999998, -0.5, 3.5], np.float32)

# name -> (fn(T, *tensors), inputs): the same code for graphc and torch
CASES: dict[str, tuple[Callable[..., Any], tuple[np.ndarray, ...]]] = {
    "searchsorted-nan": (
        lambda T, s, v: (T.searchsorted(s, v), T.searchsorted(s, v, right=True), T.searchsorted(s, v, side="right", out_int32=True), T.searchsorted(s, 2.0)),
        (SEQUENCE, SEARCHED),
    ),
    "searchsorted-nd-int": (
        lambda T, s, v: (T.searchsorted(s, v), T.searchsorted(s, v, side="left", right=False), T.searchsorted(s, v, right=True)),
        (np.sort(data(2, 3, 6, dtype="int64"), -1), data(2, 3, 4, dtype="int64")),
    ),
    "searchsorted-mixed-dtypes": (
        lambda T, i, f: (T.searchsorted(i, 2.5), T.searchsorted(i, f), T.searchsorted(f, i[:2]), T.bucketize(f, i), T.searchsorted(f, 2)),
        (np.array([1, 2, 3], np.int64), np.array([2.5, 1.0, 3.5], np.float32)),
    ),
    "searchsorted-sorter": (
        lambda T, s, v: T.searchsorted(s, v, sorter=T.argsort(s)),
        (UNSORTED, data(2, 3, dtype="float64")),
    ),
    "bucketize": (
        lambda T, s, v: (T.bucketize(v, s), T.bucketize(v, s, right=True, out_int32=True), T.bucketize(2.0, s)),
        (SEQUENCE, SEARCHED),
    ),
    "histc": (
        lambda T, x, e: (T.histc(x), x.histc(7, -1, 1), T.histc(e, 4, 0, 3), x.histc(3, 1, 1)),
        (data(40), ON_EDGES),
    ),
    "histc-float64-constant": (lambda T, x: T.histc(x, 3), (np.array([2.0, 2.0, 2.0]),)),
    "diff": (
        lambda T, x, p: (T.diff(x), x.diff(2, 0), T.diff(x, dim=0, prepend=p, append=p), x.diff(n=0), T.diff(x, 5)),
        (data(3, 4), data(1, 4, dtype="float64")),
    ),
    "diff-bool-int": (lambda T, m, i: (T.diff(m), i.diff(prepend=i[:, :1])), (data(2, 5, dtype="bool"), data(2, 3, dtype="int32"))),
    "trapezoid": (
        lambda T, y, x1, x2: (T.trapezoid(y), T.trapezoid(y, dx=0.5, dim=0), T.trapezoid(y, x1), T.trapezoid(y, x2, dim=0), T.trapz(y, x1), T.trapz(y, dx=2.0)),
        (data(3, 4), np.cumsum(data(4, positive=True)), data(3, 1)),
    ),
    "trapezoid-int": (lambda T, y: (T.trapezoid(y), T.trapezoid(y, y), T.trapezoid(y[:, :0])), (data(2, 3, dtype="int64"),)),
    "cumulative_trapezoid": (
        lambda T, y, x1: (T.cumulative_trapezoid(y), T.cumulative_trapezoid(y, dx=0.5, dim=0), T.cumulative_trapezoid(y, x1)),
        (data(3, 4), np.cumsum(data(4, positive=True))),
    ),
    "cartesian_prod": (lambda T, a, c, d: (T.cartesian_prod(a, c), T.cartesian_prod(a, c, d), T.cartesian_prod(a)), (data(3), data(2), data(2))),
    "combinations": (
        lambda T, x, i: (T.combinations(x), T.combinations(x, 3), T.combinations(x, 2, True), T.combinations(i, 1), T.combinations(i, 0), T.combinations(i, 5)),
        (data(4), data(3, dtype="int64")),
    ),
    "block_diag": (
        lambda T, s, v, m, i: (T.block_diag(s, v, m), T.block_diag(m, i), T.block_diag(v), T.block_diag()),
        (np.array(2.5, np.float32), data(3), data(2, 2), data(2, 3, dtype="int32")),
    ),
    "vander": (
        lambda T, x, i, m: (T.vander(x), T.vander(x, 2), T.vander(x, 4, True), T.vander(x, 0), T.vander(i), T.vander(m, 3)),
        (data(3), data(3, dtype="int32"), data(2, dtype="bool")),
    ),
    "cross": (
        lambda T, a, c, i: (T.linalg.cross(a, c), T.cross(a, c, dim=-1), a.cross(c, -1), T.linalg.cross(a, c[:, :1], dim=2), T.cross(i, i.flip(0), 0)),
        (data(1, 2, 3), data(4, 2, 3), data(3, 2, dtype="int64")),
    ),
    "multi_dot": (
        lambda T, v, a, c, d, w: (
            T.linalg.multi_dot([a, c]), T.linalg.multi_dot([v, a, c, d, w]), T.linalg.multi_dot([a, c, d]), T.linalg.multi_dot([v, a, c, d]),
        ),
        (data(2), data(2, 5), data(5, 1), data(1, 4), data(4)),
    ),
    "chain_matmul": (lambda T, a, c, d: (T.chain_matmul(a, c, d), T.chain_matmul(a)), (data(2, 3), data(3, 4), data(4, 2))),
    "matrix_power": (
        lambda T, a, i: (
            T.linalg.matrix_power(a, 0), T.matrix_power(a, 1), a.matrix_power(2), T.linalg.matrix_power(a, 3), a.matrix_power(6), i.matrix_power(5),
        ),
        (data(2, 3, 3, low=-0.5, high=0.5), data(3, 3, dtype="int64", low=-2, high=2)),
    ),
}


def _listed(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_and_dtypes_match_torch(backend: str, name: str) -> None:
    fn, arrays = CASES[name]
    got = fn(graphc, *[graphc.tensor(a.copy()) for a in arrays])
    expected = fn(torch, *[torch.from_numpy(a.copy()) for a in arrays])
    assert_matches(_listed(got), _listed(expected))


GRADIENTS: dict[str, tuple[Callable[..., Any], tuple[np.ndarray, ...]]] = {
    "diff": CASES["diff"],
    "trapezoid": CASES["trapezoid"],
    "cumulative_trapezoid": CASES["cumulative_trapezoid"],
    "cartesian_prod": CASES["cartesian_prod"],
    "combinations": (lambda T, x: (T.combinations(x), T.combinations(x, 2, True)), (data(4),)),
    "block_diag": (lambda T, s, v, m: T.block_diag(s, v, m), (np.array(2.5), data(3), data(2, 2))),
    "cross": CASES["cross"],
    "multi_dot": CASES["multi_dot"],
    "chain_matmul": CASES["chain_matmul"],
    "matrix_power": (lambda T, a: (T.linalg.matrix_power(a, 0), a.matrix_power(3), a.matrix_power(7)), (data(2, 3, 3, low=-0.5, high=0.5),)),
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_float64_gradients_match_torch(name: str) -> None:
    fn, arrays = GRADIENTS[name]
    check_grads(fn, *[a.astype(np.float64) if a.dtype.kind == "f" else a for a in arrays])


def test_vander_gradient_matches_torch_powers() -> None:
    """torch.vander's own backward fails (its cumprod is written in place), so the reference is x ** k."""
    x = data(3, dtype="float64")
    ours, theirs = graphc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    weights = np.random.default_rng(0).standard_normal((3, 4))
    (graphc.vander(ours, 4) * graphc.tensor(weights)).sum().backward()
    (theirs[:, None] ** torch.arange(3, -1, -1) * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


def test_searchsorted_in_a_compiled_function_with_a_symbolic_batch(backend: str) -> None:
    edges = np.array([-1.0, 0.0, 0.5, 2.0])
    compiled = graphc.compile(lambda v: (graphc.searchsorted(graphc.tensor(edges), v), graphc.bucketize(v, graphc.tensor(edges), right=True)), backend=backend)
    for rows in (3, 5):
        values = np.round(np.random.default_rng(rows).standard_normal((rows, 2)), 1)
        expected = (torch.searchsorted(torch.tensor(edges), torch.tensor(values)), torch.bucketize(torch.tensor(values), torch.tensor(edges), right=True))
        assert_matches(list(compiled(graphc.tensor(values))), list(expected))


def batch_composites(T: Any, x: Any) -> tuple:
    """What a batch of rows goes through: differences, integrals and cross products along each row, a power of a per-row matrix, a chain through the batch."""
    square = x[:, :4].reshape(x.shape[0], 2, 2) if T is torch else x[:, :4].reshape(-1, 2, 2)
    return (
        T.diff(x, prepend=x[:, :1]),
        T.trapezoid(x),
        T.cumulative_trapezoid(x, dx=0.5),
        T.linalg.cross(x[:, :3], x[:, 2:5]),
        T.linalg.matrix_power(square, 5),
        T.linalg.multi_dot([x[0], x.t(), x, x[1]]),
    )


def test_compiled_with_a_symbolic_batch(backend: str) -> None:
    check_compiled_batches(batch_composites, lambda rows: (np.random.default_rng(rows).standard_normal((rows, 5)),), backend)


def test_histc_with_the_data_range_is_refused_inside_compile() -> None:
    compiled = graphc.compile(lambda x: graphc.histc(x, 4))
    with pytest.raises(GraphcError, match="histc.*pass min and max"):
        compiled(graphc.tensor(data(5)))
    with_range, values = graphc.compile(lambda x: graphc.histc(x, 4, -1, 1)), data(5)
    assert_matches(with_range(graphc.tensor(values)), torch.histc(torch.from_numpy(values), 4, -1, 1))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: graphc.searchsorted(graphc.ones(3), graphc.ones(2), side="left", right=True), "side and right can't be set to opposites"),
        (lambda: graphc.searchsorted(graphc.ones(2, 3), graphc.ones(3, 3)), r"first N-1 dimensions .* \[2, 3\] .* \[3, 3\]"),
        (lambda: graphc.searchsorted(graphc.ones(3, dtype=graphc.bool), graphc.ones(2, dtype=graphc.bool)), "not defined for bool"),
        (lambda: graphc.searchsorted(graphc.ones(3), graphc.ones(2), side="middle"), "'left' or 'right'"),
        (lambda: graphc.bucketize(graphc.ones(2), graphc.ones(2, 2)), "boundaries tensor must be 1 dimension"),
        (lambda: graphc.histc(graphc.ones(3, dtype=graphc.int64)), "histc needs a floating-point tensor"),
        (lambda: graphc.histc(graphc.ones(3), 0), "bins must be > 0"),
        (lambda: graphc.histc(graphc.tensor([1.0, NAN])), "not finite"),
        (lambda: graphc.histc(graphc.ones(3), 4, 2, 1), "max must be larger than min"),
        (lambda: graphc.diff(graphc.tensor(1.0)), "at least one-dimensional"),
        (lambda: graphc.diff(graphc.ones(3), -1), "order must be non-negative"),
        (lambda: graphc.diff(graphc.ones(3), prepend=graphc.tensor(0.0)), "prepend to be the same dimension"),
        (lambda: graphc.trapezoid(graphc.ones(2, 3), graphc.ones(2)), "one `x` value for each sample point"),
        (lambda: graphc.trapezoid(graphc.ones(3, dtype=graphc.bool)), "bool"),
        (lambda: graphc.cartesian_prod(graphc.ones(2), graphc.ones(2, dtype=graphc.int64)), "same dtype"),
        (lambda: graphc.combinations(graphc.ones(2, 2)), r"Expect a 1D vector, but got shape \[2, 2\]"),
        (lambda: graphc.block_diag(graphc.ones(2, 2, 2)), "Input 0 has 3 dimensions"),
        (lambda: graphc.vander(graphc.ones(2, 2)), "one-dimensional"),
        (lambda: graphc.linalg.cross(graphc.ones(2), graphc.ones(2)), "inputs dimension -1 must have length 3. Got 2 and 2"),
        (lambda: graphc.cross(graphc.ones(2, 2), graphc.ones(2, 2)), "no dimension of size 3"),
        (lambda: graphc.linalg.cross(graphc.ones(3), graphc.ones(3, dtype=graphc.float64)), "same dtype"),
        (lambda: graphc.linalg.multi_dot([graphc.ones(2, 3)]), "expected at least 2 tensors but got 1"),
        (lambda: graphc.linalg.multi_dot([graphc.ones(2, 3), graphc.ones(2, 3, 3)]), "the last tensor must be 1D or 2D but got 3D"),
        (lambda: graphc.linalg.multi_dot([graphc.ones(2, 3), graphc.ones(2, 3)]), r"tensors 0 and 1 with shapes \[2, 3\] and \[2, 3\] cannot be multiplied"),
        (lambda: graphc.chain_matmul(), "Expected one or more matrices"),
        (lambda: graphc.linalg.matrix_power(graphc.ones(2, 3), 2), "square matrices, but they are 2 by 3"),
        (lambda: graphc.linalg.matrix_power(graphc.zeros(2, 2), -1).numpy(), "linalg.inv: .* the input matrix is singular"),
    ],
)
def test_bad_input_raises_a_clear_error(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(GraphcError, match=message):
        call()


def _same_noise(monkeypatch: pytest.MonkeyPatch, noise: np.ndarray) -> None:
    """Both libraries draw the exponential samples ``noise``: graphc's noise function and torch's ``exponential_`` are replaced."""
    import graphc.runtime.nn.gumbel as gumbel

    monkeypatch.setattr(gumbel, "exponential_noise", lambda shape, dtype: graphc.tensor(noise).to(dtype))
    monkeypatch.setattr(torch.Tensor, "exponential_", lambda self: self.copy_(torch.from_numpy(noise)))


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_gumbel_softmax_with_the_same_noise_matches_torch_with_float64_gradients(backend: str, monkeypatch: pytest.MonkeyPatch, hard: bool) -> None:
    rng = np.random.default_rng(1)
    logits, noise, weights = rng.standard_normal((3, 4)), rng.exponential(size=(3, 4)), rng.standard_normal((3, 4))
    _same_noise(monkeypatch, noise)
    ours, theirs = graphc.tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
    got = graphc.nn.functional.gumbel_softmax(ours, tau=0.7, hard=hard, dim=0)
    expected = torch.nn.functional.gumbel_softmax(theirs, tau=0.7, hard=hard, dim=0)
    assert_matches(got, expected)
    (got * graphc.tensor(weights)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_gumbel_softmax_samples_follow_the_softmax_of_the_logits() -> None:
    """The Gumbel-max trick: a hard sample's 1 falls on class k with probability softmax(logits)[k]."""
    graphc.manual_seed(0)
    logits = np.log(np.array([0.6, 0.3, 0.1], np.float32))
    samples = graphc.nn.functional.gumbel_softmax(graphc.tensor(np.tile(logits, (4000, 1))), hard=True).numpy()
    assert samples.dtype == np.float32 and samples.shape == (4000, 3)
    assert set(np.unique(samples)) == {0.0, 1.0} and (samples.sum(1) == 1).all()
    np.testing.assert_allclose(samples.mean(0), [0.6, 0.3, 0.1], atol=0.03)
    soft = graphc.nn.functional.gumbel_softmax(graphc.tensor(np.tile(logits, (5, 1))), tau=2.0).numpy()
    np.testing.assert_allclose(soft.sum(1), 1.0, rtol=1e-6)
    assert (soft > 0).all() and len({tuple(row) for row in soft}) == 5


def test_gumbel_softmax_draws_fresh_noise_on_every_compiled_call(backend: str) -> None:
    step = graphc.compile(lambda x: graphc.nn.functional.gumbel_softmax(x, hard=True), backend=backend)
    logits = graphc.zeros(2, 8)
    first, second = step(logits).numpy(), step(logits).numpy()
    assert (first.sum(1) == 1).all() and (second.sum(1) == 1).all() and not np.array_equal(first, second)


def test_gumbel_softmax_refuses_integer_logits() -> None:
    with pytest.raises(GraphcError, match="gumbel_softmax needs floating-point logits, got int64"):
        graphc.nn.functional.gumbel_softmax(graphc.ones(2, 3, dtype=graphc.int64))


UPSAMPLING = {
    "upsample-nearest": lambda F, nn, x: F.upsample(x, scale_factor=2),
    "upsample-bilinear": lambda F, nn, x: F.upsample(x, size=(3, 5), mode="bilinear", align_corners=False),
    "upsample_nearest": lambda F, nn, x: F.upsample_nearest(x, size=4),
    "upsample_bilinear": lambda F, nn, x: F.upsample_bilinear(x, scale_factor=2),
    "UpsamplingNearest2d": lambda F, nn, x: nn.UpsamplingNearest2d(scale_factor=3)(x),
    "UpsamplingBilinear2d": lambda F, nn, x: nn.UpsamplingBilinear2d(size=(4, 3))(x),
}


@pytest.mark.filterwarnings("ignore:`nn.functional.upsample")
@pytest.mark.parametrize("name", sorted(UPSAMPLING))
def test_deprecated_upsampling_matches_torch_with_float64_gradients(backend: str, name: str) -> None:
    x = data(1, 2, 2, 3, dtype="float64")
    check_grads(lambda T, t: UPSAMPLING[name](T.nn.functional, T.nn, t), x)


@pytest.mark.parametrize("name", ["upsample", "upsample_nearest", "upsample_bilinear"])
def test_deprecated_upsample_functions_warn_as_torch(name: str) -> None:
    with pytest.warns(UserWarning, match=f"nn.functional.{name}` is deprecated"):
        getattr(graphc.nn.functional, name)(graphc.ones(1, 1, 2, 2), scale_factor=2)
