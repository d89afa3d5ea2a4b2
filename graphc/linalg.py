"""``graphc.linalg``: the norms of ``torch.linalg`` (``graphc/frontend/linalg.py``)."""

from graphc.frontend.linalg import linalg_norm as norm
from graphc.frontend.linalg import matrix_norm, vector_norm

__all__ = ["matrix_norm", "norm", "vector_norm"]
