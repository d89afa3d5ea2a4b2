"""torch's special functions against mpmath and eager torch: lgamma, digamma, polygamma, mvlgamma,
erfc, erfcx, erfinv, ndtr, ndtri, log_ndtr, i0, i0e, i1, i1e, xlog1py, entr, and the
``graphc.special`` namespace.

Accuracy is measured in ulps against results exact to the dtype (mpmath), on every kernel flavour
(NumPy, the C loops, Triton's interpreter), all functions in one compiled program per flavour and
dtype. Below 0 lgamma, digamma and polygamma reflect, and near their zeros there the reflection's two
terms cancel: the error is measured in ulps of the larger term. Edge values (zeros, poles,
infinities, NaN) are compared with torch with fusion on and off, except where graphc deliberately
differs (``DIFFERENCES``); gradients with torch.autograd in float64. docs/decisions.md ("Special
functions") has the choices.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import mpmath
import numpy as np
import pytest
import torch
from torch_grads import check_grads

import graphc
from graphc.errors import GraphcError
from graphc.frontend import lazy

RNG = np.random.default_rng(20261130)


@contextlib.contextmanager
def engine(name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The kernels that compute the ops: NumPy's, the C loops, or Triton's (under its interpreter here)."""
    if name == "triton":
        pytest.importorskip("triton")
    if name == "c-loops":
        monkeypatch.setenv("GRAPHC_NATIVE", "all")
        monkeypatch.setattr(lazy, "_programs", {})
    with graphc.use_backend("triton" if name == "triton" else "numpy"):
        yield


def quiet(fn: Callable[..., Any], *args: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


def log_uniform(low: float, high: float, count: int, signed: bool = True) -> np.ndarray:
    values = 10.0 ** RNG.uniform(math.log10(low), math.log10(high), count)
    return values * RNG.choice([-1.0, 1.0], count) if signed else values


def _ndtri(v: Any) -> Any:
    """sqrt 2 erfinv(2v - 1), with the digits 2v - 1 needs near 0 and 1 (float32 rounds some samples to 1)."""
    if v in (0, 1):
        return mpmath.inf if v else -mpmath.inf
    with mpmath.workdps(int(-mpmath.log10(min(v, 1 - v))) + 30):
        return mpmath.sqrt(2) * mpmath.erfinv(2 * v - 1)


# name -> (graphc function, mpmath function, inputs: where each is hard, in float64)
def _erfcx(v: Any) -> Any:
    """exp(v**2) erfc(v); from 1e5 on its asymptotic series (mpmath's erfc underflows to 0 far out)."""
    if v > 1e5:
        return (1 - 1 / (2 * v * v)) / (v * mpmath.sqrt(mpmath.pi))
    return mpmath.exp(v * v) * mpmath.erfc(v)


def _log_ndtr(v: Any) -> Any:
    """log(ncdf(v)), as log1p(-ncdf(-v)) above 0 (ncdf(v) is 1 to 30 digits from 9 on)."""
    return mpmath.log(mpmath.ncdf(v)) if v < 0 else mpmath.log1p(-mpmath.ncdf(-v))


def inputs(*parts: np.ndarray) -> np.ndarray:
    return np.concatenate(parts)


ACCURACY: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any], np.ndarray]] = {
    "lgamma": (
        graphc.lgamma,
        lambda v: mpmath.log(abs(mpmath.gamma(v))),
        inputs(log_uniform(1e-30, 1e30, 24, False), RNG.uniform(-9, 12, 24), 1 + log_uniform(1e-8, 0.4, 8), 2 + log_uniform(1e-8, 0.4, 8)),
    ),
    "digamma": (
        graphc.digamma,
        mpmath.digamma,
        inputs(log_uniform(1e-30, 1e30, 24, False), RNG.uniform(-9, 12, 24), 1.4616321449683622 + log_uniform(1e-8, 0.4, 16)),
    ),
    "polygamma1": (lambda x: graphc.polygamma(1, x), lambda v: mpmath.polygamma(1, v), inputs(log_uniform(1e-10, 1e10, 32, False), RNG.uniform(-6, 12, 32))),
    "polygamma3": (lambda x: graphc.polygamma(3, x), lambda v: mpmath.polygamma(3, v), inputs(log_uniform(1e-6, 1e6, 32, False), RNG.uniform(-6, 12, 32))),
    "erfc": (graphc.erfc, mpmath.erfc, inputs(RNG.uniform(-6, 27, 48), log_uniform(1e-20, 1, 16))),
    "erfcx": (graphc.special.erfcx, _erfcx, inputs(RNG.uniform(-26, 30, 32), log_uniform(1e-20, 1e30, 32, False))),
    "erfinv": (graphc.erfinv, mpmath.erfinv, inputs(RNG.uniform(-1, 1, 24), log_uniform(1e-30, 1, 16), 1 - log_uniform(1e-16, 0.5, 24, False))),
    "ndtr": (graphc.special.ndtr, mpmath.ncdf, inputs(RNG.uniform(-38, 9, 48), log_uniform(1e-20, 1, 16))),
    "ndtri": (graphc.special.ndtri, _ndtri, inputs(RNG.uniform(0, 1, 24), log_uniform(1e-300, 0.5, 12, False), 1 - log_uniform(1e-16, 0.5, 16, False))),
    "log_ndtr": (graphc.special.log_ndtr, _log_ndtr, inputs(RNG.uniform(-50, 10, 48), -log_uniform(1, 1e100, 16, False))),
    "i0": (graphc.i0, lambda v: mpmath.besseli(0, v), inputs(RNG.uniform(-30, 30, 48), log_uniform(1e-20, 700, 16))),
    "i0e": (graphc.special.i0e, lambda v: mpmath.besseli(0, v) * mpmath.exp(-abs(v)), inputs(RNG.uniform(-30, 30, 48), log_uniform(1e-20, 1e10, 16))),
    "i1": (graphc.special.i1, lambda v: mpmath.besseli(1, v), inputs(RNG.uniform(-30, 30, 48), log_uniform(1e-20, 700, 16))),
    "spherical_bessel_j0": (graphc.special.spherical_bessel_j0, lambda v: mpmath.sin(v) / v, inputs(log_uniform(1e-20, 1e10, 32), RNG.uniform(-20, 20, 32))),
    "i1e": (graphc.special.i1e, lambda v: mpmath.besseli(1, v) * mpmath.exp(-abs(v)), inputs(RNG.uniform(-30, 30, 48), log_uniform(1e-20, 1e10, 16))),
}
REFLECTED = {"lgamma", "digamma", "polygamma1", "polygamma3"}

