"""Views: tensors that alias another tensor's value, as torch's views share their base's storage.

A graphc tensor is a value (one IR node), so aliasing is kept by a ``ViewLink`` on the view: its
base, how to read the view from the base's value (the view op again), and how to write a new
value of the view back into the base (the op's scatter: a reshape back, the inverse permutation,
``x[key] = v``, ``diagonal_scatter``). An in-place op on a view writes the base first, through
every link up to the root (the tensor that is no view), so autograd records it as functional ops;
each write bumps the root's count of writes (torch's version counter), and a view whose root was
written since it last read its value reads it again from its base when next used.

The layout (strides and offset in the root's row-major storage, as torch's) is kept where the sizes
are static: it decides whether ``reshape`` can view (torch copies a tensor it cannot view) and
whether a write would store two elements in one place (an ``expand``ed tensor), as torch refuses.

A base keeps a weak list of the views taken of it, so a change of its shape in place, or ``.data =``,
can re-link them where torch's keep their storage; and a link keeps the steps that made it, so a
compiled function's result that views its argument is made again from the caller's tensor.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import numpy as np

from graphc.errors import GraphcError
from graphc.ir.grad_mode import grad_mode, is_grad_enabled
from graphc.ir.registry import op_error
from graphc.runtime.symbolic_strides import views_for_every_batch

if TYPE_CHECKING:
    from graphc.ir.graph import Node
    from graphc.ir.types import TensorType
    from graphc.runtime.tensor import Tensor

# Strides and offset of a view in its root's row-major storage; None where a size is symbolic.
Layout = tuple[tuple[int, ...], int] | None
Read = Callable[["Tensor"], "Tensor"]
Write = Callable[["Tensor", "Tensor"], "Tensor"]
LayoutOf = Callable[[], Layout]  # computed when first needed: most views never need theirs
# How a view was made: the function of this module that linked it, its arguments after base and result, and the
# result's type; a compiled function's result that views its argument is made again so from the caller's tensor.
Step = tuple[Callable[..., "Tensor"], tuple, "TensorType"]
_UNSET: Any = object()

OVERLAP = (
    "unsupported operation: more than one element of the written-to tensor refers to a single memory location. "
    "Please clone() the tensor before performing the operation."
)

_suspended = 0  # inside a view's read or write: the ops there make values, not views of temporaries


@contextmanager
def plain() -> Iterator[None]:
    global _suspended
    _suspended += 1
    try:
        yield
    finally:
        _suspended -= 1


class ViewLink:
    """How a view relates to its ``base``. ``write`` is None where only the elements' positions in the
    root can write the view back (``expand``, ``unfold``: one base element may appear several times)."""

    __slots__ = (
        "base", "root", "read", "write", "_layout", "_layout_of", "seen", "grad_enabled", "detached", "base_shape", "multi_output",
        "keeps_order", "unsure", "contiguous", "steps",
    )

    def __init__(
        self, base: Tensor, read: Read, write: Write | None, layout_of: LayoutOf, detached: bool, multi_output: str | None, steps: tuple[Step, ...]
    ) -> None:
        self.base = base
        self.root: Tensor = base._view.root if base._view is not None else base
        self.read = read
        self.write = write
        self._layout = _UNSET
        self._layout_of = layout_of
        self.detached = detached  # detach() and .data: the base's new value is not recorded by autograd
        self.multi_output = multi_output  # the op (split, chunk, unbind) that made this view with others
        self.grad_enabled = is_grad_enabled()  # the view reads its base again in the grad mode it was made in
        self.base_shape = tuple(base._node.shape)
        self.seen = self.root._writes
        self.keeps_order = detached  # row-major wherever its base is (detach, and reshapes: set by reshaped())
        self.unsure = False  # a reshape whose base's layout depends on the batch size: torch views or copies (reshaped())
        self.contiguous = False  # contiguous()'s result: row-major whatever its base's layout (torch's is itself or a copy)
        self.steps = steps

    @property
    def layout(self) -> Layout:
        if self._layout is _UNSET:
            self._layout = self._layout_of()
        return self._layout

    @layout.setter
    def layout(self, layout: Layout) -> None:
        self._layout = layout

    def refresh(self, view: Tensor) -> None:
        """Read the view's value again from its base, which changed since."""
        shape = tuple(self.base._node.shape)
        if shape != self.base_shape:
            message = f"the base of this view changed its shape in place from {list(self.base_shape)} to {list(shape)} (t_, squeeze_, ...)"
            raise GraphcError(message + ", which graphc views do not follow; take the view again after changing the base's shape")
        if self.unsure:
            needs_static_sizes("a reshape read again after its base changed in place")
        with plain(), grad_mode(self.grad_enabled):
            view._n = self.read(self.base)._node
        self.seen = self.root._writes

    def chain(self) -> Iterator[ViewLink]:
        link: ViewLink | None = self
        while link is not None:
            yield link
            link = link.base._view

    def write_back(self, node: Node, op: str) -> None:
        """Give the base (and its bases) the values of ``node`` written into this view."""
        from graphc.runtime.tensor import Tensor

        links = list(self.chain())
        if any(link.unsure for link in links):
            needs_static_sizes(f"{op} through a reshape")
        detached = any(link.detached for link in links)
        _check(self, node, op, links, detached)
        value = Tensor._from_node(node)
        with plain():
            if any(link.write is None for link in links):
                target, new = self.root, _write_positions(self, value, op)
            else:
                target, new = self.base, self.write(self.base, value)  # type: ignore[misc]
        with grad_mode(False) if detached else nullcontext():
            target._assign_value(new._node, op)


