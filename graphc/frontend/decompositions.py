"""torch.linalg's eigh, eigvalsh, svd, svdvals and qr, and the older torch.svd and torch.qr.

Each is one decomposition primitive (``graphc/ir/primitives/decompositions.py``) whose packed
result is sliced into torch's named outputs. The checks come first, with torch's messages:
only float32 and float64 matrices are taken, as by torch's CPU linear algebra.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from graphc.frontend.functional import node_of, wrap
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.primitives.decompositions import pieces, qr_sizes, svd_sizes
from graphc.ir.registry import emit, op_error
from graphc.runtime.tensor import Tensor

METHODS = ["svd", "qr"]

# torch's names of dtypes in its messages ("not implemented for 'Half'").
TORCH_NAMES = {
    **{"float16": "Half", "bfloat16": "BFloat16", "float32": "Float", "float64": "Double", "bool": "Bool"},
    **{"uint8": "Byte", "int8": "Char", "int16": "Short", "int32": "Int", "int64": "Long"},
}


class EighResult(NamedTuple):
    eigenvalues: Tensor
    eigenvectors: Tensor


class SVDResult(NamedTuple):
    U: Tensor
    S: Tensor
    Vh: Tensor


class SVDTorchResult(NamedTuple):
    """torch.svd's (U, S, V): V, not its transpose."""

    U: Tensor
    S: Tensor
    V: Tensor


class QRResult(NamedTuple):
    Q: Tensor
    R: Tensor


def matrices(op: str, A: Tensor, kernel: str, square: bool = False, attrs: dict[str, Any] | None = None) -> Node:
    """A's node, refused with torch's messages unless it is a batch of float32/float64 (square) matrices.

    ``kernel`` names torch's CPU kernel in its message for half precision ("linalg_svd_cpu").
    """
    x = node_of(A)
    attrs = attrs or {}
    if x.type.ndim < 2:
        raise op_error(op, [x.type], attrs, f"{op}: The input tensor A must have at least 2 dimensions.")
    if x.dtype not in (dtypes.float32, dtypes.float64):
        name = TORCH_NAMES[x.dtype.name]
        if x.dtype.is_floating_point or kernel in ("linalg_eigh_cpu", "orgqr_cpu"):
            raise op_error(op, [x.type], attrs, f'"{kernel}" not implemented for \'{name}\'')
        raise op_error(op, [x.type], attrs, f"{op}: Expected a floating point or complex tensor as input. Got {name}")
    if square and x.shape[-1] != x.shape[-2]:
        raise op_error(op, [x.type], attrs, f"{op}: A must be batches of square matrices, but they are {x.shape[-2]} by {x.shape[-1]} matrices")
    return x


def _uplo(op: str, x: Node, UPLO: str) -> bool:
    if UPLO not in ("L", "U", "l", "u"):
        raise op_error(op, [x.type], {"UPLO": UPLO}, f"Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    return UPLO in ("U", "u")


def _eigh(op: str, A: Tensor, UPLO: str) -> list[Node]:
    x = matrices(op, A, "linalg_eigh_cpu", square=True, attrs={"UPLO": UPLO})
    n = x.shape[-1]
    return pieces(emit("eigh", x, upper=_uplo(op, x, UPLO)), [(n,), (n, n)])


def eigh(A: Tensor, UPLO: str = "L") -> EighResult:
    """The eigenvalues (ascending) and eigenvectors (columns) of symmetric matrices, from their lower (``UPLO="U"``: upper) triangle."""
    values, vectors = _eigh("linalg.eigh", A, UPLO)
    return EighResult(wrap(values), wrap(vectors))


def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    return wrap(_eigh("linalg.eigvalsh", A, UPLO)[0])


def _svd(op: str, A: Tensor, full_matrices: bool, driver: str | None) -> list[Node]:
    x = matrices(op, A, "linalg_svd_cpu", attrs={"full_matrices": full_matrices})
    if driver is not None:
        raise op_error(op, [x.type], {"driver": driver}, "torch.linalg.svd: keyword argument `driver=` is only supported on CUDA inputs with cuSOLVER backend.")
    m, n = x.shape[-2:]
    return pieces(emit("svd", x, full_matrices=bool(full_matrices)), svd_sizes(m, n, bool(full_matrices)))


def linalg_svd(A: Tensor, full_matrices: bool = True, *, driver: str | None = None) -> SVDResult:
    """A = U diag(S) Vh, S descending; U and Vh square with ``full_matrices``."""
    u, s, vh = _svd("linalg.svd", A, full_matrices, driver)
    return SVDResult(wrap(u), wrap(s), wrap(vh))


def svdvals(A: Tensor, *, driver: str | None = None) -> Tensor:
    return wrap(_svd("linalg.svd", A, False, driver)[1])


def svd(input: Tensor, some: bool = True, compute_uv: bool = True) -> SVDTorchResult:
    """torch.svd: (U, S, V) with V = Vh^T; without ``compute_uv``, U and V are zeros of shapes (m, m) and (n, n), as torch's."""
    u, s, vh = _svd("svd", input, not some, None)
    if not compute_uv:
        x = node_of(input)
        batch, (m, n) = tuple(x.shape[:-2]), x.shape[-2:]
        return SVDTorchResult(wrap(b.full(batch + (m, m), 0.0, x.dtype)), wrap(s), wrap(b.full(batch + (n, n), 0.0, x.dtype)))
    return SVDTorchResult(wrap(u), wrap(s), wrap(b.transpose_last(vh)))


def linalg_qr(A: Tensor, mode: str = "reduced") -> QRResult:
    """A = QR by Householder reflections: Q with orthonormal columns, R upper-triangular; mode "r" returns an empty Q, as torch."""
    x = matrices("linalg.qr", A, "geqrf_cpu", attrs={"mode": mode})
    if mode not in ("reduced", "complete", "r"):
        message = f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), 'r', or 'complete'"
        raise op_error("linalg.qr", [x.type], {"mode": mode}, message)
    m, n = x.shape[-2:]
    outputs = pieces(emit("qr", x, mode=mode), qr_sizes(m, n, mode))
    if mode == "r":
        return QRResult(wrap(b.full((0,), 0.0, x.dtype)), wrap(outputs[0]))
    return QRResult(wrap(outputs[0]), wrap(outputs[1]))


def qr(input: Tensor, some: bool = True) -> QRResult:
    """torch.qr: the reduced factorization, or the complete one when ``some`` is False."""
    return linalg_qr(input, "reduced" if some else "complete")
