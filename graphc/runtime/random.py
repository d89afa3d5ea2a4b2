"""The global random generator behind rand/randn/dropout, reset by ``graphc.manual_seed``.

graphc draws from NumPy's PCG64, so seeded runs are reproducible within graphc
but do not reproduce torch's random streams (tests copy weights instead).
``graphc.Generator`` is a ``numpy.random.Generator`` with torch's methods, so every
function that takes ``generator=`` accepts either.
"""

from __future__ import annotations

import secrets
import weakref
from typing import Any

import numpy as np

from graphc.errors import GraphcError
from graphc.ir.dtypes import int64
from graphc.ir.graph import Node
from graphc.ir.primitives.source import source_node
from graphc.ir.types import TensorType

# PCG64's state: two 128-bit words (state, increment) as four 64-bit halves, then the buffered half-draw.
_STATE_WORDS = 6
_MASK64 = 2**64 - 1


def _to_int64(word: int) -> int:
    return word - 2**64 if word >= 2**63 else word


class Generator(np.random.Generator):
    """torch.Generator's interface over NumPy's PCG64 (torch's default seed, 67280421310721, until seeded)."""

    def __init__(self, device: Any = "cpu") -> None:
        if str(device) != "cpu":
            raise GraphcError(f"graphc.Generator draws on the host; device={device!r} is not supported (use 'cpu')")
        self._initial_seed = 67280421310721
        super().__init__(np.random.PCG64(self._initial_seed))

    @property
    def device(self) -> str:
        return "cpu"

    def manual_seed(self, seed: int) -> Generator:
        seed = int(seed)
        self._initial_seed = seed
        self.bit_generator.state = np.random.PCG64(seed % 2**64).state
        return self

    def seed(self) -> int:
        """Seed from the operating system's entropy and return the seed, as torch's ``Generator.seed``."""
        seed = secrets.randbits(63)
        self.manual_seed(seed)
        return seed

    def initial_seed(self) -> int:
        return self._initial_seed

    def get_state(self) -> Any:
        """The state as a 1-d int64 tensor of six words (torch's is a uint8 tensor of its Mersenne Twister; neither can be read by the other)."""
        from graphc.frontend.constructors import tensor

        state = self.bit_generator.state
        words = [state["state"]["state"], state["state"]["inc"]]
        halves = [part for word in words for part in (word >> 64, word & _MASK64)]
        return tensor([_to_int64(h) for h in halves] + [state["has_uint32"], state["uinteger"]], dtype=int64)

    def set_state(self, new_state: Any) -> Generator:
        array = np.asarray(new_state.numpy() if hasattr(new_state, "numpy") else new_state)
        if array.shape != (_STATE_WORDS,) or array.dtype != np.int64:
            got = f"{array.dtype} of shape {tuple(array.shape)}"
            raise GraphcError(f"set_state expects the int64 tensor of {_STATE_WORDS} words that get_state returns, got {got}")
        h = [int(v) & _MASK64 for v in array[:4]]
        state = {"state": (h[0] << 64) | h[1], "inc": (h[2] << 64) | h[3]}
        self.bit_generator.state = {"bit_generator": "PCG64", "state": state, "has_uint32": int(array[4]), "uinteger": int(array[5])}
        return self

    def __reduce__(self) -> tuple:
        """Pickled (DataLoader workers, deepcopy) as a graphc.Generator with its state and initial seed, not NumPy's base class."""
        return (_restored, (self.bit_generator.state, self._initial_seed))


def _restored(state: dict, initial_seed: int) -> Generator:
    generator = Generator()
    generator.bit_generator.state = state
    generator._initial_seed = initial_seed
    return generator


default_generator = Generator()
default_generator.manual_seed(0)


def manual_seed(seed: int) -> Generator:
    return default_generator.manual_seed(seed)


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Any:
    return default_generator.get_state()


def set_rng_state(new_state: Any) -> None:
    default_generator.set_state(new_state)


def generator() -> Generator:
    return default_generator


def next_seed() -> int:
    """A fresh 63-bit key for one ``rand`` node."""
    return int(default_generator.integers(0, 2**63 - 1))


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
