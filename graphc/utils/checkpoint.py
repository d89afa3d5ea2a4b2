"""``graphc.utils.checkpoint``: torch.utils.checkpoint's functions (implemented in ``graphc/frontend/transforms/checkpoint.py``)."""

from graphc.frontend.transforms.checkpoint import checkpoint, checkpoint_sequential

__all__ = ["checkpoint", "checkpoint_sequential"]
