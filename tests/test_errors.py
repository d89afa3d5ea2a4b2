"""Bad input is reported at trace time as a GraphcError that names the op, the operands'
types (``f32[3,4]``) and the user's ``file:line`` (here: this file and the line of the call)."""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pytest

import graphc
from graphc.errors import GraphcError

HERE = os.path.basename(__file__)


def error_of(call: Callable[[], object]) -> tuple[str, int]:
    """The message ``call`` raises and the line it was written on (each call is a one-line lambda)."""
    with pytest.raises(GraphcError) as info:
        call()
    return str(info.value), call.__code__.co_firstlineno


def check(call: Callable[[], object], op: str, *types: str) -> str:
    message, line = error_of(call)
    assert message.startswith(f"{op}:") or f"{op}(" in message, f"the op {op!r} is not named in:\n{message}"
    for t in types:
        assert t in message, f"{t!r} is not in:\n{message}"
    assert f"{HERE}:{line}" in message, f"the user's line {HERE}:{line} is not in:\n{message}"
    return message


def zeros(*shape: int, dtype: graphc.DType = graphc.float32) -> graphc.Tensor:
    return graphc.zeros(*shape, dtype=dtype)


def test_add_shape_mismatch() -> None:
    x, y = zeros(3, 4), zeros(5)
    check(lambda: x + y, "add", "f32[3,4]", "f32[5]")
    check(lambda: graphc.add(x, zeros(2, 1, 5, dtype=graphc.int64)), "add", "f32[3,4]", "i64[2,1,5]")
    check(lambda: x * zeros(4, 4), "mul", "f32[3,4]", "f32[4,4]")
    check(lambda: x < zeros(2), "lt", "f32[3,4]", "f32[2]")
    check(lambda: graphc.where(zeros(3, 1, dtype=graphc.bool), x, zeros(2, 4)), "where", "f32[3,4]", "f32[2,4]")


def test_matmul_inner_dims() -> None:
    check(lambda: zeros(3, 4) @ zeros(5, 6), "matmul", "f32[3,4]", "f32[5,6]")
    check(lambda: graphc.matmul(zeros(2, 3, 4), zeros(5, 6)), "matmul", "f32[2,3,4]", "f32[5,6]")
    check(lambda: zeros(4) @ zeros(5), "matmul", "f32[4]", "f32[5]")
    check(lambda: zeros(2, 3, 4) @ zeros(3, 4, 5), "matmul", "f32[2,3,4]", "f32[3,4,5]")  # batch 2 vs 3
    check(lambda: zeros(3, 4) @ zeros(4, 2, dtype=graphc.float64), "matmul", "f32[3,4]", "f64[4,2]")
    check(lambda: graphc.mm(zeros(3), zeros(3, 2)), "mm", "f32[3]", "f32[3,2]")
    check(lambda: graphc.bmm(zeros(2, 3, 4), zeros(3, 4, 5)), "bmm", "f32[2,3,4]", "f32[3,4,5]")


def test_bad_reshape() -> None:
    x = zeros(3, 4)
    check(lambda: x.reshape(5, -1), "reshape", "f32[3,4]", "5")
    check(lambda: x.view(5, 5), "reshape", "f32[3,4]", "[5,5]")
    check(lambda: x.reshape(-1, -1), "reshape", "f32[3,4]")


def test_bad_permute_and_dims() -> None:
    x = zeros(2, 3)
    check(lambda: x.permute(0, 0), "permute", "f32[2,3]", "(0, 0)")
    check(lambda: x.permute(1), "permute", "f32[2,3]")
    check(lambda: x.permute(0, 2), "permute", "f32[2,3]", "2")
    check(lambda: x.transpose(0, 5), "transpose", "f32[2,3]", "5")
    check(lambda: x.unsqueeze(4), "unsqueeze", "f32[2,3]")
    check(lambda: x.sum(2), "sum", "f32[2,3]")
    check(lambda: x.softmax(-3), "softmax", "f32[2,3]")
    check(lambda: x.max(dim=3), "max", "f32[2,3]")


