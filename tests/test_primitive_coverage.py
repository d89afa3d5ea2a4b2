"""Every primitive in the op registry has differential tests against torch: the coverage table.

``CASES`` maps each primitive to user-level programs that must produce it. Each case
runs the same code on graphc and on torch (``fn(T, F, *inputs)`` with ``T`` the module,
graphc or torch, and ``F`` its ``nn.functional``), checks that the recorded graphc graph
really contains the primitive (so a change to a decomposition cannot silently leave a
primitive untested), then compares shape, dtype and values with torch, and, for cases
marked ``grad``, the gradients of every float64 input.

``test_every_primitive_has_a_differential_case`` fails when a primitive is added to the
registry without a row here. The variants asked of the suite (float64, int and bool
dtypes, broadcasting, 0-d operands, non-contiguous views) appear as case labels; the
wider per-family suites live in tests/test_ops_*.py.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from helpers import assert_matches, data

import graphc
import graphc.nn.functional as GF
from graphc.ir.graph import toposort
from graphc.ir.registry import REGISTRY
from graphc.runtime import check

pytestmark = pytest.mark.usefixtures("fusion")  # every case with fusion on and off


@dataclass(frozen=True)
class Case:
    label: str
    fn: Callable[..., Any]  # fn(T, F, *tensors), the same code for graphc and torch
    inputs: tuple[np.ndarray, ...]
    grad: bool = False  # also compare d(sum(result * w))/d(input) for float64 inputs
    check: Callable[[Any, Any, list[Any]], None] | None = None  # replaces value equality (random ops)


def f32(*shape: int, positive: bool = False) -> np.ndarray:
    return data(*shape, positive=positive)


def f64(*shape: int, positive: bool = False) -> np.ndarray:
    return data(*shape, dtype="float64", positive=positive)


def i64(*shape: int, low: int = -5, high: int = 6) -> np.ndarray:
    return data(*shape, dtype="int64", low=low, high=high)


def i32(*shape: int, low: int = -5, high: int = 6) -> np.ndarray:
    return data(*shape, dtype="int32", low=low, high=high)


def b8(*shape: int) -> np.ndarray:
    return data(*shape, dtype="bool")


def unary(name: str, positive: bool = False) -> list[Case]:
    """A unary primitive: float32 on a transposed view, float64 with gradients, 0-d, and int64 input."""
    op = lambda T, F, x: getattr(T, name)(x)  # noqa: E731
    return [
        Case("f32-view", lambda T, F, x: getattr(T, name)(x.T), (f32(4, 3, positive=positive),)),
        Case("f64-grad", op, (f64(3, 4, positive=positive),), grad=True),
        Case("f32-0d", op, (f32(positive=positive),)),
        Case("i64", op, (i64(2, 3, low=1 if positive else -5),)),
    ]


def binary(name: str, positive: bool = False, bools: bool = True) -> list[Case]:
    """A binary primitive: broadcasting, float64 gradients through a view, int with a 0-d operand, promotion, bool."""
    op = lambda T, F, a, b: getattr(T, name)(a, b)  # noqa: E731
    low = 1 if positive else -5
    cases = [
        Case("f32-bcast", op, (f32(3, 1, positive=positive), f32(4, positive=positive))),
        Case("f64-view-grad", lambda T, F, a, b: getattr(T, name)(a.T, b), (f64(4, 3, positive=positive), f64(3, 4, positive=positive)), grad=True),
        Case("i64-0d", op, (i64(2, 3, low=low), i64(low=low))),
        Case("i32-f64-promote", op, (i32(2, 3, low=low), f64(2, 3, positive=True))),
    ]
    if bools:
        cases.append(Case("bool", op, (b8(2, 3), b8(3))))
    return cases


def nonzero(x: np.ndarray) -> np.ndarray:
    """Integer divisors: zeros replaced (an integer division by zero raises)."""
    return np.where(x == 0, 3, x).astype(x.dtype)


def division(name: str) -> list[Case]:
    """floor_divide, remainder, fmod: floats with both signs (and gradients), integers with negative values, scalars."""
    op = lambda T, F, a, b: getattr(T, name)(a, b)  # noqa: E731
    # torch.floor_divide has no derivative; div(rounding_mode="floor") is the same primitive with a zero one
    differentiable = (lambda T, F, a, b: T.div(a.T, b, rounding_mode="floor")) if name == "floor_divide" else (lambda T, F, a, b: op(T, F, a.T, b))
    return [
        Case("f32-bcast", op, (f32(3, 1) * 4, f32(4))),
        Case("f64-view-grad", differentiable, (f64(4, 3) * 4, f64(3, 4)), grad=True),
        Case("i64-0d", op, (i64(2, 3, low=-20, high=21), np.array(-3))),
        Case("i32-view", lambda T, F, a, b: getattr(T, name)(a.T, b), (i32(4, 3, low=-20, high=21), nonzero(i32(3, 4)))),
        Case("i32-f64-promote", op, (i32(2, 3, low=-20, high=21), f64(2, 3) * 3)),
        Case("f32-python-scalar", lambda T, F, a: (getattr(T, name)(a, 0.7), getattr(T, name)(a, -2)), (f32(2, 3) * 5,)),
    ]


def comparison(name: str) -> list[Case]:
    op = lambda T, F, a, b: getattr(T, name)(a, b)  # noqa: E731
    return [
        Case("f32-bcast", op, (f32(3, 1), f32(4))),
        Case("i64-f64-promote-view", lambda T, F, a, b: getattr(T, name)(a.T, b), (i64(4, 3, low=-2, high=3), np.round(f64(3, 4)))),
        Case("bool-0d", op, (b8(2, 3), b8())),
    ]


def logical(name: str, operator: str) -> list[Case]:
    """``logical_and``/``logical_or`` on bools and floats, and the bool ``*``/``+`` that torch computes as and/or."""
    op = lambda T, F, a, b: getattr(T, name)(a, b)  # noqa: E731
    return [
        Case("bool-bcast", op, (b8(3, 1), b8(4))),
        Case("bool-view-0d", lambda T, F, a, b: getattr(T, name)(a.T, b), (b8(4, 3), b8())),
        Case("f64-i64", op, (np.round(f64(2, 3)), i64(2, 3, low=0, high=2))),
        Case(f"bool-{operator}", lambda T, F, a, b: getattr(T, operator)(a, b), (b8(2, 3), b8(3))),
    ]


def bitwise(name: str) -> list[Case]:
    """``&``, ``|``, ``^``: integers of every width with torch's promotion (uint8 with int8 is int16), bools, Python numbers."""
    op = lambda T, F, a, b: getattr(T, name)(a, b)  # noqa: E731
    symbol = {"bitwise_and": operator.and_, "bitwise_or": operator.or_, "bitwise_xor": operator.xor}[name]
    with_numbers = lambda T, F, a: (symbol(a, 0x5A), symbol(-3, a), symbol(a, True))  # noqa: E731 - the operator and its reflection
    return [
        Case("i64-bcast", op, (i64(3, 1, low=-99, high=99), i64(4, low=-99, high=99))),
        Case(
            "u8-i8-promote-view",
            lambda T, F, a, b: getattr(T, name)(a.T, b),
            (data(4, 3, dtype="uint8", high=256), data(3, 4, dtype="int8", low=-128, high=128)),
        ),
        Case("bool-0d", op, (b8(2, 3), b8())),
        Case("i16-python-numbers", with_numbers, (data(2, 3, dtype="int16", low=-999, high=999),)),
        Case("f64-to-i32", lambda T, F, a, b: getattr(T, name)(a.to(T.int32), b), (f64(2, 3) * 100, i32(2, 3, low=-99, high=99))),
    ]


