"""The scan primitive: running sums along one axis, forwards or backwards.

A running sum built from elementwise ops costs O(n log n) (a Hillis-Steele scan) and a
matmul with a triangle of ones O(n²); as a primitive it is one pass over the axis on every
backend (``np.cumsum``, ``tl.cumsum`` with a carry between blocks). ``reverse`` sums from the
end, which is what the gradient needs: each input element reaches every later output.
"""

from __future__ import annotations

from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import defvjp, emit, primitive
from graphc.ir.types import TensorType, TypeRuleError


@primitive("cumsum", "scan", attrs=("axis", "reverse"))
def cumsum_rule(x: TensorType, axis: int, reverse: bool) -> TensorType:
    """running sums along ``axis`` (from its end when ``reverse``); the front end makes integers int64 first, as torch"""
    if x.ndim == 0:
        raise TypeRuleError("cumsum needs at least 1 dimension")
    if not isinstance(axis, int) or not 0 <= axis < x.ndim:
        raise TypeRuleError(f"axis {axis} out of range for a {x.ndim}-d tensor")
    if not isinstance(reverse, bool):
        raise TypeRuleError(f"reverse must be a bool, got {reverse!r}")
    if x.dtype == dtypes.bool_:
        raise TypeRuleError("cumsum of bool: cast to int64 first")
    return x


@defvjp("cumsum")
def cumsum_vjp(node: Node, g: Node) -> tuple:
    """Output j sums inputs up to j, so input i gets the gradients of outputs from i on: the other direction's running sum."""
    return (emit("cumsum", g, axis=node.attrs["axis"], reverse=not node.attrs["reverse"]),)
