"""Padding modules: ``ZeroPad``, ``ConstantPad``, ``ReflectionPad``, ``ReplicationPad`` and ``CircularPad`` in 1-d, 2-d and 3-d, over ``F.pad``."""

from __future__ import annotations

from typing import Any

from graphc.runtime.nn import functional as F
from graphc.runtime.nn.module import Module
from graphc.runtime.tensor import Tensor


def _padding(padding: Any, sides: int) -> tuple[int, ...]:
    """torch's ``_pair``/``_quadruple``: an int pads every side, a sequence must name each side."""
    if isinstance(padding, int):
        return (padding,) * sides
    padding = tuple(int(p) for p in padding)
    if len(padding) != sides:
        raise ValueError(f"padding must be an int or a {sides}-tuple, got {padding}")
    return padding


class _ConstantPadNd(Module):
    sides = 2

    def __init__(self, padding: Any, value: float) -> None:
        super().__init__()
        self.padding = _padding(padding, self.sides)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    sides = 2


class ConstantPad2d(_ConstantPadNd):
    sides = 4


class ConstantPad3d(_ConstantPadNd):
    sides = 6


class ZeroPad1d(ConstantPad1d):
    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    def __init__(self, padding: Any) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _IndexPadNd(Module):
    """Padding that copies input elements (``mode`` is F.pad's): reflection, replication or wrapping around."""

    sides = 2
    mode = "reflect"

    def __init__(self, padding: Any) -> None:
        super().__init__()
        self.padding = _padding(padding, self.sides)

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_IndexPadNd):
    sides = 2
    mode = "reflect"


class ReflectionPad2d(_IndexPadNd):
    sides = 4
    mode = "reflect"


class ReplicationPad1d(_IndexPadNd):
    sides = 2
    mode = "replicate"


class ReplicationPad2d(_IndexPadNd):
    sides = 4
    mode = "replicate"


class ReflectionPad3d(_IndexPadNd):
    sides = 6
    mode = "reflect"


class ReplicationPad3d(_IndexPadNd):
    sides = 6
    mode = "replicate"


class CircularPad1d(_IndexPadNd):
    sides = 2
    mode = "circular"


class CircularPad2d(_IndexPadNd):
    sides = 4
    mode = "circular"


class CircularPad3d(_IndexPadNd):
    sides = 6
    mode = "circular"
