"""``F.fractional_max_pool2d/3d`` and ``nn.FractionalMaxPool2d/3d``: max pools over windows at pseudo-random offsets."""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.frontend import functional as _F
from graphc.frontend.autocast_policy import autocast_op
from graphc.ir import dtypes
from graphc.ir.registry import op_error
from graphc.runtime.nn.functional import _batched, _constant, _node, _ntuple
from graphc.runtime.nn.module import Module
from graphc.runtime.tensor import Tensor

# The names torch's messages give the spatial dimensions, and the sample each one reads (torch's order:
# a 2-d pool's sample 0 places the columns, sample 1 the rows).
_AXES = {2: ("height", "width"), 3: ("time", "height", "width")}
_SAMPLE_OF_AXIS = {2: (1, 0), 3: (0, 1, 2)}


def _window_starts(sample: Tensor, size: int, out: int, kernel: int) -> Tensor:
    """torch's ``generate_intervals`` for every plane at once: ``int((i + u) * alpha) - int(u * alpha)`` for the
    first ``out - 1`` windows, with ``alpha = (size - kernel) / (out - 1)``, in the input's dtype as torch's
    kernel computes it, and ``size - kernel`` for the last; ``sample`` is ``[N, C, 1]``, the result ``[N, C, out]``."""
    n, channels = sample.shape[0], sample.shape[1]
    last = _F.expand(_constant(np.full((1, 1, 1), size - kernel, dtype=np.int64)), n, channels, 1)
    if out == 1:
        return last
    dtype = np.dtype(sample.dtype.numpy).type
    alpha = float(dtype(size - kernel) / dtype(out - 1))
    steps = _constant(np.arange(out - 1).astype(dtype))
    scaled = _F.cast(_F.mul(_F.add(steps, sample), alpha), dtypes.int64)
    starts = _F.sub(scaled, _F.cast(_F.mul(sample, alpha), dtypes.int64))
    return _F.cat([starts, last], -1)


def _check_samples(op: str, x: Tensor, samples: Tensor, spatial: int) -> None:
    """torch's checks of ``_random_samples``: ``[N', C, spatial]`` with ``N' >= N``, in the input's dtype."""
    types = [_node(x).type, _node(samples).type]
    if samples.dtype != x.dtype:
        raise op_error(op, types, {}, "Expect _random_samples to have the same dtype as input")
    if samples.ndim != 3:
        raise op_error(op, types, {}, f"Expect _random_samples to be 3-d, got {samples.ndim}-d")
    if samples.shape[2] != spatial:
        raise op_error(op, types, {}, f"Expect _random_samples.size(2) equals to {spatial}; got {samples.shape[2]}.")
    if samples.shape[1] != x.shape[1]:
        raise op_error(op, types, {}, f"Expect _random_samples.size(1) equals to input channel size; got {samples.shape[1]}.")
    if samples.shape[0] < x.shape[0]:
        raise op_error(op, types, {}, "Expect _random_samples.size(0) no less then input batch size.")


def _fractional_max_pool(
    op: str, spatial: int, input: Tensor, kernel_size: Any, output_size: Any, output_ratio: Any, samples: Tensor | None
) -> tuple[Tensor, Tensor]:
    """Each output element is the maximum of a ``kernel_size`` window starting at torch's offsets for the plane's
    samples, and its flat input position (``h * W + w``, ``(t * H + h) * W + w``). The windows are gathered one
    axis after the other with the computed offsets, so samples drawn in the graph compile like any input;
    the gradient goes to the first maximum, as torch's."""
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op} requires specifying either an output_size or an output_ratio")
    x, unbatched = _batched(input, spatial, op)
    kernel = _ntuple(kernel_size, spatial, "kernel_size")
    sizes = [int(s) for s in x.shape[2:]]
    if output_size is None:
        ratio = (output_ratio,) * spatial if isinstance(output_ratio, (int, float)) else tuple(output_ratio)
        if len(ratio) == 1:
            ratio = ratio * spatial
        out = tuple(int(size * r) for size, r in zip(sizes, ratio))
    else:
        out = _ntuple(output_size, spatial, "output_size")
    for name, size, o, k in zip(_AXES[spatial], sizes, out, kernel):
        if o + k - 1 > size:
            suffix = "" if spatial == 2 else "_out"
            message = f"{op}{suffix}(): pool {name} {k} too large relative to input {name} {size}"
            raise op_error(op, [_node(x).type], {"kernel_size": kernel, "output_size": out}, message)
    n, channels = x.shape[0], x.shape[1]
    if samples is None:
        samples = _F.rand_uniform((n, channels, spatial), x.dtype)
    _check_samples(op, x, samples, spatial)
    samples = samples[:n] if samples.shape[0] != n else samples
    values, positions = _F.backward_reads(x), None
    for axis in range(spatial):
        sample = samples[:, :, _SAMPLE_OF_AXIS[spatial][axis] : _SAMPLE_OF_AXIS[spatial][axis] + 1]
        starts = _window_starts(sample, sizes[axis], out[axis], kernel[axis])
        # [N, C, out * kernel]: the input index of every window element along this axis, window by window
        index = _F.reshape(_F.add(_F.unsqueeze(starts, -1), _constant(np.arange(kernel[axis], dtype=np.int64))), n, channels, out[axis] * kernel[axis])
        shape = [n, channels] + [out[a] * kernel[a] if a <= axis else sizes[a] for a in range(spatial)]
        view = [n, channels] + [1] * spatial
        view[2 + axis] = out[axis] * kernel[axis]
        values = _F.gather(values, 2 + axis, _F.expand(_F.reshape(index, *view), *shape))
        flat = _F.reshape(index, *view)
        positions = flat if positions is None else _F.add(_F.mul(positions, sizes[axis]), flat)
    # [N, C, o1, k1, o2, k2, ...] -> [N, C, o1, o2, ..., k1 * k2 * ...]: each window's elements in torch's order
    split = [n, channels] + [d for a in range(spatial) for d in (out[a], kernel[a])]
    order = [0, 1] + [2 + 2 * a for a in range(spatial)] + [3 + 2 * a for a in range(spatial)]
    window = int(np.prod(kernel))
    windows = _F.reshape(_F.permute(_F.reshape(values, *split), order), n, channels, *out, window)
    full_positions = _F.expand(positions, n, channels, *[out[a] * kernel[a] for a in range(spatial)])
    flat_positions = _F.reshape(_F.permute(_F.reshape(full_positions, *split), order), n, channels, *out, window)
    best = _F.argmax(windows, -1, keepdim=True)
    result = _F.squeeze(_F.gather(windows, -1, best), -1)
    indices = _F.squeeze(_F.gather(flat_positions, -1, best), -1)
    if unbatched:
        return _F.squeeze(result, 0), _F.squeeze(indices, 0)
    return result, indices


