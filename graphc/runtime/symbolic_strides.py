"""torch's ``view`` decided for every batch size at once: a view's strides as size expressions, computeStride on them.

With a symbolic batch the layouts views.py keeps are unknown (they hold numbers), yet ``view`` must raise torch's error
wherever torch's raises and view wherever it views, in one program where it can. A stride is a product of sizes and
slice steps, so it is written here as a sympy expression of the sizes, as the IR's shapes are: made again from the
root's row-major strides by the steps of each link, and torch's computeStride runs on them with each of its comparisons
decided for every batch size by ``symbolic_sizes.decide``; one it cannot answer takes both answers, and the view is
decided where every path agrees. Where they do not, the batch sizes 2 to 16 are decided one by one (with numbers, so
exactly) and those from 17 up at once: a size that is a small ceiling of the batch (``x[::2]``) is 1 only below 17.
An answer is exact, not sampled: a view that depends on the batch (``x[::8]`` has one row up to ``B`` = 8, two at 9),
or a stride no size expression gives (``as_strided``, a slice step read from a size), is left undecided, and the
caller traces again with static sizes.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy

from graphc.frontend.symbolic_sizes import _division, _lowest, decide

if TYPE_CHECKING:
    from graphc.runtime.tensor import Tensor

Strides = tuple[Any, ...]  # ints and sympy expressions of the sizes


class Undecided(Exception):
    """A comparison whose answer depends on the batch size, or a stride that no size expression gives."""


# Batch sizes decided one by one, with numbers, at least up to this one; above them the batch is a symbol again. A size
# that is a floor or a ceiling of the batch (``x[::q]`` has ceiling(B/q) rows) is 1 at some small batch sizes and so answers
# computeStride's "size 1?" both ways: the batch sizes where any such size is below 2 are decided one by one (up to 2*q for
# ``x[::q]``), so that from the next one up that answer is one for all.
_ONE_BY_ONE_LEAST = 16
# A floor of the batch by more than about half this (``x[::5000]``) is not decided one by one: the function is traced again
# with static sizes.
_ONE_BY_ONE_MOST = 1024


def views_for_every_batch(base: Tensor, shape: tuple) -> bool | None:
    """Whether torch's ``view`` of ``base`` as ``shape`` succeeds for every batch size (True), fails for every one
    (False), or depends on it (None): decided for all at once, or else at each batch size up to where every floor and
    ceiling of the batch in the sizes is at least 2, and for all above at once."""
    verdict = _views(base, shape, {})
    batch = {s for s in _symbols(base, shape) if str(s) == "B"}
    if verdict is not None or len(batch) != 1:
        return verdict
    (b,) = batch
    last = _small_batches(base, shape, b)
    if last is None:
        return None
    verdicts = {_views(base, shape, {b: sympy.Integer(n)}) for n in range(2, last + 1)}
    verdicts.add(_views(base, shape, {b: b + last - 1}))  # B >= 2 there: the batch from last + 1 up
    return verdicts.pop() if len(verdicts) == 1 else None


def _small_batches(base: Tensor, shape: tuple, batch: sympy.Symbol) -> int | None:
    """The largest batch size where a floor or ceiling of the batch in the sizes of ``base``, its links and ``shape`` is
    below 2 (``floor((c*B + d)/q)`` is at least 2 from ``c*B + d >= 2*q`` up), at least _ONE_BY_ONE_LEAST; None past
    _ONE_BY_ONE_MOST. Either way the answer is exact (numbers below, every batch size above at once): this bound only
    makes the one above decidable."""
    last = _ONE_BY_ONE_LEAST
    for part in set().union(*(sympy.sympify(d).atoms(sympy.floor, sympy.ceiling, sympy.Mod) for s in _shapes(base, shape) for d in s)):
        numerator, divisor = _division(part)
        slope, offset = sympy.expand(numerator).as_independent(batch, as_Add=True)[::-1]
        slope = sympy.expand(slope / batch)
        if not (slope.is_Integer and slope > 0 and offset.is_Integer and divisor.is_Integer and divisor > 0):
            continue  # a floor of a floor: the batch sizes above are still decided at once, only less often
        last = max(last, int(sympy.ceiling((2 * divisor - offset) / slope)))
    return last if last <= _ONE_BY_ONE_MOST else None


def _views(base: Tensor, shape: tuple, at: dict) -> bool | None:
    """views_for_every_batch with the batch ``at`` gives (a number, or a shifted symbol)."""
    try:
        old = _at(tuple(base._node.shape), at)
        strides = strides_of(base, at)
        if _row_major_surely(old, strides):
            return True
        views = {found is not None for found in _compute_stride_paths(old, strides, _at(shape, at))}
        return views.pop() if len(views) == 1 else None
    except Undecided:
        return None


def _shapes(tensor: Tensor, shape: tuple) -> list[tuple]:
    """``shape``, the tensor's, its root's and those of every step of its links: all the sizes its strides are made of."""
    links = list(tensor._view.chain()) if tensor._view is not None else []
    shapes = [shape, tuple(tensor._node.shape)] + [tuple(link.root._node.shape) for link in links[-1:]]
    return shapes + [tuple(type_.shape) for link in links for _, _, type_ in link.steps]


def _symbols(tensor: Tensor, shape: tuple) -> set[sympy.Symbol]:
    from graphc.ir.types import free_symbols

    return set().union(*map(free_symbols, _shapes(tensor, shape)))


def _at(shape: tuple, at: dict) -> tuple:
    return tuple(sympy.expand(d.xreplace(at)) if at and isinstance(d, sympy.Basic) else d for d in shape)


def strides_of(tensor: Tensor, at: dict) -> Strides:
    """torch's strides of ``tensor`` as size expressions: its root's row-major strides, taken through each link's steps
    (each size with the batch ``at`` gives)."""
    from graphc.runtime import views

    links = list(tensor._view.chain())[::-1] if tensor._view is not None else []
    shape = _at(tuple(links[0].root._node.shape if links else tensor._node.shape), at)
    strides = _row_major(shape)
    for link in links:
        made = _at(tuple(link.steps[-1][2].shape), at)
        if link.contiguous:  # contiguous()'s result: itself where row-major, else a row-major copy
            shape, strides = made, _row_major(made)
            continue
        for make, args, type_ in link.steps:
            new = _at(tuple(type_.shape), at)
            strides = _stepped(views, make, args, shape, strides, new)
            if len(strides) != len(new):
                raise Undecided
            shape = new
    return strides


def _stepped(views: Any, make: Any, args: tuple, shape: tuple, strides: Strides, new: tuple) -> Strides:
    """The strides after one step that made a view (views.py's functions that link one), as that function's layout does."""
    if make is views.detached:
        return strides
    if make is views.permuted:
        return tuple(strides[p] for p in args[0])
    if make is views.reshaped:
        if _row_major_surely(shape, strides):
            return _row_major(new)
        found = set(_compute_stride_paths(shape, strides, new))
        if found == {None} and args[0] is None:  # torch's reshape copies: row-major from there
            return _row_major(new)
        if len(found) != 1 or None in found:
            raise Undecided
        return found.pop()
    if make is views.indexed:
        return _indexed(views._expanded(args[0], len(shape)), strides)
    if make is views.diagonal_of:
        _, dim1, dim2 = args
        kept = tuple(s for i, s in enumerate(strides) if i not in (dim1, dim2))
        return (*kept, sympy.expand(strides[dim1] + strides[dim2]))
    if make is views.expanded:
        lead = len(new) - len(shape)
        kept = [_holds(o, n, "eq") for o, n in zip(shape, new[lead:])]  # an axis expand changes had size 1: stride 0
        return (0,) * lead + tuple(s if k else 0 for k, s in zip(kept, strides))
    if make is views.unfolded:
        axis, _, step = args
        return (*strides[:axis], sympy.expand(strides[axis] * step), *strides[axis + 1 :], strides[axis])
    raise Undecided  # as_strided: its positions are numbers


def _indexed(items: tuple, strides: Strides) -> Strides:
    """Basic indexing's strides, as views._indexed_layout (a new axis has stride 0 there too)."""
    new: list[Any] = []
    axis = 0
    for item in items:
        if item is None:
            new.append(0)
            continue
        if isinstance(item, slice):
            step = 1 if item.step is None else item.step
            if not isinstance(step, (int, np.integer, sympy.Integer)):
                raise Undecided
            new.append(sympy.expand(strides[axis] * int(step)))
        axis += 1
    return tuple(new)


def _row_major(shape: tuple) -> Strides:
    strides: list[Any] = []
    step: Any = 1
    for size in reversed(shape):
        strides.append(step)
        step = sympy.expand(step * (size if _holds(size, 1, "ge") else 1))  # a size 0 counts as 1, as views.row_major
    return tuple(reversed(strides))


def _row_major_surely(shape: tuple, strides: Strides) -> bool:
    """views.is_contiguous for every batch size: each axis of size 1 or of its row-major stride."""
    return all(_holds(size, 1, "eq") or _holds(stride, want, "eq") for size, stride, want in zip(shape, strides, _row_major(shape)))


# At most this many paths through computeStride (each comparison that depends on the batch size takes both ways).
_PATHS = 64


class _Branch(Exception):
    """A comparison past the answers a path was given, whose answer depends on the batch size: both are tried."""


def _compute_stride_paths(old_shape: tuple, old_strides: Strides, new_shape: tuple) -> list[Strides | None]:
    """computeStride's result on every path through it: a comparison that ``decide`` answers takes its answer, one that
    depends on the batch size takes both (a path's answers need not hold at one batch size together, so the paths
    cover every batch size, and more). Where all agree, torch's computeStride gives that for every batch size."""
    results: list[Strides | None] = []
    pending: list[tuple[bool, ...]] = [()]
    while pending:
        if len(results) + len(pending) > _PATHS:
            raise Undecided
        given = pending.pop()
        answers, taken = iter(given), {}

        def holds(a: Any, b: Any, relation: str) -> bool:
            answer = _decide(a, b, relation)
            if answer is None:  # a comparison asked again on this path keeps its answer
                key = (sympy.expand(sympy.sympify(a) - b), relation)
                answer = taken[key] if key in taken else next(answers, None)
                if answer is None:
                    raise _Branch
                taken[key] = answer
            return answer

        try:
            results.append(_compute_stride(old_shape, old_strides, new_shape, holds))
        except _Branch:
            pending += [(*given, True), (*given, False)]
    return results


def _compute_stride(old_shape: tuple, old_strides: Strides, new_shape: tuple, holds: Any) -> Strides | None:
    """views._view_strides (torch's computeStride) on size expressions, each comparison answered by ``holds``."""
    if not old_shape:
        return (1,) * len(new_shape)
    numel = sympy.expand(sympy.Mul(*old_shape))
    if holds(numel, 0, "eq"):
        same = len(old_shape) == len(new_shape) and all(holds(x, y, "eq") for x, y in zip(old_shape, new_shape))
        return old_strides if same else _row_major(new_shape)
    new_strides: list[Any] = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base_stride = old_strides[-1]
    tensor_numel: Any = 1
    view_numel: Any = 1
    for tensor_d in range(len(old_shape) - 1, -1, -1):
        tensor_numel = sympy.expand(tensor_numel * old_shape[tensor_d])
        if tensor_d == 0 or (
            not holds(old_shape[tensor_d - 1], 1, "eq") and not holds(old_strides[tensor_d - 1], tensor_numel * chunk_base_stride, "eq")
        ):
            while view_d >= 0 and (holds(view_numel, tensor_numel, "lt") or holds(new_shape[view_d], 1, "eq")):
                new_strides[view_d] = sympy.expand(view_numel * chunk_base_stride)
                view_numel = sympy.expand(view_numel * new_shape[view_d])
                view_d -= 1
            if not holds(view_numel, tensor_numel, "eq"):
                return None
            if tensor_d > 0:
                chunk_base_stride = old_strides[tensor_d - 1]
                tensor_numel, view_numel = 1, 1
    return tuple(new_strides) if view_d == -1 else None


_NUMBERS = {"eq": lambda a, b: a == b, "lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b}


# symbolic_sizes.decide takes a case per remainder of a floor's divisor: past this divisor only the floors' lowest values
# decide (_decide_by_lowest), as a floor by 100 took 100 cases of each comparison (about a second of sympy each).
_REMAINDER_CASES_MOST = 16


@functools.lru_cache(maxsize=4096)
def _decide(a: Any, b: Any, relation: str) -> bool | None:
    """symbolic_sizes.decide, at once where both are numbers (most sizes are); a model's layers ask the same again."""
    if isinstance(a, (int, sympy.Integer)) and isinstance(b, (int, sympy.Integer)):
        return bool(_NUMBERS[relation](int(a), int(b)))
    diff = sympy.expand(sympy.sympify(a) - sympy.sympify(b))
    parts = diff.atoms(sympy.floor, sympy.ceiling, sympy.Mod)
    if not parts:
        return decide(diff, 0, relation)
    answer = _decide_by_lowest(diff, parts, relation)
    if answer is not None or any(_division(part)[1] > _REMAINDER_CASES_MOST for part in parts):
        return answer
    return decide(diff, 0, relation)


def _decide_by_lowest(diff: sympy.Expr, parts: set, relation: str) -> bool | None:
    """``diff <relation> 0`` with each floor or ceiling of the batch taken as any integer from its value at the lowest
    batch size up, and each Mod as any non-negative integer: the sizes take some of those values, so an answer for all
    of them is one for every batch size (``ceiling((B + 199)/100) == 1`` is False: it is at least 3). None where that
    does not decide, or a floor is not of ``c*B + d`` with ``c`` > 0 (not rising with the batch)."""
    bounded: dict[sympy.Expr, sympy.Expr] = {}
    for part in parts:
        if not isinstance(part, sympy.Mod):
            numerator, _ = _division(part)
            line = _rising_line(numerator)
            if line is None:
                return None
            symbol, lowest = line
            low = part.subs(symbol, lowest)
        else:
            low = sympy.Integer(0)
        bounded[part] = sympy.Dummy("size", integer=True, nonnegative=True) + low
    return decide(diff.xreplace(bounded), 0, relation)


def _rising_line(numerator: sympy.Expr) -> tuple[sympy.Symbol, int] | None:
    """(B, its lowest value) of a numerator ``c*B + d`` with ``c`` > 0, else None."""
    if len(numerator.free_symbols) != 1:
        return None
    (symbol,) = numerator.free_symbols
    lowest = _lowest(symbol)
    slope = sympy.expand(numerator.as_independent(symbol, as_Add=True)[1] / symbol)
    return (symbol, lowest) if lowest is not None and slope.is_number and slope > 0 and not numerator.atoms(sympy.floor, sympy.ceiling, sympy.Mod) else None


def _holds(a: Any, b: Any, relation: str) -> bool:
    """``a <relation> b`` for every batch size; Undecided where the answer depends on it."""
    answer = _decide(a, b, relation)
    if answer is None:
        raise Undecided
    return answer
