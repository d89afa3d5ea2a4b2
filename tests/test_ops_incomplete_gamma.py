"""torch.igamma and torch.igammac (special.gammainc, gammaincc; Tensor.igamma, igamma_, igammac, igammac_)
against eager torch and mpmath, on both backends.

graphc follows torch's algorithm with loops of fixed depth (graphc/ir/incomplete_gamma.py), so in
float64 it agrees with torch within rounding on a grid of a and x from 1e-8 to 1e7, edge values and all.
Two places where torch's own error shows are compared with mpmath instead: far from a, torch's
``exp(a log x - x - lgamma(a))`` loses the digits of its large terms (2e-12 at a = 1874), and for
a > 200 with 0.6 a < x < a graphc uses Temme's expansion where torch sums up to 2000 terms of a
series (which stop short of convergence from a ~ 1e6 on). float32 and half precision compute in
float64 and round once: within half an ulp of torch's float64, where torch's float32 kernel is up to
3000 ulps off. Gradients: torch's formula for x in float64, and none for a (torch raises).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch

import graphc
from graphc.errors import GraphcError

A_VALUES = np.concatenate([np.geomspace(1e-6, 1e6, 19), [0.5, 1.0, 2.5, 19.9, 20.5, 150.0, 199.9, 200.0, 201.0, 1000.0, 5e4]])
X_VALUES = np.concatenate([np.geomspace(1e-8, 1e7, 23), [0.4, 0.5, 0.6, 1.0, 1.05, 1.1, 1.2, 5.0, 21.0, 150.0, 220.0, 1050.0]])
GRID_A, GRID_X = (v.ravel() for v in np.meshgrid(A_VALUES, X_VALUES))
# a = 0, x = 0, infinities, NaN and negative arguments, each against the others, as torch tests them in order
EDGE_A = np.array([0.0, 0.0, 0.0, 0.0, 1.0, math.inf, math.inf, 2.0, -1.0, 1.0, math.nan, math.nan, 1e-300, 1e300, 0.0, 3.0])
EDGE_X = np.array([0.0, 1.0, math.nan, -0.0, math.inf, math.inf, 3.0, -0.0, 1.0, math.nan, 0.0, 1.0, 1e-300, 1e300, math.inf, -2.0])


def _both(fn: str, a: np.ndarray, x: np.ndarray, dtype: str = "float64") -> tuple[np.ndarray, np.ndarray]:
    ours = getattr(graphc, fn)(graphc.tensor(a.astype(dtype)), graphc.tensor(x.astype(dtype))).numpy()
    theirs = getattr(torch, fn)(torch.tensor(a.astype(dtype)), torch.tensor(x.astype(dtype))).numpy()
    return ours, theirs


def _mpmath(fn: str, a: float, x: float) -> float:
    with mpmath.workdps(40):
        lower, upper = (0, x) if fn == "igamma" else (x, mpmath.inf)
        return float(mpmath.gammainc(a, lower, upper, regularized=True))


@pytest.mark.parametrize("fn", ["igamma", "igammac"])
def test_float64_values_match_torch_on_a_grid_and_at_the_edges(backend: str, fn: str) -> None:
    a, x = np.concatenate([GRID_A, EDGE_A]), np.concatenate([GRID_X, EDGE_X])
    ours, theirs = _both(fn, a, x)
    assert ours.dtype == np.float64
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    edges = slice(len(GRID_A), None)
    np.testing.assert_array_equal(ours[edges], theirs[edges])
    # Where they differ by more, far from a, torch's exp(a log x - x - lgamma(a)) carries its terms' rounding
    # (2e-12 at a = 1874, x = 1000): there graphc must be nearer the exact value, and within 3e-13 of it. Or
    # be torch's value for that element alone: on an AVX-512 CPU torch's vectorized loop rounds some elements
    # otherwise than its scalar one (a = 464, x = 169: 2e-14 off mpmath in the grid, 4e-13 alone, as graphc).
    apart = np.nonzero(~np.isclose(ours, theirs, rtol=3e-13, atol=1e-300) & ~np.isnan(theirs))[0]
    assert len(apart) <= 12, [(a[i], x[i]) for i in apart]
    for i in apart:
        alone = _both(fn, a[i : i + 1], x[i : i + 1])[1][0]
        if ours[i] == alone:
            continue
        exact = _mpmath(fn, a[i], x[i])
        assert abs(ours[i] - exact) < abs(theirs[i] - exact) and abs(ours[i] - exact) <= 3e-13 * exact, (a[i], x[i])


@pytest.mark.usefixtures("numpy_kernels")
@pytest.mark.parametrize("fn", ["igamma", "igammac"])
def test_far_from_a_and_where_the_series_is_long_graphc_is_within_a_few_ulps_of_mpmath(fn: str) -> None:
    """Where torch's own error exceeds graphc's (1874, 1000), where graphc's Temme expansion replaces
    torch's long series (a > 200, 0.6 a < x < a; torch's is 1.5e-9 off at a = 1e7), and in torch's own
    asymptotic band, where torch's pi rounded to float32 costs 1e-9 of a small P, and graphc's too."""
    a = np.array([1873.817422860379, 300.0, 6579.3322465756555, 1e5, 1e7, 200.0, 200.0, 50.0])  # a = 200: outside torch's bands
    x = np.array([1000.0, 190.0, 6105.402296585314, 8.9e4, 0.99e7, 199.0, 201.0, 45.0])
    ours = getattr(graphc, fn)(graphc.tensor(a), graphc.tensor(x)).numpy()
    exact = np.array([_mpmath(fn, u, v) for u, v in zip(a, x)])
    np.testing.assert_allclose(ours[:-1], exact[:-1], rtol=2e-13)
    theirs = getattr(torch, fn)(torch.tensor(a[-1:]), torch.tensor(x[-1:])).numpy()
    np.testing.assert_allclose(ours[-1:], theirs, rtol=1e-14)  # torch's band: torch's value, error and all
    if fn == "igamma":
        assert abs(ours[-1] / exact[-1] - 1) > 1e-10


@pytest.mark.usefixtures("numpy_kernels")  # the C loops' build of this 3000-node kernel is the grid test's
@pytest.mark.parametrize("dtype", ["float32", pytest.param("float16", marks=pytest.mark.slow)])
def test_float32_and_half_are_torchs_float64_rounded_once(dtype: str) -> None:
    rng = np.random.default_rng(7)
    a = np.exp(rng.uniform(np.log(1e-3), np.log(1e4), 400)).astype(dtype)
    x = (a.astype(np.float64) * np.exp(rng.uniform(-1.5, 1.5, 400))).astype(dtype)
    for fn in ("igamma", "igammac"):
        ours, theirs = _both(fn, a, x, dtype)
        assert ours.dtype == theirs.dtype == np.dtype(dtype)
        wide = getattr(torch, fn)(torch.tensor(a.astype(np.float64)), torch.tensor(x.astype(np.float64))).numpy()
        rounded = wide.astype(dtype)
        spacing = np.spacing(np.abs(rounded)).astype(np.float64)
        assert np.all(np.abs(ours.astype(np.float64) - wide) <= spacing), fn  # within an ulp, ties included
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))


@pytest.mark.usefixtures("numpy_kernels")
def test_the_gradient_for_x_is_torchs_formula_and_a_has_none() -> None:
    a_values, x_values = np.array([0.3, 2.0, 25.0, 250.0]), np.array([0.7, 1.5, 24.0, 300.0])
    for fn in ("igamma", "igammac"):
        mine = [graphc.tensor(x_values, requires_grad=True), graphc.tensor(a_values, requires_grad=True)]
        theirs = [torch.tensor(x_values, requires_grad=True), torch.tensor(a_values, requires_grad=True)]
        results = []
        for T, (x, a) in ((graphc, mine), (torch, theirs)):
            y = getattr(T, fn)(a, x)
            (slope,) = T.autograd.grad(y.sum(), x, create_graph=fn == "igammac")  # a requires grad: asking for x alone is fine
            results.append([slope.detach().numpy()])
            if fn == "igammac":  # the second derivative, through the formula's lgamma, exp and log
                results[-1].append(T.autograd.grad(slope.sum(), x)[0].numpy())
        for got, want in zip(*results):
            # exp((a - 1) log x - x - lgamma(a)) at a = 250 carries the rounding of terms near 1100 (and of each lgamma)
            np.testing.assert_allclose(got, want, rtol=1e-12)
        with pytest.raises(RuntimeError, match=f"{fn}: input"):
            getattr(torch, fn)(theirs[1], theirs[0]).sum().backward()
        with pytest.raises(GraphcError, match=f"{fn} with respect to its first argument"):
            getattr(graphc, fn)(mine[1], mine[0]).sum().backward()


@pytest.mark.usefixtures("numpy_kernels")
def test_methods_in_place_forms_and_special_aliases_match_torch() -> None:
    a, x = np.array([0.5, 3.0, 30.0]), np.array([[1.0], [28.0]])  # broadcast to (2, 3)
    results = []
    for T in (graphc, torch):
        inplace = T.tensor(np.broadcast_to(a, (2, 3)).copy())
        assert inplace.igamma_(T.tensor(x)) is inplace
        results.append((T.tensor(a).igammac(T.tensor(x)).numpy(), T.special.gammainc(T.tensor(a), T.tensor(x)).numpy(), inplace.numpy()))
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    assert hasattr(graphc.Tensor, "igammac_") and hasattr(torch.Tensor, "igammac_")


def test_bad_operands_are_refused_naming_the_op() -> None:
    with pytest.raises(GraphcError, match="igamma.*two tensors"):
        graphc.igamma(graphc.tensor([1.0]), 2.0)
    with pytest.raises(GraphcError, match="igammac.*integer or bool"):
        graphc.igammac(graphc.tensor([1, 2]), graphc.tensor([1, 2]))
    assert graphc.igamma(graphc.tensor([1, 2]), graphc.tensor([1.0, 2.0])).dtype == graphc.float32  # as torch's promotion


class IncompleteGammaModule(torch.nn.Module):
    def forward(self, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.special.gammainc(a, x) + 2 * torch.igammac(a, x * 3)


@pytest.mark.slow  # torch.export alone is seconds of CPU
@pytest.mark.usefixtures("numpy_kernels")
def test_an_imported_torch_module_matches_eager_torch_in_values_and_the_gradient_for_x() -> None:
    model = IncompleteGammaModule()
    compiled = graphc.compile(model, backend="numpy")
    a = torch.tensor([0.4, 3.0, 60.0], dtype=torch.float64)
    mine, theirs = (torch.tensor([0.2, 2.5, 58.0], dtype=torch.float64, requires_grad=True) for _ in range(2))
    got, expected = compiled(a, mine), model(a, theirs)
    np.testing.assert_allclose(got.detach().numpy(), expected.detach().numpy(), rtol=1e-14)
    got.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=1e-13)
