"""``out=`` on torch's functions (graphc/frontend/out_argument.py) against torch: the list of functions taking it
derived from torch again, values, dtypes and shapes written into out (and out returned) on a representative set of
elementwise ops, reductions, matrix products, joins, indexing, sorts, constructors and linalg/special functions,
torch's casting rule and errors, resizing with torch's warning, a view as out, autograd refused, and compiled code."""

from __future__ import annotations

import ast
import inspect
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches

import graphc
from graphc.errors import GraphcError
from graphc.frontend.out_argument import OUT_FUNCTIONS

RNG = np.random.default_rng(3)
X = RNG.standard_normal((3, 4)).astype(np.float32)
Y = RNG.standard_normal((3, 4)).astype(np.float32)
SQUARE = (RNG.standard_normal((3, 3)) + 3 * np.eye(3)).astype(np.float64)
INDEX = np.array([[0, 2, 1, 0], [1, 1, 0, 2]])


def torch_out_functions() -> dict[str, set[str]]:
    """torch's functions taking out=, by module: an ``out`` parameter in an overload of torch/_C/_VariableFunctions.pyi
    or in a Python-level function's signature; torch.linalg's and torch.special's builtins by their ATen schema."""
    stubs: dict[str, bool] = {}
    stub = Path(torch.__file__).parent / "_C" / "_VariableFunctions.pyi"
    for node in ast.parse(stub.read_text()).body:
        if isinstance(node, ast.FunctionDef):
            stubs[node.name] = stubs.get(node.name, False) or any(a.arg == "out" for a in node.args.args + node.args.kwonlyargs)
    found: dict[str, set[str]] = {}
    for prefix, module in (("", torch), ("linalg.", torch.linalg), ("special.", torch.special)):
        found[prefix] = set()
        for name in dir(module):
            f = getattr(module, name)
            if name.startswith("_") or not callable(f) or isinstance(f, type):
                continue
            if prefix == "" and name in stubs:
                takes = stubs[name]
            else:
                try:
                    takes = "out" in inspect.signature(f).parameters
                except (TypeError, ValueError):
                    schemas = torch._C._jit_get_schemas_for_operator(f"aten::{prefix.replace('.', '_')}{name}")
                    takes = any(a.is_out for s in schemas for a in s.arguments)
            if takes and prefix + name != "linalg.matrix_exp":  # its schema has an out overload that its binding does not take
                found[prefix].add(name)
    return found


def test_out_functions_are_the_ones_torch_takes_out_on() -> None:
    found = torch_out_functions()
    for prefix, names in OUT_FUNCTIONS.items():
        assert names == found[prefix], (prefix, sorted(names - found[prefix]), sorted(found[prefix] - names))
    for prefix, module in (("", graphc), ("linalg.", graphc.linalg), ("special.", graphc.special)):
        for name in OUT_FUNCTIONS[prefix] & set(dir(module)):
            assert hasattr(getattr(module, name), "__wrapped__"), prefix + name  # it takes out=
    assert graphc.add.__name__ == "add" and graphc.add.__doc__ == graphc.frontend.functional.add.__doc__


def new(T: Any, shape: tuple[int, ...], dtype: str) -> Any:
    return T.full(shape, 7, dtype=getattr(T, dtype))  # a non-empty out of the right shape: no resize


