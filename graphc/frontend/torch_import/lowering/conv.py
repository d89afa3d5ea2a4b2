"""Convolution, pooling and resampling, through graphc's window primitives.

A convolution is ``unfold`` (im2col) and a matmul with the reshaped weight; a
transposed convolution is a matmul and ``fold`` (col2im), built by
``graphc.ir.conv_transpose`` as ``F.conv_transpose2d`` builds it. Max-pooling takes
the ``argmax`` of each unfolded window and ``gather``s it, so its gradient goes to
the first maximal element as torch's does; its indices come from unfolding a
constant map of positions the same way. Average and adaptive pooling are sums
over windows and products with constant averaging matrices.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from graphc.codegen import numpy_support
from graphc.frontend.torch_import.lowering.frontend import call
from graphc.frontend.torch_import.lowering.reductions import mean_node
from graphc.frontend.torch_import.lowering.table import LoweringContext, lowers
from graphc.ir import build as b
from graphc.ir.adaptive_windows import adaptive_table
from graphc.ir.conv_transpose import conv_transpose
from graphc.ir.graph import Node
from graphc.ir.registry import emit
from graphc.runtime.nn.grid_sample import grid_sample

aten = torch.ops.aten
KIND = "convolution/pooling"


def _tuple(value: Any, n: int, default: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """An ATen window argument as ``n`` ints: an int, or a list of 1 or ``n`` (an empty list is ``default``)."""
    if value is None or (isinstance(value, (list, tuple)) and len(value) == 0):
        assert default is not None
        return default
    if isinstance(value, int):
        return (value,) * n
    values = tuple(int(v) for v in value)
    return values * n if len(values) == 1 else values


def _pair(value: Any, default: tuple[int, ...] | None = None) -> tuple[int, ...]:
    return _tuple(value, 2, default)


def _window(kernel: tuple[int, ...], dilation: tuple[int, ...], padding: tuple[int, ...], stride: tuple[int, ...]) -> dict:
    return {"kernel_size": kernel, "dilation": dilation, "padding": padding, "stride": stride}


# ------------------------------------------------------------------ convolution


@lowers(KIND, aten.convolution.default)
def convolution(
    ctx: LoweringContext,
    x: Node,
    weight: Node,
    bias: Node | None,
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int],
    transposed: bool,
    output_padding: Sequence[int],
    groups: int,
) -> Node:
    out_shape = ctx.out_shape()
    spatial = x.type.ndim - 2
    if spatial == 1:  # conv1d as a conv2d over a height of 1
        x = b.reshape(x, (*x.shape[:2], 1, x.shape[2]))
        weight = b.reshape(weight, (*weight.shape[:2], 1, weight.shape[2]))
        stride, padding, dilation, output_padding = (1, stride[0]), (0, padding[0]), (1, dilation[0]), (0, output_padding[0])
        target = (*out_shape[:2], 1, out_shape[2])
    elif spatial in (2, 3):
        stride, padding, dilation = _tuple(stride, spatial), _tuple(padding, spatial), _tuple(dilation, spatial)
        output_padding = _tuple(output_padding, spatial)
        target = out_shape
    else:
        raise ctx.unsupported(f"{spatial}-d convolutions (graphc lowers 1-d, 2-d and 3-d)")
    if transposed:
        out = conv_transpose(x, weight, groups, stride, padding, output_padding, dilation)
    else:
        window = _window(tuple(weight.shape[2:]), tuple(dilation), tuple(padding), tuple(stride))
        out = _conv(x, weight, groups, target, window)
    if bias is not None:
        out = b.add(out, b.reshape(bias, (1, bias.shape[0], *(1,) * (out.type.ndim - 2))))
    return b.reshape(out, out_shape)


def _conv(x: Node, weight: Node, groups: int, target: tuple, window: dict) -> Node:
    n = x.shape[0]
    out_channels, group_channels, *kernel = weight.shape
    block = group_channels * math.prod(kernel)
    cols = emit("unfold", x, pad_value=0.0, **window)  # [N, C*prod(kernel), L]
    length = cols.shape[2]
    if groups == 1:
        out = b.matmul(b.reshape(weight, (out_channels, block)), cols)
    else:
        cols = b.reshape(cols, (n, groups, block, length))
        w = b.reshape(weight, (groups, out_channels // groups, block))
        out = b.matmul(w, cols)
    return b.reshape(out, target)


# ------------------------------------------------------------------ pooling


def _as_batched(x: Node, spatial: int = 2) -> tuple[Node, bool]:
    """Pooling accepts an unbatched [C, *spatial] input too: add a batch of one."""
    if x.type.ndim == spatial + 1:
        return b.reshape(x, (1, *x.shape)), True
    return x, False


def _ceil_extra(size: int, out: int, kernel: int, dilation: int, padding: int, stride: int) -> int:
    """Extra high padding that ceil_mode's last window reaches past the padded input."""
    return max(0, (out - 1) * stride + dilation * (kernel - 1) + 1 - (size + 2 * padding))


