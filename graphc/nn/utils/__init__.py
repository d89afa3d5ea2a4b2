"""``graphc.nn.utils``: gradient clipping and parameter vectors (``graphc.runtime.nn.utils``); packed sequences in ``rnn``."""

from graphc.nn.utils import rnn  # noqa: F401
from graphc.runtime.nn.utils import *  # noqa: F403
from graphc.runtime.nn.utils import __all__  # noqa: F401
