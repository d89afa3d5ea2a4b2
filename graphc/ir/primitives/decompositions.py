"""Matrix decompositions: the symmetric eigendecomposition, the SVD and the QR factorization.

A node has one result, and each decomposition has several (eigenvalues and eigenvectors;
U, S and Vh; Q and R), computed together. So each primitive's result is its outputs
flattened and joined along one last axis, in torch's order, and the front end slices them
apart (``pieces``); the VJP rule splits the gradient the same way. The matrix sizes must be
known numbers (the kernels loop over them); the batch axes may be symbolic.

The VJP rules are torch's (linalg_eig_backward for a symmetric matrix, svd_backward,
linalg_qr_backward), but for one thing: where torch divides by a difference of eigenvalues
(or of squared singular values) or by a singular value that is 0, graphc takes 0 instead of
inf or NaN. torch reaches those divisions only when the eigenvectors' (singular vectors')
gradient is defined; graphc's packed gradient always has that part, 0 when unused, so without
the guard the gradient of eigenvalues alone at a repeated eigenvalue would be NaN where torch's
is finite (docs/decisions.md, "Eigen, SVD and QR").
"""

from __future__ import annotations

from collections.abc import Sequence

from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.primitives.custom import rule
from graphc.ir.registry import defvjp, emit, op_error, primitive
from graphc.ir.types import TensorType, TypeRuleError

QR_MODES = ("reduced", "complete", "r")


def _matrix(x: TensorType, square: bool = False) -> tuple[int, int]:
    """The sizes (rows, columns) of a batch of float32/float64 matrices, which must be numbers."""
    if x.ndim < 2:
        raise TypeRuleError("the input needs at least 2 dimensions")
    if x.dtype not in (dtypes.float32, dtypes.float64):
        raise TypeRuleError(f"only float32 and float64 are supported, got {x.dtype.name}")
    rows, cols = x.shape[-2:]
    if not isinstance(rows, int) or not isinstance(cols, int):
        raise TypeRuleError(f"the matrix sizes must be numbers, got {rows} x {cols}")
    if square and rows != cols:
        raise TypeRuleError(f"the matrices must be square, got {rows} x {cols}")
    return rows, cols


def _packed(x: TensorType, length: int) -> TensorType:
    return TensorType(tuple(x.shape[:-2]) + (length,), x.dtype)


def svd_sizes(m: int, n: int, full_matrices: bool) -> list[tuple[int, ...]]:
    """The shapes of U, S and Vh of an m x n matrix."""
    k = min(m, n)
    return [(m, m if full_matrices else k), (k,), (n if full_matrices else k, n)]


def qr_sizes(m: int, n: int, mode: str) -> list[tuple[int, ...]]:
    """The shapes of Q and R (R alone for mode "r") of an m x n matrix."""
    k = m if mode == "complete" else min(m, n)
    return [(k, n)] if mode == "r" else [(m, k), (k, n)]


def _length(sizes: Sequence[tuple[int, ...]]) -> int:
    total = 0
    for shape in sizes:
        count = 1
        for d in shape:
            count *= d
        total += count
    return total


@primitive("eigh", "linalg", attrs=("upper",))
def eigh_rule(x: TensorType, upper: bool) -> TensorType:
    """[..., n, n] -> [..., n + n*n]: eigenvalues ascending, then eigenvectors (as columns) of the symmetric matrix of the lower (``upper``: upper) triangle"""
    n, _ = _matrix(x, square=True)
    if not isinstance(upper, bool):
        raise TypeRuleError(f"upper must be a bool, got {upper!r}")
    return _packed(x, n + n * n)


@primitive("svd", "linalg", attrs=("full_matrices",))
def svd_rule(x: TensorType, full_matrices: bool) -> TensorType:
    """[..., m, n] -> U, S (descending), Vh of torch.linalg.svd, flattened and joined along one last axis (U is m x m and Vh n x n with ``full_matrices``)"""
    m, n = _matrix(x)
    if not isinstance(full_matrices, bool):
        raise TypeRuleError(f"full_matrices must be a bool, got {full_matrices!r}")
    return _packed(x, _length(svd_sizes(m, n, full_matrices)))


@primitive("qr", "linalg", attrs=("mode",))
def qr_rule(x: TensorType, mode: str) -> TensorType:
    """[..., m, n] -> Q and R of torch.linalg.qr (Householder, R's diagonal signs as LAPACK's), flattened and joined along one last axis; mode "r": R alone"""
    m, n = _matrix(x)
    if mode not in QR_MODES:
        raise TypeRuleError(f"mode must be one of {', '.join(QR_MODES)}, got {mode!r}")
    return _packed(x, _length(qr_sizes(m, n, mode)))


