"""Products and scans: prod, cumsum, cumprod, cummax, cummin, logcumsumexp, as graphc's front end builds them
(exact trees and Hillis-Steele scans of elementwise ops; the reduced axis must have a static size)."""

from __future__ import annotations

import torch

from graphc.frontend import reductions as frontend
from graphc.frontend.torch_import.lowering.frontend import call
from graphc.frontend.torch_import.lowering.table import LoweringContext, graphc_dtype, lowers
from graphc.ir.graph import Node

aten = torch.ops.aten
KIND = "reduction"


def _dtype(dtype: torch.dtype | None) -> object:
    return None if dtype is None else graphc_dtype(dtype)


@lowers(KIND, aten.prod.default)
def prod_all(ctx: LoweringContext, x: Node, dtype: torch.dtype | None = None) -> Node:
    return call(frontend.prod, x, dtype=_dtype(dtype))


@lowers(KIND, aten.prod.dim_int)
def prod_dim(ctx: LoweringContext, x: Node, dim: int, keepdim: bool = False, dtype: torch.dtype | None = None) -> Node:
    return call(frontend.prod, x, dim, keepdim, dtype=_dtype(dtype))


@lowers(KIND, aten.cumsum.default)
def cumsum(ctx: LoweringContext, x: Node, dim: int, dtype: torch.dtype | None = None) -> Node:
    return call(frontend.cumsum, x, dim, dtype=_dtype(dtype))


@lowers(KIND, aten.cumprod.default)
def cumprod(ctx: LoweringContext, x: Node, dim: int, dtype: torch.dtype | None = None) -> Node:
    return call(frontend.cumprod, x, dim, dtype=_dtype(dtype))


@lowers(KIND, aten.cummax.default)
def cummax(ctx: LoweringContext, x: Node, dim: int) -> tuple[Node, Node]:
    return call(frontend.cummax, x, dim)


@lowers(KIND, aten.cummin.default)
def cummin(ctx: LoweringContext, x: Node, dim: int) -> tuple[Node, Node]:
    return call(frontend.cummin, x, dim)


@lowers(KIND, aten.logcumsumexp.default)
def logcumsumexp(ctx: LoweringContext, x: Node, dim: int) -> Node:
    return call(frontend.logcumsumexp, x, dim)
