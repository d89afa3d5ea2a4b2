"""Every primitive on the triton backend against torch (on a CPU, Triton's interpreter runs the kernels).

Shapes are small: the interpreter costs about a millisecond per program instance.
Inputs include broadcasts, transposes, strided slices and reshapes of permuted
views, so the index arithmetic of loads is exercised, not only contiguous reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import sympy
import torch
import torch.nn.functional as TF

import graphc
import graphc.nn.functional as GF
from graphc.codegen import triton as triton_codegen  # noqa: F401 - chooses GPU or interpreter before triton_support
from graphc.codegen import triton_support as rt
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Graph
from graphc.ir.primitives.source import source_node
from graphc.ir.registry import emit
from graphc.ir.types import TensorType
from graphc.runtime.executor import compile_graph

RNG = np.random.default_rng(0)


def data(*shape: int, dtype: type = np.float32, positive: bool = False) -> np.ndarray:
    x = RNG.standard_normal(shape)
    return (np.abs(x) + 0.1 if positive else x).astype(dtype)


def check(fn_graphc: Callable, fn_torch: Callable, *arrays: np.ndarray, atol: float = 1e-5, rtol: float = 1.3e-6) -> None:
    """Run ``fn_graphc`` on graphc tensors with the triton backend and compare with ``fn_torch``."""
    with graphc.use_backend("triton"):
        out = fn_graphc(*[graphc.tensor(a) for a in arrays])
        results = out if isinstance(out, tuple) else (out,)
        got = [r.numpy() for r in results]
    expected = fn_torch(*[torch.from_numpy(a.copy()) for a in arrays])
    expected = expected if isinstance(expected, tuple) else (expected,)
    for g, e in zip(got, expected):
        assert g.shape == tuple(e.shape)
        assert g.dtype == e.numpy().dtype, (g.dtype, e.dtype)
        np.testing.assert_allclose(g, e.numpy(), atol=atol, rtol=rtol)


def run_graph(build: Callable, inputs: list[torch.Tensor], types: list[tuple], fusion: bool = True) -> list[torch.Tensor]:
    """Compile a graph built directly from primitives on the triton backend and run it on torch tensors."""
    nodes = [source_node(TensorType(shape, dtype)) for shape, dtype in types]
    outs = build(*nodes)
    graph = Graph(nodes, list(outs) if isinstance(outs, (list, tuple)) else [outs])
    return [out.cpu() for out in compile_graph(graph, backend="triton", fusion=fusion)(inputs)]  # on a GPU they come back on it


# ----------------------------------------------------------------------------- elementwise


@pytest.mark.parametrize("op", ["neg", "exp", "sin", "cos", "tanh", "erf", "abs", "sign", "sigmoid", "atan", "expm1", "exp2"])
def test_unary(op: str) -> None:
    x = data(5, 7)
    x[0, :3] = [0.0, 1e-4, -30.0]
    check(getattr(graphc, op), getattr(torch, op), x)


@pytest.mark.parametrize("op", ["log", "sqrt", "rsqrt", "reciprocal", "log1p", "log2"])
def test_unary_positive(op: str) -> None:
    check(getattr(graphc, op), getattr(torch, op), data(5, 7, positive=True))


def test_tanh_and_log1p_are_accurate_near_zero_and_saturate() -> None:
    x = np.array([0.0, 1e-7, -1e-5, 0.01, 0.29, 0.31, -0.7, 5.0, -20.0, 50.0], dtype=np.float64)
    check(graphc.tanh, torch.tanh, x, rtol=1e-14, atol=0)
    check(graphc.log1p, torch.log1p, x[:8] * 0.5, rtol=1e-14, atol=0)


def test_atan_and_expm1_are_accurate_across_magnitudes_and_keep_signed_zeros() -> None:
    """atan's range reduction and polynomials (float64: 1e-15; float32: a few ulps), expm1's Kahan quotient near 0."""
    x = np.concatenate([[0.0, -0.0, 1e-300, -1e-9, 0.4142, 0.4143, 1.0, 2.4142, 2.4143, -7.5, 1e15, -1e300], RNG.standard_normal(40) * 3])
    check(graphc.atan, torch.atan, x, rtol=1e-15, atol=0)
    check(graphc.atan, torch.atan, x.astype(np.float32), rtol=4 * 2.0**-24, atol=0)
    check(graphc.expm1, torch.expm1, x[:10] * 1e-3, rtol=1e-15, atol=0)
    check(graphc.expm1, torch.expm1, x[12:], rtol=1e-15, atol=0)
    with graphc.use_backend("triton"):
        assert np.signbit(graphc.atan(graphc.tensor(x[:2])).numpy()).tolist() == [False, True]
        assert np.signbit(graphc.expm1(graphc.tensor(x[:2])).numpy()).tolist() == [False, True]
        assert graphc.atan(graphc.tensor([math.inf, -math.inf], dtype=graphc.float64)).numpy().tolist() == [math.pi / 2, -math.pi / 2]


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge"])
def test_binary(op: str) -> None:
    a, c = data(4, 6), data(4, 6)
    a[0, 0], c[0, 1], c[1, 1] = np.nan, np.nan, a[1, 1]
    check(getattr(graphc, op), getattr(torch, op), a, c)


@pytest.mark.parametrize("op", ["floor", "ceil", "round", "trunc", "floor_divide", "remainder", "fmod"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64], ids=["float32", "float64", "int64"])
def test_rounding_and_division(op: str, dtype: type) -> None:
    """Exact, so compared exactly: halves, both signs, and the divisions' helpers (the exact fmod, integer division)."""
    a = np.round(data(4, 6) * 8) / 2 if dtype != np.int64 else RNG.integers(-2**40, 2**40, (4, 6))
    c = data(4, 6) * 3 if dtype != np.int64 else RNG.choice([-7, -2, -1, 1, 3], (4, 6))
    arrays = (a.astype(dtype),) if op in ("floor", "ceil", "round", "trunc") else (a.astype(dtype), c.astype(dtype))
    check(getattr(graphc, op), getattr(torch, op), *arrays, atol=0, rtol=0)


