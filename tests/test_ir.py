"""The IR on its own: printer/parser round trip, the verifier's checks, symbolic shape
inference, and dtype promotion against torch.promote_types / torch.result_type."""

from __future__ import annotations

import itertools
import math

import pytest
import sympy
import torch

import graphc
from graphc.errors import GraphcError
from graphc.frontend import functional as F
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Graph, Node
from graphc.ir.parser import parse_graph
from graphc.ir.primitives.source import source_node
from graphc.ir.printer import format_graph
from graphc.ir.registry import emit, origin
from graphc.ir.types import TensorType
from graphc.ir.verifier import VerificationError, verify
from graphc.runtime.tensor import Tensor

B = sympy.Symbol("B")
f32, f64, i64, b8, f16 = dtypes.float32, dtypes.float64, dtypes.int64, dtypes.bool_, dtypes.float16


def inputs(*types: tuple) -> list[Node]:
    return [source_node(TensorType(shape, dtype)) for shape, dtype in types]


# ----------------------------------------------------------------------------- round trip


def graph_mlp() -> Graph:
    x, w, bias = inputs(((B, 50), f32), ((50, 30), f32), ((30,), f32))
    h = b.add(b.matmul(x, w), bias)
    y = b.where(b.compare("gt", h, 0.0), h, 0.0)
    loss = b.reduce("sum", b.mul(y, y), (0, 1), False)
    return Graph([x, w, bias], [y, loss])


def graph_attrs() -> Graph:
    """Attributes of every printed kind: tuples, floats, inf/-inf, bools, dtypes, symbolic bounds."""
    x, idx = inputs(((B, 3, 8, 8), f32), ((B, 4), i64))
    cols = emit("unfold", x, kernel_size=(3, 3), dilation=(1, 2), padding=(1, 2), stride=(2, 1), pad_value=-math.inf)
    back = emit(
        "fold",
        emit("unfold", x, kernel_size=(2, 2), dilation=(1, 1), padding=(0, 0), stride=(2, 2), pad_value=0.0),
        output_size=(8, 8),
        kernel_size=(2, 2),
        dilation=(1, 1),
        padding=(0, 0),
        stride=(2, 2),
    )
    padded = emit("pad", back, low=(0, 1, 0, 0), high=(0, 0, 2, 1), interior=(0, 0, 1, 0), value=math.inf)
    sliced = emit("slice", x, starts=(1, 0, 0, 2), stops=(B, 3, 8, 8), steps=(1, 2, 3, 1))
    half = b.cast(sliced, f16)
    scaled = b.mul(half, -1.5e-3)
    flags = b.compare("ne", b.cast(idx, f64), 1e300)
    picked = emit("gather", b.reshape(x, (B, 192)), idx, axis=1)
    count = emit("constant", value=True, dtype=b8)
    noise = emit("rand", emit("constant", value=7, dtype=i64), shape=(2, 3), dtype=f64)
    flat = b.reshape(cols, (B * 27 * 32,))
    cat = emit("concat", b.reshape(x, (B, 192)), b.reshape(x, (B, 192)), axis=1)
    am = emit("argmax", padded, axes=(2,), keepdim=True)
    return Graph([x, idx], [cols, padded, scaled, flags, picked, count, noise, flat, cat, am])


def graph_scalars_and_constants() -> Graph:
    (x,) = inputs(((), f64))
    y = b.add(b.mul(x, 2), -3)
    z = emit("detach", b.div(y, float("inf")))
    nan = emit("constant", value=float("nan"), dtype=f32)
    return Graph([x], [y, z, nan, b.unary("sigmoid", b.cast(x, f32))])


def graph_parameters() -> Graph:
    x = source_node(TensorType((4, B), f32))
    w = source_node(TensorType((B, 2), f32), op="parameter", requires_grad=True)
    return Graph([x, w], [b.permute(b.matmul(x, w), (1, 0))])


GRAPHS = [graph_mlp, graph_attrs, graph_scalars_and_constants, graph_parameters]


@pytest.mark.parametrize("make", GRAPHS, ids=lambda f: f.__name__)
def test_print_parse_round_trip(make) -> None:  # noqa: ANN001
    g = make()
    verify(g)
    text = str(g)
    parsed = parse_graph(text)
    verify(parsed)
    assert str(parsed) == text
    assert str(parse_graph(str(parsed))) == text
    assert [str(n.type) for n in parsed.nodes] == [str(n.type) for n in g.nodes]


