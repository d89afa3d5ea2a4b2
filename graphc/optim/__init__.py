"""``graphc.optim``: torch's optimizers (SGD, Adam, AdamW, RMSprop, Adagrad, Adamax, NAdam, RAdam, Adadelta, ASGD,
Rprop, Adafactor) with torch's interface, and ``lr_scheduler`` (implemented in ``graphc.runtime.optim``)."""

from graphc.optim import lr_scheduler
from graphc.runtime.optim import ASGD, SGD, Adadelta, Adafactor, Adagrad, Adam, Adamax, AdamW, NAdam, Optimizer, ParamGroup, RAdam, RMSprop, Rprop

__all__ = [
    "Optimizer",
    "ParamGroup",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adamax",
    "NAdam",
    "RAdam",
    "Adadelta",
    "ASGD",
    "Rprop",
    "Adafactor",
    "lr_scheduler",
]
