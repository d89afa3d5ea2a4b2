"""Elementwise ops against torch: unary math, binary arithmetic with broadcasting and
PyTorch's type promotion (tensors, 0-d tensors, Python scalars), comparisons, logical
ops, where/clamp/maximum/minimum, softmax/log_softmax, and ops on non-contiguous views.

Every case runs once per backend (the ``backend`` fixture) on the same NumPy data as torch.
"""

from __future__ import annotations

import math
import operator

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
from helpers import assert_matches, data, pair, pairs
from hypothesis import HealthCheck, given, settings

import graphc
from graphc.errors import GraphcError

pytestmark = pytest.mark.usefixtures("fusion")  # every case with fusion on and off

# ----------------------------------------------------------------------------- unary

UNARY = ["neg", "exp", "sin", "cos", "tanh", "erf", "abs", "sign", "sigmoid", "relu", "square"]
UNARY_POSITIVE = ["log", "sqrt", "rsqrt", "reciprocal", "log1p"]
UNARY_METHOD_ONLY = ["log2"]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32"])
@pytest.mark.parametrize("op", UNARY + UNARY_POSITIVE)
def test_unary_module_function(backend: str, op: str, dtype: str) -> None:
    positive = op in UNARY_POSITIVE
    x = data(3, 5, dtype=dtype, positive=positive, low=1 if positive and "int" in dtype else None)
    if op == "sign" and dtype.startswith("float"):
        x[0, :2] = 0.0
    g, t = pair(x)
    assert_matches(getattr(graphc, op)(g), getattr(torch, op)(t))


@pytest.mark.parametrize("op", UNARY + UNARY_POSITIVE + UNARY_METHOD_ONLY)
def test_unary_method(backend: str, op: str) -> None:
    g, t = pair(data(4, 3, positive=op in UNARY_POSITIVE + UNARY_METHOD_ONLY))
    assert_matches(getattr(g, op)(), getattr(t, op)())


@pytest.mark.parametrize("op", ["neg", "exp", "tanh", "sigmoid", "abs", "sqrt", "log"])
def test_unary_float16(backend: str, op: str) -> None:
    g, t = pair(data(2, 6, dtype="float16", positive=op in ("sqrt", "log")))
    assert_matches(getattr(graphc, op)(g), getattr(torch, op)(t))


def test_unary_special_values(backend: str) -> None:
    x = np.array([0.0, -0.0, 1e-30, -1e-6, 40.0, -40.0, np.inf, -np.inf, np.nan], dtype=np.float64)
    g, t = pair(x)
    for op in ["exp", "tanh", "sigmoid", "erf", "abs", "sign", "neg", "relu"]:
        assert_matches(getattr(graphc, op)(g), getattr(torch, op)(t))
    g, t = pair(np.abs(x))
    for op in ["sqrt", "log", "log1p", "reciprocal", "rsqrt"]:
        assert_matches(getattr(graphc, op)(g), getattr(torch, op)(t))


def test_unary_zero_dim(backend: str) -> None:
    g, t = pair(np.array(0.7, dtype=np.float32))
    assert_matches(g.exp(), t.exp())
    assert_matches(-g, -t)
    assert_matches(graphc.sigmoid(g), torch.sigmoid(t))


def test_abs_and_neg_operators(backend: str) -> None:
    g, t = pair(data(3, 3, dtype="int32"))
    assert_matches(abs(g), abs(t))
    assert_matches(-g, -t)
    assert_matches(+g, +t)


# ----------------------------------------------------------------------------- binary

BINARY = ["add", "sub", "mul", "div", "maximum", "minimum"]
COMPARISONS = ["eq", "ne", "lt", "le", "gt", "ge"]
SHAPES = [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((4,), (2, 3, 4)), ((), (3, 4)), ((2, 1, 4), (3, 1)), ((3, 4), ())]
DTYPE_PAIRS = [
    ("float32", "float32"),
    ("float32", "float64"),
    ("int32", "int64"),
    ("int64", "float32"),
    ("bool", "int32"),
    ("float16", "float32"),
    ("int32", "float16"),
    ("float64", "float64"),
    ("bool", "bool"),
]


