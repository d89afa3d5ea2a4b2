"""``graphc.amp``: mixed precision as torch.amp writes it: ``autocast`` regions and the ``GradScaler``."""

import graphc.runtime.tensor  # noqa: F401  (first: the front-end modules the scaler uses build on Tensor)
from graphc.amp.autocast_mode import autocast
from graphc.amp.grad_scaler import GradScaler
from graphc.frontend.autocast_policy import get_autocast_dtype, is_autocast_enabled

__all__ = ["GradScaler", "autocast", "get_autocast_dtype", "is_autocast_enabled"]
