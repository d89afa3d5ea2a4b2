"""Sorting: sort (argsort and msort export as it), topk, kthvalue, median, through graphc's front end:
an argsort primitive and a gather of the values (graphc/frontend/sorting.py); nanmedian and mode as
graphc/frontend/statistics.py builds them (mode by comparing every pair along the dimension)."""

from __future__ import annotations

import torch

from graphc.frontend import sorting as frontend
from graphc.frontend import statistics
from graphc.frontend.torch_import.lowering.frontend import call
from graphc.frontend.torch_import.lowering.table import LoweringContext, lowers
from graphc.ir.graph import Node

aten = torch.ops.aten
KIND = "sorting"


@lowers(KIND, aten.sort.default)
def sort(ctx: LoweringContext, x: Node, dim: int = -1, descending: bool = False) -> tuple[Node, Node]:
    return call(frontend.sort, x, dim, descending)


@lowers(KIND, aten.sort.stable)
def sort_stable(ctx: LoweringContext, x: Node, *, stable: bool | None = None, dim: int = -1, descending: bool = False) -> tuple[Node, Node]:
    """graphc's order is always the stable one, which torch's default order of ties may be too."""
    return call(frontend.sort, x, dim, descending)


@lowers(KIND, aten.topk.default)
def topk(ctx: LoweringContext, x: Node, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> tuple[Node, Node]:
    return call(frontend.topk, x, k, dim, largest, sorted)


@lowers(KIND, aten.kthvalue.default)
def kthvalue(ctx: LoweringContext, x: Node, k: int, dim: int = -1, keepdim: bool = False) -> tuple[Node, Node]:
    return call(frontend.kthvalue, x, k, dim, keepdim)


@lowers(KIND, aten.median.default)
def median_all(ctx: LoweringContext, x: Node) -> Node:
    return call(frontend.median, x)


@lowers(KIND, aten.median.dim)
def median_dim(ctx: LoweringContext, x: Node, dim: int, keepdim: bool = False) -> tuple[Node, Node]:
    return call(frontend.median, x, dim, keepdim)


@lowers(KIND, aten.nanmedian.default)
def nanmedian_all(ctx: LoweringContext, x: Node) -> Node:
    return call(statistics.nanmedian, x)


@lowers(KIND, aten.nanmedian.dim)
def nanmedian_dim(ctx: LoweringContext, x: Node, dim: int, keepdim: bool = False) -> tuple[Node, Node]:
    return call(statistics.nanmedian, x, dim, keepdim)


@lowers(KIND, aten.mode.default)
def mode(ctx: LoweringContext, x: Node, dim: int = -1, keepdim: bool = False) -> tuple[Node, Node]:
    return call(statistics.mode, x, dim, keepdim)
