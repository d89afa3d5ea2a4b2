"""Linear algebra torch has beyond matmul: the fused-looking add-products (addmm, addmv, addbmm,
baddbmm), mv, vdot, inner, tensordot, kron, vector and matrix norms, dist, cdist, and the
similarity and distance functions of ``nn.functional``.

All are ``matmul`` and reductions underneath. Norms take the square root (or 1/p-th power)
through a ``where`` that makes the gradient of a zero norm 0, as torch's norm backward does
(the chain rule alone gives 0 * inf = NaN there).
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence
from typing import Any

from graphc.frontend.autocast_policy import autocast_op
from graphc.frontend.functional import _dim, _floating, add, amax, amin, matmul, mul, node_of, outer, sub, sum, unsqueeze, wrap
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.dtypes import DType
from graphc.ir.graph import Node
from graphc.ir.registry import emit, op_error
from graphc.ir.types import normalize_dim
from graphc.runtime.tensor import Tensor

METHODS = "addmm addmv addbmm baddbmm mv ger vdot inner kron norm dist".split()
IN_PLACE = ["addmm", "addmv", "addbmm", "baddbmm"]


def _ranks(op: str, operands: Sequence[Tensor], ranks: Sequence[int]) -> list[Node]:
    """The operands' nodes, refused unless each has the rank torch's ``op`` requires."""
    nodes = [node_of(t) for t in operands]
    for n, rank in zip(nodes, ranks):
        if n.type.ndim != rank:
            raise op_error(op, [m.type for m in nodes], {}, f"{op} expects {'-d, '.join(str(r) for r in ranks)}-d operands")
    return nodes


def _scaled_sum(op: str, input: Tensor, product: Tensor, beta: Any, alpha: Any) -> Tensor:
    """``beta * input + alpha * product``; with ``beta == 0`` the input's values are ignored (NaN too), as torch."""
    x, result = node_of(input), node_of(product)
    if not _broadcasts_to(tuple(x.shape), tuple(result.shape)):
        raise op_error(op, [x.type, result.type], {}, "input must broadcast to the shape of the product")
    if result.dtype.is_integer:
        # torch converts the scalars to the integer dtype (truncating); addr refuses floats instead.
        for name, scalar in (("beta", beta), ("alpha", alpha)):
            if isinstance(scalar, float) and op == "addr":
                raise op_error(op, [x.type, result.type], {name: scalar}, f"For integral input tensors, argument {name} must not be a floating point number.")
        beta, alpha = (math.trunc(s) if isinstance(s, float) else s for s in (beta, alpha))
    scaled = product if alpha == 1 else mul(product, alpha)
    if beta == 0:  # the input's values are ignored (NaN too), but it gets torch's zero gradient, not none
        ignored = b.broadcast_to(b.full((), False, dtypes.bool_), node_of(scaled).shape)
        return wrap(b.where(ignored, b.cast(b.broadcast_to(x, node_of(scaled).shape), node_of(scaled).dtype), node_of(scaled)))
    return add(input if beta == 1 else mul(input, beta), scaled)


def _affine(op: str, input: Tensor, left: Node, right: Node, beta: Any, alpha: Any) -> Tensor:
    """``beta * input + alpha * (left @ right)`` (``b.matmul_then``): a half product keeps its float32
    accumulator until the sum is rounded once, as torch's addmm/addmv/baddbmm/addbmm."""
    return wrap(b.matmul_then(left, right, lambda product: node_of(_scaled_sum(op, input, wrap(product), beta, alpha))))


def _broadcasts_to(shape: tuple, target: tuple) -> bool:
    if len(shape) > len(target):
        return False
    return builtins.all(d == 1 or _same_size(d, t) for d, t in zip(shape, target[len(target) - len(shape) :]))


