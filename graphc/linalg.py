"""``graphc.linalg``: the norms and matrix products of ``torch.linalg`` (``graphc/frontend/linalg.py``, ``matrix_chains.py``)."""

from graphc.frontend.linalg import linalg_norm as norm
from graphc.frontend.linalg import matrix_norm, vector_norm
from graphc.frontend.matrix_chains import linalg_cross as cross
from graphc.frontend.matrix_chains import matrix_power, multi_dot

__all__ = ["cross", "matrix_norm", "matrix_power", "multi_dot", "norm", "vector_norm"]
