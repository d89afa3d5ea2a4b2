"""``graphc.optim.lr_scheduler``: torch's learning-rate schedulers (``graphc.runtime.optim.lr_scheduler``)."""

from graphc.runtime.optim.lr_scheduler import *  # noqa: F403
from graphc.runtime.optim.lr_scheduler import __all__, _LRScheduler  # noqa: F401