@autocast_op
def addmm(input: Tensor, mat1: Tensor, mat2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2), with 2-d matrices."""
    left, right = _ranks("addmm", (mat1, mat2), (2, 2))
    return _affine("addmm", input, left, right, beta, alpha)


@autocast_op
def addmv(input: Tensor, mat: Tensor, vec: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    left, right = _ranks("addmv", (mat, vec), (2, 1))
    return _affine("addmv", input, left, right, beta, alpha)


def _batches(op: str, batch1: Tensor, batch2: Tensor) -> tuple[Node, Node]:
    """Two 3-d operands with one batch size (torch does not broadcast them)."""
    left, right = _ranks(op, (batch1, batch2), (3, 3))
    if not _same_size(left.shape[0], right.shape[0]):
        raise op_error(op, [left.type, right.type], {}, f"batch1 and batch2 must have the same number of matrices, got {left.shape[0]} and {right.shape[0]}")
    return left, right


@autocast_op
def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    left, right = _batches("baddbmm", batch1, batch2)
    return _affine("baddbmm", input, left, right, beta, alpha)


@autocast_op
def addbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """beta * input + alpha * the sum of the batch of products: one matmul over the batch and inner axes together.

    In half precision torch adds the products one at a time, each an addmm rounded to the dtype
    (its CPU kernel), and so does graphc where the batch is static: one product of all of them
    gave a quarter of a bfloat16 result's elements an ulp apart."""
    left, right = _batches("addbmm", batch1, batch2)
    count, n, k = left.shape
    p = right.shape[2]
    if left.dtype in (dtypes.float16, dtypes.bfloat16) and isinstance(count, int) and count > 0:
        result = input
        for i in range(count):
            step = (beta, alpha) if i == 0 else (1, alpha)
            result = _affine("addbmm", result, b.reshape(_batch(left, i), (n, k)), b.reshape(_batch(right, i), tuple(right.shape[1:])), *step)
        return result
    rows = b.reshape(b.permute(left, (1, 0, 2)), (n, normalize_dim(count * k)))
    columns = b.reshape(right, (normalize_dim(count * right.shape[1]), p))
    return _affine("addbmm", input, rows, columns, beta, alpha)


def _batch(x: Node, i: int) -> Node:
    """Matrix ``i`` of a batch, still [1, rows, columns]."""
    return emit("slice", x, starts=(i, 0, 0), stops=(i + 1, *x.shape[1:]), steps=(1, 1, 1))


@autocast_op
def mv(input: Tensor, vec: Tensor) -> Tensor:
    _ranks("mv", (input, vec), (2, 1))
    return matmul(input, vec)


def ger(input: Tensor, vec2: Tensor) -> Tensor:
    _ranks("ger", (input, vec2), (1, 1))
    return outer(input, vec2)


def vdot(input: Tensor, other: Tensor) -> Tensor:
    """The dot product of two 1-d tensors (conjugating the first, which real tensors need not)."""
    x, y = _ranks("vdot", (input, other), (1, 1))
    if x.dtype != y.dtype:
        raise op_error("vdot", [x.type, y.type], {}, f"expected both vectors to have same dtype, but found {x.dtype.name} and {y.dtype.name}")
    return matmul(input, other)


@autocast_op
def inner(input: Tensor, other: Tensor) -> Tensor:
    """Sum over the last axes of both; a 0-d operand multiplies."""
    if node_of(input).type.ndim == 0 or node_of(other).type.ndim == 0:
        return mul(input, other)
    return tensordot(input, other, ([-1], [-1]))


@autocast_op
def tensordot(a: Tensor, b_: Tensor, dims: Any = 2) -> Tensor:
    """Contract ``dims`` (a count of a's last and b's first axes, or two lists) with one matmul."""
    x, y = node_of(a), node_of(b_)
    if isinstance(dims, int):
        if dims < 0 or dims > builtins.min(x.type.ndim, y.type.ndim):
            raise op_error("tensordot", [x.type, y.type], {"dims": dims}, f"tensordot expects dims >= 0 and <= the operands' ranks, got {dims}")
        ours, theirs = list(range(x.type.ndim - dims, x.type.ndim)), list(range(dims))
    else:
        first, second = dims
        ours = [_dim(x, d, op="tensordot") for d in ([first] if isinstance(first, int) else first)]
        theirs = [_dim(y, d, op="tensordot") for d in ([second] if isinstance(second, int) else second)]
    if len(ours) != len(theirs) or builtins.any(not _same_size(x.shape[i], y.shape[j]) for i, j in zip(ours, theirs)):
        raise op_error("tensordot", [x.type, y.type], {"dims": dims}, "contracted dimensions need to match in number and size")
    free_x = [i for i in range(x.type.ndim) if i not in ours]
    free_y = [j for j in range(y.type.ndim) if j not in theirs]
    left = b.reshape(b.permute(x, free_x + ours), (_product([x.shape[i] for i in free_x]), _product([x.shape[i] for i in ours])))
    right = b.reshape(b.permute(y, theirs + free_y), (_product([y.shape[j] for j in theirs]), _product([y.shape[j] for j in free_y])))
    return wrap(b.reshape(b.matmul(left, right), [x.shape[i] for i in free_x] + [y.shape[j] for j in free_y]))


def _same_size(p: Any, q: Any) -> bool:
    return normalize_dim(p - q) == 0


def _product(sizes: Sequence[Any]) -> Any:
    total: Any = 1
    for s in sizes:
        total = total * s
    return normalize_dim(total)


