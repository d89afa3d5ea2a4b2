"""torch's in-place functional activations (``F.relu_``, ``F.elu_``, ...): the activation written into its input.

Each is ``input._inplace(activation(input))`` (``activation(input, inplace=True)`` where torch's in-place
form differentiates from its result: elu_, celu_, selu_, leaky_relu_, rrelu_), the path of ``Tensor.add_`` and the like, so autograd
follows the new value, a leaf that requires grad is refused while grad mode is on (torch's error), and
the input tensor itself is returned, as torch returns it.
"""

from __future__ import annotations

from graphc.runtime.nn import functional as nnf
from graphc.runtime.tensor import Tensor


def relu_(input: Tensor) -> Tensor:
    return input._inplace(nnf.relu(input), op="relu_")


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return nnf.elu(input, alpha, inplace=True)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return nnf.celu(input, alpha, inplace=True)


def selu_(input: Tensor) -> Tensor:
    return nnf.selu(input, inplace=True)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return nnf.leaky_relu(input, negative_slope, inplace=True)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return input._inplace(nnf.hardtanh(input, min_val, max_val), op="hardtanh_")


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False) -> Tensor:
    return nnf.rrelu(input, lower, upper, training, inplace=True)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    return input._inplace(nnf.threshold(input, threshold, value), op="threshold_")