def test_printed_form_is_readable() -> None:
    text = str(graph_mlp())
    lines = text.splitlines()
    assert lines[0] == "%0: f32[B,50] = input()"
    assert "%3: f32[B,30] = matmul(%0, %1)" in lines
    assert "%6: f32[B,30] = add(%3, %5)" in lines
    assert "%16: f32[] = sum(%15, axes=(0, 1), keepdim=False)" in lines
    assert lines[-1] == "return (%14, %16)"
    attrs = str(graph_attrs())
    assert "pad_value=-inf)" in attrs and "value=inf)" in attrs and "dtype=f16" in attrs
    assert "%6: f32[B-1,2,3,6] = slice(%0, starts=(1, 0, 0, 2), stops=(B, 3, 8, 8), steps=(1, 2, 3, 1))" in attrs


def test_round_trip_with_locations_and_phase(tmp_path) -> None:  # noqa: ANN001
    (x,) = inputs(((3,), f32))
    y = b.unary("exp", x)
    with origin("backward", "model.py:12"):
        z = b.mul(y, 2.0)
    g = Graph([x], [z])
    text = format_graph(g, with_locations=True)
    assert "# [backward] model.py:12" in text
    parsed = parse_graph(text)
    assert format_graph(parsed, with_locations=True) == text
    assert parsed.outputs[0].phase == "backward" and parsed.outputs[0].loc == "model.py:12"
    path = str(tmp_path / "g.ir")
    g.save(path)
    assert format_graph(Graph.load(path), with_locations=True) == text


def test_parser_rejects_bad_text() -> None:
    with pytest.raises(GraphcError, match="declared type"):
        parse_graph("%0: f32[3] = input()\n%1: f64[3] = exp(%0)\nreturn (%1)")
    with pytest.raises(GraphcError, match="cannot parse"):
        parse_graph("%0: f32[3] = input()\nthis is not IR\nreturn (%0)")
    with pytest.raises(GraphcError, match="unknown primitive"):
        parse_graph("%0: f32[3] = input()\n%1: f32[3] = frobnicate(%0)\nreturn (%1)")
    with pytest.raises(GraphcError, match="return"):
        parse_graph("%0: f32[3] = input()")
    with pytest.raises(GraphcError, match="%7"):
        parse_graph("%0: f32[3] = input()\n%1: f32[3] = exp(%7)\nreturn (%1)")
    with pytest.raises(GraphcError, match="%9"):
        parse_graph("%0: f32[3] = input()\nreturn (%9)")


# ----------------------------------------------------------------------------- verifier


def test_verifier_accepts_frontend_graphs() -> None:
    x = Tensor._from_node(source_node(TensorType((B, 4), f32)))
    y = F.softmax(x @ graphc.ones(4, 5), -1).sum(0)
    verify(Graph([x._node] + [n for n in _leaves(y._node) if n is not x._node], [y._node]))


def _leaves(node: Node) -> list[Node]:
    from graphc.ir.graph import toposort

    return [n for n in toposort([node]) if n.op in ("input", "parameter")]


def test_verifier_dangling_use() -> None:
    """A use before the definition: two nodes that read each other (so neither is defined first)."""
    (x,) = inputs(((3,), f32))
    a = b.unary("exp", x)
    c = b.unary("exp", a)
    a.inputs = (c,)  # a now reads c, which reads a
    with pytest.raises(VerificationError, match="dangling"):
        verify(Graph([x], [c]))


def test_verifier_operand_not_in_graph() -> None:
    """An operand that the graph does not define: an input node missing from graph.inputs."""
    x, y = inputs(((3,), f32), ((3,), f32))
    with pytest.raises(VerificationError, match="not among the graph's inputs"):
        verify(Graph([x], [b.add(x, y)]))


def test_verifier_wrong_declared_type() -> None:
    x, y = inputs(((3, 4), f32), ((3, 4), f32))
    wrong_shape = Node("add", (x, y), {}, TensorType((4, 3), f32))
    with pytest.raises(VerificationError, match=r"typed f32\[4,3\]"):
        verify(Graph([x, y], [wrong_shape]))
    wrong_dtype = Node("matmul", (x, b.permute(y, (1, 0))), {}, TensorType((3, 3), f64))
    with pytest.raises(VerificationError, match=r"typed f64\[3,3\] but its operands give f32\[3,3\]"):
        verify(Graph([x, y], [wrong_dtype]))


