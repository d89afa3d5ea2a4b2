"""Importing this package registers every primitive in ``graphc.ir.registry.REGISTRY``."""

from graphc.ir.primitives import elementwise, indexing, linalg, movement, reduction, source, window

__all__ = ["elementwise", "indexing", "linalg", "movement", "reduction", "source", "window"]
