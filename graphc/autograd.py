"""``graphc.autograd``: functional gradients, as ``torch.autograd``."""

from graphc.frontend.autograd import backward, grad

__all__ = ["backward", "grad"]