def kron(input: Tensor, other: Tensor) -> Tensor:
    """The Kronecker product: both interleaved with size-1 axes, multiplied, and each pair of axes merged."""
    x, y = node_of(input), node_of(other)
    rank = builtins.max(x.type.ndim, y.type.ndim)
    xs = (1,) * (rank - x.type.ndim) + tuple(x.shape)
    ys = (1,) * (rank - y.type.ndim) + tuple(y.shape)
    spread_x = b.reshape(x, [v for d in xs for v in (d, 1)])
    spread_y = b.reshape(y, [v for d in ys for v in (1, d)])
    return wrap(b.reshape(b.binary("mul", spread_x, spread_y), [normalize_dim(p * q) for p, q in zip(xs, ys)]))


# ------------------------------------------------------------------ norms


def _safe_root(total: Node, exponent: float) -> Node:
    """total ** exponent, with a zero gradient where total is 0 (torch's norm backward masks it)."""
    zero = b.compare("eq", total, 0)
    root = b.unary("sqrt", b.where(zero, 1.0, total)) if exponent == 0.5 else b.binary("pow", b.where(zero, 1.0, total), exponent)
    return b.where(zero, 0.0, root)


def _norm_input(op: str, input: Tensor, dtype: DType | None) -> Node:
    x = node_of(input)
    if dtype is not None:
        x = b.cast(x, dtypes.to_dtype(dtype))
    _floating(op, x)
    return x


def vector_norm(x: Tensor, ord: float = 2, dim: int | Sequence[int] | None = None, keepdim: bool = False, *, dtype: DType | None = None) -> Tensor:
    """The p-norm of the flattened tensor or over ``dim``: max/min of |x| for ±inf, the count of nonzeros for 0."""
    node = _norm_input("linalg.vector_norm", x, dtype)
    if isinstance(dim, int):
        dim = (dim,)
    size = wrap(b.unary("abs", node))
    if ord == math.inf:
        return amax(size, dim, keepdim)
    if ord == -math.inf:
        return amin(size, dim, keepdim)
    if ord == 0:  # the count of nonzeros requires grad as torch's, whose backward gives x no gradient
        nonzero = b.cast(b.compare("ne", node, 0), node.dtype)
        if node.requires_grad:
            nonzero = emit("custom_vjp", nonzero, node, rule="undefined_gradient")
        return sum(wrap(nonzero), dim, keepdim)
    if ord == 1:
        return sum(size, dim, keepdim)
    powered = b.mul(node, node) if ord == 2 else b.binary("pow", node_of(size), float(ord))
    return wrap(_safe_root(node_of(sum(wrap(powered), dim, keepdim)), 1.0 / ord))


def matrix_norm(A: Tensor, ord: Any = "fro", dim: tuple[int, int] = (-2, -1), keepdim: bool = False, *, dtype: DType | None = None) -> Tensor:
    """Frobenius; the largest (smallest) absolute column (ord ±1) or row (ord ±inf) sum; the largest (smallest) singular value (ord ±2) or their sum ('nuc')."""
    x = _norm_input("linalg.matrix_norm", A, dtype)
    if x.type.ndim < 2:
        raise op_error("linalg.matrix_norm", [x.type], {"ord": ord}, "the input tensor A must have at least 2 dimensions")
    rows, cols = (_dim(x, d, op="linalg.matrix_norm") for d in dim)
    if ord == "fro":
        return vector_norm(wrap(x), 2, (rows, cols), keepdim)
    if ord in (2, -2, "nuc"):
        from graphc.frontend.spectral import spectral_norm

        if x.dtype not in (dtypes.float32, dtypes.float64):
            message = f"linalg.matrix_norm: ord={ord!r} takes float32 or float64 matrices (an SVD), got {x.dtype.name}"
            raise op_error("linalg.matrix_norm", [x.type], {"ord": ord}, message)
        return wrap(spectral_norm(x, ord, rows, cols, keepdim))
    if ord not in (1, -1, math.inf, -math.inf):
        message = f"linalg.matrix_norm: Order {ord} not supported."
        raise op_error("linalg.matrix_norm", [x.type], {"ord": ord}, message)
    summed, picked = (rows, cols) if builtins.abs(ord) == 1 else (cols, rows)
    sums = sum(wrap(b.unary("abs", x)), summed, keepdim)
    if not keepdim and summed < picked:
        picked -= 1
    return amax(sums, picked, keepdim) if ord > 0 else amin(sums, picked, keepdim)


def linalg_norm(A: Tensor, ord: Any = None, dim: int | Sequence[int] | None = None, keepdim: bool = False, *, dtype: DType | None = None) -> Tensor:
    """torch.linalg.norm: a vector norm over one axis (or of a 1-d input), a matrix norm over two (or of a 2-d input)."""
    x = node_of(A)
    if ord is None:
        return vector_norm(A, 2, dim, keepdim, dtype=dtype)
    axes = (dim,) if isinstance(dim, int) else (tuple(dim) if dim is not None else tuple(range(x.type.ndim)))
    if isinstance(ord, str) or len(axes) == 2:
        return matrix_norm(A, ord, axes if len(axes) == 2 else (-2, -1), keepdim, dtype=dtype)
    if len(axes) != 1:
        raise op_error("linalg.norm", [x.type], {"ord": ord, "dim": dim}, "with ord given, the input must be 1-d or 2-d, or dim must name 1 or 2 dimensions")
    return vector_norm(A, ord, axes, keepdim, dtype=dtype)


