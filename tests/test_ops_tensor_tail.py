"""The torch.Tensor long tail against torch: elementwise arithmetic (graphc/frontend/arithmetic.py),
bit shifts (bitwise.py), splits and windows (splitting.py), small shape functions (reshaping.py),
writes into views and at indices (view_scatter.py), layout metadata and ``register_hook``
(graphc/runtime/tensor.py, graphc/frontend/autograd.py): values, dtypes and shapes on the NumPy
backend, a few cases on Triton, float64 gradients, exact bits of frexp/nextafter, and refusals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from helpers import assert_matches, data
from torch_grads import check_compiled_batches, check_grads

import graphc
from graphc.errors import GraphcError

RNG = np.random.default_rng(31)
NAN, INF = np.nan, np.inf


def special_floats() -> tuple[np.ndarray, np.ndarray]:
    """Pairs with NaN on either side, signed zeros, infinities and ties."""
    a = np.array([1.0, -2.0, NAN, 0.0, -0.0, 3.0, INF, -INF, NAN, 0.5], np.float32)
    b = np.array([NAN, 1.0, 2.0, -0.0, 0.0, 3.0, INF, INF, NAN, -4.0], np.float32)
    return a, b


def shifts() -> tuple[np.ndarray, np.ndarray]:
    values = np.array([1, -8, 5, -1, 7, 3, -3, 2**40, 6], np.int64)
    amounts = np.array([1, 70, -1, 63, 63, 0, 2, 20, 62], np.int64)
    return values, amounts


CASES: dict[str, tuple[Callable[..., Any], tuple[np.ndarray, ...]]] = {
    "copysign-fmax-fmin": (
        lambda T, a, b: (T.copysign(a, b), a.copysign(-1.0), T.fmax(a, b), a.fmin(b), T.fmax(a, b[:1])),
        special_floats(),
    ),
    "logaddexp": (lambda T, a, b: (T.logaddexp(a, b), a.logaddexp2(b), T.logaddexp(a.double(), b)), special_floats()),
    "int-promotion": (
        lambda T, i, j: (T.copysign(i, j), T.fmax(i, j), T.fmin(i, j.int()), T.ldexp(i, j.abs())),
        (data(6, dtype="int64"), data(6, dtype="int64")),
    ),
    "ldexp": (lambda T, x, e: (T.ldexp(x, e), x.double().ldexp(e), T.ldexp(x.half(), e)), (data(2, 3), RNG.integers(-4, 5, (2, 3)))),
    "gcd-lcm": (
        lambda T, i, j: (T.gcd(i, j), i.lcm(j), T.gcd(i.int(), j.int()), T.lcm(i, j[:1])),
        (np.array([0, -4, 6, 0, 12, -15, 2**40, 832040], np.int64), np.array([0, 6, -9, 5, 18, -25, 3 * 2**20, 514229], np.int64)),
    ),
    "shifts": (
        lambda T, v, n: (v << n, v >> n, T.bitwise_left_shift(v.int(), n.int()), v.int() >> n.int(), 3 << n.clamp(0, 8), v >> 2, ~v, ~(v > 0)),
        shifts(),
    ),
    "negative-positive-aliases": (
        lambda T, x, y: (T.negative(x), x.positive(), T.greater(x, y), x.greater_equal(y), T.less(x, y), x.less_equal(y), T.not_equal(x, y)),
        (data(3, 4), data(3, 4)),
    ),
    "addr": (
        lambda T, m, u, v: (T.addr(m, u, v), m.addr(u, v, beta=0.5, alpha=2), T.addr(m * T.nan, u, v, beta=0)),
        (data(3, 4), data(3), data(4)),
    ),
    "renorm-hardshrink-prelu": (
        lambda T, x, w: (T.renorm(x, 2, 1, 1.0), x.renorm(1, 0, 2.5), x.hardshrink(0.7), T.hardshrink(x), x.prelu(w), T.prelu(x, w[:1])),
        (data(3, 4, 2), data(4, positive=True)),
    ),
    "splits": (
        lambda T, x: (
            *T.tensor_split(x, 3, 2), *x.tensor_split([1, 5, 3, 9], 2), *T.tensor_split(x, T.tensor([1, 2]), 1), *T.tensor_split(x, T.tensor(2)),
            *T.hsplit(x, 3), *x.vsplit([1]), *T.dsplit(x, 2), *x.split_with_sizes([1, 3], 2), *T.hsplit(x[0, 0], [3]),
        ),
        (data(2, 3, 4),),
    ),
    "unfold-windows": (lambda T, x: (x.unfold(2, 2, 1), x.unfold(0, 1, 2), x.unfold(-1, 3, 2), x[0, 0, 0].unfold(0, 1, 1)), (data(2, 3, 4),)),
    "reshaping": (
        lambda T, x, i: (
            T.ravel(x), x.ravel(), T.adjoint(x), x.mH, x[0].H, x[0, 0, 0].H, T.diagflat(x[0, :2]), x[0].diagflat(-1), x.sum_to_size(3, 1), x.sum_to_size(4),
            T.take_along_dim(x, i, 2), x.take_along_dim(i[:1, :1], 1), T.take_along_dim(x, i.abs()),
        ),
        (data(2, 3, 4), np.array([[[0], [3], [-1]]], np.int64)),
    ),
    "view-scatter": (
        lambda T, x, s: (
            T.slice_scatter(x, s[:, :, :2], 2, 1, None, 2), x.slice_scatter(s[:1], 0, -1), T.select_scatter(x, s[:, 0], 1, -1),
            x.diagonal_scatter(s[0, :2, :4].t(), 0, 1, 0), T.diagonal_scatter(x, s[0, :, :1], -1, 0, 2), T.diagonal_scatter(x, s[:, 0, :2], 2, 1, 2),
        ),
        (data(2, 3, 4), data(2, 3, 4)),
    ),
    "index-put-put": (
        lambda T, x, v: (
            T.index_put(x, (T.tensor([0, 1, 0]), T.tensor([2, -1, 2])), v[0, :3], True), x.index_put((T.tensor([1]),), v[0, 0, 0]),
            x.index_put((T.tensor([[0], [1]]), T.tensor([1, 2])), v[0, :2], accumulate=True), T.index_put(x, (x > 0.5,), v[0, 0, 0]),
            T.put(x, T.tensor([0, -1, 5, 5]), v[0, 0], accumulate=True), x.put(T.tensor([[0, -1]]), v[0, 0, :2]),
        ),
        (data(2, 3, 4), data(2, 3, 4)),
    ),
}


def _list(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _run(name: str) -> None:
    fn, arrays = CASES[name]
    got = fn(graphc, *[graphc.tensor(a.copy()) for a in arrays])
    expected = fn(torch, *[torch.from_numpy(a.copy()) for a in arrays])
    assert_matches(_list(got), _list(expected))


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_torch(name: str) -> None:
    with graphc.use_backend("numpy"):
        _run(name)


@pytest.mark.parametrize("name", ["copysign-fmax-fmin", "shifts", "unfold-windows", "view-scatter"])
def test_values_match_torch_on_triton(name: str) -> None:
    pytest.importorskip("triton")
    with graphc.use_backend("triton"):
        _run(name)


GRADIENTS: dict[str, tuple[Callable[..., Any], tuple[np.ndarray, ...]]] = {
    "copysign": (lambda T, a, b: T.copysign(a, b), (data(3, 4, dtype="float64"), data(3, 4, dtype="float64"))),
    "fmax-fmin": (lambda T, a, b: (T.fmax(a, b), T.fmin(a, b)), (np.array([1.0, NAN, 2.0, -1.0]), np.array([NAN, 3.0, 0.5, 4.0]))),
    "logaddexp": (lambda T, a, b: (T.logaddexp(a, b), T.logaddexp2(a, b)), (data(3, 4, dtype="float64"), data(3, 4, dtype="float64"))),
    # Non-negative exponents: torch differentiates ldexp(x, -2) as x * the integer 2**-2, 0 (docs/decisions.md).
    "ldexp-frexp": (lambda T, x: (T.ldexp(x, T.tensor([1, 0, 3])), T.frexp(x)[0]), (np.array([0.3, -5.0, 17.0]),)),
    "addr-renorm": (
        lambda T, m, u, v: (T.addr(m, u, v, beta=0.5, alpha=2), T.renorm(m, 2, 0, 1.0)),
        (data(3, 4, dtype="float64"), data(3, dtype="float64"), data(4, dtype="float64")),
    ),
    "unfold-splits": (lambda T, x: (x.unfold(1, 3, 1), *T.tensor_split(x, 3, 1), *T.vsplit(x, 2)), (data(2, 5, dtype="float64"),)),
    "view-scatter": (
        lambda T, x, s: (T.slice_scatter(x, s[:, 1:3], 1, 1, 3), T.select_scatter(x, s[0], 0, 1), T.diagonal_scatter(x, s[0, :2], 1)),
        (data(2, 5, dtype="float64"), data(2, 5, dtype="float64")),
    ),
    "index-put-take-along": (
        lambda T, x, v: (
            T.index_put(x, (T.tensor([0, 0, 1]),), v[:3], accumulate=True), T.put(x, T.tensor([1, 6, 1]), v[3:6, 0], True),
            T.take_along_dim(x, T.tensor([[4, 4, 0]]), 1),
        ),
        (data(2, 5, dtype="float64"), data(6, 5, dtype="float64")),
    ),
}


@pytest.mark.parametrize("name", sorted(GRADIENTS))
def test_gradients_match_torch(name: str) -> None:
    fn, arrays = GRADIENTS[name]
    with graphc.use_backend("numpy"):
        check_grads(fn, *arrays)


@pytest.mark.parametrize(
    "backend_name, dtype", [("numpy", "float16"), ("numpy", "float32"), ("numpy", "float64"), ("triton", "float32"), ("triton", "float64")]
)
def test_frexp_and_nextafter_are_bit_exact(backend_name: str, dtype: str) -> None:
    """Subnormals, powers of two (a step down is half a step up), the largest float, infinities, NaN and signed zeros."""
    info = np.finfo(dtype)
    tiny = info.smallest_subnormal
    edges = [0.0, -0.0, INF, -INF, NAN, 1.0, -1.0, 2.0**-3, 1 - info.eps / 2, info.max, -info.max, tiny, -tiny, 3 * tiny, info.smallest_normal]
    x = np.array(edges, dtype)
    x = np.concatenate([x, (RNG.standard_normal(40) * 10.0 ** RNG.integers(-8, 4, 40)).astype(dtype)])
    towards = [np.roll(x, 1), -x, np.full_like(x, INF), np.full_like(x, -INF), np.zeros_like(x), x]
    if backend_name == "triton":
        pytest.importorskip("triton")
    with graphc.use_backend(backend_name):
        mantissa, exponent = graphc.frexp(graphc.tensor(x))
        want = torch.frexp(torch.from_numpy(x))
        np.testing.assert_array_equal(mantissa.numpy(), want.mantissa.numpy())
        np.testing.assert_array_equal(np.signbit(mantissa.numpy()), np.signbit(want.mantissa.numpy()))
        np.testing.assert_array_equal(exponent.numpy(), want.exponent.numpy())
        assert exponent.dtype == graphc.int32
        for y in towards:
            got = graphc.nextafter(graphc.tensor(x), graphc.tensor(y)).numpy()
            expected = torch.nextafter(torch.from_numpy(x), torch.from_numpy(y)).numpy()
            np.testing.assert_array_equal(got.view(f"u{got.itemsize}"), expected.view(f"u{got.itemsize}"))


def test_copysign_keeps_signed_zeros() -> None:
    a, b = special_floats()
    got = graphc.copysign(graphc.tensor(a), graphc.tensor(b)).numpy()
    np.testing.assert_array_equal(np.signbit(got[~np.isnan(got)]), np.signbit(np.copysign(a, b)[~np.isnan(got)]))


def test_nextafter_has_no_derivative_as_torch() -> None:
    x = graphc.tensor([1.0, 2.0], requires_grad=True)
    result = graphc.nextafter(x, graphc.tensor([2.0, 0.0]))
    assert result.requires_grad
    with pytest.raises(GraphcError, match="nextafter: the derivative is not implemented"):
        result.sum().backward()


REFUSALS: dict[str, tuple[Callable[..., Any], str]] = {
    "logaddexp of integers": (lambda T: T.logaddexp(T.tensor([1, 2]), T.tensor([3, 4])), "not implemented for int64"),
    "gcd of floats": (lambda T: T.gcd(T.tensor([1.0]), T.tensor([2.0])), "integers only"),
    "shift of floats": (lambda T: T.tensor([1.5]) << 2, "only implemented on integer"),
    "~ of floats": (lambda T: ~T.tensor([1.5]), "only implemented on integer and bool"),
    "frexp of integers": (lambda T: T.frexp(T.tensor([1, 2])), "not implemented for int64"),
    "negative of bools": (lambda T: T.negative(T.tensor([True])), "bool tensor is not supported"),
    "unfold larger than the axis": (lambda T: T.ones(2, 3).unfold(1, 4, 1), "maximum size for tensor at dimension 1 is 3 but size is 4"),
    "unfold step 0": (lambda T: T.ones(2, 3).unfold(1, 2, 0), "step is 0 but must be > 0"),
    "hsplit not dividing": (lambda T: T.hsplit(T.ones(8), 3), "not divisible by the split_size 3"),
    "vsplit of 1-d": (lambda T: T.vsplit(T.ones(8), 2), "at least 2 dimension"),
    "split_with_sizes not summing": (lambda T: T.ones(2, 3).split_with_sizes([1, 1], 1), "sum exactly to 3"),
    "sum_to_size not expandable": (lambda T: T.ones(2, 3).sum_to_size(2, 2), "not expandable"),
    "adjoint of 1-d": (lambda T: T.adjoint(T.ones(3)), "only supported on matrices"),
    "H of 3-d": (lambda T: T.ones(2, 2, 2).H, "only supported on matrices"),
    "select_scatter wrong shape": (lambda T: T.select_scatter(T.ones(2, 3), T.ones(2), 0, 0), "src must have the shape"),
    "put mismatched counts": (lambda T: T.put(T.ones(4), T.tensor([0, 1]), T.ones(3)), "same number of elements"),
    "index_put of another dtype": (lambda T: T.index_put(T.ones(4), (T.tensor([0]),), T.tensor([1], dtype=T.int64)), "dtypes match"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_bad_input_is_refused_as_by_torch(name: str) -> None:
    fn, message = REFUSALS[name]
    with pytest.raises((RuntimeError, TypeError, NotImplementedError, IndexError)):
        fn(torch)
    with pytest.raises(GraphcError, match=message):
        fn(graphc)


def test_byte_char_short_convert_as_torch() -> None:
    """Truncated toward zero, then wrapped into the small dtype (the out-of-range values are graphc's choice, docs/decisions.md)."""
    values = [-300.7, -129.5, -1.5, 0.9, 127.9, 200.2, 255.5, 40000.0]
    ours, theirs = graphc.tensor(values), torch.tensor(values)
    for method in ("byte", "char", "short"):
        assert_matches(getattr(ours, method)(), getattr(theirs, method)())
    x = graphc.ones(2)
    assert [x.half().dtype, x.bfloat16().dtype, x.bool().dtype, x.long().dtype, x.int().dtype, x.float().dtype, x.double().dtype] == [
        graphc.float16, graphc.bfloat16, graphc.bool, graphc.int64, graphc.int32, graphc.float32, graphc.float64,
    ]


def test_metadata_is_torch_s_for_a_contiguous_tensor() -> None:
    """graphc tensors are values laid out in row-major order: the strides are those of a contiguous tensor of the shape."""
    for shape in [(2, 3, 4), (3,), (), (2, 0, 3)]:
        ours, theirs = graphc.zeros(shape, dtype=graphc.float64), torch.zeros(shape, dtype=torch.float64)
        assert ours.stride() == theirs.stride()
        assert [ours.stride(d) for d in range(-len(shape), len(shape))] == [theirs.stride(d) for d in range(-len(shape), len(shape))]
        assert (ours.nbytes, ours.itemsize, ours.storage_offset(), ours.ndimension()) == (theirs.nbytes, theirs.itemsize, 0, theirs.ndimension())
    x = graphc.ones(2, 3)
    assert x.t().stride() == (2, 1) and x.t().is_contiguous()  # a transpose is a new value, not a strided view
    assert x.is_signed() and x.long().is_signed() and not x.bool().is_signed() and graphc.is_signed(x)
    assert not x.is_complex() and not graphc.is_complex(x)
    assert x.is_cpu and x.get_device() == -1
    assert graphc.is_same_size(x, graphc.zeros(2, 3)) and not x.is_same_size(graphc.zeros(3, 2))
    with pytest.raises(IndexError):
        x.stride(2)


def test_register_hook_sees_and_replaces_gradients_as_torch() -> None:
    """Hooks on an interior tensor and a leaf, run in order, replacing the gradient; remove() unregisters."""

    def run(T: Any) -> tuple:
        x = T.tensor([[1.0, 2.0, 3.0], [4.0, -5.0, 6.0]], dtype=T.float64, requires_grad=True)
        seen = []
        y = x * 2
        y.retain_grad()
        handle = y.register_hook(lambda g: g * 10)
        y.register_hook(lambda g: seen.append(g.detach().clone()))
        x.register_hook(lambda g: g + 1)
        (y * y).sum().backward(retain_graph=True)
        first = (x.grad.clone(), y.grad.clone(), seen[0])
        handle.remove()
        handle.remove()
        x.grad = None
        (y * y.sin()).sum().backward()
        return (*first, x.grad, seen[1], len(seen))

    got, expected = run(graphc), run(torch)
    assert got[-1] == expected[-1] == 2
    assert_matches(list(got[:-1]), list(expected[:-1]))


def test_register_hook_in_autograd_grad_and_its_refusals() -> None:
    x = graphc.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    y.register_hook(lambda g: g * 0)
    (grad,) = graphc.autograd.grad(y.sum() + x.sum(), x)
    np.testing.assert_allclose(grad.numpy(), [1.0, 1.0])
    with pytest.raises(GraphcError, match="doesn't require gradient"):
        graphc.ones(2).register_hook(lambda g: g)
    with pytest.raises(GraphcError, match="has changed the type"):
        z = graphc.tensor([1.0], requires_grad=True)
        z.register_hook(lambda g: g.double())
        (z * 2).sum().backward()


def test_register_hook_is_refused_inside_compile() -> None:
    """A hook would run once, while tracing: refused with the way out, both registered inside and met by a traced backward."""
    w = graphc.tensor([1.0, 2.0], requires_grad=True)

    def registers(x: graphc.Tensor) -> graphc.Tensor:
        y = x * w
        y.register_hook(lambda g: g)
        return y.sum()

    with pytest.raises(GraphcError, match="run in eager code only"):
        graphc.compile(registers)(graphc.ones(2))
    handle = w.register_hook(lambda g: g * 2)

    def step(x: graphc.Tensor) -> graphc.Tensor:
        loss = (x * w).sum()
        loss.backward()
        return loss

    with pytest.raises(GraphcError, match="run in eager code only"):
        graphc.compile(step)(graphc.ones(2))
    handle.remove()


def test_in_place_twins_write_into_the_tensor() -> None:
    def run(T: Any) -> list:
        x = T.tensor([1.0, -2.0, 3.0])
        x.copysign_(T.tensor([-1.0, 1.0, -0.0]))
        y = T.zeros(2, 3)
        y.index_put_((T.tensor([0, 0]), T.tensor([1, 1])), T.tensor([1.0, 2.0]), accumulate=True)
        y.put_(T.tensor([5]), T.tensor([7.0]))
        i = T.tensor([1, -6])
        i <<= 2
        i.bitwise_right_shift_(T.tensor([1, 3]))
        j = T.tensor([12, 18])
        j.gcd_(T.tensor([8, 27]))
        return [x, y, i, j]

    assert_matches(run(graphc), run(torch))
    assert graphc.get_device(graphc.ones(1)) == torch.get_device(torch.ones(1)) == -1


def batch_tail(T: Any, x: Any) -> tuple:
    """Rows of a symbolic batch through elementwise, window, split, gather and scatter composites."""
    return (T.logaddexp(x, x[:, :1]), x.unfold(1, 2, 1), T.tensor_split(x, 2, 1)[1], T.take_along_dim(x, T.tensor([[2, 0]]), 1), T.quantile(x, 0.3, dim=1))


def test_compiled_with_a_symbolic_batch(backend: str) -> None:
    check_compiled_batches(batch_tail, lambda rows: (RNG.standard_normal((rows, 4)),), backend)