def test_cat_and_stack_mismatch() -> None:
    a, c = zeros(2, 3), zeros(2, 4)
    check(lambda: graphc.cat([a, c], 0), "cat", "f32[2,3]", "f32[2,4]")
    check(lambda: graphc.cat([a, zeros(2, 3, 1)], 1), "cat", "f32[2,3]", "f32[2,3,1]")
    check(lambda: graphc.cat([a, a], 2), "cat", "f32[2,3]")
    check(lambda: graphc.stack([a, c]), "stack", "f32[2,3]", "f32[2,4]")


def test_index_out_of_range() -> None:
    x = zeros(3, 4)
    message = check(lambda: x[5], "index", "f32[3,4]")
    assert "5" in message and "size 3" in message
    check(lambda: x[1, -5], "index", "f32[3,4]")
    check(lambda: x[1, 2, 3], "index", "f32[3,4]")
    check(lambda: x[[0, 3]], "index", "f32[3,4]", "i64[2]")
    check(lambda: x[:, graphc.tensor([1, 4])], "index", "f32[3,4]", "i64[2]")

    def assign() -> None:
        x[3] = 1.0

    message, _ = error_of(assign)
    assert "setitem" in message and "f32[3,4]" in message and f"{HERE}:{assign.__code__.co_firstlineno + 1}" in message


def test_unsupported_indexing() -> None:
    x = zeros(3, 4)
    check(lambda: x[::-1], "index", "f32[3,4]")
    check(lambda: x[[0, 1], [0, 1, 2]], "index", "f32[3,4]", "i64[2]", "i64[3]")
    check(lambda: x[1.5], "index", "f32[3,4]")

    def assign_wrong_shape() -> None:
        x[1:] = zeros(3, 4)

    message, _ = error_of(assign_wrong_shape)
    assert "setitem" in message and "f32[3,4]" in message and f"{HERE}:{assign_wrong_shape.__code__.co_firstlineno + 1}" in message


def test_bool_mask_indexing() -> None:
    x = zeros(3, 4)
    message = check(lambda: graphc.compile(lambda y: y[y > 0])(x), "index", "f32[3,4]", "b8[3,4]")
    assert "graphc.where" in message
    check(lambda: x[graphc.tensor([True, False])], "index", "f32[3,4]", "b8[2]")
    check(lambda: x[graphc.tensor([0.0, 1.0])], "index", "f32[3,4]", "f32[2]")


def test_expand_non_singleton() -> None:
    x = zeros(3, 4)
    check(lambda: x.expand(5, 4), "expand", "f32[3,4]", "5")
    check(lambda: x.expand(2, 3, 5), "expand", "f32[3,4]")
    check(lambda: x.expand(4), "expand", "f32[3,4]")
    check(lambda: zeros(2, 1).expand_as(zeros(3, 3)), "expand", "f32[2,1]")


def test_other_bad_arguments() -> None:
    x = zeros(3, 4)
    check(lambda: x - zeros(3, 4, dtype=graphc.bool), "sub", "f32[3,4]", "b8[3,4]")
    check(lambda: zeros(3) & zeros(3, dtype=graphc.int64), "bitwise_and", "f32[3]", "i64[3]")
    check(lambda: zeros(3, dtype=graphc.int64).mean(), "mean", "i64[3]")
    check(lambda: graphc.t(zeros(2, 3, 4)), "t", "f32[2,3,4]")
    check(lambda: x.split(2, dim=3), "split", "f32[3,4]")
    check(lambda: -zeros(3, dtype=graphc.bool), "neg", "b8[3]")
    check(lambda: graphc.tensor([1, 2]) ** -1, "pow", "i64[2]")
    check(lambda: ~zeros(3), "bitwise_not", "f32[3]")  # ~ of integers is -x - 1 (graphc/frontend/bitwise.py)
    check(lambda: zeros(3, dtype=graphc.int64).div_(2), "div_", "i64[3]", "f32[3]")
    check(lambda: zeros(3).add_(zeros(2, 3)), "add_", "f32[3]", "f32[2,3]")
    check(lambda: graphc.exp(zeros(2)) @ zeros(3, 2), "matmul", "f32[2]", "f32[3,2]")