def _windows(x: Node, window: dict, extra: tuple[int, ...], value: float) -> Node:
    """unfold, padding explicitly first when ceil_mode needs more padding on the high side."""
    if not any(extra):
        return emit("unfold", x, pad_value=value, **window)
    pads = window["padding"]
    zeros = (0,) * len(pads)
    padded = emit("pad", x, low=(0, 0, *pads), high=(0, 0, *(p + e for p, e in zip(pads, extra))), interior=(0, 0, *zeros), value=value)
    return emit("unfold", padded, pad_value=value, **{**window, "padding": zeros})


def _pool_setup(ctx: LoweringContext, x: Node, kernel_size: Any, stride: Any, padding: Any, dilation: Any) -> tuple:
    spatial = x.type.ndim - 2
    kernel = _tuple(kernel_size, spatial)
    window = _window(kernel, _tuple(dilation, spatial, (1,) * spatial), _tuple(padding, spatial, (0,) * spatial), _tuple(stride, spatial, kernel))
    out = tuple(ctx.out_shape(0 if isinstance(ctx.node.meta["val"], (tuple, list)) else None)[-spatial:])
    sizes = tuple(x.shape[2:])
    if not all(isinstance(v, int) for v in (*sizes, *out)):
        raise ctx.unsupported("pooling over symbolic spatial sizes")
    extra = tuple(_ceil_extra(*args) for args in zip(sizes, out, kernel, window["dilation"], window["padding"], window["stride"]))
    return window, extra, out


def _max_pool_with_indices(ctx: LoweringContext, x: Node, spatial: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any) -> tuple[Node, Node]:
    batched, unbatched = _as_batched(x, spatial)
    window, extra, out = _pool_setup(ctx, batched, kernel_size, stride, padding, dilation)
    n, c, *sizes = batched.shape
    kk = math.prod(window["kernel_size"])
    lowest = -float("inf") if x.dtype.is_floating_point else float(np.iinfo(x.dtype.numpy).min)
    cols = _windows(batched, window, extra, lowest)
    cols = b.reshape(cols, (n, c, kk, cols.shape[2]))
    choice = b.reduce("argmax", cols, 2, True)  # [N, C, 1, L]: the first maximum of each window
    values = b.reshape(emit("gather", cols, choice, axis=2), (n, c, *out))
    # Indices into each flattened spatial volume: unfold a map of positions the same way and gather it.
    positions = ctx.constant(np.arange(math.prod(sizes), dtype=np.int64).reshape(1, 1, *sizes))
    position_cols = _windows(positions, window, extra, -1.0)
    position_cols = b.expand(b.reshape(position_cols, (1, 1, kk, cols.shape[3])), cols.shape)
    indices = b.reshape(emit("gather", position_cols, choice, axis=2), (n, c, *out))
    if unbatched:
        values, indices = b.reshape(values, values.shape[1:]), b.reshape(indices, indices.shape[1:])
    return values, indices


@lowers(KIND, aten.max_pool2d_with_indices.default)
def max_pool2d_with_indices(
    ctx: LoweringContext, x: Node, kernel_size: Any, stride: Any = (), padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False
) -> tuple[Node, Node]:
    return _max_pool_with_indices(ctx, x, 2, kernel_size, stride, padding, dilation)


