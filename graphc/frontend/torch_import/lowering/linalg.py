"""Linear algebra: mm, bmm, addmm (what ``nn.Linear`` becomes), matmul and friends."""

from __future__ import annotations

from typing import Any

import torch

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
    product = _scaled(b.matmul(x, other), alpha)
    if beta == 0:
        return product
    return b.add(product, _scaled(bias, beta))


@lowers(KIND, aten.linear.default)
def linear(ctx: LoweringContext, x: Node, weight: Node, bias: Node | None = None) -> Node:
    out = b.matmul(x, b.transpose_last(weight) if weight.type.ndim == 2 else weight)
    return out if bias is None else b.add(out, bias)
