"""Rounding and integer division against eager torch: floor, ceil, round (with decimals), trunc,
fix, frac, floor_divide (``//``), remainder (``%``), fmod and div with a rounding mode.

Values are compared exactly (signed zeros and NaNs included): these ops are exact in torch,
so graphc must give the same bits, on every kernel flavour (``engine``: NumPy kernels, the C
loops, and Triton under its interpreter) with fusion on and off. Float floor division is
Python's divmod, built on an exact fmod (``1.0 // 0.1`` is 9.0); integers never go through
float (int64 beyond 2**53 stays exact). Gradients are compared in float64, including where
torch raises (``floor_divide`` has no derivative). An integer division by zero raises
where graphc can see it (docs/decisions.md, "Rounding and integer division").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, pair, pairs, to_numpy

import graphc
from graphc.errors import DivisionByZeroError, GraphcError
from graphc.frontend import lazy

pytestmark = pytest.mark.usefixtures("fusion")  # every case with fusion on and off

RNG = np.random.default_rng(20240611)


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


def assert_exact(got: Any, expected: Any) -> None:
    """torch's shape, dtype and bits: equal values, NaN where torch has NaN, and the sign of every zero."""
    if isinstance(expected, (tuple, list)):
        for g, e in zip(got, expected, strict=True):
            assert_exact(g, e)
        return
    assert_matches(got, expected)
    have, want = got.numpy(), to_numpy(expected)
    if have.dtype.name == "bfloat16":
        have = have.astype(np.float32)  # as to_numpy reads torch's
    np.testing.assert_array_equal(have, want)
    if want.dtype.kind == "f":
        number = ~np.isnan(want)
        assert np.array_equal(np.signbit(have)[number], np.signbit(want)[number]), f"signs of zeros differ: {have} vs {want}"


def grid(dtype: str) -> np.ndarray:
    """Halves, quarters and special values: where rounding ops differ from each other."""
    values = [*np.arange(-4.0, 4.25, 0.25), 0.49999997, -0.49999997, 1e-30, -0.0, 1e10 + 0.5, 2.0**52 + 1, 2.0**23 + 1, 1e30]
    values += [math.inf, -math.inf, math.nan]
    with np.errstate(over="ignore"):  # 1e30 is inf in float16
        return np.array(values, dtype=np.float64).astype(dtype)


# Float dividends and divisors, pairwise: both signs, zeros, infinities, NaN, and ratios up to 3e36.
DIVIDENDS = [1.0, -1.0, 5.0, -5.0, 7.5, -7.5, 0.0, -0.0, 0.0, 3.0, -3.0, math.inf, -math.inf, math.nan, 1.0, 1e18, -1e18, 2.5, -2.5, 1.0, 6.0]
DIVISORS = [0.1, 0.1, 0.0, 0.0, 2.0, 2.0, -1.0, 1.0, 0.0, math.inf, -math.inf, 2.0, 2.0, 1.0, math.nan, 3e-19, 7e-5, -0.5, 0.5, -math.inf, -3.0]


# ----------------------------------------------------------------------------- unary rounding

UNARY = ["floor", "ceil", "round", "trunc", "fix", "frac"]


@pytest.mark.parametrize("op", UNARY)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_rounding_of_floats_matches_torch_bit_for_bit(engine: str, op: str, dtype: str) -> None:
    g, t = pair(grid(dtype))
    assert_exact(getattr(graphc, op)(g), getattr(torch, op)(t))
    assert_exact(getattr(g[1::2], op)(), getattr(t[1::2], op)())


@pytest.mark.parametrize("op", ["floor", "ceil", "round", "trunc", "fix"])
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_rounding_an_integer_tensor_gives_it_back(op: str, dtype: str) -> None:
    g, t = pair(np.array([7, -7, 0, 2**30], dtype=dtype))
    assert_exact(getattr(graphc, op)(g), getattr(torch, op)(t))


@pytest.mark.parametrize("call", [lambda T, x: T.floor(x), lambda T, x: x.round(), lambda T, x: T.frac(x), lambda T, x: T.round(x, decimals=0)])
@pytest.mark.parametrize("dtype", ["bool", "int64"])
def test_rounding_refuses_what_torch_refuses(call: Callable, dtype: str) -> None:
    """Bools everywhere; integers for frac and for round with decimals (torch: "not implemented for 'Long'")."""
    g, t = pair(np.array([1, 0, 1]).astype(dtype))
    try:
        expected = call(torch, t)
    except (RuntimeError, NotImplementedError):
        with pytest.raises(GraphcError):
            call(graphc, g)
        return
    assert_exact(call(graphc, g), expected)


