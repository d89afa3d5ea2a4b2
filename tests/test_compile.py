"""graphc.compile traces once per input signature and replays; dynamic batch sizes do not
re-trace; results equal eager; the CompileReport describes the program. And eager code:
realizing the same graph structure twice compiles once (the lazy runtime's cache)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data, pair

import graphc
from graphc.errors import GraphcError
from graphc.frontend import lazy
from graphc.ir.graph import Graph
from graphc.ir.verifier import verify

pytestmark = pytest.mark.usefixtures("numpy_kernels")  # C loops have their own tests (conftest.py)


def mlp(x: graphc.Tensor, w: graphc.Tensor, b: graphc.Tensor) -> graphc.Tensor:
    h = (x @ w + b).relu()
    return h.softmax(-1) * 2 - h.mean(0, keepdim=True)


def torch_mlp(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    h = (x @ w + b).relu()
    return h.softmax(-1) * 2 - h.mean(0, keepdim=True)


def weights() -> tuple[np.ndarray, np.ndarray]:
    return data(3, 5), data(5)


def test_traces_once_per_signature_and_replays(backend: str) -> None:
    cf = graphc.compile(mlp, backend=backend)
    w, b = weights()
    (gw, tw), (gb, tb) = pair(w), pair(b)
    for _ in range(3):
        x = data(4, 3)
        gx, tx = pair(x)
        assert_matches(cf(gx, gw, gb), torch_mlp(tx, tw, tb))
    assert cf.trace_count == 1
    gx64, tx64 = pair(data(4, 3, dtype="float64"))  # a new dtype is a new signature
    with pytest.raises(GraphcError):
        cf(gx64, gw, gb)  # float64 @ float32 is refused while tracing, as torch refuses it
    gx3, tx3 = pair(data(2, 4, 3))  # a new rank: traced again
    assert_matches(cf(gx3, gw, gb), torch_mlp(tx3, tw, tb))
    assert cf.trace_count == 4  # the refused call traced twice: with the batch symbolic, then static
    gx3, tx3 = pair(data(2, 4, 3))
    assert_matches(cf(gx3, gw, gb), torch_mlp(tx3, tw, tb))
    assert cf.trace_count == 4
    assert len(cf.report().recompilations) == 2


def test_results_equal_eager(backend: str) -> None:
    """Compiled and eager code give torch's results, so each other's within float32 rounding.

    Not bit for bit: eager code's small programs run NumPy kernels where a compiled function
    runs C loops (``native.for_eager``), and ``softmax * 2 - mean`` cancels to 0.12 from
    operands near 1, where their 2-ulp difference is 2.4e-7.
    """
    cf = graphc.compile(mlp, backend=backend)
    w, b = weights()
    (gw, tw), (gb, tb) = pair(w), pair(b)
    for batch in (4, 6):
        gx, tx = pair(data(batch, 3))
        compiled, eager = cf(gx, gw, gb), mlp(gx, gw, gb)
        assert_matches(compiled, torch_mlp(tx, tw, tb))
        assert_matches(eager, torch_mlp(tx, tw, tb))


def test_dynamic_batch_does_not_retrace(backend: str) -> None:
    cf = graphc.compile(mlp, backend=backend, dynamic=True)
    w, b = weights()
    (gw, tw), (gb, tb) = pair(w), pair(b)
    for batch in (4, 7, 2, 9):
        gx, tx = pair(data(batch, 3))
        assert_matches(cf(gx, gw, gb), torch_mlp(tx, tw, tb))
    assert cf.trace_count == 1
    assert "B" in str(cf.report().graph)


def test_static_compile_retraces_per_batch() -> None:
    cf = graphc.compile(mlp, dynamic=False)
    w, b = weights()
    (gw, tw), (gb, tb) = pair(w), pair(b)
    for batch in (4, 7, 4):
        gx, tx = pair(data(batch, 3))
        assert_matches(cf(gx, gw, gb), torch_mlp(tx, tw, tb))
    assert cf.trace_count == 2
    assert "B" not in str(cf.report().graph)


def test_a_namedtuple_result_comes_back_as_one(backend: str) -> None:
    g, t = pair(data(2, 3))
    got = graphc.compile(lambda a: a.max(dim=1), backend=backend)(g)
    expected = t.max(dim=1)
    assert_matches(got.values, expected.values)
    assert_matches(got.indices, expected.indices)


def test_no_grad_inside_a_compiled_function_holds_for_backward_outside(backend: str) -> None:
    def scale_by_total(a: graphc.Tensor) -> graphc.Tensor:
        with graphc.no_grad():
            total = a.sum()  # a constant for autograd
        return a * total

    x = graphc.tensor(np.array([1.0, 2.0]), requires_grad=True)
    tx = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    graphc.compile(scale_by_total, backend=backend)(x).sum().backward()
    with torch.no_grad():
        total = tx.sum()
    (tx * total).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_in_place_changes_to_arguments_reach_the_callers_tensors(backend: str) -> None:
    def bump(a: graphc.Tensor, b: graphc.Tensor) -> graphc.Tensor:
        a.add_(1)
        b[0] = b[1] * 10
        return a.sum() + b.sum()

    compiled = graphc.compile(bump, backend=backend)
    x, y = graphc.tensor([1.0, 2.0, 3.0]), graphc.tensor([1.0, 2.0, 3.0])
    tx, ty = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0, 3.0])
    for _ in range(3):  # the same tensors again: each call reads what the last one wrote
        assert compiled(x, y).item() == bump(tx, ty).item()
        assert_matches(x, tx)
        assert_matches(y, ty)
    assert compiled.trace_count == 1


def test_the_same_tensor_passed_twice_is_one_argument(backend: str) -> None:
    def scale_into(a: graphc.Tensor, b: graphc.Tensor) -> graphc.Tensor:
        a.mul_(2)
        return b + 1  # b is a: it sees the write

    compiled = graphc.compile(scale_into, backend=backend)
    x, tx = graphc.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 2.0, 3.0])
    for _ in range(2):
        assert_matches(compiled(x, x), scale_into(tx, tx))
        assert_matches(x, tx)
    y, z = graphc.tensor([1.0, 2.0, 3.0]), graphc.tensor([1.0, 2.0, 3.0])
    assert_matches(compiled(y, z), torch.tensor([2.0, 3.0, 4.0]))  # two tensors: a new signature
    assert "one and the same tensor" in compiled.recompilations[-1]


def test_a_compiled_function_called_by_another_is_part_of_its_trace(backend: str) -> None:
    w = graphc.tensor([1.0, 1.0])
    inner = graphc.compile(lambda x: x * 3 + w, backend=backend)
    outer = graphc.compile(lambda x: inner(x) + 1, backend=backend)
    for value in (0.0, 1.0):
        assert_matches(outer(graphc.full((3, 2), value)), torch.full((3, 2), value * 3 + 2))
    w.add_(4)  # an outside tensor read through the inner function: read on every call
    assert_matches(outer(graphc.zeros(3, 2)), torch.full((3, 2), 6.0))
    assert outer.trace_count == 1 and inner.trace_count == 0


@pytest.mark.parametrize(
    "draw",
    [
        lambda x: x + graphc.randn_like(x),
        lambda x: x + graphc.rand(64, 3),
        lambda x: x + graphc.randint(0, 100, (64, 3)),
        lambda x: x.clone().normal_(2.0, 0.5),
        lambda x: x.clone().uniform_(-1.0, 1.0),
    ],
    ids=["randn_like", "rand", "randint", "normal_", "uniform_"],
)
def test_random_numbers_are_drawn_again_on_every_compiled_call(draw: Any) -> None:
    compiled = graphc.compile(draw)
    x = graphc.zeros(64, 3)
    first, second = compiled(x).numpy().copy(), compiled(x).numpy().copy()
    traces = compiled.trace_count
    third = compiled(x).numpy()
    assert not np.array_equal(first, second) and not np.array_equal(second, third)
    assert compiled.trace_count == traces  # replayed, not traced again


def test_random_numbers_in_a_compiled_function_follow_their_distribution() -> None:
    x = graphc.zeros(20000, dtype=graphc.float64)
    normal = graphc.compile(lambda a: a + graphc.randn_like(a))(x).numpy()
    assert abs(normal.mean()) < 0.05 and abs(normal.std() - 1) < 0.05
    integers = graphc.compile(lambda a: graphc.randint(3, 9, (20000,)) + a.long())(x).numpy()
    assert integers.dtype == np.int64 and set(np.unique(integers)) == set(range(3, 9))
    uniform = graphc.compile(lambda a: a + graphc.rand(20000, dtype=graphc.float64))(x).numpy()
    assert uniform.min() >= 0 and uniform.max() < 1 and abs(uniform.mean() - 0.5) < 0.02


def test_randperm_inside_a_compiled_function_draws_a_new_permutation_each_call() -> None:
    """In the graph, randperm is the argsort of n uniform draws: a permutation of its dtype, drawn on every call."""
    shuffle = graphc.compile(lambda a: (a[graphc.randperm(50)], graphc.randperm(50, dtype=graphc.int32)))
    x = graphc.tensor(np.arange(50.0))
    (first, order), (second, _) = shuffle(x), shuffle(x)
    assert order.dtype == graphc.int32 and sorted(order.numpy()) == list(range(50))
    assert sorted(first.numpy()) == sorted(second.numpy()) == list(range(50))
    assert not np.array_equal(first.numpy(), second.numpy())


def test_dynamic_batch_equal_to_a_weight_dimension() -> None:
    """A weight with as many rows as the batch first traces as [B,5], which fails; graphc keeps that
    argument's dim 0 static from then on, so later batch sizes still share one program."""
    cf = graphc.compile(mlp)
    w, b = weights()  # w is [3, 5]
    (gw, tw), (gb, tb) = pair(w), pair(b)
    for batch in (3, 7, 3):
        gx, tx = pair(data(batch, 3))
        assert_matches(cf(gx, gw, gb), torch_mlp(tx, tw, tb))
    assert len(cf.entries) == 1 and str(cf.entries[0].program.program.graph.inputs[0].type).startswith("f32[B,")
    (reason,) = cf.recompilations
    assert "dim 0 of tensor argument(s) 1 as the batch B" in reason and "matmul" in reason