def test_logical_ops_and_where() -> None:
    a, c = data(4, 6), data(4, 6)
    check(lambda x, y: ((x > 0) & (y > 0)) | ~(x > y), lambda x, y: ((x > 0) & (y > 0)) | ~(x > y), a, c)
    check(lambda x, y: graphc.where(x > y, x, y * 2), lambda x, y: torch.where(x > y, x, y * 2), a, c)


def test_pow_general_constant_and_integer_exponents() -> None:
    base, exponent = data(4, 6, positive=True), data(4, 6)
    check(graphc.pow, torch.pow, base, exponent, rtol=1e-5)
    signed = data(4, 6)
    check(lambda x: x**2, lambda x: x**2, signed)
    check(lambda x: x**0.5, lambda x: x**0.5, base)
    check(lambda x: x**-1.5, lambda x: x**-1.5, base, rtol=1e-5)
    whole = np.round(data(4, 6) * 2)
    check(graphc.pow, torch.pow, signed, whole, rtol=1e-5, atol=1e-5)  # negative bases, integral exponents
    ints, small = RNG.integers(-4, 5, (3, 5)), RNG.integers(0, 6, (3, 5))
    check(graphc.pow, torch.pow, ints, small)


def test_cast_between_dtypes() -> None:
    x = data(4, 6) * 3
    check(lambda t: t.to(graphc.int64), lambda t: t.to(torch.int64), x)
    check(lambda t: t.to(graphc.int32).to(graphc.float64), lambda t: t.to(torch.int32).to(torch.float64), x)
    check(lambda t: (t > 0).to(graphc.float32) + t.to(graphc.bool).to(graphc.float32), lambda t: (t > 0).float() + t.bool().float(), x)
    check(lambda t: t.to(graphc.float16).to(graphc.float32) * 3, lambda t: t.half().float() * 3, x)


def test_half_and_double_precision() -> None:
    a, c = data(5, 6), data(5, 6)
    check(lambda x, y: (x * y + x).exp(), lambda x, y: (x * y + x).exp(), a.astype(np.float64), c.astype(np.float64), rtol=1e-12)
    half = (a.astype(np.float16), c.astype(np.float16))
    # float32 registers between the ops (no rounding to half after each op), rounded when stored
    check(lambda x, y: (x * y + x).tanh(), lambda x, y: (x.float() * y.float() + x.float()).tanh().half(), *half, atol=1e-3, rtol=1e-3)
    check(lambda x: x.sum(1), lambda x: x.float().sum(1).half(), half[0], atol=2e-3, rtol=1e-3)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