# ----------------------------------------------------------------------------- packing


def pieces(packed: Node, sizes: Sequence[tuple[int, ...]]) -> list[Node]:
    """The outputs of a packed result: consecutive runs of its last axis, each reshaped to its shape."""
    batch = tuple(packed.shape[:-1])
    out, start = [], 0
    for shape in sizes:
        length = _length([shape])
        starts = (0,) * len(batch) + (start,)
        stops = batch + (start + length,)
        run = emit("slice", packed, starts=starts, stops=stops, steps=(1,) * (len(batch) + 1))
        out.append(b.reshape(run, batch + tuple(shape)))
        start += length
    return out


def _eye(n: int) -> Node:
    rows = emit("iota", shape=(n, n), axis=0, dtype=dtypes.int64)
    cols = emit("iota", shape=(n, n), axis=1, dtype=dtypes.int64)
    return b.compare("eq", rows, cols)


def _triangle(x: Node, keep: str, diagonal: int = 0) -> Node:
    """x where (column - row) compares with ``diagonal`` as ``keep`` says (tril: "le", triu: "ge"), else 0."""
    plane = tuple(x.shape[-2:])
    rows = emit("iota", shape=plane, axis=0, dtype=dtypes.int64)
    cols = emit("iota", shape=plane, axis=1, dtype=dtypes.int64)
    mask = b.compare(keep, b.sub(cols, rows), diagonal)
    return b.where(b.broadcast_to(mask, x.shape), x, b.zeros_like(x))


def _diag_embed(v: Node) -> Node:
    n = v.shape[-1]
    shape = tuple(v.shape) + (n,)
    return b.where(b.broadcast_to(_eye(n), shape), b.broadcast_to(b.reshape(v, tuple(v.shape[:-1]) + (1, n)), shape), 0.0)


def _row(v: Node) -> Node:
    """[..., k] as [..., 1, k]: one value per column."""
    return b.reshape(v, tuple(v.shape[:-1]) + (1, v.shape[-1]))


def _column(v: Node) -> Node:
    """[..., k] as [..., k, 1]: one value per row."""
    return b.reshape(v, tuple(v.shape) + (1,))


def _guarded_div(x: Node, d: Node) -> Node:
    """x / d, 0 where d is 0 (the module docstring says why)."""
    zero = b.compare("eq", d, 0.0)
    return b.where(zero, 0.0, b.div(x, b.where(zero, 1.0, d)))


def _t(x: Node) -> Node:
    return b.transpose_last(x)


def _narrow_last(x: Node, length: int, axis: int) -> Node:
    """The first ``length`` entries of ``axis`` (-1 or -2) of a batch of matrices."""
    if x.shape[axis] == length:
        return x
    ndim = x.type.ndim
    stops = list(x.shape)
    stops[ndim + axis] = length
    return emit("slice", x, starts=(0,) * ndim, stops=tuple(stops), steps=(1,) * ndim)


@defvjp("eigh")
def eigh_vjp(node: Node, g: Node) -> tuple:
    """torch's linalg_eig_backward for a symmetric matrix: V (skew(V^T gV) / E + diag(gw)) V^T, E_ij = w_j - w_i."""
    n = node.inputs[0].shape[-1]
    w, v = pieces(node, [(n,), (n, n)])
    gw, gv = pieces(g, [(n,), (n, n)])
    vtgv = b.matmul(_t(v), gv)
    skew = b.mul(b.sub(vtgv, _t(vtgv)), 0.5)
    gaps = b.sub(b.broadcast_to(_row(w), v.shape), b.broadcast_to(_column(w), v.shape))
    inner = b.add(_guarded_div(skew, gaps), _diag_embed(gw))
    return (b.matmul(v, b.matmul(inner, _t(v))),)


