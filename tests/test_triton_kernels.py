"""The Triton emitter on Kernel IR built by hand: multi-node kernels that fusion relies on, and the source cache."""

from __future__ import annotations

import inspect
import os

import numpy as np
import pytest
import torch

import graphc
from graphc.codegen import triton as triton_codegen
from graphc.codegen import triton_support as rt
from graphc.codegen.cache import import_source
from graphc.codegen.kernel_ir import Program, kernel_for
from graphc.errors import GraphcError
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Graph, Node
from graphc.ir.primitives.source import source_node
from graphc.ir.printer import format_node, number_nodes
from graphc.ir.registry import emit
from graphc.ir.types import TensorType
from graphc.passes.memory import plan_memory
from graphc.runtime.executor import BACKENDS, compile_graph


def inputs(*shapes: tuple) -> list[Node]:
    return [source_node(TensorType(shape, dtypes.float32)) for shape in shapes]


def one_kernel(graph_inputs: list[Node], outputs: list[Node]) -> Program:
    """All computing nodes of the graph in a single Kernel (what fusion hands the emitter)."""
    graph = Graph(graph_inputs, outputs)
    nodes = [n for n in graph.nodes if n.op not in ("input", "parameter")]
    return Program(graph, [kernel_for(0, nodes, outputs)])


def run(program: Program, values: list[torch.Tensor]) -> tuple[list[torch.Tensor], object]:
    source = triton_codegen.emit_program(program, plan_memory(program))
    module = import_source("triton_test_program", source)
    with np.errstate(all="ignore"):  # the interpreter computes masked-off lanes too
        return [out.cpu() for out in module.run(values)], module  # on a GPU they come back on it


def jit_functions(module: object) -> dict[str, object]:
    """The @triton.jit functions of a generated module, unwrapped to the Python functions."""
    found = {}
    for name, value in vars(module).items():
        if type(value).__module__.startswith("triton"):
            fn = value
            while hasattr(fn, "fn"):
                fn = fn.fn
            if inspect.isfunction(fn) and fn.__module__ == module.__name__:
                found[name] = fn
    return found


def test_pointwise_chain_with_views_and_an_intermediate_output_is_one_function() -> None:
    x, bias, y = inputs((4, 6), (6,), (6, 4))
    shifted = b.add(x, b.expand(b.reshape(bias, (1, 6)), (4, 6)))
    scaled = b.mul(b.unary("exp", shifted), b.permute(y, (1, 0)))
    program = one_kernel([x, bias, y], [shifted, scaled])
    tx, tb, ty = torch.randn(4, 6), torch.randn(6), torch.randn(6, 4)
    (got_shifted, got_scaled), module = run(program, [tx, tb, ty])
    torch.testing.assert_close(got_shifted, tx + tb)
    torch.testing.assert_close(got_scaled, (tx + tb).exp() * ty.T)
    assert list(jit_functions(module)) == ["k0_add_exp_mul_kernel"]
    source = program.kernels[0].source
    names = number_nodes(program.graph.nodes)
    for node in program.kernels[0].nodes:  # every node's IR line is a comment, views included
        assert f"# {format_node(node, names)}" in source
    assert source.count("tl.store(") == 2 and source.count("tl.load(") == 3