def test_batch_of_one_specializes() -> None:
    cf = graphc.compile(mlp)
    w, b = weights()
    (gw, tw), (gb, tb) = pair(w), pair(b)
    for batch in (4, 1, 6, 1):
        gx, tx = pair(data(batch, 3))
        assert_matches(cf(gx, gw, gb), torch_mlp(tx, tw, tb))
    assert cf.trace_count == 2


def test_python_arguments_kwargs_and_tuple_results() -> None:
    def fn(x: graphc.Tensor, scale: float, *, shift: graphc.Tensor) -> tuple:
        return x * scale + shift, (x.sum(1), x.max(1).indices)

    cf = graphc.compile(fn)
    (gx, tx), (gs, ts) = pair(data(4, 3)), pair(data(3))
    for scale in (2.0, 2.0, 3.0):
        got = cf(gx, scale, shift=gs)
        assert_matches(got[0], tx * scale + ts)
        assert_matches(list(got[1]), [tx.sum(1), tx.max(1).indices])
    assert cf.trace_count == 2  # a different Python number is a different signature


def test_outside_tensors_are_read_on_every_call() -> None:
    w = graphc.tensor(data(3, 2))

    def fn(x: graphc.Tensor) -> graphc.Tensor:
        return x @ w

    cf = graphc.compile(fn)
    x = graphc.tensor(data(4, 3))
    first = cf(x).numpy().copy()
    np.testing.assert_allclose(first, x.numpy() @ w.numpy(), rtol=1e-6)
    w.mul_(2)
    np.testing.assert_allclose(cf(x).numpy(), 2 * first, rtol=1e-6)
    assert cf.trace_count == 1


