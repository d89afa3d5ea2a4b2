"""The decompositions (_linalg_eigh, _linalg_svd, linalg_qr; what linalg.eigh, eigvalsh, svd, svdvals,
matrix_norm's ord 2 and "nuc", cond and matrix_rank export as) and linalg_pinv, through graphc's
front end (graphc/frontend/decompositions.py, spectral.py). ``linalg_lstsq`` does not export
(torch.export refuses its data-dependent output shapes)."""

from __future__ import annotations

from typing import Any

import torch

from graphc.frontend import decompositions as frontend
from graphc.frontend import spectral
from graphc.frontend.torch_import.lowering.frontend import call
from graphc.frontend.torch_import.lowering.table import LoweringContext, lowers
from graphc.ir import build as b
from graphc.ir.graph import Node

aten = torch.ops.aten
KIND = "linear algebra"


def _empty(x: Node) -> Node:
    """What torch returns for an output it was told not to compute: an empty tensor of x's dtype."""
    return b.full((0,), 0.0, x.dtype)


@lowers(KIND, aten._linalg_eigh.default)
def eigh(ctx: LoweringContext, x: Node, UPLO: str = "L", compute_v: bool = True) -> tuple[Node, Node]:
    values, vectors = call(frontend.eigh, x, UPLO)
    return values, vectors if compute_v else _empty(x)


@lowers(KIND, aten._linalg_svd.default)
def svd(ctx: LoweringContext, x: Node, full_matrices: bool = False, compute_uv: bool = True, *, driver: str | None = None) -> tuple[Node, Node, Node]:
    u, s, vh = call(frontend.linalg_svd, x, full_matrices, driver=driver)
    return (u, s, vh) if compute_uv else (_empty(x), s, _empty(x))


@lowers(KIND, aten.linalg_qr.default)
def qr(ctx: LoweringContext, x: Node, mode: str = "reduced") -> tuple[Node, Node]:
    return call(frontend.linalg_qr, x, mode)


@lowers(KIND, aten.linalg_pinv.atol_rtol_tensor, aten.linalg_pinv.atol_rtol_float)
def pinv(ctx: LoweringContext, x: Node, *, atol: Any = None, rtol: Any = None, hermitian: bool = False) -> Node:
    return call(spectral.pinv, x, hermitian=hermitian, atol=atol, rtol=rtol)


@lowers(KIND, aten.linalg_pinv.default, aten.linalg_pinv.rcond_tensor)
def pinv_rcond(ctx: LoweringContext, x: Node, rcond: Any, hermitian: bool = False) -> Node:
    return call(spectral.pinv, x, rcond, hermitian)
