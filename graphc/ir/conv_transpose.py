"""Transposed convolution as a matmul and ``fold`` (col2im), for ``F.conv_transpose*d`` and the torch importer alike.

Every input pixel spreads its ``[C_out/groups, *kernel]`` block of the weight over the output
at ``stride`` spacing: one matmul makes every pixel's block a column, and ``fold`` sums the
columns into their (dilated) windows, so the gradients are ``matmul``'s and ``unfold``'s and no
primitive of its own is needed. The output is the full canvas of windows,
``(H - 1) * stride + dilation * (k - 1) + 1`` long, cropped by ``padding`` at both ends and
given ``output_padding`` more rows at the end. While ``output_padding < stride`` that is
exactly ``fold`` with ``padding`` (the canvas has the window count fold needs); torch also
allows ``output_padding < dilation``, whose extra rows fold's windows cannot count, so that
axis folds the whole canvas and is cropped and zero-padded explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from graphc.ir import build as b
from graphc.ir.graph import Node
from graphc.ir.registry import emit


def canvas_size(size: int, kernel: int, stride: int, dilation: int) -> int:
    """The length every window of a transposed convolution covers, before padding crops it."""
    return (size - 1) * stride + dilation * (kernel - 1) + 1


def output_size(size: int, kernel: int, stride: int, padding: int, output_padding: int, dilation: int) -> int:
    """torch's output length of a transposed convolution."""
    return canvas_size(size, kernel, stride, dilation) - 2 * padding + output_padding


def conv_transpose(
    x: Node, weight: Node, groups: int, stride: Sequence[int], padding: Sequence[int], output_padding: Sequence[int], dilation: Sequence[int]
) -> Node:
    """``x [N, C_in, *spatial]``, ``weight [C_in, C_out/groups, *kernel]`` -> ``[N, C_out, *out]``, without bias
    (any number of spatial dimensions, as ``fold`` takes).

    The arguments are checked by the caller (static spatial sizes, channels, output size >= 1)."""
    n, in_channels, *spatial = x.shape
    _, per_group, *kernel = weight.shape
    rank = len(spatial)
    block = per_group * math.prod(kernel)
    pixels = math.prod(spatial)
    if groups == 1:
        columns = b.transpose_last(b.reshape(weight, (in_channels, block)))  # [C_out*prod(kernel), C_in]
        cols = b.matmul(columns, b.reshape(x, (n, in_channels, pixels)))
    else:
        columns = b.transpose_last(b.reshape(weight, (groups, in_channels // groups, block)))  # [G, block, C_in/G]
        cols = b.matmul(columns, b.reshape(x, (n, groups, in_channels // groups, pixels)))
        cols = b.reshape(cols, (n, groups * block, pixels))  # channel-major columns, group after group
    sizes = [output_size(s, k, st, p, op, d) for s, k, st, p, op, d in zip(spatial, kernel, stride, padding, output_padding, dilation)]
    canvases = [canvas_size(s, k, st, d) for s, k, st, d in zip(spatial, kernel, stride, dilation)]
    by_fold = [op < st for op, st in zip(output_padding, stride)]
    out = emit(
        "fold",
        cols,
        output_size=tuple(size if folded else canvas for size, canvas, folded in zip(sizes, canvases, by_fold)),
        kernel_size=tuple(kernel),
        dilation=tuple(dilation),
        padding=tuple(p if folded else 0 for p, folded in zip(padding, by_fold)),
        stride=tuple(stride),
    )
    if all(by_fold):
        return out
    # Axes whose output_padding reaches past fold's windows: crop the canvas, then pad its end with zeros.
    starts = [0 if folded else p for p, folded in zip(padding, by_fold)]
    stops = [start + size for start, size in zip(starts, sizes)]
    high = [max(0, stop - extent) for stop, extent in zip(stops, out.shape[2:])]
    zeros = (0,) * (rank + 2)
    if any(high):
        out = emit("pad", out, low=zeros, high=(0, 0, *high), interior=zeros, value=0.0)
    return emit("slice", out, starts=(0, 0, *starts), stops=(out.shape[0], out.shape[1], *stops), steps=(1,) * (rank + 2))
