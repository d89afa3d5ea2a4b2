"""The simplify pass's rule table: each rule on a small graph, and results unchanged against torch."""

from __future__ import annotations

import numpy as np
import sympy
import torch

import graphc
from graphc.frontend import lazy
from graphc.ir import build
from graphc.ir.dtypes import float32, int64
from graphc.ir.graph import Graph
from graphc.ir.primitives.source import source_node
from graphc.ir.registry import emit
from graphc.ir.types import TensorType
from graphc.ir.verifier import verify
from graphc.passes.simplify import _reshape_groups, simplify
from graphc.runtime.executor import compile_graph


def _ops(graph: Graph) -> list[str]:
    return [n.op for n in graph.nodes]


def _padded() -> tuple:
    x = source_node(TensorType((4, 2, 3), float32))
    padded = emit("pad", x, low=(0, 3, 0), high=(0, 1, 0), interior=(0, 0, 0), value=0.0)
    return x, padded


def test_slice_of_the_unpadded_part_reads_the_input() -> None:
    x, padded = _padded()
    graph = simplify(Graph([x], [emit("slice", padded, starts=(0, 3, 1), stops=(4, 5, 3), steps=(1, 1, 1))]))
    verify(graph)
    assert _ops(graph) == ["input", "slice"]
    assert graph.outputs[0].attrs["starts"] == (0, 0, 1) and graph.outputs[0].attrs["stops"] == (4, 2, 3)


def test_slice_of_padding_only_is_a_constant() -> None:
    x, padded = _padded()
    graph = simplify(Graph([x], [emit("slice", padded, starts=(0, 0, 0), stops=(4, 3, 3), steps=(1, 2, 1))]))
    verify(graph)
    assert "pad" not in _ops(graph) and "constant" in _ops(graph)
    assert graph.outputs[0].shape == (4, 2, 3)


def test_pieces_of_length_0_leave_a_concat() -> None:
    x, empty, y = (source_node(TensorType((2, n), float32)) for n in (3, 0, 1))
    graph = simplify(Graph([x, empty, y], [emit("concat", x, empty, y, axis=1), emit("concat", empty, y, axis=1)]))
    verify(graph)
    joined, alone = graph.outputs
    assert joined.op == "concat" and len(joined.inputs) == 2 and alone.op == "input"


def test_slice_straddling_input_and_padding_stays() -> None:
    x, padded = _padded()
    graph = simplify(Graph([x], [emit("slice", padded, starts=(0, 2, 0), stops=(4, 4, 3), steps=(1, 1, 1))]))
    assert "pad" in _ops(graph)


def test_slice_through_a_permute_of_a_pad_simplifies() -> None:
    x, padded = _padded()
    moved = build.permute(padded, (1, 0, 2))
    graph = simplify(Graph([x], [emit("slice", moved, starts=(1, 0, 0), stops=(2, 4, 3), steps=(1, 1, 1))]))
    verify(graph)
    assert "pad" not in _ops(graph)


