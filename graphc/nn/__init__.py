"""``graphc.nn``: modules, layers and losses with ``torch.nn``'s interface (implemented in ``graphc.runtime.nn``)."""

from graphc.nn import functional, init, utils  # noqa: F401
from graphc.runtime.nn import *  # noqa: F403
from graphc.runtime.nn import __all__
from graphc.runtime.nn.module import ParameterDict, ParameterList

__all__ = [*__all__, "ParameterDict", "ParameterList"]
