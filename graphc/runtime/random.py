"""The global random generator behind rand/randn/dropout, reset by ``graphc.manual_seed``.

graphc draws from NumPy's PCG64, so seeded runs are reproducible within graphc
but do not reproduce torch's random streams (tests copy weights instead).
"""

from __future__ import annotations

import weakref

import numpy as np

from graphc.ir.dtypes import int64
from graphc.ir.graph import Node
from graphc.ir.primitives.source import source_node
from graphc.ir.types import TensorType

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    global _generator
    _generator = np.random.default_rng(int(seed))
    return _generator


def generator() -> np.random.Generator:
    return _generator


def next_seed() -> int:
    """A fresh 63-bit key for one ``rand`` node."""
    return int(_generator.integers(0, 2**63 - 1))


# Nodes holding the seed of a ``rand`` node. graphc.compile draws a new seed for
# them on every call, so a compiled dropout gets a new mask each step.
_seed_nodes: weakref.WeakValueDictionary[int, Node] = weakref.WeakValueDictionary()


def seed_node() -> Node:
    node = source_node(TensorType((), int64), data=np.array(next_seed(), dtype=np.int64))
    _seed_nodes[id(node)] = node
    return node


def is_seed(node: Node) -> bool:
    return _seed_nodes.get(id(node)) is node


def live_seeds() -> list[Node]:
    """The seed nodes alive now: ``vmap`` tells the random ops its function makes from those made before."""
    return list(_seed_nodes.values())