def test_arrays_graphc_cannot_hold_exactly_are_refused_not_converted() -> None:
    with pytest.raises(GraphcError, match="no complex dtypes"):
        graphc.from_numpy(np.array([1 + 2j], dtype=np.complex64))
    with pytest.raises(GraphcError, match="no uint64"):
        graphc.tensor(np.array([2**63 + 5], dtype=np.uint64))
    assert graphc.tensor(np.array([5], dtype=np.uint64)).tolist() == [5]


def test_dtype_errors_where_torch_refuses() -> None:
    """Ops torch defines only for some dtypes are refused by name, not computed after a silent cast."""
    x, i = zeros(3, 4), zeros(3, 4, dtype=graphc.int64)
    check(lambda: graphc.where(x, x, x), "where", "f32[3,4]")
    check(lambda: x.masked_fill(i, 0.0), "masked_fill", "i64[3,4]")
    check(lambda: i.softmax(1), "softmax", "i64[3,4]")
    check(lambda: graphc.log_softmax(i, 0), "log_softmax", "i64[3,4]")
    check(lambda: i.var(), "var", "i64[3,4]")
    check(lambda: i.std(dim=1), "std", "i64[3,4]")
    check(lambda: i.lerp(i, 0.5), "lerp", "i64[3,4]")
    check(lambda: zeros(3, dtype=graphc.bool).argmax(), "argmax", "b8[3]")
    check(lambda: graphc.argmin(zeros(3, dtype=graphc.bool)), "argmin", "b8[3]")
    check(lambda: zeros(2, 2, dtype=graphc.bool) @ zeros(2, 2, dtype=graphc.bool), "matmul", "b8[2,2]")
    check(lambda: graphc.gather(x, 1, x), "gather", "f32[3,4]")
    check(lambda: graphc.index_select(x, 0, zeros(2)), "index_select", "f32[2]")
    check(lambda: x.scatter_add(1, i, zeros(3, 4, dtype=graphc.float64)), "scatter_add", "f32[3,4]", "f64[3,4]")
    check(lambda: x | i, "bitwise_or", "f32[3,4]")


def test_bad_arguments_name_the_op_and_the_line() -> None:
    x = zeros(2, 3)
    check(lambda: graphc.cat([]), "cat")
    check(lambda: graphc.stack([], dim=1), "stack")
    check(lambda: x.clamp(), "clamp", "f32[2,3]")
    check(lambda: graphc.nn.functional.gelu(x, approximate="fast"), "gelu", "f32[2,3]")
    check(lambda: graphc.nn.functional.pad(x, (1, 1), mode="bogus"), "pad", "f32[2,3]")
    check(lambda: graphc.nn.functional.pad(x, (3, 0), mode="reflect"), "pad", "f32[2,3]", "(3, 0)")
    check(lambda: graphc.nn.functional.pad(x, (1,), mode="replicate"), "pad", "f32[2,3]")
    check(lambda: graphc.nn.functional.embedding(zeros(2, dtype=graphc.int64), x, padding_idx=5), "embedding", "f32[2,3]")
    check(lambda: graphc.nn.functional.avg_pool2d(zeros(1, 1, 4, 4), 2, divisor_override=0), "avg_pool2d", "f32[1,1,4,4]")
    check(lambda: graphc.nn.functional.batch_norm(x, None, None, training=False), "batch_norm", "f32[2,3]")
    assert "amax/amin reduce several" in check(lambda: x.max((0, 1)), "max", "f32[2,3]", "(0, 1)")  # torch refuses it too
    check(lambda: x.min([1]), "min", "f32[2,3]")


