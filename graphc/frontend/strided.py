"""``as_strided``, ``as_strided_``, ``as_strided_scatter`` and ``set_``: a tensor's elements addressed by strides, as
torch's address its storage.

A graphc tensor has no storage: its ``stride()`` and ``storage_offset()`` describe its own elements in
row-major order (docs/decisions.md, "Layout metadata"), and that is the memory ``as_strided`` addresses
here. It equals torch's wherever torch's tensor holds its elements so (a tensor no view, ``x[1:]``,
``x[0]``); of a transposed view torch reads the base's storage order instead. The result is a view both
ways (graphc/runtime/views.py ``strided``); an in-place op through it writes each element back to its
position, and one that would write an element twice is refused, as for ``unfold``. ``set_`` makes a
tensor an alias of another's elements (views.py ``detached`` link), as torch's shares the source's storage.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc.frontend import functional as F
from graphc.frontend import tracing
from graphc.frontend.functional import node_of, wrap
from graphc.ir import build as b
from graphc.ir.grad_mode import is_grad_enabled
from graphc.ir.registry import emit, op_error
from graphc.runtime import views
from graphc.runtime.tensor import Tensor

METHODS = ("as_strided", "as_strided_", "as_strided_scatter", "set_")


def as_strided(input: Tensor, size: Sequence[int], stride: Sequence[int], storage_offset: int | None = None) -> Tensor:
    """The elements at ``storage_offset + sum(i_k * stride_k)`` of the tensor's row-major elements, in shape ``size``."""
    sizes, strides, offset, positions = _positions("as_strided", input, size, stride, storage_offset)
    return views.strided(input, gather(input, positions), sizes, strides, offset)


def _positions(op: str, input: Tensor, size: Sequence[int], stride: Sequence[int], storage_offset: int | None) -> tuple:
    """The sizes, strides, offset and each element's position among ``input``'s row-major elements; torch's refusals."""
    x = node_of(input)
    sizes, strides = tuple(int(n) for n in size), tuple(int(s) for s in stride)
    offset = 0 if storage_offset is None else int(storage_offset)
    attrs = {"size": sizes, "stride": strides, "storage_offset": offset}
    if len(sizes) != len(strides):
        raise op_error(op, [x.type], attrs, "mismatch in length of strides and shape")
    if any(s < 0 for s in strides):
        raise op_error(op, [x.type], attrs, f"as_strided: Negative strides are not supported at the moment, got strides: {list(strides)}")
    if any(n < 0 for n in sizes):
        raise op_error(op, [x.type], attrs, f"Storage size calculation overflowed with sizes={list(sizes)} and strides={list(strides)}")
    if offset < 0:
        raise op_error(op, [x.type], attrs, f"Tensor: invalid storage offset {offset}")
    if not all(isinstance(d, int) for d in x.shape):
        views.needs_static_sizes(f"{op} of a tensor")
    numel = int(np.prod(x.shape))
    positions = views.addresses(sizes, strides, offset)
    if positions.size and int(positions.max()) >= numel:
        itemsize = x.dtype.itemsize
        needed = (offset + sum((n - 1) * s for n, s in zip(sizes, strides)) + 1) * itemsize
        message = (
            f"setStorage: sizes {list(sizes)}, strides {list(strides)}, storage offset {offset}, and itemsize {itemsize} "
            f"requiring a storage size of {needed} are out of bounds for storage of size {numel * itemsize}"
        )
        raise op_error(op, [x.type], attrs, message)
    return sizes, strides, offset, positions


def as_strided_scatter(input: Tensor, src: Tensor, size: Sequence[int], stride: Sequence[int], storage_offset: int | None = None) -> Tensor:
    """A copy of ``input`` with ``src`` written where ``input.as_strided(size, stride, storage_offset)`` reads, as torch's
    (its gradient reaches ``input`` outside those elements and ``src`` at them). A position written twice is refused: torch's
    result then depends on its kernel's order."""
    x, s = node_of(input), node_of(src)
    sizes, strides, offset, positions = _positions("as_strided_scatter", input, size, stride, storage_offset)
    attrs = {"size": sizes, "stride": strides, "storage_offset": offset}
    if tuple(s.shape) != sizes:
        message = f"expected src to have a size equal to the slice of self. src size = {list(s.shape)}, slice size = {list(sizes)}"
        raise op_error("as_strided_scatter", [x.type, s.type], attrs, message)
    flat = positions.reshape(-1)
    if len(np.unique(flat)) != flat.size:
        message = "the strides address an element more than once, where torch's result depends on its kernel's order"
        raise op_error("as_strided_scatter", [x.type, s.type], attrs, message)
    from graphc.frontend.scatter import index_copy

    source = F.cast(src, x.dtype) if s.dtype != x.dtype else src
    written = index_copy(F.reshape(input, (-1,)), 0, Tensor._constant(flat), F.reshape(source, (-1,)))
    return F.reshape(written, tuple(x.shape))


