"""Products, combinations and structured matrices: cartesian_prod, combinations, block_diag, vander.

The positions of ``combinations`` are known from the input's (static) length alone, so they
are a constant int64 index for an ``index_select``; ``cartesian_prod`` stacks ``meshgrid``'s
grids; ``block_diag`` joins each block with zeros; ``vander`` is torch's cumulative product of
a column of ones and repeated copies of ``x``. All are differentiable where torch's are.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from graphc.frontend.functional import cat, node_of, stack, wrap
from graphc.frontend.manipulation import flip, meshgrid
from graphc.frontend.reductions import cumprod
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.registry import emit, op_error
from graphc.runtime.tensor import Tensor

METHODS: list[str] = []


def cartesian_prod(*tensors: Tensor) -> Tensor:
    """torch.cartesian_prod: every tuple of one element of each 1-d tensor, in row-major order, as rows."""
    nodes = [node_of(t) for t in tensors]
    if not nodes:
        raise op_error("cartesian_prod", [], {}, "expects a non-empty list of tensors")
    if any(n.type.ndim != 1 for n in nodes):
        raise op_error("cartesian_prod", [n.type for n in nodes], {}, "Expect a 1D vector, but got a tensor of another rank")
    if len(nodes) == 1:
        return tensors[0]
    return stack([grid.reshape(-1) for grid in meshgrid(*tensors, indexing="ij")], 1)


def _static_length(op: str, x: Any) -> int:
    size = x.shape[0]
    if not isinstance(size, int):
        raise op_error(op, [x.type], {}, f"{op} needs a static length, got the symbolic size {size}")
    return size


def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """torch.combinations: the r-element combinations of a 1-d tensor's elements (as itertools orders them), as rows."""
    x = node_of(input)
    attrs = {"r": r, "with_replacement": with_replacement}
    if x.type.ndim != 1:
        raise op_error("combinations", [x.type], attrs, f"Expect a 1D vector, but got shape {list(x.shape)}")
    if r < 0:
        raise op_error("combinations", [x.type], attrs, f"Expect a non-negative number, but got {r}")
    if r == 0:
        return wrap(b.full((0,), 0, x.dtype))
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    rows = list(pick(range(_static_length("combinations", x)), r))
    index = np.asarray(rows, np.int64).reshape(len(rows) * r)
    picked = emit("index_select", x, Tensor._constant(index)._node, axis=0)
    return wrap(b.reshape(picked, (len(rows), r)))


def block_diag(*tensors: Tensor) -> Tensor:
    """torch.block_diag: the blocks (0-d as 1x1, 1-d as one row) on the diagonal of a zero matrix of their promoted dtype."""
    nodes = [node_of(t) for t in tensors]
    for i, n in enumerate(nodes):
        if n.type.ndim > 2:
            raise op_error("block_diag", [m.type for m in nodes], {}, f"Input tensors must have 2 or fewer dimensions. Input {i} has {n.type.ndim} dimensions")
    if not nodes:
        return wrap(b.full((1, 0), 0, dtypes.float32))
    dtype = b.result_dtype(*nodes)
    blocks = [b.reshape(b.cast(n, dtype), (1, 1) if n.type.ndim == 0 else (1, n.shape[0]) if n.type.ndim == 1 else n.shape) for n in nodes]
    for n in blocks:
        if not all(isinstance(s, int) for s in n.shape):
            raise op_error("block_diag", [m.type for m in nodes], {}, "block_diag needs static shapes")
    width = sum(n.shape[1] for n in blocks)
    rows, left = [], 0
    for n in blocks:
        pieces = [b.full((n.shape[0], left), 0, dtype), n, b.full((n.shape[0], width - left - n.shape[1]), 0, dtype)]
        rows.append(cat([wrap(p) for p in pieces if p.shape[1]], 1) if width else wrap(n))
        left += n.shape[1]
    return cat(rows, 0)


def vander(x: Tensor, N: int | None = None, increasing: bool = False) -> Tensor:
    """torch.vander: the powers of a 1-d ``x`` as columns (decreasing unless ``increasing``); integer and bool inputs give int64."""
    node = node_of(x)
    if node.type.ndim != 1:
        raise op_error("vander", [node.type], {"N": N}, "x must be a one-dimensional tensor.")
    length = node.shape[0]
    columns = length if N is None else N
    if not isinstance(columns, int):
        raise op_error("vander", [node.type], {"N": N}, f"vander needs a static number of columns, got the symbolic size {columns}")
    if columns < 0:
        raise op_error("vander", [node.type], {"N": N}, "N must be non-negative.")
    dtype = node.dtype if node.dtype.is_floating_point else dtypes.int64
    values = b.cast(node, dtype)
    if columns == 0:
        return wrap(b.full((length, 0), 0, dtype))
    ones = b.full((length, 1), 1, dtype)
    repeated = b.expand(b.reshape(values, (length, 1)), (length, columns - 1))
    powers = cumprod(cat([wrap(ones), wrap(repeated)], 1), 1)
    return powers if increasing else flip(powers, 1)
