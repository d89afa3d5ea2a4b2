"""Sorting with torch's names: sort, argsort, msort, topk, kthvalue, median (unique is in data_dependent.py).

All of them are the ``argsort`` primitive (graphc/ir/primitives/sorting.py: the stable
permutation along one axis, NaN as the largest, as torch's stable=True) and a ``gather`` of
the values at it, so the gradient goes to the element each value came from, as torch's
(docs/decisions.md, "Sorting"). topk, kthvalue and median slice the sorted axis.
"""

from __future__ import annotations

import sympy

from graphc.frontend.functional import _dim, node_of, wrap
from graphc.frontend.symbolic_sizes import SymbolicSize, decide, dims
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.graph import Node
from graphc.ir.registry import emit, op_error
from graphc.ir.types import Dim, normalize_dim
from graphc.runtime.tensor import Tensor

METHODS = "sort argsort msort topk kthvalue median".split()


class ValuesIndices(tuple):
    """(values, indices), readable by name as torch.return_types.sort/topk/kthvalue/median."""

    def __new__(cls, values: Tensor, indices: Tensor) -> ValuesIndices:
        return super().__new__(cls, (values, indices))

    @property
    def values(self) -> Tensor:
        return self[0]

    @property
    def indices(self) -> Tensor:
        return self[1]


def _is_nan(x: Node) -> Node:
    return b.compare("ne", x, x)


def _sorted(op: str, input: Tensor, dim: int, descending: bool) -> tuple[Node, Node, int]:
    """(values, indices) sorted along ``dim``, and the axis; a 0-d input is its own sort."""
    x = node_of(input)
    if x.type.ndim == 0:
        _dim(x, dim, op=op)
        return x, b.constant(0, dtypes.int64), 0
    axis = _dim(x, dim, op=op)
    indices = emit("argsort", x, axis=axis, descending=descending)
    return emit("gather", x, indices, axis=axis), indices, axis


def sort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False) -> ValuesIndices:
    """(values, indices) along ``dim``; always stable (torch's stable=True order), NaN sorted as the largest."""
    values, indices, _ = _sorted("sort", input, dim, descending)
    return ValuesIndices(wrap(values), wrap(indices))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False) -> Tensor:
    return sort(input, dim, descending, stable=stable).indices


def msort(input: Tensor) -> Tensor:
    return sort(input, 0).values


def _take(values: Node, indices: Node, axis: int, start: Dim, length: Dim) -> tuple[Node, Node]:
    """Positions start .. start + length of ``axis`` of both (``start`` may be a size expression: a median of the batch)."""
    ndim = values.type.ndim
    starts = tuple(start if i == axis else 0 for i in range(ndim))
    stops = tuple(normalize_dim(start + length) if i == axis else d for i, d in enumerate(values.shape))
    return tuple(emit("slice", v, starts=starts, stops=stops, steps=(1,) * ndim) for v in (values, indices))


def topk(input: Tensor, k: int | SymbolicSize, dim: int = -1, largest: bool = True, sorted: bool = True) -> ValuesIndices:
    """The ``k`` largest (or smallest) along ``dim``, in sorted order.

    ``k`` may be a size the function read (``x.size(0) // 2``) and the dimension symbolic, where
    ``0 <= k <= size`` holds for every batch size; where that depends on the batch size, the size
    read specializes (a constant ``k`` of a symbolic dimension: the trace stops, and graphc.compile
    traces again with static sizes).
    """
    x = node_of(input)
    axis = _dim(x, dim, op="topk")
    size = x.shape[axis] if x.type.ndim else 1
    if isinstance(size, int) or isinstance(k, SymbolicSize):
        bound = SymbolicSize(size, k.origin) if isinstance(size, sympy.Expr) else size
        if not 0 <= k <= bound:
            raise op_error("topk", [x.type], {"k": dims(k), "dim": dim}, f"selected index k ({dims(k)}) out of range (the dimension has {size} elements)")
    elif k < 0:
        raise op_error("topk", [x.type], {"k": k, "dim": dim}, f"selected index k ({k}) out of range (the dimension has {size} elements)")
    elif decide(size, k, "ge") is not True:
        raise op_error("topk", [x.type], {"k": k, "dim": dim}, f"k ({k}) may exceed the symbolic size {size} of the dimension, at some batch sizes")
    k = dims(k)
    values, indices, axis = _sorted("topk", input, dim, largest)
    if x.type.ndim == 0:
        return ValuesIndices(wrap(values), wrap(indices))
    top, where = _take(values, indices, axis, 0, k)
    return ValuesIndices(wrap(top), wrap(where))


