"""``Conv1d/2d/3d`` (unfold and a matmul) and ``ConvTranspose1d/2d/3d`` (a matmul and fold),
with torch's arguments, parameter shapes and initialisation."""

from __future__ import annotations

from typing import Any

from graphc.runtime.nn import functional as F
from graphc.runtime.nn.linear import empty_parameter, reset_weight_and_bias
from graphc.runtime.nn.module import Module
from graphc.runtime.tensor import Tensor

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _tuple(value: Any, n: int) -> tuple[int, ...]:
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ValueError(f"expected an int or a {n}-tuple, got {value!r}")
        return tuple(int(v) for v in value)
    return (int(value),) * n


class _ConvNd(Module):
    _dims = 2
    _transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        n = self._dims
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {_PADDING_MODES}, but got padding_mode='{padding_mode}'")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _tuple(kernel_size, n)
        self.stride = _tuple(stride, n)
        self.dilation = _tuple(dilation, n)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding: Any = padding
        else:
            self.padding = _tuple(padding, n)
        self.output_padding = (0,) * n
        self.transposed = self._transposed
        self.groups = groups
        self.padding_mode = padding_mode
        channels = (in_channels, out_channels // groups) if self.transposed else (out_channels, in_channels // groups)
        self.weight = empty_parameter(*channels, *self.kernel_size, dtype=dtype, device=device)
        if bias:
            self.bias = empty_parameter(out_channels, dtype=dtype, device=device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_weight_and_bias(self.weight, self.bias)

    def _explicit_padding(self) -> tuple[list[int], Any]:
        """For padding modes other than zeros: the F.pad list, and padding 0 for the convolution."""
        if isinstance(self.padding, str):
            if self.padding == "valid":
                return [], 0
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            pads = [(t // 2, t - t // 2) for t in totals]
        else:
            pads = [(p, p) for p in self.padding]
        flat = [v for lo_hi in reversed(pads) for v in lo_hi]
        return flat, 0

    def _conv(self, input: Tensor, padding: Any) -> Tensor:
        raise NotImplementedError

    def forward(self, input: Tensor) -> Tensor:
        if self.padding_mode != "zeros":
            pads, zero = self._explicit_padding()
            return self._conv(F.pad(input, pads, mode=self.padding_mode) if pads else input, zero)
        return self._conv(input, self.padding)

    def extra_repr(self) -> str:
        s = "{in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}"
        if self.padding != (0,) * len(self.padding):
            s += ", padding={padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += ", dilation={dilation}"
        if self.output_padding != (0,) * len(self.output_padding):
            s += ", output_padding={output_padding}"
        if self.groups != 1:
            s += ", groups={groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += ", padding_mode={padding_mode}"
        return s.format(**self.__dict__)


class Conv2d(_ConvNd):
    """2-d convolution over ``[N, C, H, W]`` (or unbatched ``[C, H, W]``) inputs."""

    _dims = 2

    def _conv(self, input: Tensor, padding: Any) -> Tensor:
        return F.conv2d(input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv3d(_ConvNd):
    """3-d convolution over ``[N, C, D, H, W]`` (or unbatched ``[C, D, H, W]``) inputs."""

    _dims = 3

    def _conv(self, input: Tensor, padding: Any) -> Tensor:
        return F.conv3d(input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv1d(_ConvNd):
    """1-d convolution over ``[N, C, L]`` (or unbatched ``[C, L]``) inputs."""

    _dims = 1

    def _conv(self, input: Tensor, padding: Any) -> Tensor:
        return F.conv1d(input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class _ConvTransposeNd(_ConvNd):
    """torch's argument order (``output_padding``, ``groups``, ``bias``, ``dilation``) and weight ``[in, out/groups, k...]``."""

    _transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Any = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__} takes integer padding, got padding={padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode, device, dtype)
        self.output_padding = _tuple(output_padding, self._dims)

    def _output_padding(self, input: Tensor, output_size: Any) -> tuple[int, ...]:
        """torch's: the module's output_padding, or the one that gives ``output_size`` (spatial sizes, or with batch and channels)."""
        if output_size is None:
            return self.output_padding
        n = self._dims
        leading = 2 if input.ndim == n + 2 else 1
        sizes = [int(s) for s in output_size]
        if len(sizes) == leading + n:
            sizes = sizes[leading:]
        if len(sizes) != n:
            raise ValueError(f"ConvTranspose{n}D: for {input.ndim}D input, output_size must have {n} or {leading + n} elements (got {len(sizes)})")
        spatial = tuple(input.shape[leading:])
        smallest = [(s - 1) * st - 2 * p + d * (k - 1) + 1 for s, st, p, d, k in zip(spatial, self.stride, self.padding, self.dilation, self.kernel_size)]
        largest = [low + st - 1 for low, st in zip(smallest, self.stride)]
        if any(not low <= size <= high for size, low, high in zip(sizes, smallest, largest)):
            raise ValueError(f"requested an output size of {sizes}, but valid sizes range from {smallest} to {largest} (for an input of {list(spatial)})")
        return tuple(size - low for size, low in zip(sizes, smallest))

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        conv = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[self._dims]
        return conv(input, self.weight, self.bias, self.stride, self.padding, self._output_padding(input, output_size), self.groups, self.dilation)


class ConvTranspose2d(_ConvTransposeNd):
    """2-d transposed convolution (the input gradient of a Conv2d) over ``[N, C, H, W]`` or ``[C, H, W]``."""

    _dims = 2


class ConvTranspose1d(_ConvTransposeNd):
    """1-d transposed convolution over ``[N, C, L]`` or ``[C, L]``."""

    _dims = 1


class ConvTranspose3d(_ConvTransposeNd):
    """3-d transposed convolution over ``[N, C, D, H, W]`` or ``[C, D, H, W]``."""

    _dims = 3