# (label, fn(T, *inputs, out=...), inputs, outs as (shape, dtype) each)
CASES: list[tuple[str, Callable[..., Any], tuple[np.ndarray, ...], list[tuple[tuple[int, ...], str]]]] = [
    ("add", lambda T, x, y, out: T.add(x, y, alpha=2, out=out), (X, Y), [((3, 4), "float32")]),
    ("add-into-float64", lambda T, x, y, out: T.add(x, y, out=out), (X, Y), [((3, 4), "float64")]),
    ("mul-int-into-float", lambda T, x, out: T.mul(x.long(), 3, out=out), (X * 3,), [((3, 4), "float32")]),
    ("eq-into-float", lambda T, x, y, out: T.eq(x, y.where(y > 0, x), out=out), (X, Y), [((3, 4), "float32")]),
    ("exp-into-float64", lambda T, x, out: T.exp(x, out=out), (X,), [((3, 4), "float64")]),
    ("special-xlogy", lambda T, x, y, out: T.special.xlogy(x, y.abs(), out=out), (X, Y), [((3, 4), "float32")]),
    ("where", lambda T, x, y, out: T.where(x > 0, x, y, out=out), (X, Y), [((3, 4), "float32")]),
    ("sum-into-int64", lambda T, x, out: T.sum(x * 4, 1, out=out), (X,), [((3,), "int64")]),
    ("mean-into-float64", lambda T, x, out: T.mean(x, 0, keepdim=True, out=out), (X,), [((1, 4), "float64")]),
    ("cumsum", lambda T, x, out: T.cumsum(x, 1, out=out), (X,), [((3, 4), "float32")]),
    ("max-dim", lambda T, x, out: T.max(x, 1, out=out), (X,), [((3,), "float32"), ((3,), "int64")]),
    ("sort", lambda T, x, out: T.sort(x, 0, descending=True, out=out), (X,), [((3, 4), "float32"), ((3, 4), "int64")]),
    ("matmul", lambda T, x, y, out: T.matmul(x, y.T, out=out), (X, Y), [((3, 3), "float32")]),
    ("cat", lambda T, x, y, out: T.cat([x, y], 0, out=out), (X, Y), [((6, 4), "float32")]),
    ("stack-into-float64", lambda T, x, y, out: T.stack([x, y], 1, out=out), (X, Y), [((3, 2, 4), "float64")]),
    ("gather", lambda T, x, i, out: T.gather(x, 0, i, out=out), (X, INDEX), [((2, 4), "float32")]),
    ("clamp", lambda T, x, out: T.clamp(x, -0.5, 0.5, out=out), (X,), [((3, 4), "float32")]),
    ("linalg-solve", lambda T, a, out: T.linalg.solve(a, a[:, :2], out=out), (SQUARE,), [((3, 2), "float64")]),
    ("linalg-slogdet", lambda T, a, out: T.linalg.slogdet(a, out=out), (SQUARE,), [((), "float64"), ((), "float64")]),
    ("zeros-into-int64", lambda T, out: T.zeros(2, 3, out=out), (), [((2, 3), "int64")]),
    ("arange-into-float64", lambda T, out: T.arange(1, 4, out=out), (), [((3,), "float64")]),
    ("linspace-into-int64", lambda T, out: T.linspace(0, 8, 5, out=out), (), [((5,), "int64")]),
]


