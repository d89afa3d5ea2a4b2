"""torch's elementwise math against eager torch: trigonometric and hyperbolic functions and their
inverses, exp2/expm1/log2/log10/logit/sinc, atan2/hypot/xlogy/float_power/heaviside,
sgn/signbit/square/absolute, addcmul/addcdiv/lerp/clamp_min/clamp_max, nan_to_num and the float
classifications, isclose/allclose/equal, and their in-place forms.

Values are compared on the same inputs, edge values included (signed zeros, tiny and huge
arguments, infinities, NaN), in every float dtype and with integer and bool inputs, on every
kernel flavour (``engine``: NumPy kernels, the C loops, Triton under its interpreter) with
fusion on and off. Accuracy is measured in ulps against results exact to the dtype (mpmath):
4 ulps at most, near 0, near the ends of the domains and at large arguments. Gradients are
compared with torch.autograd in float64, at the points where torch defines them specially.
docs/decisions.md ("Elementwise math") has the choices.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import mpmath
import numpy as np
import pytest
import torch
from helpers import assert_matches, pair, pairs, to_numpy

import graphc
from graphc.errors import GraphcError
from graphc.frontend import lazy

pytestmark = pytest.mark.usefixtures("fusion")  # every case with fusion on and off

RNG = np.random.default_rng(20240612)


@pytest.fixture(params=["numpy", "c-loops", "triton"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The kernels that compute the ops: NumPy's, the C loops (for eager code's programs too), or Triton's."""
    name = request.param
    if name == "triton":
        pytest.importorskip("triton")
    if name == "c-loops":
        monkeypatch.setenv("GRAPHC_NATIVE", "all")
        monkeypatch.setattr(lazy, "_programs", {})
    with graphc.use_backend("triton" if name == "triton" else "numpy"):
        yield name


def assert_same(got: Any, expected: Any, rtol: float | None = None, atol: float | None = None, zero_signs: bool = True) -> None:
    """assert_matches, and the sign of every zero (atan2, asin, expm1 of -0.0 are -0.0)."""
    assert_matches(got, expected, rtol, atol)
    have, want = got.numpy(), to_numpy(expected)
    if zero_signs and want.dtype.kind == "f" and have.dtype.name != "bfloat16":
        zero = want == 0
        assert np.array_equal(np.signbit(have[zero]), np.signbit(want[zero])), f"signs of zeros differ: {have} vs {want}"


