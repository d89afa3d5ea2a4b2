"""Every Tensor method and module-level function that DESIGN.md lists is run against torch.

``DESIGN_NAMES`` copies the public API list of DESIGN.md ("graphc.Tensor mirrors
torch.Tensor names ...", the constructors, and the module-level functions). ``API``
maps each name to cases written once for both libraries (``fn(T, *inputs)`` with ``T``
graphc or torch); a case calls the method form and, where torch has one, the
module-level form, on float32 views, float64, int/bool and 0-d inputs as the op allows.
``test_every_listed_name_has_a_case`` fails when a listed name has no case, and
``test_every_listed_name_exists_where_torch_has_it`` when graphc lacks the method or the
module-level function that torch has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data, dtype_name

import graphc


@dataclass(frozen=True)
class Case:
    label: str
    fn: Callable[..., Any]  # fn(T, *tensors), the same code for graphc and torch
    inputs: tuple[np.ndarray, ...] = ()
    check: Callable[[Any, Any], None] | None = None  # replaces value equality (random constructors)


def f32(*shape: int, positive: bool = False) -> np.ndarray:
    return data(*shape, positive=positive)


def f64(*shape: int, positive: bool = False) -> np.ndarray:
    return data(*shape, dtype="float64", positive=positive)


def i64(*shape: int) -> np.ndarray:
    return data(*shape, dtype="int64")


def b8(*shape: int) -> np.ndarray:
    return data(*shape, dtype="bool")


def same_shape_and_dtype(got: Any, expected: Any) -> None:
    """Random values differ between the libraries (different generators); shape and dtype must not."""
    assert tuple(got.shape) == tuple(expected.shape)
    assert got.dtype.name == dtype_name(expected.dtype)
    got.numpy()


def uniform_01(got: Any, expected: Any) -> None:
    same_shape_and_dtype(got, expected)
    values = got.numpy()
    assert values.min() >= 0.0 and values.max() < 1.0


def requires_grad_set(got: Any, expected: Any) -> None:
    assert got.requires_grad and expected.requires_grad
    assert_matches(got, expected)


def detached(got: Any, expected: Any) -> None:
    assert not got.requires_grad and not expected.requires_grad
    assert_matches(got, expected)


# The lists of DESIGN.md ("Public API"): operators, methods, constructors, module-level functions.
OPERATORS = ["+", "-", "*", "/", "**", "@", "unary -", "==", "!=", "<", "<=", ">", ">="]
METHODS = """matmul mm bmm neg exp log sqrt rsqrt sin cos tanh erf abs sign reciprocal sigmoid relu log1p square
sum mean max min argmax var std reshape view permute transpose T t squeeze unsqueeze flatten expand cat stack split chunk
indexing where clamp maximum minimum softmax log_softmax to detach requires_grad_ zero_""".split()
CONSTRUCTORS = "tensor zeros ones full empty rand randn arange eye zeros_like ones_like full_like empty_like rand_like randn_like from_numpy".split()
DESIGN_NAMES = OPERATORS + METHODS + CONSTRUCTORS


def math(name: str, positive: bool = False) -> list[Case]:
    return [
        Case("f32-view-method-and-function", lambda T, x: (getattr(x.T, name)(), getattr(T, name)(x)), (f32(3, 4, positive=positive),)),
        Case("f64-0d", lambda T, x: getattr(T, name)(x), (f64(positive=positive),)),
    ]


def operator(fn: Callable[[Any, Any], Any], positive: bool = False) -> list[Case]:
    return [
        Case("f32-bcast-view", lambda T, a, b: fn(a.T, b), (f32(4, 3, positive=positive), f32(4, positive=positive))),
        Case("i64-f64-0d", lambda T, a, b: fn(a, b), (i64(2, 3), f64(positive=True))),
        Case("python-scalar-both-sides", lambda T, a: (fn(a, 2), fn(3, a)), (f32(2, 3, positive=positive),)),
    ]


API: dict[str, list[Case]] = {
    # ------------------------------------------------------------------ operators
    "+": [*operator(lambda a, b: a + b), Case("bool", lambda T, a, b: a + b, (b8(3), b8(3)))],
    "-": [
        *operator(lambda a, b: a - b),
        Case(
            "alpha-and-named-aliases",
            lambda T, a, b: (T.sub(a, 1, alpha=2), T.add(a, b, alpha=0.5), T.subtract(a, b), T.multiply(a, 2), T.divide(a, b)),
            (f32(2, 3), f32(3, positive=True)),
        ),
    ],
    "*": [*operator(lambda a, b: a * b), Case("bool", lambda T, a, b: a * b, (b8(3), b8(3)))],
    "/": [*operator(lambda a, b: a / b, positive=True), Case("i64-true-division", lambda T, a, b: a / b, (i64(4), np.array([2, 3, 4, 5])))],
    "**": [
        Case("f32-bcast-view", lambda T, a, b: a.T**b, (f32(4, 3, positive=True), f32(4))),
        Case("scalars", lambda T, a: (a**2, 2**a, a**0.5), (f32(2, 3, positive=True),)),
        Case("i64", lambda T, a: a**2, (i64(2, 3),)),
    ],
    "@": [
        Case("f32-view", lambda T, a, b: a.T @ b, (f32(4, 3), f32(4, 2))),
        Case("f64-vector-batched", lambda T, a, b: (a @ b, b.mT @ a), (f64(3), f64(2, 3, 3))),
    ],
    "unary -": [Case("f32-view", lambda T, x: -x.T, (f32(2, 3),)), Case("i64-0d", lambda T, x: -x, (i64(),))],
    **{
        symbol: [
            Case("f32-bcast", lambda T, a, b, fn=fn: fn(a, b), (np.round(f32(3, 1)), np.round(f32(4)))),
            Case("i64-scalar-view", lambda T, a, fn=fn: (fn(a.T, 1), fn(2.5, a)), (i64(3, 2),)),
            Case("bool-0d", lambda T, a, b, fn=fn: fn(a, b), (b8(3), b8())),
        ]
        for symbol, fn in [
            ("==", lambda a, b: a == b),
            ("!=", lambda a, b: a != b),
            ("<", lambda a, b: a < b),
            ("<=", lambda a, b: a <= b),
            (">", lambda a, b: a > b),
            (">=", lambda a, b: a >= b),
        ]
    },
    # ------------------------------------------------------------------ linear algebra
    "matmul": [Case("f32-bcast-method-and-function", lambda T, a, b: (a.matmul(b), T.matmul(b.mT, a.mT)), (f32(2, 3, 4), f32(4, 5)))],
    "mm": [Case("f64-view", lambda T, a, b: (a.T.mm(b), T.mm(b.T, a)), (f64(3, 2), f64(3, 4)))],
    "bmm": [
        Case("f32-method-and-function", lambda T, a, b: (a.bmm(b), T.bmm(a, b)), (f32(2, 3, 4), f32(2, 4, 5))),
        Case("i64", lambda T, a, b: T.bmm(a, b), (i64(1, 2, 3), i64(1, 3, 2))),
    ],
    # ------------------------------------------------------------------ math
    **{name: math(name) for name in ("neg", "exp", "sin", "cos", "tanh", "erf", "abs", "sign", "sigmoid", "relu", "square")},
    **{name: math(name, positive=True) for name in ("log", "sqrt", "rsqrt", "reciprocal", "log1p")},
    # ------------------------------------------------------------------ reductions
    "sum": [
        Case("f32-dim-keepdim-view", lambda T, x: (x.T.sum(dim=1, keepdim=True), T.sum(x, (0, 1)), x.sum()), (f32(3, 4),)),
        Case("int-and-bool-to-i64", lambda T, x, y: (x.sum(0), y.sum(dim=-1)), (i64(3, 4), b8(2, 3))),
        Case("f64-0d", lambda T, x: x.sum(), (f64(),)),
    ],
    "mean": [
        Case("f32-dim-keepdim-view", lambda T, x: (x.T.mean(dim=1, keepdim=True), T.mean(x, (0, 1)), x.mean()), (f32(3, 4),)),
        Case("f64-0d", lambda T, x: x.mean(), (f64(),)),
    ],
    "max": [
        Case("dim-values-indices", lambda T, x: (tuple(x.max(dim=1)), tuple(T.max(x.T, 1, keepdim=True))), (f32(3, 4),)),
        Case("whole-elementwise-i64", lambda T, x, y: (x.max(), T.max(x, y), x.max(dim=0).values, x.max(0).indices), (i64(3, 4), i64(3, 4))),
    ],
    "min": [
        Case("dim-values-indices", lambda T, x: (tuple(x.min(dim=1)), tuple(T.min(x.T, 1, keepdim=True))), (f64(3, 4),)),
        Case("whole-elementwise-0d", lambda T, x, y: (x.min(), T.min(x, y), x.min(dim=0).values), (f32(), f32())),
    ],
    "argmax": [
        Case("f32-view-keepdim", lambda T, x: (x.T.argmax(dim=0), T.argmax(x, 1, keepdim=True), x.argmax()), (f32(3, 4),)),
        Case("i64", lambda T, x: x.argmax(1), (i64(3, 4),)),
    ],
    "var": [
        Case("f64-dims-correction", lambda T, x: (x.var(), x.T.var(dim=0, keepdim=True), T.var(x, 1, correction=0), x.var(0, unbiased=False)), (f64(3, 4),)),
        Case("f32", lambda T, x: x.var(dim=(0, 1)), (f32(2, 3, 2),)),
    ],
    "std": [
        Case("f64-dims-correction", lambda T, x: (x.std(), x.T.std(dim=0, keepdim=True), T.std(x, 1, correction=0), x.std(0, unbiased=False)), (f64(3, 4),)),
        Case("f32", lambda T, x: x.std(dim=-1), (f32(2, 5),)),
    ],
    # ------------------------------------------------------------------ shapes
    "reshape": [Case("view-int-0d", lambda T, x, y: (x.T.reshape(2, -1), T.reshape(x, (12,)), y.reshape(1, 1)), (i64(3, 4), f32()))],
    "view": [Case("f32-bool", lambda T, x, y: (x.view(4, 3), x.view(-1), y.view(2, 1, 3)), (f32(3, 4), b8(6)))],
    "permute": [Case("method-and-function", lambda T, x: (x.permute(2, 0, 1), T.permute(x, (1, 2, 0)), x.permute(-1, 0, 1)), (f32(2, 3, 4),))],
    "transpose": [Case("method-and-function", lambda T, x: (x.transpose(0, 2), T.transpose(x, -1, 1)), (i64(2, 3, 4),))],
    "T": [Case("f64", lambda T, x: x.T, (f64(2, 3),)), Case("bool-1d", lambda T, x: x.t(), (b8(3),))],
    "t": [Case("method-and-function", lambda T, x: (x.t(), T.t(x)), (f32(2, 3),))],
    "squeeze": [Case("dims", lambda T, x: (x.squeeze(), x.squeeze(1), T.squeeze(x, 0), x.squeeze(2)), (f32(1, 1, 3),))],
    "unsqueeze": [Case("dims-0d", lambda T, x, y: (x.unsqueeze(0), T.unsqueeze(x, -1), y.unsqueeze(0)), (f32(2, 3), i64()))],
    "flatten": [Case("dims-view", lambda T, x, y: (x.flatten(), T.flatten(x.mT, 1), x.flatten(0, 1), y.flatten()), (f32(2, 3, 4), f64()))],
    "expand": [Case("sizes-view", lambda T, x: (x.expand(2, 3, 4), x.T.expand(4, 3), x.expand(-1, 4)), (f32(3, 1),))],
    "cat": [Case("dims-promotion", lambda T, x, y: (T.cat([x, y], 0), T.cat((x.T, y.T), dim=-1)), (f32(2, 3), i64(1, 3)))],
    "stack": [Case("dims-0d", lambda T, x, y, z: (T.stack([x, y]), T.stack([x, y], dim=-1), T.stack([z, z])), (f32(2, 3), f32(2, 3), f64()))],
    "split": [Case("sizes-and-sections", lambda T, x: (x.split(2), T.split(x, [1, 3], dim=1), x.T.split(1, 1)), (f32(3, 4),))],
    "chunk": [Case("uneven", lambda T, x: (x.chunk(2), T.chunk(x, 3, dim=1), x.chunk(4, -1)), (i64(3, 5),))],
    "indexing": [
        Case("slices-none-ellipsis", lambda T, x: (x[1:, ::2], x[None, ..., 0], x[-1], x[1, 2]), (f32(3, 4),)),
        Case("integer-tensors-and-lists", lambda T, x, i: (x[i], x[:, i], x[[0, 2]], x[i, i]), (f64(3, 3), np.array([2, 0]))),
        Case("bool-and-int-values", lambda T, x, y: (x[1:], y[..., 1]), (b8(3, 2), i64(2, 3))),
        Case("bool-masks", lambda T, x: (x[x > 0], x[:, [True, False, True]], x[x[:, 0] > 0, 1:]), (f32(3, 3),)),
    ],
    # ------------------------------------------------------------------ selection and normalisation
    "where": [
        Case("bcast-promotion", lambda T, c, x, y: (T.where(c, x, y), x.where(c, 0.0), T.where(c.T[0], 1, y)), (b8(3, 3), f32(3, 3), i64(3))),
        Case("condition-alone", lambda T, c: T.where(c), (b8(3, 3),)),
    ],
    "clamp": [
        Case("scalars-tensors-view", lambda T, x, lo: (x.clamp(-0.5, 0.5), T.clamp(x.T, min=0.0), x.clamp(max=lo), x.clamp(min=lo)), (f32(3, 3), f32(3))),
        Case("i64", lambda T, x: x.clamp(-1, 2), (i64(4),)),
    ],
    "maximum": [Case("bcast-promotion", lambda T, x, y: (x.maximum(y), T.maximum(y, x.T)), (f32(3, 3), i64(3)))],
    "minimum": [Case("bcast-promotion", lambda T, x, y: (x.minimum(y), T.minimum(y, x.T)), (f64(3, 3), f32(3)))],
    "softmax": [Case("dims-view-f64", lambda T, x: (x.softmax(1), T.softmax(x.T, dim=0), x.softmax(-1, dtype=T.float64)), (f32(3, 4),))],
    "log_softmax": [Case("dims-view-f64", lambda T, x: (x.log_softmax(1), T.log_softmax(x.T, dim=0), x.log_softmax(-1, dtype=T.float64)), (f32(3, 4),))],
    # ------------------------------------------------------------------ dtypes and autograd state
    "to": [
        Case("dtypes-and-device", lambda T, x, y: (x.to(T.int64), x.to(dtype=T.float64), x.to(y), x.to("cpu"), y.to(T.bool)), (f32(3, 4) * 3, i64(2))),
    ],
    "detach": [Case("of-requires-grad", lambda T, x: (x.requires_grad_() * 2).detach(), (f64(3),), check=detached)],
    "requires_grad_": [Case("f32", lambda T, x: x.requires_grad_() * 2, (f32(3),), check=requires_grad_set)],
    "zero_": [Case("dtypes", lambda T, x, y: (x.zero_(), y.zero_()), (f32(2, 3), i64(2)))],
    # ------------------------------------------------------------------ constructors
    "tensor": [Case("nested-lists-dtypes", lambda T: (T.tensor([[1, 2], [3, 4]]), T.tensor([1.5, 2]), T.tensor(True), T.tensor([1, 2], dtype=T.float64)))],
    "zeros": [Case("sizes-dtypes", lambda T: (T.zeros(2, 3), T.zeros((2,), dtype=T.int64), T.zeros(())))],
    "ones": [Case("sizes-dtypes", lambda T: (T.ones(2, 3), T.ones([3], dtype=T.bool)))],
    "full": [Case("fill-dtypes", lambda T: (T.full((2, 2), 1.5), T.full((2,), 7), T.full((1,), True), T.full((2,), 3, dtype=T.float64)))],
    "empty": [Case("shape-dtype", lambda T: T.empty(2, 3, dtype=T.float64), check=same_shape_and_dtype)],
    "rand": [Case("uniform", lambda T: T.rand(4, 5), check=uniform_01)],
    "randn": [Case("shape-dtype", lambda T: T.randn(3, 2, dtype=T.float64), check=same_shape_and_dtype)],
    "arange": [Case("ints-floats", lambda T: (T.arange(5), T.arange(1, 7, 2), T.arange(0, 1, 0.25), T.arange(3, dtype=T.float32)))],
    "eye": [Case("square-rect", lambda T: (T.eye(3), T.eye(2, 4), T.eye(2, dtype=T.int64)))],
    "zeros_like": [Case("dtypes", lambda T, x, y: (T.zeros_like(x), T.zeros_like(y, dtype=T.float32)), (f64(2, 3), i64(3)))],
    "ones_like": [Case("dtypes", lambda T, x, y: (T.ones_like(x), T.ones_like(y)), (f32(2, 3), b8(3)))],
    "full_like": [Case("dtypes", lambda T, x, y: (T.full_like(x, 2.5), T.full_like(y, 3)), (f64(2, 3), i64(3)))],
    "empty_like": [Case("shape-dtype", lambda T, x: T.empty_like(x), (i64(2, 3),), check=same_shape_and_dtype)],
    "rand_like": [Case("uniform", lambda T, x: T.rand_like(x), (f64(3, 4),), check=uniform_01)],
    "randn_like": [Case("shape-dtype", lambda T, x: T.randn_like(x), (f32(3, 4),), check=same_shape_and_dtype)],
    "from_numpy": [Case("dtypes", lambda T: (T.from_numpy(np.arange(6).reshape(2, 3)), T.from_numpy(np.ones(2, np.float32)), T.from_numpy(np.array(True))))],
}

ALL = [(name, case) for name, cases in API.items() for case in cases]


def test_every_listed_name_has_a_case() -> None:
    missing = [name for name in DESIGN_NAMES if name not in API]
    assert not missing, f"DESIGN.md names without a differential case: {missing}"


def test_every_listed_name_exists_where_torch_has_it() -> None:
    for name in METHODS:
        if name in ("cat", "stack", "indexing"):
            continue
        assert hasattr(graphc.Tensor, name), f"graphc.Tensor has no {name}"
    for name in METHODS + CONSTRUCTORS:
        if hasattr(torch, name) and callable(getattr(torch, name)) and not name.endswith("_"):
            assert callable(getattr(graphc, name, None)), f"torch.{name} exists but graphc.{name} does not"


def test_tensor_methods_with_a_module_level_twin_in_torch_have_one_in_graphc() -> None:
    """DESIGN: "As in torch, the functions also exist at module level"."""
    methods = [n for n in dir(graphc.Tensor) if not n.startswith("_") and callable(getattr(graphc.Tensor, n))]
    missing = [n for n in methods if not n.endswith("_") and callable(getattr(torch, n, None)) and not hasattr(graphc, n)]
    assert not missing, f"module-level functions torch has and graphc lacks: {missing}"


@pytest.mark.parametrize("name, case", ALL, ids=[f"{name}-{case.label}" for name, case in ALL])
def test_api_matches_torch(backend: str, name: str, case: Case) -> None:
    got = case.fn(graphc, *[graphc.tensor(a.copy()) for a in case.inputs])
    expected = case.fn(torch, *[torch.from_numpy(np.array(a, copy=True)) for a in case.inputs])
    if case.check is not None:
        case.check(got, expected)
    else:
        assert_matches(got, expected)
