"""The importer on the LU family and the matrix exponential (graphc/frontend/torch_import/lowering/lu_and_exp.py):
linalg_lu_factor_ex with the check effect a plain lu_factor exports, linalg_lu, linalg_lu_solve, lu_unpack and
linalg_matrix_exp, values and float64 gradients against eager torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_torch_import_ops import run_both

import graphc

RNG = np.random.default_rng(23)


class Factorizations(torch.nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> list[torch.Tensor]:
        factor, pivots = torch.linalg.lu_factor(a)
        solution = torch.linalg.lu_solve(factor, pivots, b, adjoint=True)
        return [factor, pivots, *torch.linalg.lu(a), solution, *torch.lu_unpack(factor, pivots), torch.linalg.matrix_exp(a)]


def test_imported_lu_family_and_matrix_exp_match_torch() -> None:
    run_both(Factorizations(), torch.from_numpy(RNG.standard_normal((2, 3, 3))), torch.from_numpy(RNG.standard_normal((2, 3, 2))))


class Factor(torch.nn.Module):
    def forward(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.linalg.lu_factor(a)


def test_an_imported_lu_factor_raises_torch_s_message_on_a_singular_matrix() -> None:
    """One matrix: its rows would be the batch symbol, and lu needs static matrix sizes."""
    compiled = graphc.compile(Factor(), backend="numpy", dynamic=False)
    compiled(torch.eye(3, dtype=torch.float64))
    with pytest.raises(graphc.linalg.LinAlgError, match=r"^torch.linalg.lu_factor: U\[2,2\] is zero"):
        compiled(torch.tensor([[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64))