def needs_static_sizes(what: str) -> None:
    """torch's reshape of a non-contiguous view views or copies by its strides, which depend on the batch
    size here: the function is traced again with static sizes, where the layout decides (docs/decisions.md)."""
    from graphc.frontend import tracing

    message = f"{what} whose base's layout depends on the symbolic batch size (torch's reshape views or copies by its strides)"
    if tracing.active() is None:
        raise GraphcError(message)
    raise tracing.SizeRead(message)


def _check(link: ViewLink, node: Node, op: str, links: list[ViewLink], detached: bool) -> None:
    """torch's refusals of an in-place op on a view."""
    shape = tuple(node.shape)
    if op != "fill_" and link.layout is not None and any(size > 1 and stride == 0 for size, stride in zip(shape, link.layout[0])):
        raise op_error(op, [node.type], {}, OVERLAP)
    if detached or not is_grad_enabled():
        return
    for each in links:
        if each.multi_output is not None and each.base.requires_grad:
            message = (
                f"this view is an output of {each.multi_output}, a function that returns multiple views, and is being modified inplace "
                "while its base requires grad: torch refuses it; replace the inplace operation by an out-of-place one"
            )
            raise op_error(op, [node.type], {}, message)
        if not each.grad_enabled and each.base.requires_grad:
            message = (
                "A view was created in no_grad mode and is being modified inplace with grad mode enabled: "
                "take the view with grad mode enabled, or modify it under no_grad"
            )
            raise op_error(op, [node.type], {}, message)
    root = link.root._node
    if root.requires_grad and root.is_leaf:
        raise op_error(op, [node.type], {}, "a view of a leaf tensor that requires grad is being used in an in-place operation (wrap it in graphc.no_grad())")


