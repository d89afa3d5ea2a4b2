"""``graphc.linalg``: the norms and matrix products of ``torch.linalg`` (``graphc/frontend/linalg.py``, ``matrix_chains.py``)
and its LU and Cholesky families (``linalg_solvers.py``).

``LinAlgError`` is what a singular or non-positive-definite input raises when the program runs:
graphc's ``InvalidValueError``, the error of every value check (docs/decisions.md, "Linear algebra").
"""

from graphc.errors import InvalidValueError as LinAlgError
from graphc.frontend.decompositions import eigh, eigvalsh, svdvals
from graphc.frontend.decompositions import linalg_qr as qr
from graphc.frontend.decompositions import linalg_svd as svd
from graphc.frontend.functional import matmul
from graphc.frontend.ldl_factorization import ldl_factor, ldl_factor_ex, ldl_solve
from graphc.frontend.linalg import linalg_norm as norm
from graphc.frontend.linalg import matrix_norm, vector_norm
from graphc.frontend.linalg_solvers import cholesky_ex, det, inv, inv_ex, slogdet, solve, solve_ex, solve_triangular, tensorinv, tensorsolve
from graphc.frontend.linalg_solvers import linalg_cholesky as cholesky
from graphc.frontend.linalg_vectors import diagonal, vander, vecdot
from graphc.frontend.lu_factorization import linalg_lu as lu
from graphc.frontend.lu_factorization import lu_factor, lu_factor_ex
from graphc.frontend.lu_factorization import lu_solve_linalg as lu_solve
from graphc.frontend.matrix_chains import linalg_cross as cross
from graphc.frontend.matrix_chains import matrix_power, multi_dot
from graphc.frontend.matrix_functions import matrix_exp
from graphc.frontend.out_argument import install as _install_out
from graphc.frontend.spectral import cond, householder_product, lstsq, matrix_rank, pinv

__all__ = [
    "cholesky",
    "cholesky_ex",
    "cond",
    "cross",
    "det",
    "diagonal",
    "eigh",
    "eigvalsh",
    "householder_product",
    "inv",
    "inv_ex",
    "LinAlgError",
    "ldl_factor",
    "ldl_factor_ex",
    "ldl_solve",
    "lstsq",
    "lu",
    "lu_factor",
    "lu_factor_ex",
    "lu_solve",
    "matmul",
    "matrix_exp",
    "matrix_norm",
    "matrix_power",
    "matrix_rank",
    "multi_dot",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "solve_ex",
    "solve_triangular",
    "svd",
    "svdvals",
    "tensorinv",
    "tensorsolve",
    "vander",
    "vecdot",
    "vector_norm",
]

# out= on the functions torch.linalg takes it on (graphc/frontend/out_argument.py).
_install_out(globals(), "linalg.")
