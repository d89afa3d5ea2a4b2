"""searchsorted, bucketize and histc through graphc's front end (graphc/frontend/bucketing.py):
a vectorized binary search and a count by comparison, with torch's answers for NaN and
unsorted boundaries and no gradient."""

from __future__ import annotations

from typing import Any

import torch

from graphc.frontend import bucketing as frontend
from graphc.frontend.torch_import.lowering.frontend import call
from graphc.frontend.torch_import.lowering.table import LoweringContext, lowers
from graphc.ir.graph import Node
from graphc.ir.registry import op_error

aten = torch.ops.aten
KIND = "searching"


@lowers(KIND, aten.searchsorted.Tensor, aten.searchsorted.Scalar)
def searchsorted(
    ctx: LoweringContext, seq: Node, x: Any, *, out_int32: bool = False, right: bool = False, side: str | None = None, sorter: Node | None = None
) -> Node:
    return call(frontend.searchsorted, seq, x, out_int32=out_int32, right=right, side=side, sorter=sorter)


@lowers(KIND, aten.bucketize.Tensor, aten.bucketize.Scalar)
def bucketize(ctx: LoweringContext, x: Any, boundaries: Node, *, out_int32: bool = False, right: bool = False) -> Node:
    return call(frontend.bucketize, x, boundaries, out_int32=out_int32, right=right)


@lowers(KIND, aten.histc.default)
def histc(ctx: LoweringContext, x: Node, bins: int = 100, min: float = 0, max: float = 0) -> Node:
    if min == max:  # the range would be each call's data minimum and maximum, read on the host
        message = "with min=max the range is the data's minimum and maximum, which an imported program cannot read; pass min and max explicitly"
        raise op_error("histc", [x.type], {"bins": bins, "min": min, "max": max}, message)
    return call(frontend.histc, x, bins, min, max)