def _write_positions(link: ViewLink, value: Tensor, op: str) -> Tensor:
    """The root with the view's elements written at their positions in it (views of an ``expand`` or ``unfold``)."""
    from graphc.frontend import functional as F
    from graphc.frontend.scatter import index_copy
    from graphc.runtime.tensor import Tensor

    root = link.root
    if link.layout is None and all(isinstance(d, int) for d in value._node.shape):
        message = "an in-place op through as_strided of a view whose elements no strides over its base address is not supported"
        raise op_error(op, [value._node.type], {}, message + "; take as_strided of a contiguous() copy")
    if link.layout is None:
        message = "an in-place op on a view of an expanded or unfolded tensor needs static sizes (compile with dynamic=False)"
        raise op_error(op, [value._node.type], {}, message)
    strides, offset = link.layout
    shape = tuple(value._node.shape)
    positions = np.full(shape, offset, dtype=np.int64)
    for axis, (size, stride) in enumerate(zip(shape, strides)):
        positions = positions + (np.arange(size, dtype=np.int64) * stride).reshape((size,) + (1,) * (len(shape) - axis - 1))
    flat = positions.reshape(-1)
    if op != "fill_" and len(np.unique(flat)) != flat.size:
        raise op_error(op, [value._node.type], {}, OVERLAP)  # unfold's overlapping windows: torch's result depends on its kernel's order
    flat = _element_of_position(root, flat, op, value)
    written = index_copy(F.reshape(root, (-1,)), 0, Tensor._constant(flat), F.reshape(value, (-1,)))
    return F.reshape(written, tuple(root._node.shape))


# ------------------------------------------------------------------ making views


def _linked(
    base: Any,
    result: Tensor,
    read: Read,
    write: Write | None,
    layout: LayoutOf,
    made_by: tuple[Callable[..., Tensor], tuple],
    detached: bool = False,
    multi_output: str | None = None,
) -> Tensor:
    from graphc.runtime.tensor import Tensor

    if _suspended or not isinstance(base, Tensor) or result is base:
        return result
    steps = ((made_by[0], made_by[1], result._n.type),)
    result._view = ViewLink(base, read, write, layout, detached, multi_output, steps)
    _children(base)[id(result)] = result
    return result


def _children(base: Tensor) -> weakref.WeakValueDictionary[int, Tensor]:
    """The live views whose link's base is ``base``: a change of its shape in place re-links them (follow_shape_change)."""
    found = base.__dict__.get("_views")
    if found is None:
        found = base.__dict__["_views"] = weakref.WeakValueDictionary()
    return found


def layout_of(tensor: Tensor) -> Layout:
    if tensor._view is not None:
        return tensor._view.layout
    return root_layout(tensor) or _row_major_layout(tuple(tensor._node.shape))


def root_layout(tensor: Tensor) -> Layout:
    """The strides and offset of a tensor that is no view in its own storage, where torch's are not row-major: after
    ``t_()``/``transpose_()`` (torch moves no element, it swaps strides), ``set_`` with strides, and a compiled function's
    stand-in of a non-contiguous argument. None for a row-major one (the default: graphc keeps no layout for it)."""
    return tensor.__dict__.get("_layout")


def set_root_layout(tensor: Tensor, layout: Layout) -> None:
    """Give a tensor that is no view the strides ``layout`` (None, or a row-major layout from offset 0: the default)."""
    shape = tuple(tensor._node.shape)
    if layout is None or layout == _row_major_layout(shape) or not all(isinstance(d, int) for d in shape):
        tensor.__dict__.pop("_layout", None)
    else:
        tensor.__dict__["_layout"] = (tuple(int(s) for s in layout[0]), int(layout[1]))


def check_root_write(tensor: Tensor, node: Node, op: str) -> None:
    """torch's refusal of an in-place op on a tensor whose strides repeat an element: a compiled function's stand-in of an
    expanded argument (``f(x.expand(2, 3))`` writing its argument), as ``x.expand(2, 3).add_(1)`` is refused."""
    layout = root_layout(tensor)
    if op != "fill_" and layout is not None and any(size > 1 and stride == 0 for size, stride in zip(node.shape, layout[0])):
        raise op_error(op, [node.type], {}, OVERLAP)


