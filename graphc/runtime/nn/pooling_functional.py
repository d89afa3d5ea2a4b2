"""``F.adaptive_max_pool1d/2d/3d``, ``F.lp_pool1d/2d/3d``, ``F.max_unpool1d/2d/3d`` and the ``*_with_indices`` names of the
max pools, built on the pools of ``functional``. Re-exported by it."""

from __future__ import annotations

import math
from typing import Any

from graphc.frontend import functional as _F
from graphc.frontend.autocast_policy import autocast_op
from graphc.frontend.functional import wrap
from graphc.frontend.scatter import scatter
from graphc.ir import build as b
from graphc.ir.adaptive_windows import adaptive_table
from graphc.ir.registry import op_error
from graphc.runtime.nn.functional import (
    _adaptive_sizes,
    _batched,
    _constant,
    _node,
    _ntuple,
    _pair,
    _pool1d_input,
    _single,
    _static,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    relu,
)
from graphc.runtime.tensor import Tensor


def _adaptive_max_pool(op: str, spatial: int, input: Tensor, output_size: Any, return_indices: bool) -> Any:
    """The maximum over torch's adaptive windows; the gradient goes to the first maximal element.

    Windows that tile the input evenly are a plain max pool; otherwise the windows are
    gathered with an ``index_select`` of a constant table of positions."""
    x, unbatched = _batched(input, spatial, op)
    _static(x, range(2, spatial + 2), op)
    sizes = tuple(x.shape[2:])
    out = _adaptive_sizes(op, x, spatial, output_size)
    if all(size % o == 0 for size, o in zip(sizes, out)):
        kernel = tuple(size // o for size, o in zip(sizes, out))
        pool = max_pool2d if spatial == 2 else max_pool3d
        return pool(input, kernel, kernel, return_indices=return_indices)
    n, channels = x.shape[:2]
    table = adaptive_table(sizes, out)
    window, length = table.shape
    flat = _F.reshape(_F.backward_reads(x), n, channels, math.prod(sizes))
    patches = _F.reshape(_F.index_select(flat, 2, _constant(table.reshape(-1))), n, channels, window, length)
    best = _F.argmax(patches, 2, keepdim=True)
    values = _F.reshape(_F.gather(patches, 2, best), n, channels, *out)
    if unbatched:
        values = _F.squeeze(values, 0)
    if not return_indices:
        return values
    positions = _F.expand(_constant(table), n, channels, window, length)
    indices = _F.reshape(_F.gather(positions, 2, best), n, channels, *out)
    return values, (_F.squeeze(indices, 0) if unbatched else indices)


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """The maximum over torch's adaptive windows of ``[N, C, H, W]``; the gradient goes to the first maximal element."""
    return _adaptive_max_pool("adaptive_max_pool2d", 2, input, output_size, return_indices)


@autocast_op
def adaptive_max_pool3d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """The maximum over torch's adaptive windows of ``[N, C, D, H, W]``; indices are flat ``(d * H + h) * W + w``."""
    return _adaptive_max_pool("adaptive_max_pool3d", 3, input, output_size, return_indices)


def adaptive_max_pool1d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """adaptive_max_pool2d over ``(.., 1, L)``: the flat 2-d index ``0 * L + l`` is the 1-d index."""
    out = adaptive_max_pool2d(_pool1d_input(input, "adaptive_max_pool1d"), (1, _single(output_size, "output_size")), return_indices)
    if return_indices:
        return _F.squeeze(out[0], -2), _F.squeeze(out[1], -2)
    return _F.squeeze(out, -2)


def _lp_root(mean_of_powers: Tensor, window: int, norm_type: float) -> Tensor:
    """torch's ``(sign(out) * relu(abs(out))).mul(window).pow(1 / p)``: a window whose powers sum to 0 gets no gradient."""
    out = mean_of_powers
    return _F.pow(_F.mul(_F.mul(_F.sign(out), relu(_F.abs(out))), float(window)), 1.0 / norm_type)


def _check_norm(norm_type: float) -> None:
    if norm_type == 0:
        raise ValueError(f"norm_type must be a non-zero value, but got {norm_type}")


def lp_pool2d(input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False) -> Tensor:
    """The p-norm of every window (no padding), as torch computes it: an average pool of ``x ** p`` times the window size."""
    _check_norm(norm_type)
    if math.isinf(norm_type):
        if norm_type > 0:
            return max_pool2d(_F.abs(input), kernel_size, stride, 0, 1, ceil_mode)
        return _F.neg(max_pool2d(_F.neg(_F.abs(input)), kernel_size, stride, 0, 1, ceil_mode))
    kh, kw = _pair(kernel_size, "kernel_size")
    return _lp_root(avg_pool2d(_F.pow(input, norm_type), kernel_size, stride, 0, ceil_mode), kh * kw, norm_type)


def lp_pool1d(input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False) -> Tensor:
    """The p-norm of every window of a ``[N, C, L]`` or ``[C, L]`` input."""
    _check_norm(norm_type)
    if math.isinf(norm_type):
        if norm_type > 0:
            return max_pool1d(_F.abs(input), kernel_size, stride, 0, 1, ceil_mode)
        return _F.neg(max_pool1d(_F.neg(_F.abs(input)), kernel_size, stride, 0, 1, ceil_mode))
    window = _single(kernel_size, "kernel_size")
    return _lp_root(avg_pool1d(_F.pow(input, norm_type), kernel_size, stride, 0, ceil_mode), window, norm_type)


def lp_pool3d(input: Tensor, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False) -> Tensor:
    """The p-norm of every window of a ``[N, C, D, H, W]`` or ``[C, D, H, W]`` input, as ``lp_pool2d``."""
    _check_norm(norm_type)
    if math.isinf(norm_type):
        if norm_type > 0:
            return max_pool3d(_F.abs(input), kernel_size, stride, 0, 1, ceil_mode)
        return _F.neg(max_pool3d(_F.neg(_F.abs(input)), kernel_size, stride, 0, 1, ceil_mode))
    kd, kh, kw = _ntuple(kernel_size, 3, "kernel_size")
    return _lp_root(avg_pool3d(_F.pow(input, norm_type), kernel_size, stride, 0, ceil_mode), kd * kh * kw, norm_type)


# torch's names of the max pools that return their indices: ``return_indices`` is accepted and ignored,
# as torch ignores it (they always return ``(output, indices)``).


def max_pool1d_with_indices(
    input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False
) -> tuple[Tensor, Tensor]:
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def max_pool2d_with_indices(
    input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False
) -> tuple[Tensor, Tensor]:
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def max_pool3d_with_indices(
    input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False
) -> tuple[Tensor, Tensor]:
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def adaptive_max_pool1d_with_indices(input: Tensor, output_size: Any, return_indices: bool = False) -> tuple[Tensor, Tensor]:
    return adaptive_max_pool1d(input, output_size, return_indices=True)


def adaptive_max_pool2d_with_indices(input: Tensor, output_size: Any, return_indices: bool = False) -> tuple[Tensor, Tensor]:
    return adaptive_max_pool2d(input, output_size, return_indices=True)


def adaptive_max_pool3d_with_indices(input: Tensor, output_size: Any, return_indices: bool = False) -> tuple[Tensor, Tensor]:
    return adaptive_max_pool3d(input, output_size, return_indices=True)


__all__ = [
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d_with_indices",
]


def _unpool_size(op: str, x: Tensor, default: tuple[int, ...], strides: tuple[int, ...], output_size: Any) -> tuple[int, ...]:
    """torch's output size: the pool's input size by default, or ``output_size`` (its last dims),
    which must lie strictly within a stride of the default, since those sizes pool to this input."""
    if output_size is None:
        return default
    sizes = tuple(int(s) for s in output_size)[-len(default) :]
    if len(sizes) != len(default):
        message = f"output_size must have {len(default)} or {len(default) + 2} elements, got {len(output_size)}"
        raise op_error(op, [_node(x).type], {"output_size": output_size}, message)
    for size, base, stride in zip(sizes, default, strides):
        if not base - stride < size < base + stride:
            message = f"invalid output_size {tuple(output_size)} (dim size must be between {base - stride} and {base + stride}, exclusive)"
            raise op_error(op, [_node(x).type], {"output_size": output_size}, message)
    return sizes


def _max_unpool(op: str, spatial: int, input: Tensor, indices: Tensor, kernel_size: Any, stride: Any, padding: Any, output_size: Any) -> Tensor:
    """The inverse of a max pool with ``return_indices=True``: each value written at its flat index, zeros elsewhere.

    A ``scatter`` into zeros; its gradient gathers at the indices, so two windows that chose
    the same element both get its gradient whole, as torch's."""
    x, unbatched = _batched(input, spatial, op)
    idx = _F.unsqueeze(indices, 0) if unbatched else indices
    if tuple(idx.shape) != tuple(x.shape):
        raise op_error(op, [_node(input).type, _node(indices).type], {}, "Expected shape of indices to be same as that of the input tensor")
    _static(x, range(2, spatial + 2), op)
    kernel = _ntuple(kernel_size, spatial, "kernel_size")
    strides = _ntuple(stride if stride is not None else kernel_size, spatial, "stride")
    pads = _ntuple(padding, spatial, "padding")
    default = tuple((size - 1) * s - 2 * p + k for size, s, p, k in zip(x.shape[2:], strides, pads, kernel))
    sizes = _unpool_size(op, input, default, strides, output_size)
    n, channels = x.shape[:2]
    flat_index = _F.reshape(idx, n, channels, -1)
    zeros = wrap(b.full((n, channels, math.prod(sizes)), 0, _node(x).dtype))
    out = _F.reshape(scatter(zeros, 2, flat_index, _F.reshape(x, n, channels, -1)), n, channels, *sizes)
    return _F.squeeze(out, 0) if unbatched else out


@autocast_op
def max_unpool2d(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, output_size: Any = None) -> Tensor:
    """The inverse of ``max_pool2d(return_indices=True)``: each value written at its flat index ``h * W + w``, zeros elsewhere."""
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding, output_size)


@autocast_op
def max_unpool3d(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, output_size: Any = None) -> Tensor:
    """The inverse of ``max_pool3d(return_indices=True)``: each value written at its flat index ``(d * H + h) * W + w``."""
    return _max_unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding, output_size)


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, output_size: Any = None) -> Tensor:
    """``max_unpool2d`` over a height of 1 (the 1-d pool's indices are its flat 2-d ones)."""
    if input.ndim not in (2, 3):
        raise op_error("max_unpool1d", [_node(input).type], {}, f"Expected 2D or 3D (batch mode) tensor for input, but got {input.ndim}D")
    size = None if output_size is None else (1, int(tuple(output_size)[-1]))
    stride = None if stride is None else (1, _single(stride, "stride"))
    kernel, pad = (1, _single(kernel_size, "kernel_size")), (0, _single(padding, "padding"))
    out = max_unpool2d(_F.unsqueeze(input, -2), _F.unsqueeze(indices, -2), kernel, stride, pad, size)
    return _F.squeeze(out, -2)