def test_reading_values_inside_a_compiled_function_raises() -> None:
    def fn(x: graphc.Tensor) -> graphc.Tensor:
        if x.sum().item() > 0:
            return x
        return -x

    with pytest.raises(GraphcError, match="compile"):
        graphc.compile(fn)(graphc.tensor(data(3)))


def test_report(backend: str) -> None:
    cf = graphc.compile(mlp, backend=backend)
    with pytest.raises(GraphcError):
        cf.report()  # nothing compiled yet
    w, b = weights()
    cf(graphc.tensor(data(4, 3)), graphc.tensor(w), graphc.tensor(b))
    report = cf.report()
    assert isinstance(report.graph, Graph)
    verify(report.graph)
    assert report.num_kernels == len(report.kernels) >= 1
    for kernel in report.kernels:
        assert kernel.name and kernel.source
        assert os.path.isfile(kernel.path), kernel.path
    assert {"simplify", "fusion", "memory", "codegen"} <= set(report.pass_times)
    assert all(isinstance(t, float) and t >= 0 for t in report.pass_times.values())
    memory = report.memory
    assert memory.sizes == {"B": 4}
    assert int(memory.naive_bytes) > 0 and int(memory.peak_bytes) > 0  # tiny buffers: alignment can make the arena larger
    assert report.recompilations == []
    text = str(report)
    assert "kernels" in text and "memory" in text and backend in text


