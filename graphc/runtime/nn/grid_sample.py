"""``F.affine_grid`` and ``F.grid_sample`` (spatial transformer networks), composed of graphc's tensor ops.

grid_sample follows torch's CPU kernels (``GridSampler.h``): a grid coordinate is unnormalized
to a pixel position, moved inside the image by the padding mode (``border`` clips,
``reflection`` reflects about the edges, then clips), and each output reads the input's
pixels around it with a ``gather`` at flat indices; a pixel outside the image reads 0.
The bilinear (trilinear for 5-d volumes) weights are differentiable functions of the position,
so the gradient reaches the grid through them (and through the clip and reflection, whose slopes
are torch's: 1 inside, 0 where clipped, -1 on a mirrored stretch); ``floor`` and ``round`` give
the corners and have no gradient, so ``nearest`` gives the grid a zero gradient, as torch.
``bicubic`` (4-d only, as torch's) reads 4x4 pixels, each tap padded on its own, weighted by cubic
coefficients. Every piece but bicubic is written once for any number of spatial axes, the
coordinates listed x first (the last axis), as the grid's last dimension lists them.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np

from graphc.frontend import functional as _F
from graphc.frontend.autocast_policy import autocast_op
from graphc.ir import dtypes
from graphc.ir.registry import op_error, user_stacklevel
from graphc.runtime.tensor import Tensor

_ALIGN_WARNING = (
    "Default grid_sample and affine_grid behavior has changed to align_corners=False since 1.3.0. "
    "Please specify align_corners=True if the old behavior is desired. See the documentation of grid_sample for details."
)


def _align(align_corners: bool | None) -> bool:
    """torch's default ``None`` warns and means False."""
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=user_stacklevel())
        return False
    return bool(align_corners)


def _linspace(steps: int, align_corners: bool) -> np.ndarray:
    """torch's ``linspace_from_neg_one``: one step is the centre, 0; without aligned corners the ends shrink to pixel centres."""
    if steps <= 1:
        return np.zeros(1)
    points = np.linspace(-1.0, 1.0, steps)
    return points if align_corners else points * (steps - 1) / steps


def affine_grid(theta: Tensor, size: Sequence[int], align_corners: bool | None = None) -> Tensor:
    """The base grid ``(x, y[, z], 1)`` of every output pixel times ``theta``'s transpose: ``(N, H, W, 2)`` or ``(N, D, H, W, 3)``."""
    aligned = _align(align_corners)
    node = _F.node_of(theta)

    def refuse(message: str) -> Exception:
        return op_error("affine_grid", [node.type], {"size": tuple(size), "align_corners": aligned}, message)

    if len(size) not in (4, 5):
        raise refuse(f"only 4-d and 5-d sizes (2-d and 3-d affine transforms) are supported, got size {list(size)}")
    size = [size[0], *(int(s) for s in size[1:])]  # the batch may be a symbolic size (graphc.compile(dynamic=True))
    if not theta.dtype.is_floating_point:
        raise refuse(f"expected theta to have a floating point type, got {theta.dtype.name}")
    spatial = len(size) - 2
    if theta.ndim != 3 or tuple(theta.shape[1:]) != (spatial, spatial + 1):
        raise refuse(f"expected a batch of {spatial}-d affine matrices of shape Nx{spatial}x{spatial + 1} for size {size}, got {tuple(theta.shape)}")
    if isinstance(theta.shape[0], int) and isinstance(size[0], int) and theta.shape[0] != size[0]:
        raise refuse(f"theta holds {theta.shape[0]} matrices but size asks for a batch of {size[0]}")
    if aligned and min(size[2:]) == 1:
        warnings.warn(
            "Since version 1.3.0, affine_grid behavior has changed for unit-size grids when align_corners=True. "
            "This is not an intended use case of affine_grid. See the documentation of affine_grid for details.",
            stacklevel=2,
        )
    if min(size[1:]) <= 0 or (isinstance(size[0], int) and size[0] <= 0):
        raise refuse(f"expected a positive output size, got {size}")
    # Coordinates are listed x first (the last axis), as torch's base grid.
    axes = [_linspace(n, aligned) for n in reversed(size[2:])]
    mesh = np.meshgrid(*axes, indexing="ij")  # indexed (x, y[, z]); transposed below to (..z, y, x)
    columns = [m.transpose(tuple(reversed(range(spatial)))).reshape(-1) for m in mesh]
    base = np.stack([*columns, np.ones_like(columns[0])], axis=1).astype(theta.dtype.numpy)
    grid = _F.matmul(Tensor._constant(np.ascontiguousarray(base)), _F.transpose(theta, 1, 2))
    return _F.reshape(grid, (theta.shape[0], *size[2:], spatial))


