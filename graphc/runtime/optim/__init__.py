"""Optimizers whose updates are graph ops: ``SGD``, ``Adam``, ``AdamW``, ``RMSprop`` (``graphc.optim``)."""

from graphc.runtime.optim.adam import Adam, AdamW
from graphc.runtime.optim.optimizer import Optimizer, ParamGroup
from graphc.runtime.optim.rmsprop import RMSprop
from graphc.runtime.optim.sgd import SGD

__all__ = ["Optimizer", "ParamGroup", "SGD", "Adam", "AdamW", "RMSprop"]