def test_bad_split_chunk_and_sizes() -> None:
    x = zeros(4, 3)
    check(lambda: x.split(0), "split", "f32[4,3]")
    check(lambda: x.split([1, 2]), "split", "f32[4,3]", "[1, 2]")
    check(lambda: graphc.split(x, [5, -1]), "split", "f32[4,3]")
    check(lambda: x.chunk(0), "chunk", "f32[4,3]")
    check(lambda: x.view(2.5, 2), "reshape", "f32[4,3]", "2.5")
    check(lambda: x.scatter_add(0, zeros(5, 3, dtype=graphc.int64), zeros(4, 3)), "scatter_add", "i64[5,3]")
    check(lambda: x.scatter_add(0, zeros(2, 2, dtype=graphc.int64), zeros(2)), "scatter_add", "f32[2]")


def test_errors_inside_a_compiled_function_point_at_the_function() -> None:
    def step(x: graphc.Tensor, w: graphc.Tensor) -> graphc.Tensor:
        return x @ w  # the line the error names

    compiled = graphc.compile(step)
    message, _ = error_of(lambda: compiled(zeros(4, 3), zeros(5, 6)))
    # A call that fails with the batch symbolic is traced again with static sizes; that error, with the caller's shapes, is raised.
    assert "matmul" in message and "f32[4,3]" in message and "f32[5,6]" in message
    assert f"{HERE}:{step.__code__.co_firstlineno + 1}" in message


def test_no_error_is_deferred_to_generated_code() -> None:
    """A bad op raises where it is written, before anything is realized: earlier valid work still runs."""
    x = graphc.tensor(np.ones((2, 2), dtype=np.float32))
    y = x * 2
    with pytest.raises(GraphcError):
        y @ zeros(3, 3)
    np.testing.assert_array_equal(y.numpy(), np.full((2, 2), 2.0, dtype=np.float32))