@defvjp("svd")
def svd_vjp(node: Node, g: Node) -> tuple:
    """torch's svd_backward; with ``full_matrices`` the columns of U and rows of Vh past min(m, n) are dropped first, as torch."""
    x = node.inputs[0]
    m, n = x.shape[-2:]
    k = min(m, n)
    sizes = svd_sizes(m, n, node.attrs["full_matrices"])
    u, s, vh = pieces(node, sizes)
    gu, gs, gvh = pieces(g, sizes)
    u, gu = _narrow_last(u, k, -1), _narrow_last(gu, k, -1)
    vh, gvh = _narrow_last(vh, k, -2), _narrow_last(gvh, k, -2)
    square = tuple(x.shape[:-2]) + (k, k)
    uhgu = b.matmul(_t(u), gu)
    uhgu = b.sub(uhgu, _t(uhgu))
    vhgv = b.matmul(vh, _t(gvh))
    vhgv = b.sub(vhgv, _t(vhgv))
    s_row, s_col = b.broadcast_to(_row(s), square), b.broadcast_to(_column(s), square)
    gaps = b.sub(b.mul(s_row, s_row), b.mul(s_col, s_col))
    inner = _guarded_div(b.add(b.mul(uhgu, s_row), b.mul(s_col, vhgv)), gaps)
    inner = b.add(inner, _diag_embed(gs))
    if m > n:
        gu_s = _guarded_div(gu, b.broadcast_to(_row(s), gu.shape))
        left = b.add(b.matmul(u, inner), b.sub(gu_s, b.matmul(u, b.matmul(_t(u), gu_s))))
        return (b.matmul(left, vh),)
    if m < n:
        s_gvh = _guarded_div(gvh, b.broadcast_to(_column(s), gvh.shape))
        right = b.add(b.matmul(inner, vh), b.sub(s_gvh, b.matmul(b.matmul(s_gvh, _t(vh)), vh)))
        return (b.matmul(u, right),)
    return (b.matmul(u, b.matmul(inner, vh)),)


@defvjp("qr")
def qr_vjp(node: Node, g: Node) -> tuple:
    """torch's linalg_qr_backward, with its refusals: mode "r" has no Q to differentiate through, and a
    complete factorization of a tall matrix leaves part of Q undetermined."""
    x = node.inputs[0]
    m, n = x.shape[-2:]
    mode = node.attrs["mode"]
    if mode == "r":
        message = (
            "The derivative of linalg.qr depends on Q, which is not computed when mode='r'. "
            "Please use linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr."
        )
        raise op_error("linalg.qr", [x.type], {"mode": mode}, message)
    if mode == "complete" and m > n:
        raise op_error("linalg.qr", [x.type], {"mode": mode}, "The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
    sizes = qr_sizes(m, n, mode)
    q, r = pieces(node, sizes)
    gq, gr = pieces(g, sizes)
    ga = b.sub(b.matmul(gr, _t(r)), b.matmul(_t(q), gq))
    if m >= n:
        upper = _triangle(ga, "ge")
        sym = b.add(upper, _t(upper))
        sym = b.sub(sym, b.mul(_diag_embed(_diagonal(sym)), 0.5))
        ga = b.add(b.matmul(q, sym), gq)
        return (_right_solve_transposed(r, ga),)
    x_ = b.neg(ga)
    skew = _triangle(b.sub(x_, _t(x_)), "le")
    left = _right_solve_transposed(_narrow_last(r, m, -1), b.matmul(q, skew))
    batch = tuple(x.shape[:-2])
    zeros = b.full(batch + (m, n - m), 0.0, x.dtype)
    return (b.add(emit("concat", left, zeros, axis=x.type.ndim - 1), b.matmul(q, gr)),)


def _diagonal(x: Node) -> Node:
    n = x.shape[-1]
    return emit("sum", b.where(b.broadcast_to(_eye(n), x.shape), x, 0.0), axes=(x.type.ndim - 1,), keepdim=False)


def _right_solve_transposed(r: Node, rhs: Node) -> Node:
    """rhs R^-T for an upper-triangular R: X with X R^T = rhs, i.e. R X^T = rhs^T."""
    return _t(emit("solve_triangular", r, _t(rhs), upper=True, unitriangular=False))


@rule("pinv")
def pinv_vjp(node: Node, g: Node) -> tuple:
    """torch's pinv_backward: the derivative of the pseudo-inverse at the rank it was computed with, from
    the result P and A alone (not the chain rule through the SVD, which differs where singular values
    were cut off). The operand is A^T, of the result's shape (``custom_vjp`` wants one shape)."""
    p, a = node.inputs[0], _t(node.inputs[1])
    m, n = a.shape[-2:]
    ph, gh = _t(p), _t(g)
    if m <= n:
        k = b.matmul(gh, p)
        k_ph = b.matmul(k, ph)
        first = b.sub(k_ph, _t(b.matmul(p, k)))
        second = b.sub(b.matmul(b.matmul(ph, p), b.sub(gh, b.matmul(k, a))), b.matmul(b.matmul(a, p), k_ph))
        return (_t(b.add(first, second)),)
    k = b.matmul(p, gh)
    ph_k = b.matmul(ph, k)
    first = b.sub(ph_k, _t(b.matmul(k, p)))
    second = b.sub(b.matmul(b.matmul(b.sub(gh, b.matmul(a, k)), p), ph), b.matmul(b.matmul(ph_k, p), a))
    return (_t(b.add(first, second)),)