@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("op", BINARY + COMPARISONS + ["pow"])
def test_binary_broadcasting(backend: str, op: str, shapes: tuple) -> None:
    a, c = data(*shapes[0]), data(*shapes[1], positive=op in ("div", "pow"))
    if op == "pow":
        a = np.abs(a) + 0.5
    if op in COMPARISONS:
        c.reshape(-1)[:1] = a.reshape(-1)[:1]  # some equal elements
    (ga, gc), (ta, tc) = pairs(a, c)
    assert_matches(getattr(graphc, op)(ga, gc), getattr(torch, op)(ta, tc))
    assert_matches(getattr(ga, op)(gc), getattr(ta, op)(tc))


@pytest.mark.parametrize("dtypes", DTYPE_PAIRS, ids=lambda d: f"{d[0]}-{d[1]}")
@pytest.mark.parametrize("op", BINARY + COMPARISONS)
def test_binary_promotion(backend: str, op: str, dtypes: tuple) -> None:
    a = data(3, 4, dtype=dtypes[0])
    c = data(3, 4, dtype=dtypes[1], low=1 if op == "div" else None)
    (ga, gc), (ta, tc) = pairs(a, c)
    if op == "sub" and "bool" in dtypes:
        with pytest.raises(RuntimeError):
            torch.sub(ta, tc)
        with pytest.raises(GraphcError, match="sub"):
            ga - gc  # noqa: B018
        return
    assert_matches(getattr(graphc, op)(ga, gc), getattr(torch, op)(ta, tc))


@pytest.mark.parametrize("dtypes", [("int32", "int32"), ("int64", "int32"), ("float32", "int64"), ("float64", "float32"), ("int32", "float32")])
def test_pow_dtypes(backend: str, dtypes: tuple) -> None:
    a = data(3, 4, dtype=dtypes[0], low=1, high=4) if "int" in dtypes[0] else data(3, 4, dtype=dtypes[0], positive=True)
    c = data(3, 4, dtype=dtypes[1], low=0, high=4) if "int" in dtypes[1] else data(3, 4, dtype=dtypes[1], low=-2, high=2)
    (ga, gc), (ta, tc) = pairs(a, c)
    assert_matches(graphc.pow(ga, gc), torch.pow(ta, tc))
    assert_matches(ga**gc, ta**tc)


def test_maximum_minimum_nan_and_ties(backend: str) -> None:
    a = np.array([1.0, np.nan, 3.0, 2.0, -np.inf], dtype=np.float32)
    c = np.array([np.nan, 2.0, 3.0, 1.0, 0.0], dtype=np.float32)
    (ga, gc), (ta, tc) = pairs(a, c)
    assert_matches(graphc.maximum(ga, gc), torch.maximum(ta, tc))
    assert_matches(graphc.minimum(ga, gc), torch.minimum(ta, tc))


def test_maximum_bool(backend: str) -> None:
    (ga, gc), (ta, tc) = pairs(data(5, dtype="bool"), data(5, dtype="bool"))
    assert_matches(graphc.maximum(ga, gc), torch.maximum(ta, tc))
    assert_matches(graphc.minimum(ga, gc), torch.minimum(ta, tc))


def test_add_sub_alpha(backend: str) -> None:
    (ga, gc), (ta, tc) = pairs(data(3, 4), data(4))
    assert_matches(graphc.add(ga, gc, alpha=2.5), torch.add(ta, tc, alpha=2.5))
    assert_matches(graphc.sub(ga, gc, alpha=-3), torch.sub(ta, tc, alpha=-3))
    assert_matches(ga.add(gc, alpha=2), ta.add(tc, alpha=2))


def test_python_operators(backend: str) -> None:
    (ga, gc), (ta, tc) = pairs(data(3, 4, positive=True), data(4, positive=True))
    assert_matches(ga + gc, ta + tc)
    assert_matches(ga - gc, ta - tc)
    assert_matches(ga * gc, ta * tc)
    assert_matches(ga / gc, ta / tc)
    assert_matches(ga**gc, ta**tc)
    assert_matches(ga == gc, ta == tc)
    assert_matches(ga != gc, ta != tc)
    assert_matches(ga < gc, ta < tc)
    assert_matches(ga <= gc, ta <= tc)
    assert_matches(ga > gc, ta > tc)
    assert_matches(ga >= gc, ta >= tc)