def fractional_max_pool2d_with_indices(
    input: Tensor, kernel_size: Any, output_size: Any = None, output_ratio: Any = None, return_indices: bool = False, _random_samples: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    return _fractional_max_pool("fractional_max_pool2d", 2, input, kernel_size, output_size, output_ratio, _random_samples)


def fractional_max_pool3d_with_indices(
    input: Tensor, kernel_size: Any, output_size: Any = None, output_ratio: Any = None, return_indices: bool = False, _random_samples: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    return _fractional_max_pool("fractional_max_pool3d", 3, input, kernel_size, output_size, output_ratio, _random_samples)


@autocast_op
def fractional_max_pool2d(
    input: Tensor, kernel_size: Any, output_size: Any = None, output_ratio: Any = None, return_indices: bool = False, _random_samples: Tensor | None = None
) -> Any:
    """Samples drawn by graphc's generator when ``_random_samples`` is None (not torch's stream); given, torch's values."""
    values, indices = fractional_max_pool2d_with_indices(input, kernel_size, output_size, output_ratio, return_indices, _random_samples)
    return (values, indices) if return_indices else values


@autocast_op
def fractional_max_pool3d(
    input: Tensor, kernel_size: Any, output_size: Any = None, output_ratio: Any = None, return_indices: bool = False, _random_samples: Tensor | None = None
) -> Any:
    values, indices = fractional_max_pool3d_with_indices(input, kernel_size, output_size, output_ratio, return_indices, _random_samples)
    return (values, indices) if return_indices else values


class FractionalMaxPool2d(Module):
    """torch's module: ``_random_samples`` is a buffer (None: new samples on every call)."""

    spatial = 2

    def __init__(
        self, kernel_size: Any, output_size: Any = None, output_ratio: Any = None, return_indices: bool = False, _random_samples: Tensor | None = None
    ) -> None:
        super().__init__()
        n = self.spatial
        self.kernel_size = _ntuple(kernel_size, n, "kernel_size")
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = _ntuple(output_size, n, "output_size") if output_size is not None else None
        self.output_ratio = _ratio(output_ratio, n) if output_ratio is not None else None
        if output_size is None and output_ratio is None:
            raise ValueError(f"FractionalMaxPool{n}d requires specifying either an output size, or a pooling ratio")
        if output_size is not None and output_ratio is not None:
            raise ValueError("only one of output_size and output_ratio may be specified")
        if self.output_ratio is not None and not all(0 < r < 1 for r in self.output_ratio):
            raise ValueError(f"output_ratio must be between 0 and 1 (got {output_ratio})")

    def forward(self, input: Tensor) -> Any:
        pool = fractional_max_pool2d if self.spatial == 2 else fractional_max_pool3d
        return pool(input, self.kernel_size, self.output_size, self.output_ratio, self.return_indices, _random_samples=self._random_samples)


class FractionalMaxPool3d(FractionalMaxPool2d):
    spatial = 3


def _ratio(value: Any, n: int) -> tuple[float, ...]:
    if isinstance(value, (tuple, list)):
        return tuple(float(v) for v in value) * (n // len(value))
    return (float(value),) * n