def _element_of_position(root: Tensor, positions: np.ndarray, op: str, value: Tensor) -> np.ndarray:
    """Where each storage position (a view's layout) is among the root's elements in row-major order: the position itself
    for a row-major root, else found through its strides (a root after ``t_()``, a stand-in of a transposed argument)."""
    layout = root_layout(root)
    if layout is None:
        return positions
    held = addresses(tuple(root._node.shape), *layout).reshape(-1)
    if len(np.unique(held)) != held.size:
        raise op_error(op, [value._node.type], {}, OVERLAP)
    lookup = np.full(int(held.max()) + 1 if held.size else 0, -1, dtype=np.int64)
    lookup[held] = np.arange(held.size, dtype=np.int64)
    return lookup[positions]


def _row_major_layout(shape: tuple) -> Layout:
    strides = row_major(shape)
    return None if strides is None else (strides, 0)


def row_major(shape: tuple) -> tuple[int, ...] | None:
    if not all(isinstance(d, int) for d in shape):
        return None
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def is_contiguous(tensor: Tensor) -> bool:
    """Whether torch would hold this tensor's elements in row-major order (a transpose, a column slice do not)."""
    layout = layout_of(tensor)
    if layout is None:
        return tensor._view is None
    shape = tuple(tensor._node.shape)
    expected = row_major(shape)
    return all(size == 1 or stride == want for size, stride, want in zip(shape, layout[0], expected or ()))


def reshaped(base: Any, result: Tensor, strict: str | None = None) -> Tensor:
    """``result`` (the base's elements in another shape) as a view of ``base`` where torch's reshape views,
    else the copy torch's reshape makes; ``strict`` names ``view``, which refuses to copy."""
    from graphc.frontend import functional as F
    from graphc.runtime.tensor import Tensor

    if _suspended or not isinstance(base, Tensor) or result is base:
        return result
    shape = tuple(result._node.shape)
    link = base._view
    layout: LayoutOf = lambda: _row_major_layout(shape)  # noqa: E731  (a root is row-major)
    known = root_layout(base) if link is None else link.layout
    if known is not None and all(isinstance(d, int) for d in shape):
        strides = row_major(shape) if is_contiguous(base) else _view_strides(tuple(base._node.shape), known[0], shape)
        if strides is None:
            if strict is not None:
                message = (
                    "view size is not compatible with input tensor's size and stride "
                    "(at least one dimension spans across two contiguous subspaces). Use .reshape(...) instead."
                )
                raise op_error(strict, [base._node.type], {"shape": shape}, message)
            return result
        layout = lambda: (strides, known[1])  # noqa: E731
    elif link is not None:
        layout = lambda: None  # noqa: E731
        if strict == "view" and not _row_major_for_sure(link) and views_for_every_batch(base, shape) is not True:
            needs_static_sizes("a view of a tensor")  # torch's view fails for some batch size, or it depends: the sizes decide
    made = _linked(base, result, lambda b: F.reshape(b, shape), lambda b, v: F.reshape(v, tuple(b._node.shape)), layout, (reshaped, (strict,)))
    if made._view is not None:
        made._view.keeps_order = True
        # squeeze, unsqueeze and view always view; reshape views a base of unknown layout only if it is row-major
        made._view.unsure = strict is None and known is None and link is not None and not all(each.keeps_order for each in link.chain())
    return made


def _row_major_for_sure(link: ViewLink) -> bool:
    """Whether torch's layout of the view is row-major for every batch size (its strides are unknown here)."""
    for each in link.chain():
        if each.contiguous:
            return True
        if not each.keeps_order:
            return False
    return root_layout(link.root) is None


def _view_strides(old_shape: tuple, old_strides: tuple, new_shape: tuple) -> tuple[int, ...] | None:
    """torch's computeStride: the strides that give ``new_shape`` over the same elements, None if none can."""
    if not old_shape:
        return (1,) * len(new_shape)
    numel = int(np.prod(old_shape))
    if numel == 0:
        return old_strides if old_shape == new_shape else row_major(new_shape)
    new_strides = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base_stride = old_strides[-1]
    tensor_numel, view_numel = 1, 1
    for tensor_d in range(len(old_shape) - 1, -1, -1):
        tensor_numel *= old_shape[tensor_d]
        if tensor_d == 0 or (old_shape[tensor_d - 1] != 1 and old_strides[tensor_d - 1] != tensor_numel * chunk_base_stride):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base_stride
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base_stride = old_strides[tensor_d - 1]
                tensor_numel, view_numel = 1, 1
    return tuple(new_strides) if view_d == -1 else None