# The largest error measured on these inputs drawn with 8 seeds (NumPy kernels; the C loops and
# Triton agree on this seed), in ulps of the exact result (of the larger reflection term below 0).
# float32's Bessel functions and polygamma compute in float64 and round once.
ULPS = {
    "float64": {"lgamma": 5, "digamma": 4, "polygamma1": 3, "polygamma3": 5, "erfc": 6, "erfcx": 4, "erfinv": 3, "ndtr": 7},
    "float32": {"lgamma": 4, "digamma": 4, "polygamma1": 1, "polygamma3": 1, "erfc": 6, "erfcx": 5, "erfinv": 4, "ndtr": 7},
}
ULPS["float64"] |= {"ndtri": 4, "log_ndtr": 4, "i0": 4, "i0e": 6, "i1": 10, "i1e": 8, "spherical_bessel_j0": 2}
ULPS["float32"] |= {"ndtri": 4, "log_ndtr": 4, "i0": 1, "i0e": 1, "i1": 1, "i1e": 1, "spherical_bessel_j0": 2}


@functools.cache
def exact(dtype: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per function: the inputs in ``dtype``, the results rounded from 30 digits, and the ulp scale."""
    table = {}
    with mpmath.workdps(30), np.errstate(over="ignore"):
        for name, (_, reference, inputs) in ACCURACY.items():
            x = inputs.astype(dtype)
            values = [mpmath.mpf(float(v)) for v in x]
            want = np.array([float(reference(v)) for v in values]).astype(dtype)
            scale = np.abs(want.astype(np.float64))
            if name in REFLECTED:  # below 0 the reflection adds f(1 - x)-sized terms
                other = np.array([abs(float(reference(1 - v))) if v < 0 else 0.0 for v in values])
                scale = np.maximum(scale, other)
            table[name] = (x, want, scale)
    return table


def ulps(got: np.ndarray, want: np.ndarray, scale: np.ndarray) -> float:
    special = ~np.isfinite(want)
    assert np.array_equal(got[special], want[special], equal_nan=True), f"specials differ: {got[special]} vs {want[special]}"
    finite = ~special
    spacing = np.spacing(scale[finite].astype(got.dtype)).astype(np.float64)
    return float(np.max(np.abs(got[finite].astype(np.float64) - want[finite].astype(np.float64)) / spacing))


# float32 on the C loops and Triton is in the slow suite: the default one keeps float64 there.
ENGINES = [("numpy", "float32"), ("numpy", "float64"), ("c-loops", "float64"), ("triton", "float64")]
ENGINES += [pytest.param(name, "float32", marks=pytest.mark.slow) for name in ("c-loops", "triton")]


@pytest.mark.parametrize(("kernels", "dtype"), ENGINES)
def test_accuracy_is_a_few_ulps_on_every_engine(kernels: str, dtype: str, monkeypatch: pytest.MonkeyPatch) -> None:
    table = exact(dtype)
    names = list(ACCURACY)
    with engine(kernels, monkeypatch):
        compiled = graphc.compile(lambda *xs: [ACCURACY[name][0](x) for name, x in zip(names, xs)])
        results = quiet(compiled, *[graphc.tensor(table[name][0]) for name in names])
    for name, result in zip(names, results):
        got = result.numpy()
        assert got.dtype == np.dtype(dtype)
        error = ulps(got, table[name][1], table[name][2])
        assert error <= ULPS[dtype][name], f"{name} in {dtype}: {error:.1f} ulps"


# ----------------------------------------------------------------------------- edge values against torch

EDGES = [0.0, -0.0, 1e-30, -1e-30, 1e-8, -3e-5, 0.25, -0.5, 0.5, 0.7, 0.999, -0.999, 1.0, -1.0, 1.5, 2.0, -2.5, -3.0, 7.0, -20.0]
EDGES += [27.0, 88.5, -100.0, 709.9, -710.2, 1e10, -1e20, 3e38, 1e300, math.inf, -math.inf, math.nan]

# name -> (graphc's function, torch's), each of the edge values (y: the values reversed)
FUNCTIONS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "lgamma": (graphc.lgamma, torch.lgamma),
    "digamma": (graphc.digamma, torch.digamma),
    "polygamma1": (lambda x: graphc.polygamma(1, x), lambda x: torch.polygamma(1, x)),
    "polygamma2": (lambda x: x.polygamma(2), lambda x: x.polygamma(2)),
    "mvlgamma": (lambda x: graphc.mvlgamma(x, 3), lambda x: torch.mvlgamma(x, 3)),
    "erfc": (graphc.erfc, torch.erfc),
    "erfinv": (graphc.erfinv, torch.erfinv),
    "i0": (graphc.i0, torch.i0),
    **{name: (getattr(graphc.special, name), getattr(torch.special, name)) for name in "erfcx ndtr ndtri log_ndtr i0e i1 i1e entr spherical_bessel_j0".split()},
    "xlog1py": (lambda x: graphc.special.xlog1py(x, x.flip(0)), lambda x: torch.special.xlog1py(x, x.flip(0))),
}


def _differences(name: str, x: np.ndarray, torchs: np.ndarray) -> np.ndarray:
    """torch's results with graphc's deliberate differences (docs/decisions.md, "Special functions")."""
    want = torchs.copy()
    big = np.isinf(x)
    if name in ("i0", "i1"):  # torch's exp(|x|) I(x) exp(-|x|) is NaN at +-inf and overflows from 709.8; I is finite to 713
        want[big] = np.inf if name == "i0" else np.sign(x[big]) * np.inf
        with mpmath.workdps(30):
            far = np.isfinite(x) & (np.abs(x) > 700)
            want[far] = [float(mpmath.besseli(int(name[1]), mpmath.mpf(float(v)))) for v in x[far]]
    if name == "polygamma1":  # torch's trigamma reflects with sin(pi x) rounded, finite at the poles
        want[(x <= 0) & (x == np.round(x)) & np.isfinite(x)] = np.inf
    if name == "polygamma2":  # torch's zeta is NaN at inf and -inf at -inf, where the limits are 0 and none
        want[x == np.inf], want[x == -np.inf] = 0.0, np.nan
    if name == "ndtr":  # torch's float64 ndtr is 0 below -8.37 (its erfc is no tail-accurate one)
        with mpmath.workdps(30):
            want[x == -20.0] = float(mpmath.ncdf(-20))
    return want


# Where torch's float64 is less accurate than that: its digamma cancels near its zero at 1.46
# (psi(x + n) - sum 1/(x + k)), its trigamma sums six terms before a short asymptotic series, its
# ndtr and log_ndtr take erfc of the rounded x / sqrt 2, an error erfc grows x**2-fold (30 ulps at -3).
TORCH_FLOAT64_ERROR = {"digamma": 1e-13, "polygamma1": 1e-9, "polygamma2": 1e-13, "ndtr": 1e-14, "log_ndtr": 1e-12}


def _reflection_size(name: str, x: np.ndarray) -> np.ndarray:
    """The size of the terms the reflection below 0 adds (|f(1 - x)|; mvlgamma's per lgamma), 0 elsewhere."""
    shifts = {"mvlgamma": [0.0, 0.5, 1.0]}.get(name, [0.0]) if name in REFLECTED | {"polygamma2", "mvlgamma"} else []
    size = np.zeros(len(x))
    base = {"mvlgamma": torch.lgamma, "polygamma2": lambda v: torch.polygamma(2, v)}.get(name) or FUNCTIONS[name][1]
    for shift in shifts:
        arguments = x.astype(np.float64) - shift
        terms = quiet(base, torch.tensor(1 - arguments)).numpy()
        size += np.where((arguments < 0) & np.isfinite(terms), np.abs(terms), 0.0)
    return size


# Fusion off once, in float64: whether a graph is fused does not depend on its dtype.
FUSION_AND_DTYPE = [(True, "float32"), (True, "float64"), (False, "float64")]


@pytest.mark.parametrize(("fusion", "dtype"), FUSION_AND_DTYPE, ids=["fused-float32", "fused-float64", "unfused-float64"])
def test_edge_values_match_torch(fusion: bool, dtype: str) -> None:
    """Specials exactly, zero signs too; values as close as torch's float64 is accurate, float32 against
    torch's float64 rounded to float32 (its float32 reflections round sin(pi x)), below 0 in units of
    the reflection's terms."""
    with np.errstate(over="ignore"):  # 1e300 is inf in float32
        x = np.array(EDGES, dtype=np.float64).astype(dtype)
    for name, (ours, theirs) in FUNCTIONS.items():
        with graphc.use_fusion(fusion):
            got = quiet(ours, graphc.tensor(x)).numpy()
        with np.errstate(over="ignore"):
            wide = x if name == "mvlgamma" else x.astype(np.float64)  # mvlgamma's x - 1 rounds in float32 (1e-8 - 1 is -1)
            want = _differences(name, x, quiet(theirs, torch.tensor(wide)).numpy()).astype(dtype)
        assert got.dtype == want.dtype, name
        special = ~np.isfinite(want)
        assert np.array_equal(got[special], want[special], equal_nan=True), f"{name} at {x[special]}: {got[special]} vs {want[special]}"
        assert np.array_equal(np.signbit(got[want == 0]), np.signbit(want[want == 0])), f"{name}: zero signs at {x[want == 0]}"
        rtol = 8e-7 if dtype == "float32" else TORCH_FLOAT64_ERROR.get(name, 2e-15)
        scale = np.maximum(np.abs(want.astype(np.float64)), _reflection_size(name, x))[~special]
        error = np.abs(got[~special].astype(np.float64) - want[~special].astype(np.float64))
        wrong = error > rtol * scale
        assert not wrong.any(), f"{name} at {x[~special][wrong]}: {got[~special][wrong]} vs {want[~special][wrong]}"


def test_integers_and_bools_compute_in_the_default_float_as_torch() -> None:
    for values in (np.array([1, 2, 5, -3]), np.array([True, False])):
        g, t = graphc.tensor(values), torch.tensor(values)
        for ours, theirs in [
            (graphc.lgamma(g), torch.lgamma(t)),
            (g.digamma(), t.digamma()),
            (graphc.polygamma(2, g), torch.polygamma(2, t)),
            (graphc.mvlgamma(g * g + 2, 2), torch.mvlgamma(t * t + 2, 2)),
            (graphc.special.xlog1py(g, g), torch.special.xlog1py(t, t)),
            (graphc.erfc(g), torch.erfc(t)),
        ]:
            assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    x = graphc.tensor(np.array([0.5, 2.0]))
    assert graphc.special.xlog1py(x, 3).dtype == graphc.float64 and graphc.special.xlog1py(2, x).dtype == graphc.float64


def test_bad_orders_are_refused_with_torchs_reasons() -> None:
    x = graphc.tensor(np.array([1.5, 2.5]))
    with pytest.raises(GraphcError, match=r"polygamma.*does not support negative n"):
        graphc.polygamma(-1, x)
    with pytest.raises(GraphcError, match=r"polygamma.*n must be an int, not float"):
        x.polygamma(1.5)
    with pytest.raises(GraphcError, match=r"mvlgamma.*p has to be greater than or equal to 1"):
        graphc.mvlgamma(x, 0)


# ----------------------------------------------------------------------------- gradients in float64

X = np.array([0.3, 1.7, 4.5, -0.6, -2.3, 12.0])
P = np.array([0.3, 0.999, 1e-12, 0.5, 0.7, 0.01])
GRADIENTS: dict[str, tuple[Callable[..., Any], np.ndarray]] = {
    "lgamma": (lambda T, x: T.lgamma(x), X),
    "digamma": (lambda T, x: T.digamma(x), X),  # torch's trigamma is 1e-9 off (rtol below)
    "polygamma": (lambda T, x: T.polygamma(2, x) + x.polygamma(3), X),
    "mvlgamma": (lambda T, x: T.mvlgamma(x.abs() + 2, 3), X),
    "erfc": (lambda T, x: T.erfc(x) + T.special.erfcx(x), X),
    "erfinv": (lambda T, x: T.erfinv(x * 2 - 1), P),
    "ndtr": (lambda T, x: T.special.ndtr(x) + T.special.log_ndtr(x * 5), X),
    "ndtri": (lambda T, x: T.special.ndtri(x), P),
    "bessel": (lambda T, x: T.i0(x) + T.special.i0e(x) + T.special.i1(x) + T.special.i1e(x), np.array([0.3, -1.7, 9.5, 0.0, -0.0, 20.0])),
    "xlog1py": (lambda T, x: T.special.xlog1py(x * (x > 1), x - 0.5) + T.special.entr(x.abs()), X),
}


@pytest.mark.parametrize("name", list(GRADIENTS))
def test_gradients_are_torchs_formulas_in_float64(name: str) -> None:
    fn, x = GRADIENTS[name]
    check_grads(fn, x, rtol=1e-8 if name == "digamma" else 1e-12, atol=0)


def test_second_derivative_of_lgamma_is_trigamma() -> None:
    g = graphc.tensor(X, requires_grad=True)
    (slope,) = graphc.autograd.grad(graphc.lgamma(g).sum(), [g], create_graph=True)
    (curvature,) = graphc.autograd.grad(slope.sum(), [g])
    with mpmath.workdps(30):
        want = [float(mpmath.polygamma(1, v)) for v in X]
    np.testing.assert_allclose(curvature.numpy(), want, rtol=1e-15)


# ----------------------------------------------------------------------------- the API

# torch.special's functions graphc does not compute, and why (docs/decisions.md, "Special functions").
LEFT_OUT = """airy_ai bessel_j0 bessel_j1 bessel_y0 bessel_y1 modified_bessel_k0 modified_bessel_k1 scaled_modified_bessel_k0
scaled_modified_bessel_k1 zeta chebyshev_polynomial_t chebyshev_polynomial_u
chebyshev_polynomial_v chebyshev_polynomial_w shifted_chebyshev_polynomial_t shifted_chebyshev_polynomial_u
shifted_chebyshev_polynomial_v shifted_chebyshev_polynomial_w hermite_polynomial_h hermite_polynomial_he
laguerre_polynomial_l legendre_polynomial_p""".split()
NOT_FUNCTIONS = {"Tensor", "torch", "common_args", "multi_dim_common"}


def test_graphc_special_has_every_torch_special_function_but_the_listed_ones() -> None:
    names = {n for n in dir(torch.special) if not n.startswith("_")} - NOT_FUNCTIONS
    assert sorted(n for n in names - set(LEFT_OUT) if not hasattr(graphc.special, n)) == []
    assert [n for n in LEFT_OUT if hasattr(graphc.special, n) or n not in names] == []


def test_aliases_and_reused_functions_match_torch_special() -> None:
    x = np.array([[0.3, -1.2, 2.5], [4.3, -0.7, 0.1]])  # no integers: sinc is exact there, torch is not (decisions.md)
    g, t = graphc.tensor(x), torch.tensor(x)
    for name in "expit gammaln psi erf exp2 expm1 log1p sinc round modified_bessel_i0 modified_bessel_i1".split():
        np.testing.assert_allclose(getattr(graphc.special, name)(g).numpy(), getattr(torch.special, name)(t).numpy(), rtol=1e-15, err_msg=name)
    np.testing.assert_allclose(graphc.special.logit(g.abs() / 5).numpy(), torch.special.logit(t.abs() / 5).numpy(), rtol=1e-15)
    np.testing.assert_allclose(graphc.special.xlogy(g, g.abs()).numpy(), torch.special.xlogy(t, t.abs()).numpy(), rtol=1e-15)
    np.testing.assert_allclose(graphc.special.multigammaln(g.abs() + 2, 2).numpy(), torch.special.multigammaln(t.abs() + 2, 2).numpy(), rtol=1e-15)
    for name in ("softmax", "log_softmax", "logsumexp"):
        np.testing.assert_allclose(getattr(graphc.special, name)(g, 1).numpy(), getattr(torch.special, name)(t, 1).numpy(), rtol=1e-14, err_msg=name)
    np.testing.assert_allclose(graphc.special.round(g, decimals=1).numpy(), torch.special.round(t, decimals=1).numpy())
    grad = graphc.tensor(x, requires_grad=True)
    for name in ("modified_bessel_i0", "modified_bessel_i1", "spherical_bessel_j0"):  # torch's have no derivative
        assert not getattr(graphc.special, name)(grad).requires_grad, name


def test_functions_methods_and_in_place_twins_exist_where_torch_has_them() -> None:
    for name in "lgamma digamma polygamma mvlgamma erfc erfinv i0".split():
        assert hasattr(graphc, name), name
        assert hasattr(graphc.Tensor, name) and hasattr(graphc.Tensor, name + "_"), name
    g, t = graphc.tensor(np.array([0.4, 2.5, 7.0])), torch.tensor(np.array([0.4, 2.5, 7.0]))
    for call in (lambda x: x.lgamma_(), lambda x: x.digamma_(), lambda x: x.polygamma_(1), lambda x: x.mvlgamma_(1), lambda x: x.erfc_(), lambda x: x.i0_()):
        g2, t2 = g.clone(), t.clone()
        assert call(g2) is g2
        call(t2)
        np.testing.assert_allclose(g2.numpy(), t2.numpy(), rtol=1e-9)


# ----------------------------------------------------------------------------- imported from torch


class SpecialModule(torch.nn.Module):
    """torch.export keeps lgamma, polygamma, erfinv and most torch.special ops as ATen ops; graphc's
    exporter keeps log_ndtr, xlog1py and entr whole too (their decompositions lose the tails or
    change the gradient). A few of each kind: the lowerings share the composites tested above."""

    def forward(self, x: torch.Tensor, p: torch.Tensor) -> list[torch.Tensor]:
        s = torch.special
        return [
            torch.lgamma(x) + torch.polygamma(2, x),
            torch.erfinv(p * 2 - 1) + s.log_ndtr(x * 9),
            s.i1e(x) + s.modified_bessel_i0(x) + s.spherical_bessel_j0(x) + s.xlog1py(x, p) + s.xlog1py(2.0, p) + s.entr(p),
        ]


def test_an_imported_torch_module_matches_eager_torch_in_values_and_gradients() -> None:
    model = SpecialModule()
    compiled = graphc.compile(model, backend="numpy")
    x = torch.tensor([[0.3, -1.7, 4.5], [-0.6, 12.0, 2.0]], dtype=torch.float64)
    p = torch.tensor([[0.3, 0.999, 1e-12], [0.5, 0.7, 0.0]], dtype=torch.float64)
    mine, theirs = [x.clone().requires_grad_(), p.clone().requires_grad_()], [x.clone().requires_grad_(), p.clone().requires_grad_()]
    got, expected = compiled(*mine), quiet(model, *theirs)
    for a, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(a.detach().numpy(), e.detach().numpy(), rtol=1e-13)
    weights = [torch.tensor(RNG.standard_normal(tuple(e.shape))) for e in expected]
    sum((a * w).sum() for a, w in zip(got, weights)).backward()
    sum((e * w).sum() for e, w in zip(expected, weights)).backward()
    for a, e in zip(mine, theirs):
        np.testing.assert_allclose(a.grad.numpy(), e.grad.numpy(), rtol=1e-12)
