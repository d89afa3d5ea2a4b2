"""``as_strided``: a view that addresses a tensor's elements by strides, as torch's addresses its storage.

A graphc tensor has no storage: its ``stride()`` and ``storage_offset()`` describe its own elements in
row-major order (docs/decisions.md, "Layout metadata"), and that is the memory ``as_strided`` addresses
here. It equals torch's wherever torch's tensor holds its elements so (a tensor no view, ``x[1:]``,
``x[0]``); of a transposed view torch reads the base's storage order instead. The result is a view both
ways (graphc/runtime/views.py ``strided``); an in-place op through it writes each element back to its
position, and one that would write an element twice is refused, as for ``unfold``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from graphc.frontend.functional import node_of, wrap
from graphc.ir import build as b
from graphc.ir.registry import emit, op_error
from graphc.runtime import views
from graphc.runtime.tensor import Tensor

METHODS = ("as_strided",)


def as_strided(input: Tensor, size: Sequence[int], stride: Sequence[int], storage_offset: int | None = None) -> Tensor:
    """The elements at ``storage_offset + sum(i_k * stride_k)`` of the tensor's row-major elements, in shape ``size``."""
    x = node_of(input)
    sizes, strides = tuple(int(n) for n in size), tuple(int(s) for s in stride)
    offset = 0 if storage_offset is None else int(storage_offset)
    attrs = {"size": sizes, "stride": strides, "storage_offset": offset}
    if len(sizes) != len(strides):
        raise op_error("as_strided", [x.type], attrs, "mismatch in length of strides and shape")
    if any(s < 0 for s in strides):
        raise op_error("as_strided", [x.type], attrs, f"as_strided: Negative strides are not supported at the moment, got strides: {list(strides)}")
    if any(n < 0 for n in sizes):
        raise op_error("as_strided", [x.type], attrs, f"Storage size calculation overflowed with sizes={list(sizes)} and strides={list(strides)}")
    if offset < 0:
        raise op_error("as_strided", [x.type], attrs, f"Tensor: invalid storage offset {offset}")
    if not all(isinstance(d, int) for d in x.shape):
        views.needs_static_sizes("as_strided of a tensor")
    numel = int(np.prod(x.shape))
    positions = views.addresses(sizes, strides, offset)
    if positions.size and int(positions.max()) >= numel:
        itemsize = x.dtype.itemsize
        needed = (offset + sum((n - 1) * s for n, s in zip(sizes, strides)) + 1) * itemsize
        message = (
            f"setStorage: sizes {list(sizes)}, strides {list(strides)}, storage offset {offset}, and itemsize {itemsize} "
            f"requiring a storage size of {needed} are out of bounds for storage of size {numel * itemsize}"
        )
        raise op_error("as_strided", [x.type], attrs, message)
    return views.strided(input, gather(input, positions), sizes, strides, offset)


def gather(input: Tensor, positions: np.ndarray) -> Tensor:
    """The tensor's row-major elements at ``positions``, in their shape."""
    x = node_of(input)
    flat = b.reshape(x, (int(np.prod(x.shape)),))
    picked = emit("index_select", flat, node_of(Tensor._constant(positions.reshape(-1))), axis=0)
    return wrap(b.reshape(picked, positions.shape))