@pytest.mark.parametrize(
    "name, fn, index",
    [
        ("gather", lambda x, i: x.gather(1, i), [[0], [5], [1]]),
        ("gather", lambda x, i: x.gather(1, i), [[0], [-1], [1]]),  # NumPy would wrap a negative index
        ("index_select", lambda x, i: x.index_select(1, i), [0, -2]),
        ("scatter_add", lambda x, i: x.scatter_add(1, i, x[:, :1]), [[0], [7], [1]]),
    ],
)
def test_numpy_kernels_raise_graphcs_index_error_naming_op_axis_size_and_line(name: str, fn: Callable, index: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHC_NATIVE", "0")  # NumPy kernels, not C loops (which check too)
    x = graphc.tensor(np.arange(15.0).reshape(3, 5))
    with pytest.raises(IndexError, match=f"{name}: an index is out of range for axis 1 of size 5") as info:
        fn(x, graphc.tensor(np.array(index))).numpy()
    assert "test_errors.py" in str(info.value)


def test_recurrent_and_batch_norm_errors_name_the_layer_types_and_the_users_line() -> None:
    from graphc import nn

    cases = [
        (lambda: nn.LSTM(4, 3, batch_first=True)(graphc.randn(2, 5, 7)), "LSTM: input.size(-1) must be equal to input_size", "LSTM(f32[2,5,7])"),
        (lambda: nn.RNN(4, 3)(graphc.randn(5, 2, 4), graphc.randn(1, 3, 3)), "Expected hx size [1, 2, 3]", "RNN(f32[5,2,4], f32[1,3,3])"),
        (lambda: nn.BatchNorm1d(4)(graphc.randn(3, 5)), "expected 4 channels in dimension 1", "BatchNorm1d(f32[3,5])"),
    ]
    for call, message, types in cases:
        text, _ = error_of(call)
        assert message in text and f"in {types}" in text and f"{HERE}:" in text, text


def test_an_out_of_range_index_in_a_compiled_program_names_the_axis_its_size_and_the_line(backend: str) -> None:
    def pick(x: graphc.Tensor, i: graphc.Tensor) -> graphc.Tensor:
        return (x * 2)[i].sum()  # the line the error names

    compiled = graphc.compile(pick)
    compiled(graphc.randn(3, 4), graphc.tensor([0, 1]))
    for rows in (3, 5):  # the batch size is the symbol B in the program: the message gives this call's
        with pytest.raises(IndexError) as info:
            compiled(graphc.randn(rows, 4), graphc.tensor([0, 9]))
        message = str(info.value)
        assert f"index_select: an index is out of range for axis 0 of size {rows}" in message
        assert f"{HERE}:{pick.__code__.co_firstlineno + 1}" in message


def test_an_out_of_range_gather_index_raises_on_every_backend_instead_of_reading_past_the_buffer(backend: str) -> None:
    x = graphc.randn(3, 4)
    with pytest.raises(IndexError, match="gather: an index is out of range for axis 1 of size 4"):
        x.gather(1, graphc.tensor([[0], [1], [2]]) * 4).numpy()  # computed indices: checked when the program runs


@pytest.mark.parametrize("rows", [1, 2])
def test_indices_computed_in_a_matmul_epilogue_are_checked_only_on_real_lanes(backend: str, rows: int) -> None:
    """cumsum is a matmul with a triangle: with one row, the tile's padding rows (zeros) must not
    be taken for indices out of range (the row index is a constant, so no lane mask came with it)."""
    x = np.arange(3.0 * rows).reshape(rows, 3)
    y = np.tile(np.array([0, 1, -1]), (rows, 1))
    index = graphc.where(graphc.tensor(y).eq(-1).long().cumsum(1) == 0, graphc.tensor(y), 0)
    picked = graphc.tensor(x).gather(1, index)
    expected = np.take_along_axis(x, np.where(np.cumsum(y == -1, 1) == 0, y, 0), 1)
    np.testing.assert_array_equal(picked.numpy(), expected)


def test_a_target_out_of_range_raises_even_when_only_the_gradient_is_read(backend: str) -> None:
    """Cross-entropy's gradient compares positions with the target, which cannot notice a bad one:
    the loss is computed with the gradients (as torch's forward always is) and raises."""
    x = graphc.randn(2, 4, requires_grad=True)
    graphc.nn.functional.cross_entropy(x, graphc.tensor([1, 4])).backward()  # the loss tensor is dropped
    with pytest.raises(IndexError, match="gather: an index is out of range for axis 1 of size 4"):
        x.grad.numpy()


def test_a_compiled_training_step_that_drops_its_loss_still_checks_the_targets(backend: str) -> None:
    model = graphc.nn.Linear(4, 3)
    opt = graphc.optim.SGD(model.parameters(), lr=0.1)

    @graphc.compile
    def step(x: graphc.Tensor, y: graphc.Tensor) -> None:
        graphc.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        opt.zero_grad()

    x = graphc.randn(5, 4)
    for _ in range(2):
        step(x, graphc.tensor([0, 1, 2, 0, 1]))
    before = model.weight.numpy().copy()
    with pytest.raises(IndexError, match="gather: an index is out of range for axis 1 of size 3"):
        step(x, graphc.tensor([0, 3, 2, 0, 1]))
    np.testing.assert_array_equal(model.weight.numpy(), before)


def test_on_a_gpu_a_flagged_index_raises_at_the_next_read_of_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the flags after every call would make the host wait for the GPU: there, the
    check waits for the next read, where the host waits anyway (as torch's CUDA errors surface)."""
    pytest.importorskip("triton")
    from graphc.codegen import triton_support

    monkeypatch.setattr(triton_support, "read_flags_at_once", lambda flags: False)
    with graphc.use_backend("triton"):
        picked = graphc.randn(3, 4).gather(1, graphc.tensor([[0], [1], [2]]) * 4)
        picked.realize()  # the program ran, its flags are set, nothing raised yet
        with pytest.raises(IndexError, match="gather: an index is out of range for axis 1 of size 4"):
            picked.numpy()
        graphc.ones(2).numpy()  # raised once: the flags were cleared
