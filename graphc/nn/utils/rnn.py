"""``graphc.nn.utils.rnn``: packed variable-length sequences, as ``torch.nn.utils.rnn`` (``graphc.runtime.nn.packed_sequence``)."""

from graphc.runtime.nn.packed_sequence import *  # noqa: F403
from graphc.runtime.nn.packed_sequence import __all__  # noqa: F401
