"""``graphc.nn``: modules, layers and losses with ``torch.nn``'s interface (implemented in ``graphc.runtime.nn``)."""

import importlib

from graphc.nn import functional, init  # noqa: F401
from graphc.runtime.nn import *  # noqa: F403
from graphc.runtime.nn import __all__
from graphc.runtime.nn.module import ParameterDict, ParameterList

# The star import binds graphc.runtime.nn.utils; graphc.nn.utils is the package that adds ``utils.rnn``.
utils = importlib.import_module("graphc.nn.utils")

__all__ = [*__all__, "ParameterDict", "ParameterList"]
