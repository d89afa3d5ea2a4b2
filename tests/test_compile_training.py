"""graphc.compile on functions with side effects: .grad accumulation, updates, new state."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.errors import GraphcError
from graphc.frontend import functional as F


def make_weight(seed: int = 0) -> graphc.Tensor:
    data = np.random.default_rng(seed).standard_normal((5, 3))
    return graphc.tensor(data, requires_grad=True)


def sgd_step(w: graphc.Tensor, x: graphc.Tensor) -> graphc.Tensor:
    w.grad = None
    loss = (x @ w).tanh().pow(2).mean()
    loss.backward()
    with graphc.no_grad():
        w.sub_(0.1 * w.grad)
    return loss


def test_compiled_update_step_matches_eager_and_traces_once() -> None:
    x = graphc.tensor(np.random.default_rng(1).standard_normal((8, 5)))
    w_eager, w_compiled = make_weight(), make_weight()
    compiled = graphc.compile(lambda data: sgd_step(w_compiled, data))
    for _ in range(5):
        expected = sgd_step(w_eager, x).item()
        assert compiled(x).item() == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(w_compiled.numpy(), w_eager.numpy(), rtol=1e-12)
    assert compiled.trace_count == 1


def test_backward_inside_compiled_function_accumulates_grad_on_every_call() -> None:
    w = make_weight()
    x = graphc.tensor(np.ones((4, 5)))
    compiled = graphc.compile(lambda data: (data @ w).sum().backward())
    for _ in range(3):
        compiled(x)
    np.testing.assert_allclose(w.grad.numpy(), np.full((5, 3), 3 * 4.0))
    # The first call traced with .grad None, the second with a .grad to accumulate into.
    assert compiled.trace_count == 2
    assert "grad was None" in compiled.recompilations[0]


def test_new_batch_size_does_not_retrace_with_dynamic_shapes() -> None:
    w = make_weight()
    compiled = graphc.compile(lambda data: sgd_step(w, data))
    for batch in (4, 9, 16):
        compiled(graphc.randn(batch, 5, dtype=graphc.float64))
    assert compiled.trace_count == 1


def test_reading_a_traced_value_inside_the_function_is_refused() -> None:
    def bad(x: graphc.Tensor) -> graphc.Tensor:
        if (x.sum() > 0).item():
            return x
        return -x

    with pytest.raises(GraphcError, match="cannot read the value"):
        graphc.compile(bad)(graphc.ones(3))


def test_compiled_dropout_draws_a_new_mask_every_call() -> None:
    compiled = graphc.compile(lambda x: F.dropout(x, 0.5))
    x = graphc.ones(64)
    first, second = compiled(x).numpy(), compiled(x).numpy()
    assert compiled.trace_count == 1
    assert set(np.unique(first)) <= {0.0, 2.0}
    assert not np.array_equal(first, second)


def test_function_creating_state_runs_eagerly_then_compiles() -> None:
    state: dict[str, graphc.Tensor] = {}
    w = make_weight()

    def momentum_step(x: graphc.Tensor) -> graphc.Tensor:
        w.grad = None
        loss = (x @ w).pow(2).mean()
        loss.backward()
        with graphc.no_grad():
            if "buf" not in state:
                state["buf"] = w.grad.clone()
            else:
                state["buf"].mul_(0.9).add_(w.grad)
            w.sub_(0.01 * state["buf"])
        return loss

    reference_w = make_weight()
    reference_buf = None
    x = graphc.tensor(np.random.default_rng(2).standard_normal((6, 5)))
    compiled = graphc.compile(momentum_step)
    for _ in range(4):
        compiled(x)
        grad = 2 * x.numpy().T @ (x.numpy() @ reference_w.numpy()) / (6 * 3)
        reference_buf = grad if reference_buf is None else 0.9 * reference_buf + grad
        reference_w = graphc.tensor(reference_w.numpy() - 0.01 * reference_buf, requires_grad=True)
    np.testing.assert_allclose(w.numpy(), reference_w.numpy(), rtol=1e-10)
    assert "ran eagerly" in compiled.recompilations[0]
    assert compiled.trace_count == 2


def test_exception_inside_trace_leaves_state_untouched() -> None:
    w = make_weight()
    before = w.numpy().copy()

    def broken(x: graphc.Tensor) -> None:
        with graphc.no_grad():
            w.add_(1.0)
        raise ValueError("user bug")

    with pytest.raises(ValueError):
        graphc.compile(broken)(graphc.ones(2))
    np.testing.assert_array_equal(w.numpy(), before)


def test_backward_outside_a_compiled_function_reaches_the_parameters() -> None:
    w_compiled, w_eager = make_weight(), make_weight()
    forward = graphc.compile(lambda data: (data @ w_compiled).tanh())
    x = graphc.tensor(np.random.default_rng(3).standard_normal((4, 5)))
    for _ in range(2):
        forward(x).pow(2).sum().backward()
        (x @ w_eager).tanh().pow(2).sum().backward()
    np.testing.assert_allclose(w_compiled.grad.numpy(), w_eager.grad.numpy(), rtol=1e-12)
    assert forward.trace_count == 1
    with graphc.no_grad():
        np.testing.assert_allclose(forward(x).numpy(), (x @ w_eager).tanh().numpy(), rtol=1e-12)


def test_auto_backend_follows_every_leaf_not_only_the_arguments() -> None:
    """An optimizer step called without arguments reads CUDA parameters and moments; compiled
    for NumPy it copied them to the CPU on every step (60 ms for Adam over 100M parameters on an
    H200). The rule is checked here with stand-in leaves; the GPU test runs the real step."""
    from types import SimpleNamespace

    from graphc.runtime.compiled import CompiledFunction

    on_gpu = SimpleNamespace(data=SimpleNamespace(device="cuda:0"))
    on_cpu = SimpleNamespace(data=np.zeros(3))
    auto = CompiledFunction(lambda: None)
    assert auto._backend([on_cpu, on_gpu]) == "triton"
    assert auto._backend([on_cpu]) == "numpy"
    assert CompiledFunction(lambda: None, backend="triton")._backend([on_cpu]) == "triton"


def test_the_numpy_backend_refuses_cuda_data_instead_of_moving_it() -> None:
    from types import SimpleNamespace

    from graphc.ir.dtypes import float32
    from graphc.ir.types import TensorType
    from graphc.runtime.compiled import CompiledFunction

    def update() -> None:
        pass

    on_gpu = SimpleNamespace(data=SimpleNamespace(device="cuda:0"), type=TensorType((3, 4), float32))
    with pytest.raises(GraphcError, match=r"backend='numpy'\): update \(defined at .*test_compile_training.py:\d+\) reads a CUDA tensor \(f32\[3,4\]\)"):
        CompiledFunction(update, backend="numpy")._backend([on_gpu])