def test_gradient_through_stacked_steps_matches_torch() -> None:
    """The LSTM pattern: a stack of per-step values, of which the loss reads some steps."""
    data = np.random.default_rng(0).standard_normal((4, 3))
    x = graphc.tensor(data, requires_grad=True)
    steps = [x * (i + 1) for i in range(5)]
    (graphc.stack(steps, dim=1)[:, -1, :].sum() + graphc.stack(steps, dim=1)[:, 1:3, 1:].sum()).backward()
    tx = torch.tensor(data, requires_grad=True)
    tsteps = [tx * (i + 1) for i in range(5)]
    (torch.stack(tsteps, 1)[:, -1, :].sum() + torch.stack(tsteps, 1)[:, 1:3, 1:].sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def _pad_along_last(x: object, low: int, high: int) -> object:
    return emit("pad", x, low=(0, low), high=(0, high), interior=(0, 0), value=0.0)


def test_sum_of_pads_over_disjoint_ranges_is_a_concat() -> None:
    a, b = source_node(TensorType((3, 2), float32)), source_node(TensorType((3, 4), float32))
    graph = simplify(Graph([a, b], [emit("add", _pad_along_last(b, 3, 1), _pad_along_last(a, 0, 6))]))
    verify(graph)
    ops = _ops(graph)
    assert "add" not in ops and "concat" in ops


def test_a_pad_filling_the_zero_gap_of_a_joined_pair_takes_its_place() -> None:
    """The LSTM gate gradients: gates 0 and 2 are joined around zeros, then gate 1 fills them."""
    gates = [source_node(TensorType((3, 2), float32)) for _ in range(3)]
    first = emit("add", _pad_along_last(gates[0], 0, 4), _pad_along_last(gates[2], 4, 0))
    graph = simplify(Graph(gates, [emit("add", first, _pad_along_last(gates[1], 2, 2))]))
    verify(graph)
    assert _ops(graph).count("add") == 0 and "constant" not in _ops(graph)


def test_overlapping_pads_are_still_added() -> None:
    a, b = source_node(TensorType((3, 4), float32)), source_node(TensorType((3, 4), float32))
    graph = simplify(Graph([a, b], [emit("add", _pad_along_last(a, 0, 2), _pad_along_last(b, 2, 0))]))
    assert "add" in _ops(graph)


def test_gradient_of_a_sequence_read_step_by_step_matches_torch() -> None:
    """An RNN reads its precomputed input projection one step at a time, gates split by columns."""
    data = np.random.default_rng(1).standard_normal((5, 3, 8))
    x = graphc.tensor(data, requires_grad=True)
    tx = torch.tensor(data, requires_grad=True)
    total, ttotal = 0, 0
    for t in range(5):
        step, tstep = x[t], tx[t]
        for g in (0, 2, 1, 3):
            total = total + (step[:, 2 * g : 2 * g + 2] * (g + t)).tanh().sum()
            ttotal = ttotal + (tstep[:, 2 * g : 2 * g + 2] * (g + t)).tanh().sum()
    total.backward()
    ttotal.backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-14)  # tanh: ulps apart


def test_adding_a_permuted_slice_of_a_broadcast_zero_is_dropped() -> None:
    x = source_node(TensorType((4, 3), float32))
    zero = emit("expand", emit("reshape", emit("constant", value=0.0, dtype=float32), shape=(1, 1, 1)), shape=(3, 2, 4))
    moved = emit("permute", emit("slice", zero, starts=(0, 0, 0), stops=(3, 1, 4), steps=(1, 1, 1)), perm=(1, 2, 0))
    graph = simplify(Graph([x], [emit("add", x, emit("reshape", moved, shape=(4, 3)))]))
    verify(graph)
    assert _ops(graph) == ["input"]


def test_a_transposed_product_is_the_product_of_transposes_when_nothing_else_reads_it() -> None:
    a, b = graphc.randn(3, 4), graphc.randn(4, 5)
    graph, _ = lazy.pending_graph([(a @ b).T._node])
    simplified = simplify(graph)
    ops = [n.op for n in simplified.nodes if n.op not in ("input", "parameter")]
    assert ops == ["permute", "permute", "matmul"]
    np.testing.assert_allclose(compile_graph(simplified)([a.numpy(), b.numpy()])[0], (a.numpy() @ b.numpy()).T, rtol=1e-6)
    product = a @ b
    graph, _ = lazy.pending_graph([product.T._node, (product * 2)._node])
    assert [n.op for n in simplify(graph).nodes].count("matmul") == 1  # read twice: one matmul, transposed


def test_a_sum_of_products_read_only_by_the_sum_is_one_product_of_concatenations() -> None:
    a = [graphc.randn(3, k) for k in (2, 4, 1)]
    b = [graphc.randn(k, 5) for k in (2, 4, 1)]
    total = a[0] @ b[0] + a[1] @ b[1] + a[2] @ b[2]
    graph, leaves = lazy.pending_graph([total._node])
    simplified = simplify(graph)
    assert [n.op for n in simplified.nodes].count("matmul") == 1
    expected = sum(x.numpy() @ y.numpy() for x, y in zip(a, b))
    np.testing.assert_allclose(compile_graph(simplified)([leaf.data for leaf in leaves])[0], expected, rtol=1e-5)
    shared = a[0] @ b[0]
    graph, _ = lazy.pending_graph([(shared + a[1] @ b[1])._node, (shared * 2)._node])
    assert [n.op for n in simplify(graph).nodes].count("matmul") == 2  # ``shared`` is read twice: kept apart