def kthvalue(input: Tensor, k: int | SymbolicSize, dim: int = -1, keepdim: bool = False) -> ValuesIndices:
    """The k-th smallest element (k from 1) along ``dim`` and its index.

    The dimension may be symbolic (the batch) and ``k`` a size the function read (``x.size(0) // 2``):
    ``1 <= k <= size`` must hold for every batch size, or the size specializes (a constant ``k`` of 3
    along the batch fails at batch 2; the function is traced again with static sizes).
    """
    x = node_of(input)
    axis = _dim(x, dim, op="kthvalue")
    size = _order_size("kthvalue", x, axis, dim, k)
    if not 1 <= k <= size:
        message = f"selected number k ({dims(k)}) out of range (the dimension has {dims(size)} elements)"
        raise op_error("kthvalue", [x.type], {"k": dims(k), "dim": dim}, message)
    values, indices, axis = _sorted("kthvalue", input, dim, False)
    return _picked(values, indices, axis, dims(k - 1), keepdim)


def _order_size(op: str, x: Node, axis: int, dim: int | None, read: object = None) -> int | SymbolicSize:
    """The size of ``axis``: an int, or a ``SymbolicSize`` whose comparisons are answered for every batch size or
    specialize (named after the size ``read`` by the function, else after the dimension)."""
    size = x.shape[axis] if x.type.ndim else 1
    if isinstance(size, int):
        return size
    return SymbolicSize(size, read.origin if isinstance(read, SymbolicSize) else f"{op}'s dimension {dim}")


def _picked(values: Node, indices: Node, axis: int, position: Dim, keepdim: bool) -> ValuesIndices:
    if values.type.ndim == 0:
        return ValuesIndices(wrap(values), wrap(indices))
    value, index = _take(values, indices, axis, position, 1)
    if not keepdim:
        shape = [d for i, d in enumerate(value.shape) if i != axis]
        value, index = b.reshape(value, shape), b.reshape(index, shape)
    return ValuesIndices(wrap(value), wrap(index))


def median(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor | ValuesIndices:
    """The lower median (the ((n - 1) // 2)-th smallest); NaN, at its first index, where a row has one, as torch."""
    x = node_of(input)
    if dim is None:
        flat = b.reshape(x, (x.type.numel,))
        return median(wrap(flat), 0).values
    axis = _dim(x, dim, op="median")
    size = _order_size("median", x, axis, dim)
    if size == 0:
        raise op_error("median", [x.type], {"dim": dim}, "median() of an empty dimension is not defined")
    values, indices, axis = _sorted("median", input, dim, False)
    picked = _picked(values, indices, axis, dims((size - 1) // 2), keepdim)  # floor((B - 1)/2) of a symbolic size
    if not x.dtype.is_floating_point or x.type.ndim == 0:
        return picked
    nan = _is_nan(x)
    any_nan = b.compare("gt", b.reduce("sum", b.cast(nan, dtypes.int64), axis, keepdim), 0)
    first_nan = b.reduce("argmax", b.cast(nan, dtypes.int32), axis, keepdim)
    value = b.where(any_nan, emit("detach", b.full_like(node_of(picked.values), float("nan"))), node_of(picked.values))
    return ValuesIndices(wrap(value), wrap(b.where(any_nan, first_nan, node_of(picked.indices))))
