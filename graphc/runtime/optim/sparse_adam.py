"""``SparseAdam``, refused with its reason: it exists for sparse gradients, and graphc has none.

torch's SparseAdam updates only the rows a sparse gradient names (an ``nn.Embedding(sparse=True)``'s),
leaving the moments of the other rows alone, and refuses dense gradients. Every graphc gradient is
dense (``Embedding(sparse=True)`` is refused), so torch's own SparseAdam would fail on every step;
emulating it on dense gradients would be Adam with a different name (docs/decisions.md).
"""

from __future__ import annotations

from typing import Any

from graphc.errors import GraphcError


class SparseAdam:
    """Refuses to be built: see the module docstring."""

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, maximize: bool = False) -> None:
        raise GraphcError(
            "SparseAdam is not supported: it updates the rows named by sparse gradients, and graphc's gradients are dense "
            "(nn.Embedding(sparse=True) is refused too; torch's SparseAdam refuses dense gradients). Use optim.Adam "
            "(which also decays the moments of rows that got no gradient this step)"
        )
