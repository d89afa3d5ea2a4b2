"""``graphc.optim``: torch's optimizers (SGD, Adam, AdamW, RMSprop, Adagrad, Adamax, NAdam, RAdam, Adadelta, ASGD,
Rprop, Adafactor, Muon, and the eager LBFGS; SparseAdam refuses) with torch's interface, ``lr_scheduler`` and
``swa_utils`` (implemented in ``graphc.runtime.optim``)."""

from graphc.optim import lr_scheduler, swa_utils
from graphc.runtime.optim import (
    ASGD,
    LBFGS,
    SGD,
    Adadelta,
    Adafactor,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Muon,
    NAdam,
    Optimizer,
    ParamGroup,
    RAdam,
    RMSprop,
    Rprop,
    SparseAdam,
)

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
    "Muon",
    "LBFGS",
    "SparseAdam",
    "lr_scheduler",
    "swa_utils",
]