@lowers(KIND, aten.max_pool3d_with_indices.default)
def max_pool3d_with_indices(
    ctx: LoweringContext, x: Node, kernel_size: Any, stride: Any = (), padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False
) -> tuple[Node, Node]:
    return _max_pool_with_indices(ctx, x, 3, kernel_size, stride, padding, dilation)


@lowers(KIND, aten.max_pool2d.default)
def max_pool2d(ctx: LoweringContext, x: Node, kernel_size: Any, stride: Any = (), padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False) -> Node:
    return _max_pool_with_indices(ctx, x, 2, kernel_size, stride, padding, dilation)[0]


@lowers(KIND, aten.max_pool3d.default)
def max_pool3d(ctx: LoweringContext, x: Node, kernel_size: Any, stride: Any = (), padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False) -> Node:
    return _max_pool_with_indices(ctx, x, 3, kernel_size, stride, padding, dilation)[0]


def _avg_pool(
    ctx: LoweringContext, x: Node, spatial: int, kernel_size: Any, stride: Any, padding: Any, count_include_pad: bool, divisor_override: int | None
) -> Node:
    batched, unbatched = _as_batched(x, spatial)
    window, extra, out_sizes = _pool_setup(ctx, batched, kernel_size, stride, padding, 1)
    n, c, *sizes = batched.shape
    kk = math.prod(window["kernel_size"])
    cols = _windows(batched, window, extra, 0.0)
    sums = b.reduce("sum", b.reshape(cols, (n, c, kk, cols.shape[2])), 2, False)  # [N, C, L]
    if divisor_override:
        out = b.div(sums, float(divisor_override))
    else:
        counts = _window_counts(tuple(sizes), window, extra, count_include_pad)
        if np.all(counts == kk):
            out = b.div(sums, float(kk))
        else:
            out = b.div(sums, b.expand(ctx.constant(counts.astype(x.dtype.numpy).reshape(1, 1, -1)), sums.shape))
    out = b.reshape(out, (n, c, *out_sizes))
    return b.reshape(out, out.shape[1:]) if unbatched else out


