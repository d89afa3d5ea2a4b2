"""What torch builds from the SVD, the symmetric eigendecomposition and QR: pinv, matrix_rank, the
spectral and nuclear matrix norms, cond, and lstsq.

Each follows torch's own composite (LinearAlgebra.cpp), so values, tolerances and gradients are
torch's: the gradients run through the decompositions' VJPs. Tolerances are compared in float64,
as torch's ``atol``/``rtol`` are float64 tensors that promote the comparison.
"""

from __future__ import annotations

import builtins
import math
from typing import Any, NamedTuple

from graphc.frontend.decompositions import TORCH_NAMES, matrices, pieces
from graphc.frontend.functional import node_of, wrap
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.grad_mode import is_grad_enabled
from graphc.ir.graph import Node
from graphc.ir.primitives.decompositions import qr_sizes, svd_sizes
from graphc.ir.registry import emit, op_error
from graphc.ir.types import TypeRuleError, broadcast_shapes, shapes_equal
from graphc.runtime.tensor import Tensor

METHODS = ["pinverse", "orgqr"]

EPSILON = {"float32": 1.1920928955078125e-07, "float64": 2.220446049250313e-16}


class LstsqResult(NamedTuple):
    solution: Tensor
    residuals: Tensor
    rank: Tensor
    singular_values: Tensor


def _last(x: Node, start: int, stop: int) -> Node:
    """x[..., start:stop]."""
    ndim = x.type.ndim
    return emit("slice", x, starts=(0,) * (ndim - 1) + (start,), stops=tuple(x.shape[:-1]) + (stop,), steps=(1,) * ndim)


def _t(x: Node) -> Node:
    return b.transpose_last(x)


def _float_matrices(op: str, A: Tensor, too_few: str) -> Node:
    """A's node, refused with torch's messages of matrix_rank and lstsq unless float32/float64 matrices."""
    x = node_of(A)
    if x.type.ndim < 2:
        raise op_error(op, [x.type], {}, too_few)
    if x.dtype not in (dtypes.float32, dtypes.float64):
        raise op_error(op, [x.type], {}, "This function doesn't handle types other than float and double")
    return x


def _svd(x: Node) -> list[Node]:
    m, n = x.shape[-2:]
    return pieces(emit("svd", x, full_matrices=False), svd_sizes(m, n, False))


def _eigh(x: Node) -> list[Node]:
    n = x.shape[-1]
    return pieces(emit("eigh", x, upper=False), [(n,), (n, n)])


def _tolerance(op: str, x: Node, atol: Any, rtol: Any, largest: Node) -> Node:
    """torch's get_atol_rtol, then max(atol, rtol * largest) in float64; ``largest`` is [..., 1].

    Without ``rtol``, it is eps * max(m, n), or 0 where ``atol`` is given and positive.
    """
    if rtol is None:
        default = EPSILON[x.dtype.name] * builtins.max(x.shape[-2:])
        rtol = default if atol is None else b.where(b.compare("gt", _number(atol), 0.0), 0.0, default)
    scaled = b.mul(b.cast(largest, dtypes.float64), _number(rtol))
    bound = _number(0.0 if atol is None else atol)
    if bound.type.ndim:
        bound = b.reshape(bound, tuple(bound.shape) + (1,))
    return b.binary("maximum", *b.coerce(op, [bound, scaled], dtypes.float64))


def _number(value: Any) -> Node:
    """A tolerance (a number, a tensor or a node) as a float64 node."""
    if isinstance(value, Node):
        return b.cast(value, dtypes.float64)
    return b.cast(node_of(value), dtypes.float64) if isinstance(value, Tensor) else b.constant(float(value), dtypes.float64)


def _kept(values: Node, tolerance: Node) -> Node:
    """Where a value (a singular value, |eigenvalue|) counts: above the tolerance, compared in float64."""
    magnitude = b.cast(b.unary("abs", values), dtypes.float64)
    return b.compare("gt", *b.coerce("gt", [magnitude, tolerance], dtypes.float64))