def permuted(base: Any, result: Tensor, perm: list[int] | tuple[int, ...]) -> Tensor:
    """``result`` is ``base`` with its axes in the order ``perm``: written back by the inverse permutation."""
    from graphc.frontend import functional as F

    perm = tuple(perm)

    def layout() -> Layout:
        strides = layout_of(base)
        return None if strides is None else (tuple(strides[0][p] for p in perm), strides[1])

    def write(b: Tensor, v: Tensor) -> Tensor:
        inverse = [0] * len(perm)
        for i, p in enumerate(perm):
            inverse[p] = i
        return F.permute(v, inverse)

    return _linked(base, result, lambda b: F.permute(b, perm), write, layout, (permuted, (perm,)))


def indexed(base: Any, result: Tensor, key: tuple, multi_output: str | None = None) -> Tensor:
    """``result`` is ``base[key]`` for a key of ints, slices, ``...`` and ``None`` (torch's basic indexing)."""
    from graphc.frontend import functional as F

    if _suspended or not hasattr(base, "_view"):
        return result

    def write(b: Tensor, v: Tensor) -> Tensor:
        from graphc.frontend.indexing import setitem
        from graphc.runtime.tensor import Tensor

        items = _expanded(key, b._node.type.ndim)
        stored = tuple(item for item in items if item is not None)  # setitem writes the view without its new axes
        if len(stored) != len(items):
            v = F.reshape(v, tuple(F.getitem(b, stored)._node.shape))
        return Tensor._from_node(setitem(b, stored, v))

    def layout() -> Layout:
        shape = tuple(base._node.shape)
        return _indexed_layout(layout_of(base), shape, _expanded(key, len(shape)))

    made = _linked(base, result, lambda b: F.getitem(b, key), write, layout, (indexed, (key, multi_output)), multi_output=multi_output)
    if made._view is not None:
        made._view.keeps_order = _keeps_order(_expanded(key, base._node.type.ndim))
    return made


def _keeps_order(items: tuple) -> bool:
    """Whether basic indexing keeps a row-major base row-major whatever its sizes: ints before the first slice, that
    slice with step 1 (``x[1:]``, ``x[0, i:j]``), only whole axes after it (``x[1:, 2:]`` and ``x[:, 0]`` skip elements)."""
    sliced = False
    for item in items:
        if item is None:
            continue
        if sliced and not (isinstance(item, slice) and item.start is None and item.stop is None and item.step in (None, 1)):
            return False
        if isinstance(item, slice):
            if not (item.step is None or isinstance(item.step, (int, np.integer)) and item.step == 1):
                return False
            sliced = True
    return True


def _expanded(key: tuple, ndim: int) -> tuple:
    items = key if isinstance(key, tuple) else (key,)
    if any(item is Ellipsis for item in items):
        at = next(i for i, item in enumerate(items) if item is Ellipsis)
        taken = sum(1 for item in items if item is not None and item is not Ellipsis)
        items = items[:at] + (slice(None),) * (ndim - taken) + items[at + 1 :]
    taken = sum(1 for item in items if item is not None)
    return tuple(items) + (slice(None),) * (ndim - taken)


def _plain_int(value: Any) -> bool:
    return value is None or isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _indexed_layout(layout: Layout, shape: tuple, items: tuple) -> Layout:
    parts = [p for item in items for p in ((item.start, item.stop, item.step) if isinstance(item, slice) else (item,))]
    if layout is None or not all(isinstance(d, int) for d in shape) or not all(_plain_int(p) for p in parts):
        return None  # a symbolic size or index (x[n - 1] with the function's own n)
    strides, offset = layout
    new: list[int] = []
    axis = 0
    for item in items:
        if item is None:
            new.append(0)
            continue
        size, stride = shape[axis], strides[axis]
        if isinstance(item, slice):
            start, _, step = item.indices(size)
            offset += start * stride
            new.append(stride * step)
        else:
            offset += (int(item) % size if size else 0) * stride
        axis += 1
    return tuple(new), offset


