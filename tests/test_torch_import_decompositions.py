"""The importer's decompositions (graphc/frontend/torch_import/lowering/decompositions.py): a module
exported with torch.export, lowered, compiled and compared with eager torch in float64, values and
gradients, in the style of tests/test_torch_import_ops.py. Eigenvectors and singular vectors enter
as squares (their signs are LAPACK's choice, which NumPy's and torch's builds make differently)."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from test_torch_import_ops import float64, run_both

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Decompositions(nn.Module):
    """_linalg_eigh, _linalg_svd (what svd, matrix_norm's nuc, cond and matrix_rank become), linalg_qr, linalg_pinv."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        values, vectors = torch.linalg.eigh(x + x.mT)
        u, s, vh = torch.linalg.svd(y, full_matrices=False)
        q, r = torch.linalg.qr(y)
        return [
            values,
            vectors**2,
            torch.linalg.eigvalsh(x, UPLO="U"),
            s,
            u**2,
            vh**2,
            q,
            r,
            torch.linalg.qr(x, mode="complete").Q,
            torch.linalg.qr(y, mode="r").R.detach(),
            torch.linalg.pinv(y, atol=0.5),
            torch.linalg.pinv(x + x.mT, hermitian=True),
            torch.linalg.matrix_norm(x, "nuc") + torch.linalg.cond(y),
            torch.linalg.matrix_rank(y).double(),
        ]


def test_decomposition_lowerings() -> None:
    run_both(Decompositions(), float64(2, 3, 3), float64(2, 4, 3, seed=2))
