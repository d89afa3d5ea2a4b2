"""Size reads that divide, and the ops that take them: one program for every batch size.

``x.size(0) // 3`` and ``% 3`` are ``floor(B/3)`` and ``Mod(B, 3)`` size expressions (graphc/frontend/
symbolic_sizes.py), exact at batch sizes that are not multiples; ``topk``'s ``k``, ``Tensor.unfold``
and ``F.pad`` take symbolic sizes; a size in tensor arithmetic is a Python int to promotion. Each
pattern is compared with eager torch at batch sizes on both sides of the multiples (values,
float64 gradients) and must trace once. What needs the number still traces per batch size, with
a reason that says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import graphc
import graphc.nn.functional as GF
from graphc.frontend.symbolic_sizes import SymbolicSize, decide
from graphc.runtime.compiled import BATCH


def _windows_and_pads(T: Any, F: Any, x: Any) -> Any:
    flat = x.flatten(1)
    return T.cat(
        [
            x.unfold(0, 2, 1).flatten(),  # windows of the batch: B - 1 of them
            x.unfold(0, x.size(0) // 2, x.size(0) // 2).sum(-1).flatten(),
            x.flatten().unfold(0, x.size(0), 2).flatten(),
            F.pad(x.transpose(0, 2), (1, (-x.size(0)) % 4)).flatten(),  # pad the batch to a multiple of 4
            F.pad(flat, (0, x.size(0) - 2, x.size(0) // 2, 0), value=1.5).flatten(),
            F.pad(x.flatten().view(6, -1), (2 - x.size(0), -1)).flatten(),  # a crop of B - 2 columns
        ]
    )


# name -> fn(T, F, x) for T = graphc or torch, F its functional; x is [batch, 2, 3] in float64
CASES: dict[str, Callable[[Any, Any, Any], Any]] = {
    "// and % of the batch size": lambda T, F, x: T.cat(
        [
            x[: x.size(0) // 3].flatten() * 2,
            x[x.size(0) % 3 :].sum(0).flatten(),
            (x * (x.size(0) // 3) + x * (x.size(0) % 3) - x * ((-x.size(0)) % 8) + (-x.size(0)) // 4).flatten(),
            (T.arange(x.size(0) // 2, dtype=x.dtype)[:, None, None] * x[: x.size(0) // 2]).flatten(),
            x[: x.size(0) // 2 * 2].reshape(x.size(0) // 2, 2, 6).sum(1).flatten(),
            x.new_zeros(divmod(x.size(0), 4)).flatten(),
        ]
    ),
    "topk(k=x.size(0) ...)": lambda T, F, x: T.cat(
        [
            x.topk(x.size(0) // 2, dim=0).values.flatten(),
            x.sum(2).topk(x.size(0) - 1, 0, largest=False)[0].flatten(),
            x.topk(2, dim=0).values.flatten(),  # a constant k of the batch: at most its lowest size
            x.flatten().topk(x.size(0)).values,
        ]
    ),
    "unfold and F.pad": _windows_and_pads,
}


def _compare(fn: Callable[[Any, Any, Any], Any], batches: tuple[int, ...], **options: Any) -> Any:
    def step(x: graphc.Tensor) -> tuple[graphc.Tensor, graphc.Tensor]:
        out = fn(graphc, GF, x)
        (out * out).sum().backward()
        return out, x.grad

    compiled = graphc.compile(step, **options)
    for rows in batches:
        xn = np.random.default_rng(rows).standard_normal((rows, 2, 3))
        x = torch.tensor(xn, requires_grad=True)
        expected = fn(torch, TF, x)
        (expected * expected).sum().backward()
        out, grad = compiled(graphc.tensor(xn, requires_grad=True))
        assert out.shape == tuple(expected.shape) and out.dtype == graphc.float64
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(grad.numpy(), x.grad.numpy(), rtol=1e-12, atol=1e-12)
    return compiled


@pytest.mark.usefixtures("numpy_kernels")
@pytest.mark.parametrize("name", list(CASES))
def test_sizes_divided_and_taken_by_topk_unfold_and_pad_keep_one_program(name: str) -> None:
    compiled = _compare(CASES[name], (5, 7, 8, 4))
    assert compiled.trace_count == 1, compiled.recompilations


def test_floor_division_of_sizes_on_both_backends(backend: str) -> None:
    def fn(T: Any, F: Any, x: Any) -> Any:
        top = x[: x.size(0) // 2].topk(x.size(0) // 2, dim=0).values
        return T.cat([top.flatten(), x.unfold(0, 2, 1).flatten() * (x.size(0) % 2), F.pad(x[:, 0], (0, (-x.size(0)) % 4)).flatten()])

    compiled = _compare(fn, (2, 3), backend=backend)
    assert compiled.trace_count == 1, compiled.recompilations


def test_floor_and_mod_sizes_build_their_c_loops(caplog: pytest.LogCaptureFixture) -> None:
    """C's ``/`` and ``%`` truncate toward zero: the sizes keep their numerators non-negative (``-B // 4``
    is ``-floor((B + 3)/4)``), so the C loops compute Python's floor division."""

    def fn(T: Any, x: Any) -> Any:
        return x[: x.size(0) // 3] * ((-x.size(0)) // 4) + (-x.size(0)) % 8, x * (x.size(0) % 3)

    compiled = graphc.compile(lambda x: fn(graphc, x))
    with caplog.at_level(logging.WARNING):
        for rows in (5, 7, 9):
            x = np.arange(rows * 4.0).reshape(rows, 4)
            for got, want in zip(compiled(graphc.tensor(x)), fn(torch, torch.tensor(x))):
                np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert "did not build" not in caplog.text
    assert compiled.trace_count == 1, compiled.recompilations


@pytest.mark.usefixtures("numpy_kernels")
def test_a_floor_size_is_computed_with_integer_division() -> None:
    """sympy's pycode wrote ``floor(B/49)`` as ``math.floor((1/49)*B)``: 0 at B = 49, and ``x[::75]``
    of 525 rows (``ceiling(B/75)``) was allocated 8 rows for torch's 7."""
    compiled = graphc.compile(lambda x: (x[: x.size(0) // 49] * 2, x[::75] + 1))
    for rows in (50, 49, 525):
        x = np.arange(float(rows)).reshape(rows, 1)
        head, strided = compiled(graphc.tensor(x))
        np.testing.assert_array_equal(head.numpy(), x[: rows // 49] * 2)
        np.testing.assert_array_equal(strided.numpy(), x[::75] + 1)
    assert compiled.trace_count == 1, compiled.recompilations


def test_comparisons_of_floors_and_mods_are_answered_only_where_every_batch_size_agrees() -> None:
    n = SymbolicSize(BATCH, "Tensor.size() at here")
    assert n // 3 <= n and 3 * (n // 3) + n % 3 == n and n % 3 < 3 and n // 2 >= 1 and (n + 7) // 8 * 8 >= n and -n // 4 < 0
    assert n // 6 == (n // 2) // 3 and n % 1 == 0 and (n * 4) % 2 == 0 and divmod(n * 6, 3) == (2 * n, 0)
    for size in (n // 3 - 1, n % 3 - 1, n - 4 * (n // 4), 2 * (n // 3) - n % 5, n // 2 - n // 3):
        values = [int(size.expr.subs(BATCH, b)) for b in range(2, 40)]
        for relation, holds in (("eq", lambda v: v == 0), ("lt", lambda v: v < 0), ("ge", lambda v: v >= 0)):
            answer = decide(size.expr, 0, relation)
            assert answer is None or {holds(v) for v in values} == {answer}, (size.expr, relation, answer)
    with pytest.raises(ZeroDivisionError):
        n // 0


@pytest.mark.usefixtures("numpy_kernels")
@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int32", "float16"])
def test_a_size_times_a_0d_tensor_keeps_its_dtype_as_a_python_int(dtype: str) -> None:
    def fn(T: Any, x: Any, s: Any) -> Any:
        return s * x.size(0), x.size(0) - s, s // (x.size(0) // 2 + 1), x * 2  # x's values read: its size binds B

    compiled = graphc.compile(lambda x, s: fn(graphc, x, s))
    for rows in (4, 7):
        x, s = np.ones((rows, 2)), np.array(3, dtype=dtype)
        for got, want in zip(compiled(graphc.tensor(x), graphc.tensor(s)), fn(torch, torch.tensor(x), torch.tensor(s))):
            assert got.dtype.name == str(want.dtype).removeprefix("torch.")
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert compiled.trace_count == 1, compiled.recompilations


def _print_shape(x: graphc.Tensor) -> graphc.Tensor:
    print(x.shape)
    return x * 2


# name -> (fn of x, what the recompilation reason names)
SPECIALIZING: dict[str, tuple[Callable[[Any], Any], str]] = {
    "a floor division whose numerator's sign depends on the batch size": (lambda x: x[: (x.size(0) - 6) // 2 + 3], "// of B-6"),
    "topk(k=x.size(0)) of a static dimension": (lambda x: x[0].repeat(4).topk(x.size(0)).values, "<= 12"),
    "a window longer than the lowest batch size": (lambda x: x.unfold(0, 3, 1), "through unfold's dimension 0"),
    "a padding whose sign depends on the batch size": (lambda x: GF.pad(x, (0, 6 - x.size(0))), "a padding"),
    "-1 inferred from a size that is not a multiple": (lambda x: graphc.cat([x, x[: (-x.size(0)) % 4]]).view(-1, 12), "cannot infer dimension -1"),
}


@pytest.mark.usefixtures("numpy_kernels")
@pytest.mark.parametrize("name", list(SPECIALIZING))
def test_a_use_that_needs_the_number_traces_per_batch_size_and_says_why(name: str) -> None:
    fn, named = SPECIALIZING[name]
    compiled = graphc.compile(fn)
    for rows in (8, 5, 8):
        x = graphc.tensor(np.arange(rows * 3.0).reshape(rows, 3))
        np.testing.assert_array_equal(compiled(x).numpy(), fn(x).numpy())
    assert named in compiled.recompilations[0] and "static sizes" in compiled.recompilations[0], compiled.recompilations
    assert compiled.trace_count == 3, compiled.recompilations


@pytest.mark.usefixtures("numpy_kernels")
def test_printing_a_shape_traces_per_batch_size_and_prints_its_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    """torch.compile breaks the graph at ``print`` and prints each call's numbers; a graphc program runs
    no Python when replayed, so the text is made when tracing, with the numbers of that batch size."""
    compiled = graphc.compile(_print_shape)
    for rows in (4, 6, 4):
        np.testing.assert_array_equal(compiled(graphc.tensor(np.ones((rows, 3)))).numpy(), np.full((rows, 3), 2.0))
    printed = capsys.readouterr().out
    assert printed.split() == ["(4,", "3)", "(6,", "3)"], printed
    reason = compiled.recompilations[0]
    assert "through Tensor.shape" in reason and "print() of a shape shows the number" in reason and "static sizes" in reason, reason
    assert compiled.trace_count == 3, compiled.recompilations