def sliced(base: Any, result: Tensor, axis: int, start: Any, stop: Any, multi_output: str | None = None) -> Tensor:
    """``result`` is ``base``'s elements ``start:stop`` along ``axis`` (narrow, and split's pieces: ``multi_output``)."""
    return indexed(base, result, (slice(None),) * axis + (slice(start, stop),), multi_output)


def selected(base: Any, result: Tensor, axis: int, index: int) -> Tensor:
    return indexed(base, result, (slice(None),) * axis + (index,))


def diagonal_of(base: Any, result: Tensor, offset: int, dim1: int, dim2: int) -> Tensor:
    """``result`` is ``base.diagonal(offset, dim1, dim2)`` (dims normalized): written back by ``diagonal_scatter``."""
    from graphc.frontend.manipulation import diagonal
    from graphc.frontend.view_scatter import diagonal_scatter

    def layout() -> Layout:
        known = layout_of(base)
        if known is None:
            return None
        strides, start = known
        kept = tuple(s for i, s in enumerate(strides) if i not in (dim1, dim2))
        start += offset * strides[dim2] if offset >= 0 else -offset * strides[dim1]
        return (*kept, strides[dim1] + strides[dim2]), start

    return _linked(
        base,
        result,
        lambda b: diagonal(b, offset, dim1, dim2),
        lambda b, v: diagonal_scatter(b, v, offset, dim1, dim2),
        layout,
        (diagonal_of, (offset, dim1, dim2)),
    )


def expanded(base: Any, result: Tensor) -> Tensor:
    """``result`` is ``base`` broadcast to a larger shape: a broadcast axis repeats one element (stride 0)."""
    from graphc.frontend import functional as F

    if _suspended or not hasattr(base, "_view"):
        return result
    old, shape = tuple(base._node.shape), tuple(result._node.shape)

    def layout() -> Layout:
        known = layout_of(base)
        if known is None or not all(isinstance(d, int) for d in shape):
            return None
        lead = len(shape) - len(old)
        return tuple([0] * lead + [0 if o == 1 and n != 1 else s for o, n, s in zip(old, shape[lead:], known[0])]), known[1]

    repeats = any(not (isinstance(n, int) and n == 1) for n in shape[: len(shape) - len(old)]) or any(
        o == 1 and not (isinstance(n, int) and n == 1) for o, n in zip(old, shape[len(shape) - len(old) :])
    )
    write = None if repeats else (lambda b, v: F.reshape(v, tuple(b._node.shape)))
    return _linked(base, result, lambda b: F.expand(b, shape), write, layout, (expanded, ()))


def unfolded(base: Any, result: Tensor, axis: int, size: int, step: int) -> Tensor:
    """``result`` holds ``base``'s windows along ``axis``; written back by the elements' positions (windows may overlap)."""
    from graphc.frontend.splitting import unfold

    def layout() -> Layout:
        known = layout_of(base)
        if known is None:
            return None
        strides = known[0]
        return (*strides[:axis], strides[axis] * step, *strides[axis + 1 :], strides[axis]), known[1]

    return _linked(base, result, lambda b: unfold(b, axis, size, step), None, layout, (unfolded, (axis, size, step)))


def strided(base: Any, result: Tensor, size: tuple[int, ...], stride: tuple[int, ...], offset: int) -> Tensor:
    """``result`` is ``base.as_strided(size, stride, offset)`` over the base's row-major elements (frontend/strided.py):
    written back by the elements' positions in the root, as an ``expand``'s (one element may appear several times)."""
    from graphc.frontend.strided import gather

    positions = addresses(size, stride, offset)

    def layout() -> Layout:
        known = layout_of(base)
        if known is None:
            return None
        in_root = addresses(tuple(base._node.shape), *known).reshape(-1)[positions]
        return _strides_of(in_root) if in_root.size else (stride, offset)

    return _linked(base, result, lambda b: gather(b, positions), None, layout, (strided, (size, stride, offset)))


