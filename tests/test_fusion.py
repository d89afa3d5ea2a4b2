"""Fusion groups the named patterns into the kernels the design promises, without changing results."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
from graphc.frontend import functional as F
from graphc.frontend import lazy
from graphc.runtime.executor import compile_graph


def compiled(*tensors: graphc.Tensor, fusion: bool = True):  # noqa: ANN201
    graph, leaves = lazy.pending_graph([t._node for t in tensors])
    program = compile_graph(graph, fusion=fusion)
    return program, program([leaf.data for leaf in leaves])


def kernel_count(*tensors: graphc.Tensor) -> int:
    return compiled(*tensors)[0].report.num_kernels


def rows(shape: tuple[int, ...] = (6, 10), seed: int = 0) -> graphc.Tensor:
    return graphc.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def test_softmax_and_log_softmax_forward_are_one_kernel_each() -> None:
    assert kernel_count(rows().softmax(1)) == 1
    assert kernel_count(rows().log_softmax(-1)) == 1


def test_layer_norm_forward_is_one_kernel() -> None:
    x = rows()
    mean = x.mean(-1, keepdim=True)
    var = x.var(-1, unbiased=False, keepdim=True)
    assert kernel_count((x - mean) / (var + 1e-5).sqrt() * rows((10,), 1) + rows((10,), 2)) == 1


def test_bias_gelu_dropout_residual_chain_is_one_kernel() -> None:
    x, bias, residual = rows(), rows((10,), 1), rows(seed=2)
    out = F.gelu(x + bias) * 0.5 + residual
    assert kernel_count(out) == 1


def test_matmul_takes_bias_and_activation_as_its_epilogue() -> None:
    x, w, bias = rows((4, 8)), rows((8, 5), 1), rows((5,), 2)
    assert kernel_count((x @ w + bias).relu()) == 1


def test_softmax_backward_fuses_into_few_kernels() -> None:
    x = graphc.tensor(np.random.default_rng(0).standard_normal((6, 10)), requires_grad=True)
    weights = rows(seed=3).double()
    (x.softmax(1) * weights).sum().backward()
    fused = kernel_count(x.grad)
    program, _ = compiled(x.grad, fusion=False)
    assert fused <= 3 < program.report.num_kernels


@pytest.mark.parametrize("fusion", [True, False])
def test_fusion_does_not_change_results(fusion: bool) -> None:
    x = graphc.tensor(np.random.default_rng(0).standard_normal((5, 7)), requires_grad=True)
    w = graphc.tensor(np.random.default_rng(1).standard_normal((7, 3)), requires_grad=True)
    loss = ((x @ w).tanh().log_softmax(1) * 3).sum() + x.var(0).sum()
    loss.backward()
    _, fused = compiled(loss, x.grad, w.grad, fusion=True)
    _, unfused = compiled(loss, x.grad, w.grad, fusion=False)
    for a, b in zip(fused, unfused):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_every_rejected_fusion_records_a_reason() -> None:
    x = graphc.tensor(np.random.default_rng(0).standard_normal((5, 7)), requires_grad=True)
    (x.exp() @ x.T).sum().backward()
    program, _ = compiled(x.grad)
    assert program.report.fusion_log
    assert all(": " in line and "at " in line for line in program.report.fusion_log)


def test_fused_kernel_list_is_a_valid_schedule() -> None:
    x = graphc.tensor(np.random.default_rng(0).standard_normal((4, 6)), requires_grad=True)
    (x.softmax(0) @ x.T).relu().sum().backward()
    program, _ = compiled(x.grad)
    written = {id(n) for n in program.program.graph.inputs}
    for kernel in program.program.kernels:
        assert all(id(value) in written for value in kernel.inputs if value.op not in ("constant",))
        written |= {id(n) for n in kernel.outputs}
