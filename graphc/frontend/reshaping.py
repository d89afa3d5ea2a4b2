"""Small shape functions with torch's names: ravel, adjoint, diagflat, sum_to_size, take_along_dim,
unravel_index, is_same_size (and ``Tensor.mH``/``H``/``ndimension`` in graphc/runtime/tensor.py, which call these).

graphc tensors are real, so the conjugate transposes are transposes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphc.frontend.functional import _dim, _sizes, broadcast_to, node_of, reshape, transpose, wrap
from graphc.frontend.manipulation import diag
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.registry import emit, op_error
from graphc.ir.types import broadcast_shapes, dims_equal, shapes_equal
from graphc.runtime.tensor import Tensor

METHODS = "ravel adjoint diagflat sum_to_size take_along_dim is_same_size".split()


def ravel(input: Tensor) -> Tensor:
    return reshape(input, -1)


def adjoint(input: Tensor) -> Tensor:
    """The conjugate transpose of the last two axes: their transpose, for real tensors."""
    x = node_of(input)
    if x.type.ndim < 2:
        raise op_error("adjoint", [x.type], {}, f"tensor.adjoint() is only supported on matrices or batches of matrices. Got {x.type.ndim}-D tensor.")
    return transpose(input, -2, -1)


def diagflat(input: Tensor, offset: int = 0) -> Tensor:
    """The flattened input on the ``offset`` diagonal of a square matrix."""
    return diag(ravel(input), offset)


def sum_to_size(input: Tensor, *size: Any) -> Tensor:
    """Sums over the axes where ``size`` is 1 or missing, to that shape, which must expand to the input's."""
    x = node_of(input)
    shape = tuple(_sizes(size))
    lead = x.type.ndim - len(shape)
    if lead < 0 or any(not (dims_equal(s, 1) or dims_equal(s, d)) for s, d in zip(shape, x.shape[lead:])):
        raise op_error("sum_to_size", [x.type], {"size": list(shape)}, f"size {list(shape)} is not expandable to size {list(x.shape)}")
    return wrap(b.sum_to_shape(x, shape))


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """The values at ``indices`` along ``dim`` (of the flattened input without one); the input and the
    indices broadcast against each other except along ``dim``, and negative indices count from the end, as torch's."""
    x, idx = node_of(input), node_of(indices)
    if idx.dtype not in (dtypes.int32, dtypes.int64):
        raise op_error("take_along_dim", [x.type, idx.type], {}, f"torch.take_along_dim(): dtype of indices should be int64 but got {idx.dtype.name}")
    if dim is None:
        return take_along_dim(ravel(input), ravel(indices), 0)
    if x.type.ndim != idx.type.ndim:
        message = f"torch.take_along_dim(): input and indices should have the same number of dimensions, but got {x.type.ndim} and {idx.type.ndim}"
        raise op_error("take_along_dim", [x.type, idx.type], {"dim": dim}, message)
    axis = _dim(x, dim, op="take_along_dim")
    others = broadcast_shapes([d for i, d in enumerate(x.shape) if i != axis], [d for i, d in enumerate(idx.shape) if i != axis])
    x_shape = [*others[:axis], x.shape[axis], *others[axis:]]
    idx_shape = [*others[:axis], idx.shape[axis], *others[axis:]]
    source = node_of(broadcast_to(input, x_shape))
    positions = b.cast(node_of(broadcast_to(indices, idx_shape)), dtypes.int64)
    size = x.shape[axis] if isinstance(x.shape[axis], int) else emit("size", value=x.shape[axis], dtype=dtypes.int64)
    positions = b.where(b.compare("lt", positions, 0), b.add(positions, size), positions)
    return wrap(emit("gather", source, positions, axis=axis))


def is_same_size(input: Tensor, other: Tensor) -> bool:
    return shapes_equal(node_of(input).shape, node_of(other).shape)


def unravel_index(indices: Tensor, shape: int | Sequence[int]) -> tuple[Tensor, ...]:
    """The coordinates in ``shape`` of flat indices, one int64 tensor per dimension (torch's floor division and
    modulo per dimension, so an index outside the shape wraps around as torch's does)."""
    if not isinstance(indices, Tensor):
        raise TypeError(f"unravel_index: expected 'indices' to be a tensor, got {type(indices).__name__}")
    if indices.dtype.category != 1:
        raise op_error("unravel_index", [node_of(indices).type], {}, f"expected 'indices' to be integer dtype, but got {indices.dtype.name}")
    sizes = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
    if any(s < 0 for s in sizes):
        raise op_error("unravel_index", [node_of(indices).type], {"shape": sizes}, f"'shape' cannot have negative values, but got {sizes}")
    flat = indices.to(dtypes.int64)
    coordinates = []
    stride = 1
    for size in reversed(sizes):
        coordinates.append(flat.div(stride, rounding_mode="floor").remainder(size) if size else flat * 0)
        stride *= size
    return tuple(reversed(coordinates))
