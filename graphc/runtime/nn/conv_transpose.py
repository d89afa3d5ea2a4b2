"""``F.conv_transpose1d/2d/3d``: torch's arguments and checks around the matmul-and-fold
builder of ``graphc.ir.conv_transpose`` (which the torch importer shares). Re-exported by ``functional``."""

from __future__ import annotations

from typing import Any

from graphc.frontend.autocast_policy import autocast_op
from graphc.ir import build as b
from graphc.ir import conv_transpose as ct
from graphc.ir.registry import op_error
from graphc.runtime.nn.functional import _batched, _node, _ntuple, _static, _wrap
from graphc.runtime.tensor import Tensor

_KERNEL_DIMS = {1: "k", 2: "kH, kW", 3: "kD, kH, kW"}


def _conv_transpose(
    op: str, spatial: int, input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any, padding: Any, output_padding: Any, groups: int, dilation: Any
) -> Tensor:
    """The checks torch makes, in its words where it has them, then the n-d builder (1-d as 2-d over a height of 1)."""
    x, unbatched = _batched(input, spatial, op)
    types = [_node(x).type, _node(weight).type]
    if weight.ndim != spatial + 2:
        raise op_error(op, types, {}, f"weight must be {spatial + 2}-d [in_channels, out_channels/groups, {_KERNEL_DIMS[spatial]}], got {weight.ndim}-d")
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != x.dtype):
        raise op_error(op, types, {}, f"input ({x.dtype.name}), weight ({weight.dtype.name}) and bias must have the same dtype")
    _static(x, range(1, spatial + 2), op)
    in_channels, per_group, *kernel = weight.shape
    if groups < 1 or in_channels % groups:
        raise op_error(op, types, {"groups": groups}, f"given groups={groups}, weight of size {list(weight.shape)} must have a dimension 0 divisible by groups")
    if x.shape[1] != in_channels:
        raise op_error(op, types, {}, f"weight of size {list(weight.shape)} expects the input to have {in_channels} channels, got {x.shape[1]}")
    out_channels = per_group * groups
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != out_channels):
        message = f"weight of size {list(weight.shape)} expects a bias of size [{out_channels}], got {list(bias.shape)}"
        raise op_error(op, [*types, _node(bias).type], {}, message)
    strides, pads = _ntuple(stride, spatial, "stride"), _ntuple(padding, spatial, "padding")
    extra, dilations = _ntuple(output_padding, spatial, "output_padding"), _ntuple(dilation, spatial, "dilation")
    attrs = {"stride": strides, "padding": pads, "output_padding": extra, "dilation": dilations}
    if min(strides) < 1 or min(dilations) < 1 or min(pads) < 0 or min(extra) < 0:
        raise op_error(op, types, attrs, "stride and dilation must be positive, padding and output_padding non-negative")
    if any(e >= s and e >= d for e, s, d in zip(extra, strides, dilations)):
        raise op_error(op, types, attrs, "output padding must be smaller than either stride or dilation")
    sizes = tuple(x.shape[2:])
    out = tuple(ct.output_size(*args) for args in zip(sizes, kernel, strides, pads, extra, dilations))
    if min(out) < 1:
        raise op_error(op, types, attrs, f"the output size per channel {out} of input size {sizes} is too small")
    xn, wn = _node(x), _node(weight)
    if spatial == 1:  # a 2-d transposed convolution over a height of 1
        xn = b.reshape(xn, (*xn.shape[:2], 1, xn.shape[2]))
        wn = b.reshape(wn, (*wn.shape[:2], 1, wn.shape[2]))
        strides, pads, extra, dilations = (1, *strides), (0, *pads), (0, *extra), (1, *dilations)
    result = ct.conv_transpose(xn, wn, groups, strides, pads, extra, dilations)
    if bias is not None:
        result = b.add(result, b.reshape(_node(bias), (out_channels, *(1,) * (result.type.ndim - 2))))
    if spatial == 1:
        result = b.reshape(result, (*result.shape[:2], *out))
    return _wrap(result if not unbatched else b.reshape(result, result.shape[1:]))


@autocast_op
def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """2-d transposed convolution (the gradient of conv2d with respect to its input), weight ``[C_in, C_out/groups, kH, kW]``."""
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups, dilation)


@autocast_op
def conv_transpose1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """1-d transposed convolution, weight ``[C_in, C_out/groups, k]``."""
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups, dilation)


@autocast_op
def conv_transpose3d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """3-d transposed convolution over ``[N, C, D, H, W]``, weight ``[C_in, C_out/groups, kD, kH, kW]``."""
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding, groups, dilation)


__all__ = ["conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]