def test_verifier_ill_typed_operands() -> None:
    x, y = inputs(((3, 4), f32), ((3, 4), f64))
    with pytest.raises(VerificationError, match="ill-typed"):
        verify(Graph([x, y], [Node("add", (x, y), {}, TensorType((3, 4), f32))]))
    (z,) = inputs(((4, 3), f32))
    with pytest.raises(VerificationError, match="ill-typed"):
        verify(Graph([x, z], [Node("add", (x, z), {}, TensorType((3, 4), f32))]))
    with pytest.raises(VerificationError, match="ill-typed"):
        verify(Graph([x], [Node("matmul", (x, x), {}, TensorType((3, 4), f32))]))


def test_verifier_input_not_listed() -> None:
    x, y = inputs(((2,), f32), ((2,), f32))
    with pytest.raises(VerificationError, match="not among the graph's inputs"):
        verify(Graph([x], [b.mul(x, b.unary("exp", y))]))


def test_verifier_other_malformed_graphs() -> None:
    (x,) = inputs(((2,), f32))
    computed = b.unary("exp", x)
    with pytest.raises(VerificationError, match="not an input"):
        verify(Graph([computed], [computed]))
    with pytest.raises(VerificationError, match="defined twice"):
        verify(Graph([x, x], [b.unary("exp", x)]))
    with pytest.raises(VerificationError, match="malformed attributes"):
        verify(Graph([x], [Node("sum", (x,), {"axes": (0,)}, TensorType((), f32))]))
    with pytest.raises(VerificationError, match="unknown primitive"):
        verify(Graph([x], [Node("frobnicate", (x,), {}, TensorType((2,), f32))]))


# ----------------------------------------------------------------------------- symbolic shapes


def symbolic(*shape: object, dtype: dtypes.DType = f32) -> Tensor:
    return Tensor._from_node(source_node(TensorType(shape, dtype)))


def test_symbolic_matmul_broadcast_reshape() -> None:
    x, w = symbolic(B, 50), symbolic(50, 30)
    y = x @ w
    assert y.shape == (B, 30) and str(y._node.type) == "f32[B,30]"
    assert (symbolic(B, 1, 4) + symbolic(3, 1)).shape == (B, 3, 4)
    assert (symbolic(B, 4) * symbolic(B, 4)).shape == (B, 4)
    assert (symbolic(1, 4) - symbolic(B, 1)).shape == (B, 4)
    assert (symbolic(B, 4) + 1.0).shape == (B, 4)
    assert x.reshape(B, 5, 10).shape == (B, 5, 10)
    assert x.reshape(-1, 10).shape == (5 * B, 10)
    assert x.reshape(-1).shape == (50 * B,)
    assert x.view(B, -1, 2).shape == (B, 25, 2)
    assert x.flatten().shape == (50 * B,)
    assert symbolic(B, 2, 3).flatten(1).shape == (B, 6)
    assert x.T.shape == (50, B)
    assert x.unsqueeze(1).shape == (B, 1, 50)
    assert x.sum(0).shape == (50,) and x.mean(0, keepdim=True).shape == (1, 50) and x.sum(1).shape == (B,)
    assert x[:, 1:].shape == (B, 49)
    assert x[1:].shape == (B - 1, 50)
    assert graphc.cat([x, x], 0).shape == (2 * B, 50)
    assert graphc.stack([x, x], 1).shape == (B, 2, 50)
    assert (symbolic(B, 3, 4) @ symbolic(4, 5)).shape == (B, 3, 5)
    assert symbolic(B, 3).expand(2, B, 3).shape == (2, B, 3)


def test_symbolic_shape_errors() -> None:
    with pytest.raises(GraphcError, match="broadcast"):
        symbolic(B, 4) + symbolic(3, 4)
    with pytest.raises(GraphcError, match="matmul"):
        symbolic(B, 50) @ symbolic(B, 30)
    with pytest.raises(GraphcError, match="reshape"):
        symbolic(B, 50).reshape(B, 7)


def test_symbolic_graph_compiles_for_any_batch() -> None:
    import numpy as np

    from graphc.runtime.executor import compile_graph

    x, w = inputs(((B, 4), f32), ((4, 3), f32))
    y = b.reduce("sum", b.matmul(x, w), (1,), False)
    program = compile_graph(Graph([x, w], [y]), backend="numpy")
    wv = np.arange(12, dtype=np.float32).reshape(4, 3)
    for batch in (2, 5):
        xv = np.ones((batch, 4), dtype=np.float32)
        (out,) = program([xv, wv])
        np.testing.assert_allclose(out, (xv @ wv).sum(1))


