"""``graphc.amp``: mixed precision as torch.amp writes it: ``autocast`` regions and the ``GradScaler`` (implemented in ``graphc.runtime.amp``)."""

import graphc.runtime.tensor  # noqa: F401  (first: the front-end modules the scaler uses build on Tensor)
from graphc.frontend.autocast_policy import get_autocast_dtype, is_autocast_enabled
from graphc.runtime.amp.autocast_mode import autocast
from graphc.runtime.amp.grad_scaler import GradScaler

__all__ = ["GradScaler", "autocast", "get_autocast_dtype", "is_autocast_enabled"]
