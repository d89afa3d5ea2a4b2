"""``F.ctc_loss``: connectionist temporal classification as a forward recursion unrolled over time.

The lengths are data, so nothing is read at trace time: each sample's targets, its extended
label sequence (blanks between and around the labels) and its last time step are masks and
gathers in the graph, and the recursion runs over all ``T`` steps with a sample's values held
once its input has ended. The gradient is autodiff's through the recursion.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc.frontend import functional as _F
from graphc.frontend.autocast_policy import autocast_op
from graphc.frontend.manipulation import select
from graphc.ir import dtypes
from graphc.ir.registry import op_error
from graphc.runtime.tensor import Tensor

_NEG_INF = -math.inf


def _lengths(lengths: Any, batch: int, name: str, types: list) -> Tensor:
    """A ``[N]`` int64 tensor from a tensor, or from the Python sequence torch also accepts."""
    if not isinstance(lengths, Tensor):
        lengths = Tensor._constant(np.array(lengths, dtype=np.int64).reshape(-1))
    if lengths.ndim > 1 or lengths.numel() != batch:
        raise op_error("ctc_loss", types, {}, f"{name} must have one entry per batch element ({batch}), got shape {list(lengths.shape)}")
    return _F.cast(_F.reshape(lengths, (batch,)), dtypes.int64)


def _logaddexp(*terms: Tensor) -> Tensor:
    """log(sum(exp(terms))), -inf where every term is -inf, with a finite (zero) gradient there.

    The shift is detached: it only keeps exp in range, so its gradient would cancel.
    """
    top = _F.detach(terms[0])
    for t in terms[1:]:
        top = _F.maximum(top, _F.detach(t))
    shift = _F.where(_F.eq(top, _NEG_INF), 0.0, top)
    total = _F.exp(_F.sub(terms[0], shift))
    for t in terms[1:]:
        total = _F.add(total, _F.exp(_F.sub(t, shift)))
    alive = _F.gt(total, 0.0)
    return _F.where(alive, _F.add(_F.log(_F.where(alive, total, 1.0)), shift), _NEG_INF)


def _padded_targets(targets: Tensor, target_lengths: Tensor, batch: int, types: list) -> Tensor:
    """``[N, S]`` targets from torch's two layouts: padded ``[N, S]``, or all concatenated in one 1-d tensor
    (then ``S`` is the total length, and sample ``n``'s labels start at the sum of the lengths before it)."""
    if targets.ndim == 2:
        return _F.cast(targets, dtypes.int64)
    if targets.ndim != 1:
        raise op_error("ctc_loss", types, {}, f"targets must be [N, S] or 1-d (concatenated), got shape {list(targets.shape)}")
    total = targets.shape[0]
    if total == 0:
        return Tensor._constant(np.zeros((batch, 0), dtype=np.int64))
    earlier = Tensor._constant(np.tri(batch, batch, -1, dtype=bool))  # sample m's labels come before sample n's when m < n
    starts = _F.sum(_F.where(earlier, _F.unsqueeze(target_lengths, 0), 0), 1)
    index = _F.clamp(_F.add(_F.unsqueeze(starts, 1), Tensor._constant(np.arange(total, dtype=np.int64))), max=total - 1)
    return _F.reshape(_F.cast(_F.index_select(targets, 0, _F.reshape(index, -1)), dtypes.int64), (batch, total))


@autocast_op
def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Tensor | Sequence[int],
    target_lengths: Tensor | Sequence[int],
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """The negative log-likelihood of the targets under all CTC alignments, torch's ``ctc_loss``.

    ``log_probs`` is ``[T, N, C]`` (or ``[T, C]`` for one sample) and should be log-softmax
    outputs: torch's own gradient assumes so (it is exact only after the log-softmax's
    backward), while graphc's is the derivative of the loss as a function of ``log_probs``;
    the two agree on the gradient of the logits. ``mean`` divides each sample's loss by its
    target length (at least 1) and averages; ``zero_infinity`` turns an impossible alignment's
    infinite loss, and its gradient, into zeros.
    """
    types = [log_probs._node.type, targets._node.type]
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = _F.unsqueeze(log_probs, 1)
        targets = _F.unsqueeze(targets, 0) if targets.ndim == 1 else targets
    if log_probs.ndim != 3:
        raise op_error("ctc_loss", types, {}, f"log_probs must be [T, N, C] or [T, C], got shape {list(log_probs.shape)}")
    steps, batch, classes = log_probs.shape
    if not all(isinstance(d, int) for d in (steps, batch, classes)):
        raise op_error("ctc_loss", types, {}, f"log_probs must have static sizes, got {list(log_probs.shape)}")
    if not 0 <= blank < classes:
        raise op_error("ctc_loss", types, {"blank": blank}, f"blank must be in label range [0, {classes})")
    input_lengths = _lengths(input_lengths, batch, "input_lengths", types)
    target_lengths = _lengths(target_lengths, batch, "target_lengths", types)
    padded = _padded_targets(targets, target_lengths, batch, types)
    if padded.shape[0] != batch:
        raise op_error("ctc_loss", types, {}, f"targets must have {batch} rows, got shape {list(targets.shape)}")
    length = padded.shape[1]
    labels = _F.where(_F.lt(Tensor._constant(np.arange(length, dtype=np.int64)), _F.unsqueeze(target_lengths, 1)), padded, blank)
    # The extended sequence: blank, l1, blank, l2, ..., blank (2S + 1 positions).
    blanks = Tensor._constant(np.full((batch, length + 1), blank, dtype=np.int64))
    extended = _F.reshape(_F.stack([_F.narrow(blanks, 1, 0, length), labels], 2), (batch, 2 * length))
    extended = _F.cat([extended, _F.narrow(blanks, 1, 0, 1)], 1)
    positions = 2 * length + 1
    # A label may be reached from two positions back unless it repeats the label there (or is a blank).
    previous = _F.cat([Tensor._constant(np.full((batch, 2), blank, dtype=np.int64)), _F.narrow(extended, 1, 0, max(positions - 2, 0))], 1)
    previous = _F.narrow(previous, 1, 0, positions)
    odd = Tensor._constant(np.arange(positions) % 2 == 1)
    can_skip = _F.logical_and(_F.logical_and(odd, _F.ne(extended, previous)), Tensor._constant(np.arange(positions) >= 2))
    emissions = _F.gather(log_probs, 2, _F.expand(_F.unsqueeze(extended, 0), steps, batch, positions))
    start = np.full((batch, positions), _NEG_INF)
    start[:, 0] = 0.0
    alpha = Tensor._constant(start.astype(log_probs.dtype.numpy))
    minus_inf = Tensor._constant(np.full((batch, 1), _NEG_INF, dtype=log_probs.dtype.numpy))
    for t in range(steps):
        one_back = _F.cat([minus_inf, _F.narrow(alpha, 1, 0, positions - 1)], 1)
        reached = [alpha, one_back]
        if positions > 2:
            two_back = _F.cat([minus_inf, minus_inf, _F.narrow(alpha, 1, 0, positions - 2)], 1)
            reached.append(_F.where(can_skip, two_back, _NEG_INF))
        step = _F.add(_logaddexp(*reached), select(emissions, 0, t))
        alpha = _F.where(_F.unsqueeze(_F.gt(input_lengths, t), 1), step, alpha)
    last = _F.unsqueeze(_F.mul(target_lengths, 2), 1)
    end_blank = _F.squeeze(_F.gather(alpha, 1, last), 1)
    end_label = _F.squeeze(_F.gather(alpha, 1, _F.clamp(_F.sub(last, 1), min=0)), 1)
    end_label = _F.where(_F.gt(target_lengths, 0), end_label, _NEG_INF)
    loss = _F.neg(_logaddexp(end_blank, end_label))
    if zero_infinity:
        loss = _F.where(_F.eq(loss, math.inf), 0.0, loss)
    if reduction == "mean":
        return _F.mean(_F.div(loss, _F.clamp(_F.cast(target_lengths, loss.dtype), min=1.0)))
    if reduction == "sum":
        return _F.sum(loss)
    return _F.squeeze(loss, 0) if unbatched else loss
