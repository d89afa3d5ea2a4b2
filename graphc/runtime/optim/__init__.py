"""Optimizers whose updates are graph ops (``graphc.optim``): torch's SGD, Adam, AdamW, RMSprop, Adagrad,
Adamax, NAdam, RAdam, Adadelta, ASGD, Rprop, Adafactor and Muon; and LBFGS, which runs eagerly (it decides
from values); SparseAdam refuses (graphc has no sparse gradients)."""

from graphc.runtime.optim.adadelta import Adadelta
from graphc.runtime.optim.adafactor import Adafactor
from graphc.runtime.optim.adagrad import Adagrad
from graphc.runtime.optim.adam import Adam, AdamW
from graphc.runtime.optim.adamax import Adamax
from graphc.runtime.optim.asgd import ASGD
from graphc.runtime.optim.lbfgs import LBFGS
from graphc.runtime.optim.muon import Muon
from graphc.runtime.optim.nadam import NAdam
from graphc.runtime.optim.optimizer import Optimizer, ParamGroup
from graphc.runtime.optim.radam import RAdam
from graphc.runtime.optim.rmsprop import RMSprop
from graphc.runtime.optim.rprop import Rprop
from graphc.runtime.optim.sgd import SGD
from graphc.runtime.optim.sparse_adam import SparseAdam

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
]
