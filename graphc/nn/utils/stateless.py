"""``graphc.nn.utils.stateless``: torch.nn.utils.stateless's ``functional_call`` (the same function as ``graphc.func``'s)."""

from graphc.frontend.transforms.functional_call import functional_call

__all__ = ["functional_call"]