def quiet(fn: Callable[..., Any], *args: Any) -> Any:
    """torch warns on some edge values; the comparison wants only the result."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


# Edge values: signed zeros, tiny, around 1, large (beyond float16, near the float32 and float64
# overflow of exp and cosh), infinities and NaN.
EDGES = [0.0, -0.0, 1e-30, -1e-30, 1e-8, -3e-5, 0.25, -0.5, 0.7, 0.999, -0.999, 1.0, -1.0, 1.5, -2.5, 7.0, -20.0]
EDGES += [88.5, -100.0, 709.9, -710.2, 1e10, -1e20, 3e38, math.inf, -math.inf, math.nan]

FLOAT_UNARY = """tan asin arcsin acos arccos atan arctan sinh cosh asinh arcsinh acosh arccosh atanh arctanh
expm1 exp2 log2 log10 logit sinc deg2rad rad2deg""".split()
OTHER_UNARY = "sgn signbit square absolute nan_to_num isnan isinf isfinite isposinf isneginf".split()


# torch's float32 sinc takes sin of the rounded pi x (130 ulps off near integers, NaN at 3e38) and
# its logit loses all digits near 1/2; graphc's are accurate, so they are compared with torch's
# float64 results rounded to the dtype.
ROUNDED_FROM_FLOAT64 = {"sinc", "logit"}


def grid(dtype: str) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.array(EDGES, dtype=np.float64).astype(dtype)


# ----------------------------------------------------------------------------- unary: values


def finite_where_true(op: str, x: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """torch's sinh and cosh where finite; mpmath's value where torch overflows early.

    torch's vectorized float64 sinh/cosh give inf from about 709.8 (where exp overflows) on some
    CPUs (this one: 709.9 and -710.2), where the true values are finite up to 710.47 and graphc's
    half-exponential form gives them; its scalar loop and other CPUs give them too."""
    if op not in ("sinh", "cosh") or x.dtype != torch.float64:
        return expected
    fixed = expected.clone()
    for i in torch.nonzero(torch.isinf(expected) & torch.isfinite(x)).flatten().tolist():
        true = float(getattr(mpmath, op)(mpmath.mpf(float(x[i]))))
        if math.isfinite(true):
            fixed[i] = true
    return fixed


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("op", FLOAT_UNARY + OTHER_UNARY)
def test_unary_edge_values_match_torch(engine: str, op: str, dtype: str) -> None:
    """Module function and method, on a strided view too; half precision is computed in float32 and rounded once, as torch."""
    values = grid(dtype)
    g, t = pair(values)

    def reference(x: torch.Tensor) -> torch.Tensor:
        if op not in ROUNDED_FROM_FLOAT64:
            return finite_where_true(op, x, quiet(getattr(torch, op), x))
        return quiet(getattr(torch, op), x.double()).to(x.dtype)

    signs = op not in ROUNDED_FROM_FLOAT64  # sinc's zeros at integers round from torch's tiny values of either sign
    assert_same(getattr(graphc, op)(g), reference(t), zero_signs=signs)
    assert_same(getattr(g[1::2], op)(), reference(t[1::2]), zero_signs=signs)


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
@pytest.mark.parametrize("op", FLOAT_UNARY + OTHER_UNARY)
def test_unary_of_integers_and_bools_promotes_or_refuses_as_torch(op: str, dtype: str) -> None:
    """Float functions of integers and bools are float32; sgn, square and the classifications keep or promote as torch."""
    g, t = pair(np.array([-3, -1, 0, 1, 2, 5]).astype(dtype))
    try:
        expected = quiet(getattr(torch, op), t)
    except RuntimeError:
        with pytest.raises(GraphcError):
            getattr(graphc, op)(g)
        return
    assert_same(getattr(graphc, op)(g), expected)


def test_logit_with_eps_clamps_first_and_its_default_keeps_nan_outside(engine: str) -> None:
    values = np.array([-0.5, 0.0, 1e-6, 0.05, 0.1, 0.3, 0.5, 0.9, 0.97, 1.0, 1.5, math.nan])
    for dtype in ("float32", "float64"):
        g, t = pair(values.astype(dtype))
        assert_same(graphc.logit(g), torch.logit(t))
        assert_same(g.logit(eps=0.1), t.logit(eps=0.1))
        assert_same(graphc.logit(g, 1e-6), torch.logit(t, 1e-6))


def test_nan_to_num_defaults_are_each_dtypes_extremes_and_numbers_replace_them(engine: str) -> None:
    dtypes = ["float16", "float32", "float64"] + (["bfloat16"] if engine != "triton" else [])  # no bfloat16 in Triton's interpreter
    for dtype in dtypes:
        g = graphc.tensor([math.nan, math.inf, -math.inf, 1.5, -0.0], dtype=graphc.float64).to(getattr(graphc, dtype))
        t = torch.tensor([math.nan, math.inf, -math.inf, 1.5, -0.0], dtype=torch.float64).to(getattr(torch, dtype))
        assert_same(graphc.nan_to_num(g), torch.nan_to_num(t))
        assert_same(g.nan_to_num(nan=2.0, posinf=1e4, neginf=-7.0), t.nan_to_num(nan=2.0, posinf=1e4, neginf=-7.0))
        assert_same(graphc.nan_to_num(g, posinf=1e30), torch.nan_to_num(t, posinf=1e30))  # inf again in half precision


def test_square_of_bools_is_int64_and_of_integers_wraps_as_torch() -> None:
    for values in (np.array([True, False]), np.array([3, -4, 46341], dtype=np.int32), np.array([3, -2**32], dtype=np.int64)):
        g, t = pair(values)
        assert_same(graphc.square(g), torch.square(t))


# ----------------------------------------------------------------------------- unary: accuracy in ulps


def ulps(got: np.ndarray, want: np.ndarray) -> float:
    """The largest error in units of the last place of the exact results (``want``, of got's dtype); specials must match."""
    special = ~np.isfinite(want)
    assert np.array_equal(got[special], want[special], equal_nan=True), f"specials differ: {got[special]} vs {want[special]}"
    finite = ~special
    if not finite.any():
        return 0.0
    spacing = np.spacing(np.abs(want[finite]).astype(got.dtype)).astype(np.float64)
    return float(np.max(np.abs(got[finite].astype(np.float64) - want[finite].astype(np.float64)) / spacing))


MPMATH: dict[str, Callable[[Any], Any]] = {
    "tan": mpmath.tan,
    "asin": mpmath.asin,
    "acos": mpmath.acos,
    "atan": mpmath.atan,
    "sinh": mpmath.sinh,
    "cosh": mpmath.cosh,
    "asinh": mpmath.asinh,
    "acosh": mpmath.acosh,
    "atanh": mpmath.atanh,
    "expm1": mpmath.expm1,
    "exp2": lambda v: mpmath.power(2, v),
    "log2": lambda v: mpmath.log(v, 2),
    "log10": mpmath.log10,
    "logit": lambda v: mpmath.log(v / (1 - v)),
    "sinc": lambda v: mpmath.sinc(mpmath.pi * v),
}


def log_uniform(low: float, high: float, count: int, signed: bool = True) -> np.ndarray:
    values = 10.0 ** RNG.uniform(math.log10(low), math.log10(high), count)
    return values * RNG.choice([-1.0, 1.0], count) if signed else values


# Where each function is hard: near 0 (cancellation in the textbook formulas), near the ends of
# the domain, and at large arguments. float32 samples are rounded from these.
DOMAINS: dict[str, np.ndarray] = {
    "tan": np.concatenate([log_uniform(1e-20, 1.0, 150), RNG.uniform(-10, 10, 150), RNG.uniform(1.56, 1.58, 50)]),
    "asin": np.concatenate([log_uniform(1e-20, 1.0, 200), 1 - log_uniform(1e-12, 0.3, 100, signed=False)]),
    "acos": np.concatenate([RNG.uniform(-1, 1, 150), 1 - log_uniform(1e-12, 0.3, 100, signed=False), -1 + log_uniform(1e-12, 0.3, 100, signed=False)]),
    "atan": np.concatenate([log_uniform(1e-30, 1e30, 300), RNG.uniform(-3, 3, 100)]),
    "sinh": np.concatenate([log_uniform(1e-20, 1.0, 150), RNG.uniform(-30, 30, 150), RNG.uniform(700, 710, 20)]),
    "cosh": np.concatenate([log_uniform(1e-20, 1.0, 100), RNG.uniform(-30, 30, 150), RNG.uniform(700, 710, 20)]),
    "asinh": np.concatenate([log_uniform(1e-20, 1e30, 300), RNG.uniform(-3, 3, 100)]),
    "acosh": np.concatenate([1 + log_uniform(1e-12, 1.0, 150, signed=False), log_uniform(1.0, 1e30, 150, signed=False)]),
    "atanh": np.concatenate([log_uniform(1e-20, 0.5, 150), (1 - log_uniform(1e-12, 0.5, 150, signed=False)) * RNG.choice([-1, 1], 150)]),
    "expm1": np.concatenate([log_uniform(1e-20, 1.0, 200), RNG.uniform(-40, 80, 200)]),
    "exp2": np.concatenate([log_uniform(1e-20, 1.0, 100), RNG.uniform(-140, 120, 200), np.arange(-20.0, 21.0)]),
    "log2": np.concatenate([log_uniform(1e-30, 1e30, 200, signed=False), 1 + log_uniform(1e-7, 0.1, 100), 2.0 ** np.arange(-20.0, 21.0)]),
    "log10": np.concatenate([log_uniform(1e-30, 1e30, 200, signed=False), 1 + log_uniform(1e-7, 0.1, 100)]),
    "logit": np.concatenate(
        [RNG.uniform(0, 1, 150), 0.5 + log_uniform(1e-7, 0.2, 100), log_uniform(1e-30, 0.1, 50, signed=False), 1 - log_uniform(1e-7, 0.1, 50, signed=False)]
    ),
    "sinc": np.concatenate([log_uniform(1e-20, 1.0, 150), RNG.uniform(-4, 4, 150)]),
}


@functools.cache
def exact(op: str, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """The inputs of ``op`` in ``dtype`` and its results rounded from 50 digits."""
    x = DOMAINS[op].astype(dtype)
    with mpmath.workdps(50):
        want = np.array([float(MPMATH[op](mpmath.mpf(float(v)))) for v in x.astype(np.float64)])
    with np.errstate(over="ignore"):  # sinh and cosh beyond float32
        return x, want.astype(dtype)


# Measured on these samples: at most 3 ulps from the correctly rounded result on every engine
# (logit's two roundings before its log1p, acosh's, Triton's Kahan expm1); most are within 1 or 2.
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", list(MPMATH))
def test_accuracy_is_a_few_ulps_near_zero_and_far_out(engine: str, op: str, dtype: str) -> None:
    x, want = exact(op, dtype)
    got = quiet(getattr(graphc, op), graphc.tensor(x)).numpy()
    assert got.dtype == x.dtype
    assert ulps(got, want) <= 4.0, f"{op} in {dtype}: {ulps(got, want):.2f} ulps"


def test_powers_of_two_are_exact_in_exp2_and_log2(engine: str) -> None:
    """log2(8) was 2.9999999999999996 through log(x) / log(2); exp2 of an integer is a power of two."""
    for dtype in ("float32", "float64"):
        k = np.arange(-60.0, 61.0).astype(dtype)
        assert np.array_equal(graphc.log2(graphc.tensor(2.0**k)).numpy(), k)
        assert np.array_equal(graphc.exp2(graphc.tensor(k)).numpy(), (2.0**k).astype(dtype))


def test_logit_is_accurate_near_one_half_where_torchs_formula_is_not(engine: str) -> None:
    """torch's log(x / (1 - x)) is 7e-5 off (relative) at 0.4999999999996148 in float64; graphc's log1p form is not."""
    x = np.array([0.4999999999996148, 0.5 + 1e-12, 0.5 - 3e-9, 0.5 + 1e-4, 0.5])
    got = graphc.logit(graphc.tensor(x)).numpy()
    with mpmath.workdps(50):
        want = np.array([float(mpmath.log(mpmath.mpf(v) / (1 - mpmath.mpf(v)))) for v in x])
    np.testing.assert_allclose(got, want, rtol=4e-16, atol=0)
    assert abs(torch.logit(torch.tensor(x[0])).item() / want[0] - 1) > 5e-5


# ----------------------------------------------------------------------------- two operands

SPECIALS = np.array([1.0, -1.0, 0.0, -0.0, math.inf, -math.inf, math.nan, 2.0, -5.0, 3e-300, 1e300])
BINARY = ["atan2", "arctan2", "hypot", "xlogy", "float_power", "heaviside"]


def every_pair(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of the special values: signed zeros choose atan2's half-plane, infinities beside NaN."""
    with np.errstate(over="ignore"):
        a, c = np.meshgrid(SPECIALS.astype(dtype), SPECIALS.astype(dtype))
    return a.ravel(), c.ravel()


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("op", BINARY)
def test_binary_functions_of_every_pair_of_special_values_match_torch(engine: str, op: str, dtype: str) -> None:
    (ga, gc), (ta, tc) = pairs(*every_pair(dtype))
    assert_same(getattr(graphc, op)(ga, gc), quiet(getattr(torch, op), ta, tc))
    assert_same(getattr(ga, op)(gc), quiet(getattr(ta, op), tc))


SHAPES = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((4,), (2, 3, 4)), ((), (3, 4))]


@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("op", ["atan2", "hypot", "xlogy", "float_power", "heaviside", "isclose"])
def test_binary_functions_broadcast_over_views(engine: str, op: str, shapes: tuple) -> None:
    a, c = RNG.standard_normal(shapes[0]) * 3, RNG.standard_normal(shapes[1]) * 3
    if op == "float_power":
        a = np.abs(a)
    c.reshape(-1)[:1] = 0.0  # heaviside's values at a zero, isclose's equal elements
    a.reshape(-1)[:1] = 0.0
    (ga, gc), (ta, tc) = pairs(a, c)
    assert_same(getattr(graphc, op)(ga, gc), getattr(torch, op)(ta, tc))
    if len(shapes[0]) == 2 and shapes[0] == shapes[1]:
        assert_same(getattr(graphc, op)(ga.T[1:], gc.T[:-1]), getattr(torch, op)(ta.T[1:], tc.T[:-1]))


# (first dtype, second dtype): torch's promotion, integers to float32 for the float functions
PROMOTIONS = [("int64", "int64"), ("int32", "float64"), ("bool", "float32"), ("float16", "float32"), ("int64", "float16")]


@pytest.mark.parametrize("dtypes", PROMOTIONS, ids=lambda d: f"{d[0]}-{d[1]}")
@pytest.mark.parametrize("op", ["atan2", "hypot", "xlogy", "float_power", "heaviside", "isclose"])
def test_binary_dtypes_promote_or_are_refused_as_by_torch(op: str, dtypes: tuple) -> None:
    (ga, gc), (ta, tc) = pairs(np.array([3, 0, -2, 1]).astype(dtypes[0]), np.array([1, 0, 4, -1]).astype(dtypes[1]))
    try:
        expected = getattr(torch, op)(ta, tc)
    except RuntimeError:
        with pytest.raises(GraphcError, match=op):
            getattr(graphc, op)(ga, gc)
        return
    assert_same(getattr(graphc, op)(ga, gc), expected)


def test_python_numbers_and_0d_tensors_on_either_side() -> None:
    g, t = pair(np.array([0.5, 0.0, 2.0, -1.0], dtype=np.float32))
    zero_d, torch_zero_d = pair(np.array(3.0))
    assert_same(graphc.xlogy(2, g), torch.xlogy(2, t))
    assert_same(graphc.xlogy(g, 3), torch.xlogy(t, 3))
    assert_same(graphc.xlogy(g.long(), 3), torch.xlogy(t.long(), 3))
    assert_same(graphc.float_power(2, g), torch.float_power(2, t))
    assert_same(g.float_power(0.5), t.float_power(0.5))
    assert_same(graphc.atan2(g, zero_d), torch.atan2(t, torch_zero_d))
    assert_same(graphc.hypot(zero_d, g.double()), torch.hypot(torch_zero_d, t.double()))


# ----------------------------------------------------------------------------- signs, fused adds, clamps


def test_sgn_signbit_and_absolute_of_every_dtype() -> None:
    for values in (np.array([-2.5, -0.0, 0.0, 3.0, -math.inf, math.nan]), np.array([-3, 0, 4]), np.array([True, False])):
        g, t = pair(values)
        assert_same(graphc.sgn(g), torch.sgn(t))
        assert_same(g.signbit(), t.signbit())
        if values.dtype != bool:
            assert_same(graphc.absolute(g), torch.absolute(t))


def test_signbit_reads_minus_zero_but_not_the_sign_of_nan() -> None:
    """-0.0 has its sign bit; NaN reads as positive whatever its bits (no primitive reads them): torch reads them."""
    g, t = pair(np.array([-0.0, 0.0, -1e-300, math.inf, -math.inf]))
    assert_same(graphc.signbit(g), torch.signbit(t))
    assert graphc.signbit(graphc.tensor([math.nan, -math.nan])).tolist() == [False, False]


def test_addcmul_and_addcdiv_with_values_broadcasts_and_torchs_refusals(engine: str) -> None:
    (x, t1, t2), (tx, tt1, tt2) = pairs(RNG.standard_normal((3, 4)), RNG.standard_normal((4,)), RNG.standard_normal((3, 1)) + 3)
    assert_same(graphc.addcmul(x, t1, t2), torch.addcmul(tx, tt1, tt2))
    assert_same(x.addcmul(t1, t2, value=-0.5), tx.addcmul(tt1, tt2, value=-0.5))
    assert_same(graphc.addcdiv(x, t1, t2, value=2), torch.addcdiv(tx, tt1, tt2, value=2))
    assert_same(x.addcdiv(t1.float(), t2), tx.addcdiv(tt1.float(), tt2))
    (i, j), (ti, tj) = pairs(np.array([1, 2, 3]), np.array([4, -5, 6]))
    assert_same(graphc.addcmul(i, j, j, value=2), torch.addcmul(ti, tj, tj, value=2))
    assert_same(graphc.addcdiv(i, j.float(), j), torch.addcdiv(ti, tj.float(), tj))
    with pytest.raises(RuntimeError, match="Integer division"):
        torch.addcdiv(ti, tj, tj)
    with pytest.raises(GraphcError, match="integer division with addcdiv"):
        graphc.addcdiv(i, j, j)
    with pytest.raises(RuntimeError):
        torch.addcmul(ti.bool(), tj.bool(), tj.bool())
    with pytest.raises(GraphcError, match="bool"):
        graphc.addcmul(i.bool(), j.bool(), j.bool())


def test_lerp_is_torchs_two_sided_formula_exact_at_both_ends(engine: str) -> None:
    (a, c, w), (ta, tc, tw) = pairs(RNG.standard_normal((3, 4)) * 1e3, RNG.standard_normal((3, 4)) * 1e-3, RNG.uniform(-1, 2, (3, 4)))
    for weight in (0.0, 0.25, 0.5, 0.7, 1.0, -0.3, 1.5):  # torch's vectorized kernel fuses the multiply-add: an ulp apart
        assert_same(graphc.lerp(a, c, weight), torch.lerp(ta, tc, weight))
    assert np.array_equal(graphc.lerp(a, c, 0.0).numpy(), a.numpy())
    assert np.array_equal(graphc.lerp(a, c, 1.0).numpy(), c.numpy())
    assert_same(a.lerp(c, w), ta.lerp(tc, tw))
    assert np.array_equal(graphc.lerp(a, c, graphc.ones(3, 4, dtype=graphc.float64)).numpy(), c.numpy())


def test_clamp_min_and_clamp_max_with_numbers_and_tensors(engine: str) -> None:
    (x, low), (tx, tlow) = pairs(RNG.standard_normal((3, 4)), RNG.standard_normal((4,)))
    assert_same(graphc.clamp_min(x, 0.1), torch.clamp_min(tx, 0.1))
    assert_same(x.clamp_max(low), tx.clamp_max(tlow))
    assert_same(graphc.clamp_max(x.T, -0.2), torch.clamp_max(tx.T, -0.2))
    (i,), (ti,) = pairs(np.array([1, 2, 3]))
    assert_same(graphc.clamp_min(i, 1.5), torch.clamp_min(ti, 1.5))  # a float bound makes it float32, as torch
    assert_same(i.clamp_max(2), ti.clamp_max(2))
    g, t = pair(np.array([math.nan, -math.inf, 2.0]))
    assert_same(g.clamp_min(0.0), t.clamp_min(0.0))


# ----------------------------------------------------------------------------- isclose, allclose, equal

CLOSENESS = [
    {},
    {"rtol": 0.0, "atol": 0.0},
    {"rtol": 0.1},
    {"atol": 0.5, "equal_nan": True},
    {"rtol": 0.0, "atol": 1e-3},
]


@pytest.mark.parametrize("options", CLOSENESS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_isclose_and_allclose_match_torch(engine: str, options: dict) -> None:
    a = np.array([1.0, 1.0 + 1e-6, 1.0, math.inf, math.inf, -math.inf, math.nan, math.nan, 0.0, 1e-9, 100.0])
    c = np.array([1.0, 1.0, 1.001, math.inf, -math.inf, 1e30, math.nan, 1.0, -0.0, 0.0, 100.4])
    for dtype in ("float32", "float64"):
        (ga, gc), (ta, tc) = pairs(a.astype(dtype), c.astype(dtype))
        assert_same(graphc.isclose(ga, gc, **options), torch.isclose(ta, tc, **options))
        assert_same(ga[1:].isclose(gc[:-1], **options), ta[1:].isclose(tc[:-1], **options))
        assert graphc.allclose(ga[:3], gc[:3], **options) == torch.allclose(ta[:3], tc[:3], **options)
        assert ga[:1].allclose(gc[:1], **options) is True
    (i, j), (ti, tj) = pairs(np.array([1, 2, 3, -4]), np.array([1, 3, 3, 4]))
    assert_same(graphc.isclose(i, j, **options), torch.isclose(ti, tj, **options))
    (p, q), (tp, tq) = pairs(np.array([True, False]), np.array([True, True]))
    assert_same(graphc.isclose(p, q, **options), torch.isclose(tp, tq, **options))


def test_isclose_refuses_what_torch_refuses() -> None:
    (a, c), (ta, tc) = pairs(np.array([1.0, 2.0], dtype=np.float32), np.array([1, 2]))
    with pytest.raises(RuntimeError, match="did not match"):
        torch.isclose(ta, tc)
    with pytest.raises(GraphcError, match="float32 did not match int64"):
        graphc.isclose(a, c)
    for option in ({"rtol": -1.0}, {"atol": -1e-3}):
        with pytest.raises(RuntimeError, match="greater than or equal to zero"):
            torch.isclose(ta, ta, **option)
        with pytest.raises(GraphcError, match="greater than or equal to zero"):
            graphc.isclose(a, a, **option)


def test_equal_is_a_python_bool_of_shape_and_values(engine: str) -> None:
    a = np.array([[1.0, 2.0], [3.0, math.inf]])
    cases = [(a, a.copy()), (a, a[:1]), (a, a.T), (np.array([math.nan]), np.array([math.nan])), (a[:, :1].astype(np.int64), a[:, :1])]
    for left, right in cases:
        (g, h), (t, u) = pairs(left, right)
        assert graphc.equal(g, h) is torch.equal(t, u)
        assert g.equal(h) is t.equal(u)


# ----------------------------------------------------------------------------- in place

IN_PLACE = """tan asin arcsin acos arccos atan arctan sinh cosh asinh arcsinh acosh arccosh atanh arctanh expm1 exp2 log10
sinc deg2rad rad2deg sgn square nan_to_num neg exp log log1p log2 sqrt rsqrt sin cos tanh erf abs sign reciprocal sigmoid relu""".split()


@pytest.mark.parametrize("op", IN_PLACE)
def test_in_place_twins_change_the_tensor(op: str) -> None:
    g, t = pair(RNG.uniform(0.05, 0.95, (3, 4)))
    result = quiet(getattr(g, op + "_"))
    quiet(getattr(t, op + "_"))
    assert result is g
    assert_same(g, t)


def test_in_place_twins_with_arguments() -> None:
    calls: list[Callable[[Any, Any], Any]] = [
        lambda x, y: x.atan2_(y),
        lambda x, y: x.arctan2_(y),
        lambda x, y: x.hypot_(y),
        lambda x, y: x.xlogy_(y),
        lambda x, y: x.heaviside_(y),
        lambda x, y: x.logit_(eps=0.2),
        lambda x, y: x.clamp_min_(0.4),
        lambda x, y: x.clamp_max_(y),
        lambda x, y: x.nan_to_num_(nan=1.0),
        lambda x, y: x.addcmul_(y, y, value=3),
        lambda x, y: x.addcdiv_(y, y + 1, value=-1),
        lambda x, y: x.float_power_(y),
    ]
    for call in calls:
        (g, gy), (t, ty) = pairs(RNG.uniform(0.05, 0.95, (3, 4)), RNG.uniform(0.05, 0.95, (3, 4)))
        assert call(g, gy) is g
        call(t, ty)
        assert_same(g, t)
    g, t = pair(np.array([2.0, -3.0]))
    assert graphc.square_(g) is g
    torch.square_(t)
    assert_same(g, t)


def test_float_power_in_place_needs_a_float64_tensor_as_torch() -> None:
    g, t = pair(np.array([2.0, 3.0], dtype=np.float32))
    with pytest.raises(RuntimeError, match="float_power_"):
        t.float_power_(2)
    with pytest.raises(GraphcError, match="float_power_ has dtype float32 but the operation's result requires dtype float64"):
        g.float_power_(2)


def test_in_place_of_an_integer_tensor_refuses_a_float_result_as_torch() -> None:
    g, t = pair(np.array([1, 2, 3]))
    with pytest.raises(RuntimeError):
        t.tan_()
    with pytest.raises(GraphcError, match="can't be cast"):
        g.tan_()


# ----------------------------------------------------------------------------- the API: where torch has it

METHOD_NAMES = """tan asin arcsin acos arccos atan arctan atan2 arctan2 sinh cosh asinh arcsinh acosh arccosh atanh arctanh
expm1 exp2 log2 log10 logit sinc deg2rad rad2deg hypot xlogy heaviside sgn signbit square absolute float_power lerp
addcmul addcdiv clamp_min clamp_max nan_to_num isnan isinf isfinite isposinf isneginf isclose allclose equal""".split()
ACTIVATIONS = "softplus gelu logsigmoid silu mish elu selu celu hardtanh softsign tanhshrink".split()


def test_methods_and_functions_exist_exactly_where_torch_has_them() -> None:
    for name in METHOD_NAMES:
        assert hasattr(graphc, name), f"graphc.{name}"
        assert hasattr(graphc.Tensor, name) == hasattr(torch.Tensor, name), name
        if hasattr(torch.Tensor, name + "_"):
            assert hasattr(graphc.Tensor, name + "_"), name + "_"
    for name in ACTIVATIONS:  # activations are graphc.nn.functional's; torch.Tensor has none of these as methods
        assert hasattr(graphc.nn.functional, name)
        assert hasattr(graphc.Tensor, name) == hasattr(torch.Tensor, name), name


# ----------------------------------------------------------------------------- gradients in float64


def check_grads(fn: Callable[..., Any], *arrays: np.ndarray, rtol: float = 1e-12) -> None:
    """Values and gradients of ``sum(fn(...) * w)`` for every float64 input, against torch.autograd."""
    gs = [graphc.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    got, expected = fn(graphc, *gs), quiet(fn, torch, *ts)
    assert_matches(got, expected)  # torch's vectorized clamp_min(-0.0, 0.0) is 0.0: a tie's zero sign is the kernel's
    weight = RNG.standard_normal(tuple(expected.shape))
    (got * graphc.tensor(weight)).sum().backward()
    (expected * torch.tensor(weight)).sum().backward()
    for g, t in zip(gs, ts):
        if t.grad is None:
            assert g.grad is None
        else:
            assert_matches(g.grad, torch.from_numpy(t.grad.numpy(force=True)), rtol=rtol, atol=0)  # sgn's is a ZeroTensor


X = np.array([0.3, -0.6, 1e-3, 2.5, -4.0, 0.0, -0.0, 0.999])
Y = np.array([1.2, 0.5, -2e-3, 0.0, -0.0, 0.0, 0.0, -7.0])
# x, y -> the function of graphc or torch (T); inputs outside a domain give NaN in both, and their gradients too.
GRADIENTS: dict[str, Callable[..., Any]] = {
    "tan": lambda T, x, y: T.tan(x),
    "asin": lambda T, x, y: T.asin(x),
    "acos": lambda T, x, y: x.acos(),
    "atan": lambda T, x, y: T.atan(x * 3),
    "atan2": lambda T, x, y: T.atan2(x, y),  # (0, 0), (-0, 0), (0, -0): torch's zero gradient at the origin
    "atan2-infinite": lambda T, x, y: T.atan2(x, y / 0.0),
    "sinh": lambda T, x, y: T.sinh(x * 200),  # beyond sinh's overflow the gradient is inf, as torch's
    "cosh": lambda T, x, y: x.cosh(),
    "asinh": lambda T, x, y: T.asinh(x * 1e160),
    "acosh": lambda T, x, y: T.acosh(x.abs() * 3 + 1),
    "atanh": lambda T, x, y: T.atanh(x),
    "expm1": lambda T, x, y: T.expm1(x * 300),
    "exp2": lambda T, x, y: T.exp2(x * 10),
    "log2": lambda T, x, y: T.log2(x.abs() + 0.5),
    "log10": lambda T, x, y: x.abs().log10(),
    # x + 0.0 turns -0.0 into 0.0: torch's sign of the infinite gradient at -0.0 depends on its code path
    # (g * inf from its scalar loop, -g * inf from its vectorized one on some CPUs); graphc's is g * inf.
    "logit": lambda T, x, y: T.logit(x + 0.0),
    "logit-eps": lambda T, x, y: T.logit(x.abs() / 3 + 0.05, eps=0.1),
    "sinc": lambda T, x, y: T.sinc(x * 20),  # 0 at 0, torch's formula elsewhere
    "deg2rad": lambda T, x, y: T.deg2rad(x) * T.rad2deg(y),
    "hypot": lambda T, x, y: T.hypot(x, y),  # NaN at (0, 0), as torch
    "xlogy": lambda T, x, y: T.xlogy(y, x.abs()),  # y == 0: x's gradient 0 where x <= 0, NaN where both are 0
    "xlogy-number": lambda T, x, y: T.xlogy(2.0, x.abs() + 1) + T.xlogy(x, 3.0),
    "float_power": lambda T, x, y: T.float_power(x.abs() + 1, y),
    "sgn": lambda T, x, y: T.sgn(x) * y,
    "square": lambda T, x, y: T.square(x),
    "absolute": lambda T, x, y: T.absolute(x + 1),
    "addcmul": lambda T, x, y: T.addcmul(x, x, y, value=0.5),
    "addcdiv": lambda T, x, y: T.addcdiv(y, x, y.abs() + 1, value=-2),
    "lerp": lambda T, x, y: T.lerp(x, y, 0.7) + T.lerp(y, x, x.abs() / 4),
    "clamp_min": lambda T, x, y: T.clamp_min(x, y),  # ties at 0: the gradient goes to x, as torch
    "clamp_max": lambda T, x, y: T.clamp_max(x, y) + x.clamp_max(0.3),
    "nan_to_num": lambda T, x, y: T.nan_to_num(T.log(x)) + T.nan_to_num(y / x, posinf=1.0),  # zero through NaN and inf
}


@pytest.mark.parametrize("op", list(GRADIENTS))
def test_gradients_match_torch_in_float64(backend: str, op: str) -> None:
    check_grads(GRADIENTS[op], X, Y)


def test_sinc_gradient_near_zero_is_torchs_formula() -> None:
    """torch's (pi x cos(pi x) - sin(pi x)) / (pi x**2) cancels near 0; the libraries' sin and cos differ by an ulp there."""
    check_grads(lambda T, x: T.sinc(x), np.array([1e-3, 2e-2, -1e-4, 0.0]), rtol=1e-9)


def test_heaviside_has_no_derivative_as_in_torch(backend: str) -> None:
    (g, gv), (t, tv) = pairs(np.array([-1.0, 0.0, 2.0]), np.array([0.5, 0.5, 0.5]))
    g.requires_grad_()
    t.requires_grad_()
    with pytest.raises(RuntimeError, match="not implemented"):
        torch.heaviside(t, tv).sum().backward()
    with pytest.raises(GraphcError, match="heaviside: the derivative is not implemented, as in torch") as info:
        graphc.heaviside(g, gv).sum().backward()
    assert "test_ops_math.py" in str(info.value)


def test_second_derivatives_go_through_torchs_formulas() -> None:
    for fn in (lambda T, x: T.atan2(x, x * 2 + 1), lambda T, x: T.expm1(x) * T.tan(x), lambda T, x: T.sinh(x) + T.atanh(x / 4)):
        g = graphc.tensor(np.array([0.3, -0.7, 1.1]), requires_grad=True)
        t = torch.tensor(np.array([0.3, -0.7, 1.1]), requires_grad=True)
        (dg,) = graphc.autograd.grad(fn(graphc, g).sum(), [g], create_graph=True)
        (dt,) = torch.autograd.grad(fn(torch, t).sum(), [t], create_graph=True)
        (ddg,) = graphc.autograd.grad(dg.sum(), [g])
        (ddt,) = torch.autograd.grad(dt.sum(), [t])
        assert_matches(ddg, ddt)


# ----------------------------------------------------------------------------- compiled, and imported from torch


def math_step(T: Any, x: Any, y: Any) -> list[Any]:
    return [
        T.atan2(y, x) + T.hypot(x, y),
        T.asin(T.tanh(x)) * T.acos(T.tanh(y)),
        T.expm1(x) - T.log10(y.abs() + 1) + T.exp2(x) * T.log2(x.abs() + 1),
        T.sinh(x) / T.cosh(y) + T.asinh(x) - T.atanh(T.tanh(y) * 0.5),
        T.logit(T.sigmoid(x), eps=1e-3) + T.sinc(y) + T.xlogy(x.abs(), y.abs() + 1),
        T.nan_to_num(T.log(x)) + T.clamp_min(y, 0.0) * T.deg2rad(x),
        T.isclose(x, y, atol=0.5) & T.isfinite(T.tan(x)),
    ]


def test_a_compiled_function_matches_torch_at_two_batch_sizes_with_gradients(backend: str) -> None:
    """backward() inside the compiled function accumulates .grad on every call, as in eager code."""

    def step(T: Any, x: Any, y: Any) -> list[Any]:
        out = math_step(T, x, y)
        sum(o.sum() for o in out[:-1]).backward()
        return out

    compiled = graphc.compile(lambda x, y: step(graphc, x, y))
    for rows in (4, 6):
        x, y = RNG.standard_normal((rows, 3)), RNG.standard_normal((rows, 3)) * 2
        gx, gy = graphc.tensor(x, requires_grad=True), graphc.tensor(y, requires_grad=True)
        tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
        got, expected = compiled(gx, gy), quiet(step, torch, tx, ty)
        for a, e in zip([*got, gx.grad, gy.grad], [*expected, tx.grad, ty.grad], strict=True):
            assert_matches(a, e)


class MathModule(torch.nn.Module):
    """What a torch module writes; torch.export keeps tan, asin, acos, atan, atan2, the hyperbolic
    functions, expm1, exp2, log2, log10, hypot and signbit as ATen ops, and decomposes the rest."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        return [
            torch.tan(x) + torch.atan(y) + torch.asin(torch.tanh(x)) - torch.acos(torch.tanh(y)),
            torch.atan2(y, x) * torch.hypot(x, y + 1),  # atan2's zero gradient at the origin
            torch.sinh(x) + torch.cosh(y) - torch.asinh(x * 1e3) + torch.acosh(y.abs() + 1.5) + torch.atanh(torch.tanh(x) / 2),
            torch.expm1(x * 1e-6) * 1e6 + torch.exp2(x * 100) * 1e-30 + torch.log2(y.abs() + 1) + torch.log10(x.abs() + 1),
            torch.nn.functional.elu(x * 800),  # beyond expm1's overflow above 0: a finite gradient
            torch.signbit(x).float() + torch.isinf(1 / (x * 0)).float() + torch.isnan(torch.log(y)).float(),
            torch.logit(torch.sigmoid(x), eps=1e-4) + torch.sinc(y) + torch.xlogy(x, y.abs() + 0.5) + torch.heaviside(x.detach(), y.detach()),
            torch.nan_to_num(torch.log(x - 0.1)) + torch.clamp_min(y, 0.1) + torch.lerp(x, y, 0.8) + torch.addcdiv(x, x, y.abs() + 1, value=2),
        ]


def test_an_imported_torch_module_matches_eager_torch_in_values_and_gradients(backend: str) -> None:
    model = MathModule()
    compiled = graphc.compile(model, backend=backend)
    x, y = torch.tensor(RNG.standard_normal((3, 4))), torch.tensor(RNG.standard_normal((3, 4)) * 2)
    x[0, :3] = torch.tensor([0.0, -0.0, 1.5])
    y[0, :3] = torch.tensor([0.0, 0.0, -0.0])
    mine = [x.clone().requires_grad_(), y.clone().requires_grad_()]
    theirs = [x.clone().requires_grad_(), y.clone().requires_grad_()]
    got, expected = compiled(*mine), quiet(model, *theirs)
    for a, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(a.detach().cpu().numpy(), e.detach().numpy(), rtol=1e-12, atol=1e-300)
    weights = [torch.tensor(RNG.standard_normal(tuple(e.shape))) for e in expected]
    sum((a * w).sum() for a, w in zip(got, weights) if a.requires_grad).backward()
    sum((e * w).sum() for e, w in zip(expected, weights) if e.requires_grad).backward()
    for a, e in zip(mine, theirs):
        assert np.isfinite(e.grad.numpy()).all()
        np.testing.assert_allclose(a.grad.cpu().numpy(), e.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_half_rsqrt_is_float32s_rounded_once_as_torch() -> None:
    """torch's (vectorized) half rsqrt rounds float32's once; the NumPy backend rounded a half sqrt and
    then a half reciprocal, an ulp off in a quarter of elements. Compared on whole vectors of 32, as
    torch's scalar tail (the last elements of a length not a multiple of its vector) rounds twice."""
    x = (np.abs(np.random.default_rng(3).standard_normal(4096)) + 0.1).astype(np.float32)
    with graphc.use_backend("numpy"):
        for dtype in ("float16", "bfloat16"):
            want = torch.from_numpy(x).to(getattr(torch, dtype)).rsqrt().float().numpy()
            got = graphc.tensor(x).to(getattr(graphc, dtype)).rsqrt().float().numpy()
            assert np.array_equal(got, want), f"{dtype}: {int((got != want).sum())} elements differ"


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_activations_compute_in_float32_and_round_once_as_torch(dtype: str) -> None:
    """gelu, silu, softplus, mish, hardswish, logsigmoid and softmax of a half tensor compute in
    float32 and round once, as torch's CPU kernels: rounding every step of the composites put a fifth to a half
    of the elements an ulp or more off torch's. Where float32's transcendentals differ (NumPy's and
    torch's), a rounded result can still land an ulp apart, in a few elements; below -3 gelu's
    ``1 + erf`` cancels in float32 in both libraries, so its noise is not compared."""
    x = np.linspace(-3, 6, 4001, dtype=np.float32)
    calls = {
        "gelu": lambda F, t: F.gelu(t),
        "gelu_tanh": lambda F, t: F.gelu(t, approximate="tanh"),
        "silu": lambda F, t: F.silu(t),
        "softplus": lambda F, t: F.softplus(t),
        "mish": lambda F, t: F.mish(t),
        "hardswish": lambda F, t: F.hardswish(t),
        "logsigmoid": lambda F, t: F.logsigmoid(t),
        "softmax": lambda F, t: F.softmax(t[:4000].reshape(80, 50), 1),
    }
    with graphc.use_backend("numpy"):
        for name, call in calls.items():
            want = call(torch.nn.functional, torch.from_numpy(x).to(getattr(torch, dtype))).float().numpy()
            got = call(graphc.nn.functional, graphc.tensor(x).to(getattr(graphc, dtype))).float().numpy()
            ulp = np.abs(want) * (2.0**-10 if dtype == "float16" else 2.0**-7) + 2.0**-24
            assert np.all(np.abs(got - want) <= ulp), f"{name}: {np.abs(got - want).max()} off"
            assert np.mean(got != want) < 0.005, f"{name}: {np.mean(got != want):.1%} of elements differ"


def test_half_means_variances_and_normalizations_compute_in_float32_as_torch() -> None:
    """A half mean summed into half precision before dividing: 20000 tens overflowed to inf (torch:
    10), as did ``mse_loss``; var, std, layer_norm, group_norm and rms_norm rounded each step (torch's
    kernels compute in float32, graphc's results were up to three times farther from the exact
    values). rms_norm of bfloat16 crashed reading NumPy's epsilon of ml_dtypes' bfloat16."""
    tens = np.full(20000, 10.0, dtype=np.float16)
    with graphc.use_backend("numpy"):
        assert float(graphc.tensor(tens).mean()) == 10.0
        assert float(graphc.nn.functional.mse_loss(graphc.tensor(tens), graphc.tensor(tens * 0))) == 100.0
        assert graphc.tensor(tens).mean(dtype=graphc.float32).dtype == graphc.float32
        rng = np.random.default_rng(5)
        x, w = (rng.standard_normal((40, 50)) * 3 + 1).astype(np.float32), rng.standard_normal(50).astype(np.float32)
        calls = {
            "var": lambda T, t, v: t.var(1),
            "std": lambda T, t, v: T.std(t, 0),
            "mean": lambda T, t, v: t.mean(1, keepdim=True),
            "layer_norm": lambda T, t, v: T.nn.functional.layer_norm(t, (50,), v, v),
            "group_norm": lambda T, t, v: T.nn.functional.group_norm(t.reshape(4, 10, 50), 2),
            "rms_norm": lambda T, t, v: T.nn.functional.rms_norm(t, (50,), v),
        }
        for dtype in ("float16", "bfloat16"):
            for name, call in calls.items():
                want = call(torch, torch.from_numpy(x).to(getattr(torch, dtype)), torch.from_numpy(w).to(getattr(torch, dtype))).float().numpy()
                got = call(graphc, graphc.tensor(x).to(getattr(graphc, dtype)), graphc.tensor(w).to(getattr(graphc, dtype))).float().numpy()
                ulp = np.abs(want) * (2.0**-10 if dtype == "float16" else 2.0**-7) + 2.0**-24
                assert np.all(np.abs(got - want) <= ulp), f"{dtype} {name}: {np.abs(got - want).max()} off"
                assert np.mean(got != want) < (0.1 if name == "rms_norm" else 0.005), f"{dtype} {name}: {np.mean(got != want):.1%} differ"


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_lerp_logaddexp_and_scans_compute_in_float32_as_torch(dtype: str) -> None:
    """lerp, logaddexp(2), cumsum, cumprod and logcumsumexp of half tensors compute in float32 and round
    once, as torch's CPU kernels: rounding each step put a quarter (lerp) to two thirds (cumprod) of the
    elements an ulp or more off torch's. torch's lerp fuses a multiply-add that graphc does not, so a
    few elements in a thousand may still land an ulp apart. ``prod`` is not among them: torch's half
    ``prod`` rounds to half at every step, in its own order, which neither graphc's order matches."""
    rng = np.random.default_rng(3)
    a, c = (rng.standard_normal((2, 64, 50)) * 3).astype(np.float32)
    w = rng.uniform(0, 1, (64, 50)).astype(np.float32)
    near_one = rng.uniform(0.8, 1.25, (64, 50)).astype(np.float32)
    calls = {
        "lerp": (lambda T, x, y, v: T.lerp(x, y, 0.3), (a, c, w)),
        "lerp_tensor": (lambda T, x, y, v: T.lerp(x, y, v), (a, c, w)),
        "logaddexp": (lambda T, x, y, v: T.logaddexp(x, y), (a, c, w)),
        "logaddexp2": (lambda T, x, y, v: T.logaddexp2(x, y), (a, c, w)),
        "cumsum": (lambda T, x, y, v: x.cumsum(1), (a, c, w)),
        "cumprod": (lambda T, x, y, v: x.cumprod(1), (near_one, c, w)),
        "logcumsumexp": (lambda T, x, y, v: x.logcumsumexp(1), (a, c, w)),
    }
    with graphc.use_backend("numpy"):
        for name, (call, arrays) in calls.items():
            want = call(torch, *(torch.from_numpy(v).to(getattr(torch, dtype)) for v in arrays)).float().numpy()
            got = call(graphc, *(graphc.tensor(v).to(getattr(graphc, dtype)) for v in arrays))
            assert got.dtype == getattr(graphc, dtype), name
            got = got.float().numpy()
            ulp = np.abs(want) * (2.0**-10 if dtype == "float16" else 2.0**-7) + 2.0**-24
            assert np.all(np.abs(got - want) <= ulp), f"{name}: {np.abs(got - want).max()} off"
            assert np.mean(got != want) < 0.005, f"{name}: {np.mean(got != want):.1%} of elements differ"
