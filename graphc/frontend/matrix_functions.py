"""torch's matrix exponential: ``linalg.matrix_exp``, ``torch.matrix_exp`` and ``Tensor.matrix_exp``.

One primitive computes it (``graphc/ir/primitives/matrix_exp.py``), choosing the Taylor degree and
the scaling from each matrix's norm when the kernel runs. The refusals are torch's, but for half
precision: torch's CPU kernel returns inf for exp(ones(2, 2)) in float16 and bfloat16, so graphc
takes float32 and float64 only (docs/decisions.md, "matrix_exp").
"""

from __future__ import annotations

from graphc.frontend.functional import wrap
from graphc.frontend.linalg_solvers import _matrices
from graphc.ir.registry import emit
from graphc.runtime.tensor import Tensor

METHODS = ["matrix_exp"]


def matrix_exp(A: Tensor) -> Tensor:
    """torch.linalg.matrix_exp / torch.matrix_exp: exp(A) of each square matrix, by scaling and squaring."""
    return wrap(emit("matrix_exp", _matrices("linalg.matrix_exp", A)))