def bernoulli_mask_check(got: Any, expected: Any, inputs: list[Any]) -> None:
    """Dropout's values cannot equal torch's (different generators): each kept element is x / (1 - p)."""
    assert tuple(got.shape) == tuple(expected.shape) and got.dtype.name == str(expected.dtype).removeprefix("torch.")
    x, y = inputs[0].numpy(), got.numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] * 2.0, rtol=1e-6)
    assert 0 < kept.sum() < kept.size


INDEX = np.array([[0, 2, 1, 2], [1, 1, 0, 0], [2, 0, 0, 1]])
# Ties, NaN among them, and -0.0 beside 0.0 (equal, so a tie), down each column.
TIES_AND_NAN = np.array([[1.0, np.nan, 0.0], [np.nan, 2.0, -0.0], [1.0, np.nan, 0.0], [-1.0, 2.0, np.nan], [1.0, 2.0, -0.0]])

CASES: dict[str, list[Case]] = {
    # ------------------------------------------------------------------ sources
    "input": [Case("f32", lambda T, F, x, y: T.add(x, y), (f32(2, 3), f32(2, 3)))],
    "parameter": [Case("f64-grad", lambda T, F, x, y: T.nn.Parameter(x) * y, (f64(2, 3), f64(2, 3)), grad=True)],
    "constant": [
        Case("f32-scalar", lambda T, F, x: x * 2.5 + 1, (f32(2, 3),)),
        Case("i64-scalar", lambda T, F, x: x * 3 - 1, (i64(2, 3),)),
        Case("f64-0d", lambda T, F, x: 2.0 - x, (f64(),)),
    ],
    "iota": [
        Case("i64-one-hot", lambda T, F, t: F.one_hot(t, 5), (i64(4, low=0, high=5),)),
        Case("i64-one-hot-view", lambda T, F, t: F.one_hot(t.T, 3), (i64(2, 3, low=0, high=3),)),
    ],
    # ------------------------------------------------------------------ elementwise
    **{name: unary(name) for name in ("neg", "exp", "sin", "cos", "tanh", "erf", "sigmoid", "atan", "expm1", "exp2")},
    **{name: unary(name, positive=True) for name in ("log", "log1p", "sqrt", "rsqrt", "reciprocal", "log2")},
    "abs": [*unary("abs"), Case("i32", lambda T, F, x: T.abs(x), (i32(2, 3),))],
    "sign": [*unary("sign"), Case("f32-zeros", lambda T, F, x: T.sign(x * 0), (f32(2, 2),))],
    "floor": [
        Case("f32-view", lambda T, F, x: T.floor(x.T), (f32(4, 3) * 3,)),
        Case("f64-grad", lambda T, F, x: x.floor(), (f64(3, 4) * 3,), grad=True),
        Case("f32-0d-negative", lambda T, F, x: T.floor(x), (np.float32(-2.5),)),
    ],
    "ceil": [
        Case("f32-view", lambda T, F, x: T.ceil(x.T), (f32(4, 3) * 3,)),
        Case("f64-grad", lambda T, F, x: x.ceil(), (f64(3, 4) * 3,), grad=True),
        Case("f32-0d-negative", lambda T, F, x: T.ceil(x), (np.float32(-2.5),)),
    ],
    "round": [
        Case("f32-view", lambda T, F, x: T.round(x.T), (f32(4, 3) * 3,)),
        Case("f64-grad", lambda T, F, x: x.round(), (f64(3, 4) * 3,), grad=True),
        Case("f32-halves-to-even", lambda T, F, x: T.round(x), (np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5], dtype=np.float32),)),
        Case("f64-decimals-grad", lambda T, F, x: T.round(x, decimals=2), (f64(3, 4) * 30,), grad=True),
        Case("f32-negative-decimals", lambda T, F, x: x.round(decimals=-1), (f32(3, 4) * 30,)),
    ],
    "trunc": [
        Case("f32-view", lambda T, F, x: T.trunc(x.T), (f32(4, 3) * 3,)),
        Case("f64-grad", lambda T, F, x: x.trunc(), (f64(3, 4) * 3,), grad=True),
        Case("f64-fix", lambda T, F, x: T.fix(x), (f64(3, 4) * 3,)),
        Case("f64-frac-grad", lambda T, F, x: T.frac(x), (f64(3, 4) * 3,), grad=True),
        Case("f32-0d", lambda T, F, x: x.trunc(), (np.float32(-2.5),)),
    ],
    "logical_not": [
        Case("bool-view", lambda T, F, x: T.logical_not(x.T), (b8(3, 2),)),
        Case("f32-0d", lambda T, F, x: T.logical_not(x), (np.float32(0.0),)),
        Case("f64", lambda T, F, x: T.logical_not(x), (np.round(f64(2, 3)),)),
        Case("i64", lambda T, F, x: ~(x > 0), (i64(5),)),
    ],
    **{name: binary(name, bools=name in ("maximum", "minimum")) for name in ("add", "sub", "mul", "maximum", "minimum")},
    "div": binary("div", positive=True, bools=False),
    **{name: division(name) for name in ("floor_divide", "remainder", "fmod")},
    "pow": [
        Case("f32-bcast", lambda T, F, a, b: T.pow(a, b), (f32(3, 1, positive=True), f32(4))),
        Case("f64-view-grad", lambda T, F, a, b: T.pow(a.T, b), (f64(4, 3, positive=True), f64(3, 4)), grad=True),
        Case("i64-0d", lambda T, F, a, b: T.pow(a, b), (i64(2, 3), i64(low=0, high=4))),
        Case("f64-int-exponent", lambda T, F, a: a**3, (f64(2, 3),), grad=True),
    ],
    **{name: comparison(name) for name in ("eq", "ne", "lt", "le", "gt", "ge")},
    "and": logical("logical_and", "mul"),
    "or": logical("logical_or", "add"),
    **{name: bitwise(name) for name in ("bitwise_and", "bitwise_or", "bitwise_xor")},
    "where": [
        Case("f32-bcast", lambda T, F, c, a, b: T.where(c, a, b), (b8(3, 1), f32(4), f32(3, 4))),
        Case("f64-grad", lambda T, F, c, a, b: T.where(c, a, b), (b8(3, 4), f64(3, 4), f64(3, 4)), grad=True),
        Case("i64-0d-view", lambda T, F, c, a, b: T.where(c.T, a, b), (b8(4, 3), i64(), i64(3, 4))),
    ],
    "cast": [
        Case("f32-to-i64-truncates", lambda T, F, x: x.to(T.int64), (f32(3, 4) * 3,)),
        Case("i64-to-f64", lambda T, F, x: x.to(T.float64), (i64(3, 4),)),
        Case("bool-to-f32-view", lambda T, F, x: x.T.to(T.float32), (b8(4, 3),)),
        Case("f64-to-f32-grad", lambda T, F, x: x.to(T.float32), (f64(3, 4),), grad=True),
        Case("f32-to-bool-0d", lambda T, F, x: x.to(T.bool), (np.float32(0.5),)),
    ],
    "detach": [
        Case("f64", lambda T, F, x: (x.requires_grad_() * 2).detach() + 1, (f64(2, 3),)),
        Case("f32-view", lambda T, F, x: x.requires_grad_().T.detach(), (f32(2, 3),)),
    ],
    "custom_vjp": [  # binary_cross_entropy: torch's gradient formula, finite at probabilities of exactly 0 and 1
        Case(
            "bce-f64-saturated",
            lambda T, F, p, y: F.binary_cross_entropy(p, y, reduction="none"),
            (np.array([[0.0, 0.3, 1.0], [0.9, 1.0, 0.0]]), np.array([[0.0, 0.2, 1.0], [0.5, 0.0, 1.0]])),
            grad=True,
        ),
        Case(
            "bce-f32-view",
            lambda T, F, p, y: F.binary_cross_entropy(p.T, y.T, reduction="none"),
            (f32(3, 4, positive=True) / 4, f32(3, 4, positive=True) / 4),
        ),
        Case(  # torch's formulas of the math composites (graphc.ir.composites), also at their special points
            "math-f64-zeros",
            lambda T, F, y, x: T.atan2(y, x) + T.xlogy(x, y.abs() + 1) + T.expm1(x) * x.sinh() + T.logit(y.abs() / 4, eps=0.1),
            (np.array([[0.0, 0.0, -1.5], [2.0, 0.3, -0.0]]), np.array([[0.0, -0.0, 0.0], [-3.0, 0.7, 1e-8]])),
            grad=True,
        ),
    ],
    # ------------------------------------------------------------------ random
    "rand": [Case("dropout-f32", lambda T, F, x: F.dropout(x, 0.5, training=True), (f32(8, 16) + 5,), check=bernoulli_mask_check)],
    # ------------------------------------------------------------------ reductions
    "sum": [
        Case("f32-dims-keepdim-view", lambda T, F, x: x.T.sum(dim=(0, 2), keepdim=True), (f32(3, 4, 2),)),
        Case("f64-grad", lambda T, F, x: x.sum(dim=1), (f64(3, 4),), grad=True),
        Case("i32-to-i64", lambda T, F, x: x.sum(0), (i32(3, 4),)),
        Case("bool-all", lambda T, F, x: x.sum(), (b8(3, 4),)),
        Case("f32-0d", lambda T, F, x: x.sum(), (f32(),)),
    ],
    "max": [
        Case("f32-view", lambda T, F, x: T.amax(x.T, dim=1), (f32(3, 4),)),
        Case("f64-grad-keepdim", lambda T, F, x: T.amax(x, dim=0, keepdim=True), (f64(3, 4),), grad=True),
        Case("i64-all", lambda T, F, x: x.max(), (i64(3, 4),)),
        Case("f32-0d", lambda T, F, x: x.max(), (f32(),)),
    ],
    "min": [
        Case("f32-view", lambda T, F, x: T.amin(x.T, dim=1), (f32(3, 4),)),
        Case("f64-grad", lambda T, F, x: T.amin(x, dim=(0, 1)), (f64(3, 4),), grad=True),
        Case("i32-keepdim", lambda T, F, x: T.amin(x, dim=-1, keepdim=True), (i32(3, 4),)),
    ],
    "argmax": [
        Case("f32-view", lambda T, F, x: T.argmax(x.T, dim=1), (f32(3, 4),)),
        Case("i64-keepdim", lambda T, F, x: x.argmax(dim=0, keepdim=True), (i64(3, 4),)),
        Case("f64-all", lambda T, F, x: x.argmax(), (f64(3, 4),)),
        Case("values-indices-grad", lambda T, F, x: x.max(dim=1)[0], (f64(3, 4),), grad=True),
        Case("argmin-i32", lambda T, F, x: x.argmin(dim=1), (i32(3, 4),)),
    ],
    # ------------------------------------------------------------------ movement
    "reshape": [
        Case("f32-of-view", lambda T, F, x: x.T.reshape(-1), (f32(3, 4),)),
        Case("f64-grad", lambda T, F, x: x.reshape(2, 6), (f64(3, 4),), grad=True),
        Case("i64-0d", lambda T, F, x: x.reshape(1, 1), (i64(),)),
        Case("bool-unsqueeze", lambda T, F, x: x.unsqueeze(1), (b8(3),)),
    ],
    "permute": [
        Case("f32", lambda T, F, x: x.permute(2, 0, 1), (f32(2, 3, 4),)),
        Case("f64-grad", lambda T, F, x: x.permute(1, 2, 0), (f64(2, 3, 4),), grad=True),
        Case("bool-T", lambda T, F, x: x.T, (b8(3, 4),)),
    ],
    "expand": [
        Case("f32", lambda T, F, x: x.expand(3, 4), (f32(3, 1),)),
        Case("f64-grad", lambda T, F, x: x.expand(2, 3, 4), (f64(1, 4),), grad=True),
        Case("i64-0d", lambda T, F, x: x.expand(2, 2), (i64(),)),
        Case("f32-bcast-add-view", lambda T, F, x, y: x.T + y, (f32(1, 3), f32(4))),
    ],
    "slice": [
        Case("f32-step", lambda T, F, x: x[1:, ::2], (f32(4, 5),)),
        Case("f64-grad-of-view", lambda T, F, x: x.T[1:3], (f64(4, 5),), grad=True),
        Case("i64-narrow", lambda T, F, x: x.narrow(1, 1, 2), (i64(3, 4),)),
        Case("bool-chunk", lambda T, F, x: x.chunk(2, dim=0)[1], (b8(4, 3),)),
    ],
    "pad": [
        Case("f32", lambda T, F, x: F.pad(x, (1, 2)), (f32(2, 3),)),
        Case("f64-grad-value", lambda T, F, x: F.pad(x, (1, 0, 0, 2), value=-1.5), (f64(2, 3),), grad=True),
        Case("i64-view", lambda T, F, x: F.pad(x.T, (0, 1)), (i64(3, 2),)),
    ],
    "concat": [
        Case("f32-view", lambda T, F, a, b: T.cat([a.T, b], dim=1), (f32(2, 3), f32(3, 4))),
        Case("f64-grad", lambda T, F, a, b: T.cat([a, b], dim=0), (f64(2, 3), f64(1, 3)), grad=True),
        Case("i32-f32-promote", lambda T, F, a, b: T.cat([a, b]), (i32(2, 3), f32(2, 3))),
        Case("bool-stack", lambda T, F, a, b: T.stack([a, b], dim=1), (b8(3), b8(3))),
    ],
    # ------------------------------------------------------------------ indexing
    "gather": [
        Case("f32", lambda T, F, x, i: T.gather(x, 1, i), (f32(3, 5), INDEX)),
        Case("f64-grad", lambda T, F, x, i: x.gather(1, i), (f64(3, 5), INDEX), grad=True),
        Case("i64-view", lambda T, F, x, i: T.gather(x.T, 0, i.T), (i64(5, 3), INDEX)),
        # one index per row: the gradient is a one-hot (an iota compared with the index), not a scatter
        Case("f64-grad-one-per-row", lambda T, F, x, i: x.gather(1, i), (f64(4, 5), np.array([[4], [0], [2], [2]])), grad=True),
    ],
    "index_select": [
        Case("f32", lambda T, F, x, i: T.index_select(x, 0, i), (f32(4, 3), np.array([3, 0, 3]))),
        Case("f64-grad-getitem", lambda T, F, x, i: x[i], (f64(4, 3), np.array([1, -1, 1]))),
        Case("i64-view", lambda T, F, x, i: x.T[:, i], (i64(4, 3), np.array([0, 2]))),
        Case("bool-i32-index", lambda T, F, x, i: T.index_select(x, 1, i), (b8(2, 3), np.array([2, 0], dtype=np.int32))),
        Case("f64-grad", lambda T, F, x, i: T.index_select(x, 1, i), (f64(2, 3), np.array([2, 2, 0])), grad=True),
    ],
    "scatter_add": [
        Case("f32", lambda T, F, x, i, s: x.scatter_add(1, i, s), (f32(3, 5), INDEX, f32(3, 4))),
        Case("f64-grad", lambda T, F, x, i, s: T.scatter_add(x, 1, i, s), (f64(3, 5), INDEX, f64(3, 4)), grad=True),
        Case("i64", lambda T, F, x, i, s: x.scatter_add(1, i, s), (i64(3, 5), INDEX, i64(3, 4))),
        Case("f32-view", lambda T, F, x, i, s: x.T.scatter_add(0, i.T, s.T), (f32(5, 3), INDEX, f32(3, 4))),
        Case("f32-index-smaller-than-src-and-input", lambda T, F, x, i, s: x.scatter_add(0, i, s), (f32(3, 5), np.array([[0, 2], [1, 1]]), f32(3, 4))),
    ],
    "scatter_reduce": [
        Case("f32-amax", lambda T, F, x, i, s: x.scatter_reduce(1, i, s, "amax"), (f32(3, 5), INDEX, f32(3, 4))),
        Case("f64-grad-prod", lambda T, F, x, i, s: T.scatter_reduce(x, 1, i, s, "prod"), (f64(3, 5), INDEX, f64(3, 4)), grad=True),
        Case("i64-amin-without-self", lambda T, F, x, i, s: x.scatter_reduce(1, i, s, "amin", include_self=False), (i64(3, 5), INDEX, i64(3, 4))),
        Case("f32-view-prod", lambda T, F, x, i, s: x.T.scatter_reduce(0, i.T, s.T, "prod"), (f32(5, 3), INDEX, f32(3, 4))),
    ],
    # ------------------------------------------------------------------ matmul
    "matmul": [
        Case("f32-batched-bcast", lambda T, F, a, b: a @ b, (f32(2, 1, 3, 4), f32(5, 4, 2))),
        Case("f64-grad-view", lambda T, F, a, b: T.matmul(a.T, b), (f64(4, 3), f64(4, 2)), grad=True),
        Case("i64-vector", lambda T, F, a, b: a @ b, (i64(3), i64(3, 2))),
        Case("f32-bmm", lambda T, F, a, b: T.bmm(a, b), (f32(2, 3, 4), f32(2, 4, 5))),
    ],
    # ------------------------------------------------------------------ decompositions (sign-free functions of the vectors)
    "eigh": [
        Case("f64-grad-view", lambda T, F, x: (lambda r: r.eigenvalues + (r.eigenvectors**2)[0])(T.linalg.eigh(x.T)), (f64(3, 3),), grad=True),
    ],
    "svd": [
        Case("f64-grad-view", lambda T, F, x: (lambda r: r.S + (r.U**2)[0] + (r.Vh**2)[:, 0])(T.linalg.svd(x.T, full_matrices=False)), (f64(3, 2),), grad=True),
    ],
    "qr": [
        Case("f64-grad-view", lambda T, F, x: (lambda r: r.Q.sum(0) + r.R.sum(1))(T.linalg.qr(x.T)), (f64(2, 3),), grad=True),
    ],
    # ------------------------------------------------------------------ LU and Cholesky (well-conditioned matrices)
    "solve": [Case("f64-grad-view", lambda T, F, a, b: T.linalg.solve(a.T, b), (f64(3, 3) + 3 * np.eye(3), f64(3, 2)), grad=True)],
    "slogdet": [Case("f64-grad-view", lambda T, F, a: T.linalg.slogdet(a.mT).logabsdet * T.linalg.det(a), (f64(2, 3, 3) - 3 * np.eye(3),), grad=True)],
    "cholesky": [Case("f64-grad-view", lambda T, F, r: T.linalg.cholesky(r.T @ r + 3 * T.eye(3, dtype=T.float64)), (f64(3, 3),), grad=True)],
    "solve_triangular": [
        Case("f64-grad-view", lambda T, F, a, b: T.linalg.solve_triangular(a.T, b, upper=True), (f64(3, 3) + 3 * np.eye(3), f64(3, 2)), grad=True)
    ],
    "lu": [
        Case("f64-grad-view", lambda T, F, a: (lambda r: r.P[..., :3] + r.L * 2 + r.U.sum(-2, keepdim=True))(T.linalg.lu(a.mT)), (f64(2, 3, 4),), grad=True)
    ],
    "matrix_exp": [Case("f64-grad-view", lambda T, F, a: T.linalg.matrix_exp(a.mT), (f64(2, 3, 3),), grad=True)],
    # torch has no derivative of the LDL family (tests/test_linalg_ldl.py); a 2x2 block of pivots in the second matrix
    "ldl_factor": [Case("f64-view", lambda T, F, a: tuple(T.linalg.ldl_factor_ex(a.mT)), (np.float64([np.eye(3) + 1, [[0, 1, 2], [1, 0, 1], [0, 1, 0]]]),))],
    "ldl_solve": [
        Case("f64-view", lambda T, F, a, b: T.linalg.ldl_solve(*T.linalg.ldl_factor(a + a.mT), b.mT), (f64(2, 3, 3) + 2 * np.eye(3), f64(2, 3, 3)))
    ],
    # ------------------------------------------------------------------ windows
    "unfold": [
        Case("f32", lambda T, F, x: F.unfold(x, 2), (f32(1, 2, 4, 4),)),
        Case("f64-grad-strided", lambda T, F, x: F.unfold(x, (2, 3), dilation=(1, 2), padding=1, stride=2), (f64(2, 1, 5, 6),), grad=True),
        Case("f32-conv2d-view", lambda T, F, x, w: F.conv2d(x.transpose(2, 3), w, padding=1), (f32(1, 2, 5, 4), f32(3, 2, 3, 3))),
    ],
    # ------------------------------------------------------------------ sorts
    "argsort": [
        Case("f32-view", lambda T, F, x: T.argsort(x.T, dim=1, stable=True), (f32(4, 3),)),
        Case("f64-ties-nan-descending", lambda T, F, x: T.argsort(x, dim=0, descending=True, stable=True), (TIES_AND_NAN,)),
        Case("i64-ties", lambda T, F, x: x.argsort(stable=True), (i64(3, 6, low=-2, high=2),)),
        Case("bool-descending", lambda T, F, x: x.argsort(dim=1, descending=True, stable=True), (b8(3, 5),)),
    ],
    # ------------------------------------------------------------------ value checks (the values here pass)
    "check": [
        Case(
            "f64-grad-bce",
            lambda T, F, x, y: F.binary_cross_entropy(x, y, reduction="none"),
            (np.random.default_rng(5).uniform(0.05, 0.95, (3, 4)), np.random.default_rng(6).uniform(0, 1, (3, 4))),
            grad=True,
        ),
        Case("f32-view", lambda T, F, x, y: F.binary_cross_entropy(x.T, y), (np.float32([[0.0, 0.5], [1.0, 0.25]]), np.float32([[1, 0], [0, 1]]))),
    ],
    # ------------------------------------------------------------------ scans
    "cumsum": [
        Case("f32-view", lambda T, F, x: T.cumsum(x.T, dim=1), (f32(4, 3),)),
        Case("f64-grad", lambda T, F, x: x.cumsum(0) * x.cumsum(1), (f64(3, 4),), grad=True),
        Case("i64-bool", lambda T, F, x, m: (x.cumsum(-1), m.cumsum(0)), (i64(2, 5), b8(3, 2))),
    ],
    "fold": [
        Case("f32", lambda T, F, x: F.fold(x, (3, 3), 2), (f32(1, 8, 4),)),
        Case("f64-grad-strided", lambda T, F, x: F.fold(x, (5, 5), (2, 2), padding=1, stride=2), (f64(2, 4, 9),), grad=True),
        # windows that do not overlap (a max-pool's backward): one read per pixel, no loop over the kernel
        Case("f32-disjoint", lambda T, F, x: F.fold(x, (4, 6), 2, stride=2), (f32(1, 8, 6),)),
        Case("f64-grad-disjoint-uncovered-edge", lambda T, F, x: F.fold(x, (5, 5), 2, stride=2), (f64(2, 4, 4),), grad=True),
        Case("f64-grad-disjoint-gaps-padded", lambda T, F, x: F.fold(x, (7, 8), 2, padding=1, stride=3), (f64(2, 4, 9),), grad=True),
    ],
}