def pinv(A: Tensor, rcond: Any = None, hermitian: bool = False, *, atol: Any = None, rtol: Any = None) -> Tensor:
    """torch.linalg.pinv: V diag(1/S) U^T over the singular values above max(atol, rtol * S_max)
    (``rcond`` is the older name of ``rtol``); with ``hermitian``, from eigh, the eigenvalues by magnitude."""
    x = node_of(A)
    if x.type.ndim < 2 or x.dtype not in (dtypes.float32, dtypes.float64):
        message = f"linalg.pinv({x.dtype.name}{list(x.shape)}): expected a tensor with 2 or more dimensions of float, double, cfloat or cdouble types"
        raise op_error("linalg.pinv", [x.type], {}, message)
    if rcond is not None:
        if rtol is not None:
            raise op_error("linalg.pinv", [x.type], {"rcond": rcond, "rtol": rtol}, "rcond and rtol are the same tolerance: pass one")
        rtol = rcond
    if hermitian:
        x = matrices("linalg.pinv", A, "linalg_eigh_cpu", square=True)
        values, vectors = _eigh(x)
        largest = emit("max", b.unary("abs", values), axes=(values.type.ndim - 1,), keepdim=True)
        inverted = b.where(_kept(values, _tolerance("linalg.pinv", x, atol, rtol, largest)), b.div(1.0, values), 0.0)
        return _with_pinv_gradient(b.matmul(b.mul(vectors, _row(inverted)), _t(vectors)), x)
    u, s, vh = _svd(x)
    largest = _last(s, 0, 1)
    inverted = b.where(_kept(s, _tolerance("linalg.pinv", x, atol, rtol, largest)), b.div(1.0, s), 0.0)
    return _with_pinv_gradient(b.matmul(b.mul(_t(vh), _row(inverted)), _t(u)), x)


def _with_pinv_gradient(value: Node, x: Node) -> Tensor:
    """The pseudo-inverse differentiated by torch's own formula (rule "pinv", graphc/ir/primitives/decompositions.py)."""
    if not (is_grad_enabled() and x.requires_grad):
        return wrap(value)
    return wrap(emit("custom_vjp", value, _t(x), rule="pinv"))


def _row(v: Node) -> Node:
    return b.reshape(v, tuple(v.shape[:-1]) + (1, v.shape[-1]))


def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:
    """torch.pinverse: pinv with ``rcond`` as its relative tolerance."""
    return pinv(input, rtol=rcond)


def matrix_rank(A: Tensor, tol: Any = None, hermitian: bool = False, *, atol: Any = None, rtol: Any = None) -> Tensor:
    """The number of singular values (|eigenvalues| with ``hermitian``) above max(atol, rtol * the largest); ``tol`` is the older ``atol``."""
    if tol is not None:
        atol, rtol = tol, 0.0
    x = _float_matrices("linalg.matrix_rank", A, "torch.linalg.matrix_rank: The input tensor input must have at least 2 dimensions.")
    if hermitian:
        values = _eigh(matrices("linalg.eigh", A, "linalg_eigh_cpu", square=True))[0]
    else:
        values = _svd(x)[1]
    largest = emit("max", b.unary("abs", values), axes=(values.type.ndim - 1,), keepdim=True)
    counted = b.cast(_kept(values, _tolerance("linalg.matrix_rank", x, atol, rtol, largest)), dtypes.int64)
    return wrap(emit("sum", counted, axes=(values.type.ndim - 1,), keepdim=False))


def spectral_norm(x: Node, ord: Any, rows: int, cols: int, keepdim: bool) -> Node:
    """ord 2, -2 or "nuc" of linalg.matrix_norm: the largest or smallest singular value, or their sum,
    of the matrices over (rows, cols), moved to the last two axes as torch does."""
    ndim = x.type.ndim
    order = [d for d in range(ndim) if d not in (rows, cols)] + [rows, cols]
    s = _svd(b.permute(x, order))[1]
    reduce = {2: "max", -2: "min", "nuc": "sum"}[ord]
    result = emit(reduce, s, axes=(s.type.ndim - 1,), keepdim=False)
    if keepdim:
        shape = list(x.shape)
        shape[rows] = shape[cols] = 1
        result = b.reshape(result, shape)
    return result


