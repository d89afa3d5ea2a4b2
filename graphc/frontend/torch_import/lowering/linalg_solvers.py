"""The LU and Cholesky families as torch.export leaves them after decomposition (_linalg_det,
_linalg_slogdet, _linalg_solve_ex, linalg_inv_ex, linalg_cholesky_ex, cholesky, cholesky_solve,
cholesky_inverse, linalg_solve_triangular, triangular_solve), through graphc's front end
(graphc/frontend/linalg_solvers.py).

A plain inv, solve or cholesky exports as its ``_ex`` form and an effect,
``with_effects(token, _linalg_check_errors, info, name)``, that raises on a nonzero info. The
``_ex`` op's lowering finds that effect among the users of its info and builds graphc's check
into its result (``checked_as``); the effect itself lowers to nothing but its token. det and
slogdet also return the LU factors and pivots, which graphc does not compute: only torch's
backward reads them, so their slots hold None.
"""

from __future__ import annotations

import torch

from graphc.errors import GraphcError
from graphc.frontend import linalg_solvers as frontend
from graphc.frontend.torch_import.lowering.frontend import call
from graphc.frontend.torch_import.lowering.table import LoweringContext, lowers, op_name
from graphc.ir.graph import Node

aten = torch.ops.aten
KIND = "linear algebra"


def checked_as(ctx: LoweringContext, check_errors: bool) -> bool | str:
    """The name under which the exported graph checks this ``_ex`` op's info (torch's ``_linalg_check_errors``), else ``check_errors``."""
    for item in ctx.node.users:
        for user in item.users:
            if user.target is torch.ops.higher_order.with_effects and user.args[1] is aten._linalg_check_errors.default:
                return user.args[3]
    return check_errors


@lowers("plumbing", torch.ops.higher_order.with_effects)
def with_effects(ctx: LoweringContext, token: None, op: object, *args: object, **kwargs: object) -> tuple[None]:
    """Only the linear-algebra checks, which the ``_ex`` op checked (``checked_as``)."""
    if op is not aten._linalg_check_errors.default:
        raise GraphcError(f"the effectful op {op_name(op)} has no graphc lowering")
    return (token,)


@lowers(KIND, aten.linalg_inv_ex.default)
def inv_ex(ctx: LoweringContext, a: Node, *, check_errors: bool = False) -> tuple[Node, Node]:
    return call(frontend.inv_ex, a, check_errors=checked_as(ctx, check_errors))


@lowers(KIND, aten._linalg_solve_ex.default)
def solve_ex(ctx: LoweringContext, a: Node, rhs: Node, *, left: bool = True, check_errors: bool = False) -> tuple:
    result, info = call(frontend.solve_ex, a, rhs, left=left, check_errors=checked_as(ctx, check_errors))
    return result, None, None, info


@lowers(KIND, aten._linalg_det.default)
def det(ctx: LoweringContext, a: Node) -> tuple:
    return call(frontend.det, a), None, None


@lowers(KIND, aten._linalg_slogdet.default)
def slogdet(ctx: LoweringContext, a: Node) -> tuple:
    sign, logabsdet = call(frontend.slogdet, a)
    return sign, logabsdet, None, None


@lowers(KIND, aten.linalg_cholesky_ex.default)
def cholesky_ex(ctx: LoweringContext, a: Node, *, upper: bool = False, check_errors: bool = False) -> tuple[Node, Node]:
    return call(frontend.cholesky_ex, a, upper=upper, check_errors=checked_as(ctx, check_errors))


@lowers(KIND, aten.cholesky.default)
def cholesky(ctx: LoweringContext, a: Node, upper: bool = False) -> Node:
    return call(frontend.linalg_cholesky, a, upper=upper)


@lowers(KIND, aten.cholesky_solve.default)
def cholesky_solve(ctx: LoweringContext, rhs: Node, factor: Node, upper: bool = False) -> Node:
    return call(frontend.cholesky_solve, rhs, factor, upper)


@lowers(KIND, aten.cholesky_inverse.default)
def cholesky_inverse(ctx: LoweringContext, factor: Node, upper: bool = False) -> Node:
    return call(frontend.cholesky_inverse, factor, upper)


@lowers(KIND, aten.linalg_solve_triangular.default)
def solve_triangular(ctx: LoweringContext, a: Node, rhs: Node, *, upper: bool, left: bool = True, unitriangular: bool = False) -> Node:
    return call(frontend.solve_triangular, a, rhs, upper=upper, left=left, unitriangular=unitriangular)


@lowers(KIND, aten.triangular_solve.default)
def triangular_solve(ctx: LoweringContext, rhs: Node, a: Node, upper: bool = True, transpose: bool = False, unitriangular: bool = False) -> tuple[Node, Node]:
    return call(frontend.triangular_solve, rhs, a, upper, transpose, unitriangular)