# ----------------------------------------------------------------------------- promotion

ALL = list(dtypes.ALL_DTYPES)


def t_dtype(d: dtypes.DType) -> torch.dtype:
    return getattr(torch, d.name)


@pytest.mark.parametrize("a, c", list(itertools.product(ALL, ALL)), ids=lambda d: d.name)
def test_promote_types_matches_torch(a: dtypes.DType, c: dtypes.DType) -> None:
    assert dtypes.promote_types(a, c).name == str(torch.promote_types(t_dtype(a), t_dtype(c))).removeprefix("torch.")


@pytest.mark.parametrize("a, c", list(itertools.product(ALL, ALL)), ids=lambda d: d.name)
def test_result_type_of_tensors_matches_torch(a: dtypes.DType, c: dtypes.DType) -> None:
    dim_a, dim_c = torch.ones(2, dtype=t_dtype(a)), torch.ones(2, dtype=t_dtype(c))
    zero_a, zero_c = torch.ones((), dtype=t_dtype(a)), torch.ones((), dtype=t_dtype(c))

    def name(d: torch.dtype) -> str:
        return str(d).removeprefix("torch.")

    assert dtypes.result_type([a, c], [], []).name == name(torch.result_type(dim_a, dim_c))
    assert dtypes.result_type([a], [c], []).name == name(torch.result_type(dim_a, zero_c))
    assert dtypes.result_type([], [a, c], []).name == name(torch.result_type(zero_a, zero_c))
    # through the node builder, as the front end uses it
    na, nc = inputs(((2,), a), ((), c))
    assert b.result_dtype(na, nc).name == name(torch.result_type(dim_a, zero_c))


@pytest.mark.parametrize("scalar", [True, 3, -2.5], ids=repr)
@pytest.mark.parametrize("a", ALL, ids=lambda d: d.name)
def test_result_type_with_python_scalars_matches_torch(a: dtypes.DType, scalar: object) -> None:
    def name(d: torch.dtype) -> str:
        return str(d).removeprefix("torch.")

    s = dtypes.scalar_dtype(scalar)  # type: ignore[arg-type]
    assert dtypes.result_type([a], [], [s]).name == name(torch.result_type(torch.ones(2, dtype=t_dtype(a)), scalar))
    assert dtypes.result_type([], [a], [s]).name == name(torch.result_type(torch.ones((), dtype=t_dtype(a)), scalar))
    (na,) = inputs(((2,), a))
    assert b.result_dtype(na, scalar).name == name(torch.result_type(torch.ones(2, dtype=t_dtype(a)), scalar))


def test_result_type_mixed_classes() -> None:
    """Dimensioned, 0-d and scalar operands together (where(cond, int32 tensor, 0-d float16) and the like)."""
    cases = [([dtypes.int32], [f16], [f32]), ([b8], [dtypes.int32], [i64]), ([dtypes.int32], [i64], [f32]), ([f16], [f64], [f32]), ([b8], [b8], [f32])]
    for dim, zero, scalars in cases:
        operands = [torch.ones(2, dtype=t_dtype(d)) for d in dim] + [torch.ones((), dtype=t_dtype(d)) for d in zero]
        want = operands[0]
        for o in operands[1:]:
            want = torch.ones(2, dtype=torch.result_type(want, o)) if want.dim() else torch.ones((), dtype=torch.result_type(want, o))
        scalar = {f32: 1.5, i64: 2, b8: True}[scalars[0]]
        expected = torch.result_type(torch.ones(2, dtype=torch.result_type(*operands)), scalar)
        assert dtypes.result_type(dim, zero, scalars).name == str(expected).removeprefix("torch.")


def test_dtype_conversions() -> None:
    for d in ALL:
        assert dtypes.to_dtype(t_dtype(d)) is d
        assert dtypes.to_dtype(d.name) is d
        assert dtypes.to_dtype(d.numpy) is d
    for python_type in (float, int, bool):  # torch reads float as float64
        assert dtypes.to_dtype(python_type).name == str(torch.zeros(1, dtype=python_type).dtype).removeprefix("torch.")
    assert dtypes.to_dtype("torch.float64") is f64 and dtypes.to_dtype("double") is f64
    with pytest.raises(TypeError):
        dtypes.to_dtype("complex64")