@pytest.mark.parametrize("looped", [False, True])
def test_reduction_with_prologue_rebroadcast_and_epilogue(looped: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if looped:
        monkeypatch.setattr(rt, "MAX_PERSISTENT_RBLOCK", 8)
        monkeypatch.setattr(rt, "LOOPED_RBLOCK", 8)
        monkeypatch.setattr(rt, "FEW_ROWS_RBLOCK", 8)
    (x,) = inputs((5, 37))
    scaled = b.mul(x, 0.5)  # prologue
    top = emit("max", scaled, axes=(1,), keepdim=True)
    shifted = b.sub(scaled, b.expand(top, (5, 37)))  # re-broadcast of a reduced value
    e = b.unary("exp", shifted)
    total = emit("sum", e, axes=(1,), keepdim=False)  # a second pass over the row
    probs = b.div(e, b.expand(b.reshape(total, (5, 1)), (5, 37)))
    log_total = b.unary("log", total)  # epilogue at the row level
    program = one_kernel([x], [probs, log_total, top])
    tx = torch.randn(5, 37)
    (got_probs, got_log, got_top), module = run(program, [tx])
    torch.testing.assert_close(got_probs, torch.softmax(tx * 0.5, 1))
    torch.testing.assert_close(got_log, ((tx * 0.5) - (tx * 0.5).amax(1, keepdim=True)).exp().sum(1).log())
    torch.testing.assert_close(got_top, (tx * 0.5).amax(1, keepdim=True))
    assert set(jit_functions(module)) == {"k0_mul_max_sub_exp_persistent", "k0_mul_max_sub_exp_looped"}
    looped_source = inspect.getsource(jit_functions(module)["k0_mul_max_sub_exp_looped"])
    assert looped_source.count("for roffset in range(0, rnumel, RBLOCK):") == 3  # max, then sum, then the stores


def test_reduction_over_the_first_axis_with_a_pointwise_prologue() -> None:
    x, w = inputs((9, 7), (9, 7))
    total = emit("sum", b.mul(x, w), axes=(0,), keepdim=False)
    program = one_kernel([x, w], [total])
    tx, tw = torch.randn(9, 7), torch.randn(9, 7)
    (got,), _ = run(program, [tx, tw])
    torch.testing.assert_close(got, (tx * tw).sum(0))


def test_reduction_result_stored_at_another_rank_is_a_row_level_output() -> None:
    """A ``[1, 1]`` total reshaped to 0-d: the same elements as the row-level result, stored through index_in."""
    (x,) = inputs((3, 4))
    col = emit("sum", b.unary("abs", x), axes=(0,), keepdim=True)
    top = emit("max", col, axes=(1,), keepdim=True)
    scalar = emit("reshape", top, shape=())
    program = one_kernel([x], [scalar])
    tx = torch.randn(3, 4)
    (got,), _ = run(program, [tx])
    torch.testing.assert_close(got, tx.abs().sum(0, keepdim=True).amax(1, keepdim=True).reshape(()))


def test_matmul_with_transposed_operand_and_epilogue() -> None:
    a, w_t, bias = inputs((2, 19, 33), (17, 33), (17,))
    mm = b.matmul(a, b.expand(b.reshape(b.permute(w_t, (1, 0)), (1, 33, 17)), (2, 33, 17)))
    biased = b.add(mm, b.expand(b.reshape(bias, (1, 1, 17)), (2, 19, 17)))
    out = b.binary("maximum", biased, b.full((2, 19, 17), 0.0, dtypes.float32))
    program = one_kernel([a, w_t, bias], [mm, out])
    ta, tw, tb = torch.randn(2, 19, 33), torch.randn(17, 33), torch.randn(17)
    (got_mm, got_out), module = run(program, [ta, tw, tb])
    torch.testing.assert_close(got_mm, ta @ tw.T, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_out, (ta @ tw.T + tb).relu(), atol=1e-5, rtol=1e-5)
    source = program.kernels[0].source
    assert "tl.dot(" in source and "@triton.autotune" in source and "GROUP_M" in source
    assert "# epilogue" in source and "tl.store(out" in source
    assert list(jit_functions(module)) == ["k0_matmul_add_maximum_kernel"]


def test_kernel_holding_a_reduction_that_feeds_a_scatter_is_split() -> None:
    x, g = inputs((3, 5, 4), (3, 1, 4))
    index = emit("argmax", x, axes=(1,), keepdim=True)
    zeros = b.full((3, 5, 4), 0.0, dtypes.float32)
    out = emit("scatter_add", zeros, index, g, axis=1)
    program = one_kernel([x, g], [out])
    tx, tg = torch.randn(3, 5, 4), torch.randn(3, 1, 4)
    (got,), _ = run(program, [tx, tg])
    torch.testing.assert_close(got, torch.zeros(3, 5, 4).scatter_add(1, tx.argmax(1, keepdim=True), tg))


def test_fused_and_unfused_programs_agree() -> None:
    x, w = inputs((6, 10), (10, 4))
    logits = b.matmul(b.unary("tanh", x), w)
    out = b.div(b.unary("exp", logits), b.expand(emit("sum", b.unary("exp", logits), axes=(1,), keepdim=True), (6, 4)))
    tx, tw = torch.randn(6, 10), torch.randn(10, 4)
    expected = torch.softmax(torch.tanh(tx) @ tw, 1)
    for fusion in (True, False):
        graph = Graph([x, w], [out])
        (got,) = [out.cpu() for out in compile_graph(graph, backend="triton", fusion=fusion)([tx, tw])]
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)


