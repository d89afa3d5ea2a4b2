"""``graphc.optim``: SGD, Adam, AdamW and RMSprop with torch's interface (implemented in ``graphc.runtime.optim``)."""

from graphc.runtime.optim import SGD, Adam, AdamW, Optimizer, ParamGroup, RMSprop

__all__ = ["Optimizer", "ParamGroup", "SGD", "Adam", "AdamW", "RMSprop"]