def as_strided_(input: Tensor, size: Sequence[int], stride: Sequence[int], storage_offset: int | None = None) -> Tensor:
    """The tensor itself becomes ``input.as_strided(size, stride, storage_offset)``, as torch's takes those strides over
    its storage: a view keeps viewing its base (its link composed with the strides), a root keeps the elements addressed
    and their strides in its storage. Elements left out are gone (graphc keeps no storage behind a tensor), so a tensor
    with live views, which torch's keep viewing the old elements, is refused."""
    x = node_of(input)
    before = views.live_views(input)
    if before:
        gc.collect()  # a view dropped in a reference cycle is no view the user holds
        before = views.live_views(input)
    result = as_strided(input, size, stride, storage_offset)
    attrs = {"size": tuple(size), "stride": tuple(stride), "storage_offset": storage_offset}
    if before:
        message = (
            "as_strided_ of a tensor that has views: torch's views keep viewing the elements of its storage, and graphc keeps "
            "no storage behind a tensor (docs/decisions.md); take as_strided() instead, or drop the views first"
        )
        raise op_error("as_strided_", [x.type], attrs, message)
    if input._view is not None:
        try:
            views.restrided(input, result)
        except Exception as error:
            raise op_error("as_strided_", [x.type], attrs, str(error)) from None
        return input
    layout = views.layout_of(result)
    if layout is None:
        message = "the strides address elements that no strides over the tensor's storage (its strides after t_()) address"
        raise op_error("as_strided_", [x.type], attrs, message + "; apply it to a contiguous() copy")
    input._rebind(tracing.read(result), "as_strided_")
    views.follow_shape_change(input, [], lambda t: t, layout)
    return input


def set_(
    input: Tensor, source: Any = None, storage_offset: int | None = None, size: Sequence[int] | None = None, stride: Sequence[int] | None = None
) -> Tensor:
    """torch's ``set_``: the tensor shares ``source``'s elements from now on (``set_(source)``), or those that
    ``source.as_strided(size, stride, storage_offset)`` addresses; ``set_()`` empties it. Its views taken before keep the
    old elements, as torch's keep the old storage (views.keep_old_storage). Not recorded by autograd, as torch's: a source
    that requires grad is refused with grad mode on (torch's result has no usable gradient), and a leaf that requires
    grad, changed under ``no_grad``, takes the values without aliasing them (its flag would not survive a read of them)."""
    x = node_of(input)
    op = "set_"
    types = [x.type] if not isinstance(source, Tensor) else [x.type, node_of(source).type]
    if source is not None and not isinstance(source, Tensor):
        raise op_error(op, types, {}, f"set_ takes a tensor to share the elements of (torch's storages are those of tensors here), got {type(source).__name__}")
    if isinstance(source, Tensor) and source.dtype != input.dtype:
        raise op_error(op, types, {}, f"Could not set tensor of type {source.dtype.name} to a tensor of type {input.dtype.name}")
    if size is None and (storage_offset is not None or stride is not None):
        raise op_error(op, types, {}, "set_ takes a size with a storage offset and strides: set_(source, storage_offset, size, stride)")
    if source is input and size is None:
        return input  # its own elements already, as torch's
    trace = tracing.active()
    if trace is not None and (input.__dict__.get("_argument") or not (trace._is_new(input) or input in trace.made_from_data)):
        message = (
            "set_ of a tensor from outside the compiled function (an argument, a parameter): its program returns values, "
            "so the caller's tensor could not share the source's elements; call set_ outside the function"
        )
        raise op_error(op, types, {}, message)
    if x.requires_grad and x.is_leaf and is_grad_enabled():
        raise op_error(op, types, {}, "a leaf Variable that requires grad is being used in an in-place operation.")
    if isinstance(source, Tensor) and source.requires_grad and is_grad_enabled():
        message = "set_ of a tensor that requires grad with grad mode on: torch's result has no usable gradient; detach() the source or use no_grad"
        raise op_error(op, types, {}, message)
    if source is None:
        made = wrap(b.full((0,), 0, input.dtype))
    else:
        made = views.detached(source, F.detach(source))
        if size is not None:
            strides = views.row_major(tuple(int(n) for n in size)) if stride is None else stride
            made = as_strided(made, size, strides, storage_offset)
            made._view.detached = True  # an alias of the source's elements, not a view for autograd, as torch's
    views.keep_old_storage(input, inside_trace=True)
    if (x.requires_grad and x.is_leaf) or made._view is None:
        layout = views.layout_of(made)
        input._view = None
        input._rebind(tracing.read(made), op)
        views.set_root_layout(input, layout)
        return input
    views.adopt(input, made)
    return input


def gather(input: Tensor, positions: np.ndarray) -> Tensor:
    """The tensor's row-major elements at ``positions``, in their shape."""
    x = node_of(input)
    flat = b.reshape(x, (int(np.prod(x.shape)),))
    picked = emit("index_select", flat, node_of(Tensor._constant(positions.reshape(-1))), axis=0)
    return wrap(b.reshape(picked, positions.shape))