def test_a_permute_of_a_permute_is_one_permute_or_none() -> None:
    x = graphc.randn(2, 3, 4)
    twice = x.permute(2, 0, 1).permute(1, 2, 0)
    graph, leaves = lazy.pending_graph([twice._node])
    assert [n.op for n in simplify(graph).nodes] == ["input"]  # (2,0,1) then (1,2,0) is the identity
    once = x.permute(2, 0, 1).permute(0, 2, 1)
    graph, leaves = lazy.pending_graph([once._node])
    simplified = simplify(graph)
    assert [n.op for n in simplified.nodes] == ["input", "permute"]
    np.testing.assert_array_equal(compile_graph(simplified)([leaf.data for leaf in leaves])[0], x.numpy().transpose(2, 0, 1).transpose(0, 2, 1))


def test_a_weight_shared_over_steps_gets_torchs_gradient_through_the_merged_products(backend: str) -> None:
    """A recurrent weight's gradient (a sum of transposed products, merged into one) against torch, in float64."""
    rng = np.random.default_rng(5)
    w0 = rng.standard_normal((4, 3))
    xs = [rng.standard_normal((2, 4)) for _ in range(3)]
    w = graphc.tensor(w0.copy(), requires_grad=True)
    tw = torch.tensor(w0, requires_grad=True)
    loss = sum(((graphc.tensor(x) @ w).tanh() ** 2).sum() for x in xs)
    torch_loss = sum(((torch.tensor(x) @ tw).tanh() ** 2).sum() for x in xs)
    loss.backward()
    torch_loss.backward()
    graph, _ = lazy.pending_graph([w.grad._node])
    gradient_products = [n for n in simplify(graph).nodes if n.op == "matmul" and n.shape == (4, 3)]
    assert len(gradient_products) == 1  # the three x.T @ g products, merged (the others recompute the forward)
    assert w.grad.dtype == graphc.float64
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_a_bias_and_activation_after_a_reshaped_product_move_before_the_reshape() -> None:
    """conv2d is a matmul reshaped to [B,C,H,W]: its bias and ReLU are computed in the product's shape."""
    x, w, b = graphc.randn(2, 3, 6, 6), graphc.randn(4, 3, 3, 3), graphc.randn(4)
    out = graphc.nn.functional.relu(graphc.nn.functional.conv2d(x, w, b, padding=1))
    graph, leaves = lazy.pending_graph([out._node])
    simplified = simplify(graph)
    verify(simplified)
    (product,) = [n for n in simplified.nodes if n.op == "matmul"]
    elementwise = [n for n in simplified.nodes if n.op in ("add", "le", "where", "maximum")]
    assert elementwise and all(n.shape == product.shape for n in elementwise)
    assert simplified.outputs[0].op == "reshape"
    expected = torch.relu(torch.nn.functional.conv2d(*(torch.from_numpy(t.numpy()) for t in (x, w, b)), padding=1))
    np.testing.assert_allclose(compile_graph(simplified)([leaf.data for leaf in leaves])[0], expected.numpy(), rtol=1e-5, atol=1e-6)