def addresses(size: tuple[int, ...], stride: tuple[int, ...], offset: int) -> np.ndarray:
    """The position ``offset + sum(i_k * stride_k)`` of each element of a strided tensor, in its shape."""
    if not size:
        return np.array(offset, dtype=np.int64)
    grid = np.indices(size, dtype=np.int64).reshape(len(size), -1)
    return (offset + np.asarray(stride, dtype=np.int64) @ grid).reshape(size)


def _strides_of(positions: np.ndarray) -> Layout:
    """The strides and offset that address ``positions`` (non-empty), if some do."""
    offset = int(positions.flat[0])
    strides = tuple(int(positions[(0,) * axis + (1,)].flat[0]) - offset if n > 1 else 0 for axis, n in enumerate(positions.shape))
    return (strides, offset) if np.array_equal(addresses(positions.shape, strides, offset), positions) else None


def detached(base: Any, result: Tensor) -> Tensor:
    """``result`` is ``base.detach()`` (or ``.data``): the same values, so writes reach ``base``, unrecorded by autograd."""
    from graphc.frontend import functional as F

    return _linked(base, result, F.detach, lambda b, v: v, lambda: layout_of(base), (detached, ()), detached=True)


def restrided(view: Tensor, result: Tensor) -> None:
    """``view`` takes ``result``'s shape in place (``t_``, ``squeeze_`` of a view): its link to its base
    becomes the composition of its own with ``result``'s (a view of ``view``)."""
    link, outer = view._view, result._view
    if link is None or outer is None:
        raise GraphcError("changing the shape of this view in place is not supported; apply it to a copy")
    inner_read, inner_write, outer_read, outer_write = link.read, link.write, outer.read, outer.write
    link.read = lambda b: outer_read(inner_read(b))
    if inner_write is None or outer_write is None:  # one of them an expand, unfold or as_strided: written by positions
        if outer.layout is None:
            raise GraphcError("changing the shape of this view in place to one whose elements no strides over its root address is not supported")
        link.write = None
    else:
        link.write = lambda b, v: inner_write(b, outer_write(inner_read(b), v))
    link.layout = outer.layout
    link.steps += outer.steps
    link.keeps_order = link.keeps_order and outer.keeps_order
    link.contiguous = link.contiguous and outer.keeps_order
    view._n = result._node
    link.seen = link.root._writes


# ------------------------------------------------------------------ a base changing its shape in place


def live_views(tensor: Tensor) -> list[Tensor]:
    """The views taken of ``tensor`` itself that are still alive, with their layouts computed: taken before a change of
    its shape in place, after which their layouts' functions would read its new shape."""
    alive = _live(tensor)
    for view in alive:
        view._view.layout  # noqa: B018  (computed and kept)
    return alive


def _live(tensor: Tensor) -> list[Tensor]:
    found = tensor.__dict__.get("_views")
    return [] if found is None else [v for v in found.values() if v._view is not None and v._view.base is tensor]


def keep_old_storage(tensor: Tensor, inside_trace: bool = False) -> None:
    """torch's ``x.data = y`` gives ``x`` another storage (``y``'s): the views taken of ``x`` keep the old one, aliasing
    each other and no longer ``x``, and a view ``x`` stops viewing its base. Called before ``x`` takes the new value:
    its views from then on view a tensor holding its old value (a view ``x`` hands it its own link). Not inside a compiled
    function (``set_`` there, of a tensor the function made: ``inside_trace``): its program writes the new value back into
    ``x``, which views outside follow as before."""
    from graphc.frontend import tracing
    from graphc.runtime.tensor import Tensor

    before, link = _live(tensor), tensor._view
    if tracing.active() is not None and not inside_trace or (not before and link is None):
        return
    old = Tensor._from_node(tensor._node)
    if link is not None:
        old._view, tensor._view = link, None
        _children(link.base)[id(old)] = old
    else:
        set_root_layout(old, root_layout(tensor))
    children, adopted = _children(tensor), _children(old)
    for view in before:
        view._view.base = old
        del children[id(view)]
        adopted[id(view)] = view
    stack = before if link is None else []
    while stack:  # a new root: every view below reads its value from it again
        view = stack.pop()
        view._view.root, view._view.seen = old, -1
        stack.extend(_live(view))


