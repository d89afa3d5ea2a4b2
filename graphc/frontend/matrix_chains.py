"""Products of several matrices and of 3-vectors: linalg.cross/cross, linalg.multi_dot, chain_matmul,
linalg.matrix_power.

``multi_dot`` picks torch's multiplication order (the cheaper of the two for three matrices, the
dynamic-programming optimum for more), and ``matrix_power`` torch's binary decomposition of the
exponent, so the products round as torch's do. Everything is ``matmul`` and elementwise
arithmetic: differentiable, on both backends; a negative power is the power of ``linalg.inv``, as torch's.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from graphc.frontend.autocast_policy import autocast_op
from graphc.frontend.functional import _dim, matmul, node_of, stack, wrap
from graphc.frontend.linalg_solvers import inv
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.registry import emit, op_error
from graphc.ir.types import TypeRuleError, broadcast_shapes, normalize_dim
from graphc.runtime.tensor import Tensor

METHODS = ["cross", "matrix_power"]


def _broadcast(op: str, input: Tensor, other: Tensor) -> tuple[Tensor, Tensor]:
    x, y = node_of(input), node_of(other)
    if x.dtype != y.dtype:
        raise op_error(op, [x.type, y.type], {}, f"expected both inputs to have the same dtype, got {x.dtype.name} and {y.dtype.name}")
    try:
        shape = broadcast_shapes(x.shape, y.shape)
    except TypeRuleError as error:
        raise op_error(op, [x.type, y.type], {}, f"the shapes of the inputs do not broadcast: {error}") from None
    return wrap(b.broadcast_to(x, shape)), wrap(b.broadcast_to(y, shape))


def _cross_along(op: str, input: Tensor, other: Tensor, dim: int) -> Tensor:
    """The cross product along ``dim`` of the broadcast inputs; each input's own size there must be 3, as torch checks."""
    x, y = node_of(input), node_of(other)
    if x.type.ndim != y.type.ndim:
        raise op_error(op, [x.type, y.type], {"dim": dim}, "inputs must have the same number of dimensions.")
    axis = _dim(x, dim, op=op)
    sizes = [x.shape[axis], y.shape[axis]]
    a, c = _broadcast(op, input, other)
    if builtins.any(s != 3 for s in sizes):
        message = f"inputs dimension {dim} must have length 3. Got {sizes[0]} and {sizes[1]}"
        raise op_error(op, [node_of(input).type, node_of(other).type], {"dim": dim}, message)
    a1, a2, a3 = (a.select(axis, i) for i in range(3))
    c1, c2, c3 = (c.select(axis, i) for i in range(3))
    return stack([a2 * c3 - a3 * c2, a3 * c1 - a1 * c3, a1 * c2 - a2 * c1], axis)


def linalg_cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """torch.linalg.cross: the cross product of 3-vectors along ``dim``, the inputs broadcast together."""
    return _cross_along("linalg.cross", input, other, dim)


@autocast_op
def cross(input: Tensor, other: Tensor, dim: int | None = None) -> Tensor:
    """torch.cross: as ``linalg.cross``, but without ``dim`` along the first dimension of size 3 (torch's deprecated default)."""
    if dim is None:
        a, _ = _broadcast("cross", input, other)
        threes = [i for i, s in enumerate(node_of(a).shape) if s == 3]
        if not threes:
            raise op_error("cross", [node_of(input).type, node_of(other).type], {}, "no dimension of size 3 in input")
        dim = threes[0]
    return _cross_along("linalg.cross", input, other, dim)


def _chain_order(sizes: list[Any]) -> list[list[int]]:
    """torch's matrix_chain_order: the split of each sub-chain minimizing the scalar multiplications."""
    count = len(sizes) - 1
    cost = [[0] * count for _ in range(count)]
    split = [[0] * count for _ in range(count)]
    for length in range(1, count):
        for i in range(count - length):
            j = i + length
            cost[i][j] = None
            for k in range(i, j):
                q = cost[i][k] + cost[k + 1][j] + sizes[i] * sizes[k + 1] * sizes[j + 1]
                if cost[i][j] is None or q < cost[i][j]:
                    cost[i][j], split[i][j] = q, k
    return split


def _multiply(matrices: list[Tensor], split: list[list[int]], i: int, j: int) -> Tensor:
    if i == j:
        return matrices[i]
    return matmul(_multiply(matrices, split, i, split[i][j]), _multiply(matrices, split, split[i][j] + 1, j))


