"""``graphc.nn.utils.parametrizations``: ready-made parametrizations, as ``torch.nn.utils.parametrizations`` (``graphc.runtime.nn.parametrizations``)."""

from graphc.runtime.nn.parametrizations import *  # noqa: F403
from graphc.runtime.nn.parametrizations import __all__  # noqa: F401
