"""``graphc.nn.functional``: layers, activations, normalizations and losses as functions (``graphc.runtime.nn.functional``)."""

from graphc.runtime.nn.functional import *  # noqa: F403
from graphc.runtime.nn.functional import __all__  # noqa: F401