def adopt(tensor: Tensor, made: Tensor) -> None:
    """``tensor`` becomes the view ``made`` is (``set_``): its link, its place in its base's list of views, and its value."""
    from graphc.frontend import tracing

    link = made._view
    assert link is not None
    made._view = None
    children = _children(link.base)
    children.pop(id(made), None)
    children[id(tensor)] = tensor
    tensor.__dict__.pop("_layout", None)
    tensor._view = link
    tracing.assign(tensor, made._n)


def follow_shape_change(tensor: Tensor, before: list[Tensor], inverse: Callable[[Tensor], Tensor], layout: Layout) -> None:
    """torch's views keep their elements of the storage when their base changes its shape in place (``t_``, ``squeeze_``,
    ``resize_``): each view of ``tensor`` taken ``before`` the change views ``inverse(tensor)`` from now on, a view of the
    tensor in its old shape. Their layouts keep the old positions (torch's storage did not move): a root takes its new
    strides in that storage (``layout``; None for row-major from its start, as after ``resize_``), so the positions stay
    its elements'. The tensor is marked (a compiled function's argument so changed cannot have views outside follow:
    compiled.py)."""
    tensor.__dict__["_shape_changed"] = True
    if tensor._view is None:
        set_root_layout(tensor, layout)
    if not before:
        return
    with grad_mode(True):  # read as the views were made: with their gradient path
        old = inverse(tensor)
    if old is tensor:
        return
    children, adopted = _children(tensor), _children(old)
    for view in before:
        link = view._view
        if link is not None and link.base is tensor:
            link.base = old
            del children[id(view)]
            adopted[id(view)] = view


def shaped_view(tensor: Tensor, shape: tuple, op: str) -> Tensor:
    """``tensor`` viewed in ``shape`` (its elements in row-major order), where the change is one torch always views (``op``)."""
    from graphc.frontend import functional as F

    with plain():
        value = F.reshape(tensor, shape)
    return reshaped(tensor, value, op)


def remade(base: Tensor, links: list[tuple[tuple[Step, ...], bool]], value: Node, concrete: Callable[[Any], Any]) -> Tensor | None:
    """The view of ``base`` that ``links`` (root first: the steps that made each link, and its grad mode) describe, holding
    ``value``: a compiled function's result that viewed its argument, made again from the caller's tensor on each call.
    None where a step copies for this base's layout (torch's reshape copies); ``concrete`` gives symbolic sizes this call's values."""
    from graphc.ir.primitives.source import source_node
    from graphc.ir.types import TensorType
    from graphc.runtime.tensor import Tensor

    view = base
    for depth, (steps, grad_enabled) in enumerate(links):
        made: Tensor | None = None
        for index, (make, args, type_) in enumerate(steps):
            last = depth == len(links) - 1 and index == len(steps) - 1
            source = view if made is None else made
            shape = tuple(value.shape) if last else concrete(tuple(type_.shape))
            step = make(source, Tensor._from_node(source_node(TensorType(shape, type_.dtype))), *concrete(args))
            if step._view is None:
                return None
            step._view.grad_enabled = grad_enabled
            with plain(), grad_mode(grad_enabled):
                step._n = value if last else step._view.read(source)._node
            if made is None:
                made = step
            else:
                restrided(made, step)
        assert made is not None
        view = made
    return view