@pytest.mark.parametrize("decimals", [0, 1, 2, 3, -1, -2])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_round_with_decimals_is_torchs_scaled_rint(engine: str, decimals: int, dtype: str) -> None:
    values = np.concatenate([RNG.standard_normal(40) * 100, [1.2345, 2.5, -0.125, 15.0, 25.0, -35.0, 0.05, -0.0, math.inf, math.nan]])
    g, t = pair(values.astype(dtype))
    assert_exact(graphc.round(g, decimals=decimals), torch.round(t, decimals=decimals))
    assert_exact(g.round(decimals=decimals), t.round(decimals=decimals))


def test_python_round_and_math_floor_behave_as_on_a_torch_tensor() -> None:
    """torch.Tensor has no __round__, __floor__ or __trunc__: round(t) raises, math.floor goes through float()."""
    g, t = pair(np.array(2.5, dtype=np.float32))
    for function in (round, math.trunc):
        with pytest.raises(TypeError):
            function(t)
        with pytest.raises(TypeError):
            function(g)
    assert math.floor(g) == math.floor(t) == 2
    assert math.ceil(g) == math.ceil(t) == 3


# ----------------------------------------------------------------------------- division: values

DIVISIONS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "floor_divide": lambda T, a, b: T.floor_divide(a, b),
    "remainder": lambda T, a, b: T.remainder(a, b),
    "fmod": lambda T, a, b: T.fmod(a, b),
    "div-floor": lambda T, a, b: T.div(a, b, rounding_mode="floor"),
    "div-trunc": lambda T, a, b: T.div(a, b, rounding_mode="trunc"),
    "//": lambda T, a, b: a // b,
    "%": lambda T, a, b: a % b,
}


@pytest.mark.parametrize("op", list(DIVISIONS))
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_float_division_edge_cases_match_torch_bit_for_bit(engine: str, op: str, dtype: str) -> None:
    """1.0 // 0.1 is 9.0 (fmod-based, not floor(1.0 / 0.1) = 10); zeros, infinities, NaN and huge ratios as torch."""
    if dtype == "bfloat16" and engine == "triton":
        pytest.skip("no bfloat16 under Triton's interpreter (DESIGN.md)")
    ga, gb = (graphc.tensor(values, dtype=graphc.float64).to(getattr(graphc, dtype)) for values in (DIVIDENDS, DIVISORS))
    ta, tb = (torch.tensor(values, dtype=torch.float64).to(getattr(torch, dtype)) for values in (DIVIDENDS, DIVISORS))
    assert_exact(DIVISIONS[op](graphc, ga, gb), DIVISIONS[op](torch, ta, tb))


def magnitudes(dtype: str, span: int) -> tuple[np.ndarray, np.ndarray]:
    """400 pairs of both signs with exponents in [-span, span)."""
    sign = RNG.choice([-1.0, 1.0], (2, 400))
    a, b = sign * RNG.uniform(1, 2, (2, 400)) * 2.0 ** RNG.integers(-span, span, (2, 400))
    return a.astype(dtype), b.astype(dtype)


