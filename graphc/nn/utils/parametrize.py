"""``graphc.nn.utils.parametrize``: a module's tensor computed from others, as ``torch.nn.utils.parametrize`` (``graphc.runtime.nn.parametrize``)."""

from graphc.runtime.nn.parametrize import *  # noqa: F403
from graphc.runtime.nn.parametrize import __all__  # noqa: F401
