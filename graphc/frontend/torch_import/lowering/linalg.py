"""Linear algebra: mm, bmm, addmm (what ``nn.Linear`` becomes), matmul and friends, addbmm, and
distances (dist, cdist) as graphc's front end builds them."""

from __future__ import annotations

from typing import Any

import torch

from graphc.frontend import linalg as frontend
from graphc.frontend.torch_import.lowering.frontend import call
from graphc.frontend.torch_import.lowering.table import LoweringContext, lowers
from graphc.ir import build as b
from graphc.ir.graph import Node

aten = torch.ops.aten
KIND = "linear algebra"


def _scaled(x: Node, factor: Any) -> Node:
    return x if factor == 1 else b.mul(x, factor)


@lowers(KIND, aten.mm.default, aten.bmm.default, aten.matmul.default, aten.dot.default, aten.mv.default)
def matmul(ctx: LoweringContext, x: Node, other: Node) -> Node:
    return b.matmul(x, other)


@lowers(KIND, aten.addmm.default, aten.baddbmm.default, aten.addmv.default)
def addmm(ctx: LoweringContext, bias: Node, x: Node, other: Node, beta: Any = 1, alpha: Any = 1) -> Node:
    """beta * bias + alpha * (x @ other), the bias broadcast."""
    if beta == 0:
        return _scaled(b.matmul(x, other), alpha)
    return b.matmul_then(x, other, lambda product: b.add(_scaled(product, alpha), _scaled(bias, beta)))


@lowers(KIND, aten.linear.default)
def linear(ctx: LoweringContext, x: Node, weight: Node, bias: Node | None = None) -> Node:
    weight_side = b.transpose_last(weight) if weight.type.ndim == 2 else weight
    if bias is None:
        return b.matmul(x, weight_side)
    return b.matmul_then(x, weight_side, lambda product: b.add(product, bias))


@lowers(KIND, aten.addbmm.default)
def addbmm(ctx: LoweringContext, bias: Node, batch1: Node, batch2: Node, beta: Any = 1, alpha: Any = 1) -> Node:
    return call(frontend.addbmm, bias, batch1, batch2, beta=beta, alpha=alpha)


@lowers(KIND, aten.dist.default)
def dist(ctx: LoweringContext, x: Node, other: Node, p: Any = 2) -> Node:
    return call(frontend.dist, x, other, p)


# aten._cdist_forward's compute_mode: None or 0 (torch's default), 1 (always by matmul), 2 (never).
_CDIST_MODES = {
    None: "use_mm_for_euclid_dist_if_necessary",
    0: "use_mm_for_euclid_dist_if_necessary",
    1: "use_mm_for_euclid_dist",
    2: "donot_use_mm_for_euclid_dist",
}


@lowers(KIND, aten._cdist_forward.default)
def cdist(ctx: LoweringContext, x1: Node, x2: Node, p: float, compute_mode: int | None = None) -> Node:
    """graphc's cdist: from the differences unless the model asks for the matmul form (docs/decisions.md)."""
    return call(frontend.cdist, x1, x2, p, _CDIST_MODES[compute_mode])
