"""torch.Tensor's in-place tail: comparisons written back (``eq_`` ... ``ge_`` and their aliases),
in-place shape changes (``squeeze_``, ``unsqueeze_``, ``transpose_``, ``t_``, ``swapaxes_``,
``swapdims_``), ``clip_``/``divide_``/``multiply_``/``subtract_``, ``fill_diagonal_``, ``resize_``,
``resize_as_``, the legacy ``new``, ``apply_``/``map_``, ``is_nonzero``, ``is_inference``,
``nonzero_static`` and the ``unsafe_*`` splits.

A graphc tensor is a value without storage (docs/decisions.md), so an in-place shape change points
the tensor at the reshaped value, and ``resize_`` keeps the first elements in row-major order and
fills new ones with zeros (torch leaves them uninitialised and keeps a storage behind that a later
growth shows again; graphc has none). ``apply_`` and ``map_`` call Python on every element, so
they run in eager code only.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphc.errors import GraphcError
from graphc.frontend import functional as F
from graphc.frontend import tracing
from graphc.frontend.functional import node_of
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.registry import op_error
from graphc.runtime import views
from graphc.runtime.tensor import Tensor

METHODS = (
    "eq_ ne_ lt_ le_ gt_ ge_ greater_ greater_equal_ less_ less_equal_ not_equal_ "
    "squeeze_ unsqueeze_ transpose_ t_ swapaxes_ swapdims_ clip_ divide_ multiply_ subtract_ "
    "fill_diagonal_ resize_ resize_as_ new apply_ map_ map2_ is_nonzero is_inference nonzero_static "
    "unsafe_chunk unsafe_split unsafe_split_with_sizes"
).split()


def _compare(op: str) -> Callable[[Tensor, Any], Tensor]:
    def compare_(input: Tensor, other: Any) -> Tensor:
        return input._inplace(getattr(F, op)(input, other), op=op + "_")

    compare_.__name__ = op + "_"
    compare_.__doc__ = f"``{op}`` written into the tensor as 1 and 0 of its own dtype, as torch's ``{op}_``."
    return compare_


eq_, ne_, lt_, le_, gt_, ge_ = (_compare(op) for op in ("eq", "ne", "lt", "le", "gt", "ge"))
not_equal_, greater_, greater_equal_, less_, less_equal_ = ne_, gt_, ge_, lt_, le_


def _reshaped(input: Tensor, result: Tensor, op: str, inverse: Callable[[Tensor], Tensor]) -> Tensor:
    """Point ``input`` at ``result``, whose shape differs: a change of the tensor's own view of its value, as torch's
    (a view keeps viewing its base, through its own link composed with the op's: graphc/runtime/views.py). Its own
    views keep their elements, as torch's keep theirs of the storage: they view ``inverse(input)`` from then on."""
    before = views.live_views(input)
    layout = None
    if input._view is not None:
        try:
            views.restrided(input, result)
        except GraphcError as error:
            raise op_error(op, [node_of(input).type], {}, str(error)) from None
    else:
        layout = views.layout_of(result)  # torch moves no element: the root's strides change (views taken after follow them)
        if layout is None and input.ndim > 1 and not (result._view is not None and result._view.keeps_order):
            views.needs_static_sizes(f"{op} of a tensor")  # strides of the batch size: traced again with static sizes
        input._rebind(tracing.read(result), op)
    views.follow_shape_change(input, before, inverse, layout)
    return input


def squeeze_(input: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    shape = tuple(node_of(input).shape)
    return _reshaped(input, F.squeeze(input, dim), "squeeze_", lambda t: views.shaped_view(t, shape, "unsqueeze"))


def unsqueeze_(input: Tensor, dim: int) -> Tensor:
    shape = tuple(node_of(input).shape)
    return _reshaped(input, F.unsqueeze(input, dim), "unsqueeze_", lambda t: views.shaped_view(t, shape, "squeeze"))


def transpose_(input: Tensor, dim0: int, dim1: int) -> Tensor:
    return _reshaped(input, F.transpose(input, dim0, dim1), "transpose_", lambda t: F.transpose(t, dim0, dim1))


def t_(input: Tensor) -> Tensor:
    return _reshaped(input, F.t(input), "t_", F.t)


swapaxes_ = swapdims_ = transpose_


def clip_(input: Tensor, min: Any = None, max: Any = None) -> Tensor:
    return input.clamp_(min, max)


def divide_(input: Tensor, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    return input.div_(other, rounding_mode=rounding_mode)


def multiply_(input: Tensor, other: Any) -> Tensor:
    return input.mul_(other)


def subtract_(input: Tensor, other: Any, alpha: Any = 1) -> Tensor:
    return input.sub_(other, alpha=alpha)


def fill_diagonal_(input: Tensor, fill_value: Any, wrap: bool = False) -> Tensor:
    """``fill_value`` on the main diagonal; all sizes equal beyond 2-d; ``wrap`` restarts it below a tall matrix's square, every
    ``columns + 1`` rows, as torch."""
    shape = tuple(input.shape)
    if len(shape) < 2:
        raise op_error("fill_diagonal_", [node_of(input).type], {}, "dimensions must larger than 1")
    if len(shape) > 2 and len(set(shape)) != 1:
        raise op_error("fill_diagonal_", [node_of(input).type], {}, "all dimensions of input must be of equal length")
    size = int(np.prod(shape))
    if len(shape) == 2:
        rows, columns = shape
        stop = size if wrap and rows > columns + 1 else min(rows, columns) * columns
        positions = np.arange(0, stop, columns + 1)
    else:
        positions = np.arange(shape[0]) * sum(shape[0] ** k for k in range(len(shape)))
    mask = np.zeros(size, dtype=bool)
    mask[positions] = True
    diagonal = Tensor._constant(mask.reshape(shape))
    filled = F.wrap(b.full(shape, fill_value.item() if isinstance(fill_value, Tensor) else fill_value, input.dtype))  # in the tensor's dtype, as torch
    return input._inplace(F.where(diagonal, filled, input), op="fill_diagonal_")


def resize_(input: Tensor, *sizes: Any, memory_format: Any = None) -> Tensor:
    """The tensor as ``sizes``: the first elements of its storage kept (row-major order, or the order its strides give
    after ``t_()``, as torch's reads its storage), new ones 0 (docs/decisions.md)."""
    from graphc.frontend.constructors import _shape
    from graphc.frontend.strided import gather

    shape = _shape(sizes)
    if input.requires_grad:
        raise op_error("resize_", [node_of(input).type], {"size": shape}, "cannot resize variables that require grad")
    if input._view is not None:
        raise op_error("resize_", [node_of(input).type], {"size": shape}, "resize_ of a view (x[key], x.t(), x.data, ...) is not supported; resize a copy")
    old_shape = tuple(node_of(input).shape)
    count, wanted = int(input.numel()), int(np.prod(shape))
    before = views.live_views(input)
    if before and wanted < count:
        gc.collect()  # a view dropped in a reference cycle is no view the user holds
        before = views.live_views(input)
    if before and wanted < count:
        message = (
            f"resize_ to {wanted} elements of a tensor of {count} that has views: torch's views keep the elements it drops "
            "in its storage, and graphc has none (docs/decisions.md); resize a copy, or drop the views first"
        )
        raise op_error("resize_", [node_of(input).type], {"size": shape}, message)
    layout = views.root_layout(input)
    if layout is None:
        flat = F.reshape(input, (-1,))
        inverse = lambda t: views.shaped_view(t.reshape(-1)[:count], old_shape, "resize_")  # noqa: E731
    else:
        held = views.addresses(old_shape, *layout).reshape(-1)
        if not np.array_equal(np.sort(held), np.arange(held.size)):
            message = (
                "resize_ of a tensor whose strides leave gaps in its storage or start past its beginning (after as_strided_ or set_): "
                "torch's reads storage elements that graphc does not hold; resize a contiguous() copy"
            )
            raise op_error("resize_", [node_of(input).type], {"size": shape}, message)
        flat = gather(input, np.argsort(held))  # its elements in storage order
        inverse = lambda t: t.reshape(-1)[:count].as_strided(old_shape, layout[0], 0)  # noqa: E731
    if wanted < count:
        flat = F.narrow(flat, 0, 0, wanted)
    elif wanted > count:
        flat = F.cat([flat, flat.new_zeros(wanted - count)], 0)
    tracing.assign(input, tracing.read(F.reshape(flat, shape)))
    views.follow_shape_change(input, before, inverse, None)  # row-major from the storage's start: positions kept
    return input


def resize_as_(input: Tensor, the_template: Tensor, *, memory_format: Any = None) -> Tensor:
    return resize_(input, *the_template.shape)


def new(input: Tensor, *args: Any, device: Any = None) -> Tensor:
    """torch's legacy constructor: ``x.new()`` is empty, ``x.new(2, 3)`` (or a torch.Size) zeros of that size, ``x.new([1, 2])``
    a copy of the data, all in x's dtype. A plain tuple, which torch takes as data but is what graphc's ``shape`` returns, is
    refused rather than guessed (``new_zeros``/``new_tensor`` say which is meant)."""
    if not args:
        return input.new_zeros(0, device=device)
    if all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
        return input.new_zeros(*args, device=device)
    if len(args) == 1 and type(args[0]).__name__ == "Size":
        return input.new_zeros(*args[0], device=device)
    if len(args) == 1 and isinstance(args[0], tuple):
        raise GraphcError("Tensor.new(tuple): torch reads a tuple as data, but graphc shapes are tuples; use new_tensor(data) or new_zeros(shape)")
    if len(args) == 1 and isinstance(args[0], (list, np.ndarray, Tensor)):
        return input.new_tensor(args[0], device=device)
    raise GraphcError(f"Tensor.new takes sizes, a torch.Size or a list of data, got {', '.join(type(a).__name__ for a in args)}")


def _eager_elementwise(op: str, input: Tensor) -> None:
    if tracing.active() is not None or tracing.random_in_graph():
        raise GraphcError(f"{op} calls a Python function on every element, which a compiled program cannot; call it in eager code")


def apply_(input: Tensor, callable: Callable[[Any], Any]) -> Tensor:
    """``callable`` on every element, written back in the tensor's dtype (eager code only, as torch's CPU-only ``apply_``)."""
    _eager_elementwise("apply_", input)
    values = np.vectorize(callable, otypes=[input.dtype.numpy])(input.numpy()) if input.numel() else input.numpy()
    input._assign_value(node_of(Tensor._constant(np.asarray(values, dtype=input.dtype.numpy).reshape(tuple(input.shape)))))
    return input


def map_(input: Tensor, tensor: Tensor, callable: Callable[[Any, Any], Any]) -> Tensor:
    """``callable(a, b)`` on every element and the matching element of ``tensor`` (broadcast to this one), written back."""
    return _map("map_", input, [tensor], callable)


def map2_(input: Tensor, x: Tensor, y: Tensor, callable: Callable[[Any, Any, Any], Any]) -> Tensor:
    """``callable(a, b, c)`` on every element and the matching elements of ``x`` and ``y`` (broadcast), written back."""
    return _map("map2_", input, [x, y], callable)


def _map(op: str, input: Tensor, others: list[Tensor], callable: Callable[..., Any]) -> Tensor:
    _eager_elementwise(op, input)
    shape = tuple(input.shape)
    arguments = [np.broadcast_to(other.numpy(), shape) for other in others]
    values = np.vectorize(callable, otypes=[input.dtype.numpy])(input.numpy(), *arguments) if input.numel() else input.numpy()
    input._assign_value(node_of(Tensor._constant(np.asarray(values, dtype=input.dtype.numpy).reshape(shape))))
    return input


def is_nonzero(input: Tensor) -> bool:
    """Whether the single element is nonzero (torch refuses none or several elements)."""
    count = input.numel()
    if count != 1:
        message = "Boolean value of Tensor with no values is ambiguous" if count == 0 else "Boolean value of Tensor with more than one value is ambiguous"
        raise op_error("is_nonzero", [node_of(input).type], {}, message)
    return bool(input.item() != 0)


def is_inference(input: Tensor) -> bool:
    """Whether the tensor was made inside ``graphc.inference_mode()``."""
    return bool(input.__dict__.get("_inference", False))


def nonzero_static(input: Tensor, *, size: int, fill_value: int = -1) -> Tensor:
    """The first ``size`` rows of ``nonzero(input)``, padded with ``fill_value``: a static shape, so it is a graph op
    (a stable sort brings the nonzero positions first) that also runs inside graphc.compile."""
    from graphc.frontend.constructors import arange
    from graphc.frontend.reshaping import unravel_index
    from graphc.frontend.sorting import argsort

    if size < 0:
        raise op_error("nonzero_static", [node_of(input).type], {"size": size}, f"nonzero_static: 'size' must be an non-negative integer, got {size}")
    shape = tuple(input.shape)
    flat = F.ne(F.reshape(input, (-1,)), 0)
    count = int(flat.shape[0])
    order = argsort(F.logical_not(flat).to(dtypes.int64), stable=True)
    if size <= count:
        chosen = F.narrow(order, 0, 0, size)
    else:
        chosen = F.cat([order, order.new_zeros(size - count)], 0)
    valid = F.lt(arange(size), F.sum(flat.to(dtypes.int64)))  # the rows that hold a position
    if not shape:
        return F.wrap(b.full((size, 0), 0, dtypes.int64))
    coordinates = F.stack(list(unravel_index(chosen, shape)), 1)
    return F.where(F.unsqueeze(valid, 1), coordinates, fill_value)


def unsafe_chunk(input: Tensor, chunks: int, dim: int = 0) -> list[Tensor]:
    return _unsafe(F.chunk(input, chunks, dim))


def unsafe_split(input: Tensor, split_size: int, dim: int = 0) -> list[Tensor]:
    return _unsafe(F.split(input, split_size, dim))


def unsafe_split_with_sizes(input: Tensor, split_sizes: Sequence[int], dim: int = 0) -> list[Tensor]:
    from graphc.frontend.splitting import split_with_sizes

    return _unsafe(split_with_sizes(input, split_sizes, dim))


def _unsafe(pieces: Any) -> Any:
    """The pieces as views that in-place ops may write while their base requires grad (torch's unsafe_* split ops)."""
    for piece in pieces:
        if piece._view is not None:
            piece._view.multi_output = None
    return pieces