@pytest.mark.parametrize("scalar", [2, 2.5, True, -3])
def test_reflected_operators_with_scalars(backend: str, scalar: object) -> None:
    g, t = pair(data(3, 4, positive=True))
    assert_matches(scalar + g, scalar + t)
    if not isinstance(scalar, bool):  # torch refuses subtracting bools (test_python_scalar_promotion)
        assert_matches(scalar - g, scalar - t)
        assert_matches(g - scalar, t - scalar)
    assert_matches(scalar * g, scalar * t)
    assert_matches(scalar / g, scalar / t)
    assert_matches(g + scalar, t + scalar)
    assert_matches(g / scalar, t / scalar)
    assert_matches(g**scalar, t**scalar)
    if not isinstance(scalar, bool):
        assert_matches(abs(scalar) ** g, abs(scalar) ** t)
    assert_matches(g < scalar, t < scalar)
    assert_matches(scalar < g, scalar < t)
    assert_matches(g == scalar, t == scalar)


# (tensor dtype, tensor shape, scalar or 0-d (dtype, value)) -> compare with torch's dtype rules
SCALAR_CASES = [
    ("int32", (3,), 2.5),
    ("int64", (3,), 1.5),
    ("float16", (3,), 2.0),
    ("float16", (3,), 1),
    ("bool", (3,), 1),
    ("bool", (3,), True),
    ("bool", (3,), 2.5),
    ("int32", (3,), 7),
    ("int32", (3,), True),
    ("float64", (3,), 3),
    ("float32", (3,), 0.1),
    ("int32", (), 2.5),
    ("bool", (), 3),
    ("float16", (), 1e-3),
]


OPERATORS = {"add": operator.add, "mul": operator.mul, "div": operator.truediv, "sub": operator.sub, "lt": operator.lt, "eq": operator.eq}


@pytest.mark.parametrize("case", SCALAR_CASES, ids=lambda c: f"{c[0]}{list(c[1])}-{c[2]!r}")
@pytest.mark.parametrize("op", ["add", "mul", "div", "sub", "maximum", "lt", "eq"])
def test_python_scalar_promotion(backend: str, op: str, case: tuple) -> None:
    dtype, shape, scalar = case
    g, t = pair(data(*shape, dtype=dtype, low=1 if "int" in dtype else None))
    if op == "maximum":
        # torch.maximum takes tensors only: a 0-d tensor made from the scalar
        assert_matches(graphc.maximum(g, graphc.tensor(scalar)), torch.maximum(t, torch.tensor(scalar)))
        return
    if op == "sub" and (dtype == "bool" or isinstance(scalar, bool)):
        with pytest.raises(RuntimeError):
            torch.sub(t, scalar)
        with pytest.raises(GraphcError, match="sub"):
            graphc.sub(g, scalar)
        with pytest.raises(GraphcError, match="sub"):
            scalar - g  # noqa: B018
        return
    assert_matches(getattr(graphc, op)(g, scalar), getattr(torch, op)(t, scalar))
    assert_matches(getattr(g, op)(scalar), getattr(t, op)(scalar))
    assert_matches(OPERATORS[op](g, scalar), OPERATORS[op](t, scalar))
    assert_matches(OPERATORS[op](scalar, g), OPERATORS[op](scalar, t))


ZERO_DIM_CASES = [
    ("float32", "float64"),
    ("int32", "int64"),
    ("int32", "float64"),
    ("int64", "float32"),
    ("bool", "int32"),
    ("float16", "float64"),
    ("int32", "float16"),
    ("bool", "float64"),
    ("float64", "int32"),
]


@pytest.mark.parametrize("case", ZERO_DIM_CASES, ids=lambda c: f"{c[0]}[3]-{c[1]}[]")
def test_zero_dim_tensor_promotion(backend: str, case: tuple) -> None:
    dim_dtype, zero_dtype = case
    (g, gz), (t, tz) = pairs(data(3, dtype=dim_dtype, low=1), data(dtype=zero_dtype, low=1))
    assert_matches(g + gz, t + tz)
    assert_matches(gz * g, tz * t)
    assert_matches(g / gz, t / tz)
    assert_matches(gz > g, tz > t)
    assert_matches(graphc.where(g > 0, g, gz), torch.where(t > 0, t, tz))