def test_a_batch_norm_after_a_convolution_stays_in_the_images_shape(backend: str) -> None:
    """The bias moves into the product's shape; batch-norm's `x - mean` (a reduction's broadcast) does not.

    Its sums run over [B,C,H,W]; what is computed from them stays in that shape, so fusion
    can put them in one kernel (43 → 34 kernels in benchmarks/small_cnn.py). The training
    step's loss and gradients match torch in float64.
    """
    rng = np.random.default_rng(9)
    x0, w0, b0, scale = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3), rng.standard_normal((3, 1, 1))
    x, w, b = (graphc.tensor(a.copy(), requires_grad=True) for a in (x0, w0, b0))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x0, w0, b0))

    def loss_of(F, x, w, b, scale):  # noqa: ANN001, ANN202 - torch's or graphc's functional module and tensors
        normed = F.batch_norm(F.conv2d(x, w, b, padding=1), None, None, training=True)
        return (F.relu(normed) ** 2 * scale).sum()

    loss = loss_of(graphc.nn.functional, x, w, b, graphc.tensor(scale))
    graph, _ = lazy.pending_graph([loss._node])
    simplified = simplify(graph)
    verify(simplified)
    (product,) = [n for n in simplified.nodes if n.op == "matmul"]
    (bias,) = [n for n in simplified.nodes if n.op == "add" and n.inputs[0] is product]
    assert bias.shape == product.shape
    centred = [n for n in simplified.nodes if n.op == "sub" and n.type.ndim == 4]
    assert centred and not [n for n in simplified.nodes if n.op == "sub" and n.shape == product.shape]

    def step(x: graphc.Tensor, w: graphc.Tensor, b: graphc.Tensor) -> tuple:
        loss = loss_of(graphc.nn.functional, x, w, b, graphc.tensor(scale))
        loss.backward()
        return loss.detach(), x.grad, w.grad, b.grad

    got = graphc.compile(step, backend=backend)(x, w, b)
    expected = loss_of(torch.nn.functional, tx, tw, tb, torch.tensor(scale))
    expected.backward()
    np.testing.assert_allclose(float(got[0]), expected.item(), rtol=1e-12)
    for g, t in zip(got[1:], (tx.grad, tw.grad, tb.grad)):
        assert g.dtype == graphc.float64
        np.testing.assert_allclose(g.numpy(), t.numpy(), rtol=1e-10, atol=1e-12)


def test_reshape_groups_pair_axes_or_give_up() -> None:
    batch = sympy.Symbol("B", positive=True, integer=True)
    assert _reshape_groups((batch, 6, 784), (batch, 6, 28, 28)) == [([0], [0]), ([1], [1]), ([2], [2, 3])]
    assert _reshape_groups((12,), (3, 4)) == [([0], [0, 1])]
    assert _reshape_groups((6, 4), (4, 6)) == [([0, 1], [0, 1])]  # one group: a broadcast over part of it cannot move
    assert _reshape_groups((batch * 2, 3), (batch, 6)) is None  # sizes that only divide symbolically


def test_an_operand_that_is_a_full_tensor_keeps_the_reshape() -> None:
    """Only the same reshape or a broadcast moves along: a full tensor would need a copy in the product's shape."""
    a, b, y = graphc.randn(2, 3, 4), graphc.randn(2, 4, 6), graphc.randn(2, 3, 2, 3)
    out = (a @ b).reshape(2, 3, 2, 3) + y
    graph, _ = lazy.pending_graph([out._node])
    simplified = simplify(graph)
    (add,) = [n for n in simplified.nodes if n.op == "add"]
    assert add.shape == (2, 3, 2, 3)


def test_arithmetic_on_constants_is_folded_in_the_nodes_dtype() -> None:
    x = source_node(TensorType((4, 3), float32))
    third = build.div(build.full((4, 3), 1.0, float32), build.full((4, 3), 3.0, float32))
    graph = simplify(Graph([x], [build.mul(x, third)]))
    verify(graph)
    assert _ops(graph) == ["input", "constant", "reshape", "expand", "mul"]
    folded = next(n for n in graph.nodes if n.op == "constant")
    assert folded.attrs["value"] == float(np.float32(1.0) / np.float32(3.0))  # float32's third, not float64's


def test_the_gradient_of_a_square_is_two_x_without_a_power() -> None:
    """d(x ** 2) = 2 * x ** (2 - 1): the exponent folds to 1 and the power goes."""

    def grad_of_square(x: graphc.Tensor) -> graphc.Tensor:
        x.requires_grad_(True)
        (x**2).sum().backward()
        return x.grad

    compiled = graphc.compile(grad_of_square, backend="numpy")
    x = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_allclose(compiled(graphc.tensor(x)).numpy(), 2 * x, rtol=1e-15)
    # The forward's x ** 2 is computed too (a differentiated loss is a result, for its checks): its
    # power is the forward's, not the gradient's.
    assert not [n for k in compiled.report().kernels for n in k.nodes if n.op == "pow" and n.phase == "backward"]