def test_every_kernel_comes_from_a_source_file_in_the_cache(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))
    x, w, index = inputs((2, 3, 6, 6), (4, 27), (2, 3))
    index = source_node(TensorType((2, 3), dtypes.int64))
    cols = emit("unfold", x, kernel_size=(3, 3), dilation=(1, 1), padding=(1, 1), stride=(1, 1), pad_value=0.0)
    conv = b.matmul(b.expand(b.reshape(w, (1, 4, 27)), (2, 4, 27)), cols)
    act = b.unary("sigmoid", conv)
    pooled = emit("max", act, axes=(2,), keepdim=False)
    picked = emit("scatter_add", b.full((2, 4), 0.0, dtypes.float32), index, b.reshape(emit("sum", x, axes=(2, 3), keepdim=False), (2, 3)), axis=1)
    graph = Graph([x, w, index], [pooled, picked])
    compiled = compile_graph(graph, backend="triton")
    values = [torch.randn(2, 3, 6, 6), torch.randn(4, 27), torch.randint(0, 4, (2, 3))]
    got_pooled, got_picked = (out.cpu() for out in compiled(values))
    reference = torch.sigmoid(torch.from_numpy(values[1].numpy()) @ torch.nn.functional.unfold(values[0], 3, padding=1)).amax(2)
    torch.testing.assert_close(got_pooled, reference, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(got_picked, torch.zeros(2, 4).scatter_add(1, values[2], values[0].sum((2, 3))), atol=1e-5, rtol=1e-5)

    module = compiled.module
    path = module.__file__
    assert path.startswith(str(tmp_path)) and os.path.exists(path)
    with open(path) as f:
        text = f.read()
    report = compiled.report
    assert report.kernels and all(k.path == path and k.source and k.source in text for k in report.kernels)
    functions = jit_functions(module)
    assert len(functions) >= len(report.kernels)
    for name, fn in functions.items():
        source = inspect.getsource(fn)
        assert inspect.getsourcefile(fn) == path and source in text and f"def {name}(" in source
    # the file is named by its content: compiling the same graph again imports the same file
    assert compile_graph(graph, backend="triton").module.__file__ == path


def test_backend_table_and_use_backend() -> None:
    assert "triton" in BACKENDS and "numpy" in BACKENDS
    (x,) = inputs((2, 2))
    with pytest.raises(GraphcError, match="unknown backend"):
        compile_graph(Graph([x], [b.unary("exp", x)]), backend="cuda-please")
    with graphc.use_backend("triton"):
        y = graphc.tensor([[1.0, 2.0]]) * 3
        assert y.numpy().tolist() == [[3.0, 6.0]]
        assert isinstance(y._node.data, torch.Tensor)
    # values realized by triton feed the numpy backend (and back) transparently
    assert (y + 1).numpy().tolist() == [[4.0, 7.0]]


def test_in_place_buffers_only_where_each_lane_reads_what_it_overwrites() -> None:
    """The memory plan lets a pointwise kernel write over an operand dying there; a gather must not."""
    x, w = inputs((4, 6), (6, 3))
    index = source_node(TensorType((4, 6), dtypes.int64))
    a = b.unary("exp", x)
    scaled = b.add(b.mul(a, 2.0), 1.0)
    gathered = emit("gather", a, index, axis=1)
    c, d = b.matmul(scaled, w), b.matmul(gathered, b.full((6, 2), 1.0, dtypes.float32))
    graph = Graph([x, w, index], [c, d])

    def kernel(position: int, out: Node, kind: str, stored: tuple[Node, ...] = ()) -> object:
        """``out`` and what it needs, down to graph inputs and values ``stored`` by other kernels."""
        members, stack = [], [out]
        while stack:
            n = stack.pop()
            if n.op in ("input", "parameter") or any(n is m for m in (*members, *stored)):
                continue
            members.append(n)
            stack.extend(n.inputs)
        k = kernel_for(position, [n for n in graph.nodes if any(n is m for m in members)], [out])
        k.kind = kind
        return k

    for gather_last in (False, True):  # whichever reads ``a`` last is offered its buffer
        middle = [kernel(1, gathered, "pointwise", (a,)), kernel(2, scaled, "pointwise", (a,))]
        ends = [kernel(3, c, "matmul", (scaled,)), kernel(4, d, "matmul", (gathered,))]
        program = Program(graph, [kernel(0, a, "pointwise"), *(middle[::-1] if gather_last else middle), *ends])
        assert plan_memory(program).buffers[-1].reuses == 0
        tx, tw, ti = torch.randn(4, 6), torch.randn(6, 3), torch.randint(0, 6, (4, 6))
        (got_c, got_d), module = run(program, [tx, tw, ti])
        torch.testing.assert_close(got_c, (tx.exp() * 2 + 1) @ tw)
        torch.testing.assert_close(got_d, tx.exp().gather(1, ti) @ torch.ones(6, 2))
        # element-for-element (scaled) keeps the reuse; a gather reads other lanes' elements, so it is dropped
        assert module.buffers()[-1][4] == (None if gather_last else 0)


def test_every_primitive_has_a_triton_lowering() -> None:
    from graphc.ir.registry import REGISTRY

    missing = sorted(set(REGISTRY) - {"input", "parameter"} - triton_codegen.SUPPORTED_OPS)
    assert not missing, f"add a Triton lowering for {missing} (docs/backends.md, 'Adding an op')"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_moving_to_cuda_without_a_gpu_is_a_clear_error() -> None:
    with graphc.use_backend("triton"):
        y = graphc.tensor([1.0, 2.0]) * 2
        assert y.device == "cpu" and y.to("cpu").numpy().tolist() == [2.0, 4.0]
        with pytest.raises(GraphcError, match="CUDA is not available"):
            y.to("cuda")


def test_an_autotuned_matmul_launch_never_writes_in_place() -> None:
    """Autotuning runs a matmul launch several times on the real buffers (on a GPU): an epilogue
    written over an operand read its own output from the second run on (an LSTM's gradients
    on an H200). The plan offers such reuses; the Triton program declines them."""
    from test_triton_training import MODELS, seed_training

    inputs_, labels, initial = seed_training("lstm")
    model = MODELS["lstm"][0]()
    model.load_state_dict(initial)

    def loss_and_grads(x: graphc.Tensor, y: graphc.Tensor) -> graphc.Tensor:
        loss = graphc.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        return loss

    compiled = graphc.compile(loss_and_grads, backend="triton")
    compiled(graphc.tensor(inputs_), graphc.tensor(labels))
    report = compiled.report()
    producer = {id(o): k for k in report.kernels for o in k.outputs}
    offered = [i for i, buffer in enumerate(report.plan.buffers) if buffer.reuses is not None and producer[id(buffer.node)].kind == "matmul"]
    assert offered
    with open(report.kernels[0].path) as file:
        module = import_source("triton_test_reuse", file.read())
    layout = module.buffers(*report.sizes.values())
    assert all(layout[i][4] is None for i in offered)


def test_an_empty_operand_of_a_pad_or_concat_is_never_loaded() -> None:
    """``y[:-1] = -y[:-1]`` on one row pads an empty region into place: its index simplified to an
    unmasked load at 0 of the empty buffer, past its end (a segfault under the interpreter, an
    illegal access on a GPU). An empty value is now the constant it is never selected as."""
    x, empty = inputs((2, 3), (0, 3))
    padded = emit("pad", empty, low=(1, 0), high=(1, 0), interior=(0, 0), value=2.0)
    joined = emit("concat", b.add(x, 1.0), empty, axis=0)
    program = one_kernel([x, empty], [b.add(padded, 0.5), joined])
    tx = torch.randn(2, 3)
    (got_padded, got_joined), _ = run(program, [tx, torch.zeros(0, 3)])
    torch.testing.assert_close(got_padded, torch.full((2, 3), 2.5))
    torch.testing.assert_close(got_joined, tx + 1)
    assert "in1 +" not in program.kernels[0].source  # the empty input's buffer is not read