def test_zero_dim_with_zero_dim(backend: str) -> None:
    (ga, gc), (ta, tc) = pairs(np.array(1.5, dtype=np.float32), np.array(2.25, dtype=np.float64))
    assert_matches(ga + gc, ta + tc)
    (ga, gc), (ta, tc) = pairs(np.array(3, dtype=np.int32), np.array(2.5, dtype=np.float16))
    assert_matches(ga * gc, ta * tc)
    assert_matches(ga * 1.5, ta * 1.5)


def test_division_of_integers_is_true_division(backend: str) -> None:
    (ga, gc), (ta, tc) = pairs(np.array([7, -7, 1, 0], dtype=np.int64), np.array([2, 2, 3, 5], dtype=np.int32))
    assert_matches(ga / gc, ta / tc)
    assert_matches(ga / 4, ta / 4)
    assert_matches(9 / gc, 9 / tc)


# ----------------------------------------------------------------------------- logical


def test_logical_ops(backend: str) -> None:
    (ga, gc), (ta, tc) = pairs(data(3, 4, dtype="bool"), data(4, dtype="bool"))
    assert_matches(ga & gc, ta & tc)
    assert_matches(ga | gc, ta | tc)
    assert_matches(ga ^ gc, ta ^ tc)
    assert_matches(~ga, ~ta)
    assert_matches(graphc.logical_and(ga, gc), torch.logical_and(ta, tc))
    assert_matches(graphc.logical_or(ga, gc), torch.logical_or(ta, tc))
    assert_matches(graphc.logical_not(ga), torch.logical_not(ta))
    assert_matches(ga.logical_xor(gc), ta.logical_xor(tc))


def test_logical_not_of_numbers(backend: str) -> None:
    g, t = pair(np.array([0.0, 1.5, -2.0, np.nan], dtype=np.float32))
    assert_matches(graphc.logical_not(g), torch.logical_not(t))
    g, t = pair(np.array([0, 3, -1], dtype=np.int32))
    assert_matches(graphc.logical_not(g), torch.logical_not(t))


def test_invert_of_an_integer_tensor_is_not_a_logical_not() -> None:
    """torch's ~ on integers is bitwise; graphc has no bitwise primitive, so it must refuse, not return bools."""
    g = graphc.tensor([0, 1, 5])
    try:
        result = ~g
    except GraphcError:
        return
    assert_matches(result, ~torch.tensor([0, 1, 5]))


def test_comparison_of_mixed_int_and_float(backend: str) -> None:
    g, t = pair(np.array([1, 2, 3], dtype=np.int64))
    assert_matches(g < 2.5, t < 2.5)
    assert_matches(g == 2.0, t == 2.0)
    assert_matches(g >= True, t >= True)
    gf, tf = pair(np.array([1.0, 2.5, 3.0], dtype=np.float16))
    assert_matches(g == gf, t == tf)


# ----------------------------------------------------------------------------- where, clamp


def test_where(backend: str) -> None:
    cond = data(3, 4, dtype="bool")
    (gc, ga, gb), (tc, ta, tb) = pairs(cond, data(3, 4), data(4))
    assert_matches(graphc.where(gc, ga, gb), torch.where(tc, ta, tb))
    assert_matches(ga.where(gc, gb), ta.where(tc, tb))
    assert_matches(graphc.where(gc, ga, 0.0), torch.where(tc, ta, 0.0))
    assert_matches(graphc.where(gc, 1.0, gb), torch.where(tc, 1.0, tb))
    assert_matches(graphc.where(gc, 1, 0), torch.where(tc, 1, 0))
    assert_matches(graphc.where(gc, 1.5, 0), torch.where(tc, 1.5, 0))
    assert_matches(graphc.where(ga > 0, ga, ga * 0.1), torch.where(ta > 0, ta, ta * 0.1))


def test_where_broadcasts_condition_and_promotes(backend: str) -> None:
    (gc, ga, gb), (tc, ta, tb) = pairs(data(4, 1, dtype="bool"), data(3, dtype="int32"), data(4, 3, dtype="float64"))
    assert_matches(graphc.where(gc, ga, gb), torch.where(tc, ta, tb))
    assert_matches(graphc.where(gc, ga, 2.5), torch.where(tc, ta, 2.5))
    assert_matches(graphc.where(gc, ga, 7), torch.where(tc, ta, 7))


