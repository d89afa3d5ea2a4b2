"""``graphc.nn.functional``: layers, activations, normalizations and losses as functions.

Everything is composed from graphc's tensor operations, so autodiff, fusion and
both code generators only see primitives. Convolution is ``unfold`` (im2col) and
a matmul; max pooling takes ``argmax`` over each window and ``gather``s the value
(the gradient goes to the first maximal element, as torch's does); average
pooling sums each window and divides by torch's divisor. Spatial sizes must be
static; the batch dimension may be symbolic (``graphc.compile(dynamic=True)``).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphc.errors import GraphcError
from graphc.frontend import functional as _F
from graphc.frontend import lazy, tracing
from graphc.frontend.autocast_policy import autocast_op
from graphc.frontend.functional import gelu, sigmoid, tanh
from graphc.frontend.linalg import cosine_similarity, pairwise_distance, vector_norm
from graphc.frontend.pointwise import expm1
from graphc.ir import build as b
from graphc.ir import dtypes
from graphc.ir.dtype_info import finfo
from graphc.ir.grad_mode import grad_mode, is_grad_enabled
from graphc.ir.registry import emit, op_error, user_stacklevel
from graphc.ir.types import dims_equal
from graphc.runtime.tensor import Tensor

_wrap = _F.wrap
_node = _F.node_of


def _pair(value: Any, name: str = "argument") -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) == 1:
            return (int(value[0]), int(value[0]))
        if len(value) != 2:
            raise GraphcError(f"{name} must be an int or a pair of ints, got {value!r}")
        return (int(value[0]), int(value[1]))
    return (int(value), int(value))


def _single(value: Any, name: str = "argument") -> int:
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise GraphcError(f"{name} must be an int or a 1-tuple, got {value!r}")
        return int(value[0])
    return int(value)


def _constant(array: np.ndarray) -> Tensor:
    return Tensor._constant(np.array(array, order="C"))


def _static(x: Tensor, dims: Sequence[int], op: str) -> None:
    for d in dims:
        if not isinstance(x.shape[d], int):
            raise op_error(op, [_node(x).type], {}, f"dimension {d} must have a static size, got {x.shape[d]}")


# ------------------------------------------------------------------ linear layers


@autocast_op
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``"""
    x, w = _node(input), _node(weight)
    if w.type.ndim not in (1, 2):
        raise op_error("linear", [x.type, w.type], {}, "weight must be 1-d or 2-d")
    if not x.type.ndim:
        raise op_error("linear", [x.type, w.type], {}, "input must have at least one dimension")
    if x.dtype != w.dtype:
        raise op_error("linear", [x.type, w.type], {}, f"input ({x.dtype.name}) and weight ({w.dtype.name}) must have the same dtype")
    lead = x.shape[:-1]
    flatten = len(lead) > 1 and w.type.ndim == 2
    if flatten:  # one product of rows, as torch does, not one per leading index (docs/decisions.md, nn)
        x = b.reshape(x, (math.prod(lead), x.shape[-1]))
    weight_side = b.transpose_last(w) if w.type.ndim == 2 else w
    if bias is None:
        out = b.matmul(x, weight_side)
    else:
        bias_node = _node(bias)
        out = b.matmul_then(x, weight_side, lambda product: b.add(product, bias_node))
    if flatten:
        out = b.reshape(out, (*lead, out.shape[-1]))
    return _wrap(out)


