"""``graphc.utils``: ``checkpoint``, as torch.utils.checkpoint."""

from graphc.utils import checkpoint

__all__ = ["checkpoint"]
