"""torch.isin: whether each element occurs among the test elements.

The test elements are sorted once and every element is looked up with ``searchsorted``, so the
cost is O((n + m) log m) as torch's sorting path, not the n x m comparison table, and it is a
graph of sort, searchsorted, take and eq that runs inside graphc.compile on both backends. Both
operands are compared in their promoted dtype (``isin(tensor([1.5]), tensor([1]))`` compares
floats); NaN is in nothing, as ``==`` says.
"""

from __future__ import annotations

from typing import Any

from graphc.errors import GraphcError
from graphc.frontend.bucketing import searchsorted
from graphc.frontend.functional import node_of, where, wrap
from graphc.frontend.manipulation import take
from graphc.frontend.sorting import sort
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.runtime.tensor import Tensor

METHODS: list[str] = []


def isin(elements: Any, test_elements: Any, *, assume_unique: bool = False, invert: bool = False) -> Tensor:
    """A bool tensor in the shape of ``elements``: True where the element is one of ``test_elements`` (False with ``invert``).
    ``assume_unique`` only lets torch take a faster path; the answer is the same, so it is accepted and not needed here."""
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise GraphcError("isin: at least one of elements and test_elements must be a tensor")
    operands = [node_of(v) if isinstance(v, Tensor) else v for v in (elements, test_elements)]
    dtype = b.result_dtype(*operands)
    values, tests = (b.cast(v, dtype) if isinstance(v, Node) else b.constant(v, dtype) for v in operands)
    count = tests.type.numel
    flat = b.reshape(tests, (count,))
    if isinstance(count, int) and count == 0:
        return wrap(b.full(values.shape, invert, dtypes.bool_))
    ordered = sort(wrap(flat)).values  # NaN last
    # The search runs on NaN read as +inf (a binary search through NaN goes astray), the comparison on the values themselves.
    searched = where(ordered.isnan(), float("inf"), ordered) if dtype.is_floating_point else ordered
    position = searchsorted(searched, wrap(values)).clamp(max=count - 1)
    found = take(ordered, position) == wrap(values)
    return ~found if invert else found
