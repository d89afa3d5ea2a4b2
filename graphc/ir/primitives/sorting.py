"""The sort primitive: the permutation that sorts one axis, from which sorted values are a gather.

Only the indices are a primitive. The values are ``gather(x, indices)``, so their gradient is
the gather's (scattered back to the element each value came from, as torch's), and no
backend needs a second sort kernel or a gradient rule of its own.
"""

from __future__ import annotations

from graphc.ir import dtypes
from graphc.ir.registry import primitive
from graphc.ir.types import TensorType, TypeRuleError


@primitive("argsort", "sort", attrs=("axis", "descending"), nondifferentiable=True)
def argsort_rule(x: TensorType, axis: int, descending: bool) -> TensorType:
    """int64 indices that sort ``x`` along ``axis``: stable (ties keep their order, descending too), NaN as the largest, as torch.sort(stable=True)"""
    if x.ndim == 0:
        raise TypeRuleError("argsort needs at least 1 dimension")
    if not isinstance(axis, int) or not 0 <= axis < x.ndim:
        raise TypeRuleError(f"axis {axis} out of range for a {x.ndim}-d tensor")
    if not isinstance(descending, bool):
        raise TypeRuleError(f"descending must be a bool, got {descending!r}")
    return TensorType(x.shape, dtypes.int64)
