"""``graphc.optim.swa_utils``: weight averaging (``AveragedModel``, SWA and EMA averages), ``SWALR`` and ``update_bn``
(implemented in ``graphc.runtime.optim.swa_utils``)."""

from graphc.runtime.optim.swa_utils import *  # noqa: F403
from graphc.runtime.optim.swa_utils import __all__  # noqa: F401
