"""``graphc.autograd.functional``: torch.autograd.functional's API (implemented in ``graphc/frontend/transforms/autograd_functional.py``)."""

from graphc.frontend.transforms.autograd_functional import hessian, hvp, jacobian, jvp, vhp, vjp

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]
