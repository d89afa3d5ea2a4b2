"""Importing this package registers every primitive in ``graphc.ir.registry.REGISTRY``."""

from graphc.ir.primitives import custom, elementwise, indexing, linalg, lu_cholesky, movement, reduction, scan, sorting, source, window

__all__ = ["custom", "elementwise", "indexing", "linalg", "lu_cholesky", "movement", "reduction", "scan", "sorting", "source", "window"]