def cond(A: Tensor, p: Any = None) -> Tensor:
    """torch.linalg.cond: S_max / S_min (ord None or 2; -2: S_min / S_max) for any matrices; the other
    orders are norm(A) * norm(A^-1) of square matrices, inf for a singular one, as torch."""
    x = matrices("linalg.cond", A, "linalg_svd_cpu", attrs={"p": p})
    if p is None or p in (2, -2):
        s = _svd(x)[1]
        k = s.shape[-1]
        largest, smallest = b.reshape(_last(s, 0, 1), s.shape[:-1]), b.reshape(_last(s, k - 1, k), s.shape[:-1])
        return wrap(b.div(smallest, largest) if p == -2 else b.div(largest, smallest))
    if p not in ("fro", "nuc", 1, -1, math.inf, -math.inf):
        raise op_error("linalg.cond", [x.type], {"p": p}, f"linalg.cond got an invalid norm type: {p}")
    if x.shape[-1] != x.shape[-2]:
        name = str(p) if isinstance(p, str) else (str(int(p)) if builtins.abs(p) == 1 else str(float(p)))
        message = f"linalg.cond(ord={name}): A must be batches of square matrices, but they are {x.shape[-2]} by {x.shape[-1]} matrices"
        raise op_error("linalg.cond", [x.type], {"p": p}, message)
    from graphc.frontend.linalg import matrix_norm
    from graphc.frontend.linalg_solvers import inv_ex

    inverse, info = inv_ex(A)
    singular = b.broadcast_to(b.reshape(b.compare("gt", node_of(info), 0), tuple(info.shape) + (1, 1)), x.shape)
    inverse = wrap(b.where(singular, math.inf, node_of(inverse)))
    return wrap(b.mul(node_of(matrix_norm(A, p)), node_of(matrix_norm(inverse, p))))


def lstsq(A: Tensor, B: Tensor, rcond: float | None = None, *, driver: str | None = None) -> LstsqResult:
    """torch.linalg.lstsq with CPU's default driver, gelsy, for matrices of full rank: the least-squares
    solution of a tall A (R^-1 Q^T B from A = QR), the least-norm one of a wide A (Q R^-T B from A^T = QR).

    As gelsy's, the residuals and singular values are empty; the rank is the count of singular
    values above ``rcond`` (default eps * max(m, n)) times the largest, where gelsy estimates it
    from its pivoted QR (docs/decisions.md, "Eigen, SVD and QR").
    """
    x, rhs = _float_matrices("linalg.lstsq", A, "torch.linalg.lstsq: input must have at least 2 dimensions."), node_of(B)
    if driver not in (None, "gelsy"):
        message = f"graphc computes the default driver's result only (gelsy), got driver={driver!r}"
        raise op_error("linalg.lstsq", [x.type, rhs.type], {"driver": driver}, message)
    if rhs.dtype != x.dtype:
        message = f"torch.linalg.lstsq: Expected input and other to have the same dtype, but got {x.dtype.name} and {rhs.dtype.name}"
        raise op_error("linalg.lstsq", [x.type, rhs.type], {}, message)
    vector = rhs.type.ndim == 1 or (rhs.type.ndim == x.type.ndim - 1 and shapes_equal(rhs.shape, x.shape[:-1]))
    if not (x.type.ndim >= rhs.type.ndim >= x.type.ndim - 1):
        message = "torch.linalg.lstsq: input.dim() must be greater or equal to other.dim() and (input.dim() - other.dim()) <= 1"
        raise op_error("linalg.lstsq", [x.type, rhs.type], {}, message)
    if vector:
        rhs = b.reshape(rhs, tuple(rhs.shape) + (1,))
    m, n = x.shape[-2:]
    if rhs.shape[-2] != m:
        raise op_error("linalg.lstsq", [x.type, rhs.type], {}, f"torch.linalg.lstsq: input.size(-2) should match other.size(-2), got {m} and {rhs.shape[-2]}")
    try:
        batch = broadcast_shapes(tuple(x.shape[:-2]), tuple(rhs.shape[:-2]))
    except TypeRuleError as error:
        raise op_error("linalg.lstsq", [x.type, rhs.type], {}, f"the batch dimensions do not broadcast: {error}") from None
    alone = x
    x = b.broadcast_to(x, tuple(batch) + (m, n))
    rhs = b.broadcast_to(rhs, tuple(batch) + tuple(rhs.shape[-2:]))
    if m >= n:
        q, r = pieces(emit("qr", x, mode="reduced"), qr_sizes(m, n, "reduced"))
        solution = emit("solve_triangular", r, b.matmul(_t(q), rhs), upper=True, unitriangular=False)
    else:
        q, r = pieces(emit("qr", _t(x), mode="reduced"), qr_sizes(n, m, "reduced"))
        solution = b.matmul(q, emit("solve_triangular", _t(r), rhs, upper=False, unitriangular=False))
    if vector:
        solution = b.reshape(solution, tuple(solution.shape[:-1]))
    s = _svd(emit("detach", alone))[1]  # the rank has A's batch shape, not the broadcast one
    limit = EPSILON[x.dtype.name] * builtins.max(m, n) if rcond is None else rcond
    above = b.compare("gt", s, b.mul(_last(s, 0, 1), limit))
    rank = emit("sum", b.cast(above, dtypes.int64), axes=(s.type.ndim - 1,), keepdim=False)
    empty = b.full((0,), 0.0, x.dtype)
    return LstsqResult(wrap(solution), wrap(empty), wrap(rank), wrap(empty))