def test_a_padded_piece_over_a_symbolic_axis_is_not_fitted_into_zeros() -> None:
    """pad(b) + pad(concat(.., zeros, ..)) asked whether b's range lies in the zeros with ``<=`` on
    a symbolic batch size, which sympy cannot answer (a TypeError out of graphc.compile; fuzz seed 6450)."""
    rng = np.random.default_rng(0)

    def f(x: graphc.Tensor, one: graphc.Tensor, index: graphc.Tensor, src: graphc.Tensor) -> graphc.Tensor:
        return graphc.scatter_add(graphc.concat([one, graphc.std(x, dim=0, keepdim=True), one], dim=0), -1, index, src)

    compiled = graphc.compile(f)
    one, index, src = graphc.tensor(np.ones((1, 1), np.float32)), graphc.tensor(np.zeros((3, 4), np.int64)), graphc.tensor(np.ones((3, 4), np.float32))
    for rows in (2, 3):
        x = rng.standard_normal((rows, 1)).astype(np.float32)
        got = compiled(graphc.tensor(x), one, index, src)
        np.testing.assert_allclose(got.numpy().ravel(), [5.0, float(torch.from_numpy(x).std()) + 4, 5.0], rtol=1e-6)


def test_a_sum_max_or_min_over_axes_that_only_broadcast_is_no_reduction() -> None:
    """sum of x broadcast over N rows is N * x; its max and min are x. Integer sums (they promote) and sums over an
    axis of size 0 (an empty sum is 0, where 0 * inf is not) keep their reduction."""
    x = source_node(TensorType((1, 3), float32))
    wide = build.expand(x, (5, 3))
    graph = simplify(Graph([x], [emit("sum", wide, axes=(0,), keepdim=False), emit("max", wide, axes=(0,), keepdim=True)]))
    verify(graph)
    assert not {"sum", "max"} & set(_ops(graph))
    ours = compile_graph(graph)([np.array([[1.5, -2.0, np.inf]], np.float32)])
    t = torch.tensor([[1.5, -2.0, np.inf]]).expand(5, 3)
    np.testing.assert_array_equal(ours[0], t.sum(0).numpy())
    np.testing.assert_array_equal(ours[1], t.amax(0, keepdim=True).numpy())
    empty = build.expand(source_node(TensorType((1, 3), float32)), (0, 3))
    integers = build.expand(source_node(TensorType((1, 3), int64)), (5, 3))
    for kept in (empty, integers):
        graph = simplify(Graph([kept.inputs[0]], [emit("sum", kept, axes=(0,), keepdim=False)]))
        assert "sum" in _ops(graph)


def test_the_bias_gradient_of_a_mean_loss_needs_no_reduction_kernel(backend: str) -> None:
    """The gradient of ``mean()`` is 1/N broadcast, and a bias's gradient sums it over the batch: after simplify the
    bias update is pointwise (the loss's own sum is the step's one reduction). SGD steps at two batch sizes of one
    program match torch's in float64."""
    rng = np.random.default_rng(3)
    w0, b0 = rng.standard_normal((3, 4)), rng.standard_normal(3)

    def model_and_optimizer(T):  # noqa: ANN001, ANN202 - torch or graphc
        model = T.nn.Linear(4, 3).double()
        with T.no_grad():
            model.weight.copy_(T.tensor(w0))
            model.bias.copy_(T.tensor(b0))
        return model, T.optim.SGD(model.parameters(), lr=0.1)

    model, optimizer = model_and_optimizer(graphc)
    torch_model, torch_optimizer = model_and_optimizer(torch)

    def step(x: graphc.Tensor) -> graphc.Tensor:
        optimizer.zero_grad()
        loss = model(x).mean()
        loss.backward()
        optimizer.step()
        return loss.detach()

    compiled = graphc.compile(step, backend=backend)
    for rows in (7, 9, 7):
        x = rng.standard_normal((rows, 4))
        got = compiled(graphc.tensor(x))
        torch_optimizer.zero_grad()
        expected = torch_model(torch.tensor(x)).mean()
        expected.backward()
        torch_optimizer.step()
        np.testing.assert_allclose(float(got), expected.item(), rtol=1e-12)
        np.testing.assert_allclose(model.bias.detach().numpy(), torch_model.bias.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(model.weight.detach().numpy(), torch_model.weight.detach().numpy(), rtol=1e-12)
    kinds = [k.kind for k in compiled.report().kernels]
    assert kinds.count("reduction") == 1, kinds