def test_half_precision_matmul_accumulates_in_float32(dtype: torch.dtype) -> None:
    a, w = torch.from_numpy(data(5, 8)).to(dtype), torch.from_numpy(data(8, 3)).to(dtype)
    with graphc.use_backend("triton"):
        got = (graphc.tensor(a) @ graphc.tensor(w)).numpy().astype(np.float32)
    expected = (a.float() @ w.float()).to(dtype).float().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-2, atol=1e-2)


# ----------------------------------------------------------------------------- movement as index arithmetic


def test_views_become_index_arithmetic() -> None:
    x, row = data(4, 6), data(6)
    check(lambda t, r: t + r, lambda t, r: t + r, x, row)  # broadcast: stride 0
    check(lambda t: t.T * 2, lambda t: t.T * 2, x)
    check(lambda t: t[1:4, ::2] + 1, lambda t: t[1:4, ::2] + 1, x)
    check(lambda t: t.T.reshape(3, 8) + 1, lambda t: t.T.reshape(3, 8) + 1, x)  # reshape of a permuted view
    y = data(2, 3, 4)
    check(lambda t: t.permute(2, 0, 1).reshape(4, 6)[::3, 1:] * 1, lambda t: t.permute(2, 0, 1).reshape(4, 6)[::3, 1:] * 1, y)
    check(lambda t: t.unsqueeze(1).expand(2, 5, 3, 4).reshape(10, 12) + 0, lambda t: t.unsqueeze(1).expand(2, 5, 3, 4).reshape(10, 12) + 0, y)


def test_views_returned_as_outputs_are_copies() -> None:
    x = data(3, 5)
    check(lambda t: t.T, lambda t: t.T.contiguous(), x)
    check(lambda t: t[:, 1:3], lambda t: t[:, 1:3].contiguous(), x)


def test_concat_and_pad() -> None:
    a, c = data(4, 3), data(4, 5)
    check(lambda x, y: graphc.cat([x, y * 2, x], 1), lambda x, y: torch.cat([x, y * 2, x], 1), a, c)
    check(lambda x, y: graphc.cat([x.T, y.T], 0), lambda x, y: torch.cat([x.T, y.T], 0), a, c)
    check(lambda x: GF.pad(x, (1, 2, 0, 3), value=-2.0), lambda x: TF.pad(x, (1, 2, 0, 3), value=-2.0), a)
    x = torch.from_numpy(data(3, 4))
    (out,) = run_graph(lambda t: emit("pad", t, low=(1, 0), high=(2, 3), interior=(1, 2), value=-1.0), [x], [((3, 4), dtypes.float32)])
    expected = torch.full((8, 13), -1.0)
    expected[1:6:2, 0:10:3] = x
    torch.testing.assert_close(out, expected, rtol=0, atol=0)


def test_strided_and_transposed_torch_inputs() -> None:
    for x in (torch.randn(6, 8)[:, ::2], torch.randn(5, 4).T):
        (out,) = run_graph(lambda t: b.unary("exp", t), [x], [(tuple(x.shape), dtypes.float32)])
        torch.testing.assert_close(out, x.exp())


def test_constants_and_filled_tensors() -> None:
    check(lambda x: x * 0 + graphc.full((4, 6), 2.5), lambda x: x * 0 + torch.full((4, 6), 2.5), data(4, 6))
    with graphc.use_backend("triton"):
        assert graphc.zeros(3, dtype=graphc.int64).sum().item() == 0
        assert (graphc.ones(2, 3) * 2).numpy().tolist() == [[2.0] * 3] * 2


def test_empty_and_zero_dimensional_tensors() -> None:
    outs = run_graph(lambda t: [b.unary("exp", t), b.reduce("sum", t, 0), b.reduce("sum", t, 1)], [torch.randn(0, 3)], [((0, 3), dtypes.float32)])
    assert outs[0].shape == (0, 3) and outs[2].shape == (0,)
    torch.testing.assert_close(outs[1], torch.zeros(3))
    s = torch.tensor(1.5)
    outs = run_graph(lambda t: [b.unary("exp", t), b.mul(t, t), b.reduce("max", t, None)], [s], [((), dtypes.float32)])
    torch.testing.assert_close(outs[0], s.exp())
    torch.testing.assert_close(outs[1], s * s)


# ----------------------------------------------------------------------------- reductions