def _unnormalize(coord: Tensor, size: int, align_corners: bool) -> Tensor:
    """-1 and 1 are the centres of the end pixels (aligned) or their outer edges (not aligned)."""
    if align_corners:
        return _F.mul(_F.div(_F.add(coord, 1.0), 2.0), float(size - 1))
    return _F.div(_F.sub(_F.mul(_F.add(coord, 1.0), float(size)), 1.0), 2.0)


def _clip(coord: Tensor, size: int, scalar: bool) -> Tensor:
    """Into ``[0, size - 1]``, slope 1 inside the open interval only: torch's ``clip_coordinates_set_grad``
    counts the borders as out of bounds (slope 0 at exactly 0 and ``size - 1``). NaN goes to 0 as in torch's
    vectorized 2-d CPU kernel, or to ``size - 1`` as in its ``scalar`` kernel (3-d), whose
    ``min(size - 1, max(NaN, 0))`` keeps the bound."""
    high = float(size - 1)
    if scalar:
        return _F.where(_F.lt(coord, high), _F.where(_F.gt(coord, 0.0), coord, 0.0), high)
    return _F.where(_F.gt(coord, 0.0), _F.where(_F.lt(coord, high), coord, high), 0.0)


def _reflect(coord: Tensor, twice_low: int, twice_high: int) -> Tensor:
    """torch's ``reflect_coordinates``: fold about ``low`` and ``high`` until inside; a mirrored stretch has slope -1."""
    if twice_low == twice_high:
        return _F.mul(coord, 0.0)
    low, span = twice_low / 2.0, (twice_high - twice_low) / 2.0
    shifted = _F.sub(coord, low)
    distance = _F.where(_F.lt(shifted, 0.0), _F.neg(shifted), shifted)
    extra = _F.fmod(distance, span)
    flips = _F.detach(_F.floor(_F.div(distance, span)))
    even = _F.eq(_F.fmod(flips, 2.0), 0.0)
    return _F.where(even, _F.add(extra, low), _F.add(_F.sub(span, extra), low))


def _padded(position: Tensor, size: int, padding_mode: str, align_corners: bool, scalar: bool = False) -> Tensor:
    """torch's ``compute_coordinates``: a pixel position moved inside the image by the padding mode (``zeros`` leaves it);
    ``scalar`` for the NaN rule of torch's scalar (3-d) kernel (``_clip``)."""
    if padding_mode == "border":
        return _clip(position, size, scalar)
    if padding_mode == "reflection":
        twice = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
        return _clip(_reflect(position, *twice), size, scalar)
    return position


class _Image:
    """The input as ``(N, C, D*H*W)`` (or ``H*W``), read at integer pixel positions of shape ``(N, L)``: 0 outside the image.

    ``sizes`` lists the spatial sizes x first, (W, H[, D]), in the order of the grid's coordinates."""

    def __init__(self, input: Tensor) -> None:
        self.batch, self.channels = input.shape[0], input.shape[1]
        self.sizes: tuple[int, ...] = tuple(reversed(input.shape[2:]))
        self.flat = _F.reshape(input, (self.batch, self.channels, int(np.prod(self.sizes))))

    def read(self, coords: Sequence[Tensor], scale: Tensor | None = None) -> Tensor:
        """The values at integer positions ``coords`` (x, y[, z]); the flat index is x + W (y + H z)."""
        inside, index, stride = None, None, 1
        for coord, size in zip(coords, self.sizes):
            within = _F.logical_and(_F.ge(coord, 0.0), _F.le(coord, float(size - 1)))
            inside = within if inside is None else _F.logical_and(inside, within)
            term = coord if stride == 1 else _F.mul(coord, float(stride))
            index = term if index is None else _F.add(index, term)
            stride *= size
        index = _F.cast(_F.where(inside, index, 0.0), dtypes.int64)
        spread = _F.expand(_F.unsqueeze(index, 1), self.batch, self.channels, index.shape[1])
        values = _F.gather(self.flat, 2, spread)
        return _F.where(_F.unsqueeze(inside, 1), values if scale is None else _F.mul(values, scale), 0.0)


