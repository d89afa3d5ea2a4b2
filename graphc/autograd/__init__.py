"""``graphc.autograd``: functional gradients, as ``torch.autograd``; ``functional`` holds torch.autograd.functional's API."""

from graphc.autograd import functional
from graphc.frontend.autograd import backward, grad

__all__ = ["backward", "functional", "grad"]
