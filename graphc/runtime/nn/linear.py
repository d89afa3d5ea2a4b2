"""``Linear``, ``Bilinear`` and ``Identity``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from graphc.ir import dtypes
from graphc.runtime.nn import functional as F
from graphc.runtime.nn import init
from graphc.runtime.nn.module import Module, Parameter
from graphc.runtime.tensor import Tensor


def empty_parameter(*shape: int, dtype: Any = None, device: Any = None) -> Parameter:
    """A parameter of ``shape`` (the default dtype unless ``dtype`` says otherwise) to be filled by an init function."""
    d = dtypes.to_dtype(dtype) if dtype is not None else dtypes.DEFAULT_FLOAT
    param = Parameter(np.zeros(shape, dtype=d.numpy))
    if device is not None and str(device).split(":")[0] == "cuda":
        from graphc.runtime.nn.module import replace

        replace(param, np.zeros(shape, dtype=d.numpy), d, "cuda")
    return param


def init_bias(bias: Tensor, fan_in: int) -> None:
    """torch's default bias: uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    init.uniform_(bias, -bound, bound)


def reset_weight_and_bias(weight: Tensor, bias: Tensor | None) -> None:
    """torch's default for Linear and Conv: kaiming_uniform(a=sqrt(5)) weight, bias by fan-in."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init._calculate_fan_in_and_fan_out(weight)
        init_bias(bias, fan_in)


class Identity(Module):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


class Linear(Module):
    """``y = x @ weight.T + bias``, with weight ``[out_features, in_features]``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = empty_parameter(out_features, in_features, dtype=dtype, device=device)
        if bias:
            self.bias = empty_parameter(out_features, dtype=dtype, device=device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Bilinear(Module):
    """``y_k = x1 @ weight[k] @ x2 + bias[k]``."""

    def __init__(self, in1_features: int, in2_features: int, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        self.weight = empty_parameter(out_features, in1_features, in2_features, dtype=dtype, device=device)
        if bias:
            self.bias = empty_parameter(out_features, dtype=dtype, device=device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in1_features={self.in1_features}, in2_features={self.in2_features}, out_features={self.out_features}, bias={self.bias is not None}"