def _check(input: Tensor, grid: Tensor, mode: str, padding_mode: str) -> None:
    types = [_F.node_of(input).type, _F.node_of(grid).type]
    attrs = {"mode": mode, "padding_mode": padding_mode}

    def refuse(message: str) -> Exception:
        return op_error("grid_sample", types, attrs, message)

    if mode not in ("bilinear", "nearest", "bicubic"):
        raise refuse(f"expected mode to be 'bilinear', 'nearest' or 'bicubic', got {mode!r}")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise refuse(f"expected padding_mode to be 'zeros', 'border' or 'reflection', got {padding_mode!r}")
    if input.ndim not in (4, 5) or grid.ndim != input.ndim:
        raise refuse(
            "expected a 4-d input (N, C, H, W) with a 4-d grid (N, H_out, W_out, 2), or a 5-d input (N, C, D, H, W) "
            f"with a 5-d grid (N, D_out, H_out, W_out, 3), got {input.ndim}-d and {grid.ndim}-d"
        )
    spatial = input.ndim - 2
    if mode == "bicubic" and spatial == 3:
        raise refuse("bicubic interpolation only supports 4-d input, as torch's; got a 5-d volume")
    if grid.shape[-1] != spatial:
        raise refuse(f"expected the grid to have size {spatial} in its last dimension, got grid of shape {tuple(grid.shape)}")
    if isinstance(input.shape[0], int) and isinstance(grid.shape[0], int) and input.shape[0] != grid.shape[0]:
        raise refuse(f"expected input and grid to have the same batch size, got {input.shape[0]} and {grid.shape[0]}")
    if input.dtype != grid.dtype or not input.dtype.is_floating_point:
        raise refuse(f"expected input and grid of one floating dtype, got {input.dtype.name} and {grid.dtype.name}")
    for d in range(1, input.ndim):
        if not isinstance(input.shape[d], int) or (d < input.ndim - 1 and not isinstance(grid.shape[d], int)):
            raise refuse("the channel and spatial sizes of input and grid must be static")
    if 0 in input.shape[2:]:
        raise refuse(f"expected non-empty spatial dimensions of input, got shape {tuple(input.shape)}")


def _nearest(image: _Image, coords: list[Tensor]) -> Tensor:
    rounded = [_F.round(c) for c in coords]
    # The read value is scaled by 1 that depends on the rounded position with slope 0 (round's), so the
    # grid's gradient is zeros, as torch's, rather than None, and so is the grid's derivative of the
    # input's gradient (torch's double backward samples with the grid's own gradient, zero for nearest);
    # the position is finite wherever it is read.
    zero = _F.mul(rounded[0], 0.0)
    for r in rounded[1:]:
        zero = _F.add(zero, _F.mul(r, 0.0))
    return image.read(rounded, _F.unsqueeze(_F.add(zero, 1.0), 1))


def _weighted_sum(terms: list[tuple[Tensor, Tensor]]) -> Tensor:
    """Sum of ``weight (N, L) * values (N, C, L)``: the weights multiply the read values (0 outside), so a NaN position gives NaN, as torch's CPU kernel."""
    out = None
    for weight, values in terms:
        term = _F.mul(_F.unsqueeze(weight, 1), values)
        out = term if out is None else _F.add(out, term)
    return out


def _linear(image: _Image, coords: list[Tensor], scalar: bool) -> Tensor:
    """Bilinear (2 axes) or trilinear (3): each of the 2^k corners around the position, weighted by the product
    of its distances to the opposite corner along each axis; corners and weights in torch's order, x fastest.
    torch's scalar (3-d) kernel adds a corner's term only where the corner is inside, so a non-finite
    position reads 0 there (``scalar``: the weight scales the read value, masked with it), where the
    vectorized 2-d kernel's weights multiply the masked values and give NaN (``_weighted_sum``)."""
    lows = [_F.detach(_F.floor(c)) for c in coords]
    highs = [_F.add(low, 1.0) for low in lows]
    terms = []
    for bits in itertools.product((0, 1), repeat=len(coords)):
        upper = bits[::-1]  # x's bit last in the product, so x varies fastest
        factors = [_F.sub(c, low) if up else _F.sub(high, c) for c, low, high, up in zip(coords, lows, highs, upper)]
        weight = factors[0]
        for factor in factors[1:]:
            weight = _F.mul(weight, factor)
        corner = [high if up else low for low, high, up in zip(lows, highs, upper)]
        if scalar:
            terms.append(image.read(corner, _F.unsqueeze(weight, 1)))
        else:
            terms.append(_F.mul(_F.unsqueeze(weight, 1), image.read(corner)))
    out = terms[0]
    for term in terms[1:]:
        out = _F.add(out, term)
    return out