@autocast_op
def multi_dot(tensors: Sequence[Tensor]) -> Tensor:
    """torch.linalg.multi_dot: the product of a chain of matrices (the first and last may be vectors), in torch's cheapest order."""
    nodes = [node_of(t) for t in tensors]
    types = [n.type for n in nodes]
    if len(nodes) < 2:
        raise op_error("multi_dot", types, {}, f"multi_dot(): expected at least 2 tensors but got {len(nodes)}")
    for i, n in enumerate(nodes):
        where = "first" if i == 0 else "last" if i == len(nodes) - 1 else None
        if (where and n.type.ndim not in (1, 2)) or (not where and n.type.ndim != 2):
            expected = f"the {where} tensor must be 1D or 2D" if where else f"tensor {i} must be 2D"
            raise op_error("multi_dot", types, {}, f"multi_dot(): {expected} but got {n.type.ndim}D")
        if n.dtype != nodes[0].dtype:
            message = f"multi_dot(): all tensors must have be the same dtype but tensor 0 is {nodes[0].dtype.name} and tensor {i} {n.dtype.name}"
            raise op_error("multi_dot", types, {}, message)
    first_vector, last_vector = nodes[0].type.ndim == 1, nodes[-1].type.ndim == 1
    matrices = [wrap(n) for n in nodes]
    if first_vector:
        matrices[0] = wrap(b.reshape(nodes[0], (1, nodes[0].shape[0])))
    if last_vector:
        matrices[-1] = wrap(b.reshape(nodes[-1], (nodes[-1].shape[0], 1)))
    shapes = [tuple(node_of(m).shape) for m in matrices]
    for i in range(len(shapes) - 1):
        if normalize_dim(shapes[i][1] - shapes[i + 1][0]) != 0:
            message = f"multi_dot(): tensors {i} and {i + 1} with shapes {list(types[i].shape)} and {list(types[i + 1].shape)} cannot be multiplied"
            raise op_error("multi_dot", types, {}, message)
    sizes = [s[0] for s in shapes] + [shapes[-1][1]]
    if builtins.all(isinstance(s, int) for s in sizes):
        product = _multiply(matrices, _chain_order(sizes), 0, len(matrices) - 1)
    else:
        product = matrices[0]
        for m in matrices[1:]:
            product = matmul(product, m)
    result = node_of(product)
    kept = [d for i, d in enumerate(result.shape) if not ((i == 0 and first_vector) or (i == 1 and last_vector))]
    return wrap(b.reshape(result, kept))


@autocast_op
def chain_matmul(*matrices: Tensor) -> Tensor:
    """torch.chain_matmul (deprecated in torch for ``linalg.multi_dot``): the product of 2-d matrices."""
    nodes = [node_of(m) for m in matrices]
    if not nodes:
        raise op_error("chain_matmul", [], {}, "chain_matmul(): Expected one or more matrices")
    for i, n in enumerate(nodes):
        if n.type.ndim != 2:
            raise op_error("chain_matmul", [m.type for m in nodes], {}, f"chain_matmul(): tensor {i} must be 2D but got {n.type.ndim}D")
    if len(nodes) == 1:
        return matrices[0].clone()
    return multi_dot(matrices)


def matrix_power(input: Tensor, n: int) -> Tensor:
    """torch.linalg.matrix_power: ``A`` multiplied by itself ``n`` times (the identity for 0), as torch's binary decomposition."""
    a = node_of(input)
    if a.type.ndim < 2 or not _same(a.shape[-1], a.shape[-2]):
        shape = " by ".join(str(s) for s in a.shape[-2:]) if a.type.ndim >= 2 else f"{a.type.ndim}-d"
        raise op_error("linalg.matrix_power", [a.type], {"n": n}, f"linalg.matrix_power: A must be batches of square matrices, but they are {shape} matrices")
    if n < 0:
        return matrix_power(inv(input), -n)
    if n == 0:
        size = a.shape[-1]
        rows, columns = (emit("iota", shape=(size, size), axis=axis, dtype=dtypes.int64) for axis in (0, 1))
        eye = b.cast(b.compare("eq", rows, columns), a.dtype)
        return wrap(b.broadcast_to(eye, a.shape))
    if n == 1:
        return input.clone()
    if n == 2:
        return matmul(input, input)
    if n == 3:
        return matmul(matmul(input, input), input)
    power, result, remaining = None, None, n
    while remaining > 0:
        bit, remaining = remaining % 2, remaining // 2
        power = input if power is None else matmul(power, power)
        if bit:
            result = power if result is None else matmul(result, power)
    return result


def _same(p: Any, q: Any) -> bool:
    return normalize_dim(p - q) == 0
