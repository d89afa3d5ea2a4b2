"""``F.gumbel_softmax``: a softmax of the logits perturbed by Gumbel noise, optionally made one-hot
with torch's straight-through gradient.

The noise is torch's construction, ``-log(E)`` of standard exponential samples ``E``; graphc
draws ``E`` as ``-log1p(-U)`` of its uniform ``rand`` (so a compiled step draws fresh noise on
every call, as dropout does), kept above the dtype's smallest normal number so that a uniform 0
cannot make an infinite logit.
"""

from __future__ import annotations

import warnings

import numpy as np

from graphc.frontend import functional as _F
from graphc.frontend.pointwise import clamp_min
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.registry import emit, op_error
from graphc.runtime.tensor import Tensor


def exponential_noise(shape: tuple, dtype: dtypes.DType) -> Tensor:
    """Standard exponential samples, the noise torch draws with ``exponential_``."""
    uniform = _F.rand_uniform(shape, dtype)
    return clamp_min(_F.neg(_F.log1p(_F.neg(uniform))), float(np.finfo(dtype.numpy).tiny))


def gumbel_softmax(logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1) -> Tensor:
    """torch's ``F.gumbel_softmax``: ``softmax((logits + g) / tau)`` with ``g ~ Gumbel(0, 1)``; ``hard`` returns the
    one-hot of its argmax in the forward and the soft sample's gradient in the backward."""
    if eps != 1e-10:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=2)
    x = _F.node_of(logits)
    if not x.dtype.is_floating_point:
        raise op_error("gumbel_softmax", [x.type], {"tau": tau, "hard": hard, "dim": dim}, f"gumbel_softmax needs floating-point logits, got {x.dtype.name}")
    axis = _F._dim(x, dim, op="gumbel_softmax")
    gumbels = _F.neg(_F.log(exponential_noise(tuple(x.shape), x.dtype)))
    soft = _F.softmax(_F.div(_F.add(logits, gumbels), tau), axis)
    if not hard:
        return soft
    return _F.add(_F.sub(_one_hot_of_max(soft, axis), _F.detach(soft)), soft)


def _one_hot_of_max(soft: Tensor, axis: int) -> Tensor:
    """Zeros with a 1 at the first maximum along ``axis`` (torch's ``scatter`` of ``max``'s index)."""
    node = _F.node_of(soft)
    index = _F.node_of(_F.argmax(soft, axis, keepdim=True))
    positions = emit("iota", shape=tuple(node.shape), axis=axis, dtype=dtypes.int64)
    return _F.wrap(b.cast(b.compare("eq", positions, index), node.dtype))

