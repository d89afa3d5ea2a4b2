"""torch.linalg's functions of vectors: ``linalg.vander`` (increasing powers over any batch) and ``linalg.vecdot``.

Both are composites: ``vander`` is torch's cumulative product of [1, x, x, ...] (so its gradient
is cumprod's), ``vecdot`` the sum of the broadcast product over ``dim``. ``linalg.diagonal`` and
``linalg.matmul`` are ``torch.diagonal`` (with torch.linalg's defaults) and ``matmul`` (``graphc/linalg.py``).
"""

from __future__ import annotations

from graphc.frontend.functional import cat, node_of, wrap
from graphc.frontend.linalg_solvers import TORCH_NAMES
from graphc.frontend.manipulation import diagonal as torch_diagonal
from graphc.frontend.reductions import cumprod
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.registry import op_error
from graphc.runtime.tensor import Tensor


def vander(x: Tensor, *, N: int | None = None) -> Tensor:
    """torch.linalg.vander: [..., n] -> [..., n, N], column j holding x^j; integers give int64 (a 0-d x is one value)."""
    op = "linalg.vander"
    node = node_of(x)
    if node.dtype in (dtypes.bool_, dtypes.float16, dtypes.bfloat16):
        message = f"linalg.vander supports floating point, complex, and integer tensors, but got {TORCH_NAMES[node.dtype.name]}"
        raise op_error(op, [node.type], {"N": N}, message)
    if node.type.ndim == 0:
        node = b.reshape(node, (1,))
    columns = node.shape[-1] if N is None else N
    if not isinstance(columns, int):
        raise op_error(op, [node.type], {"N": N}, f"{op} needs a static number of columns, got the symbolic size {columns}")
    if columns <= 1:
        raise op_error(op, [node.type], {"N": N}, "N must be greater than 1.")
    dtype = node.dtype if node.dtype.is_floating_point else dtypes.int64
    values = b.reshape(b.cast(node, dtype), tuple(node.shape) + (1,))
    ones = b.full(tuple(node.shape) + (1,), 1, dtype)
    repeated = b.expand(values, tuple(node.shape) + (columns - 1,))
    return cumprod(cat([wrap(ones), wrap(repeated)], -1), -1)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """torch.linalg.vecdot: sum(x * y) over ``dim`` of the broadcast operands (real x: no conjugation to do)."""
    op = "linalg.vecdot"
    a, c = node_of(x), node_of(y)
    for node in (a, c):
        if not node.dtype.is_floating_point:
            message = f"{op}: Expected a floating point or complex tensor as input. Got {TORCH_NAMES[node.dtype.name]}"
            raise op_error(op, [a.type, c.type], {"dim": dim}, message)
    if a.dtype != c.dtype:
        found = f"x of type {TORCH_NAMES[a.dtype.name]} and y of type {TORCH_NAMES[c.dtype.name]}"
        raise op_error(op, [a.type, c.type], {"dim": dim}, f"{op}: Expected x and y to have the same dtype, but found {found} instead")
    return (x * y).sum(dim)


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """torch.linalg.diagonal: torch.diagonal with the last two dimensions by default."""
    return torch_diagonal(A, offset, dim1, dim2)