@pytest.mark.parametrize(
    "bounds",
    [(-0.5, 0.5), (None, 0.2), (-0.3, None), (0.5, -0.5)],
    ids=["both", "max", "min", "min>max"],
)
def test_clamp_scalars(backend: str, bounds: tuple) -> None:
    g, t = pair(data(4, 5))
    low, high = bounds
    assert_matches(graphc.clamp(g, low, high), torch.clamp(t, low, high))
    assert_matches(g.clamp(min=low, max=high), t.clamp(min=low, max=high))
    assert_matches(g.clip(low, high), t.clip(low, high))


def test_clamp_tensors_and_dtypes(backend: str) -> None:
    (g, glo, ghi), (t, tlo, thi) = pairs(data(3, 4), data(4) - 0.5, data(3, 1) + 0.5)
    assert_matches(graphc.clamp(g, glo, ghi), torch.clamp(t, tlo, thi))
    assert_matches(g.clamp(max=ghi), t.clamp(max=thi))
    gi, ti = pair(data(3, 4, dtype="int32"))
    assert_matches(gi.clamp(-2, 3), ti.clamp(-2, 3))
    assert_matches(gi.clamp(min=0.5), ti.clamp(min=0.5))
    gn, tn = pair(np.array([np.nan, -3.0, 3.0], dtype=np.float32))
    assert_matches(gn.clamp(-1, 1), tn.clamp(-1, 1))


def test_masked_fill(backend: str) -> None:
    (g, gm), (t, tm) = pairs(data(3, 4), data(4, dtype="bool"))
    assert_matches(g.masked_fill(gm, -math.inf), t.masked_fill(tm, -math.inf))
    assert_matches(graphc.masked_fill(g, gm, 2), torch.masked_fill(t, tm, 2))
    gi, ti = pair(data(3, 4, dtype="int64"))
    assert_matches(gi.masked_fill(gm, 9), ti.masked_fill(tm, 9))


# ----------------------------------------------------------------------------- softmax


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_log_softmax(backend: str, dim: int, dtype: str) -> None:
    g, t = pair(data(3, 5, dtype=dtype) * 4)
    assert_matches(graphc.softmax(g, dim), torch.softmax(t, dim))
    assert_matches(graphc.log_softmax(g, dim), torch.log_softmax(t, dim))
    assert_matches(g.softmax(dim), t.softmax(dim))
    assert_matches(g.log_softmax(dim=dim), t.log_softmax(dim=dim))


def test_softmax_is_stable_and_handles_masks(backend: str) -> None:
    x = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1e4, 0.0], [-np.inf, 0.0, 1.0]], dtype=np.float32)
    g, t = pair(x)
    assert_matches(graphc.softmax(g, -1), torch.softmax(t, -1))
    assert_matches(graphc.log_softmax(g, -1), torch.log_softmax(t, -1))


def test_softmax_dtype_argument_and_3d(backend: str) -> None:
    g, t = pair(data(2, 3, 4))
    assert_matches(graphc.softmax(g, 1, dtype=graphc.float64), torch.softmax(t, 1, dtype=torch.float64))
    assert_matches(graphc.log_softmax(g, 0, dtype=torch.float64), torch.log_softmax(t, 0, dtype=torch.float64))
    gh, th = pair(data(2, 8, dtype="float16"))
    assert_matches(graphc.softmax(gh, -1), torch.softmax(th, -1))


# ----------------------------------------------------------------------------- views


def test_elementwise_on_non_contiguous_views(backend: str) -> None:
    (ga, gc), (ta, tc) = pairs(data(4, 6), data(6, 4))
    assert_matches(ga.t() + gc, ta.t() + tc)
    assert_matches(ga.permute(1, 0).exp() * gc, ta.permute(1, 0).exp() * tc)
    assert_matches(ga[:, ::2] - gc[::2, :].T, ta[:, ::2] - tc[::2, :].T)
    assert_matches(ga[1:, 1::3].sigmoid(), ta[1:, 1::3].sigmoid())
    assert_matches(ga.transpose(0, 1)[2:5] / 3, ta.transpose(0, 1)[2:5] / 3)
    assert_matches(ga.T.reshape(-1) * 2, ta.T.reshape(-1) * 2)
    assert_matches(ga[None, :, 1].expand(3, 4) + gc[:3, :], ta[None, :, 1].expand(3, 4) + tc[:3, :])
    (g3,), (t3,) = pairs(data(2, 3, 4))
    assert_matches(g3.permute(2, 0, 1)[1:, :, ::2] * 2 + 1, t3.permute(2, 0, 1)[1:, :, ::2] * 2 + 1)


