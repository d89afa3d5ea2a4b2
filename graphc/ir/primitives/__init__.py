"""Importing this package registers every primitive in ``graphc.ir.registry.REGISTRY``."""

from graphc.ir.primitives import (
    custom,
    decompositions,
    elementwise,
    indexing,
    ldl,
    linalg,
    lu_cholesky,
    matrix_exp,
    movement,
    reduction,
    scan,
    sorting,
    source,
    window,
)

__all__ = [
    "custom",
    "decompositions",
    "elementwise",
    "indexing",
    "ldl",
    "linalg",
    "lu_cholesky",
    "matrix_exp",
    "movement",
    "reduction",
    "scan",
    "sorting",
    "source",
    "window",
]
