"""The traced function's own size reads (``x.size(0)``, ``x.shape``, ``x.numel()``) keep the batch symbolic.

Inside ``graphc.compile`` they give symbolic sizes (graphc/frontend/symbolic_sizes.py), as
torch's SymInt: sizes and shapes built from them, and 0-d values in tensor arithmetic, serve
every batch size with one program. Each pattern is compared with eager torch (values and
float64 gradients) at two batch sizes and must trace once. What needs the number itself
(``int()``, ``range()``, a comparison that depends on the batch size, formatting) still
traces again with static sizes and stays right.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

import graphc
import graphc.nn as gnn
from graphc.frontend.symbolic_sizes import SymbolicShape, SymbolicSize
from graphc.runtime.compiled import BATCH

pytestmark = pytest.mark.usefixtures("numpy_kernels")


def _same_batch(T: Any, x: Any) -> Any:
    # Comparisons true for every batch size are answered without the number.
    assert x.size(0) == x.shape[0] and x.size(0) > 0 and x.size(0) != x.size(0) + 1 and x.size(0)
    return x * 2 if x.numel() >= x.size(0) else x


# name -> fn(T, x) for T = graphc or torch; x is [batch, 2, 3] in float64
CASES: dict[str, Callable[[Any, Any], Any]] = {
    "view(x.size(0), -1)": lambda T, x: x.view(x.size(0), -1) * 2,
    "reshape(x.shape[0], -1, 3)": lambda T, x: x.reshape(x.shape[0], -1, 3).sum(-1),
    "b, t, c = x.shape": lambda T, x: (lambda b, t, c: x.reshape(b * t, c).sum(1).reshape(b, t))(*x.shape),
    "view of size arithmetic": lambda T, x: x.view(x.size(0) * 2 - x.size(0), (x.shape[1] * 6) // 2),
    "math.prod(x.shape)": lambda T, x: x.reshape(math.prod(x.shape)).cumsum(0),
    "x.shape[1:]": lambda T, x: x.flatten(0, 1).view(-1, *x.shape[2:]).view(x.shape[:1] + x.shape[1:]),
    "new_zeros": lambda T, x: T.cat([x.flatten(1), x.new_zeros(x.size(0), 2), x.new_ones((x.size(0), 1))], 1),
    "zeros/ones/full/empty": lambda T, x: (
        x.flatten(1) + T.zeros(x.shape[0], 6, dtype=x.dtype) + T.ones(x.size(0), 1, dtype=x.dtype) * T.full((x.size(0), 1), 2.0, dtype=x.dtype)
        + T.empty(x.size(0), 6, dtype=x.dtype).zero_()
    ),
    "loss / x.size(0)": lambda T, x: (x**2).sum() / x.size(0) + x.sum() * (1 - x.numel()) + x.size(0) * x.mean(),
    "expand": lambda T, x: x[:, :1].expand(x.size(0), 2, -1) * x,
    "arange(x.size(0))": lambda T, x: (
        x.flatten(1) * T.arange(x.size(0), dtype=x.dtype).unsqueeze(1) + T.arange(1, x.size(0) + 1).sum() + T.arange(0, 2 * x.size(0), 2).sum()
    ),
    "narrow and split": lambda T, x: (
        T.cat([x, x * 3], 0).narrow(0, x.size(0), x.size(0)) + T.cat([x, x * 2], 0).split([x.size(0), x.size(0)])[1]
    ),
    "x[arange(x.size(0)), labels]": lambda T, x: x.flatten(1)[T.arange(x.size(0)), T.arange(x.size(0)) % 6] / max(x.size(0), 1),
    "unflatten": lambda T, x: x.flatten().unflatten(0, (x.size(0), 6)),
    "repeat": lambda T, x: x.sum((1, 2)).unsqueeze(0).repeat(2, 1).view(2 * x.size(0)),
    "z[:n] * z[n:] and x[n - 1]": lambda T, x: (lambda z, n: z[:n] * z[n:] + x[n - 1] + x[-n] + x[1 - n :].sum(0))(T.cat([x, x * 2]), x.size(0)),
    "repeat(x.size(0), 1)": lambda T, x: x.flatten(1).sum(0, keepdim=True).repeat(x.size(0), 1) * x.flatten(1),
    "decided comparisons": _same_batch,
}


def _compare_compiled(fn: Callable[[Any, Any], Any], backend: str | None = None, batches: tuple[int, ...] = (3, 5)) -> Any:
    """``fn`` compiled against eager torch at each batch size: values, and float64 input gradients of the sum of squares."""

    def step(x: graphc.Tensor) -> tuple[graphc.Tensor, graphc.Tensor]:
        out = fn(graphc, x)
        (out * out).sum().backward()
        return out, x.grad

    compiled = graphc.compile(step, **({"backend": backend} if backend else {}))
    for rows in batches:
        xn = np.random.default_rng(rows).standard_normal((rows, 2, 3))
        x = torch.tensor(xn, requires_grad=True)
        expected = fn(torch, x)
        (expected * expected).sum().backward()
        out, grad = compiled(graphc.tensor(xn, requires_grad=True))
        assert out.shape == tuple(expected.shape) and out.dtype == graphc.float64
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(grad.numpy(), x.grad.numpy(), rtol=1e-12, atol=1e-12)
    return compiled


@pytest.mark.parametrize("name", list(CASES))
def test_a_size_read_by_the_function_keeps_one_program_for_every_batch_size(name: str) -> None:
    compiled = _compare_compiled(CASES[name])
    assert compiled.trace_count == 1, compiled.recompilations
    assert compiled.recompilations == []


def test_size_reads_keep_the_batch_symbolic_on_both_backends(backend: str) -> None:
    def fn(T: Any, x: Any) -> Any:
        flat = x.view(x.size(0), -1)
        padded = T.cat([flat, x.new_zeros(x.size(0), 1)], 1) + T.zeros(x.shape[0], 7, dtype=x.dtype)
        return padded * (flat.sum() / x.size(0)) + T.arange(x.size(0), dtype=x.dtype)[:, None]

    compiled = _compare_compiled(fn, backend, batches=(2, 3))
    assert compiled.trace_count == 1, compiled.recompilations
    assert any(node.op == "size" for node in compiled.report().graph.nodes)


@pytest.mark.parametrize("dtype", ["float32", "int32", "int64"])
def test_a_size_in_tensor_arithmetic_is_promoted_as_a_python_int(dtype: str) -> None:
    def fn(T: Any, x: Any) -> Any:
        return x * x.size(0) + x.size(0), x.sum() / x.size(0), x.size(0) - x

    compiled = graphc.compile(lambda x: fn(graphc, x))
    for rows in (4, 6):
        xn = (np.arange(rows * 3).reshape(rows, 3) - 5).astype(dtype)
        for got, want in zip(compiled(graphc.tensor(xn)), fn(torch, torch.tensor(xn))):
            assert got.dtype.name == str(want.dtype).removeprefix("torch."), (got.dtype, want.dtype)
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    assert compiled.trace_count == 1, compiled.recompilations


def test_random_tensors_shaped_by_a_size_read_stay_symbolic() -> None:
    compiled = graphc.compile(lambda x: x.flatten(1) + graphc.randn(x.size(0), 6) * 0 + graphc.rand(x.shape[0], 1).ge(0))
    for rows in (3, 5):
        x = np.arange(rows * 6.0, dtype=np.float32).reshape(rows, 2, 3)
        np.testing.assert_array_equal(compiled(graphc.tensor(x)).numpy(), x.reshape(rows, 6) + 1)
    assert compiled.trace_count == 1, compiled.recompilations


class _Net:
    """A small CNN written the common way: its classifier flattens with ``x.view(x.size(0), -1)``."""

    @staticmethod
    def build(nn: Any) -> Any:
        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.conv = nn.Conv2d(1, 3, 3, padding=1)
                self.pool = nn.MaxPool2d(2)
                self.fc = nn.Linear(3 * 2 * 2, 4)

            def forward(self, x: Any) -> Any:
                h = self.pool(self.conv(x).relu())
                return self.fc(h.view(h.size(0), -1))

        return Net()


def test_a_cnn_flattening_with_its_batch_size_trains_like_torch_with_one_program() -> None:
    torch.manual_seed(0)
    t_model = _Net.build(torch.nn).double()
    g_model = _Net.build(gnn).double()
    g_model.load_state_dict({k: graphc.tensor(v.detach().numpy().copy()) for k, v in t_model.state_dict().items()})
    t_opt = torch.optim.SGD(t_model.parameters(), lr=0.1)
    g_opt = graphc.optim.SGD(g_model.parameters(), lr=0.1)

    def train_step(x: graphc.Tensor, y: graphc.Tensor) -> graphc.Tensor:
        g_opt.zero_grad()
        loss = gnn.functional.cross_entropy(g_model(x), y)
        loss.backward()
        g_opt.step()
        return loss

    step = graphc.compile(train_step)
    rng = np.random.default_rng(7)
    for rows in (3, 5, 3):
        x, y = rng.standard_normal((rows, 1, 4, 4)), rng.integers(0, 4, rows)
        t_opt.zero_grad()
        expected = torch.nn.functional.cross_entropy(t_model(torch.tensor(x)), torch.tensor(y))
        expected.backward()
        t_opt.step()
        np.testing.assert_allclose(step(graphc.tensor(x), graphc.tensor(y)).item(), expected.item(), rtol=1e-12)
    for key, value in t_model.state_dict().items():
        np.testing.assert_allclose(g_model.state_dict()[key].numpy(), value.numpy(), rtol=1e-11, atol=1e-13, err_msg=key)
    assert step.trace_count == 1, step.recompilations


def _assign_to_all_but_the_last_row(x: graphc.Tensor) -> graphc.Tensor:
    y = x.clone()
    y[: x.size(0) - 1] = 0
    return y


def _add_through_a_view_of_the_last_row(x: graphc.Tensor) -> graphc.Tensor:
    y = x.clone()
    y[x.size(0) - 1].add_(1)  # a view: the write reaches y, as in torch
    return y


# name -> (fn of x, what the recompilation reason names)
SPECIALIZING: dict[str, tuple[Callable[[Any], Any], str]] = {
    "int()": (lambda x: x.sum() * int(x.size(0)), "int()"),
    "range()": (lambda x: sum(x[i].sum() for i in range(x.size(0))), "an index or range()"),
    "a branch on the batch size": (lambda x: x.sum() + (1 if x.shape[0] == 8 else -1), "== 8"),
    "min()": (lambda x: x[: min(x.size(0), 6)].sum(), "> 6"),
    "formatting": (lambda x: x.sum() + float(f"{x.size(0)}"), "formatting"),
    "true division": (lambda x: x.sum() * (x.size(0) / 2), "true division"),
    "a float operand": (lambda x: x.sum() * (x.size(0) * 0.5), "arithmetic with a float"),
    "split by a size": (lambda x: x.split(x.size(0) - 1)[0].sum(), "split's split_size"),
    "a slice of a static axis by the batch size": (lambda x: x[:, : x.size(0)].sum(), "> 3"),
    "an assignment to a slice": (_assign_to_all_but_the_last_row, "an index of an assignment"),
    "an in-place change through x[n - 1]": (_add_through_a_view_of_the_last_row, "an index of an assignment"),
    "numpy": (lambda x: x + graphc.tensor(np.ones(x.size(0)))[:, None], "an index or range()"),
}


@pytest.mark.parametrize("name", list(SPECIALIZING))
def test_a_use_that_needs_the_number_traces_again_with_static_sizes(name: str) -> None:
    fn, named = SPECIALIZING[name]
    compiled = graphc.compile(fn)
    for rows in (8, 5, 8):
        x = graphc.tensor(np.arange(rows * 3.0).reshape(rows, 3))
        np.testing.assert_allclose(compiled(x).numpy(), fn(x).numpy(), rtol=1e-12)
    reason = compiled.recompilations[0]
    assert "static sizes" in reason and "through Tensor." in reason and named in reason, reason
    assert "test_symbolic_size_reads.py" in reason, reason  # where the number was needed
    assert compiled.trace_count == 3  # the symbolic trace that stopped, then one per size


def test_len_and_a_returned_size_trace_again_with_static_sizes() -> None:
    for fn, named in ((lambda x: x.sum() * len(x), "len()"), (lambda x: (x.sum(), x.size(0)), "a result of the function")):
        compiled = graphc.compile(fn)
        for rows in (4, 6):
            x = graphc.tensor(np.ones((rows, 2)))
            got, want = compiled(x), fn(x)
            assert str(got) == str(want)
        assert named in compiled.recompilations[0] and compiled.trace_count == 3, compiled.recompilations


def test_a_size_kept_in_a_module_attribute_is_a_number_after_the_call() -> None:
    class Keeps(gnn.Module):
        def forward(self, x: graphc.Tensor) -> graphc.Tensor:
            self.rows = x.size(0)
            return x.view(self.rows, -1) * 2

    model = Keeps()
    compiled = graphc.compile(model)
    for rows in (4, 6):
        x = np.ones((rows, 2, 3))
        np.testing.assert_array_equal(compiled(graphc.tensor(x)).numpy(), x.reshape(rows, 6) * 2)
        assert model.rows == rows and type(model.rows) is int
    assert "an attribute of the Keeps it uses" in compiled.recompilations[0], compiled.recompilations


def test_a_comparison_is_answered_only_where_every_batch_size_gives_the_same_answer() -> None:
    n = SymbolicSize(BATCH, "Tensor.size() at here")
    assert n == BATCH and n * 2 - n == n and n != n + 1 and n > 1 and n >= 2 and not n < 2 and (n * 6) // 2 == 3 * n and n % n == 0
    assert bool(n) and abs(n) is n
    assert SymbolicShape((n, 3))[1:] == (3,) and SymbolicShape((n, 3)).numel() == 3 * n
    for needs_the_number in (lambda: n > 2, lambda: n == 8, lambda: (n - 3) // 2, lambda: int(n), lambda: n / 2, lambda: f"{n}"):
        with pytest.raises(graphc.GraphcError, match="uses it as a number .* outside the compiled function"):
            needs_the_number()
