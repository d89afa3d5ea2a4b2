"""The LU and LDL factorization families and the matrix exponential as torch.export leaves them (linalg_lu_factor_ex,
linalg_lu, linalg_lu_solve, lu_unpack, linalg_ldl_factor(_ex), linalg_ldl_solve, linalg_matrix_exp), through graphc's
front end (graphc/frontend/lu_factorization.py, ldl_factorization.py, matrix_functions.py).

A plain ``linalg.lu_factor`` exports as ``linalg_lu_factor_ex`` and a ``_linalg_check_errors``
effect on its info, which the factor's check takes over (``checked_as``), as inv's does.
"""

from __future__ import annotations

import torch

from graphc.frontend import ldl_factorization as ldl
from graphc.frontend import lu_factorization as frontend
from graphc.frontend.matrix_functions import matrix_exp as frontend_matrix_exp
from graphc.frontend.torch_import.lowering.frontend import call
from graphc.frontend.torch_import.lowering.linalg_solvers import KIND, checked_as
from graphc.frontend.torch_import.lowering.table import LoweringContext, lowers
from graphc.ir.graph import Node

aten = torch.ops.aten


@lowers(KIND, aten.linalg_lu_factor_ex.default)
def lu_factor_ex(ctx: LoweringContext, a: Node, *, pivot: bool = True, check_errors: bool = False) -> tuple[Node, Node, Node]:
    return call(frontend.lu_factor_ex, a, pivot=pivot, check_errors=checked_as(ctx, check_errors))


@lowers(KIND, aten.linalg_lu.default)
def lu(ctx: LoweringContext, a: Node, *, pivot: bool = True) -> tuple[Node, Node, Node]:
    return call(frontend.linalg_lu, a, pivot=pivot)


@lowers(KIND, aten.linalg_lu_solve.default)
def lu_solve(ctx: LoweringContext, factor: Node, pivots: Node, rhs: Node, *, left: bool = True, adjoint: bool = False) -> Node:
    return call(frontend.lu_solve_linalg, factor, pivots, rhs, left=left, adjoint=adjoint)


@lowers(KIND, aten.lu_unpack.default)
def lu_unpack(ctx: LoweringContext, factor: Node, pivots: Node, unpack_data: bool = True, unpack_pivots: bool = True) -> tuple[Node, Node, Node]:
    return call(frontend.lu_unpack, factor, pivots, unpack_data, unpack_pivots)


@lowers(KIND, aten.linalg_ldl_factor.default)
def ldl_factor(ctx: LoweringContext, a: Node, *, hermitian: bool = False) -> tuple[Node, Node]:
    return call(ldl.ldl_factor, a, hermitian=hermitian)


@lowers(KIND, aten.linalg_ldl_factor_ex.default)
def ldl_factor_ex(ctx: LoweringContext, a: Node, *, hermitian: bool = False, check_errors: bool = False) -> tuple[Node, Node, Node]:
    return call(ldl.ldl_factor_ex, a, hermitian=hermitian, check_errors=bool(check_errors))


@lowers(KIND, aten.linalg_ldl_solve.default)
def ldl_solve(ctx: LoweringContext, factor: Node, pivots: Node, rhs: Node, *, hermitian: bool = False) -> Node:
    return call(ldl.ldl_solve, factor, pivots, rhs, hermitian=hermitian)


@lowers(KIND, aten.linalg_matrix_exp.default)
def matrix_exp(ctx: LoweringContext, a: Node) -> Node:
    return call(frontend_matrix_exp, a)
