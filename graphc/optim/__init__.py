"""``graphc.optim``: SGD, Adam, AdamW and RMSprop with torch's interface, and ``lr_scheduler`` (implemented in ``graphc.runtime.optim``)."""

from graphc.optim import lr_scheduler
from graphc.runtime.optim import SGD, Adam, AdamW, Optimizer, ParamGroup, RMSprop

__all__ = ["Optimizer", "ParamGroup", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler"]