@autocast_op
def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y_k = x1 @ W_k @ x2 + b_k``"""
    inner = _F.matmul(_F.unsqueeze(input1, -2).unsqueeze(-3), weight)  # [..., out, 1, in2]
    out = _F.sum(_F.mul(_F.squeeze(inner, -2), _F.unsqueeze(input2, -2)), -1)
    return out if bias is None else _F.add(out, bias)


# ------------------------------------------------------------------ convolution and pooling


def _batched(input: Tensor, spatial: int, op: str) -> tuple[Tensor, bool]:
    """A ``[N, C, *spatial]`` view of ``input`` and whether it was unbatched ``[C, *spatial]``."""
    if input.ndim == spatial + 1:
        return _F.unsqueeze(input, 0), True
    if input.ndim != spatial + 2:
        raise op_error(op, [_node(input).type], {}, f"expected a {spatial + 1}-d (unbatched) or {spatial + 2}-d (batched) input, got {input.ndim}-d")
    return input, False


def unfold(input: Tensor, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> Tensor:
    """torch.nn.functional.unfold (im2col): ``[N, C, H, W] -> [N, C*kh*kw, L]``."""
    x, unbatched = _batched(input, 2, "unfold")
    out = _wrap(emit("unfold", _node(x), kernel_size=_pair(kernel_size), dilation=_pair(dilation), padding=_pair(padding), stride=_pair(stride), pad_value=0.0))
    return _F.squeeze(out, 0) if unbatched else out


def fold(input: Tensor, output_size: Any, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1) -> Tensor:
    """torch.nn.functional.fold (col2im): ``[N, C*kh*kw, L] -> [N, C, H, W]``, summing overlaps."""
    unbatched = input.ndim == 2
    x = _F.unsqueeze(input, 0) if unbatched else input
    out = _wrap(
        emit(
            "fold",
            _node(x),
            output_size=_pair(output_size),
            kernel_size=_pair(kernel_size),
            dilation=_pair(dilation),
            padding=_pair(padding),
            stride=_pair(stride),
        )
    )
    return _F.squeeze(out, 0) if unbatched else out


def _ntuple(value: Any, spatial: int, name: str = "argument") -> tuple[int, ...]:
    """An argument with one int per spatial dimension: an int, or a sequence of 1 or ``spatial`` ints."""
    if spatial == 1:
        return (_single(value, name),)
    if spatial == 2:
        return _pair(value, name)
    if isinstance(value, (tuple, list)):
        if len(value) not in (1, spatial):
            raise GraphcError(f"{name} must be an int or a {spatial}-tuple of ints, got {value!r}")
        return tuple(int(v) for v in value) * (spatial // len(value))
    return (int(value),) * spatial


def _windows(x: Tensor, kernel: tuple[int, ...], dilation: tuple[int, ...], padding: tuple[int, ...], stride: tuple[int, ...], pad_value: float) -> Tensor:
    return _wrap(emit("unfold", _node(x), kernel_size=kernel, dilation=dilation, padding=padding, stride=stride, pad_value=float(pad_value)))


def _pad_end(x: Tensor, extra: Sequence[int], value: float = 0.0) -> Tensor:
    """``extra[i]`` more elements of ``value`` at the end of spatial dimension i."""
    return _F.pad(x, [v for e in reversed(extra) for v in (0, e)], value=value)


def _conv_padding(padding: Any, kernel: tuple[int, ...], dilation: tuple[int, ...], stride: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(symmetric padding, extra padding at the end) per spatial dimension, for ints, tuples, 'valid' and 'same'."""
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * n, (0,) * n
        if padding != "same":
            raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
        if any(s != 1 for s in stride):
            raise ValueError("padding='same' is not supported for strided convolutions")
        totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return tuple(t // 2 for t in totals), tuple(t - t // 2 - t // 2 for t in totals)
    return _ntuple(padding, n, "padding"), (0,) * n


_KERNEL_DIMS = {2: "kH, kW", 3: "kD, kH, kW"}


def _conv(op: str, spatial: int, input: Tensor, weight: Tensor, bias: Tensor | None, stride: Any, padding: Any, dilation: Any, groups: int) -> Tensor:
    """Convolution (cross-correlation) over 2 or 3 spatial dimensions as im2col (``unfold``) and a matmul per group."""
    x, unbatched = _batched(input, spatial, op)
    xt, wt = _node(x).type, _node(weight).type
    if weight.ndim != spatial + 2:
        message = f"weight must be {spatial + 2}-d [out_channels, in_channels/groups, {_KERNEL_DIMS[spatial]}], got {weight.ndim}-d"
        raise op_error(op, [xt, wt], {}, message)
    if x.dtype != weight.dtype or (bias is not None and bias.dtype != x.dtype):
        raise op_error(op, [xt, wt], {}, f"input ({x.dtype.name}), weight ({weight.dtype.name}) and bias must have the same dtype")
    out_channels, per_group, *kernel_list = weight.shape
    kernel = tuple(kernel_list)
    n, channels, *sizes = x.shape
    _static(x, range(1, spatial + 2), op)
    if groups < 1 or channels != per_group * groups or out_channels % groups:
        raise op_error(
            op,
            [xt, wt],
            {"groups": groups},
            f"given groups={groups}, weight of size {list(weight.shape)} expects the input to have {per_group * groups} channels, got {channels}",
        )
    strides, dilations = _ntuple(stride, spatial, "stride"), _ntuple(dilation, spatial, "dilation")
    pads, extra = _conv_padding(padding, kernel, dilations, strides)
    if any(extra):
        x = _pad_end(x, extra)
        sizes = [s + e for s, e in zip(sizes, extra)]
    out = tuple((s + 2 * p - d * (k - 1) - 1) // st + 1 for s, p, d, k, st in zip(sizes, pads, dilations, kernel, strides))
    if min(out) < 1:
        padded = "x".join(str(s + 2 * p) for s, p in zip(sizes, pads))
        raise op_error(op, [xt, wt], {}, f"the kernel ({'x'.join(map(str, kernel))}, dilation {dilations}) is larger than the padded input ({padded})")
    patches = _windows(x, kernel, dilations, pads, strides, 0.0)  # [N, C*prod(kernel), L]
    window = per_group * math.prod(kernel)
    if groups == 1:
        result = _F.matmul(_F.reshape(weight, out_channels, window), patches)
    else:
        grouped = _F.reshape(patches, n, groups, window, math.prod(out))
        result = _F.matmul(_F.reshape(weight, groups, out_channels // groups, window), grouped)
    result = _F.reshape(result, n, out_channels, *out)
    if bias is not None:
        result = _F.add(result, _F.reshape(bias, out_channels, *(1,) * spatial))
    return _F.squeeze(result, 0) if unbatched else result


@autocast_op
def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-d convolution (cross-correlation) as im2col (``unfold``) and a matmul per group."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


@autocast_op
def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """3-d convolution over ``[N, C, D, H, W]``: a 3-d ``unfold`` and a matmul per group."""
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


@autocast_op
def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-d convolution, as a 2-d one over a height of 1."""
    x, unbatched = _batched(input, 1, "conv1d")
    if weight.ndim != 3:
        raise op_error("conv1d", [_node(x).type, _node(weight).type], {}, f"weight must be 3-d [out_channels, in_channels/groups, k], got {weight.ndim}-d")
    if not isinstance(padding, str):
        padding = (0, _single(padding, "padding"))
    out = conv2d(_F.unsqueeze(x, 2), _F.unsqueeze(weight, 2), bias, (1, _single(stride, "stride")), padding, (1, _single(dilation, "dilation")), groups)
    out = _F.squeeze(out, 2)
    return _F.squeeze(out, 0) if unbatched else out


def _pool_size(size: int, kernel: int, stride: int, padding: int, dilation: int, ceil_mode: bool) -> int:
    """torch's pooling_output_shape."""
    span = dilation * (kernel - 1) + 1
    out = (size + 2 * padding - span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def _pool_setup(x: Tensor, spatial: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool, op: str) -> tuple:
    kernel = _ntuple(kernel_size, spatial, "kernel_size")
    strides = kernel if stride is None or (isinstance(stride, (tuple, list)) and not stride) else _ntuple(stride, spatial, "stride")
    pads, dil = _ntuple(padding, spatial, "padding"), _ntuple(dilation, spatial, "dilation")
    _static(x, range(1, spatial + 2), op)
    for k, p in zip(kernel, pads):
        if p > k // 2:
            raise op_error(op, [_node(x).type], {"kernel_size": kernel, "padding": pads}, "pad should be at most half of effective kernel size")
    size = tuple(x.shape[2:])
    out = tuple(_pool_size(size[i], kernel[i], strides[i], pads[i], dil[i], ceil_mode) for i in range(spatial))
    if min(out) < 1:
        raise op_error(op, [_node(x).type], {"kernel_size": kernel}, f"the output size {out} is too small")
    # ceil_mode's last window may hang over the padded input: pad the end so unfold sees it.
    extra = tuple(max(0, (out[i] - 1) * strides[i] + dil[i] * (kernel[i] - 1) + 1 - (size[i] + 2 * pads[i])) for i in range(spatial))
    return kernel, strides, pads, dil, out, extra


def _max_pool(op: str, spatial: int, input: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool, return_indices: bool) -> Any:
    """The largest value of each window; its gradient goes to the first maximal element (torch's rule)."""
    x, unbatched = _batched(_F.backward_reads(input), spatial, op)
    kernel, strides, pads, dil, out, extra = _pool_setup(x, spatial, kernel_size, stride, padding, dilation, ceil_mode, op)
    n, channels, *sizes = x.shape
    if any(extra):
        x = _pad_end(x, extra, -math.inf)
    window, length = math.prod(kernel), math.prod(out)
    patches = _F.reshape(_windows(x, kernel, dil, pads, strides, -math.inf), n, channels, window, length)
    best = _F.argmax(patches, 2, keepdim=True)
    values = _F.reshape(_F.gather(patches, 2, best), n, channels, *out)
    if unbatched:
        values = _F.squeeze(values, 0)
    if not return_indices:
        return values
    # The flat input position (row-major over the spatial dims) of every window element, gathered at the argmax.
    grid = np.meshgrid(*(np.arange(o) for o in out), *(np.arange(k) for k in kernel), indexing="ij")
    flat = np.zeros_like(grid[0])
    for i in range(spatial):
        flat = flat * sizes[i] + grid[i] * strides[i] - pads[i] + grid[spatial + i] * dil[i]
    table = flat.reshape(length, window).T.astype(np.int64)
    positions = _F.expand(_constant(table), n, channels, window, length)
    indices = _F.reshape(_F.gather(positions, 2, best), n, channels, *out)
    return values, (_F.squeeze(indices, 0) if unbatched else indices)


def max_pool2d(
    input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False
) -> Any:
    """The largest value of each window; its gradient goes to the first maximal element (torch's rule)."""
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@autocast_op
def max_pool3d(
    input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False
) -> Any:
    """``max_pool2d`` over ``[N, C, D, H, W]``; indices are flat positions ``(d * H + h) * W + w``, as torch's."""
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _avg_divisor(size: int, out: int, kernel: int, stride: int, padding: int, count_include_pad: bool) -> np.ndarray:
    start = np.arange(out) * stride - padding
    end = np.minimum(start + kernel, size + padding)
    pool = end - start
    if count_include_pad:
        return pool
    return np.minimum(end, size) - np.maximum(start, 0)


def _avg_pool(
    op: str, spatial: int, input: Tensor, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool, count_include_pad: bool, divisor_override: int | None
) -> Tensor:
    """The mean of each window, with torch's divisor (padding counted or not, ceil_mode windows clipped)."""
    x, unbatched = _batched(_F.backward_reads(input), spatial, op)
    kernel, strides, pads, dil, out, extra = _pool_setup(x, spatial, kernel_size, stride, padding, 1, ceil_mode, op)
    n, channels, *sizes = x.shape
    if any(extra):
        x = _pad_end(x, extra)
    patches = _F.reshape(_windows(x, kernel, dil, pads, strides, 0.0), n, channels, math.prod(kernel), math.prod(out))
    sums = _F.reshape(_F.sum(patches, 2), n, channels, *out)
    if divisor_override is not None:
        if divisor_override == 0:
            raise op_error(op, [_node(input).type], {"divisor_override": 0}, "divisor must be not zero")
        result = _F.div(sums, float(divisor_override))
    else:
        axes = [_avg_divisor(*args, count_include_pad) for args in zip(sizes, out, kernel, strides, pads)]
        divisor = functools.reduce(np.multiply.outer, axes)
        if np.all(divisor == divisor.flat[0]):
            result = _F.div(sums, float(divisor.flat[0]))
        else:
            result = _F.div(sums, _constant(divisor.astype(x.dtype.numpy)))
    return _F.squeeze(result, 0) if unbatched else result


def avg_pool2d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """The mean of each window, with torch's divisor (padding counted or not, ceil_mode windows clipped)."""
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


@autocast_op
def avg_pool3d(
    input: Tensor,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """``avg_pool2d`` over ``[N, C, D, H, W]``."""
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def _adaptive_matrix(size: int, out: int) -> np.ndarray:
    """Row i averages input positions [floor(i*size/out), ceil((i+1)*size/out)), as torch's adaptive pooling."""
    matrix = np.zeros((out, size))
    for i in range(out):
        start = (i * size) // out
        end = -((-(i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def _adaptive_sizes(op: str, x: Tensor, spatial: int, output_size: Any) -> tuple[int, ...]:
    """torch's output sizes: an int or one entry per spatial dimension, None keeping the input's size."""
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * spatial
    if len(sizes) != spatial:
        raise op_error(op, [_node(x).type], {"output_size": output_size}, f"output_size must be an int or {spatial} ints")
    out = tuple(x.shape[-spatial + i] if size is None else int(size) for i, size in enumerate(sizes))
    if min(out) < 1:
        raise op_error(op, [_node(x).type], {"output_size": output_size}, f"the output size {out} must be positive")
    return out


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Adaptive average pooling as two small matmuls with averaging matrices."""
    x, unbatched = _batched(_F.backward_reads(input), 2, "adaptive_avg_pool2d")
    _static(x, (2, 3), "adaptive_avg_pool2d")
    height, width = x.shape[2:]
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    out_h = height if sizes[0] is None else int(sizes[0])
    out_w = width if sizes[1] is None else int(sizes[1])
    rows = _constant(_adaptive_matrix(height, out_h).astype(x.dtype.numpy))
    cols = _constant(_adaptive_matrix(width, out_w).T.astype(x.dtype.numpy))
    result = _F.matmul(_F.matmul(rows, x), cols)
    return _F.squeeze(result, 0) if unbatched else result


@autocast_op
def adaptive_avg_pool3d(input: Tensor, output_size: Any) -> Tensor:
    """Separable, as the 2-d one: the 2-d matmuls over every depth slice, then one over the depth."""
    x, unbatched = _batched(_F.backward_reads(input), 3, "adaptive_avg_pool3d")
    _static(x, (2, 3, 4), "adaptive_avg_pool3d")
    n, channels, depth, height, width = x.shape
    out = _adaptive_sizes("adaptive_avg_pool3d", x, 3, output_size)
    rows = _constant(_adaptive_matrix(height, out[1]).astype(x.dtype.numpy))
    cols = _constant(_adaptive_matrix(width, out[2]).T.astype(x.dtype.numpy))
    planes = _F.reshape(_F.matmul(_F.matmul(rows, x), cols), n, channels, depth, out[1] * out[2])
    depths = _constant(_adaptive_matrix(depth, out[0]).astype(x.dtype.numpy))
    result = _F.reshape(_F.matmul(depths, planes), n, channels, *out)
    return _F.squeeze(result, 0) if unbatched else result


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """torch.nn.functional.pad: ``constant``, ``reflect``, ``replicate`` and ``circular`` modes."""
    if mode == "constant":
        return _F.pad(input, pad, value=0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise op_error("pad", [_node(input).type], {"mode": mode}, "mode must be 'constant', 'reflect', 'replicate' or 'circular'")
    if len(pad) % 2:
        raise op_error("pad", [_node(input).type], {"pad": tuple(pad)}, "padding length must be divisible by 2")
    # torch's reflection_pad/replication_pad_backward read the input; its circular padding is a composite.
    x = input if mode == "circular" else _F.backward_reads(input)
    for i in range(len(pad) // 2):
        dim = x.ndim - 1 - i
        low, high = int(pad[2 * i]), int(pad[2 * i + 1])
        size = x.shape[dim]
        if isinstance(size, int):
            index = _constant(_pad_positions(mode, low, high, size, _node(input).type).astype(np.int64))
        else:
            index = _symbolic_pad_positions(mode, low, high, size, _node(input).type, dim)
        x = _F.index_select(x, dim, index)
    return x


def _pad_positions(mode: str, low: int, high: int, size: int, type_: Any) -> np.ndarray:
    """The input's positions that make a padded dimension of ``size`` (a static size), as torch's kernels read them."""
    positions = np.arange(-low, size + high)
    if mode == "replicate":
        return np.clip(positions, 0, size - 1)
    if mode == "circular":
        if low > size or high > size:
            message = f"circular padding ({low}, {high}) may be at most the size {size} of the dimension"
            raise op_error("pad", [type_], {"mode": mode}, message)
        # torch crops a negative side first and wraps the other side around what is left.
        kept = np.arange(max(-low, 0), size - max(-high, 0))
        if max(low, 0) + max(high, 0) == 0:
            return kept
        if len(kept) == 0:
            raise op_error("pad", [type_], {"mode": mode}, f"circular padding ({low}, {high}) wraps around nothing: its negative side crops the size {size}")
        return kept[np.arange(-max(low, 0), len(kept) + max(high, 0)) % len(kept)]
    if low >= size or high >= size:
        raise op_error("pad", [type_], {"mode": mode}, f"reflect padding ({low}, {high}) must be less than the dimension size {size}")
    period = 2 * (size - 1)
    folded = np.abs(positions) % period if period else np.zeros_like(positions)
    return np.where(folded >= size, period - folded, folded)


def _symbolic_pad_positions(mode: str, low: int, high: int, size: Any, type_: Any, dim: int) -> Tensor:
    """_pad_positions of a symbolic size (the batch), computed by the program from its ``size`` value, so one
    program pads every batch size. Each of torch's checks must hold, or fail, for every batch size; where the
    answer depends on it (reflect padding of 2 of B rows: B = 2 is too few) the size specializes, and the
    function is traced again with static sizes."""
    from graphc.frontend.symbolic_sizes import SymbolicSize, dims

    n = SymbolicSize(size, f"pad's dimension {dim} ({mode} padding)")
    if not n + low + high >= 0:
        raise op_error("pad", [type_], {"mode": mode, "pad": (low, high)}, f"the negative padding ({low}, {high}) crops more than the size {size}")
    wraps = mode == "circular" and max(low, 0) + max(high, 0) > 0
    if mode == "circular" and (low > n or high > n):
        message = f"circular padding ({low}, {high}) may be at most the size {size} of the dimension"
        raise op_error("pad", [type_], {"mode": mode}, message)
    if wraps and n - max(-low, 0) - max(-high, 0) < 1:  # torch reads memory it never wrote there
        raise op_error("pad", [type_], {"mode": mode}, f"circular padding ({low}, {high}) wraps around nothing: its negative side crops the size {size}")
    if mode == "reflect" and (low >= n or high >= n):
        raise op_error("pad", [type_], {"mode": mode}, f"reflect padding ({low}, {high}) must be less than the dimension size {size}")
    length = dims(n + low + high)
    positions = b.sub(emit("iota", shape=(length,), axis=0, dtype=dtypes.int64), low)
    last = b.sub(emit("size", value=size, dtype=dtypes.int64), 1)
    if mode == "replicate":
        index = b.binary("minimum", b.binary("maximum", positions, 0), last)
    elif not wraps and mode == "circular":
        index = positions  # crops only
    elif mode == "circular":
        kept = b.sub(b.sub(b.add(last, 1), max(-low, 0)), max(-high, 0))  # crops first: this many positions are wrapped around
        shifted = b.sub(b.add(positions, low), max(low, 0))
        index = b.add(b.sub(shifted, b.mul(b.divide(shifted, kept, rounding_mode="floor"), kept)), max(-low, 0))
    else:
        period = b.binary("maximum", b.mul(last, 2), 1)  # 0 only at size 1, where the padding is 0 and every position 0
        folded = b.sub(b.unary("abs", positions), b.mul(b.divide(b.unary("abs", positions), period, rounding_mode="floor"), period))
        index = b.where(b.compare("gt", folded, last), b.sub(period, folded), folded)
    return _wrap(index)


# ------------------------------------------------------------------ activations


def _written(input: Tensor, result: Tensor, inplace: bool, op: str) -> Tensor:
    """torch's ``inplace=True``: the result written into the input, which is returned.

    The write is ``Tensor._inplace``, the path of ``add_``: autograd follows the new value, a leaf
    that requires grad is refused while grad mode is on, and a view writes through to its base.
    A result that is the input itself (dropout in eval mode) writes nothing, as torch's ``dropout_``
    returns its input untouched, leaf or not.
    """
    if not inplace or result is input:
        return result
    return input._inplace(result, op=op)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    x = _F.backward_reads(input)
    return _written(input, _F.where(_F.gt(x, threshold), x, value), inplace, "threshold_")


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return hardtanh(input, 0.0, 6.0, inplace)


def _reads(input: Tensor, inplace: bool) -> Tensor:
    """The input marked as that of torch's backward op: the in-place forms (leaky_relu_, rrelu_) read
    their result, so their higher derivatives are zeros that require grad, as relu's (docs/decisions.md)."""
    return _F.backward_reads(input, "backward_reads_result" if inplace else "backward_reads")


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return _leaky(input, negative_slope, inplace, "leaky_relu_")


def _leaky(input: Tensor, slope: Tensor | float, inplace: bool, op: str) -> Tensor:
    x = _reads(input, inplace)
    return _written(input, _F.where(_F.gt(x, 0), x, _F.mul(x, slope)), inplace, op)


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False, inplace: bool = False) -> Tensor:
    """Randomized leaky ReLU: in training each element not above 0 gets its own slope drawn uniformly
    from ``[lower, upper)`` (graphc's generator, so not torch's draws), which is also its gradient;
    in eval the slope is ``(lower + upper) / 2``, as torch's."""
    if lower > upper:
        raise op_error("rrelu", [_node(input).type], {"lower": lower, "upper": upper}, "Lower bound should be less than or equal to the upper bound")
    if not training:
        return _leaky(input, (lower + upper) / 2, inplace, "rrelu_")
    return _leaky(input, _F.add(_F.mul(_F.rand_uniform(tuple(input.shape), input.dtype), upper - lower), lower), inplace, "rrelu_")


@autocast_op
def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``max(0, x) + weight * min(0, x)``, one weight per channel (dimension 1) or one for all. Both operands
    are marked as those of torch's prelu_kernel_backward, which states zeros for what no other path reaches."""
    x, w = _F.backward_reads(input), _F.backward_reads(weight)
    if weight.numel() == 1:  # one weight for all: 0-d, so the result has the input's shape (a 0-d input stays 0-d)
        w = _F.reshape(w, ())
    elif input.ndim >= 2:
        w = _F.reshape(w, (-1,) + (1,) * (input.ndim - 2))
    value = _F.where(_F.gt(x, 0), x, _F.mul(w, x))
    if not (is_grad_enabled() and (input.requires_grad or weight.requires_grad)):
        return value
    spread = b.broadcast_to(_F.node_of(w), _F.node_of(value).shape)
    return _F.wrap(emit("custom_vjp", _F.node_of(value), _F.node_of(x), spread, rule="prelu"))


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    value = _F.where(_F.gt(input, 0), input, _F.mul(_expm1_of_negative(input), alpha))
    return _written(input, _elu_differentiated(input, value, alpha, 1.0, 1.0, inplace), inplace, "elu_")


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    value = _F.mul(_F.where(_F.gt(input, 0), input, _F.mul(_expm1_of_negative(input), alpha)), scale)
    return _written(input, _elu_differentiated(input, value, alpha * scale, scale, 1.0, inplace), inplace, "selu_")


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """torch's derivative takes 1/alpha as ``1.0 / alpha.toFloat()`` (derivatives.yaml): alpha rounded to float32, also in float64."""
    value = _F.where(_F.gt(input, 0), input, _F.mul(_expm1_of_negative(_F.div(input, alpha)), alpha))
    input_scale = 1.0 / float(np.float32(alpha))
    return _written(input, _elu_differentiated(input, value, alpha, 1.0, input_scale, inplace), inplace, "celu_")


def _elu_differentiated(input: Tensor, value: Tensor, negcoef: float, poscoef: float, input_scale: float, inplace: bool) -> Tensor:
    """``value`` differentiated as torch's ``elu_backward``: ``poscoef`` above 0, and at and below 0
    ``input_scale * negcoef * exp(x * input_scale)``, or from the result, ``input_scale * (result + negcoef)``,
    for the in-place forms, as torch's. The slope's own derivative is masked with x < 0, as torch's
    ``elu_double_backward``: the chain rule through elu's nodes gave the second derivative at exactly 0
    the negative side's, ``negcoef * input_scale**2``, where torch's is 0. NaN takes ``poscoef``, as torch's."""
    x, v = _F.node_of(input), _F.node_of(value)
    if not (is_grad_enabled() and x.requires_grad):
        return value
    if inplace:
        constants = [b.full_like(x, c) for c in (negcoef, poscoef, input_scale)]
        return _F.wrap(emit("custom_vjp", v, x, *constants, rule="elu_result"))
    below = b.where(b.compare("lt", x, 0), x, 0.0)
    negative = b.mul(b.unary("exp", b.mul(below, input_scale)), input_scale * negcoef)
    slope = b.where(b.compare("le", x, 0), negative, poscoef)
    return _F.wrap(emit("custom_vjp", v, x, slope, rule="slope"))


def _expm1_of_negative(x: Tensor) -> Tensor:
    """expm1 of min(x, 0), for the branch of elu that ``where`` takes below 0: above, expm1 overflows,
    and its gradient, multiplied by the zero that ``where`` sends there, was NaN (elu(800.0)'s)."""
    return expm1(_F.clamp(x, max=0.0))


@autocast_op
def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return _F.softplus(input, beta, threshold)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    return _written(input, _F.silu(input), inplace, "silu_")


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    return _written(input, _F.in_float32(lambda x: _F.mul(x, _F.tanh(_F.softplus(x))))(input), inplace, "mish_")


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """Gradient passes strictly inside (min_val, max_val), as torch's hardtanh. Each bound meets the input
    in a ``where`` of its own, so it takes the input's dtype (a ``where`` of the two numbers was float32:
    a float64 hardtanh gave 0.800000011920929 for 0.8) and NaN stays NaN, as torch's."""
    x = _F.backward_reads(input)
    inside = _F.logical_and(_F.gt(x, min_val), _F.lt(x, max_val))
    clamped = _F.where(_F.ge(x, max_val), max_val, _F.where(_F.le(x, min_val), min_val, x))
    return _written(input, _F.where(inside, x, clamped), inplace, "hardtanh_")


# torch's hardsigmoid_backward multiplies by one sixth held as a float (``1.0f / 6.0f``), also in float64.
_ONE_SIXTH_FLOAT32 = float(np.float32(1.0) / np.float32(6.0))


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """Differentiated as torch's hardsigmoid_backward: ``g * float32(1/6)`` inside (-3, 3), 0 outside (a float64
    gradient of ``x / 6`` differed from torch's by 3e-8 relative); that gradient requires grad but has no derivative."""
    x = _F.backward_reads(input, "hardsigmoid_backward_reads")
    inside = _F.logical_and(_F.gt(x, -3.0), _F.lt(x, 3.0))
    result = _F.where(inside, _F.add(_F.div(x, 6.0), 0.5), _F.where(_F.le(x, -3.0), 0.0, 1.0))
    node = _F.node_of(x)
    if is_grad_enabled() and node.requires_grad:
        slope = b.where(_F.node_of(inside), b.full_like(node, _ONE_SIXTH_FLOAT32), 0.0)
        result = _F.wrap(emit("custom_vjp", _F.node_of(result), node, slope, rule="slope"))
    return _written(input, result, inplace, "hardsigmoid_")


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    return _written(input, _hardswish(input), inplace, "hardswish_")


@_F.in_float32
def _hardswish(input: Tensor) -> Tensor:
    inner = _F.mul(input, _F.div(_F.add(input, 3.0), 6.0))
    return _F.where(_F.le(input, -3.0), 0.0, _F.where(_F.ge(input, 3.0), input, inner))


@_F.in_float32
def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), stable for large |x|."""
    negative = _F.lt(input, 0)
    return _F.sub(_F.where(negative, input, 0.0), _F.log1p(_F.exp(_F.where(negative, input, _F.neg(input)))))


def softsign(input: Tensor) -> Tensor:
    return _F.div(input, _F.add(_F.abs(input), 1.0))


def tanhshrink(input: Tensor) -> Tensor:
    return _F.sub(input, _F.tanh(input))


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    return _written(input, _F.relu(input), inplace, "relu_")


@autocast_op
def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    return _F.softmax(input, _softmax_dim("softmax", input.ndim) if dim is None else dim, dtype)


@autocast_op
def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    return _F.log_softmax(input, _softmax_dim("log_softmax", input.ndim) if dim is None else dim, dtype)


@autocast_op
def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    return _F.softmax(_F.neg(input), _softmax_dim("softmin", input.ndim) if dim is None else dim, dtype)


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (identity when not training)."""
    return _written(input, _F.dropout(input, p, training), inplace, "dropout_")


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot vectors; ``num_classes=-1`` reads the largest index (not inside graphc.compile)."""
    if num_classes == -1:
        num_classes = int(_F.amax(tensor).item()) + 1
    return _F.one_hot(tensor, num_classes)


def _softmax_dim(name: str, ndim: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X as an argument.", stacklevel=user_stacklevel())
    return 0 if ndim in (0, 1, 3) else 1


def glu(input: Tensor, dim: int = -1) -> Tensor:
    first, second = _F.chunk(input, 2, dim)
    return _F.mul(first, _F.sigmoid(second))


@autocast_op
def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``x / max(||x||_p, eps)`` along ``dim``; a zero vector's gradient is finite (the norm's is 0 there, as torch's)."""
    return _F.div(input, _F.clamp(vector_norm(input, p, dim, True), min=eps))


# ------------------------------------------------------------------ normalization


def _stat_shape(input: Tensor) -> tuple:
    """[1, C, 1, ...]: per-channel values broadcast over a [N, C, *] input."""
    return (1, input.shape[1]) + (1,) * (input.ndim - 2)


def _standardize(x: Tensor, axes: int | tuple[int, ...], eps: float) -> Tensor:
    """(x - mean) / sqrt(biased variance + eps) over ``axes``: the core of every normalization layer."""
    centered = _F.sub(x, _F.mean(x, axes, keepdim=True))
    var = _F.mean(_F.mul(centered, centered), axes, keepdim=True)
    return _F.mul(centered, _F.rsqrt(_F.add(var, eps)))


def _scale_shift(out: Tensor, weight: Tensor | None, bias: Tensor | None, shape: tuple | None = None) -> Tensor:
    """``out * weight + bias`` with either left out; ``shape`` reshapes them to broadcast (per channel)."""
    if weight is not None:
        out = _F.mul(out, weight if shape is None else _F.reshape(weight, shape))
    if bias is not None:
        out = _F.add(out, bias if shape is None else _F.reshape(bias, shape))
    return out


@autocast_op
@_F.in_float32
def layer_norm(input: Tensor, normalized_shape: Sequence[int], weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if tuple(input.shape[input.ndim - k :]) != shape or input.ndim < k:
        raise op_error(
            "layer_norm",
            [_node(input).type],
            {"normalized_shape": shape},
            f"expected the last {k} dimensions of the input to be {list(shape)}, got {list(input.shape)}",
        )
    axes = tuple(range(input.ndim - k, input.ndim))
    return _scale_shift(_standardize(input, axes, eps), weight, bias)


def rms_norm(input: Tensor, normalized_shape: Sequence[int], weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    axes = tuple(range(input.ndim - len(shape), input.ndim))
    if eps is None:  # the input's own epsilon, also for a half-precision input computed in float32
        eps = float(finfo(input.dtype).eps)
    return _rms_normalized(input, axes, eps, weight)


@_F.in_float32
def _rms_normalized(input: Tensor, axes: tuple[int, ...], eps: float, weight: Tensor | None) -> Tensor:
    out = _F.mul(input, _F.rsqrt(_F.add(_F.mean(_F.mul(input, input), axes, keepdim=True), eps)))
    return out if weight is None else _F.mul(out, weight)


@autocast_op
@_F.in_float32
def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    if input.ndim < 2:
        raise op_error("group_norm", [_node(input).type], {}, "expected an input with at least 2 dimensions")
    channels = input.shape[1]
    if channels % num_groups:
        raise op_error("group_norm", [_node(input).type], {"num_groups": num_groups}, f"{channels} channels are not divisible into {num_groups} groups")
    n = input.shape[0]
    grouped = _F.reshape(input, n, num_groups, -1)
    out = _F.reshape(_standardize(grouped, 2, eps), input.shape)
    return _scale_shift(out, weight, bias, _stat_shape(input))


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float | Tensor = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization over every dimension but 1.

    In training, the batch's mean and biased variance normalize, and the running
    estimates (when given) move towards the batch mean and *unbiased* variance by
    ``momentum``, as in torch. The update is recorded as graph ops on the buffers
    (so it also happens inside ``graphc.compile``); outside a trace it is realized
    with the next realization, together with the training step.
    """
    if input.ndim < 2:
        raise op_error("batch_norm", [_node(input).type], {}, "expected an input with at least 2 dimensions [N, C, *]")
    shape = _stat_shape(input)
    axes = (0,) + tuple(range(2, input.ndim))
    if training:
        count = 1
        for a in axes:
            count = count * input.shape[a]
        if isinstance(count, int) and count == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {list(input.shape)}")
        mean = _F.mean(input, axes, keepdim=True)
        centered = _F.sub(input, mean)
        squares = _F.sum(_F.mul(centered, centered), axes, keepdim=True)
        n = float(count) if isinstance(count, int) else _wrap(_F.wrap_size(count, input.dtype))
        var = _F.div(squares, n)
        if (running_mean is not None or running_var is not None) and count != 0:  # torch's leave them for an empty batch
            with grad_mode(False):
                if running_mean is not None:
                    _update_running(running_mean, _F.reshape(_F.detach(mean), -1), momentum)
                if running_var is not None:
                    unbiased = _F.div(_F.reshape(_F.detach(squares), -1), _F.sub(n, 1.0) if isinstance(n, Tensor) else n - 1.0)
                    _update_running(running_var, unbiased, momentum)
    else:
        if running_mean is None or running_var is None:
            raise op_error("batch_norm", [_node(input).type], {"training": False}, "running_mean and running_var must be given when training=False")
        mean = _F.reshape(running_mean, shape)
        var = _F.reshape(running_var, shape)
        centered = _F.sub(input, mean)
    return _scale_shift(_F.mul(centered, _F.rsqrt(_F.add(var, eps))), weight, bias, shape)


def _update_running(buffer: Tensor, value: Tensor, momentum: float | Tensor) -> None:
    """``buffer = (1 - momentum) * buffer + momentum * value`` as a graph op on the buffer tensor."""
    keep = _F.sub(1.0, momentum) if isinstance(momentum, Tensor) else 1.0 - momentum
    buffer.copy_(_F.add(_F.mul(value, momentum), _F.mul(buffer, keep)))
    defer_state(buffer)


def defer_state(tensor: Tensor) -> None:
    """Outside graphc.compile, compute a buffer's pending update with the next realization."""
    if tracing.active() is None:
        lazy.defer(tensor)


def instance_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalization of each (sample, channel) over its spatial axes.

    With ``use_input_stats``, the running estimates (when given) move towards the batch's
    average of the instances' means and *unbiased* variances, as torch's instance norm
    (a batch norm over ``[1, N*C, *]`` whose per-instance statistics are averaged back).
    Without it, the running estimates normalize, as batch norm's eval mode.
    """
    if input.ndim < 3:
        raise op_error("instance_norm", [_node(input).type], {}, "expected an input with at least 3 dimensions [N, C, *]")
    shape = _stat_shape(input)
    axes = tuple(range(2, input.ndim))
    if not use_input_stats:
        if running_mean is None or running_var is None:
            message = "running_mean and running_var must be given when use_input_stats=False"
            raise op_error("instance_norm", [_node(input).type], {"use_input_stats": False}, message)
        centered = _F.sub(input, _F.reshape(running_mean, shape))
        normalized = _F.mul(centered, _F.rsqrt(_F.add(_F.reshape(running_var, shape), eps)))
        return _scale_shift(normalized, weight, bias, shape)
    _static(input, axes, "instance_norm")
    count = math.prod(input.shape[a] for a in axes)
    if count == 1:
        raise ValueError(f"Expected more than 1 spatial element when training, got input size {list(input.shape)}")
    if running_mean is not None or running_var is not None:
        with grad_mode(False):
            x = _F.detach(input)
            mean = _F.mean(x, axes, keepdim=True)
            if running_mean is not None:
                _update_running(running_mean, _F.mean(_F.reshape(mean, input.shape[0], -1), 0), momentum)
            if running_var is not None:
                centered = _F.sub(x, mean)
                unbiased = _F.div(_F.sum(_F.mul(centered, centered), axes), float(count - 1))
                _update_running(running_var, _F.mean(unbiased, 0), momentum)
    return _scale_shift(_standardize(input, axes, eps), weight, bias, shape)


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """``x / (k + alpha/size * sum of x^2 over a window of channels)^beta``, torch's window
    ``[c - size//2, c + (size-1)//2]`` clipped at the edges (its zero padding) and divided by ``size``.

    The window sum is a matmul with a constant band matrix over the channel axis.
    """
    if input.ndim < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {input.ndim} dimensions)")
    _static(input, (1,), "local_response_norm")
    channels = input.shape[1]
    offset = np.arange(channels)[None, :] - np.arange(channels)[:, None]
    band = ((offset >= -(size // 2)) & (offset <= (size - 1) // 2)).astype(input.dtype.numpy)
    squares = _F.reshape(_F.mul(input, input), input.shape[0], channels, -1)
    window = _F.reshape(_F.matmul(_constant(band), squares), input.shape)
    return _F.div(input, _F.pow(_F.add(_F.mul(window, alpha / size), k), beta))


# ------------------------------------------------------------------ embeddings


def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of ``weight`` at the indices ``input``; no gradient reaches row ``padding_idx``.

    With ``max_norm``, the referenced rows whose ``norm_type``-norm exceeds it are
    first rescaled in ``weight`` (in place, without gradient), as torch does.
    """
    if scale_grad_by_freq or sparse:
        raise op_error("embedding", [_node(input).type], {}, "scale_grad_by_freq and sparse gradients are not supported")
    if input.dtype not in (dtypes.int32, dtypes.int64):
        raise op_error("embedding", [_node(input).type, _node(weight).type], {}, f"indices must be int32 or int64, got {input.dtype.name}")
    if weight.ndim != 2:
        raise op_error("embedding", [_node(input).type, _node(weight).type], {}, "weight must be 2-d [num_embeddings, embedding_dim]")
    rows = weight.shape[0]
    flat = _F.reshape(input, -1)
    if max_norm is not None:
        _renorm_rows(weight, flat, max_norm, norm_type)
    table = weight
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            types = [_node(input).type, _node(weight).type]
            raise op_error("embedding", types, {"padding_idx": padding_idx}, f"padding_idx must be within num_embeddings ({rows})")
        mask = np.zeros((rows, 1), dtype=bool)
        mask[padding_idx] = True
        table = _F.where(_constant(mask), _F.detach(weight), weight)
    out = _F.index_select(table, 0, flat)
    return _F.reshape(out, (*input.shape, weight.shape[1]))



def _renorm_rows(weight: Tensor, flat: Tensor, max_norm: float, norm_type: float) -> None:
    """torch's ``embedding_renorm_``: rows used by ``flat`` whose norm exceeds ``max_norm`` are rescaled in place, without gradient."""
    rows = weight.shape[0]
    with grad_mode(False):
        used = _F.gt(_F.scatter_add(_F.wrap(b.full((rows,), 0, flat.dtype)), 0, flat, _F.wrap(b.full(flat.shape, 1, flat.dtype))), 0)
        norms = _F.pow(_F.sum(_F.pow(_F.abs(weight), norm_type), 1), 1.0 / norm_type)
        scale = _F.where(_F.logical_and(used, _F.gt(norms, max_norm)), _F.div(max_norm, _F.add(norms, 1e-7)), 1.0)
        weight._inplace(_F.mul(weight, _F.unsqueeze(scale, 1)))


def _bag_input(input: Tensor, offsets: Tensor | None, per_sample_weights: Tensor | None, include_last_offset: bool) -> tuple:
    """torch's forms of ``embedding_bag``'s bags as (flat indices, per-sample weights, starts, ends):
    a 2-d input is one bag per row; a 1-d input's bags start at ``offsets`` (the last one ends at the
    end of the input, or at the extra last offset with ``include_last_offset``)."""
    if per_sample_weights is not None and tuple(per_sample_weights.shape) != tuple(input.shape):
        raise ValueError(
            f"embedding_bag: If per_sample_weights ({list(per_sample_weights.shape)}) is not None, "
            f"then it must have the same shape as the input ({list(input.shape)})"
        )
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError(
                "if input is 2D, then offsets has to be None, as input is treated is a mini-batch of fixed length sequences. "
                f"However, found offsets of type {type(offsets)}"
            )
        _static(input, (0, 1), "embedding_bag")
        bags, length = input.shape
        starts = _constant(np.arange(0, bags * length, length, dtype=np.int64))
        ends = _constant(np.arange(length, (bags + 1) * length, length, dtype=np.int64))
        flat_weights = None if per_sample_weights is None else _F.reshape(per_sample_weights, -1)
        return _F.reshape(input, -1), flat_weights, starts, ends
    if input.ndim != 1:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    if offsets is None:
        raise ValueError("offsets has to be a 1D Tensor but got None")
    if offsets.ndim != 1:
        raise ValueError("offsets has to be a 1D Tensor")
    _static(offsets, (0,), "embedding_bag")
    _static(input, (0,), "embedding_bag")
    count = offsets.shape[0]
    offsets = _F.cast(offsets, dtypes.int64)
    if include_last_offset:
        if count < 1:
            raise ValueError("embedding_bag: include_last_offset needs at least one offset")
        starts, ends = _F.narrow(offsets, 0, 0, count - 1), _F.narrow(offsets, 0, 1, count - 1)
    else:
        starts = offsets
        ends = _F.cat([_F.narrow(offsets, 0, 1, count - 1), _constant(np.array([input.shape[0]], dtype=np.int64))], 0)
    return input, per_sample_weights, starts, ends


def embedding_bag(
    input: Tensor,
    weight: Tensor,
    offsets: Tensor | None = None,
    max_norm: float | None = None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights: Tensor | None = None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> Tensor:
    """Sums, means or maxima of bags of ``weight``'s rows, without materializing ``F.embedding``'s output per bag.

    The bags' extents are data (``offsets``), so membership is computed in the graph: index ``j``
    belongs to bag ``b`` when ``starts[b] <= j < ends[b]``. Sum and mean are a matmul of that
    ``[bags, indices]`` mask (times ``per_sample_weights``) with the looked-up rows; max takes the
    first maximum per bag and column (``argmax`` + ``gather``), which is where its gradient goes,
    as torch's. Entries equal to ``padding_idx`` are left out of their bag (and of a mean's count);
    an empty bag gives zeros. torch's check that ``offsets[0] == 0`` reads the data and is not made:
    indices before the first offset belong to no bag.
    """
    types = [_node(input).type, _node(weight).type]
    if weight.ndim != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}")
    if input.dtype not in (dtypes.int32, dtypes.int64):
        raise op_error("embedding_bag", types, {}, f"indices must be int32 or int64, got {input.dtype.name}")
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if scale_grad_by_freq or sparse:
        raise op_error("embedding_bag", types, {}, "scale_grad_by_freq and sparse gradients are not supported")
    flat, sample_weights, starts, ends = _bag_input(input, offsets, per_sample_weights, include_last_offset)
    if max_norm is not None:
        _renorm_rows(weight, flat, max_norm, norm_type)
    if sample_weights is not None and mode != "sum":
        raise NotImplementedError(
            "embedding_bag: per_sample_weights was not None. per_sample_weights is only supported for mode='sum' "
            f"(got mode='{mode}'). Please open a feature request on GitHub."
        )
    rows = weight.shape[0]
    positions = _constant(np.arange(flat.shape[0], dtype=np.int64))
    member = _F.logical_and(_F.ge(positions, _F.unsqueeze(starts, 1)), _F.lt(positions, _F.unsqueeze(ends, 1)))
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise op_error("embedding_bag", types, {"padding_idx": padding_idx}, f"padding_idx must be within num_embeddings ({rows})")
        member = _F.logical_and(member, _F.ne(flat, padding_idx % rows))
    looked_up = _F.index_select(weight, 0, flat)
    if mode == "max":
        candidates = _F.where(_F.unsqueeze(member, 2), _F.unsqueeze(looked_up, 0), -math.inf)
        first = _F.argmax(candidates, 1, keepdim=True)
        best = _F.squeeze(_F.gather(candidates, 1, first), 1)
        return _F.where(_F.any(member, 1, keepdim=True), best, 0.0)
    share = _F.cast(member, weight.dtype)
    if sample_weights is not None:
        share = _F.mul(share, sample_weights)
    total = _F.matmul(share, looked_up)
    if mode == "sum":
        return total
    return _F.div(total, _F.clamp(_F.sum(_F.cast(member, weight.dtype), 1, keepdim=True), min=1.0))


# ------------------------------------------------------------------ shrinkage, channel dropout, shuffles, resampling


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x`` where ``|x| > lambd``, else 0; the gradient passes only where the value does."""
    x = _F.backward_reads(input)
    return _F.where(_F.gt(_F.abs(x), lambd), x, 0.0)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x - lambd * sign(x)`` outside ``[-lambd, lambd]``, else 0 (torch refuses a negative ``lambd``)."""
    if lambd < 0:
        raise op_error("softshrink", [_node(input).type], {"lambd": lambd}, f"lambda must be non-negative, but found {lambd}")
    x = _F.backward_reads(input)
    shrunk = _F.where(_F.gt(x, 0), _F.sub(x, lambd), _F.add(x, lambd))
    return _F.where(_F.gt(_F.abs(x), lambd), shrunk, 0.0)


def _channel_dropout(input: Tensor, p: float, training: bool, spatial: int) -> Tensor:
    """Zero whole channels: one keep-or-drop draw per (batch, channel), broadcast over the last ``spatial`` axes.

    The mask is drawn as ``dropout`` draws its own (a uniform number at least ``p`` keeps), but
    with the input's shape cut to 1 on the spatial axes; kept channels are scaled by ``1 / (1 - p)``.
    """
    if not 0.0 <= p <= 1.0:
        raise GraphcError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    shape = (*input.shape[: input.ndim - spatial], *(1,) * spatial)
    keep = _F.ge(_F.rand_uniform(shape, input.dtype), p)
    return _F.where(keep, _F.mul(input, 1.0 / (1.0 - p) if p < 1.0 else 0.0), 0.0)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Channel dropout for ``(N, C, L)`` or unbatched ``(C, L)`` inputs: each channel is zeroed whole."""
    if input.ndim not in (2, 3):
        raise op_error("dropout1d", [_node(input).type], {}, f"Expected 2D or 3D input, but received a {input.ndim}D input")
    return _written(input, _channel_dropout(input, p, training, 1), inplace, "dropout1d")


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Channel dropout for ``(N, C, H, W)``; a 3-d input is taken as ``(N, C, L)`` with torch's warning."""
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated. Expected 3D or 4D input.", stacklevel=2)
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior is desired - "
            "input is interpreted as shape (N, C, L), where C is the channel dim.",
            stacklevel=2,
        )
    return _written(input, _channel_dropout(input, p, training, max(input.ndim - 2, 0)), inplace, "dropout2d")


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Channel dropout for ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)``; other ranks warn, as torch,
    and are taken as unbatched (one draw per index of the first axis)."""
    if input.ndim not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {input.ndim}-D input to dropout3d, which is deprecated and will result in an error in a future release. "
            "To retain the behavior and silence this warning, please use dropout instead. Note that dropout3d exists to provide "
            "channel-wise dropout on inputs with 3 spatial dimensions, a channel dimension, and an optional batch dimension "
            "(i.e. 4D or 5D inputs).",
            stacklevel=2,
        )
    return _written(input, _channel_dropout(input, p, training, 3 if input.ndim == 5 else max(input.ndim - 1, 0)), inplace, "dropout3d")


_SELU_ALPHA_SCALE = 1.7580993408473766


def _alpha_dropout(input: Tensor, p: float, training: bool, noise_shape: tuple) -> Tensor:
    """SELU's dropout: dropped elements become ``-alpha' * a + b`` and kept ones ``a * x + b``, keeping mean and variance.

    ``a = ((1 - p) (1 + p alpha'^2))^-1/2`` and ``b = a alpha' p``, torch's formulas; the keep
    draw is dropout's (a uniform number at least ``p``), one per element of ``noise_shape``.
    """
    if not 0.0 <= p <= 1.0:
        raise GraphcError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return _F.mul(input, 0.0)
    a = 1.0 / math.sqrt((_SELU_ALPHA_SCALE * _SELU_ALPHA_SCALE * p + 1) * (1 - p))
    shift = _SELU_ALPHA_SCALE * a * p
    keep = _F.ge(_F.rand_uniform(noise_shape, input.dtype), p)
    return _F.where(keep, _F.add(_F.mul(input, a), shift), shift - _SELU_ALPHA_SCALE * a)


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    return _written(input, _alpha_dropout(input, p, training, tuple(input.shape)), inplace, "alpha_dropout")


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Alpha dropout of whole channels: one draw per (batch, channel), as torch's feature noise ``[N, C, 1, ...]``."""
    if training and 0.0 < p < 1.0 and input.ndim < 2:
        raise op_error("feature_alpha_dropout", [_node(input).type], {}, "Feature dropout requires at least 2 dimensions in the input")
    return _written(input, _alpha_dropout(input, p, training, (*input.shape[:2], *(1,) * (input.ndim - 2))), inplace, "feature_alpha_dropout")


def _shuffle_dims(input: Tensor, factor: int, op: str) -> tuple[tuple, int, int, int]:
    if input.ndim < 3:
        raise op_error(op, [_node(input).type], {}, f"{op} expects input to have at least 3 dimensions, but got input with {input.ndim} dimension(s)")
    if factor <= 0:
        raise op_error(op, [_node(input).type], {}, f"{op} expects a positive factor, but got {factor}")
    _static(input, (-3, -2, -1), op)
    channels, height, width = input.shape[-3:]
    return tuple(input.shape[:-3]), channels, height, width


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """``(*, C r^2, H, W) -> (*, C, H r, W r)``: a reshape, a permutation and a reshape."""
    r = int(upscale_factor)
    lead, channels, height, width = _shuffle_dims(input, r, "pixel_shuffle")
    if channels % (r * r):
        message = (
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of upscale_factor, "
            f"but input.size(-3)={channels} is not divisible by {r * r}"
        )
        raise op_error("pixel_shuffle", [_node(input).type], {}, message)
    k = len(lead)
    x = _F.reshape(input, (*lead, channels // (r * r), r, r, height, width))
    x = _F.permute(x, *range(k), k, k + 3, k + 1, k + 4, k + 2)
    return _F.reshape(x, (*lead, channels // (r * r), height * r, width * r))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """``(*, C, H r, W r) -> (*, C r^2, H, W)``, pixel_shuffle's inverse."""
    r = int(downscale_factor)
    lead, channels, height, width = _shuffle_dims(input, r, "pixel_unshuffle")
    for name, dim, size in (("height", -2, height), ("width", -1, width)):
        if size % r:
            message = f"pixel_unshuffle expects {name} to be divisible by downscale_factor, but input.size({dim})={size} is not divisible by {r}"
            raise op_error("pixel_unshuffle", [_node(input).type], {}, message)
    k = len(lead)
    x = _F.reshape(input, (*lead, channels, height // r, r, width // r, r))
    x = _F.permute(x, *range(k), k, k + 2, k + 4, k + 1, k + 3)
    return _F.reshape(x, (*lead, channels * r * r, height // r, width // r))


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """``(N, C, *)``: channel ``g * (C / groups) + i`` moves to ``i * groups + g`` (reshape, transpose, reshape)."""
    if input.ndim < 3:
        message = f"channel_shuffle expects input to have at least 3 dimensions, but got input with {input.ndim} dimension(s)"
        raise op_error("channel_shuffle", [_node(input).type], {}, message)
    _static(input, (1,), "channel_shuffle")
    channels = input.shape[1]
    if groups <= 0 or channels % groups:
        message = f"Number of channels must be divisible by groups. Got {channels} channels and {groups} groups."
        raise op_error("channel_shuffle", [_node(input).type], {}, message)
    rest = tuple(input.shape[2:])
    x = _F.reshape(input, (input.shape[0], groups, channels // groups, *rest))
    return _F.reshape(_F.transpose(x, 1, 2), (input.shape[0], channels, *rest))


# torch's name of its kernel for channel_shuffle (the same values).
native_channel_shuffle = channel_shuffle


def _pool1d_input(input: Tensor, op: str) -> Tensor:
    """A 1-d pool is the 2-d one over a height of 1: kernel 1, stride 1 and no padding on that axis add nothing."""
    if input.ndim not in (2, 3):
        raise op_error(op, [_node(input).type], {}, f"Expected 2D or 3D (batch mode) tensor for input, but got {input.ndim}D")
    return _F.unsqueeze(input, -2)


def max_pool1d(
    input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False
) -> Any:
    """max_pool2d over ``(.., 1, L)``; the flat 2-d index ``0 * L + l`` is the 1-d index."""
    stride = None if stride is None or (isinstance(stride, (tuple, list)) and not stride) else (1, _single(stride, "stride"))
    out = max_pool2d(
        _pool1d_input(input, "max_pool1d"),
        (1, _single(kernel_size, "kernel_size")),
        stride,
        (0, _single(padding, "padding")),
        (1, _single(dilation, "dilation")),
        ceil_mode,
        return_indices,
    )
    if return_indices:
        return _F.squeeze(out[0], -2), _F.squeeze(out[1], -2)
    return _F.squeeze(out, -2)


def avg_pool1d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """avg_pool2d over ``(.., 1, L)``: the height-1 window divides by exactly the 1-d divisor."""
    stride = None if stride is None or (isinstance(stride, (tuple, list)) and not stride) else (1, _single(stride, "stride"))
    x = _pool1d_input(input, "avg_pool1d")
    out = avg_pool2d(x, (1, _single(kernel_size, "kernel_size")), stride, (0, _single(padding, "padding")), ceil_mode, count_include_pad)
    return _F.squeeze(out, -2)


def adaptive_avg_pool1d(input: Tensor, output_size: Any) -> Tensor:
    """adaptive_avg_pool2d over ``(.., 1, L)`` with an output height of 1."""
    out = adaptive_avg_pool2d(_pool1d_input(input, "adaptive_avg_pool1d"), (1, _single(output_size, "output_size")))
    return _F.squeeze(out, -2)


def _interpolate_sizes(input: Tensor, size: Any, scale_factor: Any, recompute_scale_factor: bool | None) -> tuple[list[int], list[float | None]]:
    """Output sizes and the scales torch's kernels use (``1 / scale_factor``, or None to use in/out)."""
    spatial = input.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined")
    _static(input, range(2, input.ndim), "interpolate")
    sizes_in = [int(s) for s in input.shape[2:]]
    if size is not None:
        sizes = list(size) if isinstance(size, (tuple, list)) else [size] * spatial
        if len(sizes) != spatial:
            raise ValueError(
                "Input and output must have the same number of spatial dimensions, "
                f"but got input with spatial dimensions of {sizes_in} and output size of {size}."
            )
        return [int(s) for s in sizes], [None] * spatial
    factors = list(scale_factor) if isinstance(scale_factor, (tuple, list)) else [scale_factor] * spatial
    if len(factors) != spatial:
        raise ValueError(
            "Input and scale_factor must have the same number of spatial dimensions, "
            f"but got input with spatial dimensions of {sizes_in} and scale_factor of shape {scale_factor}."
        )
    sizes = [int(math.floor(float(n) * float(f))) for n, f in zip(sizes_in, factors)]
    scales = [None] * spatial if recompute_scale_factor else [1.0 / float(f) for f in factors]
    return sizes, scales


def _nearest_index(size_in: int, size_out: int, scale: float | None) -> np.ndarray:
    """torch's nearest source index: ``min(floor(dst * scale), in - 1)`` in float32 arithmetic, as its CPU kernel."""
    ratio = np.float32(size_in) / np.float32(size_out) if scale is None else np.float32(scale)
    index = np.floor(np.arange(size_out, dtype=np.float32) * ratio).astype(np.int64)
    return np.minimum(index, size_in - 1)


def _linear_weights(size_in: int, size_out: int, scale: float | None, align_corners: bool) -> np.ndarray:
    """The ``(out, in)`` matrix of 1-d linear interpolation with torch's source coordinates."""
    if align_corners:
        ratio = (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
        source = np.arange(size_out) * ratio
    else:
        ratio = size_in / size_out if scale is None else scale
        source = np.maximum((np.arange(size_out) + 0.5) * ratio - 0.5, 0.0)
    low = np.minimum(np.floor(source).astype(np.int64), size_in - 1)
    high = np.minimum(low + 1, size_in - 1)
    frac = source - low
    matrix = np.zeros((size_out, size_in))
    np.add.at(matrix, (np.arange(size_out), low), 1.0 - frac)
    np.add.at(matrix, (np.arange(size_out), high), frac)
    return matrix


def interpolate(
    input: Tensor,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """``nearest`` (an index_select per spatial axis) and ``linear``/``bilinear`` (a matmul per axis with a constant weight matrix)."""
    if mode not in ("nearest", "linear", "bilinear"):
        raise NotImplementedError(f"graphc's interpolate supports mode 'nearest', 'linear' and 'bilinear', got {mode!r}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear")
    expected = {"linear": 3, "bilinear": 4}.get(mode)
    if expected is not None and input.ndim != expected:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {expected}D input")
    if input.ndim < 3:
        raise ValueError(f"interpolate expects a batched input with at least 3 dimensions, got {input.ndim}")
    if antialias:
        raise NotImplementedError("graphc's interpolate has no antialias")
    sizes, scales = _interpolate_sizes(input, size, scale_factor, recompute_scale_factor)
    x = input
    for axis, (size_out, scale) in enumerate(zip(sizes, scales)):
        dim = axis + 2
        size_in = int(input.shape[dim])
        if mode == "nearest":
            x = _F.index_select(x, dim, _constant(_nearest_index(size_in, size_out, scale)))
            continue
        weights = _constant(_linear_weights(size_in, size_out, scale, bool(align_corners)).astype(input.dtype.numpy))
        x = _F.transpose(_F.matmul(weights, _F.transpose(x, dim, -2)), dim, -2)
    return x

# ------------------------------------------------------------------ losses


def _reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return ("mean" if size_average else "sum") if reduce else "none"


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "mean":
        return _F.mean(loss)
    if reduction == "sum":
        return _F.sum(loss)
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _check_reduction(reduction: str) -> None:
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")


def _same_size(input: Tensor, target: Tensor) -> None:
    """torch's warning for a regression loss whose target broadcasts against the input."""
    if tuple(input.shape) != tuple(target.shape):
        warnings.warn(
            f"Using a target size ({list(target.shape)}) that is different to the input size ({list(input.shape)}). "
            "This will likely lead to incorrect results due to broadcasting. Please ensure they have the same size.",
            stacklevel=user_stacklevel(),
        )


@autocast_op
def mse_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None, reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _same_size(input, target)
    diff = _F.sub(input, target)
    loss = _F.mul(diff, diff)
    if weight is not None:
        loss = _F.mul(loss, weight)
    return _reduce(loss, reduction)


@autocast_op
def l1_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None, reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _same_size(input, target)
    loss = _F.abs(_F.sub(input, target))
    if weight is not None:
        loss = _F.mul(loss, weight)
    return _reduce(loss, reduction)


@autocast_op
def smooth_l1_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _same_size(input, target)
    signed = _F.sub(input, target)
    diff = _F.abs(signed)
    if beta == 0.0:
        return _reduce(diff, reduction)
    # The square of the signed difference: through |d| * |d| the second derivative at d = 0 was 0 (sign's), torch's is 1 / beta.
    loss = _F.where(_F.lt(diff, beta), _F.div(_F.mul(_F.mul(signed, signed), 0.5), beta), _F.sub(diff, 0.5 * beta))
    return _reduce(loss, reduction)


@autocast_op
def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0, weight: Tensor | None = None) -> Tensor:
    _check_reduction(reduction)
    _same_size(input, target)
    signed = _F.sub(input, target)
    diff = _F.abs(signed)
    loss = _F.where(_F.lt(diff, delta), _F.mul(_F.mul(signed, signed), 0.5), _F.mul(_F.sub(diff, 0.5 * delta), delta))
    if weight is not None:
        loss = _F.mul(loss, weight)
    return _reduce(loss, reduction)


def _class_weights(weight: Tensor | None, target: Tensor, valid: Tensor, dtype: dtypes.DType) -> Tensor:
    """The weight of every target's class (0 where the target is ignored)."""
    if weight is None:
        return _F.cast(valid, dtype)
    safe = _F.where(valid, target, 0)
    picked = _F.reshape(_F.index_select(weight, 0, _F.reshape(safe, -1)), target.shape)
    return _F.where(valid, picked, 0.0)


def _classes_last_check(input: Tensor, target: Tensor, op: str) -> tuple[Tensor, Tensor, bool]:
    """Validate ``input [N, C, *]`` / ``target [N, *]`` (or unbatched ``[C]`` / ``[]``) and add the batch dimension."""
    if input.ndim == 1 and target.ndim == 0:
        return _F.unsqueeze(input, 0), _F.unsqueeze(target, 0), True
    if input.ndim < 2:
        raise op_error(op, [_node(input).type, _node(target).type], {}, "expected input [N, C, *] or [C] with a 0-d target")
    expected = (input.shape[0],) + tuple(input.shape[2:])
    if target.ndim != input.ndim - 1 or any(not dims_equal(p, q) for p, q in zip(target.shape, expected)):
        raise op_error(op, [_node(input).type, _node(target).type], {}, f"expected target of shape {list(expected)}, got {list(target.shape)}")
    return input, target, False


@autocast_op
def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """``-weight[t] * input[n, t]``; ``mean`` divides by the total weight of the non-ignored targets."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if target.dtype not in (dtypes.int32, dtypes.int64, dtypes.uint8):
        raise op_error("nll_loss", [_node(input).type, _node(target).type], {}, f"expected target of class indices (int64 or uint8), got {target.dtype.name}")
    if target.dtype == dtypes.uint8:  # torch's Byte targets, read as int64 (ignore_index=-100 is no uint8)
        target = target.long()
    x, t, unbatched = _classes_last_check(_F.backward_reads(input), target, "nll_loss")
    valid = _F.ne(t, ignore_index)
    safe = _F.where(valid, t, 0)
    picked = _F.squeeze(_F.gather(x, 1, _F.unsqueeze(safe, 1)), 1)
    w = _class_weights(weight, t, valid, x.dtype)
    loss = _F.neg(_F.mul(picked, w))
    if reduction == "none":
        return _F.squeeze(loss, 0) if unbatched else loss
    if reduction == "sum":
        return _F.sum(loss)
    return _weighted_mean(_F.sum(loss), _F.sum(w))


def _weighted_mean(total: Tensor, weight: Tensor) -> Tensor:
    """``total / weight``, as torch's: NaN when every target is ignored (0 / 0), with a zero
    gradient then, where the division's would be 0 * inf = NaN."""
    empty = _F.eq(weight, 0)
    return _F.where(empty, float("nan"), _F.div(total, _F.where(empty, 1.0, weight)))


@autocast_op
def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """``log_softmax`` over dimension 1 and ``nll_loss`` for class indices; class probabilities also accepted."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    class_dim = 0 if input.ndim == 1 else 1
    logp = log_softmax(input, class_dim)
    classes = input.shape[class_dim]
    if target.dtype.is_floating_point:  # class probabilities, same shape as input
        if tuple(target.shape) != tuple(input.shape):
            raise op_error("cross_entropy", [_node(input).type, _node(target).type], {}, "probability targets must have the input's shape")
        if label_smoothing > 0:
            target = _F.add(_F.mul(target, 1 - label_smoothing), label_smoothing / classes)
        terms = _F.mul(logp, target)
        if weight is not None:
            terms = _F.mul(terms, _F.reshape(weight, (classes,) + (1,) * (input.ndim - class_dim - 1)))
        loss = _F.neg(_F.sum(terms, class_dim))
        return _reduce(loss, reduction)
    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if label_smoothing <= 0:
        return nll
    x, t, unbatched = _classes_last_check(logp, target, "cross_entropy")
    valid = _F.ne(t, ignore_index)
    terms = x if weight is None else _F.mul(x, _F.reshape(weight, (classes,) + (1,) * (x.ndim - 2)))
    smooth = _F.where(valid, _F.neg(_F.sum(terms, 1)), 0.0)
    if reduction == "none":
        smooth = _F.squeeze(smooth, 0) if unbatched else smooth
    elif reduction == "sum":
        smooth = _F.sum(smooth)
    else:
        smooth = _weighted_mean(_F.sum(smooth), _F.sum(_class_weights(weight, t, valid, x.dtype)))
    return _F.add(_F.mul(nll, 1 - label_smoothing), _F.mul(smooth, label_smoothing / classes))


@autocast_op
def binary_cross_entropy(
    input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: Any = None, reduce: Any = None, reduction: str = "mean"
) -> Tensor:
    """``-(y log x + (1 - y) log(1 - x))`` with both logs clamped at -100, as torch."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(
            f"Using a target size ({list(target.shape)}) that is different to the input size ({list(input.shape)}) is deprecated. "
            "Please ensure they have the same size."
        )
    # torch raises for an input outside [0, 1] (NaN too); the program raises where it finds one.
    x = _node(input)
    inside = b.binary("and", b.compare("ge", x, 0.0), b.compare("le", x, 1.0))
    input = _F.wrap(emit("check", x, b.unary("logical_not", inside), message="binary_cross_entropy: all elements of input should be between 0 and 1"))
    log_x = _F.clamp(_F.log(input), min=-100.0)
    log_1mx = _F.clamp(_F.log1p(_F.neg(input)), min=-100.0)
    loss = _F.sub(_F.mul(_F.sub(target, 1.0), log_1mx), _F.mul(target, log_x))
    # torch's gradient, finite where a probability is exactly 0 or 1 (the clamped logs' is 0 * inf there).
    operands = _node(loss), _node(input), _node(_F.cast(target, input.dtype))
    loss = _F.wrap(emit("custom_vjp", *operands, rule="binary_cross_entropy"))
    if weight is not None:
        loss = _F.mul(loss, weight)
    return _reduce(loss, reduction)


@autocast_op
def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """``(1 - y) x - w_pos log(sigmoid(x))`` with ``w_pos = 1 + (pos_weight - 1) y``: stable for any logit."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({list(target.shape)}) must be the same as input size ({list(input.shape)})")
    log_sig = logsigmoid(input)
    if pos_weight is not None:
        log_sig = _F.mul(log_sig, _F.add(_F.mul(_F.sub(pos_weight, 1.0), target), 1.0))
    loss = _F.sub(_F.mul(_F.sub(1.0, target), input), log_sig)
    if weight is not None:
        loss = _F.mul(loss, weight)
    return _reduce(loss, reduction)


@autocast_op
def kl_div(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """``target * (log(target) - input)`` (0 where target is 0); ``batchmean`` divides the sum by the batch size."""
    reduction = _reduction(size_average, reduce, reduction)
    if log_target:
        loss = _F.mul(_F.exp(target), _F.sub(target, input))
    else:
        xlogy = _F.where(_F.eq(target, 0), 0.0, _F.mul(target, _F.log(_F.where(_F.eq(target, 0), 1.0, target))))
        loss = _F.sub(xlogy, _F.mul(target, input))
    if reduction == "batchmean":
        # torch divides by the batch size (a size node when the batch is symbolic); a 0-d input's sum stays.
        return _F.div(_F.sum(loss), input.shape[0]) if input.ndim else _F.sum(loss)
    _check_reduction(reduction)
    return _reduce(loss, reduction)



# ------------------------------------------------------------------ margin, embedding and likelihood losses


def _positive_part(x: Tensor) -> Tensor:
    """``max(x, 0)`` with no gradient at 0, as torch's margin kernels (``if (z > 0)``)."""
    return _F.where(_F.gt(x, 0), x, 0.0)


@autocast_op
def margin_ranking_loss(
    input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0, size_average: Any = None, reduce: Any = None, reduction: str = "mean"
) -> Tensor:
    """``max(0, -y (x1 - x2) + margin)``; torch wants the three tensors of one rank."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not input1.ndim == input2.ndim == target.ndim:
        raise op_error(
            "margin_ranking_loss",
            [_node(input1).type, _node(input2).type, _node(target).type],
            {},
            "All input tensors should have same dimension but got sizes: "
            f"input1: {list(input1.shape)}, input2: {list(input2.shape)}, target: {list(target.shape)}",
        )
    loss = _F.clamp(_F.add(_F.mul(_F.neg(target), _F.sub(input1, input2)), margin), min=0.0)
    return _reduce(loss, reduction)


@autocast_op
def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0, size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> Tensor:
    """``x`` where ``y != -1`` plus ``max(0, margin - x)`` where ``y != 1`` (torch's two ``where``s, so other labels get both)."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    margin_part = _F.where(_F.ne(target, 1), _F.clamp(_F.sub(margin, input), min=0.0), 0.0)
    self_part = _F.where(_F.ne(target, -1), input, 0.0)
    return _reduce(_F.add(margin_part, self_part), reduction)


@autocast_op
def soft_margin_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> Tensor:
    """``log(1 + exp(-y x))``, torch's formula."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    return _reduce(_F.log1p(_F.exp(_F.neg(_F.mul(input, target)))), reduction)


def _cosine_embedding_check(input1: Tensor, input2: Tensor, target: Tensor) -> None:
    types = [_node(input1).type, _node(input2).type, _node(target).type]
    sizes = f"input1: {list(input1.shape)}, input2: {list(input2.shape)}"
    if target.ndim not in (0, 1):
        raise op_error("cosine_embedding_loss", types, {}, "0D or 1D target tensor expected, multi-target not supported")
    if target.ndim == 1 and not input1.ndim == input2.ndim == 2:
        raise op_error("cosine_embedding_loss", types, {}, f"1D target tensor expects 2D input tensors, but found inputs with sizes {sizes}.")
    if target.ndim == 0 and not input1.ndim == input2.ndim == 1:
        raise op_error("cosine_embedding_loss", types, {}, f"0D target tensor expects 1D input tensors, but found inputs with sizes {sizes}.")


@autocast_op
def cosine_embedding_loss(
    input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0, size_average: Any = None, reduce: Any = None, reduction: str = "mean"
) -> Tensor:
    """``1 - cos`` where ``y == 1``, ``max(0, cos - margin)`` where ``y == -1``; cos with torch's 1e-12 added to each squared norm."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    _cosine_embedding_check(input1, input2, target)
    dim = target.ndim
    product = _F.sum(_F.mul(input1, input2), dim)
    squares = _F.mul(_F.add(_F.sum(_F.mul(input1, input1), dim), 1e-12), _F.add(_F.sum(_F.mul(input2, input2), dim), 1e-12))
    cos = _F.div(product, _F.sqrt(squares))
    positive = _F.where(_F.eq(target, 1), _F.sub(1.0, cos), 0.0)
    negative = _F.where(_F.eq(target, -1), _F.clamp(_F.sub(cos, margin), min=0.0), 0.0)
    return _reduce(_F.add(positive, negative), reduction)


@autocast_op
def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """``max(0, margin + d(a, p) - d(a, n))`` with ``pairwise_distance``; ``swap`` takes ``min(d(a, n), d(p, n))``."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if not anchor.ndim == positive.ndim == negative.ndim:
        message = (
            "The anchor, positive, and negative tensors are expected to have the same number of dimensions, "
            f"but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and negative {negative.ndim}D inputs"
        )
        raise op_error("triplet_margin_loss", [_node(anchor).type, _node(positive).type, _node(negative).type], {}, message)
    to_positive = pairwise_distance(anchor, positive, p, eps)
    to_negative = pairwise_distance(anchor, negative, p, eps)
    if swap:
        to_negative = _F.minimum(to_negative, pairwise_distance(positive, negative, p, eps))
    return _reduce(_F.clamp(_F.add(_F.sub(to_positive, to_negative), margin), min=0.0), reduction)


def triplet_margin_with_distance_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    *,
    distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """``max(0, margin + d(a, p) - d(a, n))`` with any distance (``pairwise_distance`` by default)."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        message = (
            "The anchor, positive, and negative tensors are expected to have the same number of dimensions, "
            f"but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and negative {negative.ndim}D inputs"
        )
        raise op_error("triplet_margin_with_distance_loss", [_node(anchor).type, _node(positive).type, _node(negative).type], {}, message)
    distance = pairwise_distance if distance_function is None else distance_function
    to_positive = distance(anchor, positive)
    to_negative = distance(anchor, negative)
    if swap:
        to_negative = _F.minimum(to_negative, distance(positive, negative))
    return _reduce(_F.clamp(_F.add(_F.sub(to_positive, to_negative), margin), min=0.0), reduction)


@autocast_op
def poisson_nll_loss(
    input: Tensor,
    target: Tensor,
    log_input: bool = True,
    full: bool = False,
    size_average: Any = None,
    eps: float = 1e-8,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """``exp(x) - y x`` (log_input) or ``x - y log(x + eps)``; ``full`` adds Stirling's term where ``y > 1``.

    The Stirling term reads ``y`` only through a copy that is 2 where ``y <= 1``, so the logs of
    masked-out targets (0 among them) put no NaN into a target's gradient.
    """
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if log_input:
        loss = _F.sub(_F.exp(input), _F.mul(target, input))
    else:
        loss = _F.sub(input, _F.mul(target, _F.log(_F.add(input, eps))))
    if full:
        large = _F.gt(target, 1)
        y = _F.where(large, target, 2.0)
        stirling = _F.add(_F.sub(_F.mul(y, _F.log(y)), y), _F.mul(_F.log(_F.mul(y, 2 * math.pi)), 0.5))
        loss = _F.add(loss, _F.where(large, stirling, 0.0))
    return _reduce(loss, reduction)


def _gaussian_variance(input: Tensor, var: Any) -> Tensor:
    """torch's accepted shapes of ``var``: the input's, the input's without its last axis, or one axis of size 1 where the input's is not."""
    if isinstance(var, (int, float)):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        return _F.mul(_F.add(_F.mul(input, 0.0), 1.0), float(var))
    if tracing.active() is None and bool(_F.any(_F.lt(var, 0)).item()):
        raise ValueError("var has negative entry/entries")
    in_shape, var_shape = tuple(input.shape), tuple(var.shape)
    if var_shape == in_shape:
        return var
    if in_shape[:-1] == var_shape:
        return _F.unsqueeze(var, -1)
    if len(in_shape) == len(var_shape) and sum(v for i, v in zip(in_shape, var_shape) if i != v) == 1:
        return var
    raise ValueError("var is of incorrect size")


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Any, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """``0.5 (log(var) + (x - y)^2 / var)`` (+ ``0.5 log(2 pi)`` when ``full``).

    ``var`` is clamped at ``eps`` in value only, as torch clamps it in place under no_grad: the
    gradient reaches ``var`` as if unclamped. The negative-entry check reads the data, so it
    runs in eager code and not inside ``graphc.compile`` (where the data is not known yet).
    """
    var = _gaussian_variance(input, var)
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    clamped = _F.add(_F.sub(var, _F.detach(var)), _F.detach(_F.clamp(var, min=eps)))
    loss = _F.mul(_F.add(_F.log(clamped), _F.div(_F.pow(_F.sub(input, target), 2), clamped)), 0.5)
    if full:
        loss = _F.add(loss, 0.5 * math.log(2 * math.pi))
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(
    input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: Any = None, reduce: Any = None, reduction: str = "mean"
) -> Tensor:
    """Binary logistic loss per class, (weighted,) averaged over the classes (the last axis), then reduced."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    loss = _F.neg(_F.add(_F.mul(target, logsigmoid(input)), _F.mul(_F.sub(1.0, target), logsigmoid(_F.neg(input)))))
    if weight is not None:
        loss = _F.mul(loss, weight)
    loss = _F.div(_F.sum(loss, input.ndim - 1), float(input.shape[-1]))
    return _reduce(loss, reduction)


def _margin_setup(input: Tensor, target: Tensor, op: str) -> tuple[Tensor, Tensor, bool]:
    """``(N, C)`` input and ``(N,)`` target, from ``(C,)`` and a 0-d target too (unbatched)."""
    if input.ndim not in (1, 2):
        message = f"Expected non-empty vector or matrix with optional 0-dim batch size, but got: {list(input.shape)}"
        raise op_error(op, [_node(input).type, _node(target).type], {}, message)
    _static(input, (-1,), op)
    if input.ndim == 1:
        return _F.unsqueeze(input, 0), _F.unsqueeze(target, 0), True
    return input, target, False


@autocast_op
def multi_margin_loss(
    input: Tensor,
    target: Tensor,
    p: int = 1,
    margin: float = 1.0,
    weight: Tensor | None = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """``sum_{i != y} max(0, margin - x[y] + x[i])^p (* weight[y]) / C`` per sample (p is 1 or 2)."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    if p not in (1, 2):
        raise ValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.ndim != 1:
        raise ValueError("weight must be one-dimensional")
    # torch's multi_margin_loss_backward reads the input and has no derivative: differentiating the gradient raises
    x, y, unbatched = _margin_setup(_F.backward_reads(input, "multi_margin_loss_backward_reads"), target, "multi_margin_loss")
    classes = x.shape[-1]
    chosen = _F.gather(x, 1, _F.unsqueeze(y, 1))
    hinge = _positive_part(_F.add(_F.sub(x, chosen), margin))
    if p == 2:
        hinge = _F.mul(hinge, hinge)
    if weight is not None:
        hinge = _F.mul(hinge, _F.unsqueeze(_F.index_select(weight, 0, y), 1))
    others = _F.ne(_F.unsqueeze(y, 1), _constant(np.arange(classes)))
    loss = _F.div(_F.sum(_F.where(others, hinge, 0.0), 1), float(classes))
    return _reduce(_F.squeeze(loss, 0) if unbatched else loss, reduction)


@autocast_op
def multilabel_margin_loss(input: Tensor, target: Tensor, size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> Tensor:
    """``sum_j sum_{i not a target} max(0, 1 - (x[y_j] - x[i])) / C``; the targets are ``y``'s entries before its first -1."""
    reduction = _reduction(size_average, reduce, reduction)
    _check_reduction(reduction)
    x, y, unbatched = _margin_setup(_F.backward_reads(input, "multilabel_margin_loss_backward_reads"), target, "multilabel_margin_loss")
    if tuple(y.shape) != tuple(x.shape):
        message = f"inconsistent target size: {list(target.shape)} for input of size: {list(input.shape)}"
        raise op_error("multilabel_margin_loss", [_node(input).type, _node(target).type], {}, message)
    classes = x.shape[-1]
    # Entry j is a target when no -1 comes at or before it: a constant (j, k <= j) mask, not a cumsum
    # (a cumsum fused into the gather's index was read out of range by the Triton backend on one row).
    earlier = _constant(np.tril(np.ones((y.shape[-1], y.shape[-1]), dtype=bool)))
    valid = _F.logical_not(_F.any(_F.logical_and(_F.unsqueeze(_F.eq(y, -1), 1), earlier), 2))
    labels = _F.where(valid, y, 0)
    hits = _F.logical_and(_F.unsqueeze(valid, 2), _F.eq(_F.unsqueeze(labels, 2), _constant(np.arange(classes))))
    is_target = _F.any(hits, 1)
    chosen = _F.gather(x, 1, labels)
    hinge = _positive_part(_F.add(_F.sub(_F.unsqueeze(x, 1), _F.unsqueeze(chosen, 2)), 1.0))
    pairs = _F.logical_and(_F.unsqueeze(valid, 2), _F.unsqueeze(_F.logical_not(is_target), 1))
    loss = _F.div(_F.sum(_F.where(pairs, hinge, 0.0), (1, 2)), float(classes))
    return _reduce(_F.squeeze(loss, 0) if unbatched else loss, reduction)

__all__ = [
    "linear",
    "bilinear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d_with_indices",
    "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices",
    "unfold",
    "fold",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "max_pool3d",
    "avg_pool3d",
    "adaptive_avg_pool3d",
    "pad",
    "max_pool1d",
    "avg_pool1d",
    "adaptive_avg_pool1d",
    "interpolate",
    "upsample",
    "upsample_nearest",
    "upsample_bilinear",
    "gumbel_softmax",
    "grid_sample",
    "affine_grid",
    "pixel_shuffle",
    "pixel_unshuffle",
    "channel_shuffle",
    "native_channel_shuffle",
    "conv_tbc",
    "hardshrink",
    "softshrink",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "alpha_dropout",
    "feature_alpha_dropout",
    "relu",
    "relu_",
    "relu6",
    "threshold",
    "threshold_",
    "elu_",
    "celu_",
    "selu_",
    "leaky_relu_",
    "hardtanh_",
    "rrelu_",
    "leaky_relu",
    "rrelu",
    "prelu",
    "elu",
    "selu",
    "celu",
    "gelu",
    "silu",
    "mish",
    "softplus",
    "hardtanh",
    "hardsigmoid",
    "hardswish",
    "sigmoid",
    "logsigmoid",
    "tanh",
    "tanhshrink",
    "softsign",
    "softmax",
    "softmin",
    "log_softmax",
    "glu",
    "normalize",
    "cosine_similarity",
    "pairwise_distance",
    "pdist",
    "dropout",
    "layer_norm",
    "rms_norm",
    "group_norm",
    "batch_norm",
    "instance_norm",
    "local_response_norm",
    "embedding",
    "embedding_bag",
    "one_hot",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "nll_loss",
    "cross_entropy",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "soft_margin_loss",
    "cosine_embedding_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "multilabel_soft_margin_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "ctc_loss",
    "scaled_dot_product_attention",
    "multi_head_attention_forward",
]

# Attention has a file of its own (graphc.runtime.nn.attention); torch has it here. Imported last:
# that file uses this module's linear, dropout and pad.
from graphc.runtime.nn.attention import multi_head_attention_forward, scaled_dot_product_attention  # noqa: E402

# Transposed convolutions and the adaptive max and power-average pools have files of their own,
# which use this module's argument helpers and pools.
from graphc.runtime.nn.conv_tbc import conv_tbc  # noqa: E402
from graphc.runtime.nn.conv_transpose import conv_transpose1d, conv_transpose2d, conv_transpose3d  # noqa: E402
from graphc.runtime.nn.ctc import ctc_loss  # noqa: E402
from graphc.runtime.nn.fractional_pool import (  # noqa: E402
    fractional_max_pool2d,
    fractional_max_pool2d_with_indices,
    fractional_max_pool3d,
    fractional_max_pool3d_with_indices,
)
from graphc.runtime.nn.grid_sample import affine_grid, grid_sample  # noqa: E402
from graphc.runtime.nn.gumbel import gumbel_softmax  # noqa: E402
from graphc.runtime.nn.inplace_activations import (  # noqa: E402
    celu_,
    elu_,
    hardtanh_,
    leaky_relu_,
    relu_,
    rrelu_,
    selu_,
    threshold_,
)
from graphc.runtime.nn.pdist import pdist  # noqa: E402
from graphc.runtime.nn.pooling_functional import (  # noqa: E402
    adaptive_max_pool1d,
    adaptive_max_pool1d_with_indices,
    adaptive_max_pool2d,
    adaptive_max_pool2d_with_indices,
    adaptive_max_pool3d,
    adaptive_max_pool3d_with_indices,
    lp_pool1d,
    lp_pool2d,
    lp_pool3d,
    max_pool1d_with_indices,
    max_pool2d_with_indices,
    max_pool3d_with_indices,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
)
from graphc.runtime.nn.upsampling import upsample, upsample_bilinear, upsample_nearest  # noqa: E402
