"""``graphc.nn.init``: torch's initialisation functions on graphc's generator (``graphc.runtime.nn.init``)."""

from graphc.runtime.nn.init import *  # noqa: F403
from graphc.runtime.nn.init import __all__, _calculate_fan_in_and_fan_out  # noqa: F401