REDUCTIONS = [
    ("sum", lambda t, d, k: t.sum(d, keepdim=k), lambda t, d, k: t.sum(d, keepdim=k)),
    ("amax", lambda t, d, k: t.amax(d, keepdim=k), lambda t, d, k: t.amax(d, keepdim=k)),
    ("amin", lambda t, d, k: t.amin(d, keepdim=k), lambda t, d, k: t.amin(d, keepdim=k)),
    ("argmax", lambda t, d, k: t.argmax(d, keepdim=k), lambda t, d, k: t.argmax(d, keepdim=k)),
]


@pytest.mark.parametrize("name,ours,theirs", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@pytest.mark.parametrize("looped", [False, True], ids=["row-in-registers", "looped-row"])
def test_reductions_over_last_inner_and_first_axes(name: str, ours: Callable, theirs: Callable, looped: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if looped:  # rows longer than 8 elements take the loop over blocks of 4
        monkeypatch.setattr(rt, "MAX_PERSISTENT_RBLOCK", 8)
        monkeypatch.setattr(rt, "LOOPED_RBLOCK", 4)
        monkeypatch.setattr(rt, "FEW_ROWS_RBLOCK", 4)
    chosen = []
    choose = rt.reduction_blocks
    monkeypatch.setattr(rt, "reduction_blocks", lambda x, r: chosen.append(choose(x, r)) or chosen[-1])
    x = np.round(data(9, 11, 10) * 2)  # ties, so argmax must take the first maximum
    x[1, 4, 2] = np.nan
    for dim, keep in [(2, False), (1, True), (0, False), ((0, 2), True)]:
        if name == "argmax" and isinstance(dim, tuple):
            continue
        check(lambda t, dim=dim, keep=keep: ours(t, dim, keep), lambda t, dim=dim, keep=keep: theirs(t, dim, keep), x, rtol=1e-5)
    assert {persistent for persistent, _, _, _ in chosen} == ({False} if looped else {True})


def test_full_reduction_and_reductions_with_prologue_and_epilogue(monkeypatch: pytest.MonkeyPatch) -> None:
    x = data(6, 37)
    for limit in (1 << 16, 16):
        monkeypatch.setattr(rt, "MAX_PERSISTENT_RBLOCK", limit)
        monkeypatch.setattr(rt, "LOOPED_RBLOCK", 16)
        monkeypatch.setattr(rt, "FEW_ROWS_RBLOCK", 16)
        check(lambda t: t.sum(), lambda t: t.sum(), x, rtol=1e-5)
        check(lambda t: graphc.softmax(t, 1), lambda t: torch.softmax(t, 1), x)
        check(lambda t: graphc.log_softmax(t, 0), lambda t: torch.log_softmax(t, 0), x)
        check(lambda t: GF.layer_norm(t, (37,)), lambda t: TF.layer_norm(t, (37,)), x, atol=1e-5)
        check(lambda t: t.var(1) + t.max(1)[0], lambda t: t.var(1) + t.max(1)[0], x, rtol=1e-5)


def test_integer_and_bool_reductions() -> None:
    x = RNG.integers(-50, 50, (4, 9))
    check(lambda t: (t.sum(1), t.amax(0), t.argmax(1)), lambda t: (t.sum(1), t.amax(0), t.argmax(1)), x)
    check(lambda t: ((t > 0).all(1), (t > 40).any(0)), lambda t: ((t > 0).all(1), (t > 40).any(0)), x)


@pytest.mark.parametrize(
    "shape, fn",
    [
        ((3, 1), lambda t: t.softmax(0)),
        ((3, 1), lambda t: t - t.sum(0, keepdim=True)),
        ((3, 1), lambda t: t.var(0)),
        ((1, 4), lambda t: t.log_softmax(1)),
        ((1, 4), lambda t: TF.layer_norm(t, (4,)) if isinstance(t, torch.Tensor) else GF.layer_norm(t, (4,))),
    ],
    ids=["softmax-column", "centre-column", "var-column", "log_softmax-row", "layer_norm-row"],
)
def test_reductions_whose_kept_axes_all_have_size_one(shape: tuple, fn: Callable) -> None:
    """A batch of one row: the template's row index over a size-1 axis and a broadcast's 0 name one element."""
    check(fn, fn, data(*shape))


def test_a_sum_over_a_batch_of_one_fused_with_row_reductions() -> None:
    """The sum over the size-1 batch is the row itself: an output of another rank at the rows' level."""
    check(lambda t: (t.softmax(1) * t.sum(1, keepdim=True)).sum(0), lambda t: (t.softmax(1) * t.sum(1, keepdim=True)).sum(0), data(1, 4))


def test_a_batch_of_one_through_a_linear_layer_and_softmax() -> None:
    x, w = data(1, 5), data(3, 5)
    check(lambda a, b: (a @ b.T).softmax(1), lambda a, b: (a @ b.T).softmax(1), x, w)


def test_symbolic_rows_are_runtime_sizes() -> None:
    batch = sympy.Symbol("B", positive=True, integer=True)
    graph_input = source_node(TensorType((batch, 9), dtypes.float32))
    graph = Graph([graph_input], [b.reduce("sum", b.mul(graph_input, graph_input), 0), b.reduce("max", graph_input, 1)])
    program = compile_graph(graph, backend="triton")
    for n in (1, 5, 13):
        x = torch.randn(n, 9)
        total, top = (out.cpu() for out in program([x]))
        torch.testing.assert_close(total, (x * x).sum(0))
        torch.testing.assert_close(top, x.amax(1))


# ----------------------------------------------------------------------------- matmul


@pytest.mark.parametrize(
    "shapes",
    [((5, 7), (7, 3)), ((33, 17), (17, 40)), ((1, 9), (9, 5)), ((3, 20, 6), (3, 6, 18)), ((2, 1, 4, 8), (3, 8, 5))],
    ids=["small", "odd", "row", "batched", "broadcast-batch"],
)
def test_matmul(shapes: tuple) -> None:
    check(graphc.matmul, torch.matmul, data(*shapes[0]), data(*shapes[1]), atol=1e-5, rtol=1e-5)


def test_matmul_transposed_operands_epilogue_and_dtypes() -> None:
    a, c, bias = data(9, 33), data(21, 33), data(21)
    check(lambda x, y: x @ y.T, lambda x, y: x @ y.T, a, c, atol=1e-5, rtol=1e-5)
    check(lambda x, y: (y.T.T @ x.T).T, lambda x, y: (y @ x.T).T, a, c, atol=1e-5, rtol=1e-5)
    check(lambda x, y, z: (GF.linear(x, y, z)).relu(), lambda x, y, z: TF.linear(x, y, z).relu(), a, c, bias, atol=1e-5, rtol=1e-5)
    check(lambda x, y: x @ y.T, lambda x, y: x @ y.T, a.astype(np.float64), c.astype(np.float64), rtol=1e-12)
    check(lambda x, y: x @ y.T, lambda x, y: (x.float() @ y.float().T).half(), a.astype(np.float16), c.astype(np.float16), atol=1e-2, rtol=1e-3)
    ints = RNG.integers(-5, 5, (6, 7)), RNG.integers(-5, 5, (7, 4))
    check(graphc.matmul, torch.matmul, *ints)


def test_matmul_operand_that_is_not_a_strided_view_is_materialized() -> None:
    x, w = data(3, 4, 5), data(6, 2)
    # reshape of a permuted view needs division in its index: it is copied before the matmul
    check(lambda t, v: t.permute(2, 0, 1).reshape(10, 6) @ v, lambda t, v: t.permute(2, 0, 1).reshape(10, 6) @ v, x, w, atol=1e-5, rtol=1e-5)
    check(lambda t, v: GF.pad(t.reshape(12, 5), (0, 1)) @ v, lambda t, v: TF.pad(t.reshape(12, 5), (0, 1)) @ v, x, w, atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------- windows, indexing, random


@pytest.mark.parametrize("kernel,dilation,padding,stride", [(3, 1, 1, 1), ((2, 3), (2, 1), (1, 0), (2, 1))], ids=["same", "dilated-strided"])
def test_unfold_fold_and_conv(kernel: object, dilation: object, padding: object, stride: object) -> None:
    x = data(2, 3, 7, 6)
    args = {"dilation": dilation, "padding": padding, "stride": stride}
    check(lambda t: GF.unfold(t, kernel, **args), lambda t: TF.unfold(t, kernel, **args), x)
    cols = TF.unfold(torch.from_numpy(x), kernel, **args).numpy()
    check(lambda t: GF.fold(t, (7, 6), kernel, **args), lambda t: TF.fold(t, (7, 6), kernel, **args), cols, rtol=1e-5)
    w = data(4, 3, *((kernel, kernel) if isinstance(kernel, int) else kernel))
    check(lambda t, v: GF.conv2d(t, v, **args), lambda t, v: TF.conv2d(t, v, **args), x, w, atol=1e-5, rtol=1e-5)


def test_pooling() -> None:
    x = data(2, 3, 8, 6)
    check(lambda t: GF.max_pool2d(t, 2), lambda t: TF.max_pool2d(t, 2), x)
    check(lambda t: GF.avg_pool2d(t, 3, stride=2, padding=1), lambda t: TF.avg_pool2d(t, 3, stride=2, padding=1), x)


def test_gather_scatter_add_and_index_select() -> None:
    x, src = data(4, 6), data(4, 3)
    index = RNG.integers(0, 6, (4, 3))
    check(lambda t, i: graphc.gather(t, 1, i), lambda t, i: torch.gather(t, 1, i), x, index)
    check(lambda t, i: graphc.gather(t.T, 0, i.T), lambda t, i: torch.gather(t.T, 0, i.T), x, index)
    check(lambda t, i, s: graphc.scatter_add(t, 1, i, s), lambda t, i, s: torch.scatter_add(t, 1, i, s), x, index, src)
    flat = RNG.integers(0, 4, 10)
    check(lambda t, i: graphc.zeros(4).scatter_add(0, i, t), lambda t, i: torch.zeros(4).scatter_add(0, i, t), data(10), flat, rtol=1e-5)
    rows = np.array([5, 0, 2, 2])
    check(lambda t, i: graphc.index_select(t, 1, i), lambda t, i: torch.index_select(t, 1, i), x, rows)
    check(lambda t, i: graphc.index_select(t * 2, 0, i), lambda t, i: torch.index_select(t * 2, 0, i), x, rows[[1, 2, 3]])


def test_rand_is_uniform_in_0_1_and_keyed_by_its_seed() -> None:
    def draw(seed: int, dtype: dtypes.DType = dtypes.float32) -> torch.Tensor:
        (out,) = run_graph(lambda s: emit("rand", s, shape=(64, 50), dtype=dtype), [torch.tensor(seed)], [((), dtypes.int64)])
        return out

    first, again, other = draw(3), draw(3), draw(4)
    assert first.dtype == torch.float32 and first.shape == (64, 50)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert float(first.min()) >= 0 and float(first.max()) < 1
    assert abs(float(first.mean()) - 0.5) < 0.02 and abs(float(first.var()) - 1 / 12) < 0.01
    assert len(torch.unique(first)) > 3000
    half = draw(5, dtypes.float16)
    assert half.dtype == torch.float16 and float(half.max()) < 1
    with graphc.use_backend("triton"):
        graphc.manual_seed(0)
        kept = GF.dropout(graphc.ones(4000), 0.25).numpy()
    assert abs((kept == 0).mean() - 0.25) < 0.03 and np.allclose(kept[kept != 0], 1 / 0.75)


# ----------------------------------------------------------------------------- programs


def test_compiled_function_serves_every_batch_size() -> None:
    w, bias = data(6, 5), data(5)

    def f(x: graphc.Tensor, w: graphc.Tensor, b: graphc.Tensor) -> graphc.Tensor:
        return graphc.softmax((x @ w + b).relu(), 1)

    compiled = graphc.compile(f, backend="triton")
    for n in (3, 8, 2):
        x = data(n, 6)
        out = compiled(graphc.tensor(x), graphc.tensor(w), graphc.tensor(bias)).numpy()
        expected = torch.softmax((torch.from_numpy(x) @ torch.from_numpy(w) + torch.from_numpy(bias)).relu(), 1)
        np.testing.assert_allclose(out, expected.numpy(), atol=1e-6, rtol=1e-5)
    assert compiled.trace_count == 1


def test_training_step_on_triton_matches_numpy() -> None:
    from graphc import nn, optim

    inputs, labels = data(16, 4), RNG.integers(0, 3, 16)

    def train(backend: str) -> np.ndarray:
        graphc.manual_seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
        opt = optim.Adam(model.parameters(), lr=0.05)
        x, y = graphc.tensor(inputs), graphc.tensor(labels)
        with graphc.use_backend(backend):
            for _ in range(3):
                opt.zero_grad()
                nn.CrossEntropyLoss()(model(x), y).backward()
                opt.step()
            return model[0].weight.numpy().copy()

    np.testing.assert_allclose(train("triton"), train("numpy"), atol=1e-5, rtol=1e-5)