def modules(name: str) -> tuple[Any, Any]:
    return (graphc, GF) if name == "graphc" else (torch, TF)


def flat(value: Any) -> list[Any]:
    return [v for item in value for v in flat(item)] if isinstance(value, (tuple, list)) else [value]


ALL = [(op, case) for op, cases in CASES.items() for case in cases]


# Primitives eager code never records (its sizes are numbers), with the tests that check them.
TRACED_ONLY = {"size": "tests/test_sizes.py"}


def test_every_primitive_has_a_differential_case() -> None:
    missing = sorted(set(REGISTRY) - set(CASES) - set(TRACED_ONLY))
    assert not missing, f"primitives without a differential case in CASES: {missing}"
    assert not sorted(set(CASES) - set(REGISTRY)), "CASES names ops that are not primitives"


def test_every_differentiable_primitive_has_a_gradient_case() -> None:
    differentiable = {name for name, op in REGISTRY.items() if op.vjp is not None}
    with_grad = {op for op, case in ALL if case.grad}
    assert not sorted(differentiable - with_grad), f"differentiable primitives without a gradient case: {sorted(differentiable - with_grad)}"


def test_every_computing_primitive_is_checked_in_float64_and_on_a_view() -> None:
    computing = {name for name, op in REGISTRY.items() if op.category not in ("source", "random")}
    assert not sorted(computing - {op for op, case in ALL if "f64" in case.label}), "primitives without a float64 case"
    on_views = {op for op, case in ALL if "view" in case.label or case.label.endswith("-T")}
    assert not sorted(computing - on_views - {"fold"}), "primitives without a case on a non-contiguous view"