@lowers(KIND, aten.avg_pool2d.default)
def avg_pool2d(
    ctx: LoweringContext,
    x: Node,
    kernel_size: Any,
    stride: Any = (),
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Node:
    return _avg_pool(ctx, x, 2, kernel_size, stride, padding, count_include_pad, divisor_override)


@lowers(KIND, aten.avg_pool3d.default)
def avg_pool3d(
    ctx: LoweringContext,
    x: Node,
    kernel_size: Any,
    stride: Any = (),
    padding: Any = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Node:
    return _avg_pool(ctx, x, 3, kernel_size, stride, padding, count_include_pad, divisor_override)


def _window_counts(size: tuple[int, ...], window: dict, extra: tuple[int, ...], count_include_pad: bool) -> np.ndarray:
    """How many elements torch divides each window's sum by (padding counts unless told not to,
    the part of a ceil_mode window past the padding never does)."""
    pads = window["padding"]
    inside = np.ones((1, 1, *size))
    inside = np.pad(inside, ((0, 0), (0, 0), *((p, p) for p in pads)), constant_values=1.0 if count_include_pad else 0.0)
    inside = np.pad(inside, ((0, 0), (0, 0), *((0, e) for e in extra)), constant_values=0.0)
    cols = numpy_support.unfold(inside, window["kernel_size"], window["dilation"], (0,) * len(pads), window["stride"], 0.0)
    return cols.sum(axis=1)[0]


def _averaging_matrix(size: int, out: int) -> np.ndarray:
    """Row i averages input bins floor(i*size/out) .. ceil((i+1)*size/out) - 1, as adaptive pooling."""
    matrix = np.zeros((out, size))
    for i in range(out):
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


@lowers(KIND, aten._adaptive_avg_pool2d.default, aten.adaptive_avg_pool2d.default)
def adaptive_avg_pool2d(ctx: LoweringContext, x: Node, output_size: Sequence[int]) -> Node:
    out_h, out_w = _pair(output_size)
    h, w = x.shape[-2:]
    if (out_h, out_w) == (1, 1):
        return mean_node(x, (x.type.ndim - 2, x.type.ndim - 1), True)
    if not isinstance(h, int) or not isinstance(w, int):
        raise ctx.unsupported("adaptive pooling over symbolic spatial sizes")
    if h % out_h == 0 and w % out_w == 0:
        kernel = (h // out_h, w // out_w)
        return avg_pool2d(ctx, x, kernel, kernel, 0)
    rows = ctx.constant(_averaging_matrix(h, out_h).astype(x.dtype.numpy))
    cols = ctx.constant(_averaging_matrix(w, out_w).T.astype(x.dtype.numpy))
    return b.matmul(rows, b.matmul(x, cols))


@lowers(KIND, aten._adaptive_avg_pool3d.default, aten.adaptive_avg_pool3d.default)
def adaptive_avg_pool3d(ctx: LoweringContext, x: Node, output_size: Sequence[int]) -> Node:
    """Separable as the 2-d one: the 2-d products over every depth slice, then one over the depth."""
    out = _tuple(output_size, 3)
    sizes = tuple(x.shape[-3:])
    rank = x.type.ndim
    if out == (1, 1, 1):
        return mean_node(x, (rank - 3, rank - 2, rank - 1), True)
    if not all(isinstance(s, int) for s in sizes):
        raise ctx.unsupported("adaptive pooling over symbolic spatial sizes")
    if all(s % o == 0 for s, o in zip(sizes, out)):
        kernel = tuple(s // o for s, o in zip(sizes, out))
        return avg_pool3d(ctx, x, kernel, kernel, 0)
    depth, height, width = sizes
    lead = tuple(x.shape[:-3])
    rows = ctx.constant(_averaging_matrix(height, out[1]).astype(x.dtype.numpy))
    cols = ctx.constant(_averaging_matrix(width, out[2]).T.astype(x.dtype.numpy))
    planes = b.reshape(b.matmul(rows, b.matmul(x, cols)), (*lead, depth, out[1] * out[2]))
    depths = ctx.constant(_averaging_matrix(depth, out[0]).astype(x.dtype.numpy))
    return b.reshape(b.matmul(depths, planes), (*lead, *out))


def _adaptive_max_pool(ctx: LoweringContext, x: Node, spatial: int, output_size: Sequence[int]) -> tuple[Node, Node]:
    """A max pool when the windows tile the input; otherwise every window gathered by an
    ``index_select`` of a constant table of positions, then ``argmax`` and ``gather`` as
    ``F.adaptive_max_pool2d`` does (the first maximum is the index and gets the gradient)."""
    out = _tuple(output_size, spatial)
    sizes = tuple(x.shape[-spatial:])
    if not all(isinstance(s, int) for s in sizes):
        raise ctx.unsupported("adaptive max pooling over symbolic spatial sizes")
    if all(s % o == 0 for s, o in zip(sizes, out)):
        kernel = tuple(s // o for s, o in zip(sizes, out))
        return _max_pool_with_indices(ctx, x, spatial, kernel, kernel, 0, 1)
    batched, unbatched = _as_batched(x, spatial)
    n, c = batched.shape[:2]
    table = adaptive_table(sizes, out)
    kk, length = table.shape
    flat = b.reshape(batched, (n, c, math.prod(sizes)))
    cols = b.reshape(emit("index_select", flat, ctx.constant(table.reshape(-1)), axis=2), (n, c, kk, length))
    choice = b.reduce("argmax", cols, 2, True)
    values = b.reshape(emit("gather", cols, choice, axis=2), (n, c, *out))
    positions = b.expand(ctx.constant(table.reshape(1, 1, kk, length)), cols.shape)
    indices = b.reshape(emit("gather", positions, choice, axis=2), (n, c, *out))
    if unbatched:
        values, indices = b.reshape(values, values.shape[1:]), b.reshape(indices, indices.shape[1:])
    return values, indices


@lowers(KIND, aten.adaptive_max_pool2d.default)
def adaptive_max_pool2d(ctx: LoweringContext, x: Node, output_size: Sequence[int]) -> tuple[Node, Node]:
    return _adaptive_max_pool(ctx, x, 2, output_size)


@lowers(KIND, aten.adaptive_max_pool3d.default)
def adaptive_max_pool3d(ctx: LoweringContext, x: Node, output_size: Sequence[int]) -> tuple[Node, Node]:
    return _adaptive_max_pool(ctx, x, 3, output_size)


def _interpolation_matrix(size: int, out: int, align_corners: bool, scale: float | None) -> np.ndarray:
    """Row i weighs the two input pixels around output pixel i's source position, as torch's
    bilinear upsampling computes it (``area_pixel_compute_source_index``)."""
    if align_corners:
        sources = np.arange(out) * ((size - 1) / (out - 1) if out > 1 else 0.0)
    else:
        step = 1.0 / scale if scale else size / out
        sources = np.maximum((np.arange(out) + 0.5) * step - 0.5, 0.0)
    low = np.minimum(np.floor(sources).astype(np.int64), size - 1)
    high = np.minimum(low + 1, size - 1)
    weight = sources - low
    matrix = np.zeros((out, size))
    np.add.at(matrix, (np.arange(out), low), 1.0 - weight)
    np.add.at(matrix, (np.arange(out), high), weight)
    return matrix


def _upsample_bilinear(ctx: LoweringContext, x: Node, align_corners: bool, scales: Sequence[float | None]) -> Node:
    """Bilinear interpolation is separable: a product with an interpolation matrix on each side."""
    h, w = x.shape[-2:]
    out_h, out_w = ctx.out_shape()[-2:]
    if not all(isinstance(v, int) for v in (h, w, out_h, out_w)):
        raise ctx.unsupported("bilinear upsampling of symbolic spatial sizes")
    rows = ctx.constant(_interpolation_matrix(h, out_h, align_corners, scales[0]).astype(x.dtype.numpy))
    cols = ctx.constant(_interpolation_matrix(w, out_w, align_corners, scales[1]).T.astype(x.dtype.numpy))
    return b.matmul(rows, b.matmul(x, cols))


@lowers(KIND, aten.upsample_bilinear2d.vec)
def upsample_bilinear2d_vec(ctx: LoweringContext, x: Node, output_size: Any, align_corners: bool, scale_factors: Sequence[float] | None = None) -> Node:
    return _upsample_bilinear(ctx, x, align_corners, scale_factors or (None, None))


@lowers(KIND, aten.upsample_bilinear2d.default)
def upsample_bilinear2d(
    ctx: LoweringContext, x: Node, output_size: Any, align_corners: bool, scales_h: float | None = None, scales_w: float | None = None
) -> Node:
    return _upsample_bilinear(ctx, x, align_corners, (scales_h, scales_w))


_GRID_MODES = {0: "bilinear", 1: "nearest", 2: "bicubic"}
_GRID_PADDINGS = {0: "zeros", 1: "border", 2: "reflection"}


@lowers(KIND, aten.grid_sampler_2d.default, aten.grid_sampler_3d.default)
def grid_sampler(ctx: LoweringContext, x: Node, grid: Node, mode: int, padding_mode: int, align_corners: bool) -> Node:
    """graphc's ``F.grid_sample`` of an image or a volume, which torch's enums name (``affine_grid`` reaches the
    importer decomposed)."""
    return call(grid_sample, x, grid, mode=_GRID_MODES[mode], padding_mode=_GRID_PADDINGS[padding_mode], align_corners=bool(align_corners))


@lowers(KIND, aten.upsample_nearest2d.vec, aten.upsample_nearest2d.default)
def upsample_nearest2d(ctx: LoweringContext, x: Node, *_: Any, **__: Any) -> Node:
    n, c, h, w = x.shape
    out_shape = ctx.out_shape()
    out_h, out_w = out_shape[2], out_shape[3]
    if out_h % h == 0 and out_w % w == 0:  # integer factors: every pixel repeated, a broadcast
        sh, sw = out_h // h, out_w // w
        spread = b.expand(b.reshape(x, (n, c, h, 1, w, 1)), (n, c, h, sh, w, sw))
        return b.reshape(spread, out_shape)
    rows = ctx.constant(np.minimum((np.arange(out_h) * h) // out_h, h - 1).astype(np.int64))
    cols = ctx.constant(np.minimum((np.arange(out_w) * w) // out_w, w - 1).astype(np.int64))
    return emit("index_select", emit("index_select", x, rows, axis=2), cols, axis=3)