@autocast_op
def norm(input: Tensor, p: Any = "fro", dim: int | Sequence[int] | None = None, keepdim: bool = False, dtype: DType | None = None) -> Tensor:
    """torch.norm: 'fro' (the default) is the 2-norm over ``dim`` (all of it by default); a number is a vector p-norm."""
    if p == "nuc":
        axes = tuple(range(node_of(input).type.ndim)) if dim is None else tuple(dim)
        if len(axes) != 2:
            raise op_error("norm", [node_of(input).type], {"p": p, "dim": dim}, f"linalg.matrix_norm: dim must be a 2-tuple. Got {' '.join(map(str, axes))}")
        return matrix_norm(input, "nuc", axes, keepdim, dtype=dtype)
    if isinstance(p, str) and p != "fro":
        raise op_error("norm", [node_of(input).type], {"p": p}, f"unknown norm {p!r}")
    return vector_norm(input, 2 if p == "fro" else p, dim, keepdim, dtype=dtype)


@autocast_op
def dist(input: Tensor, other: Tensor, p: float = 2) -> Tensor:
    return vector_norm(sub(input, other), p)


@autocast_op
def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """The p-norm distance of every row of x1 to every row of x2, from the differences themselves.

    torch's default takes the Euclidean distance from ``|a|^2 - 2ab + |b|^2`` (a matmul) for more
    than 25 rows, which loses the digits of near points; graphc uses that form only when asked
    with ``compute_mode="use_mm_for_euclid_dist"`` (docs/decisions.md).
    """
    a, c = node_of(x1), node_of(x2)
    modes = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")
    if compute_mode not in modes:
        raise op_error("cdist", [a.type, c.type], {"compute_mode": compute_mode}, f"{compute_mode} is not a valid value for compute_mode")
    if a.type.ndim < 2 or c.type.ndim < 2 or not _same_size(a.shape[-1], c.shape[-1]):
        raise op_error("cdist", [a.type, c.type], {}, "cdist needs tensors of at least 2 dimensions with the same number of columns")
    if p < 0:
        raise op_error("cdist", [a.type, c.type], {"p": p}, "cdist only supports non-negative p values")
    if compute_mode == "use_mm_for_euclid_dist" and p == 2:
        return _euclid_by_matmul(x1, x2)
    return vector_norm(sub(unsqueeze(x1, -2), unsqueeze(x2, -3)), p, -1)


def _euclid_by_matmul(x1: Tensor, x2: Tensor) -> Tensor:
    squares1 = sum(mul(x1, x1), -1, True)
    squares2 = sum(mul(x2, x2), -1, True)
    cross = matmul(x1, wrap(b.transpose_last(node_of(x2))))
    total = add(sub(squares1, mul(cross, 2)), wrap(b.transpose_last(node_of(squares2))))
    return wrap(_safe_root(b.binary("maximum", node_of(total), 0.0), 0.5))


@autocast_op
def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """torch's formula: each side divided by its norm clamped at ``eps`` (the clamp passes the gradient through), then summed."""
    a, c = node_of(x1), node_of(x2)
    common = b.result_dtype(a, c)
    if not common.is_floating_point:
        raise op_error("cosine_similarity", [a.type, c.type], {}, f"expected common dtype to be floating point, yet common dtype is {common.name}")
    a, c = b.cast(a, common), b.cast(c, common)
    a, c = (b.broadcast_to(n, b.common_shape("cosine_similarity", [a, c])) for n in (a, c))
    unit_a = b.div(a, _clamped_norm(a, dim, eps))
    unit_c = b.div(c, _clamped_norm(c, dim, eps))
    return sum(wrap(b.binary("mul", *b.coerce("mul", [unit_a, unit_c], b.result_dtype(unit_a, unit_c)))), dim)


def _clamped_norm(x: Node, dim: int, eps: float) -> Node:
    """max(norm, eps) in value, the norm's own gradient (torch clamps it in place under no_grad)."""
    size = node_of(vector_norm(wrap(x), 2, dim, True))
    clamped = emit("detach", b.binary("maximum", size, b.full_like(size, eps)))
    return b.add(b.sub(size, emit("detach", size)), clamped)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """The p-norm of x1 - x2 + eps over the last axis, as torch."""
    rank = builtins.max(node_of(x1).type.ndim, node_of(x2).type.ndim)
    difference = add(sub(x1, x2), eps)
    return vector_norm(difference, p, builtins.max(rank - 1, 0) if rank else None, keepdim)