_CUBIC_A = -0.75


def _cubic_weights(t: Tensor) -> list[Tensor]:
    """torch's ``get_cubic_upsample_coefficients`` (cubic convolution, A = -0.75) for the taps at -1, 0, 1, 2."""
    a = _CUBIC_A

    def near(d: Tensor) -> Tensor:  # |d| <= 1
        return _F.add(_F.mul(_F.mul(_F.sub(_F.mul(d, a + 2.0), a + 3.0), d), d), 1.0)

    def far(d: Tensor) -> Tensor:  # 1 < |d| < 2
        return _F.sub(_F.mul(_F.add(_F.mul(_F.sub(_F.mul(d, a), 5.0 * a), d), 8.0 * a), d), 4.0 * a)

    rest = _F.sub(1.0, t)
    return [far(_F.add(t, 1.0)), near(t), near(rest), far(_F.add(rest, 1.0))]


def _bicubic(image: _Image, coords: list[Tensor], padding_mode: str, align_corners: bool) -> Tensor:
    """torch's bicubic (2-d only): the 4x4 pixels around the unpadded position, each tap moved by the padding
    mode on its own (``get_value_bounded``); the grid's gradient flows through the cubic weights only."""
    (x, y), (width, height) = coords, image.sizes
    x0, y0 = _F.detach(_F.floor(x)), _F.detach(_F.floor(y))
    weights_x, weights_y = _cubic_weights(_F.sub(x, x0)), _cubic_weights(_F.sub(y, y0))
    taps_x = [_padded(_F.add(x0, float(i - 1)), width, padding_mode, align_corners) for i in range(4)]
    taps_y = [_padded(_F.add(y0, float(j - 1)), height, padding_mode, align_corners) for j in range(4)]
    rows = [_weighted_sum([(weights_x[i], image.read([taps_x[i], taps_y[j]])) for i in range(4)]) for j in range(4)]
    return _weighted_sum(list(zip(weights_y, rows)))


@autocast_op
def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear", padding_mode: str = "zeros", align_corners: bool | None = None) -> Tensor:
    """Sample ``input`` (N, C, H, W) at ``grid`` (N, H_out, W_out, 2) of (x, y) in [-1, 1]: (N, C, H_out, W_out);
    or a volume (N, C, D, H, W) at ``grid`` (N, D_out, H_out, W_out, 3) of (x, y, z): (N, C, D_out, H_out, W_out)."""
    _check(input, grid, mode, padding_mode)
    aligned = _align(align_corners)
    # torch's gradients come from grid_sampler_2d_backward (3d_backward), which reads both operands: they
    # require grad while a backward graph is recorded, with no derivative for the input, nor for anything
    # in nearest mode's zero grid gradient (docs/decisions.md, "Second derivatives that are structurally zero").
    image = _Image(_F.backward_reads(input, "backward_reads_undefined"))
    if mode == "nearest":
        grid = _F.backward_reads(grid, "backward_reads_undefined")
    spatial, out_sizes = len(image.sizes), tuple(grid.shape[1:-1])
    points = _F.reshape(grid, (grid.shape[0], int(np.prod(out_sizes)), spatial))
    coords = [_unnormalize(_F.getitem(points, (slice(None), slice(None), i)), size, aligned) for i, size in enumerate(image.sizes)]
    if mode == "bicubic":
        out = _bicubic(image, coords, padding_mode, aligned)
    else:
        # torch samples volumes with its scalar CPU kernel, images with a vectorized one: they differ on NaN.
        scalar = spatial == 3
        coords = [_padded(c, size, padding_mode, aligned, scalar) for c, size in zip(coords, image.sizes)]
        out = _nearest(image, coords) if mode == "nearest" else _linear(image, coords, scalar)
    return _F.reshape(out, (grid.shape[0], image.channels, *out_sizes))


__all__ = ["affine_grid", "grid_sample"]