@pytest.mark.parametrize("op, case", ALL, ids=[f"{op}-{case.label}" for op, case in ALL])
def test_primitive_matches_torch(backend: str, op: str, case: Case) -> None:
    graphc_inputs = [graphc.tensor(a.copy()) for a in case.inputs]
    torch_inputs = [torch.from_numpy(np.array(a, copy=True)) for a in case.inputs]
    differentiable = [i for i, a in enumerate(case.inputs) if case.grad and a.dtype == np.float64]
    for i in differentiable:
        graphc_inputs[i].requires_grad_()
        torch_inputs[i].requires_grad_()
    got = case.fn(*modules("graphc"), *graphc_inputs)
    recorded = {n.op for n in toposort([t._node for t in flat(got)])}
    assert op in recorded, f"the case no longer records {op!r}: it records {sorted(recorded)}"
    expected = case.fn(*modules("torch"), *torch_inputs)
    if case.check is not None:
        case.check(got, expected, graphc_inputs)
    else:
        assert_matches(got, expected)
    if differentiable:
        weight = data(*tuple(expected.shape), dtype="float64")
        (got * graphc.tensor(weight)).sum().backward()
        (expected * torch.from_numpy(weight)).sum().backward()
        for i in differentiable:
            if torch_inputs[i].grad is None:
                assert graphc_inputs[i].grad is None
            else:
                assert_matches(graphc_inputs[i].grad, torch_inputs[i].grad)



@pytest.mark.parametrize("op, case", [(op, case) for op, case in ALL if case.check is None], ids=lambda v: v if isinstance(v, str) else v.label)
def test_check_mode_evaluates_every_case_like_torch(op: str, case: Case) -> None:
    """Check mode (graphc/runtime/check.py) runs the recorded IR node by node in eager PyTorch. On
    every case above, that evaluation must give torch's result, or check mode would cry wolf."""
    got = case.fn(*modules("graphc"), *[graphc.tensor(a.copy()) for a in case.inputs])
    expected = flat(case.fn(*modules("torch"), *[torch.from_numpy(np.array(a, copy=True)) for a in case.inputs]))
    values: dict[int, Any] = {}
    for node in toposort([t._node for t in flat(got)]):
        values[id(node)] = check.to_torch(node.data) if node.data is not None else check.evaluate(node, [values[id(i)] for i in node.inputs], {})
    for tensor, want in zip(flat(got), expected):
        reference = values[id(tensor._node)]
        assert reference.dtype == want.dtype and reference.shape == want.shape
        assert check.difference(reference, want) is None, f"check mode's torch evaluation of {op} differs from torch"
