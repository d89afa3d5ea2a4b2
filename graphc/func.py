"""``graphc.func``: torch.func's function transforms (docs/transforms.md).

``vmap`` batches a function by per-primitive batching rules (graphc/ir/batching.py); the
derivatives are graphc's symbolic reverse mode, forward mode its transpose; all of them
nest, and compose with ``functional_call`` to batch or differentiate with respect to a
module's weights.
"""

from graphc.frontend.transforms.differentiate import grad, grad_and_value, hessian, jacfwd, jacrev, jvp, linearize, vjp
from graphc.frontend.transforms.functional_call import functional_call, stack_module_state
from graphc.frontend.transforms.vmap import vmap

__all__ = ["functional_call", "grad", "grad_and_value", "hessian", "jacfwd", "jacrev", "jvp", "linearize", "stack_module_state", "vjp", "vmap"]