def test_chained_ops_mixing_dtypes(backend: str) -> None:
    (g, gi), (t, ti) = pairs(data(3, 4), data(3, 4, dtype="int32"))
    got = ((g * gi + 1) / 2).tanh() > gi.float() * 0.1
    want = ((t * ti + 1) / 2).tanh() > ti.float() * 0.1
    assert_matches(got, want)
    assert_matches((gi * 2 + 1) * gi, (ti * 2 + 1) * ti)


def test_method_aliases_and_lerp(backend: str) -> None:
    (ga, gc, gw), (ta, tc, tw) = pairs(data(3, 4), data(4, positive=True), data(3, 1, low=0, high=1))
    assert_matches(ga.multiply(gc), ta.multiply(tc))
    assert_matches(ga.subtract(gc), ta.subtract(tc))
    assert_matches(ga.divide(gc), ta.divide(tc))
    assert_matches(ga.lerp(gc, 0.25), ta.lerp(tc.expand(3, 4), 0.25))
    assert_matches(graphc.lerp(ga, gc, gw), torch.lerp(ta, tc.expand(3, 4), tw.expand(3, 4)))
    assert_matches(ga.pow(2), ta.pow(2))
    assert_matches(graphc.log2(gc), torch.log2(tc))
    (gb, gd), (tb, td) = pairs(data(3, dtype="bool"), data(3, dtype="bool"))
    assert_matches(gb.logical_and(gd), tb.logical_and(td))
    assert_matches(gb.logical_or(gd), tb.logical_or(td))
    assert_matches(graphc.logical_xor(gb, gd), torch.logical_xor(tb, td))
    assert_matches(gb.logical_not(), tb.logical_not())


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shapes=st.lists(st.integers(1, 3), min_size=0, max_size=3).flatmap(
        lambda shape: st.tuples(st.just(tuple(shape)), st.lists(st.booleans(), min_size=len(shape), max_size=len(shape)), st.integers(0, len(shape)))
    ),
    op=st.sampled_from(["add", "mul", "sub", "maximum", "ge", "div"]),
    dtypes=st.sampled_from([("float32", "float32"), ("int32", "float64"), ("int64", "int32"), ("float16", "float32")]),
)
def test_fuzz_broadcasting(backend: str, shapes: tuple, op: str, dtypes: tuple) -> None:
    """Random shape pairs that broadcast: the second drops leading dims and has some dims of size 1."""
    shape, ones, drop = shapes
    other = tuple(1 if one else d for d, one in zip(shape, ones))[drop:]
    (ga, gc), (ta, tc) = pairs(data(*shape, dtype=dtypes[0]), data(*other, dtype=dtypes[1], low=1 if op == "div" else None, high=3 if op == "div" else None))
    assert_matches(getattr(graphc, op)(ga, gc), getattr(torch, op)(ta, tc))
    assert_matches(getattr(graphc, op)(gc, ga), getattr(torch, op)(tc, ta))


def test_integer_pow_with_negative_exponents(backend: str) -> None:
    (g, ge), (t, te) = pairs(np.array([1, 2, 3, -1, -1, 0], dtype=np.int64), np.array([-1, -1, -2, -1, -2, 1], dtype=np.int64))
    assert_matches(g**ge, t**te)
    assert_matches(2**ge, 2**te)
    assert_matches(g.int() ** 3, t.int() ** 3)
    with pytest.raises(RuntimeError):
        t**-1
    with pytest.raises(GraphcError, match="pow"):
        g**-1  # noqa: B018


def test_integer_scalars_wrap_like_torch(backend: str) -> None:
    g, t = pair(np.array([1, -5, 7], dtype=np.int32))
    assert_matches(g + 2**31, t + 2**31)
    assert_matches(g * (2**32 + 3), t * (2**32 + 3))
    with pytest.raises(GraphcError, match="int64"):
        g + 2**64  # noqa: B018
