"""``graphc.nn.utils.prune``: torch's pruning methods and functions (``graphc.runtime.nn.prune``)."""

from graphc.runtime.nn.prune import *  # noqa: F403
from graphc.runtime.nn.prune import __all__  # noqa: F401
