"""``graphc.nn.utils``: gradient clipping and parameter vectors (``graphc.runtime.nn.utils``), weight and spectral
normalization (``graphc.runtime.nn.weight_norm``, ``spectral_norm``); packed sequences in ``rnn``; ``parametrize`` and
``parametrizations``; pruning in ``prune``."""

from graphc.nn.utils import parametrizations, parametrize, prune, rnn, stateless  # noqa: F401
from graphc.runtime.nn import spectral_norm as _spectral_norm
from graphc.runtime.nn import utils as _utils
from graphc.runtime.nn import weight_norm as _weight_norm
from graphc.runtime.nn.spectral_norm import *  # noqa: F403
from graphc.runtime.nn.utils import *  # noqa: F403
from graphc.runtime.nn.weight_norm import *  # noqa: F403

__all__ = _utils.__all__ + _weight_norm.__all__ + _spectral_norm.__all__