@pytest.mark.parametrize("fn, inputs, shapes", [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_out_holds_torch_s_result_and_is_returned(fn: Callable[..., Any], inputs: tuple[np.ndarray, ...], shapes: list) -> None:
    results = []
    for T, tensor in ((graphc, graphc.tensor), (torch, torch.from_numpy)):
        outs = [new(T, shape, dtype) for shape, dtype in shapes]
        returned = fn(T, *[tensor(a.copy()) for a in inputs], out=outs[0] if len(outs) == 1 else tuple(outs))
        assert all(r is o for r, o in zip(returned if len(outs) > 1 else [returned], outs))
        results.append(outs)
    ours, theirs = results
    assert [o.dtype.name for o in ours] == [str(t.dtype).removeprefix("torch.") for t in theirs]
    float32 = any(a.dtype == np.float32 for a in inputs)  # computed in float32, then cast to a float64 out
    assert_matches(ours, theirs, *((1e-6, 1e-6) if float32 else (None, None)))


def test_named_results_come_back_named() -> None:
    values, indices = graphc.empty(3), graphc.empty(3, dtype=graphc.int64)
    result = graphc.max(graphc.tensor(X), 1, out=(values, indices))
    assert result.values is values and result.indices is indices


def test_a_result_that_out_cannot_hold_raises_torch_s_message() -> None:
    x, y = graphc.tensor(X), torch.from_numpy(X)
    for T, tensor in ((graphc, x), (torch, y)):
        for out_dtype, message in (("int64", "result type Float can't be cast to the desired output type Long"), ("bool", "to the desired output type Bool")):
            with pytest.raises((GraphcError, RuntimeError), match=message):
                T.add(tensor, tensor, out=T.empty(3, 4, dtype=getattr(T, out_dtype)))
    with pytest.raises(GraphcError, match="out= must be a tuple of 2 tensors, as the result, got a tensor"):
        graphc.max(x, 1, out=graphc.empty(3))


def test_autograd_is_refused_as_torch_while_grad_mode_is_on() -> None:
    message = "functions with out=... arguments don't support automatic differentiation, but one of the arguments requires grad"
    for T in (graphc, torch):
        x = T.tensor([1.0, 2.0], requires_grad=True)
        leaf = T.zeros(2, requires_grad=True)
        for call in (lambda: T.mul(x, 2, out=T.empty(2)), lambda: T.cat([T.ones(2), x], out=T.empty(4)), lambda: T.neg(T.ones(2), out=leaf)):
            with pytest.raises((GraphcError, RuntimeError), match=message):
                call()
        with T.no_grad():
            out = T.empty(2)
            assert T.mul(x, 2, out=out) is out and not out.requires_grad
            leaf = T.zeros(2, requires_grad=True)
            T.neg(x, out=leaf)
        assert leaf.requires_grad and leaf.is_leaf and leaf.tolist() == [-1.0, -2.0]


def test_an_out_of_another_shape_is_resized_with_torch_s_warning_unless_empty() -> None:
    said = []
    for T in (graphc, torch):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            wrong, empty = T.ones(2, 2), T.ones(0)
            T.add(T.ones(3), 1, out=wrong)
            T.add(T.ones(3), 1, out=empty)
        assert wrong.tolist() == empty.tolist() == [2.0, 2.0, 2.0]
        said.append([str(w.message).split(" (Triggered")[0] for w in caught])
        assert caught[0].filename == __file__
    assert said[0] == said[1] and len(said[0]) == 1 and said[0][0].startswith("An output with one or more elements was resized since it had shape [2, 2]")
    base = graphc.zeros(2, 3)
    with pytest.raises(GraphcError, match=r"out= is a view of shape \[2\], and the result's shape is \[3\]: graphc resizes no view"):
        graphc.add(graphc.ones(3), 1, out=base[:, 0])


def test_a_view_as_out_writes_through_to_its_base_and_an_input_may_be_out() -> None:
    results = []
    for T in (graphc, torch):
        base, x = T.zeros(2, 3), T.tensor([1.0, 2.0, 3.0])
        T.mul(x, 2, out=base[1])
        T.add(x, x, out=x)
        T.sub(base[:, 1], 1, out=base.t()[1])
        results.append((base, x))
    assert_matches(list(results[0]), list(results[1]))


def test_out_in_a_compiled_function_is_written_on_every_call() -> None:
    def step(x: Any, out: Any, total: Any) -> Any:
        graphc.mul(x, 2, out=out)
        graphc.sum(out, 0, out=total)
        return out + 1

    compiled = graphc.compile(step, backend="numpy")
    for rows in (3, 5):
        x = RNG.standard_normal((rows, 2)).astype(np.float32)
        out, total = graphc.empty(0), graphc.zeros(2, dtype=graphc.float64)  # out resized to the batch's rows
        result = compiled(graphc.tensor(x), out, total)
        assert_matches([result, out, total], [torch.from_numpy(x * 2 + 1), torch.from_numpy(x * 2), torch.from_numpy(x * 2).double().sum(0)])