def test_fusion_off_gives_one_kernel_per_op() -> None:
    w, b = weights()
    args = (graphc.tensor(data(4, 3)), graphc.tensor(w), graphc.tensor(b))
    fused, unfused = graphc.compile(mlp), graphc.compile(mlp, fusion=False)
    np.testing.assert_allclose(fused(*args).numpy(), unfused(*args).numpy(), rtol=1e-6, atol=1e-7)
    assert fused.report().num_kernels < unfused.report().num_kernels


# ----------------------------------------------------------------------------- the lazy runtime's cache


def test_same_structure_realized_twice_compiles_once(backend: str) -> None:
    def compute(x: graphc.Tensor, y: graphc.Tensor) -> graphc.Tensor:
        return ((x * y).tanh() + x[:, 1:2]).sum(1).log_softmax(0)

    before = lazy.compile_count
    (gx, tx), (gy, ty) = pair(data(5, 4)), pair(data(5, 4))
    assert_matches(compute(gx, gy), torch.log_softmax(((tx * ty).tanh() + tx[:, 1:2]).sum(1), 0))
    first = lazy.compile_count
    assert first - before <= 1
    for _ in range(3):
        (gx, tx), (gy, ty) = pair(data(5, 4)), pair(data(5, 4))  # new data, same structure
        assert_matches(compute(gx, gy), torch.log_softmax(((tx * ty).tanh() + tx[:, 1:2]).sum(1), 0))
    assert lazy.compile_count == first


def test_a_training_loop_compiles_its_step_once() -> None:
    w = graphc.tensor(data(3, 1, dtype="float64"), requires_grad=True)
    optimizer = graphc.optim.SGD([w], lr=0.1, momentum=0.9)
    counts, losses = [], []
    for _ in range(5):
        x, y = graphc.tensor(data(8, 3, dtype="float64")), graphc.tensor(data(8, 1, dtype="float64"))
        optimizer.zero_grad()
        loss = ((x @ w - y) ** 2).mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        counts.append(lazy.compile_count)
    assert counts[-1] == counts[2], counts  # steps after the momentum buffer exists reuse one program


def _assign(x: Any) -> Any:
    y = x * 1
    y[:, 1] = 0.0
    y[0] = 5.0
    return y


# name -> (graphc function, torch function), run through graphc.compile(dynamic=True) at two batch sizes
DYNAMIC_OPS = {
    "slice": (lambda x: x[1:] * 2, None),
    "slice_step": (lambda x: x[::2] + 1, None),
    "last_row": (lambda x: x[-1], None),
    "flatten": (lambda x: x.reshape(-1), None),
    "mean_over_B": (lambda x: x.mean(0), None),
    "var_over_B": (lambda x: x.var(0), None),
    "std_all": (lambda x: x.std(), None),
    "softmax_over_B": (lambda x: x.softmax(0), None),
    "max_over_B": (lambda x: x.max(0).values, None),
    "argmax_all": (lambda x: x.argmax(), None),
    "gram": (lambda x: x.T @ x, None),
    "cat_over_B": (lambda x: graphc.cat([x, x * 2], 0), lambda x: torch.cat([x, x * 2], 0)),
    "index_columns": (lambda x: x[:, [2, 0]], None),
    "index_rows": (lambda x: x[[0, -1]], None),
    "setitem": (_assign, _assign),
    "where_row": (lambda x: graphc.where(x > 0, x, x[0]), lambda x: torch.where(x > 0, x, x[0])),
    "center": (lambda x: x - x.sum(0, keepdim=True), None),
}