def householder_product(A: Tensor, tau: Tensor) -> Tensor:
    """torch.linalg.householder_product (torch.orgqr): the first n columns of H_1 ... H_k, H_i = I - tau_i v_i v_i^T,
    v_i column i of A below the diagonal with a 1 on it. The reflections are applied to I's columns
    last to first, each a rank-one update, so the gradient is autodiff's through them."""
    x, t = node_of(A), node_of(tau)
    op = "linalg.householder_product"
    if x.type.ndim < 2:
        raise op_error(op, [x.type, t.type], {}, f"torch.{op}: input must have at least 2 dimensions.")
    m, n = x.shape[-2:]
    if not isinstance(m, int) or not isinstance(n, int) or m < n:
        raise op_error(op, [x.type, t.type], {}, f"torch.{op}: input.shape[-2] must be greater than or equal to input.shape[-1]")
    if t.type.ndim != x.type.ndim - 1 or not isinstance(t.shape[-1], int) or t.shape[-1] > n:
        raise op_error(op, [x.type, t.type], {}, f"torch.{op}: input.shape[-1] must be greater than or equal to tau.shape[-1]")
    if t.dtype != x.dtype:
        raise op_error(op, [x.type, t.type], {}, f"torch.{op}: tau dtype {TORCH_NAMES[t.dtype.name]} does not match input dtype {TORCH_NAMES[x.dtype.name]}")
    matrices(op, A, "orgqr_cpu")
    batch = tuple(x.shape[:-2])
    rows = emit("iota", shape=(m, n), axis=0, dtype=dtypes.int64)
    cols = emit("iota", shape=(m, n), axis=1, dtype=dtypes.int64)
    eye = b.broadcast_to(b.cast(b.compare("eq", rows, cols), x.dtype), batch + (m, n))
    below = b.where(b.broadcast_to(b.compare("gt", rows, cols), x.shape), x, 0.0)
    reflectors = b.add(below, eye)
    q = eye
    for i in reversed(range(t.shape[-1])):
        v = _last(reflectors, i, i + 1)  # [..., m, 1]
        scale = b.reshape(_last(t, i, i + 1), batch + (1, 1))
        q = b.sub(q, b.mul(scale, b.matmul(v, b.matmul(_t(v), q))))
    return wrap(q)


orgqr = householder_product
