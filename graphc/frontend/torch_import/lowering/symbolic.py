"""Plumbing of exported graphs: tuple indexing, symbolic sizes and runtime assertions.

Nodes whose result is a symbolic size (``sym_size``, ``operator.mul`` on sizes)
are not lowered through this table: the importer takes their value from the
expression torch recorded, rewritten in graphc's symbols. These lowerings are
the fallbacks and the ops that compute nothing.
"""

from __future__ import annotations

import operator
from typing import Any

import torch

from graphc.frontend.torch_import.lowering.table import LoweringContext, lowers
from graphc.ir.graph import Node

aten = torch.ops.aten
KIND = "plumbing"


@lowers(KIND, operator.getitem)
def getitem(ctx: LoweringContext, value: Any, index: int) -> Any:
    return value[index]


@lowers(KIND, aten.sym_size.int)
def sym_size(ctx: LoweringContext, x: Node, dim: int) -> Any:
    return x.shape[dim]


@lowers(KIND, aten.sym_numel.default)
def sym_numel(ctx: LoweringContext, x: Node) -> Any:
    return x.type.numel


def _python(op: Any) -> Any:
    def lower(ctx: LoweringContext, *args: Any) -> Any:
        return op(*args)

    return lower


for _op in (operator.add, operator.sub, operator.mul, operator.floordiv, operator.neg, operator.truediv, operator.mod):
    lowers(KIND, _op)(_python(_op))


@lowers(
    KIND,
    aten._assert_scalar.default,
    aten._assert_tensor_metadata.default,
    aten.sym_constrain_range.default,
    aten.sym_constrain_range_for_size.default,
    aten._assert_async.msg,
)
def assertion(ctx: LoweringContext, *_: Any, **__: Any) -> None:
    """Checks torch inserted about sizes; graphc's own shape checks cover them at run time."""
    return None
