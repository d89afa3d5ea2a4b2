"""``graphc.linalg``: the norms and matrix products of ``torch.linalg`` (``graphc/frontend/linalg.py``, ``matrix_chains.py``)."""

from graphc.frontend.decompositions import eigh, eigvalsh, svdvals
from graphc.frontend.decompositions import linalg_qr as qr
from graphc.frontend.decompositions import linalg_svd as svd
from graphc.frontend.linalg import linalg_norm as norm
from graphc.frontend.linalg import matrix_norm, vector_norm
from graphc.frontend.matrix_chains import linalg_cross as cross
from graphc.frontend.matrix_chains import matrix_power, multi_dot
from graphc.frontend.spectral import cond, lstsq, matrix_rank, pinv

__all__ = [
    "cond",
    "cross",
    "eigh",
    "eigvalsh",
    "lstsq",
    "matrix_norm",
    "matrix_power",
    "matrix_rank",
    "multi_dot",
    "norm",
    "pinv",
    "qr",
    "svd",
    "svdvals",
    "vector_norm",
]