@pytest.mark.parametrize("name", list(DYNAMIC_OPS))
def test_dynamic_batch_through_ops(backend: str, name: str) -> None:
    fn, torch_fn = DYNAMIC_OPS[name]
    cf = graphc.compile(fn, backend=backend, dynamic=True)
    for batch in (4, 7):
        gx, tx = pair(data(batch, 3))
        assert_matches(cf(gx), (torch_fn or fn)(tx))
    assert cf.trace_count == 1


def test_dynamic_reshape_that_needs_divisibility_falls_back_to_static_sizes() -> None:
    cf = graphc.compile(lambda x: x.reshape(-1, 2), dynamic=True)
    for rows in (4, 6):
        gx, tx = pair(data(rows, 3))
        assert_matches(cf(gx), tx.reshape(-1, 2))
    reason = cf.recompilations[0]
    assert "reshape" in reason and "tracing again with static sizes" in reason
    assert cf.trace_count == 3  # the symbolic trace that failed, then one per size


def test_a_result_indexed_out_of_a_temporary_compiles_with_the_batch_symbolic(backend: str) -> None:
    """Found by the fuzzer (seed 60133): ``(x >= c)[-1]`` keeps the comparison alive as the base it
    writes through to, which was taken for new state, so every call ran eagerly and the other
    result's shape came back symbolic, ``(B, 4)`` instead of ``(3, 4)``."""

    def f(T: Any, x: Any, y: Any, index: Any) -> tuple:
        return (x >= -0.55)[-1], T.index_select(y, -1, index)

    step = graphc.compile(lambda *args: f(graphc, *args), backend=backend)
    for rows in (3, 3, 5):
        x, y, index = data(rows, 3), data(rows, 3), np.array([0, 2, 1, 1])
        assert_matches(step(*(graphc.tensor(a) for a in (x, y, index))), f(torch, *(torch.tensor(a) for a in (x, y, index))))
    assert step.recompilations == []


def test_gradient_of_a_strided_slice_of_the_batch(backend: str) -> None:
    """Found by the fuzzer (seed 60023): the gradient of ``x[::2]`` pads with widths in ceiling(B/2),
    which the NumPy program printed as sympy's ``ceiling(B/2)`` (a NameError when it ran)."""

    def f(T: Any, x: Any) -> Any:
        return T.autograd.grad(x[::2].exp().sum(), [x])[0]

    step = graphc.compile(lambda x: f(graphc, x), backend=backend)
    for rows in (4, 5):
        g, t = pair(data(rows, 3, dtype="float64"), requires_grad=True)
        assert_matches(step(g), f(torch, t))
    assert step.recompilations == []


def test_a_call_that_creates_state_returns_concrete_shapes_and_differentiates() -> None:
    """Such a call runs eagerly on the traced graph, whose stand-ins have the batch symbol: its results, the
    new state and their history take the call's sizes (they read (B, 4) before; found by the fuzzer) and
    lead back to the caller's tensors."""
    kept: list[graphc.Tensor] = []

    def f(x: graphc.Tensor) -> graphc.Tensor:
        y = x * 2
        kept.append(y.sum(1))  # a tensor the call made that outlives it: new state
        return (y + 1).reshape(-1, 2)

    values = data(3, 4, dtype="float64")
    x, t = graphc.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    out = graphc.compile(f, backend="numpy")(x)
    assert (tuple(out.shape), tuple(kept[-1].shape)) == ((6, 2), (3,))
    (out.tanh().sum() + kept[-1].sum()).backward()
    expected = ((t * 2) + 1).reshape(-1, 2).tanh().sum() + (t * 2).sum(1).sum()
    expected.backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12)  # None before: it reached the trace's stand-in


def test_an_argument_returned_by_a_call_that_creates_state_is_the_callers_tensor() -> None:
    kept: list[graphc.Tensor] = []

    def f(x: graphc.Tensor) -> graphc.Tensor:
        kept.append(x * 2)
        return x

    x = graphc.tensor(data(3, 4, dtype="float64"), requires_grad=True)
    out = graphc.compile(f, backend="numpy")(x)
    assert tuple(out.shape) == (3, 4)
    (out.sum() + kept[-1].sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((3, 4), 3.0))
