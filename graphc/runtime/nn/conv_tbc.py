"""``F.conv_tbc``: a 1-d convolution of a ``[time, batch, channels]`` sequence."""

from __future__ import annotations

from graphc.frontend import functional as _F
from graphc.ir.registry import op_error
from graphc.runtime.tensor import Tensor


def conv_tbc(input: Tensor, weight: Tensor, bias: Tensor, pad: int = 0) -> Tensor:
    """torch's ``conv_tbc``: ``input [T, B, C_in]``, ``weight [K, C_in, C_out]``, ``bias [C_out]``, ``pad`` steps of
    zeros at both ends of time; the output is ``[T + 2 pad - K + 1, B, C_out]``. It is ``conv1d`` on the permuted
    operands (torch sums the same products per kernel offset)."""
    from graphc.runtime.nn.functional import conv1d

    types = [input._node.type, weight._node.type, bias._node.type]

    def refuse(message: str) -> Exception:
        return op_error("conv_tbc", types, {"pad": pad}, message)

    if input.ndim != 3:
        raise refuse("Input must have 3 dims: time, batch, in_channel")
    if weight.ndim != 3:
        raise refuse("Weight tensor must have 3 dims: kernel_width, in_channels, out_channels.")
    if bias.ndim != 1:
        raise refuse("Bias must be 1-D")
    if input.shape[2] != weight.shape[1]:
        raise refuse("Input dim 2 (input channels) is not == dim 1 in the weight tensor")
    if bias.shape[0] != weight.shape[2]:
        raise refuse("Bias size must equal dim 2 in the weight tensor (output channels).")
    if input.shape[0] + 2 * pad - weight.shape[0] + 1 < 0:
        raise refuse(f"the kernel width {weight.shape[0]} is longer than the padded input ({input.shape[0]} steps, pad {pad})")
    out = conv1d(_F.permute(input, (1, 2, 0)), _F.permute(weight, (2, 1, 0)), bias, padding=pad)
    return _F.permute(out, (2, 0, 1))