@pytest.mark.parametrize("op", ["floor_divide", "remainder", "fmod"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_division_of_random_magnitudes_matches_torch(engine: str, op: str, dtype: str) -> None:
    """Operands of many exponents, both signs, ratios up to 2**123 (float32) and 2**1001 (float64)."""
    (ga, gb), (ta, tb) = pairs(*magnitudes(dtype, 61 if dtype == "float32" else 500))
    assert_exact(getattr(graphc, op)(ga, gb), getattr(torch, op)(ta, tb))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fmod_of_a_ratio_beyond_the_dtype_is_exact_as_in_c_and_python(engine: str, dtype: str) -> None:
    """Where |a / b| overflows, torch's vectorized CPU kernels (Sleef) give NaN for fmod and remainder, its
    scalar path the exact value (it depends on the tensor's length); graphc gives the exact value, C's and NumPy's."""
    a, b = magnitudes(dtype, 120 if dtype == "float32" else 1000)
    ga, gb = graphc.tensor(a), graphc.tensor(b)
    with np.errstate(all="ignore"):  # the quotients overflow
        quotients, mod = np.floor_divide(a, b), np.fmod(a, b)
    np.testing.assert_array_equal(graphc.fmod(ga, gb).numpy(), mod)
    np.testing.assert_array_equal(graphc.floor_divide(ga, gb).numpy(), quotients)
    np.testing.assert_array_equal(graphc.remainder(ga, gb).numpy(), np.where((mod != 0) & ((b < 0) != (mod < 0)), mod + b, mod))


INTEGER_DIVIDENDS = np.array([7, -7, 7, -7, 0, 1, -1, 13, -13, 2**62 + 1, -(2**62) - 1, -(2**63), -(2**63), 2**63 - 1, 6, -6])
INTEGER_DIVISORS = np.array([2, 2, -2, -2, 3, -5, 5, 13, 13, 3, 7, -1, 1, -1, -3, 3])


@pytest.mark.parametrize("op", list(DIVISIONS))
@pytest.mark.parametrize("dtype", ["int64", "int32"])
def test_integer_division_is_exact_beyond_2_to_53_and_wraps_as_torch(engine: str, op: str, dtype: str) -> None:
    """Negative operands floor (``//``) or truncate (``trunc``, fmod), int64 beyond 2**53 exactly, and the most negative value // -1 is itself."""
    a = INTEGER_DIVIDENDS if dtype == "int64" else np.clip(INTEGER_DIVIDENDS, -(2**31), 2**31 - 1)
    (ga, gb), (ta, tb) = pairs(a.astype(dtype), INTEGER_DIVISORS.astype(dtype))
    if op != "div-trunc":
        assert_exact(DIVISIONS[op](graphc, ga, gb), DIVISIONS[op](torch, ta, tb))
        return
    # torch's trunc division of the most negative value by -1 kills the process (SIGFPE); graphc
    # wraps it to itself, as torch's floor division does.
    overflow = ((ta == ta.min()) & (tb == -1)).numpy()
    expected = DIVISIONS[op](torch, ta, torch.where(torch.from_numpy(overflow), 1, tb)).numpy()
    expected[overflow] = ta.numpy()[overflow]
    got = DIVISIONS[op](graphc, ga, gb)
    assert got.dtype.name == dtype
    np.testing.assert_array_equal(got.numpy(), expected)


@pytest.mark.parametrize("op", list(DIVISIONS))
def test_division_broadcasts_over_views(engine: str, op: str) -> None:
    (ga, gb), (ta, tb) = pairs(RNG.standard_normal((4, 3)) * 10, RNG.standard_normal((4, 1)) * 3)
    assert_exact(DIVISIONS[op](graphc, ga.T, gb[:, 0]), DIVISIONS[op](torch, ta.T, tb[:, 0]))
    (gi, gj), (ti, tj) = pairs(RNG.integers(-50, 50, (4, 3)), np.array([[3], [-4], [7], [-1]], dtype=np.int32))
    assert_exact(DIVISIONS[op](graphc, gi, gj), DIVISIONS[op](torch, ti, tj))
    assert_exact(DIVISIONS[op](graphc, gi.T[1:], gj.T), DIVISIONS[op](torch, ti.T[1:], tj.T))


# (tensor dtype, Python number): torch's promotion decides the result's dtype (int // 2.5 is float32, bool // 2 is int64)
SCALARS = [("int64", 2), ("int64", -3), ("int64", 2.5), ("int32", True), ("int32", -0.75), ("float32", 3), ("float64", -0.7), ("bool", 2), ("float16", 2.5)]


@pytest.mark.parametrize("case", SCALARS, ids=lambda c: f"{c[0]}-{c[1]!r}")
@pytest.mark.parametrize("op", list(DIVISIONS))
def test_python_numbers_on_either_side_promote_as_in_torch(op: str, case: tuple) -> None:
    dtype, number = case
    values = np.array([7, -7, 5, -5, 3, 1]) if dtype != "bool" else np.array([True, False, True, True, False, True])
    g, t = pair(values.astype(dtype))
    assert_exact(DIVISIONS[op](graphc, g, number), DIVISIONS[op](torch, t, number))
    if op != "fmod" and dtype != "bool":  # torch.fmod takes no number first; a bool divisor holds a zero
        assert_exact(DIVISIONS[op](graphc, number, g), DIVISIONS[op](torch, number, t))


@pytest.mark.parametrize("op", list(DIVISIONS))
def test_bool_division_is_refused_as_by_torch(op: str) -> None:
    (ga, gb), (ta, tb) = pairs(np.array([True, False]), np.array([True, True]))
    with pytest.raises((RuntimeError, NotImplementedError)):
        DIVISIONS[op](torch, ta, tb)
    with pytest.raises(GraphcError, match="bool"):
        DIVISIONS[op](graphc, ga, gb)


def test_div_modes_true_divide_and_a_bad_mode(engine: str) -> None:
    (ga, gb), (ta, tb) = pairs(np.array([7, -7, 5]), np.array([2, 2, -3]))
    assert_exact(graphc.div(ga, gb, rounding_mode=None), torch.div(ta, tb, rounding_mode=None))
    assert_exact(graphc.divide(ga, gb, rounding_mode="floor"), torch.divide(ta, tb, rounding_mode="floor"))
    assert_exact(ga.divide(gb, rounding_mode="trunc"), ta.divide(tb, rounding_mode="trunc"))
    assert_exact(graphc.true_divide(ga, gb), torch.true_divide(ta, tb))
    assert_exact(ga.true_divide(2), ta.true_divide(2))
    with pytest.raises(RuntimeError, match="rounding_mode"):
        torch.div(ta, tb, rounding_mode="round")
    with pytest.raises(GraphcError, match="expected rounding_mode to be one of None, 'trunc', or 'floor' but found 'round'"):
        graphc.div(ga, gb, rounding_mode="round")


# ----------------------------------------------------------------------------- in place


INPLACE: dict[str, Callable[[Any], Any]] = {
    "floor_": lambda x: x.floor_(),
    "ceil_": lambda x: x.ceil_(),
    "round_": lambda x: x.round_(),
    "round_-decimals": lambda x: x.round_(decimals=1),
    "trunc_": lambda x: x.trunc_(),
    "fix_": lambda x: x.fix_(),
    "frac_": lambda x: x.frac_(),
    "floor_divide_": lambda x: x.floor_divide_(0.7),
    "remainder_": lambda x: x.remainder_(-0.7),
    "fmod_": lambda x: x.fmod_(0.7),
    "div_-floor": lambda x: x.div_(0.7, rounding_mode="floor"),
    "div_-trunc": lambda x: x.div_(-0.7, rounding_mode="trunc"),
    "true_divide_": lambda x: x.true_divide_(4),
}


def floordiv_in_place(x: Any, other: Any) -> Any:
    x //= other
    return x


def mod_in_place(x: Any, other: Any) -> Any:
    x %= other
    return x


@pytest.mark.parametrize("op", list(INPLACE))
def test_in_place_variants_change_the_tensor(op: str) -> None:
    g, t = pair(RNG.standard_normal((3, 4)) * 5)
    result = INPLACE[op](g)
    INPLACE[op](t)
    assert result is g
    assert_exact(g, t)


def test_in_place_operators_and_their_integer_casts(engine: str) -> None:
    (gi, gj), (ti, tj) = pairs(np.array([7, -7, 5, -5]), np.array([2, 3, -2, -3]))
    assert_exact(floordiv_in_place(gi.clone(), gj), floordiv_in_place(ti.clone(), tj))
    assert_exact(mod_in_place(gi.clone(), gj), mod_in_place(ti.clone(), tj))
    assert_exact(floordiv_in_place(gi.clone(), 2), floordiv_in_place(ti.clone(), 2))
    assert_exact(gi.clone().div_(2, rounding_mode="floor"), ti.clone().div_(2, rounding_mode="floor"))
    assert_exact(gi.clone().floor_(), ti.clone().floor_())
    for inplace in (floordiv_in_place, mod_in_place):  # an int64 tensor cannot hold the float result of // 2.5
        with pytest.raises(RuntimeError, match="can't be cast"):
            inplace(ti.clone(), 2.5)
        with pytest.raises(GraphcError, match="can't be cast"):
            inplace(gi.clone(), 2.5)
    (gf, _), (tf, _) = pairs(np.array([7.5, -7.5]), np.zeros(2))
    assert_exact(floordiv_in_place(gf.clone(), 2), floordiv_in_place(tf.clone(), 2))
    assert_exact(mod_in_place(gf.clone(), -2), mod_in_place(tf.clone(), -2))


# ----------------------------------------------------------------------------- integer division by zero


@pytest.mark.parametrize("op", list(DIVISIONS))
def test_an_integer_division_by_a_known_zero_raises_at_the_users_line(op: str) -> None:
    """A zero number, or a realized tensor holding a zero: raised when recorded, on every backend, as torch does."""
    g, t = pair(np.array([7, -7, 5]))
    for divisor in (0, np.array([1, 0, 2])):
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            DIVISIONS[op](torch, t, torch.tensor(divisor))
        with pytest.raises(DivisionByZeroError, match="integer division by zero") as info:
            DIVISIONS[op](graphc, g, divisor if isinstance(divisor, int) else graphc.tensor(divisor))
        assert "test_ops_rounding.py" in str(info.value)
        assert isinstance(info.value, RuntimeError) and isinstance(info.value, ZeroDivisionError)
    assert_exact(DIVISIONS[op](graphc, g.double(), 0), DIVISIONS[op](torch, t.double(), 0))  # floats: inf and NaN, no error


@pytest.mark.parametrize("op", list(DIVISIONS))
def test_a_computed_integer_zero_divisor_raises_when_the_program_runs(engine: str, op: str) -> None:
    """NumPy's helpers check the divisor (also under C loops, where integer divisions stay NumPy); Triton kernels flag it."""
    g, _ = pair(np.array([7, -7, 5, 4]))
    divisor = g - graphc.tensor(np.array([5, -7, 5, 2]))  # computed: [2, 0, 0, 2]
    with pytest.raises(DivisionByZeroError, match="integer division by zero") as info:
        DIVISIONS[op](graphc, g, divisor).numpy()
    assert "test_ops_rounding.py" in str(info.value)
    broadcast = graphc.tensor(np.array([[3], [-2]])) * graphc.tensor(np.array(0))  # a 0-d zero, broadcast
    with pytest.raises(DivisionByZeroError):
        DIVISIONS[op](graphc, g, broadcast).numpy()


# ----------------------------------------------------------------------------- gradients


def check_grads(fn: Callable, *arrays: np.ndarray) -> None:
    """Values and gradients of ``sum(fn(...) * w)`` for every float64 input, against torch.autograd."""
    gs = [graphc.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    got, expected = fn(graphc, *gs), fn(torch, *ts)
    assert_exact(got, expected)
    weight = RNG.standard_normal(tuple(expected.shape))
    (got * graphc.tensor(weight)).sum().backward()
    (expected * torch.tensor(weight)).sum().backward()
    for g, t in zip(gs, ts):
        if t.grad is None:
            assert g.grad is None
        else:
            assert_exact(g.grad, t.grad)


GRADIENTS: dict[str, Callable[..., Any]] = {
    "floor": lambda T, x, y: T.floor(x),
    "ceil": lambda T, x, y: x.ceil(),
    "round": lambda T, x, y: T.round(x),
    "round-decimals": lambda T, x, y: x.round(decimals=1),
    "trunc": lambda T, x, y: T.trunc(x),
    "fix": lambda T, x, y: x.fix(),
    "frac": lambda T, x, y: T.frac(x) * y,
    "remainder": lambda T, x, y: T.remainder(x, y),
    "%-bcast": lambda T, x, y: x % y[:1],
    "%-number": lambda T, x, y: x % 0.7 + y,
    "fmod": lambda T, x, y: T.fmod(x, y),
    "fmod-number": lambda T, x, y: T.fmod(y, -1.3) * x,
    "div-floor": lambda T, x, y: T.div(x, y, rounding_mode="floor"),
    "div-trunc": lambda T, x, y: T.div(x, y, rounding_mode="trunc"),
    "div-trunc-by-zero": lambda T, x, y: T.div(x, y * 0, rounding_mode="trunc"),
}


@pytest.mark.parametrize("op", list(GRADIENTS))
def test_gradients_match_torch_in_float64(backend: str, op: str) -> None:
    """Zero through rounding (and rounded division, also by zero), g through frac, torch's formulas for remainder and fmod."""
    check_grads(GRADIENTS[op], RNG.standard_normal((3, 4)) * 5, RNG.standard_normal((3, 4)) * 2)


UNDIFFERENTIABLE = [lambda x, y: x // y, lambda x, y: x.floor_divide(y), lambda x, y: 2.0 // x, lambda x, y: 3.0 % x]


@pytest.mark.parametrize("call", UNDIFFERENTIABLE, ids=["//", "method", "r//", "r%"])
def test_backward_through_what_torch_cannot_differentiate_raises(backend: str, call: Callable) -> None:
    """torch: "derivative for aten::floor_divide is not implemented", also for a Python number % a tensor."""
    (g, gy), (t, ty) = pairs(np.array([1.5, -2.5]), np.array([0.5, 0.7]))
    for x in (g, t, gy, ty):
        x.requires_grad_()
    result = call(t, ty)
    assert result.requires_grad
    with pytest.raises(RuntimeError, match="not implemented"):
        result.sum().backward()
    mine = call(g, gy)
    assert mine.requires_grad
    with pytest.raises(GraphcError, match="the derivative is not implemented, as in torch") as info:
        mine.sum().backward()
    assert "test_ops_rounding.py" in str(info.value)


# ----------------------------------------------------------------------------- compiled


def rounding_step(T: Any, x: Any, y: Any, i: Any, j: Any) -> list[Any]:
    return [
        x // y,
        x % y,
        T.fmod(x, y),
        T.div(x, y, rounding_mode="trunc"),
        x.round(decimals=1) + x.floor() - x.ceil() * x.frac(),
        T.round(x * 3),
        i // j,
        i % j,
        T.fmod(i, j),
        T.div(i, j, rounding_mode="trunc"),
        7 // j + 7.5 % x,
    ]


def test_a_compiled_function_matches_torch_at_two_batch_sizes_and_raises_on_a_zero_divisor(backend: str) -> None:
    compiled = graphc.compile(lambda *args: rounding_step(graphc, *args))
    for rows in (4, 6):
        x, y = RNG.standard_normal((rows, 3)) * 5, RNG.standard_normal((rows, 3))
        i, j = RNG.integers(-2**40, 2**40, (rows, 3)), RNG.choice([-7, -2, -1, 1, 3, 5], (rows, 3))
        got = compiled(*[graphc.tensor(a) for a in (x, y, i, j)])
        assert_exact(got, rounding_step(torch, *[torch.tensor(a) for a in (x, y, i, j)]))
    j[0, 0] = 0  # C loops for a compiled NumPy program: its integer divisions run in NumPy, which raises
    with pytest.raises(DivisionByZeroError, match="integer division by zero"):
        [r.numpy() for r in compiled(*[graphc.tensor(a) for a in (x, y, i, j)])]


# ----------------------------------------------------------------------------- torch.nn.Module import


class Rounding(torch.nn.Module):
    """What a torch module writes: operators, torch.div modes, round with decimals, integer division."""

    def forward(self, x: torch.Tensor, y: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> list[torch.Tensor]:
        return [
            torch.div(x, y, rounding_mode="floor"),
            torch.div(x, y, rounding_mode="trunc"),
            x % y,
            torch.fmod(x, y),
            torch.round(x),
            torch.round(x, decimals=2),
            x.frac() * y,
            torch.remainder(x, 1.5) + x.ceil(),
            (x.detach() // y.detach()) * y,
            i // j,
            i % j,
            torch.fmod(i, j),
            torch.div(i, j, rounding_mode="trunc"),
            7 // j,
            (2.5 % x.detach()) * y,
        ]


def test_an_imported_torch_module_matches_eager_torch_in_values_and_gradients(backend: str) -> None:
    model = Rounding()
    compiled = graphc.compile(model, backend=backend)
    x, y = torch.tensor(RNG.standard_normal((4, 5)) * 5), torch.tensor(RNG.standard_normal((4, 5)) * 2)
    i, j = torch.tensor(RNG.integers(-2**60, 2**60, (4, 5))), torch.tensor(RNG.choice([-7, -2, -1, 1, 3], (4, 5)))
    mine = [x.clone().requires_grad_(), y.clone().requires_grad_()]
    theirs = [x.clone().requires_grad_(), y.clone().requires_grad_()]
    got, expected = compiled(*mine, i, j), model(*theirs, i, j)
    weights = [torch.tensor(RNG.standard_normal(tuple(e.shape))) for e in expected]
    for a, e in zip(got, expected, strict=True):
        assert a.dtype == e.dtype and a.requires_grad == e.requires_grad
        np.testing.assert_array_equal(a.detach().cpu().numpy(), e.detach().numpy())
    sum((a * w).sum() for a, w in zip(got, weights) if a.requires_grad).backward()
    sum((e * w).sum() for e, w in zip(expected, weights) if e.requires_grad).backward()
    for a, e in zip(mine, theirs):  # sums of several outputs' gradients: the order of the additions may differ
        np.testing.assert_allclose(a.grad.cpu().numpy(), e.grad.numpy(), rtol=1e-13, atol=1e-13)
