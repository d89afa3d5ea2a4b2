"""``F.pdist``: the p-norm distance between every pair of rows of a matrix."""

from __future__ import annotations

import numpy as np

from graphc.frontend import functional as _F
from graphc.frontend.autocast_policy import autocast_op
from graphc.frontend.linalg import vector_norm
from graphc.ir.registry import op_error
from graphc.runtime.tensor import Tensor


@autocast_op
def pdist(input: Tensor, p: float = 2.0) -> Tensor:
    """The distances ``|x[i] - x[j]|_p`` for ``i < j``, in torch's order (row by row of the upper triangle).

    The pairs are gathered with constant indices (the row count is static), and the norm is
    ``linalg.vector_norm``'s, whose gradient at a zero difference is 0, as torch's pdist gives there
    (for ``0 < p < 1`` it is not: ``_fractional_norm``).
    """
    node = input._node
    if node.type.ndim != 2:
        raise op_error("pdist", [node.type], {"p": p}, f"pdist only supports 2D tensors, got: {node.type.ndim}D")
    if p < 0:
        raise op_error("pdist", [node.type], {"p": p}, "pdist only supports non-negative p values")
    rows = input.shape[0]
    if not isinstance(rows, int):
        raise op_error("pdist", [node.type], {"p": p}, "the number of rows must be static")
    first, second = (_F.index_select(input, 0, Tensor._constant(index.astype(np.int64))) for index in np.triu_indices(rows, 1))
    difference = _F.sub(first, second)
    if 0 < p < 1:
        return _fractional_norm(difference, p)
    return vector_norm(difference, p, -1)


def _fractional_norm(difference: Tensor, p: float) -> Tensor:
    """``(sum |d|^p)^(1/p)`` over the last axis for ``0 < p < 1``, with torch's pdist gradient: 0 from a zero
    component and from a zero distance (``|d|^(p-1)`` is infinite there; ``vector_norm`` gives NaN)."""
    size = _F.abs(difference)
    zero = _F.eq(size, 0)
    total = _F.sum(_F.where(zero, 0.0, _F.pow(_F.where(zero, 1.0, size), p)), -1)
    none = _F.eq(total, 0)
    return _F.where(none, 0.0, _F.pow(_F.where(none, 1.0, total), 1.0 / p))
